"""The tutorials' Keras scripts, run on rnnkit with only the imports changed."""
import os

import numpy as np

import rnnkit
from rnnkit import Sequential
from rnnkit.callbacks import ModelCheckpoint
from rnnkit.layers import LSTM, Dense, SimpleRNN
from rnnkit.losses import SparseCategoricalCrossentropy
from rnnkit.optimizers import Adam


def letter_data():
    """Five one-hot letters a..e; each predicts the next (a->b, ..., e->a); shuffled with seed 7."""
    letters = "abcde"
    onehot = {c: np.eye(5)[i] for i, c in enumerate(letters)}
    x = np.array([onehot[c] for c in letters], np.float32).reshape(5, 1, 5)
    y = np.array([(i + 1) % 5 for i in range(5)])
    np.random.seed(7)
    np.random.shuffle(x)
    np.random.seed(7)
    np.random.shuffle(y)
    return x, y


def test_letter_prediction_script(tmp_path, capsys):
    rnnkit.utils.clear_session()
    rnnkit.set_random_seed(1)
    x_train, y_train = letter_data()
    model = Sequential([SimpleRNN(3), Dense(5, activation="softmax")])
    model.compile(optimizer=Adam(0.01), loss=SparseCategoricalCrossentropy(from_logits=False),
                  metrics=["sparse_categorical_accuracy"])
    checkpoint = str(tmp_path / "checkpoint" / "rnn_onehot_1pre1.ckpt")
    if os.path.exists(checkpoint):
        model.load_weights(checkpoint)
    callback = ModelCheckpoint(filepath=checkpoint, save_weights_only=True, save_best_only=True, monitor="loss")
    history = model.fit(x_train, y_train, batch_size=32, epochs=100, callbacks=[callback], verbose=0)
    model.summary()
    table = capsys.readouterr().out
    assert "simple_rnn (SimpleRNN)" in table and "dense (Dense)" in table
    assert "27" in table and "20" in table and "Total params: 47" in table
    assert history.history["sparse_categorical_accuracy"][-1] == 1.0
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert os.path.exists(checkpoint)

    with open(tmp_path / "weights.txt", "w") as f:
        for v in model.trainable_variables:
            f.write(f"{v.name}\n{v.shape}\n{v.numpy()}\n")
    text = (tmp_path / "weights.txt").read_text()
    assert "simple_rnn/kernel" in text and "dense/bias" in text

    # A fresh model reloads the best checkpoint and predicts every next letter.
    again = Sequential([SimpleRNN(3), Dense(5, activation="softmax")])
    again.build((None, 1, 5))
    again.load_weights(checkpoint)
    predicted = again.predict(np.eye(5, dtype=np.float32).reshape(5, 1, 5)).argmax(-1)
    assert list(predicted) == [1, 2, 3, 4, 0]


def test_action_model_builds_summarises_and_trains(capsys):
    rnnkit.utils.clear_session()
    rnnkit.set_random_seed(0)
    n_actions = 3
    model = Sequential()
    model.add(LSTM(64, return_sequences=True, activation="relu", input_shape=(5, 126)))
    model.add(LSTM(128, return_sequences=True, activation="relu"))
    model.add(LSTM(64, return_sequences=False, activation="relu"))
    model.add(Dense(64, activation="relu"))
    model.add(Dense(32, activation="relu"))
    model.add(Dense(n_actions, activation="softmax"))
    assert [layer.count_params() for layer in model.layers] == [48896, 98816, 49408, 4160, 2080, 99]
    model.summary()
    assert "48,896" in capsys.readouterr().out
    model.compile(optimizer="Adam", loss="categorical_crossentropy", metrics=["categorical_accuracy"])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 5, 126)).astype(np.float32)
    labels = rng.integers(0, n_actions, 30)
    x += labels[:, None, None] * 0.5  # a learnable signal
    y = np.eye(n_actions, dtype=np.float32)[labels]
    history = model.fit(x, y, epochs=15, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.predict(x).shape == (30, n_actions)
