"""RNN: the Keras layer that runs a recurrent cell (or a stack of cells) over a sequence."""
import numpy as np

from .. import object_registry, weight_options
from .._validate import describe, float_dtype, mask_array, positive_int, rate, rectangular, state_arrays
from ..cells.base import cell_classes
from ..errors import RnnkitTypeError, RnnkitValueError
from ..random import make_rng
from ..variables import share_cell_weights
from .base import Layer, layer_classes
from .custom_cell import CustomCell, is_custom_cell


def serialize_cell(cell):
    """``{"class_name", "config"}`` of a cell (a user's cell under its own class name, and its
    ``"registered_name"`` when registered)."""
    return object_registry.serialize_object(getattr(cell, "user_cell", cell), "cell")


def deserialize_cell(spec, custom_objects=None):
    """A fresh cell from :func:`serialize_cell`'s output (cell objects pass through): a user's class is
    found as layers are (:func:`rnnkit.object_registry.lookup`), rnnkit's cells by name."""
    if not isinstance(spec, dict):
        return spec
    if not isinstance(spec.get("class_name"), str) or not isinstance(spec.get("config"), dict):
        raise RnnkitValueError(f"a cell config must be a dict with 'class_name' and 'config', got {describe(spec)}")
    known = {name: cls for name, cls in layer_classes().items() if not name.startswith("_")}
    known.update(cell_classes())
    return object_registry.deserialize_object(spec, "cell", known, custom_objects)


def _is_nested(state_size):
    return any(isinstance(s, (tuple, list)) for s in state_size)


def flat_state_sizes(cell):
    """The sizes of the cell's states in Keras's flat order (cell by cell for a stack)."""
    sizes = cell.state_size
    if _is_nested(sizes):
        return [s for sub in sizes for s in sub]
    return list(sizes)


def pack_states(cell, flat):
    """Flat list -> the cell's state structure (tuple, or tuple of tuples for a stack)."""
    sizes = cell.state_size
    if not _is_nested(sizes):
        return tuple(flat)
    packed, start = [], 0
    for sub in sizes:
        packed.append(tuple(flat[start:start + len(sub)]))
        start += len(sub)
    return tuple(packed)


def flatten_states(cell, states):
    if not _is_nested(cell.state_size):
        return list(states)
    return [s for sub in states for s in sub]


class RNN(Layer):
    """Runs ``cell`` over the time axis of (B, T, I) inputs, with BPTT in :meth:`backward`.

    Args:
        cell: a recurrent cell (:class:`~rnnkit.cells.SimpleRNNCell`, ``LSTMCell``, ``GRUCell``,
            ``StackedRNNCells``) or a list of cells (stacked, first cell reads the inputs).
        return_sequences: return all outputs (B, T, H) instead of the last one (B, H).
        return_state: also return the final states: ``[output, *states]``, states flat in Keras's
            order (``h`` / ``h, c`` per cell, cell by cell for a stack).
        go_backwards: process the sequence in reverse; as in Keras the returned sequence stays in
            reversed order (the output at index 0 belongs to the last input step).
        stateful: the final states of a call become the initial states of the next one (the batch
            size is then fixed); see :meth:`reset_states`.
        unroll: accepted for Keras compatibility; the time loop is never unrolled.
        zero_output_for_mask: masked steps output zeros instead of repeating the previous output.
        dropout: fraction of input features dropped (training only). One (B, I) mask per call,
            reused at every step, with kept entries scaled by 1/(1-dropout) (Keras's inverted dropout).
        recurrent_dropout: the same on the recurrent input h_{t-1} of every cell; the mask is
            given to the cell's op as ``recurrent_mask``.
        seed: int or None; fixes the dropout masks (and, for subclasses, the initial weights).
        backprop_segment: None, or S > 0 for gradient checkpointing through time: a training
            forward keeps the recurrent state only every S steps and backward recomputes one
            segment at a time (same results, roughly one extra forward pass, memory per step cut
            to the inputs plus the boundary states; see docs/memory.md). S ≈ √T is the usual choice.
        name, dtype, input_shape, trainable: see :class:`Layer`; ``dtype`` defaults to the cell's.
        activity_regularizer: a penalty on the returned arrays / batch size (:mod:`rnnkit.regularizers`).
            The weights' regularizers and constraints are the cell's options (``kernel_regularizer``,
            ``recurrent_constraint``, ...; SimpleRNN, LSTM and GRU take them directly).

    Call: ``layer(x, training=False, mask=None, initial_state=None)`` with x (B, T, I), mask (B, T)
    bool (False skips a step: state kept, output repeated or zeroed), initial_state a flat list of
    (B, size) arrays (one array is accepted when the cell has a single state).

    Backward: ``layer.backward(d_output, *d_states)`` with one gradient per returned array (None
    means no loss on it) returns dx (B, T, I); weight gradients go to ``get_gradients()`` and the
    gradient of a passed ``initial_state`` to ``layer.initial_state_gradients`` (flat list).
    One forward cache is kept: backward applies to the most recent call.
    """

    supports_masking = True
    input_ndim = 3

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 dtype=None, backprop_segment=None, **kwargs):
        cell = self._make_cell(cell)
        cell_dtype = float_dtype("cell.dtype", cell.dtype)
        if dtype is None:
            dtype = cell_dtype
        elif float_dtype("dtype", dtype) != cell_dtype:
            raise RnnkitValueError(
                f"dtype of the RNN layer ({np.dtype(dtype).name}) must match its cell's dtype ({cell_dtype.name})"
            )
        super().__init__(dtype=dtype, **kwargs)
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.dropout = rate("dropout", dropout)
        self.recurrent_dropout = rate("recurrent_dropout", recurrent_dropout)
        if self.recurrent_dropout and isinstance(cell, CustomCell):
            cell.check_recurrent_mask(True, None)  # a named error: custom cells get no recurrent mask
        make_rng(seed)  # validates the seed
        self.backprop_segment = positive_int("backprop_segment", backprop_segment, allow_none=True)
        self.seed = seed
        # A stream of its own, so dropout masks do not replay the weight initialisation's numbers.
        self._dropout_rng = make_rng(None) if seed is None else np.random.default_rng((int(seed), 0xD50))
        self.states = None
        self.initial_state_gradients = None
        self.dropout_masks = (None, None)
        self._cache = None

    @staticmethod
    def _make_cell(cell):
        if isinstance(cell, dict):
            cell = deserialize_cell(cell)
        if isinstance(cell, (list, tuple)):
            from ..cells.stacked import StackedRNNCells
            cell = StackedRNNCells(list(cell))
        if is_custom_cell(cell):  # a user's Keras-style cell: call + backward_step
            cell = CustomCell(cell)
        for method in ("forward", "backward", "build", "state_size"):
            if not hasattr(cell, method):
                raise RnnkitTypeError(f"cell must be a recurrent cell or a list of cells, got {describe(cell)}")
        return cell

    # ------------------------------------------------------------------ structure
    @property
    def supports_tbptt(self):
        """Whether truncated BPTT can carry this layer's final state into the next chunk of a sequence
        (``fit(..., tbptt_steps=k)``): yes when it runs forwards in time (see ``Layer.supports_tbptt``;
        a Bidirectional says False)."""
        return not self.go_backwards

    @property
    def output_size(self):
        return self.cell.output_size

    @property
    def state_sizes(self):
        """Sizes of the returned states, flat in Keras's order."""
        return self._state_layout()[1]

    def _state_layout(self):
        """``(cell, flat state sizes, nested)``, found once per cell (every call asks)."""
        known = self.__dict__.get("_layout")
        if known is None or known[0] is not self.cell:
            known = self.__dict__["_layout"] = (self.cell, flat_state_sizes(self.cell),
                                                _is_nested(self.cell.state_size))
        return known

    def _pack(self, flat):
        """Flat states -> the cell's structure (:func:`pack_states`)."""
        return pack_states(self.cell, flat) if self._state_layout()[2] else tuple(flat)

    def _flatten(self, states):
        """The cell's state structure -> a flat list (:func:`flatten_states`)."""
        return flatten_states(self.cell, states) if self._state_layout()[2] else list(states)

    def _weight_options(self, weight_name):
        """The regularizer and constraint of weight ``weight_name``: the cell's options (a stack's
        ``cell_<k>/<name>`` weights: cell k's)."""
        cell, name = self.cell, weight_name
        while getattr(cell, "cells", None) is not None and name.startswith("cell_") and "/" in name:
            index, name = name.split("/", 1)
            cell = cell.cells[int(index[len("cell_"):])]
        return weight_options.options_for(cell, name)

    def build(self, input_shape):
        if self.built:  # weights exist already; __call__ checks the feature size
            return
        features = input_shape[-1]
        if not self.cell.built:
            self.cell.build(features)
        elif self.cell.input_dim != features:
            raise RnnkitValueError(
                f"inputs of layer {self.name!r} must have {self.cell.input_dim} features (the cell is built for "
                f"them), got input_shape {tuple(input_shape)}"
            )
        if isinstance(self.cell, CustomCell):
            self._adopt_cell_variables()
        else:
            variables = [self.add_weight(name, value) for name, value in self.cell.params.items()]
            share_cell_weights(variables, self.cell)  # an optimizer's flat buffer re-points the cell too
        self.input_features = features
        self.built = True

    def _adopt_cell_variables(self):
        """A user's cell keeps its own Variables (its call reads them): the layer lists those same
        objects, renamed ``<layer>/<weight>`` so two layers with equally named cells stay distinct."""
        prefix = f"{self.cell.user_cell.name}/"
        for variable in self.cell.variables:
            short = variable.name[len(prefix):] if variable.name.startswith(prefix) else variable.name
            variable.name = f"{self.name}/{short}"
            self._variables.append(variable)

    def compute_output_shape(self, input_shape):
        batch, time = input_shape[0], input_shape[1]
        size = self.output_size
        out = (batch, time, size) if self.return_sequences else (batch, size)
        if self.return_state:
            return [out] + [(batch, size) for size in self.state_sizes]
        return out

    def compute_mask(self, inputs, mask=None):
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * len(self.state_sizes)
        return output_mask

    # ------------------------------------------------------------------ states
    def _check_flat_states(self, states, batch, name):
        return list(state_arrays(name, states, self.state_sizes, batch, self.dtype, f" of layer {self.name!r}"))

    def reset_states(self, states=None):
        """Stateful layers: zero the carried states, or set them to ``states`` (flat list of (B, size)).

        Without ``states`` this is a no-op on a layer that is not stateful (as Keras 3's
        ``reset_state``), so a model can reset every layer; setting states needs ``stateful=True``.
        """
        if not self.stateful:
            if states is None:
                return
            raise RnnkitValueError(
                f"reset_states(states) needs a stateful layer; layer {self.name!r} has stateful=False"
            )
        if states is None:
            if self.states is not None:
                self.states = [np.zeros_like(s) for s in self.states]
            return
        if isinstance(states, np.ndarray) and len(self.state_sizes) == 1:
            states = [states]
        if not isinstance(states, (list, tuple)) or not states:
            raise RnnkitValueError(f"states of layer {self.name!r} must be a list of arrays, got {describe(states)}")
        batch = rectangular("states[0]", states[0]).shape[0] if self.states is None else self.states[0].shape[0]
        self.states = [s.copy() for s in self._check_flat_states(states, batch, "states")]

    reset_state = reset_states

    @property
    def rng(self):
        """The generator behind the dropout masks (its state can be saved to resume training exactly)."""
        return self._dropout_rng

    @rng.setter
    def rng(self, generator):
        self._dropout_rng = generator

    # ------------------------------------------------------------------ forward
    def _dropout_mask(self, rate_, shape):
        keep = self._dropout_rng.random(shape) >= rate_
        return (keep / (1.0 - rate_)).astype(self.dtype)

    def _recurrent_masks(self, batch):
        cells = getattr(self.cell, "cells", None)
        if cells is None:
            return self._dropout_mask(self.recurrent_dropout, (batch, self.cell.state_size[0]))
        return [self._dropout_mask(self.recurrent_dropout, (batch, c.state_size[0])) for c in cells]

    def call(self, inputs, training=False, mask=None, initial_state=None):
        x = inputs
        batch, time, _ = x.shape
        mask = mask_array("mask", mask, batch, time)
        if self.stateful and self.states is not None and self.states[0].shape[0] != batch:
            raise RnnkitValueError(
                f"stateful layer {self.name!r} carries states for batch size {self.states[0].shape[0]}, "
                f"got inputs with batch size {batch}; call reset_states(...) with new states to change it"
            )
        passed_state = initial_state is not None
        if passed_state:
            flat0 = self._check_flat_states(initial_state, batch, "initial_state")
        elif self.stateful and self.states is not None:
            flat0 = self.states
        else:
            flat0 = [np.zeros((batch, s), self.dtype) for s in self.state_sizes]
        if self.go_backwards:
            x = x[:, ::-1]
            mask = None if mask is None else mask[:, ::-1]
        input_mask = recurrent_mask = None
        if training and self.dropout > 0:
            input_mask = self._dropout_mask(self.dropout, (batch, x.shape[-1]))
            x = x * input_mask[:, None, :]
        if training and self.recurrent_dropout > 0:
            recurrent_mask = self._recurrent_masks(batch)
        self.dropout_masks = (input_mask, recurrent_mask)
        outputs, final, cache = self.cell.forward_unchecked(
            x, self._pack(flat0), mask, recurrent_mask=recurrent_mask,
            zero_output_for_mask=self.zero_output_for_mask, backprop_segment=self.backprop_segment)
        final = self._flatten(final)
        if self.stateful:
            # arrays that own their memory and are not returned are nobody else's: kept as they are
            owned = not self.return_state and all(s.base is None for s in final)
            self.states = final if owned else [s.copy() for s in final]
        self._cache = None if cache is None else dict(cell_cache=cache, input_mask=input_mask,
                                                      passed_state=passed_state, out_shape=outputs.shape)
        if self.return_sequences:
            output = outputs
        elif time:
            output = outputs[:, -1]
        else:  # no step ran: the last output is the zeros a fully masked sequence also gives
            output = np.zeros((batch, outputs.shape[2]), outputs.dtype)
        if self.return_state:
            return [output, *final]
        return output

    # ------------------------------------------------------------------ backward
    def backward(self, d_output=None, *d_states):
        """dx (B, T, I) from the gradients of the returned arrays (None where there is no loss)."""
        if self._cache is None:
            raise RnnkitValueError(f"backward on layer {self.name!r} needs a forward call first, outside "
                                   "rnnkit.ops.no_grad() (predict and evaluate run under it and keep no cache)")
        c = self._cache
        if len(d_states) > len(self.state_sizes):
            raise RnnkitValueError(
                f"backward of layer {self.name!r} takes at most {len(self.state_sizes)} state gradients, "
                f"got {len(d_states)}"
            )
        d_outputs = None
        if d_output is not None:
            d_output = np.asarray(d_output, self.dtype)
            if self.return_sequences:
                d_outputs = d_output
            else:
                d_outputs = np.zeros(c["out_shape"], self.dtype)
                if c["out_shape"][1]:  # with no time steps the output was a constant
                    d_outputs[:, -1] = d_output
        d_final = list(d_states) + [None] * (len(self.state_sizes) - len(d_states))
        dx, d_state0, grads = self.cell.backward(d_outputs, self._pack(d_final), c["cell_cache"])
        if c["input_mask"] is not None:
            dx = dx * c["input_mask"][:, None, :]
        if self.go_backwards:
            dx = dx[:, ::-1]
        self._gradients = list(grads)
        self.initial_state_gradients = self._flatten(d_state0) if c["passed_state"] else None
        return np.ascontiguousarray(dx)

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = super().get_config()
        config.update({
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "backprop_segment": self.backprop_segment,
        })
        if type(self) is RNN:
            config["cell"] = serialize_cell(self.cell)
        return config
