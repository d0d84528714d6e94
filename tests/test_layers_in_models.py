"""The new single-input layers inside Sequential models: the gradient fit applies equals float64
central differences of the compiled loss (the CNN-LSTM pattern, masks into GlobalAveragePooling1D,
an encoder-decoder with RepeatVector, Lambda, normalization), and a short fit lowers the loss."""
import numpy as np
import pytest

from helpers import fit_gradient_errors
from rnnkit import Sequential, layers, optimizers

F64 = {"dtype": "float64"}


def _cases():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 8, 3))
    ids = rng.integers(1, 7, (3, 6))
    ids[1, 4:] = 0
    ids[2, 2:] = 0
    return {
        "cnn-lstm": (lambda: [layers.Conv1D(4, 3, padding="causal", activation="relu", seed=1, **F64),
                              layers.MaxPooling1D(2, **F64), layers.LSTM(3, seed=2, **F64),
                              layers.Dense(2, "softmax", seed=3, **F64)],
                     x, rng.integers(0, 2, 3), "sparse_categorical_crossentropy"),
        "conv-average-pool-global-max": (
            lambda: [layers.Conv1D(4, 2, strides=2, padding="same", seed=1, **F64),
                     layers.AveragePooling1D(2, padding="same", **F64), layers.GlobalMaxPooling1D(**F64),
                     layers.Dense(1, seed=2, **F64)], x, rng.standard_normal((3, 1)), "mse"),
        "embedding-mask-global-average": (
            lambda: [layers.Embedding(7, 3, mask_zero=True, seed=1, **F64),
                     layers.LSTM(4, return_sequences=True, seed=2, **F64), layers.GlobalAveragePooling1D(**F64),
                     layers.Dense(2, seed=3, **F64)], ids, rng.standard_normal((3, 2)), "mse"),
        "encoder-repeat-decoder": (
            lambda: [layers.LSTM(4, seed=1, **F64), layers.RepeatVector(5, **F64),
                     layers.GRU(3, return_sequences=True, seed=2, **F64),
                     layers.TimeDistributed(layers.Dense(2, seed=3, **F64), **F64)],
            x, rng.standard_normal((3, 5, 2)), "mse"),
        "lambda-layernorm-reshape-permute": (
            lambda: [layers.SimpleRNN(4, return_sequences=True, seed=1, **F64),
                     layers.LayerNormalization(**F64), layers.Permute((2, 1), **F64),
                     layers.Lambda(lambda h: np.tanh(h[:, :, -3:]) * 2.0, **F64), layers.Reshape((-1,), **F64),
                     layers.Dense(1, seed=2, **F64)], x, rng.standard_normal((3, 1)), "mse"),
    }


@pytest.mark.parametrize("case", sorted(_cases()))
def test_fit_gradient_equals_finite_differences(case):
    build, x, y, loss = _cases()[case]
    model = Sequential(build())
    model.compile(optimizer="sgd", loss=loss)
    errors = fit_gradient_errors(model, x, y)
    assert max(errors.values()) < 1e-6, errors


def test_cnn_lstm_with_batch_normalization_and_noise_trains():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 12, 2)).astype(np.float32)
    y = (x[:, :, 0].sum(axis=1) > 0).astype(np.int64)
    model = Sequential([layers.Conv1D(8, 3, padding="same", activation="relu", seed=1, input_shape=(12, 2)),
                        layers.BatchNormalization(), layers.SpatialDropout1D(0.1, seed=2),
                        layers.GaussianNoise(0.05, seed=3), layers.MaxPooling1D(2),
                        layers.LSTM(8, seed=4), layers.Dense(2, activation="softmax", seed=5)])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=10, batch_size=16, verbose=0, shuffle=False)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]
    assert not np.allclose(model.layers[1].moving_mean.value, 0.0)  # the statistics were updated
