"""The compiled kernels (rnnkit._fast) equal the NumPy reference kernels.

float64 to 1e-12 and float32 to its rounding (1e-5 norm-wise), on random shapes, with
and without masks, recurrent masks, biases, output and state gradients; configurations
the compiled loops do not cover must come back from the reference, unchanged.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import random_mask, rel_error
from rnnkit.cells import GRUCell, LSTMCell, SimpleRNNCell, dispatch, reference_only
from rnnkit.ops.activations import Activation

fast = pytest.importorskip("rnnkit._fast")
if not fast.available():
    pytest.skip(fast.status(), allow_module_level=True)
from rnnkit._fast import kernels as fast_kernels  # noqa: E402

GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
REFERENCE_OPS = {"simple_rnn": SimpleRNNCell.reference_ops, "lstm": LSTMCell.reference_ops,
                 "gru": GRUCell.reference_ops}
TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}


def default_options(cell):
    if cell == "simple_rnn":
        return {"activation": "tanh"}
    if cell == "lstm":
        return {"activation": "tanh", "recurrent_activation": "sigmoid", "forget_bias": 0.0,
                "coupled_input_forget": False, "cell_clip": None, "proj_clip": None}
    return {"activation": "tanh", "recurrent_activation": "sigmoid", "reset_after": True}


def make_case(cell, dtype, rng, batch, time, features, units, bias=True, masked=False, recurrent_masked=False):
    gates = GATES[cell]
    x = rng.standard_normal((batch, time, features)).astype(dtype)
    params = {"kernel": (rng.standard_normal((features, gates * units)) / np.sqrt(features)).astype(dtype),
              "recurrent_kernel": (rng.standard_normal((units, gates * units)) / np.sqrt(units)).astype(dtype)}
    if bias:
        shape = (2, gates * units) if cell == "gru" else (gates * units,)
        params["bias"] = rng.uniform(-0.5, 0.5, shape).astype(dtype)
    state0 = tuple(rng.standard_normal((batch, units)).astype(dtype) for _ in range(2 if cell == "lstm" else 1))
    mask = random_mask(rng, batch, time) if masked else None
    rmask = (rng.random((batch, units)) < 0.7).astype(dtype) / dtype(0.7) if recurrent_masked else None
    return x, state0, params, mask, rmask


def run_both(cell, case, options, rng, output_grads=True, state_grads=True):
    """Forward and backward through the reference and the compiled kernels; returns both result lists."""
    x, state0, params, mask, rmask = case
    results = []
    for forward, backward in (REFERENCE_OPS[cell], fast_kernels.COMPILED_OPS[cell]):
        outputs, final, cache = forward(x, state0, params, mask, rmask, **options)
        if not results:  # the same upstream gradients for both
            g_out = rng.standard_normal(outputs.shape).astype(x.dtype) if output_grads else None
            g_state = [rng.standard_normal(s.shape).astype(x.dtype) for s in final] if state_grads else None
        dx, d_state0, grads = backward(g_out, g_state, cache)
        assert list(grads) == list(params)
        assert dx.dtype == x.dtype and all(g.dtype == x.dtype for g in grads.values())
        results.append((cache, [outputs, *final, dx, *d_state0, *grads.values()]))
    return results


def max_error(results):
    (_, ref), (_, got) = results
    assert [a.shape for a in ref] == [b.shape for b in got]
    return max(rel_error(a, b) for a, b in zip(ref, got))


@pytest.mark.parametrize("cell", list(GATES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(6))
def test_random_shapes_equal_reference(cell, dtype, seed):
    rng = np.random.default_rng(seed)
    batch, time, features, units = rng.integers(1, 6), rng.integers(1, 12), rng.integers(1, 9), rng.integers(1, 17)
    masked, recurrent_masked, bias = seed % 2 == 1, seed % 3 == 2, seed != 4
    options = dict(default_options(cell), zero_output_for_mask=seed == 5)
    case = make_case(cell, dtype, rng, batch, time, features, units, bias, masked, recurrent_masked)
    results = run_both(cell, case, options, rng)
    assert fast_kernels._is_compiled(results[1][0], cell)  # the compiled loop ran, not a delegation
    assert max_error(results) < TOLERANCE[dtype]


@pytest.mark.parametrize("cell", list(GATES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_long_sequence_with_masks(cell, dtype):
    rng = np.random.default_rng(7)
    case = make_case(cell, dtype, rng, 4, 60, 5, 24, masked=True, recurrent_masked=True)
    assert max_error(run_both(cell, case, dict(default_options(cell), zero_output_for_mask=False), rng)) \
        < TOLERANCE[dtype]


ACTIVATION_VARIANTS = [
    ("simple_rnn", {"activation": "relu"}), ("simple_rnn", {"activation": "sigmoid"}),
    ("simple_rnn", {"activation": "linear"}), ("simple_rnn", {"activation": "hard_sigmoid"}),
    ("lstm", {"activation": "relu"}), ("lstm", {"recurrent_activation": "hard_sigmoid"}),
    ("lstm", {"forget_bias": 1.0}), ("lstm", {"activation": "linear", "recurrent_activation": "tanh"}),
    ("gru", {"activation": "relu"}), ("gru", {"recurrent_activation": "hard_sigmoid"}),
    ("gru", {"activation": "sigmoid", "recurrent_activation": "tanh"}),
]


@pytest.mark.parametrize("cell,variant", ACTIVATION_VARIANTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_activation_variants_equal_reference(cell, variant, dtype):
    rng = np.random.default_rng(11)
    case = make_case(cell, dtype, rng, 3, 8, 4, 6, masked=True)
    results = run_both(cell, case, dict(default_options(cell), **variant), rng)
    assert fast_kernels._is_compiled(results[1][0], cell)
    assert max_error(results) < TOLERANCE[dtype]


@pytest.mark.parametrize("cell", list(GATES))
@pytest.mark.parametrize("output_grads,state_grads", [(True, False), (False, True)])
def test_missing_upstream_gradients(cell, output_grads, state_grads):
    rng = np.random.default_rng(3)
    case = make_case(cell, np.float64, rng, 3, 5, 2, 4, masked=True)
    results = run_both(cell, case, default_options(cell), rng, output_grads, state_grads)
    assert max_error(results) < 1e-12


DELEGATED = [
    ("simple_rnn", {}, {"activation": Activation("cube", lambda z: z ** 3, lambda z, y: 3 * z ** 2)}),
    ("lstm", {}, {"coupled_input_forget": True}),
    ("lstm", {}, {"cell_clip": 0.2}),
    ("lstm", {"peephole_f": 0.1}, {}),
    ("gru", {}, {"reset_after": False}),
]


@pytest.mark.parametrize("cell,extra_params,variant", DELEGATED)
def test_uncovered_configurations_run_the_reference(cell, extra_params, variant):
    rng = np.random.default_rng(5)
    x, state0, params, mask, rmask = make_case(cell, np.float64, rng, 2, 4, 3, 5, bias=cell != "gru")
    units = state0[0].shape[1]
    if cell == "lstm" and variant.get("coupled_input_forget"):
        params = {k: v[..., : 3 * units] for k, v in params.items()}  # f, c, o blocks only
    params.update({k: np.full(units, v) for k, v in extra_params.items()})
    case = (x, state0, params, mask, rmask)
    results = run_both(cell, case, dict(default_options(cell), **variant), rng)
    assert not fast_kernels._is_compiled(results[1][0], cell)
    assert max_error(results) == 0.0


def test_per_gate_recurrent_mask_runs_the_reference():
    rng = np.random.default_rng(6)
    x, state0, params, mask, _ = make_case("gru", np.float32, rng, 2, 4, 3, 5)
    rmask = (rng.random((2, 15)) < 0.7).astype(np.float32)
    results = run_both("gru", (x, state0, params, mask, rmask), default_options("gru"), rng)
    assert not fast_kernels._is_compiled(results[1][0], "gru")
    assert max_error(results) == 0.0


def test_mixed_dtypes_run_the_reference():
    rng = np.random.default_rng(8)
    x, state0, params, mask, rmask = make_case("lstm", np.float32, rng, 2, 4, 3, 5)
    state0 = tuple(s.astype(np.float64) for s in state0)
    _, _, cache = fast_kernels.lstm_forward(x, state0, params, **default_options("lstm"))
    assert not fast_kernels._is_compiled(cache, "lstm")


def compiled_twins(kind):
    """Whether the pair cells of kind ``kind`` run now is the compiled one."""
    return [(op.__module__, op.__name__) for op in dispatch.active(REFERENCE_OPS[kind])] == [
        ("rnnkit._fast.kernels", f"{kind}_forward"), ("rnnkit._fast.kernels", f"{kind}_backward")]


@pytest.mark.parametrize("kind", list(GATES))
def test_cells_run_the_compiled_twins_unless_asked_for_the_reference(kind):
    assert compiled_twins(kind)
    with reference_only():
        assert dispatch.active(REFERENCE_OPS[kind]) == REFERENCE_OPS[kind]
    assert compiled_twins(kind)


def test_rnnkit_fast_0_runs_the_reference():
    code = ("import numpy as np; from rnnkit.cells import LSTMCell, dispatch; "
            "print(dispatch.active(LSTMCell.reference_ops) == LSTMCell.reference_ops)")
    env = {**os.environ, "RNNKIT_FAST": "0"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.strip() == "True"


def test_import_rnnkit_does_not_load_the_compiled_path():
    code = "import sys, rnnkit; print(any(m.startswith('rnnkit._fast') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_backward_twice_on_one_cache_gives_the_same_gradients():
    """Scratch buffers are reused between calls; results must not alias them."""
    rng = np.random.default_rng(9)
    x, state0, params, mask, rmask = make_case("gru", np.float32, rng, 3, 6, 4, 5)
    forward, backward = fast_kernels.COMPILED_OPS["gru"]
    outputs, _, cache = forward(x, state0, params, **default_options("gru"))
    g = rng.standard_normal(outputs.shape).astype(np.float32)
    first = backward(g, None, cache)
    second = backward(2 * g, None, cache)
    assert rel_error(2 * first[0], second[0]) < 1e-6
    assert all(rel_error(2 * first[2][k], second[2][k]) < 1e-6 for k in params)


@pytest.mark.parametrize("cell", list(GATES))
def test_empty_time_axis(cell):
    rng = np.random.default_rng(10)
    case = make_case(cell, np.float32, rng, 2, 0, 3, 4)
    results = run_both(cell, case, default_options(cell), rng)
    assert max_error(results) == 0.0
