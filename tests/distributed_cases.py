"""Scenarios of data-parallel training, run by tests/test_distributed.py under ``mpiexec``.

    mpiexec -n 2 python -m rnnkit.distributed.run tests/distributed_cases.py OUT case [case ...]

Each case trains on every rank and writes what the test checks to ``OUT/<case>.rank<r>.npz``
(arrays) and ``OUT/<case>.rank<r>.json`` (numbers and text). The builders and data are plain
functions so that the test can train the one-process reference with exactly the same setup.
Cases run one after another in one launch: an MPI launch costs about a second.
"""
import contextlib
import io
import json
import os
import signal
import sys
import warnings

import numpy as np

import rnnkit
from rnnkit import callbacks, layers, optimizers
from rnnkit.distributed import DataParallel, rank, size

GLOBAL_BATCH = 7


def data(count=23, time=6, features=3, outputs=2, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(count, time, features)).astype(np.float32),
            rng.normal(size=(count, outputs)).astype(np.float32))


def build(seed):
    """LSTM -> Dense; ``seed`` drives the initialisers (each rank passes its own in the cases)."""
    return rnnkit.Sequential([layers.Input((6, 3)), layers.LSTM(5, seed=seed), layers.Dense(2, seed=seed + 1)])


def build_regularized(seed):
    """``build`` with a weight penalty and an activity penalty (divided by each rank's slice size, so the
    count-weighted sum over ranks is the one-process penalty)."""
    return rnnkit.Sequential([layers.Input((6, 3)), layers.LSTM(5, seed=seed, kernel_regularizer="l2"),
                              layers.Dense(2, seed=seed + 1, activity_regularizer="l1")])


def compiled(model):
    model.compile(optimizer=optimizers.Adam(0.01, clipnorm=0.5), loss="mse", metrics=["mae"])
    return model


def compiled_with_options(model):
    """Keras 3's optimizer options that act on the gradient buffer or keep more state: every rank must
    still take the one-process step (weight decay, EMA weights at the end, loss scaling, accumulation)."""
    model.compile(optimizer=optimizers.AdamW(0.01, weight_decay=0.05, global_clipnorm=0.5, use_ema=True,
                                             ema_momentum=0.9, loss_scale_factor=8.0, gradient_accumulation_steps=2),
                  loss="mse", metrics=["mae"])
    return model


def fit_equal(model, x, y):
    """The fit every 'equal' run does (the test repeats it in one process)."""
    rnnkit.set_random_seed(5)  # the shuffling generator; under DataParallel rank 0's is broadcast
    return model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=3, verbose=0, validation_split=0.3)


def sequence_data(count=16, time=8):
    rng = np.random.default_rng(1)
    return (rng.normal(size=(count, time, 3)).astype(np.float32),
            rng.normal(size=(count, time, 2)).astype(np.float32))


def build_tbptt(seed=1):
    return rnnkit.Sequential([layers.Input((8, 3)), layers.GRU(5, return_sequences=True, seed=seed),
                              layers.Dense(2, seed=seed + 1)])


def build_stateful(seed=1):
    return rnnkit.Sequential([layers.Input((8, 3)), layers.LSTM(5, stateful=True, return_sequences=True, seed=seed),
                              layers.Dense(2, seed=seed + 1)])


def fit_tbptt(model, x, y):
    rnnkit.set_random_seed(2)
    return model.fit(x, y, batch_size=8, epochs=2, verbose=0, tbptt_steps=3)


def fit_stateful(model, x, y):
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    return model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False, validation_data=(x, y))


def shard(rank_, count):
    """Rank ``rank_``'s own part for the sharded cases: 10 + 3 * rank samples, different on each rank."""
    x, y = data(count=40, seed=3)
    start = sum(10 + 3 * r for r in range(rank_))
    stop = start + 10 + 3 * rank_
    return x[start:stop], y[start:stop]


def interleaved_shards(ranks, batch):
    """What one process must see to equal a sharded run with shuffle=False: step k's global batch is
    rank 0's k-th slice, then rank 1's, ..., each rank cut into batches of its rows of ``batch``
    and every rank running the steps the one with the fewest samples fills."""
    from rnnkit.distributed.replicas import part_bounds

    parts = [shard(r, ranks) for r in range(ranks)]
    rows = [part_bounds(batch, ranks, r)[1] - part_bounds(batch, ranks, r)[0] for r in range(ranks)]
    steps = min(-(-len(p[0]) // n) for p, n in zip(parts, rows))
    xs, ys = [], []
    for k in range(steps):
        for (x, y), n in zip(parts, rows):
            used = min(len(x), steps * n)
            xs.append(x[k * n:min((k + 1) * n, used)])
            ys.append(y[k * n:min((k + 1) * n, used)])
    return np.concatenate(xs), np.concatenate(ys)


def _save(out, case, arrays=None, **values):
    base = os.path.join(out, f"{case}.rank{rank()}")
    if arrays is not None:
        np.savez(base + ".npz", *arrays)
    with open(base + ".json", "w") as handle:
        json.dump(values, handle)


def _history(history):
    return {key: [float(v) for v in values] for key, values in history.history.items()}


# ---------------------------------------------------------------------------------------------- cases
def case_equal(out):
    """Full arrays on every rank, different initial weights per rank, uneven slices, validation, metrics,
    clipping: must equal one process with the same global batch."""
    from rnnkit._fast.blas import thread_count_function

    x, y = data()
    with DataParallel().scope():
        model = compiled(build(seed=10 + rank()))
    initial = model.get_weights()
    history = fit_equal(model, x, y)
    counter = thread_count_function()
    _save(out, "equal", model.get_weights() + initial, history=_history(history), weights=len(initial),
          blas_threads=counter() if counter else None, iterations=int(model.optimizer.iterations))


def case_buffer(out):
    """What the step's allreduce sums: every call's buffer, and its values after the gradients."""
    from rnnkit.distributed import replicas

    x, y = data()
    with DataParallel().scope():
        model = compiled_with_options(build_regularized(seed=10 + rank()))
    calls, original = [], replicas.allreduce_sum

    def recording(buffer, comm=None):
        calls.append(buffer)
        result = original(buffer, comm)
        calls[-1] = (buffer, buffer[model.optimizer.flat_groups[0].size:].tolist())
        return result

    replicas.allreduce_sum = recording
    try:
        history = model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=2, verbose=0, shuffle=False)
    finally:
        replicas.allreduce_sum = original
    group = model.optimizer.flat_groups[0]
    _save(out, "buffer", model.get_weights(), history=_history(history), dtypes=[buffer.dtype.str for buffer, _ in calls],
          sizes=[buffer.size for buffer, _ in calls],
          same=[buffer is calls[0][0] for buffer, _ in calls], tails=[tail for _, tail in calls],
          optimizers=[bool(np.shares_memory(buffer, group.grads)) for buffer, _ in calls], gradients=int(group.size),
          weights=int(sum(v.value.size for v in model.trainable_variables)))


def build_mixed(seed=10):
    """A float64 LSTM under a float32 Dense: the optimizer keeps two flat groups, so the step sums a
    float64 buffer of its own (the fallback of the optimizer's single buffer)."""
    return rnnkit.Sequential([layers.Input((6, 3)), layers.LSTM(5, seed=seed, dtype="float64"),
                              layers.Dense(2, seed=seed + 1)])


def case_mixed(out):
    x, y = data()
    with DataParallel().scope():
        model = compiled(build_mixed(seed=10 + rank()))
    history = fit_equal(model, x, y)
    _save(out, "mixed", model.get_weights(), history=_history(history))


def case_tbptt_stateful(out):
    x, y = sequence_data()
    strategy = DataParallel()
    with strategy.scope():
        tbptt = compiled(build_tbptt())
        stateful = compiled(build_stateful())
    history = fit_tbptt(tbptt, x, y)
    history_stateful = fit_stateful(stateful, x, y)
    _save(out, "tbptt_stateful", tbptt.get_weights() + stateful.get_weights(), split=len(tbptt.get_weights()),
          history=_history(history), history_stateful=_history(history_stateful))


def case_dropout(out):
    """Dropout draws differ per rank; BatchNormalization's moving statistics are averaged at epoch end."""
    x, y = sequence_data()
    with DataParallel().scope():
        model = rnnkit.Sequential([layers.Input((8, 3)), layers.LSTM(5, return_sequences=True, seed=1, dropout=0.3),
                                   layers.BatchNormalization(), layers.Dropout(0.5, seed=3), layers.Dense(2, seed=2)])
        compiled(model)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    draws = [layer.rng.random(4).tolist() for layer in model._rng_layers().values()]
    _save(out, "dropout", model.get_weights(), draws=draws)


def case_sharded(out):
    x, y = shard(rank(), size())
    with DataParallel(sharded=True).scope():
        model = compiled(build(seed=10 + rank()))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=6, epochs=2, verbose=0, shuffle=False, validation_data=(x, y))
    _save(out, "sharded", model.get_weights(), history=_history(history),
          warnings=[str(w.message) for w in caught if "left out" in str(w.message)])


def case_nan(out):
    """A value that overflows the loss on rank 1 only, in its third batch of the first epoch."""
    x, y = shard(rank(), size())
    if rank() == 1:
        y = y.copy()
        y[7] = 3e38
    with DataParallel(sharded=True).scope():
        model = compiled(build(seed=10))
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=6, epochs=2, verbose=0, shuffle=False)
    _save(out, "nan", model.get_weights(), reason=getattr(model, "stop_reason", ""), epochs=len(history.epoch),
          iterations=int(model.optimizer.iterations))


def case_on_batch(out):
    """train_on_batch under the scope: one collective step on each rank's own rows (3 and 4 of 7)."""
    x, y = data(count=7)
    with DataParallel().scope():
        model = compiled(build(seed=10))
    start, stop = (0, 3) if rank() == 0 else (3, 7)
    logs = model.train_on_batch(x[start:stop], y[start:stop], return_dict=True)
    _save(out, "on_batch", model.get_weights(), logs={k: float(v) for k, v in logs.items()})


class _StopOnRankOne(callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if rank() == 1 and batch == 1:
            self.model.stop_training = True


def case_stop(out):
    x, y = data()
    with DataParallel().scope():
        model = compiled(build(seed=10))
    history = model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=3, verbose=0, callbacks=[_StopOnRankOne()])
    _save(out, "stop", model.get_weights(), iterations=int(model.optimizer.iterations), epochs=len(history.epoch))


def case_files(out):
    """File and progress callbacks on each rank's own paths: only rank 0's may appear."""
    x, y = data()
    folder = os.path.join(out, f"files-rank{rank()}")
    with DataParallel().scope():
        model = compiled(build(seed=10))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=2, verbose=1, validation_split=0.3, callbacks=[
            callbacks.ModelCheckpoint(os.path.join(folder, "best.weights"), save_weights_only=True),
            callbacks.CSVLogger(os.path.join(folder, "log.csv")),
            callbacks.BackupAndRestore(os.path.join(folder, "backup"), delete_checkpoint=False)])
    _save(out, "files", printed=printed.getvalue())


def case_refused(out):
    """Data that rank 1 alone refuses: every rank raises before training, none waits."""
    x, y = shard(rank(), size())
    if rank() == 1:
        x = x.copy()
        x[0, 0, 0] = np.nan
    with DataParallel(sharded=True).scope():
        model = compiled(build(seed=10))
    try:
        model.fit(x, y, batch_size=6, epochs=1, verbose=0)
        message = ""
    except ValueError as error:
        message = str(error)
    _save(out, "refused", message=message)


def weights_for(count, seed=4):
    return np.random.default_rng(seed).uniform(0.1, 2.0, size=count).astype(np.float32)


def fit_weighted(model, x, y):
    """Sample weights in the loss and in weighted_metrics, weighted validation arrays, both shuffles."""
    rnnkit.set_random_seed(6)
    xv, yv = data(count=9, seed=7)
    first = model.fit(x, y, sample_weight=weights_for(len(x)), batch_size=GLOBAL_BATCH, epochs=2, verbose=0,
                      validation_data=(xv, yv, weights_for(len(xv), seed=8)))
    second = model.fit(x, y, sample_weight=weights_for(len(x), seed=5), batch_size=GLOBAL_BATCH, epochs=1, verbose=0,
                       shuffle="batch")
    return first, second


def compiled_weighted(model):
    model.compile(optimizer=optimizers.Adam(0.01), loss="mse", metrics=["mae"], weighted_metrics=["mae"])
    return model


def case_weighted(out):
    x, y = data()
    with DataParallel().scope():
        model = compiled_weighted(build(seed=10 + rank()))
    first, second = fit_weighted(model, x, y)
    _save(out, "weighted", model.get_weights(), history=_history(first), history_second=_history(second))


def case_streams(out):
    """A stream under DataParallel: refused on every rank with a named error, before any batch is read."""
    x, y = data()
    with DataParallel().scope():
        model = compiled(build(seed=10))
    read = []

    def batches():
        read.append(1)
        yield x[:7], y[:7]

    messages = {}
    for name, arguments in (("x", {"x": batches()}),
                            ("validation_data", {"x": x, "y": y, "validation_data": batches()}),
                            ("steps_per_epoch", {"x": x, "y": y, "steps_per_epoch": 2})):
        try:
            model.fit(batch_size=GLOBAL_BATCH, epochs=1, verbose=0, **arguments)
            messages[name] = ""
        except ValueError as error:
            messages[name] = f"{type(error).__name__}: {error}"
    _save(out, "streams", messages=messages, read=len(read), iterations=int(model.optimizer.iterations))


class _FailAt(callbacks.Callback):
    """On rank 1, at the start of epoch ``epoch`` (0-based): raise, or kill the process."""

    def __init__(self, epoch, how):
        super().__init__()
        self.epoch, self.how = epoch, how

    def on_epoch_begin(self, epoch, logs=None):
        if rank() == 1 and epoch == self.epoch:
            if self.how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError(f"injected failure on rank 1 at epoch {epoch}")


class _Epochs(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)


def plateau():
    """Halves the learning rate at the end of epoch 2 (0-based) from the counters of epochs 0 and 1: a
    resumed rank that did not get rank 0's restored counters would not, and its weights would differ."""
    return callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, min_delta=10.0)


def fit_resumable(model, x, y, folder, extra=()):
    """The fit of the crash/resume cases: 4 epochs, checkpoint and backup every epoch, no shuffling."""
    epochs = _Epochs()
    history = model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=4, verbose=0, shuffle=False, callbacks=[
        plateau(), callbacks.ModelCheckpoint(os.path.join(folder, "last.weights"), save_weights_only=True),
        callbacks.BackupAndRestore(os.path.join(folder, "backup"), delete_checkpoint=False), epochs, *extra])
    return history, epochs.seen


def _resumable(out, how):
    x, y = data()
    with DataParallel().scope():
        model = compiled(build(seed=10 + rank()))
    extra = [_FailAt(2, how)] if how else []
    history, seen = fit_resumable(model, x, y, os.path.join(out, "run"), extra)
    _save(out, f"resume-{how or 'rerun'}", model.get_weights(), seen=seen, history=_history(history))


def case_crash(out):
    _resumable(out, "raise")


def case_kill(out):
    _resumable(out, "kill")


def case_rerun(out):
    _resumable(out, None)


if __name__ == "__main__":
    target = sys.argv[1]
    for name in sys.argv[2:]:
        globals()[f"case_{name}"](target)
