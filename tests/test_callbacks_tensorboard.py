"""TensorBoard callback: event files that TensorBoard's own reader loads (scalars per epoch and per
batch, weight histograms, the model graph), the TFRecord framing, and named errors; LambdaCallback."""
import glob
import os
import struct

import numpy as np
import pytest

import rnnkit
from rnnkit import layers
from rnnkit.callbacks import LambdaCallback, TensorBoard
from rnnkit.callbacks.event_file import crc32c, masked_crc32c
from rnnkit.errors import RnnkitTypeError, RnnkitValueError


def _model():
    model = rnnkit.Sequential([layers.Input((4, 3)), layers.LSTM(5, seed=0), layers.Dense(2, seed=1)])
    model.compile(optimizer=rnnkit.optimizers.SGD(0.05), loss="mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(10, 4, 3)).astype(np.float32), rng.normal(size=(10, 2)).astype(np.float32)


def _records(path):
    """The payloads of a TFRecord file, checking every length and CRC on the way."""
    data, payloads, at = open(path, "rb").read(), [], 0
    while at < len(data):
        length_bytes = data[at:at + 8]
        (length,) = struct.unpack("<Q", length_bytes)
        assert struct.unpack("<I", data[at + 8:at + 12])[0] == masked_crc32c(length_bytes)
        payload = data[at + 12:at + 12 + length]
        assert struct.unpack("<I", data[at + 12 + length:at + 16 + length])[0] == masked_crc32c(payload)
        payloads.append(payload)
        at += 16 + length
    return payloads


def test_crc32c_known_values():
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    assert crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720's 32 zero bytes


def test_fit_writes_framed_event_files(tmp_path):
    model = _model()
    x, y = _data()
    model.fit(x, y, epochs=2, batch_size=4, validation_split=0.2, verbose=0,
              callbacks=[TensorBoard(tmp_path / "logs", histogram_freq=1)])
    for run in ("train", "validation"):
        files = glob.glob(str(tmp_path / "logs" / run / "events.out.tfevents.*"))
        assert len(files) == 1
        records = _records(files[0])
        assert b"brain.Event:2" in records[0] and len(records) > 1


def _accumulator(path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    accumulator = event_accumulator.EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0,
                                                                              "tensors": 0})
    accumulator.Reload()
    return accumulator


def test_tensorboard_reads_scalars_histograms_and_graph(tmp_path):
    model = _model()
    x, y = _data()
    history = model.fit(x, y, epochs=3, batch_size=4, validation_split=0.2, verbose=0,
                        callbacks=[TensorBoard(tmp_path, histogram_freq=2, update_freq="batch")]).history
    train = _accumulator(tmp_path / "train")
    tags = train.Tags()
    assert {"epoch_loss", "epoch_learning_rate", "batch_loss"} <= set(tags["scalars"])
    assert [(e.step, e.value) for e in train.Scalars("epoch_loss")] == [
        (epoch, pytest.approx(loss, rel=1e-6)) for epoch, loss in enumerate(history["loss"])]
    assert [e.value for e in train.Scalars("epoch_learning_rate")] == [pytest.approx(0.05)] * 3
    assert [e.step for e in train.Scalars("batch_loss")] == list(range(1, 7))  # 2 batches a epoch, from 1
    validation = _accumulator(tmp_path / "validation")
    assert [e.value for e in validation.Scalars("epoch_loss")] == [pytest.approx(v, rel=1e-6)
                                                                   for v in history["val_loss"]]
    names = [f"{v.name}/histogram" for v in model.weights]
    assert sorted(tags["histograms"]) == sorted(names)
    dense = model.layers[-1]
    kernel = train.Histograms(f"{dense.kernel.name}/histogram")
    assert [h.step for h in kernel] == [0, 2]  # histogram_freq=2
    last = kernel[-1].histogram_value
    values = dense.kernel.value.astype(np.float64)
    assert last.num == values.size and last.min == pytest.approx(values.min()) and last.max == pytest.approx(
        values.max())
    assert last.sum == pytest.approx(values.sum()) and sum(last.bucket) == values.size
    counts, edges = np.histogram(values, bins=30, range=(values.min(), values.max()))
    np.testing.assert_allclose(last.bucket_limit, edges[1:])
    np.testing.assert_array_equal(last.bucket, counts)
    graph = train.Tensors("keras")[0].tensor_proto
    assert b'"class_name": "Sequential"' in graph.string_val[0]


def test_tensorboard_loader_migrates_to_its_current_form(tmp_path):
    loader = pytest.importorskip("tensorboard.backend.event_processing.event_file_loader")
    model = _model()
    x, y = _data()
    model.fit(x, y, epochs=1, batch_size=5, verbose=0, callbacks=[TensorBoard(tmp_path, histogram_freq=1)])
    events = list(loader.EventFileLoader(glob.glob(str(tmp_path / "train" / "events*"))[0]).Load())
    plugins = {value.metadata.plugin_data.plugin_name for event in events for value in event.summary.value}
    assert plugins == {"scalars", "histograms", "graph_keras_model"}


def test_update_freq_every_n_batches_and_evaluate(tmp_path):
    model = _model()
    x, y = _data()
    tensorboard = TensorBoard(tmp_path, update_freq=3, write_graph=False, write_steps_per_second=True)
    model.fit(x, y, epochs=2, batch_size=2, verbose=0, callbacks=[tensorboard])  # 5 batches an epoch
    result = model.evaluate(x, y, verbose=0, callbacks=[tensorboard])
    train = _accumulator(tmp_path / "train")
    assert [e.step for e in train.Scalars("batch_loss")] == [3, 6, 9]
    assert "epoch_steps_per_second" in train.Tags()["scalars"] and "keras" not in train.Tags()["tensors"]
    evaluation = _accumulator(tmp_path / "validation").Scalars("evaluation_loss_vs_iterations")
    assert [(e.step, e.value) for e in evaluation] == [(10, pytest.approx(result, rel=1e-6))]


@pytest.mark.parametrize("kwargs, match", [
    ({"update_freq": "step"}, "update_freq must be 'epoch', 'batch' or an integer >= 1"),
    ({"update_freq": 0}, "update_freq"),
    ({"histogram_freq": -1}, "histogram_freq must be an integer >= 0"),
    ({"write_images": True}, "write_images=True is not supported"),
    ({"profile_batch": 3}, "profile_batch=3 is not supported"),
    ({"embeddings_freq": 1}, "embeddings_freq"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(RnnkitValueError, match=match):
        TensorBoard(**kwargs)
    with pytest.raises(RnnkitTypeError, match="log_dir"):
        TensorBoard(log_dir=3)


def test_lambda_callback_calls_keras_hooks():
    seen = []
    callback = LambdaCallback(
        on_train_begin=lambda logs: seen.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: seen.append(("epoch_begin", epoch)),
        on_epoch_end=lambda epoch, logs: seen.append(("epoch_end", epoch, round(logs["loss"], 6))),
        on_train_batch_end=lambda batch, logs: seen.append(("batch", batch)),
        on_train_end=lambda logs: seen.append("train_end"),
        on_test_end=lambda logs: seen.append("test_end"))  # any other hook by keyword, as Keras
    model = _model()
    x, y = _data()
    history = model.fit(x, y, epochs=2, batch_size=5, verbose=0, callbacks=[callback]).history
    assert seen == ["train_begin", ("epoch_begin", 0), ("batch", 0), ("batch", 1),
                    ("epoch_end", 0, round(history["loss"][0], 6)), ("epoch_begin", 1), ("batch", 0),
                    ("batch", 1), ("epoch_end", 1, round(history["loss"][1], 6)), "train_end"]
    model.evaluate(x, y, verbose=0, callbacks=[callback])
    assert seen[-1] == "test_end"
    legacy = []
    LambdaCallback(on_batch_end=lambda batch, logs: legacy.append(batch)).on_train_batch_end(4, {})
    assert legacy == [4]


def test_lambda_callback_bad_arguments():
    with pytest.raises(RnnkitTypeError, match="on_epoch_end must be a function or None, got 3"):
        LambdaCallback(on_epoch_end=3)
    with pytest.raises(RnnkitTypeError, match="unknown hook 'on_epoch_ended'"):
        LambdaCallback(on_epoch_ended=print)


def test_the_log_dir_is_created_on_first_write(tmp_path):
    log_dir = tmp_path / "a" / "b"
    TensorBoard(log_dir)
    assert not os.path.exists(log_dir)
