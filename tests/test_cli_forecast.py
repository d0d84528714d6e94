"""rnnkit forecast: windows, the split, the bundled series, a user CSV, the reported numbers and the errors."""
import json
import os
import re

import numpy as np
import pytest

from rnnkit import cli
from rnnkit.apps import forecast
from rnnkit.apps.common import pyplot

TINY = ["--epochs", "2", "--units", "4", "--window", "6", "--horizon", "3", "--verbose", "0"]


def numbers(out):
    model = re.search(r"RMSE ([\d.]+)\s+MAE ([\d.]+)", out)
    base = re.search(r"last-value baseline:\s+RMSE ([\d.]+)\s+MAE ([\d.]+)", out)
    return float(model.group(1)), float(base.group(1))


def write_csv(path, text):
    path.write_text(text)
    return str(path)


def test_make_windows_pairs_inputs_with_the_following_values():
    series = np.arange(20, dtype=np.float64)
    x, y, origins = forecast.make_windows(series, window=4, horizon=2, start=10, stop=16)
    assert origins.tolist() == [10, 11, 12, 13, 14]
    assert x.shape == (5, 4, 1) and y.shape == (5, 2)
    assert x[0, :, 0].tolist() == [6, 7, 8, 9] and y[0].tolist() == [10, 11]
    assert y[-1].tolist() == [14, 15]  # targets never pass `stop`


def test_split_sizes_and_minimum_rows():
    assert forecast.split_sizes(309, 24, 5, 0.15, 0.15) == (217, 46, 46)
    need = forecast.minimum_rows(24, 5, 0.15, 0.15)
    train, val, test = forecast.split_sizes(need, 24, 5, 0.15, 0.15)
    assert train - 24 - 5 + 1 == forecast.MIN_TRAIN_SAMPLES and val >= 5 and test >= 5
    train, _, _ = forecast.split_sizes(need - 1, 24, 5, 0.15, 0.15)
    assert train - 24 - 5 + 1 < forecast.MIN_TRAIN_SAMPLES


def test_bundled_sunspots_run_writes_every_file(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    assert cli.main(["forecast", "--run-dir", run_dir, *TINY]) == 0
    out = capsys.readouterr().out
    assert "bundled yearly sunspot numbers" in out and "'SUNACTIVITY', 309 values" in out
    rmse, base = numbers(out)
    assert rmse > 0 and base > 0
    for name in ("config.json", "metrics.csv", "best.weights", "forecast.csv", "results.json"):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    if pyplot() is not None:
        for name in ("forecast.png", "training_curves.png"):
            assert open(os.path.join(run_dir, name), "rb").read(4) == b"\x89PNG"
    results = json.load(open(os.path.join(run_dir, "results.json")))
    assert results["test_rmse"] == pytest.approx(rmse, abs=1e-3)
    assert results["baseline_rmse"] == pytest.approx(base, abs=1e-3)
    assert len(results["forecast_beyond_data"]) == 3
    lines = open(os.path.join(run_dir, "forecast.csv")).read().splitlines()
    assert lines[0] == "step,forecast" and len(lines) == 4
    assert json.load(open(os.path.join(run_dir, "config.json")))["model"]["csv"] == "bundled:sunspots.csv"


def test_baseline_numbers_are_the_last_value_repeated(tmp_path, capsys):
    # A straight line: the last-value baseline misses step h by exactly h * slope.
    values = "\n".join(f"{t},{2.0 * t}" for t in range(80))
    path = write_csv(tmp_path / "line.csv", "t,value\n" + values + "\n")
    assert cli.main(["forecast", "--csv", path, "--run-dir", str(tmp_path / "r"), *TINY]) == 0
    out = capsys.readouterr().out
    assert "column 'value', 80 values" in out
    _, base = numbers(out)
    assert base == pytest.approx(2.0 * np.sqrt(np.mean(np.array([1, 2, 3]) ** 2)), abs=1e-3)


@pytest.mark.parametrize("content, argv, message", [
    (None, ["--csv", "{dir}/missing.csv"], "no such file"),
    ("a,b\n1,2\n", ["--column", "c"], "has no column 'c'; its columns are a, b"),
    ("t,v\n" + "".join(f"{t},{t}\n" for t in range(40)) + "40,abc\n", ["--column", "v"],
     "line 42, column 'v': 'abc' is not a number"),
    ("t,v\n1,\n", [], "line 2, column 'v': '' is not a number"),
    ("t,v\n" + "".join(f"{t},{t}\n" for t in range(10)), [], "has 10 rows in column 'v'; --window 6 and --horizon 3 "
                                                             "need at least"),
    ("", [], "is empty"),
])
def test_data_errors_are_one_line(tmp_path, capsys, content, argv, message):
    path = str(tmp_path / "data.csv")
    if content is not None:
        write_csv(tmp_path / "data.csv", content)
    argv = [a.format(dir=tmp_path) for a in argv]
    if "--csv" not in argv:
        argv = ["--csv", path, *argv]
    assert cli.main(["forecast", *argv, "--run-dir", str(tmp_path / "r"), *TINY]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnkit forecast: error: ") and err.count("\n") == 1
    assert message in err
    assert not (tmp_path / "r").exists()


def test_resume_checks_the_model_and_continues(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    assert cli.main(["forecast", "--run-dir", run_dir, *TINY]) == 0
    capsys.readouterr()
    assert cli.main(["forecast", "--run-dir", run_dir, "--resume", *TINY, "--window", "8"]) == 2
    assert "different model (window: 6 there, 8 now)" in capsys.readouterr().err
    assert cli.main(["forecast", "--run-dir", run_dir, "--resume", *TINY, "--epochs", "3"]) == 0
    assert len(open(os.path.join(run_dir, "metrics.csv")).read().splitlines()) == 4


def test_gru_stack_and_no_validation(tmp_path, capsys):
    assert cli.main(["forecast", "--cell", "gru", "--layers", "2", "--val-fraction", "0",
                     "--run-dir", str(tmp_path / "r"), *TINY]) == 0
    out = capsys.readouterr().out
    assert "gru_2" in out and "best checkpoint (monitor: loss)" in out


@pytest.mark.slow
def test_default_settings_beat_the_last_value_baseline(tmp_path, capsys):
    assert cli.main(["forecast", "--run-dir", str(tmp_path / "run"), "--verbose", "0"]) == 0
    rmse, base = numbers(capsys.readouterr().out)
    assert rmse < base
