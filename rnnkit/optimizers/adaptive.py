"""RMSprop, Adagrad and Adadelta (per-weight step sizes from squared-gradient averages): Keras 3's
update formulas and defaults, on flat arrays."""
import numpy as np

from .base import Optimizer, _number


class RMSprop(Optimizer):
    """RMSprop, Keras 3's form (epsilon inside the square root, plain momentum).

        v <- rho v + (1 - rho) g^2
        centered: a <- rho a + (1 - rho) g;  d = v + epsilon - a^2,  else d = v + epsilon
        step = lr g / sqrt(d)
        momentum > 0: s <- momentum s + step;  w <- w - s,   else w <- w - step

    Defaults: learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False.
    """

    default_name = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = _number("rho", rho, 0.0, 1.0)
        self.momentum = _number("momentum", momentum, 0.0, 1.0)
        self.epsilon = _number("epsilon", epsilon, 0.0)
        self.centered = bool(centered)

    def _active_slots(self):
        return ("velocity",) + (("momentum",) if self.momentum > 0 else ()) + \
            (("average_gradient",) if self.centered else ())

    def _slot_passes(self):
        return tuple((name,) for name in self._active_slots())

    def _update(self, g, w, slots, lr, scratch):
        f = w.dtype.type
        rho = f(self.rho)
        v = slots["velocity"]
        v *= rho
        v += np.multiply(np.multiply(g, g, out=scratch[0]), f(1 - self.rho), out=scratch[0])
        denominator = np.add(v, f(self.epsilon), out=scratch[0])
        if self.centered:
            a = slots["average_gradient"]
            a *= rho
            a += np.multiply(g, f(1 - self.rho), out=scratch[1])
            denominator -= np.multiply(a, a, out=scratch[1])
        np.sqrt(denominator, out=denominator)
        increment = np.multiply(g, lr, out=scratch[1])
        increment /= denominator
        if self.momentum > 0:
            s = slots["momentum"]
            s *= f(self.momentum)
            s += increment
            w -= s
        else:
            w -= increment

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adagrad(Optimizer):
    """Adagrad, Keras 3's form (epsilon inside the square root).

        acc <- acc + g^2   (acc starts at initial_accumulator_value)
        w <- w - lr g / sqrt(acc + epsilon)

    Defaults: learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7.
    """

    default_name = "adagrad"
    slot_names = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = _number("initial_accumulator_value", initial_accumulator_value, 0.0)
        self.epsilon = _number("epsilon", epsilon, 0.0)

    def _slot_init(self, name):
        return self.initial_accumulator_value if name == "accumulator" else 0.0

    def _update(self, g, w, slots, lr, scratch):
        acc = slots["accumulator"]
        acc += np.multiply(g, g, out=scratch[0])
        denominator = np.add(acc, w.dtype.type(self.epsilon), out=scratch[0])
        np.sqrt(denominator, out=denominator)
        step = np.multiply(g, lr, out=scratch[1])
        step /= denominator
        w -= step

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """Adadelta, Keras 3's form (with a learning rate; 1.0 gives Zeiler's original).

        a <- rho a + (1 - rho) g^2
        delta = -g sqrt(d + epsilon) / sqrt(a + epsilon)
        d <- rho d + (1 - rho) delta^2
        w <- w + lr delta

    Slots: ``accumulated_grad`` (a) and ``accumulated_delta_var`` (d). Defaults:
    learning_rate=0.001, rho=0.95, epsilon=1e-7.
    """

    default_name = "adadelta"
    slot_names = ("accumulated_grad", "accumulated_delta_var")

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = _number("rho", rho, 0.0, 1.0)
        self.epsilon = _number("epsilon", epsilon, 0.0)

    def _update(self, g, w, slots, lr, scratch):
        f = w.dtype.type
        rho, eps = f(self.rho), f(self.epsilon)
        a, d = slots["accumulated_grad"], slots["accumulated_delta_var"]
        a *= rho
        a += np.multiply(np.multiply(g, g, out=scratch[0]), f(1 - self.rho), out=scratch[0])
        minus_delta = np.sqrt(np.add(d, eps, out=scratch[0]), out=scratch[0])
        minus_delta *= g
        minus_delta /= np.sqrt(np.add(a, eps, out=scratch[1]), out=scratch[1])
        d *= rho
        d += np.multiply(np.multiply(minus_delta, minus_delta, out=scratch[1]), f(1 - self.rho), out=scratch[1])
        minus_delta *= lr
        w -= minus_delta

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
