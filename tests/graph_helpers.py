"""The finite-difference check of a whole functional model."""
import numpy as np

from helpers import numeric_grad, rel_error, weighted_sum


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
