"""Conversions between model and weight files, by file name: what ``rnnkit convert IN OUT`` runs.

=====================  ==========================  =============================================
name                   reads                       writes
=====================  ==========================  =============================================
``.keras``             a Keras 3 model             the model as a Keras 3 archive
``.h5`` / ``.hdf5``    a legacy Keras model        the model as a legacy Keras file
``.weights.h5``        weights (needs --model)     Keras 3 HDF5 weights
``.safetensors``       weights (rnnkit names with  weights under rnnkit's names (torch's with
                       --model; torch names with   --torch-names)
                       --model or --torch-kind)
``.pt`` / ``.pth``     a torch state_dict (with    the model's torch state_dict (to_state_dict);
                       --model or --torch-kind;    needs torch
                       torch.load(weights_only))
``.onnx``              -                           the model as ONNX (rnnkit.io.onnx.export)
``.weights``           rnnkit weights (--model)    rnnkit's own weights file
anything else          an rnnkit model file        an rnnkit model file
=====================  ==========================  =============================================

The Keras formats come from :mod:`rnnkit.io.keras` through :mod:`rnnkit.io.formats`; a build
without them says so. ``check`` runs the model read from IN and the one read back from OUT
(ONNX Runtime for ``.onnx``) on the same random inputs and returns the largest difference.
"""
import importlib.util
import os

import numpy as np

from .._optional import require
from .._validate import describe, path_text
from ..errors import RnnkitValueError
from .arrays_file import RnnkitFileError, read_array_info

_KERAS_SUFFIXES = (".keras", ".weights.h5", ".h5", ".hdf5")


def file_kind(path):
    """The kind of file ``path`` names: "onnx", "torch", "safetensors", "keras_weights", "keras_model",
    "rnnkit_weights" or "rnnkit" (rnnkit's own format, model or weights by its header)."""
    name = path_text("path", path).lower()
    for suffixes, kind in (((".onnx",), "onnx"), ((".pt", ".pth"), "torch"), ((".safetensors",), "safetensors"),
                           ((".weights.h5",), "keras_weights"), ((".keras", ".h5", ".hdf5"), "keras_model"),
                           ((".weights",), "rnnkit_weights")):
        if name.endswith(suffixes):
            if kind.startswith("keras") and importlib.util.find_spec("rnnkit.io.keras") is None:
                raise RnnkitValueError(f"{path!s}: Keras files ({', '.join(_KERAS_SUFFIXES)}) are not supported by "
                                       "this rnnkit build (rnnkit.io.keras is missing)")
            return kind
    return "rnnkit"


def _torch_load(path):
    torch = require("torch", "torch", f"reading the PyTorch file {path!s}")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, ValueError, EOFError, OSError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise RnnkitFileError(path, f"torch.load(weights_only=True) refused it: {str(err).splitlines()[0][:200]}") \
            from None
    except Exception as err:  # the weights-only unpickler's own errors
        raise RnnkitFileError(path, f"torch.load(weights_only=True) refused it ({type(err).__name__}: "
                                    f"{str(err).splitlines()[0][:200]})") from None
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(hasattr(v, "detach") for v in loaded.values()):
        raise RnnkitFileError(path, f"it holds {describe(type(loaded).__name__)}, not a state_dict (a dict of tensors)")
    return loaded


def _rnnkit_file_format(path):
    _, metadata = read_array_info(path)
    return metadata.get("format") if isinstance(metadata, dict) else None


def _state_dict(path, kind):
    from . import safetensors

    return _torch_load(path) if kind == "torch" else safetensors.load_file(path)


def read_model(path, model_path=None, torch_kind=None, nonlinearity="tanh"):
    """The rnnkit model that IN describes.

    Args:
        path: IN.
        model_path: a model file whose architecture (and weights) IN's weights replace; needed for
            weights-only inputs unless ``torch_kind`` is given.
        torch_kind: build the model from a torch state_dict (.pt or .safetensors with torch names)
            with :func:`rnnkit.io.torch.from_state_dict` of this kind ("LSTM", ...).
        nonlinearity: for ``torch_kind="RNN"``.
    """
    from ..models import Sequential, load_model
    from . import torch as torch_io

    kind = file_kind(path)
    if kind == "onnx":
        raise RnnkitValueError(f"{path!s}: rnnkit writes ONNX files but does not read them")
    if model_path is not None and torch_kind is not None:
        raise RnnkitValueError("give either --model or --torch-kind, not both")
    if torch_kind is not None:
        if kind not in ("torch", "safetensors"):
            raise RnnkitValueError(f"--torch-kind needs a .pt/.pth or .safetensors state_dict, got {path!s}")
        converted = torch_io.from_state_dict(_state_dict(path, kind), torch_kind, nonlinearity=nonlinearity)
        if isinstance(converted, Sequential):
            return converted
        model = Sequential([converted])
        model.build(torch_io.input_shape_of(converted))
        return model
    if model_path is None:
        if kind == "rnnkit" and _rnnkit_file_format(path) == "rnnkit.model/1" or kind == "keras_model":
            return load_model(path)
        raise RnnkitValueError(f"{path!s} holds weights only: give the architecture with --model FILE (a model "
                               "file), or --torch-kind KIND for a torch state_dict")
    model = load_model(model_path)
    if kind in ("torch", "safetensors"):
        tensors = _state_dict(path, kind)
        if set(tensors) == {v.name for v in model.weights}:
            model.load_weights(path)
        else:
            torch_io.load_state_dict(model, tensors)
    else:
        model.load_weights(path)
    return model


def write_model(model, path, torch_names=False, opset=None, mask_handling="sequence_lens"):
    """Write ``model`` to ``path`` in the format its name says (see the module docstring)."""
    from . import safetensors
    from . import torch as torch_io
    from .onnx import DEFAULT_OPSET, export

    kind = file_kind(path)
    if kind == "onnx":
        export(model, path, DEFAULT_OPSET if opset is None else opset, mask_handling=mask_handling)
    elif kind == "torch":
        torch = require("torch", "torch", f"writing the PyTorch file {path!s}")
        state = {key: torch.from_numpy(np.ascontiguousarray(v)) for key, v in torch_io.to_state_dict(model).items()}
        from .files import atomic_writer

        with atomic_writer(path) as handle:
            torch.save(state, handle)
    elif kind == "safetensors" and torch_names:
        safetensors.save_file(torch_io.to_state_dict(model), path, {"format": "pytorch state_dict"})
    elif kind in ("safetensors", "keras_weights", "rnnkit_weights"):
        model.save_weights(path)
    else:
        model.save(path)


def _input_readers(model):
    """[(input shape, the layers that read it)] for each model input (the first layer for a Sequential
    without a node graph)."""
    graph = getattr(model, "_graph", None)
    if graph is None:
        return [(tuple(model.input_shape), [model.layers[0]])]
    from ..layers.symbolic import flatten

    return [(tuple(tensor.shape), [node.layer for node in graph.nodes
                                   if any(t is tensor for t in flatten(node.call_inputs))])
            for tensor in graph.inputs]


def _random_input(rng, shape, readers, batch, time):
    """Random data for one input: ids below every reading Embedding's vocabulary, else floats; with
    trailing padding (rows keep 9, 8, 6, 4 of 9 steps) when a reader masks it."""
    from ..layers.embedding import Embedding
    from ..layers.masking import Masking

    shape = [batch] + [time if d is None else d for d in shape[1:]]
    embeddings = [layer for layer in readers if isinstance(layer, Embedding)]
    maskings = [layer for layer in readers if isinstance(layer, Masking)]
    pad = None
    if embeddings:
        x = rng.integers(1, max(2, min(layer.input_dim for layer in embeddings)), shape)
        pad = 0 if any(layer.mask_zero for layer in embeddings) else None
    else:
        x = rng.standard_normal(shape).astype(readers[0].dtype if readers else np.float32)
        pad = maskings[0].mask_value if maskings else None
    if pad is not None and len(shape) >= 2:
        for row in range(batch):
            x[row, shape[1] - row * shape[1] // (batch + 1):] = pad
    return x


def _random_inputs(model, seed, batch=4, time=9):
    """One random array per model input (a list when the model has several)."""
    rng = np.random.default_rng(seed)
    arrays = [_random_input(rng, shape, readers, batch, time) for shape, readers in _input_readers(model)]
    return arrays[0] if len(arrays) == 1 else arrays


def torch_outputs(path, kind, x, nonlinearity="tanh"):
    """What the torch module of ``kind`` that IN's state_dict belongs to computes on ``x`` (its
    ``output``, batch first): the other side of ``--check`` for ``--torch-kind``."""
    from . import torch as torch_io

    torch = require("torch", "torch", f"checking {path!s} against PyTorch")
    state = _state_dict(path, file_kind(path))
    settings = torch_io.module_settings(state, kind)
    if kind in torch_io.RECURRENT_KINDS:
        settings["batch_first"] = True
        if kind == "RNN":
            settings["nonlinearity"] = nonlinearity
    module = getattr(torch.nn, kind)(**settings)
    module.load_state_dict({k: v if hasattr(v, "detach") else torch.from_numpy(np.ascontiguousarray(v))
                            for k, v in state.items()})
    with torch.no_grad():
        out = module.eval()(torch.from_numpy(np.asarray(x)))
    return [(out[0] if isinstance(out, tuple) else out).numpy()]


def largest_difference(ours, theirs, what):
    """max |ours - theirs| over lists of arrays of the same shapes (a named error when they differ)."""
    if len(ours) != len(theirs) or any(a.shape != b.shape for a, b in zip(ours, theirs)):
        raise RnnkitValueError(f"{what} gives outputs of shapes {[b.shape for b in theirs]}, the model "
                               f"{[a.shape for a in ours]}")
    return max((float(np.max(np.abs(a.astype(np.float64) - b))) if a.size else 0.0) for a, b in zip(ours, theirs))


def _outputs(values):
    return [np.asarray(v) for v in (values if isinstance(values, (list, tuple)) else [values])]


def _reread_outputs(model, path, x, torch_names):
    """The outputs of the model read back from ``path`` on ``x``."""
    from ..models import load_model
    from . import safetensors
    from . import torch as torch_io

    kind = file_kind(path)
    if kind == "onnx":
        ort = require("onnxruntime", "onnx", f"checking {path!s} (running it)")
        session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
        arrays = x if isinstance(x, list) else [x]
        return session.run(None, {i.name: a for i, a in zip(session.get_inputs(), arrays)}), "onnxruntime"
    if kind in ("keras_model", "rnnkit") and not (kind == "rnnkit" and _rnnkit_file_format(path) != "rnnkit.model/1"):
        return _outputs(load_model(path).predict(x, verbose=0)), "rnnkit"
    clone = type(model).from_config(model.get_config())
    if kind == "torch" or (kind == "safetensors" and torch_names):
        torch_io.load_state_dict(clone, _state_dict(path, kind) if kind == "torch" else safetensors.load_file(path))
    else:
        clone.load_weights(path)
    return _outputs(clone.predict(x, verbose=0)), "rnnkit"


def check(model, path, seed=0, torch_names=False, source=None):
    """Run both sides on the same random inputs: returns ``[(difference, description)]``, first the
    model against the model read back from ``path``, then (with ``source = (IN, torch kind,
    nonlinearity)``) the model against the torch module IN's state_dict belongs to."""
    x = _random_inputs(model, seed)
    ours = _outputs(model.predict(x, verbose=0))
    theirs, runner = _reread_outputs(model, path, x, torch_names)
    shapes = [a.shape for a in x] if isinstance(x, list) else x.shape
    results = [(largest_difference(ours, theirs, path), f"rnnkit vs {runner} on random inputs of shape {shapes}")]
    if source is not None:
        in_path, kind, nonlinearity = source
        reference = torch_outputs(in_path, kind, x, nonlinearity)
        results.append((largest_difference(ours, reference, in_path), f"PyTorch nn.{kind} vs rnnkit on the same"))
    return results
