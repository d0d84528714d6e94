"""Run a Python script as one rank of an MPI job: ``python -m rnnkit.distributed.run [options] script.py [args]``.

Start it under any MPI launcher, one process per rank::

    mpiexec -n 4 python -m rnnkit.distributed.run train.py --epochs 10
    srun --ntasks 64 python -m rnnkit.distributed.run train.py --epochs 10

What it adds to ``python train.py``:

* thread pinning: each rank uses one BLAS/OpenMP/rnnkit thread (``--threads N`` or
  ``RNNKIT_NUM_THREADS=N`` for more), so ranks sharing a machine do not oversubscribe its cores;
* failure handling: when the script raises on any rank (or exits with a non-zero status), the
  launcher prints the traceback with the rank and calls ``MPI_Abort``, which ends every process of
  the job with a non-zero exit status. Without it, the other ranks would wait forever inside the
  next collective for a peer that is gone. (A rank killed by a signal is handled by the MPI
  launcher itself, which then ends the others.)

``-m module`` runs a module instead of a script, as ``python -m`` does.
"""
import os
import runpy
import sys
import traceback

USAGE = "usage: python -m rnnkit.distributed.run [--threads N] (script.py | -m module) [args ...]"


class UsageError(Exception):
    pass


def parse(argv):
    """``(threads or None, kind, target, args)`` from the launcher's command line."""
    threads, index = None, 0
    while index < len(argv) and argv[index].startswith("-") and argv[index] != "-m":
        option = argv[index]
        if option in ("-h", "--help"):
            raise UsageError(__doc__)
        if option == "--threads" or option.startswith("--threads="):
            value = option.split("=", 1)[1] if "=" in option else (argv[index + 1] if index + 1 < len(argv) else "")
            index += 1 if "=" in option else 2
            if not value.isdigit() or int(value) < 1:
                raise UsageError(f"--threads must be a positive integer, got {value!r}\n{USAGE}")
            threads = int(value)
            continue
        raise UsageError(f"unknown option {option!r}\n{USAGE}")
    if index >= len(argv):
        raise UsageError(f"no script given\n{USAGE}")
    if argv[index] == "-m":
        if index + 1 >= len(argv):
            raise UsageError(f"-m needs a module name\n{USAGE}")
        return threads, "module", argv[index + 1], argv[index + 2:]
    return threads, "script", argv[index], argv[index + 1:]


def _fail(world_size, rank, code, what):
    """Report a failed rank and end the job (every rank) with ``code``."""
    from .world import abort

    print(f"rnnkit.distributed.run: rank {rank} of {world_size} {what}; aborting all {world_size} ranks",
          file=sys.stderr, flush=True)
    abort(code)


def run(kind, target, args):
    """Run the script or module as ``__main__`` with ``sys.argv = [target, *args]``; returns its exit status."""
    if kind == "script":
        sys.argv = [target, *args]
        sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
        runpy.run_path(target, run_name="__main__")
    else:
        sys.argv = [target, *args]
        sys.path.insert(0, os.getcwd())
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        threads, kind, target, args = parse(argv)
    except UsageError as error:
        print(str(error).strip(), file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    from .threads import default_threads_per_rank, pin_threads
    from .world import rank, size

    pin_threads(threads or default_threads_per_rank())
    world_size, my_rank = size(), rank()  # initialises MPI (or names the extra to install)
    try:
        return run(kind, target, args)
    except SystemExit as stop:
        code = stop.code
        if code is None or code == 0:
            return 0
        if world_size > 1:
            if not isinstance(code, int):
                print(code, file=sys.stderr)
            _fail(world_size, my_rank, code if isinstance(code, int) else 1, f"exited with status {code!r}")
        raise
    except BaseException:  # noqa: BLE001 - any failure must end the whole job, KeyboardInterrupt included
        if world_size == 1:
            raise
        traceback.print_exc()
        _fail(world_size, my_rank, 1, "raised")


if __name__ == "__main__":
    sys.exit(main())
