"""Crash-safe file writes.

Every file rnnkit writes (weights, checkpoints, saved models, run logs) goes
through :func:`atomic_writer`: the bytes go to a temporary file in the target's
own folder, which is flushed and fsynced and then renamed over the target with
``os.replace``; finally the folder itself is fsynced so the rename survives a
power cut. A process killed at any moment therefore leaves either the old file
or the new one, never a mix.

The temporary file ``.<name>.<16 hex>.tmp`` is created with the target's final
permissions (an existing file's mode, else ``0o666 & ~umask``), so a 0600 target
is never readable by others, not even for the moment of the write. A kill can
leave one such file behind; the next successful save of the same target removes
every temporary file of that target whose writer is gone (each writer holds a
lock on its own temporary file while it writes).

Missing parent folders are created, and any file name works: no suffix is
added or changed (``'./checkpoint/rnn_onehot_1pre1.ckpt'`` is written as is).
"""
import contextlib
import os
import re
import secrets
import time

from .._validate import describe, path_text
from ..errors import RnnkitTypeError, RnnkitValueError

try:  # POSIX: a lock marks a temporary file whose writer is still alive
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

# Short enough that the temporary name stays under the usual 255-byte limit
# even when the target's name is long and non-ASCII (up to 4 bytes a char).
_TEMP_STEM_CHARS = 40
# A temporary file younger than this is never removed as stale: its writer may not have taken
# its lock yet (or, without locks, may still be writing).
_STALE_AFTER_SECONDS = 60.0
_STALE_AFTER_SECONDS_WITHOUT_LOCKS = 24 * 3600.0


def _target_path(path):
    path = path_text("path", path)
    if os.path.isdir(path):
        raise RnnkitValueError(f"path must name a file, but {path!r} is an existing folder")
    return path


def _make_folder(folder, path):
    """Create ``folder`` (and its parents); a file where a folder must be is named plainly."""
    ancestor = folder
    while ancestor and not os.path.lexists(ancestor):
        parent = os.path.dirname(ancestor)
        if parent == ancestor:
            break
        ancestor = parent
    if ancestor and os.path.lexists(ancestor) and not os.path.isdir(ancestor):
        raise RnnkitValueError(
            f"path {path!r} cannot be written: {ancestor!r} is a file, not a folder, so nothing can be "
            f"created inside it")
    os.makedirs(folder, exist_ok=True)


def _temp_prefix(name):
    return f".{name[:_TEMP_STEM_CHARS]}."


def _final_mode(path):
    """The permission bits the target will have: an existing file's, else what ``open`` would give."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return None


def _open_temp(folder, name, mode):
    """Create, open and lock a fresh temporary file in ``folder``; returns (fd, temp_path).

    ``os.open`` applies the umask to ``mode`` (0o666 for a new target, exactly as a plain
    ``open(path, 'wb')`` would); for an existing target the file is then given the target's
    bits with ``fchmod``, so it is never more open than the target (``tempfile.mkstemp`` would
    force 0o600).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    while True:
        temp = os.path.join(folder, f"{_temp_prefix(name)}{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(temp, flags, 0o666 if mode is None else mode)
            break
        except FileExistsError:
            continue
    try:
        if mode is not None and hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return fd, temp


def _remove_stale_temps(folder, name, keep=None):
    """Delete temporary files of target ``name`` left by writers that were killed.

    A file is stale when nobody holds its lock (locks die with their process) and it is older than
    a minute; without file locks (Windows) only files older than a day are removed.
    """
    pattern = re.compile(re.escape(_temp_prefix(name)) + r"[0-9a-f]{16}\.tmp")
    now = time.time()
    age = _STALE_AFTER_SECONDS if fcntl is not None else _STALE_AFTER_SECONDS_WITHOUT_LOCKS
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if not pattern.fullmatch(entry.name) or entry.path == keep:
            continue
        with contextlib.suppress(OSError):
            if now - entry.stat(follow_symlinks=False).st_mtime < age or not entry.is_file(follow_symlinks=False):
                continue
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: a writer is alive
                os.unlink(entry.path)
            finally:
                os.close(fd)


def _fsync_folder(folder):
    # Makes the rename durable. Windows cannot open a folder; there the rename
    # is already journaled by NTFS, so skipping is the best that can be done.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _naming_target(err, path):
    """``err`` (from writing the temporary file) as the same OSError type naming the target instead."""
    if not isinstance(err, OSError) or err.errno is None:
        return err
    named = type(err)(err.errno, f"{err.strerror or err}; {path!r} was not changed", path)
    named.__cause__ = err
    return named


@contextlib.contextmanager
def atomic_writer(path):
    """Context manager yielding a binary file object whose contents replace ``path`` atomically.

    Args:
        path: str or os.PathLike, the file to (re)write. Missing parent folders are created.

    Yields:
        A writable binary file object on a temporary file in the same folder, created with the
        permissions the target will have.

    On a normal exit the temporary file is flushed, fsynced and renamed over ``path`` and the
    folder is fsynced; stale temporary files of ``path`` from killed writers are then removed. If
    the block raises, the temporary file is removed, ``path`` is left untouched and the exception
    propagates; an ``OSError`` of the write itself (a full disk: ENOSPC) names ``path``.

    Raises:
        RnnkitValueError: ``path`` is a folder, or a file stands where one of its folders must be.
        OSError: the folder cannot be created or the file cannot be written (naming ``path``).

    Example::

        with atomic_writer("runs/1/weights.bin") as f:
            f.write(payload)
    """
    path = _target_path(path)
    folder = os.path.dirname(os.path.abspath(path))
    _make_folder(folder, path)
    name = os.path.basename(path)
    fd, temp = _open_temp(folder, name, _final_mode(path))
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException as err:
        # BaseException too: a KeyboardInterrupt must not leave debris either.
        with contextlib.suppress(OSError):
            os.unlink(temp)
        named = _naming_target(err, path)
        if named is err:
            raise
        raise named from err
    _fsync_folder(folder)
    _remove_stale_temps(folder, name)


def atomic_write(path, data):
    """Atomically replace ``path`` with ``data``.

    Args:
        path: str or os.PathLike.
        data: bytes-like object, or a callable ``write_fn(file)`` that writes to
            the binary file object it is given.
    """
    with atomic_writer(path) as handle:
        if callable(data):
            data(handle)
        elif isinstance(data, (bytes, bytearray, memoryview)):
            handle.write(data)
        else:
            raise RnnkitTypeError(f"data must be bytes or a callable write_fn(file), got {describe(data)}")


def atomic_write_text(path, text, encoding="utf-8"):
    """Atomically replace ``path`` with ``text`` encoded as ``encoding`` (newlines written as given)."""
    if not isinstance(text, str):
        raise RnnkitTypeError(f"text must be a str, got {describe(text)}")
    atomic_write(path, text.encode(encoding))
