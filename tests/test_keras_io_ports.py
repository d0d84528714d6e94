"""Port by imports: small versions of keras-io examples (tests/keras_io/) run with rnnkit after only their
import lines are swapped; under -m slow the same files also run on Keras 3 itself, so they stay Keras code.

* timeseries_weather_forecasting.py: timeseries_dataset_from_array -> model.fit(dataset_train,
  validation_data=dataset_val, callbacks=[EarlyStopping, ModelCheckpoint]); .take(n), .numpy().
* lstm_character_level_text_generation.py: boolean one-hot x and y given straight to fit.
* bidirectional_lstm_imdb.py: Input(shape=(None,), dtype="int32") -> Embedding -> 2 Bidirectional LSTMs
  on ragged lists of synthetic ids padded by keras.utils.pad_sequences.
* addition_rnn.py: encoder-decoder LSTM -> RepeatVector -> LSTM(return_sequences) -> Dense, boolean
  one-hot (N, T, chars) targets with per-time-step categorical cross-entropy.
* working_with_rnns.py: the "Working with RNNs" guide's models (return_state into initial_state,
  stateful LSTM and reset_states, state reuse, Bidirectional, RNN(LSTMCell) vs LSTM on the same weights).
* tf1_recurrent_network.py: TF1's contrib.rnn BasicLSTMCell + static_rnn classifier; its cell and
  static_rnn lines verbatim, graph-mode lines as NumPy twins, trained through static_rnn_backward.
"""
import ast
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SWAPS = {"import keras": "import rnnkit as keras", "from keras import layers": "from rnnkit import layers"}


def script(name, with_rnnkit=True):
    with open(os.path.join(HERE, "keras_io", name)) as handle:
        lines = handle.read().splitlines()
    if with_rnnkit:
        swapped = [SWAPS.get(line, line) for line in lines]
        changed = [a for a, b in zip(lines, swapped) if a != b]
        assert changed and all(line.startswith(("import ", "from ")) for line in changed)
        lines = swapped
    return "\n".join(lines) + "\n"


def run(source, cwd, env_extra=None):
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env_extra or {})}
    done = subprocess.run([sys.executable, "-c", source], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def numbers(out, key):
    return [float(v) for v in re.search(rf"^{key} (.+)$", out, re.M).group(1).split()]


def test_weather_forecasting_runs_with_only_imports_changed(tmp_path):
    out = run(script("timeseries_weather_forecasting.py"), tmp_path)
    assert "Input shape: (64, 20, 7)" in out and "Target shape: (64, 1)" in out
    assert "Total params: 5,153" in out  # LSTM(32) on 7 features + Dense(1), as Keras counts them
    loss, val_loss = numbers(out, "loss"), numbers(out, "val_loss")
    assert len(loss) == len(val_loss) == 3 and loss[-1] < loss[0]
    assert out.count("model prediction") == 5
    assert (tmp_path / "model_checkpoint.weights.h5").is_file()


def test_text_generation_with_boolean_one_hot_runs_with_only_imports_changed(tmp_path):
    out = run(script("lstm_character_level_text_generation.py"), tmp_path)
    losses = numbers(out, "losses")
    assert len(losses) == 4 and losses[-1] < 0.8 * losses[0]
    assert out.count("...Generated: ") == 8


def test_bidirectional_imdb_classifier_runs_with_only_imports_changed(tmp_path):
    out = run(script("bidirectional_lstm_imdb.py"), tmp_path)
    assert "Padded shape: (256, 20) int32" in out
    assert "Total params: 6,417" in out  # Embedding(200, 16) + 2 x Bidirectional(LSTM(8)) + Dense(1), Keras's count
    loss = numbers(out, "loss")
    assert len(loss) == 4 and loss[-1] < loss[0] and len(numbers(out, "val_accuracy")) == 4


def test_addition_encoder_decoder_runs_with_only_imports_changed(tmp_path):
    out = run(script("addition_rnn.py"), tmp_path)
    assert "(1350, 5, 12)" in out and "(1350, 3, 12)" in out  # boolean one-hot x and per-step y
    assert "Total params: 14,476" in out and "(None, 3, 32)" in out  # RepeatVector(3) feeds the decoder
    losses = numbers(out, "losses")
    assert len(losses) == 3 and losses[-1] < 0.9 * losses[0]
    assert out.count("\nQ ") == 30


def test_working_with_rnns_guide_runs_with_only_imports_changed(tmp_path):
    out = run(script("working_with_rnns.py"), tmp_path)
    # the guide's parameter counts (Keras 3 prints the same)
    for total in ("164,106", "361,866", "258,698", "80,266"):
        assert f"Total params: {total}" in out
    assert "encoder-decoder output: (3, 10)" in out and "reset to zeros: True" in out
    assert "state reuse: (20, 64)" in out
    assert "history keys: ['accuracy', 'loss', 'val_accuracy', 'val_loss']" in out
    assert "same weights, same predictions: True" in out


TF1_LINES = [  # from TensorFlow-Examples' recurrent_network.py, kept verbatim in the port
    "from __future__ import print_function",
    "lstm_cell = rnn.BasicLSTMCell(num_hidden, forget_bias=1.0)",
    "def RNN(x, weights, biases):",
    "# TF1: from tensorflow.contrib import rnn",
    "# TF1: outputs, states = rnn.static_rnn(lstm_cell, x, dtype=tf.float32)",
]


def test_tf1_static_rnn_script_trains_through_the_explicit_backward(tmp_path):
    source = script("tf1_recurrent_network.py", with_rnnkit=False)
    for line in TF1_LINES:
        assert line in source
    # every TensorFlow call left is a quoted TF1 line, never code
    assert not [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name) and node.id == "tf"]
    out = run(source, tmp_path)
    first, last = numbers(out, "losses")
    assert last < 0.25 * first
    assert float(re.search(r"Testing Accuracy: (\S+)", out).group(1)) > 0.6


@pytest.mark.slow
def test_the_ports_are_keras_code(tmp_path):
    from keras_reference import tensorflow_or_skip
    tensorflow_or_skip()  # keras.preprocessing.timeseries_dataset_from_array runs on tf.data
    env = {"KERAS_BACKEND": "torch"}
    weather = run(script("timeseries_weather_forecasting.py", with_rnnkit=False), tmp_path, env)
    assert "Input shape: (64, 20, 7)" in weather and len(numbers(weather, "val_loss")) == 3
    text = run(script("lstm_character_level_text_generation.py", with_rnnkit=False), tmp_path, env)
    assert len(numbers(text, "losses")) == 4
    imdb = run(script("bidirectional_lstm_imdb.py", with_rnnkit=False), tmp_path, env)
    assert "Total params: 6,417" in imdb and len(numbers(imdb, "loss")) == 4
    addition = run(script("addition_rnn.py", with_rnnkit=False), tmp_path, env)
    assert "Total params: 14,476" in addition and len(numbers(addition, "losses")) == 3
    guide = run(script("working_with_rnns.py", with_rnnkit=False), tmp_path, env)
    for total in ("164,106", "361,866", "258,698", "80,266"):
        assert f"Total params: {total}" in guide
    assert "same weights, same predictions: True" in guide
