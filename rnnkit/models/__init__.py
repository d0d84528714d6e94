"""Models: one :class:`Model` base (graph, weights, compile/fit/evaluate/predict, summary, files).

* :class:`Model` — Keras's functional model, ``Model(inputs, outputs)`` over ``rnnkit.Input``;
* :class:`Sequential` — the model whose graph is a chain of layers;
* :func:`load_model` — a file written by ``model.save`` back to a model.

Where things are: ``graph.py`` (forward/backward through the nodes), ``model.py`` (the base),
``sequential.py``, ``training.py`` (compile, fit, train_on_batch), ``evaluation.py`` (evaluate,
predict), ``compile_utils.py`` (per-output losses and metrics, log names), ``data_adapter.py``
(checking and casting x, y and sample weights), ``data_streams.py`` (arrays and streams of batches,
epochs), ``class_weights.py``, ``stateful.py`` and ``tbptt.py`` (their rules),
``functional_config.py`` (configs), ``loading.py``.
"""
from .loading import load_model
from .model import Model
from .sequential import Sequential
from .training import NonFiniteError

Functional = Model

__all__ = ["Model", "Functional", "Sequential", "load_model", "NonFiniteError"]
