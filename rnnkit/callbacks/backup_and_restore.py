"""BackupAndRestore: resume an interrupted fit where it left off."""
import os

from .._validate import path_text
from . import _checks
from .base import Callback

STATE_FILE = "training_state"


class BackupAndRestore(Callback):
    """Back up the whole training state during fit and restore it when fit starts again.

    The backup is one file, ``<backup_dir>/training_state``, written by
    ``model.save_training_state(path, epoch, callbacks=...)`` (weights, optimizer state,
    RNG states, the epoch to resume from, and the state of every other callback of the
    fit that carries one — ModelCheckpoint's best value, EarlyStopping's and
    ReduceLROnPlateau's counters, see :meth:`Callback.get_state`), written atomically,
    so a kill at any moment leaves the previous backup or the new one.

    It runs after every other callback (``runs_last``), so a backup holds their state at
    the end of the epoch and a restore comes after their ``on_train_begin`` has reset them.

    - ``on_train_begin``: if the backup exists, ``model.load_training_state(path, callbacks=...)``
      restores it (all or nothing) and ``model.resume_at_epoch(epoch)`` makes fit start from the
      epoch it returns.
    - ``on_epoch_end`` (or every ``save_freq`` batches): the state is saved with
      the number of completed epochs; a mid-epoch backup resumes at the start
      of the unfinished epoch.
    - ``on_train_end``: with ``delete_checkpoint`` the backup file is removed (and
      ``backup_dir`` too if that leaves it empty). An exception out of fit skips
      ``on_train_end``, which is what keeps the backup for the next run.

    Args:
        backup_dir: folder for the backup (created when needed); do not share it
            with other callbacks or runs.
        save_freq: "epoch" or a positive number of training batches.
        delete_checkpoint: remove the backup when fit completes (default True).
    """

    runs_last = True

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        self.backup_dir = path_text("backup_dir", backup_dir)
        self.save_freq = _checks.save_frequency("save_freq", save_freq)
        self.delete_checkpoint = _checks.flag("delete_checkpoint", delete_checkpoint)
        self.state_path = os.path.join(self.backup_dir, STATE_FILE)
        self._completed_epochs = 0
        self._batches_since_save = 0
        self._peers = []

    def set_callbacks(self, callbacks):
        """The fit's callbacks: the state of each one that has some goes into the backup."""
        self._peers = [c for c in callbacks if c is not self]

    def _save(self):
        self.model.save_training_state(self.state_path, self._completed_epochs, callbacks=self._peers)

    def on_train_begin(self, logs=None):
        self._completed_epochs = 0
        self._batches_since_save = 0
        if os.path.exists(self.state_path):
            epoch = int(self.model.load_training_state(self.state_path, callbacks=self._peers))
            self._completed_epochs = epoch
            self.model.resume_at_epoch(epoch)

    def on_train_batch_end(self, batch, logs=None):
        if _checks.batch_save_due(self):
            self._save()

    def on_epoch_end(self, epoch, logs=None):
        self._completed_epochs = epoch + 1
        if self.save_freq == "epoch":
            self._save()

    def on_train_end(self, logs=None):
        if not self.delete_checkpoint:
            return
        if os.path.exists(self.state_path):
            os.remove(self.state_path)
        try:
            os.rmdir(self.backup_dir)
        except OSError:
            pass  # missing, or holds other files: those are not ours to delete
