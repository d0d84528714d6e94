"""Deprecated: use :mod:`rnnkit.io.torch` (``from_state_dict``, ``to_state_dict``, ``load_state_dict``).

These thin aliases convert one direction of one torch recurrent layer to a Keras-layout weight
list, as before; they are kept for old scripts and tests and will be removed.
"""
import warnings

from .torch import direction_from_torch

warnings.warn("rnnkit.io.torch_weights is deprecated; use rnnkit.io.torch (from_state_dict, to_state_dict)",
              DeprecationWarning, stacklevel=2)

_ORDER = ("kernel", "recurrent_kernel", "bias", "projection_kernel")


def _weights(kind, **tensors):
    converted = direction_from_torch(kind, tensors)
    return [converted[name] for name in _ORDER if name in converted]


def rnn_from_torch(weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """nn.RNN layer weights -> ``[kernel, recurrent_kernel(, bias)]`` (biases summed)."""
    return _weights("RNN", weight_ih=weight_ih, weight_hh=weight_hh, bias_ih=bias_ih, bias_hh=bias_hh)


def lstm_from_torch(weight_ih, weight_hh, bias_ih=None, bias_hh=None, weight_hr=None):
    """nn.LSTM layer weights -> ``[kernel, recurrent_kernel(, bias)(, projection_kernel)]``."""
    return _weights("LSTM", weight_ih=weight_ih, weight_hh=weight_hh, bias_ih=bias_ih, bias_hh=bias_hh,
                    weight_hr=weight_hr)


def gru_from_torch(weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """nn.GRU layer weights -> ``[kernel, recurrent_kernel(, bias (2, 3H))]`` for reset_after=True."""
    return _weights("GRU", weight_ih=weight_ih, weight_hh=weight_hh, bias_ih=bias_ih, bias_hh=bias_hh)


def torch_layer_weights(module, layer=0, reverse=False):
    """One layer/direction of a torch RNN/LSTM/GRU module as NumPy arrays keyed ``weight_ih``,
    ``weight_hh``, ``bias_ih``, ``bias_hh`` (and ``weight_hr``)."""
    suffix = f"_l{layer}" + ("_reverse" if reverse else "")
    return {key: getattr(module, key + suffix).detach().cpu().numpy()
            for key in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
            if getattr(module, key + suffix, None) is not None}
