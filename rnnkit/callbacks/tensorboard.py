"""TensorBoard: training curves and weight histograms as TensorBoard event files (Keras 3's callback).

The files are written by :mod:`rnnkit.callbacks.event_file` (no TensorFlow, no tensorboard package);
view them with ``pip install tensorboard`` and ``tensorboard --logdir <log_dir>``.
"""
import json
import numbers
import time

from .._validate import describe, path_text
from ..errors import RnnkitValueError
from .base import Callback
from .event_file import EventFileWriter


def _non_negative_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise RnnkitValueError(f"{name} must be an integer >= 0, got {describe(value)}")
    return int(value)


class TensorBoard(Callback):
    """Write what Keras 3's ``TensorBoard`` writes, under ``log_dir/train`` and ``log_dir/validation``.

    * every epoch: ``epoch_<name>`` scalars at step = epoch (0-based) — the training logs and
      ``epoch_learning_rate`` in ``train``, the ``val_*`` logs without their prefix in ``validation``;
    * with ``update_freq="batch"`` or N: ``batch_<name>`` scalars (the running means of the epoch, as
      the logs hold them) every N-th training batch, at step = the global batch count (from 1);
    * every ``histogram_freq`` epochs (0: never): a histogram of each weight, tag
      ``<weight name>/histogram`` (e.g. ``dense/kernel/histogram``), 30 equal-width buckets;
    * ``write_graph``: the model's JSON config for the Graphs tab (tag ``keras``), once;
    * ``model.evaluate(..., callbacks=[tb])``: ``evaluation_<name>_vs_iterations`` at step =
      optimizer iterations, in ``validation``;
    * ``write_steps_per_second``: ``epoch_steps_per_second`` and ``batch_steps_per_second``.

    Args:
        log_dir: folder of the logs (default "logs"); created when training begins.
        histogram_freq: int >= 0.
        write_graph: bool.
        update_freq: "epoch" (default), "batch", or an int N >= 1.
        write_steps_per_second: bool.
        write_images, profile_batch, embeddings_freq, embeddings_metadata: Keras's arguments; only
            their off values are taken (images of weights, the profiler and the embedding projector
            need TensorFlow).
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        self.log_dir = path_text("log_dir", log_dir)
        self.histogram_freq = _non_negative_int("histogram_freq", histogram_freq)
        self.write_graph = bool(write_graph)
        self.write_steps_per_second = bool(write_steps_per_second)
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (isinstance(update_freq, bool) or not isinstance(update_freq, numbers.Integral)
                                       or update_freq < 1):
            raise RnnkitValueError(f"update_freq must be 'epoch', 'batch' or an integer >= 1, "
                                   f"got {describe(update_freq)}")
        self.update_freq = update_freq
        for name, value in (("write_images", write_images), ("profile_batch", profile_batch),
                            ("embeddings_freq", embeddings_freq), ("embeddings_metadata", embeddings_metadata)):
            if value:
                raise RnnkitValueError(f"{name}={value!r} is not supported by rnnkit's TensorBoard (it needs "
                                       f"TensorFlow); leave it at its default")
        self.write_images = False
        self.profile_batch = 0
        self.embeddings_freq = 0
        self.embeddings_metadata = None
        self._writers = {}
        self._global_train_batch = 0
        self._graph_written = False
        self._epoch_start = self._batch_start = 0.0

    # ------------------------------------------------------------------ writers
    def _writer(self, which):
        if which not in self._writers:
            self._writers[which] = EventFileWriter(f"{self.log_dir}/{which}")
        return self._writers[which]

    def _close_writers(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def set_model(self, model):
        if model is not self.model:
            self._graph_written = False
        super().set_model(model)

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs=None):
        self._global_train_batch = 0
        if self.write_graph and not self._graph_written:
            self._write_model_config()

    def on_train_end(self, logs=None):
        self._close_writers()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.time()
        self._epoch_batches = 0

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        self._batch_start = time.time()

    def on_train_batch_end(self, batch, logs=None):
        self._epoch_batches = getattr(self, "_epoch_batches", 0) + 1
        if self.update_freq == "epoch" or self._global_train_batch % self.update_freq:
            return
        writer, step = self._writer("train"), self._global_train_batch
        if self.write_steps_per_second:
            writer.scalar("batch_steps_per_second", 1.0 / max(time.time() - self._batch_start, 1e-9), step)
        for name, value in _scalars(logs):
            writer.scalar(f"batch_{name}", value, step)

    def on_epoch_end(self, epoch, logs=None):
        scalars = dict(_scalars(logs))
        train = {name: value for name, value in scalars.items() if not name.startswith("val_")}
        learning_rate = _learning_rate(self.model)
        if learning_rate is not None:
            train["learning_rate"] = learning_rate
        if self.write_steps_per_second:
            train["steps_per_second"] = getattr(self, "_epoch_batches", 0) / max(time.time() - self._epoch_start, 1e-9)
        writer = self._writer("train")
        for name, value in train.items():
            writer.scalar(f"epoch_{name}", value, epoch)
        validation = {name[4:]: value for name, value in scalars.items() if name.startswith("val_")}
        if validation:
            val_writer = self._writer("validation")
            for name, value in validation.items():
                val_writer.scalar(f"epoch_{name}", value, epoch)
            val_writer.flush()
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for variable in self.model.weights:
                writer.histogram(f"{variable.name}/histogram", variable.value, epoch)
        writer.flush()

    def on_test_end(self, logs=None):
        iterations = getattr(getattr(self.model, "optimizer", None), "iterations", None)
        if iterations is None or not logs:
            return
        writer = self._writer("validation")
        for name, value in _scalars(logs):
            writer.scalar(f"evaluation_{name}_vs_iterations", value, int(iterations))
        writer.flush()
        if not self._inside_fit():
            self._close_writers()

    def _inside_fit(self):
        return "train" in self._writers

    def _write_model_config(self):
        model = self.model
        try:
            spec = {"class_name": getattr(model, "config_class_name", type(model).__name__),
                    "config": model.get_config()}
            text = json.dumps(spec, default=str)
        except (TypeError, ValueError, AttributeError):
            return  # as Keras: a model whose config does not serialize gets no graph
        writer = self._writer("train")
        writer.keras_model("keras", text, step=0)
        writer.flush()
        self._graph_written = True


def _scalars(logs):
    """(name, float) for each number in ``logs``."""
    for name, value in (logs or {}).items():
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            yield name, float(value)


def _learning_rate(model):
    optimizer = getattr(model, "optimizer", None)
    try:
        return float(optimizer.learning_rate)
    except (AttributeError, TypeError, ValueError):
        return None
