"""What ``compile()`` makes of ``loss``, ``loss_weights`` and ``metrics`` for a model's outputs,
and the names Keras 3 logs them under.

For a model with outputs o_1..o_n (named after the layers that produce them, or after the keys of
a dict of outputs) the training loss is

    L = sum_i w_i * loss_i(y_i, o_i)        (outputs without a loss are left out)

and its gradient with respect to o_i is ``w_i * dloss_i/do_i``. Log names, as Keras 3.15 writes them:
``loss`` (the weighted total); ``<output>_loss`` for each output with a loss when more than one output
has one; metrics as ``<metric>`` for a one-output model and ``<output>_<metric>`` otherwise.
"""
import copy
import numbers

from .. import losses as losses_module
from .. import metrics as metrics_module
from .._validate import describe
from ..errors import RnnkitValueError


def _is_loss_config(value):
    return isinstance(value, dict) and "class_name" in value


def _per_output(name, value, output_names, allow_single):
    """``value`` spread over the outputs: a list (one per output), a dict by output name, or one value
    for every output. Returns a list with None where nothing was given."""
    count = len(output_names)
    if isinstance(value, dict) and not _is_loss_config(value):
        unknown = sorted(set(value) - set(output_names))
        if unknown:
            raise RnnkitValueError(f"{name} names outputs {unknown} that the model does not have; its outputs are "
                                   f"{output_names}")
        return [value.get(out) for out in output_names]
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise RnnkitValueError(f"{name} must have one entry per output ({count}: {output_names}), got "
                                   f"{describe(value)}")
        return list(value)
    if not allow_single:
        raise RnnkitValueError(f"{name} must be a list or a dict by output name, got {describe(value)}")
    return [value] * count


class CompiledLoss:
    """Per-output losses and their weights; ``value_and_gradients`` gives L and dL/do_i."""

    def __init__(self, loss, loss_weights, output_names):
        if loss is None:
            raise RnnkitValueError("loss must be given to compile(), e.g. loss='mse', got None")
        self.output_names = list(output_names)
        self.losses = [None if item is None else losses_module.get(item)
                       for item in _per_output("loss", loss, self.output_names, allow_single=True)]
        if all(item is None for item in self.losses):
            raise RnnkitValueError(f"loss must give at least one output a loss, got {describe(loss)}")
        weights = [1.0] * len(self.output_names) if loss_weights is None else _per_output(
            "loss_weights", loss_weights, self.output_names, allow_single=True)
        self.weights = []
        for out, weight in zip(self.output_names, weights):
            if weight is None:
                weight = 1.0
            if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not abs(weight) < float("inf"):
                raise RnnkitValueError(f"loss_weights for output {out!r} must be a finite number, got "
                                       f"{describe(weight)}")
            self.weights.append(float(weight))
        self.active = [i for i, item in enumerate(self.losses) if item is not None]

    @property
    def log_names(self):
        """``loss``, then ``<output>_loss`` per output with a loss when more than one has one."""
        if len(self.active) > 1:
            return ["loss"] + [f"{self.output_names[i]}_loss" for i in self.active]
        return ["loss"]

    def value_and_gradients(self, ys, preds, masks, sample_weight=None, need_gradient=True):
        """(L, [loss_i for each active output], [dL/do_i or None per output]).

        ``sample_weight``: None, one array for every output, or a list with one array (or None) per
        output (what :func:`rnnkit.models.data_adapter.check_sample_weight` returns)."""
        weights = sample_weight if isinstance(sample_weight, list) else [sample_weight] * len(self.output_names)
        total, parts, grads = 0.0, [], [None] * len(self.output_names)
        for i in self.active:
            value, grad = self.losses[i].value_and_gradient(ys[i], preds[i], sample_weight=weights[i],
                                                            mask=masks[i], need_gradient=need_gradient)
            total += self.weights[i] * value
            parts.append(value)
            if grad is not None:
                grads[i] = grad if self.weights[i] == 1.0 else grad * self.weights[i]
        return total, parts, grads

    def logs(self, total, parts):
        """The log entries of one (running) result: total first, then the per-output losses."""
        values = [total] + list(parts) if len(self.active) > 1 else [total]
        return dict(zip(self.log_names, values))

    def get_config(self):
        """The compile settings as plain data (for model files)."""
        return {"loss": [None if item is None else losses_module.serialize(item) for item in self.losses],
                "loss_weights": list(self.weights)}


class CompiledMetrics:
    """Per-output metric objects, updated after every batch, reported under Keras's names.

    ``metrics`` ignore sample weights (they still honour masks); ``weighted_metrics`` take them
    (Keras's two compile arguments). A weighted metric is logged under its own name unless an
    unweighted one has it already; then as ``weighted_<name>`` (Keras 3's rule).
    """

    def __init__(self, metrics, output_names, compiled_loss, weighted_metrics=None):
        self.output_names = list(output_names)
        self.metrics = self._resolve(metrics, compiled_loss, "metrics")
        self.weighted = self._resolve(weighted_metrics, compiled_loss, "weighted_metrics")

    def _resolve(self, metrics, compiled_loss, argument):
        groups = []
        for index, identifiers in enumerate(self._spread(metrics, argument)):
            loss = compiled_loss.losses[index]
            resolved = []
            for identifier in identifiers:
                if isinstance(identifier, metrics_module.Metric) and len(self.output_names) > 1:
                    identifier = copy.deepcopy(identifier)  # one running state per output
                resolved.append(metrics_module.resolve_metric(identifier, loss))
            groups.append(resolved)
        return groups

    def _spread(self, metrics, argument="metrics"):
        count = len(self.output_names)
        if metrics is None:
            return [[] for _ in range(count)]
        if isinstance(metrics, str) or not (isinstance(metrics, (list, tuple, dict))):
            raise RnnkitValueError(f"{argument} must be a list such as ['accuracy'], got {describe(metrics)}")
        if isinstance(metrics, dict):
            if count == 1 and set(metrics) - set(self.output_names):
                raise RnnkitValueError(f"{argument} must be a list such as ['accuracy'] (or a dict by output name "
                                       f"{self.output_names}), got {describe(metrics)}")
            entries = _per_output(argument, metrics, self.output_names, allow_single=False)
            return [self._as_list(e) for e in entries]
        nested = any(isinstance(m, (list, tuple)) for m in metrics)
        if count == 1:
            return [self._as_list(metrics[0]) if nested and len(metrics) == 1 else list(metrics)]
        if nested or len(metrics) == count:
            # Keras 3: a list as long as the outputs gives each output its entry
            return [self._as_list(e) for e in _per_output(argument, list(metrics), self.output_names, False)]
        # tf.keras 2: a flat list of another length applies to every output
        return [list(metrics) for _ in range(count)]

    @staticmethod
    def _as_list(entry):
        if entry is None:
            return []
        return list(entry) if isinstance(entry, (list, tuple)) else [entry]

    @property
    def flat(self):
        """Every metric object: the unweighted ones, then the weighted ones (log order)."""
        return [m for group in self.metrics + self.weighted for m in group]

    def _prefixed(self, out, name):
        return name if len(self.output_names) == 1 else f"{out}_{name}"

    @property
    def log_names(self):
        names = [self._prefixed(out, m.name) for out, group in zip(self.output_names, self.metrics) for m in group]
        taken = set(names)
        for out, group in zip(self.output_names, self.weighted):
            for metric in group:
                name = self._prefixed(out, metric.name)
                if name in taken:
                    name = self._prefixed(out, f"weighted_{metric.name}")
                taken.add(name)
                names.append(name)
        return names

    def update(self, ys, preds, masks, sample_weight=None):
        """``sample_weight``: None, or one array (or None) per output, for the weighted metrics."""
        weights = sample_weight if sample_weight is not None else [None] * len(ys)
        for y, pred, mask, group in zip(ys, preds, masks, self.metrics):
            for metric in group:
                metric.update_state(y, pred, mask=mask)
        for y, pred, mask, weight, group in zip(ys, preds, masks, weights, self.weighted):
            for metric in group:
                metric.update_state(y, pred, sample_weight=weight, mask=mask)

    def reset(self):
        for metric in self.flat:
            metric.reset_state()

    def results(self):
        return dict(zip(self.log_names, (float(m.result()) for m in self.flat)))

    def get_config(self):
        return [[m.name for m in group] for group in self.metrics]

    def get_weighted_config(self):
        return [[m.name for m in group] for group in self.weighted]
