"""rnnkit's own safetensors reader/writer: the format, interop with the safetensors package and torch,
model weights by name, and hostile files as named errors."""
import json
import os
import struct

import numpy as np
import pytest

import rnnkit
from rnnkit import layers
from rnnkit.io import safetensors as st
from rnnkit.io.arrays_file import RnnkitFileError


def _model(seed=0):
    rnnkit.layers.reset_name_counters()
    model = rnnkit.Sequential([layers.LSTM(4, return_sequences=True, input_shape=(None, 3), seed=seed),
                               layers.Bidirectional(layers.GRU(2, seed=seed + 1)),
                               layers.Dense(5, seed=seed + 2)])
    return model


def _tensors():
    rng = np.random.default_rng(0)
    return {"f32": rng.standard_normal((2, 3)).astype(np.float32), "f64": rng.standard_normal(4),
            "f16": rng.standard_normal(3).astype(np.float16), "i64": np.arange(5), "i8": np.arange(3, dtype=np.int8),
            "u8": np.arange(4, dtype=np.uint8), "b": np.array([True, False]), "scalar": np.float32(3.5),
            "empty": np.zeros((0, 3), np.float32), "big_endian": np.arange(3, dtype=">i4")}


def test_round_trip_every_dtype_with_metadata(tmp_path):
    path = tmp_path / "t.safetensors"
    st.save_file(_tensors(), path, metadata={"who": "rnnkit"})
    tensors, metadata = st.read_file(path)
    assert metadata == {"who": "rnnkit"}
    for name, value in _tensors().items():
        np.testing.assert_array_equal(tensors[name], value)
        assert tensors[name].dtype == np.asarray(value).dtype.newbyteorder("=")
    # header length is a multiple of 8 (data aligned) and the layout is what the spec says
    raw = path.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    assert (8 + header_len) % 8 == 0
    header = json.loads(raw[8:8 + header_len])
    assert header["f32"] == {"dtype": "F32", "shape": [2, 3], "data_offsets": header["f32"]["data_offsets"]}


def test_the_safetensors_package_reads_what_rnnkit_writes(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    path = tmp_path / "t.safetensors"
    st.save_file(_tensors(), path, metadata={"k": "v"})
    theirs = safetensors_numpy.load_file(str(path))
    for name, value in _tensors().items():
        np.testing.assert_array_equal(theirs[name], value)
    from safetensors import safe_open
    with safe_open(str(path), "np") as handle:
        assert handle.metadata() == {"k": "v"}


def test_rnnkit_reads_what_the_safetensors_package_and_torch_write(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    arrays = {k: v for k, v in _tensors().items() if k not in ("big_endian", "scalar")}
    safetensors_numpy.save_file(arrays, str(tmp_path / "np.safetensors"), metadata={"a": "b"})
    tensors, metadata = st.read_file(tmp_path / "np.safetensors")
    assert metadata == {"a": "b"}
    for name, value in arrays.items():
        np.testing.assert_array_equal(tensors[name], value)
    # bfloat16, which only torch writes: read as float32 with the same value
    value = torch.tensor([1.5, -2.25, 3.0e38, 1e-3], dtype=torch.bfloat16)
    safetensors_torch.save_file({"w": value}, str(tmp_path / "bf16.safetensors"))
    loaded = st.load_file(tmp_path / "bf16.safetensors")["w"]
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, value.float().numpy())


def test_model_weights_round_trip_by_name(tmp_path):
    model = _model(0)
    x = np.random.default_rng(1).standard_normal((2, 5, 3)).astype(np.float32)
    model.save_weights(tmp_path / "m.safetensors")
    names = list(st.load_file(tmp_path / "m.safetensors"))
    assert sorted(names) == sorted(v.name for v in model.weights)
    assert "lstm/kernel" in names and "bidirectional/forward_gru/bias" in names
    other = _model(7)
    assert not np.allclose(other.predict(x, verbose=0), model.predict(x, verbose=0))
    other.load_weights(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))


def test_an_unbuilt_model_is_built_from_the_files_metadata(tmp_path):
    model = _model(0)
    model.save_weights(tmp_path / "m.safetensors")
    rnnkit.layers.reset_name_counters()
    unbuilt = rnnkit.Sequential([layers.LSTM(4, return_sequences=True), layers.Bidirectional(layers.GRU(2)),
                                 layers.Dense(5)])
    unbuilt.load_weights(tmp_path / "m.safetensors")
    for a, b in zip(unbuilt.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_weights_that_do_not_fit_the_model_are_named(tmp_path):
    model = _model(0)
    model.save_weights(tmp_path / "m.safetensors")
    rnnkit.layers.reset_name_counters()
    wrong_size = rnnkit.Sequential([layers.LSTM(5, return_sequences=True, input_shape=(None, 3)),
                                    layers.Bidirectional(layers.GRU(2)), layers.Dense(5)])
    with pytest.raises(RnnkitFileError, match=r"tensor 'lstm/kernel' has shape \(3, 16\) but .* \(3, 20\)"):
        wrong_size.load_weights(tmp_path / "m.safetensors")
    rnnkit.layers.reset_name_counters()
    extra = rnnkit.Sequential([layers.LSTM(4, return_sequences=True, input_shape=(None, 3), name="enc"),
                               layers.Bidirectional(layers.GRU(2)), layers.Dense(5), layers.Dense(1)])
    with pytest.raises(RnnkitFileError, match=r"missing \['enc/kernel'.*'dense_1/bias'\], "
                                              r"unexpected \['lstm/kernel'"):
        extra.load_weights(tmp_path / "m.safetensors")


def test_the_same_architecture_under_other_names_loads_by_position(tmp_path):
    model = _model(0)
    model.save_weights(tmp_path / "m.safetensors")
    renamed = _model(5)
    renamed.layers[0].name = "enc"  # names differ from the file's, shapes agree in order
    for variable in renamed.layers[0].weights:
        variable.name = variable.name.replace("lstm/", "enc/")
    renamed.load_weights(tmp_path / "m.safetensors")
    for a, b in zip(renamed.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    st.save_file({f"t{i}": w for i, w in enumerate(model.get_weights())}, tmp_path / "foreign.safetensors")
    with pytest.raises(RnnkitFileError, match="missing"):  # not written by rnnkit: names only
        renamed.load_weights(tmp_path / "foreign.safetensors")


def test_safetensors_is_weights_only(tmp_path):
    with pytest.raises(rnnkit.RnnkitValueError, match="holds weights only"):
        _model().save(tmp_path / "m.safetensors")
    with pytest.raises(rnnkit.RnnkitValueError,
                       match="supports .*, not load_model; a safetensors file holds no architecture"):
        rnnkit.load_model(tmp_path / "m.safetensors")


def test_bad_tensors_are_refused_and_nothing_is_written(tmp_path):
    path = tmp_path / "t.safetensors"
    with pytest.raises(rnnkit.RnnkitTypeError, match=r"tensors\['o'\] must have one of the dtypes"):
        st.save_file({"o": np.array([object()])}, path)
    with pytest.raises(rnnkit.RnnkitValueError, match="non-empty strings other than '__metadata__'"):
        st.save_file({"__metadata__": np.ones(2)}, path)
    with pytest.raises(rnnkit.RnnkitTypeError, match="metadata must be None or a dict of str -> str"):
        st.save_file({"a": np.ones(2)}, path, metadata={"a": 1})
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------- hostile files

def _file(header, data=b"", header_len=None):
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if header_len is None else header_len) + raw + data


def _entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


HOSTILE = {
    "empty": (b"", "truncated"),
    "truncated_length": (b"\x05\x00\x00", "truncated"),
    "header_longer_than_file": (_file({"a": _entry("F32", [1], 0, 4)}, bytes(4), header_len=10**6),
                                "declares a 1000000-byte header but the file has"),
    "huge_header_length": (_file({}, header_len=2**63), "declares a 9223372036854775808-byte header"),
    "bad_json": (_file(b'{"a": ', b""), "not valid JSON"),
    "not_an_object_start": (_file(b'["a"]'), "does not start with '{'"),
    "duplicate_key": (_file(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                            b'"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', bytes(4)), "duplicate key"),
    "unknown_dtype": (_file({"a": _entry("F8_E4M3", [1], 0, 1)}, bytes(1)), "has dtype 'F8_E4M3'"),
    "object_dtype": (_file({"a": _entry("O", [1], 0, 8)}, bytes(8)), "has dtype 'O'"),
    "huge_declared_shape": (_file({"a": _entry("F32", [2**40, 2**40], 0, 16)}, bytes(16)),
                            "declares shape .* but data_offsets"),
    "offsets_past_the_end": (_file({"a": _entry("F32", [4], 0, 16)}, bytes(8)), "fill 16 bytes of data but"),
    "overlapping": (_file({"a": _entry("F32", [2], 0, 8), "b": _entry("F32", [2], 4, 12)}, bytes(12)),
                    "overlaps the previous tensor"),
    "gap": (_file({"a": _entry("F32", [1], 0, 4), "b": _entry("F32", [1], 8, 12)}, bytes(12)), "leaves a gap"),
    "trailing_bytes": (_file({"a": _entry("F32", [1], 0, 4)}, bytes(12)), "extra bytes"),
    "negative_shape": (_file({"a": _entry("F32", [-1], 0, 0)}), "a shape is a list"),
    "reversed_offsets": (_file({"a": _entry("F32", [0], 4, 0)}, bytes(4)), "expected \\[begin, end\\]"),
    "extra_key": (_file({"a": {**_entry("F32", [1], 0, 4), "x": 1}}, bytes(4)), "exactly the keys"),
    "metadata_not_strings": (_file({"__metadata__": {"a": 1}}), "__metadata__ must be an object of string"),
    "not_utf8": (_file(b'{"\xff":1}'), "not valid JSON"),
    "pickle": (b"\x80\x04\x95" + bytes(30), "header"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_files_are_named_errors(tmp_path, case):
    raw, message = HOSTILE[case]
    path = tmp_path / "h.safetensors"
    path.write_bytes(raw)
    with pytest.raises(RnnkitFileError, match=message) as info:
        st.load_file(path)
    assert str(path) in str(info.value)
    model = _model()
    before = model.get_weights()
    with pytest.raises(RnnkitFileError):
        model.load_weights(path)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
