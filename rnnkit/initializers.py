"""Weight initializers with Keras 3's formulas and names.

An initializer is called as ``init(shape, dtype, rng)`` and returns a new array.
Fan-in and fan-out follow Keras: for a 2-D shape (in, out) they are the two
dimensions; larger shapes multiply the leading dimensions into a receptive field.

Every weight of every layer is drawn here, which makes this the one place that
checks sizes before anything is allocated:

- a weight that would not fit in the memory available raises
  :class:`~rnnkit.errors.RnnkitMemoryError` naming the layer being built (see
  :func:`building`) and the bytes it wanted, instead of NumPy's bare ``MemoryError``;
- inside :func:`weights_from_file` (what the loaders use while rebuilding a model a file
  describes) every weight is counted against the elements the file really holds, so a
  forged config cannot make rnnkit build more than the file could fill; the weights are
  zeros there, since the file's values overwrite them (no random draw, no QR).

Subclasses implement ``sample(shape, dtype, rng)``; ``__call__`` does the checks.
"""
import contextlib
import contextvars
import math

import numpy as np

from . import memory_limits
from ._validate import describe
from .errors import RnnkitMemoryError, RnnkitTypeError, RnnkitValueError

# Who is building weights now ("layer 'lstm' (LSTM)"), for the messages of oversized weights.
_OWNER = contextvars.ContextVar("rnnkit_weight_owner", default=None)
# The element budget of a model being rebuilt from a file, or None.
_FILE_BUDGET = contextvars.ContextVar("rnnkit_weight_budget", default=None)


@contextlib.contextmanager
def building(owner):
    """Name ``owner`` in size errors raised while its weights are drawn.

    ``owner`` is a layer (named as ``layer 'lstm' (LSTM)``) or a phrase. The innermost owner wins
    only when none is set yet, so a wrapper (Bidirectional, a model) names the layer the user made.
    """
    if _OWNER.get() is not None:
        yield
        return
    if not isinstance(owner, str):
        owner = f"layer {getattr(owner, 'name', '?')!r} ({type(owner).__name__})"
    token = _OWNER.set(owner)
    try:
        yield
    finally:
        _OWNER.reset(token)


class _FileBudget:
    def __init__(self, elements, refuse):
        self.left, self.total, self.refuse = elements, elements, refuse


@contextlib.contextmanager
def weights_from_file(elements, refuse):
    """Build weights whose values a file will supply: zeros, at most ``elements`` numbers in all.

    Args:
        elements: how many numbers the file holds (the sum of its arrays' sizes).
        refuse: ``refuse(owner, shape, wanted, left)`` raises the caller's error when a weight
            of ``shape`` (``wanted`` numbers) does not fit in the ``left`` numbers still unclaimed;
            ``owner`` is the layer being built or None.
    """
    token = _FILE_BUDGET.set(_FileBudget(int(elements), refuse))
    try:
        yield
    finally:
        _FILE_BUDGET.reset(token)


def _shape_tuple(shape):
    try:
        shape = tuple(shape)
    except TypeError:
        shape = (shape,)
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise RnnkitValueError(f"a weight shape must be non-negative integers, got {describe(shape)}")
    return tuple(int(n) for n in shape)


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
    """Base class: subclasses implement ``sample(shape, dtype, rng)``; calling checks the size first."""

    name = "initializer"
    #: float64 scratch numbers a draw needs per element of the result (random draws are made in float64)
    scratch_per_element = 0

    def __call__(self, shape, dtype, rng):
        """A new array of ``shape`` and ``dtype`` drawn with ``rng`` (np.random.Generator)."""
        shape, dtype = _shape_tuple(shape), np.dtype(dtype)
        owner = _OWNER.get()
        elements = math.prod(shape)
        budget = _FILE_BUDGET.get()
        if budget is not None:
            if elements > budget.left:
                budget.refuse(owner, shape, elements, budget.left)
            budget.left -= elements
            return np.zeros(shape, dtype)
        what = (f"{owner + ': ' if owner else ''}a {dtype.name} weight of shape {shape} "
                f"({elements * dtype.itemsize:,} bytes, drawn with {self.name})")
        memory_limits.check_bytes(what, elements * (dtype.itemsize + 8 * self.scratch_per_element))
        try:
            return self.sample(shape, dtype, rng)
        except MemoryError:
            raise RnnkitMemoryError(f"{what} could not be allocated; use smaller sizes") from None

    def sample(self, shape, dtype, rng):
        raise NotImplementedError

    def get_config(self):
        return {}

    def serialize(self):
        config = self.get_config()
        return self.name if not config else {"class_name": self.name, "config": config}


class Zeros(Initializer):
    name = "zeros"

    def sample(self, shape, dtype, rng):
        return np.zeros(shape, dtype)


class Ones(Initializer):
    name = "ones"

    def sample(self, shape, dtype, rng):
        return np.ones(shape, dtype)


class Constant(Initializer):
    name = "constant"

    def __init__(self, value=0.0):
        self.value = float(value)

    def sample(self, shape, dtype, rng):
        return np.full(shape, self.value, dtype)

    def get_config(self):
        return {"value": self.value}


class RandomUniform(Initializer):
    name = "random_uniform"
    scratch_per_element = 1

    def __init__(self, minval=-0.05, maxval=0.05):
        self.minval, self.maxval = float(minval), float(maxval)

    def sample(self, shape, dtype, rng):
        return rng.uniform(self.minval, self.maxval, shape).astype(dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval}


class RandomNormal(Initializer):
    name = "random_normal"
    scratch_per_element = 1

    def __init__(self, mean=0.0, stddev=0.05):
        self.mean, self.stddev = float(mean), float(stddev)

    def sample(self, shape, dtype, rng):
        return rng.normal(self.mean, self.stddev, shape).astype(dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev}


class VarianceScaling(Initializer):
    """Uniform or truncated-normal with variance ``scale / fan`` (Keras's VarianceScaling)."""

    name = "variance_scaling"
    scratch_per_element = 2  # the draw and the mask of values to redraw

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal"):
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def sample(self, shape, dtype, rng):
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
    scratch_per_element = 3  # the Gaussian matrix, Q and the result's float64 product

    def __init__(self, gain=1.0):
        self.gain = float(gain)

    def sample(self, shape, dtype, rng):
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
