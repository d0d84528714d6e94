"""Reading what a command is given (--csv, --text) or finds in a run directory, with one-line errors.

Every file is checked to be a regular file before it is opened (a folder is named as one, and a
device such as /dev/zero or a FIFO, which would be read forever or block, is refused), read as
UTF-8 text a line at a time, and any problem becomes a :class:`CliError` naming the option and
the file. Numbers are parsed strictly: ``1_000`` or ``0x10`` are not numbers in a data file or on
the command line, though Python's ``int()``/``float()`` would take them.
"""
import contextlib
import os
import stat

from .console import CliError

def _plain(text):
    """Whether ``text`` has none of what int()/float() tolerate beyond plain numbers: underscores
    between digits, surrounding spaces, non-ASCII digits."""
    return text.isascii() and "_" not in text and text == text.strip()


def parse_int(text):
    """``int(text)`` for plain decimal digits with an optional sign; ValueError otherwise (no ``1_000``)."""
    if not _plain(text):
        raise ValueError(f"not an integer: {text!r}")
    return int(text)


def parse_float(text):
    """``float(text)`` for a plain decimal number (``1.5``, ``-2e3``) or nan/inf; ValueError otherwise
    (no ``1_000``). Called once per value of a data file, so it checks characters, not a pattern."""
    if not _plain(text):
        raise ValueError(f"not a number: {text!r}")
    return float(text)


def check_regular_file(what, path):
    """Raise :class:`CliError` unless ``path`` names an existing regular file (``what`` names the option)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise CliError(f"{what}: no such file {path!r}") from None
    except OSError as err:
        raise CliError(f"{what}: cannot read {path!r}: {err.strerror}") from None
    if stat.S_ISDIR(mode):
        raise CliError(f"{what}: {path!r} is a folder, not a file")
    if not stat.S_ISREG(mode):
        raise CliError(f"{what}: {path!r} is not a regular file (a device, FIFO or socket), so it cannot be "
                       f"read as data")


@contextlib.contextmanager
def open_text(what, path, encoding="utf-8", max_bytes=None):
    """Open ``path`` for reading text line by line; every failure inside the block is a :class:`CliError`.

    Args:
        what: the option or file role for messages, e.g. ``"--csv"`` or ``"metrics.csv"``.
        path: the file.
        encoding: ``"utf-8"`` (or ``"utf-8-sig"`` to skip a byte-order mark).
        max_bytes: refuse larger files (for small files read whole, such as config.json), or None.
    """
    check_regular_file(what, path)
    if max_bytes is not None and os.stat(path).st_size > max_bytes:
        raise CliError(f"{what}: {path!r} is {os.stat(path).st_size:,} bytes, more than the {max_bytes:,} such a "
                       f"file can have")
    try:
        handle = open(path, encoding=encoding, newline="")
    except OSError as err:
        raise CliError(f"{what}: cannot read {path!r}: {err.strerror}") from None
    with handle:
        try:
            yield handle
        except UnicodeDecodeError as err:
            raise CliError(f"{what}: {path!r} is not UTF-8 text ({err.reason})") from None
        except OSError as err:
            raise CliError(f"{what}: cannot read {path!r}: {err.strerror or err}") from None
