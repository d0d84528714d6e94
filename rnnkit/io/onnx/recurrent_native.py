"""Recurrent cells as ONNX's own ``RNN``, ``GRU`` and ``LSTM`` operators.

Layouts (ONNX keeps, per direction, W (G·H, I), R (G·H, H), B (2·G·H) = [Wb, Rb]):

=======  =====================  ===========  ====================================================
cell     Keras gate order       ONNX order   biases
=======  =====================  ===========  ====================================================
RNN      h                      h            Wb = bias, Rb = 0
LSTM     i, f, c, o             i, o, f, c   Wb = bias (+ forget_bias on f), Rb = 0; P = [p_i, p_o, p_f]
GRU      z, r, h                z, r, h      reset_after: Wb = bias[0], Rb = bias[1], linear_before_reset=1
                                             reset_before: Wb = bias, Rb = 0, linear_before_reset=0
=======  =====================  ===========  ====================================================

ONNX's GRU with ``linear_before_reset=1`` computes ``h~ = g(x W_h + Wb_h + r ⊙ (h R_h + Rb_h))`` and
``z``/``r`` from ``Wb + Rb``: exactly Keras's reset_after GRU with its input bias row as Wb and its
recurrent bias row as Rb; with ``linear_before_reset=0`` it is ``g(x W_h + (r ⊙ h) R_h + Rb_h + Wb_h)``,
Keras's reset_before GRU. Peepholes use TF1's semantics in both (i, f read c_{t-1}, o reads c_t).
The operators take time-major inputs only in ONNX Runtime (``layout=1`` is refused there), so
the layer transposes around them.
"""
import numpy as np

from ...cells.gru import GRUCell
from ...cells.lstm import LSTMCell
from ...cells.simple_rnn import SimpleRNNCell
from . import activations

_LSTM_ORDER = (0, 3, 1, 2)  # Keras blocks i, f, c, o -> ONNX i, o, f, c


def _blocks(matrix, count, order):
    parts = np.split(np.asarray(matrix), count, axis=0)
    return np.concatenate([parts[k] for k in order], axis=0)


def spec(cell):
    """(op type, attributes, {W, R, B, P} arrays for one direction), or None when the operator
    cannot express ``cell`` (projection, clipping, coupled gates, an activation it lacks)."""
    params, units = cell.params, cell.units
    dtype = cell.dtype
    if isinstance(cell, LSTMCell):
        if cell.coupled_input_forget or cell.cell_clip is not None or cell.num_proj:
            return None
        attrs = activations.recurrent_attributes([cell.recurrent_activation, cell.activation, cell.activation])
        if attrs is None:
            return None
        bias = params["bias"].copy() if "bias" in params else np.zeros(4 * units, dtype)
        bias[units:2 * units] += cell.forget_bias
        arrays = {"W": _blocks(params["kernel"].T, 4, _LSTM_ORDER),
                  "R": _blocks(params["recurrent_kernel"].T, 4, _LSTM_ORDER),
                  "B": np.concatenate([_blocks(bias, 4, _LSTM_ORDER), np.zeros(4 * units, dtype)])}
        if cell.use_peepholes:
            arrays["P"] = np.concatenate([params["peephole_i"], params["peephole_o"], params["peephole_f"]])
        return "LSTM", attrs, arrays
    if isinstance(cell, GRUCell):
        attrs = activations.recurrent_attributes([cell.recurrent_activation, cell.activation])
        if attrs is None:
            return None
        bias = params.get("bias")
        if bias is None:
            bias = np.zeros(6 * units, dtype)
        elif cell.reset_after:
            bias = np.concatenate([bias[0], bias[1]])
        else:
            bias = np.concatenate([bias, np.zeros(3 * units, dtype)])
        attrs["linear_before_reset"] = int(cell.reset_after)
        return "GRU", attrs, {"W": params["kernel"].T, "R": params["recurrent_kernel"].T, "B": bias}
    if isinstance(cell, SimpleRNNCell):
        attrs = activations.recurrent_attributes([cell.activation])
        if attrs is None:
            return None
        bias = params.get("bias", np.zeros(units, dtype))
        return "RNN", attrs, {"W": params["kernel"].T, "R": params["recurrent_kernel"].T,
                              "B": np.concatenate([bias, np.zeros(units, dtype)])}
    return None


def fusable(spec_a, spec_b):
    """Whether two directions can share one ``direction="bidirectional"`` node."""
    return (spec_a is not None and spec_b is not None and spec_a[0] == spec_b[0] and spec_a[1] == spec_b[1]
            and set(spec_a[2]) == set(spec_b[2]) and spec_a[2]["R"].shape == spec_b[2]["R"].shape)


def run(g, cells, specs, x_tm, *, directions, lengths, initial):
    """One operator node over time-major ``x_tm`` (T, B, I) for one or two directions.

    Args:
        cells, specs: per direction, the cell and its :func:`spec`.
        directions: "forward", "reverse", or "bidirectional" (then cells = [forward, backward]).
        lengths: None or the (B,) int32 sequence_lens Value.
        initial: per direction a list of (B, size) Values (h, and c for LSTM), or None for zeros.

    Returns:
        per direction (outputs at their steps' positions (T, B, H), [final h(, final c)]).
    """
    op_type, attrs, _ = specs[0]
    units = cells[0].units
    weights = {key: g.const(np.stack([s[2][key] for s in specs]).astype(cells[0].dtype), f"onnx_{op_type}_{key}")
               for key in specs[0][2]}
    n_states = 2 if op_type == "LSTM" else 1
    initial_inputs = [None] * n_states
    if initial is not None:
        initial_inputs = [g.concat([g.unsqueeze(states[k], [0]) for states in initial], 0, f"initial_{k}")
                          for k in range(n_states)]
    inputs = [x_tm, weights["W"], weights["R"], weights["B"], lengths, *initial_inputs]
    if "P" in weights:
        inputs.append(weights["P"])
    count = len(cells)
    # the activation lists hold one entry per function per direction
    attrs = {key: value * count if isinstance(value, list) else value for key, value in attrs.items()}
    outputs = g.op(op_type, inputs, None, cells[0].dtype, op_type.lower(), n_outputs=1 + n_states,
                   shapes=[(None, count, None, units)] + [(count, None, units)] * n_states,
                   hidden_size=units, direction=directions, **attrs)
    y, finals = outputs[0], outputs[1:]
    if count == 1:
        return [(g.squeeze(y, [1], "y"), [g.squeeze(f, [0], "final_state") for f in finals])]
    per_direction = []
    for d in range(count):
        y_d = g.squeeze(g.slice(y, [d], [d + 1], [1]).with_shape((None, 1, None, units)), [1], "y")
        states = [g.squeeze(g.slice(f, [d], [d + 1], [0]).with_shape((1, None, units)), [0], "final_state")
                  for f in finals]
        per_direction.append((y_d, states))
    return per_direction
