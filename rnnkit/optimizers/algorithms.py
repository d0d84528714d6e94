"""SGD, Adam, RMSprop and Adagrad: Keras 3's update formulas and defaults."""
import numpy as np

from .base import Optimizer, _number


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum, Keras 3's form.

        momentum = 0:  w <- w - lr g
        momentum > 0:  m <- momentum m - lr g;  w <- w + m
        nesterov:      m <- momentum m - lr g;  w <- w + momentum m - lr g

    Defaults: learning_rate=0.01, momentum=0.0, nesterov=False.
    """

    default_name = "SGD"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = _number("momentum", momentum, 0.0, 1.0)
        self.nesterov = bool(nesterov)

    def _active_slots(self):
        return ("momentum",) if self.momentum != 0 else ()

    def _update(self, grad, value, slots, lr):
        if not slots:
            value -= grad * lr
            return
        m, mu = slots["momentum"], value.dtype.type(self.momentum)
        m[...] = m * mu - grad * lr
        if self.nesterov:
            value += m * mu - grad * lr
        else:
            value += m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam with Keras 3's epsilon placement ("epsilon hat"), optionally AMSGrad.

        t = iterations + 1;  alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)
        m <- m + (g - m)(1 - beta_1);  v <- v + (g^2 - v)(1 - beta_2)
        (amsgrad: v_hat <- max(v_hat, v), used in place of v)
        w <- w - alpha m / (sqrt(v) + epsilon)

    PyTorch adds its epsilon to sqrt(v / (1 - beta_2^t)) instead: the two agree
    only when epsilon is 0. Defaults: learning_rate=0.001, beta_1=0.9,
    beta_2=0.999, epsilon=1e-7, amsgrad=False.
    """

    default_name = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _number("beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = _number("beta_2", beta_2, 0.0, 1.0)
        self.epsilon = _number("epsilon", epsilon, 0.0)
        self.amsgrad = bool(amsgrad)

    def _active_slots(self):
        return ("momentum", "velocity", "velocity_hat") if self.amsgrad else ("momentum", "velocity")

    def _update(self, grad, value, slots, lr):
        f = value.dtype.type
        step = f(self._iterations + 1)
        alpha = lr * np.sqrt(1 - np.power(f(self.beta_2), step)) / (1 - np.power(f(self.beta_1), step))
        m, v = slots["momentum"], slots["velocity"]
        m += (grad - m) * f(1 - self.beta_1)
        v += (np.square(grad) - v) * f(1 - self.beta_2)
        if self.amsgrad:
            np.maximum(slots["velocity_hat"], v, out=slots["velocity_hat"])
            v = slots["velocity_hat"]
        value -= (m * alpha) / (np.sqrt(v) + f(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class RMSprop(Optimizer):
    """RMSprop, Keras 3's form (epsilon inside the square root, plain momentum).

        v <- rho v + (1 - rho) g^2
        centered: a <- rho a + (1 - rho) g;  d = v - a^2 + epsilon,  else d = v + epsilon
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

    def _update(self, grad, value, slots, lr):
        f = value.dtype.type
        rho = f(self.rho)
        v = slots["velocity"]
        v[...] = rho * v + f(1 - self.rho) * np.square(grad)
        if self.centered:
            a = slots["average_gradient"]
            a[...] = rho * a + f(1 - self.rho) * grad
            denominator = v - np.square(a) + f(self.epsilon)
        else:
            denominator = v + f(self.epsilon)
        increment = (lr * grad) / np.sqrt(denominator)
        if self.momentum > 0:
            s = slots["momentum"]
            s[...] = f(self.momentum) * s + increment
            value -= s
        else:
            value -= increment

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
        return self.initial_accumulator_value

    def _update(self, grad, value, slots, lr):
        acc = slots["accumulator"]
        acc += np.square(grad)
        value -= (lr * grad) / np.sqrt(acc + value.dtype.type(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}
