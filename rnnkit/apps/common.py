"""What every ``rnnkit <command>`` shares: errors, common options, the run directory, callbacks, pictures.

A command module (``rnnkit/apps/<name>.py``) defines ``HELP``, ``DESCRIPTION``,
``add_arguments(parser)`` and ``run(args) -> int``. Inside ``run`` it

1. opens a :class:`RunDir` and writes its resolved configuration (``model`` keys
   describe the model and its data; ``settings`` keys such as epochs may change
   between a run and its ``--resume``);
2. trains with ``model.fit(..., callbacks=fit_callbacks(run_dir, monitor))``, which
   logs every epoch to ``metrics.csv``, keeps the best weights in ``best.weights``
   and backs the whole training state up after every epoch so ``--resume`` (or a
   rerun after Ctrl-C) continues where it stopped;
3. draws its pictures with :func:`pyplot` / :func:`save_figure` (matplotlib with
   the Agg backend, imported only then; without matplotlib the pictures are
   skipped with one line saying so).

User mistakes raise :class:`CliError`; ``rnnkit.cli.main`` prints them as one line
``rnnkit <command>: error: <message>`` on stderr and exits with status 2.
"""
import csv
import io
import json
import math
import os
import sys
import time

DEFAULT_ROOT = "runs"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
CHECKPOINT_FILE = "best.weights"
BACKUP_DIR = "backup"



class CliError(Exception):
    """A mistake in the command line or its inputs: printed as one line, exit status 2, no traceback."""


def say(*parts, file=None):
    """Print a line of a command's report and flush it (progress bars share the stream)."""
    print(*parts, file=file or sys.stdout, flush=True)


# ---------------------------------------------------------------------- argument types
def _argument_type(convert, accept, expected):
    """An argparse ``type``: ``convert(text)`` must succeed and satisfy ``accept``, else one clear error."""
    def parse(text):
        import argparse

        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


positive_int = _argument_type(int, lambda v: v >= 1, "a positive integer")
non_negative_int = _argument_type(int, lambda v: v >= 0, "a non-negative integer")
positive_float = _argument_type(float, lambda v: math.isfinite(v) and v > 0, "a positive number")


unit_fraction = _argument_type(float, lambda v: 0.0 <= v < 1.0, "a number in [0, 1)")


def add_common_arguments(parser, epochs=10, batch_size=32, seed=0):
    """Add --seed, --epochs, --batch-size, --run-dir, --resume and --verbose with a command's defaults."""
    group = parser.add_argument_group("run options (every command)")
    group.add_argument("--seed", type=non_negative_int, default=seed,
                       help=f"seed of every random draw: same seed, same run (default {seed})")
    group.add_argument("--epochs", type=positive_int, default=epochs,
                       help=f"number of training epochs (default {epochs})")
    group.add_argument("--batch-size", type=positive_int, default=batch_size,
                       help=f"samples per gradient step (default {batch_size})")
    group.add_argument("--run-dir", default=None, metavar="DIR",
                       help=f"folder for config.json, {METRICS_FILE}, {CHECKPOINT_FILE} and the PNG pictures "
                            f"(default {DEFAULT_ROOT}/<command>-<date>-<time>)")
    group.add_argument("--resume", action="store_true",
                       help="continue the run in --run-dir (its model settings must match) up to --epochs")
    group.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                       help="0 quiet, 1 progress bars (default), 2 one line per epoch")
    return group


# ---------------------------------------------------------------------- run directory
def _timestamp():
    return time.strftime("%Y%m%d-%H%M%S")


def _json_ready(value):
    """Make ``value`` JSON-serialisable (tuples to lists, NumPy scalars to Python numbers)."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


class RunDir:
    """The folder one run of a command writes into.

    Layout::

        config.json     {"command", "model": {...}, "settings": {...}, "rnnkit_version"}
        results.json    the final numbers the command reported
        metrics.csv     one row per epoch (CSVLogger)
        best.weights    best weights so far (ModelCheckpoint, save_best_only)
        backup/         full training state after every epoch (BackupAndRestore), for --resume
        *.png           pictures

    Args:
        command: the command name, e.g. "letters".
        path: the folder (``--run-dir``); None makes ``runs/<command>-<date>-<time>``.
        resume: continue an existing run (``--resume``); the folder must hold a config.json.
    """

    def __init__(self, command, path=None, resume=False, root=DEFAULT_ROOT):
        self.command = command
        self.resume = bool(resume)
        if path is None:
            if resume:
                raise CliError("--resume needs --run-dir DIR naming the run to continue")
            path = os.path.join(root, f"{command}-{_timestamp()}")
            base, n = path, 1
            while os.path.exists(path):
                n += 1
                path = f"{base}-{n}"
        from ..distributed.command import worker_run_dir  # mpiexec -n N rnnkit ...: rank 0 alone writes here

        self.path = os.fspath(worker_run_dir(path, resume))
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise CliError(f"--run-dir {self.path!r} is a file, not a folder")
        if resume and not os.path.isfile(self.config_path):
            raise CliError(f"--resume: {self.path!r} holds no {CONFIG_FILE}; there is no run there to continue")
        if not resume and os.path.isfile(self.config_path):
            raise CliError(f"--run-dir {self.path!r} already holds a run; add --resume to continue it "
                           f"or choose another folder")
        self.config = None

    # paths ---------------------------------------------------------------
    def file(self, name):
        """Path of ``name`` inside the run directory."""
        return os.path.join(self.path, name)

    @property
    def config_path(self):
        return self.file(CONFIG_FILE)

    @property
    def metrics_path(self):
        return self.file(METRICS_FILE)

    @property
    def checkpoint_path(self):
        return self.file(CHECKPOINT_FILE)

    @property
    def backup_dir(self):
        return self.file(BACKUP_DIR)

    def png(self, name):
        """Path of the picture ``name`` (".png" added when missing)."""
        return self.file(name if name.endswith(".png") else f"{name}.png")

    def has_checkpoint(self):
        return os.path.isfile(self.checkpoint_path)

    # config --------------------------------------------------------------
    def read_config(self):
        try:
            with open(self.config_path, encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError) as err:
            raise CliError(f"cannot read {self.config_path!r}: {err}") from None

    def write_config(self, model, settings):
        """Write config.json (atomically); on --resume first check the model matches the stored one.

        Args:
            model: dict of everything that fixes the model's weights and the data they fit
                (layer sizes, cell type, window length, data file, ...).
            settings: dict of run settings that may change on --resume (epochs, verbosity, ...).
        """
        from .. import __version__
        from ..io import atomic_write_text

        model, settings = _json_ready(dict(model)), _json_ready(dict(settings))
        if self.resume:
            stored = self.read_config()
            if stored.get("command") != self.command:
                raise CliError(f"--run-dir {self.path!r} holds a run of 'rnnkit {stored.get('command')}', "
                               f"not 'rnnkit {self.command}'")
            old = stored.get("model", {})
            differing = sorted(k for k in set(old) | set(model) if old.get(k, None) != model.get(k, None))
            if differing:
                details = ", ".join(f"{k}: {old.get(k)!r} there, {model.get(k)!r} now" for k in differing)
                raise CliError(f"--run-dir {self.path!r} holds a different model ({details}); "
                               f"resume with the same settings or choose another folder")
        self.config = {"command": self.command, "model": model, "settings": settings,
                       "rnnkit_version": __version__}
        os.makedirs(self.path, exist_ok=True)
        atomic_write_text(self.config_path, json.dumps(self.config, indent=2, sort_keys=True) + "\n")
        return self.config

    def write_results(self, results):
        """Write the run's final numbers to results.json (atomically); returns the path."""
        from ..io import atomic_write_text

        path = self.file("results.json")
        atomic_write_text(path, json.dumps(_json_ready(dict(results)), indent=2, sort_keys=True) + "\n")
        return path

    def best_logged(self, monitor, mode):
        """The best ``monitor`` value in metrics.csv so far (None when there is none), for --resume."""
        if not os.path.isfile(self.metrics_path):
            return None
        values = []
        with open(self.metrics_path, encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                try:
                    value = float(row.get(monitor, "nan"))
                except ValueError:
                    continue
                if math.isfinite(value):
                    values.append(value)
        if not values:
            return None
        return max(values) if mode == "max" else min(values)


def open_run_dir(args, command):
    """The :class:`RunDir` named by ``--run-dir`` / ``--resume``; remembered on ``args`` for the Ctrl-C hint."""
    run_dir = RunDir(command, args.run_dir, resume=args.resume)
    args.run_dir_used = run_dir.path
    return run_dir


def split_config(args, model_keys):
    """Split parsed ``args`` into (model, settings) dicts for :meth:`RunDir.write_config`."""
    values = {k: v for k, v in vars(args).items()
              if not k.startswith("_") and k not in ("command", "run_dir_used") and not callable(v)}
    model = {k: values[k] for k in model_keys if k in values}
    settings = {k: v for k, v in values.items() if k not in model}
    return model, settings


def monitor_mode(monitor):
    return "max" if "acc" in monitor else "min"


def fit_callbacks(run_dir, monitor="loss", mode=None):
    """Callbacks every command's fit uses: best checkpoint, per-epoch CSV, and a backup for --resume.

    - ``ModelCheckpoint(best.weights, monitor, save_best_only=True, save_weights_only=True)``;
      on --resume it only saves what beats the best value already logged;
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


def read_history(run_dir):
    """metrics.csv as {column: [floats]} (NaN where a value is missing), for drawing curves."""
    history = {}
    if not os.path.isfile(run_dir.metrics_path):
        return history
    with open(run_dir.metrics_path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            for key, text in row.items():
                try:
                    value = float(text)
                except (TypeError, ValueError):
                    value = float("nan")
                history.setdefault(key, []).append(value)
    return history


# ---------------------------------------------------------------------- pictures
_PYPLOT = {"checked": False, "module": None}


def pyplot(out=None):
    """``matplotlib.pyplot`` with the Agg backend, imported on first use; None (said once) without matplotlib."""
    if not _PYPLOT["checked"]:
        _PYPLOT["checked"] = True
        try:
            import matplotlib

            matplotlib.use("Agg", force=True)
            import matplotlib.pyplot as plt
        except ImportError:
            say('pictures skipped: matplotlib is not installed (python3 -m pip install "rnnkit[apps]")',
                file=out)
            plt = None
        _PYPLOT["module"] = plt
    return _PYPLOT["module"]


def save_figure(fig, path, dpi=100):
    """Write ``fig`` as a PNG at ``path`` atomically and close it; returns the path."""
    from ..io import atomic_write

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    atomic_write(path, buffer.getvalue())
    return path


def wrote(path, what):
    """Report one file written by the command."""
    say(f"wrote {path}  ({what})")


# ---------------------------------------------------------------------- models
CELLS = {"lstm": "LSTM", "gru": "GRU", "simple": "SimpleRNN"}


def recurrent_stack(cell, units, layers, input_shape, seed, return_sequences=False):
    """``layers`` recurrent layers of ``cell`` ("lstm", "gru" or "simple"), each feeding its sequence to the next.

    The first layer declares ``input_shape`` (time, features); only the last one returns
    ``return_sequences``. Layer k is seeded ``seed + k`` so a run repeats bit for bit.
    """
    from .. import layers as layer_module

    cls = getattr(layer_module, CELLS[cell])
    stack = []
    for k in range(layers):
        last = k == layers - 1
        kwargs = {"input_shape": input_shape} if k == 0 else {}
        stack.append(cls(units, return_sequences=return_sequences if last else True, seed=seed + k,
                         name=f"{CELLS[cell].lower()}_{k + 1}", **kwargs))
    return stack


def draw_accuracy_and_loss(history, path, accuracy_key="accuracy"):
    """Accuracy and loss per epoch side by side (training, and validation when present); returns the
    PNG path, or None without matplotlib. ``history`` is a History's dict plus an "epoch" list."""
    plt = pyplot()
    if plt is None:
        return None
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = [int(e) + 1 for e in history.get("epoch", [])]
    for ax, key, title in ((ax_acc, accuracy_key, "Accuracy"), (ax_loss, "loss", "Loss")):
        for name, label in ((key, "training"), (f"val_{key}", "validation")):
            if name in history:
                ax.plot(epochs, history[name], label=label)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.legend()
    ax_acc.set_ylim(-0.05, 1.05)
    return save_figure(fig, path)
