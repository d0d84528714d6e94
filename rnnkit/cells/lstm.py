"""The LSTM cell with TF1 LSTMCell's variants: peepholes, coupled gates, projection, clipping."""
import numbers

import numpy as np

from .._validate import describe, optional_positive_float, positive_int
from ..errors import RnnkitValueError
from ..ops.lstm import lstm_backward, lstm_forward
from .gated import GatedCell


class LSTMCell(GatedCell):
    """Long short-term memory cell, Keras's ``LSTMCell`` plus TF1 ``LSTMCell``'s variants.

    Math (gate order i, f, c, o in the fused weights; see :mod:`rnnkit.ops.lstm`)::

        z    = x_t · kernel + h_{t-1} · recurrent_kernel + bias
        i    = σ(z_i + p_i ⊙ c_{t-1})          f = σ(z_f + forget_bias + p_f ⊙ c_{t-1})
        c_t  = clip(f ⊙ c_{t-1} + i ⊙ act(z_c), ±cell_clip)
        o    = σ(z_o + p_o ⊙ c_t)
        h_t  = clip((o ⊙ act(c_t)) · projection_kernel, ±proj_clip)

    Weights (Keras layout, ``get_weights`` order), with G = 4 gates (3 when coupled) and
    H_out = num_proj or units:
        kernel (I, G·H), recurrent_kernel (H_out, G·H), bias (G·H,) if use_bias,
        peephole_i, peephole_f, peephole_o (H,) if use_peepholes (no peephole_i when coupled),
        projection_kernel (H, num_proj) if num_proj.
    State: ``(h, c)`` (Keras's order) with h (B, H_out), c (B, H). Output: h_t (B, H_out).

    Args:
        units: H, the size of the cell state.
        activation: act, for the candidate and the cell output ("tanh"; tutorials use "relu").
        recurrent_activation: σ, for the gates ("sigmoid"; "hard_sigmoid" is Keras 2's old default).
        use_bias, kernel_initializer, recurrent_initializer, bias_initializer: as in Keras.
        unit_forget_bias: initialise the forget block of the bias to 1 (Keras); needs use_bias.
        forget_bias: TF1's constant added to the forget pre-activation; not a weight.
        use_peepholes: gates read the cell state (TF1 semantics: i, f see c_{t-1}, o sees c_t).
            Peephole weights start from ``kernel_initializer`` on shape (H,) (Keras's
            PeepholeLSTMCell): glorot_uniform gives small values in ±sqrt(3/H).
        coupled_input_forget: i = 1 - f; the gate blocks are then f, c, o.
        num_proj: None or P, the size of the projection of o ⊙ act(c_t) that becomes h_t.
            ``projection_kernel`` starts from ``kernel_initializer``.
        cell_clip: None or a positive bound on |c_t|.
        proj_clip: None or a positive bound on |h_t|; needs num_proj (as in TF1, where it
            would otherwise be ignored silently).
        seed, dtype, name, and the regularizer and constraint options (``kernel_regularizer``, ...):
            see :class:`RecurrentCell`.

    Example:
        >>> import numpy as np
        >>> cell = LSTMCell(4, seed=0)
        >>> out, (h, c) = cell(np.ones((2, 3), np.float32), cell.get_initial_state(2))
        >>> out.shape, h.shape, c.shape
        ((2, 4), (2, 4), (2, 4))
    """

    reference_ops = (lstm_forward, lstm_backward)

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, forget_bias=0.0,
                 use_peepholes=False, coupled_input_forget=False, num_proj=None,
                 cell_clip=None, proj_clip=None, seed=None, dtype="float32", name=None,
                 **weight_options):
        super().__init__(units, activation, recurrent_activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, seed=seed, dtype=dtype, name=name,
                         **weight_options)
        self.unit_forget_bias = bool(unit_forget_bias)
        if (isinstance(forget_bias, bool) or not isinstance(forget_bias, numbers.Real)
                or not np.isfinite(forget_bias)):
            raise RnnkitValueError(f"forget_bias must be a finite number, got {describe(forget_bias)}")
        self.forget_bias = float(forget_bias)
        self.use_peepholes = bool(use_peepholes)
        self.coupled_input_forget = bool(coupled_input_forget)
        self.num_proj = None if num_proj is None else positive_int("num_proj", num_proj)
        self.cell_clip = optional_positive_float("cell_clip", cell_clip)
        self.proj_clip = optional_positive_float("proj_clip", proj_clip)
        if self.proj_clip is not None and self.num_proj is None:
            raise RnnkitValueError(
                f"proj_clip needs num_proj (it clips the projected output), got proj_clip={proj_clip!r} "
                f"with num_proj=None; use cell_clip to bound the cell state"
            )

    # ------------------------------------------------------------------ structure
    @property
    def gate_count(self):
        return 3 if self.coupled_input_forget else 4

    @property
    def state_size(self):
        return (self.output_size, self.units)

    @property
    def output_size(self):
        return self.num_proj or self.units

    def weight_shapes(self, input_dim):
        fused = self.gate_count * self.units
        shapes = [("kernel", (input_dim, fused)), ("recurrent_kernel", (self.output_size, fused))]
        if self.use_bias:
            shapes.append(("bias", (fused,)))
        if self.use_peepholes:
            gates = "fo" if self.coupled_input_forget else "ifo"
            shapes.extend((f"peephole_{g}", (self.units,)) for g in gates)
        if self.num_proj:
            shapes.append(("projection_kernel", (self.units, self.num_proj)))
        return shapes

    def initial_weight(self, name, shape, rng):
        if name.startswith("peephole_") or name == "projection_kernel":
            return self.kernel_initializer(shape, self.dtype, rng)
        if name == "bias" and self.unit_forget_bias:
            # Keras: the forget block starts at 1, the others from bias_initializer
            units = self.units
            forget = 0 if self.coupled_input_forget else 1
            bias = self.bias_initializer(shape, self.dtype, rng)
            bias[forget * units:(forget + 1) * units] = 1.0
            return bias
        return super().initial_weight(name, shape, rng)

    def op_options(self):
        return {
            **super().op_options(),
            "forget_bias": self.forget_bias,
            "coupled_input_forget": self.coupled_input_forget,
            "cell_clip": self.cell_clip,
            "proj_clip": self.proj_clip,
        }

    # ------------------------------------------------------------------ config
    def get_config(self):
        return {
            **super().get_config(),
            "unit_forget_bias": self.unit_forget_bias,
            "forget_bias": self.forget_bias,
            "use_peepholes": self.use_peepholes,
            "coupled_input_forget": self.coupled_input_forget,
            "num_proj": self.num_proj,
            "cell_clip": self.cell_clip,
            "proj_clip": self.proj_clip,
        }

    def __repr__(self):
        extras = [f"units={self.units}"]
        if self.num_proj:
            extras.append(f"num_proj={self.num_proj}")
        if self.use_peepholes:
            extras.append("use_peepholes=True")
        if self.coupled_input_forget:
            extras.append("coupled_input_forget=True")
        return f"LSTMCell({', '.join(extras)})"
