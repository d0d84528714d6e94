"""The first-use build of the compiled kernels (rnnkit/_fast/build.py) and the stale-library check.

A source checkout compiles kernels.c in two halves side by side (RK_PART) and links them; that
library must hold every kernel and compute what the single-unit build (setup.py) computes. A
library built from other sources than the ones next to it must never be loaded.
"""
import ctypes
import os
import subprocess

import numpy as np
import pytest

from helpers import rel_error
from rnnkit._fast import build
from test_fast_kernels import GATES, REFERENCE_OPS, TOLERANCE, default_options, fast_kernels, make_case

try:
    build.compiler()
except build.BuildError as exc:  # pragma: no cover - machines without a C compiler
    pytest.skip(str(exc), allow_module_level=True)


@pytest.fixture
def two_part_library(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_CACHE_DIR", str(tmp_path))
    path = build.cached_library(allow_compile=True)
    assert os.path.dirname(path) == str(tmp_path)
    assert [name for name in os.listdir(tmp_path)] == [os.path.basename(path)]  # no leftovers
    return path


def test_two_part_build_holds_every_kernel_and_matches_the_reference(two_part_library, monkeypatch):
    library = ctypes.CDLL(two_part_library)
    for name in ("rk_set_blas", "rk_set_threading", "rk_lstm_forward_fused_f32", "rk_lstm_pack_u_f32"):
        assert hasattr(library, name)
    for cell in ("simple", "lstm", "gru"):
        for dtype in ("f32", "f64"):
            assert hasattr(library, f"rk_{cell}_forward_{dtype}") and hasattr(library, f"rk_{cell}_backward_{dtype}")
    monkeypatch.setattr(build, "load_library", lambda: (library, two_part_library))
    try:
        fast_kernels.load()
        monkeypatch.setenv("RNNKIT_FUSED_MIN_UNITS", "1")  # the fused LSTM (part 2) with part 1's state
        rng = np.random.default_rng(0)
        for cell in GATES:
            for dtype in (np.float32, np.float64):
                x, state0, params, mask, rmask = make_case(cell, dtype, rng, 3, 5, 4, 16)
                want = REFERENCE_OPS[cell][0](x, state0, params, None, rmask, **default_options(cell))
                got = fast_kernels.COMPILED_OPS[cell][0](x, state0, params, None, rmask, **default_options(cell))
                assert got[2]["fast"] == cell
                assert rel_error(want[0], got[0]) < TOLERANCE[dtype]
    finally:
        monkeypatch.undo()
        fast_kernels.load()  # back to the library the session loaded


def test_a_library_from_other_sources_is_not_loaded(two_part_library, tmp_path):
    assert not build._built_from_current_sources(two_part_library)  # built without a source hash
    stamped = str(tmp_path / "stamped.so")
    flags = [f"-DRK_SOURCE_HASH=\"{build.source_hash()}\"", "-O0", "-fPIC", "-shared", "-pthread"]
    subprocess.run(build.compiler() + flags + ["-o", stamped, os.path.join(build.HERE, "kernels.c"), "-lm"],
                   check=True, capture_output=True)
    assert build._built_from_current_sources(stamped)
    (tmp_path / "stale.so").write_bytes(b"not a library")
    assert not build._built_from_current_sources(str(tmp_path / "stale.so"))
