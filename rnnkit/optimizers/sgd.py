"""SGD and Lion: Keras 3's update formulas and defaults, on flat arrays."""
import numpy as np

from ..errors import RnnkitValueError
from .base import Optimizer, _number


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum, Keras 3's form.

        momentum = 0:  w <- w - lr g
        momentum > 0:  m <- momentum m - lr g;  w <- w + m
        nesterov:      m <- momentum m - lr g;  w <- w - lr g + momentum m

    Defaults: learning_rate=0.01, momentum=0.0, nesterov=False; the common arguments of
    :class:`~rnnkit.optimizers.Optimizer` (weight_decay, clipping, EMA, ...).
    """

    default_name = "SGD"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = _number("momentum", momentum, 0.0, 1.0)
        self.nesterov = bool(nesterov)

    def _active_slots(self):
        return ("momentum",) if self.momentum != 0 else ()

    def _update(self, g, w, slots, lr, scratch):
        step = np.multiply(g, lr, out=scratch[0])
        if not slots:
            w -= step
            return
        m, mu = slots["momentum"], w.dtype.type(self.momentum)
        m *= mu
        m -= step
        if self.nesterov:
            w -= step
            w += np.multiply(m, mu, out=scratch[1])
        else:
            w += m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Lion(Optimizer):
    """Lion (evolved sign momentum), Keras 3's form.

        w <- w - lr sign(beta_1 m + (1 - beta_1) g)
        m <- beta_2 m + (1 - beta_2) g

    Defaults: learning_rate=0.001, beta_1=0.9 (in (0, 1]), beta_2=0.99.
    """

    default_name = "lion"
    slot_names = ("momentum",)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _number("beta_1", beta_1, 0.0, 1.0)
        if self.beta_1 == 0:
            raise RnnkitValueError("beta_1 must be in (0, 1] (0 makes Lion sign SGD), got 0.0")
        self.beta_2 = _number("beta_2", beta_2, 0.0, 1.0)

    def _update(self, g, w, slots, lr, scratch):
        f = w.dtype.type
        m = slots["momentum"]
        direction = np.multiply(m, f(self.beta_1), out=scratch[0])
        direction += np.multiply(g, f(1 - self.beta_1), out=scratch[1])
        np.sign(direction, out=direction)
        direction *= lr
        w -= direction
        m *= f(self.beta_2)
        m += np.multiply(g, f(1 - self.beta_2), out=scratch[1])

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}
