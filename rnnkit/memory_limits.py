"""How many bytes rnnkit lets one request ask for, so a huge size is a named error, not a MemoryError.

A layer built with ``units=100_000``, an ``Embedding`` of 10^9 rows, or a file whose
header declares a terabyte would otherwise reach NumPy, which either raises a bare
``MemoryError`` or — with Linux's overcommit — succeeds and lets the process be
killed later. :func:`check_bytes` compares the bytes a request needs with the
memory this process can still get (``MemAvailable`` of ``/proc/meminfo``, or the
free physical pages elsewhere, capped by ``RLIMIT_AS``) and raises
:class:`~rnnkit.errors.RnnkitMemoryError` saying who wanted how much. Where the
platform tells nothing, nothing is refused.
"""
import os

from .errors import RnnkitMemoryError


def _meminfo_available():
    try:
        with open("/proc/meminfo", "rb") as handle:
            for line in handle:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _sysconf_available():
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _address_space_limit():
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else soft


def available_bytes():
    """Bytes this process can still allocate, as far as the system says; None when it says nothing."""
    found = [n for n in (_meminfo_available() or _sysconf_available(), _address_space_limit()) if n is not None]
    return min(found) if found else None


def format_bytes(nbytes):
    """``1536`` -> ``'1.5 KiB'``; exact bytes below 1 KiB."""
    value = float(nbytes)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{nbytes} bytes"  # not reached


def check_bytes(what, nbytes):
    """Raise :class:`RnnkitMemoryError` if ``nbytes`` (a Python int) exceeds :func:`available_bytes`.

    Args:
        what: who asks, for the message, e.g. ``"layer 'lstm' (LSTM): weight recurrent_kernel (100000, 400000)"``.
        nbytes: bytes the request needs.
    """
    available = available_bytes()
    if available is not None and nbytes > available:
        raise RnnkitMemoryError(
            f"{what} would take {nbytes:,} bytes ({format_bytes(nbytes)}), more than the {format_bytes(available)} "
            f"of memory available; use smaller sizes")
