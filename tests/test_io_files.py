import json
import os
import pathlib
import pickle
import signal
import time
import tracemalloc

import numpy as np
import pytest

from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.io import arrays_file
from rnnkit.io.arrays_file import RnnkitFileError, load_arrays, read_array_info, save_arrays
from rnnkit.io.files import atomic_write, atomic_write_text, atomic_writer

from file_forgery import craft

ALL_DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"]


def sample_arrays(rng):
    arrays = {}
    for i, dtype in enumerate(ALL_DTYPES):
        shape = (2, 3, i + 1)
        if dtype == "bool":
            arrays[dtype] = rng.random(shape) < 0.5
        elif dtype.startswith("float"):
            arrays[dtype] = rng.standard_normal(shape).astype(dtype)
        else:
            info = np.iinfo(dtype)
            arrays[dtype] = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    return arrays


def assert_same(loaded, expected):
    assert list(loaded) == list(expected)
    for name, array in expected.items():
        array = np.asarray(array)
        assert loaded[name].shape == array.shape, name
        assert loaded[name].dtype == array.dtype.newbyteorder("="), name
        np.testing.assert_array_equal(loaded[name], array, err_msg=name)


# ----------------------------------------------------------------------------- atomic writes

def test_atomic_writer_creates_folders_and_keeps_any_name(tmp_path):
    target = tmp_path / "checkpoint" / "deeper" / "rnn_onehot_1pre1.ckpt"
    with atomic_writer(target) as handle:
        handle.write(b"abc")
    assert target.read_bytes() == b"abc"
    assert sorted(p.name for p in target.parent.iterdir()) == ["rnn_onehot_1pre1.ckpt"]


def test_atomic_write_bytes_callable_and_text(tmp_path):
    target = tmp_path / "f.bin"
    atomic_write(target, b"one")
    assert target.read_bytes() == b"one"
    atomic_write(str(target), lambda handle: handle.write(b"two"))
    assert target.read_bytes() == b"two"
    atomic_write_text(target, "drei – ü\n")
    assert target.read_text(encoding="utf-8") == "drei – ü\n"
    with pytest.raises(RnnkitTypeError, match="data must be bytes"):
        atomic_write(target, "a str")
    with pytest.raises(RnnkitTypeError, match="text must be a str"):
        atomic_write_text(target, b"bytes")


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "weights.bin"
    target.write_bytes(b"old")

    def broken(handle):
        handle.write(b"half of the new")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        atomic_write(target, broken)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["weights.bin"]


def test_replacing_keeps_permissions(tmp_path):
    target = tmp_path / "w"
    target.write_bytes(b"x")
    os.chmod(target, 0o640)
    atomic_write(target, b"y")
    assert target.read_bytes() == b"y"
    if os.name == "posix":
        assert os.stat(target).st_mode & 0o777 == 0o640


def test_bad_paths(tmp_path):
    with pytest.raises(RnnkitValueError, match="existing folder"):
        atomic_write(tmp_path, b"x")
    with pytest.raises(RnnkitValueError, match="non-empty"):
        atomic_write("", b"x")
    with pytest.raises(RnnkitTypeError, match="path must be"):
        atomic_write(3.5, b"x")


def test_long_unicode_file_name(tmp_path):
    target = tmp_path / ("ü" * 120 + ".ckpt")  # 242 bytes: the temp name must stay short
    save_arrays(target, {"a": np.ones(3)})
    assert_same(load_arrays(target)[0], {"a": np.ones(3)})


# ----------------------------------------------------------------------------- round trips

def test_round_trip_every_dtype_with_metadata(tmp_path):
    arrays = sample_arrays(np.random.default_rng(0))
    metadata = {"model": {"units": 4, "layers": ["SimpleRNN", "Dense"]}, "epoch": 3, "loss": 0.25,
                "best": float("inf"), "ok": True, "none": None, "ünïcode": "☃", "pair": (1, 2),
                "numpy_int": np.int64(7), "numpy_float": np.float32(0.5)}
    path = tmp_path / "all.rnnkit"
    save_arrays(path, arrays, metadata)
    loaded, meta = load_arrays(path)
    assert_same(loaded, arrays)
    assert meta == {**metadata, "pair": [1, 2], "numpy_int": 7, "numpy_float": 0.5}
    assert type(meta["numpy_int"]) is int
    info, meta2 = read_array_info(path)
    assert info == [(name, name, a.shape) for name, a in arrays.items()]
    assert meta2 == meta


def test_round_trip_edge_shapes_orders_and_names(tmp_path):
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    arrays = {
        "zz_first": np.float32(2.5),                       # 0-d
        "empty": np.zeros((0,), np.int32),
        "empty_2d": np.zeros((3, 0, 2), np.float16),
        "": np.ones(1, bool),                              # empty name is still a name
        "big_endian": np.arange(5, dtype=">i8"),
        "strided": base[:, ::2].T,                         # not contiguous
        "权重/核 ✓": np.full((2, 2), 7, np.uint8),
        "aa_last": np.linspace(0, 1, 65, dtype=np.float32),
    }
    path = tmp_path / "edge"
    save_arrays(path, arrays)
    loaded, meta = load_arrays(path)
    assert meta == {}
    assert_same(loaded, arrays)
    assert loaded["zz_first"].shape == () and loaded["big_endian"].dtype.isnative


def test_round_trip_nothing(tmp_path):
    save_arrays(tmp_path / "none", {})
    assert load_arrays(tmp_path / "none") == ({}, {})
    save_arrays(tmp_path / "meta_only", {}, {"vocab": list("abc")})
    assert load_arrays(tmp_path / "meta_only") == ({}, {"vocab": ["a", "b", "c"]})


def test_variables_are_saved_by_value(tmp_path):
    from rnnkit.variables import Variable

    save_arrays(tmp_path / "v", {"k": Variable(np.eye(2), "cell/kernel")})
    np.testing.assert_array_equal(load_arrays(tmp_path / "v")[0]["k"], np.eye(2))


@pytest.mark.parametrize("bad, match", [
    (np.array([1, "a", None], dtype=object), "object arrays are never saved"),
    (np.zeros(3, np.complex128), "complex128"),
    (np.zeros(3, np.uint16), "uint16"),
    (np.array(["a", "b"]), "<U1"),
    ([[1.0, 2.0], [3.0]], "rectangular"),
])
def test_save_refuses_bad_arrays(tmp_path, bad, match):
    with pytest.raises((RnnkitTypeError, RnnkitValueError), match=match):
        save_arrays(tmp_path / "x", {"w": bad})
    assert not (tmp_path / "x").exists()


def test_save_refuses_bad_arguments(tmp_path):
    with pytest.raises(RnnkitTypeError, match="arrays must be a dict"):
        save_arrays(tmp_path / "x", [np.ones(2)])
    with pytest.raises(RnnkitTypeError, match="array names must be str"):
        save_arrays(tmp_path / "x", {1: np.ones(2)})
    with pytest.raises(RnnkitTypeError, match=r"metadata\['cfg'\]\['f'\]"):
        save_arrays(tmp_path / "x", {}, {"cfg": {"f": print}})
    with pytest.raises(RnnkitTypeError, match="metadata keys must be str"):
        save_arrays(tmp_path / "x", {}, {3: "a"})
    looped = {}
    looped["self"] = looped
    with pytest.raises(RnnkitValueError, match="contains itself"):
        save_arrays(tmp_path / "x", {}, looped)
    assert not (tmp_path / "x").exists()


def test_arrays_are_aligned_in_the_file(tmp_path):
    save_arrays(tmp_path / "a", {"a": np.ones(3, np.int8), "b": np.ones(5)})
    raw = (tmp_path / "a").read_bytes()
    header_len = arrays_file._PREAMBLE.unpack(raw[:32])[3]
    header = json.loads(raw[32:32 + header_len])
    assert (32 + header_len) % 64 == 0
    assert [e["offset"] for e in header["arrays"]] == [0, 64]


# ----------------------------------------------------------------------------- damaged and foreign files

def small_file(tmp_path):
    path = tmp_path / "good"
    save_arrays(path, {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3), "flag": np.array([True])},
                {"epoch": 1})
    return path, path.read_bytes()


def test_every_truncation_is_reported(tmp_path):
    path, raw = small_file(tmp_path)
    cut_path = tmp_path / "cut"
    for cut in range(len(raw)):
        cut_path.write_bytes(raw[:cut])
        with pytest.raises(RnnkitFileError) as info:
            load_arrays(cut_path)
        assert str(cut_path) in str(info.value)
        assert "truncated" in info.value.reason or cut == 0, (cut, info.value.reason)


def test_every_flipped_byte_is_reported(tmp_path):
    path, raw = small_file(tmp_path)
    bad = tmp_path / "bad"
    for position in range(len(raw)):
        for mask in (0x01, 0x80):
            damaged = bytearray(raw)
            damaged[position] ^= mask
            bad.write_bytes(bytes(damaged))
            with pytest.raises(RnnkitFileError, match="cannot load"):
                load_arrays(bad)


def test_extra_bytes_are_reported(tmp_path):
    path, raw = small_file(tmp_path)
    path.write_bytes(raw + b"\0")
    with pytest.raises(RnnkitFileError, match="longer than declared"):
        load_arrays(path)


def test_huge_declared_shape_fails_before_allocating(tmp_path):
    path = tmp_path / "huge"
    entry = {"name": "w", "dtype": "float64", "shape": [100_000_000], "offset": 0, "nbytes": 800_000_000}
    craft(path, {"arrays": [entry], "metadata": {}}, data=bytes(64))
    tracemalloc.start()
    try:
        with pytest.raises(RnnkitFileError, match="claims bytes 0..800000000 of a 64-byte data section"):
            load_arrays(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, peak
    for shape in ([10**12, 10**12], [0, 2**62], [1] * 65, [-1], [2.5], "3"):
        entry = {"name": "w", "dtype": "float32", "shape": shape, "offset": 0, "nbytes": 0}
        craft(path, {"arrays": [entry], "metadata": {}})
        with pytest.raises(RnnkitFileError, match="shape"):
            load_arrays(path)


def test_huge_declared_header_or_data_length(tmp_path):
    path = tmp_path / "h"
    for header_len, data_len in ((2**62, 0), (None, 2**63), (2**40 - 32, 0)):
        craft(path, {"arrays": [], "metadata": {}}, header_len=header_len, data_len=data_len)
        with pytest.raises(RnnkitFileError, match="truncated"):
            load_arrays(path)


@pytest.mark.parametrize("header, match", [
    ({"arrays": [{"name": "w", "dtype": "object", "shape": [2], "offset": 0, "nbytes": 16}], "metadata": {}},
     "dtype 'object'"),
    ({"arrays": [{"name": "w", "dtype": "|O", "shape": [2], "offset": 0, "nbytes": 16}], "metadata": {}},
     "dtype '|O'"),
    ({"arrays": [{"name": "w", "dtype": "float32", "shape": [2], "offset": 8, "nbytes": 8}], "metadata": {}},
     "expected to start at 0"),
    ({"arrays": [{"name": "w", "dtype": "float32", "shape": [2], "offset": 0, "nbytes": 9}], "metadata": {}},
     "needs 8"),
    ({"arrays": [], "metadata": []}, "'metadata' an object"),
    ({"arrays": [], "metadata": {}, "code": "import os"}, "exactly the keys"),
    (b'{"arrays": [], "arrays": [], "metadata": {}}', "duplicate key"),
    (b'{"arrays": [], "metadata": {', "not valid JSON"),
    pytest.param(b"[" * 100_000, "not valid JSON", id="unclosed-deep-nesting"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, "not valid JSON", id="closed-deep-nesting"),
])
def test_malformed_headers(tmp_path, header, match):
    path = tmp_path / "m"
    craft(path, header, data=bytes(64) if isinstance(header, dict) and header["arrays"] else b"")
    with pytest.raises(RnnkitFileError, match=match):
        load_arrays(path)


def test_newer_version_is_reported(tmp_path):
    craft(tmp_path / "v2", {"arrays": [], "metadata": {}}, version=2)
    with pytest.raises(RnnkitFileError, match="version 2"):
        load_arrays(tmp_path / "v2")


class _Trap:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.marker),)


def test_pickle_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Trap(marker), protocol=4)
    pickle.loads(payload)  # proves the payload really would create the marker
    assert marker.exists()
    marker.unlink()
    path = tmp_path / "model.ckpt"
    path.write_bytes(payload)
    with pytest.raises(RnnkitFileError, match="Python pickle") as info:
        load_arrays(path)
    assert str(path) in str(info.value)
    with pytest.raises(RnnkitFileError, match="Python pickle"):
        read_array_info(path)
    assert not marker.exists()


def test_foreign_files_are_named(tmp_path):
    np.savez(tmp_path / "w.npz", a=np.ones(3))
    np.save(tmp_path / "w.npy", np.ones(3))
    (tmp_path / "w.txt").write_text("kernel = [1, 2, 3]\n")
    (tmp_path / "w.json").write_text('{"arrays": {"kernel": [1, 2]}}')
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "w.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    (tmp_path / "noise").write_bytes(bytes(range(250, 256)) * 20)
    header = b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    (tmp_path / "w.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + bytes(4))
    expected = {"w.npz": "ZIP archive", "w.npy": ".npy", "w.txt": "text file", "w.json": "text file", "empty": "empty",
                "w.h5": "HDF5", "noise": "first bytes fa fb", "w.safetensors": "safetensors"}
    for name, match in expected.items():
        with pytest.raises(RnnkitFileError, match=match) as info:
            load_arrays(tmp_path / name)
        assert str(tmp_path / name) in str(info.value)


def test_missing_file_is_the_usual_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_arrays(tmp_path / "nope")


def test_file_error_is_a_value_error(tmp_path):
    (tmp_path / "t").write_text("hi")
    with pytest.raises(ValueError) as info:
        load_arrays(tmp_path / "t")
    assert info.value.path == str(tmp_path / "t") and "text file" in info.value.reason
    plain = RnnkitFileError("w.ckpt holds weights for 2 layers but the model has 3")
    assert str(plain) == plain.reason and plain.path is None


# ----------------------------------------------------------------------------- killed writers

KILL_VERSIONS = {"A": {"w": np.full(200_000, 1.0, np.float32)},
                 "B": {"w": np.full(300_000, 2.0), "b": np.arange(7)}}


def _write_forever(path):
    """The child: save B, A, B, A, ... to ``path`` until killed."""
    i = 0
    while True:
        name = "BA"[i % 2]
        save_arrays(path, KILL_VERSIONS[name], {"v": name})
        i += 1


@pytest.mark.skipif(not hasattr(os, "fork") or not hasattr(signal, "SIGKILL"), reason="needs fork and SIGKILL")
def test_sigkill_at_random_moments_leaves_a_loadable_file(tmp_path):
    # fork (not a fresh interpreter) so a kill costs milliseconds, not a 0.3 s import of numpy
    path = tmp_path / "ckpt" / "model.ckpt"
    save_arrays(path, KILL_VERSIONS["A"], {"v": "A"})
    rng = np.random.default_rng(0)
    seen, start = [], time.monotonic()
    # Under load a child may not finish a single save before the kill, so the window grows until
    # kills land both between and inside writes; the goal is counted, the deadline only guards a hang.
    window = 0.03

    def leftovers():
        return [p.name for p in path.parent.iterdir() if p.name != "model.ckpt"]

    while time.monotonic() - start < 180:
        if len(seen) >= 30 and set(seen) == {"A", "B"} and leftovers():
            break
        pid = os.fork()
        if pid == 0:
            try:
                _write_forever(path)
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0.0, window))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        arrays, meta = load_arrays(path)
        assert_same(arrays, KILL_VERSIONS[meta["v"]])
        seen.append(meta["v"])
        if len(seen) % 10 == 0 and len(set(seen)) < 2:
            window *= 2
    debris = leftovers()
    assert len(seen) >= 30, len(seen)
    assert set(seen) == {"A", "B"}, seen
    # kills inside a write leave only temp files, which nothing reads; at least one kill must have hit a write
    assert debris, "no kill landed inside a write"
    assert all(name.startswith(".model.ckpt.") and name.endswith(".tmp") for name in debris), debris
