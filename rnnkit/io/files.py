"""Crash-safe file writes.

Every file rnnkit writes (weights, checkpoints, saved models, run logs) goes
through :func:`atomic_writer`: the bytes go to a temporary file in the target's
own folder, which is flushed and fsynced and then renamed over the target with
``os.replace``; finally the folder itself is fsynced so the rename survives a
power cut. A process killed at any moment therefore leaves either the old file
or the new one, never a mix. At worst a stray ``.<name>.<random>.tmp`` file is
left beside the target; nothing ever reads those.

Missing parent folders are created, and any file name works: no suffix is
added or changed (``'./checkpoint/rnn_onehot_1pre1.ckpt'`` is written as is).
"""
import contextlib
import os
import secrets

from .._validate import describe, path_text
from ..errors import RnnkitTypeError, RnnkitValueError

# Short enough that the temporary name stays under the usual 255-byte limit
# even when the target's name is long and non-ASCII (up to 4 bytes a char).
_TEMP_STEM_CHARS = 40


def _target_path(path):
    path = path_text("path", path)
    if os.path.isdir(path):
        raise RnnkitValueError(f"path must name a file, but {path!r} is an existing folder")
    return path


def _open_temp(folder, name):
    """Create and open a fresh temporary file in ``folder``; returns (fd, temp_path).

    ``os.open`` with mode 0o666 lets the umask decide the permissions, exactly as
    for a plain ``open(path, 'wb')`` (``tempfile.mkstemp`` would force 0o600).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    while True:
        temp = os.path.join(folder, f".{name[:_TEMP_STEM_CHARS]}.{secrets.token_hex(8)}.tmp")
        try:
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:
            continue


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


@contextlib.contextmanager
def atomic_writer(path):
    """Context manager yielding a binary file object whose contents replace ``path`` atomically.

    Args:
        path: str or os.PathLike, the file to (re)write. Missing parent folders are created.

    Yields:
        A writable binary file object on a temporary file in the same folder.

    On a normal exit the temporary file is flushed, fsynced and renamed over
    ``path`` (keeping the old file's permission bits if it existed) and the folder
    is fsynced. If the block raises, the temporary file is removed, ``path`` is
    left untouched and the exception propagates.

    Example::

        with atomic_writer("runs/1/weights.bin") as f:
            f.write(payload)
    """
    path = _target_path(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, temp = _open_temp(folder, os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(OSError):
            os.chmod(temp, os.stat(path).st_mode & 0o7777)
        os.replace(temp, path)
    except BaseException:
        # BaseException too: a KeyboardInterrupt must not leave debris either.
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_folder(folder)


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
