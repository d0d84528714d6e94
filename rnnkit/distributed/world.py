"""The MPI job a process belongs to, reached through mpi4py, which is imported on first use only.

NumPy stays rnnkit's only hard dependency: nothing here imports mpi4py until a distributed
feature is used, and then a missing mpi4py raises
:class:`~rnnkit._optional.MissingOptionalDependencyError` naming the extra to install.

:func:`launched_size` reads only the environment that MPI launchers (``mpiexec`` of MPICH,
Intel MPI, Open MPI, MVAPICH; Slurm's ``srun``) give each process, so code that merely asks
"was I started as one of several ranks?" (the ``rnnkit`` command) never imports mpi4py.
"""
import os
import sys

from .._optional import require

# Variables that launchers set to the number of processes in the job, most specific first.
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_SIZE",
                   "SLURM_STEP_NUM_TASKS")
_RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID")


def _environment_int(names):
    for name in names:
        text = os.environ.get(name, "").strip()
        if text.isdigit():
            return int(text)
    return None


def launched_size():
    """How many processes the launcher started for this job (1 when not started by one).

    Read from the environment only; mpi4py is not imported."""
    return max(1, _environment_int(_SIZE_VARIABLES) or 1)


def launched_rank():
    """This process's rank as the launcher's environment tells (0 when not started by one)."""
    if launched_size() == 1:
        return 0
    return _environment_int(_RANK_VARIABLES) or 0


def mpi(purpose="distributed training"):
    """The ``mpi4py.MPI`` module (initialising MPI on first call), or a named error naming the extra."""
    module = sys.modules.get("mpi4py.MPI")
    if module is not None:
        return module
    require("mpi4py", "mpi", purpose)
    # mpi4py without an MPI library to load: the extra that brings one is "mpich"
    return require("mpi4py.MPI", "mpich", f"{purpose} (mpi4py found no MPI library)")


def world():
    """``MPI.COMM_WORLD``: every process of the job."""
    return mpi().COMM_WORLD


def rank():
    """This process's rank in the job, 0 .. size()-1 (0 in a process started without a launcher)."""
    return world().Get_rank()


def size():
    """How many processes the job has (1 in a process started without a launcher)."""
    return world().Get_size()


def is_chief():
    """True on rank 0, the process that writes files and prints; True without MPI (nothing imported then)."""
    if "mpi4py.MPI" not in sys.modules:
        return launched_rank() == 0
    return rank() == 0


def abort(code=1):
    """End every process of the job now (``MPI_Abort``): no rank is left waiting for a dead peer."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed stream must not keep the job alive
            pass
    world().Abort(code)
