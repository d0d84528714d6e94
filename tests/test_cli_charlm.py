"""rnnkit charlm train / sample: text handling, bits per character, generation, the command end to end."""
import csv
import json
import math
import os
import re

import numpy as np
import pytest

from rnnkit import cli
from rnnkit.apps import charlm
from rnnkit.apps.charlm_data import (DEFAULT_MODULES, TextError, default_text, encode, read_text, split_windows,
                                     vocabulary, windows)
from rnnkit.apps.charlm_model import BitsPerCharacter, build_model, generate, softmax_with_temperature
from rnnkit.apps.common import pyplot
from rnnkit.models.tbptt import state_carriers

TEXT = "def add(a, b):\n    return a + b\n\n" * 40
TINY = ["--units", "8", "--embedding", "4", "--seq-len", "16", "--epochs", "2", "--batch-size", "16",
        "--sample-length", "30", "--verbose", "0"]


def file_text(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def csv_rows(path):
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def json_file(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "code.txt"
    path.write_text(TEXT, encoding="utf-8")
    return str(path)


def train(tmp_path, text_file, *extra, run="run"):
    run_dir = str(tmp_path / run)
    status = cli.main(["charlm", "train", "--text", text_file, *TINY, "--run-dir", run_dir, *extra])
    return status, run_dir


# ---------------------------------------------------------------------- text
def test_windows_predict_the_next_character():
    ids = np.arange(11)
    x, y = windows(ids, 3)
    assert x.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert y.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_every_tenth_window_validates():
    (xt, _), (xv, _) = split_windows(np.arange(201), 4)
    assert len(xt) == 45 and len(xv) == 5
    assert xv[:, 0].tolist() == [36, 76, 116, 156, 196]
    assert not set(xt[:, 0].tolist()) & set(xv[:, 0].tolist())


def test_text_too_short_for_the_window_is_refused():
    split_windows(np.arange(9), 4)  # two windows of 4 + 1: fine
    with pytest.raises(TextError, match="too few for --seq-len 4"):
        split_windows(np.arange(8), 4)


def test_vocabulary_and_unknown_characters():
    vocab = vocabulary("banana")
    assert vocab == "abn"
    assert encode("nab", vocab).tolist() == [2, 0, 1]
    with pytest.raises(TextError, match="'x', 'z'"):
        encode("zax", vocab)


def test_read_text_errors(tmp_path):
    with pytest.raises(TextError, match="no such file"):
        read_text(str(tmp_path / "missing.txt"))
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(TextError, match="empty"):
        read_text(str(tmp_path / "empty.txt"))
    (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))
    with pytest.raises(TextError, match="not UTF-8"):
        read_text(str(tmp_path / "latin1.txt"))
    with pytest.raises(TextError, match="folder"):
        read_text(str(tmp_path))


def test_default_text_is_the_named_stdlib_modules():
    text, source = default_text()
    assert len(text) > 50_000 and "def " in text
    assert all(name in source for name in DEFAULT_MODULES)
    assert all(name in charlm.DESCRIPTION for name in DEFAULT_MODULES)  # --help names them


# ---------------------------------------------------------------------- model pieces
def test_softmax_with_temperature():
    logits = np.array([1.0, 2.0, 3.0])
    p = softmax_with_temperature(logits, 1.0)
    np.testing.assert_allclose(p, np.exp(logits) / np.exp(logits).sum())
    assert softmax_with_temperature(logits, 0.01)[2] > 0.999
    np.testing.assert_allclose(softmax_with_temperature(logits, 1e6), np.full(3, 1 / 3), atol=1e-5)


def test_bits_per_character_callback():
    logs = {"loss": math.log(2) * 1.5, "val_loss": math.log(2) * 2.0}
    BitsPerCharacter().on_epoch_end(0, logs)
    assert logs["bpc"] == pytest.approx(1.5) and logs["val_bpc"] == pytest.approx(2.0)


def test_stateful_generation_equals_rereading_the_whole_prefix():
    """Greedy generation one step at a time = argmax of the model run on the whole prefix each time."""
    vocab = "abcdef"
    model = build_model(len(vocab), "gru", layers=2, units=6, embedding=3, seed=1)
    model.build((None, 5))
    prime = np.array([0, 3, 1])
    text = generate(model, vocab, prime, 8, 1e-4, np.random.default_rng(0))
    ids = list(prime)
    for char in text:
        logits = model(np.array([ids]), training=False)[0, -1]
        assert vocab[int(np.argmax(logits))] == char
        ids.append(vocab.index(char))
    assert all(not layer.stateful for layer in state_carriers(model)) and state_carriers(model)


# ---------------------------------------------------------------------- the command
def test_train_tiny_run_writes_every_file_and_reports_bits(tmp_path, text_file, capsys):
    status, run_dir = train(tmp_path, text_file)
    assert status == 0
    out = capsys.readouterr().out
    rows = re.findall(r"^\s+(\d+)\s+([\d.]+)\s+([\d.]+)$", out, re.MULTILINE)
    assert [int(r[0]) for r in rows] == [1, 2]
    assert all(0 < float(v) < 10 for r in rows for v in r[1:])
    assert "--- sample" in out and "validation" in out
    for name in ("config.json", "metrics.csv", "best.weights", "model.rnnkit", "sample.txt"):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    metrics = csv_rows(os.path.join(run_dir, "metrics.csv"))
    assert len(metrics) == 2
    for row in metrics:
        assert float(row["bpc"]) == pytest.approx(float(row["loss"]) / math.log(2), rel=1e-6)
        assert float(row["val_bpc"]) == pytest.approx(float(row["val_loss"]) / math.log(2), rel=1e-6)
    config = json_file(os.path.join(run_dir, "config.json"))
    assert config["model"]["vocab"] == vocabulary(TEXT) and config["model"]["cell"] == "lstm"
    assert len(file_text(os.path.join(run_dir, "sample.txt"))) == 31  # newline prime + 30
    if pyplot() is not None:
        with open(os.path.join(run_dir, "bits_per_char.png"), "rb") as handle:
            assert handle.read(4) == b"\x89PNG"


def test_train_learns_a_repetitive_text(tmp_path, text_file, capsys):
    status, _ = train(tmp_path, text_file, "--epochs", "25", "--units", "32", "--learning-rate", "0.02",
                      "--cell", "gru")
    assert status == 0
    val = float(re.search(r"best model: validation ([\d.]+) bits", capsys.readouterr().out).group(1))
    assert val < 1.0  # log2(13) = 3.7 bits for guessing among its 13 characters


def test_train_with_truncated_bptt_and_two_layers(tmp_path, text_file, capsys):
    status, run_dir = train(tmp_path, text_file, "--tbptt-steps", "4", "--layers", "2", "--cell", "simplernn")
    assert status == 0
    assert json_file(os.path.join(run_dir, "config.json"))["settings"]["tbptt_steps"] == 4


def test_sample_loads_the_run_and_is_reproducible(tmp_path, text_file, capsys):
    status, run_dir = train(tmp_path, text_file)
    assert status == 0
    capsys.readouterr()
    output = str(tmp_path / "out.txt")
    args = ["charlm", "sample", "--run-dir", run_dir, "--length", "40", "--prime", "def ", "--seed", "3"]
    assert cli.main([*args, "--output", output]) == 0
    first = file_text(output)
    assert first.startswith("def ") and len(first) == 44 and set(first) <= set(TEXT)
    assert first in capsys.readouterr().out
    assert cli.main(args) == 0
    assert file_text(os.path.join(run_dir, "sample.txt")) == first


def test_sample_falls_back_to_best_weights(tmp_path, text_file, capsys):
    _, run_dir = train(tmp_path, text_file)
    os.remove(os.path.join(run_dir, "model.rnnkit"))
    assert cli.main(["charlm", "sample", "--run-dir", run_dir, "--length", "10"]) == 0


def test_default_text_tiny_run(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    assert cli.main(["charlm", "train", *TINY, "--batch-size", "512", "--epochs", "1", "--run-dir", run_dir]) == 0
    out = capsys.readouterr().out
    assert "standard-library modules" in out
    assert json_file(os.path.join(run_dir, "config.json"))["model"]["text"] == "stdlib"


def test_resume_continues_and_refuses_another_model(tmp_path, text_file, capsys):
    status, run_dir = train(tmp_path, text_file)
    assert status == 0
    status, _ = train(tmp_path, text_file, "--resume", "--epochs", "3")
    assert status == 0
    assert len(csv_rows(os.path.join(run_dir, "metrics.csv"))) == 3
    capsys.readouterr()
    status, _ = train(tmp_path, text_file, "--resume", "--units", "9")
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "units" in err


def one_line_error(capsys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rnnkit charlm: error:"), err
    return err


def test_train_errors_are_one_line(tmp_path, text_file, capsys):
    assert cli.main(["charlm", "train", "--text", str(tmp_path / "nope.txt"), "--run-dir", str(tmp_path / "a")]) == 2
    assert "no such file" in one_line_error(capsys)
    (tmp_path / "empty.txt").write_text("")
    assert cli.main(["charlm", "train", "--text", str(tmp_path / "empty.txt"), "--run-dir", str(tmp_path / "b")]) == 2
    assert "empty" in one_line_error(capsys)
    (tmp_path / "short.txt").write_text("abc\n")
    assert cli.main(["charlm", "train", "--text", str(tmp_path / "short.txt"), "--run-dir", str(tmp_path / "c")]) == 2
    assert "too few for --seq-len" in one_line_error(capsys)
    status, _ = train(tmp_path, text_file, "--tbptt-steps", "17", run="d")
    assert status == 2 and "--tbptt-steps" in one_line_error(capsys)
    assert not os.path.exists(tmp_path / "a") and not os.path.exists(tmp_path / "d")


def test_sample_errors_are_one_line(tmp_path, text_file, capsys):
    assert cli.main(["charlm", "sample", "--run-dir", str(tmp_path / "none")]) == 2
    assert "config.json" in one_line_error(capsys)
    _, run_dir = train(tmp_path, text_file)
    capsys.readouterr()
    assert cli.main(["charlm", "sample", "--run-dir", run_dir, "--prime", "Zebra"]) == 2
    assert "'Z'" in one_line_error(capsys)
    other = str(tmp_path / "gradflow")
    assert cli.main(["gradflow", "--length", "4", "--units", "2", "--epochs", "1", "--train-size", "8",
                     "--eval-size", "4", "--cells", "gru", "--verbose", "0", "--run-dir", other]) == 0
    capsys.readouterr()
    assert cli.main(["charlm", "sample", "--run-dir", other]) == 2
    assert "gradflow" in one_line_error(capsys)
    empty = tmp_path / "fresh"
    empty.mkdir()
    (empty / "config.json").write_text(json.dumps({"command": "charlm", "model": {"vocab": "ab"}}))
    assert cli.main(["charlm", "sample", "--run-dir", str(empty)]) == 2
    assert "no trained model" in one_line_error(capsys)


def test_missing_action_is_a_usage_error(capsys):
    assert cli.main(["charlm"]) == 2
    assert "train" in capsys.readouterr().err


@pytest.mark.slow
def test_default_training_learns_python_style(tmp_path, capsys):
    """The README's claim: with the defaults (LSTM(128), 30 epochs on the stdlib modules) the model gets
    well below 2 bits per character and its sample is indented Python-looking text."""
    run_dir = str(tmp_path / "run")
    assert cli.main(["charlm", "train", "--run-dir", run_dir, "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    val = float(re.search(r"best model: validation ([\d.]+) bits", out).group(1))
    assert val < 2.0
    sample = file_text(os.path.join(run_dir, "sample.txt"))
    assert "\n    " in sample and any(word in sample for word in ("self", "def ", "return", "if "))
