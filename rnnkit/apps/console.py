"""What a command prints: its report lines, the files it wrote, and the one kind of error it raises.

User mistakes raise :class:`CliError`; ``rnnkit.cli.main`` prints them as one line
``rnnkit <command>: error: <message>`` on stderr and exits with status 2.
"""
import sys


class CliError(Exception):
    """A mistake in the command line or its inputs: printed as one line, exit status 2, no traceback."""


def say(*parts, file=None):
    """Print a line of a command's report and flush it (progress bars share the stream)."""
    print(*parts, file=file or sys.stdout, flush=True)


def wrote(path, what):
    """Report one file written by the command."""
    say(f"wrote {path}  ({what})")
