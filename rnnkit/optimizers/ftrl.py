"""FTRL-proximal (McMahan et al., 2013): Keras 3's update formula and defaults, on flat arrays."""
import numpy as np

from ..errors import RnnkitValueError
from .base import Optimizer, _number


class Ftrl(Optimizer):
    """Follow The Regularized Leader, Keras 3's form.

    With p = learning_rate_power (<= 0), l1, l2, s = the three regularization strengths::

        n_new = n + g^2
        z <- z + g + 2 s w - (n_new^(-p) - n^(-p)) / lr * w
        q = n_new^(-p) / lr + 2 (l2 + beta / (2 lr))
        w <- (clip(z, -l1, l1) - z) / q;  n <- n_new

    Slots: ``accumulator`` (n, starting at initial_accumulator_value) and ``linear`` (z).
    Defaults: learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
    l1_regularization_strength=0.0, l2_regularization_strength=0.0,
    l2_shrinkage_regularization_strength=0.0, beta=0.0.
    """

    default_name = "ftrl"
    slot_names = ("accumulator", "linear")
    scratch_count = 3

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.learning_rate_power = _number("learning_rate_power", learning_rate_power)
        if self.learning_rate_power > 0:
            raise RnnkitValueError(f"learning_rate_power must be <= 0, got {learning_rate_power!r}")
        self.initial_accumulator_value = _number("initial_accumulator_value", initial_accumulator_value, 0.0)
        self.l1_regularization_strength = _number("l1_regularization_strength", l1_regularization_strength, 0.0)
        self.l2_regularization_strength = _number("l2_regularization_strength", l2_regularization_strength, 0.0)
        self.l2_shrinkage_regularization_strength = _number(
            "l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength, 0.0)
        self.beta = _number("beta", beta)

    def _slot_init(self, name):
        return self.initial_accumulator_value if name == "accumulator" else 0.0

    def _power(self, x, out):
        """x^(-learning_rate_power); the default -0.5 is a square root."""
        if self.learning_rate_power == -0.5:
            return np.sqrt(x, out=out)
        return np.power(x, x.dtype.type(-self.learning_rate_power), out=out)

    def _update(self, g, w, slots, lr, scratch):
        f = w.dtype.type
        n, z = slots["accumulator"], slots["linear"]
        n_new = np.multiply(g, g, out=scratch[0])
        n_new += n
        powered_new = self._power(n_new, scratch[1])
        sigma = self._power(n, scratch[2])
        np.subtract(powered_new, sigma, out=sigma)
        sigma /= lr
        sigma *= w
        z += g
        if self.l2_shrinkage_regularization_strength:
            z += np.multiply(w, f(2 * self.l2_shrinkage_regularization_strength), out=g)
        z -= sigma
        quadratic = powered_new
        quadratic /= lr
        quadratic += f(2 * self.l2_regularization_strength) + f(self.beta) / lr
        l1 = f(self.l1_regularization_strength)
        numerator = np.clip(z, -l1, l1, out=scratch[2])
        numerator -= z
        np.divide(numerator, quadratic, out=w)
        n[...] = n_new

    def get_config(self):
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
                "beta": self.beta}
