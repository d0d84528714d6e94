"""``DataParallel``: Keras's strategy form of synchronous data-parallel training over MPI ranks.

::

    strategy = rnnkit.distributed.DataParallel()
    with strategy.scope():
        model = rnnkit.Sequential([...])
        model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, batch_size=256, epochs=10)      # 256 = the GLOBAL batch, split over the ranks

Run it with ``mpiexec -n 4 python -m rnnkit.distributed.run train.py``. With one rank (plain
``python train.py``) nothing changes: fit runs the single-process code path.

Every rank runs the same script on the same arrays (or, with ``sharded=True``, on its own part of
them). A step of fit: each rank computes the loss and gradients of its slice of the global batch;
one flat buffer holding every gradient (times the slice's sample count), the loss, the per-output
losses, the sample count and the metric updates is summed over the ranks (one ``MPI_Allreduce``);
dividing by the summed count gives every rank the mean gradient of the whole global batch, so
every rank takes the same optimizer step. See docs/distributed.md for the data, metrics, callback
and failure rules.
"""
import contextlib
import sys

from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError
from . import world


class ReplicaStreamError(RnnkitValueError):
    """fit under DataParallel with several ranks was given a stream of batches (a generator, a dataset)
    instead of arrays."""


_scopes = []
_trial_depth = [0]  # > 0 while a sweep trial runs: a DataParallel made inside it covers this process only


def current_strategy():
    """The strategy whose ``scope()`` is open (the innermost), or None. Imports nothing."""
    return _scopes[-1] if _scopes else None


def _abort_on_uncaught(previous):
    def hook(kind, value, trace):
        previous(kind, value, trace)
        print(f"rnnkit.distributed: uncaught {kind.__name__} on rank {world.rank()} of {world.size()}; "
              f"aborting the job", file=sys.stderr, flush=True)
        world.abort(1)

    hook.rnnkit_aborts = True
    return hook


class DataParallel:
    """Synchronous data parallelism over the processes of an MPI job (one model replica per rank).

    Args:
        sharded: False (default): every rank passes the same full arrays to fit; each global batch
            is cut into per-rank slices, so training equals a one-process run with the same global
            batch (to float32 rounding). True: each rank passes its own part of the data (for data
            that does not fit one machine); the global batch is still ``batch_size``, split over the
            ranks, and every rank runs the same number of steps (the smallest any rank can fill;
            samples beyond that are dropped with a warning).
        comm: an mpi4py communicator (default ``MPI.COMM_WORLD``).

    Inside a trial of :func:`rnnkit.distributed.sweep.run` (which runs each trial on one rank), the
    default communicator is this process alone, so a training function written for data-parallel
    runs can serve as a sweep trial unchanged.

    Creating one imports mpi4py (``pip install "rnnkit[mpi]"``, or ``"rnnkit[mpich]"`` for an MPI
    too). With more than one rank it also makes an uncaught exception on any rank abort the whole
    job (``MPI_Abort``), so no rank waits forever for a dead peer.
    """

    def __init__(self, sharded=False, comm=None):
        if not isinstance(sharded, bool):
            raise RnnkitTypeError(f"sharded must be True or False, got {describe(sharded)}")
        mpi = world.mpi("rnnkit.distributed.DataParallel")
        if comm is not None and not isinstance(comm, mpi.Comm):
            raise RnnkitTypeError(f"comm must be an mpi4py communicator, got {describe(comm)}")
        self.sharded = sharded
        if comm is None:
            comm = mpi.COMM_SELF if _trial_depth[0] else mpi.COMM_WORLD
        self.comm = comm
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        if self.size > 1 and not getattr(sys.excepthook, "rnnkit_aborts", False):
            sys.excepthook = _abort_on_uncaught(sys.excepthook)

    @property
    def num_replicas_in_sync(self):
        """How many replicas train together (Keras's name): the number of ranks."""
        return self.size

    @contextlib.contextmanager
    def scope(self):
        """Models compiled inside train data-parallel under this strategy."""
        _scopes.append(self)
        try:
            yield self
        finally:
            _scopes.remove(self)

    def replicas_for(self, model):
        """The fit-time helper of ``model`` under this strategy, or None with one rank (nothing to do)."""
        if self.size == 1:
            return None
        from .replicas import Replicas

        return Replicas(self, model)

    def __repr__(self):
        return f"DataParallel(rank={self.rank}, size={self.size}, sharded={self.sharded})"
