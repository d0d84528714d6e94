"""Helpers for the TF1-face tests: state structures and a finite-difference check of static_rnn.

The loss is a random weighted sum of every output and every leaf of the final state
(never all-ones upstream gradients), compared with float64 central differences.
"""
import numpy as np

from helpers import numeric_grad, rel_error, weighted_sum
from rnnkit.nn import static_rnn, static_rnn_backward


def leaves(structure):
    if isinstance(structure, tuple):
        return [a for part in structure for a in leaves(part)]
    return [structure]


def like(structure, make):
    """The same TF1 structure with every leaf replaced by make(leaf)."""
    if isinstance(structure, tuple):
        parts = [like(part, make) for part in structure]
        return type(structure)(*parts) if hasattr(structure, "_fields") else tuple(parts)
    return make(structure)


def random_state(rng, cell, batch):
    return like(cell.zero_state(batch, np.float64), lambda z: rng.standard_normal(z.shape) * 0.5)


def static_rnn_gradient_errors(make_cell, batch=3, time=4, features=2, lengths=None, seed=0, weights_of=None):
    """Relative errors of ``static_rnn_backward`` against central differences, per array.

    ``make_cell()`` is called for every loss evaluation and must return a cell with the same
    weights and the same random masks each time (share the weighted cell; re-seed the wrapper).
    ``weights_of(cell)`` gives the Variables to check (default ``cell.weights``).
    """
    rng = np.random.default_rng(seed)
    cell = make_cell()
    steps = [rng.standard_normal((batch, features)) for _ in range(time)]
    cell.build(features)
    state0 = random_state(rng, cell, batch)

    def run(current=None):
        return static_rnn(current or make_cell(), steps, state0, sequence_length=lengths, return_cache=True)

    outputs, state, cache = run(cell)
    g_out = [rng.standard_normal(o.shape) for o in outputs]
    g_state = like(state, lambda s: rng.standard_normal(s.shape))

    def loss():
        outs, st, _ = run()
        return weighted_sum([*outs, *leaves(st)], [*g_out, *leaves(g_state)])

    d_steps, d_state0, grads = static_rnn_backward(cache, g_out, g_state)
    errors = {f"inputs[{t}]": rel_error(d, numeric_grad(loss, x)) for t, (d, x) in enumerate(zip(d_steps, steps))}
    for k, (s, ds) in enumerate(zip(leaves(state0), leaves(d_state0))):
        errors[f"state0 leaf {k}"] = rel_error(ds, numeric_grad(loss, s))
    variables = (weights_of or (lambda c: c.weights))(cell)
    assert len(grads) == len(variables)
    for variable, grad in zip(variables, grads):
        errors[variable.name] = rel_error(grad, numeric_grad(loss, variable.value))
    return errors
