"""rnnkit letters: the next-letter demo end to end (in-process), its files, predictions and errors."""
import io
import json
import os
import re
import time

import numpy as np
import pytest

from rnnkit import cli
from rnnkit.apps import letters
from rnnkit.apps.common import pyplot


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def no_stdin(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))


def final_accuracy(out):
    return float(re.search(r"final: loss ([\d.]+)\s+accuracy ([\d.]+)", out).group(2))


def check_files(run_dir):
    for name in ("config.json", "metrics.csv", "best.weights", "weights.txt"):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    if pyplot() is not None:
        with open(os.path.join(run_dir, "training_curves.png"), "rb") as handle:
            assert handle.read(4) == b"\x89PNG"


def test_make_data_shapes_and_targets():
    x, y = letters.make_data(1)
    assert x.shape == (5, 1, 5) and sorted(y.tolist()) == [0, 1, 2, 3, 4]
    assert all(np.argmax(x[k, 0]) == (y[k] - 1) % 5 for k in range(5))
    x4, y4 = letters.make_data(4)
    assert x4.shape == (5, 4, 5)
    for k in range(5):  # four consecutive letters, then the fifth
        first = int(np.argmax(x4[k, 0]))
        assert [int(np.argmax(x4[k, t])) for t in range(4)] == [(first + t) % 5 for t in range(4)]
        assert y4[k] == (first + 4) % 5


def test_letters_1pre1_learns_the_cycle(tmp_path, capsys, no_stdin):
    run_dir = str(tmp_path / "run")
    start = time.perf_counter()
    assert cli.main(["letters", "--run-dir", run_dir, "--verbose", "0"]) == 0
    elapsed = time.perf_counter() - start
    out = capsys.readouterr().out
    assert "Total params: 47" in out
    assert final_accuracy(out) == 1.0
    for a, b in zip("abcde", "bcdea"):  # stdin is not a terminal: every letter is predicted, nothing is asked
        assert f"\n{a}->{b}\n" in out
    check_files(run_dir)
    weights = open(os.path.join(run_dir, "weights.txt")).read()
    for name, shape in (("simple_rnn/kernel", "(5, 3)"), ("simple_rnn/recurrent_kernel", "(3, 3)"),
                        ("simple_rnn/bias", "(3,)"), ("dense/kernel", "(3, 5)"), ("dense/bias", "(5,)")):
        assert f"{name}\n{shape}\n" in weights
    rows = open(os.path.join(run_dir, "metrics.csv")).read().splitlines()
    assert rows[0].startswith("epoch,") and "sparse_categorical_accuracy" in rows[0] and len(rows) == 101
    config = json.load(open(os.path.join(run_dir, "config.json")))
    assert config["model"] == {"learning_rate": 0.01, "mode": "1pre1", "units": 3}
    assert elapsed < 60


def test_letters_4pre1_predict_option_and_resume(tmp_path, capsys):
    run_dir = str(tmp_path / "run4")
    assert cli.main(["letters", "--mode", "4pre1", "--epochs", "30", "--run-dir", run_dir, "--verbose", "0",
                     "--predict", "abcd, EABC"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\nabcd->[a-e]\neabc->[a-e]\n", out)
    check_files(run_dir)
    # Resuming continues from the backup at epoch 30 up to 40: ten more CSV rows, not forty.
    assert cli.main(["letters", "--mode", "4pre1", "--epochs", "40", "--run-dir", run_dir, "--resume",
                     "--verbose", "0", "--predict", "bcde"]) == 0
    assert len(open(os.path.join(run_dir, "metrics.csv")).read().splitlines()) == 41
    assert "\nbcde->" in capsys.readouterr().out


def test_resume_with_a_different_model_is_refused(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    assert cli.main(["letters", "--epochs", "2", "--run-dir", run_dir, "--verbose", "0", "--predict", "a"]) == 0
    capsys.readouterr()
    assert cli.main(["letters", "--units", "4", "--run-dir", run_dir, "--resume", "--predict", "a"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "different model (units: 3 there, 4 now)" in err
    assert cli.main(["letters", "--run-dir", run_dir, "--predict", "a"]) == 2
    assert "already holds a run" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--predict", "a,z"], "'z' is not 1 letter"),
    (["--predict", "abc", "--mode", "4pre1"], "'abc' is not 4 letters"),
    (["--predict", ","], "--predict needs letters"),
])
def test_bad_predictions_fail_before_training(tmp_path, capsys, argv, message):
    run_dir = tmp_path / "never"
    assert cli.main(["letters", "--run-dir", str(run_dir), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnkit letters: error: ") and message in err and err.count("\n") == 1
    assert not run_dir.exists()


def test_predict_from_standard_input(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("c\nd\n"))
    assert cli.main(["letters", "--epochs", "3", "--run-dir", str(tmp_path / "r"), "--verbose", "0",
                     "--predict", "-"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\nc->[a-e]\nd->[a-e]\n", out)


def test_interactive_prompt_on_a_terminal(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", FakeTerminal("3\na\nq\ne\n"))
    assert cli.main(["letters", "--run-dir", str(tmp_path / "r"), "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    assert "How many inputs to test?" in out
    assert "a->b\n" in out and "e->a\n" in out
    assert "input: 'q' is not 1 letter" in out  # a typo is reported and the loop goes on


def test_progress_bars_by_default(tmp_path, capsys, no_stdin):
    assert cli.main(["letters", "--epochs", "2", "--run-dir", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "━" in out


@pytest.mark.slow
def test_letters_default_settings_reach_accuracy_one_quickly(tmp_path, capsys, no_stdin):
    for mode in ("1pre1", "4pre1"):
        start = time.perf_counter()
        assert cli.main(["letters", "--mode", mode, "--run-dir", str(tmp_path / mode), "--verbose", "0"]) == 0
        assert time.perf_counter() - start < 60
        assert final_accuracy(capsys.readouterr().out) == 1.0
