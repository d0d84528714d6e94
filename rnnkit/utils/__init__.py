"""Utilities with Keras's names: seeding and session reset."""
from ..random import set_random_seed


def clear_session():
    """Restart default layer names (``dense``, ``dense_1``, ...) from scratch, as Keras's ``clear_session``."""
    from ..layers.base import reset_name_counters

    reset_name_counters()


__all__ = ["set_random_seed", "clear_session"]
