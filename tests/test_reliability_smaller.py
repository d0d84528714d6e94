"""Issue #11 defect 10, the smaller ones: temporary-file permissions and debris, disk-full messages,
paths through a file, saving a training state too early, ragged lists, and layers too big to build."""
import errno
import os
import time

import numpy as np
import pytest

from rnnkit import Sequential, layers, memory_limits, nn
from rnnkit.errors import RnnkitMemoryError, RnnkitValueError
from rnnkit.io import files
from rnnkit.io.arrays_file import load_arrays, save_arrays
from rnnkit.io.files import atomic_write, atomic_writer
from rnnkit.nn import rnn_cell

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions and locks")


def temps(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# ----------------------------------------------------------------------------- temporary files

@posix_only
@pytest.mark.parametrize("umask, existing, expected", [(0o022, 0o600, 0o600), (0o077, None, 0o600),
                                                       (0o022, None, 0o644), (0o077, 0o640, 0o640)])
def test_the_temporary_file_has_the_final_mode_while_it_is_written(tmp_path, umask, existing, expected):
    """The temporary file was created 0644 and chmod-ed only after the write: a 0600 target's new
    contents were readable by others meanwhile (and after a kill)."""
    target = tmp_path / "secret.weights"
    if existing is not None:
        target.write_bytes(b"old")
        os.chmod(target, existing)
    old = os.umask(umask)
    try:
        with atomic_writer(target) as handle:
            (temp,) = temps(tmp_path)
            assert os.stat(tmp_path / temp).st_mode & 0o777 == expected
            handle.write(b"new")
    finally:
        os.umask(old)
    assert os.stat(target).st_mode & 0o777 == expected
    assert target.read_bytes() == b"new"


def _debris(folder, name, age_seconds):
    path = folder / f".{name}.{os.urandom(8).hex()}.tmp"
    path.write_bytes(b"x" * 100)
    when = time.time() - age_seconds
    os.utime(path, (when, when))
    return path


@posix_only
def test_stale_temporary_files_of_the_target_are_removed_by_the_next_save(tmp_path):
    """40 kills left 33 stray .tmp files (173 MB) that nothing ever removed."""
    stale = [_debris(tmp_path, "model.ckpt", 3600) for _ in range(3)]
    young = _debris(tmp_path, "model.ckpt", 0)  # its writer may still be starting
    other = _debris(tmp_path, "other.ckpt", 3600)  # another target's: not ours to judge
    busy = _debris(tmp_path, "model.ckpt", 3600)  # a live writer holds its lock
    import fcntl
    fd = os.open(busy, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        save_arrays(tmp_path / "model.ckpt", {"a": np.ones(2)})
    finally:
        os.close(fd)
    left = set(temps(tmp_path))
    assert not left & {p.name for p in stale}
    assert left == {young.name, other.name, busy.name}


def test_a_failed_save_removes_nothing_but_its_own_temporary_file(tmp_path):
    stale = _debris(tmp_path, "w", 3600)
    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "w", lambda handle: (_ for _ in ()).throw(RuntimeError("boom")))
    assert temps(tmp_path) == [stale.name]


def test_disk_full_names_the_target_and_keeps_the_old_file(tmp_path, monkeypatch):
    """ENOSPC came out as '[Errno 28] No space left on device' naming nothing (or the temporary file)."""
    target = tmp_path / "run" / "best.weights"
    save_arrays(target, {"a": np.ones(2)})

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(OSError) as info:
        save_arrays(target, {"a": np.zeros(2)})
    assert info.value.errno == errno.ENOSPC
    assert info.value.filename == str(target) and str(target) in str(info.value)
    monkeypatch.undo()
    np.testing.assert_array_equal(load_arrays(target)[0]["a"], np.ones(2))
    assert temps(target.parent) == []


def test_a_path_through_a_file_is_named_plainly(tmp_path):
    """A parent that is a file gave FileExistsError: [Errno 17] File exists: '.../model.weights'."""
    blocker = tmp_path / "runs"
    blocker.write_text("I am a file")
    with pytest.raises(RnnkitValueError, match=r"'.*runs' is a file, not a folder"):
        save_arrays(blocker / "exp1" / "model.weights", {"a": np.ones(1)})
    with pytest.raises(RnnkitValueError, match="is a file, not a folder"):
        atomic_write(blocker / "x", b"")


# ----------------------------------------------------------------------------- models and layers

def test_save_training_state_before_any_fit_is_a_named_error(tmp_path):
    """It raised a bare AttributeError ('Sequential' object has no attribute '_shuffle_rng')."""
    model = Sequential([layers.Dense(1, input_shape=(3,))])
    with pytest.raises(RnnkitValueError, match="not been compiled"):
        model.save_training_state(tmp_path / "s", 0)
    model.compile("sgd", "mse")
    with pytest.raises(RnnkitValueError, match="not been fit yet"):
        model.save_training_state(tmp_path / "s", 0)
    model.fit(np.zeros((2, 3)), np.zeros((2, 1)), epochs=1, verbose=0)
    with pytest.raises(RnnkitValueError, match="epoch must be a non-negative integer"):
        model.save_training_state(tmp_path / "s", -1)
    model.save_training_state(tmp_path / "s", 1)
    assert model.load_training_state(tmp_path / "s") == 1


RAGGED = [[1.0], [1.0, 2.0]]


@pytest.mark.parametrize("call", [
    lambda: layers.LSTM(2)([RAGGED, RAGGED]),
    lambda: layers.Dense(2)(RAGGED),
    lambda: layers.Embedding(3, 2)([[0], [0, 1]]),
    lambda: layers.GRU(2)(np.zeros((2, 2, 1), np.float32), mask=[[1], [1, 0]]),
    lambda: nn.dynamic_rnn(rnn_cell.GRUCell(2), np.zeros((2, 3, 1), np.float32), sequence_length=[[1], [1, 2]]),
    lambda: _built(layers.Dense(2)).set_weights([RAGGED, np.zeros(2)]),
    lambda: _built_cell().set_weights([RAGGED, np.zeros((2, 2)), np.zeros(2)]),
    lambda: _stateful().reset_states([RAGGED]),
], ids=["rnn-inputs", "dense-inputs", "embedding-ids", "mask", "sequence_length", "layer-set_weights",
        "cell-set_weights", "reset_states"])
def test_ragged_lists_give_a_named_error(call):
    """A ragged list passed to a layer gave NumPy's 'inhomogeneous shape' ValueError."""
    with pytest.raises(RnnkitValueError, match="rectangular"):
        call()


def _built(layer):
    layer(np.zeros((1, 3), np.float32))
    return layer


def _built_cell():
    from rnnkit.cells import SimpleRNNCell
    cell = SimpleRNNCell(2)
    cell.build(3)
    return cell


def _stateful():
    layer = layers.SimpleRNN(2, stateful=True)
    return layer


def test_a_bad_backward_state_leaves_a_bidirectional_layers_states_unchanged():
    layer = layers.Bidirectional(layers.GRU(2, stateful=True))
    layer(np.ones((3, 4, 1), np.float32))
    before = [s.copy() for s in layer.forward_layer.states]
    with pytest.raises(RnnkitValueError, match="backward_gru"):
        layer.reset_states([np.full((3, 2), 5.0), np.ones((3, 5))])
    for old, new in zip(before, layer.forward_layer.states):
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize("make, layer_name, shape", [
    (lambda: Sequential([layers.LSTM(100_000, input_shape=(3, 2), name="big")]), "big", "(100000, 400000)"),
    (lambda: layers.Embedding(10**9, 100, name="vocab")(np.zeros((1, 2), int)), "vocab", "(1000000000, 100)"),
    (lambda: layers.Dense(10**6, name="wide")(np.zeros((1, 10**6), np.float32)), "wide", "(1000000, 1000000)"),
])
def test_a_layer_too_big_for_memory_says_which_and_how_many_bytes(make, layer_name, shape):
    """units=100000 or Embedding(10**9, 100) gave a bare MemoryError (or were killed later)."""
    with pytest.raises(RnnkitMemoryError, match=rf"layer '{layer_name}' .*shape {re_escape(shape)} "
                                                 rf"\([\d,]+ bytes.*more than the .* of memory available"):
        make()


def re_escape(text):
    import re
    return re.escape(text)


def test_the_size_check_follows_the_memory_available_and_spares_models_that_fit(monkeypatch):
    monkeypatch.setattr(memory_limits, "available_bytes", lambda: 2**20)
    Sequential([layers.LSTM(32, input_shape=(3, 16)), layers.Dense(10)])  # about 100 KB with scratch: builds
    with pytest.raises(RnnkitMemoryError, match="layer 'lstm_big'"):
        Sequential([layers.LSTM(256, input_shape=(3, 8), name="lstm_big")])  # a 1 MiB recurrent kernel
    assert isinstance(RnnkitMemoryError("x"), MemoryError)
    monkeypatch.setattr(memory_limits, "available_bytes", lambda: None)  # the platform says nothing
    Sequential([layers.LSTM(64, input_shape=(3, 8))])
