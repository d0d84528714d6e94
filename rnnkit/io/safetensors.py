"""safetensors files, read and written without the ``safetensors`` package.

Layout (Hugging Face's format; every integer little-endian)::

    offset 0   header_len   uint64
           8   header       UTF-8 JSON, right-padded with spaces (here: so the data starts on an 8-byte boundary)
           8+header_len     data: the tensors' raw little-endian C-order bytes, back to back

The header maps each tensor name to ``{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}``
(offsets relative to the start of the data) and may hold ``"__metadata__"``, an object of str -> str.
The files this module writes load with ``safetensors.numpy.load_file`` and ``safetensors.torch.load_file``.

Reading validates everything before allocating anything: the declared header length against the
file size (and a 100 MB cap, as the reference reader), the JSON (no duplicate keys), the dtype
against a whitelist, each shape's byte count against its offsets, and that the offsets tile the data
section exactly (contiguous from 0, no overlap, no gap, ending at the file's end). So no tensor can be
bigger than the file, and nothing in a file is ever executed.

Model weights are stored under their weight paths (``lstm/kernel``, ``dense/bias``, ...), in
Keras's layout; :func:`save_model_weights` / :func:`load_model_weights` are what
``model.save_weights("x.safetensors")`` / ``load_weights`` call.
"""
import json
import math
import os
import struct
from collections.abc import Mapping

import numpy as np

from .._validate import describe, path_text
from ..errors import RnnkitMemoryError, RnnkitTypeError, RnnkitValueError
from ..memory_limits import check_bytes
from .arrays_file import MAX_ARRAYS, RnnkitFileError, open_regular_file
from .files import atomic_writer

MAX_HEADER_BYTES = 100_000_000  # the reference implementation's bound
_ALIGN = 8
_LENGTH = struct.Struct("<Q")
_WEIGHTS_FORMAT = "rnnkit.weights"

# safetensors dtype name -> little-endian NumPy dtype. BF16 has no NumPy dtype: read as its
# upper-half-of-float32 bits (see _from_bf16); rnnkit never writes it.
DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_WRITABLE = {np.dtype(dtype).str.lstrip("<>|="): name for name, dtype in DTYPES.items() if name != "BF16"}


def _dtype_name(array):
    return _WRITABLE.get(array.dtype.newbyteorder("<").str.lstrip("<>|="))


# ----------------------------------------------------------------------------- writing

def _checked_tensor(name, value):
    if not isinstance(name, str) or not name or name == "__metadata__":
        raise RnnkitValueError(
            f"tensor names must be non-empty strings other than '__metadata__', got {describe(name)}")
    array = np.asarray(value)
    dtype_name = _dtype_name(array)
    if dtype_name is None:
        raise RnnkitTypeError(
            f"tensors[{name!r}] must have one of the dtypes float16/32/64, int8/16/32/64, uint8/16/32/64 "
            f"or bool, got {describe(array)}")
    return dtype_name, np.ascontiguousarray(array, dtype=DTYPES[dtype_name])


def save_file(tensors, filename, metadata=None):
    """Write ``tensors`` to ``filename`` in the safetensors format, atomically (see :mod:`rnnkit.io.files`).

    Args:
        tensors: mapping ``name (str) -> array`` (NumPy arrays or anything ``np.asarray`` takes).
        filename: str or os.PathLike; missing folders are created.
        metadata: None or a dict of str -> str, stored as ``__metadata__``.

    Tensors are laid out widest dtype first (each then starts on a multiple of its item size,
    as the reference writer does), in the given order within a dtype width.

    Example:
        >>> import numpy as np, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
        >>> save_file({"w": np.ones((2, 3), np.float32)}, path)
        >>> load_file(path)["w"].shape
        (2, 3)
    """
    if not isinstance(tensors, Mapping):
        raise RnnkitTypeError(f"tensors must be a dict of name -> array, got {describe(tensors)}")
    if metadata is not None and (not isinstance(metadata, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        raise RnnkitTypeError(f"metadata must be None or a dict of str -> str, got {describe(metadata)}")
    checked = [(name, *_checked_tensor(name, value)) for name, value in tensors.items()]
    checked.sort(key=lambda entry: -entry[2].dtype.itemsize)  # stable: order kept within a width
    header, offset = {}, 0
    if metadata:
        header["__metadata__"] = dict(metadata)
    for name, dtype_name, array in checked:
        header[name] = {"dtype": dtype_name, "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-(len(raw) + _LENGTH.size) % _ALIGN)
    with atomic_writer(filename) as handle:
        handle.write(_LENGTH.pack(len(raw)))
        handle.write(raw)
        for _, _, array in checked:
            handle.write(memoryview(array.reshape(-1).view(np.uint8)))


# ----------------------------------------------------------------------------- reading

def _no_duplicates(pairs):
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate key among {keys[:8]}")
    return dict(pairs)


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _parse_header(raw, data_len, fail):
    """Validated ``[(name, dtype_name, shape, begin, end)]`` sorted by offset, and the metadata dict."""
    if not raw.startswith(b"{"):
        fail("its header does not start with '{', so it is not a safetensors file (or it is corrupt)")
    if raw.count(b'"data_offsets"') > MAX_ARRAYS:  # counted before parsing: a header bomb costs nothing
        fail(f"its header lists more than {MAX_ARRAYS} tensors")
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        fail(f"its header is not valid JSON ({type(err).__name__}: {str(err)[:120]})")
    if not isinstance(header, dict):
        fail("its header must be a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        fail("its __metadata__ must be an object of string values")
    entries = []
    for name, info in header.items():
        where = f"tensor {name!r}"
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            fail(f"{where} must be an object with exactly the keys dtype, shape, data_offsets")
        dtype_name, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(dtype_name, str) or dtype_name not in DTYPES:
            fail(f"{where} has dtype {dtype_name!r}; rnnkit reads {', '.join(DTYPES)}")
        if not isinstance(shape, list) or len(shape) > 64 or not all(_is_count(n) for n in shape):
            fail(f"{where} has shape {shape!r}; a shape is a list of at most 64 non-negative integers")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(n) for n in offsets)
                or offsets[0] > offsets[1]):
            fail(f"{where} has data_offsets {offsets!r}; expected [begin, end] with 0 <= begin <= end")
        # Python ints do not overflow: a huge declared shape shows up here as a size mismatch.
        nbytes = math.prod(shape) * DTYPES[dtype_name].itemsize
        if offsets[1] - offsets[0] != nbytes:
            fail(f"{where} declares shape {shape} of {dtype_name} ({nbytes} bytes) but data_offsets "
                 f"{offsets} span {offsets[1] - offsets[0]} bytes")
        entries.append((name, dtype_name, tuple(shape), offsets[0], offsets[1]))
    entries.sort(key=lambda entry: (entry[3], entry[4]))
    end = 0
    for name, _, _, begin, stop in entries:
        if begin != end:
            problem = "overlaps the previous tensor" if begin < end else "leaves a gap before it"
            fail(f"tensor {name!r} starts at data byte {begin} but the previous one ends at {end}: the "
                 f"offsets must tile the data section ({problem})")
        end = stop
    if end != data_len:
        fail(f"its tensors fill {end} bytes of data but the data section is {data_len} bytes "
             "(the file is truncated or has extra bytes)")
    return entries, metadata


def _from_bf16(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _open_checked(path, fail):
    """(handle positioned at the data, entries, metadata)."""
    handle = open_regular_file(path, fail)  # refuses FIFOs (which block) and devices before reading
    try:
        size = os.fstat(handle.fileno()).st_size
        head = handle.read(_LENGTH.size)
        if len(head) < _LENGTH.size:
            fail(f"the file is truncated: {size} bytes, shorter than the 8-byte header length")
        (header_len,) = _LENGTH.unpack(head)
        if header_len > min(MAX_HEADER_BYTES, size - _LENGTH.size):
            fail(f"it declares a {header_len}-byte header but the file has {size} bytes "
                 f"(at most {MAX_HEADER_BYTES} allowed): it is truncated or not a safetensors file")
        raw = handle.read(header_len)
        if len(raw) != header_len:
            fail("the file changed while being read")
        entries, metadata = _parse_header(raw, size - _LENGTH.size - header_len, fail)
        try:
            check_bytes("its tensors", sum(stop - begin for _, _, _, begin, stop in entries))
        except RnnkitMemoryError as err:  # a sparse file can declare more than the machine has
            fail(str(err))
        return handle, entries, metadata
    except BaseException:
        handle.close()
        raise


def _failer(path):
    def fail(reason):
        raise RnnkitFileError(path, reason)
    return fail


def load_file(filename):
    """Read every tensor of a safetensors file.

    Args:
        filename: str or os.PathLike.

    Returns:
        dict ``name -> ndarray`` (native byte order; BF16 tensors come back as float32), in file order.

    Raises:
        RnnkitFileError: truncated, malformed or hostile file (the message names it and the problem).
    """
    return read_file(filename)[0]


def read_file(filename):
    """``(tensors, metadata)``: :func:`load_file` plus the ``__metadata__`` dict (str -> str)."""
    path = path_text("filename", filename)
    fail = _failer(path)
    handle, entries, metadata = _open_checked(path, fail)
    tensors = {}
    with handle:
        for name, dtype_name, shape, begin, stop in entries:
            array = np.empty(shape, DTYPES[dtype_name])  # bounded: its bytes were proven to be in the file
            if handle.readinto(array.reshape(-1).view(np.uint8)) != stop - begin:
                fail("the file changed while being read")
            if dtype_name == "BF16":
                array = _from_bf16(array)
            elif not array.dtype.isnative:
                array = array.astype(array.dtype.newbyteorder("="))
            tensors[name] = array
    return tensors, metadata


def read_metadata(filename):
    """The ``__metadata__`` dict and ``[(name, dtype_name, shape)]`` of a file, without reading its data."""
    path = path_text("filename", filename)
    handle, entries, metadata = _open_checked(path, _failer(path))
    handle.close()
    return metadata, [(name, dtype_name, shape) for name, dtype_name, shape, _, _ in entries]


# ----------------------------------------------------------------------------- model weights

def save_model_weights(model, filepath):
    """``model.save_weights("x.safetensors")``: every weight under its path (``lstm/kernel``, ...).

    ``__metadata__`` records ``format`` ("rnnkit.weights") and the model's ``build_input_shape``
    (JSON), so :func:`load_model_weights` can build an unbuilt model first.
    """
    if not model.built:
        raise RnnkitFileError(f"cannot save weights to {os.fspath(filepath)!s}: model {model.name!r} is not built "
                              "yet; give the first layer an input_shape or call the model on data first")
    tensors = {}
    for variable in model.weights:
        if variable.name in tensors:
            raise RnnkitValueError(
                f"two weights of model {model.name!r} share the name {variable.name!r}; safetensors needs "
                "unique names (give the layers distinct names)")
        tensors[variable.name] = variable.value
    metadata = {"format": _WEIGHTS_FORMAT, "build_input_shape": json.dumps(list(model.input_shape))}
    save_file(tensors, filepath, metadata)


def load_model_weights(model, filepath):
    """Load a safetensors file into ``model`` by weight name; every name and shape is checked first.

    Files written elsewhere work too when their tensor names are the model's weight paths. A file
    rnnkit wrote for the same architecture under other layer names (``lstm_1/kernel`` for
    ``lstm/kernel``) loads by position when every shape matches in order, as rnnkit's own format does.
    Values are cast to each weight's dtype.
    """
    path = path_text("filepath", filepath)
    tensors, metadata = read_file(path)
    if not model.built and "build_input_shape" in metadata:
        try:
            shape = json.loads(metadata["build_input_shape"])
        except ValueError:
            raise RnnkitFileError(path, "its __metadata__ build_input_shape is not JSON") from None
        if (not isinstance(shape, list) or not shape or len(shape) > 64
                or not all(d is None or (_is_count(d) and d > 0) for d in shape)):
            raise RnnkitFileError(path, f"its __metadata__ build_input_shape {shape!r} is not a shape")
        from ..saving import build_for_file  # saving imports the io package: imported when used

        # built within the weights the file holds, and only if the file fits (all or nothing)
        build_for_file(model, path, shape, sum(t.size for t in tensors.values()),
                       check=lambda twin: _matched(twin, tensors, metadata, path))
    if not model.built:
        raise RnnkitFileError(path, f"model {model.name!r} is not built and the file does not say the input shape; "
                                    "build the model (or call it on data) first")
    matched = _matched(model, tensors, metadata, path)  # every check before the first assignment
    for variable in model.weights:
        variable.assign(matched[variable.name].astype(variable.dtype, copy=False))


def _matched(model, tensors, metadata, path):
    """The file's tensors keyed by ``model``'s weight names, every name, shape and dtype checked."""
    variables = {v.name: v for v in model.weights}
    missing = [name for name in variables if name not in tensors]
    unexpected = [name for name in tensors if name not in variables]
    if (missing or unexpected) and metadata.get("format") == _WEIGHTS_FORMAT and [
            t.shape for t in tensors.values()] == [v.shape for v in variables.values()]:
        # An rnnkit file for the same architecture whose layers got other default names (a model
        # built twice in one session: lstm_1 for lstm): its tensors are in weight order, as in
        # rnnkit's own format, which also loads by position.
        tensors = dict(zip(variables, tensors.values()))
        missing = unexpected = []
    if missing or unexpected:
        raise RnnkitFileError(path, f"its tensors do not match model {model.name!r}'s weights: missing "
                                    f"{missing or 'none'}, unexpected {unexpected or 'none'}")
    for name, variable in variables.items():
        if tensors[name].shape != variable.shape:
            raise RnnkitFileError(path, f"tensor {name!r} has shape {tensors[name].shape} but the model's weight "
                                        f"has shape {variable.shape}")
        if not np.issubdtype(tensors[name].dtype, np.floating):
            raise RnnkitFileError(path, f"tensor {name!r} has dtype {tensors[name].dtype}; weights are floats")
    return tensors
