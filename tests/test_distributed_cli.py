"""``mpiexec -n 2 rnnkit ...`` trains data-parallel with no other change, and the sweep example runs
across ranks. Each test is one MPI launch with a timeout."""
import csv
import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("mpi4py")
MPIEXEC = shutil.which("mpiexec")
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec on PATH (pip install mpich)")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 180


def _env(tmp_path):
    private = tmp_path / "tmp"
    private.mkdir(exist_ok=True)
    return {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), "MPLBACKEND": "Agg",
            "TMPDIR": str(private)}


def rnnkit_command(tmp_path, ranks, *args):
    command = [sys.executable, "-m", "rnnkit.cli", *args]
    if ranks > 1:
        command = [MPIEXEC, "-n", str(ranks), *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path, env=_env(tmp_path))


def _metrics(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_rnnkit_letters_under_mpiexec_equals_one_process_and_rank_zero_alone_writes(tmp_path):
    args = ("letters", "--epochs", "15", "--predict", "a,b,c")
    done = rnnkit_command(tmp_path, 2, *args, "--run-dir", "two")
    assert done.returncode == 0, done.stderr[-3000:]
    single = rnnkit_command(tmp_path, 1, *args, "--run-dir", "one")
    assert single.returncode == 0, single.stderr[-3000:]
    assert sorted(os.listdir(tmp_path / "two")) == sorted(os.listdir(tmp_path / "one"))
    assert os.listdir(tmp_path / "tmp") == []  # rank 1's private run directory is gone
    assert done.stdout.count("a->") == 1  # printed once, by rank 0
    for two, one in zip(_metrics(tmp_path / "two" / "metrics.csv"), _metrics(tmp_path / "one" / "metrics.csv"),
                        strict=True):
        for key in one:
            assert float(two[key]) == pytest.approx(float(one[key]), rel=1e-5, abs=1e-6), key


def test_a_command_failing_on_one_rank_ends_the_job_with_its_status(tmp_path):
    """Rank 0 refuses a run directory that holds a run; rank 1 (whose private copy is empty) would go on
    into fit and wait there: the job must end anyway, with rank 0's status and message."""
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "config.json").write_text("{}")
    done = rnnkit_command(tmp_path, 2, "letters", "--epochs", "2", "--run-dir", "taken")
    assert done.returncode == 2
    assert "already holds a run" in done.stderr


def test_the_sweep_example_shares_trials_over_three_ranks(tmp_path):
    script = os.path.join(REPO, "examples", "distributed", "sweep.py")
    command = [MPIEXEC, "-n", "3", sys.executable, "-m", "rnnkit.distributed.run", script, "--trials", "4",
               "--epochs", "1", "--csv", "sweep.csv"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path, env=_env(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trial ") == 4 and "best: " in done.stdout
    rows = _metrics(tmp_path / "sweep.csv")
    assert len(rows) == 4 and {row["rank"] for row in rows} <= {"1", "2"}  # rank 0 only hands out trials
    assert all(float(row["val_loss"]) > 0 for row in rows)


@pytest.mark.slow  # about 20 s: three launches with the seq2seq app's start-up and decoding
def test_rnnkit_seq2seq_trains_data_parallel_and_translates_on_rank_zero_alone(tmp_path):
    """A model of two inputs (source, shifted target) with attention: the same numbers as one process."""
    args = ("seq2seq", "train", "--dates", "120", "--epochs", "1", "--units", "6", "--embedding", "4",
            "--batch-size", "16", "--verbose", "0")
    done = rnnkit_command(tmp_path, 2, *args, "--run-dir", "two")
    assert done.returncode == 0, done.stderr[-3000:]
    single = rnnkit_command(tmp_path, 1, *args, "--run-dir", "one")
    assert single.returncode == 0, single.stderr[-3000:]
    for two, one in zip(_metrics(tmp_path / "two" / "metrics.csv"), _metrics(tmp_path / "one" / "metrics.csv"),
                        strict=True):
        for key in one:
            assert float(two[key]) == pytest.approx(float(one[key]), rel=1e-5, abs=1e-6), key
    translated = rnnkit_command(tmp_path, 2, "seq2seq", "translate", "--run-dir", "two", "3/4/99")
    assert translated.returncode == 0, translated.stderr[-3000:]
    assert translated.stdout.count("3/4/99 ->") == 1
