"""What every ``rnnkit <command>`` shares, one module per concern, all importable from here as before.

A command module (``rnnkit/apps/<name>.py``) defines ``HELP``, ``DESCRIPTION``,
``add_arguments(parser)`` and ``run(args) -> int``. Inside ``run`` it

1. opens a :class:`~rnnkit.apps.run_dir.RunDir` and writes its resolved configuration
   (``model`` keys describe the model and its data; ``settings`` keys such as epochs may
   change between a run and its ``--resume``);
2. trains with ``model.fit(..., callbacks=fit_callbacks(run_dir, monitor))``, which logs
   every epoch to ``metrics.csv``, keeps the best weights in ``best.weights`` and backs the
   whole training state up after every epoch so ``--resume`` (or a rerun after Ctrl-C)
   continues where it stopped;
3. draws its pictures with :func:`pyplot` / :func:`save_figure`.

Where each thing lives:

    console.py     CliError (one line on stderr, exit 2), say, wrote
    arguments.py   positive_int, non_negative_int, positive_float, unit_fraction, add_common_arguments
    run_dir.py     RunDir (config.json, results.json, metrics.csv), open_run_dir, split_config, read_history
    fitting.py     fit_callbacks, monitor_mode, load_best
    pictures.py    pyplot, save_figure, draw_accuracy_and_loss
    stacks.py      CELLS, recurrent_stack

Setting a name on this module (as tests do with ``_PYPLOT``) sets it in the module that owns
it too, so code patched here behaves as before the split.
"""
import sys
import types

from . import arguments, console, fitting, pictures, run_dir, stacks
from .arguments import add_common_arguments, non_negative_int, positive_float, positive_int, unit_fraction
from .console import CliError, say, wrote
from .fitting import fit_callbacks, load_best, monitor_mode
from .pictures import _PYPLOT, draw_accuracy_and_loss, pyplot, save_figure
from .run_dir import (BACKUP_DIR, CHECKPOINT_FILE, CONFIG_FILE, DEFAULT_ROOT, METRICS_FILE, RunDir, open_run_dir,
                      read_history, split_config)
from .stacks import CELLS, recurrent_stack

__all__ = [
    "BACKUP_DIR", "CELLS", "CHECKPOINT_FILE", "CONFIG_FILE", "CliError", "DEFAULT_ROOT", "METRICS_FILE", "RunDir",
    "add_common_arguments", "draw_accuracy_and_loss", "fit_callbacks", "load_best", "monitor_mode",
    "non_negative_int", "open_run_dir", "positive_float", "positive_int", "pyplot", "read_history",
    "recurrent_stack", "save_figure", "say", "split_config", "unit_fraction", "wrote",
]

# name -> the module that defines it (modules in dependency order, so the first to have a name defines it)
_OWNERS = {name: next(m for m in (console, run_dir, arguments, fitting, pictures, stacks) if hasattr(m, name))
           for name in ("_PYPLOT", *__all__)}


class _Facade(types.ModuleType):
    def __setattr__(self, name, value):
        if name in _OWNERS:
            setattr(_OWNERS[name], name, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Facade
