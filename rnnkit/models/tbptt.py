"""Truncated BPTT for ``fit(tbptt_steps=k)``.

The sequences are cut into chunks of ``k`` time steps. Each chunk starts from the recurrent states
the previous chunk ended with (carried as values, so no gradient flows back across a chunk
boundary), and when the chunk has targets the optimizer steps on it. With per-step targets
(y of shape (B, T, ...)) every chunk trains on its own steps; with one target per sequence only
the last chunk has a loss, so the gradient reaches back at most ``k`` steps. Full BPTT is the
special case ``k >= T``.

Which layers take part is decided by capabilities, not class names: a layer whose
``supports_tbptt`` is False (Bidirectional, ``go_backwards``) refuses the whole run; layers with a
``stateful`` switch and ``reset_states`` carry their states across the chunks.
"""
import numbers

import numpy as np

from .._validate import describe
from ..errors import RnnkitValueError
from ..ops.grad_mode import no_grad


def state_carriers(model):
    """The layers of ``model`` (nested models included) that can carry a recurrent state from one call
    to the next when switched to ``stateful`` (forward-running recurrent layers)."""
    return [layer for layer in model._flat_layers()
            if layer.supports_tbptt and hasattr(layer, "stateful") and hasattr(layer, "reset_states")]


def check(model, tbptt_steps, xs, ys):
    """Validate ``tbptt_steps`` against the data and the model; returns it as an int."""
    if isinstance(tbptt_steps, bool) or not isinstance(tbptt_steps, numbers.Integral) or tbptt_steps <= 0:
        raise RnnkitValueError(f"tbptt_steps must be a positive integer or None, got {describe(tbptt_steps)}")
    if len(xs) != 1 or len(ys) != 1:
        raise RnnkitValueError(f"tbptt_steps needs a model with one input and one output, got inputs "
                               f"{model.input_names} and outputs {model.output_names}")
    if xs[0].ndim < 2:
        raise RnnkitValueError(f"tbptt_steps needs sequences x of shape (batch, time, ...), got {describe(xs[0])}")
    layers = model._flat_layers()
    blocked = [f"{layer.name} ({type(layer).__name__})" for layer in layers if not layer.supports_tbptt]
    if blocked:
        raise RnnkitValueError(
            "tbptt_steps cannot carry a backward-running state across chunks: the model has a Bidirectional or "
            f"go_backwards layer ({', '.join(blocked)})")
    if not state_carriers(model):
        names = [type(layer).__name__ for layer in layers]
        raise RnnkitValueError(f"tbptt_steps needs a recurrent layer in the model, got layers {names}")
    return int(tbptt_steps)


def train_step(model, xs, ys, steps, where):
    """Truncated BPTT on one batch; returns (mean loss, mean per-output losses, mean gradient norm)."""
    x, y = xs[0], ys[0]
    time = x.shape[1]
    per_step = y.ndim >= 2 and y.shape[1] == time and len(model.outputs[0].shape) >= 3
    layers = state_carriers(model)
    saved = [(layer.stateful, layer.states) for layer in layers]
    losses, parts, norms = [], [], []
    try:
        for layer in layers:
            layer.stateful, layer.states = True, None
        for start in range(0, time, steps):
            chunk = slice(start, min(start + steps, time))
            last = chunk.stop == time
            if per_step:
                loss, part, norm = model._train_step([x[:, chunk]], [y[:, chunk]], where)
            elif last:
                loss, part, norm = model._train_step([x[:, chunk]], [y], where)
            else:
                with no_grad():
                    model._forward([x[:, chunk]], training=False)  # only advances the carried states
                continue
            losses.append(loss)
            parts.append(part)
            norms.append(norm)
    finally:
        for layer, (stateful, states) in zip(layers, saved):
            layer.stateful, layer.states = stateful, states
    return float(np.mean(losses)), list(np.mean(parts, axis=0)) if parts and parts[0] else [], float(np.mean(norms))
