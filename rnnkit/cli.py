"""rnnkit: small real applications of recurrent networks, with progress bars and pictures.

``rnnkit <command> --help`` explains each command with an example. Commands live in
``rnnkit/apps/<name>.py`` and are imported only when run (or when their --help is
asked for), so ``rnnkit --help`` stays fast.
"""
import argparse
import importlib
import sys

# name -> (module, one-line help). The help lines repeat each module's HELP so that
# listing the commands imports none of them (tests check the two agree).
COMMANDS = {
    "letters": ("rnnkit.apps.letters", "next-letter demo: SimpleRNN(3) + Dense(5) learns a->b->c->d->e->a"),
    "charlm": ("rnnkit.apps.charlm", "character-level language model: train on a text, then sample from it"),
    "forecast": ("rnnkit.apps.forecast", "time-series forecasting from a CSV column (default: yearly sunspots)"),
    "classify": ("rnnkit.apps.classify", "classify 8x8 handwritten digits read row by row as time steps"),
    "gradflow": ("rnnkit.apps.gradflow",
                 "vanishing gradients made visible on the adding problem: SimpleRNN vs LSTM vs GRU"),
    "seq2seq": ("rnnkit.apps.seq2seq",
                "sequence-to-sequence: dates to ISO 8601 (default) or tab-separated pairs; attention heatmaps; "
                "translate"),
    "convert": ("rnnkit.apps.convert",
                "convert models and weights between .keras, .h5, .safetensors, .pt, .onnx and rnnkit files"),
    "info": ("rnnkit.apps.info",
             "show which compiled variant, BLAS and thread count run the kernels here (or why the reference runs)"),
}

EPILOG = """examples:
  rnnkit letters                       # under a minute: accuracy 1.0, pictures in runs/letters-*/
  rnnkit letters --predict a,b,c       # predict without asking on standard input
  rnnkit forecast --epochs 50
  rnnkit classify --cell gru
  rnnkit charlm train --epochs 3 && rnnkit charlm sample --run-dir runs/charlm-...
  rnnkit gradflow --length 100
  rnnkit seq2seq train --run-dir runs/dates && rnnkit seq2seq translate --run-dir runs/dates "30/11/26"
  rnnkit convert model.keras model.onnx --check
  rnnkit info                          # the compiled variant, BLAS and threads in use here
"""


def _chosen_command(argv):
    """The command named in ``argv`` (the first argument that is a command name), or None."""
    for arg in argv:
        if arg in COMMANDS:
            return arg
        if not arg.startswith("-"):
            return None
    return None


class _OneLineErrors(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2) pointing at --help, as every rnnkit error."""

    def error(self, message):
        text = " ".join(str(message).split())
        self.exit(2, f"{self.prog}: error: {text} (see '{self.prog} --help')\n")


def build_parser(argv=()):
    """The argparse parser; only the command named in ``argv`` gets its full set of options."""
    from . import __version__

    parser = _OneLineErrors(
        prog="rnnkit", description=__doc__.splitlines()[0], epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="<command>", title="commands")
    chosen = _chosen_command(list(argv))
    for name, (module_name, help_line) in COMMANDS.items():
        if name != chosen:
            commands.add_parser(name, help=help_line)
            continue
        module = importlib.import_module(module_name)
        sub = commands.add_parser(name, help=module.HELP, description=module.DESCRIPTION,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(_module=module)
    return parser


def _error(command, message):
    text = " ".join(str(message).split())  # one line, whatever the message held
    print(f"rnnkit {command}: error: {text}", file=sys.stderr, flush=True)
    return 2


def main(argv=None):
    """Run ``rnnkit`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Under an MPI launcher (``mpiexec -n 4 rnnkit charlm train``) every rank runs it and the training
    is data-parallel: rnnkit/distributed/command.py."""
    from .distributed.command import run_command

    return run_command(_main, sys.argv[1:] if argv is None else [str(a) for a in argv])


def _main(argv):
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error argparse has printed
        return stop.code if isinstance(stop.code, int) else 2
    if args.command is None:
        parser.print_help()
        return 0
    # imported only now, so "rnnkit --help" loads no command code
    from .apps.console import CliError
    from .errors import RnnkitError

    try:
        return int(args._module.run(args) or 0)
    except CliError as err:
        return _error(args.command, err)
    except RnnkitError as err:  # rnnkit refused a value that came from the command line or a file
        return _error(args.command, err)
    except OSError as err:  # a folder that cannot be created, a file that cannot be written
        where = f" {err.filename!r}" if err.filename else ""
        return _error(args.command, f"{err.strerror or err}{where}")
    except KeyboardInterrupt:
        run_dir = getattr(args, "run_dir_used", None)
        hint = f"; continue with --resume --run-dir {run_dir}" if run_dir else ""
        return _error(args.command, f"interrupted{hint}") and 130


if __name__ == "__main__":
    sys.exit(main())
