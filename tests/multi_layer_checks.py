"""The shared check for layers called on a list of inputs (merge layers, attention, multi-input Lambda).

``check_multi_input_layer(cls, kwargs, input_shapes)`` is ``check_layer``'s twin: it builds the
layer in float64, calls it on a list of random inputs (with optional masks and call options),
compares ``backward``'s list of input gradients and the weight gradients with float64 central
differences of a random weighted-sum loss, takes one descent step, rebuilds the layer from its
config, and checks ``compute_output_shape`` with an unknown batch size.
"""
import json

import numpy as np

from helpers import numeric_grad, rel_error, weighted_sum


def _as_list(outputs):
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def check_output_shape(layer, input_shapes, outputs):
    """``compute_output_shape`` with the batch size unknown (None) matches the outputs' shapes: every
    output's when it returns a list of shapes, else the first output's (as Keras's Attention)."""
    multi = isinstance(input_shapes, list)
    shapes = [(None,) + tuple(s[1:]) for s in (input_shapes if multi else [input_shapes])]
    predicted = layer.compute_output_shape(shapes if multi else shapes[0])
    predicted = [tuple(p) for p in predicted] if isinstance(predicted, list) else [tuple(predicted)]
    actual = [(None,) + o.shape[1:] for o in _as_list(outputs)][:len(predicted)]
    assert predicted == actual, (predicted, actual)


def check_multi_input_layer(cls, kwargs, input_shapes, seed=0, mask=None, call_kwargs=None, training=False,
                            tol=1e-6, inputs=None, from_config_kwargs=None):
    """Run the shared multi-input check; returns the dict of relative errors (name -> error).

    Args:
        cls, kwargs: the layer class and its constructor arguments (dtype defaults to float64).
        input_shapes: list of full input shapes, batch first.
        mask: optional list of masks passed as ``mask=``.
        call_kwargs: more call options (``return_attention_scores``, ``use_causal_mask``, ...).
        training: call with training=True, re-seeding the layer's generator before every call.
        inputs: optional list of input arrays (default: standard normal of ``input_shapes``).
        from_config_kwargs: passed to ``cls.from_config`` (e.g. ``custom_objects``).
    """
    kwargs = dict(kwargs)
    kwargs.setdefault("dtype", "float64")
    layer = cls(**kwargs)
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal(s) for s in input_shapes] if inputs is None else [np.array(x, np.float64)
                                                                                for x in inputs]
    options = dict(call_kwargs or {})
    if mask is not None:
        options["mask"] = mask
    if training:
        options["training"] = True

    def run(target=layer):
        if training and hasattr(target, "rng"):
            target.rng = np.random.default_rng(seed)
        return _as_list(target(xs, **options))

    outputs = run()
    upstream = [rng.standard_normal(o.shape) for o in outputs]

    def loss():
        return weighted_sum(run(), upstream)

    d_inputs = layer.backward(*upstream)
    assert isinstance(d_inputs, list) and len(d_inputs) == len(xs), d_inputs
    grads = layer.get_gradients()
    assert len(grads) == len(layer.weights)
    for d, x in zip(d_inputs, xs):
        assert d.shape == x.shape, (d.shape, x.shape)
    for g, v in zip(grads, layer.weights):
        assert g.shape == v.shape, (v.name, g.shape, v.shape)

    errors = {f"inputs[{i}]": rel_error(d, numeric_grad(loss, x)) for i, (d, x) in enumerate(zip(d_inputs, xs))}
    for variable, grad in zip(layer.weights, grads):
        errors[variable.name] = rel_error(grad, numeric_grad(loss, variable.value))
    assert max(errors.values()) < tol, errors

    if layer.trainable_weights:
        before = loss()
        for variable, grad in zip(layer.weights, grads):
            variable.value[...] -= 0.01 * grad
        assert loss() < before

    check_output_shape(layer, [x.shape for x in xs], outputs)

    config = layer.get_config()
    json.dumps(config)
    clone = cls.from_config(config, **(from_config_kwargs or {}))
    assert clone.get_config() == config
    clone.build([x.shape for x in xs])
    clone.built = True
    clone.set_weights(layer.get_weights())
    for a, b in zip(run(layer), run(clone)):
        np.testing.assert_array_equal(a, b)
    return errors
