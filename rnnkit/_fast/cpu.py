"""Which compiled variant of the native loops this CPU can run (runtime CPU dispatch).

The C loops (``loops.c``) are compiled several times, each for one instruction-set level,
into sibling libraries ``_loops_<tag>``; the loader picks the best level the CPU has, so a
wheel built anywhere never runs an instruction the CPU lacks (an illegal instruction kills
the process, uncatchable from Python):

    x86_64   x86-64-v2 (baseline: SSE4.2, POPCNT; Nehalem/Westmere and later), x86-64-v3 (AVX2,
             FMA, BMI2: Haswell, Zen and later), x86-64-v4 (AVX-512 F/CD/BW/DQ/VL: Skylake-SP,
             Zen 4 and later; built where the compiler knows it)
    aarch64  armv8-a (NEON is part of the baseline)
    other    one build with the compiler's default target

This file is also loaded by path from ``setup.py`` (no NumPy at build time), so it imports
nothing from rnnkit. The CPU's features come from NumPy's own runtime detection (cpuid and the
OS's register-state check, what NumPy's SIMD dispatch trusts), else from ``/proc/cpuinfo``.
``RNNKIT_CPU_VARIANT=<name>`` caps the choice (e.g. ``x86-64-v2`` to compare levels); a level
above what the CPU has is never taken.
"""
import collections
import os
import platform

#: name: the -march level; flags: compiler flags to try in order (older compilers lack the level
#: names, added in GCC 11 / Clang 12); features: NumPy's names of what the CPU must have
Variant = collections.namedtuple("Variant", "name tag flags features")

_V2 = ("SSE3", "SSSE3", "SSE41", "SSE42", "POPCNT")
_V3 = _V2 + ("AVX", "AVX2", "FMA3", "F16C", "BMI", "BMI2", "LZCNT", "MOVBE")
_V4 = _V3 + ("AVX512F", "AVX512CD", "AVX512BW", "AVX512DQ", "AVX512VL")
_V2_FLAGS = "-msse3 -mssse3 -msse4.1 -msse4.2 -mpopcnt -mcx16 -msahf"
_V3_FLAGS = _V2_FLAGS + " -mavx -mavx2 -mfma -mf16c -mbmi -mbmi2 -mlzcnt -mmovbe -mxsave"
_V4_FLAGS = _V3_FLAGS + " -mavx512f -mavx512cd -mavx512bw -mavx512dq -mavx512vl"

#: best first
VARIANTS = {
    "x86_64": (
        Variant("x86-64-v4", "x86_64_v4", (["-march=x86-64-v4"], _V4_FLAGS.split()), _V4),
        Variant("x86-64-v3", "x86_64_v3", (["-march=x86-64-v3"], _V3_FLAGS.split()), _V3),
        Variant("x86-64-v2", "x86_64_v2", (["-march=x86-64-v2"], _V2_FLAGS.split()), _V2),
    ),
    "aarch64": (Variant("armv8-a", "armv8_a", (["-march=armv8-a"],), ()),),
}
GENERIC = Variant("generic", "generic", ([],), ())

#: /proc/cpuinfo's names for NumPy's, where they differ (lower-case otherwise)
_CPUINFO_NAMES = {"SSE3": "pni", "SSE41": "sse4_1", "SSE42": "sse4_2", "FMA3": "fma", "BMI": "bmi1",
                  "LZCNT": "abm"}


def machine():
    """The CPU family as the variants name it: 'x86_64', 'aarch64', or what platform says."""
    name = platform.machine().lower()
    return {"amd64": "x86_64", "x86-64": "x86_64", "arm64": "aarch64"}.get(name, name)


def variants():
    """Every variant known for this machine, best first."""
    return VARIANTS.get(machine(), (GENERIC,))


def _numpy_features():
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:
        try:
            from numpy.core._multiarray_umath import __cpu_features__
        except ImportError:
            return None
    return {name for name, present in __cpu_features__.items() if present}


def _cpuinfo_features():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    flags = set(line.split(":", 1)[1].split())
                    return {name for v in variants() for name in v.features
                            if _CPUINFO_NAMES.get(name, name.lower()) in flags}
    except OSError:
        pass
    return None


def cpu_features():
    """``(features, source)``: the set of NumPy-named features this CPU (and OS) offers, and where
    that came from ('numpy', '/proc/cpuinfo' or 'unknown': then only the baseline is trusted)."""
    found = _numpy_features()
    if found is not None:
        return found, "numpy"
    found = _cpuinfo_features()
    if found is not None:
        return found, "/proc/cpuinfo"
    return set(), "unknown"


def supported():
    """The variants this CPU can run, best first; ``RNNKIT_CPU_VARIANT`` drops the ones above it.

    On x86-64 a CPU without x86-64-v2 gets none (then the NumPy reference kernels run)."""
    features, source = cpu_features()
    known = variants()
    if machine() == "x86_64" and source == "unknown":
        features = set(known[-1].features)  # baseline only: x86-64-v2 is what every wheel requires
    usable = [v for v in known if set(v.features) <= features]
    cap = os.environ.get("RNNKIT_CPU_VARIANT", "").strip()
    if cap:
        names = [v.name for v in known]
        if cap not in names:
            raise ValueError(f"RNNKIT_CPU_VARIANT={cap!r} is not a variant of this machine; expected one of {names}")
        usable = [v for v in usable if names.index(v.name) >= names.index(cap)]
    return usable


def feature_key():
    """A stable string of the CPU features the variants depend on (part of the build cache key)."""
    features, source = cpu_features()
    relevant = sorted({name for v in variants() for name in v.features} & features)
    return f"{machine()}:{','.join(relevant)}:{source}"
