"""The rnnkit command under attack (issue #11, defects 8 and 9): option combinations that hung, inputs
that gave tracebacks, files read whole. Every error is one line on stderr and exit status 2."""
import itertools
import json
import os
import subprocess
import sys
import time
import tracemalloc

import pytest

from rnnkit import cli, memory_limits
from rnnkit.apps import forecast
from rnnkit.apps.console import CliError
from rnnkit.apps.reading import parse_float, parse_int

from cli_runs import tiny_charlm_run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = ["--epochs", "1", "--verbose", "0"]


def one_line_error(capsys, command):
    err = capsys.readouterr().err
    assert err.startswith(f"rnnkit {command}") and ": error: " in err and err.count("\n") == 1, err
    return err


def run_process(args, timeout=60):
    """The real command in a child process: a hang shows as a timeout, a traceback as stderr lines."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "rnnkit.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": REPO})
    return done, time.perf_counter() - start


# ----------------------------------------------------------------------------- defect 8

@pytest.mark.parametrize("args, message", [
    (["--val-fraction", "0.5", "--test-fraction", "0.5"], "leave 0 of the series for training"),
    (["--val-fraction", "0.6", "--test-fraction", "0.39"], "together they may take at most 0.95"),
    (["--window", "10000000"], "need at least 1428"),
    (["--horizon", "10000000", "--window", "3"], "need at least"),
])
def test_forecast_refuses_impossible_splits_at_once(tmp_path, args, message):
    """--val-fraction 0.5 --test-fraction 0.5 never returned; --window 10000000 ran past 30 s."""
    done, _ = run_process(["forecast", *args, "--run-dir", str(tmp_path / "r")])
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr
    assert not (tmp_path / "r").exists()


def brute_force_minimum_rows(window, horizon, val, test):
    n = 1
    while True:
        train, _, n_test = forecast.split_sizes(n, window, horizon, val, test)
        if train - window - horizon + 1 >= forecast.MIN_TRAIN_SAMPLES and (n_test > 0 or test == 0):
            return n
        n += 1


def test_minimum_rows_in_closed_form_equals_counting():
    fractions = [0, 0.05, 0.15, 0.3, 0.35, 0.5]
    for window, horizon, val, test in itertools.product([1, 3, 24], [1, 5, 17], fractions, fractions):
        if val + test <= 1 - forecast.MIN_TRAIN_FRACTION:
            assert forecast.minimum_rows(window, horizon, val, test) == \
                brute_force_minimum_rows(window, horizon, val, test), (window, horizon, val, test)
    start = time.perf_counter()
    assert forecast.minimum_rows(10**7, 10**7, 0.3, 0.6) > 10**8
    assert time.perf_counter() - start < 1
    with pytest.raises(CliError, match="leave"):
        forecast.minimum_rows(24, 5, 0.5, 0.5)


# ----------------------------------------------------------------------------- defect 9: run-directory files

def finished_run(tmp_path, capsys, command="letters"):
    run = tmp_path / "run"
    assert cli.main([command, "--run-dir", str(run), "--predict", "a", "--epochs", "2", "--verbose", "0"]) == 0
    capsys.readouterr()
    return run


@pytest.mark.parametrize("config, message", [
    ("[]", "holds list [], not an object"),
    ('{"model": "x"}', 'its "command" is None'),
    ('{"command": "letters", "model": "x"}', 'its "model" is \'x\', not an object'),
    ('{"command": "letters", "model": {}, "settings": []}', 'its "settings" is [], not an object'),
    ('{"command": ', "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8 text"),
])
def test_resume_with_an_edited_config_is_one_line(tmp_path, capsys, config, message):
    """--resume with a config.json of [] or {"model": "x"} raised AttributeError."""
    run = finished_run(tmp_path, capsys)
    path = run / "config.json"
    path.write_bytes(config if isinstance(config, bytes) else config.encode())
    assert cli.main(["letters", "--run-dir", str(run), "--resume", "--predict", "a", *QUICK]) == 2
    assert message in one_line_error(capsys, "letters")


def test_resume_with_a_damaged_metrics_csv_is_one_line(tmp_path, capsys):
    """A non-UTF-8 metrics.csv raised UnicodeDecodeError."""
    run = finished_run(tmp_path, capsys)
    (run / "metrics.csv").write_bytes(b"epoch,loss\n0,\xff\xfe1.0\n")
    assert cli.main(["letters", "--run-dir", str(run), "--resume", "--predict", "a", "--epochs", "3"]) == 2
    assert "metrics.csv" in one_line_error(capsys, "letters") and "not UTF-8"


@pytest.mark.parametrize("name", ["best.weights", "backup/training_state"])
def test_damaged_checkpoints_are_one_line(tmp_path, capsys, name):
    run = finished_run(tmp_path, capsys)
    target = run / name
    target.write_bytes(target.read_bytes()[:-7] + b"garbage")
    if name == "best.weights":  # letters resumes from best.weights only when there is no backup
        _remove_tree(run / "backup")
    assert cli.main(["letters", "--run-dir", str(run), "--resume", "--predict", "a", "--epochs", "3",
                     "--verbose", "0"]) == 2
    assert "cannot load" in one_line_error(capsys, "letters")


@pytest.fixture(scope="module")
def charlm_run(tmp_path_factory):
    return tiny_charlm_run(tmp_path_factory.mktemp("charlm"))


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(vocab=["a", "b"]), "vocabulary must be a non-empty string"),
    (lambda m: m.update(vocab=""), "vocabulary must be a non-empty string"),
    (lambda m: m.update(vocab="aab"), "vocabulary must be a non-empty string of distinct characters"),
    (lambda m: m.update(vocab="tac"), "lists 3 characters but the trained model reads"),
    (lambda m: m.update(vocab=m["vocab"] + "\u2603"), "characters but the trained model reads"),
])
def test_charlm_sample_with_an_edited_vocabulary_is_one_line(charlm_run, tmp_path, capsys, edit, message):
    """An edited vocabulary raised IndexError or TypeError."""
    run = tmp_path / "run"
    _copy_run(charlm_run, run)
    config = json.loads((run / "config.json").read_text())
    edit(config["model"])
    (run / "config.json").write_text(json.dumps(config))
    assert cli.main(["charlm", "sample", "--run-dir", str(run), "--prime", "t", "--length", "5"]) == 2
    assert message in one_line_error(capsys, "charlm")


@pytest.mark.parametrize("key, value", [("units", "x"), ("layers", -1), ("cell", "tcn"), ("seq_len", None),
                                        ("units", 10**9)])
def test_charlm_sample_rebuilding_from_best_weights_checks_the_settings(charlm_run, tmp_path, capsys, key, value):
    run = tmp_path / "run"
    _copy_run(charlm_run, run)
    (run / "model.rnnkit").unlink()  # as after an interrupted train: the model is rebuilt around best.weights
    config = json.loads((run / "config.json").read_text())
    config["model"][key] = value
    (run / "config.json").write_text(json.dumps(config))
    assert cli.main(["charlm", "sample", "--run-dir", str(run), "--prime", "t", "--length", "5"]) == 2
    one_line_error(capsys, "charlm")


def _copy_run(source, target):
    import shutil
    shutil.copytree(source, target)


def _remove_tree(path):
    import shutil
    shutil.rmtree(path)


# ----------------------------------------------------------------------------- defect 9: inputs and sizes

@pytest.mark.parametrize("command", [
    ["letters", "--predict", "a"], ["forecast"], ["classify"], ["charlm", "train"], ["gradflow", "--cells", "lstm"],
])
def test_huge_units_are_one_line(tmp_path, capsys, command):
    """--units 100000 raised a bare MemoryError."""
    assert cli.main([*command, "--units", "100000", "--run-dir", str(tmp_path / "r"), *QUICK]) == 2
    err = one_line_error(capsys, command[0])
    assert "bytes" in err and "memory available" in err


@pytest.mark.parametrize("args, message", [
    (["charlm", "train", "--embedding", "1000000000"], "--embedding 1000000000"),
    (["forecast", "--layers", "1000000"], "at most 64 recurrent layers"),
    (["gradflow", "--train-size", "1000000000000"], "--train-size 1000000000000"),
])
def test_other_huge_sizes_are_refused_before_building(tmp_path, capsys, args, message):
    start = time.perf_counter()
    assert cli.main([*args, "--run-dir", str(tmp_path / "r"), *QUICK]) == 2
    assert message in one_line_error(capsys, args[0])
    assert time.perf_counter() - start < 10  # refused up front, not after building


def test_forecast_csv_that_is_a_device_a_folder_or_a_fifo(tmp_path, capsys):
    """--csv /dev/zero or a folder were reported as 'no such file' (and a FIFO would block)."""
    for path, message in (("/dev/zero", "not a regular file"), (str(tmp_path), "is a folder")):
        if os.path.exists(path):
            assert cli.main(["forecast", "--csv", path, "--run-dir", str(tmp_path / "r"), *QUICK]) == 2
            assert message in one_line_error(capsys, "forecast")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo")
        done, _ = run_process(["forecast", "--csv", str(tmp_path / "fifo"), "--run-dir", str(tmp_path / "r")])
        assert done.returncode == 2 and "not a regular file" in done.stderr
        done, _ = run_process(["charlm", "train", "--text", str(tmp_path / "fifo"), "--run-dir", str(tmp_path / "r")])
        assert done.returncode == 2 and "not a regular file" in done.stderr


@pytest.mark.parametrize("args", [["--epochs", "1_000"], ["--window", "2_4"], ["--learning-rate", "0.00_5"],
                                  ["--batch-size", " 8"], ["--seed", "١"], ["--verbose", "0_1"]])
def test_numbers_with_underscores_or_spaces_are_refused(tmp_path, capsys, args):
    """A value written 1_000 was accepted (Python's int() takes it)."""
    assert cli.main(["forecast", *args, "--run-dir", str(tmp_path / "r")]) == 2
    err = one_line_error(capsys, "forecast")
    assert "expected" in err and "--help" in err


def test_strict_number_parsing():
    assert parse_int("12") == 12 and parse_int("-3") == -3 and parse_float("-.5e3") == -500.0
    for text in ("1_000", " 1", "1 ", "١", "0x10", "", "1.0"):
        with pytest.raises(ValueError):
            parse_int(text)
    for text in ("1_000.5", " 2.0", "١.٥", "0x10", ""):
        with pytest.raises(ValueError):
            parse_float(text)


def test_a_csv_value_with_an_underscore_is_not_a_number(tmp_path, capsys):
    path = tmp_path / "d.csv"
    path.write_text("t,v\n" + "".join(f"{i},{i}\n" for i in range(60)) + "60,1_000\n")
    assert cli.main(["forecast", "--csv", str(path), "--run-dir", str(tmp_path / "r"), *QUICK]) == 2
    assert "line 62, column 'v': '1_000' is not a number" in one_line_error(capsys, "forecast")


def test_the_csv_is_streamed_not_read_whole(tmp_path):
    """A 135 MB CSV took 2.3 GB: every row was kept as a list of strings."""
    path = tmp_path / "long.csv"
    rows = 200_000
    with open(path, "w") as handle:
        handle.write("date,open,close\n")
        handle.writelines(f"2020-01-{i % 28 + 1:02d}T{i},{i * 0.5:.3f},{i * 0.25:.6f}\n" for i in range(rows))
    size = os.path.getsize(path)
    tracemalloc.start()
    try:
        values, column, labels = forecast.read_series(str(path), "close")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(values) == rows and values[-1] == (rows - 1) * 0.25 and column == "close"
    assert peak < 8 * rows + 2**20 < size, (peak, size)  # 8 bytes a value, plus a bounded set of labels
    ticks = labels.ticks(0, rows - 1)
    assert ticks[0] == (0, "2020-01-01T0") and all(text.endswith(f"T{pos}") for pos, text in ticks)


def test_usage_errors_are_one_line(capsys):
    for argv in (["charlm"], ["nope"], ["letters", "--mode", "9pre1"]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error:" in err and "--help" in err, err


def test_interactive_letters_end_quietly_when_input_ends(tmp_path, capsys, monkeypatch):
    import io

    class ClosedTerminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdin", ClosedTerminal("3\na\n"))  # promises 3 inputs, gives 1
    assert cli.main(["letters", "--run-dir", str(tmp_path / "r"), *QUICK]) == 0
    assert "a->" in capsys.readouterr().out


def test_the_size_check_spares_what_fits(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(memory_limits, "available_bytes", lambda: 64 * 2**20)
    assert cli.main(["forecast", "--units", "8", "--run-dir", str(tmp_path / "ok"), *QUICK]) == 0
    assert cli.main(["forecast", "--units", "2000", "--run-dir", str(tmp_path / "big"), *QUICK]) == 2
    assert "memory available" in one_line_error(capsys, "forecast")
