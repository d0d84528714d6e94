"""TF1 constructor arguments that mean nothing in rnnkit, accepted with a check (so a TF1 call ports as is).

* ``reuse``: TF1 variable-scope reuse. An rnnkit cell object owns its weights; calling the same
  object again reuses them, a new object has new ones. None, True, False or :data:`AUTO_REUSE`.
* ``num_unit_shards`` / ``num_proj_shards``: how TF1 split a weight matrix into variables;
  rnnkit keeps one array. None or a positive int.
* ``**kwargs`` of TF1's base layer: ``trainable`` (True only: rnnkit's TF1 cells train through
  their explicit backward functions, which always return every weight's gradient), ``_reuse``,
  ``_scope`` (ignored).
"""
import numbers

from ..._validate import describe
from ...errors import RnnkitTypeError, RnnkitValueError

#: TF1's ``tf.AUTO_REUSE``, accepted as ``reuse=`` (and ignored).
AUTO_REUSE = "auto_reuse"

_IGNORED_LAYER_KWARGS = ("_reuse", "_scope")


def keep_probability(name, value):
    """A keep probability in (0, 1] (0 would divide by zero in TF1's 1/keep_prob scaling)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < value <= 1.0:
        raise RnnkitValueError(f"{name} must be a keep probability in (0, 1], got {describe(value)}")
    return float(value)


def check_tf1_arguments(owner, reuse=None, shards=(), kwargs=None):
    """Validate TF1-only arguments of ``owner`` (a class name for the messages)."""
    if reuse is not None and not isinstance(reuse, bool) and reuse != AUTO_REUSE:
        raise RnnkitValueError(f"{owner}: reuse must be None, True, False or rnnkit.nn.AUTO_REUSE, "
                               f"got {describe(reuse)}")
    for name, value in shards:
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1):
            raise RnnkitValueError(f"{owner}: {name} must be None or a positive integer, got {describe(value)}")
    for name, value in (kwargs or {}).items():
        if name == "trainable":
            if value is not True:
                raise RnnkitValueError(f"{owner}: trainable={value!r} is not supported (the backward functions "
                                       f"return every weight's gradient; skip the update instead)")
        elif name not in _IGNORED_LAYER_KWARGS:
            raise RnnkitTypeError(f"{owner} got an unexpected keyword argument {name!r}")


__all__ = ["AUTO_REUSE", "check_tf1_arguments", "keep_probability"]
