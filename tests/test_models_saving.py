"""Functional models save and load with their graph; multi-input/multi-output training resumes bit
for bit; files written before functional models (Sequential only) still load."""
import json
import pathlib

import numpy as np
import pytest

import rnnkit
from rnnkit import layers
from rnnkit.callbacks import BackupAndRestore, Callback
from rnnkit.io import RnnkitFileError

DATA = pathlib.Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def fresh_names():
    rnnkit.utils.clear_session()


def _graph_model(dropout=0.0):
    a, b = rnnkit.Input((5, 3), name="a"), rnnkit.Input((None, 2), name="b")
    shared = layers.Dense(4, activation="tanh", name="shared")
    encoder = layers.LSTM(3, return_state=True, dropout=dropout, name="encoder")
    _, h, c = encoder(shared(layers.Dense(3, name="lift")(a)))
    decoded = layers.LSTM(3, return_sequences=True, name="decoder", recurrent_dropout=dropout)(
        b, initial_state=[h, c])
    tags = layers.TimeDistributed(layers.Dense(4, activation="softmax"), name="tags")(decoded)
    score = layers.Dense(1, name="score")(layers.Concatenate(name="join")([h, shared(c)]))
    return rnnkit.Model({"a": a, "b": b}, {"tags": tags, "score": score}, name="graph")


def _graph_data(n=12, seed=0):
    rng = np.random.default_rng(seed)
    x = {"a": rng.standard_normal((n, 5, 3)).astype(np.float32), "b": rng.standard_normal((n, 4, 2)).astype(np.float32)}
    y = {"tags": rng.integers(0, 4, (n, 4)), "score": rng.standard_normal((n, 1)).astype(np.float32)}
    return x, y


def test_functional_model_saves_and_loads_with_its_graph(tmp_path):
    model = _graph_model()
    model.compile(rnnkit.optimizers.Adam(0.02), loss={"tags": "sparse_categorical_crossentropy", "score": "mse"},
                  loss_weights={"tags": 0.5, "score": 2.0}, metrics={"tags": ["accuracy"]})
    x, y = _graph_data()
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    path = tmp_path / "graph.rnnkit"
    model.save(path)
    loaded = rnnkit.load_model(path)
    assert type(loaded) is rnnkit.Model and loaded.name == "graph"
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert len(loaded.get_layer("shared")._inbound_nodes) == 2  # one shared layer, called twice
    assert loaded.get_config() == model.get_config()
    for got, want in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)
    predicted, expected = loaded.predict(x), model.predict(x)
    assert sorted(predicted) == ["score", "tags"]
    for key in expected:
        np.testing.assert_array_equal(predicted[key], expected[key])
    assert loaded.loss_weights == [2.0, 0.5]  # output order: score, tags
    assert loaded.metrics_names == model.metrics_names == ["loss", "score_loss", "tags_loss", "tags_accuracy"]
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)
    weights = tmp_path / "graph.weights"
    model.save_weights(weights)
    fresh = _graph_model()
    fresh.load_weights(weights)
    for got, want in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_config_is_keras_3_form_and_round_trips_through_json():
    model = _graph_model()
    config = json.loads(json.dumps(model.get_config()))
    assert set(config) == {"name", "trainable", "layers", "input_layers", "output_layers"}
    assert config["input_layers"] == {"a": ["a", 0, 0], "b": ["b", 0, 0]}
    entry = {e["name"]: e for e in config["layers"]}
    assert set(entry["decoder"]) == {"class_name", "config", "name", "inbound_nodes"}
    node = entry["decoder"]["inbound_nodes"][0]
    assert node["args"][0]["class_name"] == "__keras_tensor__"
    assert node["args"][0]["config"]["keras_history"] == ["b", 0, 0]
    assert [t["config"]["keras_history"] for t in node["kwargs"]["initial_state"]] == [["encoder", 0, 1],
                                                                                        ["encoder", 0, 2]]
    assert [n["args"][0]["config"]["keras_history"] for n in entry["shared"]["inbound_nodes"]] == [
        ["lift", 0, 0], ["encoder", 0, 2]]
    rebuilt = rnnkit.Model.from_config(config)
    assert rebuilt.get_config() == config
    # tf.keras 2's older node form reads too
    legacy = json.loads(json.dumps(config))

    def ref(tensor):
        return list(tensor["config"]["keras_history"])

    for layer in legacy["layers"]:
        layer["inbound_nodes"] = [
            [ref(t) + [{key: [ref(s) for s in value] for key, value in n["kwargs"].items()}]
             for t in (n["args"][0] if isinstance(n["args"][0], list) else [n["args"][0]])]
            for n in layer["inbound_nodes"]]
    decoder = next(layer for layer in legacy["layers"] if layer["name"] == "decoder")
    assert decoder["inbound_nodes"] == [[["b", 0, 0, {"initial_state": [["encoder", 0, 1], ["encoder", 0, 2]]}]]]
    assert rnnkit.Model.from_config(legacy).get_config() == config


def test_bad_graph_configs_are_named_errors(tmp_path):
    config = _graph_model().get_config()
    broken = json.loads(json.dumps(config))
    for layer in broken["layers"]:
        if layer["name"] == "decoder":
            layer["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = ["nowhere", 0, 0]
    with pytest.raises(rnnkit.RnnkitValueError, match=r"inputs never appear .*'decoder': 1"):
        rnnkit.Model.from_config(broken)
    missing = json.loads(json.dumps(config))
    missing["output_layers"] = {"tags": ["tags", 3, 0]}
    with pytest.raises(rnnkit.RnnkitValueError, match=r"names \['tags', 3, 0\], which no layer call produces"):
        rnnkit.Model.from_config(missing)
    with pytest.raises(rnnkit.RnnkitValueError, match="must be a dict with a 'layers' list"):
        rnnkit.Model.from_config({"layers": 3})


def test_nested_models_save_and_load(tmp_path):
    inner_in = rnnkit.Input((4, 3))
    inner = rnnkit.Model(inner_in, layers.Dense(2, name="dense")(layers.GRU(3)(inner_in)), name="inner")
    stack = rnnkit.Sequential([layers.Dense(2, name="dense")], name="stack")
    a, b = rnnkit.Input((4, 3)), rnnkit.Input((4, 3))
    model = rnnkit.Model([a, b], stack(layers.Concatenate()([inner(a), inner(b)])))  # "dense" inside both: no clash
    config = model.get_config()
    assert [entry["class_name"] for entry in config["layers"]][2:] == ["Functional", "Concatenate", "Sequential"]
    path = tmp_path / "nested.rnnkit"
    model.save(path)
    loaded = rnnkit.load_model(path)
    data = [np.ones((2, 4, 3), np.float32), np.zeros((2, 4, 3), np.float32)]
    np.testing.assert_array_equal(loaded.predict(data), model.predict(data))
    assert len(loaded.get_layer("inner")._inbound_nodes) == 2


def test_sequential_with_an_input_saves_and_loads(tmp_path):
    model = rnnkit.Sequential([rnnkit.Input((4, 2), name="x"), layers.GRU(3), layers.Dense(1)])
    model.compile("sgd", "mse")
    path = tmp_path / "seq.rnnkit"
    model.save(path)
    loaded = rnnkit.load_model(path)
    assert type(loaded) is rnnkit.Sequential and loaded.input_names == ["x"]
    data = np.ones((2, 4, 2), np.float32)
    np.testing.assert_array_equal(loaded.predict(data), model.predict(data))


def test_files_written_before_functional_models_still_load(tmp_path):
    """Written by rnnkit 2f570ca (tests/data/README.md has the script)."""
    with np.load(DATA / "legacy_sequential_expected.npz") as expected:
        x, y, predictions, results = (expected[k] for k in ("x", "y", "predictions", "loss"))
    model = rnnkit.load_model(DATA / "legacy_sequential.rnnkit")
    assert type(model) is rnnkit.Sequential and model.name == "legacy"
    assert [type(layer).__name__ for layer in model.layers] == ["Embedding", "LSTM", "GRU", "Dense"]
    np.testing.assert_allclose(model.predict(x), predictions, rtol=1e-6)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(list(results), rel=1e-6)
    assert model.optimizer.learning_rate == pytest.approx(0.01)
    fresh = rnnkit.load_model(DATA / "legacy_sequential.rnnkit", compile=False)
    fresh.load_weights(DATA / "legacy_sequential.weights")
    np.testing.assert_allclose(fresh.predict(x), predictions, rtol=1e-6)
    model.compile(rnnkit.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    assert model.load_training_state(DATA / "legacy_sequential.state") == 2
    model.fit(x, y, epochs=1, batch_size=3, verbose=0)  # resumes from the saved Adam slots


class _Interrupt(Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def _resumable_run(backup, seed, interrupt_at=None):
    rnnkit.utils.clear_session()
    rnnkit.set_random_seed(seed)
    model = _graph_model(dropout=0.3)
    model.compile("adam", loss={"tags": "sparse_categorical_crossentropy", "score": "mse"},
                  loss_weights={"tags": 1.0, "score": 0.5})
    x, y = _graph_data(n=16)
    callbacks = [BackupAndRestore(backup)] + ([_Interrupt(interrupt_at)] if interrupt_at is not None else [])
    history = model.fit(x, y, epochs=5, batch_size=4, verbose=0, callbacks=callbacks)
    return model.get_weights(), history


def test_multi_input_multi_output_training_resumes_bit_for_bit(tmp_path):
    reference, full = _resumable_run(tmp_path / "reference", seed=7)
    with pytest.raises(KeyboardInterrupt):
        _resumable_run(tmp_path / "backup", seed=7, interrupt_at=2)
    resumed, history = _resumable_run(tmp_path / "backup", seed=99)  # the backup restores every random state
    # interrupted at the end of epoch 2 before its backup (BackupAndRestore runs last): epoch 2 runs again
    assert history.epoch == [2, 3, 4]
    assert history.history["loss"] == full.history["loss"][2:]
    for a, b in zip(resumed, reference):
        np.testing.assert_array_equal(a, b)


def _paths(value, prefix=()):
    yield prefix
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from _paths(item, prefix + (key,))


def test_forged_graph_configs_and_compile_settings_are_file_errors(tmp_path):
    """Checksum-valid files whose functional config or compile settings were edited: every outcome is a
    loaded model or an RnnkitFileError, never another exception."""
    from rnnkit.io.arrays_file import load_arrays, save_arrays

    model = _graph_model()
    model.compile("adam", loss={"tags": "sparse_categorical_crossentropy", "score": "mse"},
                  metrics={"tags": ["accuracy"]})
    model.save(tmp_path / "good.rnnkit")
    arrays, metadata = load_arrays(tmp_path / "good.rnnkit")
    rng = np.random.default_rng(0)
    junk = [None, 3, -1, "x", [], {}, [1, 2], {"a": 1}, 1e308, True, [["a", 0, 0]], "__keras_tensor__"]
    outcomes = {"loaded": 0, "refused": 0}
    for key in ("config", "compile"):
        places = [p for p in _paths(metadata[key]) if p]
        for _ in range(60):
            forged = json.loads(json.dumps(metadata))
            place = places[rng.integers(len(places))]
            parent = forged[key]
            for step in place[:-1]:
                parent = parent[step]
            if rng.random() < 0.3:
                del parent[place[-1]]
            else:
                parent[place[-1]] = junk[rng.integers(len(junk))]
            save_arrays(tmp_path / "forged.rnnkit", arrays, forged)
            try:
                rnnkit.load_model(tmp_path / "forged.rnnkit")
                outcomes["loaded"] += 1
            except RnnkitFileError:
                outcomes["refused"] += 1
    assert outcomes["refused"] > 40 and outcomes["loaded"] > 10, outcomes
