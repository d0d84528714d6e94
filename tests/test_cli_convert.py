"""``rnnkit convert IN OUT [--check]``: every format pair this build has, --check's numbers, and
one-line errors with exit status 2."""
import importlib.util
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import rnnkit
from rnnkit import cli, layers
from rnnkit.io import convert
from rnnkit.io import safetensors as st

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAS_KERAS_FILES = importlib.util.find_spec("rnnkit.io.keras") is not None


def _model():
    rnnkit.layers.reset_name_counters()
    model = rnnkit.Sequential([layers.Embedding(12, 4, mask_zero=True, seed=0),
                               layers.Bidirectional(layers.LSTM(5, return_sequences=True, seed=1)),
                               layers.GRU(3, seed=2), layers.Dense(2, activation="softmax", seed=3)])
    model.build((None, None))
    return model


def _convert(capsys, *argv):
    status = cli.main(["convert", *map(str, argv)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _checked_difference(out, index=0):
    line = [l for l in out.splitlines() if l.startswith("check:")][index]
    return float(line.split("difference ")[1].split(" ")[0])


def test_rnnkit_model_to_onnx_and_safetensors_and_back(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    _model().save(tmp_path / "m.rnnkit")
    status, out, err = _convert(capsys, tmp_path / "m.rnnkit", tmp_path / "m.onnx", "--check")
    assert status == 0, err
    assert "rnnkit vs onnxruntime" in out and _checked_difference(out) < 1e-5
    status, out, err = _convert(capsys, tmp_path / "m.rnnkit", tmp_path / "w.safetensors", "--check")
    assert status == 0 and _checked_difference(out) == 0.0, err
    assert "bidirectional/forward_lstm/kernel" in st.load_file(tmp_path / "w.safetensors")
    status, out, err = _convert(capsys, tmp_path / "w.safetensors", tmp_path / "again.rnnkit", "--model",
                                tmp_path / "m.rnnkit", "--check")
    assert status == 0 and _checked_difference(out) == 0.0, err
    status, out, err = _convert(capsys, tmp_path / "m.rnnkit", tmp_path / "m.weights", "--check")
    assert status == 0 and _checked_difference(out) == 0.0, err


def test_torch_state_dicts_both_ways(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True).eval()
    torch.save(module.state_dict(), tmp_path / "lstm.pt")
    status, out, err = _convert(capsys, tmp_path / "lstm.pt", tmp_path / "lstm.rnnkit", "--torch-kind", "LSTM",
                                "--check")
    assert status == 0 and _checked_difference(out) == 0.0, err
    assert "PyTorch nn.LSTM vs rnnkit" in out and _checked_difference(out, 1) < 1e-5
    x = np.random.default_rng(0).standard_normal((2, 6, 3)).astype(np.float32)
    with torch.no_grad():
        expected = module(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(rnnkit.load_model(tmp_path / "lstm.rnnkit").predict(x, verbose=0), expected, atol=1e-5)

    status, out, err = _convert(capsys, tmp_path / "lstm.rnnkit", tmp_path / "back.pt", "--check")
    assert status == 0 and _checked_difference(out) == 0.0, err
    fresh = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    fresh.load_state_dict(torch.load(tmp_path / "back.pt", weights_only=True))
    with torch.no_grad():
        np.testing.assert_allclose(fresh(torch.from_numpy(x))[0].numpy(), expected, atol=1e-5)

    safetensors_torch = pytest.importorskip("safetensors.torch")
    status, out, err = _convert(capsys, tmp_path / "lstm.rnnkit", tmp_path / "torch.safetensors", "--torch-names",
                                "--check")
    assert status == 0 and _checked_difference(out) == 0.0, err
    fresh.load_state_dict(safetensors_torch.load_file(str(tmp_path / "torch.safetensors")))
    status, out, err = _convert(capsys, tmp_path / "torch.safetensors", tmp_path / "m.onnx", "--torch-kind", "LSTM",
                                "--check")
    if importlib.util.find_spec("onnxruntime"):
        assert status == 0 and _checked_difference(out) < 1e-5, err


@pytest.mark.skipif(not HAS_KERAS_FILES, reason="the Keras file formats are not in this build yet")
def test_keras_files(tmp_path, capsys):
    pytest.importorskip("h5py")
    _model().save(tmp_path / "m.rnnkit")
    status, out, err = _convert(capsys, tmp_path / "m.rnnkit", tmp_path / "m.keras", "--check")
    assert status == 0 and _checked_difference(out) < 1e-6, err
    status, out, err = _convert(capsys, tmp_path / "m.keras", tmp_path / "m.weights.h5", "--check")
    assert status == 0 and _checked_difference(out) < 1e-6, err


def test_check_fails_above_the_tolerance(tmp_path, capsys, monkeypatch):
    _model().save(tmp_path / "m.rnnkit")
    monkeypatch.setattr(convert, "check", lambda *args: [(0.5, "rnnkit vs rnnkit")])
    status, out, _ = _convert(capsys, tmp_path / "m.rnnkit", tmp_path / "m2.rnnkit", "--check")
    assert status == 1 and "FAILED: above --tolerance 0.0001" in out


def _one_line_error(capsys, *argv):
    status, _, err = _convert(capsys, *argv)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("rnnkit convert: error: ")
    return err


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    _model().save(tmp_path / "m.rnnkit")
    _model().save_weights(tmp_path / "w.weights")
    assert "holds weights only" in _one_line_error(capsys, tmp_path / "w.weights", tmp_path / "x.rnnkit")
    assert "does not read them" in _one_line_error(capsys, tmp_path / "m.onnx", tmp_path / "x.rnnkit")
    assert "No such file" in _one_line_error(capsys, tmp_path / "missing.rnnkit", tmp_path / "x.rnnkit")
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    assert "not valid JSON" in _one_line_error(capsys, tmp_path / "bad.safetensors", tmp_path / "x.rnnkit",
                                               "--model", tmp_path / "m.rnnkit")
    assert "--torch-kind needs" in _one_line_error(capsys, tmp_path / "m.rnnkit", tmp_path / "x.rnnkit",
                                                   "--torch-kind", "LSTM")
    if not HAS_KERAS_FILES:
        assert "not supported by this rnnkit build" in _one_line_error(capsys, tmp_path / "m.rnnkit",
                                                                       tmp_path / "x.keras")
    assert not (tmp_path / "x.rnnkit").exists()


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {_Exploit.marker}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_pt_file_with_code_is_refused_without_running_it(tmp_path, capsys):
    pytest.importorskip("torch")
    _Exploit.marker = tmp_path / "pwned"
    with open(tmp_path / "evil.pt", "wb") as handle:
        pickle.dump({"weight_ih_l0": _Exploit()}, handle)
    err = _one_line_error(capsys, tmp_path / "evil.pt", tmp_path / "x.rnnkit", "--torch-kind", "LSTM")
    assert "weights_only=True" in err
    assert not (tmp_path / "pwned").exists()


def test_the_command_runs_as_a_program(tmp_path):
    _model().save(tmp_path / "m.rnnkit")
    done = subprocess.run([sys.executable, "-m", "rnnkit.cli", "convert", str(tmp_path / "m.rnnkit"),
                           str(tmp_path / "w.safetensors"), "--check"], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": REPO})
    assert done.returncode == 0, done.stderr
    assert "largest absolute difference 0" in done.stdout
    done = subprocess.run([sys.executable, "-m", "rnnkit.cli", "convert", str(tmp_path / "none.rnnkit"),
                           str(tmp_path / "x.onnx")], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": REPO})
    assert done.returncode == 2 and done.stderr.count("\n") == 1


@pytest.mark.skipif(not hasattr(rnnkit, "Model"), reason="functional models are not in this build yet")
def test_a_functional_model_with_two_inputs(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    rnnkit.layers.reset_name_counters()
    ids = rnnkit.Input(shape=(None,), dtype="int64", name="ids")
    signal = rnnkit.Input(shape=(None, 3), name="signal")
    _, h, c = layers.LSTM(4, return_state=True, seed=0)(layers.Embedding(9, 4, mask_zero=True, seed=1)(ids))
    decoded = layers.LSTM(4, return_sequences=True, seed=2)(signal, initial_state=[h, c])
    rnnkit.Model([ids, signal], [decoded, h]).save(tmp_path / "m.rnnkit")
    status, out, err = _convert(capsys, tmp_path / "m.rnnkit", tmp_path / "m.onnx", "--check")
    assert status == 0 and _checked_difference(out) < 1e-5, err
