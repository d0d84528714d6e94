"""The run directory of a command: config.json, results.json, metrics.csv, best.weights, backup/, pictures."""
import csv
import json
import math
import os
import time

from .console import CliError
from .reading import open_text, parse_float

DEFAULT_ROOT = "runs"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
CHECKPOINT_FILE = "best.weights"
BACKUP_DIR = "backup"
# config.json holds a few settings (charlm's: the vocabulary too); anything far larger is not one
MAX_CONFIG_BYTES = 16 * 2**20


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
        """config.json as a dict, checked: an object whose "command" is a string and whose "model" and
        "settings" (when present) are objects; anything else is a one-line error naming the file."""
        with open_text(CONFIG_FILE, self.config_path, max_bytes=MAX_CONFIG_BYTES) as handle:
            text = handle.read()
        try:
            config = json.loads(text)
        except (ValueError, RecursionError) as err:
            raise CliError(f"cannot read {self.config_path!r}: it is not valid JSON ({err})") from None
        problem = None
        if not isinstance(config, dict):
            problem = f"it holds {type(config).__name__} {_short(config)}, not an object"
        elif not isinstance(config.get("command"), str):
            problem = f'its "command" is {_short(config.get("command"))}, not a command name'
        else:
            problem = next((f'its "{key}" is {_short(config[key])}, not an object' for key in ("model", "settings")
                            if key in config and not isinstance(config[key], dict)), None)
        if problem:
            raise CliError(f"{self.config_path!r} is not a run configuration written by rnnkit: {problem}")
        return config

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
        values = [value for value in read_history(self).get(monitor, []) if math.isfinite(value)]
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


def read_history(run_dir):
    """metrics.csv as {column: [floats]} (NaN where a value is missing), for drawing curves.

    A metrics.csv that is not UTF-8 text or not CSV (edited, damaged) is a one-line error naming it.
    """
    history = {}
    if not os.path.lexists(run_dir.metrics_path):
        return history
    with open_text(METRICS_FILE, run_dir.metrics_path) as handle:
        try:
            for row in csv.DictReader(handle):
                for key, text in row.items():
                    if not isinstance(key, str):  # a row longer than the header: csv puts the rest under None
                        continue
                    try:
                        value = parse_float(text.strip()) if isinstance(text, str) else math.nan
                    except ValueError:
                        value = math.nan
                    history.setdefault(key, []).append(value)
        except csv.Error as err:
            raise CliError(f"{METRICS_FILE}: {run_dir.metrics_path!r} is not CSV ({err})") from None
    return history


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
