"""compile / fit / evaluate / predict: the training loop around explicit BPTT, for every Model.

:class:`Trainer` is the part of :class:`rnnkit.models.Model` that trains; the rest of Model
provides this protocol (flat lists: one entry per input or output, in ``model.inputs`` /
``model.outputs`` order):

    input_names, output_names         names of the inputs and outputs (keys of dict x / y)
    inputs, outputs                   symbolic tensors (their shapes check labels and data)
    _forward(xs, training)            -> (outputs, masks); keeps the caches for _backward when
                                      gradients are enabled (outside rnnkit.no_grad())
    _backward(d_outputs)              d_outputs one array or None per output; fills the gradients
    gradients(variables=None)         the gradients of the last _backward, trainable_variables order
    trainable_variables, _flat_layers(), _pack_outputs(flat), _prepare_data(xs)

One training step:
    outputs = model(xs, training=True)
    L       = sum_i w_i loss_i(y_i, outputs_i; sample weights)   (Keras "sum_over_batch_size": the
              weighted sum over batch and time divided by the number of values)
    dL/doutputs_i -> backward through the graph -> gradients of every weight (BPTT inside recurrent layers)
    optimizer.apply_gradients(zip(gradients, trainable_variables))

Where the batches come from (arrays, generators, datasets; epochs and ``steps_per_epoch``) is
:mod:`rnnkit.models.data_streams`'s; checking and casting the arrays is
:mod:`rnnkit.models.data_adapter`'s; ``evaluate`` and ``predict`` are in :mod:`.evaluation`.
"""
import contextlib
import math
import numbers
import warnings

import numpy as np

from .. import callbacks as callbacks_module
from .. import losses as losses_module
from .. import optimizers as optimizers_module
from .. import weight_options
from .._validate import describe
from ..distributed.strategy import ReplicaStreamError, current_strategy
from ..errors import RnnkitError, RnnkitTypeError, RnnkitValueError
from ..ops import grad_sinks
from ..random import make_rng
from . import class_weights, data_adapter, data_streams, stateful, tbptt
from .compile_utils import CompiledLoss, CompiledMetrics
from .evaluation import Evaluation, check_verbose
from .step_buffers import StepBuffers


class NonFiniteError(RnnkitError, FloatingPointError):
    """The loss or a gradient became NaN or Inf during training."""


class _FitPlan:
    """Everything ``fit`` checked before its first batch."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


def _check_validation_freq(validation_freq):
    """Keras: an int n (validate every n-th epoch) or a list of epochs (1-based) to validate after."""
    if isinstance(validation_freq, numbers.Integral) and not isinstance(validation_freq, bool):
        if validation_freq < 1:
            raise RnnkitValueError(f"validation_freq must be a positive integer or a list of epochs, got "
                                   f"{describe(validation_freq)}")
        return int(validation_freq)
    if isinstance(validation_freq, (list, tuple, set, range)) and all(
            isinstance(e, numbers.Integral) and not isinstance(e, bool) and e >= 1 for e in validation_freq):
        return frozenset(int(e) for e in validation_freq)
    raise RnnkitValueError(f"validation_freq must be a positive integer or a list of epochs (1-based), got "
                           f"{describe(validation_freq)}")


def _validates_after(validation_freq, epoch):
    """Whether ``fit`` validates after ``epoch`` (0-based), as Keras's ``_should_eval``."""
    if isinstance(validation_freq, int):
        return (epoch + 1) % validation_freq == 0
    return epoch + 1 in validation_freq


class Trainer(Evaluation):
    """Keras's training API: ``compile``, ``fit``, ``train_on_batch`` (and, from :class:`Evaluation`,
    ``evaluate``, ``predict``, ``test_on_batch``, ``predict_on_batch``)."""

    optimizer = None
    loss = None
    loss_weights = None
    stop_training = False
    history = None
    _compiled_loss = None
    _compiled_metrics = None
    _shuffle_rng = None
    _resume_epoch = None
    _replicas = None  # rnnkit.distributed's helper when compiled under a DataParallel scope with several ranks

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                terminate_on_nan=True):
        """Choose the optimizer, the loss(es) and the metrics (objects or Keras's string names).

        Args:
            optimizer: name or Optimizer.
            loss: one loss for every output, a list with one per output (None: no loss on that
                output) or a dict by output name (outputs left out get no loss). A loss is a name
                (``"mse"``), an object, a class, or one of ``rnnkit.losses``' functions
                (``rnnkit.losses.sparse_categorical_crossentropy``); rnnkit refuses other functions,
                which it cannot differentiate (subclass ``rnnkit.losses.Loss`` with ``call`` and
                ``call_gradient`` instead).
            loss_weights: None (all 1), a list or a dict by output name: the training loss is
                ``sum_i loss_weights[i] * loss_i``.
            metrics: a list (one-output models; ``[[...]]`` too), or for several outputs a dict by
                output name, a list of lists, a list as long as the outputs (one entry each, as
                Keras 3), or a list of another length (every metric on every output, as tf.keras 2).
                A metric is a name, an object or any function ``fn(y_true, y_pred) -> values``.
                These metrics ignore sample weights.
            weighted_metrics: metrics (same forms) weighted by ``sample_weight`` / ``class_weight``;
                logged as ``weighted_<name>`` where ``metrics`` has the same name.
            terminate_on_nan: (default True) stop ``fit`` at the first non-finite loss or gradient
                and keep the last finite weights; False lets training run on (a step whose gradients
                are not finite is then skipped with a warning, and History shows the non-finite loss).
        """
        if loss is None:
            raise RnnkitValueError("loss must be given to compile(), e.g. loss='mse', got None")
        # everything resolved before anything is assigned: a bad metric leaves the model as it was
        resolved_optimizer = optimizers_module.get(optimizer)
        compiled_loss = CompiledLoss(loss, loss_weights, self.output_names)
        compiled_metrics = CompiledMetrics(metrics, self.output_names, compiled_loss, weighted_metrics)
        self.optimizer, self._compiled_loss, self._compiled_metrics = resolved_optimizer, compiled_loss, compiled_metrics
        losses = compiled_loss.losses
        self.loss = losses[0] if len(losses) == 1 else losses
        self.loss_weights = loss_weights
        self.terminate_on_nan = bool(terminate_on_nan)
        strategy = current_strategy()
        self._replicas = strategy.replicas_for(self) if strategy is not None else None
        self.compiled = True

    def get_compile_config(self):
        """The compile settings as plain data (None before compile): ``optimizer`` (config with
        ``class_name``), ``loss`` (one loss config for a one-output model, else a list with None for
        outputs without a loss), ``metrics`` (names; a list per output for several outputs) and, when
        not all 1, ``loss_weights``. :meth:`compile_from_config` reverses it."""
        if not getattr(self, "compiled", False):
            return None

        def named(config):
            if config is None:
                return None
            extra = {"registered_name": config["registered_name"]} if "registered_name" in config else {}
            return config["config"] | {"class_name": config["class_name"]} | extra

        losses = self._compiled_loss.get_config()
        metrics = self._compiled_metrics.get_config()
        single = len(self._compiled_loss.output_names) == 1
        config = {"optimizer": self.optimizer.get_config() | {"class_name": type(self.optimizer).__name__},
                  "loss": named(losses["loss"][0]) if single else [named(item) for item in losses["loss"]],
                  "metrics": metrics[0] if single else metrics}
        if any(weight != 1.0 for weight in losses["loss_weights"]):
            config["loss_weights"] = losses["loss_weights"]
        weighted = self._compiled_metrics.get_weighted_config()
        if any(weighted):
            config["weighted_metrics"] = weighted[0] if single else weighted
        return config

    def compile_from_config(self, config):
        """Compile with the settings :meth:`get_compile_config` returned."""
        def loss_of(entry):
            if entry is None:
                return None
            entry = dict(entry)
            spec = {"class_name": entry.pop("class_name")}
            if "registered_name" in entry:
                spec["registered_name"] = entry.pop("registered_name")
            return losses_module.get({**spec, "config": entry})

        optimizer = dict(config["optimizer"])
        loss = config["loss"]
        self.compile(optimizer=optimizers_module.get({"class_name": optimizer.pop("class_name"), "config": optimizer}),
                     loss=[loss_of(item) for item in loss] if isinstance(loss, list) else loss_of(loss),
                     loss_weights=config.get("loss_weights"), metrics=config.get("metrics"),
                     weighted_metrics=config.get("weighted_metrics"))

    @property
    def shuffle_rng(self):
        """The generator behind ``fit``'s shuffling (None before the first fit); its state is part of
        :meth:`get_rng_states`, which resumable training saves."""
        return self._shuffle_rng

    @property
    def compiled_metrics(self):
        """The metric objects, output by output."""
        return self._compiled_metrics.flat if self._compiled_metrics else []

    def _require_compiled(self, what):
        if not getattr(self, "compiled", False):
            raise RnnkitValueError(
                f"the model must be compiled before {what}(): call model.compile(optimizer=..., loss=...) first"
            )
        if len(self.output_names) != len(self._compiled_loss.output_names):
            raise RnnkitValueError(
                f"the model's outputs {self.output_names} changed since compile() "
                f"({self._compiled_loss.output_names}); call compile() again")

    @property
    def metrics_names(self):
        """Keras's log names, in the order evaluate() returns its list."""
        if not self._compiled_loss:
            return ["loss"]
        return self._compiled_loss.log_names + self._compiled_metrics.log_names

    # ------------------------------------------------------------------ one batch
    def _loss_and_gradients(self, xs, ys, sample_weight=None, variables=None):
        """The training loss of one batch (the compiled losses plus ``model.losses``, as Keras reports
        it), its per-output parts, and the gradients (the regularizers' included; activity penalties
        add theirs inside the layers' backward). With an optimizer ``loss_scale_factor`` the gradients
        are of the scaled loss, regularization included (Keras's ``optimizer.scale_loss`` on the whole
        loss), which the optimizer divides out again; the losses returned are unscaled."""
        outputs, masks = self._forward(xs, training=True)
        loss, parts, d_outputs = self._compiled_loss.value_and_gradients(ys, outputs, masks, sample_weight)
        self._backward(d_outputs)
        variables = self.trainable_variables if variables is None else variables
        grads = weight_options.add_penalty_gradients(variables, self.gradients(variables))
        scale = self.optimizer.scale_loss(1.0)
        if scale != 1.0:
            grads = [g * np.asarray(scale, g.dtype) for g in grads]
        return self._with_penalties(loss), parts, grads, outputs, masks

    def _with_penalties(self, loss):
        """``loss`` plus the sum of ``model.losses`` of the last forward (regularization, as Keras adds it
        in training and evaluation alike)."""
        return float(loss) + float(sum(self.losses))

    def compute_loss_and_gradients(self, x, y, sample_weight=None):
        """Forward, loss and BPTT on one batch: returns (loss, gradients in trainable_variables order, y_pred)."""
        self._require_compiled("compute_loss_and_gradients")
        xs, ys, weights = self._checked(x, y, sample_weight)
        loss, _, grads, outputs, _ = self._loss_and_gradients(xs, ys, weights)
        return loss, grads, self._pack_outputs(outputs)

    def compute_loss(self, x, y, sample_weight=None, training=False):
        """The compiled loss of the model on (x, y), without gradients."""
        self._require_compiled("compute_loss")
        xs, ys, weights = self._checked(x, y, sample_weight)
        outputs, masks = self._forward(xs, training=training)
        loss, _, _ = self._compiled_loss.value_and_gradients(ys, outputs, masks, weights, need_gradient=False)
        return self._with_penalties(loss)

    def _train_step(self, xs, ys, where, sample_weights=None):
        """One optimizer step: returns (loss, per-output losses, global gradient norm)."""
        # Overflow is detected below and reported with the epoch and batch; NumPy's own warnings would only repeat it.
        variables = self.trainable_variables
        buffers = StepBuffers(self.optimizer, variables)  # gradients go straight into its flat buffer
        with np.errstate(over="ignore", invalid="ignore"), grad_sinks.writing_gradients_into(buffers.sinks):
            loss, parts, grads, outputs, masks = self._loss_and_gradients(xs, ys, sample_weights, variables=variables)

        def update_metrics():
            self._compiled_metrics.update(ys, outputs, masks, sample_weights)

        if self._replicas is not None:  # summed over the ranks: every value below is the same on every rank
            loss, parts, grads = self._replicas.combine(len(ys[0]), loss, parts, grads, update_metrics)
        else:
            update_metrics()
        norm, grads_finite = buffers.global_norm(grads)
        if not (np.isfinite(loss) and grads_finite) and self.terminate_on_nan:
            raise NonFiniteError(f"non-finite loss or gradient at {where} (loss={loss}); weights kept from the "
                                 f"last finite step")
        norm /= self.optimizer.scale_loss(1.0)  # the gradient of the unscaled loss
        if grads_finite:
            self._apply_update(grads, where, norm, buffers)
        else:
            # terminate_on_nan=False: the optimizer refuses non-finite gradients, so this step is
            # skipped (weights unchanged) and training runs on; the loss and grad_norm show it.
            warnings.warn(f"non-finite gradient at {where}; update skipped", RuntimeWarning, stacklevel=4)
        return loss, parts, norm

    def _apply_update(self, grads, where, norm, buffers):
        """Apply the optimizer step; with terminate_on_nan, undo it if it made a weight non-finite.

        Finite gradients can still overflow inside the optimizer (Adam's g² in float32 for |g| >
        ~1e19), so the weights are checked after the step too.
        """
        if self.terminate_on_nan:
            buffers.backup()
        with np.errstate(over="ignore", invalid="ignore"):  # detected and reported below
            self.optimizer.apply_gradients(zip(grads, buffers.variables))
        if self.terminate_on_nan and not buffers.all_finite():
            buffers.restore()
            raise NonFiniteError(f"the optimizer step at {where} made weights non-finite (global gradient norm "
                                 f"{norm:.3g}); weights kept from the last finite step")

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch; returns the loss (and metrics) of that batch.

        ``sample_weight`` / ``class_weight`` as for :meth:`fit`."""
        self._require_compiled("train_on_batch")
        xs, ys, weights = self._checked(x, y, sample_weight, class_weight)
        self._compiled_metrics.reset()
        loss, parts, _ = self._train_step(xs, ys, "train_on_batch", weights)
        return self._results(loss, parts, return_dict)

    def _results(self, loss, parts, return_dict):
        logs = {**self._compiled_loss.logs(loss, parts), **self._compiled_metrics.results()}
        if return_dict:
            return logs
        return loss if len(logs) == 1 else list(logs.values())

    # ------------------------------------------------------------------ data
    def _prepared(self, xs):
        """Inputs checked against the model (which a Sequential builds from) and cast as Keras casts them."""
        return data_adapter.cast_inputs(self, self._prepare_data(xs))

    def _checked(self, x, y, sample_weight=None, class_weight=None, names=("x", "y", "sample_weight")):
        """Flat checked ``(xs, ys, sample_weights)`` of one set of arrays."""
        x_name, y_name, sw_name = names
        xs = self._prepared(data_adapter.check_x(self, x, x_name))
        ys, weights = data_adapter.check_targets(self, xs, y, sample_weight, class_weight, x_name, y_name, sw_name)
        return xs, ys, weights

    def _check_labels(self, ys, name):
        """Refuse out-of-range class ids for a sparse loss before the first epoch, indexing the whole array."""
        for index, (loss, y) in enumerate(zip(self._compiled_loss.losses, ys)):
            if isinstance(loss, losses_module.SparseCategoricalCrossentropy) and loss.ignore_class is None:
                label = name if len(ys) == 1 else f"{name}[{self.output_names[index]!r}]"
                losses_module.check_labels(label, y, self.outputs[index].shape[-1])

    def _batch_checker(self, need_y, class_weight, where_from):
        """What checks each batch of a stream: convert, check, cast; targets' labels; stateful batch size."""
        def check(raw, where):
            xs, ys, weights = data_adapter.check_batch(self, raw, where, self._prepared, need_y, class_weight)
            if need_y:
                self._check_labels(ys, f"{where}: y")
            stateful.check_batches(self, len(xs[0]), len(xs[0]), f"{where_from}, {where}")
            return xs, ys, weights
        return check

    def _data(self, x, y=None, sample_weight=None, class_weight=None, batch_size=None, shuffle=False, steps=None,
              need_y=True, names=("x", "y", "sample_weight"), where_from="fit"):
        """``x`` (with y and weights) as :class:`~.data_streams.ArrayData` (checked now) or
        :class:`~.data_streams.StreamData` (each batch checked when it comes)."""
        x_name, y_name, sw_name = names
        data_streams.check_source(x_name, x)
        if self._shuffle_rng is None:
            self._shuffle_rng = make_rng(None)
        if data_streams.is_stream(x):
            data_streams.refuse_with_stream(data_streams.kind_of(x), **{y_name: y, sw_name: sample_weight})
            # checked now, and again with the number of classes on each batch (a Sequential builds on the first)
            checked = class_weights.check(self, class_weight)
            return data_streams.StreamData(x, x_name, self._batch_checker(need_y, checked, where_from), shuffle,
                                           self._shuffle_rng)
        if need_y:
            xs, ys, weights = self._checked(x, y, sample_weight, class_weight, names)
            self._check_labels(ys, y_name)
        else:
            xs, ys, weights = self._prepared(data_adapter.check_x(self, x, x_name)), None, None
            if len(xs[0]) == 0:
                raise RnnkitValueError(f"{x_name} must hold at least one sample, got {describe(xs[0])}")
        if batch_size is None:  # Keras: the steps decide the batch size when only they are given
            batch_size = math.ceil(len(xs[0]) / steps) if steps else 32
        self._stateful_check(where_from)(self, len(xs[0]), batch_size, where_from)
        return data_streams.ArrayData(xs, ys, weights, batch_size, shuffle, self._shuffle_rng)

    def built_for_data(self):
        """Whether the model knows its output shapes (a Sequential builds from its first data)."""
        return getattr(self, "outputs", None) is not None

    # ------------------------------------------------------------------ fit
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1,
            tbptt_steps=None):
        """Train for ``epochs`` passes over the data and return a ``History`` (Keras 3's signature).

        Args:
            x: the inputs: (N, T, F) floats (booleans and integers are cast; (N, T) integer ids for
                an Embedding stay integers), a Python list, or for several inputs a list
                (``model.inputs`` order) or a dict by input name. Or a stream of batches: a
                generator or iterator, an iterable, an ``rnnkit.utils.PyDataset``, a dataset of
                ``rnnkit.utils.timeseries_dataset_from_array``, a torch ``DataLoader`` or a
                ``tf.data.Dataset``, each batch ``(x, y)`` or ``(x, y, sample_weight)``; streams are
                read batch by batch, never loaded whole (see :mod:`rnnkit.models.data_streams`).
            y: targets, N first; for several outputs a list or a dict by output name. Not given
                with a stream (its batches carry them).
            batch_size: samples per gradient step for arrays (default 32; ignored for streams).
            epochs: index of the last epoch (as Keras: training runs from ``initial_epoch`` to ``epochs``).
            verbose: "auto" or 1 (progress bar), 2 (one line per epoch), 0 (silent).
            callbacks: list of ``rnnkit.callbacks.Callback``.
            validation_split: fraction of the arrays, taken from the end, held out for validation.
            validation_data: ``(x_val, y_val)``, ``(x_val, y_val, val_sample_weight)`` or a stream;
                overrides validation_split.
            shuffle: True reshuffles the samples of arrays every pass, "batch" shuffles within each
                batch, False keeps the order; a PyDataset's batch order is shuffled; other streams
                are taken as they come.
            class_weight: ``{class index: weight}``: each sample weighs its class's weight (one-output
                models; per time step for sequence outputs).
            sample_weight: weights per sample ``(N,)``, or per time step ``(N, T)`` for sequence
                outputs; for several outputs a list/dict per output. The loss is Keras's weighted
                sum divided by the number of values; ``weighted_metrics`` use them too.
            initial_epoch: epoch to start from (for resuming).
            steps_per_epoch: batches per epoch (default: one pass over the data); needed for an
                endless stream. A pass that runs out early ends the epoch early (Keras's warning).
            validation_steps: batches per validation (default: one pass over validation_data).
            validation_batch_size: batch size of array validation data (default ``batch_size``).
            validation_freq: validate every n-th epoch (int) or after the epochs listed (1-based).
            tbptt_steps: truncated BPTT: split each sequence into chunks of this many steps, carry the
                recurrent states across chunks and backpropagate (and update) within each chunk.

        Returns:
            History with ``.history`` lists keyed ``loss``, ``<output>_loss`` (several outputs with a
            loss), metric names, ``val_*`` and ``grad_norm``.
        """
        self._require_compiled("fit")
        if self._replicas is None and current_strategy() is not None:  # compiled outside, fit inside the scope
            self._replicas = current_strategy().replicas_for(self)
        replicas = self._replicas

        def fit_plan():
            plan = self._fit_plan(x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
                                  shuffle, initial_epoch, tbptt_steps, class_weight=class_weight,
                                  sample_weight=sample_weight, steps_per_epoch=steps_per_epoch,
                                  validation_steps=validation_steps, validation_batch_size=validation_batch_size,
                                  validation_freq=validation_freq)
            return plan if replicas is None else self._replica_plan(plan)

        if replicas is not None:  # before anything reads a stream
            self._refuse_for_replicas(x, validation_data, steps_per_epoch=steps_per_epoch,
                                      validation_steps=validation_steps, validation_batch_size=validation_batch_size)

        # DataParallel (rnnkit/distributed/replicas.py): checked on every rank; a failure past the checks ends the job
        plan = fit_plan() if replicas is None else replicas.plan(replicas.checked(fit_plan))
        with contextlib.nullcontext() if replicas is None else replicas.abort_on_error():
            cbs, history = self._fit_callbacks(plan)
            self._fit_epochs(plan, cbs)
            if plan.epochs > plan.initial_epoch:
                self.optimizer.finalize_variable_values(self.trainable_variables)  # EMA weights, as Keras's fit
            cbs.on_train_end()
            if replicas is not None:
                replicas.end()
        self.history = history
        return history

    def _fit_plan(self, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
                  shuffle, initial_epoch, tbptt_steps, class_weight=None, sample_weight=None, steps_per_epoch=None,
                  validation_steps=None, validation_batch_size=None, validation_freq=1):
        """Validate every argument and the data, and build the model, before the first batch."""
        batch_size = data_adapter.check_batch_size(batch_size)
        validation_batch_size = data_adapter.check_batch_size(validation_batch_size, "validation_batch_size")
        steps_per_epoch = data_streams.check_steps("steps_per_epoch", steps_per_epoch)
        validation_steps = data_streams.check_steps("validation_steps", validation_steps)
        validation_freq = _check_validation_freq(validation_freq)
        shuffle = data_adapter.check_shuffle(shuffle)
        for name, value in (("epochs", epochs), ("initial_epoch", initial_epoch)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise RnnkitValueError(f"{name} must be a non-negative integer, got {describe(value)}")
        verbose = check_verbose(verbose)
        if callbacks is not None and (not isinstance(callbacks, (list, tuple)) or not all(
                isinstance(c, callbacks_module.Callback) for c in callbacks)):
            raise RnnkitTypeError(f"callbacks must be a list of rnnkit.callbacks.Callback objects, "
                                  f"got {describe(callbacks)}")
        if tbptt_steps is not None and (sample_weight is not None or class_weight is not None):
            raise RnnkitValueError("tbptt_steps cannot be combined with sample_weight or class_weight")
        train = self._data(x, y, sample_weight, class_weight, batch_size, shuffle, steps_per_epoch)
        epochs, initial_epoch = int(epochs), int(initial_epoch)
        validations = sum(_validates_after(validation_freq, e) for e in range(initial_epoch, epochs))
        train, validation = self._validation_plan(train, validation_split, validation_data,
                                                  validation_batch_size or batch_size, validation_steps, validations)
        if tbptt_steps is not None:
            arrays = isinstance(train, data_streams.ArrayData)
            tbptt_steps = tbptt.check(self, tbptt_steps, train.xs, train.ys) if arrays else \
                self._tbptt_for_stream(tbptt_steps)
        arrays = isinstance(train, data_streams.ArrayData)
        return _FitPlan(train=data_streams.EpochIterator(train, steps_per_epoch), data=train,
                        xs=train.xs if arrays else None, ys=train.ys if arrays else None, validation=validation,
                        validation_freq=validation_freq, batch_size=train.batch_size if arrays else batch_size,
                        epochs=epochs, initial_epoch=initial_epoch, verbose=verbose,
                        callbacks=list(callbacks or []), shuffle=shuffle, tbptt_steps=tbptt_steps)

    def _validation_plan(self, train, validation_split, validation_data, batch_size, steps, validations):
        """(training data, validation EpochIterator or None): ``validation_data``, else the last
        ``validation_split`` of the training arrays (Keras's rules for both)."""
        if validation_data is not None:
            if isinstance(validation_data, (tuple, list)):
                if len(validation_data) not in (2, 3):
                    raise RnnkitValueError(f"validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                                           f"val_sample_weight), or a stream of batches, got {describe(validation_data)}")
                vx, vy, vw = tuple(validation_data) + (None,) * (3 - len(validation_data))
                data = self._data(vx, vy, vw, batch_size=batch_size, steps=steps, where_from="fit's validation",
                                  names=("validation_data[0]", "validation_data[1]", "validation_data[2]"))
            else:
                data = self._data(validation_data, batch_size=batch_size, steps=steps,
                                  names=("validation_data", "y", "sample_weight"), where_from="fit's validation")
            if data.one_shot and steps is None and validations > 1:
                raise RnnkitValueError(
                    f"validation_data is a generator, which can be read once, and fit validates {validations} "
                    f"times: give validation_steps (batches per validation) or a dataset that can be re-read")
            return train, data_streams.EpochIterator(data, steps, "validation_steps")
        if not isinstance(train, data_streams.ArrayData):
            if validation_split:
                raise RnnkitValueError(f"validation_split is only supported for arrays (as Keras), got it with x "
                                       f"{train.describe()}: give validation_data instead")
            return train, None
        part, held_out = data_adapter.split_validation(train.xs, train.ys, train.weights, validation_split)
        if held_out is None:
            return train, None
        batch_size = batch_size or train.batch_size
        rest = data_streams.ArrayData(*part, train.batch_size, train.shuffle, train.rng)
        self._stateful_check("fit")(self, rest.num_samples, rest.batch_size, "fit")
        self._stateful_check("fit")(self, len(held_out[0][0]), batch_size, "fit's validation")
        return rest, data_streams.EpochIterator(data_streams.ArrayData(*held_out, batch_size), steps,
                                                "validation_steps")

    def _stateful_check(self, where_from):
        """What checks the batch size of a stateful model: under DataParallel, fit's arrays follow the
        per-rank rules (each rank's layers carry the rows of its slice); everything else Keras's."""
        if self._replicas is not None and where_from in ("fit", "fit's validation"):
            return self._replicas.check_stateful
        return stateful.check_batches

    def _refuse_for_replicas(self, x, validation_data, **per_pass_options):
        """DataParallel with several ranks trains on arrays in whole passes: every rank must know the
        global batches (or its own shard) before the first step, which a stream cannot tell."""
        size = self._replicas.size
        for name, data in (("x", x), ("validation_data", validation_data)):
            if data_streams.is_stream(data):
                raise ReplicaStreamError(
                    f"fit under DataParallel with {size} ranks takes arrays, got {name} as a "
                    f"{data_streams.kind_of(data)}: pass arrays (the same on every rank), or each rank's own part "
                    f"as arrays with DataParallel(sharded=True)")
        for name, value in per_pass_options.items():
            if value is not None:
                raise RnnkitValueError(f"fit under DataParallel with {size} ranks runs whole passes over the arrays: "
                                       f"{name} is not supported there, got {name}={describe(value)}")

    def _replica_plan(self, plan):
        """The plan as rnnkit.distributed's Replicas reads it: the training arrays (``plan.xs``, ``plan.ys``)
        and the validation arrays ``(xs, ys, sample_weights)`` (the rank's part is cut from them)."""
        if plan.validation is not None:
            data = plan.validation.data
            plan.validation = (data.xs, data.ys, data.weights)
        return plan

    def _replica_pass(self, plan):
        """This rank's batches of one epoch: the pass's order (shuffled as one process shuffles it), cut
        into the global batches and each to this rank's slice (or, sharded, into this rank's batches)."""
        data, replicas = plan.data, self._replicas
        order = np.concatenate(data.index_batches(plan.local_batch if replicas.sharded else None))
        for index in replicas.epoch_batches(plan, order):
            yield data.batch(index)

    def _tbptt_for_stream(self, tbptt_steps):
        """tbptt_steps checked against the model alone (a stream's batches are checked when they come):
        tbptt.check looks at the numbers of inputs and outputs and the inputs' rank only."""
        if not self.built_for_data():
            raise RnnkitValueError("tbptt_steps with a stream needs a built model (an Input or input_shape=)")
        def stand_in(tensor):
            return np.empty((1,) * len(tensor.shape))
        return tbptt.check(self, tbptt_steps, [stand_in(t) for t in self.inputs], [stand_in(t) for t in self.outputs])

    def _fit_callbacks(self, plan):
        """The CallbackList of a fit (user callbacks, progress bar when verbose, History last)."""
        history = callbacks_module.History()
        callback_list = list(plan.callbacks)
        if plan.verbose:
            callback_list.append(callbacks_module.ProgbarLogger())
        callback_list.append(history)
        if self._replicas is not None:  # files and progress on rank 0 only
            callback_list = self._replicas.callbacks_for_rank(callback_list)
        steps = plan.train.num_batches if self._replicas is None else plan.steps
        cbs = callbacks_module.CallbackList(callback_list, model=self, params={
            "epochs": plan.epochs, "steps": steps, "verbose": plan.verbose})
        return cbs, history

    def _fit_epochs(self, plan, cbs):
        """on_train_begin (which may resume: :meth:`resume_at_epoch`), then the epochs."""
        self.stop_training = False
        self._resume_epoch = None
        cbs.on_train_begin()
        if self._replicas is not None:  # rank 0's weights, optimizer state, resume epoch and shuffling
            self._replicas.begin()
        initial_epoch = plan.initial_epoch if self._resume_epoch is None else self._resume_epoch
        self._resume_epoch = None
        for epoch in range(initial_epoch, plan.epochs):
            if self.stop_training:
                break
            cbs.on_epoch_begin(epoch)
            logs = self._run_epoch(plan, epoch, cbs)
            if self._replicas is not None:  # moving statistics (BatchNormalization): the mean over the ranks
                self._replicas.end_epoch()
            if logs is None:  # stopped on a non-finite value, or the data ran out
                break
            if plan.validation is not None and _validates_after(plan.validation_freq, epoch):
                val = self._evaluate_epoch(plan.validation, "validation_data") if self._replicas is None else \
                    self._replicas.evaluate(plan)
                logs.update({f"val_{k}": v for k, v in val.items()})
            cbs.on_epoch_end(epoch, logs)
            if self._replicas is not None:
                self.stop_training = self._replicas.stop_anywhere(self.stop_training)

    def resume_at_epoch(self, epoch):
        """Make the running ``fit`` start at ``epoch`` instead of its ``initial_epoch``.

        For callbacks that restore an interrupted run in ``on_train_begin`` (``BackupAndRestore``);
        it has no effect outside that hook."""
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
            raise RnnkitValueError(f"epoch must be a non-negative integer, got {describe(epoch)}")
        self._resume_epoch = int(epoch)

    def _run_epoch(self, plan, epoch, cbs):
        """One epoch's batches; returns its logs, or None when training must stop (a non-finite value,
        or a stream that had no batch left for this epoch)."""
        self._compiled_metrics.reset()
        total, part_totals, seen, norms = 0.0, None, 0, []
        clips_before = getattr(self.optimizer, "clip_events", 0)
        batch_logs = cbs.calls("on_train_batch_end", "on_batch_end")  # else the logs are made once, at the end
        replicas = self._replicas
        batches = plan.train.epoch() if replicas is None else self._replica_pass(plan)
        try:
            for step, batch in enumerate(batches):
                cbs.on_train_batch_begin(step)
                where = f"epoch {epoch + 1}, batch {step + 1}"
                if plan.tbptt_steps is not None and any(w is not None for w in batch.weights):
                    raise RnnkitValueError(f"{where}: tbptt_steps cannot use the sample weights the batch carries")
                try:
                    if plan.tbptt_steps is None:
                        loss, parts, norm = self._train_step(batch.xs, batch.ys, where, batch.weights)
                    else:
                        loss, parts, norm = tbptt.train_step(self, batch.xs, batch.ys, plan.tbptt_steps, where)
                except NonFiniteError as error:
                    warnings.warn(f"fit stopped: {error}", RuntimeWarning, stacklevel=4)
                    self.stop_training = True
                    self.stop_reason = str(error)
                    return None
                # Keras weighs each batch's loss by its number of samples (under DataParallel: the global batch's)
                size = len(batch) if replicas is None else replicas.last_count
                total += loss * size
                part_totals = [p * size for p in parts] if part_totals is None else [
                    a + p * size for a, p in zip(part_totals, parts)]
                seen += size
                norms.append(norm)
                if batch_logs:
                    logs = self._running_logs(total, part_totals, seen)
                    cbs.on_train_batch_end(step, logs)
                if replicas is not None:
                    self.stop_training = replicas.stop_anywhere(self.stop_training)
                if self.stop_training:
                    break
        finally:
            batches.close()
        if not seen:  # a one-shot generator read out by an earlier epoch (tf.keras 2 stops here too)
            warnings.warn(data_streams.RAN_OUT, UserWarning, stacklevel=4)
            self.stop_training = True
            self.stop_reason = f"{plan.data.describe()} had no batch left for epoch {epoch + 1}"
            return None
        if not batch_logs:
            logs = self._running_logs(total, part_totals, seen)
        logs["grad_norm"] = float(np.mean(norms))
        clipped = getattr(self.optimizer, "clip_events", 0) - clips_before
        if self.optimizer_clips():
            logs["clipped_steps"] = float(clipped)
        return logs

    def _running_logs(self, total, part_totals, seen):
        return {**self._compiled_loss.logs(total / seen, [p / seen for p in part_totals]),
                **self._compiled_metrics.results()}

    def optimizer_clips(self):
        """Whether the optimizer clips gradients (then History records how many steps it clipped)."""
        opt = self.optimizer
        return any(getattr(opt, name, None) is not None for name in ("clipvalue", "clipnorm", "global_clipnorm"))
