"""Data-parallel training and hyperparameter sweeps over MPI (mpi4py), for data or searches that
outgrow one process or one machine.

* :class:`DataParallel` — Keras's strategy form: models compiled in ``strategy.scope()`` train
  synchronously on every rank, each on its slice of every global batch;
* building blocks for custom loops: :func:`rank`, :func:`size`, :func:`is_chief`,
  :func:`allreduce_mean`, :func:`broadcast_weights`;
* ``python -m rnnkit.distributed.run script.py`` — the per-rank launcher (one BLAS thread per
  rank, the whole job aborted when any rank fails);
* :mod:`rnnkit.distributed.sweep` — grid and random searches of training runs spread over ranks
  with ``mpi4py.futures``.

mpi4py is imported on first use only: ``pip install "rnnkit[mpi]"`` (or ``"rnnkit[mpich]"`` to
get an MPI library as well). See docs/distributed.md.
"""
from .collectives import allreduce_mean, broadcast_weights
from .strategy import DataParallel, ReplicaStreamError, current_strategy
from .world import is_chief, launched_size, rank, size

__all__ = ["DataParallel", "ReplicaStreamError", "allreduce_mean", "broadcast_weights", "current_strategy", "is_chief",
           "launched_size", "rank", "size"]
