"""Named-array files: rnnkit's weight and checkpoint format (no pickle, nothing executed).

Layout (all integers little-endian; see docs/file_format.md)::

    offset 0   magic        8 bytes  b"\\x89RNNKIT\\n"
           8   version      uint32   1
          12   flags        uint32   0 (reserved)
          16   header_len   uint64   bytes of the JSON header, padding included
          24   data_len     uint64   bytes of the data section
          32   header       UTF-8 JSON, right-padded with spaces so the data starts on a 64-byte boundary
               data         each array's raw little-endian C-order bytes at its 64-aligned offset, zero padded
               digest       32 bytes: SHA-256 of everything before it

The header is ``{"arrays": [{"name", "dtype", "shape", "offset", "nbytes"}, ...],
"metadata": {...}}`` with the arrays in saved order.

Loading checks, in this order, before allocating any array: the magic (a
foreign file is named as what it looks like: pickle, ZIP/.npz, .npy, HDF5,
text), the version, that ``32 + header_len + data_len + 32`` equals the file
size, that the header is JSON of the expected shape, that every dtype is an
allowed one and that every shape, size and offset fits the data section. So no
array can be bigger than the file. Then the data is read and the SHA-256 is
compared, so a flipped byte anywhere is reported.
"""
import errno
import hashlib
import json
import math
import numbers
import os
import stat
import struct
from collections.abc import Mapping

import numpy as np

from .._validate import describe
from ..errors import RnnkitMemoryError, RnnkitTypeError, RnnkitValueError
from ..memory_limits import check_bytes
from ..variables import Variable
from .files import atomic_writer

MAGIC = b"\x89RNNKIT\n"
VERSION = 1
ALIGN = 64
DIGEST_SIZE = 32
# Bounds on what a header may declare, so parsing a forged one costs little time and memory:
# a model with thousands of weights, its optimizer slots and its config fit well inside them.
MAX_HEADER_BYTES = 16 * 2**20
MAX_ARRAYS = 65_536
MAX_NAME_CHARS = 1024
_CHUNK = 2**20
_PREAMBLE = struct.Struct("<8sIIQQ")
_MAX_NDIM = 64
_MAX_BYTES = np.iinfo(np.intp).max

# name in the header -> little-endian NumPy dtype
DTYPES = {
    "float16": np.dtype("<f2"), "float32": np.dtype("<f4"), "float64": np.dtype("<f8"),
    "int8": np.dtype("i1"), "int16": np.dtype("<i2"), "int32": np.dtype("<i4"), "int64": np.dtype("<i8"),
    "uint8": np.dtype("u1"), "bool": np.dtype("?"),
}


class RnnkitFileError(RnnkitValueError):
    """A file is missing pieces, corrupt, not an rnnkit file, or does not fit what reads it.

    ``RnnkitFileError(path, reason)`` gives the message ``cannot load '<path>': <reason>``;
    ``RnnkitFileError(message)`` (one argument) is used as is, for callers that word it themselves.

    Attributes:
        path: the file's name as given (None for the one-argument form).
        reason: what is wrong with it.
    """

    def __init__(self, path, reason=None):
        if reason is None:
            self.path, self.reason = None, str(path)
            super().__init__(self.reason)
        else:
            self.path, self.reason = path, reason
            super().__init__(f"cannot load {path!r}: {reason}")


def _aligned(n):
    return -(-n // ALIGN) * ALIGN


# ----------------------------------------------------------------------------- saving

def _dtype_name(dtype):
    for name, allowed in DTYPES.items():
        if dtype.kind == allowed.kind and dtype.itemsize == allowed.itemsize:
            return name
    return None


def _checked_array(name, value):
    if not isinstance(name, str):
        raise RnnkitTypeError(f"array names must be str, got {describe(name)}")
    if len(name) > MAX_NAME_CHARS:
        raise RnnkitValueError(f"array names must be at most {MAX_NAME_CHARS} characters, got {describe(name)} "
                               f"({len(name)} characters)")
    label = f"arrays[{name!r}]"
    if isinstance(value, Variable):
        value = value.value
    try:
        array = np.asarray(value)
    except ValueError as err:
        raise RnnkitValueError(f"{label} must be a rectangular array, got {describe(value)} ({err})") from None
    dtype_name = _dtype_name(array.dtype)
    if dtype_name is None:
        raise RnnkitTypeError(
            f"{label} must have one of the dtypes {', '.join(DTYPES)}, got {describe(array)}"
            + ("; object arrays are never saved" if array.dtype.kind == "O" else "")
        )
    # Little-endian C order is what goes to disk; np.asarray keeps 0-d arrays 0-d.
    return dtype_name, np.asarray(array, dtype=DTYPES[dtype_name], order="C")


def _json_value(where, value):
    """``value`` as plain JSON types (NumPy scalars unwrapped), or an error naming ``where``."""
    if isinstance(value, np.generic) and not isinstance(value, (np.void, np.object_)):
        value = value.item()
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise RnnkitTypeError(f"{where} keys must be str, got {describe(key)}")
            out[key] = _json_value(f"{where}[{key!r}]", item)
        return out
    if isinstance(value, (list, tuple)):
        return [_json_value(f"{where}[{i}]", item) for i, item in enumerate(value)]
    raise RnnkitTypeError(f"{where} must hold only dicts, lists, str, numbers, bools and None, got {describe(value)}")


def save_arrays(path, arrays, metadata=None):
    """Write named arrays and JSON metadata to ``path`` atomically (see :mod:`rnnkit.io.files`).

    Args:
        path: str or os.PathLike; any name, missing folders are created.
        arrays: mapping ``name (str) -> array``; the order is kept. Each array
            (any shape, including 0-d and empty) must be float16/32/64,
            int8/16/32/64, uint8 or bool. Non-native byte order is fine.
        metadata: dict with str keys holding JSON values (tuples come back as
            lists; NaN and infinities are kept), or None for ``{}``.
    """
    if not isinstance(arrays, Mapping):
        raise RnnkitTypeError(f"arrays must be a dict of name -> array, got {describe(arrays)}")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, Mapping):
        raise RnnkitTypeError(f"metadata must be a dict, got {describe(metadata)}")
    try:
        metadata = _json_value("metadata", metadata)
    except RecursionError:
        raise RnnkitValueError("metadata is nested too deeply or contains itself") from None

    if len(arrays) > MAX_ARRAYS:
        raise RnnkitValueError(f"arrays must hold at most {MAX_ARRAYS} arrays, got {len(arrays)}")
    entries, payload, offset = [], [], 0
    for name, value in arrays.items():
        dtype_name, array = _checked_array(name, value)
        offset = _aligned(offset)
        entries.append({"name": name, "dtype": dtype_name, "shape": list(array.shape),
                        "offset": offset, "nbytes": array.nbytes})
        payload.append((offset, array))
        offset += array.nbytes
    data_len = _aligned(offset)

    header = json.dumps({"arrays": entries, "metadata": metadata}, ensure_ascii=False).encode("utf-8")
    header_len = _aligned(_PREAMBLE.size + len(header)) - _PREAMBLE.size
    if header_len > MAX_HEADER_BYTES:
        raise RnnkitValueError(
            f"metadata and array names need a {len(header)}-byte header, more than the {MAX_HEADER_BYTES} allowed"
        )
    header += b" " * (header_len - len(header))

    def write(handle):
        digest = hashlib.sha256()

        def put(chunk):
            digest.update(chunk)
            handle.write(chunk)

        put(_PREAMBLE.pack(MAGIC, VERSION, 0, header_len, data_len))
        put(header)
        position = 0
        for start, array in payload:
            put(bytes(start - position))
            # reshape(-1) of a C-contiguous array is a view, so nothing is copied
            put(memoryview(array.reshape(-1).view(np.uint8)))
            position = start + array.nbytes
        put(bytes(data_len - position))
        handle.write(digest.digest())

    with atomic_writer(path) as handle:
        write(handle)


# ----------------------------------------------------------------------------- loading

def _looks_like(head):
    """A phrase naming what a non-rnnkit file seems to be, from its first bytes."""
    if not head:
        return "the file is empty"
    if MAGIC.startswith(head):
        return "the file is truncated: it ends inside the rnnkit signature"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "it is a Python pickle, which rnnkit never loads (unpickling can run arbitrary code)"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return ("it is a ZIP archive (for example a NumPy .npz, a PyTorch .pt or a Keras .keras file), "
                "not an rnnkit array file")
    if head.startswith(b"\x93NUMPY"):
        return "it is a NumPy .npy file, not an rnnkit array file"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "it is an HDF5 file (for example a Keras .h5), not an rnnkit array file"
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 2**32:
        return "it looks like a safetensors file, not an rnnkit array file"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and all(ch.isprintable() or ch in "\t\r\n" for ch in text):
        return f"it is a text file (starting {text[:24]!r}), not an rnnkit array file"
    return f"it does not start with the rnnkit signature (first bytes {head[:8].hex(' ')})"


def _no_duplicates(pairs):
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate key in {keys}")
    return dict(pairs)


def _read_exact(handle, size, fail):
    data = handle.read(size)
    if len(data) != size:
        fail(f"the file changed while being read (wanted {size} bytes, got {len(data)})")
    return data


def _is_count(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0


def _parse_json(raw, fail):
    # Counted before parsing: a forged header of a million tiny entries would cost seconds and
    # hundreds of MB to parse, and every entry has exactly one "nbytes" key.
    if raw.count(b'"nbytes"') > MAX_ARRAYS:
        fail(f"its header lists more than {MAX_ARRAYS} arrays, more than any rnnkit file holds")
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        fail(f"its header is not valid JSON, so the file is corrupt ({type(err).__name__}: {str(err)[:120]})")


def _check_entry(index, entry, names, end, data_len, fail):
    """One validated (name, dtype, shape, offset, nbytes) from header entry ``index``."""
    where = f"header entry {index}"
    if not isinstance(entry, dict) or set(entry) != {"name", "dtype", "shape", "offset", "nbytes"}:
        fail(f"{where} must be an object with keys name, dtype, shape, offset, nbytes")
    name, dtype_name, shape = entry["name"], entry["dtype"], entry["shape"]
    if not isinstance(name, str) or name in names:
        fail(f"{where} has a missing or repeated name {_short(name)}")
    if len(name) > MAX_NAME_CHARS:
        fail(f"{where} has a name of {len(name)} characters; names are at most {MAX_NAME_CHARS}")
    where = f"array {name!r}"
    if not isinstance(dtype_name, str) or dtype_name not in DTYPES:
        fail(f"{where} has dtype {_short(dtype_name)}; only {', '.join(DTYPES)} are allowed")
    dtype = DTYPES[dtype_name]
    if not isinstance(shape, list) or len(shape) > _MAX_NDIM or not all(_is_count(n) for n in shape):
        fail(f"{where} has shape {_short(shape)}; a shape is a list of at most {_MAX_NDIM} non-negative integers")
    # Python ints cannot overflow, so a huge declared shape is caught here, not by np.empty.
    # NumPy also refuses shapes like (0, 2**62): it bounds the product of the nonzero sides.
    if math.prod(n for n in shape if n) * dtype.itemsize > _MAX_BYTES:
        fail(f"{where} declares shape {shape}, larger than any array can be")
    nbytes = math.prod(shape) * dtype.itemsize
    offset = entry["offset"]
    if not _is_count(offset) or entry["nbytes"] != nbytes:
        fail(f"{where} declares offset {_short(offset)} and {_short(entry['nbytes'])} bytes, "
             f"but shape {shape} of {dtype_name} needs {nbytes}")
    if offset != _aligned(end) or offset + nbytes > data_len:
        fail(f"{where} claims bytes {offset}..{offset + nbytes} of a {data_len}-byte data section "
             f"(expected to start at {_aligned(end)})")
    return name, dtype, tuple(shape), offset, nbytes


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _parse_header(raw, data_len, fail):
    """The validated list of (name, dtype, shape, offset, nbytes) and the metadata dict."""
    header = _parse_json(raw, fail)
    if not isinstance(header, dict) or set(header) != {"arrays", "metadata"}:
        fail("its header must be a JSON object with exactly the keys 'arrays' and 'metadata'")
    if not isinstance(header["arrays"], list) or not isinstance(header["metadata"], dict):
        fail("its header's 'arrays' must be a list and 'metadata' an object")
    if len(header["arrays"]) > MAX_ARRAYS:
        fail(f"its header lists {len(header['arrays'])} arrays, more than the {MAX_ARRAYS} any rnnkit file holds")

    entries, names, end = [], set(), 0
    for index, entry in enumerate(header["arrays"]):
        entries.append(_check_entry(index, entry, names, end, data_len, fail))
        names.add(entries[-1][0])
        end = entries[-1][3] + entries[-1][4]
    if _aligned(end) != data_len:
        fail(f"its data section is {data_len} bytes but the arrays fill {_aligned(end)}")
    return entries, header["metadata"]


def _read_preamble(handle, size, fail):
    """Check the signature, version and declared sizes against the file size; returns (raw, header_len, data_len)."""
    head = handle.read(_PREAMBLE.size)
    if not head.startswith(MAGIC):
        fail(_looks_like(head))
    if len(head) < _PREAMBLE.size:
        fail(f"the file is truncated: {size} bytes, shorter than the {_PREAMBLE.size}-byte preamble")
    _, version, flags, header_len, data_len = _PREAMBLE.unpack(head)
    if version != VERSION or flags != 0:
        fail(f"it has format version {version} (flags {flags}); this rnnkit reads version {VERSION}, "
             "so the file comes from a newer rnnkit or is corrupt")
    expected = _PREAMBLE.size + header_len + data_len + DIGEST_SIZE
    if expected != size:
        problem = "truncated" if size < expected else "longer than declared"
        fail(f"the file is {problem}: its preamble declares {expected} bytes but it has {size}")
    if header_len > MAX_HEADER_BYTES or (_PREAMBLE.size + header_len) % ALIGN:
        fail(f"its preamble declares a {header_len}-byte header, which is corrupt "
             f"(at most {MAX_HEADER_BYTES}, ending on a {ALIGN}-byte boundary)")
    return head, header_len, data_len


def open_regular_file(path, fail):
    """``path`` opened for binary reading, after checking it is a regular file (a FIFO would block,
    a device never end; ``fail(reason)`` raises for those). A folder raises IsADirectoryError."""
    # O_NONBLOCK: opening a FIFO without a writer must not hang; it changes nothing for regular files.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if not stat.S_ISREG(mode):
            fail("it is not a regular file (a device, FIFO or socket), so it cannot be read as one")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _has_holes(handle, size):
    """Whether the file is sparse: parts of it were never written, so reading them costs no disk."""
    try:
        return os.lseek(handle.fileno(), 0, os.SEEK_HOLE) < size
    except (AttributeError, OSError):  # no SEEK_HOLE here: every byte counts as data
        return False
    finally:
        handle.seek(0)


def _stream_digest(handle, nbytes, digest, fail):
    """Feed the next ``nbytes`` of ``handle`` to ``digest`` a chunk at a time (memory stays one chunk)."""
    while nbytes:
        chunk = handle.read(min(nbytes, _CHUNK))
        if not chunk:
            fail("the file changed while being read")
        digest.update(chunk)
        nbytes -= len(chunk)


def _read_layout(handle, fail):
    """The checked preamble and header: (preamble bytes, raw header, data_len, entries, metadata)."""
    size = os.fstat(handle.fileno()).st_size
    head, header_len, data_len = _read_preamble(handle, size, fail)
    raw = _read_exact(handle, header_len, fail)
    entries, metadata = _parse_header(raw, data_len, fail)
    return head, raw, data_len, entries, metadata


def load_arrays(path):
    """Read a file written by :func:`save_arrays`.

    Args:
        path: str or os.PathLike.

    Returns:
        ``(arrays, metadata)``: a dict ``name -> ndarray`` (native byte order, in
        saved order) and the metadata dict.

    Raises:
        RnnkitFileError: the file is truncated, corrupt (checksum mismatch or a
            malformed header), from a newer rnnkit, not an rnnkit array file, not a
            regular file, or declares arrays larger than the memory available.
            The message names the file and what is wrong.
        FileNotFoundError, IsADirectoryError, PermissionError: as for ``open``.
    """
    path = os.fspath(path)

    def fail(reason):
        raise RnnkitFileError(path, reason)

    with open_regular_file(path, fail) as handle:
        sparse = _has_holes(handle, os.fstat(handle.fileno()).st_size)
        head, raw, data_len, entries, metadata = _read_layout(handle, fail)
        try:
            check_bytes("its arrays", sum(entry[4] for entry in entries))
        except RnnkitMemoryError as err:
            fail(str(err))
        data_start = handle.tell()
        if sparse:
            # Holes read as zeros without costing disk, so a small sparse file can declare gigabytes.
            # Its checksum is verified first, streamed, before a single array is allocated.
            digest = hashlib.sha256(head + raw)
            _stream_digest(handle, data_len, digest, fail)
            if _read_exact(handle, DIGEST_SIZE, fail) != digest.digest():
                fail("its SHA-256 checksum does not match: the file is corrupt (some bytes were changed)")
            handle.seek(data_start)

        # Sizes are proven to fit inside the file (a file without holes), so every allocation below
        # is bounded by the bytes really stored.
        digest = hashlib.sha256(head + raw)
        arrays, position = {}, 0
        for name, dtype, shape, offset, nbytes in entries:
            digest.update(_read_exact(handle, offset - position, fail))
            array = np.empty(shape, dtype=dtype)
            flat = array.reshape(-1).view(np.uint8)
            if handle.readinto(flat) != nbytes:
                fail("the file changed while being read")
            digest.update(flat)
            arrays[name] = array
            position = offset + nbytes
        digest.update(_read_exact(handle, data_len - position, fail))
        stored = _read_exact(handle, DIGEST_SIZE, fail)
    if stored != digest.digest():
        fail("its SHA-256 checksum does not match: the file is corrupt (some bytes were changed)")
    return {name: _native(array) for name, array in arrays.items()}, metadata


def _native(array):
    return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))


def read_array_info(path):
    """The names, dtypes and shapes stored in ``path`` and its metadata, without reading the data.

    Returns ``(info, metadata)`` with ``info`` a list of ``(name, dtype_name, shape)``.
    The header is validated but the checksum is not (that needs the whole file).
    """
    path = os.fspath(path)

    def fail(reason):
        raise RnnkitFileError(path, reason)

    with open_regular_file(path, fail) as handle:
        entries, metadata = _read_layout(handle, fail)[3:]
    names = {dtype: name for name, dtype in DTYPES.items()}
    return [(name, names[dtype], shape) for name, dtype, shape, _, _ in entries], metadata
