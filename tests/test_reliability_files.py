"""Hostile array files (issue #11, defects 3 and 4 at the file layer): sparse files, header bombs,
forged header fields. Each is refused with a named error, quickly and without allocating what the
header claims."""
import os
import signal
import time
import tracemalloc

import numpy as np
import pytest

from rnnkit import memory_limits
from rnnkit.io import arrays_file
from rnnkit.io.arrays_file import RnnkitFileError, load_arrays, read_array_info, save_arrays

from file_forgery import craft, craft_sparse


def one_array(shape, dtype="uint8", name="w"):
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return {"arrays": [{"name": name, "dtype": dtype, "shape": list(shape), "offset": 0, "nbytes": nbytes}],
            "metadata": {}}, nbytes


def peak_of(fn):
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


# ----------------------------------------------------------------------------- defect 3: sparse files and bombs

def test_declared_size_beyond_available_memory_is_refused_before_allocating(tmp_path, monkeypatch):
    """A 4 KB sparse file whose consistent header declares 1 TiB: was numpy's bare MemoryError."""
    path = tmp_path / "tib"
    header, nbytes = one_array((2**40,))
    craft_sparse(path, header, nbytes)
    assert os.stat(path).st_blocks * 512 < 64 * 1024
    with pytest.raises(RnnkitFileError, match=r"1\.0 TiB\), more than the .* of memory available"):
        load_arrays(path)
    # the bound is whatever the machine has: with 1 MiB available, a 2 MiB array is refused too
    monkeypatch.setattr(memory_limits, "available_bytes", lambda: 2**20)
    header, nbytes = one_array((2**21,))
    craft(path, header, data=bytes(nbytes))
    with pytest.raises(RnnkitFileError, match="memory available"):
        load_arrays(path)


def test_sparse_file_with_a_wrong_checksum_is_rejected_without_reading_it_into_memory(tmp_path):
    """A sparse file of 64 MiB of holes: was read into arrays in full before the checksum failed."""
    path = tmp_path / "sparse"
    header, nbytes = one_array((64 * 2**20,))
    craft_sparse(path, header, nbytes)
    peak = peak_of(lambda: _expect(path, "checksum does not match"))
    assert peak < 4 * 2**20, peak


def test_a_header_of_too_many_arrays_is_refused_before_parsing(tmp_path):
    """700,000 zero-size arrays took 8-20 s and ~600 MB; the count is now bounded (and the header size)."""
    entry = '{"name": "a%d", "dtype": "bool", "shape": [0], "offset": 0, "nbytes": 0}'
    count = arrays_file.MAX_ARRAYS + 1
    raw = ('{"arrays": [' + ", ".join(entry % i for i in range(count)) + '], "metadata": {}}').encode()
    assert len(raw) < arrays_file.MAX_HEADER_BYTES
    path = tmp_path / "bomb"
    craft(path, raw)
    start = time.perf_counter()
    peak = peak_of(lambda: _expect(path, f"more than {arrays_file.MAX_ARRAYS} arrays"))
    assert time.perf_counter() - start < 5  # generous: the check itself takes milliseconds
    assert peak < 2 * len(raw) + 2**20, peak


def _expect(path, match, loader=load_arrays):
    with pytest.raises(RnnkitFileError, match=match):
        loader(path)


def test_header_size_and_name_length_are_bounded(tmp_path):
    path = tmp_path / "h"
    craft(path, {"arrays": [], "metadata": {}}, header_len=arrays_file.MAX_HEADER_BYTES + 64 - 32,
          data_len=0)  # sizes checked against the file first: reported as truncated
    _expect(path, "truncated")
    header, _ = one_array((0,), name="n" * (arrays_file.MAX_NAME_CHARS + 1))
    craft(path, header)
    _expect(path, f"names are at most {arrays_file.MAX_NAME_CHARS}")
    with pytest.raises(ValueError, match="at most 1024 characters"):
        save_arrays(path, {"n" * 1025: np.zeros(1)})


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_or_device_is_refused_not_read_forever(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("loading a FIFO hung"))
    signal.alarm(10)
    try:
        _expect(fifo, "not a regular file")
        _expect(fifo, "not a regular file", read_array_info)
        if os.path.exists("/dev/zero"):
            _expect("/dev/zero", "not a regular file")
    finally:
        signal.alarm(0)
    with pytest.raises(IsADirectoryError):
        load_arrays(tmp_path)


# ----------------------------------------------------------------------------- defect 4: forged header fields

@pytest.mark.parametrize("field, value", [
    ("dtype", ["float32"]), ("dtype", {"a": 1}), ("dtype", 4), ("dtype", None),
    ("name", ["w"]), ("shape", {"0": 1}), ("shape", [True]), ("offset", [0]), ("offset", 0.0),
    ("nbytes", [4]), ("nbytes", "4"),
])
def test_forged_entry_fields_give_file_errors(tmp_path, field, value):
    """A header dtype that is a list gave ``TypeError: unhashable type`` from both loaders."""
    header, _ = one_array((4,), dtype="uint8")
    header["arrays"][0][field] = value
    path = tmp_path / "forged"
    craft(path, header, data=bytes(64))
    _expect(path, "cannot load")
    _expect(path, "cannot load", read_array_info)
