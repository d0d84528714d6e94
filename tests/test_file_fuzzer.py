"""A fuzzer over every kind of file rnnkit writes and reads back (issue #11).

For each kind — named-array files, weight files, model files, training states, the checkpoints
ModelCheckpoint and BackupAndRestore write, safetensors weights, and the run-directory files the
CLI reads back (config.json, metrics.csv, charlm's vocabulary) — a real file is made, then mutated:

    bit flips          1 to 3 random bits anywhere
    truncation         cut at a random length
    extension          random or zero bytes appended
    header value       a random place in the JSON header replaced by a hostile value, checksum recomputed
    header deletion    a random key or list item of the header removed, checksum recomputed
    header insertion   a random key added to an object of the header, checksum recomputed
    array table        a consistent but wrong array table (reshaped, retyped, renamed, swapped arrays)
    forged sparse      an array table declaring megabytes over a data section that is one hole
    text mutations     (CLI files) byte flips, truncation, JSON-structure edits, CSV-structure edits

and handed to the loader that reads that kind. Every case must end in success or an rnnkit error
(``RnnkitError``; ``CliError`` for the CLI's files), with a tracemalloc peak under a bound derived
from the file's size, and under a second of CPU time (CPU, not wall-clock, so a loaded machine does
not fail it). The default run makes a few hundred cases; ``-m slow`` runs ten times as many, and
``RNNKIT_FUZZ_CASES=<n per mutation>`` sets the count. ``RNNKIT_FUZZ_REPORT=<file>`` writes the
counts, the worst time and the worst memory ratio as JSON (docs/reliability.md quotes them).
"""
import copy
import json
import math
import os
import shutil
import time
import tracemalloc

import numpy as np
import pytest

from rnnkit import Sequential, callbacks as rk_callbacks, layers, load_model
from rnnkit.apps import charlm
from rnnkit.apps.console import CliError
from rnnkit.apps.run_dir import RunDir, read_history
from rnnkit.errors import RnnkitError
from rnnkit.io.arrays_file import load_arrays, read_array_info, save_arrays

from cli_runs import tiny_charlm_run
from file_forgery import (craft_sparse, padded_header, rewrite_header, rewrite_safetensors_header, split,
                          with_checksum)

DEFAULT_PER_MUTATION = 4
SLOW_FACTOR = 10
CPU_SECONDS = 1.0


def memory_bound(size):
    """Most bytes a load may allocate for a file of ``size`` bytes: the arrays it holds, the Python
    objects of its JSON header and a rebuilt model are each a small multiple of it."""
    return 64 * size + 4 * 2**20


# ----------------------------------------------------------------------------- the files

def sequence_model():
    return Sequential([
        layers.Masking(input_shape=(5, 3), name="mask"),
        layers.Bidirectional(layers.LSTM(3, return_sequences=True, seed=1), name="bi"),
        layers.TimeDistributed(layers.Dense(2, seed=2), name="td"),
        layers.GRU(2, seed=3, name="gru"),
        layers.Dense(1, seed=4, name="out"),
    ])


def ids_model():
    return Sequential([layers.Embedding(12, 4, input_shape=(6,), seed=5, name="emb"),
                       layers.SimpleRNN(3, seed=6, name="rnn"),
                       layers.Dense(12, activation="softmax", seed=7, name="probs")])


def convolution_model():
    return Sequential([layers.Conv1D(3, 2, input_shape=(6, 2), name="conv"), layers.BatchNormalization(name="bn"),
                       layers.LayerNormalization(name="ln"), layers.MaxPooling1D(2, name="pool"),
                       layers.LSTM(2, return_sequences=True, seed=8, name="lstm"),
                       layers.GlobalAveragePooling1D(name="gap"), layers.Dense(1, seed=9, name="head")])


def stateful_callbacks():
    return [rk_callbacks.EarlyStopping(monitor="loss", restore_best_weights=True, patience=5),
            rk_callbacks.ReduceLROnPlateau(monitor="loss", patience=1)]


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """name -> (bytes, loader); the loader takes a path and loads it the way rnnkit does."""
    folder = tmp_path_factory.mktemp("originals")
    rng = np.random.default_rng(0)
    model = sequence_model()
    model.compile("adam", "mse", metrics=["mae"])
    x, y = rng.standard_normal((8, 5, 3)).astype(np.float32), rng.standard_normal((8, 1))
    fit_callbacks = [
        rk_callbacks.ModelCheckpoint(str(folder / "checkpoint.weights"), monitor="loss", save_best_only=True,
                                     save_weights_only=True),
        rk_callbacks.ModelCheckpoint(str(folder / "checkpoint.model"), monitor="loss"),
        *stateful_callbacks(),
        rk_callbacks.BackupAndRestore(str(folder / "backup"), delete_checkpoint=False),
    ]
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=fit_callbacks)
    model.save_weights(folder / "sequence.weights")
    model.save_weights(folder / "sequence.safetensors")
    model.save_training_state(folder / "sequence.state", 2, callbacks=stateful_callbacks())
    ids = ids_model()
    ids.compile("rmsprop", "sparse_categorical_crossentropy", metrics=["accuracy"])
    ids.save(folder / "ids.model")
    convolution = convolution_model()
    convolution.compile("sgd", "mae")
    convolution.save(folder / "convolution.model")
    save_arrays(folder / "plain.arrays", {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(3, bool),
                                          "c": np.zeros((), np.int64)}, {"epoch": 3, "note": "x", "best": math.inf})

    def load_weights_unbuilt(path):
        _unbuilt_sequence().load_weights(path)

    def load_weights_built(path):
        sequence_model().load_weights(path)

    def load_state(path):
        target = sequence_model()
        target.compile("adam", "mse")
        target.load_training_state(path, callbacks=stateful_callbacks())

    def load_both(path):
        load_arrays(path)
        read_array_info(path)

    files = {
        "arrays": (folder / "plain.arrays", load_both),
        "weights": (folder / "sequence.weights", load_weights_unbuilt),
        "model": (folder / "ids.model", lambda path: load_model(path)),
        "model (convolution, normalization)": (folder / "convolution.model", lambda path: load_model(path)),
        "state": (folder / "sequence.state", load_state),
        "checkpoint weights": (folder / "checkpoint.weights", load_weights_built),
        "checkpoint model": (folder / "checkpoint.model", lambda path: load_model(path, compile=False)),
        "backup": (folder / "backup" / "training_state", load_state),
        "safetensors": (folder / "sequence.safetensors", load_weights_unbuilt),
    }
    return {name: (path.read_bytes(), loader) for name, (path, loader) in files.items()}


def _unbuilt_sequence():
    """The sequence model without an input shape: load_weights builds it from the file."""
    built = sequence_model()
    config = built.get_config()
    config["layers"][0]["config"].pop("input_shape")
    config["build_input_shape"] = None
    return Sequential.from_config(config)


@pytest.fixture(scope="module")
def cli_originals(tmp_path_factory):
    """A finished ``charlm train`` run: its config.json (with the vocabulary) and metrics.csv."""
    return tiny_charlm_run(tmp_path_factory.mktemp("cli"), epochs=2)


# ----------------------------------------------------------------------------- hostile values

def hostile_values(rng):
    """A value chosen to break a loader that trusts its input."""
    choices = [
        None, True, False, 0, -1, 1, 3, 2**31, 2**63, -2**63, 10**30, 0.5, -0.0, 1e308, math.nan, math.inf,
        "", "x", "float32", "int64", "LSTM", "Dense", "\u0000", "\u2603" * 3, "a" * 5000,
        [], [None], [1, 2, 3], [[]], [-1, 8], [10**12, 10**12], list(range(200)), {}, {"a": 1},
        {"class_name": "LSTM", "config": {}}, {"__array__": "nope"}, {"__arrays__": "x"},
        {"bit_generator": "PCG64", "state": {"state": -1, "inc": "x"}},
    ]
    value = choices[int(rng.integers(len(choices)))]
    if rng.random() < 0.05:  # deep nesting
        for _ in range(int(rng.integers(20, 200))):
            value = [value]
    return copy.deepcopy(value)


def places(tree, path=()):
    """Every (container, key) pair inside a JSON tree."""
    found = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            found.append((tree, key))
            found.extend(places(value, path + (key,)))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            found.append((tree, i))
            found.extend(places(value, path + (i,)))
    return found


def pick(rng, items):
    return items[int(rng.integers(len(items)))]


# ----------------------------------------------------------------------------- binary mutations

def bit_flips(raw, rng):
    data = bytearray(raw)
    for _ in range(int(rng.integers(1, 4))):
        data[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
    return bytes(data)


def truncation(raw, rng):
    return raw[:int(rng.integers(len(raw)))]


def extension(raw, rng):
    extra = int(rng.integers(1, 4096))
    return raw + (bytes(extra) if rng.random() < 0.5 else rng.bytes(extra))


def header_value(raw, rng):
    def edit(header):
        container, key = pick(rng, places(header))
        container[key] = hostile_values(rng)
    return _rewrite(raw, edit)


def header_deletion(raw, rng):
    def edit(header):
        container, key = pick(rng, places(header))
        del container[key]
    return _rewrite(raw, edit)


def header_insertion(raw, rng):
    def edit(header):
        objects = [container for container, _ in places(header) if isinstance(container, dict)] or [header]
        pick(rng, objects)[pick(rng, ["x", "units", "format", "layers", "state", "__array__", "epoch"])] = \
            hostile_values(rng)
    return _rewrite(raw, edit)


def array_table(raw, rng):
    """A consistent array table that lies: the data section is untouched, so only rnnkit's own checks
    on top of the array format (layouts, schemas, shapes against models) can catch it."""
    def edit(header):
        entries = header["arrays"]
        if not entries:
            return
        entry = pick(rng, entries)
        move = int(rng.integers(4))
        if move == 0 and entry["shape"]:  # same bytes, other shape
            entry["shape"] = [int(np.prod(entry["shape"]))] if len(entry["shape"]) > 1 else [1, entry["shape"][0]]
        elif move == 1:  # same item size, other dtype
            swap = {"float32": "int32", "int32": "float32", "float64": "int64", "int64": "float64",
                    "bool": "uint8", "uint8": "bool", "int8": "uint8", "float16": "int16", "int16": "float16"}
            entry["dtype"] = swap[entry["dtype"]]
        elif move == 2 and len(entries) > 1:  # two arrays trade names
            other = pick(rng, entries)
            entry["name"], other["name"] = other["name"], entry["name"]
        else:
            entry["name"] = entry["name"] + "_renamed"
    return _rewrite(raw, edit)


def _rewrite(raw, edit):
    rewrite = rewrite_safetensors_header if raw[8:9] == b"{" else rewrite_header
    try:
        return rewrite(raw, edit)
    except (ValueError, TypeError):  # a value json cannot write: the case stays the original file
        return raw


def forged_sparse(raw, rng, path):
    """Declare a data section of 1 to 16 MiB that is one hole (wrong checksum), or a consistent
    small forged table with a right one."""
    _, header, _ = split(raw)
    if rng.random() < 0.5:
        nbytes = int(rng.integers(1, 17)) * 2**20
        header["arrays"] = [{"name": e["name"], "dtype": "uint8", "shape": [nbytes // max(1, len(header["arrays"]))],
                             "offset": 0, "nbytes": nbytes // max(1, len(header["arrays"]))}
                            for e in header["arrays"][:1]] or []
        if header["arrays"]:
            craft_sparse(path, header, -(-header["arrays"][0]["nbytes"] // 64) * 64)
            return None
    count = int(rng.integers(0, 2000))
    header["arrays"] = [{"name": f"x{i}", "dtype": "bool", "shape": [0], "offset": 0, "nbytes": 0}
                        for i in range(count)]
    head = _preamble(len(padded_header(json.dumps(header).encode())), 0)
    return with_checksum(head + padded_header(json.dumps(header).encode()))


def _preamble(header_len, data_len):
    from rnnkit.io import arrays_file
    return arrays_file._PREAMBLE.pack(arrays_file.MAGIC, 1, 0, header_len, data_len)


BINARY_MUTATIONS = {"bit flips": bit_flips, "truncation": truncation, "extension": extension,
                    "header value": header_value, "header deletion": header_deletion,
                    "header insertion": header_insertion, "array table": array_table}
# the share of each mutation in a kind's cases: header edits are where the loaders' own logic is
WEIGHTS = {"bit flips": 2, "truncation": 1, "extension": 1, "header value": 4, "header deletion": 2,
           "header insertion": 2, "array table": 2, "forged sparse": 1}
# safetensors has no checksum and no array table of rnnkit's kind: its header is the table
SAFETENSORS_WEIGHTS = {"bit flips": 3, "truncation": 1, "extension": 1, "header value": 6, "header deletion": 2,
                       "header insertion": 2}


# ----------------------------------------------------------------------------- running a case

class Ledger:
    def __init__(self):
        self.cases, self.outcomes, self.failures = 0, {}, []
        self.worst_cpu, self.worst_peak, self.worst_ratio = (0.0, ""), (0, ""), (0.0, "")

    def run(self, label, path, loader, named_errors):
        size = os.path.getsize(path)
        tracemalloc.start()
        start = time.process_time()
        try:
            loader(path)
            outcome = "loaded"
        except named_errors as err:
            outcome = type(err).__name__
        except Exception as err:  # noqa: BLE001 - what the fuzzer is looking for
            outcome = f"UNNAMED {type(err).__name__}: {str(err)[:200]}"
        finally:
            cpu = time.process_time() - start
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        self.cases += 1
        self.outcomes[outcome.split(":")[0]] = self.outcomes.get(outcome.split(":")[0], 0) + 1
        self.worst_cpu = max(self.worst_cpu, (cpu, label))
        self.worst_peak = max(self.worst_peak, (peak, f"{label} ({size:,}-byte file)"))
        if size >= 4096:  # below that the constant part of the bound (Python objects of any load) dominates
            self.worst_ratio = max(self.worst_ratio, (peak / size, f"{label} ({peak:,} bytes for {size:,})"))
        if outcome.startswith("UNNAMED"):
            self.failures.append(f"{label}: {outcome}")
        if peak > memory_bound(size):
            self.failures.append(f"{label}: peak {peak:,} bytes for a {size:,}-byte file")
        if cpu > CPU_SECONDS:
            self.failures.append(f"{label}: {cpu:.2f} s of CPU")


@pytest.fixture(scope="module")
def ledger():
    book = Ledger()
    yield book
    summary = {"cases": book.cases, "outcomes": book.outcomes, "worst_cpu_seconds": round(book.worst_cpu[0], 4),
               "worst_cpu_case": book.worst_cpu[1], "worst_peak_bytes": book.worst_peak[0],
               "worst_peak_case": book.worst_peak[1],
               "worst_peak_per_file_byte (files >= 4 KiB)": round(book.worst_ratio[0], 2),
               "worst_ratio_case": book.worst_ratio[1]}
    print("\nfile fuzzer:", json.dumps(summary, indent=1))
    if os.environ.get("RNNKIT_FUZZ_REPORT"):
        with open(os.environ["RNNKIT_FUZZ_REPORT"], "w") as handle:
            json.dump(summary, handle, indent=1)


def per_mutation(request):
    count = int(os.environ.get("RNNKIT_FUZZ_CASES", DEFAULT_PER_MUTATION))
    return count * SLOW_FACTOR if request.node.get_closest_marker("slow") else count


KINDS = ["arrays", "weights", "model", "model (convolution, normalization)", "state", "checkpoint weights",
         "checkpoint model", "backup", "safetensors"]


def fuzz_binary(kind, originals, ledger, tmp_path, count, seed):
    raw, loader = originals[kind]
    rng = np.random.default_rng(seed)
    safetensors = kind == "safetensors"
    path = tmp_path / ("case.safetensors" if safetensors else "case")  # the suffix picks the format
    for mutation, weight in (SAFETENSORS_WEIGHTS if safetensors else WEIGHTS).items():
        for i in range(count * weight):
            if mutation == "forged sparse":
                data = forged_sparse(raw, rng, path)
            else:
                data = BINARY_MUTATIONS[mutation](raw, rng)
            if data is not None:
                path.write_bytes(data)
            ledger.run(f"{kind} / {mutation} #{i}", path, loader, RnnkitError)
    assert not ledger.failures, "\n".join(ledger.failures)


@pytest.mark.parametrize("kind", KINDS)
def test_rnnkit_files(kind, originals, ledger, tmp_path, request):
    fuzz_binary(kind, originals, ledger, tmp_path, per_mutation(request), seed=KINDS.index(kind))


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_rnnkit_files_longer(kind, originals, ledger, tmp_path, request):
    fuzz_binary(kind, originals, ledger, tmp_path, per_mutation(request), seed=1000 + KINDS.index(kind))


# ----------------------------------------------------------------------------- the CLI's files

def text_mutation(text, rng):
    """Bytes of a mutated text file: flips, cuts, junk, NULs, invalid UTF-8, long lines."""
    data = bytearray(text.encode())
    move = int(rng.integers(6))
    if move == 0:
        return bit_flips(bytes(data), rng)
    if move == 1:
        return bytes(data[:int(rng.integers(len(data) + 1))])
    if move == 2:
        return bytes(data) + rng.bytes(int(rng.integers(1, 300)))
    if move == 3:
        at = int(rng.integers(len(data) + 1))
        return bytes(data[:at]) + pick(rng, [b"\x00", b"\xff\xfe", b'"', b",,,,", b"\n" * 50, b"1_000",
                                             b"nan", b"\r", b"x" * 200_000]) + bytes(data[at:])
    if move == 4:
        return bytes(data) * int(rng.integers(2, 50))
    return rng.bytes(int(rng.integers(0, 500)))


def json_mutation(config, rng):
    config = copy.deepcopy(config)
    move = int(rng.integers(3))
    spots = places(config)
    if move == 0 and spots:
        container, key = pick(rng, spots)
        container[key] = hostile_values(rng)
    elif move == 1 and spots:
        container, key = pick(rng, spots)
        del container[key]
    else:
        config = hostile_values(rng)
    return json.dumps(config).encode()


def fuzz_cli(run, ledger, tmp_path, count, seed):
    rng = np.random.default_rng(seed)
    config_text = (run / "config.json").read_text()
    config = json.loads(config_text)
    metrics_text = (run / "metrics.csv").read_text()
    target = tmp_path / "run"

    def fresh():
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(run, target)
        return RunDir("charlm", str(target), resume=True)

    def load_config(_):
        run_dir = RunDir("charlm", str(target), resume=True)
        run_dir.write_config(config["model"], {})

    def load_metrics(_):
        run_dir = RunDir("charlm", str(target), resume=True)
        read_history(run_dir)
        run_dir.best_logged("val_loss", "min")

    def sample(_):
        import argparse
        args = argparse.Namespace(run_dir=str(target), length=3, temperature=1.0, prime="", seed=0,
                                  output=str(tmp_path / "sample.txt"))
        charlm.sample(args)

    for i in range(count * 4):
        fresh()
        mutated = json_mutation(config, rng) if i % 2 else text_mutation(config_text, rng)
        (target / "config.json").write_bytes(mutated)
        ledger.run(f"config.json #{i}", target / "config.json", load_config, (CliError, RnnkitError))
    for i in range(count * 4):
        fresh()
        (target / "metrics.csv").write_bytes(text_mutation(metrics_text, rng))
        ledger.run(f"metrics.csv #{i}", target / "metrics.csv", load_metrics, (CliError, RnnkitError))
    for i in range(count * 4):
        fresh()
        edited = copy.deepcopy(config)
        vocab = edited["model"]["vocab"]
        edited["model"]["vocab"] = pick(rng, [hostile_values(rng), vocab[::-1], vocab[:-1], vocab + "\u2603",
                                              vocab[:1] + vocab, "".join(rng.permutation(list(vocab)))])
        if i % 3 == 0:  # rebuilt around best.weights: the other model settings are read too
            (target / "model.rnnkit").unlink()
            container, key = pick(rng, places(edited["model"]))
            container[key] = hostile_values(rng)
        (target / "config.json").write_text(json.dumps(edited))
        ledger.run(f"vocabulary #{i}", target / "config.json", sample, (CliError, RnnkitError))
    assert not ledger.failures, "\n".join(ledger.failures)


def test_cli_run_directory_files(cli_originals, ledger, tmp_path, request):
    fuzz_cli(cli_originals, ledger, tmp_path, per_mutation(request), seed=99)


@pytest.mark.slow
def test_cli_run_directory_files_longer(cli_originals, ledger, tmp_path, request):
    fuzz_cli(cli_originals, ledger, tmp_path, per_mutation(request), seed=199)
