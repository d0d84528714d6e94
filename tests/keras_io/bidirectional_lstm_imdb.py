"""A small version of keras-io's examples/nlp/bidirectional_lstm_imdb.py (Keras 3).

The Keras code is the example's, line for line (sizes made small): a functional model on
variable-length int32 ids (``keras.Input(shape=(None,), dtype="int32")``), Embedding, two
Bidirectional LSTMs, ragged Python lists of ids padded with ``keras.utils.pad_sequences``. The
IMDB download is replaced by synthetic reviews of word ids (a review is positive when it holds
more "good" ids than "bad" ones), given as ragged lists as ``imdb.load_data`` gives them.
tests/test_keras_io_ports.py runs it with `import keras` and `from keras import layers` swapped
for rnnkit's and nothing else changed.
"""
import numpy as np

import keras
from keras import layers

max_features = 200  # Only consider the top 200 words
maxlen = 20  # Only consider the first 20 words of each movie review


def load_data(num_words, seed=0):
    """Stand-in for keras.datasets.imdb.load_data: ragged lists of ids in [1, num_words), labels 0/1."""
    rng = np.random.default_rng(seed)

    def reviews(count):
        xs, ys = [], []
        for _ in range(count):
            ids = rng.integers(3, num_words, size=rng.integers(5, 2 * maxlen)).tolist()
            good, bad = sum(i < 20 for i in ids), sum(20 <= i < 40 for i in ids)
            if good == bad:
                ids.append(int(rng.integers(3, 20)))
                good += 1
            xs.append(ids)
            ys.append(int(good > bad))
        return np.array(xs, dtype=object), np.array(ys)

    return reviews(256), reviews(64)


# Input for variable-length sequences of integers
inputs = keras.Input(shape=(None,), dtype="int32")
# Embed each integer in a 16-dimensional vector
x = layers.Embedding(max_features, 16)(inputs)
# Add 2 bidirectional LSTMs
x = layers.Bidirectional(layers.LSTM(8, return_sequences=True))(x)
x = layers.Bidirectional(layers.LSTM(8))(x)
# Add a classifier
outputs = layers.Dense(1, activation="sigmoid")(x)
model = keras.Model(inputs, outputs)
model.summary()

(x_train, y_train), (x_val, y_val) = load_data(num_words=max_features)
print(len(x_train), "Training sequences")
print(len(x_val), "Validation sequences")
# Use pad_sequence to standardize sequence length:
# this will truncate sequences longer than 20 words and zero-pad sequences shorter than 20 words.
x_train = keras.utils.pad_sequences(x_train, maxlen=maxlen)
x_val = keras.utils.pad_sequences(x_val, maxlen=maxlen)
print("Padded shape:", x_train.shape, x_train.dtype)

model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=32, epochs=4, validation_data=(x_val, y_val))
print("loss", " ".join(f"{value:.4f}" for value in history.history["loss"]))
print("val_accuracy", " ".join(f"{value:.4f}" for value in history.history["val_accuracy"]))
