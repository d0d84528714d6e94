"""What the compiled path is doing, in words: ``status()``, ``rnnkit info``, and the one warning
issued when the NumPy reference kernels run because the native loops could not be had."""
import os
import warnings

from ..errors import SlowKernelsWarning

#: measured on the 2-core Zen 3 machine, 1 thread, CPU time, LSTM and GRU at (16, 50, 32, 64) and
#: (32, 100, 128, 128) (BENCHMARKS.md, "Without the compiled loops")
SLOWDOWN = "measured 1.7-3.7x slower in training and 2.4-6.4x in inference for LSTM and GRU layers of 64-128 units"

_warned = []


def warn_fallback(reason):
    """Warn once per process that the reference kernels run, why, and what it costs."""
    if _warned or os.environ.get("RNNKIT_QUIET_FALLBACK", "").strip() not in ("", "0"):
        return
    _warned.append(reason)
    warnings.warn(f"rnnkit runs its NumPy reference kernels ({SLOWDOWN}) because its compiled loops are "
                  f"unavailable: {reason}. Install a C compiler (gcc or clang) and restart, or set "
                  f"RNNKIT_QUIET_FALLBACK=1 to silence this.", SlowKernelsWarning, stacklevel=4)


def details(state):
    """A dict of everything status() reports; ``state`` is _fast's {"loaded", "error", "library"}."""
    from . import blas, build, cpu, threads

    features, source = cpu.cpu_features()
    info = {
        "kernels": "compiled" if state["loaded"] else "reference",
        "library": build.LOADED.get("path"),
        "variant": build.LOADED.get("variant"),
        "found": build.LOADED.get("how"),
        "passed_over": build.LOADED.get("passed_over", []),
        "fallback": None if state["loaded"] else state["error"],
        "cpu": f"{cpu.machine()}, variants it can run: "
               f"{', '.join(v.name for v in cpu.supported()) or 'none'} (features from {source})",
        "threads": threads.get_num_threads(),
        "blas": blas.info(),
    }
    return info


def status_text(state):
    """The multi-line account of status()."""
    info = details(state)
    blas_info = info["blas"]
    lines = []
    if info["kernels"] == "compiled":
        lines.append(f"kernels: compiled loops, variant {info['variant']} ({info['found']})")
        lines.append(f"library: {info['library']}")
        if info["passed_over"]:
            lines.append(f"better variants not used: {', '.join(info['passed_over'])}")
    else:
        lines.append(f"kernels: NumPy reference, because {info['fallback']}")
    lines.append(f"cpu: {info['cpu']}")
    lines.append(f"threads: at most {info['threads']} per call of the loops (rnnkit.set_num_threads, "
                 f"RNNKIT_NUM_THREADS), fewer while other processes keep cores busy (RNNKIT_ADAPT_THREADS=0: off)")
    blas_name = blas_info["config"] or "unknown"
    lines.append(f"blas: {blas_name}" + (f", core {blas_info['core']}" if blas_info["core"] else "")
                 + (f", {blas_info['threads']} threads" if blas_info["threads"] else "")
                 + (f" ({blas_info['library']})" if blas_info["library"] else ""))
    return "\n".join(lines)
