"""The file name decides the format: rnnkit's own for anything unregistered, Keras's for .keras,
.weights.h5 and .h5 (rnnkit/io/formats.py)."""
import numpy as np
import pytest

import rnnkit
from rnnkit.io import formats
from rnnkit.io.arrays_file import MAGIC

L = rnnkit.layers


def test_suffixes_pick_the_format_longest_first_and_ignoring_case():
    assert formats.handler("save_weights", "run/model.weights") is None
    assert formats.handler("save_weights", "ckpt/rnn_onehot_1pre1.ckpt") is None
    assert formats.handler("save_weights", "w.h5.bak") is None
    assert formats.handler("save_weights", "W.WEIGHTS.H5").__name__ == "save_weights"
    assert formats.handler("save_weights", "w.h5").__name__ == "save_legacy_weights"
    assert formats.handler("load_model", "m.keras").__module__ == "rnnkit.io.keras.archive"


def test_an_operation_a_format_lacks_says_what_to_do_instead():
    with pytest.raises(rnnkit.RnnkitValueError, match="not save_weights; Keras 3 writes weights alone to .*weights.h5"):
        formats.handler("save_weights", "m.keras")
    with pytest.raises(rnnkit.RnnkitValueError, match="holds no architecture"):
        formats.handler("load_model", "w.weights.h5")
    with pytest.raises(rnnkit.RnnkitValueError, match="operations must be among"):
        formats.register(".x", "X", convert="a:b")


def test_own_format_stays_the_default_for_weights_models_and_checkpoints(tmp_path):
    model = rnnkit.Sequential([L.SimpleRNN(2, input_shape=(3, 2)), L.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.zeros((2, 3, 2), np.float32), np.zeros((2, 1), np.float32), verbose=0)
    for name in ("w.weights", "m.model", "plain"):
        model.save_weights(tmp_path / name)
        assert (tmp_path / name).read_bytes()[:8] == MAGIC
    model.save_training_state(tmp_path / "state.keras", epoch=1)  # checkpoints: always rnnkit's format
    assert (tmp_path / "state.keras").read_bytes()[:8] == MAGIC


def test_model_checkpoint_follows_the_file_name(tmp_path):
    pytest.importorskip("h5py")
    model = rnnkit.Sequential([L.GRU(2, input_shape=(3, 2)), L.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((4, 3, 2), np.float32), np.zeros((4, 1), np.float32)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[rnnkit.callbacks.ModelCheckpoint(str(tmp_path / "best.keras")),
                                                     rnnkit.callbacks.ModelCheckpoint(str(tmp_path / "w.weights.h5"),
                                                                                      save_weights_only=True)])
    assert (tmp_path / "best.keras").read_bytes()[:2] == b"PK"
    assert (tmp_path / "w.weights.h5").read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"
    assert rnnkit.load_model(tmp_path / "best.keras").optimizer.iterations == 1


def test_load_weights_reads_a_keras_archive_as_keras_does(tmp_path):
    pytest.importorskip("h5py")
    rnnkit.layers.reset_name_counters()
    saved = rnnkit.Sequential([L.LSTM(3, input_shape=(4, 2), seed=0), L.Dense(1, seed=1)])
    saved.save(tmp_path / "m.keras")
    other = rnnkit.Sequential([L.LSTM(3, input_shape=(4, 2), seed=5), L.Dense(1, seed=6)])
    other.load_weights(tmp_path / "m.keras")
    x = np.random.default_rng(0).normal(size=(2, 4, 2)).astype(np.float32)
    np.testing.assert_array_equal(other(x), saved(x))


def test_an_unbuilt_model_cannot_be_written_or_filled(tmp_path):
    pytest.importorskip("h5py")
    from rnnkit.io.keras import KerasFileError

    model = rnnkit.Sequential([L.Dense(2)])
    for name, call in (("m.keras", model.save), ("m.h5", model.save), ("w.weights.h5", model.save_weights),
                       ("w.h5", model.load_weights)):
        with pytest.raises(KerasFileError, match=f"cannot (save|load).* '.*{name}': model 'sequential.*' is not built"):
            call(tmp_path / name)
        assert not (tmp_path / name).exists()
