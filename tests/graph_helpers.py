"""Small multi-input layers for graph tests (the merge layers proper live in rnnkit.layers once they
land), and the finite-difference check of a whole functional model."""
import numpy as np

from helpers import numeric_grad, rel_error, weighted_sum
from rnnkit.layers import Layer


class TinyConcat(Layer):
    """Concatenate a list of inputs on the last axis (a test stand-in for layers.Concatenate)."""

    supports_masking = True

    def check_inputs(self, inputs, name="inputs"):
        return [np.asarray(x, self.dtype) for x in inputs]

    def call(self, inputs, training=False, mask=None):
        self._cache = [x.shape[-1] for x in inputs]
        return np.concatenate(inputs, axis=-1)

    def backward(self, d_output):
        self._gradients = []
        return np.split(np.asarray(d_output), np.cumsum(self._cache)[:-1], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], sum(shape[-1] for shape in input_shape))

    def compute_mask(self, inputs, mask=None):
        if mask is None or all(m is None for m in mask):
            return None
        return np.logical_and.reduce([m for m in mask if m is not None])


class TinyAdd(Layer):
    """Sum of a list of inputs (a test stand-in for layers.Add)."""

    def check_inputs(self, inputs, name="inputs"):
        return [np.asarray(x, self.dtype) for x in inputs]

    def call(self, inputs, training=False, mask=None):
        self._cache = len(inputs)
        return sum(inputs[1:], inputs[0])

    def backward(self, d_output):
        self._gradients = []
        return [np.asarray(d_output)] * self._cache

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])


def as_list(value):
    if isinstance(value, dict):
        return [value[key] for key in sorted(value)]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def model_gradient_errors(model, xs, seed=0, check_inputs=True):
    """Relative errors of ``model.backward`` (every weight, and every float input) against central
    differences of a random weighted sum of all outputs; returns {name: error}."""
    rng = np.random.default_rng(seed)
    outputs = as_list(model(xs, training=True))
    upstream = [rng.standard_normal(o.shape) for o in outputs]

    def loss():
        return weighted_sum(as_list(model(xs, training=True)), upstream)

    model(xs, training=True)
    d_inputs = model.backward(upstream if len(upstream) > 1 else upstream[0])
    d_inputs = d_inputs if isinstance(d_inputs, list) else [d_inputs]
    errors = {}
    grads = model.gradients()
    assert len(grads) == len(model.trainable_variables) > 0
    for variable, grad in zip(model.trainable_variables, grads):
        assert grad.shape == variable.shape, variable.name
        errors[variable.name] = rel_error(grad, numeric_grad(loss, variable.value))
    if check_inputs:
        for i, (x, dx) in enumerate(zip(as_list(xs), d_inputs)):
            if np.issubdtype(np.asarray(x).dtype, np.floating):
                errors[f"input[{i}]"] = rel_error(dx, numeric_grad(loss, x))
    return errors
