"""Elementwise activations with their derivatives.

Each activation is an :class:`Activation` holding ``forward(z) -> y`` and
``derivative(z, y) -> dy/dz``. Backward passes get both the pre-activation ``z``
and the output ``y`` from the forward cache, so derivatives that are cheaper in
terms of ``y`` (tanh: 1 - y², sigmoid: y (1 - y)) never recompute ``forward``.

All functions are stable for |z| up to 1e4 and beyond: sigmoid is written
through tanh (no ``exp`` overflow), softplus through ``logaddexp``.
"""
import numpy as np

from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError


class Activation:
    """A named elementwise function with its derivative.

    Args:
        name: registry name, e.g. ``"tanh"``.
        forward: ``z -> y``, any shape.
        derivative: ``(z, y) -> f'(z)``, same shape as ``z``.
    """

    def __init__(self, name, forward, derivative):
        self.name = name
        self.forward = forward
        self.derivative = derivative

    def __call__(self, z):
        return self.forward(z)

    def __repr__(self):
        return f"Activation({self.name!r})"


def _sigmoid(z):
    # 0.5 (1 + tanh(z/2)) equals 1 / (1 + e^-z) and never overflows.
    return 0.5 * (np.tanh(0.5 * z) + 1.0)


def _hard_sigmoid(z):
    # Keras 3: relu6(z + 3) / 6.
    return np.clip(z / 6.0 + 0.5, 0.0, 1.0)


def _elu(z):
    return np.where(z > 0, z, np.expm1(np.minimum(z, 0)))


_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def _selu(z):
    return _SELU_SCALE * np.where(z > 0, z, _SELU_ALPHA * np.expm1(np.minimum(z, 0)))


def _one(z, y):
    return np.ones_like(z)


_REGISTRY = {
    "tanh": Activation("tanh", np.tanh, lambda z, y: 1.0 - y * y),
    "sigmoid": Activation("sigmoid", _sigmoid, lambda z, y: y * (1.0 - y)),
    "relu": Activation("relu", lambda z: np.maximum(z, 0), lambda z, y: (z > 0).astype(z.dtype)),
    "linear": Activation("linear", lambda z: z, _one),
    "hard_sigmoid": Activation(
        "hard_sigmoid", _hard_sigmoid, lambda z, y: ((z > -3.0) & (z < 3.0)).astype(z.dtype) / 6.0
    ),
    "softsign": Activation("softsign", lambda z: z / (1.0 + np.abs(z)), lambda z, y: 1.0 / (1.0 + np.abs(z)) ** 2),
    "softplus": Activation("softplus", lambda z: np.logaddexp(0, z), lambda z, y: _sigmoid(z)),
    "elu": Activation("elu", _elu, lambda z, y: np.where(z > 0, 1.0, y + 1.0).astype(z.dtype)),
    "selu": Activation(
        "selu", _selu, lambda z, y: np.where(z > 0, _SELU_SCALE, y + _SELU_SCALE * _SELU_ALPHA).astype(z.dtype)
    ),
}
_REGISTRY[None] = _REGISTRY["linear"]


def sigmoid(z):
    """Numerically stable logistic function 1 / (1 + e^-z)."""
    return _sigmoid(z)


def register_activation(activation):
    """Add an :class:`Activation` to the registry so layers accept its name."""
    if not isinstance(activation, Activation):
        raise RnnkitTypeError(f"activation must be an rnnkit Activation, got {describe(activation)}")
    _REGISTRY[activation.name] = activation
    return activation


def available_activations():
    """Names accepted wherever an activation is asked for."""
    return sorted(name for name in _REGISTRY if name is not None)


def get_activation(identifier):
    """Resolve ``identifier`` (a name, None for linear, or an Activation) to an Activation.

    A plain Python callable is refused: backpropagation needs the derivative,
    so wrap it in :class:`Activation` and register it.
    """
    if isinstance(identifier, Activation):
        return identifier
    if identifier is None or isinstance(identifier, str):
        try:
            return _REGISTRY[identifier]
        except KeyError:
            raise RnnkitValueError(
                f"activation must be one of {available_activations()}, got {identifier!r}"
            ) from None
    raise RnnkitTypeError(
        f"activation must be a name such as 'tanh' or an rnnkit Activation with a derivative, "
        f"got {describe(identifier)}"
    )


def serialize_activation(activation):
    """The registry name of ``activation`` (for get_config)."""
    return get_activation(activation).name
