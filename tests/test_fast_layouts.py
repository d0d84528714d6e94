"""Arrays of any memory layout give the same numbers on the compiled path (issue #11, defect 1).

The C loops read row-major memory. A Fortran-ordered initial state (``np.asfortranarray(h)``, or
``h.T.copy().T`` after a transpose) used to be copied with its Fortran order kept and read as if
it were row-major: outputs off by about 1.0, a wrong final state. Every array now crosses into C
through one helper (``rnnkit._fast.kernels.c_array``) that makes it C-contiguous with the expected
dtype and shape.
"""
import numpy as np
import pytest

from rnnkit import layers
from rnnkit.cells import GRUCell, LSTMCell, SimpleRNNCell

fast = pytest.importorskip("rnnkit._fast")
if not fast.available():
    pytest.skip(fast.status(), allow_module_level=True)

CELLS = {"simple_rnn": SimpleRNNCell, "lstm": LSTMCell, "gru": GRUCell}


def fortran(array):
    """The same values, column-major: what a transpose round trip hands back."""
    return array.T.copy().T


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_fortran_ordered_initial_state_gives_the_c_ordered_results(kind):
    rng = np.random.default_rng(0)
    cell = CELLS[kind](5, seed=0)
    x = rng.standard_normal((4, 6, 3)).astype(np.float32)
    state0 = [rng.standard_normal((4, s)).astype(np.float32) for s in cell.state_size]
    want_out, want_final, cache = cell.forward(x, state0)
    got_out, got_final, got_cache = cell.forward(x, [fortran(s) for s in state0])
    assert not fortran(state0[0]).flags.c_contiguous
    np.testing.assert_allclose(got_out, want_out, rtol=1e-6, atol=1e-6)
    for a, b in zip(got_final, want_final):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    g_final = [rng.standard_normal(s.shape).astype(np.float32) for s in want_final]
    want = cell.backward(None, g_final, cache)
    got = cell.backward(None, [fortran(g) for g in g_final], got_cache)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
    for a, b in zip(got[1], want[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_fortran_ordered_initial_state_through_a_keras_layer():
    rng = np.random.default_rng(1)
    layer = layers.LSTM(4, return_sequences=True, seed=0)
    x = rng.standard_normal((3, 5, 2)).astype(np.float32)
    h, c = (rng.standard_normal((3, 4)).astype(np.float32) for _ in range(2))
    want = layer(x, initial_state=[h, c])
    got = layer(x, initial_state=[fortran(h), fortran(c)])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
