"""The exporter: a walk over the model's nodes (layer calls) in order, one converter per layer class.

A Sequential is the chain case: one input, each layer's output (and mask) feeding the next.
Every layer is checked before anything is built, so one error lists every layer that cannot be
exported.
"""
import numpy as np

from ..._validate import choice, describe
from ...errors import RnnkitTypeError, RnnkitValueError
from ...layers.bidirectional import Bidirectional
from ...layers.embedding import Embedding
from ...layers.rnn import RNN
from ...layers.time_distributed import TimeDistributed
from ..files import atomic_write
from . import attention, merging, normalization, recurrent
from . import layers as layer_converters
from .graph import GraphBuilder, OnnxExportError

#: opsets the exporter writes (each run in ONNX Runtime by the tests)
SUPPORTED_OPSETS = tuple(range(14, 22))
DEFAULT_OPSET = 17
MASK_HANDLING = ("sequence_lens", "exact")

# layer class name -> converter; names, as rnnkit's layer registry keys classes (a subclass of a
# converted class, e.g. LSTM of RNN, takes its base's converter unless it has its own)
_CONVERTERS = {**layer_converters.CONVERTERS, **recurrent.CONVERTERS, **merging.CONVERTERS, **attention.CONVERTERS,
               **normalization.CONVERTERS}


def _converter(layer):
    for cls in type(layer).__mro__:
        if cls.__name__ in _CONVERTERS:
            return _CONVERTERS[cls.__name__]
    return None


class _Context:
    """What converters share: the graph builder, the mask policy, and per-mask derived values."""

    def __init__(self, g, mask_handling):
        self.g = g
        self.mask_handling = mask_handling
        self._derived = {}

    def convert(self, layer, inputs, masks, **call_kwargs):
        """``layer``'s converter on ``inputs``, cast to its dtype first as the layer casts them."""
        dtype = getattr(layer, "dtype", None)
        inputs = [self.g.cast(v, dtype, "cast") if dtype is not None and v.dtype.kind == "f" and v.dtype != dtype
                  else v for v in inputs]
        return _converter(layer)(self, layer, inputs, masks, **call_kwargs)

    def lengths(self, mask):
        """(B,) int32 sequence_lens: the count of unmasked steps of each sample."""
        key = ("lengths", mask.name)
        if key not in self._derived:
            g = self.g
            self._derived[key] = g.reduce_sum(g.cast(mask, np.int32, "mask_int"), [1], False, "sequence_lens")
        return self._derived[key]

    def mask_time_major(self, mask):
        """The (T, B, 1) bool form of a (B, T) mask."""
        key = ("time_major", mask.name)
        if key not in self._derived:
            g = self.g
            self._derived[key] = g.unsqueeze(g.transpose(mask, (1, 0), "mask_time_major"), [2])
        return self._derived[key]


def _problems(layer):
    """Why ``layer`` (or a layer inside it) cannot be exported, as a list of strings."""
    where = f"{layer.name!r} ({type(layer).__name__})"
    if _converter(layer) is None:
        return [f"{where}: no ONNX converter for {type(layer).__name__}"]
    try:
        if isinstance(layer, (RNN, Bidirectional)):
            recurrent.check(layer, f"layer {where}")
        layer_converters.check(layer, f"layer {where}")
    except OnnxExportError as err:
        return [str(err)]
    if isinstance(layer, TimeDistributed):
        return _problems(layer.layer)
    return []


def _input_spec(model):
    """(dtype, shape) of a Sequential's input, with dynamic batch and (for sequences) time axes."""
    first = model.layers[0]
    shape = list(model.input_shape)
    if isinstance(first, Embedding):
        dtype = np.int64
        dynamic = 2
    else:
        dtype = first.dtype
        dynamic = 2 if len(shape) >= 3 else 1
    return dtype, tuple(None if i < dynamic else d for i, d in enumerate(shape))


def _sequential_graph(ctx, model):
    """A Sequential without a graph of nodes (rnnkit before the functional engine): the chain."""
    g = ctx.g
    dtype, shape = _input_spec(model)
    values, masks = [g.add_input("inputs", dtype, shape)], [None]
    for layer in model.layers:
        values, masks = ctx.convert(layer, values, masks)
    return values


# keyword arguments of a layer call that converters take (``training`` is dropped: inference)
_CALL_KEYWORDS = ("initial_state", "return_attention_scores", "use_causal_mask")


def _graph_layers(graph):
    """Every layer called in ``graph`` (those inside nested models instead of the models)."""
    layers = []
    for node in graph.nodes:
        inner = getattr(node.layer, "_graph", None)
        layers += _graph_layers(inner) if inner is not None else [node.layer]
    return layers


def _model_layers(model):
    graph = getattr(model, "_graph", None)
    return _graph_layers(graph) if graph is not None else list(model.layers)


def _call(node, values, masks):
    """(input Values, input masks, converter keywords) of one node, from the Values computed so far."""
    from ...layers.symbolic import flatten

    kwargs = dict(node.call_kwargs)
    kwargs.pop("training", None)
    inputs = [values[id(t)] for t in flatten(node.call_inputs)]
    if "mask" in kwargs:  # masks given in the call replace the propagated ones
        given = kwargs.pop("mask")
        given = given if isinstance(given, (list, tuple)) else [given]
        in_masks = [None if m is None else values[id(m)] for m in given]
    else:
        in_masks = [masks.get(id(t)) for t in flatten(node.call_inputs)]
    unknown = sorted(set(kwargs) - set(_CALL_KEYWORDS))
    if unknown:
        raise OnnxExportError(f"layer {node.layer.name!r} is called with {unknown}, which the ONNX export does "
                              f"not take (it takes {list(_CALL_KEYWORDS)})")
    if kwargs.get("initial_state") is not None:
        kwargs["initial_state"] = [values[id(t)] for t in flatten(kwargs["initial_state"])]
    return inputs, in_masks, kwargs


def _walk(ctx, graph, values, masks):
    """Convert every node of ``graph`` in order. ``values``/``masks``: id(tensor) -> Value for the
    graph's inputs (filled in place); returns the output Values and masks."""
    for node in graph.nodes:
        inputs, in_masks, kwargs = _call(node, values, masks)
        inner = getattr(node.layer, "_graph", None)
        if inner is not None:  # a nested model: its own walk, on these Values
            outputs, out_masks = _walk(ctx, inner, {id(t): v for t, v in zip(inner.inputs, inputs)},
                                       {id(t): m for t, m in zip(inner.inputs, in_masks)})
        else:
            outputs, out_masks = ctx.convert(node.layer, inputs, in_masks, **kwargs)
        for tensor, value, mask in zip(node.outputs, outputs, out_masks):
            values[id(tensor)] = value
            masks[id(tensor)] = mask
    return [values[id(t)] for t in graph.outputs], [masks.get(id(t)) for t in graph.outputs]


def _graph_input(g, graph, tensor, name, time_name):
    """The ONNX input of one model input: int64 ids when only Embeddings read a float input; batch
    dynamic, and time too for sequences (rank >= 3, or ids)."""
    from ...layers.symbolic import flatten

    dtype = np.dtype(tensor.dtype)
    readers = [node.layer for node in graph.nodes if any(t is tensor for t in flatten(node.call_inputs))]
    if dtype.kind == "f" and readers and all(isinstance(layer, Embedding) for layer in readers):
        dtype = np.dtype(np.int64)
    sequence = len(tensor.shape) >= 3 or dtype.kind in "iu"
    shape = tuple(None if i == 0 or (i == 1 and sequence) else d for i, d in enumerate(tensor.shape))
    return g.add_input(name, dtype, shape, time_name)


def _model_outputs(ctx, model):
    """The output Values of the whole model: a walk over its nodes (a Sequential is the chain case)."""
    graph = getattr(model, "_graph", None)
    if graph is None:
        return _sequential_graph(ctx, model)
    names = list(getattr(model, "input_names", None) or [t.name for t in graph.inputs])
    single = len(graph.inputs) == 1
    values = {id(t): _graph_input(ctx.g, graph, t, name, "time" if single else f"{name}_time")
              for t, name in zip(graph.inputs, names)}
    return _walk(ctx, graph, values, {})[0]


def to_model_proto(model, opset=DEFAULT_OPSET, mask_handling="sequence_lens"):
    """The ``onnx.ModelProto`` :func:`export` writes (needs the ``onnx`` package)."""
    if isinstance(opset, bool) or opset not in SUPPORTED_OPSETS:
        raise RnnkitValueError(f"opset must be one of {list(SUPPORTED_OPSETS)}, got {describe(opset)}")
    choice("mask_handling", mask_handling, MASK_HANDLING)
    if not hasattr(model, "layers") or not hasattr(model, "built"):
        raise RnnkitTypeError(f"model must be an rnnkit model, got {describe(model)}")
    if not model.built:
        raise RnnkitValueError(f"model {model.name!r} is not built: give its first layer an input_shape or call it "
                               "on data before exporting")
    problems = [p for layer in _model_layers(model) for p in _problems(layer)]
    if problems:
        raise OnnxExportError(f"model {model.name!r} has layers that cannot be exported to ONNX: "
                              + "; ".join(problems))
    from ..._version import __version__

    g = GraphBuilder(opset)
    ctx = _Context(g, mask_handling)
    for index, value in enumerate(_model_outputs(ctx, model)):
        g.add_output(value, f"output_{index}")
    proto = g.model(model.name, __version__)
    g.onnx.checker.check_model(proto, full_check=True)
    return proto


def export(model, path, opset=DEFAULT_OPSET, *, mask_handling="sequence_lens"):
    """Write ``model`` as an ONNX file that ONNX Runtime runs with the same results (inference).

    Args:
        model: a built rnnkit model.
        path: str or os.PathLike; written atomically (see :mod:`rnnkit.io.files`).
        opset: ONNX opset, one of :data:`SUPPORTED_OPSETS` (default 17).
        mask_handling: "sequence_lens" (default): masked recurrent layers use the LSTM/GRU/RNN
            operators with ``sequence_lens`` = the count of unmasked steps, exact for trailing padding;
            "exact": masked recurrent layers run as a Scan that follows rnnkit's masking step by step,
            exact for any mask.

    The graph's inputs are the model's (named as ``model.input_names``; int64 ids where only
    Embeddings read an input) with dynamic batch and time axes; its outputs are ``output_0``,
    ``output_1``, ... Functional models export node by node, nested models and shared layers
    included; ``initial_state`` tensors feed the recurrent operators' initial states.

    Raises:
        OnnxExportError: a layer (listed) that cannot be exported.
        MissingOptionalDependencyError: the ``onnx`` package is missing (``pip install "rnnkit[onnx]"``).
    """
    proto = to_model_proto(model, opset, mask_handling)
    atomic_write(path, proto.SerializeToString())


def export_model(model, filepath, format="onnx", verbose=None, input_signature=None, **kwargs):
    """What ``model.export`` (Keras 3's name) calls: only ``format="onnx"`` exists in rnnkit.

    The default format is "onnx" (Keras's is "tf_saved_model", which rnnkit cannot write).
    ``input_signature`` must be None: the input comes from the built model, batch and time dynamic.
    Other keyword arguments (``opset``, ``mask_handling``) go to :func:`export`.
    """
    if format != "onnx":
        raise RnnkitValueError(f"format must be 'onnx' (the only export format rnnkit writes), got {format!r}")
    if input_signature is not None:
        raise RnnkitValueError("input_signature must be None: rnnkit exports the built model's input with dynamic "
                               f"batch and time axes, got {describe(input_signature)}")
    export(model, filepath, **kwargs)
    if verbose:
        print(f"Saved ONNX model at {filepath!s}")
