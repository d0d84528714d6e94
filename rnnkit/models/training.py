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
    L       = sum_i w_i loss_i(y_i, outputs_i)   (Keras "sum_over_batch_size": mean over batch and time)
    dL/doutputs_i -> backward through the graph -> gradients of every weight (BPTT inside recurrent layers)
    optimizer.apply_gradients(zip(gradients, trainable_variables))
"""
import numbers
import warnings

import numpy as np

from .. import callbacks as callbacks_module
from .. import losses as losses_module
from .. import optimizers as optimizers_module
from .._validate import describe
from ..data_checks import batch_slices
from ..errors import RnnkitError, RnnkitTypeError, RnnkitValueError
from ..ops.grad_mode import no_grad
from ..random import make_rng
from . import data_adapter, stateful, tbptt
from .compile_utils import CompiledLoss, CompiledMetrics


class NonFiniteError(RnnkitError, FloatingPointError):
    """The loss or a gradient became NaN or Inf during training."""


def _check_verbose(verbose):
    if isinstance(verbose, str) and verbose == "auto":
        return 1
    if isinstance(verbose, bool) or not isinstance(verbose, numbers.Integral) or verbose not in (0, 1, 2):
        raise RnnkitValueError(f"verbose must be 'auto', 0, 1 or 2, got {describe(verbose)}")
    return int(verbose)


class _FitPlan:
    """Everything ``fit`` checked before its first batch."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


class Trainer:
    """Keras's training API: ``compile``, ``fit``, ``evaluate``, ``predict`` and the ``*_on_batch`` forms."""

    optimizer = None
    loss = None
    loss_weights = None
    stop_training = False
    history = None
    _compiled_loss = None
    _compiled_metrics = None
    _shuffle_rng = None
    _resume_epoch = None

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, terminate_on_nan=True):
        """Choose the optimizer, the loss(es) and the metrics (objects or Keras's string names).

        Args:
            optimizer: name or Optimizer.
            loss: one loss for every output, a list with one per output (None: no loss on that
                output) or a dict by output name (outputs left out get no loss).
            loss_weights: None (all 1), a list or a dict by output name: the training loss is
                ``sum_i loss_weights[i] * loss_i``.
            metrics: a list (one-output models; ``[[...]]`` too), or for several outputs a dict by
                output name, a list of lists, a list as long as the outputs (one entry each, as
                Keras 3), or a list of another length (every metric on every output, as tf.keras 2).
            terminate_on_nan: (default True) stop ``fit`` at the first non-finite loss or gradient
                and keep the last finite weights; False lets training run on (a step whose gradients
                are not finite is then skipped with a warning, and History shows the non-finite loss).
        """
        if loss is None:
            raise RnnkitValueError("loss must be given to compile(), e.g. loss='mse', got None")
        # everything resolved before anything is assigned: a bad metric leaves the model as it was
        resolved_optimizer = optimizers_module.get(optimizer)
        compiled_loss = CompiledLoss(loss, loss_weights, self.output_names)
        compiled_metrics = CompiledMetrics(metrics, self.output_names, compiled_loss)
        self.optimizer, self._compiled_loss, self._compiled_metrics = resolved_optimizer, compiled_loss, compiled_metrics
        losses = compiled_loss.losses
        self.loss = losses[0] if len(losses) == 1 else losses
        self.loss_weights = loss_weights
        self.terminate_on_nan = bool(terminate_on_nan)
        self.compiled = True

    def get_compile_config(self):
        """The compile settings as plain data (None before compile): ``optimizer`` (config with
        ``class_name``), ``loss`` (one loss config for a one-output model, else a list with None for
        outputs without a loss), ``metrics`` (names; a list per output for several outputs) and, when
        not all 1, ``loss_weights``. :meth:`compile_from_config` reverses it."""
        if not getattr(self, "compiled", False):
            return None

        def named(config):
            return None if config is None else config["config"] | {"class_name": config["class_name"]}

        losses = self._compiled_loss.get_config()
        metrics = self._compiled_metrics.get_config()
        single = len(self._compiled_loss.output_names) == 1
        config = {"optimizer": self.optimizer.get_config() | {"class_name": type(self.optimizer).__name__},
                  "loss": named(losses["loss"][0]) if single else [named(item) for item in losses["loss"]],
                  "metrics": metrics[0] if single else metrics}
        if any(weight != 1.0 for weight in losses["loss_weights"]):
            config["loss_weights"] = losses["loss_weights"]
        return config

    def compile_from_config(self, config):
        """Compile with the settings :meth:`get_compile_config` returned."""
        def loss_of(entry):
            if entry is None:
                return None
            entry = dict(entry)
            return losses_module.get({"class_name": entry.pop("class_name"), "config": entry})

        optimizer = dict(config["optimizer"])
        loss = config["loss"]
        self.compile(optimizer=optimizers_module.get({"class_name": optimizer.pop("class_name"), "config": optimizer}),
                     loss=[loss_of(item) for item in loss] if isinstance(loss, list) else loss_of(loss),
                     loss_weights=config.get("loss_weights"), metrics=config.get("metrics"))

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
        outputs, masks = self._forward(xs, training=True)
        loss, parts, d_outputs = self._compiled_loss.value_and_gradients(ys, outputs, masks, sample_weight)
        self._backward(d_outputs)
        return float(loss), parts, self.gradients(variables), outputs, masks

    def compute_loss_and_gradients(self, x, y, sample_weight=None):
        """Forward, loss and BPTT on one batch: returns (loss, gradients in trainable_variables order, y_pred)."""
        self._require_compiled("compute_loss_and_gradients")
        xs = self._prepare_data(data_adapter.flat_arrays("x", x, self.input_names, "input"))
        ys = data_adapter.flat_arrays("y", y, self.output_names, "output")
        loss, _, grads, outputs, _ = self._loss_and_gradients(xs, ys, sample_weight)
        return loss, grads, self._pack_outputs(outputs)

    def compute_loss(self, x, y, sample_weight=None, training=False):
        """The compiled loss of the model on (x, y), without gradients."""
        self._require_compiled("compute_loss")
        xs = self._prepare_data(data_adapter.flat_arrays("x", x, self.input_names, "input"))
        ys = data_adapter.flat_arrays("y", y, self.output_names, "output")
        outputs, masks = self._forward(xs, training=training)
        loss, _, _ = self._compiled_loss.value_and_gradients(ys, outputs, masks, sample_weight, need_gradient=False)
        return float(loss)

    def _train_step(self, xs, ys, where):
        """One optimizer step: returns (loss, per-output losses, global gradient norm)."""
        # Overflow is detected below and reported with the epoch and batch; NumPy's own warnings would only repeat it.
        variables = self.trainable_variables
        with np.errstate(over="ignore", invalid="ignore"):
            loss, parts, grads, outputs, masks = self._loss_and_gradients(xs, ys, variables=variables)
        grads_finite = all(np.isfinite(g).all() for g in grads)
        if not (np.isfinite(loss) and grads_finite) and self.terminate_on_nan:
            raise NonFiniteError(f"non-finite loss or gradient at {where} (loss={loss}); weights kept from the "
                                 f"last finite step")
        norm = float(np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads)))
        if grads_finite:
            self._apply_update(grads, where, norm, variables)
        else:
            # terminate_on_nan=False: the optimizer refuses non-finite gradients, so this step is
            # skipped (weights unchanged) and training runs on; the loss and grad_norm show it.
            warnings.warn(f"non-finite gradient at {where}; update skipped", RuntimeWarning, stacklevel=4)
        self._compiled_metrics.update(ys, outputs, masks)
        return loss, parts, norm

    def _apply_update(self, grads, where, norm, variables):
        """Apply the optimizer step; with terminate_on_nan, undo it if it made a weight non-finite.

        Finite gradients can still overflow inside the optimizer (Adam's g² in float32 for |g| >
        ~1e19), so the weights are checked after the step too.
        """
        before = [v.value.copy() for v in variables] if self.terminate_on_nan else None
        with np.errstate(over="ignore", invalid="ignore"):  # detected and reported below
            self.optimizer.apply_gradients(zip(grads, variables))
        if before is not None and not all(np.isfinite(v.value).all() for v in variables):
            for variable, value in zip(variables, before):
                variable.value[...] = value
            raise NonFiniteError(f"the optimizer step at {where} made weights non-finite (global gradient norm "
                                 f"{norm:.3g}); weights kept from the last finite step")

    def train_on_batch(self, x, y, return_dict=False):
        """One optimizer step on one batch; returns the loss (and metrics) of that batch."""
        self._require_compiled("train_on_batch")
        xs, ys = self._checked_xy(x, y)
        self._compiled_metrics.reset()
        loss, parts, _ = self._train_step(xs, ys, "train_on_batch")
        return self._results(loss, parts, return_dict)

    @no_grad()
    def test_on_batch(self, x, y, return_dict=False):
        self._require_compiled("test_on_batch")
        xs, ys = self._checked_xy(x, y)
        self._compiled_metrics.reset()
        outputs, masks = self._forward(xs, training=False)
        loss, parts, _ = self._compiled_loss.value_and_gradients(ys, outputs, masks, need_gradient=False)
        self._compiled_metrics.update(ys, outputs, masks)
        return self._results(float(loss), parts, return_dict)

    @no_grad()
    def predict_on_batch(self, x):
        outputs, _ = self._forward(self._prepare_data(data_adapter.check_x(self, x)), training=False)
        return self._pack_outputs(outputs)

    def _results(self, loss, parts, return_dict):
        logs = {**self._compiled_loss.logs(loss, parts), **self._compiled_metrics.results()}
        if return_dict:
            return logs
        return loss if len(logs) == 1 else list(logs.values())

    # ------------------------------------------------------------------ data checks
    def _checked_xy(self, x, y, x_name="x", y_name="y"):
        xs, ys = data_adapter.check_xy(self, x, y, x_name, y_name)
        return self._prepare_data(xs), ys

    def _check_labels(self, ys, name):
        """Refuse out-of-range class ids for a sparse loss before the first epoch, indexing the whole array."""
        for index, (loss, y) in enumerate(zip(self._compiled_loss.losses, ys)):
            if isinstance(loss, losses_module.SparseCategoricalCrossentropy):
                label = name if len(ys) == 1 else f"{name}[{self.output_names[index]!r}]"
                losses_module.check_labels(label, y, self.outputs[index].shape[-1])

    # ------------------------------------------------------------------ fit
    def fit(self, x=None, y=None, batch_size=32, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0, tbptt_steps=None):
        """Train for ``epochs`` passes over (x, y) and return a ``History``.

        Args:
            x: (N, T, F) floats (or (N, T) integer ids for an Embedding first layer); for a model with
                several inputs a list (``model.inputs`` order) or a dict by input name.
            y: targets, N first; for several outputs a list or a dict by output name.
            batch_size: samples per gradient step (default 32).
            epochs: index of the last epoch (as Keras: training runs from ``initial_epoch`` to ``epochs``).
            verbose: "auto" or 1 (progress bar), 2 (one line per epoch), 0 (silent).
            callbacks: list of ``rnnkit.callbacks.Callback``.
            validation_split: fraction of the data, taken from the end, held out for validation.
            validation_data: ``(x_val, y_val)``; overrides validation_split.
            shuffle: shuffle the training samples every epoch.
            initial_epoch: epoch to start from (for resuming).
            tbptt_steps: truncated BPTT: split each sequence into chunks of this many steps, carry the
                recurrent states across chunks and backpropagate (and update) within each chunk.

        Returns:
            History with ``.history`` lists keyed ``loss``, ``<output>_loss`` (several outputs with a
            loss), metric names, ``val_*`` and ``grad_norm``.
        """
        self._require_compiled("fit")
        plan = self._fit_plan(x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
                              shuffle, initial_epoch, tbptt_steps)
        cbs, history = self._fit_callbacks(plan)
        self._fit_epochs(plan, cbs)
        cbs.on_train_end()
        self.history = history
        return history

    def _fit_plan(self, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
                  shuffle, initial_epoch, tbptt_steps):
        """Validate every argument and the data, and build the model, before the first batch."""
        xs, ys = self._checked_xy(x, y)
        batch_size = data_adapter.check_batch_size(batch_size)
        for name, value in (("epochs", epochs), ("initial_epoch", initial_epoch)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise RnnkitValueError(f"{name} must be a non-negative integer, got {describe(value)}")
        verbose = _check_verbose(verbose)
        if callbacks is not None and (not isinstance(callbacks, (list, tuple)) or not all(
                isinstance(c, callbacks_module.Callback) for c in callbacks)):
            raise RnnkitTypeError(f"callbacks must be a list of rnnkit.callbacks.Callback objects, "
                                  f"got {describe(callbacks)}")
        if tbptt_steps is not None:
            tbptt_steps = tbptt.check(self, tbptt_steps, xs, ys)
        xs, ys, validation = data_adapter.validation_arrays(self, xs, ys, validation_split, validation_data)
        if validation is not None:
            validation = (self._prepare_data(validation[0]), validation[1])
        self._check_labels(ys, "y")
        if validation is not None:
            self._check_labels(validation[1], "validation y")
        stateful.check_batches(self, len(xs[0]), batch_size, "fit")
        if validation is not None:
            stateful.check_batches(self, len(validation[0][0]), batch_size, "fit's validation")
        return _FitPlan(xs=xs, ys=ys, validation=validation, batch_size=batch_size, epochs=int(epochs),
                        initial_epoch=int(initial_epoch), verbose=verbose, callbacks=list(callbacks or []),
                        shuffle=bool(shuffle), tbptt_steps=tbptt_steps)

    def _fit_callbacks(self, plan):
        """The CallbackList of a fit (user callbacks, progress bar when verbose, History last)."""
        steps = len(batch_slices(len(plan.xs[0]), plan.batch_size))
        history = callbacks_module.History()
        callback_list = list(plan.callbacks)
        if plan.verbose:
            callback_list.append(callbacks_module.ProgbarLogger())
        callback_list.append(history)
        cbs = callbacks_module.CallbackList(callback_list, model=self,
                                            params={"epochs": plan.epochs, "steps": steps, "verbose": plan.verbose})
        return cbs, history

    def _fit_epochs(self, plan, cbs):
        """on_train_begin (which may resume: :meth:`resume_at_epoch`), then the epochs."""
        if self._shuffle_rng is None:
            self._shuffle_rng = make_rng(None)
        self.stop_training = False
        self._resume_epoch = None
        cbs.on_train_begin()
        initial_epoch = plan.initial_epoch if self._resume_epoch is None else self._resume_epoch
        self._resume_epoch = None
        for epoch in range(initial_epoch, plan.epochs):
            if self.stop_training:
                break
            cbs.on_epoch_begin(epoch)
            logs = self._run_epoch(plan, epoch, cbs)
            if logs is None:  # stopped on a non-finite value
                break
            if plan.validation is not None:
                val = self.evaluate(*plan.validation, batch_size=plan.batch_size, verbose=0, return_dict=True)
                logs.update({f"val_{k}": v for k, v in val.items()})
            cbs.on_epoch_end(epoch, logs)

    def resume_at_epoch(self, epoch):
        """Make the running ``fit`` start at ``epoch`` instead of its ``initial_epoch``.

        For callbacks that restore an interrupted run in ``on_train_begin`` (``BackupAndRestore``);
        it has no effect outside that hook."""
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
            raise RnnkitValueError(f"epoch must be a non-negative integer, got {describe(epoch)}")
        self._resume_epoch = int(epoch)

    def _run_epoch(self, plan, epoch, cbs):
        count = len(plan.xs[0])
        order = self._shuffle_rng.permutation(count) if plan.shuffle else np.arange(count)
        self._compiled_metrics.reset()
        total, part_totals, seen, norms = 0.0, None, 0, []
        clips_before = getattr(self.optimizer, "clip_events", 0)
        for step, part in enumerate(batch_slices(count, plan.batch_size)):
            cbs.on_train_batch_begin(step)
            index = order[part]
            where = f"epoch {epoch + 1}, batch {step + 1}"
            xs, ys = data_adapter.take(plan.xs, index), data_adapter.take(plan.ys, index)
            try:
                if plan.tbptt_steps is None:
                    loss, parts, norm = self._train_step(xs, ys, where)
                else:
                    loss, parts, norm = tbptt.train_step(self, xs, ys, plan.tbptt_steps, where)
            except NonFiniteError as error:
                warnings.warn(f"fit stopped: {error}", RuntimeWarning, stacklevel=4)
                self.stop_training = True
                self.stop_reason = str(error)
                return None
            total += loss * len(index)
            part_totals = [p * len(index) for p in parts] if part_totals is None else [
                a + p * len(index) for a, p in zip(part_totals, parts)]
            seen += len(index)
            norms.append(norm)
            logs = {**self._compiled_loss.logs(total / seen, [p / seen for p in part_totals]),
                    **self._compiled_metrics.results()}
            cbs.on_train_batch_end(step, logs)
            if self.stop_training:
                break
        logs["grad_norm"] = float(np.mean(norms))
        clipped = getattr(self.optimizer, "clip_events", 0) - clips_before
        if self.optimizer_clips():
            logs["clipped_steps"] = float(clipped)
        return logs

    def optimizer_clips(self):
        """Whether the optimizer clips gradients (then History records how many steps it clipped)."""
        opt = self.optimizer
        return any(getattr(opt, name, None) is not None for name in ("clipvalue", "clipnorm", "global_clipnorm"))

    # ------------------------------------------------------------------ evaluate / predict
    def _loop_callbacks(self, callbacks, verbose, steps):
        """The CallbackList of an evaluate or predict call: the user's callbacks, and a progress bar
        when verbose (Keras: "auto" means 1)."""
        verbose = _check_verbose(verbose)
        callback_list = list(callbacks or [])
        if verbose:
            callback_list.append(callbacks_module.ProgbarLogger())
        return callbacks_module.CallbackList(callback_list, model=self,
                                             params={"epochs": 1, "steps": steps, "verbose": verbose})

    @no_grad()
    def evaluate(self, x=None, y=None, batch_size=32, verbose="auto", return_dict=False, callbacks=None):
        """Loss (and metrics) over (x, y), averaged over samples as Keras does.

        Returns the loss alone, or the list ``[loss, <output>_loss..., metrics...]`` (Keras's order,
        :attr:`metrics_names`), or with ``return_dict`` a dict by log name. Callbacks get Keras's test
        hooks: ``on_test_begin``, ``on_test_batch_begin/end`` (logs: the running loss and metrics so
        far) and ``on_test_end`` (logs: the results)."""
        self._require_compiled("evaluate")
        xs, ys = self._checked_xy(x, y)
        batch_size = data_adapter.check_batch_size(batch_size)
        count = len(xs[0])
        stateful.check_batches(self, count, batch_size, "evaluate")
        parts = batch_slices(count, batch_size)
        cbs = self._loop_callbacks(callbacks, verbose, len(parts))
        self._compiled_metrics.reset()
        cbs.on_test_begin()
        total, part_totals, seen = 0.0, None, 0
        for step, part in enumerate(parts):
            cbs.on_test_batch_begin(step)
            batch_ys = data_adapter.take(ys, part)
            outputs, masks = self._forward(data_adapter.take(xs, part), training=False)
            loss, losses, _ = self._compiled_loss.value_and_gradients(batch_ys, outputs, masks, need_gradient=False)
            size = len(batch_ys[0])
            total += float(loss) * size
            part_totals = [p * size for p in losses] if part_totals is None else [
                a + p * size for a, p in zip(part_totals, losses)]
            seen += size
            self._compiled_metrics.update(batch_ys, outputs, masks)
            cbs.on_test_batch_end(step, self._results(total / seen, [p / seen for p in part_totals], True))
        mean_parts = [p / count for p in part_totals]
        logs = self._results(total / count, mean_parts, True)
        cbs.on_test_end(logs)
        return logs if return_dict else self._results(total / count, mean_parts, False)

    @no_grad()
    def predict(self, x, batch_size=32, verbose=0, callbacks=None):
        """Outputs for every sample of x, computed ``batch_size`` samples at a time.

        Returns one array (also for outputs given as a list of one tensor, as Keras 3), or for several
        outputs a list (or dict) shaped like ``model.outputs``.
        Callbacks get Keras's predict hooks: ``on_predict_begin``, ``on_predict_batch_begin/end``
        (logs: ``{"outputs": that batch's outputs}``) and ``on_predict_end``."""
        xs = self._prepare_data(data_adapter.check_x(self, x))
        batch_size = data_adapter.check_batch_size(batch_size)
        count = len(xs[0])
        if count == 0:
            raise RnnkitValueError(f"x must hold at least one sample, got {describe(xs[0])}")
        stateful.check_batches(self, count, batch_size, "predict")
        parts = batch_slices(count, batch_size)
        cbs = self._loop_callbacks(callbacks, verbose, len(parts))
        cbs.on_predict_begin()
        batches = []
        for step, part in enumerate(parts):
            cbs.on_predict_batch_begin(step)
            outputs, _ = self._forward(data_adapter.take(xs, part), training=False)
            batches.append(outputs)
            cbs.on_predict_batch_end(step, {"outputs": self._pack_outputs(outputs)})
        cbs.on_predict_end()
        outputs = self._pack_outputs([np.concatenate([b[i] for b in batches]) for i in range(len(batches[0]))])
        # Keras 3: a model whose outputs are a list of one tensor predicts that one array
        return outputs[0] if isinstance(outputs, (list, tuple)) and len(outputs) == 1 else outputs
