"""The ``rnnkit`` command under an MPI launcher: ``mpiexec -n 4 rnnkit charlm train ...`` trains data-parallel.

Every rank runs the same command. Models compiled by it train under one
:class:`~rnnkit.distributed.DataParallel` strategy (the global batch is ``--batch-size``); rank 0
prints and writes the run directory; the other ranks print nothing and write into a private
temporary copy of it (deleted when they exit), so the command's code needs no change. Commands
that do not train (``convert``, ``charlm sample``, ``seq2seq translate``, ``info``) run on rank 0 alone. A command failing on any
rank (an error, exit status not 0) ends the whole job with that status.

Started without a launcher, nothing here imports mpi4py and the command runs as always.
"""
import atexit
import contextlib
import os
import shutil
import sys
import tempfile

from .strategy import current_strategy
from .world import launched_size

#: commands (first words of the command line) that do not train: only rank 0 runs them
RANK_ZERO_COMMANDS = (("convert",), ("charlm", "sample"), ("seq2seq", "translate"), ("info",))


def _words(argv):
    return tuple(arg for arg in argv if not arg.startswith("-"))


def run_command(main, argv):
    """``main(argv)`` (the ``rnnkit`` entry point's body) on this rank; returns its exit status."""
    if launched_size() == 1:
        return main(argv)
    from ..errors import RnnkitError
    from .strategy import DataParallel
    from .threads import default_threads_per_rank, pin_threads

    try:
        pin_threads(default_threads_per_rank())
        strategy = DataParallel()
    except RnnkitError as error:  # mpi4py missing: every rank says so and exits; no MPI job has started
        print(f"rnnkit: error: {' '.join(str(error).split())}", file=sys.stderr, flush=True)
        return 2
    chief = strategy.rank == 0
    words = _words(argv)
    if any(words[:len(prefix)] == prefix for prefix in RANK_ZERO_COMMANDS):
        status = main(argv) if chief else 0
    else:
        with strategy.scope(), _quiet(not chief):
            status = main(argv)
    if status:
        from .world import abort

        print(f"rnnkit: rank {strategy.rank} of {strategy.size} ended with status {status}; ending the job",
              file=sys.stderr, flush=True)
        abort(int(status))
    return status


@contextlib.contextmanager
def _quiet(silent):
    if not silent:
        yield
        return
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        yield


def worker_run_dir(path, resume):
    """The run directory this process writes: ``path`` itself on rank 0 (and without a strategy); on
    the other ranks of a data-parallel command a private temporary folder, holding copies of the
    files directly in ``path`` when resuming, so they read what rank 0 reads and write nothing where
    rank 0 writes."""
    strategy = current_strategy()
    if strategy is None or strategy.rank == 0:
        return path
    private = tempfile.mkdtemp(prefix=f"rnnkit-rank{strategy.rank}-")
    atexit.register(shutil.rmtree, private, True)
    if resume and path is not None and os.path.isdir(path):
        for entry in os.scandir(path):
            if entry.is_file():
                shutil.copy2(entry.path, os.path.join(private, entry.name))
    return private
