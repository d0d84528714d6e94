"""The file fuzzer of test_file_fuzzer.py, over Keras's files: .keras archives, .weights.h5 files and
legacy .h5 files, each made by rnnkit from a real model, mutated, and handed to its loader.

    bit flips, truncation, extension   of the file itself
    config value / deletion / insertion  a random place of the model config (config.json of a .keras
                                         archive, the model_config attribute of a legacy .h5) replaced by
                                         a hostile value, removed, or given a new key
    weights bit flips                  bits flipped inside a .keras archive's model.weights.h5

Every case must end in success or an rnnkit error, within the fuzzer's memory bound (a small
multiple of the file's size) and a second of CPU time. ``-m slow`` runs ten times as many cases.
"""
import io
import json
import zipfile

import numpy as np
import pytest

import rnnkit
from rnnkit.errors import RnnkitError
from test_file_fuzzer import Ledger, bit_flips, extension, hostile_values, per_mutation, pick, places, truncation

h5py = pytest.importorskip("h5py")
L = rnnkit.layers


def _model():
    model = rnnkit.Sequential([L.Embedding(10, 4, mask_zero=True, input_shape=(6,)),
                               L.Bidirectional(L.GRU(3, return_sequences=True)), L.LSTM(2), L.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    ids = np.random.default_rng(0).integers(0, 10, (4, 6))
    model.fit(ids, np.zeros((4, 2), np.float32), epochs=1, verbose=0)  # optimizer slots exist
    return model


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keras_originals")
    model = _model()
    files = {}
    for name, save in (("model.keras", model.save), ("w.weights.h5", model.save_weights), ("legacy.h5", model.save)):
        save(folder / name)
        files[name] = (folder / name).read_bytes()
    return model, files


def _edit_config(config, rng, mutation):
    container, key = pick(rng, places(config))
    if mutation == "config value":
        container[key] = hostile_values(rng)
    elif mutation == "config deletion":
        del container[key]
    elif isinstance(container[key], dict):
        container[key][f"surprise_{int(rng.integers(100))}"] = hostile_values(rng)
    else:
        container[key] = {"class_name": "Dense", "config": {"units": hostile_values(rng)}}
    return config


def _rezip(raw, change):
    """The archive with its members changed by ``change(members)``."""
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    change(members)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def _mutate_archive(raw, rng, mutation):
    if mutation == "weights bit flips":
        return _rezip(raw, lambda m: m.update({"model.weights.h5": bit_flips(m["model.weights.h5"], rng)}))
    return _rezip(raw, lambda m: m.update(
        {"config.json": json.dumps(_edit_config(json.loads(m["config.json"]), rng, mutation))}))


def _mutate_legacy(raw, rng, mutation, path):
    path.write_bytes(raw)
    with h5py.File(path, "a") as handle:
        config = json.loads(handle.attrs["model_config"])
        handle.attrs["model_config"] = json.dumps(_edit_config(config, rng, mutation))
    return path.read_bytes()


FILE_MUTATIONS = {"bit flips": bit_flips, "truncation": truncation, "extension": extension}
CONFIG_MUTATIONS = ("config value", "config deletion", "config insertion")
KINDS = {  # file name -> the mutations it gets, with their share of the cases
    "model.keras": {"bit flips": 1, "truncation": 1, "extension": 1, "config value": 3, "config deletion": 1,
                    "config insertion": 1, "weights bit flips": 1},
    "w.weights.h5": {"bit flips": 2, "truncation": 1, "extension": 1},
    "legacy.h5": {"bit flips": 1, "truncation": 1, "extension": 1, "config value": 3, "config deletion": 1,
                  "config insertion": 1},
}


def _loader(name, model):
    if name == "w.weights.h5":
        return model.load_weights
    return rnnkit.load_model


def _fuzz(name, originals, tmp_path, count, seed):
    model, files = originals
    raw, loader, ledger = files[name], _loader(name, model), Ledger()
    rng = np.random.default_rng(seed)
    path = tmp_path / f"case_{name}"
    for mutation, weight in KINDS[name].items():
        for i in range(count * weight):
            if mutation in FILE_MUTATIONS:
                data = FILE_MUTATIONS[mutation](raw, rng)
            elif name == "legacy.h5":
                data = _mutate_legacy(raw, rng, mutation, path)
            else:
                data = _mutate_archive(raw, rng, mutation)
            path.write_bytes(data)
            ledger.run(f"{name} / {mutation} #{i}", path, loader, RnnkitError)
    print(f"\n{name}: {ledger.cases} cases, outcomes {ledger.outcomes}, worst CPU {ledger.worst_cpu[0]:.3f} s, "
          f"worst peak {ledger.worst_peak[0]:,} bytes")
    assert not ledger.failures, "\n".join(ledger.failures)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_keras_files(name, originals, tmp_path, request):
    _fuzz(name, originals, tmp_path, per_mutation(request), seed=sorted(KINDS).index(name))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(KINDS))
def test_keras_files_longer(name, originals, tmp_path, request):
    _fuzz(name, originals, tmp_path, per_mutation(request), seed=1000 + sorted(KINDS).index(name))
