"""rnnkit classify: the bundled digits, the stratified split, the confusion matrix, files and errors."""
import json
import os
import re

import numpy as np
import pytest

from rnnkit import cli
from rnnkit.apps import classify
from rnnkit.apps.common import pyplot

TINY = ["--epochs", "1", "--units", "8", "--verbose", "0"]


def test_bundled_digits():
    images, labels = classify.load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.float32
    assert images.min() == 0.0 and images.max() == 1.0
    assert sorted(set(labels.tolist())) == list(range(10))
    assert np.bincount(labels).min() >= 170  # every digit is well represented


def test_stratified_split_is_seeded_disjoint_and_balanced():
    labels = np.repeat(np.arange(10), 50)
    train, test, val = classify.stratified_split(labels, (0.2, 0.1), seed=3)
    assert len(test) == 100 and len(val) == 50 and len(train) == 350
    assert len(set(train) | set(test) | set(val)) == 500
    assert np.bincount(labels[test]).tolist() == [10] * 10
    again = classify.stratified_split(labels, (0.2, 0.1), seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((train, test, val), again))


def test_confusion_matrix_counts():
    counts = classify.confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 2, 0]), classes=3)
    assert counts.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_tiny_run_writes_every_file(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    assert cli.main(["classify", "--run-dir", run_dir, *TINY]) == 0
    out = capsys.readouterr().out
    assert "train 1259, validation 179, test 359" in out
    accuracy = float(re.search(r"test accuracy: ([\d.]+) \((\d+)/359 digits\)", out).group(1))
    assert 0.0 <= accuracy <= 1.0
    for name in ("config.json", "metrics.csv", "best.weights", "results.json"):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    if pyplot() is not None:
        for name in ("confusion_matrix.png", "examples.png", "training_curves.png"):
            assert open(os.path.join(run_dir, name), "rb").read(4) == b"\x89PNG", name
    results = json.load(open(os.path.join(run_dir, "results.json")))
    assert results["test_accuracy"] == pytest.approx(accuracy, abs=1e-4)
    counts = np.array(results["confusion_matrix"])
    assert counts.shape == (10, 10) and counts.sum() == 359
    assert np.trace(counts) / 359 == pytest.approx(accuracy, abs=1e-4)


def test_gru_runs_and_resume_refuses_another_cell(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    assert cli.main(["classify", "--cell", "gru", "--run-dir", run_dir, *TINY]) == 0
    assert "gru_1" in capsys.readouterr().out
    assert cli.main(["classify", "--cell", "lstm", "--run-dir", run_dir, "--resume", *TINY]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "different model (cell: 'gru' there, 'lstm' now)" in err


def test_fractions_leaving_no_training_data_are_refused(tmp_path, capsys):
    assert cli.main(["classify", "--test-fraction", "0.5", "--val-fraction", "0.45",
                     "--run-dir", str(tmp_path / "r"), *TINY]) == 2
    assert "less than 10% of the digits for training" in capsys.readouterr().err


@pytest.mark.slow
def test_default_settings_reach_95_percent(tmp_path, capsys):
    assert cli.main(["classify", "--run-dir", str(tmp_path / "run"), "--verbose", "0"]) == 0
    accuracy = float(re.search(r"test accuracy: ([\d.]+)", capsys.readouterr().out).group(1))
    assert accuracy >= 0.95
