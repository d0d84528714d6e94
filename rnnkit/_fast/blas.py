"""What BLAS NumPy uses and with how many threads: read only, for ``status()`` and the thread policy.

rnnkit's native loops do not call BLAS (their per-step products run on step_gemm.h); the
whole-sequence products of large calls go through NumPy (``@``), so this BLAS and its thread
setting are the user's, and rnnkit never changes that setting. The library is found among the
shared objects this process has loaded (NumPy loaded it), like threadpoolctl does, without
requiring threadpoolctl.
"""
import ctypes
import os

_GET_THREADS = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_", "openblas_get_num_threads",
                "MKL_Get_Max_Threads", "bli_thread_get_num_threads")
_GET_CONFIG = ("scipy_openblas_get_config64_", "openblas_get_config64_", "openblas_get_config")
_GET_CORE = ("scipy_openblas_get_corename64_", "openblas_get_corename64_", "openblas_get_corename")


def _loaded_libraries():
    """Paths of loaded shared objects whose name mentions BLAS (Linux: from /proc/self/maps)."""
    import numpy  # noqa: F401  (makes sure NumPy's BLAS is loaded)

    paths = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.rsplit(" ", 1)[-1].strip()
                name = os.path.basename(path).lower()
                if path.startswith("/") and ("blas" in name or "mkl_rt" in name or "blis" in name) \
                        and path not in paths:
                    paths.append(path)
    except OSError:
        pass
    return paths


def _function(names, restype):
    """The first exported function of ``names`` in a loaded BLAS, as ``(callable, library path)``."""
    for path in _loaded_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in names:
            if hasattr(lib, name):
                fn = getattr(lib, name)
                fn.argtypes, fn.restype = [], restype
                return fn, path
    return None, None


def thread_count_function():
    """A callable returning the BLAS's current thread count (NumPy's copy), or None when not found."""
    return _function(_GET_THREADS, ctypes.c_int)[0]


def info():
    """``{"library", "config", "core", "threads"}`` of NumPy's BLAS (None where unknown)."""
    threads, path = _function(_GET_THREADS, ctypes.c_int)
    config = _function(_GET_CONFIG, ctypes.c_char_p)[0]
    core = _function(_GET_CORE, ctypes.c_char_p)[0]
    result = {"library": path, "config": None, "core": None, "threads": None}
    try:
        result["threads"] = threads() if threads else None
        result["config"] = config().decode().strip() if config else None
        result["core"] = core().decode().strip() if core else None
    except Exception:  # noqa: BLE001 - information only
        pass
    if result["library"] is None:  # no BLAS found among loaded libraries: say what NumPy was built with
        try:
            import numpy as np
            blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
            result["config"] = f"{blas.get('name')} {blas.get('version')}".strip()
        except Exception:  # noqa: BLE001
            pass
    return result
