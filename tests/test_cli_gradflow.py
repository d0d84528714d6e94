"""rnnkit gradflow: the adding problem, dL/dh_t against finite differences, the command end to end."""
import csv
import json
import os
import re

import numpy as np
import pytest

from rnnkit import cli
from rnnkit.apps.common import pyplot
from rnnkit.apps.gradflow_core import CONSTANT_BASELINE_MSE, adding_problem, state_gradients
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.simple_rnn import SimpleRNNCell

CELL_CLASSES = (SimpleRNNCell, LSTMCell, GRUCell)
TINY = ["--length", "12", "--units", "4", "--epochs", "2", "--train-size", "64", "--eval-size", "32",
        "--batch-size", "16", "--verbose", "0"]


def csv_rows(path):
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def json_file(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def test_adding_problem_has_two_markers_one_per_half_and_their_sum_as_target():
    x, y = adding_problem(500, 10, np.random.default_rng(0))
    assert x.shape == (500, 10, 2) and y.shape == (500, 1) and x.dtype == np.float32
    markers = x[:, :, 1]
    assert np.all(markers.sum(1) == 2)
    assert np.all(markers[:, :5].sum(1) == 1) and np.all(markers[:, 5:].sum(1) == 1)
    np.testing.assert_allclose(y[:, 0], (x[:, :, 0] * markers).sum(1), rtol=1e-6)
    assert np.all((x[:, :, 0] >= 0) & (x[:, :, 0] < 1))


def test_answering_one_scores_a_sixth():
    _, y = adding_problem(200_000, 4, np.random.default_rng(1), np.float64)
    assert abs(np.mean((y - 1.0) ** 2) - CONSTANT_BASELINE_MSE) < 3e-3


def _loss_from_step(cell, x, y, kernel, bias, t, states):
    """Per-example loss when the run restarts after step t from ``states``."""
    out = states[0]
    for s in range(t + 1, x.shape[1]):
        out, states, _ = cell.step_forward(x[:, s], states)
    return ((out @ kernel + bias - y)[:, 0]) ** 2


@pytest.mark.parametrize("cell_class", CELL_CLASSES, ids=lambda c: c.__name__)
def test_state_gradients_match_finite_differences(cell_class):
    rng = np.random.default_rng(3)
    batch, time, units = 3, 6, 4
    x, y = adding_problem(batch, time, rng, np.float64)
    cell = cell_class(units, seed=5, dtype="float64")
    cell.build(2)
    kernel, bias = rng.normal(size=(units, 1)), rng.normal(size=(1,))
    grads, losses = state_gradients(cell, kernel, bias, x, y)
    assert grads.shape == (batch, time, units)

    eps, worst = 1e-6, 0.0
    for t in range(time):
        states = cell.get_initial_state(batch)
        for s in range(t + 1):
            _, states, _ = cell.step_forward(x[:, s], states)
        np.testing.assert_allclose(_loss_from_step(cell, x, y, kernel, bias, t, states), losses, rtol=1e-12)
        for j in range(units):
            plus, minus = [list(states), list(states)]
            plus[0], minus[0] = states[0].copy(), states[0].copy()
            plus[0][:, j] += eps
            minus[0][:, j] -= eps
            numeric = (_loss_from_step(cell, x, y, kernel, bias, t, tuple(plus))
                       - _loss_from_step(cell, x, y, kernel, bias, t, tuple(minus))) / (2 * eps)
            worst = max(worst, float(np.max(np.abs(numeric - grads[:, t, j]))))
    assert worst < 1e-7, worst


@pytest.mark.parametrize("cell_class", CELL_CLASSES, ids=lambda c: c.__name__)
def test_first_step_gradient_equals_the_sequence_kernels_initial_state_gradient(cell_class):
    """dL/dh_1 from the step loop = d(initial h) of one whole-sequence backward over steps 2..T."""
    rng = np.random.default_rng(4)
    x, y = adding_problem(5, 8, rng, np.float64)
    cell = cell_class(3, seed=2, dtype="float64")
    cell.build(2)
    kernel, bias = rng.normal(size=(3, 1)), rng.normal(size=(1,))
    grads, _ = state_gradients(cell, kernel, bias, x, y)
    _, state1, _ = cell.step_forward(x[:, 0], cell.get_initial_state(5))
    outputs, _, cache = cell.forward(x[:, 1:], state1)
    d_outputs = np.zeros_like(outputs)
    d_outputs[:, -1] = 2 * (outputs[:, -1] @ kernel + bias - y) @ kernel.T
    _, d_state0, _ = cell.backward(d_outputs, None, cache)
    np.testing.assert_allclose(grads[:, 0], d_state0[0], rtol=1e-10, atol=1e-14)


def test_gradflow_tiny_run_writes_every_file(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    assert cli.main(["gradflow", *TINY, "--run-dir", run_dir]) == 0
    out = capsys.readouterr().out
    for title in ("SimpleRNN (tanh)", "LSTM", "GRU"):
        mse = float(re.search(rf"^{re.escape(title)}: test MSE ([\d.]+)", out, re.MULTILINE).group(1))
        assert 0 <= mse < 5
    assert "always 1.0" in out and "0.167" in out
    config = json_file(os.path.join(run_dir, "config.json"))
    assert config["command"] == "gradflow" and config["model"]["length"] == 12
    for kind in ("simplernn", "lstm", "gru"):
        for name in ("config.json", "metrics.csv", "best.weights"):
            assert os.path.isfile(os.path.join(run_dir, kind, name)), (kind, name)
        rows = csv_rows(os.path.join(run_dir, kind, "metrics.csv"))
        assert len(rows) == 2 and "val_loss" in rows[0]
    rows = csv_rows(os.path.join(run_dir, "gradient_norms.csv"))
    assert len(rows) == 12 and set(rows[0]) == {"t", "simplernn_init", "simplernn_trained", "lstm_init",
                                               "lstm_trained", "gru_init", "gru_trained"}
    assert all(float(v) > 0 for row in rows for v in row.values())
    if pyplot() is not None:
        for name in ("gradflow.png", "training.png"):
            with open(os.path.join(run_dir, name), "rb") as handle:
                assert handle.read(4) == b"\x89PNG"


def test_gradflow_resume_continues_and_refuses_a_different_model(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    base = ["gradflow", *TINY, "--cells", "gru", "--run-dir", run_dir]
    assert cli.main(base) == 0
    capsys.readouterr()
    assert cli.main([*base, "--resume", "--epochs", "3"]) == 0
    rows = csv_rows(os.path.join(run_dir, "gru", "metrics.csv"))
    assert [row["epoch"] for row in rows] == ["0", "1", "2"]
    capsys.readouterr()
    assert cli.main([*base, "--resume", "--units", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rnnkit gradflow: error:") and "units" in err


@pytest.mark.parametrize("args, words", [
    (["--length", "1"], "--length"),
    (["--cells", "lstm,tcn"], "--cells"),
    (["--units", "0"], "--units"),
])
def test_gradflow_bad_options_exit_2_with_one_line(tmp_path, capsys, args, words):
    assert cli.main(["gradflow", *args, "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


@pytest.mark.slow
def test_gradflow_defaults_lstm_and_gru_solve_length_100(tmp_path, capsys):
    assert cli.main(["gradflow", "--run-dir", str(tmp_path / "run"), "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    mse = {title: float(re.search(rf"^{re.escape(title)}: test MSE ([\d.]+)", out, re.MULTILINE).group(1))
           for title in ("SimpleRNN (tanh)", "LSTM", "GRU")}
    assert mse["LSTM"] < 0.01 and mse["GRU"] < 0.01
    assert mse["SimpleRNN (tanh)"] > 0.05  # the point of the picture: it does not get there
