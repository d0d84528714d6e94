import zlib

import numpy as np
import pytest

from helpers import numeric_grad, rel_error
from rnnkit import losses
from rnnkit.errors import RnnkitTypeError, RnnkitValueError

torch = pytest.importorskip("torch")
F = torch.nn.functional
EPS = 1e-7

SHAPES = [(4, 5), (3, 4, 5)]  # (batch, classes) and (batch, time, classes)


def _weights(rng, rows_shape, kind):
    if kind == "none":
        return None
    if kind == "per_sample":
        return rng.uniform(0.2, 2.0, rows_shape[0])
    return rng.uniform(0.2, 2.0, rows_shape)  # one weight per row, e.g. (batch, time)


def _torch_reduce(rows, weight, rows_shape):
    """Keras's sum_over_batch_size in torch: sum of weighted rows / number of rows."""
    if weight is not None:
        w = torch.tensor(weight)
        w = w.reshape(w.shape + (1,) * (len(rows_shape) - w.dim()))
        rows = rows * w
    return rows.sum() / int(np.prod(rows_shape))


def _case(rng, name, shape):
    """(loss object, y_true, y_pred, torch per-row function of (y_true, y_pred tensor))."""
    classes = shape[-1]
    logits = rng.standard_normal(shape) * 2
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    labels = rng.integers(0, classes, shape[:-1])
    onehot = np.eye(classes)[labels]

    def keras_probs_ce(t, p):
        p = p / p.sum(-1, keepdim=True)
        return -(t * torch.log(torch.clamp(p, EPS, 1 - EPS))).sum(-1)

    if name == "sparse_logits":
        return (losses.SparseCategoricalCrossentropy(from_logits=True), labels, logits,
                lambda t, z: F.cross_entropy(z.reshape(-1, classes), torch.tensor(labels).reshape(-1),
                                             reduction="none").reshape(shape[:-1]))
    if name == "sparse_probs":
        return (losses.SparseCategoricalCrossentropy(), labels, probs,
                lambda t, p: keras_probs_ce(torch.tensor(onehot), p))
    if name == "categorical_logits":
        soft = rng.dirichlet(np.ones(classes), shape[:-1])
        return (losses.CategoricalCrossentropy(from_logits=True), soft, logits,
                lambda t, z: F.cross_entropy(z.reshape(-1, classes), t.reshape(-1, classes),
                                             reduction="none").reshape(shape[:-1]))
    if name == "categorical_probs_smoothed":
        smooth = onehot * 0.8 + 0.2 / classes
        return (losses.CategoricalCrossentropy(label_smoothing=0.2), onehot, probs * 3.0,
                lambda t, p: keras_probs_ce(torch.tensor(smooth), p))
    if name == "binary_probs":
        targets = rng.integers(0, 2, shape).astype(float)
        p = rng.uniform(0.05, 0.95, shape)
        return (losses.BinaryCrossentropy(), targets, p,
                lambda t, q: (-(t * torch.log(q) + (1 - t) * torch.log(1 - q))).mean(-1))
    if name == "binary_logits":
        targets = rng.integers(0, 2, shape).astype(float)
        return (losses.BinaryCrossentropy(from_logits=True), targets, logits,
                lambda t, z: F.binary_cross_entropy_with_logits(z, t, reduction="none").mean(-1))
    targets = rng.standard_normal(shape)
    pred = targets + rng.standard_normal(shape) * 1.5
    if name == "mse":
        return losses.MeanSquaredError(), targets, pred, lambda t, y: F.mse_loss(y, t, reduction="none").mean(-1)
    if name == "mae":
        return losses.MeanAbsoluteError(), targets, pred, lambda t, y: F.l1_loss(y, t, reduction="none").mean(-1)
    if name == "huber":
        return (losses.Huber(delta=0.7), targets, pred,
                lambda t, y: F.huber_loss(y, t, reduction="none", delta=0.7).mean(-1))
    raise AssertionError(name)


CASES = ["sparse_logits", "sparse_probs", "categorical_logits", "categorical_probs_smoothed",
         "binary_probs", "binary_logits", "mse", "mae", "huber"]


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("weights", ["none", "per_sample", "per_row"])
def test_value_and_gradient_match_torch(name, shape, weights):
    rng = np.random.default_rng(zlib.crc32(f"{name}{shape}{weights}".encode()))
    loss, y_true, y_pred, torch_rows = _case(rng, name, shape)
    sw = _weights(rng, shape[:-1], weights)
    value, grad = loss.value_and_gradient(y_true, y_pred, sample_weight=sw)

    pred_t = torch.tensor(y_pred, requires_grad=True)
    ref = _torch_reduce(torch_rows(torch.tensor(np.asarray(y_true, float)), pred_t), sw, shape[:-1])
    ref.backward()
    assert abs(value - ref.item()) <= 1e-12 * max(1.0, abs(ref.item()))
    assert rel_error(grad, pred_t.grad.numpy()) < 1e-12
    assert grad.shape == y_pred.shape
    assert value == loss(y_true, y_pred, sample_weight=sw)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("shape", SHAPES)
def test_gradient_matches_finite_differences(name, shape):
    rng = np.random.default_rng(7)
    loss, y_true, y_pred, _ = _case(rng, name, shape)
    sw = _weights(rng, shape[:-1], "per_row")
    y_pred = np.array(y_pred, np.float64)
    numeric = numeric_grad(lambda: loss(y_true, y_pred, sample_weight=sw), y_pred)
    assert rel_error(loss.gradient(y_true, y_pred, sample_weight=sw), numeric) < 1e-7


def test_reduction_averages_over_batch_and_time():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 4, 5))
    labels = rng.integers(0, 5, (3, 4))
    rows = losses.SparseCategoricalCrossentropy(from_logits=True).per_row(labels, logits)
    assert rows.shape == (3, 4)
    assert losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits) == pytest.approx(rows.mean(), 1e-15)
    summed = losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
    assert summed(labels, logits) == pytest.approx(rows.sum(), 1e-15)
    # Keras divides by the number of rows, not by the sum of the weights.
    w = np.array([1.0, 0.0, 2.0])
    assert losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits, sample_weight=w) == \
        pytest.approx((rows * w[:, None]).sum() / 12, 1e-15)


def test_mask_averages_over_kept_rows_only():
    rng = np.random.default_rng(1)
    pred, true = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 3))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    loss = losses.MeanSquaredError()
    expected = ((pred - true) ** 2).mean(-1)[mask].mean()
    assert loss(true, pred, mask=mask) == pytest.approx(expected, 1e-14)
    grad = loss.gradient(true, pred, mask=mask)
    assert np.all(grad[0, 3:] == 0.0)
    numeric = numeric_grad(lambda: loss(true, pred, mask=mask), pred)
    assert rel_error(grad, numeric) < 1e-7


def test_keras_documented_values():
    y_pred = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    assert losses.SparseCategoricalCrossentropy()(np.array([1, 2]), y_pred) == pytest.approx(1.1769392, 1e-6)
    assert losses.CategoricalCrossentropy()(np.eye(3)[[1, 2]], y_pred) == pytest.approx(1.1769392, 1e-6)
    two = np.array([[0.6, 0.4], [0.4, 0.6]])
    assert losses.Huber()(np.array([[0, 1], [0, 0]]), two) == pytest.approx(0.155, 1e-12)
    assert losses.BinaryCrossentropy()(np.array([[0, 1], [0, 0]]), two) == pytest.approx(0.8149245, 1e-6)


def test_clipping_of_probabilities_and_its_gradient():
    # A zero probability is clipped to 1e-7 (loss -log 1e-7) and gets no gradient through the log.
    y_pred = np.array([[0.0, 0.3, 0.7], [0.2, 0.3, 0.5]])
    labels = np.array([0, 2])
    loss = losses.SparseCategoricalCrossentropy()
    assert loss(labels, y_pred) == pytest.approx((-np.log(EPS) - np.log(0.5)) / 2, 1e-12)
    pred_t = torch.tensor(y_pred, requires_grad=True)
    p = pred_t / pred_t.sum(-1, keepdim=True)
    ref = -(torch.tensor(np.eye(3)[labels]) * torch.log(torch.clamp(p, EPS, 1 - EPS))).sum(-1).mean()
    ref.backward()
    assert rel_error(loss.gradient(labels, y_pred), pred_t.grad.numpy()) < 1e-14
    bce = losses.BinaryCrossentropy()
    assert bce(np.array([[1.0]]), np.array([[0.0]])) == pytest.approx(-np.log(EPS), 1e-12)
    assert bce.gradient(np.array([[1.0]]), np.array([[0.0]]))[0, 0] == 0.0


@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_stable_for_huge_logits(scale):
    logits = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]]) * scale
    labels = np.array([1, 2])
    for loss, y_true in [(losses.SparseCategoricalCrossentropy(from_logits=True), labels),
                         (losses.CategoricalCrossentropy(from_logits=True), np.eye(3)[labels])]:
        value, grad = loss.value_and_gradient(y_true, logits)
        ref = F.cross_entropy(torch.tensor(logits), torch.tensor(labels))
        assert np.isfinite(value) and np.all(np.isfinite(grad))
        assert value == pytest.approx(ref.item(), rel=1e-12)
    z = np.array([[scale], [-scale]])
    value, grad = losses.BinaryCrossentropy(from_logits=True).value_and_gradient(np.array([[0.0], [0.0]]), z)
    ref = F.binary_cross_entropy_with_logits(torch.tensor(z), torch.zeros(2, 1, dtype=torch.float64))
    assert np.all(np.isfinite(grad)) and value == pytest.approx(ref.item(), rel=1e-12)


def test_rank_fix_for_binary_and_regression_targets():
    y_true, y_pred = np.array([0.0, 1.0, 1.0]), np.array([[0.2], [0.6], [0.9]])
    bce = losses.BinaryCrossentropy()
    assert bce(y_true, y_pred) == pytest.approx(bce(y_true[:, None], y_pred), 1e-15)
    assert bce.gradient(y_true, y_pred).shape == (3, 1)
    assert losses.MeanSquaredError()(y_true[:, None], y_pred[:, 0]) == pytest.approx(((y_pred[:, 0] - y_true) ** 2).mean())
    assert losses.SparseCategoricalCrossentropy()(np.array([[1], [0]]), np.array([[0.3, 0.7], [0.6, 0.4]])) == \
        pytest.approx(-(np.log(0.7) + np.log(0.6)) / 2)


def test_float32_predictions_give_float32_gradients():
    pred = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    grad = losses.SparseCategoricalCrossentropy(from_logits=True).gradient(np.zeros((2, 3), int), pred)
    assert grad.dtype == np.float32


@pytest.mark.parametrize("bad, where, value", [
    (np.array([[0, 5], [1, 2]]), (0, 1), "5"),
    (np.array([[0, 1], [-1, 2]]), (1, 0), "-1"),
    (np.array([[0, 1.5], [1, 2]]), (0, 1), "1.5"),
    (np.array([[0, 1], [np.nan, 2]]), (1, 0), "nan"),
])
def test_label_errors_name_value_index_and_range(bad, where, value):
    with pytest.raises(RnnkitValueError) as info:
        losses.SparseCategoricalCrossentropy()(bad, np.full((2, 2, 3), 1 / 3))
    text = str(info.value)
    assert "y_true" in text and value in text and str(where) in text and "[0, 3)" in text


def test_shape_errors_name_both_shapes():
    with pytest.raises(RnnkitValueError, match=r"\(4,\).*\(3, 5\)"):
        losses.SparseCategoricalCrossentropy()(np.zeros(4, int), np.full((3, 5), 0.2))
    with pytest.raises(RnnkitValueError, match=r"\(3, 4\).*\(3, 5\)"):
        losses.CategoricalCrossentropy()(np.zeros((3, 4)), np.full((3, 5), 0.2))
    with pytest.raises(RnnkitValueError, match=r"\(2, 2\).*\(2, 3\)"):
        losses.MeanSquaredError()(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(RnnkitValueError, match="sample_weight"):
        losses.MeanSquaredError()(np.zeros((2, 3)), np.zeros((2, 3)), sample_weight=np.ones(3))
    with pytest.raises(RnnkitTypeError, match="y_true"):
        losses.SparseCategoricalCrossentropy()(np.array(["a", "b"]), np.full((2, 3), 1 / 3))


def test_get_names_configs_and_errors():
    assert isinstance(losses.get("sparse_categorical_crossentropy"), losses.SparseCategoricalCrossentropy)
    assert isinstance(losses.get("mse"), losses.MeanSquaredError) and losses.get("mse").name == "mse"
    assert isinstance(losses.get("mae"), losses.MeanAbsoluteError)
    assert isinstance(losses.get("huber"), losses.Huber)
    assert losses.get("BinaryCrossentropy").name == "binary_crossentropy"
    loss = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    config = loss.get_config()
    assert config == {"name": "categorical_crossentropy", "reduction": "sum_over_batch_size",
                      "from_logits": True, "label_smoothing": 0.1, "axis": -1}
    again = losses.get(losses.serialize(loss))
    assert again.get_config() == config and again is not loss
    assert losses.get(loss) is loss
    assert losses.Huber(delta=2.0).get_config()["delta"] == 2.0
    with pytest.raises(RnnkitValueError, match="sparse_categorical_crossentropy"):
        losses.get("cross_entropyy")
    with pytest.raises(RnnkitValueError, match="reduction"):
        losses.MeanSquaredError(reduction="avg")
    with pytest.raises(RnnkitValueError, match="delta"):
        losses.Huber(delta=0)
    with pytest.raises(RnnkitValueError, match="label_smoothing"):
        losses.CategoricalCrossentropy(label_smoothing=1.5)
