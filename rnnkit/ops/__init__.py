"""Pure array math: activations and the whole-sequence kernels of every cell.

``get_kernels(name)`` returns ``(forward, backward)`` for a cell kind. The
NumPy reference kernels (``rnnkit/ops/<name>.py``, functions ``<name>_forward``
and ``<name>_backward``) are the spec; a compiled fast path, when present,
registers itself with :func:`register_kernels` under the same signatures and is
tested equal to them. Under :func:`no_grad` a forward kernel may return ``None`` for
its cache (the compiled ones do, and skip building it). Kernel modules are imported on first use; so is the
compiled path (``rnnkit._fast``), which is preferred when it loads.
"""
import importlib

from .grad_mode import is_grad_enabled, no_grad

#: cell kind -> module (relative to rnnkit.ops) holding its reference kernels
KERNEL_MODULES = {"simple_rnn": ".simple_rnn", "lstm": ".lstm", "gru": ".gru"}

_active = {}


def reference_kernels(name):
    """The NumPy reference ``(forward, backward)`` pair of cell kind ``name``."""
    module = importlib.import_module(KERNEL_MODULES[name], __name__)
    return getattr(module, f"{name}_forward"), getattr(module, f"{name}_backward")


def get_kernels(name):
    """The ``(forward, backward)`` pair in use for cell kind ``name``."""
    if name not in _active:
        _active[name] = _fast_kernels(name) or reference_kernels(name)
    return _active[name]


def _fast_kernels(name):
    """The compiled pair for ``name`` from :mod:`rnnkit._fast` (loaded here, on first use), or None."""
    from .. import _fast

    return _fast.kernels_for(name)


def register_kernels(name, forward, backward):
    """Use ``forward``/``backward`` for cell kind ``name`` (how compiled fast paths plug in)."""
    _active[name] = (forward, backward)


def use_reference(name=None):
    """Go back to the NumPy reference kernels, for one cell kind or all."""
    for key in ([name] if name else list(_active)):
        _active[key] = reference_kernels(key)


__all__ = ["KERNEL_MODULES", "get_kernels", "is_grad_enabled", "no_grad", "reference_kernels", "register_kernels",
           "use_reference"]
