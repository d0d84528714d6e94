"""Adam and its variants AdamW, Adamax and Nadam: Keras 3's update formulas and defaults, on flat arrays.

In every formula ``t = iterations + 1`` (the number of this update) and the moments start at zero.
"""
import numpy as np

from ..errors import RnnkitValueError
from ..ops import vector_ops
from ..cells.dispatch import active_function
from .base import Optimizer, _number


class _Moments(Optimizer):
    """beta_1, beta_2, epsilon and the first-moment update shared by the Adam family."""

    def __init__(self, learning_rate, beta_1, beta_2, epsilon, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _number("beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = _number("beta_2", beta_2, 0.0, 1.0)
        self.epsilon = _number("epsilon", epsilon, 0.0)

    def _first_moment(self, g, m, work):
        """m <- m + (g - m)(1 - beta_1), in place."""
        m += np.multiply(np.subtract(g, m, out=work), m.dtype.type(1 - self.beta_1), out=work)

    def _second_moment(self, g, v, work):
        """v <- v + (g^2 - v)(1 - beta_2), in place."""
        np.multiply(g, g, out=work)
        work -= v
        work *= v.dtype.type(1 - self.beta_2)
        v += work

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Adam(_Moments):
    """Adam with Keras 3's epsilon placement ("epsilon hat"), optionally AMSGrad.

        alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)
        m <- m + (g - m)(1 - beta_1);  v <- v + (g^2 - v)(1 - beta_2)
        (amsgrad: v_hat <- max(v_hat, v), used in place of v)
        w <- w - alpha m / (sqrt(v) + epsilon)

    PyTorch adds its epsilon to sqrt(v / (1 - beta_2^t)) instead: the two agree
    only when epsilon is 0. Defaults: learning_rate=0.001, beta_1=0.9,
    beta_2=0.999, epsilon=1e-7, amsgrad=False.
    """

    default_name = "adam"
    scratch_count = 2

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)
        self.amsgrad = bool(amsgrad)

    def _active_slots(self):
        return ("momentum", "velocity", "velocity_hat") if self.amsgrad else ("momentum", "velocity")

    def _slot_passes(self):
        return (("momentum", "velocity"), ("velocity_hat",)) if self.amsgrad else (("momentum", "velocity"),)

    def _update(self, g, w, slots, lr, scratch):
        f = w.dtype.type
        step = f(self.iterations + 1)
        alpha = lr * np.sqrt(1 - np.power(f(self.beta_2), step)) / (1 - np.power(f(self.beta_1), step))
        active_function(vector_ops.adam_update)(
            g, w, slots["momentum"], slots["velocity"], slots["velocity_hat"] if self.amsgrad else None, f(alpha),
            f(1 - self.beta_1), f(1 - self.beta_2), f(self.epsilon), scratch)

    def get_config(self):
        return {**super().get_config(), "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): before each Adam update
    ``w <- w (1 - weight_decay lr)``. The same as ``Adam(weight_decay=...)``; weight_decay is
    required (default 0.004, as Keras 3). Other defaults as :class:`Adam`."""

    default_name = "adamw"

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        if weight_decay is None:
            raise RnnkitValueError("weight_decay must be a number for AdamW, got None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs)


class Adamax(_Moments):
    """Adamax, Adam with the infinity norm, Keras 3's form.

        m <- m + (g - m)(1 - beta_1);  u <- max(beta_2 u, |g|)
        w <- w - lr m / ((1 - beta_1^t)(u + epsilon))

    Defaults: learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7.
    """

    default_name = "adamax"
    slot_names = ("momentum", "norm")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)

    def _update(self, g, w, slots, lr, scratch):
        f = w.dtype.type
        correction = 1 - np.power(f(self.beta_1), f(self.iterations + 1))
        m, u = slots["momentum"], slots["norm"]
        self._first_moment(g, m, scratch[0])
        u *= f(self.beta_2)
        np.maximum(u, np.abs(g, out=scratch[0]), out=u)
        denominator = np.add(u, f(self.epsilon), out=scratch[0])
        denominator *= correction
        change = np.multiply(m, lr, out=scratch[1])
        change /= denominator
        w -= change


class Nadam(_Moments):
    """Nadam, Adam with Nesterov momentum, Keras 3's form (Dozat's momentum schedule).

        u_t = beta_1 (1 - 0.5 0.96^t);  u_{t+1} = beta_1 (1 - 0.5 0.96^(t+1))
        P_t = u_1 u_2 ... u_t (the running product ``u_product``, kept in the state)
        m <- m + (g - m)(1 - beta_1);  v <- v + (g^2 - v)(1 - beta_2)
        m_hat = u_{t+1} m / (1 - P_t u_{t+1}) + (1 - u_t) g / (1 - P_t)
        v_hat = v / (1 - beta_2^t)
        w <- w - lr m_hat / (sqrt(v_hat) + epsilon)

    Defaults: learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7.
    """

    default_name = "nadam"
    slot_names = ("momentum", "velocity")
    extra_state = {"u_product": 1.0}

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)
        self._u = None

    def _prepare_step(self):
        t = self.iterations + 1
        u_t = self.beta_1 * (1 - 0.5 * 0.96 ** t)
        u_next = self.beta_1 * (1 - 0.5 * 0.96 ** (t + 1))
        product = self._extra["u_product"] * u_t
        self._extra["u_product"] = product
        self._u = (u_t, u_next, product)

    def _update(self, g, w, slots, lr, scratch):
        f = w.dtype.type
        u_t, u_next, product = self._u
        m, v = slots["momentum"], slots["velocity"]
        self._first_moment(g, m, scratch[0])
        self._second_moment(g, v, scratch[0])
        m_hat = np.multiply(m, f(u_next / (1 - product * u_next)), out=scratch[0])
        m_hat += np.multiply(g, f((1 - u_t) / (1 - product)), out=scratch[1])
        denominator = np.multiply(v, f(1 / (1 - self.beta_2 ** (self.iterations + 1))), out=scratch[1])
        np.sqrt(denominator, out=denominator)
        denominator += f(self.epsilon)
        m_hat *= lr
        m_hat /= denominator
        w -= m_hat
