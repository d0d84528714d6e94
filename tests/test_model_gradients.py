"""The gradient that fit applies equals float64 central differences of the compiled loss."""
import numpy as np
import pytest

from helpers import fit_gradient_errors
from rnnkit import Sequential, layers

F64 = {"dtype": "float64"}


def _sequences(rng, batch=3, time=5, features=3):
    return rng.standard_normal((batch, time, features))


def _padded_ids(rng, batch=3, time=6, vocab=7):
    ids = rng.integers(1, vocab, (batch, time))
    ids[1, 4:] = 0  # right padding
    ids[2, 2:] = 0
    return ids


def _model_cases():
    rng = np.random.default_rng(0)
    x = _sequences(rng)
    labels = rng.integers(0, 4, 3)
    per_step = rng.integers(0, 4, (3, 5))
    masked = _sequences(rng)
    masked[1, 3:] = 0.0
    masked[2, 1:] = 0.0
    return {
        "simple_rnn-dense": (lambda: [layers.SimpleRNN(4, seed=1, **F64), layers.Dense(4, "softmax", seed=2, **F64)],
                             x, labels, "sparse_categorical_crossentropy"),
        "lstm-seq-timedistributed": (
            lambda: [layers.LSTM(4, return_sequences=True, seed=1, **F64),
                     layers.TimeDistributed(layers.Dense(4, seed=2, **F64), **F64)],
            x, per_step, "sparse_categorical_crossentropy"),
        "gru-masking": (lambda: [layers.Masking(0.0, **F64), layers.GRU(3, seed=1, **F64),
                                 layers.Dense(1, seed=2, **F64)], masked, rng.standard_normal((3, 1)), "mse"),
        "embedding-mask_zero-lstm": (
            lambda: [layers.Embedding(7, 3, mask_zero=True, seed=1, **F64),
                     layers.LSTM(4, return_sequences=True, seed=2, **F64), layers.Dense(2, seed=3, **F64)],
            _padded_ids(rng), rng.standard_normal((3, 6, 2)), "mse"),
        "bidirectional-gru": (lambda: [layers.Bidirectional(layers.GRU(3, seed=1, **F64), **F64),
                                       layers.Dense(2, "sigmoid", seed=2, **F64)],
                              x, rng.integers(0, 2, (3, 2)).astype(float), "binary_crossentropy"),
        "stacked-cells-rnn": (lambda: [layers.RNN([layers.SimpleRNNCell(3, seed=1, dtype="float64"),
                                                   layers.LSTMCell(3, seed=2, dtype="float64")], **F64),
                                       layers.Dense(2, seed=3, **F64)], x, rng.standard_normal((3, 2)), "huber"),
        "lstm-variants": (lambda: [layers.LSTM(4, use_peepholes=True, num_proj=3, cell_clip=0.5, seed=1, **F64),
                                   layers.Dense(3, "softmax", seed=2, **F64)],
                          x, np.eye(3)[labels % 3], "categorical_crossentropy"),
        "flatten-activation": (lambda: [layers.Flatten(**F64), layers.Dense(4, seed=1, **F64),
                                        layers.Activation("tanh", **F64), layers.Dense(1, seed=2, **F64)],
                               x, rng.standard_normal((3, 1)), "mae"),
    }


@pytest.mark.parametrize("case", sorted(_model_cases()))
def test_fit_gradient_equals_finite_differences(case):
    build, x, y, loss = _model_cases()[case]
    model = Sequential(build())
    model.compile(optimizer="sgd", loss=loss)
    errors = fit_gradient_errors(model, x, y)
    assert max(errors.values()) < 1e-6, (case, errors)


def test_fit_applies_exactly_that_gradient():
    rng = np.random.default_rng(3)
    model = Sequential([layers.LSTM(3, seed=0, **F64), layers.Dense(2, seed=1, **F64)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = rng.standard_normal((4, 5, 2)), rng.standard_normal((4, 2))
    before = model.get_weights()
    _, grads, _ = model.compute_loss_and_gradients(x, y)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for old, grad, new in zip(before, grads, model.get_weights()):
        np.testing.assert_allclose(new, old - 0.01 * grad, rtol=1e-12, atol=1e-15)
