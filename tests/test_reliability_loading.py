"""Forged but checksum-valid weight, model and training-state files (issue #11, defects 2, 4 and 5).

Each file is a real one whose header was edited and whose checksum was recomputed, so only the
edit is wrong. Loading must refuse it with an rnnkit error before building or changing anything.
"""
import copy
import time
import tracemalloc

import numpy as np
import pytest

from rnnkit import Sequential, layers, load_model
from rnnkit.errors import RnnkitError, RnnkitTypeError, RnnkitValueError
from rnnkit.io.arrays_file import RnnkitFileError
from rnnkit.optimizers import Adam

from file_forgery import rewrite_header, split


def small_model(compiled=True):
    # fixed names: the forged edits below refer to "lstm/..." and "dense/..."
    model = Sequential([layers.LSTM(2, input_shape=(4, 3), seed=0, name="lstm"),
                        layers.Dense(1, seed=1, name="dense")])
    if compiled:
        model.compile(Adam(0.01), "mse")
    return model


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Raw bytes of a weights file, a model file and a training-state file of ``small_model``."""
    folder = tmp_path_factory.mktemp("files")
    model = small_model()
    rng = np.random.default_rng(0)
    model.fit(rng.standard_normal((8, 4, 3)).astype(np.float32), rng.standard_normal((8, 1)), epochs=1,
              verbose=0)
    model.save_weights(folder / "w")
    model.save(folder / "m")
    model.save_training_state(folder / "s", 1)
    return {kind: (folder / name).read_bytes() for kind, name in (("weights", "w"), ("model", "m"),
                                                                   ("state", "s"))}


def forged(tmp_path, raw, edit):
    path = tmp_path / "forged"
    path.write_bytes(rewrite_header(raw, edit))
    return path


def meta(edit):
    """An edit of the metadata dict (the header's "metadata")."""
    return lambda header: edit(header["metadata"])


def peak_and_seconds(fn):
    tracemalloc.start()
    start = time.perf_counter()
    try:
        fn()
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, seconds


def weights_of(model):
    return [w.copy() for w in model.get_weights()]


def assert_unchanged(model, before):
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


# ----------------------------------------------------------------------------- defect 2

def set_units(units):
    def edit(metadata):
        metadata["config"]["layers"][0]["config"]["units"] = units
    return meta(edit)


@pytest.mark.parametrize("units", [600, 3000, 10**6])
def test_a_config_asking_for_more_weights_than_the_file_holds_is_refused_before_building(tmp_path, files, units):
    """units: 3000 in a 2.6 KB file took 75 s and 1.4 GiB before being refused; 10**6 a bare MemoryError."""
    path = forged(tmp_path, files["model"], set_units(units))

    def load():
        with pytest.raises(RnnkitFileError, match=r"asks layer 'lstm' \(LSTM\) for a weight of shape"):
            load_model(path)

    peak, seconds = peak_and_seconds(load)
    assert peak < 2 * 2**20, peak  # the file is 2.6 KB; parsing and checking it cost well under 2 MiB
    assert seconds < 5, seconds  # no timing claim, only "not minutes": the check takes milliseconds


def test_load_weights_on_an_unbuilt_model_checks_the_files_input_shape_first(tmp_path, files):
    """build_input_shape is metadata too: (None, 4, 10**9) must not build a 10**9-row kernel."""
    def edit(metadata):
        metadata["build_input_shape"] = [None, 4, 10**9]
    path = forged(tmp_path, files["weights"], meta(edit))
    model = Sequential([layers.LSTM(2, seed=0), layers.Dense(1, seed=1)])
    peak, _ = peak_and_seconds(lambda: pytest.raises(RnnkitFileError, model.load_weights, path))
    assert peak < 2 * 2**20, peak
    assert not model.built and not any(layer.built for layer in model.layers)


def test_load_weights_into_an_unbuilt_model_that_the_file_does_not_fit_leaves_it_unbuilt(tmp_path, files):
    path = tmp_path / "w"
    path.write_bytes(files["weights"])
    model = Sequential([layers.LSTM(2, seed=0), layers.Dense(3, seed=1)])  # Dense(3): the file has Dense(1)
    with pytest.raises(RnnkitFileError, match="does not match the weights stored"):
        model.load_weights(path)
    assert not any(layer.built for layer in model.layers)
    model.build((None, 4, 3))  # still usable, with its own initial weights
    fitting = Sequential([layers.LSTM(2, seed=0), layers.Dense(1, seed=1)])
    fitting.load_weights(path)
    assert fitting.built


def test_legitimate_files_still_load(tmp_path, files):
    for kind in ("weights", "model", "state"):
        (tmp_path / kind).write_bytes(files[kind])
    model = load_model(tmp_path / "model")
    reference = small_model()
    reference.load_weights(tmp_path / "weights")
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    reference.fit(np.zeros((2, 4, 3), np.float32), np.zeros((2, 1)), epochs=1, verbose=0)
    assert reference.load_training_state(tmp_path / "state") == 1


# ----------------------------------------------------------------------------- defect 4

def _del(key):
    return lambda d: d.pop(key)


def _set(path, value):
    """An edit setting metadata[path[0]][path[1]]... = value."""
    def edit(metadata):
        target = metadata
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


FORGED = [
    # every format (shown on weights files)
    ("weights", "no layers", _del("layers")),
    ("weights", "layers a string", _set(["layers"], "x")),
    ("weights", "layer a number", _set(["layers", 0], 3)),
    ("weights", "layer without weights", lambda m: m["layers"][0].pop("weights")),
    ("weights", "weight not a pair", _set(["layers", 0, "weights", 0], ["lstm/kernel"])),
    ("weights", "weight name a list", _set(["layers", 0, "weights", 0, 0], ["lstm/kernel"])),
    ("weights", "weight shape a string", _set(["layers", 0, "weights", 0, 1], "3, 8")),
    ("weights", "weight shape negative", _set(["layers", 0, "weights", 0, 1], [-3, 8])),
    ("weights", "weight not in the file", _set(["layers", 0, "weights", 0, 0], "nope")),
    ("weights", "weight shape not the array's", _set(["layers", 0, "weights", 0, 1], [8, 3])),
    ("weights", "format a list", _set(["format"], ["rnnkit.weights/1"])),
    ("weights", "format unknown", _set(["format"], "x")),
    ("weights", "no build_input_shape", _del("build_input_shape")),
    ("weights", "build_input_shape a string", _set(["build_input_shape"], "x")),
    ("weights", "build_input_shape empty", _set(["build_input_shape"], [])),
    ("weights", "build_input_shape zero", _set(["build_input_shape"], [None, 4, 0])),
    # model files
    ("model", "no config", _del("config")),
    ("model", "config a list", _set(["config"], [])),
    ("model", "config.layers missing", lambda m: m["config"].pop("layers")),
    ("model", "config.layers an object", _set(["config", "layers"], {})),
    ("model", "unknown layer class", _set(["config", "layers", 0, "class_name"], "Conv9D")),
    ("model", "layer class a number", _set(["config", "layers", 0, "class_name"], 3)),
    ("model", "unknown layer keyword", _set(["config", "layers", 0, "config", "unitz"], 2)),
    ("model", "layer config a list", _set(["config", "layers", 0, "config"], [])),
    ("model", "units a string", _set(["config", "layers", 0, "config", "units"], "x")),
    ("model", "units negative", _set(["config", "layers", 0, "config", "units"], -2)),
    ("model", "activation a list", _set(["config", "layers", 0, "config", "activation"], ["tanh"])),
    ("model", "initializer unknown", _set(["config", "layers", 0, "config", "kernel_initializer"], "x")),
    ("model", "initializer config forged", _set(["config", "layers", 0, "config", "recurrent_initializer"],
                                                {"class_name": "orthogonal", "config": {"gian": 1}})),
    ("model", "dtype a list", _set(["config", "layers", 1, "config", "dtype"], ["float32"])),
    ("model", "model name a number", _set(["config", "name"], 5)),
    ("model", "optimizer a string", _set(["compile", "optimizer"], "x")),
    ("model", "optimizer unknown", _set(["compile", "optimizer", "class_name"], "x")),
    ("model", "optimizer keyword unknown", _set(["compile", "optimizer", "beta_9"], 0.5)),
    ("model", "optimizer rate a string", _set(["compile", "optimizer", "learning_rate"], "fast")),
    ("model", "loss a number", _set(["compile", "loss"], 3)),
    ("model", "metrics a string", _set(["compile", "metrics"], "accuracy")),
    ("model", "metric unknown", _set(["compile", "metrics"], ["nope"])),
    # training-state files
    ("state", "no state", _del("state")),
    ("state", "epoch a string", _set(["state", "epoch"], "x")),
    ("state", "epoch negative", _set(["state", "epoch"], -3)),
    ("state", "epoch a float", _set(["state", "epoch"], 1.5)),
    ("state", "epoch a bool", _set(["state", "epoch"], True)),
    ("state", "shuffle_rng a string", _set(["state", "shuffle_rng"], "x")),
    ("state", "shuffle_rng another generator", _set(["state", "shuffle_rng", "bit_generator"], "MT19937")),
    ("state", "shuffle_rng state a string", _set(["state", "shuffle_rng", "state"], "x")),
    ("state", "shuffle_rng state keys", _set(["state", "shuffle_rng", "state"], {"s": 1})),
    ("state", "layer_rngs a list", _set(["state", "layer_rngs"], [])),
    ("state", "layer rng forged", _set(["state", "layer_rngs", "lstm"], {"bit_generator": "PCG64", "state": 3})),
    ("state", "optimizer a string", _set(["state", "optimizer"], "x")),
    ("state", "optimizer iterations negative", _set(["state", "optimizer", "iterations"], -1)),
    ("state", "optimizer iterations a string", _set(["state", "optimizer", "iterations"], "x")),
    ("state", "optimizer rate negative", _set(["state", "optimizer", "learning_rate"], -1.0)),
    ("state", "slot missing", lambda m: m["state"]["optimizer"].pop("slot/0/momentum")),
    ("state", "slot array missing", _set(["state", "optimizer", "slot/0/momentum", "__array__"], "nope")),
    ("state", "slot of the wrong shape", _set(["state", "optimizer", "slot/0/momentum", "__array__"],
                                              "dense/bias")),
    ("state", "slot a number", _set(["state", "optimizer", "slot/0/momentum"], 3)),
    ("state", "extra slot", _set(["state", "optimizer", "slot/9/momentum"], {"__array__": "dense/bias"})),
]


def load_kind(kind, path):
    if kind == "model":
        return load_model(path)
    model = small_model()
    before = weights_of(model)
    try:
        if kind == "weights":
            model.load_weights(path)
        else:
            model.fit(np.zeros((2, 4, 3), np.float32), np.zeros((2, 1)), epochs=1, verbose=0)
            before = weights_of(model)
            slots = copy.deepcopy(model.optimizer.get_state())
            rng_state = copy.deepcopy(model._shuffle_rng.bit_generator.state)
            try:
                model.load_training_state(path)
            finally:
                after = model.optimizer.get_state()
                for key, value in slots.items():  # all or nothing: nothing changed on failure
                    np.testing.assert_array_equal(np.asarray(after[key]), np.asarray(value), err_msg=key)
                assert model._shuffle_rng.bit_generator.state == rng_state
    finally:
        assert_unchanged(model, before)
    return model


@pytest.mark.parametrize("kind, label, edit", FORGED, ids=[label for _, label, _ in FORGED])
def test_forged_metadata_gives_a_named_file_error(tmp_path, files, kind, label, edit):
    """29 such cases gave raw KeyError/TypeError/AttributeError/ValueError; a negative epoch trained on."""
    path = forged(tmp_path, files[kind], meta(edit))
    with pytest.raises(RnnkitError) as info:
        load_kind(kind, path)
    assert isinstance(info.value, RnnkitFileError), (type(info.value), info.value)
    assert str(path) in str(info.value)


# ----------------------------------------------------------------------------- defect 5

def test_a_failed_load_weights_changes_no_weight(tmp_path, files):
    """The layout says (2, 1) for the last weight but the array is (1, 2): the first layers used to be
    overwritten before the bad one raised."""
    def edit(header):
        entry = next(e for e in header["arrays"] if e["name"] == "dense/kernel")
        entry["shape"] = [1, 2]
    path = forged(tmp_path, files["weights"], edit)
    model = small_model()
    before = weights_of(model)
    with pytest.raises(RnnkitFileError, match="dense/kernel"):
        model.load_weights(path)
    assert_unchanged(model, before)


@pytest.mark.parametrize("last", [
    np.zeros((2, 2)), [[1.0], [1.0, 2.0]], np.array(["a", "b"]), np.zeros((2, 1), complex), None, "x",
])
def test_model_set_weights_checks_every_array_before_writing(last):
    model = small_model()
    before = weights_of(model)
    weights = [np.ones_like(w) for w in before]
    weights[-1 if last is None else -2] = last if last is not None else weights[-1]
    if last is None:
        weights[-1] = None
    with pytest.raises((RnnkitValueError, RnnkitTypeError)):
        model.set_weights(weights)
    assert_unchanged(model, before)


def test_optimizer_set_state_is_all_or_nothing():
    model = small_model()
    model.fit(np.ones((2, 4, 3), np.float32), np.ones((2, 1)), epochs=1, verbose=0)
    state = model.optimizer.get_state()
    before = copy.deepcopy(state)
    bad = {key: (value + 1 if isinstance(value, np.ndarray) else value) for key, value in state.items()}
    bad["iterations"] = "many"
    with pytest.raises(RnnkitValueError, match="iterations"):
        model.optimizer.set_state(bad)
    after = model.optimizer.get_state()
    for key, value in before.items():
        np.testing.assert_array_equal(np.asarray(after[key]), np.asarray(value), err_msg=key)
    bad = dict(state, **{"slot/4/velocity": np.zeros(7)})
    with pytest.raises(RnnkitValueError, match="shape"):
        model.optimizer.set_state(bad)
    assert model.optimizer.iterations == before["iterations"]


def test_a_failed_compile_leaves_the_previous_settings():
    """A sibling of defect 5: compile() assigned the optimizer before the loss and metrics were checked."""
    model = small_model()
    optimizer, loss = model.optimizer, model.loss
    with pytest.raises(RnnkitValueError, match="metric must be one of"):
        model.compile("sgd", "mae", metrics=["nope"])
    with pytest.raises(RnnkitValueError, match="loss must be one of"):
        model.compile("sgd", "nope")
    assert model.optimizer is optimizer and model.loss is loss


# ----------------------------------------------------------------------------- the same defects in safetensors

def test_safetensors_files_get_the_same_checks(tmp_path):
    """Siblings in the safetensors reader: a list dtype gave TypeError, a FIFO blocked, a forged
    build_input_shape built a (300000, 8) kernel and left the model built for it."""
    import json
    import os

    from rnnkit.io.safetensors import load_file

    from file_forgery import rewrite_safetensors_header

    path = tmp_path / "w.safetensors"
    small_model().save_weights(path)
    raw = path.read_bytes()

    def dtype_list(header):
        header["lstm/kernel"]["dtype"] = ["F32"]
    path.write_bytes(rewrite_safetensors_header(raw, dtype_list))
    with pytest.raises(RnnkitFileError, match="dtype"):
        load_file(path)

    def huge_input(header):
        header["__metadata__"]["build_input_shape"] = json.dumps([None, 4, 300_000])
    path.write_bytes(rewrite_safetensors_header(raw, huge_input))
    unbuilt = Sequential([layers.LSTM(2, seed=0, name="lstm"), layers.Dense(1, seed=1, name="dense")])
    with pytest.raises(RnnkitFileError, match="asks layer 'lstm'"):
        unbuilt.load_weights(path)
    assert not any(layer.built for layer in unbuilt.layers)
    path.write_bytes(raw)
    unbuilt.load_weights(path)  # the genuine file still loads into it
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "f.safetensors")
        with pytest.raises(RnnkitFileError, match="not a regular file"):
            load_file(tmp_path / "f.safetensors")
