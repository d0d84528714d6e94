"""Pure array math: activations and the whole-sequence kernels of every cell.

``get_kernels(name)`` returns ``(forward, backward)`` for a cell kind. The
NumPy reference kernels are the spec; a compiled fast path, when present,
registers itself here with the same signatures and is tested equal to them.
"""
from .simple_rnn import simple_rnn_backward, simple_rnn_forward

REFERENCE_KERNELS = {
    "simple_rnn": (simple_rnn_forward, simple_rnn_backward),
}

_active = dict(REFERENCE_KERNELS)


def get_kernels(name):
    """The ``(forward, backward)`` pair in use for cell kind ``name``."""
    return _active[name]


def register_kernels(name, forward, backward):
    """Replace the kernels for ``name`` (used by compiled fast paths)."""
    _active[name] = (forward, backward)


def use_reference(name=None):
    """Go back to the NumPy reference kernels, for one cell kind or all."""
    for key in ([name] if name else list(REFERENCE_KERNELS)):
        _active[key] = REFERENCE_KERNELS[key]


__all__ = ["get_kernels", "register_kernels", "use_reference", "REFERENCE_KERNELS"]
