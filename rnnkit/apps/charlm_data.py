"""Text for ``rnnkit charlm``: the default corpus, the vocabulary and the training windows.

The default corpus is a fixed list of pure-Python modules of the standard library of
the interpreter that runs rnnkit, read from ``sysconfig.get_paths()["stdlib"]``: always
present, readable offline, and Python source has a style a small model picks up fast
(indentation, ``def``/``return``, docstrings, identifiers in snake_case).
"""
import os
import sysconfig

import numpy as np

#: the modules read (in this order) when no --text is given: about 162 KB of plain-ASCII source on
#: CPython 3.11 (modules with Latin-1 letters in them, such as shlex.py, would double the vocabulary)
DEFAULT_MODULES = ("textwrap.py", "string.py", "copy.py", "abc.py", "bisect.py", "colorsys.py", "queue.py",
                   "sched.py", "glob.py", "fnmatch.py", "reprlib.py", "numbers.py", "operator.py",
                   "pprint.py", "calendar.py")

#: every this-many-th window of the text is held out for validation (10%)
VALIDATION_EVERY = 10


class TextError(ValueError):
    """The text cannot be used (missing, unreadable, empty or too short); the message is one line."""


def stdlib_dir():
    return sysconfig.get_paths()["stdlib"]


def default_text():
    """The default corpus and a description naming where it came from.

    Modules of :data:`DEFAULT_MODULES` that this interpreter lacks are skipped; having none is an error.
    """
    folder = stdlib_dir()
    parts, found = [], []
    for name in DEFAULT_MODULES:
        path = os.path.join(folder, name)
        try:
            with open(path, encoding="utf-8") as handle:
                parts.append(handle.read())
        except (OSError, UnicodeDecodeError):
            continue
        found.append(name)
    if not parts:
        raise TextError(f"none of the default modules ({', '.join(DEFAULT_MODULES)}) could be read from "
                        f"{folder}; give a text with --text FILE")
    return "".join(parts), f"{len(found)} standard-library modules from {folder} ({', '.join(found)})"


def read_text(path):
    """The UTF-8 text of ``path``; :class:`TextError` for a missing, unreadable, non-UTF-8 or empty file."""
    if not os.path.exists(path):
        raise TextError(f"--text {path!r}: no such file")
    if os.path.isdir(path):
        raise TextError(f"--text {path!r} is a folder, not a text file")
    if not os.path.isfile(path):  # /dev/zero would be read forever, a FIFO would block
        raise TextError(f"--text {path!r} is not a regular file (a device, FIFO or socket)")
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError as err:
        raise TextError(f"--text {path!r} is not UTF-8 text (byte {err.start}: {err.reason})") from None
    except OSError as err:
        raise TextError(f"--text {path!r} cannot be read: {err.strerror}") from None
    if not text.strip():
        raise TextError(f"--text {path!r} is empty" + (" (only whitespace)" if text else ""))
    return text


def vocabulary(text):
    """The sorted distinct characters of ``text`` as one string (id i is ``vocab[i]``)."""
    return "".join(sorted(set(text)))


def encode(text, vocab):
    """Character ids (int32 array) of ``text``; :class:`TextError` naming characters outside ``vocab``."""
    index = {char: i for i, char in enumerate(vocab)}
    unknown = sorted(set(text) - set(index))
    if unknown:
        shown = ", ".join(repr(c) for c in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        raise TextError(f"{len(unknown)} character(s) never seen in training: {shown}")
    return np.fromiter((index[c] for c in text), np.int32, len(text))


def windows(ids, length):
    """Cut ids into consecutive windows: x (N, length) and the next characters y (N, length).

    Window k reads ids[k·L : (k+1)·L] and predicts ids[k·L+1 : (k+1)·L+1]; a trailing part
    shorter than L + 1 characters is dropped.
    """
    count = (len(ids) - 1) // length
    x = ids[:count * length].reshape(count, length)
    y = ids[1:count * length + 1].reshape(count, length)
    return x, y


def split_windows(ids, length, validation_every=VALIDATION_EVERY):
    """Training and validation windows: every ``validation_every``-th window validates.

    Interleaving (rather than holding out the end of the text) makes the validation text come
    from all over the corpus, so a corpus made of different files is validated on all of them.
    Raises :class:`TextError` when there are too few windows for both parts.
    """
    x, y = windows(ids, length)
    if len(x) < 2:
        need = 2 * length + 1
        raise TextError(f"the text has {len(ids)} characters, too few for --seq-len {length}: training and "
                        f"validation need a window of {length} + 1 characters each, so at least {need} "
                        f"characters; give a longer text or a smaller --seq-len")
    val = np.zeros(len(x), bool)
    val[validation_every - 1::validation_every] = True
    if not val.any():
        val[-1] = True
    return (x[~val], y[~val]), (x[val], y[val])
