"""Shared test machinery: finite differences, relative errors, weighted-sum losses.

Gradient checks use a random weighted sum of the outputs and final states as
the loss (never all-ones upstream gradients: those hide transpose and summation
bugs) and compare against float64 central differences.
"""
import numpy as np

from rnnkit.testing import numeric_gradient, relative_error


# one implementation for the library's check_cell and the tests
rel_error = relative_error
numeric_grad = numeric_gradient


def weighted_sum(arrays, weights):
    """sum_i <arrays[i], weights[i]>, skipping None weights."""
    return float(sum(np.sum(a * w) for a, w in zip(arrays, weights) if w is not None))


def cell_gradient_errors(cell, x, state0=None, mask=None, seed=0, outputs_loss=True,
                         zero_output_for_mask=False, recurrent_mask=None):
    """Relative errors of ``cell.backward`` against central differences, per array.

    Returns a dict: weight name -> error, plus "inputs" and "state0[i]".
    ``outputs_loss=False`` puts the loss on the final state only; ``recurrent_mask``
    (fixed, not differentiated) is passed to ``cell.forward`` when given.
    """
    extra = {} if recurrent_mask is None else {"recurrent_mask": recurrent_mask}
    rng = np.random.default_rng(seed)
    if state0 is None:
        state0 = [rng.standard_normal((x.shape[0], s)) * 0.5 for s in cell.state_size]
    state0 = [np.array(s, np.float64) for s in state0]
    x = np.array(x, np.float64)

    def run():
        return cell.forward(x, state0, mask, zero_output_for_mask=zero_output_for_mask, **extra)

    outputs, final, cache = run()
    g_out = rng.standard_normal(outputs.shape) if outputs_loss else None
    g_state = [rng.standard_normal(s.shape) for s in final]

    def loss():
        out, fin, _ = run()
        return weighted_sum([out, *fin], [g_out, *g_state])

    dx, d_state0, grads = cell.backward(g_out, g_state, cache)
    errors = {"inputs": rel_error(dx, numeric_grad(loss, x))}
    for i, (s, ds) in enumerate(zip(state0, d_state0)):
        errors[f"state0[{i}]"] = rel_error(ds, numeric_grad(loss, s))
    for name, grad in zip(cell.weight_names, grads):
        errors[name] = rel_error(grad, numeric_grad(loss, cell.params[name]))
    return errors


def random_mask(rng, batch, time):
    """A (batch, time) mask mixing full rows, prefix lengths and holes, with one empty row when batch > 2."""
    mask = rng.random((batch, time)) > 0.3
    mask[0] = True
    if batch > 1:
        mask[1] = np.arange(time) < max(1, time // 2)
    if batch > 2:
        mask[2] = False
    return mask


def step_loop_errors(cell, x, state0, seed=0):
    """Relative differences between a loop of ``step_forward``/``step_backward`` calls and one
    whole-sequence ``forward``/``backward``, for outputs, final states, dx, d_state0 and weight grads.

    ``state0`` is a flat tuple of (B, size) arrays; returns a dict name -> error.
    """
    rng = np.random.default_rng(seed)
    outputs, final, cache = cell.forward(x, state0)
    g_out = rng.standard_normal(outputs.shape)
    g_final = [rng.standard_normal(s.shape) for s in final]
    dx, d_state0, grads = cell.backward(g_out, g_final, cache)

    state, caches, step_outputs = state0, [], []
    for t in range(x.shape[1]):
        out, state, c = cell.step_forward(x[:, t], state)
        step_outputs.append(out)
        caches.append(c)
    d_state, step_dx, step_grads = g_final, [], [np.zeros_like(w) for w in cell.get_weights()]
    for t in range(x.shape[1] - 1, -1, -1):
        d_in, d_state, g = cell.step_backward(g_out[:, t], d_state, caches[t])
        step_dx.insert(0, d_in)
        step_grads = [a + b for a, b in zip(step_grads, g)]

    errors = {"outputs": rel_error(np.stack(step_outputs, 1), outputs), "dx": rel_error(np.stack(step_dx, 1), dx)}
    errors.update({f"final[{i}]": rel_error(a, b) for i, (a, b) in enumerate(zip(state, final))})
    errors.update({f"d_state0[{i}]": rel_error(a, b) for i, (a, b) in enumerate(zip(d_state, d_state0))})
    errors.update({f"grad[{i}]": rel_error(a, b) for i, (a, b) in enumerate(zip(step_grads, grads))})
    return errors


def fit_gradient_errors(model, x, y, sample_weight=None):
    """Relative errors (variable name -> error) between the gradient a compiled model's fit applies
    and float64 central differences of its compiled loss, for every trainable variable."""
    _, grads, _ = model.compute_loss_and_gradients(x, y, sample_weight=sample_weight)
    variables = model.trainable_variables
    assert len(grads) == len(variables) > 0
    return {v.name: rel_error(g, numeric_grad(lambda: model.compute_loss(x, y, sample_weight=sample_weight), v.value))
            for v, g in zip(variables, grads)}
