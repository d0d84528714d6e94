"""Hyperparameter sweeps: grid or random search of training runs spread over the ranks of an MPI job.

::

    # sweep.py — run with: mpiexec -n 5 python -m rnnkit.distributed.run sweep.py
    from rnnkit.distributed import sweep

    def train(params):                       # module level: the workers find it by name
        model = build(units=params["units"])
        model.compile(optimizer=Adam(params["learning_rate"]), loss="mse")
        history = model.fit(x, y, epochs=10, verbose=0, validation_split=0.2)
        return {"val_loss": min(history.history["val_loss"])}

    space = {"units": [16, 32, 64], "learning_rate": sweep.log_uniform(1e-4, 1e-2)}
    results = sweep.run(train, sweep.random_search(space, trials=12, seed=0))
    if sweep.is_chief():
        sweep.write_csv(results, "sweep.csv")
        print(sweep.best(results, "val_loss"))

The trials are shared out with ``mpi4py.futures.MPICommExecutor``: rank 0 hands out one trial at
a time to whichever worker rank is free (ranks 1..size-1) and collects the results, which
:func:`run` then gives to every rank. Each trial is an ordinary one-process ``fit``. In a process
started without an MPI launcher the trials run one after another here (mpi4py not needed).

A trial that raises does not stop the sweep: its row holds ``error`` (the exception, one line)
and no result.
"""
import csv
import itertools
import math
import numbers
import time
import traceback

import numpy as np

from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError
from .strategy import _trial_depth
from .world import is_chief, launched_size

__all__ = ["best", "choice", "grid", "int_uniform", "is_chief", "log_uniform", "random_search", "run", "uniform",
           "write_csv"]


class Distribution:
    """A range a random search draws one value from per trial."""

    def __init__(self, kind, low, high):
        for name, value in (("low", low), ("high", high)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise RnnkitValueError(f"{kind}: {name} must be a finite number, got {describe(value)}")
        if not low < high:
            raise RnnkitValueError(f"{kind}: low must be below high, got low={low!r}, high={high!r}")
        if kind == "log_uniform" and low <= 0:
            raise RnnkitValueError(f"log_uniform: low must be positive, got {low!r}")
        self.kind, self.low, self.high = kind, low, high

    def draw(self, rng):
        if self.kind == "uniform":
            return float(rng.uniform(self.low, self.high))
        if self.kind == "log_uniform":
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return int(rng.integers(int(self.low), int(self.high) + 1))

    def __repr__(self):
        return f"{self.kind}({self.low!r}, {self.high!r})"


def uniform(low, high):
    """Uniform on [low, high)."""
    return Distribution("uniform", low, high)


def log_uniform(low, high):
    """Log-uniform on [low, high) (learning rates, weight decays): every decade equally likely."""
    return Distribution("log_uniform", low, high)


def int_uniform(low, high):
    """A uniform integer in [low, high], both ends included."""
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in (low, high)):
        raise RnnkitValueError(f"int_uniform needs integer ends, got low={low!r}, high={high!r}")
    return Distribution("int_uniform", low, high)


class choice(list):
    """One of the listed values, equally likely (a plain list in a space means the same)."""


def _check_space(space):
    if not isinstance(space, dict) or not space or not all(isinstance(k, str) for k in space):
        raise RnnkitTypeError(f"space must be a non-empty dict of parameter name -> values, got {describe(space)}")
    for name, values in space.items():
        if isinstance(values, (list, tuple)) and not values:
            raise RnnkitValueError(f"space[{name!r}] must list at least one value, got {describe(values)}")


def grid(space):
    """Every combination of the listed values, as a list of dicts (the last name varies fastest).

    ``space``: name -> list of values; a value that is not a list is fixed for every trial."""
    _check_space(space)
    names = list(space)
    axes = []
    for name in names:
        values = space[name]
        if isinstance(values, Distribution):
            raise RnnkitValueError(f"grid: space[{name!r}] is a distribution ({values!r}); a grid needs a list of "
                                   f"values (use random_search for ranges)")
        axes.append(list(values) if isinstance(values, (list, tuple)) else [values])
    return [dict(zip(names, combination)) for combination in itertools.product(*axes)]


def random_search(space, trials, seed=None):
    """``trials`` random draws from ``space`` (lists: one value each, equally likely; ranges from
    :func:`uniform`, :func:`log_uniform`, :func:`int_uniform`; anything else fixed). Same seed, same trials."""
    _check_space(space)
    if isinstance(trials, bool) or not isinstance(trials, numbers.Integral) or trials < 1:
        raise RnnkitValueError(f"trials must be a positive integer, got {describe(trials)}")
    rng = np.random.default_rng(seed)
    drawn = []
    for _ in range(int(trials)):
        params = {}
        for name, values in space.items():
            if isinstance(values, Distribution):
                params[name] = values.draw(rng)
            elif isinstance(values, (list, tuple)):
                params[name] = values[int(rng.integers(len(values)))]
            else:
                params[name] = values
        drawn.append(params)
    return drawn


def _trial(function, index, params):
    """Run one trial; never raises (an error is recorded in the row)."""
    from .world import launched_rank

    start = time.perf_counter()
    row = {"trial": index, "params": dict(params), "result": None, "error": None, "rank": launched_rank()}
    _trial_depth[0] += 1  # a DataParallel made by the trial covers this process only
    try:
        result = function(dict(params))
        row["result"] = result
    except Exception as error:  # noqa: BLE001 - one failed trial must not end the sweep
        row["error"] = " ".join(f"{type(error).__name__}: {error}".split())
        row["traceback"] = traceback.format_exc()
    finally:
        _trial_depth[0] -= 1
    row["seconds"] = time.perf_counter() - start
    return row


def run(function, trials, comm=None):
    """Run ``function(params)`` for every dict in ``trials``, spread over the ranks; returns the rows.

    Args:
        function: a module-level function (it is found by name on the worker ranks) taking a dict
            of parameters and returning anything picklable, usually a dict of numbers.
        trials: a list of parameter dicts (from :func:`grid` or :func:`random_search`).
        comm: an mpi4py communicator (default ``MPI.COMM_WORLD`` when the process was started by an
            MPI launcher with several ranks; otherwise the trials run here, one after another).

    Returns:
        On every rank, the list of rows in ``trials`` order: ``{"trial", "params", "result", "error",
        "rank" (the rank that ran it), "seconds"}``. Every rank must call this (it is collective).
    """
    if not callable(function):
        raise RnnkitTypeError(f"function must be callable, got {describe(function)}")
    if not isinstance(trials, (list, tuple)) or not all(isinstance(t, dict) for t in trials):
        raise RnnkitTypeError(f"trials must be a list of parameter dicts, got {describe(trials)}")
    if comm is None and launched_size() == 1:
        return [_trial(function, index, params) for index, params in enumerate(trials)]
    from .world import mpi

    mpi("rnnkit.distributed.sweep")
    from mpi4py.futures import MPICommExecutor

    comm = comm if comm is not None else mpi().COMM_WORLD
    if comm.Get_size() == 1:
        return [_trial(function, index, params) for index, params in enumerate(trials)]
    rows = None
    with MPICommExecutor(comm, root=0) as executor:
        if executor is not None:  # rank 0 hands out the trials; the other ranks run them until it is done
            futures = [executor.submit(_trial, function, index, params) for index, params in enumerate(trials)]
            rows = [future.result() for future in futures]
    return comm.bcast(rows, root=0)


def best(rows, key, mode="min"):
    """The row whose ``result[key]`` is lowest (``mode="min"``) or highest (``"max"``); failed trials
    and results without ``key`` are skipped; None when no row qualifies."""
    if mode not in ("min", "max"):
        raise RnnkitValueError(f"mode must be 'min' or 'max', got {describe(mode)}")
    scored = [row for row in rows if isinstance(row.get("result"), dict) and isinstance(row["result"].get(key),
                                                                                          numbers.Real)
              and math.isfinite(row["result"][key])]
    if not scored:
        return None
    pick = min if mode == "min" else max
    return pick(scored, key=lambda row: row["result"][key])


def write_csv(rows, path):
    """One line per trial: trial, each parameter, each result number, error, rank, seconds."""
    from ..io import atomic_write_text
    import io

    params = list(dict.fromkeys(name for row in rows for name in row["params"]))
    results = list(dict.fromkeys(name for row in rows if isinstance(row.get("result"), dict)
                                 for name in row["result"]))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["trial", *params, *results, "error", "rank", "seconds"])
    for row in rows:
        result = row["result"] if isinstance(row.get("result"), dict) else {}
        writer.writerow([row["trial"], *(row["params"].get(p, "") for p in params),
                         *(result.get(r, "") for r in results), row["error"] or "", row["rank"],
                         f"{row['seconds']:.3f}"])
    atomic_write_text(path, text.getvalue())
    return path
