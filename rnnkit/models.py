"""``Sequential``: a stack of layers trained with explicit BPTT.

Forward runs the layers in order, passing each layer's output mask to the next
(as Keras propagates masks from ``Embedding(mask_zero=True)`` or ``Masking``).
Backward runs them in reverse: each ``layer.backward(d_out)`` returns the
gradient of its input and leaves its weight gradients in ``get_gradients()``.
"""
import numpy as np

from . import initializers, saving, summary
from ._validate import describe
from .errors import RnnkitTypeError, RnnkitValueError
from .layers.base import Layer, deserialize_layer, unique_name
from .training import TrainingMixin


class Sequential(TrainingMixin):
    """A linear stack of layers, Keras's ``Sequential``.

    Args:
        layers: list of layers (optional; add more with :meth:`add`).
        name: model name (default ``sequential``, ``sequential_1``, ...).

    Example:
        >>> from rnnkit import Sequential, layers
        >>> model = Sequential([layers.SimpleRNN(3, input_shape=(1, 5)), layers.Dense(5, activation="softmax")])
        >>> model.count_params()
        47
    """

    def __init__(self, layers=None, name=None):
        self.name = name or unique_name("sequential")
        self.layers = []
        self.output_mask = None
        self.built = False
        self._input_shape = None
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------------ structure
    def add(self, layer):
        """Append a layer; builds the model when the first layer declares ``input_shape``."""
        if not isinstance(layer, Layer):
            raise RnnkitTypeError(f"layer must be an rnnkit layer, got {describe(layer)}")
        if any(existing.name == layer.name for existing in self.layers):
            raise RnnkitValueError(f"layer names must be unique in a model; {layer.name!r} is already used")
        self.layers.append(layer)
        self.built = False
        first_shape = self.layers[0].input_shape_arg
        if first_shape is not None:
            self.build((None, *first_shape))

    def pop(self):
        """Remove and return the last layer."""
        if not self.layers:
            raise RnnkitValueError("pop() needs a model with at least one layer, got an empty model")
        layer = self.layers.pop()
        self.built = False
        return layer

    def build(self, input_shape):
        """Build every layer for inputs of ``input_shape`` (batch axis first, may be None)."""
        if not self.layers:
            raise RnnkitValueError("the model has no layers; add some before building or calling it")
        shape = tuple(input_shape)
        self._input_shape = shape
        for layer in self.layers:
            if not layer.built:
                with initializers.building(layer):
                    layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.built = True

    @property
    def input_shape(self):
        return self._input_shape

    @property
    def output_shape(self):
        shape = self._input_shape
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
        return shape

    # ------------------------------------------------------------------ forward / backward
    def __call__(self, x, training=False, mask=None):
        """Run every layer; keeps the caches backward needs when ``training`` is True."""
        if not self.layers:
            raise RnnkitValueError("the model has no layers; add some before calling it")
        if not self.built:
            self.build((None, *np.shape(x)[1:]))
        out = x
        for layer in self.layers:
            out_mask = layer.compute_mask(out, mask)
            out = layer(out, training=training, mask=mask)
            mask = out_mask
        self.output_mask = mask
        return out

    def backward(self, d_output):
        """Backpropagate ``d_output`` (gradient of the loss w.r.t. the model's output) through every layer."""
        grad = d_output
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad

    def gradients(self):
        """Gradients of the last backward, in :attr:`trainable_variables` order."""
        grads = []
        for layer in self.layers:
            for variable, grad in zip(layer.weights, layer.get_gradients()):
                if variable.trainable and layer.trainable:
                    grads.append(grad)
        return grads

    # ------------------------------------------------------------------ weights
    @property
    def weights(self):
        return [v for layer in self.layers for v in layer.weights]

    @property
    def trainable_variables(self):
        return [v for layer in self.layers if layer.trainable for v in layer.weights if v.trainable]

    trainable_weights = trainable_variables

    @property
    def non_trainable_variables(self):
        trainable = {id(v) for v in self.trainable_variables}
        return [v for v in self.weights if id(v) not in trainable]

    non_trainable_weights = non_trainable_variables

    def get_weights(self):
        return [v.numpy() for v in self.weights]

    def set_weights(self, weights):
        """Load a list of arrays in :meth:`get_weights` order; every shape is checked before anything changes."""
        weights = list(weights)
        variables = self.weights
        if len(weights) != len(variables):
            raise RnnkitValueError(
                f"weights must be a list of {len(variables)} arrays for model {self.name!r}, got {len(weights)}")
        arrays = []
        for variable, value in zip(variables, weights):
            try:
                array = np.asarray(value)
            except ValueError:  # ragged nested lists
                array = None
            if array is None or array.dtype.kind not in "fiub":
                raise RnnkitTypeError(f"weight {variable.name} must be an array of real numbers, got {describe(value)}")
            if array.shape != variable.shape:
                raise RnnkitValueError(
                    f"weight {variable.name} must have shape {variable.shape}, got {describe(array)}")
            arrays.append(array)
        for variable, array in zip(variables, arrays):
            variable.assign(array)

    def count_params(self):
        return int(sum(layer.count_params() for layer in self.layers))

    def reset_states(self):
        """Reset the states of every stateful layer."""
        for layer in self.layers:
            if hasattr(layer, "reset_states"):
                layer.reset_states()

    def _layer_rngs(self):
        """Random generators behind dropout, by layer name (for resumable training)."""
        return {layer.name: layer.rng for layer in self.layers if getattr(layer, "rng", None) is not None}

    # ------------------------------------------------------------------ summary, config, files
    def summary(self, line_length=None, print_fn=None):
        """Print Keras's table: layer (type), output shape, parameter count and the totals."""
        (print_fn or print)(summary.model_table(self, line_length))

    def get_config(self):
        return {
            "name": self.name,
            "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()} for layer in self.layers],
            "build_input_shape": list(self._input_shape) if self._input_shape else None,
        }

    @classmethod
    def from_config(cls, config):
        model = cls(name=config.get("name"))
        for entry in config["layers"]:
            model.add(deserialize_layer(entry))
        if config.get("build_input_shape") and not model.built:
            model.build(tuple(config["build_input_shape"]))
        return model

    def save_weights(self, filepath):
        saving.save_weights(self, filepath)

    def load_weights(self, filepath):
        saving.load_weights(self, filepath)

    def save(self, filepath):
        saving.save_model(self, filepath)

    def export(self, filepath, format="onnx", verbose=None, input_signature=None, **kwargs):
        """Keras 3's ``export``; rnnkit writes ONNX (``format="onnx"``): see :func:`rnnkit.io.onnx.export`."""
        from .io.onnx import export_model
        export_model(self, filepath, format, verbose, input_signature, **kwargs)

    def save_training_state(self, filepath, epoch, callbacks=None):
        saving.save_training_state(self, filepath, epoch, callbacks=callbacks)

    def load_training_state(self, filepath, callbacks=None):
        return saving.load_training_state(self, filepath, callbacks=callbacks)


def load_model(filepath, compile=True):
    """Rebuild a model written by ``model.save(filepath)``: architecture, weights and (if saved) compile settings."""
    return saving.load_model(filepath, compile=compile)
