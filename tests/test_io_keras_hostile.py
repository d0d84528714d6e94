"""Malformed and hostile Keras files are named errors: nothing is executed, nothing allocates more
than the file could hold, and a model is left unchanged by a file that does not fit it."""
import io
import json
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest

import rnnkit
from rnnkit.io.keras import KerasConfigError, KerasFileError

h5py = pytest.importorskip("h5py")
L = rnnkit.layers


def small_model():
    model = rnnkit.Sequential([L.LSTM(3, input_shape=(4, 2)), L.Dense(2)])
    model.set_weights([np.full(w.shape, 0.5, np.float32) for w in model.get_weights()])
    return model


@pytest.fixture
def archive(tmp_path):
    path = tmp_path / "good.keras"
    small_model().save(path)
    return path


def members(path):
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def write_archive(path, contents, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in contents.items():
            z.writestr(name, data)
    return path


def peak_bytes_of_refused_load(path, match):
    """Load ``path`` expecting a KerasFileError matching ``match``; the most bytes allocated meanwhile."""
    tracemalloc.start()
    try:
        with pytest.raises(KerasFileError, match=match):
            rnnkit.load_model(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_truncated_archives_are_named_errors(archive, tmp_path):
    data = archive.read_bytes()
    for cut in (0, 10, 100, len(data) // 3, len(data) // 2, len(data) - 30, len(data) - 1):
        broken = tmp_path / "cut.keras"
        broken.write_bytes(data[:cut])
        with pytest.raises(KerasFileError):
            rnnkit.load_model(broken)


def test_a_lying_size_in_the_zip_directory_is_refused_before_reading(archive, tmp_path):
    write_archive(tmp_path / "d.keras", members(archive), zipfile.ZIP_DEFLATED)
    data = bytearray((tmp_path / "d.keras").read_bytes())
    entry = data.index(b"PK\x01\x02", data.index(b"PK\x01\x02") + 1)  # the second member: config.json
    data[entry + 24:entry + 28] = (0xFFFFFFF0).to_bytes(4, "little")  # uncompressed size: ~4 GiB
    (tmp_path / "d.keras").write_bytes(bytes(data))
    with pytest.raises(KerasFileError, match="declares 4294967280 bytes"):
        rnnkit.load_model(tmp_path / "d.keras")


def test_decompression_bombs_are_refused_before_decompressing(archive, tmp_path):
    contents = members(archive)
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("metadata.json", contents["metadata.json"])
        z.writestr("config.json", contents["config.json"])
        with z.open("model.weights.h5", "w") as member:  # 16 MiB of zeros stream into ~16 KiB
            for _ in range(16):
                member.write(bytes(2**20))
    assert peak_bytes_of_refused_load(path, "far more than the .* bytes of weights") < 4 * 2**20

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("config.json", "w") as member:
            member.write(b"{" + b" " * (2**20))
            for _ in range(64):
                member.write(b" " * 2**20)
            member.write(b"}")
    with pytest.raises(KerasFileError, match="a Keras config is far smaller"):
        rnnkit.load_model(path)


def test_a_config_asking_for_huge_weights_allocates_nothing(archive, tmp_path):
    contents = members(archive)
    config = json.loads(contents["config.json"])
    config["config"]["layers"][1]["config"]["units"] = 3000  # would be 144 MB of LSTM weights
    contents["config.json"] = json.dumps(config)
    path = write_archive(tmp_path / "huge.keras", contents)
    match = r"asks layer .* \(LSTM\) for a weight of shape \(2, 12000\).* but model.weights.h5 holds only"
    assert peak_bytes_of_refused_load(path, match) < 4 * 2**20


def weights_file(tmp_path, edit):
    """A .weights.h5 of small_model() changed by ``edit(h5py_file)``."""
    path = tmp_path / "w.weights.h5"
    small_model().save_weights(path)
    with h5py.File(path, "a") as f:
        edit(f)
    return path


def assert_refused_and_unchanged(path, match):
    model = small_model()
    model.set_weights([w * 0 + 0.25 for w in model.get_weights()])
    before = model.get_weights()
    with pytest.raises(KerasFileError, match=match):
        model.load_weights(path)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


def _replace(f, path, **dataset):
    del f[path]
    f.create_dataset(path, **dataset)


def test_a_dataset_declaring_a_huge_shape_is_never_read(tmp_path):
    path = weights_file(tmp_path, lambda f: _replace(f, "layers/dense/vars/0", shape=(10**6, 10**6), dtype="f4",
                                                     chunks=(1, 1)))
    assert_refused_and_unchanged(path, r"has shape \(1000000, 1000000\), expected \(3, 2\)")


def test_wrong_shapes_dtypes_and_counts_are_named(tmp_path):
    assert_refused_and_unchanged(
        weights_file(tmp_path, lambda f: _replace(f, "layers/lstm/cell/vars/1", data=np.zeros((3, 3), "f4"))),
        r"'/layers/lstm/cell/vars/1' has shape \(3, 3\), expected \(3, 12\)")
    assert_refused_and_unchanged(
        weights_file(tmp_path, lambda f: _replace(f, "layers/dense/vars/1", data=np.array([b"ab", b"cd"]))),
        "expected a float array")
    assert_refused_and_unchanged(
        weights_file(tmp_path, lambda f: f["layers/dense/vars"].create_dataset("2", data=np.zeros(2, "f4"))),
        "holds 3 arrays but")
    assert_refused_and_unchanged(weights_file(tmp_path, lambda f: f.__delitem__("layers/lstm")),
                                 "holds 0 arrays but")


def test_links_and_external_storage_are_not_followed(tmp_path):
    def soft(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = h5py.SoftLink("/layers/lstm/cell/vars/0")

    def external(f):
        del f["layers/dense/vars/1"]
        f["layers/dense/vars/1"] = h5py.ExternalLink("/etc/other.h5", "/x")

    def external_data(f):
        _replace(f, "layers/dense/vars/1", shape=(2,), dtype="f4", external=[(str(tmp_path / "raw.bin"), 0, 8)])

    (tmp_path / "raw.bin").write_bytes(bytes(8))
    assert_refused_and_unchanged(weights_file(tmp_path, soft), "SoftLink")
    assert_refused_and_unchanged(weights_file(tmp_path, external), "ExternalLink")
    assert_refused_and_unchanged(weights_file(tmp_path, external_data), "outside this file")


def test_files_that_are_not_what_their_name_says(tmp_path):
    (tmp_path / "text.weights.h5").write_text("not hdf5")
    assert_refused_and_unchanged(tmp_path / "text.weights.h5", "not a readable HDF5 file")
    (tmp_path / "text.keras").write_text("not a zip")
    with pytest.raises(KerasFileError, match="not a complete ZIP"):
        rnnkit.load_model(tmp_path / "text.keras")
    with pytest.raises(KerasFileError, match="no such file"):
        rnnkit.load_model(tmp_path / "absent.h5")


@pytest.mark.parametrize("change, match", [
    (lambda c: c.update(surprise=1), "unknown keys"),
    (lambda c: c["config"].update(surprise=1), "unknown config keys"),
    (lambda c: c["config"]["layers"][1]["config"].update(surprise=1), "no argument surprise=1"),
    (lambda c: c["config"]["layers"][1].update(class_name="Conv2D"), "rnnkit does not have"),
    (lambda c: c.update(class_name="MyModel"), "subclassed model"),
])
def test_configs_with_unknown_keys_are_named(archive, tmp_path, change, match):
    contents = members(archive)
    config = json.loads(contents["config.json"])
    change(config)
    contents["config.json"] = json.dumps(config)
    with pytest.raises(KerasConfigError, match=match):
        rnnkit.load_model(write_archive(tmp_path / "c.keras", contents))


def test_wrappers_nested_hundreds_deep_are_a_named_error(archive, tmp_path):
    contents = members(archive)
    config = json.loads(contents["config.json"])
    nested = config["config"]["layers"][2]
    for _ in range(450):  # JSON 900 levels deep: Python's json still reads it
        nested = {"class_name": "TimeDistributed", "config": {"name": "t", "layer": nested}}
    config["config"]["layers"][2] = nested
    contents["config.json"] = json.dumps(config)
    with pytest.raises(KerasConfigError, match="cannot be built for inputs of shape"):
        rnnkit.load_model(write_archive(tmp_path / "deep.keras", contents))


def test_bad_json_and_missing_members(archive, tmp_path):
    contents = members(archive)
    with pytest.raises(KerasFileError, match="not valid JSON"):
        rnnkit.load_model(write_archive(tmp_path / "j.keras", {**contents, "config.json": b"{\"a\": "}))
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(KerasFileError, match="not valid JSON"):
        rnnkit.load_model(write_archive(tmp_path / "deep.keras", {**contents, "config.json": deep}))
    with pytest.raises(KerasFileError, match="has no 'model.weights.h5'"):
        rnnkit.load_model(write_archive(tmp_path / "m.keras", {k: v for k, v in contents.items()
                                                              if k != "model.weights.h5"}))
    with pytest.raises(KerasFileError, match="compression method 12"):
        rnnkit.load_model(write_archive(tmp_path / "b.keras", contents, zipfile.ZIP_BZIP2))


def test_a_keras_archive_with_a_legacy_weights_mismatch_leaves_nothing_half_loaded(archive, tmp_path):
    contents = members(archive)
    buffer = io.BytesIO(contents["model.weights.h5"])
    with h5py.File(buffer, "a") as f:
        _replace(f, "layers/dense/vars/1", data=np.zeros(5, "f4"))
    contents["model.weights.h5"] = buffer.getvalue()
    with pytest.raises(KerasFileError, match=r"expected \(2,\)"):
        rnnkit.load_model(write_archive(tmp_path / "x.keras", contents))


def test_without_h5py_a_named_error_says_which_extra_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(rnnkit.errors.RnnkitError, match=r'pip install "rnnkit\[keras\]"') as info:
        small_model().save_weights(tmp_path / "w.weights.h5")
    assert isinstance(info.value, ImportError)
    small_model().save_weights(tmp_path / "w.weights")  # rnnkit's own format needs no h5py


def test_rnnkit_imports_h5py_only_when_an_hdf5_file_is_touched(tmp_path):
    script = ("import sys, rnnkit\n"
              "m = rnnkit.Sequential([rnnkit.layers.Dense(2, input_shape=(3,))])\n"
              f"m.save_weights({str(tmp_path / 'w.weights')!r}); m.load_weights({str(tmp_path / 'w.weights')!r})\n"
              "assert 'h5py' not in sys.modules, 'h5py imported'\n"
              f"m.save_weights({str(tmp_path / 'w.weights.h5')!r})\n"
              "assert 'h5py' in sys.modules\n")
    subprocess.run([sys.executable, "-c", script], check=True)


def test_a_functional_config_is_sized_before_it_is_built(tmp_path):
    inputs = rnnkit.Input((4, 2), name="x")
    rnnkit.Model(inputs, L.Dense(2)(L.LSTM(3, name="lstm")(inputs))).save(tmp_path / "f.keras")
    contents = members(tmp_path / "f.keras")
    config = json.loads(contents["config.json"])
    [entry] = [e for e in config["config"]["layers"] if e["name"] == "lstm"]
    entry["config"]["units"] = 3000
    contents["config.json"] = json.dumps(config)
    path = write_archive(tmp_path / "huge.keras", contents)
    assert peak_bytes_of_refused_load(path, r"asks layer .lstm. \(LSTM\) for a weight of shape") < 4 * 2**20
    config["config"]["surprise"] = 1
    with pytest.raises(KerasConfigError, match=r"unknown config keys \['surprise'\]"):
        rnnkit.load_model(write_archive(tmp_path / "keys.keras", {**contents, "config.json": json.dumps(config)}))


def _trained(optimizer):
    model = small_model()
    model.compile(optimizer=optimizer, loss="mse")
    rng = np.random.default_rng(0)
    model.train_on_batch(rng.normal(size=(2, 4, 2)).astype(np.float32), rng.normal(size=(2, 2)).astype(np.float32))
    return model


@pytest.mark.parametrize("position, value, match", [
    (0, np.int64(-3), "iterations"),
    (1, np.float32(np.nan), "learning_rate"),
    (2, np.zeros((5, 5), np.float32), r"optimizer/vars/2' has shape \(5, 5\)"),
])
def test_forged_optimizer_state_is_refused_before_anything_changes(tmp_path, position, value, match):
    path = tmp_path / "w.weights.h5"
    _trained("adam").save_weights(path)
    with h5py.File(path, "a") as f:
        _replace(f, f"optimizer/vars/{position}", data=value)
    model = _trained("adam")
    weights, state = model.get_weights(), model.optimizer.get_state()
    with pytest.raises(KerasFileError, match=match):
        model.load_weights(path)
    for old, new in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    assert model.optimizer.iterations == state["iterations"] and model.optimizer.learning_rate == 0.001


def test_optimizer_state_of_another_layout_is_dropped_with_a_warning(tmp_path):
    path = tmp_path / "w.weights.h5"
    saved = _trained(rnnkit.optimizers.Adam(amsgrad=True))
    saved.save_weights(path)
    model = _trained("adam")
    with pytest.warns(rnnkit.io.keras.KerasFormatWarning,
                      match=r"state was dropped: the file holds 17 optimizer arrays, .* Adam .* has 12 \(2 counters"):
        model.load_weights(path)
    for old, new in zip(saved.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(old, new)  # the weights load; only the state stays the model's own
    assert model.optimizer.iterations == 1
