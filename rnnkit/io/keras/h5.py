"""Guarded HDF5 access through h5py (the optional extra ``rnnkit[keras]``).

Reading never follows soft or external links, never reads an external or virtual dataset
(they point at other files), checks every dataset's declared shape and dtype against what
the model expects before reading it, and refuses a dataset whose declared size exceeds the
bytes of the file it is in. Every h5py or HDF5 failure becomes a :class:`KerasFileError`.
"""
import contextlib
import io
import math

import numpy as np

from ..._optional import require
from ...errors import RnnkitError
from .errors import KerasFileError

_FLOAT_KINDS = "f"
_MAX_ATTRIBUTE_BYTES = 64 * 2**20


def h5py_module(purpose):
    """h5py, imported now; a named error saying ``pip install "rnnkit[keras]"`` when missing."""
    return require("h5py", "keras", purpose)


@contextlib.contextmanager
def reading(source, filepath, size_limit):
    """Open ``source`` (a path or a BytesIO) for reading as :class:`H5Reader`; errors name ``filepath``."""
    h5py = h5py_module(f"reading {filepath!r}")
    try:
        handle = h5py.File(source, "r")
    except (OSError, ValueError) as error:
        raise KerasFileError(filepath, f"it is not a readable HDF5 file ({error})") from None
    try:
        yield H5Reader(h5py, handle, filepath, size_limit)
    except RnnkitError:  # already named (a config error, a bad dataset, ...)
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as error:
        # h5py raises these for corrupt structures found while reading (bad B-trees, truncated data).
        raise KerasFileError(filepath, f"its HDF5 structure is damaged ({type(error).__name__}: {error})") from None
    finally:
        handle.close()


class H5Reader:
    """Read-only view of an open HDF5 file with the checks of the module docstring."""

    def __init__(self, h5py, handle, filepath, size_limit):
        self.h5py, self.root, self.filepath, self.size_limit = h5py, handle, filepath, size_limit

    def fail(self, reason):
        raise KerasFileError(self.filepath, reason)

    def _child(self, group, name, path):
        link = group.get(name, default=None, getlink=True)
        if link is None:
            return None
        if not isinstance(link, self.h5py.HardLink):
            self.fail(f"{path!r} is a {type(link).__name__}; links to other places or files are not followed")
        return group[name]

    def group(self, path, parent=None):
        """The group at ``path`` ("a/b/c"), or None when it is absent."""
        node = self.root if parent is None else parent
        for part in [p for p in path.split("/") if p]:
            if not isinstance(node, self.h5py.Group):
                self.fail(f"{path!r} should be a group but part of it is a dataset")
            node = self._child(node, part, path)
            if node is None:
                return None
        if not isinstance(node, self.h5py.Group):
            self.fail(f"{path!r} should be a group, found a dataset")
        return node

    def dataset_names(self, group):
        return [] if group is None else list(group.keys())

    def dataset(self, group, name, shape, kinds=_FLOAT_KINDS):
        """The array ``group[name]`` ("a/b/c" walks groups) after checking that it has ``shape`` and a
        dtype kind in ``kinds``."""
        where = f"{'' if group is None else group.name}/{name}"
        folder, _, name = name.rpartition("/")
        if group is not None and folder:
            group = self.group(folder, parent=group)
        node = self._child(group, name, where) if group is not None else None
        if node is None:
            self.fail(f"dataset {where!r} is missing")
        if not isinstance(node, self.h5py.Dataset):
            self.fail(f"{where!r} should be a dataset, found a group")
        if node.external or node.is_virtual:
            self.fail(f"dataset {where!r} stores its data outside this file; such datasets are not read")
        if node.shape is None or tuple(node.shape) != tuple(shape):
            self.fail(f"dataset {where!r} has shape {node.shape}, expected {tuple(shape)}")
        if node.dtype.kind not in kinds or node.dtype.itemsize > 8 or "dtype" in node.attrs:
            self.fail(f"dataset {where!r} has dtype {node.dtype} {dict(node.attrs)}, expected "
                      f"{'a float' if kinds == _FLOAT_KINDS else 'an integer'} array")
        nbytes = math.prod(shape) * node.dtype.itemsize
        if nbytes > self.size_limit:
            self.fail(f"dataset {where!r} declares {nbytes} bytes, more than the {self.size_limit} bytes of the file")
        return np.asarray(node[()])

    def text_attribute(self, node, name, required=True):
        """A string attribute (Keras 3 writes str, Keras 2 bytes), or None when absent and not required."""
        if name not in node.attrs:
            if required:
                self.fail(f"attribute {name!r} is missing from {node.name!r}")
            return None
        value = self._attribute(node, name)
        if isinstance(value, np.ndarray) and value.shape == ():
            value = value[()]
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        if not isinstance(value, str):
            self.fail(f"attribute {name!r} of {node.name!r} should be text, got {type(value).__name__}")
        return value

    def names_attribute(self, node, name):
        """A list-of-names attribute (``layer_names``, ``weight_names``), also in Keras's chunked form."""
        if name in node.attrs:
            values = list(np.atleast_1d(self._attribute(node, name)))
        elif f"{name}0" in node.attrs:  # Keras splits attributes over 64 KiB into name0, name1, ...
            values, chunk = [], 0
            while f"{name}{chunk}" in node.attrs and chunk < 100_000:
                values += list(np.atleast_1d(self._attribute(node, f"{name}{chunk}")))
                chunk += 1
        else:
            return []
        names = [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v for v in values]
        if not all(isinstance(n, str) for n in names):
            self.fail(f"attribute {name!r} of {node.name!r} should list names")
        return names

    def _attribute(self, node, name):
        try:
            declared = node.attrs.get_id(name).get_storage_size()
        except RuntimeError:  # HDF5 reports an empty attribute's size (0) as an error
            declared = 0
        if declared > min(_MAX_ATTRIBUTE_BYTES, self.size_limit):
            self.fail(f"attribute {name!r} of {node.name!r} declares {declared} bytes, too large")
        return node.attrs[name]


def write_bytes(filepath, fill):
    """Build an HDF5 file in memory: ``fill(h5py_file)`` writes it; returns the file's bytes."""
    h5py = h5py_module(f"writing {filepath!r}")
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as handle:
        fill(handle)
    return buffer.getvalue()


def write_vars(handle, path, name, arrays):
    """Keras 3's ``<path>/vars`` group: ``name`` attribute and datasets "0", "1", ..."""
    group = handle.require_group(path) if path else handle
    vars_group = group.create_group("vars")
    vars_group.attrs["name"] = name
    for index, array in enumerate(arrays):
        vars_group.create_dataset(str(index), data=np.asarray(array))
