"""The native loops' build and load (rnnkit/_fast/build.py, cpu.py): one library per instruction-set
level, the best one the CPU has is chosen, never one it lacks; the first-use build (two halves side
by side, RK_PART) holds every loop and computes what the reference does; a library from other
sources is never loaded; what happens is said (a line while compiling, one warning on fallback)."""
import ctypes
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from helpers import rel_error
from rnnkit._fast import build, cpu, report
from rnnkit.errors import SlowKernelsWarning
from test_fast_kernels import GATES, REFERENCE_OPS, TOLERANCE, default_options, fast_kernels, make_case

try:
    build.compiler()
except build.BuildError as exc:  # pragma: no cover - machines without a C compiler
    pytest.skip(str(exc), allow_module_level=True)

BASELINE = cpu.variants()[-1]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """``(cache directory, path, how)`` of the baseline variant compiled once into a fresh cache."""
    directory = tmp_path_factory.mktemp("cache")
    previous = os.environ.get("RNNKIT_CACHE_DIR")
    os.environ["RNNKIT_CACHE_DIR"] = str(directory)
    try:
        yield (directory, *build.cached_library(BASELINE, allow_compile=True))
    finally:
        if previous is None:
            del os.environ["RNNKIT_CACHE_DIR"]
        else:
            os.environ["RNNKIT_CACHE_DIR"] = previous


@pytest.fixture
def cache(compiled, monkeypatch):
    monkeypatch.setenv("RNNKIT_CACHE_DIR", str(compiled[0]))
    return compiled[0]


def test_two_part_build_holds_every_loop_and_matches_the_reference(compiled, cache, monkeypatch):
    _, path, how = compiled
    assert how.startswith("compiled") and os.path.dirname(path) == str(cache)
    assert os.listdir(cache) == [os.path.basename(path)]  # no leftovers
    assert build.cached_library(BASELINE, allow_compile=False) == (path, "cached")
    library = ctypes.CDLL(path)
    library.rk_variant.restype = ctypes.c_char_p
    assert library.rk_variant().decode() == BASELINE.name
    for cell in ("simple", "lstm", "gru"):
        for dtype in ("f32", "f64"):
            for name in (f"rk_{cell}_forward_{dtype}", f"rk_{cell}_backward_{dtype}", f"rk_gemm_blocked_{dtype}",
                         f"rk_adam_{dtype}", f"rk_sum_squares_{dtype}", f"rk_scatter_add_rows_{dtype}"):
                assert hasattr(library, name)
    monkeypatch.setattr(build, "load_library", lambda: (library, path))
    fast_kernels.pack_width(np.dtype(np.float32))  # cached from the library loaded before
    try:
        fast_kernels.load()
        library.rk_packed_b_size_f32.restype = ctypes.c_int64
        library.rk_packed_b_size_f32.argtypes = [ctypes.c_int64, ctypes.c_int64]
        assert fast_kernels.pack_width(np.dtype(np.float32)) == library.rk_packed_b_size_f32(1, 1)
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
    session_library = build.load_library()[0]
    session_library.rk_packed_b_size_f32.restype = ctypes.c_int64
    session_library.rk_packed_b_size_f32.argtypes = [ctypes.c_int64, ctypes.c_int64]
    assert fast_kernels.pack_width(np.dtype(np.float32)) == session_library.rk_packed_b_size_f32(1, 1)


def test_a_library_from_other_sources_is_not_loaded(cache):
    path, _ = build.cached_library(BASELINE)
    assert build._built_from_current_sources(path)
    stale = str(cache / "stale.so")
    flags = ['-DRK_SOURCE_HASH="0000"', "-O0", "-fPIC", "-shared", "-pthread"]
    subprocess.run(build.compiler() + flags + ["-o", stale, os.path.join(build.HERE, "loops.c"), "-lm"],
                   check=True, capture_output=True)
    assert not build._built_from_current_sources(stale)
    (cache / "junk.so").write_bytes(b"not a library")
    assert not build._built_from_current_sources(str(cache / "junk.so"))


@pytest.mark.skipif(cpu.machine() != "x86_64", reason="x86-64 levels")
def test_the_best_variant_the_cpu_has_and_never_one_it_lacks(monkeypatch):
    def with_features(names):
        monkeypatch.setattr(cpu, "cpu_features", lambda: (set(names), "test"))
        return [v.name for v in cpu.supported()]

    v2, v3, v4 = (v.features for v in reversed(cpu.variants()))
    assert with_features(v4) == ["x86-64-v4", "x86-64-v3", "x86-64-v2"]
    assert with_features(v3) == ["x86-64-v3", "x86-64-v2"]
    assert with_features(set(v4) - {"AVX512BW"}) == ["x86-64-v3", "x86-64-v2"]
    assert with_features(set(v3) - {"FMA3"}) == ["x86-64-v2"]  # Westmere, Sandy Bridge
    assert with_features({"SSE3", "SSSE3"}) == []  # Core 2: no variant, the reference runs
    monkeypatch.setenv("RNNKIT_CPU_VARIANT", "x86-64-v3")
    assert with_features(v4) == ["x86-64-v3", "x86-64-v2"]
    monkeypatch.setenv("RNNKIT_CPU_VARIANT", "x86-64-v9")
    with pytest.raises(ValueError, match="RNNKIT_CPU_VARIANT"):
        with_features(v4)
    monkeypatch.delenv("RNNKIT_CPU_VARIANT")
    with_features({"SSE3", "SSSE3"})
    with pytest.raises(build.BuildError, match="none of the variants"):
        build.load_library()


def test_cache_key_holds_compiler_flags_variant_and_cpu(monkeypatch):
    cc, flags = ["cc"], build.BASE_FLAGS
    key = build._cache_key(flags, cc, BASELINE)
    assert build._cache_key(flags, ["clang"], BASELINE) != key
    assert build._cache_key(flags + ["-O3"], cc, BASELINE) != key
    assert build._cache_key(flags, cc, cpu.variants()[0]) != key or len(cpu.variants()) == 1
    monkeypatch.setattr(cpu, "feature_key", lambda: "another cpu")
    assert build._cache_key(flags, cc, BASELINE) != key


def test_no_setup_or_first_use_build_targets_the_building_machine():
    for flags in [build.BASE_FLAGS, build.INSTALL_FLAGS] + [f for v in cpu.variants() for f in v.flags]:
        assert not any("native" in flag for flag in flags)
    for path in (os.path.join(build.HERE, "..", "..", "setup.py"), os.path.join(build.HERE, "build.py")):
        if not os.path.exists(path):  # an installed wheel has no setup.py
            continue
        with open(path) as f:
            assert '"-march=native"' not in f.read()  # as a flag (the docstrings say it is never used)


def test_a_slow_first_use_compile_says_so_on_stderr(monkeypatch, capfd):
    def compilers(seconds):
        return [subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]

    monkeypatch.setattr(build, "ANNOUNCE_AFTER_S", 0.05)
    assert build._wait_announcing(compilers(0.5), BASELINE, "/cache/loops.so") == []
    lines = capfd.readouterr().err.splitlines()
    assert lines == [f"rnnkit: compiling its native loops for {BASELINE.name} (first use on this machine; "
                     f"cached in /cache)"]
    monkeypatch.setattr(build, "ANNOUNCE_AFTER_S", 30)
    build._wait_announcing(compilers(0), BASELINE, "/cache/loops.so")
    assert capfd.readouterr().err == ""  # a quick compile says nothing


def test_the_fallback_warns_once_and_can_be_silenced(monkeypatch):
    code = ("import warnings, numpy as np, rnnkit\n"
            "warnings.simplefilter('always')\n"
            "m = rnnkit.Sequential([rnnkit.layers.LSTM(3)])\n"
            "m.predict(np.zeros((2, 4, 2), np.float32), verbose=0)\n"
            "m.predict(np.zeros((2, 4, 2), np.float32), verbose=0)\n"
            "print(rnnkit._fast.status().splitlines()[0])\n")
    env = dict(os.environ, RNNKIT_NO_COMPILE="1", RNNKIT_CACHE_DIR=os.path.join(build.HERE, "no-such-cache"),
               RNNKIT_CPU_VARIANT=BASELINE.name, PYTHONPATH=os.pathsep.join(sys.path))
    monkeypatch.setattr(build, "installed_library", lambda variant: None)
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if "compiled loops, variant" in run.stdout:
        pytest.skip("an installed library is present, so there is no fallback to see")
    assert run.stderr.count("SlowKernelsWarning") == 1 and "slower" in run.stderr
    assert run.stdout.startswith("kernels: NumPy reference, because")
    env["RNNKIT_QUIET_FALLBACK"] = "1"
    quiet = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "SlowKernelsWarning" not in quiet.stderr and quiet.returncode == 0
    with warnings.catch_warnings(record=True) as caught:  # and once per process, in this process too
        warnings.simplefilter("always")
        monkeypatch.setattr(report, "_warned", [])
        monkeypatch.delenv("RNNKIT_QUIET_FALLBACK", raising=False)
        report.warn_fallback("test")
        report.warn_fallback("test")
    assert [w.category for w in caught] == [SlowKernelsWarning]
