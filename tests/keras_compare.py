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
