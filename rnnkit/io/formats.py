"""Which file format a path names, decided by its extension: one small registry.

``model.save_weights`` / ``load_weights`` / ``save`` and ``rnnkit.load_model`` (and ``rnnkit
convert``) ask :func:`handler` first; a name no format claims is rnnkit's own checksummed format
(:mod:`rnnkit.io.arrays_file`), so ``.weights``, ``.ckpt`` and every other name keep working as before.

A format names the module that implements it and, per operation, a function in that module; the
module is imported only when a file of that format is touched, so optional packages (h5py, onnx)
stay optional. Operations and their signatures:

    save_weights(model, path)      load_weights(model, path)
    save_model(model, path)        load_model(path, compile=True) -> model

An operation a format does not offer is a named error saying what the format is for.
"""
import importlib
import os
from dataclasses import dataclass, field

from ..errors import RnnkitValueError

OPERATIONS = ("save_weights", "load_weights", "save_model", "load_model")


@dataclass(frozen=True)
class FileFormat:
    """One file format.

    Attributes:
        name: short name used in messages, e.g. ``"safetensors"``.
        suffixes: lower-case file name endings, e.g. ``(".safetensors",)``; the longest match wins,
            so ``.weights.h5`` can differ from ``.h5``.
        module: dotted module path holding the implementation (imported on first use).
        functions: operation name -> function name in ``module``.
        hint: what to do instead when an operation is not offered (one sentence).
    """

    name: str
    suffixes: tuple
    module: str
    functions: dict = field(default_factory=dict)
    hint: str = ""

    def function(self, operation):
        """The callable implementing ``operation``, or a named error when this format has none."""
        if operation not in self.functions:
            offered = ", ".join(self.functions) or "nothing"
            raise RnnkitValueError(
                f"{self.name} files ({'/'.join(self.suffixes)}) support {offered}, not {operation}"
                + (f"; {self.hint}" if self.hint else ""))
        return getattr(importlib.import_module(self.module), self.functions[operation])


_FORMATS = []


def register(file_format):
    """Add (or replace, by name) a :class:`FileFormat`."""
    _FORMATS[:] = [f for f in _FORMATS if f.name != file_format.name] + [file_format]
    return file_format


def format_for(path):
    """The :class:`FileFormat` whose suffix ends ``path`` (longest match, case-insensitive), or None
    for rnnkit's own format."""
    name = os.fspath(path)
    name = (os.fsdecode(name) if isinstance(name, bytes) else name).lower()
    matches = [(len(s), f) for f in _FORMATS for s in f.suffixes if name.endswith(s)]
    return max(matches, key=lambda m: m[0])[1] if matches else None


def handler(path, operation):
    """The function doing ``operation`` for ``path``'s format, or None when ``path`` is rnnkit's own format."""
    if operation not in OPERATIONS:
        raise RnnkitValueError(f"operation must be one of {OPERATIONS}, got {operation!r}")
    file_format = format_for(path)
    return None if file_format is None else file_format.function(operation)


register(FileFormat(
    "safetensors", (".safetensors",), "rnnkit.io.safetensors",
    {"save_weights": "save_model_weights", "load_weights": "load_model_weights"},
    hint="a safetensors file holds weights only: use save_weights/load_weights, and save the whole model "
         "as .keras or in rnnkit's own format"))
register(FileFormat(
    "ONNX", (".onnx",), "rnnkit.io.onnx", {},
    hint="write ONNX with model.export(path, format='onnx'); rnnkit does not read ONNX files"))
