"""Bidirectional: one recurrent layer reads the sequence forwards, a copy reads it backwards."""
import numpy as np

from .._validate import choice, describe
from ..errors import RnnkitTypeError, RnnkitValueError
from .base import Layer, deserialize_layer, serialize_layer
from .rnn import RNN

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _strip(prefix, name):
    return name[len(prefix):] if name.startswith(prefix) else name


def _offset_seed(config):
    """Seed the backward copy with seed + 1: the seed fixes initial weights and dropout masks here,
    and the two directions should not start identical or drop the same units."""
    if isinstance(config.get("seed"), int):
        config["seed"] += 1
    cell = config.get("cell")
    if isinstance(cell, dict) and isinstance(cell.get("config", {}).get("seed"), int):
        config["cell"] = {**cell, "config": {**cell["config"], "seed": cell["config"]["seed"] + 1}}


class Bidirectional(Layer):
    """Run ``layer`` forwards and a copy of it backwards in time, then merge (Keras 3 semantics).

    With y_f the forward outputs and y_b the backward ones (re-reversed to line up in time
    when ``return_sequences``), the output is ``concat(y_f, y_b)`` on the last axis, ``y_f + y_b``,
    ``y_f ⊙ y_b``, ``(y_f + y_b) / 2`` or the list ``[y_f, y_b]`` (merge_mode None).

    Args:
        layer: an :class:`~rnnkit.layers.RNN` (SimpleRNN, LSTM, GRU, RNN(cell)). Two fresh
            layers are made from its config: ``forward_<name>`` and ``backward_<name>`` (go_backwards
            flipped, and seed + 1 when ``layer`` has an integer seed, so the two directions start
            from different weights); ``layer``'s own weights are not used.
        merge_mode: "concat" (default), "sum", "mul", "ave" or None.
        backward_layer: optional RNN used as is for the backward direction; it must have the
            opposite go_backwards and the same return_sequences, return_state and stateful.
        name, dtype, input_shape, trainable: see :class:`Layer`; ``dtype`` defaults to the
            layer's and, when given, is used by both copies.

    Masks go to both directions, and as in Keras both sub-layers get
    ``zero_output_for_mask = return_sequences``. ``initial_state``: the forward layer's states
    followed by the backward layer's (flat). With ``return_state`` the call returns
    ``[output(s)..., *forward_states, *backward_states]``. Weights: forward then backward.

    Backward: ``backward(*grads)``, one gradient per returned array (None allowed).
    """

    supports_masking = True
    input_ndim = 3
    #: truncated BPTT cannot carry the backward direction's state across chunks (see RNN.supports_tbptt)
    supports_tbptt = False

    def __init__(self, layer, merge_mode="concat", backward_layer=None, dtype=None, **kwargs):
        layer = deserialize_layer(layer) if isinstance(layer, dict) else layer
        if not isinstance(layer, RNN):
            raise RnnkitTypeError(f"layer must be an rnnkit RNN layer (SimpleRNN, LSTM, GRU, RNN), got {describe(layer)}")
        self.merge_mode = choice("merge_mode", merge_mode, MERGE_MODES)
        if dtype is None:
            dtype = layer.dtype
        super().__init__(dtype=dtype, **kwargs)
        config = layer.get_config()
        forward_config = dict(config, name="forward_" + _strip("forward_", layer.name))
        self._set_dtype(forward_config)
        self.forward_layer = type(layer).from_config(forward_config)
        if backward_layer is None:
            backward_config = dict(config, name="backward_" + _strip("backward_", layer.name),
                                   go_backwards=not config["go_backwards"])
            _offset_seed(backward_config)
            self._set_dtype(backward_config)
            self.backward_layer = type(layer).from_config(backward_config)
            self._custom_backward = False
        else:
            backward_layer = deserialize_layer(backward_layer) if isinstance(backward_layer, dict) else backward_layer
            self._check_backward_layer(layer, backward_layer, self.dtype)
            self.backward_layer = backward_layer
            self._custom_backward = True
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.stateful = layer.stateful
        # Keras: aligned sequences must not repeat stale outputs at masked steps.
        for sub in (self.forward_layer, self.backward_layer):
            sub.zero_output_for_mask = sub.return_sequences
        # One dropout generator for both directions, so a model saves and restores a single state.
        self.backward_layer.rng = self.forward_layer.rng
        self._cache = None
        self.initial_state_gradients = None

    def _set_dtype(self, config):
        if isinstance(config.get("cell"), dict):
            # an RNN(cell) copy: the cell carries the dtype
            if config["cell"]["config"].get("dtype", self.dtype.name) != self.dtype.name:
                raise RnnkitValueError(
                    f"dtype of Bidirectional ({self.dtype.name}) must match its RNN cell's dtype "
                    f"({config['cell']['config']['dtype']})"
                )
            config.pop("dtype", None)
        else:
            config["dtype"] = self.dtype.name

    @staticmethod
    def _check_backward_layer(layer, backward_layer, dtype):
        if not isinstance(backward_layer, RNN):
            raise RnnkitTypeError(f"backward_layer must be an rnnkit RNN layer, got {describe(backward_layer)}")
        if backward_layer.go_backwards == layer.go_backwards:
            raise RnnkitValueError(
                f"backward_layer must have go_backwards={not layer.go_backwards} (the opposite of layer's), "
                f"got go_backwards={backward_layer.go_backwards}"
            )
        for attr in ("return_sequences", "return_state", "stateful"):
            if getattr(backward_layer, attr) != getattr(layer, attr):
                raise RnnkitValueError(
                    f"backward_layer.{attr} must equal layer.{attr} ({getattr(layer, attr)}), "
                    f"got {getattr(backward_layer, attr)}"
                )
        if backward_layer.dtype != dtype:
            raise RnnkitValueError(
                f"backward_layer.dtype must equal the Bidirectional layer's dtype ({dtype.name}), "
                f"got {backward_layer.dtype.name}"
            )

    # ------------------------------------------------------------------ structure
    def build(self, input_shape):
        for sub in (self.forward_layer, self.backward_layer):
            if not sub.built:
                sub.build(input_shape)
                sub.built = True
            for variable in sub.weights:
                if not variable.name.startswith(self.name + "/"):
                    variable.name = f"{self.name}/{variable.name}"
        self.input_features = input_shape[-1]
        self.built = True

    @property
    def weights(self):
        return self.forward_layer.weights + self.backward_layer.weights

    def _n_forward_states(self):
        return len(self.forward_layer.state_sizes)

    def compute_output_shape(self, input_shape):
        fwd = self.forward_layer.compute_output_shape(input_shape)
        bwd = self.backward_layer.compute_output_shape(input_shape)
        if self.return_state:
            fwd, fwd_states = fwd[0], fwd[1:]
            bwd_states = bwd[1:]
            bwd = bwd[0]
        if self.merge_mode == "concat":
            out = [tuple(fwd[:-1]) + (fwd[-1] + bwd[-1],)]
        elif self.merge_mode is None:
            out = [tuple(fwd), tuple(bwd)]
        else:
            out = [tuple(fwd)]
        if self.return_state:
            return out + list(fwd_states) + list(bwd_states)
        return out[0] if len(out) == 1 else out

    def compute_mask(self, inputs, mask=None):
        output_mask = mask if self.return_sequences else None
        outputs = [output_mask, output_mask] if self.merge_mode is None else [output_mask]
        if self.return_state:
            n_states = len(self.forward_layer.state_sizes) + len(self.backward_layer.state_sizes)
            return outputs + [None] * n_states
        return outputs[0] if len(outputs) == 1 else outputs

    def reset_states(self, states=None):
        """Stateful: zero both directions' states, or set them (forward states then backward ones)."""
        if states is None:
            self.forward_layer.reset_states()
            self.backward_layer.reset_states()
            return
        states = list(states)
        n = self._n_forward_states()
        kept = self.forward_layer.states
        self.forward_layer.reset_states(states[:n])
        try:
            self.backward_layer.reset_states(states[n:])
        except BaseException:  # all or nothing: a bad backward state leaves the forward one as it was
            self.forward_layer.states = kept
            raise

    reset_state = reset_states

    @property
    def rng(self):
        """The dropout generator both directions draw from."""
        return self.forward_layer.rng

    @rng.setter
    def rng(self, generator):
        self.forward_layer.rng = self.backward_layer.rng = generator

    # ------------------------------------------------------------------ forward / backward
    def call(self, inputs, training=False, mask=None, initial_state=None):
        fwd_state = bwd_state = None
        if initial_state is not None:
            states = [initial_state] if isinstance(initial_state, np.ndarray) else list(initial_state)
            n = self._n_forward_states()
            expected = n + len(self.backward_layer.state_sizes)
            if len(states) != expected:
                raise RnnkitValueError(
                    f"initial_state of layer {self.name!r} must be a list of {expected} arrays (forward states, "
                    f"then backward states), got {describe(initial_state)}"
                )
            fwd_state, bwd_state = states[:n], states[n:]
        y = self.forward_layer(inputs, training=training, mask=mask, initial_state=fwd_state)
        y_rev = self.backward_layer(inputs, training=training, mask=mask, initial_state=bwd_state)
        states = []
        if self.return_state:
            y, states = y[0], list(y[1:])
            y_rev, back_states = y_rev[0], list(y_rev[1:])
            states += back_states
        if self.return_sequences:
            y_rev = y_rev[:, ::-1]
        self._cache = (y, y_rev, initial_state is not None)
        if self.merge_mode == "concat":
            outputs = [np.concatenate([y, y_rev], axis=-1)]
        elif self.merge_mode == "sum":
            outputs = [y + y_rev]
        elif self.merge_mode == "ave":
            outputs = [(y + y_rev) * 0.5]
        elif self.merge_mode == "mul":
            outputs = [y * y_rev]
        else:
            outputs = [y, np.ascontiguousarray(y_rev)]
        if self.return_state:
            return outputs + states
        return outputs[0] if len(outputs) == 1 else outputs

    def backward(self, *grads):
        """dx (B, T, I) from one gradient per returned array, in the order the call returned them."""
        if self._cache is None:
            raise RnnkitValueError(f"backward on layer {self.name!r} needs a forward call first")
        y, y_rev, passed_state = self._cache
        n_out = 2 if self.merge_mode is None else 1
        n_fwd = self._n_forward_states()
        n_total = n_out + (n_fwd + len(self.backward_layer.state_sizes) if self.return_state else 0)
        if len(grads) > n_total:
            raise RnnkitValueError(
                f"backward of layer {self.name!r} takes at most {n_total} gradients, got {len(grads)}"
            )
        grads = list(grads) + [None] * (n_total - len(grads))
        d_states = grads[n_out:]
        if self.merge_mode is None:
            d_y, d_rev = grads[0], grads[1]
        else:
            d_y, d_rev = self._split_merge_grad(grads[0], y, y_rev)
        if d_rev is not None and self.return_sequences:
            d_rev = d_rev[:, ::-1]
        dx = self.forward_layer.backward(d_y, *d_states[:n_fwd])
        dx = dx + self.backward_layer.backward(d_rev, *d_states[n_fwd:])
        self._gradients = self.forward_layer.get_gradients() + self.backward_layer.get_gradients()
        if passed_state:
            self.initial_state_gradients = (self.forward_layer.initial_state_gradients
                                            + self.backward_layer.initial_state_gradients)
        else:
            self.initial_state_gradients = None
        return dx

    def _split_merge_grad(self, d_merged, y, y_rev):
        if d_merged is None:
            return None, None
        d = np.asarray(d_merged, self.dtype)
        if self.merge_mode == "concat":
            units = y.shape[-1]
            return d[..., :units], d[..., units:]
        if self.merge_mode == "sum":
            return d, d
        if self.merge_mode == "ave":
            return 0.5 * d, 0.5 * d
        return d * y_rev, d * y  # mul

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = super().get_config()
        config["layer"] = serialize_layer(self.forward_layer)
        config["merge_mode"] = self.merge_mode
        if self._custom_backward:
            config["backward_layer"] = serialize_layer(self.backward_layer)
        return config
