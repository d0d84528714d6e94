"""The check every exported layer gets: gradients, one descent step, config round trip.

``check_layer(cls, kwargs, input_shape)`` builds the layer in float64, runs it,
compares ``backward`` with float64 central differences of a random weighted-sum
loss on every weight, the input and (optionally) the initial state, takes a
step of rnnkit.optimizers.SGD and checks the loss went down, and rebuilds the layer from
its config.
"""
import json

import numpy as np

from helpers import numeric_grad, random_mask, rel_error, weighted_sum
from rnnkit import optimizers


def state_sizes(layer):
    """Flat state sizes of an RNN or a Bidirectional (forward then backward)."""
    if hasattr(layer, "forward_layer"):
        return state_sizes(layer.forward_layer) + state_sizes(layer.backward_layer)
    return list(layer.state_sizes)


def _as_list(outputs):
    return list(outputs) if isinstance(outputs, list) else [outputs]


def check_layer(cls, kwargs, input_shape, seed=0, mask=False, initial_state=False, training=False, tol=1e-6,
                from_config_kwargs=None):
    """Run the shared layer check; returns the dict of relative errors (name -> error).

    Args:
        cls: layer class; kwargs: its constructor arguments (dtype defaults to float64).
        input_shape: full input shape, batch first.
        mask: pass a random (B, T) mask (helpers.random_mask).
        initial_state: pass random initial states (and check their gradients).
        training: call with training=True; the dropout generator is re-seeded before each call so
            every forward of the check draws the same masks.
        from_config_kwargs: passed to ``cls.from_config`` (e.g. Lambda's ``custom_objects``).
    """
    kwargs = dict(kwargs)
    kwargs.setdefault("dtype", "float64")
    layer = cls(**kwargs)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(input_shape)
    call_kwargs = {}
    if mask:
        call_kwargs["mask"] = random_mask(rng, input_shape[0], input_shape[1])
    states = []
    if initial_state:
        states = [rng.standard_normal((input_shape[0], s)) * 0.5 for s in state_sizes(layer)]
        call_kwargs["initial_state"] = states
    if training:
        call_kwargs["training"] = True

    def run(target=layer):
        if training:
            _reseed_dropout(target, seed)
        return _as_list(target(x, **call_kwargs))

    outputs = run()
    upstream = [rng.standard_normal(o.shape) for o in outputs]

    def loss():
        return weighted_sum(run(), upstream)

    dx = layer.backward(*upstream)
    grads = layer.get_gradients()
    state_grads = layer.initial_state_gradients if initial_state else []
    assert len(grads) == len(layer.weights)
    for g, v in zip(grads, layer.weights):
        assert g.shape == v.shape, (v.name, g.shape, v.shape)

    errors = {"inputs": rel_error(dx, numeric_grad(loss, x))}
    for variable, grad in zip(layer.weights, grads):
        errors[variable.name] = rel_error(grad, numeric_grad(loss, variable.value))
    for i, (state, grad) in enumerate(zip(states, state_grads)):
        errors[f"initial_state[{i}]"] = rel_error(grad, numeric_grad(loss, state))
    assert max(errors.values()) < tol, errors
    _check_pure_pair(layer, x, call_kwargs, upstream, dx, grads, state_grads, seed, training)

    # One plain gradient step must lower this (locally linear) loss. The optimizer moves the weights
    # into its flat buffer: a layer or cell that kept a weight array elsewhere would not see the step
    # (and the clone below, built from get_weights, would disagree with it).
    if layer.weights:
        before = loss()
        optimizers.SGD(0.01).apply_gradients(zip(grads, layer.weights))
        after = loss()
        assert after < before, (before, after)

    # Config round trip: same config, and the same outputs once the weights are copied.
    config = layer.get_config()
    json.dumps(config)  # configs are plain data
    clone = cls.from_config(config, **(from_config_kwargs or {}))
    assert clone.get_config() == config
    clone.build(x.shape)
    clone.built = True
    clone.set_weights(layer.get_weights())
    for a, b in zip(run(layer), run(clone)):
        np.testing.assert_array_equal(a, b)
    return errors


def _check_pure_pair(layer, x, call_kwargs, upstream, dx, grads, state_grads, seed, training):
    """``forward`` / ``backward_from`` (what a functional model runs, one cache per call) equal the
    stateful pair, even with another call of the layer in between: everything backward needs must
    live in the call's cache (the layer contract)."""
    def forward(inputs):
        if training:
            _reseed_dropout(layer, seed)
        return layer.forward(inputs, **call_kwargs)

    _, cache = forward(x)
    forward(np.random.default_rng(seed + 1).standard_normal(x.shape))  # another call: its own cache
    d_inputs, pure_grads = layer.backward_from(upstream if len(upstream) > 1 else upstream[0], cache)
    if call_kwargs.get("initial_state") is not None:
        d_inputs, d_states = d_inputs
        for a, b in zip(d_states, state_grads):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(d_inputs, dx)
    assert len(pure_grads) == len(grads)
    for a, b in zip(pure_grads, grads):
        np.testing.assert_array_equal(a, b)


def _reseed_dropout(layer, seed):
    if hasattr(layer, "rng"):
        layer.rng = np.random.default_rng(seed)
