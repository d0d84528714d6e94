"""Converters between PyTorch's recurrent weight layout and rnnkit's (Keras's).

PyTorch stores, per layer and direction, ``weight_ih (G·H, I)``, ``weight_hh (G·H, H)``,
``bias_ih (G·H,)``, ``bias_hh (G·H,)`` and, for LSTM with ``proj_size``,
``weight_hr (P, H)``. rnnkit keeps Keras's ``kernel (I, G·H)``,
``recurrent_kernel (H, G·H)`` and one bias. Gate orders:

=======  ===============  ==================
cell     PyTorch          rnnkit / Keras
=======  ===============  ==================
RNN      (h)              (h)
LSTM     i, f, g, o       i, f, c, o  (same)
GRU      r, z, n          z, r, h
=======  ===============  ==================

PyTorch's GRU is the reset-after form, so it maps to ``reset_after=True`` with
bias rows (input bias, recurrent bias). Arguments are NumPy arrays (call
``.detach().numpy()`` on tensors); nothing here imports PyTorch.
"""
import numpy as np


def _gru_to_keras_order(matrix_rows):
    """Reorder the gate blocks of a (3H, ...) PyTorch array from r, z, n to z, r, h."""
    r, z, n = np.split(np.asarray(matrix_rows), 3, axis=0)
    return np.concatenate([z, r, n], axis=0)


def _gru_to_torch_order(matrix_rows):
    z, r, n = np.split(np.asarray(matrix_rows), 3, axis=0)
    return np.concatenate([r, z, n], axis=0)


def rnn_from_torch(weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """PyTorch ``nn.RNN`` layer weights -> ``[kernel, recurrent_kernel(, bias)]``."""
    weights = [np.asarray(weight_ih).T.copy(), np.asarray(weight_hh).T.copy()]
    if bias_ih is not None:
        weights.append(np.asarray(bias_ih) + np.asarray(bias_hh))
    return weights


def lstm_from_torch(weight_ih, weight_hh, bias_ih=None, bias_hh=None, weight_hr=None):
    """PyTorch ``nn.LSTM`` layer weights -> ``[kernel, recurrent_kernel(, bias)(, projection_kernel)]``.

    The two PyTorch biases are summed: they only ever appear added together.
    """
    weights = rnn_from_torch(weight_ih, weight_hh, bias_ih, bias_hh)
    if weight_hr is not None:
        weights.append(np.asarray(weight_hr).T.copy())
    return weights


def gru_from_torch(weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """PyTorch ``nn.GRU`` layer weights -> ``[kernel, recurrent_kernel(, bias (2, 3H))]`` for reset_after=True."""
    weights = [_gru_to_keras_order(weight_ih).T.copy(), _gru_to_keras_order(weight_hh).T.copy()]
    if bias_ih is not None:
        weights.append(np.stack([_gru_to_keras_order(bias_ih), _gru_to_keras_order(bias_hh)]))
    return weights


def rnn_to_torch(kernel, recurrent_kernel, bias=None):
    """``[kernel, recurrent_kernel, bias]`` -> dict of PyTorch names (bias_hh zero)."""
    out = {"weight_ih": np.asarray(kernel).T.copy(), "weight_hh": np.asarray(recurrent_kernel).T.copy()}
    if bias is not None:
        out["bias_ih"] = np.asarray(bias).copy()
        out["bias_hh"] = np.zeros_like(out["bias_ih"])
    return out


def gru_to_torch(kernel, recurrent_kernel, bias=None):
    """reset_after=True GRU weights -> dict of PyTorch names."""
    out = {"weight_ih": _gru_to_torch_order(np.asarray(kernel).T),
           "weight_hh": _gru_to_torch_order(np.asarray(recurrent_kernel).T)}
    if bias is not None:
        bias = np.asarray(bias)
        out["bias_ih"], out["bias_hh"] = _gru_to_torch_order(bias[0]), _gru_to_torch_order(bias[1])
    return out


def torch_layer_weights(module, layer=0, reverse=False):
    """Read one layer/direction of a PyTorch RNN/LSTM/GRU module as a dict of NumPy arrays
    keyed ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` (and ``weight_hr``)."""
    suffix = f"_l{layer}" + ("_reverse" if reverse else "")
    out = {}
    for key in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"):
        tensor = getattr(module, key + suffix, None)
        if tensor is not None:
            out[key] = tensor.detach().cpu().numpy()
    return out
