"""PyTorch state_dicts to rnnkit layers and back, without importing torch.

PyTorch keeps, per layer ``l`` and direction (``_reverse`` for the backward one),
``weight_ih_l{l} (G·H, I)``, ``weight_hh_l{l} (G·H, H_out)``, ``bias_ih_l{l}`` and ``bias_hh_l{l}``
(G·H,), and for an LSTM with ``proj_size`` ``weight_hr_l{l} (P, H)``. rnnkit keeps Keras's layout
(DESIGN.md "Weights"): ``kernel (I, G·H)``, ``recurrent_kernel (H_out, G·H)``, one ``bias``, and
``projection_kernel (H, P)``. The conversion is exact (transposes and reorders only):

=========  ============  ===============  ==============================================================
torch      gate order    rnnkit layer     biases
=========  ============  ===============  ==============================================================
nn.RNN     h             SimpleRNN        bias = b_ih + b_hh (rnnkit -> torch: b_ih = bias, b_hh = 0)
nn.LSTM    i, f, g, o    LSTM (i,f,c,o)   same; ``proj_size`` <-> ``num_proj``
nn.GRU     r, z, n       GRU (z, r, h)    reset_after=True: bias (2, 3H) = (b_ih, b_hh), each reordered
nn.Linear  -             Dense            kernel = weight.T, bias = bias
nn.Embed.  -             Embedding        embeddings = weight
=========  ============  ===============  ==============================================================

torch's GRU is Keras's reset_after GRU: ``n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))``, with its
input and recurrent biases in the same two places as Keras's two bias rows. A multi-layer module
becomes a :class:`~rnnkit.Sequential` of layers, a bidirectional one :class:`~rnnkit.layers.Bidirectional`
layers (merge "concat", as torch concatenates the directions).

Refused with a named error (:class:`TorchConversionError`), never approximated: GRU with
reset_after=False, LSTM peepholes, coupled input-forget gates, cell or projection clipping, an LSTM or
GRU whose activations are not tanh/sigmoid, a SimpleRNN that is not tanh or relu, a lone
go_backwards layer, and a Bidirectional that does not concatenate. LSTM's TF1 ``forget_bias`` is folded
into ``b_ih`` (exact).

Values may be NumPy arrays or torch tensors (anything with ``.detach().cpu().numpy()`` or
``__array__``). :func:`to_state_dict` returns NumPy arrays: ``torch.nn.Module.load_state_dict``
refuses those ("expected torch.Tensor"), so wrap them first::

    module.load_state_dict({k: torch.from_numpy(v) for k, v in to_state_dict(layer).items()})
"""
import re

import numpy as np

from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError

RECURRENT_KINDS = ("RNN", "LSTM", "GRU")
KINDS = RECURRENT_KINDS + ("Linear", "Embedding")
_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}
_KEY = re.compile(r"(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(\d+)(_reverse)?")


class TorchConversionError(RnnkitValueError):
    """A layer, setting or state_dict that has no exact PyTorch counterpart."""


# ----------------------------------------------------------------------------- one direction of one layer

def _numpy(name, value):
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError, RuntimeError):
        raise RnnkitTypeError(f"{name} must be a tensor or array, got {describe(value)}") from None
    if not np.issubdtype(array.dtype, np.floating):
        raise RnnkitTypeError(f"{name} must hold floats, got {describe(array)}")
    return array


def _gru_rows(rows, to_keras):
    """Reorder the three gate blocks on axis 0: torch (r, z, n) <-> Keras (z, r, h) (the swap is its own inverse)."""
    first, second, third = np.split(np.asarray(rows), 3, axis=0)
    return np.concatenate([second, first, third], axis=0)


def _forget_block(cell):
    return slice(cell.units, 2 * cell.units)


def direction_from_torch(kind, tensors, cell=None):
    """Keras-layout weights of one direction of one torch recurrent layer.

    Args:
        kind: "RNN", "LSTM" or "GRU".
        tensors: dict with ``weight_ih``, ``weight_hh`` and optionally ``bias_ih``, ``bias_hh``,
            ``weight_hr`` (LSTM projection), as NumPy arrays in torch's layout.
        cell: the rnnkit cell that will receive them, or None; an LSTM cell's ``forget_bias``
            (added to the forget pre-activation by rnnkit) is then taken out of the bias.

    Returns:
        dict ``kernel``, ``recurrent_kernel``, ``bias`` (when torch had biases), ``projection_kernel``.
    """
    reorder = (lambda rows: _gru_rows(rows, True)) if kind == "GRU" else np.asarray
    out = {"kernel": reorder(tensors["weight_ih"]).T.copy(), "recurrent_kernel": reorder(tensors["weight_hh"]).T.copy()}
    if tensors.get("bias_ih") is not None:
        b_ih, b_hh = reorder(tensors["bias_ih"]), reorder(tensors["bias_hh"])
        if kind == "GRU":
            out["bias"] = np.stack([b_ih, b_hh])
        else:
            out["bias"] = b_ih + b_hh
            if cell is not None and getattr(cell, "forget_bias", 0.0):
                out["bias"][_forget_block(cell)] -= cell.forget_bias
    if tensors.get("weight_hr") is not None:
        out["projection_kernel"] = np.asarray(tensors["weight_hr"]).T.copy()
    return out


def _cell_kind(cell, where):
    """"RNN"/"LSTM"/"GRU" for a cell torch can run exactly; a named error saying why not otherwise."""
    from ..cells.gru import GRUCell
    from ..cells.lstm import LSTMCell
    from ..cells.simple_rnn import SimpleRNNCell

    def refuse(reason):
        raise TorchConversionError(f"{where} has no PyTorch equivalent: {reason}")

    if isinstance(cell, SimpleRNNCell):
        if cell.activation.name not in ("tanh", "relu"):
            refuse(f"nn.RNN's nonlinearity is 'tanh' or 'relu', the cell's activation is {cell.activation.name!r}")
        return "RNN"
    if isinstance(cell, (LSTMCell, GRUCell)):
        if (cell.activation.name, cell.recurrent_activation.name) != ("tanh", "sigmoid"):
            refuse(f"torch's {'nn.LSTM' if isinstance(cell, LSTMCell) else 'nn.GRU'} uses tanh and sigmoid, the "
                   f"cell uses activation={cell.activation.name!r}, recurrent_activation="
                   f"{cell.recurrent_activation.name!r}")
    if isinstance(cell, LSTMCell):
        for setting in ("use_peepholes", "coupled_input_forget", "cell_clip", "proj_clip"):
            if getattr(cell, setting):
                refuse(f"nn.LSTM has no {setting} (the cell has {setting}={getattr(cell, setting)!r})")
        return "LSTM"
    if isinstance(cell, GRUCell):
        if not cell.reset_after:
            refuse("nn.GRU applies the reset gate after the recurrent matmul (reset_after=True); "
                   "the cell has reset_after=False")
        return "GRU"
    refuse(f"only SimpleRNN, LSTM and GRU cells convert, got {type(cell).__name__}")


def direction_to_torch(kind, cell, with_bias):
    """torch tensors (NumPy) of one rnnkit cell: ``weight_ih``, ``weight_hh``, ``bias_ih``/``bias_hh``
    when ``with_bias`` (zeros where the cell has no bias), ``weight_hr`` with a projection."""
    params = cell.params
    reorder = (lambda rows: _gru_rows(rows, False)) if kind == "GRU" else np.asarray
    out = {"weight_ih": reorder(params["kernel"].T).copy(), "weight_hh": reorder(params["recurrent_kernel"].T).copy()}
    if with_bias:
        fused = params["kernel"].shape[1]
        if kind == "GRU":
            bias = params.get("bias", np.zeros((2, fused), cell.dtype))
            out["bias_ih"], out["bias_hh"] = reorder(bias[0]).copy(), reorder(bias[1]).copy()
        else:
            bias = params["bias"].copy() if "bias" in params else np.zeros(fused, cell.dtype)
            if getattr(cell, "forget_bias", 0.0):
                bias[_forget_block(cell)] += cell.forget_bias
            out["bias_ih"], out["bias_hh"] = bias, np.zeros_like(bias)
    if "projection_kernel" in params:
        out["weight_hr"] = params["projection_kernel"].T.copy()
    return out


# ----------------------------------------------------------------------------- rnnkit side: modules

def _directions(layer):
    """(kind, [forward cell(, backward cell)]) of a recurrent rnnkit layer, checked against torch."""
    from ..layers.bidirectional import Bidirectional
    from ..layers.rnn import RNN

    where = f"layer {layer.name!r}"
    if isinstance(layer, Bidirectional):
        if layer.merge_mode != "concat":
            raise TorchConversionError(f"{where} has no PyTorch equivalent: a bidirectional torch module concatenates "
                                       f"the directions (merge_mode='concat'), the layer has {layer.merge_mode!r}")
        if layer.forward_layer.go_backwards or not layer.backward_layer.go_backwards:
            raise TorchConversionError(f"{where} has no PyTorch equivalent: its forward layer reads backwards")
        cells = [layer.forward_layer.cell, layer.backward_layer.cell]
    elif isinstance(layer, RNN):
        if layer.go_backwards:
            raise TorchConversionError(f"{where} has no PyTorch equivalent: torch runs a sequence backwards only "
                                       "inside a bidirectional module (go_backwards=True)")
        cells = [layer.cell]
    else:
        raise TorchConversionError(f"{where} ({type(layer).__name__}) is not a recurrent layer")
    kinds = {_cell_kind(cell, where) for cell in cells}
    if len(kinds) != 1 or len({(c.units, c.output_size) for c in cells}) != 1:
        raise TorchConversionError(f"{where} has no PyTorch equivalent: its two directions differ")
    return kinds.pop(), cells


def _is_recurrent(layer):
    from ..layers.bidirectional import Bidirectional
    from ..layers.rnn import RNN

    return isinstance(layer, (RNN, Bidirectional))


def _module_kind(layers):
    """The torch module kind of a group of rnnkit layers, checking that they form one module."""
    from ..layers.dense import Dense
    from ..layers.embedding import Embedding
    from ..layers.time_distributed import TimeDistributed

    first = layers[0]
    if all(_is_recurrent(layer) for layer in layers):
        shapes = [(kind, len(cells), cells[0].units, cells[0].output_size, type(cells[0]).__name__,
                   getattr(cells[0], "activation", None) and cells[0].activation.name)
                  for kind, cells in map(_directions, layers)]
        if len(set(shapes)) != 1:
            raise TorchConversionError(
                f"layers {[l.name for l in layers]} cannot be one torch module: its layers all have the same kind, "
                f"units, directions and nonlinearity, theirs are {shapes}")
        for layer in layers[:-1]:
            if not layer.return_sequences:
                raise TorchConversionError(
                    f"layer {layer.name!r} feeds the next layer of its torch module, so it needs return_sequences=True")
        return shapes[0][0]
    if len(layers) == 1:
        inner = first.layer if isinstance(first, TimeDistributed) else first
        if isinstance(inner, Dense):
            return "Linear"
        if isinstance(inner, Embedding):
            return "Embedding"
    raise TorchConversionError(
        f"layer(s) {[l.name for l in layers]} ({', '.join(type(l).__name__ for l in layers)}) have no PyTorch "
        "counterpart here; rnnkit converts SimpleRNN/LSTM/GRU (and Bidirectional, stacks), Dense and Embedding")


def _layer_tensors(kind, layers):
    """The torch-named NumPy tensors of one module made of ``layers`` (see :func:`_module_kind`)."""
    from ..layers.time_distributed import TimeDistributed

    if kind in ("Linear", "Embedding"):
        inner = layers[0].layer if isinstance(layers[0], TimeDistributed) else layers[0]
        if kind == "Embedding":
            return {"weight": inner.embeddings.value.copy()}
        out = {"weight": inner.kernel.value.T.copy()}
        if inner.use_bias:
            out["bias"] = inner.bias.value.copy()
        return out
    stack = [_directions(layer)[1] for layer in layers]
    with_bias = any(cell.use_bias or getattr(cell, "forget_bias", 0.0) for cells in stack for cell in cells)
    out = {}
    for index, cells in enumerate(stack):
        for direction, cell in enumerate(cells):
            suffix = f"_l{index}" + ("_reverse" if direction else "")
            out.update({name + suffix: value for name, value in direction_to_torch(kind, cell, with_bias).items()})
    return out


def _groups(model, prefixes):
    """[(prefix, [layers])] for a model: its whole stack under "" when it is one torch module and no
    ``prefixes`` are given, else one group per torch module name (consecutive layers sharing a name)."""
    from ..layers.dropout import Dropout

    weighted = [layer for layer in model.layers if layer.weights]
    # Dropout between recurrent layers is what torch's own ``dropout=`` argument does inside one module.
    if prefixes is None and weighted and all(_is_recurrent(l) or isinstance(l, Dropout) for l in model.layers):
        try:
            _module_kind(weighted)
            return [("", weighted)]
        except TorchConversionError:
            pass
    prefixes = dict(prefixes or {})
    unknown = sorted(set(prefixes) - {layer.name for layer in model.layers})
    if unknown:
        raise RnnkitValueError(f"prefixes names layers {unknown} that model {model.name!r} does not have; its layers "
                               f"are {[l.name for l in model.layers]}")
    groups = []
    for layer in weighted:
        prefix = prefixes.get(layer.name, layer.name)
        if groups and groups[-1][0] == prefix:
            groups[-1][1].append(layer)
        elif any(prefix == seen for seen, _ in groups):
            raise RnnkitValueError(f"prefix {prefix!r} is given to layers that are not consecutive")
        else:
            groups.append((prefix, [layer]))
    return groups


def _named_groups(layer_or_model, prefixes):
    from ..layers.base import Layer

    if hasattr(layer_or_model, "layers"):  # a model (models are layers too, so this comes first)
        if not layer_or_model.built:
            raise RnnkitValueError(f"model {layer_or_model.name!r} is not built: call it on data or build() it first")
        return _groups(layer_or_model, prefixes)
    if not isinstance(layer_or_model, Layer):
        raise RnnkitTypeError(f"layer_or_model must be an rnnkit layer or model, got {describe(layer_or_model)}")
    if not layer_or_model.built:
        raise RnnkitValueError(f"layer {layer_or_model.name!r} is not built: call it on data or build() it first")
    return [("", [layer_or_model])]


def to_state_dict(layer_or_model, prefixes=None):
    """A dict of NumPy arrays named as PyTorch names them, for ``module.load_state_dict``.

    Args:
        layer_or_model: a built SimpleRNN/LSTM/GRU (or ``RNN`` of one such cell), Bidirectional, Dense,
            TimeDistributed(Dense) or Embedding layer, or a Sequential. A Sequential whose layers are
            all recurrent and form one torch module (same kind and size; what :func:`from_state_dict`
            returns for ``num_layers > 1``) gives that module's keys (``weight_ih_l0``, ``..._l1``);
            any other model gives ``<module>.<key>`` keys, ``<module>`` being the layer's name or
            ``prefixes[layer name]``. Layers without weights are skipped.
        prefixes: optional dict layer name -> torch module name (its attribute name in your
            ``nn.Module``); consecutive layers given the same name become one multi-layer module.

    Returns:
        dict ``key -> ndarray``. Wrap with ``torch.from_numpy`` before ``load_state_dict``
        (torch refuses NumPy arrays there). RNN/LSTM biases come out as ``b_ih = bias``, ``b_hh = 0``.

    Raises:
        TorchConversionError: a layer or setting torch cannot express (see the module docstring).

    Example:
        >>> import numpy as np
        >>> from rnnkit import layers
        >>> lstm = layers.LSTM(4, seed=0); _ = lstm(np.zeros((1, 2, 3), np.float32))
        >>> {k: v.shape for k, v in to_state_dict(lstm).items()}
        {'weight_ih_l0': (16, 3), 'weight_hh_l0': (16, 4), 'bias_ih_l0': (16,), 'bias_hh_l0': (16,)}
    """
    out = {}
    for prefix, layers in _named_groups(layer_or_model, prefixes):
        tensors = _layer_tensors(_module_kind(layers), layers)
        out.update({(f"{prefix}.{key}" if prefix else key): value for key, value in tensors.items()})
    return out


def load_state_dict(layer_or_model, state_dict, prefixes=None):
    """Load a torch state_dict into an existing rnnkit layer or model (the inverse of :func:`to_state_dict`,
    same naming and ``prefixes``). Every key and shape is checked before any weight changes.

    Raises:
        RnnkitValueError: missing or unexpected keys, or shapes that do not fit (named).
    """
    if not isinstance(state_dict, dict):
        raise RnnkitTypeError(f"state_dict must be a dict of name -> tensor, got {describe(state_dict)}")
    expected = to_state_dict(layer_or_model, prefixes)  # also checks that torch can express the model
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    if missing or unexpected:
        raise RnnkitValueError(f"state_dict does not fit: missing keys {missing or 'none'}, unexpected keys "
                               f"{unexpected or 'none'}")
    tensors = {key: _numpy(f"state_dict[{key!r}]", state_dict[key]) for key in expected}
    for key, value in tensors.items():
        if value.shape != expected[key].shape:
            raise RnnkitValueError(f"state_dict[{key!r}] must have shape {expected[key].shape}, got {describe(value)}")
    assignments = []
    for prefix, layers in _named_groups(layer_or_model, prefixes):
        kind = _module_kind(layers)
        local = {key[len(prefix) + 1:] if prefix else key: value for key, value in tensors.items()
                 if not prefix or key.startswith(prefix + ".")}
        assignments += _assignments(kind, layers, local)
    for target, value in assignments:
        target[...] = value


def _assignments(kind, layers, tensors):
    """[(weight array, new value)] for one module."""
    from ..layers.time_distributed import TimeDistributed

    if kind in ("Linear", "Embedding"):
        inner = layers[0].layer if isinstance(layers[0], TimeDistributed) else layers[0]
        if kind == "Embedding":
            return [(inner.embeddings.value, tensors["weight"])]
        pairs = [(inner.kernel.value, tensors["weight"].T)]
        return pairs + ([(inner.bias.value, tensors["bias"])] if inner.use_bias else [])
    pairs = []
    for index, layer in enumerate(layers):
        for direction, cell in enumerate(_directions(layer)[1]):
            suffix = f"_l{index}" + ("_reverse" if direction else "")
            mine = {name: tensors.get(name + suffix) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh",
                                                                    "weight_hr")}
            weights = direction_from_torch(kind, mine, cell)
            if not cell.use_bias and "bias" in weights:  # to_state_dict wrote the forget_bias alone
                if np.any(weights.pop("bias")):
                    raise RnnkitValueError(f"state_dict has nonzero biases for layer {layer.name!r}, which has "
                                           "use_bias=False; build it with use_bias=True to load them")
            pairs += [(cell.params[name], value) for name, value in weights.items()]
    return pairs


# ----------------------------------------------------------------------------- torch side: state_dicts

def _local_tensors(state_dict, prefix):
    if not isinstance(state_dict, dict):
        raise RnnkitTypeError(f"state_dict must be a dict of name -> tensor, got {describe(state_dict)}")
    if not isinstance(prefix, str):
        raise RnnkitTypeError(f"prefix must be a str, got {describe(prefix)}")
    if prefix and not prefix.endswith("."):
        prefix += "."
    found = {key[len(prefix):]: value for key, value in state_dict.items()
             if isinstance(key, str) and key.startswith(prefix)}
    if not found:
        raise RnnkitValueError(f"state_dict has no keys starting with prefix {prefix!r}; its keys start with "
                               f"{sorted({k.split('.')[0] for k in state_dict if isinstance(k, str)})[:10]}")
    return {key: _numpy(f"state_dict[{prefix + key!r}]", value) for key, value in found.items()}


def module_settings(state_dict, kind, prefix=""):
    """The torch constructor arguments a state_dict implies: for "RNN"/"LSTM"/"GRU" ``input_size``,
    ``hidden_size``, ``num_layers``, ``bidirectional``, ``bias`` and ``proj_size`` (LSTM, when nonzero);
    for "Linear" ``in_features``, ``out_features``, ``bias``; for "Embedding" ``num_embeddings``,
    ``embedding_dim``. Every tensor is checked as :func:`from_state_dict` checks it."""
    converted = from_state_dict(state_dict, kind, prefix=prefix)
    if kind == "Linear":
        return {"in_features": converted.input_features, "out_features": converted.units, "bias": converted.use_bias}
    if kind == "Embedding":
        return {"num_embeddings": converted.input_dim, "embedding_dim": converted.output_dim}
    settings, _ = _recurrent_settings(kind, _local_tensors(state_dict, prefix), None, None, None, None, None, None)
    if not settings["proj_size"] or kind != "LSTM":
        settings.pop("proj_size")
    return settings


def _check_setting(name, given, found):
    if given is not None and given != found:
        raise RnnkitValueError(f"{name}={given!r} was given but the state_dict's shapes say {found!r}")
    return found


def _recurrent_settings(kind, tensors, input_size, hidden_size, num_layers, bidirectional, proj_size, bias):
    """Read the module's settings from the key names and shapes, checking every tensor."""
    layers = {}
    for key, value in tensors.items():
        match = _KEY.fullmatch(key)
        if match is None or (match.group(1) == "weight_hr" and kind != "LSTM"):
            raise RnnkitValueError(f"state_dict key {key!r} is not a torch nn.{kind} weight (expected weight_ih_l0, "
                                   "weight_hh_l0, bias_ih_l0, bias_hh_l0" + (", weight_hr_l0" if kind == "LSTM" else "")
                                   + "; pass prefix= for a submodule)")
        name, index, reverse = match.group(1), int(match.group(2)), bool(match.group(3))
        layers.setdefault(index, {}).setdefault(reverse, {})[name] = value
    count = max(layers) + 1
    if sorted(layers) != list(range(count)):
        raise RnnkitValueError(f"state_dict has layers {sorted(layers)}; a torch module's layers are 0..{count - 1}")
    first = layers[0][False]
    gates = _GATES[kind]
    if "weight_ih" not in first or first["weight_ih"].ndim != 2 or first["weight_ih"].shape[0] % gates:
        raise RnnkitValueError(f"state_dict needs weight_ih_l0 of shape ({gates}·hidden_size, input_size) for "
                               f"nn.{kind}, got {describe(first.get('weight_ih'))}")
    settings = {
        "hidden_size": _check_setting("hidden_size", hidden_size, first["weight_ih"].shape[0] // gates),
        "input_size": _check_setting("input_size", input_size, first["weight_ih"].shape[1]),
        "num_layers": _check_setting("num_layers", num_layers, count),
        "bidirectional": _check_setting("bidirectional", bidirectional, True in layers[0]),
        "bias": _check_setting("bias", bias, "bias_ih" in first),
        "proj_size": _check_setting("proj_size", proj_size or None,
                                    first["weight_hr"].shape[0] if "weight_hr" in first else None),
    }
    _check_shapes(kind, layers, settings)
    return settings, layers


def _check_shapes(kind, layers, settings):
    units, proj = settings["hidden_size"], settings["proj_size"]
    out_units = proj or units
    directions = [False, True] if settings["bidirectional"] else [False]
    fused = _GATES[kind] * units
    for index in range(settings["num_layers"]):
        inputs = settings["input_size"] if index == 0 else out_units * len(directions)
        if sorted(layers[index]) != directions:
            raise RnnkitValueError(f"state_dict layer {index} has directions {sorted(layers[index])} "
                                   f"(True = _reverse), layer 0 has {directions}")
        for reverse in directions:
            expected = {"weight_ih": (fused, inputs), "weight_hh": (fused, out_units)}
            if settings["bias"]:
                expected.update(bias_ih=(fused,), bias_hh=(fused,))
            if proj:
                expected["weight_hr"] = (proj, units)
            found = layers[index][reverse]
            suffix = f"_l{index}" + ("_reverse" if reverse else "")
            if set(found) != set(expected):
                raise RnnkitValueError(f"state_dict layer {index}{' reverse' if reverse else ''} has "
                                       f"{sorted(k + suffix for k in found)}, expected "
                                       f"{sorted(k + suffix for k in expected)}")
            for name, shape in expected.items():
                if found[name].shape != shape:
                    raise RnnkitValueError(f"state_dict[{name + suffix!r}] must have shape {shape} for nn.{kind}("
                                           f"input_size={settings['input_size']}, hidden_size={units}"
                                           + (f", proj_size={proj}" if proj else "")
                                           + f"), got {describe(found[name])}")


def _new_recurrent_layer(kind, settings, nonlinearity, return_sequences, dtype):
    from .. import layers as L

    common = dict(use_bias=settings["bias"], return_sequences=return_sequences, dtype=dtype)
    if kind == "RNN":
        return L.SimpleRNN(settings["hidden_size"], activation=nonlinearity, **common)
    if kind == "LSTM":
        return L.LSTM(settings["hidden_size"], num_proj=settings["proj_size"], **common)
    return L.GRU(settings["hidden_size"], reset_after=True, **common)


def _recurrent_from_torch(kind, tensors, input_size, hidden_size, num_layers, bidirectional, proj_size, bias,
                          nonlinearity, return_sequences, dtype, name):
    from ..layers.bidirectional import Bidirectional
    from ..models import Sequential

    if nonlinearity not in ("tanh", "relu") or (kind != "RNN" and nonlinearity != "tanh"):
        raise RnnkitValueError(f"nonlinearity must be 'tanh' or 'relu' (nn.RNN only), got {nonlinearity!r}")
    settings, found = _recurrent_settings(kind, tensors, input_size, hidden_size, num_layers, bidirectional,
                                          proj_size, bias)
    stack, features = [], settings["input_size"]
    for index in range(settings["num_layers"]):
        last = index == settings["num_layers"] - 1
        layer = _new_recurrent_layer(kind, settings, nonlinearity, return_sequences or not last, dtype)
        if settings["bidirectional"]:
            layer = Bidirectional(layer)
        layer.build((None, None, features))
        targets = [layer.forward_layer, layer.backward_layer] if settings["bidirectional"] else [layer]
        for reverse, target in enumerate(targets):
            weights = direction_from_torch(kind, found[index][bool(reverse)], target.cell)
            target.cell.set_weights([weights[n] for n in target.cell.weight_names])
        features = target.cell.output_size * len(targets)
        stack.append(layer)
    if len(stack) == 1:
        if name is not None:
            _rename(stack[0], name)
        return stack[0]
    model = Sequential(stack, name=name)
    model.build((None, None, settings["input_size"]))
    return model


def _rename(layer, name):
    old = layer.name
    layer.name = name
    for variable in layer.weights:
        if variable.name.startswith(old + "/"):
            variable.name = name + variable.name[len(old):]


def _simple_from_torch(kind, tensors, dtype, name):
    from .. import layers as L

    weight = tensors.get("weight")
    allowed = {"weight", "bias"} if kind == "Linear" else {"weight"}
    if weight is None or weight.ndim != 2 or not set(tensors) <= allowed:
        raise RnnkitValueError(f"an nn.{kind} state_dict holds {sorted(allowed)} with a 2-D weight, got "
                               f"{ {k: v.shape for k, v in tensors.items()} }")
    if kind == "Embedding":
        layer = L.Embedding(weight.shape[0], weight.shape[1], dtype=dtype, name=name)
        layer.build((None, None))
        layer.set_weights([weight])
        return layer
    bias = tensors.get("bias")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise RnnkitValueError(f"nn.Linear bias must have shape {(weight.shape[0],)}, got {describe(bias)}")
    layer = L.Dense(weight.shape[0], use_bias=bias is not None, dtype=dtype, name=name)
    layer.build((None, weight.shape[1]))
    layer.set_weights([weight.T] + ([bias] if bias is not None else []))
    return layer


def from_state_dict(state_dict, kind, input_size=None, *, prefix="", hidden_size=None, num_layers=None,
                    bidirectional=None, proj_size=None, bias=None, nonlinearity="tanh", batch_first=None,
                    return_sequences=True, dtype="float32", name=None):
    """The rnnkit equivalent of a torch module, built from its state_dict (torch is not imported).

    Args:
        state_dict: dict of name -> tensor or array (``module.state_dict()``, or ``torch.load(...,
            weights_only=True)``); only keys starting with ``prefix`` are read.
        kind: "RNN", "LSTM", "GRU", "Linear" or "Embedding"; or a list of specs ``(kind, prefix)`` /
            ``(kind, prefix, {keyword arguments})`` for a whole model, which returns a Sequential of
            the converted layers in that order (stacks flattened into it).
        input_size, hidden_size, num_layers, bidirectional, proj_size, bias: torch's settings; read
            from the key names and shapes, and checked against these when given.
        nonlinearity: "tanh" (default) or "relu" for nn.RNN (not visible in the weights).
        batch_first: accepted for symmetry with torch and ignored: rnnkit layers always take
            batch-major (B, T, I) inputs; with torch's default batch_first=False, transpose yours.
        return_sequences: for recurrent kinds, whether the (last) layer returns the whole sequence, as
            torch's ``output`` does (True, the default), or its final state (False): torch's ``h_n`` of
            the top layer, both directions concatenated. (That is not torch's ``output[:, -1]`` when
            bidirectional: there the backward half has seen only the last step.)
        dtype: "float32" (default) or "float64".
        name: name of the returned layer or model.

    Returns:
        nn.RNN/LSTM/GRU: a SimpleRNN/LSTM/GRU layer, a Bidirectional layer when bidirectional, or a
        built Sequential of them when num_layers > 1. nn.Linear: Dense (no activation). nn.Embedding:
        Embedding. Built, with the converted weights.

    Example:
        >>> import numpy as np
        >>> sd = {"weight_ih_l0": np.zeros((12, 5)), "weight_hh_l0": np.zeros((12, 3)),
        ...       "bias_ih_l0": np.zeros(12), "bias_hh_l0": np.zeros(12)}
        >>> layer = from_state_dict(sd, "LSTM")   # 12 rows: 4 gates of 3 units, on 5 input features
        >>> type(layer).__name__, layer.units, layer.return_sequences
        ('LSTM', 3, True)
    """
    if batch_first is not None and not isinstance(batch_first, bool):
        raise RnnkitTypeError(f"batch_first must be True, False or None, got {describe(batch_first)}")
    if isinstance(kind, (list, tuple)):
        return _model_from_torch(state_dict, kind, dtype, name)
    if kind not in KINDS:
        raise RnnkitValueError(f"kind must be one of {list(KINDS)} (or a list of (kind, prefix) specs), got {kind!r}")
    tensors = _local_tensors(state_dict, prefix)
    if kind in RECURRENT_KINDS:
        return _recurrent_from_torch(kind, tensors, input_size, hidden_size, num_layers, bidirectional, proj_size,
                                     bias, nonlinearity, bool(return_sequences), dtype, name)
    return _simple_from_torch(kind, tensors, dtype, name)


def _model_from_torch(state_dict, specs, dtype, name):
    from ..models import Sequential

    layers, input_shape = [], None
    for index, spec in enumerate(specs):
        if not isinstance(spec, (list, tuple)) or len(spec) not in (2, 3) or (len(spec) == 3
                                                                              and not isinstance(spec[2], dict)):
            raise RnnkitValueError(
                f"kind[{index}] must be (kind, prefix) or (kind, prefix, kwargs), got {describe(spec)}")
        options = dict(spec[2]) if len(spec) == 3 else {}
        options.setdefault("dtype", dtype)
        converted = from_state_dict(state_dict, spec[0], prefix=spec[1], **options)
        if input_shape is None:
            input_shape = input_shape_of(converted)
        layers.extend(getattr(converted, "layers", [converted]))
    model = Sequential(layers, name=name)
    model.build(input_shape)
    return model


def input_shape_of(converted):
    """The build input shape of what :func:`from_state_dict` returned (a layer or a Sequential)."""
    from ..layers.dense import Dense
    from ..layers.embedding import Embedding

    first = getattr(converted, "layers", [converted])[0]
    if isinstance(first, Embedding):
        return (None, None)
    if isinstance(first, Dense):
        return (None, first.input_features)
    return (None, None, first.input_features)
