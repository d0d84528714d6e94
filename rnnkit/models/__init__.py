"""Models: one :class:`Model` base (graph, weights, compile/fit/evaluate/predict, summary, files).

* :class:`Model` — Keras's functional model, ``Model(inputs, outputs)`` over ``rnnkit.Input``;
* :class:`Sequential` — the model whose graph is a chain of layers;
* :func:`load_model` — a file written by ``model.save`` back to a model.

Where things are: ``graph.py`` (forward/backward through the nodes), ``model.py`` (the base),
``sequential.py``, ``training.py`` (the training loop), ``compile_utils.py`` (per-output losses and
metrics, log names), ``data_adapter.py`` (checking x and y), ``stateful.py`` and ``tbptt.py``
(their rules), ``functional_config.py`` (configs), ``loading.py``.
"""
from .loading import load_model
from .model import Model
from .sequential import Sequential
from .training import NonFiniteError

Functional = Model

__all__ = ["Model", "Functional", "Sequential", "load_model", "NonFiniteError"]
