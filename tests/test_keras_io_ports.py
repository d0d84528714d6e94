"""Port by imports: small versions of keras-io examples (tests/keras_io/) run with rnnkit after only their
import lines are swapped; under -m slow the same files also run on Keras 3 itself, so they stay Keras code.

* timeseries_weather_forecasting.py: timeseries_dataset_from_array -> model.fit(dataset_train,
  validation_data=dataset_val, callbacks=[EarlyStopping, ModelCheckpoint]); .take(n), .numpy().
* lstm_character_level_text_generation.py: boolean one-hot x and y given straight to fit.
"""
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


@pytest.mark.slow
def test_the_ports_are_keras_code(tmp_path):
    from keras_reference import tensorflow_or_skip
    tensorflow_or_skip()  # keras.preprocessing.timeseries_dataset_from_array runs on tf.data
    env = {"KERAS_BACKEND": "torch"}
    weather = run(script("timeseries_weather_forecasting.py", with_rnnkit=False), tmp_path, env)
    assert "Input shape: (64, 20, 7)" in weather and len(numbers(weather, "val_loss")) == 3
    text = run(script("lstm_character_level_text_generation.py", with_rnnkit=False), tmp_path, env)
    assert len(numbers(text, "losses")) == 4
