"""Weight initializers with Keras 3's formulas and names.

An initializer is called as ``init(shape, dtype, rng)`` and returns a new array.
Fan-in and fan-out follow Keras: for a 2-D shape (in, out) they are the two
dimensions; larger shapes multiply the leading dimensions into a receptive field.
"""
import numpy as np

from ._validate import describe
from .errors import RnnkitTypeError, RnnkitValueError


def _fans(shape):
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class: subclasses implement ``__call__(shape, dtype, rng)``."""

    name = "initializer"

    def get_config(self):
        return {}

    def serialize(self):
        config = self.get_config()
        return self.name if not config else {"class_name": self.name, "config": config}


class Zeros(Initializer):
    name = "zeros"

    def __call__(self, shape, dtype, rng):
        return np.zeros(shape, dtype)


class Ones(Initializer):
    name = "ones"

    def __call__(self, shape, dtype, rng):
        return np.ones(shape, dtype)


class Constant(Initializer):
    name = "constant"

    def __init__(self, value=0.0):
        self.value = float(value)

    def __call__(self, shape, dtype, rng):
        return np.full(shape, self.value, dtype)

    def get_config(self):
        return {"value": self.value}


class RandomUniform(Initializer):
    name = "random_uniform"

    def __init__(self, minval=-0.05, maxval=0.05):
        self.minval, self.maxval = float(minval), float(maxval)

    def __call__(self, shape, dtype, rng):
        return rng.uniform(self.minval, self.maxval, shape).astype(dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval}


class RandomNormal(Initializer):
    name = "random_normal"

    def __init__(self, mean=0.0, stddev=0.05):
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, shape, dtype, rng):
        return rng.normal(self.mean, self.stddev, shape).astype(dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev}


class VarianceScaling(Initializer):
    """Uniform or truncated-normal with variance ``scale / fan`` (Keras's VarianceScaling)."""

    name = "variance_scaling"

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal"):
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def __call__(self, shape, dtype, rng):
        fan_in, fan_out = _fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, fan)
        if self.distribution == "uniform":
            limit = np.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, shape).astype(dtype)
        # Keras truncates at two standard deviations; 0.8796 corrects the variance for that.
        stddev = np.sqrt(variance) / 0.87962566103423978
        values = rng.normal(0.0, stddev, shape)
        outside = np.abs(values) > 2 * stddev
        while outside.any():
            values[outside] = rng.normal(0.0, stddev, int(outside.sum()))
            outside = np.abs(values) > 2 * stddev
        return values.astype(dtype)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution}


class GlorotUniform(VarianceScaling):
    name = "glorot_uniform"

    def __init__(self):
        super().__init__(1.0, "fan_avg", "uniform")

    def get_config(self):
        return {}


class GlorotNormal(VarianceScaling):
    name = "glorot_normal"

    def __init__(self):
        super().__init__(1.0, "fan_avg", "truncated_normal")

    def get_config(self):
        return {}


class HeUniform(VarianceScaling):
    name = "he_uniform"

    def __init__(self):
        super().__init__(2.0, "fan_in", "uniform")

    def get_config(self):
        return {}


class HeNormal(VarianceScaling):
    name = "he_normal"

    def __init__(self):
        super().__init__(2.0, "fan_in", "truncated_normal")

    def get_config(self):
        return {}


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian one, times ``gain``."""

    name = "orthogonal"

    def __init__(self, gain=1.0):
        self.gain = float(gain)

    def __call__(self, shape, dtype, rng):
        rows = int(np.prod(shape[:-1]))
        cols = shape[-1]
        flat = rng.normal(0.0, 1.0, (max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(flat)
        q = q * np.sign(np.diag(r))  # makes the decomposition unique, hence uniformly distributed
        if rows < cols:
            q = q.T
        # C order: kernels and in-place updates assume contiguous weights (q.T alone would be Fortran order).
        return np.ascontiguousarray(self.gain * q.reshape(shape), dtype=dtype)

    def get_config(self):
        return {"gain": self.gain}


_REGISTRY = {
    cls.name: cls
    for cls in (
        Zeros, Ones, Constant, RandomUniform, RandomNormal, VarianceScaling,
        GlorotUniform, GlorotNormal, HeUniform, HeNormal, Orthogonal,
    )
}


def get(identifier):
    """Resolve a name (``"glorot_uniform"``), a config dict or an Initializer instance."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str) and identifier in _REGISTRY:
        return _REGISTRY[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in _REGISTRY:
        return _REGISTRY[identifier["class_name"]](**identifier.get("config", {}))
    if isinstance(identifier, (str, dict)):
        raise RnnkitValueError(f"initializer must be one of {sorted(_REGISTRY)}, got {describe(identifier)}")
    raise RnnkitTypeError(f"initializer must be a name or an rnnkit Initializer, got {describe(identifier)}")


def serialize(initializer):
    return get(initializer).serialize()
