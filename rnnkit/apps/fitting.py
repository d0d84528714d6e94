"""The callbacks every command's ``fit`` uses, and loading the best checkpoint afterwards."""


def monitor_mode(monitor):
    return "max" if "acc" in monitor else "min"


def fit_callbacks(run_dir, monitor="loss", mode=None):
    """Callbacks every command's fit uses: best checkpoint, per-epoch CSV, and a backup for --resume.

    - ``ModelCheckpoint(best.weights, monitor, save_best_only=True, save_weights_only=True)``;
      on --resume it only saves what beats the best value already logged (the backup restores
      the same best value; metrics.csv also covers a run backed up by an older rnnkit);
    - ``CSVLogger(metrics.csv, append=--resume)``;
    - ``BackupAndRestore(backup/, delete_checkpoint=False)``: the state after every epoch stays, so
      ``--resume --epochs N`` continues a finished or interrupted run up to epoch N.
    """
    from ..callbacks import BackupAndRestore, CSVLogger, ModelCheckpoint

    mode = mode or monitor_mode(monitor)
    best = run_dir.best_logged(monitor, mode) if run_dir.resume else None
    if best is not None and not run_dir.has_checkpoint():
        best = None
    return [
        ModelCheckpoint(run_dir.checkpoint_path, monitor=monitor, mode=mode, save_best_only=True,
                        save_weights_only=True, initial_value_threshold=best),
        CSVLogger(run_dir.metrics_path, append=run_dir.resume),
        BackupAndRestore(run_dir.backup_dir, delete_checkpoint=False),
    ]


def load_best(model, run_dir):
    """Load best.weights into ``model`` when it exists; returns whether it did."""
    if run_dir.has_checkpoint():
        model.load_weights(run_dir.checkpoint_path)
        return True
    return False
