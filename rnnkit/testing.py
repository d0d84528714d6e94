"""Checks for code users write against rnnkit's contracts: ``check_cell`` for a custom recurrent cell, and
the finite differences it uses."""
import numbers

import numpy as np

from ._validate import describe
from .cells.base import SequenceCell
from .errors import RnnkitValueError


def numeric_gradient(loss, array, eps=1e-6):
    """Central differences of the scalar ``loss()`` with respect to every entry of ``array``.

    ``array`` is perturbed in place, entry by entry (indexing the array itself, so a non-contiguous
    view is perturbed too), and restored."""
    grad = np.zeros(array.shape, np.float64)
    for index in np.ndindex(array.shape):
        old = array[index]
        array[index] = old + eps
        up = loss()
        array[index] = old - eps
        down = loss()
        array[index] = old
        grad[index] = (up - down) / (2 * eps)
    return grad


def relative_error(analytic, numeric):
    """max |a - n| / max(|a|, |n|) over all entries: a norm-wise relative error, 0 when both are 0."""
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    scale = max(np.abs(analytic).max(initial=0.0), np.abs(numeric).max(initial=0.0))
    return 0.0 if scale == 0.0 else float(np.abs(analytic - numeric).max() / scale)


def check_cell(cell, input_shape, seed=0, tolerance=1e-6, eps=1e-6):
    """Compare a cell's backward pass with central finite differences over a whole sequence.

    The loss is a random weighted sum of every output and of the final states, so each step's
    ``backward_step`` is exercised with gradients arriving from the output and from the next step.
    The cell must compute in float64 (construct it with ``dtype="float64"``); it is built for
    ``input_shape`` if it is not yet.

    Args:
        cell: a custom cell (``call`` + ``backward_step``, see docs/custom_cells.md) or any rnnkit cell.
        input_shape: (batch, time, features) of the random inputs.
        seed: fixes the inputs, the initial states and the loss weights.
        tolerance: the largest relative error accepted (max |analytic - numeric| / max magnitude).
        eps: the finite-difference step.

    Returns:
        {"inputs": error, "states[i]": error, <weight name>: error, ...}.

    Raises:
        AssertionError: naming every array whose gradient is off, with its error.
        RnnkitValueError: a float32 cell, or a bad ``input_shape``.
    """
    from .layers.custom_cell import CustomCell  # the layers package imports this module's neighbours

    sequence_cell = cell if isinstance(cell, SequenceCell) else CustomCell(cell)
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3 or any(
            isinstance(d, bool) or not isinstance(d, numbers.Integral) or d <= 0 for d in input_shape):
        raise RnnkitValueError(f"input_shape must be (batch, time, features) of positive ints, "
                               f"got {describe(input_shape)}")
    if np.dtype(sequence_cell.dtype) != np.float64:
        raise RnnkitValueError(f"check_cell needs a float64 cell (finite differences in float32 are too coarse); "
                               f"construct {sequence_cell.name} with dtype='float64', got {np.dtype(sequence_cell.dtype)}")
    batch, time, features = (int(d) for d in input_shape)
    if not sequence_cell.built:
        sequence_cell.build(features)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, time, features))
    states = [rng.normal(size=(batch, size)) * 0.5 for size in sequence_cell.state_size]
    outputs, final, _ = sequence_cell.forward(x, states)
    d_outputs = rng.normal(size=outputs.shape)
    d_final = [rng.normal(size=np.shape(s)) for s in _leaves(final)]

    def loss():
        out, fin, _ = sequence_cell.forward(x, states)
        return float(np.sum(out * d_outputs) + sum(np.sum(s * d) for s, d in zip(_leaves(fin), d_final)))

    _, _, cache = sequence_cell.forward(x, states)
    dx, d_states, grads = sequence_cell.backward(d_outputs, _pack_like(final, d_final), cache)
    errors = {"inputs": relative_error(dx, numeric_gradient(loss, x, eps))}
    for i, (state, grad) in enumerate(zip(states, _leaves(d_states))):
        errors[f"states[{i}]"] = relative_error(grad, numeric_gradient(loss, state, eps))
    for name, value, grad in zip(_weight_names(sequence_cell), _weight_values(sequence_cell), grads):
        errors[name] = relative_error(grad, numeric_gradient(loss, value, eps))
    wrong = {name: error for name, error in errors.items() if not error <= tolerance}
    if wrong:
        listing = ", ".join(f"{name} (relative error {error:.2e})" for name, error in wrong.items())
        raise AssertionError(f"check_cell: the backward pass of {sequence_cell.name} disagrees with finite differences "
                             f"for {listing}; tolerance {tolerance:g}. The other arrays agree: "
                             f"{sorted(set(errors) - set(wrong))}")
    return errors


def _leaves(states):
    if isinstance(states, (tuple, list)):
        return [leaf for part in states for leaf in _leaves(part)]
    return [states]


def _pack_like(structure, flat):
    flat = iter(flat)

    def pack(part):
        if isinstance(part, (tuple, list)):
            return tuple(pack(p) for p in part)
        return next(flat)
    return pack(structure)


def _weight_names(cell):
    """Weight names without the cell's own prefix (``kernel``, ``recurrent_kernel``, ...)."""
    variables = getattr(cell, "variables", None)
    names = [v.name for v in variables] if variables is not None else list(cell.params)
    prefix = f"{cell.name}/"
    return [name[len(prefix):] if name.startswith(prefix) else name for name in names]


def _weight_values(cell):
    """The weight arrays themselves (perturbed in place by the finite differences)."""
    variables = getattr(cell, "variables", None)
    return [v.value for v in variables] if variables is not None else list(cell.params.values())


__all__ = ["check_cell", "numeric_gradient", "relative_error"]
