"""Optional packages: imported only by the code that needs them, with a named error when missing.

NumPy is rnnkit's only runtime dependency. A feature built on another package
(h5py for Keras's HDF5 files, ...) calls :func:`require` at the moment it
touches that package, so everything else works without it installed.
"""
import importlib

from .errors import RnnkitError


class MissingOptionalDependencyError(RnnkitError, ImportError):
    """An optional package a feature needs is not installed; the message names the extra to install."""


def require(module_name, extra, purpose):
    """Import and return ``module_name``, or raise :class:`MissingOptionalDependencyError`.

    Args:
        module_name: e.g. ``"h5py"``.
        extra: the rnnkit extra that installs it, e.g. ``"keras"`` (``pip install "rnnkit[keras]"``).
        purpose: what needs it, for the message, e.g. ``"reading 'x.weights.h5'"``.
    """
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        raise MissingOptionalDependencyError(
            f"{purpose} needs the {module_name!r} package, which is not installed ({error}); "
            f'install it with: pip install "rnnkit[{extra}]"') from error
