"""``evaluate``, ``predict``, ``test_on_batch`` and ``predict_on_batch``: the inference half of the
training API (:class:`rnnkit.models.training.Trainer` inherits it), on arrays or streams of batches
(:mod:`rnnkit.models.data_streams`).

evaluate's loss is Keras's: each batch's loss (weighted by its sample weights, reduced over its
values) weighed by the batch's number of samples; weighted metrics accumulate
``sum(w * value) / sum(w)`` over every batch.
"""
import numbers

import numpy as np

from .. import callbacks as callbacks_module
from .._validate import describe
from ..errors import RnnkitValueError
from ..ops.grad_mode import no_grad
from . import data_adapter, data_streams


def check_verbose(verbose):
    """Keras's ``verbose``: "auto" (1), 0, 1 or 2."""
    if isinstance(verbose, str) and verbose == "auto":
        return 1
    if isinstance(verbose, bool) or not isinstance(verbose, numbers.Integral) or verbose not in (0, 1, 2):
        raise RnnkitValueError(f"verbose must be 'auto', 0, 1 or 2, got {describe(verbose)}")
    return int(verbose)


class Evaluation:
    """Keras's ``evaluate`` / ``predict`` / ``test_on_batch`` / ``predict_on_batch`` for a Model."""

    def _loop_callbacks(self, callbacks, verbose, steps):
        """The CallbackList of an evaluate or predict call: the user's callbacks, and a progress bar
        when verbose (Keras: "auto" means 1)."""
        verbose = check_verbose(verbose)
        callback_list = list(callbacks or [])
        if verbose:
            callback_list.append(callbacks_module.ProgbarLogger())
        return callbacks_module.CallbackList(callback_list, model=self,
                                             params={"epochs": 1, "steps": steps, "verbose": verbose})

    def _evaluate_epoch(self, iterator, name, cbs=None):
        """Loss and metrics over the batches of one epoch of ``iterator`` (a data_streams.EpochIterator),
        as the dict of logs; test hooks on ``cbs`` when given."""
        cbs = cbs if cbs is not None else callbacks_module.CallbackList([], model=self)
        self._compiled_metrics.reset()
        cbs.on_test_begin()
        total, part_totals, seen = 0.0, None, 0
        batch_logs = cbs.calls("on_test_batch_end")  # else no running results are made
        batches = iterator.epoch()
        try:
            for step, batch in enumerate(batches):
                cbs.on_test_batch_begin(step)
                outputs, masks = self._forward(batch.xs, training=False)
                loss, losses, _ = self._compiled_loss.value_and_gradients(batch.ys, outputs, masks, batch.weights,
                                                                          need_gradient=False)
                size = len(batch)
                total += self._with_penalties(loss) * size
                part_totals = [p * size for p in losses] if part_totals is None else [
                    a + p * size for a, p in zip(part_totals, losses)]
                seen += size
                self._compiled_metrics.update(batch.ys, outputs, masks, batch.weights)
                if batch_logs:
                    cbs.on_test_batch_end(step, self._results(total / seen, [p / seen for p in part_totals], True))
        finally:
            batches.close()
        if not seen:
            raise RnnkitValueError(f"{name} gave no batch to evaluate (a generator read out already?)")
        logs = self._results(total / seen, [p / seen for p in part_totals], True)
        cbs.on_test_end(logs)
        return logs

    @no_grad()
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """Loss (and metrics) over the data, averaged over samples as Keras does.

        ``x``/``y``/``sample_weight`` as for ``fit`` (arrays, or a stream whose batches carry the
        targets and weights); ``steps``: batches to evaluate (default: one pass; needed for an
        endless stream). Returns the loss alone, or the list ``[loss, <output>_loss..., metrics...]``
        (Keras's order, :attr:`metrics_names`), or with ``return_dict`` a dict by log name. Callbacks
        get Keras's test hooks: ``on_test_begin``, ``on_test_batch_begin/end`` (logs: the running
        loss and metrics so far) and ``on_test_end`` (logs: the results)."""
        self._require_compiled("evaluate")
        steps = data_streams.check_steps("steps", steps)
        data = self._data(x, y, sample_weight, batch_size=data_adapter.check_batch_size(batch_size), steps=steps,
                          where_from="evaluate")
        iterator = data_streams.EpochIterator(data, steps, "steps")
        cbs = self._loop_callbacks(callbacks, verbose, iterator.num_batches)
        logs = self._evaluate_epoch(iterator, "x", cbs)
        return logs if return_dict else (logs["loss"] if len(logs) == 1 else list(logs.values()))

    @no_grad()
    def _evaluate_arrays(self, xs, ys, weights, batch_size):
        """The logs of :meth:`evaluate` on flat arrays already checked (``weights``: one per output or
        None), silently: rnnkit.distributed evaluates each rank's part of fit's validation with it."""
        data = data_streams.ArrayData(xs, ys, weights, batch_size)
        return self._evaluate_epoch(data_streams.EpochIterator(data), "validation_data")

    @no_grad()
    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss (and metrics) of one batch, no update."""
        self._require_compiled("test_on_batch")
        xs, ys, weights = self._checked(x, y, sample_weight)
        self._compiled_metrics.reset()
        outputs, masks = self._forward(xs, training=False)
        loss, parts, _ = self._compiled_loss.value_and_gradients(ys, outputs, masks, weights, need_gradient=False)
        self._compiled_metrics.update(ys, outputs, masks, weights)
        return self._results(self._with_penalties(loss), parts, return_dict)

    @no_grad()
    def predict_on_batch(self, x):
        outputs, _ = self._forward(self._prepared(data_adapter.check_x(self, x)), training=False)
        return self._pack_outputs(outputs)

    @no_grad()
    def predict(self, x, batch_size=None, verbose=0, steps=None, callbacks=None):
        """Outputs for every sample of x, computed ``batch_size`` samples at a time.

        ``x``: arrays, or a stream of batches (``x`` alone or ``(x, y...)``, whose targets are
        ignored); ``steps``: batches to predict (default: one pass; needed for an endless stream).
        Returns one array (also for outputs given as a list of one tensor, as Keras 3), or for several
        outputs a list (or dict) shaped like ``model.outputs``.
        Callbacks get Keras's predict hooks: ``on_predict_begin``, ``on_predict_batch_begin/end``
        (logs: ``{"outputs": that batch's outputs}``) and ``on_predict_end``."""
        steps = data_streams.check_steps("steps", steps)
        data = self._data(x, batch_size=data_adapter.check_batch_size(batch_size), steps=steps, need_y=False,
                          where_from="predict")
        iterator = data_streams.EpochIterator(data, steps, "steps")
        cbs = self._loop_callbacks(callbacks, verbose, iterator.num_batches)
        cbs.on_predict_begin()
        results = []
        batches = iterator.epoch()
        try:
            for step, batch in enumerate(batches):
                cbs.on_predict_batch_begin(step)
                outputs, _ = self._forward(batch.xs, training=False)
                results.append(outputs)
                cbs.on_predict_batch_end(step, {"outputs": self._pack_outputs(outputs)})
        finally:
            batches.close()
        if not results:
            raise RnnkitValueError(f"x gave no batch to predict, got {describe(x)}")
        cbs.on_predict_end()
        outputs = self._pack_outputs([np.concatenate([b[i] for b in results]) for i in range(len(results[0]))])
        # Keras 3: a model whose outputs are a list of one tensor predicts that one array
        return outputs[0] if isinstance(outputs, (list, tuple)) and len(outputs) == 1 else outputs
