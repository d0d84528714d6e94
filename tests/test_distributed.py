"""Data-parallel fit under real MPI jobs: ``mpiexec -n 2`` (and 3 ranks on 2 cores) in subprocesses.

Each launch runs several scenarios of tests/distributed_cases.py (a launch costs about a second);
the one-process references are trained here with the same builders. Timeouts bound every launch,
so a rank left waiting for a dead peer fails the test instead of hanging it.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("mpi4py")
MPIEXEC = shutil.which("mpiexec")
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec on PATH (pip install mpich)")

import distributed_cases as cases  # noqa: E402
import rnnkit  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = os.path.join(REPO, "tests", "distributed_cases.py")
TIMEOUT = 180  # seconds for one launch on a loaded 2-core machine; a hang fails well before the suite's limit


def _oversubscribe():
    """Open MPI refuses more ranks than cores unless told; MPICH's hydra accepts them as they are."""
    version = subprocess.run([MPIEXEC, "--version"], capture_output=True, text=True, timeout=60).stdout
    return ["--oversubscribe"] if "Open MPI" in version or "OpenRTE" in version else []


def launch(ranks, out, *names, check=True):
    """Run the named cases on ``ranks`` ranks; returns the completed process. A job still running after
    TIMEOUT (a rank waiting for a dead peer) raises subprocess.TimeoutExpired, which fails the test."""
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    command = [MPIEXEC, *(_oversubscribe() if ranks > 2 else []), "-n", str(ranks), sys.executable, "-m",
               "rnnkit.distributed.run", CASES, str(out), *names]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=env, cwd=str(out))
    if check:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def result(out, case, rank):
    """(arrays, values) one rank saved for one case."""
    base = os.path.join(out, f"{case}.rank{rank}")
    arrays = None
    if os.path.exists(base + ".npz"):
        with np.load(base + ".npz") as stored:
            arrays = [stored[f"arr_{i}"] for i in range(len(stored.files))]
    with open(base + ".json") as handle:
        return arrays, json.load(handle)


def assert_same_bits(ranks):
    """Every rank's arrays are bitwise those of rank 0."""
    for other in ranks[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(ranks[0], other))


def assert_close(weights, reference, tol=1e-6):
    assert len(weights) == len(reference)
    worst = max(float(np.max(np.abs(a - b))) for a, b in zip(weights, reference))
    assert worst <= tol, f"largest weight difference {worst:.3g} > {tol}"


def assert_history_close(history, reference, rel=1e-6):
    assert set(history) == set(reference.history)
    for key, values in history.items():
        assert np.allclose(values, reference.history[key], rtol=rel, atol=rel), (key, values, reference.history[key])


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("two_ranks")
    launch(2, out, "equal", "buffer", "mixed", "tbptt_stateful", "dropout", "sharded", "nan", "stop", "files",
           "refused", "on_batch", "weighted", "streams")
    return out


@pytest.fixture(scope="module")
def three_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("three_ranks")
    launch(3, out, "equal", "sharded")
    return out


def _equal_reference():
    x, y = cases.data()
    model = cases.compiled(cases.build(seed=10))
    history = cases.fit_equal(model, x, y)
    return model, history


@pytest.mark.parametrize("ranks", [2, 3])
def test_weights_equal_a_one_process_run_and_are_bitwise_identical_across_ranks(ranks, request):
    out = request.getfixturevalue("two_ranks" if ranks == 2 else "three_ranks")
    reference, history = _equal_reference()
    saved = [result(out, "equal", r) for r in range(ranks)]
    count = saved[0][1]["weights"]
    finals = [arrays[:count] for arrays, _ in saved]
    initials = [arrays[count:] for arrays, _ in saved]
    # each rank drew its own initial weights (seed 10 + rank) ...
    assert not np.array_equal(initials[0][0], initials[1][0])
    # ... and the broadcast gave every rank rank 0's: the run equals one process with the same global batch
    assert_same_bits(finals)
    assert_close(finals[0], reference.get_weights())
    for _, values in saved:
        assert values["history"] == saved[0][1]["history"]  # every rank logged the same numbers
        assert values["iterations"] == reference.optimizer.iterations
        assert values["blas_threads"] in (None, 1)  # the launcher pinned one BLAS thread per rank
    assert_history_close(saved[0][1]["history"], history)
    assert saved[0][1]["history"]["clipped_steps"] == history.history["clipped_steps"]


def test_each_step_sums_one_reused_float32_buffer_the_optimizers_gradients_then_loss_and_count(two_ranks):
    saved = [result(two_ranks, "buffer", r) for r in range(2)]
    assert_same_bits([arrays for arrays, _ in saved])
    x, y = cases.data()
    reference = cases.compiled_with_options(cases.build_regularized(seed=10))
    history = reference.fit(x, y, batch_size=cases.GLOBAL_BATCH, epochs=2, verbose=0, shuffle=False)
    # AdamW, EMA, loss scaling, accumulation, weight and activity penalties: the same steps as one process
    assert_close(saved[0][0], reference.get_weights())
    assert_history_close(saved[0][1]["history"], history)
    for _, values in saved:
        steps = 2 * 4  # 2 epochs of 23 samples in global batches of 7: 7, 7, 7, 2
        assert len(values["sizes"]) == steps  # one allreduce of the buffer per step, nothing else through it
        assert all(values["same"]) and all(values["optimizers"])  # one array, the optimizer's gradient buffer
        assert set(values["dtypes"]) == {np.dtype(np.float32).str}
        assert values["gradients"] == values["weights"]  # every trainable weight in it ...
        # ... then the summed loss, the global sample count and the metric (mae) increments: a few values
        assert set(values["sizes"]) == {values["gradients"] + len(values["tails"][0])} and len(values["tails"][0]) <= 6
        tails = np.array(values["tails"])
        counts = [k for k in range(tails.shape[1]) if list(tails[:, k]) == [7.0, 7.0, 7.0, 2.0] * 2]
        assert counts, tails
        # the first value is the loss summed over the samples: each epoch's logged loss is its sum / 23
        epoch_loss = tails[:, 0].reshape(2, 4).sum(axis=1) / 23
        assert np.allclose(epoch_loss, values["history"]["loss"], rtol=1e-5)


def test_a_model_of_two_dtypes_equals_one_process(two_ranks):
    saved = [result(two_ranks, "mixed", r) for r in range(2)]
    assert_same_bits([arrays for arrays, _ in saved])
    x, y = cases.data()
    model = cases.compiled(cases.build_mixed())
    history = cases.fit_equal(model, x, y)
    assert [w.dtype for w in saved[0][0]] == [w.dtype for w in model.get_weights()]
    assert_close(saved[0][0], model.get_weights())
    assert_history_close(saved[0][1]["history"], history)


def test_truncated_bptt_and_stateful_layers_equal_one_process(two_ranks):
    saved = [result(two_ranks, "tbptt_stateful", r) for r in range(2)]
    assert_same_bits([arrays for arrays, _ in saved])
    arrays, values = saved[0]
    split = values["split"]
    x, y = cases.sequence_data()
    tbptt = cases.compiled(cases.build_tbptt())
    history = cases.fit_tbptt(tbptt, x, y)
    stateful = cases.compiled(cases.build_stateful())
    history_stateful = cases.fit_stateful(stateful, x, y)
    assert_close(arrays[:split], tbptt.get_weights())
    assert_close(arrays[split:], stateful.get_weights())
    assert_history_close(values["history"], history)
    assert_history_close(values["history_stateful"], history_stateful)


def test_dropout_draws_differ_per_rank_while_weights_stay_identical(two_ranks):
    saved = [result(two_ranks, "dropout", r) for r in range(2)]
    assert len(saved[0][0]) == 3 + 4 + 2  # LSTM, BatchNormalization (moving statistics too), Dense
    assert not np.array_equal(saved[0][0][5], np.zeros(5))  # the moving mean moved ...
    assert_same_bits([arrays for arrays, _ in saved])  # ... and is the same on every rank
    draws = [values["draws"] for _, values in saved]
    assert len(draws[0]) == 2  # the LSTM's dropout and the Dropout layer
    for mine, theirs in zip(*draws):
        assert mine != theirs


def _sharded_reference(ranks):
    """One process on the batches a sharded run of ``ranks`` ranks makes (shuffle=False), validated on every
    rank's part."""
    x, y = cases.interleaved_shards(ranks, 6)
    every_x, every_y = map(np.concatenate, zip(*(cases.shard(r, ranks) for r in range(ranks))))
    model = cases.compiled(cases.build(seed=10))
    history = model.fit(x, y, batch_size=6, epochs=2, verbose=0, shuffle=False, validation_data=(every_x, every_y))
    return model, history


@pytest.mark.parametrize("ranks", [2, 3])
def test_sharded_data_equals_one_process_on_the_interleaved_batches(ranks, request):
    out = request.getfixturevalue("two_ranks" if ranks == 2 else "three_ranks")
    saved = [result(out, "sharded", r) for r in range(ranks)]
    assert_same_bits([arrays for arrays, _ in saved])
    model, history = _sharded_reference(ranks)
    assert_close(saved[0][0], model.get_weights())
    assert_history_close(saved[0][1]["history"], history)
    if ranks == 2:
        # rank 0 holds 10 samples (4 steps of 3), rank 1 holds 13: one of its samples is left out, with a warning
        assert saved[0][1]["warnings"] == []
        assert len(saved[1][1]["warnings"]) == 1 and "1 of this rank's 13 samples" in saved[1][1]["warnings"][0]


def test_a_non_finite_loss_on_one_rank_stops_every_rank_at_the_same_step(two_ranks):
    saved = [result(two_ranks, "nan", r) for r in range(2)]
    assert_same_bits([arrays for arrays, _ in saved])
    for _, values in saved:
        assert "epoch 1, batch 3" in values["reason"]
        assert values["iterations"] == 2 and values["epochs"] == 0
        assert all(np.isfinite(w).all() for w in saved[0][0])


def test_train_on_batch_is_one_step_over_every_ranks_rows(two_ranks):
    saved = [result(two_ranks, "on_batch", r) for r in range(2)]
    assert_same_bits([arrays for arrays, _ in saved])
    x, y = cases.data(count=7)
    model = cases.compiled(cases.build(seed=10))
    logs = model.train_on_batch(x, y, return_dict=True)
    assert_close(saved[0][0], model.get_weights())
    assert saved[0][1]["logs"] == pytest.approx(logs, rel=1e-6)  # loss and metric of all 7 rows


def test_stop_training_on_one_rank_stops_all_ranks(two_ranks):
    saved = [result(two_ranks, "stop", r) for r in range(2)]
    assert_same_bits([arrays for arrays, _ in saved])
    assert [values["iterations"] for _, values in saved] == [2, 2]
    assert [values["epochs"] for _, values in saved] == [1, 1]


def test_only_rank_zero_writes_files_and_prints(two_ranks):
    folder = two_ranks / "files-rank0"
    assert sorted(os.listdir(folder)) == ["backup", "best.weights", "log.csv"]
    assert not (two_ranks / "files-rank1").exists()
    assert "Epoch 2/2" in result(two_ranks, "files", 0)[1]["printed"]
    assert result(two_ranks, "files", 1)[1]["printed"] == ""
    with open(folder / "log.csv") as handle:
        assert len(handle.read().splitlines()) == 3  # header + 2 epochs


def test_data_refused_on_one_rank_raises_on_every_rank_before_training(two_ranks):
    mine = result(two_ranks, "refused", 1)[1]["message"]
    theirs = result(two_ranks, "refused", 0)[1]["message"]
    assert "non-finite value" in mine
    assert theirs.startswith("fit did not start: rank 1 of 2 refused") and "non-finite value" in theirs


def test_sample_weights_and_weighted_metrics_equal_one_process(two_ranks):
    saved = [result(two_ranks, "weighted", r) for r in range(2)]
    assert_same_bits([arrays for arrays, _ in saved])
    x, y = cases.data()
    model = cases.compiled_weighted(cases.build(seed=10))
    first, second = cases.fit_weighted(model, x, y)
    assert_close(saved[0][0], model.get_weights())
    values = saved[0][1]
    assert "weighted_mae" in values["history"] and "val_weighted_mae" in values["history"]
    assert_history_close(values["history"], first)
    assert_history_close(values["history_second"], second)


def test_a_stream_under_data_parallel_is_refused_on_every_rank_before_it_is_read(two_ranks):
    for r in range(2):
        values = result(two_ranks, "streams", r)[1]
        messages = values["messages"]
        for name in ("x", "validation_data"):
            assert messages[name].startswith("ReplicaStreamError: fit under DataParallel with 2 ranks takes arrays")
            assert f"got {name} as a generator" in messages[name] and "sharded=True" in messages[name]
        assert "steps_per_epoch is not supported" in messages["steps_per_epoch"]
        assert values["read"] == 0 and values["iterations"] == 0


def _resumable_reference(epochs):
    x, y = cases.data()
    model = cases.compiled(cases.build(seed=10))
    model.fit(x, y, batch_size=cases.GLOBAL_BATCH, epochs=epochs, verbose=0, shuffle=False, callbacks=[cases.plateau()])
    return model


def _checkpoint(folder):
    model = cases.build(seed=99)
    model.load_weights(str(folder / "run" / "last.weights"))  # loads: the file is whole (atomic writes)
    return model.get_weights()


@pytest.mark.parametrize("how", ["raise", "kill"])
def test_a_failing_rank_ends_the_job_and_a_rerun_resumes_from_rank_zeros_checkpoint(how, tmp_path):
    done = launch(2, tmp_path, "crash" if how == "raise" else "kill", check=False)  # ends within TIMEOUT
    assert done.returncode != 0
    if how == "raise":
        assert "injected failure on rank 1 at epoch 2" in done.stderr
        assert "aborting the job" in done.stderr
    # epochs 0 and 1 finished on both ranks before rank 1 failed at the start of epoch 2
    assert_close(_checkpoint(tmp_path), _resumable_reference(2).get_weights())
    if how == "kill":
        return  # the resume itself is checked once, after the exception
    launch(2, tmp_path, "rerun")
    saved = [result(tmp_path, "resume-rerun", r) for r in range(2)]
    assert_same_bits([arrays for arrays, _ in saved])
    assert [values["seen"] for _, values in saved] == [[2, 3], [2, 3]]
    reference = _resumable_reference(4)
    assert reference.optimizer.learning_rate == pytest.approx(0.005)  # the plateau callback acted after the resume
    assert_close(saved[0][0], reference.get_weights())


def test_one_rank_changes_nothing(tmp_path):
    """DataParallel in a process started without a launcher: fit runs the one-process code path."""
    from rnnkit.distributed import DataParallel

    x, y = cases.data()
    strategy = DataParallel()
    assert strategy.size == 1 and strategy.num_replicas_in_sync == 1
    with strategy.scope():
        model = cases.compiled(cases.build(seed=10))
    assert model._replicas is None
    history = cases.fit_equal(model, x, y)
    reference, reference_history = _equal_reference()
    assert_same_bits([model.get_weights(), reference.get_weights()])
    assert history.history == reference_history.history
    assert rnnkit.distributed.rank() == 0 and rnnkit.distributed.size() == 1
