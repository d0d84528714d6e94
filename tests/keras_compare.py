"""Run a Keras 3 layer (torch backend, so no TensorFlow is needed) and an rnnkit layer with the same
weights on the same float32 inputs and random weighted-sum loss; compare outputs and gradients.

Import this module before anything imports keras: it selects the torch backend.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers import rel_error  # noqa: E402


def import_keras():
    """keras on the torch backend, or skip the test."""
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    if keras.backend.backend() != "torch":
        pytest.skip(f"keras was already imported with the {keras.backend.backend()} backend")
    return keras


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def keras_run(klayer, inputs, upstream, masks=None, tensor_masks=None, **call_kwargs):
    """Outputs, input gradients and weight gradients (``klayer.weights`` order) of
    ``Σ_i <output_i, upstream_i>`` through ``klayer``, by torch autograd.

    ``inputs``: an array or a list of arrays; ``masks``: passed as ``mask=`` (torch tensors);
    ``tensor_masks``: masks attached to the input tensors (how Keras merge layers receive them).
    """
    import torch
    from keras.src import backend

    multi = isinstance(inputs, list)
    tensors = [torch.tensor(np.asarray(x), requires_grad=True) for x in _as_list(inputs)]
    for t, m in zip(tensors, tensor_masks or []):
        if m is not None:
            backend.set_keras_mask(t, torch.tensor(m))
    if masks is not None:
        call_kwargs["mask"] = ([None if m is None else torch.tensor(m) for m in masks] if isinstance(masks, list)
                               else torch.tensor(masks))
    for w in klayer.weights:
        w.value.requires_grad_(True)
        w.value.grad = None
    outputs = _as_list(klayer(tensors if multi else tensors[0], **call_kwargs))
    loss = sum((o * torch.tensor(u)).sum() for o, u in zip(outputs, upstream) if u is not None)
    loss.backward()
    zeros = np.zeros_like
    d_inputs = [zeros(x) if t.grad is None else t.grad.numpy() for x, t in zip(_as_list(inputs), tensors)]
    d_weights = [np.zeros(w.shape, np.float32) if w.value.grad is None else w.value.grad.numpy()
                 for w in klayer.weights]
    return [o.detach().numpy() for o in outputs], d_inputs, d_weights


def compare_with_keras(layer, klayer, inputs, seed=0, masks=None, tensor_masks=None, keras_kwargs=None,
                       **call_kwargs):
    """Relative errors (name -> error) between rnnkit's ``layer`` and Keras's ``klayer`` after copying
    rnnkit's weights into Keras: every output, every input gradient, every weight gradient.
    ``call_kwargs`` go to both layers; ``keras_kwargs`` to Keras only."""
    rng = np.random.default_rng(seed)
    multi = isinstance(inputs, list)
    inputs = [np.asarray(x, np.float32) for x in inputs] if multi else np.asarray(inputs, np.float32)
    shapes = [x.shape for x in inputs] if multi else inputs.shape
    if not layer.built:
        layer.build(shapes)
        layer.built = True
    weights_before = layer.get_weights()  # before the call: a training call updates moving statistics
    rn_kwargs = dict(call_kwargs)
    if masks is not None or tensor_masks is not None:
        rn_kwargs["mask"] = masks if masks is not None else tensor_masks
    outputs = _as_list(layer(inputs, **rn_kwargs))
    upstream = [rng.standard_normal(o.shape).astype(np.float32) for o in outputs]
    d_inputs = _as_list(layer.backward(*upstream))
    grads = layer.get_gradients()

    if not klayer.built:
        klayer.build(shapes)
    klayer.set_weights(weights_before)
    k_out, k_din, k_dw = keras_run(klayer, inputs, upstream, masks=masks, tensor_masks=tensor_masks,
                                   **call_kwargs, **(keras_kwargs or {}))
    assert len(k_out) == len(outputs) and len(k_dw) == len(grads)
    errors = {}
    for i, (a, b) in enumerate(zip(outputs, k_out)):
        assert a.shape == b.shape, (a.shape, b.shape)
        errors[f"output[{i}]"] = rel_error(a, b)
    for i, (a, b) in enumerate(zip(d_inputs, k_din)):
        if a is not None:
            errors[f"d_input[{i}]"] = rel_error(a, b)
    for w, a, b in zip(klayer.weights, grads, k_dw):
        errors[f"d_{w.name}"] = rel_error(a, b)
    for w, a in zip(klayer.weights, layer.get_weights()):  # same weights after the call (moving statistics)
        errors[f"after_{w.name}"] = rel_error(a, w.value.detach().numpy())
    return errors


_TENSORFLOW_SCRIPT = r"""
import json, os, sys
os.environ["KERAS_BACKEND"] = "tensorflow"
import numpy as np
import keras
import tensorflow as tf

data = np.load(sys.argv[1], allow_pickle=False)
spec = json.loads(str(data["spec"]))
layer = getattr(keras.layers, spec["class_name"])(**spec["config"])
inputs = [tf.Variable(data[f"x{i}"]) for i in range(spec["inputs"])]
shapes = [tuple(x.shape) for x in inputs]
layer.build(shapes if spec["multi"] else shapes[0])
layer.set_weights([data[f"w{i}"] for i in range(spec["weights"])])
with tf.GradientTape(persistent=True) as tape:
    for w in layer.weights:
        tape.watch(w.value)
    out = layer(inputs if spec["multi"] else inputs[0], **spec["call"])
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    loss = sum(tf.reduce_sum(o * data[f"u{i}"]) for i, o in enumerate(outs))
d_in = tape.gradient(loss, inputs)
d_w = tape.gradient(loss, [w.value for w in layer.weights])
result = {f"o{i}": o.numpy() for i, o in enumerate(outs)}
for i, (x, g) in enumerate(zip(inputs, d_in)):
    result[f"dx{i}"] = np.zeros(x.shape, np.float32) if g is None else g.numpy()
for i, (w, g) in enumerate(zip(layer.weights, d_w)):
    result[f"dw{i}"] = np.zeros(w.shape, np.float32) if g is None else np.asarray(g)
np.savez(sys.argv[2], **result)
"""


def compare_with_keras_tensorflow(layer, class_name, config, inputs, tmp_path, seed=0, **call_kwargs):
    """``compare_with_keras`` against Keras on the TensorFlow backend (gradients by tf.GradientTape), run in
    a subprocess; for slow tests of cases Keras's torch backend cannot run. Skips without tensorflow."""
    import json
    import subprocess
    import sys

    pytest.importorskip("tensorflow")
    rng = np.random.default_rng(seed)
    multi = isinstance(inputs, list)
    inputs = [np.asarray(x, np.float32) for x in _as_list(inputs)]
    if not layer.built:
        layer.build([x.shape for x in inputs] if multi else inputs[0].shape)
        layer.built = True
    weights = layer.get_weights()
    outputs = _as_list(layer(inputs if multi else inputs[0], **call_kwargs))
    upstream = [rng.standard_normal(o.shape).astype(np.float32) for o in outputs]
    d_inputs = _as_list(layer.backward(*upstream))
    grads = layer.get_gradients()
    spec = {"class_name": class_name, "config": config, "inputs": len(inputs), "multi": multi,
            "weights": len(weights), "call": call_kwargs}
    arrays = {f"x{i}": x for i, x in enumerate(inputs)}
    arrays.update({f"w{i}": w for i, w in enumerate(weights)})
    arrays.update({f"u{i}": u for i, u in enumerate(upstream)})
    np.savez(tmp_path / "in.npz", spec=json.dumps(spec), **arrays)
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run([sys.executable, "-c", _TENSORFLOW_SCRIPT, str(tmp_path / "in.npz"), str(tmp_path / "out.npz")],
                   check=True, env=env, timeout=600)
    theirs = np.load(tmp_path / "out.npz")
    errors = {f"output[{i}]": rel_error(o, theirs[f"o{i}"]) for i, o in enumerate(outputs)}
    errors.update({f"d_input[{i}]": rel_error(d, theirs[f"dx{i}"]) for i, d in enumerate(d_inputs)})
    errors.update({f"d_weight[{i}]": rel_error(g, theirs[f"dw{i}"]) for i, g in enumerate(grads)})
    return errors
