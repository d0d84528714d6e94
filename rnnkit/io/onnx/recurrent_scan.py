"""Recurrent cells as an ONNX ``Scan`` of primitive ops: every variant, and masks of any shape.

This is the route for what the LSTM/GRU/RNN operators cannot express — an LSTM projection
(``num_proj``, ``proj_clip``), rnnkit's ``cell_clip`` (it clips c_t; ONNX's ``clip`` clips the gate
pre-activations), coupled input-forget gates (rnnkit's i = 1 - f), activations the operators
lack (selu) — and for masked layers when the export asks for exact masks. The time axis stays
dynamic. The input projection ``x W + b`` is one MatMul over all steps before the Scan; the body
holds one step of the cell exactly as :mod:`rnnkit.ops` computes it, plus rnnkit's masking:

    state_t = m_t ? new_t : state_{t-1}
    out_t   = m_t ? new_h : (zero_output_for_mask ? 0 : out_{t-1})     (out_{-1} = 0)
"""
import numpy as np

from ...cells.gru import GRUCell
from ...cells.lstm import LSTMCell
from ...cells.simple_rnn import SimpleRNNCell
from . import activations


def _input_projection(g, cell, x_tm):
    """(T, B, G·H) = x W + b for every step, with the parts of the bias that add to the input side."""
    params = cell.params
    xp = g.matmul(x_tm, g.const(params["kernel"], "kernel"), "input_projection")
    bias = params.get("bias")
    if isinstance(cell, GRUCell) and cell.reset_after and bias is not None:
        bias = bias[0]
    if isinstance(cell, LSTMCell) and cell.forget_bias:
        bias = np.zeros(params["kernel"].shape[1], cell.dtype) if bias is None else bias.copy()
        block = 0 if cell.coupled_input_forget else 1
        bias[block * cell.units:(block + 1) * cell.units] += cell.forget_bias
    return xp if bias is None else g.add(xp, g.const(bias, "bias"))


def _lstm_step(b, cell, states, xp, where):
    h, c = states
    units, params = cell.units, cell.params
    act = cell.activation
    gate_names = "fco" if cell.coupled_input_forget else "ifco"
    a = b.add(xp, b.matmul(h, b.const(params["recurrent_kernel"], "recurrent_kernel")))
    gates = dict(zip(gate_names, b.split(a, [units] * len(gate_names), axis=1)))
    for gate in ("i", "f"):
        if gate in gates and f"peephole_{gate}" in params:
            gates[gate] = b.add(gates[gate], b.mul(c, b.const(params[f"peephole_{gate}"], f"peephole_{gate}")))
    f = activations.apply(b, gates["f"], cell.recurrent_activation, "f", where)
    i = (b.sub(b.scalar(1.0, cell.dtype), f) if cell.coupled_input_forget
         else activations.apply(b, gates["i"], cell.recurrent_activation, "i", where))
    c_new = b.add(b.mul(f, c), b.mul(i, activations.apply(b, gates["c"], act, "candidate", where)))
    if cell.cell_clip is not None:
        c_new = b.op("Clip", [c_new, b.scalar(-cell.cell_clip, cell.dtype), b.scalar(cell.cell_clip, cell.dtype)],
                     c_new.shape, c_new.dtype, "c_clipped")
    a_o = gates["o"]
    if "peephole_o" in params:
        a_o = b.add(a_o, b.mul(c_new, b.const(params["peephole_o"], "peephole_o")))
    h_new = b.mul(activations.apply(b, a_o, cell.recurrent_activation, "o", where),
                  activations.apply(b, c_new, act, "cell_output", where))
    if "projection_kernel" in params:
        h_new = b.matmul(h_new, b.const(params["projection_kernel"], "projection_kernel"), "projected")
        if cell.proj_clip is not None:
            h_new = b.op("Clip", [h_new, b.scalar(-cell.proj_clip, cell.dtype), b.scalar(cell.proj_clip, cell.dtype)],
                         h_new.shape, h_new.dtype, "h_clipped")
    return [h_new, c_new]


def _gru_step(b, cell, states, xp, where):
    (h,) = states
    units, params = cell.units, cell.params
    recurrent = params["recurrent_kernel"]
    xz, xr, xh = b.split(xp, [units] * 3, axis=1)
    if cell.reset_after:
        hu = b.matmul(h, b.const(recurrent, "recurrent_kernel"))
        if "bias" in params:
            hu = b.add(hu, b.const(params["bias"][1], "recurrent_bias"))
        uz, ur, uh = b.split(hu, [units] * 3, axis=1)
    else:
        uz, ur = b.split(b.matmul(h, b.const(recurrent[:, :2 * units], "recurrent_kernel_zr")), [units] * 2, axis=1)
    z = activations.apply(b, b.add(xz, uz), cell.recurrent_activation, "z", where)
    r = activations.apply(b, b.add(xr, ur), cell.recurrent_activation, "r", where)
    if cell.reset_after:
        candidate = b.add(xh, b.mul(r, uh))
    else:
        candidate = b.add(xh, b.matmul(b.mul(r, h), b.const(recurrent[:, 2 * units:], "recurrent_kernel_h")))
    hh = activations.apply(b, candidate, cell.activation, "candidate", where)
    # h_t = z ⊙ h_{t-1} + (1 - z) ⊙ h~ , written as rnnkit's kernel writes it
    h_new = b.add(b.mul(z, h), b.mul(b.sub(b.scalar(1.0, cell.dtype), z), hh))
    return [h_new]


def _simple_step(b, cell, states, xp, where):
    (h,) = states
    a = b.add(xp, b.matmul(h, b.const(cell.params["recurrent_kernel"], "recurrent_kernel")))
    return [activations.apply(b, a, cell.activation, "h", where)]


_STEPS = {LSTMCell: _lstm_step, GRUCell: _gru_step, SimpleRNNCell: _simple_step}


def check_cell(cell, where):
    """Raise the named error the Scan route would (an unknown cell class or activation)."""
    if type(cell) not in _STEPS:
        from .graph import OnnxExportError
        raise OnnxExportError(f"{where} has a {type(cell).__name__}; rnnkit exports SimpleRNN, LSTM and GRU cells")
    for name in ("activation", "recurrent_activation"):
        if hasattr(cell, name):
            activations.check_elementwise(getattr(cell, name), where)


def run(g, cell, x_tm, *, reverse, aligned, mask_tm, initial, zero_output_for_mask, where):
    """One direction of ``cell`` over the time-major ``x_tm`` (T, B, I) with a Scan.

    Args:
        reverse: run from the last step to the first (go_backwards).
        aligned: return the outputs at their input steps' positions; else in processing order
            (what a go_backwards layer returns).
        mask_tm: None or a (T, B, 1) bool Value.
        initial: list of (B, size) Values in the cell's state order, or None for zeros.

    Returns:
        (outputs (T, B, H_out), [final states]).
    """
    sizes = list(cell.state_size)
    xp = _input_projection(g, cell, x_tm)
    if initial is None:
        initial = [g.zeros_like_rows(x_tm, 1, size, cell.dtype, "zero_state") for size in sizes]
    keep_previous = mask_tm is not None and not zero_output_for_mask
    b = g.subgraph()
    states = [b.add_input(b.fresh("state"), cell.dtype, (None, size)) for size in sizes]
    previous = b.add_input(b.fresh("previous_output"), cell.dtype, (None, sizes[0])) if keep_previous else None
    xp_t = b.add_input(b.fresh("xp_t"), cell.dtype, (None, xp.shape[-1]))
    m_t = b.add_input(b.fresh("mask_t"), np.bool_, (None, 1)) if mask_tm is not None else None
    new = _STEPS[type(cell)](b, cell, states, xp_t, where)
    output = new[0]
    if m_t is not None:
        new = [b.where(m_t, n, s, "masked_state") for n, s in zip(new, states)]
        fill = previous if keep_previous else b.scalar(0.0, cell.dtype)
        output = b.where(m_t, output, fill, "masked_output")
    for value in new + ([output] if keep_previous else []) + [output]:
        b.add_output(value, b.fresh("body_out"))
    scan_inputs = [xp] + ([mask_tm] if mask_tm is not None else [])
    n_states = len(sizes) + (1 if keep_previous else 0)
    carried = initial + ([g.zeros_like_rows(x_tm, 1, sizes[0], cell.dtype, "zero_output")] if keep_previous else [])
    results = g.op("Scan", carried + scan_inputs, None, cell.dtype, "scan", n_outputs=n_states + 1,
                   shapes=[(None, s) for s in sizes] + ([(None, sizes[0])] if keep_previous else [])
                   + [(None, None, sizes[0])],
                   body=b.graph(g.fresh("cell_step")), num_scan_inputs=len(scan_inputs),
                   scan_input_directions=[int(reverse)] * len(scan_inputs),
                   scan_output_directions=[int(reverse and aligned)])
    return results[-1], results[:len(sizes)]
