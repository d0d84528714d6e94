"""Callbacks that carry state across epochs keep it across a BackupAndRestore resume (issue #11, defect 6).

ModelCheckpoint(save_best_only=True) forgot its best value, so the first epoch after a resume
overwrote the best file with a worse model (seen: loss 14.2 replacing 1.05); EarlyStopping's and
ReduceLROnPlateau's counters restarted too. A run interrupted after a backup and resumed with
freshly made callbacks must end exactly where an uninterrupted run ends.
"""
import numpy as np
import pytest

from rnnkit import Sequential, layers, optimizers, set_random_seed
from rnnkit.callbacks import (
    BackupAndRestore, Callback, EarlyStopping, LearningRateScheduler, ModelCheckpoint, ReduceLROnPlateau,
)
from rnnkit.errors import RnnkitValueError
from rnnkit.io.arrays_file import RnnkitFileError

from file_forgery import rewrite_header

EPOCHS = 7


class Interrupt(Exception):
    pass


class InterruptAt(Callback):
    """Raises at the start of ``epoch``: the backup of the epoch before is written by then."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Interrupt(epoch)


def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 5, 2)).astype(np.float32)
    return x, x.sum(axis=(1, 2))[:, None] * 0.3


def stateful_callbacks(folder):
    """Learning rate 0.05 for two epochs, then 3.0: the loss gets worse after epoch 2, which is
    when a forgetful ModelCheckpoint would overwrite the best file."""
    return [
        LearningRateScheduler(lambda epoch, lr: 0.05 if epoch < 2 else (3.0 if epoch == 2 else lr)),
        ModelCheckpoint(str(folder / "best.weights"), monitor="loss", save_best_only=True, save_weights_only=True),
        EarlyStopping(monitor="loss", patience=4, restore_best_weights=True),
        ReduceLROnPlateau(monitor="loss", patience=1, factor=0.5, cooldown=2, min_delta=0.0),
        BackupAndRestore(str(folder / "backup"), delete_checkpoint=False),
    ]


def run(folder, interrupt_at=None):
    set_random_seed(0)  # the shuffling order; a resumed run takes it from the backup instead
    model = Sequential([layers.GRU(4, input_shape=(5, 2), seed=3, name="gru"), layers.Dense(1, seed=4, name="out")])
    model.compile(optimizers.SGD(0.05), "mse")
    callbacks = stateful_callbacks(folder)
    extra = [InterruptAt(interrupt_at)] if interrupt_at is not None else []
    x, y = data()
    history = model.fit(x, y, batch_size=8, epochs=EPOCHS, verbose=0, shuffle=True, callbacks=callbacks + extra)
    return model, callbacks, history


def states(callbacks):
    out = []
    for callback in callbacks:
        state = callback.get_state()
        if state is not None:
            out.append({k: (v if k != "best_weights" else [w.tobytes() for w in v or []]) for k, v in state.items()})
    return out


def test_a_resumed_run_ends_with_the_callbacks_state_of_an_uninterrupted_one(tmp_path):
    whole_model, whole_callbacks, whole = run(tmp_path / "whole")
    assert max(whole.history["loss"][2:]) > min(whole.history["loss"][:2])  # the scenario: worse after epoch 2

    with pytest.raises(Interrupt):
        run(tmp_path / "cut", interrupt_at=4)
    best_before = (tmp_path / "cut" / "best.weights").read_bytes()
    model, callbacks, resumed = run(tmp_path / "cut")  # fresh callbacks, as a restarted script makes them

    assert resumed.epoch == [epoch for epoch in whole.epoch if epoch >= 4] and resumed.epoch
    assert states(callbacks) == states(whole_callbacks)
    assert (tmp_path / "cut" / "best.weights").read_bytes() == (tmp_path / "whole" / "best.weights").read_bytes()
    assert (tmp_path / "cut" / "best.weights").read_bytes() == best_before  # never replaced by a worse epoch
    assert resumed.history["learning_rate"] == whole.history["learning_rate"][4:]
    for a, b in zip(model.get_weights(), whole_model.get_weights()):
        assert a.tobytes() == b.tobytes()


def test_each_callback_round_trips_its_state_and_refuses_a_bad_one():
    checkpoint = ModelCheckpoint("x", monitor="loss", save_best_only=True)
    checkpoint.best = 1.25
    stopper = EarlyStopping(monitor="loss")
    stopper.wait, stopper.best, stopper.best_epoch = 2, 0.5, 3
    plateau = ReduceLROnPlateau(monitor="loss")
    plateau.wait, plateau.cooldown_counter, plateau.best = 1, 2, 0.75
    for original, fresh in ((checkpoint, ModelCheckpoint("x", monitor="loss")),
                            (stopper, EarlyStopping(monitor="loss")),
                            (plateau, ReduceLROnPlateau(monitor="loss"))):
        fresh.set_state(original.get_state())
        assert fresh.get_state() == original.get_state()
        before = fresh.get_state()
        for bad in ({**before, "wait": -1} if "wait" in before else {**before, "best": "low"},
                    {**before, "best": float("nan")}, {"best": 1.0}, [1.0]):
            with pytest.raises((RnnkitValueError, TypeError)):
                fresh.set_state(bad)
            assert fresh.get_state() == before  # nothing assigned
    assert LearningRateScheduler(lambda epoch, lr: lr).get_state() is None  # reads epoch and rate, keeps nothing


def test_a_state_saved_for_another_monitor_is_not_restored():
    saved = EarlyStopping(monitor="val_loss")
    saved.wait = 3
    fresh = EarlyStopping(monitor="loss")
    with pytest.warns(RuntimeWarning, match="monitor='val_loss'"):
        fresh.set_state(saved.get_state())
    assert fresh.wait == 0


def test_a_forged_callback_state_refuses_the_whole_backup(tmp_path):
    """All or nothing: a bad callback state leaves weights, optimizer and the other callbacks alone."""
    with pytest.raises(Interrupt):
        run(tmp_path, interrupt_at=3)
    path = tmp_path / "backup" / "training_state"

    def edit(header):
        for entry in header["metadata"]["state"]["callbacks"]:
            if entry["class_name"] == "ReduceLROnPlateau":
                entry["state"]["wait"] = -5
    path.write_bytes(rewrite_header(path.read_bytes(), edit))
    with pytest.raises(RnnkitFileError, match="ReduceLROnPlateau"):
        run(tmp_path)


def test_csv_logger_appending_to_a_damaged_file_is_a_named_error(tmp_path):
    """A sibling of the CLI's non-UTF-8 metrics.csv: CSVLogger(append=True) raised UnicodeDecodeError."""
    from rnnkit.callbacks import CSVLogger

    path = tmp_path / "log.csv"
    path.write_bytes(b"epoch,loss\n0,\xff\n")
    logger = CSVLogger(str(path), append=True)
    with pytest.raises(RnnkitValueError, match="not UTF-8 text"):
        logger.on_train_begin()
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(RnnkitValueError, match="not a regular file"):
        CSVLogger(str(tmp_path / "folder.csv"), append=True).on_train_begin()
