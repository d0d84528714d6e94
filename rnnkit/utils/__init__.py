"""Utilities with Keras's names: seeding, session reset and drawing a model's graph."""
from ..random import set_random_seed
from .plot_model import GraphvizNotFoundError, model_to_dot, plot_model


def clear_session():
    """Restart default layer names (``dense``, ``dense_1``, ...) from scratch, as Keras's ``clear_session``."""
    from ..layers.base import reset_name_counters

    reset_name_counters()


__all__ = ["set_random_seed", "clear_session", "plot_model", "model_to_dot", "GraphvizNotFoundError"]
