"""Where Keras 3 keeps each weight of a model in its HDF5 weights file.

Keras 3 (``saving_lib``) walks the model as a tree of saveable objects and gives each one
the group ``<path>/vars`` holding its own variables as datasets ``"0"``, ``"1"``, ... in
creation order, with the object's name as the group's ``name`` attribute:

* the model is the root (``vars``), its layers sit under ``layers/``, each named after its
  class in snake case, numbered from the second one of a class on (``lstm``, ``lstm_1``);
  the optimizer sits under ``optimizer/``;
* a recurrent layer keeps nothing itself: its cell is ``<layer>/cell`` (a stack of cells is
  ``<layer>/cell/cells/<cell class>[_n]``);
* ``Bidirectional`` has ``forward_layer`` and ``backward_layer``; ``TimeDistributed`` has ``layer``;
* any other layer keeps its own weights.

:func:`model_nodes` lists ``(group path, name attribute, variables)`` for every object of an
rnnkit model in that layout; reading and writing both walk this one list.
"""
from ...cells.stacked import StackedRNNCells
from ...layers.base import to_snake_case
from ...layers.rnn import RNN


def _unique(name, used):
    count = used.get(name)
    used[name] = 0 if count is None else count + 1
    return name if count is None else f"{name}_{count + 1}"


def _join(path, name):
    return f"{path}/{name}" if path else name


def _cell_nodes(cell, variables, path):
    if not isinstance(cell, StackedRNNCells):
        return [(path, to_snake_case(type(cell).__name__), list(variables))]
    nodes, used, start = [(path, to_snake_case(type(cell).__name__), [])], {}, 0
    for sub in cell.cells:
        count = len(sub.params)
        name = _unique(to_snake_case(type(sub).__name__), used)
        nodes += _cell_nodes(sub, variables[start:start + count], _join(_join(path, "cells"), name))
        start += count
    return nodes


def layer_nodes(layer, path):
    """``(path, name, variables)`` for ``layer`` placed at ``path`` and for its sub-objects."""
    kind = type(layer).__name__
    if kind == "Bidirectional":
        return [(path, layer.name, [])] + layer_nodes(layer.backward_layer, _join(path, "backward_layer")) \
            + layer_nodes(layer.forward_layer, _join(path, "forward_layer"))
    if kind == "TimeDistributed":
        return [(path, layer.name, [])] + layer_nodes(layer.layer, _join(path, "layer"))
    if isinstance(layer, RNN):
        return [(path, layer.name, [])] + _cell_nodes(layer.cell, layer.weights, _join(path, "cell"))
    return [(path, layer.name, list(layer.weights))]


def model_nodes(model, layers):
    """Every object of ``model`` (whose saved layers are ``layers``, in Keras's order) but the optimizer."""
    nodes, used = [("", model.name, [])], {}
    for layer in layers:
        nodes += layer_nodes(layer, f"layers/{_unique(to_snake_case(type(layer).__name__), used)}")
    return nodes


def vars_path(path):
    return _join(path, "vars")
