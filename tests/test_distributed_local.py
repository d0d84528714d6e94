"""rnnkit.distributed in one process: what needs no MPI job (sweeps, the launcher's command line, the
environment a launcher leaves, the named error without mpi4py) and the collectives with one rank."""
import csv
import sys

import numpy as np
import pytest

import rnnkit
from rnnkit import callbacks, layers
from rnnkit._optional import MissingOptionalDependencyError
from rnnkit.distributed import replicas, run, sweep, world
from rnnkit.errors import RnnkitTypeError, RnnkitValueError


# ------------------------------------------------------------------ without mpi4py
def test_without_mpi4py_a_named_error_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setitem(sys.modules, "mpi4py.MPI", None)
    with pytest.raises(MissingOptionalDependencyError, match=r'pip install "rnnkit\[mpi\]"'):
        rnnkit.distributed.DataParallel()
    with pytest.raises(MissingOptionalDependencyError, match="mpi4py"):
        rnnkit.distributed.rank()
    # what reads only the environment still works
    assert rnnkit.distributed.launched_size() >= 1


def test_importing_rnnkit_does_not_import_mpi4py():
    import subprocess

    code = "import sys, rnnkit, rnnkit.distributed; print('mpi4py' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


@pytest.mark.parametrize("variables, size, rank", [
    ({"PMI_SIZE": "4", "PMI_RANK": "2"}, 4, 2),
    ({"OMPI_COMM_WORLD_SIZE": "3", "OMPI_COMM_WORLD_RANK": "1"}, 3, 1),
    ({"SLURM_STEP_NUM_TASKS": "8", "SLURM_PROCID": "7"}, 8, 7),
    ({}, 1, 0),
])
def test_launched_size_and_rank_come_from_the_launchers_environment(monkeypatch, variables, size, rank):
    for name in world._SIZE_VARIABLES + world._RANK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert world.launched_size() == size
    assert world.launched_rank() == rank


# ------------------------------------------------------------------ collectives with one rank
def test_allreduce_mean_and_broadcast_with_one_rank():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.ones(4, np.float64)
    mean_a, mean_b = rnnkit.distributed.allreduce_mean([a, b], weight=3)
    assert mean_a.dtype == np.float64 and np.array_equal(mean_a, a) and np.array_equal(mean_b, b)
    assert mean_a is not a
    assert np.array_equal(rnnkit.distributed.allreduce_mean(a), a)
    with pytest.raises(RnnkitValueError, match="sum to 0"):
        rnnkit.distributed.allreduce_mean(a, weight=0)
    with pytest.raises(RnnkitValueError, match="weight must be a finite non-negative number"):
        rnnkit.distributed.allreduce_mean(a, weight=-1)
    with pytest.raises(RnnkitTypeError, match=r"arrays\[0\] must be a float32 or float64"):
        rnnkit.distributed.allreduce_mean([np.arange(3)])
    model = rnnkit.Sequential([layers.Input((4, 2)), layers.SimpleRNN(3, seed=1)])
    before = model.get_weights()
    rnnkit.distributed.broadcast_weights(model)
    assert all(np.array_equal(x, y) for x, y in zip(before, model.get_weights()))
    with pytest.raises(RnnkitValueError, match="root must be a rank of the job, 0 to 0"):
        rnnkit.distributed.broadcast_weights(model, root=1)
    with pytest.raises(RnnkitValueError, match="has no weights yet"):
        rnnkit.distributed.broadcast_weights(rnnkit.Sequential([layers.Dense(2)]))


def test_data_parallel_checks_its_arguments():
    with pytest.raises(RnnkitTypeError, match="sharded must be True or False"):
        rnnkit.distributed.DataParallel(sharded="yes")
    with pytest.raises(RnnkitTypeError, match="comm must be an mpi4py communicator"):
        rnnkit.distributed.DataParallel(comm=3)


# ------------------------------------------------------------------ pieces of the fit integration
def test_part_bounds_cut_contiguous_parts_that_differ_by_at_most_one():
    for count in range(0, 12):
        for parts in range(1, 5):
            bounds = [replicas.part_bounds(count, parts, i) for i in range(parts)]
            sizes = [b - a for a, b in bounds]
            assert bounds[0][0] == 0 and bounds[-1][1] == count
            assert all(bounds[i][1] == bounds[i + 1][0] for i in range(parts - 1))
            assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


@pytest.mark.parametrize("sharded", [False, True])
def test_a_ranks_batches_under_shuffle_batch_are_its_slices_of_one_processs_batches(sharded):
    """fit's pass under DataParallel (rank 1 of 2), shuffle="batch": full arrays give this rank its slice
    of each of one process's batches (global batches of 6, each shuffled within itself); sharded data
    is cut into this rank's own batches of 3, each shuffled within itself only."""
    import types

    from rnnkit.models import data_streams
    from rnnkit.models.training import Trainer

    def data():
        return data_streams.ArrayData([np.arange(13.0)[:, None]], [np.zeros(13)], [np.arange(13.0)], 6, "batch",
                                      np.random.default_rng(0))

    model = Trainer()
    model._replicas = replicas.Replicas(types.SimpleNamespace(comm=None, rank=1, size=2, sharded=sharded), model)
    plan = types.SimpleNamespace(data=data(), batch_size=6, local_batch=3, used=12)
    got = [batch.xs[0][:, 0].astype(int).tolist() for batch in model._replica_pass(plan)]
    if sharded:
        expected = [part.tolist() for part in data().index_batches(3)][:4]  # 4 steps of 3: sample 12 left out
        assert [sorted(part) for part in expected] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]
    else:
        expected = [part[slice(*replicas.part_bounds(len(part), 2, 1))].tolist() for part in data().index_batches()]
        assert [len(part) for part in expected] == [3, 3, 0]
    assert got == expected
    assert any(part != sorted(part) for part in got)  # shuffled within the batches
    for batch in model._replica_pass(plan):  # each sample keeps its own weight
        assert np.array_equal(batch.weights[0], batch.xs[0][:, 0])


def test_file_and_progress_callbacks_run_on_rank_zero_only():
    kept = [callbacks.EarlyStopping(), callbacks.History(), callbacks.TerminateOnNaN()]
    dropped = [callbacks.ModelCheckpoint("w"), callbacks.CSVLogger("l.csv"), callbacks.BackupAndRestore("b"),
               callbacks.ProgbarLogger()]
    assert [replicas.rank_zero_only(c) for c in kept] == [False] * 3
    assert [replicas.rank_zero_only(c) for c in dropped] == [True] * 4

    class Writes(callbacks.Callback):
        rank_zero_only = True

    assert replicas.rank_zero_only(Writes())


# ------------------------------------------------------------------ the launcher's command line
def test_launcher_command_line():
    assert run.parse(["train.py", "--epochs", "3"]) == (None, "script", "train.py", ["--epochs", "3"])
    assert run.parse(["--threads", "2", "train.py"]) == (2, "script", "train.py", [])
    assert run.parse(["--threads=4", "-m", "pkg.train", "-x"]) == (4, "module", "pkg.train", ["-x"])
    for argv, message in ((["--threads", "0", "a.py"], "--threads must be a positive integer"),
                          (["--what", "a.py"], "unknown option '--what'"), ([], "no script given"),
                          (["-m"], "-m needs a module name")):
        with pytest.raises(run.UsageError, match=message):
            run.parse(argv)
    assert run.main(["--threads", "x", "a.py"]) == 2


def test_launcher_runs_a_script_in_one_process(tmp_path, capsys):
    script = tmp_path / "hello.py"
    script.write_text("import sys\nprint('args', sys.argv[1:], __name__)\n")
    assert run.main(["--threads", "1", str(script), "a", "b"]) == 0
    assert "args ['a', 'b'] __main__" in capsys.readouterr().out
    script.write_text("raise SystemExit(3)\n")
    with pytest.raises(SystemExit) as stop:  # one rank: Python's own behaviour, no abort
        run.main([str(script)])
    assert stop.value.code == 3


# ------------------------------------------------------------------ sweeps
def _score(params):
    if params["units"] == 3:
        raise ValueError("three is not allowed")
    return {"score": params["units"] * params["lr"]}


def test_grid_and_random_search_spaces():
    trials = sweep.grid({"units": [8, 16], "lr": [0.1, 0.01, 0.001], "cell": "lstm"})
    assert len(trials) == 6 and trials[0] == {"units": 8, "lr": 0.1, "cell": "lstm"}
    assert trials[-1] == {"units": 16, "lr": 0.001, "cell": "lstm"}
    space = {"units": sweep.int_uniform(4, 6), "lr": sweep.log_uniform(1e-4, 1e-1), "drop": sweep.uniform(0, 0.5),
             "cell": ["lstm", "gru"]}
    drawn = sweep.random_search(space, trials=50, seed=3)
    assert drawn == sweep.random_search(space, trials=50, seed=3)
    assert {t["units"] for t in drawn} == {4, 5, 6} and {t["cell"] for t in drawn} == {"lstm", "gru"}
    assert all(1e-4 <= t["lr"] < 1e-1 and 0 <= t["drop"] < 0.5 for t in drawn)
    with pytest.raises(RnnkitValueError, match="a grid needs a list of values"):
        sweep.grid({"lr": sweep.log_uniform(1e-3, 1e-1)})
    with pytest.raises(RnnkitValueError, match="low must be positive"):
        sweep.log_uniform(0, 1)
    with pytest.raises(RnnkitValueError, match="trials must be a positive integer"):
        sweep.random_search(space, trials=0)
    with pytest.raises(RnnkitTypeError, match="space must be a non-empty dict"):
        sweep.grid({})


def test_sweep_runs_here_without_a_launcher_and_records_failed_trials(tmp_path):
    rows = sweep.run(_score, sweep.grid({"units": [2, 3, 4], "lr": [0.5]}))
    assert [row["trial"] for row in rows] == [0, 1, 2]
    assert rows[0]["result"] == {"score": 1.0} and rows[0]["error"] is None
    assert rows[1]["result"] is None and rows[1]["error"] == "ValueError: three is not allowed"
    assert sweep.best(rows, "score")["params"] == {"units": 2, "lr": 0.5}
    assert sweep.best(rows, "score", mode="max")["params"] == {"units": 4, "lr": 0.5}
    path = sweep.write_csv(rows, str(tmp_path / "sweep.csv"))
    with open(path, newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [row["units"] for row in table] == ["2", "3", "4"]
    assert table[1]["error"] == "ValueError: three is not allowed" and table[2]["score"] == "2.0"
    with pytest.raises(RnnkitTypeError, match="trials must be a list of parameter dicts"):
        sweep.run(_score, {"units": 2})
