"""compile / fit / evaluate / predict for models: the training loop around explicit BPTT.

A model that mixes in :class:`TrainingMixin` provides ``__call__(x, training)``
(forward, keeping caches when training), ``backward(d_output)`` (fills every
layer's gradients), ``trainable_variables``, ``output_mask`` (the mask of the
last forward's output, or None) and ``_layer_rngs()``.

One training step:
    y_pred = model(x, training=True)
    L      = loss(y, y_pred)           (Keras "sum_over_batch_size": mean over batch and time)
    dL/dy_pred -> model.backward -> gradients of every weight (BPTT inside recurrent layers)
    optimizer.apply_gradients(zip(gradients, trainable_variables))
"""
import numbers
import warnings

import numpy as np

from . import callbacks as callbacks_module
from . import losses as losses_module
from . import metrics as metrics_module
from . import optimizers as optimizers_module
from ._validate import describe
from .data_checks import as_array, batch_slices, check_finite, check_same_length
from .errors import RnnkitError, RnnkitTypeError, RnnkitValueError
from .ops.grad_mode import no_grad
from .random import make_rng


class NonFiniteError(RnnkitError, FloatingPointError):
    """The loss or a gradient became NaN or Inf during training."""


def _check_batch_size(batch_size):
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size <= 0:
        raise RnnkitValueError(f"batch_size must be a positive integer, got {describe(batch_size)}")
    return int(batch_size)


class TrainingMixin:
    """Keras's training API: ``compile``, ``fit``, ``evaluate``, ``predict`` and the ``*_on_batch`` forms."""

    optimizer = None
    loss = None
    compiled_metrics = ()
    stop_training = False
    history = None

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, terminate_on_nan=True):
        """Choose the optimizer, the loss and the metrics (objects or Keras's string names).

        ``terminate_on_nan`` (default True) stops ``fit`` at the first non-finite loss or gradient
        and keeps the last finite weights; set it False to let training run on regardless (a step whose
        gradients are not finite is then skipped with a warning, and History shows the non-finite loss).
        """
        if loss is None:
            raise RnnkitValueError("loss must be given to compile(), e.g. loss='mse', got None")
        # everything resolved before anything is assigned: a bad metric leaves the model as it was
        resolved_optimizer = optimizers_module.get(optimizer)
        resolved_loss = losses_module.get(loss)
        if metrics is None:
            metrics = []
        if isinstance(metrics, (str, dict)) or not hasattr(metrics, "__iter__"):
            raise RnnkitValueError(f"metrics must be a list such as ['accuracy'], got {describe(metrics)}")
        resolved_metrics = [metrics_module.resolve_metric(m, resolved_loss) for m in metrics]
        self.optimizer, self.loss, self.compiled_metrics = resolved_optimizer, resolved_loss, resolved_metrics
        self.terminate_on_nan = bool(terminate_on_nan)
        self.compiled = True

    def _require_compiled(self, what):
        if not getattr(self, "compiled", False):
            raise RnnkitValueError(
                f"the model must be compiled before {what}(): call model.compile(optimizer=..., loss=...) first"
            )

    @property
    def metrics_names(self):
        return ["loss"] + [m.name for m in self.compiled_metrics]

    # ------------------------------------------------------------------ one batch
    def compute_loss_and_gradients(self, x, y, sample_weight=None):
        """Forward, loss and BPTT on one batch: returns (loss, gradients in trainable_variables order, y_pred).

        With an optimizer ``loss_scale_factor`` the gradients are of the scaled loss (Keras's
        ``optimizer.scale_loss``), which the optimizer divides out again; the loss returned is unscaled."""
        y_pred = self(x, training=True)
        loss, d_pred = self.loss.value_and_gradient(y, y_pred, sample_weight=sample_weight, mask=self.output_mask)
        self.backward(self.optimizer.scale_loss(d_pred) if self.optimizer is not None else d_pred)
        return float(loss), self.gradients(), y_pred

    def compute_loss(self, x, y, sample_weight=None, training=False):
        """The compiled loss of the model on (x, y), without gradients."""
        self._require_compiled("compute_loss")
        y_pred = self(x, training=training)
        return float(self.loss(y, y_pred, sample_weight=sample_weight, mask=self.output_mask))

    def _train_step(self, x, y, where):
        # Overflow is detected below and reported with the epoch and batch; NumPy's own warnings would only repeat it.
        with np.errstate(over="ignore", invalid="ignore"):
            loss, grads, y_pred = self.compute_loss_and_gradients(x, y)
        grads_finite = all(np.isfinite(g).all() for g in grads)
        if not (np.isfinite(loss) and grads_finite) and self.terminate_on_nan:
            raise NonFiniteError(f"non-finite loss or gradient at {where} (loss={loss}); weights kept from the "
                                 f"last finite step")
        norm = float(np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads)))
        norm /= self.optimizer.scale_loss(1.0)  # the gradient of the unscaled loss
        if grads_finite:
            self._apply_update(grads, where, norm)
        else:
            # terminate_on_nan=False: the optimizer refuses non-finite gradients, so this step is
            # skipped (weights unchanged) and training runs on; the loss and grad_norm show it.
            warnings.warn(f"non-finite gradient at {where}; update skipped", RuntimeWarning, stacklevel=4)
        self._update_metrics(y, y_pred)
        return loss, norm

    def _apply_update(self, grads, where, norm):
        """Apply the optimizer step; with terminate_on_nan, undo it if it made a weight non-finite.

        Finite gradients can still overflow inside the optimizer (Adam's g² in float32 for |g| >
        ~1e19), so the weights are checked after the step too.
        """
        variables = self.trainable_variables
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
        x, y = self._check_xy(x, y)
        self._reset_metrics()
        loss, _ = self._train_step(x, y, "train_on_batch")
        return self._results(loss, return_dict)

    @no_grad()
    def test_on_batch(self, x, y, return_dict=False):
        self._require_compiled("test_on_batch")
        x, y = self._check_xy(x, y)
        self._reset_metrics()
        y_pred = self(x, training=False)
        loss = float(self.loss(y, y_pred, mask=self.output_mask))
        self._update_metrics(y, y_pred)
        return self._results(loss, return_dict)

    @no_grad()
    def predict_on_batch(self, x):
        return self(self._check_x(x), training=False)

    def _update_metrics(self, y, y_pred):
        for metric in self.compiled_metrics:
            metric.update_state(y, y_pred, mask=self.output_mask)

    def _reset_metrics(self):
        for metric in self.compiled_metrics:
            metric.reset_state()

    def _results(self, loss, return_dict):
        logs = {"loss": loss, **{m.name: float(m.result()) for m in self.compiled_metrics}}
        if return_dict:
            return logs
        return loss if len(logs) == 1 else list(logs.values())

    # ------------------------------------------------------------------ data checks
    def _check_labels(self, y, name):
        """Refuse out-of-range class ids for a sparse loss before the first epoch, indexing the whole array."""
        if isinstance(self.loss, losses_module.SparseCategoricalCrossentropy):
            losses_module.check_labels(name, y, self.output_shape[-1])

    def _check_x(self, x, name="x"):
        return check_finite(name, as_array(name, x))

    def _check_xy(self, x, y, x_name="x", y_name="y"):
        if y is None:
            raise RnnkitValueError(f"{y_name} must be given for training or evaluation, got None")
        x, y = self._check_x(x, x_name), check_finite(y_name, as_array(y_name, y))
        check_same_length(x, y, x_name, y_name)
        if len(x) == 0:
            raise RnnkitValueError(f"{x_name} must hold at least one sample, got {describe(x)}")
        return x, y

    def _validation_arrays(self, x, y, validation_split, validation_data):
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise RnnkitValueError(
                    f"validation_data must be a tuple (x_val, y_val), got {describe(validation_data)}")
            vx, vy = self._check_xy(*validation_data, x_name="validation_data[0]", y_name="validation_data[1]")
            return x, y, (vx, vy)
        if not isinstance(validation_split, numbers.Real) or not 0.0 <= validation_split < 1.0:
            raise RnnkitValueError(f"validation_split must be a number in [0, 1), got {describe(validation_split)}")
        if validation_split == 0.0:
            return x, y, None
        # Keras takes the last samples, before any shuffling.
        split = int(len(x) * (1.0 - validation_split))
        if split == 0 or split == len(x):
            raise RnnkitValueError(
                f"validation_split={validation_split} leaves an empty training or validation set for {len(x)} samples")
        return x[:split], y[:split], (x[split:], y[split:])

    # ------------------------------------------------------------------ fit
    def fit(self, x=None, y=None, batch_size=32, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0, tbptt_steps=None):
        """Train for ``epochs`` passes over (x, y) and return a ``History``.

        Args:
            x: (N, T, F) floats (or (N, T) integer ids for an Embedding first layer).
            y: targets, N first.
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
            History with ``.history`` lists keyed ``loss``, metric names, ``val_*`` and ``grad_norm``.
        """
        self._require_compiled("fit")
        x, y = self._check_xy(x, y)
        batch_size = _check_batch_size(batch_size)
        for name, value in (("epochs", epochs), ("initial_epoch", initial_epoch)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise RnnkitValueError(f"{name} must be a non-negative integer, got {describe(value)}")
        if isinstance(verbose, str) and verbose == "auto":
            verbose = 1
        if not isinstance(verbose, numbers.Integral) or verbose not in (0, 1, 2):
            raise RnnkitValueError(f"verbose must be 'auto', 0, 1 or 2, got {describe(verbose)}")
        if callbacks is not None and (not isinstance(callbacks, (list, tuple)) or not all(
                isinstance(c, callbacks_module.Callback) for c in callbacks)):
            raise RnnkitTypeError(f"callbacks must be a list of rnnkit.callbacks.Callback objects, "
                                  f"got {describe(callbacks)}")
        if tbptt_steps is not None:
            tbptt_steps = self._check_tbptt(tbptt_steps, x, y)
        x, y, validation = self._validation_arrays(x, y, validation_split, validation_data)
        self(x[:1], training=False)  # builds every layer and checks the input shape before epoch 1
        self._check_labels(y, "y")
        if validation is not None:
            self._check_labels(validation[1], "validation y")

        steps = len(batch_slices(len(x), batch_size))
        history = callbacks_module.History()
        callback_list = list(callbacks or [])
        if verbose:
            callback_list.append(callbacks_module.ProgbarLogger())
        callback_list.append(history)
        cbs = callbacks_module.CallbackList(callback_list, model=self,
                                            params={"epochs": epochs, "steps": steps, "verbose": verbose})
        if getattr(self, "_shuffle_rng", None) is None:
            self._shuffle_rng = make_rng(None)
        self.stop_training = False
        self._resume_epoch = None
        cbs.on_train_begin()
        if self._resume_epoch is not None:
            initial_epoch = int(self._resume_epoch)
            self._resume_epoch = None

        for epoch in range(initial_epoch, epochs):
            if self.stop_training:
                break
            cbs.on_epoch_begin(epoch)
            logs = self._run_epoch(x, y, batch_size, shuffle, epoch, cbs, tbptt_steps)
            if logs is None:  # stopped on a non-finite value
                break
            if validation is not None:
                val = self.evaluate(*validation, batch_size=batch_size, verbose=0, return_dict=True)
                logs.update({f"val_{k}": v for k, v in val.items()})
            cbs.on_epoch_end(epoch, logs)
        if epochs > initial_epoch:
            self.optimizer.finalize_variable_values(self.trainable_variables)  # EMA weights, as Keras's fit
        cbs.on_train_end()
        self.history = history
        return history

    def _run_epoch(self, x, y, batch_size, shuffle, epoch, cbs, tbptt_steps):
        order = self._shuffle_rng.permutation(len(x)) if shuffle else np.arange(len(x))
        self._reset_metrics()
        total, count, norms = 0.0, 0, []
        clips_before = getattr(self.optimizer, "clip_events", 0)
        for step, part in enumerate(batch_slices(len(x), batch_size)):
            cbs.on_train_batch_begin(step)
            index = order[part]
            where = f"epoch {epoch + 1}, batch {step + 1}"
            try:
                if tbptt_steps is None:
                    loss, norm = self._train_step(x[index], y[index], where)
                else:
                    loss, norm = self._train_step_tbptt(x[index], y[index], tbptt_steps, where)
            except NonFiniteError as error:
                warnings.warn(f"fit stopped: {error}", RuntimeWarning, stacklevel=3)
                self.stop_training = True
                self.stop_reason = str(error)
                return None
            total += loss * len(index)
            count += len(index)
            norms.append(norm)
            logs = {"loss": total / count, **{m.name: float(m.result()) for m in self.compiled_metrics}}
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
        if isinstance(verbose, str) and verbose == "auto":
            verbose = 1
        if not isinstance(verbose, numbers.Integral) or verbose not in (0, 1, 2):
            raise RnnkitValueError(f"verbose must be 'auto', 0, 1 or 2, got {describe(verbose)}")
        callback_list = list(callbacks or [])
        if verbose:
            callback_list.append(callbacks_module.ProgbarLogger())
        return callbacks_module.CallbackList(callback_list, model=self,
                                             params={"epochs": 1, "steps": steps, "verbose": verbose})

    @no_grad()
    def evaluate(self, x=None, y=None, batch_size=32, verbose="auto", return_dict=False, callbacks=None):
        """Loss (and metrics) over (x, y), averaged over samples as Keras does.

        Callbacks get Keras's test hooks: ``on_test_begin``, ``on_test_batch_begin/end`` (logs: the
        running loss and metrics so far) and ``on_test_end`` (logs: the results)."""
        self._require_compiled("evaluate")
        x, y = self._check_xy(x, y)
        batch_size = _check_batch_size(batch_size)
        parts = batch_slices(len(x), batch_size)
        cbs = self._loop_callbacks(callbacks, verbose, len(parts))
        self._reset_metrics()
        cbs.on_test_begin()
        total, seen = 0.0, 0
        for step, part in enumerate(parts):
            cbs.on_test_batch_begin(step)
            y_pred = self(x[part], training=False)
            total += float(self.loss(y[part], y_pred, mask=self.output_mask)) * len(y_pred)
            seen += len(y_pred)
            self._update_metrics(y[part], y_pred)
            cbs.on_test_batch_end(step, self._results(total / seen, True))
        logs = self._results(total / len(x), True)
        cbs.on_test_end(logs)
        return logs if return_dict else self._results(total / len(x), False)

    @no_grad()
    def predict(self, x, batch_size=32, verbose=0, callbacks=None):
        """Outputs for every sample of x, computed ``batch_size`` samples at a time.

        Callbacks get Keras's predict hooks: ``on_predict_begin``, ``on_predict_batch_begin/end``
        (logs: ``{"outputs": that batch's outputs}``) and ``on_predict_end``."""
        x = self._check_x(x)
        batch_size = _check_batch_size(batch_size)
        if len(x) == 0:
            raise RnnkitValueError(f"x must hold at least one sample, got {describe(x)}")
        parts = batch_slices(len(x), batch_size)
        cbs = self._loop_callbacks(callbacks, verbose, len(parts))
        cbs.on_predict_begin()
        outputs = []
        for step, part in enumerate(parts):
            cbs.on_predict_batch_begin(step)
            outputs.append(self(x[part], training=False))
            cbs.on_predict_batch_end(step, {"outputs": outputs[-1]})
        cbs.on_predict_end()
        return np.concatenate(outputs)

    # ------------------------------------------------------------------ truncated BPTT
    def _recurrent_layers(self):
        from .layers.rnn import RNN

        return [layer for layer in self.layers if isinstance(layer, RNN)]

    def _check_tbptt(self, tbptt_steps, x, y):
        """Validate ``tbptt_steps`` against the data and the model (only plain, forward recurrent layers)."""
        if isinstance(tbptt_steps, bool) or not isinstance(tbptt_steps, numbers.Integral) or tbptt_steps <= 0:
            raise RnnkitValueError(f"tbptt_steps must be a positive integer or None, got {describe(tbptt_steps)}")
        if x.ndim < 2:
            raise RnnkitValueError(f"tbptt_steps needs sequences x of shape (batch, time, ...), got {describe(x)}")
        names = [type(layer).__name__ for layer in self.layers]
        if "Bidirectional" in names or any(layer.go_backwards for layer in self._recurrent_layers()):
            raise RnnkitValueError(
                "tbptt_steps cannot carry a backward-running state across chunks: the model has a "
                f"Bidirectional or go_backwards layer ({names})")
        if not self._recurrent_layers():
            raise RnnkitValueError(f"tbptt_steps needs a recurrent layer in the model, got layers {names}")
        return int(tbptt_steps)

    def _train_step_tbptt(self, x, y, steps, where):
        """Truncated BPTT on one batch.

        The sequences are cut into chunks of ``steps`` time steps. Each chunk starts from the
        recurrent states the previous chunk ended with (carried as values, so no gradient flows
        back across a chunk boundary), and when the chunk has targets the optimizer steps on it.
        With per-step targets (y of shape (B, T, ...)) every chunk trains on its own steps; with one
        target per sequence only the last chunk has a loss, so the gradient reaches back at most
        ``steps`` steps. Full BPTT is the special case ``steps >= T``.
        """
        time = x.shape[1]
        per_step = y.ndim >= 2 and y.shape[1] == time and len(self.output_shape) >= 3
        layers = self._recurrent_layers()
        saved = [(layer.stateful, layer.states) for layer in layers]
        losses, norms = [], []
        try:
            for layer in layers:
                layer.stateful, layer.states = True, None
            for start in range(0, time, steps):
                chunk = slice(start, min(start + steps, time))
                last = chunk.stop == time
                if per_step:
                    loss, norm = self._train_step(x[:, chunk], y[:, chunk], where)
                elif last:
                    loss, norm = self._train_step(x[:, chunk], y, where)
                else:
                    with no_grad():
                        self(x[:, chunk], training=False)  # only advances the carried states
                    continue
                losses.append(loss)
                norms.append(norm)
        finally:
            for layer, (stateful, states) in zip(layers, saved):
                layer.stateful, layer.states = stateful, states
        return float(np.mean(losses)), float(np.mean(norms))
