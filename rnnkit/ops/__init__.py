"""Pure array math: activations and the whole-sequence ops of every cell.

Each cell kind has its readable NumPy reference in its own module, ``rnnkit/ops/<cell>.py``,
as a pair ``<cell>_forward(x, state0, params, mask, recurrent_mask, **options) ->
(outputs, final_state, cache)`` and ``<cell>_backward(d_outputs, d_final_state, cache) ->
(dx, d_state0, grads)``: x (B, T, I) batch-major, states tuples of (B, size) arrays,
``params`` the cell's weight dict (Keras's names and shapes), ``mask`` (B, T) bool (False skips a
step), ``recurrent_mask`` the recurrent-dropout multiplier on h_{t-1}; backward takes the gradient
of the outputs (B, T, H_out) and of the final state (None, or None entries, where there is no
loss) and returns the gradient of x, of the initial state and of every weight (a dict keyed like
``params``). These functions are the spec. The cells name them directly
(``LSTMCell.reference_ops``); a compiled twin may run in their place (see
:mod:`rnnkit.cells.dispatch`), and this package never imports it. Under :func:`no_grad` a
forward may return ``None`` for its cache.
"""
from .grad_mode import is_grad_enabled, no_grad

__all__ = ["is_grad_enabled", "no_grad"]
