import numpy as np
import pytest

from rnnkit import losses, metrics
from rnnkit.errors import RnnkitTypeError, RnnkitValueError


def _value(metric, *batches):
    metric.reset_state()
    for batch in batches:
        metric.update_state(*batch[:2], **(batch[2] if len(batch) > 2 else {}))
    return metric.result()


def test_keras_documented_values():
    y_true, y_pred = np.array([[2], [1]]), np.array([[0.1, 0.6, 0.3], [0.05, 0.95, 0.0]])
    m = metrics.SparseCategoricalAccuracy()
    assert _value(m, (y_true, y_pred)) == pytest.approx(0.5)
    assert _value(m, (y_true, y_pred, {"sample_weight": np.array([0.7, 0.3])})) == pytest.approx(0.3)

    one_hot = np.array([[0, 0, 1], [0, 1, 0]])
    c_pred = np.array([[0.1, 0.9, 0.8], [0.05, 0.95, 0.0]])
    m = metrics.CategoricalAccuracy()
    assert _value(m, (one_hot, c_pred)) == pytest.approx(0.5)
    assert _value(m, (one_hot, c_pred, {"sample_weight": np.array([0.7, 0.3])})) == pytest.approx(0.3)

    b_true, b_pred = np.array([[1], [1], [0], [0]]), np.array([[0.98], [1], [0], [0.6]])
    m = metrics.BinaryAccuracy()
    assert _value(m, (b_true, b_pred)) == pytest.approx(0.75)
    assert _value(m, (b_true, b_pred, {"sample_weight": np.array([1, 0, 0, 1])})) == pytest.approx(0.5)
    assert _value(metrics.BinaryAccuracy(threshold=0.7), (b_true, b_pred)) == pytest.approx(1.0)

    assert _value(metrics.Accuracy(), (np.array([[1], [2], [3], [4]]), np.array([[0], [2], [3], [4]]))) == 0.75

    r_true, r_pred = np.array([[0, 1], [0, 0]]), np.array([[1, 1], [0, 0]])
    assert _value(metrics.MeanSquaredError(), (r_true, r_pred)) == pytest.approx(0.25)
    assert _value(metrics.MeanAbsoluteError(), (r_true, np.array([[1, 1], [1, 0]]))) == pytest.approx(0.5)
    assert _value(metrics.MeanAbsoluteError(), (r_true, np.array([[1, 1], [1, 0]]),
                                                {"sample_weight": np.array([1, 0])})) == pytest.approx(0.5)


def test_results_are_weighted_by_sample_count_across_batches():
    m = metrics.SparseCategoricalAccuracy()
    right = (np.array([0, 1, 2]), np.eye(3))  # 3 samples, all right
    wrong = (np.array([0]), np.array([[0.1, 0.9, 0.0]]))  # 1 sample, wrong
    assert _value(m, right, wrong) == pytest.approx(0.75)  # not the 0.5 mean of batch means
    mse = metrics.MeanSquaredError()
    assert _value(mse, (np.zeros((3, 2)), np.ones((3, 2))), (np.zeros((1, 2)), np.full((1, 2), 3.0))) == \
        pytest.approx((3 * 1.0 + 9.0) / 4)
    mean = metrics.Mean()
    mean.update_state(np.array([1.0, 3.0, 5.0, 7.0]))
    assert mean.result() == 4.0
    mean.reset_state()
    mean.update_state(np.array([1.0, 3.0, 5.0, 7.0]), sample_weight=np.array([1, 1, 0, 0]))
    assert mean.result() == 2.0


def test_sequence_outputs_average_over_time_and_respect_masks():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), (3, 5))
    labels = rng.integers(0, 4, (3, 5))
    hits = (probs.argmax(-1) == labels).astype(float)
    m = metrics.SparseCategoricalAccuracy()
    assert _value(m, (labels, probs)) == pytest.approx(hits.mean())
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]], bool)
    assert _value(m, (labels, probs, {"mask": mask})) == pytest.approx(hits[mask].mean())
    weights = np.array([2.0, 1.0, 0.5])
    assert _value(m, (labels, probs, {"mask": mask, "sample_weight": weights})) == \
        pytest.approx((hits * mask * weights[:, None]).sum() / (mask * weights[:, None]).sum())
    # one weight per sample: each sample's time-mean, weighted.
    assert _value(m, (labels, probs, {"sample_weight": weights})) == \
        pytest.approx((hits.mean(1) * weights).sum() / weights.sum())


def test_empty_metric_reads_zero_and_reset_clears():
    m = metrics.CategoricalAccuracy()
    assert m.result() == 0.0
    m.update_state(np.eye(2), np.eye(2))
    assert m.result() == 1.0
    m.reset_state()
    assert m.result() == 0.0 and m.count == 0.0


def test_resolve_accuracy_from_loss_keeps_the_name():
    m = metrics.resolve_metric("accuracy", loss="sparse_categorical_crossentropy")
    assert type(m) is metrics.SparseCategoricalAccuracy and m.name == "accuracy"
    m = metrics.resolve_metric("acc", loss=losses.BinaryCrossentropy())
    assert type(m) is metrics.BinaryAccuracy and m.name == "acc"
    m = metrics.resolve_metric("accuracy", loss=losses.CategoricalCrossentropy(from_logits=True))
    assert type(m) is metrics.CategoricalAccuracy


def test_resolve_accuracy_from_shapes_as_keras_3():
    assert type(metrics.resolve_metric("accuracy", y_true=(8,), y_pred=(8, 5))) is metrics.SparseCategoricalAccuracy
    assert type(metrics.resolve_metric("accuracy", y_true=(8, 1), y_pred=(8, 5))) is metrics.SparseCategoricalAccuracy
    assert type(metrics.resolve_metric("accuracy", y_true=(8, 1), y_pred=(8, 1))) is metrics.BinaryAccuracy
    assert type(metrics.resolve_metric("accuracy", y_true=(8, 5), y_pred=(8, 5))) is metrics.CategoricalAccuracy
    # With a loss that says nothing (mse), the first batch decides.
    m = metrics.resolve_metric("accuracy", loss="mse")
    m.update_state(np.array([1, 0]), np.array([[0.2, 0.8], [0.3, 0.7]]))
    assert m.name == "accuracy" and m.kind == "sparse" and m.result() == 0.5


def test_resolve_other_names_and_functions():
    m = metrics.resolve_metric("mae")
    assert type(m) is metrics.MeanAbsoluteError and m.name == "mae"
    assert metrics.resolve_metric("sparse_categorical_accuracy").name == "sparse_categorical_accuracy"
    assert metrics.get("mse").name == "mean_squared_error"
    ce = metrics.resolve_metric("binary_crossentropy")
    ce.update_state(np.array([[1.0]]), np.array([[0.5]]))
    assert ce.result() == pytest.approx(np.log(2))

    def max_error(y_true, y_pred):
        return np.abs(y_true - y_pred).max(axis=-1)

    custom = metrics.resolve_metric(max_error)
    custom.update_state(np.zeros((2, 3)), np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 4.0]]))
    assert custom.name == "max_error" and custom.result() == 3.0
    same = metrics.SparseCategoricalAccuracy()
    assert metrics.resolve_metric(same) is same
    poisson = metrics.resolve_metric(metrics.poisson)  # Keras's metrics module has the losses' functions
    poisson.update_state(np.array([[1.0, 2.0]]), np.array([[2.0, 1.0]]))
    assert poisson.name == "poisson" and poisson.result() == pytest.approx(np.mean([2 - np.log(2), 1 - 2 * np.log(1)]))
    made = metrics.resolve_metric(metrics.SparseCategoricalAccuracy)  # a class, made with its defaults (Keras)
    assert type(made) is metrics.SparseCategoricalAccuracy and made.name == "sparse_categorical_accuracy"
    with pytest.raises(RnnkitTypeError, match="Metric class, got"):
        metrics.get(dict)
    with pytest.raises(RnnkitValueError, match=r"'acc'.*'sparse_categorical_accuracy'"):
        metrics.resolve_metric("accuracyy")


def test_configs_and_shape_errors():
    assert metrics.BinaryAccuracy(threshold=0.3).get_config() == {"name": "binary_accuracy", "threshold": 0.3}
    again = metrics.get({"class_name": "BinaryAccuracy", "config": {"name": "b", "threshold": 0.3}})
    assert again.name == "b" and again.get_config()["threshold"] == 0.3
    with pytest.raises(RnnkitValueError, match=r"\(3,\).*\(2, 4\)"):
        metrics.SparseCategoricalAccuracy().update_state(np.zeros(3), np.zeros((2, 4)))
    with pytest.raises(RnnkitValueError, match=r"\(2, 3\).*\(2, 4\)"):
        metrics.CategoricalAccuracy().update_state(np.zeros((2, 3)), np.zeros((2, 4)))


def test_merge_state_equals_one_metric_over_all_batches():
    """States add up: metrics updated on parts of the data (ranks of a data-parallel job) merge into
    the metric of all the data, also with masks and uneven parts."""
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 4, size=(7, 5))
    y_pred = rng.normal(size=(7, 5, 4))
    mask = rng.random((7, 5)) > 0.3
    whole = metrics.SparseCategoricalAccuracy()
    whole.update_state(y_true, y_pred, mask=mask)
    parts = [metrics.SparseCategoricalAccuracy() for _ in range(3)]
    for part, rows in zip(parts, (slice(0, 1), slice(1, 5), slice(5, 7))):
        part.update_state(y_true[rows], y_pred[rows], mask=mask[rows])
    parts[0].merge_state(parts[1:])
    assert parts[0].result() == pytest.approx(whole.result(), abs=1e-15)
    assert np.array_equal(parts[0].get_state(), whole.get_state())
    with pytest.raises(RnnkitValueError, match="merge_state needs metrics like"):
        parts[0].merge_state([metrics.MeanSquaredError()])
    with pytest.raises(RnnkitValueError, match=r"must be \[total, count\]"):
        whole.set_state([1.0])
    with pytest.raises(NotImplementedError, match="does not expose its state"):
        metrics.Metric("custom").get_state()
