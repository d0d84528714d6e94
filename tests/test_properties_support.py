"""Shared hypothesis strategies and checks for the other tests/test_properties_*.py files (no tests here).

The contract under test: every public call either works — finite outputs and gradients
of the documented shapes for finite inputs — or raises an rnnkit error (a ValueError /
TypeError subclass) naming what was wrong. Anything else (IndexError, AttributeError, a
NumPy error, a silent NaN) fails the property.
"""
import os

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from rnnkit.errors import RnnkitError

#: kept small so all property files together stay well under a minute in CI; a longer random
#: search: RNNKIT_PROPERTY_EXAMPLES=2000 python -m pytest tests/test_properties_*.py
_EXAMPLES = int(os.environ.get("RNNKIT_PROPERTY_EXAMPLES", "0"))
PROPERTY_SETTINGS = settings(max_examples=_EXAMPLES or 100, deadline=None, derandomize=not _EXAMPLES,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: magnitudes of the inputs: exactly zero, tiny (denormal range in float32), ordinary, large, huge
SCALES = st.sampled_from([0.0, 1e-30, 1e-8, 1.0, 1e4, 1e30])
FLOAT_DTYPES = st.sampled_from(["float32", "float64"])


@st.composite
def sequences(draw, batch=st.integers(0, 3), time=st.integers(0, 5), features=st.integers(1, 4)):
    """(x, mask): x (B, T, I) finite floats of a drawn dtype and scale, mask None or (B, T) bool
    that may hold fully masked rows."""
    b, t, i = draw(batch), draw(time), draw(features)
    dtype = draw(FLOAT_DTYPES)
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((b, t, i)) * draw(SCALES)).astype(dtype)
    mask = None
    if draw(st.booleans()):
        mask = rng.random((b, t)) > draw(st.sampled_from([0.0, 0.3, 1.0]))  # 1.0: every row fully masked
    return x, mask


def documented(call):
    """Run ``call()``; return its result, or None when it raised an rnnkit error (any other
    exception propagates and fails the test)."""
    try:
        return call()
    except RnnkitError as error:
        assert isinstance(error, (ValueError, TypeError)), type(error)
        assert str(error), "an rnnkit error must say what was wrong"
        return None


def all_finite(*arrays):
    """True when every array (nested lists/tuples followed, None skipped) is finite."""
    stack = list(arrays)
    while stack:
        item = stack.pop()
        if item is None:
            continue
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif not np.isfinite(np.asarray(item)).all():
            return False
    return True


#: things that are not valid inputs for a (B, T, I) float sequence
JUNK = st.one_of(
    st.none(), st.integers(-3, 3), st.floats(allow_nan=True), st.text(max_size=3),
    st.lists(st.integers(0, 3), max_size=3),
    st.builds(lambda shape: np.zeros(shape, np.int64), st.lists(st.integers(0, 3), min_size=0, max_size=4)),
    st.builds(lambda shape: np.zeros(shape, bool), st.lists(st.integers(0, 3), min_size=1, max_size=4)),
    st.builds(lambda shape: np.ones(shape, np.float32), st.lists(st.integers(0, 3), min_size=0, max_size=5)),
    st.builds(lambda shape: np.ones(shape, np.float16), st.lists(st.integers(1, 3), min_size=3, max_size=3)),
    st.builds(lambda shape: np.ones(shape, np.complex64), st.lists(st.integers(1, 3), min_size=3, max_size=3)),
)
