"""Recurrent layers (SimpleRNN, LSTM, GRU, RNN of a cell or of stacked cells) and Bidirectional.

Each cell runs either as ONNX's own operator (:mod:`.recurrent_native`) or as a Scan of
primitive ops (:mod:`.recurrent_scan`) when the operator cannot express it, or when the
layer is masked and the export asked for ``mask_handling="exact"``.

Masks with the operators: ``sequence_lens`` is the count of unmasked steps per sample, which is
rnnkit's result exactly when the mask is trailing padding (``Embedding(mask_zero=True)`` on
right-padded ids, ``Masking`` on ``pad_sequences(..., padding="post")``). The operator then
zeroes the outputs past each length; rnnkit repeats the last output there (unless
``zero_output_for_mask``), so the export fills those steps with the final state. A mask with gaps
or leading padding is read as its count of valid steps from the start (a different result);
export with ``mask_handling="exact"`` for such data: the Scan route follows rnnkit's masking
step by step for any mask.

rnnkit's output order: a ``go_backwards`` layer returns its outputs in processing order (index 0 =
last input step), as Keras does; Bidirectional re-reverses its backward half to line up in time.
"""
import numpy as np

from ...cells.stacked import StackedRNNCells
from ...layers.bidirectional import Bidirectional
from . import recurrent_native, recurrent_scan
from .graph import OnnxExportError


def cells_of(layer):
    cell = layer.cell
    return list(cell.cells) if isinstance(cell, StackedRNNCells) else [cell]


def check(layer, where):
    """Raise the named error the export of this recurrent layer would hit, before building anything."""
    subs = [layer.forward_layer, layer.backward_layer] if isinstance(layer, Bidirectional) else [layer]
    for sub in subs:
        for cell in cells_of(sub):
            if isinstance(cell, StackedRNNCells):
                raise OnnxExportError(f"{where} nests a StackedRNNCells in a StackedRNNCells; flatten the list")
            recurrent_scan.check_cell(cell, where)


def _split_initial(layer, initial):
    """The flat ``initial_state`` list cut per cell (None when no initial state was given)."""
    if initial is None:
        return [None] * len(cells_of(layer))
    per_cell, start = [], 0
    for cell in cells_of(layer):
        count = len(cell.state_size)
        per_cell.append(list(initial[start:start + count]))
        start += count
    return per_cell


def _use_operator(ctx, spec, mask, cell):
    # float64 cells take the Scan route: ONNX Runtime's GRU refuses double ("does not support double yet")
    return (spec is not None and cell.dtype == np.float32
            and (mask is None or ctx.mask_handling == "sequence_lens"))


def _has_steps(ctx, mask):
    """(B, 1) bool: whether a sample has any unmasked step."""
    g = ctx.g
    return g.op("Greater", [g.unsqueeze(ctx.lengths(mask), [1]), g.scalar(0, np.int32)], (None, 1), np.bool_,
                "has_steps")


def _operator_results(ctx, y, finals, mask, reverse, zero_output, initial):
    """rnnkit's masked outputs (aligned in time) and final states from an operator's, which zeroes
    the outputs past each length, and the final states of a sample of length 0 too."""
    g = ctx.g
    if mask is None:
        return y, finals
    if initial is not None:  # rnnkit keeps the initial state of a sample with no valid step
        finals = [g.where(_has_steps(ctx, mask), final, start, "final_state")
                  for final, start in zip(finals, initial)]
    if reverse or zero_output:
        # backwards, the padded steps come first in processing order: rnnkit outputs zeros there too
        return y, finals
    fill = finals[0]
    if initial is not None:  # a sample with no valid step outputs zeros, not its initial state
        fill = g.mul(fill, g.cast(_has_steps(ctx, mask), fill.dtype))
    return g.where(ctx.mask_time_major(mask), y, fill, "repeated_output"), finals


def _run_cell(ctx, cell, x_tm, *, reverse, aligned, mask, initial, zero_output, where):
    """One cell over the sequence: (outputs (T, B, H) aligned or in processing order, [final states])."""
    g = ctx.g
    spec = recurrent_native.spec(cell)
    if not _use_operator(ctx, spec, mask, cell):
        return recurrent_scan.run(g, cell, x_tm, reverse=reverse, aligned=aligned,
                                  mask_tm=None if mask is None else ctx.mask_time_major(mask), initial=initial,
                                  zero_output_for_mask=zero_output, where=where)
    [(y, finals)] = recurrent_native.run(g, [cell], [spec], x_tm, directions="reverse" if reverse else "forward",
                                         lengths=None if mask is None else ctx.lengths(mask),
                                         initial=None if initial is None else [initial])
    y, finals = _operator_results(ctx, y, finals, mask, reverse, zero_output, initial)
    return (g.reverse(y, 0) if reverse and not aligned else y), finals


def _run_layer(ctx, layer, x_tm, mask, initial, aligned, where):
    """Every cell of an RNN layer in turn (a stack runs cell by cell): (top outputs, flat final states)."""
    sequence, finals = x_tm, []
    cells = cells_of(layer)
    for index, (cell, cell_initial) in enumerate(zip(cells, _split_initial(layer, initial))):
        top = index == len(cells) - 1
        sequence, cell_finals = _run_cell(ctx, cell, sequence, reverse=layer.go_backwards, aligned=aligned or not top,
                                          mask=mask, initial=cell_initial, zero_output=layer.zero_output_for_mask,
                                          where=where)
        finals += cell_finals
    return sequence, finals


def _layer_output(g, layer, sequence, aligned):
    """(B, T, H) when the layer returns sequences, else rnnkit's last output (the last in processing order)."""
    if layer.return_sequences:
        return g.transpose(sequence, (1, 0, 2), "batch_major")
    last = 0 if aligned and layer.go_backwards else -1
    return g.gather(sequence, last, 0, "last_output")


def convert_rnn(ctx, layer, inputs, masks, initial_state=None):
    """An RNN layer: [output(, *final states)], output mask."""
    where = f"layer {layer.name!r} ({type(layer).__name__})"
    x_tm = ctx.g.transpose(inputs[0], (1, 0, 2), "time_major")
    sequence, finals = _run_layer(ctx, layer, x_tm, masks[0], initial_state, False, where)
    output = _layer_output(ctx.g, layer, sequence, False)
    out_mask = masks[0] if layer.return_sequences else None
    if layer.return_state:
        return [output, *finals], [out_mask] + [None] * len(finals)
    return [output], [out_mask]


def _fused_directions(ctx, layer, x_tm, mask, initial):
    """Both directions in one ``direction="bidirectional"`` operator when they allow it, else None."""
    forward, backward = layer.forward_layer, layer.backward_layer
    if len(cells_of(forward)) != 1 or len(cells_of(backward)) != 1 or forward.go_backwards \
            or not backward.go_backwards:
        return None
    specs = [recurrent_native.spec(forward.cell), recurrent_native.spec(backward.cell)]
    if not recurrent_native.fusable(*specs) or not _use_operator(ctx, specs[0], mask, forward.cell):
        return None
    n = len(forward.cell.state_size)
    runs = recurrent_native.run(ctx.g, [forward.cell, backward.cell], specs, x_tm, directions="bidirectional",
                                lengths=None if mask is None else ctx.lengths(mask),
                                initial=None if initial is None else [initial[:n], initial[n:]])
    results = []
    halves = (None, None) if initial is None else (initial[:n], initial[n:])
    for sub, (y, finals), sub_initial in zip((forward, backward), runs, halves):
        results.append(_operator_results(ctx, y, finals, mask, sub.go_backwards, sub.zero_output_for_mask,
                                         sub_initial))
    return results


def convert_bidirectional(ctx, layer, inputs, masks, initial_state=None):
    """A Bidirectional layer: merged output(s)(, forward states, backward states), output masks."""
    g = ctx.g
    where = f"layer {layer.name!r} (Bidirectional)"
    x_tm = g.transpose(inputs[0], (1, 0, 2), "time_major")
    mask = masks[0]
    n_forward = len(layer.forward_layer.state_sizes)
    runs = _fused_directions(ctx, layer, x_tm, mask, initial_state)
    if runs is None:
        halves = (initial_state[:n_forward], initial_state[n_forward:]) if initial_state is not None else (None, None)
        runs = [_run_layer(ctx, sub, x_tm, mask, half, True, where)
                for sub, half in zip((layer.forward_layer, layer.backward_layer), halves)]
    (y_forward, forward_finals), (y_backward, backward_finals) = runs
    y_forward = _layer_output(g, layer.forward_layer, y_forward, True)
    y_backward = _layer_output(g, layer.backward_layer, y_backward, True)
    mode = layer.merge_mode
    if mode == "concat":
        outputs = [g.concat([y_forward, y_backward], -1, "concat")]
    elif mode == "sum":
        outputs = [g.add(y_forward, y_backward, "sum")]
    elif mode == "mul":
        outputs = [g.mul(y_forward, y_backward, "mul")]
    elif mode == "ave":
        outputs = [g.mul(g.add(y_forward, y_backward), g.scalar(0.5, layer.dtype), "ave")]
    else:
        outputs = [y_forward, y_backward]
    out_mask = mask if layer.return_sequences else None
    masks_out = [out_mask] * len(outputs)
    if layer.return_state:
        finals = forward_finals + backward_finals
        return outputs + finals, masks_out + [None] * len(finals)
    return outputs, masks_out


CONVERTERS = {"RNN": convert_rnn, "Bidirectional": convert_bidirectional}
