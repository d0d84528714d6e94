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
    g = ctx.g
    dtype, shape = _input_spec(model)
    values, masks = [g.add_input("inputs", dtype, shape)], [None]
    for layer in model.layers:
        values, masks = ctx.convert(layer, values, masks)
    return values


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
    problems = [p for layer in model.layers for p in _problems(layer)]
    if problems:
        raise OnnxExportError(f"model {model.name!r} has layers that cannot be exported to ONNX: "
                              + "; ".join(problems))
    from ... import __version__

    g = GraphBuilder(opset)
    ctx = _Context(g, mask_handling)
    for index, value in enumerate(_sequential_graph(ctx, model)):
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

    The graph has one input ``inputs`` (float, or int64 ids when the first layer is an Embedding)
    whose batch and time axes are dynamic, and outputs ``output_0``, ``output_1``, ...

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
