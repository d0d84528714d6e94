import io
import math
import os
import re
import sys
import warnings

import numpy as np
import pytest

from rnnkit.callbacks import (
    BackupAndRestore, Callback, CallbackList, CSVLogger, EarlyStopping, History, LearningRateScheduler,
    ModelCheckpoint, ProgbarLogger, ReduceLROnPlateau, TerminateOnNaN,
)
from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.utils import progbar


class FakeOptimizer:
    def __init__(self, learning_rate=0.1):
        self.learning_rate = learning_rate
        self.iterations = 0


class FakeModel:
    """The model interface fit offers callbacks; weights are [epoch marker] so restores are visible."""

    def __init__(self, learning_rate=0.1):
        self.stop_training = False
        self.optimizer = FakeOptimizer(learning_rate)
        self.weights = [np.zeros(2)]
        self.saved = []
        self._resume_epoch = None
        self.history = None

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]

    def _write(self, kind, path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(f"{kind} {self.weights[0][0]}")
        self.saved.append((kind, os.path.basename(path)))

    def save_weights(self, path):
        self._write("weights", path)

    def save(self, path):
        self._write("model", path)

    def save_training_state(self, path, epoch, callbacks=None):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(f"{epoch} {self.weights[0][0]} {self.optimizer.learning_rate}")
        self.saved.append(("state", epoch))
        self.callback_states = [(type(c).__name__, c.get_state()) for c in callbacks or []]

    def resume_at_epoch(self, epoch):
        self._resume_epoch = epoch

    def load_training_state(self, path, callbacks=None):
        epoch, weight, lr = open(path).read().split()
        self.weights = [np.full(2, float(weight))]
        self.optimizer.learning_rate = float(lr)
        saved = dict(getattr(self, "callback_states", []))  # one callback of each class in these tests
        for callback in callbacks or []:
            if saved.get(type(callback).__name__) is not None:
                callback.set_state(saved[type(callback).__name__])
        return int(epoch)


def drive(model, callbacks, epoch_logs, steps=2, verbose=0, batch_logs=None, epochs=None):
    """A minimal fit loop with the lead's contract; weights become [epoch + 1] after each epoch."""
    epochs = len(epoch_logs) if epochs is None else epochs
    cbs = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=model,
                       params={"epochs": epochs, "steps": steps, "verbose": verbose})
    model.stop_training = False
    model._resume_epoch = None
    cbs.on_train_begin()
    start = model._resume_epoch or 0
    for epoch in range(start, epochs):
        if model.stop_training:
            break
        cbs.on_epoch_begin(epoch)
        for step in range(steps):
            cbs.on_train_batch_begin(step)
            logs = batch_logs(epoch, step) if batch_logs else {"loss": 1.0}
            cbs.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        model.weights = [np.full(2, float(epoch + 1))]
        cbs.on_epoch_end(epoch, dict(epoch_logs[epoch]))
    cbs.on_train_end()
    return cbs.history


def losses(*values, key="val_loss"):
    return [{"loss": 1.0, key: v} for v in values]


# ---------------------------------------------------------------- base, list, history
def test_callback_list_dispatches_every_hook_in_order():
    seen = []

    class Recorder(Callback):
        def __getattribute__(self, name):
            attr = object.__getattribute__(self, name)
            if name.startswith("on_"):
                return lambda *args, **kwargs: seen.append(name)
            return attr

    model = FakeModel()
    drive(model, [Recorder()], losses(1.0), steps=1)
    assert seen == ["on_train_begin", "on_epoch_begin", "on_train_batch_begin", "on_train_batch_end",
                    "on_epoch_end", "on_train_end"]
    cbs = CallbackList([Recorder()])
    for hook in ("on_test_begin", "on_test_end", "on_predict_begin", "on_predict_end"):
        getattr(cbs, hook)()
    cbs.on_test_batch_begin(0)
    cbs.on_test_batch_end(0)
    cbs.on_predict_batch_begin(0)
    cbs.on_predict_batch_end(0)
    assert seen[-8:] == ["on_test_begin", "on_test_end", "on_predict_begin", "on_predict_end",
                         "on_test_batch_begin", "on_test_batch_end", "on_predict_batch_begin",
                         "on_predict_batch_end"]


def test_set_model_params_and_legacy_batch_hooks():
    calls = []

    class Legacy(Callback):
        def on_batch_end(self, batch, logs=None):
            calls.append((batch, logs["loss"]))

    model, cb = FakeModel(), Legacy()
    cbs = CallbackList([[cb]], model=model, epochs=3, steps=5, verbose=0)
    assert cb.model is model and cb.params == {"epochs": 3, "steps": 5, "verbose": 0}
    cbs.on_train_batch_end(4, {"loss": np.float32(0.5)})
    assert calls == [(4, 0.5)] and type(calls[0][1]) is float


def test_callback_list_rejects_non_callbacks():
    with pytest.raises(RnnkitTypeError, match=r"callbacks\[1\].*'oops'"):
        CallbackList([History(), "oops"])
    with pytest.raises(RnnkitTypeError, match="callbacks must be a list"):
        CallbackList(42)


def test_history_records_epochs_and_keys_and_is_set_on_model():
    model = FakeModel()
    history = drive(model, [], [{"loss": 0.5, "accuracy": 0.7}, {"loss": 0.25, "accuracy": 0.9}])
    assert history.epoch == [0, 1]
    assert history.history == {"loss": [0.5, 0.25], "accuracy": [0.7, 0.9]}
    assert model.history is history


# ---------------------------------------------------------------- progress bar
def fixed_clock(monkeypatch, times):
    ticks = iter(times)
    monkeypatch.setattr(progbar, "_now", lambda: next(ticks))


def test_progbar_verbose1_not_a_terminal_prints_epoch_and_one_final_line(capsys, monkeypatch):
    # start 0, batch 1 at 0.012 s, batch 2 at 0.016 s, finalize at 0.016 s: 4 ms/step after the first
    fixed_clock(monkeypatch, [0.0, 0.012, 0.016, 0.016] * 2)
    model = FakeModel()
    logs = [{"loss": 0.12, "accuracy": 0.95}, {"loss": 0.0001, "accuracy": 1.0}]
    drive(model, [], logs, steps=2, verbose=1, batch_logs=lambda e, s: {"loss": 9.0})
    out = capsys.readouterr().out
    bar = "━" * 20
    assert out == (f"Epoch 1/2\n2/2 {bar} 0s 4ms/step - accuracy: 0.9500 - loss: 0.1200\n"
                   f"Epoch 2/2\n2/2 {bar} 0s 4ms/step - accuracy: 1.0000 - loss: 1.0000e-04\n")


def test_progbar_verbose2_one_line_per_epoch_and_single_epoch_has_no_header(capsys, monkeypatch):
    fixed_clock(monkeypatch, [0.0, 1.5, 3.0, 3.0])
    drive(FakeModel(), [], [{"loss": 0.5, "val_loss": 0.75}], steps=2, verbose=2)
    assert capsys.readouterr().out == "2/2 - 3s - 2s/step - loss: 0.5000 - val_loss: 0.7500\n"


def test_progbar_verbose0_is_silent(capsys):
    drive(FakeModel(), [ProgbarLogger()], losses(1.0, 0.5), verbose=0)
    assert capsys.readouterr().out == ""


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progbar_redraws_in_place_on_a_terminal(monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    fixed_clock(monkeypatch, [0.0, 1.0, 2.0, 3.0, 3.0])
    bar = progbar.Progbar(3, width=3, verbose=1, interval=0.0)
    bar.update(1, {"loss": 2.0})
    bar.update(2, {"loss": 1.0})
    bar.update(3, {"loss": 0.5})
    text = re.sub(r"\x1b\[\d+m", "", terminal.getvalue())
    assert text == ("\r1/3 ━━━ 2s 1s/step - loss: 2.0000"
                    "\r2/3 ━━━ 1s 1s/step - loss: 1.0000"
                    "\r3/3 ━━━ 3s 1s/step - loss: 0.5000\n")
    assert "\x1b[32m━━\x1b[0m\x1b[37m━\x1b[0m" in terminal.getvalue()  # 2 of 3 done: two green, one grey


def test_progbar_pads_a_shorter_line_and_handles_unknown_target(monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    fixed_clock(monkeypatch, [0.0, 1.0, 2.0])
    bar = progbar.Progbar(None, verbose=1, interval=0.0)
    bar.update(1, {"loss": 12345.0})
    bar.update(2, {"loss": 1.0}, finalize=True)
    first, second = re.sub(r"\x1b\[\d+m", "", terminal.getvalue()).split("\r")[1:]
    assert first == "      1/Unknown 1s 1s/step - loss: 12345.0000"
    assert second == "      2/Unknown 2s 1s/step - loss: 1.0000    \n"


def test_progbar_formats_and_argument_checks():
    assert progbar.format_step_time(0.004) == "4ms/step"
    assert progbar.format_step_time(2e-5) == "20us/step"
    assert progbar.format_step_time(2.4) == "2s/step"
    assert progbar.format_eta(3725) == "1:02:05" and progbar.format_eta(65) == "1:05"
    assert progbar.format_value(float("nan")) == "nan" and progbar.format_value(-0.5) == "-0.5000"
    with pytest.raises(RnnkitValueError, match="verbose must be 0, 1 or 2, got 3"):
        progbar.Progbar(10, verbose=3)
    with pytest.raises(RnnkitValueError, match="target"):
        progbar.Progbar(-1)


def test_progbar_logger_stopped_mid_epoch_shows_batches_run(capsys, monkeypatch):
    fixed_clock(monkeypatch, [0.0, 0.5, 0.5])
    model = FakeModel()

    class StopAfterFirstBatch(Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.model.stop_training = True

    drive(model, [StopAfterFirstBatch()], losses(1.0), steps=4, verbose=1)
    assert capsys.readouterr().out.startswith("1/4 ━━━━━─────────────── 0s 500ms/step")


def test_progbar_logger_standalone_evaluate_and_predict(capsys, monkeypatch):
    fixed_clock(monkeypatch, [0.0, 1.0, 1.0, 5.0, 6.0, 6.0])
    logger = ProgbarLogger()
    cbs = CallbackList([logger], model=FakeModel(), params={"epochs": 1, "steps": 1, "verbose": 2})
    cbs.on_test_begin()
    cbs.on_test_batch_end(0, {"loss": 0.25})
    cbs.on_test_end({"loss": 0.25})
    cbs.on_predict_begin()
    cbs.on_predict_batch_end(0, {"outputs": np.zeros(3)})
    cbs.on_predict_end()
    assert capsys.readouterr().out == "1/1 - 1s - 1s/step - loss: 0.2500\n1/1 - 1s - 1s/step\n"


# ---------------------------------------------------------------- EarlyStopping
def test_early_stopping_stops_after_patience_epochs_without_improvement():
    model = FakeModel()
    stop = EarlyStopping(monitor="loss", patience=2)
    history = drive(model, [stop], losses(1.0, 0.9, 0.95, 0.97, 0.5, 0.4, key="loss"))
    assert history.epoch == [0, 1, 2, 3]
    assert stop.stopped_epoch == 3 and stop.best == 0.9 and stop.best_epoch == 1


def test_early_stopping_patience_zero_and_min_delta():
    stop = EarlyStopping(patience=0, min_delta=0.1)
    history = drive(FakeModel(), [stop], losses(1.0, 0.95, 0.5))
    assert history.epoch == [0, 1]  # 0.95 is not 0.1 better than 1.0


def test_early_stopping_max_mode_auto_for_accuracy_and_restore_best_weights(capsys):
    model = FakeModel()
    stop = EarlyStopping(monitor="val_accuracy", patience=1, restore_best_weights=True, verbose=1)
    logs = [{"val_accuracy": a} for a in (0.5, 0.8, 0.7, 0.6, 0.9)]
    history = drive(model, [stop], logs)
    assert history.epoch == [0, 1, 2]
    assert model.weights[0][0] == 2.0  # weights at the end of epoch index 1, the best
    assert capsys.readouterr().out == ("Epoch 3: early stopping\n"
                                       "Restoring model weights from the end of the best epoch: 2.\n")


def test_early_stopping_baseline_and_start_from_epoch():
    # Improvements that do not beat the baseline do not reset the wait counter (Keras 3 rule).
    values = losses(0.9, 0.8, 0.85, 0.9, 0.95, key="loss")
    assert drive(FakeModel(), [EarlyStopping(monitor="loss", patience=2)], values).epoch == [0, 1, 2, 3]
    assert drive(FakeModel(), [EarlyStopping(monitor="loss", patience=2, baseline=0.5)], values).epoch == [0, 1, 2]
    stop = EarlyStopping(monitor="loss", patience=0, start_from_epoch=2)
    history = drive(FakeModel(), [stop], losses(1.0, 2.0, 3.0, 4.0, key="loss"))
    assert history.epoch == [0, 1, 2, 3]  # epochs 0, 1 ignored; 2 sets the best; 3 stops
    assert stop.stopped_epoch == 3


def test_early_stopping_is_reusable_and_warns_once_for_missing_monitor():
    stop = EarlyStopping(monitor="loss", patience=0)
    drive(FakeModel(), [stop], losses(0.1, 0.2, key="loss"))
    history = drive(FakeModel(), [stop], losses(5.0, 4.0, 3.0, key="loss"))
    assert history.epoch == [0, 1, 2]  # the first run's best (0.1) is forgotten
    with pytest.warns(RuntimeWarning, match=r"monitor='val_loss' is not in the logs.*'loss', 'accuracy'") as rec:
        drive(FakeModel(), [EarlyStopping()], [{"loss": 1.0, "accuracy": 0.5}] * 3)
    assert len(rec) == 1


def test_early_stopping_argument_errors():
    with pytest.raises(RnnkitValueError, match="mode must be one of .*'maximum'"):
        EarlyStopping(mode="maximum")
    with pytest.raises(RnnkitValueError, match="patience must be a non-negative integer, got -1"):
        EarlyStopping(patience=-1)
    with pytest.raises(RnnkitValueError, match="min_delta must be a finite number"):
        EarlyStopping(min_delta=float("nan"))
    with pytest.raises(RnnkitTypeError, match="restore_best_weights must be True or False"):
        EarlyStopping(restore_best_weights=1)


# ---------------------------------------------------------------- ReduceLROnPlateau
def test_reduce_lr_on_plateau_factor_patience_cooldown_min_lr(capsys):
    model = FakeModel(learning_rate=0.1)
    reduce = ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2, min_lr=0.02, verbose=1)
    history = drive(model, [reduce], losses(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0))
    # epoch 1 reduces to 0.05; 2 is cooldown; 3 reduces to 0.025; 4 cooldown; 5 to 0.02 (min_lr); 6 cooldown
    assert history.history["learning_rate"] == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.02]
    assert model.optimizer.learning_rate == 0.02
    assert capsys.readouterr().out == ("\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.05.\n"
                                       "\nEpoch 4: ReduceLROnPlateau reducing learning rate to 0.025.\n"
                                       "\nEpoch 6: ReduceLROnPlateau reducing learning rate to 0.02.\n")


def test_reduce_lr_on_plateau_cooldown_one_counts_down_before_the_check_as_keras():
    model = FakeModel(learning_rate=1.0)
    drive(model, [ReduceLROnPlateau(factor=0.5, patience=1, cooldown=1)], losses(1.0, 1.0, 1.0))
    assert model.optimizer.learning_rate == 0.25


def test_reduce_lr_on_plateau_min_delta_and_max_mode():
    model = FakeModel(learning_rate=1.0)
    # improvements smaller than min_delta=1e-4 do not count
    drive(model, [ReduceLROnPlateau(monitor="loss", factor=0.1, patience=2)],
          losses(1.0, 0.99995, 0.9999, 0.5, key="loss"))
    assert model.optimizer.learning_rate == pytest.approx(0.1, rel=0, abs=1e-15)
    model = FakeModel(learning_rate=1.0)
    drive(model, [ReduceLROnPlateau(monitor="val_acc", factor=0.5, patience=1)],
          losses(0.5, 0.6, 0.6, key="val_acc"))
    assert model.optimizer.learning_rate == 0.5


def test_reduce_lr_on_plateau_argument_errors():
    with pytest.raises(RnnkitValueError, match=r"factor must be a number in \[0, 1\).*got 1.0"):
        ReduceLROnPlateau(factor=1.0)
    with pytest.raises(RnnkitValueError, match="min_lr must be >= 0"):
        ReduceLROnPlateau(min_lr=-1)
    with pytest.raises(RnnkitValueError, match="cooldown must be a non-negative integer"):
        ReduceLROnPlateau(cooldown=0.5)


# ---------------------------------------------------------------- LearningRateScheduler
def test_learning_rate_scheduler_two_and_one_argument_forms(capsys):
    model = FakeModel(learning_rate=0.1)
    history = drive(model, [LearningRateScheduler(lambda epoch, lr: lr if epoch < 2 else lr / 2, verbose=1)],
                    losses(1, 1, 1, 1))
    assert history.history["learning_rate"] == [0.1, 0.1, 0.05, 0.025]
    assert "Epoch 3: LearningRateScheduler setting learning rate to 0.05." in capsys.readouterr().out
    model = FakeModel()
    drive(model, [LearningRateScheduler(lambda epoch: 0.5 ** epoch)], losses(1, 1, 1))
    assert model.optimizer.learning_rate == 0.25


def test_learning_rate_scheduler_errors():
    with pytest.raises(RnnkitTypeError, match="schedule must be a function"):
        LearningRateScheduler(0.1)
    with pytest.raises(RnnkitValueError, match=r"schedule\(0, ...\) must return a finite learning rate.*'x'"):
        drive(FakeModel(), [LearningRateScheduler(lambda e, lr: "x")], losses(1))


# ---------------------------------------------------------------- ModelCheckpoint
def test_model_checkpoint_every_epoch_formats_filepath(tmp_path):
    model = FakeModel()
    path = tmp_path / "ckpt" / "{epoch:02d}-{val_loss:.2f}.anything"
    drive(model, [ModelCheckpoint(path)], losses(0.5, 0.25))
    assert model.saved == [("model", "01-0.50.anything"), ("model", "02-0.25.anything")]
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["01-0.50.anything", "02-0.25.anything"]


def test_model_checkpoint_save_best_only_weights_tutorial_path(tmp_path, capsys):
    model = FakeModel()
    path = tmp_path / "checkpoint" / "rnn_onehot_1pre1.ckpt"
    cb = ModelCheckpoint(str(path), save_weights_only=True, save_best_only=True, monitor="loss", verbose=1)
    drive(model, [cb], losses(1.0, 0.5, 0.7, 0.4, key="loss"))
    assert [kind for kind, _ in model.saved] == ["weights"] * 3  # epochs 1, 2, 4
    assert path.read_text() == "weights 4.0"
    out = capsys.readouterr().out
    assert f"\nEpoch 1: loss improved from inf to 1.00000, saving model to {path}\n" in out
    assert "\nEpoch 3: loss did not improve from 0.50000\n" in out


def test_model_checkpoint_max_mode_threshold_and_best_kept_across_fits(tmp_path):
    model = FakeModel()
    cb = ModelCheckpoint(tmp_path / "best", monitor="val_accuracy", save_best_only=True,
                         initial_value_threshold=0.6)
    drive(model, [cb], losses(0.5, 0.7, 0.65, key="val_accuracy"))
    assert len(model.saved) == 1 and cb.best == 0.7
    drive(model, [cb], losses(0.69, 0.71, key="val_accuracy"))
    assert len(model.saved) == 2 and cb.best == 0.71


def test_model_checkpoint_missing_monitor_warns_once_and_saves(tmp_path):
    model = FakeModel()
    cb = ModelCheckpoint(tmp_path / "m", save_best_only=True)
    with pytest.warns(RuntimeWarning, match=r"ModelCheckpoint: monitor='val_loss'.*available keys: 'loss'") as rec:
        drive(model, [cb], [{"loss": 1.0}] * 3)
    assert len(rec) == 1 and len(model.saved) == 3


def test_model_checkpoint_every_n_batches(tmp_path):
    model = FakeModel()
    drive(model, [ModelCheckpoint(tmp_path / "e{epoch}b{batch}", save_freq=3)], losses(1, 1, 1), steps=2)
    assert [name for _, name in model.saved] == ["e2b1", "e3b2"]  # batches 3 and 6 overall


def test_model_checkpoint_errors(tmp_path):
    with pytest.raises(RnnkitValueError, match="save_freq must be 'epoch' or a positive number"):
        ModelCheckpoint("x", save_freq=0)
    with pytest.raises(RnnkitValueError, match="not a valid template"):
        ModelCheckpoint("x{epoch")
    with pytest.raises(RnnkitValueError, match="mode must be one of"):
        ModelCheckpoint("x", mode="best")
    with pytest.raises(RnnkitTypeError, match="filepath must be a str or os.PathLike, got 3"):
        ModelCheckpoint(3)
    with pytest.raises(RnnkitValueError, match=r"names the field 'acc' .*available fields: epoch, loss, val_loss"):
        drive(FakeModel(), [ModelCheckpoint(str(tmp_path / "{acc}"))], losses(1.0))


# ---------------------------------------------------------------- CSVLogger
def test_csv_logger_content_and_na(tmp_path):
    path = tmp_path / "logs" / "run.csv"
    drive(FakeModel(), [CSVLogger(path)], [{"loss": 0.5, "accuracy": 0.25}, {"loss": 0.125}])
    assert path.read_text() == "epoch,accuracy,loss\n0,0.25,0.5\n1,NA,0.125\n"


def test_csv_logger_separator_append_and_truncate(tmp_path):
    path = tmp_path / "run.tsv"
    drive(FakeModel(), [CSVLogger(path, separator="\t")], [{"loss": 0.5}])
    drive(FakeModel(), [CSVLogger(path, separator="\t", append=True)], [{"loss": 0.1}, {"loss": 0.2}])
    assert path.read_text() == "epoch\tloss\n0\t0.5\n0\t0.1\n1\t0.2\n"
    cbs = CallbackList([CSVLogger(path)], model=FakeModel())
    cbs.on_train_begin()
    assert path.read_text() == ""


def test_csv_logger_writes_atomically_through_the_file_helper(tmp_path, monkeypatch):
    from rnnkit.callbacks import csv_logger

    writes = []
    real = csv_logger.atomic_write_text
    monkeypatch.setattr(csv_logger, "atomic_write_text", lambda p, t: (writes.append(t), real(p, t)))
    path = tmp_path / "a.csv"
    drive(FakeModel(), [CSVLogger(path)], [{"loss": 1.0}, {"loss": 2.0}])
    assert writes == ["", "epoch,loss\n0,1.0\n", "epoch,loss\n0,1.0\n1,2.0\n"]
    assert os.listdir(tmp_path) == ["a.csv"]  # no temporary files left


def test_csv_logger_errors():
    with pytest.raises(RnnkitValueError, match="separator must be one character"):
        CSVLogger("x.csv", separator=", ")


# ---------------------------------------------------------------- TerminateOnNaN
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_terminate_on_nan_stops_at_the_bad_batch(bad, capsys):
    history = drive(FakeModel(), [TerminateOnNaN()], losses(1, 1, 1), steps=3,
                    batch_logs=lambda e, s: {"loss": bad if (e, s) == (1, 1) else 1.0})
    assert history.epoch == [0, 1]
    assert capsys.readouterr().out == "Batch 1: Invalid loss, terminating training\n"


def test_terminate_on_nan_raise_error():
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 0"):
        drive(FakeModel(), [TerminateOnNaN(raise_error=True)], losses(1), batch_logs=lambda e, s: {"loss": math.nan})


# ---------------------------------------------------------------- BackupAndRestore
def test_backup_and_restore_resumes_after_interruption(tmp_path):
    backup = tmp_path / "backup"

    class Interrupt(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 3:
                raise KeyboardInterrupt

    model = FakeModel()
    with pytest.raises(KeyboardInterrupt):
        drive(model, [BackupAndRestore(backup), Interrupt()], losses(*[1.0] * 6))
    assert os.listdir(backup) == ["training_state"]
    assert model.saved == [("state", 1), ("state", 2), ("state", 3)]

    fresh = FakeModel()
    history = drive(fresh, [BackupAndRestore(backup)], losses(*[1.0] * 6))
    assert history.epoch == [3, 4, 5]
    assert fresh.saved == [("state", 4), ("state", 5), ("state", 6)]
    assert not backup.exists()  # deleted at the end of a completed fit


def test_backup_and_restore_restores_weights_and_keeps_when_asked(tmp_path):
    model = FakeModel()
    drive(model, [BackupAndRestore(tmp_path, delete_checkpoint=False)], losses(1, 1))
    assert (tmp_path / "training_state").read_text() == "2 2.0 0.1"
    fresh = FakeModel()
    cbs = CallbackList([BackupAndRestore(tmp_path)], model=fresh)
    cbs.on_train_begin()
    assert fresh._resume_epoch == 2 and fresh.weights[0][0] == 2.0


def test_backup_and_restore_mid_epoch_saves_resume_the_unfinished_epoch(tmp_path):
    model = FakeModel()
    drive(model, [BackupAndRestore(tmp_path / "b", save_freq=3, delete_checkpoint=False)], losses(1, 1), steps=2)
    assert model.saved == [("state", 1)]  # after batch 3 overall = epoch index 1, batch 0: 1 epoch completed


def test_backup_and_restore_errors():
    with pytest.raises(RnnkitValueError, match="backup_dir must be a non-empty path"):
        BackupAndRestore("")
    with pytest.raises(RnnkitValueError, match="save_freq must be 'epoch' or a positive number of batches, got 'x'"):
        BackupAndRestore("d", save_freq="x")


def test_warnings_are_not_raised_by_well_configured_callbacks(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        drive(FakeModel(), [EarlyStopping(), ReduceLROnPlateau(), ModelCheckpoint(tmp_path / "m"),
                            CSVLogger(tmp_path / "c.csv"), TerminateOnNaN()], losses(1.0, 0.5))


# ---------------------------------------------------------------- end to end through Sequential.fit
def small_model(seed=0):
    from rnnkit.layers import Dense, SimpleRNN
    from rnnkit.models import Sequential

    model = Sequential([SimpleRNN(4, seed=seed), Dense(2, activation="softmax", seed=seed + 1)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def small_data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 4, 3)).astype(np.float32)
    return x, (x.sum((1, 2)) > 0).astype(np.int64)


class WeightsAtEpochEnd(Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def test_fit_early_stopping_restores_best_and_reduces_lr():
    pytest.importorskip("rnnkit.models")
    x, y = small_data()
    model = small_model()
    seen = WeightsAtEpochEnd()
    # min_delta=100: only the first epoch counts as an improvement.
    stop = EarlyStopping(monitor="loss", min_delta=100, patience=2, restore_best_weights=True)
    reduce = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=100)
    history = model.fit(x, y, batch_size=8, epochs=10, verbose=0, shuffle=False, callbacks=[reduce, stop, seen])
    assert history.epoch == [0, 1, 2]
    assert history.history["learning_rate"] == [0.001, 0.001, 0.0005]
    assert model.optimizer.learning_rate == 0.00025
    for got, want in zip(model.get_weights(), seen.weights[0]):
        np.testing.assert_array_equal(got, want)


def test_fit_progress_bar_verbose_1_and_2(capsys):
    pytest.importorskip("rnnkit.models")
    x, y = small_data()
    model = small_model()
    model.fit(x, y, batch_size=8, epochs=2, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert re.fullmatch(r"3/3 ━{20} \d+s \d+(ms|us|s)/step - accuracy: \d\.\d{4} - grad_norm: \d+\.\d{4}"
                        r" - loss: \d\.\d{4}", lines[1]), lines[1]
    model.fit(x, y, batch_size=8, epochs=1, verbose=2, validation_split=0.25)
    out = capsys.readouterr().out
    assert re.fullmatch(r"3/3 - \d+s - \d+(ms|us|s)/step - accuracy: \d\.\d{4} - grad_norm: \d+\.\d{4}"
                        r" - loss: \d\.\d{4} - val_accuracy: \d\.\d{4} - val_loss: \d\.\d{4}\n", out), out


def test_fit_checkpoint_and_csv_files(tmp_path):
    pytest.importorskip("rnnkit.models")
    x, y = small_data()
    model = small_model()
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[
        ModelCheckpoint(tmp_path / "ckpt" / "w-{epoch:02d}.bin", save_weights_only=True),
        CSVLogger(tmp_path / "log.csv")])
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["w-01.bin", "w-02.bin", "w-03.bin"]
    again = small_model(seed=5)
    again.build((None, 4, 3))
    again.load_weights(tmp_path / "ckpt" / "w-03.bin")
    for got, want in zip(again.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert rows[0] == "epoch,accuracy,grad_norm,loss"
    assert [float(r.split(",")[3]) for r in rows[1:]] == history.history["loss"]


def test_fit_backup_and_restore_resumes_bit_for_bit(tmp_path):
    pytest.importorskip("rnnkit.models")
    import rnnkit

    x, y = small_data()

    def fresh_process(seed):
        # A real resume happens in a new process: same layer names (optimizer slots are keyed by
        # them) but an unrelated global seed for the resumed run.
        rnnkit.utils.clear_session()
        rnnkit.set_random_seed(seed)

    fresh_process(3)
    reference = small_model()
    reference.fit(x, y, batch_size=8, epochs=4, verbose=0)

    class Interrupt(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    fresh_process(3)
    first = small_model()
    with pytest.raises(KeyboardInterrupt):
        first.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[BackupAndRestore(tmp_path / "b"), Interrupt()])
    fresh_process(99)
    resumed = small_model()
    history = resumed.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[BackupAndRestore(tmp_path / "b")])
    assert history.epoch == [2, 3]
    assert not (tmp_path / "b").exists()
    for got, want in zip(resumed.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(got, want)


class HookRecorder(Callback):
    """Records every evaluate/predict hook with a summary of its logs."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def on_test_begin(self, logs=None):
        self.calls.append(("test_begin",))

    def on_test_batch_begin(self, batch, logs=None):
        self.calls.append(("test_batch_begin", batch))

    def on_test_batch_end(self, batch, logs=None):
        self.calls.append(("test_batch_end", batch, sorted(logs)))

    def on_test_end(self, logs=None):
        self.calls.append(("test_end", sorted(logs)))

    def on_predict_begin(self, logs=None):
        self.calls.append(("predict_begin",))

    def on_predict_batch_begin(self, batch, logs=None):
        self.calls.append(("predict_batch_begin", batch))

    def on_predict_batch_end(self, batch, logs=None):
        self.calls.append(("predict_batch_end", batch, logs["outputs"].shape))

    def on_predict_end(self, logs=None):
        self.calls.append(("predict_end",))


def test_evaluate_and_predict_call_keras_hooks_and_show_a_bar_when_verbose(capsys, monkeypatch):
    import rnnkit

    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    model = rnnkit.Sequential([rnnkit.layers.GRU(3, input_shape=(4, 2), seed=0), rnnkit.layers.Dense(2, seed=1)])
    model.compile("adam", "mse", metrics=["mae"])
    x = np.random.default_rng(0).standard_normal((5, 4, 2)).astype(np.float32)
    y = np.zeros((5, 2), np.float32)
    recorder = HookRecorder()
    results = model.evaluate(x, y, batch_size=2, verbose=0, callbacks=[recorder], return_dict=True)
    assert recorder.calls == [("test_begin",)] + [
        call for step in range(3)
        for call in (("test_batch_begin", step), ("test_batch_end", step, ["loss", "mae"]))] + [
        ("test_end", ["loss", "mae"])]
    assert set(results) == {"loss", "mae"} and capsys.readouterr().out == ""
    recorder.calls.clear()
    outputs = model.predict(x, batch_size=2, callbacks=[recorder])
    assert outputs.shape == (5, 2)
    assert recorder.calls == [("predict_begin",)] + [
        call for step, rows in enumerate((2, 2, 1))
        for call in (("predict_batch_begin", step), ("predict_batch_end", step, (rows, 2)))] + [("predict_end",)]
    model.evaluate(x, y, batch_size=2)  # verbose "auto": a progress bar, as Keras
    assert "3/3" in capsys.readouterr().out
    with pytest.raises(RnnkitValueError, match="verbose"):
        model.predict(x, verbose=3)
