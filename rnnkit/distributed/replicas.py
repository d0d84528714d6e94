"""What :class:`~rnnkit.distributed.DataParallel` changes inside ``fit``, for one model.

The training loop (rnnkit/models/training.py) calls these hooks when the model was compiled under
a strategy with more than one rank; with one rank none of this runs.

One step, on every rank r holding n_r samples of the global batch (N = sum_r n_r):

    buffer = [ w_r * dL_r/dW (every trainable variable, flattened) | w_r * L_r | w_r * L_r,i per output
               | n_r | metric-state increments of this step ]        w_r = n_r (1 for "sum" losses)
    MPI_Allreduce(buffer, SUM)                                      one call, one reused buffer
    dL/dW = buffer_grads / N,  L = buffer_loss / N                  the mean over the global batch

so every rank holds the same gradient, loss and metric state, and takes the same optimizer step:
clipping, the gradient norm and the non-finite check give the same answer everywhere (a NaN on
one rank is a NaN in the sum). The buffer is the optimizer's own flat gradient buffer
(rnnkit/optimizers/flat.py) with the scalars after it, so it has the trainable variables' dtype
(float32 by default) and the optimizer steps from the summed gradients where they lie, without a
copy. Besides it, each step makes one 4-byte allreduce: the ``stop_training`` vote of the callbacks,
which only exists after the step's callbacks ran.
"""
import contextlib
import math
import sys
import traceback
import warnings

import numpy as np

from ..data_checks import batch_slices
from ..errors import RnnkitTypeError, RnnkitValueError
from ..models.data_adapter import take
from .collectives import (FlatLayout, allreduce_mean, allreduce_sum, any_rank, broadcast_object, broadcast_weights,
                          min_over_ranks)
from .world import abort

#: callbacks that write files or print progress: kept on rank 0 only (the others would repeat them)
RANK_ZERO_ONLY = ("ModelCheckpoint", "BackupAndRestore", "CSVLogger", "ProgbarLogger")


def rank_zero_only(callback):
    """Whether ``callback`` runs on rank 0 only: rnnkit's file and progress callbacks, and any callback
    with a true ``rank_zero_only`` attribute (set it on your own callbacks that write files)."""
    explicit = getattr(callback, "rank_zero_only", None)
    if explicit is not None:
        return bool(explicit)
    return any(cls.__name__ in RANK_ZERO_ONLY and cls.__module__.startswith("rnnkit.")
               for cls in type(callback).__mro__)


def part_bounds(count, parts, index):
    """``(start, stop)`` of part ``index`` when ``count`` items are cut into ``parts`` contiguous parts
    whose sizes differ by at most one (the first ``count % parts`` parts are one larger)."""
    base, extra = divmod(count, parts)
    start = index * base + min(index, extra)
    return start, start + base + (1 if index < extra else 0)


def _rank_generator(state, rank):
    """A generator for ``rank`` derived from rank 0's generator state: per-rank dropout masks that
    differ between ranks yet follow from rank 0's seed."""
    source = np.random.Generator(getattr(np.random, state["bit_generator"])())
    source.bit_generator.state = state
    entropy = [int(e) for e in source.integers(0, 2**63, size=2)]
    return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(int(rank),)))


class Replicas:
    """The data-parallel side of one model's ``fit`` (see the module docstring)."""

    def __init__(self, strategy, model):
        self.strategy = strategy
        self.model = model
        self.comm = strategy.comm
        self.rank = strategy.rank
        self.size = strategy.size
        self.sharded = strategy.sharded
        self.last_count = 0  # samples in the last step's global batch
        self._layout = None
        self._variables = None
        self._shared_callbacks = []

    # ------------------------------------------------------------------ agreement before training
    def checked(self, function):
        """Run ``function`` (argument and data checks) on every rank; if it raised on any rank, raise on
        every rank (the failing rank its own error, the others one naming it), so no rank trains alone.
        Returns what ``function`` returned."""
        error = None
        try:
            result = function()
        except Exception as caught:  # noqa: BLE001 - re-raised below, on every rank
            error, result = caught, None
        reports = self.comm.allgather(None if error is None else f"{type(error).__name__}: {error}")
        failed = [(rank, text) for rank, text in enumerate(reports) if text is not None]
        if error is not None:
            raise error
        if failed:
            rank, text = failed[0]
            raise RnnkitValueError(f"fit did not start: rank {rank} of {self.size} refused its arguments or "
                                   f"data ({text})")
        return result

    def check_metrics(self):
        """Every compiled metric must expose its state (get_state/set_state) to be combined across ranks."""
        for metric in self.model._compiled_metrics.flat:
            try:
                metric.set_state(metric.get_state())
            except NotImplementedError as error:
                raise RnnkitTypeError(f"DataParallel combines metrics across ranks through their state: {error}") \
                    from None

    def replica_batch(self, batch_size):
        """The rows of a full global batch of ``batch_size`` that this rank trains on."""
        start, stop = part_bounds(batch_size, self.size, self.rank)
        return stop - start

    def check_stateful(self, model, count, batch_size, where):
        """Keras's stateful-batch rules with this rank's rows: the layers carry states of
        :meth:`replica_batch` rows; with sharded data the rank's own samples must fill its batches."""
        from ..models import stateful

        rows = self.replica_batch(batch_size)
        stateful.check_batches(model, count, rows if self.sharded else batch_size, where, replica_batch=rows)

    def plan(self, plan):
        """Add to fit's plan what ranks need: this rank's batch size and steps, its validation part."""
        self.check_metrics()
        batch = plan.batch_size
        count = len(plan.xs[0])
        plan.local_batch = self.replica_batch(batch)
        if self.sharded:
            if plan.local_batch == 0:
                raise RnnkitValueError(f"batch_size={batch} is smaller than the {self.size} ranks: with sharded data "
                                       f"every rank needs at least one sample per step")
            plan.steps = min_over_ranks(math.ceil(count / plan.local_batch), self.comm)
            plan.used = min(count, plan.steps * plan.local_batch)
            if plan.used < count:
                warnings.warn(
                    f"rank {self.rank}: every rank runs {plan.steps} steps per epoch (what the rank with the fewest "
                    f"samples fills), so {count - plan.used} of this rank's {count} samples are left out of each "
                    f"epoch ({'a different random subset each epoch' if plan.shuffle else 'the last ones'})",
                    RuntimeWarning, stacklevel=4)
        else:
            plan.steps = len(batch_slices(count, batch))
        plan.validation_local = self._validation_part(plan)
        return plan

    def _validation_part(self, plan):
        """This rank's validation samples: its own with sharded data, else its slice of each global batch
        (so a stateful model sees the same rows in the same place as in training)."""
        if plan.validation is None:
            return None
        xs, ys, weights = plan.validation
        if self.sharded:
            return xs, ys, weights
        index = np.concatenate([np.arange(part.start, part.stop)[slice(*part_bounds(part.stop - part.start,
                                                                                  self.size, self.rank))]
                                for part in batch_slices(len(xs[0]), plan.batch_size)])
        if len(index) == 0:
            return None
        return take(xs, index), take(ys, index), None if weights is None else take(weights, index)

    # ------------------------------------------------------------------ start of fit
    def begin(self):
        """After ``on_train_begin`` (where rank 0 may have restored a backup): every rank takes rank 0's
        weights, optimizer state, resume epoch, shuffling generator and the states of the callbacks that
        run on every rank; dropout generators of the other ranks are derived from rank 0's and the rank,
        so masks differ between ranks."""
        model = self.model
        variables = model.trainable_variables
        if not model.optimizer.built:
            model.optimizer.build(variables)
        broadcast_weights(model, 0, self.comm)
        chief = self.rank == 0
        callbacks = self._shared_callbacks
        shared = broadcast_object({
            "optimizer": model.optimizer.get_state() if chief else None,
            "resume_epoch": model._resume_epoch if chief else None,
            "rng": model.get_rng_states() if chief else None,
            # what a resumed backup restored on rank 0 (EarlyStopping's and ReduceLROnPlateau's counters, ...)
            "callbacks": [c.get_state() if hasattr(c, "get_state") else None for c in callbacks] if chief else None,
        }, 0, self.comm)
        if not chief:
            for callback, state in zip(callbacks, shared["callbacks"]):
                if state is not None:
                    callback.set_state(state)
            model.optimizer.set_state(shared["optimizer"])
            model._resume_epoch = shared["resume_epoch"]
            model._shuffle_rng.bit_generator.state = shared["rng"]["shuffle"]
            layers = model._rng_layers()
            for name, state in shared["rng"]["layers"].items():
                if name in layers:
                    layers[name].rng = _rank_generator(state, self.rank)
        self._variables = variables

    # ------------------------------------------------------------------ one step
    def epoch_batches(self, plan, order):
        """This rank's sample indices of every step of an epoch (``order``: the epoch's shuffled indices)."""
        if self.sharded:
            order = order[:plan.used]
            return [order[part] for part in batch_slices(len(order), plan.local_batch)]
        batches = []
        for part in batch_slices(len(order), plan.batch_size):
            index = order[part]
            start, stop = part_bounds(len(index), self.size, self.rank)
            batches.append(index[start:stop])
        return batches

    def _layout_for(self, grads, parts, metric_size):
        """The step's buffer: the optimizer's own flat gradient buffer with the scalars after it, when the
        optimizer keeps every trainable variable, in order, in one group (one dtype: float32 by default);
        otherwise (several dtypes, an optimizer built on other variables) one of its own, which the
        optimizer then copies from."""
        extra = 2 + parts + metric_size
        variables = self.model.trainable_variables
        optimizer = self.model.optimizer
        if not optimizer.built:
            optimizer.build(variables)
        groups = optimizer.flat_groups
        layout = self._layout
        if len(groups) == 1 and len(groups[0].variables) == len(variables) and all(
                a is b for a, b in zip(groups[0].variables, variables)):
            group = groups[0]
            buffer = group.gradients_with_tail(extra)
            if layout is None or layout.buffer is not buffer:
                layout = self._layout = FlatLayout([v.shape for v in group.grad_views], group.dtype, extra, buffer)
                layout.views = group.grad_views  # the same memory, and the optimizer skips copying its own views
            return layout
        shapes = [np.shape(g) for g in grads]
        dtype = np.result_type(np.float32, *(v.value.dtype for v in variables))
        if layout is None or layout.shapes != shapes or layout.buffer.dtype != dtype or layout.tail.size != extra:
            layout = self._layout = FlatLayout(shapes, dtype, extra)
        return layout

    def _sums(self):
        """True when every loss sums over samples (reduction "sum"): then ranks' values add up unweighted."""
        losses = [loss for loss in self.model._compiled_loss.losses if loss is not None]
        return all(getattr(loss, "reduction", None) == "sum" for loss in losses)

    def combine(self, count, loss, parts, grads, update_metrics):
        """Sum this step over the ranks (one allreduce); returns ``(loss, parts, grads)`` of the global batch.

        Args:
            count: samples in this rank's slice (0 allowed).
            loss, parts: this rank's mean loss and per-output losses.
            grads: this rank's mean gradients (None: no gradient), trainable_variables order.
            update_metrics: updates the compiled metrics with this rank's slice; called here so that
                its increments can travel in the same buffer.

        The gradients returned are views of the reused buffer: valid until the next step.
        """
        if self._variables is not None and [id(v) for v in self.model.trainable_variables] != \
                [id(v) for v in self._variables]:
            raise RnnkitValueError("the model's trainable variables changed during fit (a layer built late or "
                                   "was frozen/unfrozen); under DataParallel the model must be built before fit")
        metrics = self.model._compiled_metrics.flat
        before = [m.get_state() for m in metrics]
        update_metrics()
        increments = [m.get_state() - b for m, b in zip(metrics, before)]
        metric_size = sum(i.size for i in increments)
        layout = self._layout_for(grads, len(parts), metric_size)
        sums = self._sums()
        weight = 1.0 if sums else float(count)
        for view, grad in zip(layout.views, grads):
            if grad is None:
                view.fill(0)
            else:
                np.multiply(grad, weight, out=view, casting="unsafe")
        tail = layout.tail
        tail[0] = loss * weight
        tail[1:1 + len(parts)] = [p * weight for p in parts]
        tail[1 + len(parts)] = count
        if metric_size:
            tail[2 + len(parts):] = np.concatenate(increments)
        allreduce_sum(layout.buffer, self.comm)
        total = float(tail[1 + len(parts)])
        self.last_count = int(round(total))
        divisor = 1.0 if sums else total
        if divisor != 1.0:
            layout.buffer[:layout.size] /= layout.buffer.dtype.type(divisor)
        offset = 2 + len(parts)
        for metric, state in zip(metrics, before):
            metric.set_state(state + tail[offset:offset + state.size].astype(np.float64))
            offset += state.size
        return float(tail[0]) / divisor, [float(p) / divisor for p in tail[1:1 + len(parts)]], layout.views

    def end_epoch(self):
        """Average the non-trainable float weights (BatchNormalization's moving statistics, which each
        rank updated from its own slices) over the ranks, so every rank validates and saves one model."""
        variables = [v for v in self.model.non_trainable_weights if np.issubdtype(v.value.dtype, np.floating)]
        if not variables:
            return
        for variable, mean in zip(variables, allreduce_mean([v.value for v in variables], comm=self.comm)):
            variable.value[...] = mean

    # ------------------------------------------------------------------ validation
    def evaluate(self, plan):
        """Validation logs over every rank's part, combined exactly (loss sums, counts and metric states
        summed in float64), the same on every rank."""
        model = self.model
        names = model._compiled_loss.log_names
        metrics = model._compiled_metrics.flat
        part = plan.validation_local
        if part is not None:
            count = len(part[0][0])
            logs = model._evaluate_arrays(*part, batch_size=max(1, plan.local_batch))
            values = [logs[name] * count for name in names]
        else:
            count = 0
            model._compiled_metrics.reset()
            values = [0.0] * len(names)
        states = [m.get_state() for m in metrics]
        buffer = np.concatenate([np.array(values + [count], np.float64)] + states)
        allreduce_sum(buffer, self.comm)
        total = buffer[len(names)]
        offset = len(names) + 1
        for metric, state in zip(metrics, states):
            metric.set_state(buffer[offset:offset + state.size])
            offset += state.size
        losses = [float(v) / total for v in buffer[:len(names)]]
        return {**model._compiled_loss.logs(losses[0], losses[1:]), **model._compiled_metrics.results()}

    # ------------------------------------------------------------------ callbacks and stopping
    def callbacks_for_rank(self, callbacks):
        """The callbacks this rank runs: all on rank 0; the others drop :func:`rank_zero_only` ones."""
        self._shared_callbacks = [c for c in callbacks if not rank_zero_only(c)]  # the same on every rank
        return list(callbacks) if self.rank == 0 else list(self._shared_callbacks)

    def stop_anywhere(self, flag):
        """``stop_training`` as every rank sees it: True when a callback set it on any rank."""
        return any_rank(flag, self.comm)

    def end(self):
        """After ``on_train_end``: wait until rank 0 has written its files, so that a rank reading them next
        (``load_weights`` of the best checkpoint) finds them complete."""
        self.comm.Barrier()

    @contextlib.contextmanager
    def abort_on_error(self):
        """An exception on one rank during training would leave the others waiting inside the next
        allreduce: report it with the rank and end the whole job (``MPI_Abort``)."""
        try:
            yield
        except BaseException:  # noqa: BLE001 - every failure ends the job
            traceback.print_exc()
            print(f"rnnkit.distributed: fit failed on rank {self.rank} of {self.size}; aborting the job",
                  file=sys.stderr, flush=True)
            abort(1)
