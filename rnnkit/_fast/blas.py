"""The sgemm/dgemm that NumPy itself uses, as raw function addresses for the C kernels.

NumPy's Linux wheels ship OpenBLAS with 64-bit integers and ``scipy_``-prefixed
symbols; a NumPy built against a system BLAS exposes plain ``cblas_sgemm``. The
library is found among the shared objects this process has already loaded (NumPy
loaded it), so no second BLAS (with its own thread pool) is ever started. When
none is found and SciPy is installed, SciPy's Fortran BLAS capsules are used.
"""
import ctypes
import os

#: kinds understood by rk_set_blas in loops.c
CBLAS64, CBLAS32, FORTRAN32 = 0, 1, 2

# (sgemm, dgemm, kind), in order of preference
_SYMBOLS = [
    ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", CBLAS64),
    ("cblas_sgemm64_", "cblas_dgemm64_", CBLAS64),
    ("cblas_sgemm", "cblas_dgemm", CBLAS32),
]


# OpenBLAS's per-calling-thread thread count (int -> previous int), where the build exports it
_THREADS_LOCAL = ("scipy_openblas_set_num_threads_local64_", "openblas_set_num_threads_local")


def _loaded_libraries():
    """Paths of loaded shared objects whose name mentions BLAS (Linux: from /proc/self/maps)."""
    paths = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.rsplit(" ", 1)[-1].strip()
                name = os.path.basename(path).lower()
                if path.startswith("/") and ("blas" in name or "mkl_rt" in name) and path not in paths:
                    paths.append(path)
    except OSError:
        pass
    return paths


def _numpy_uses_ilp64():
    """Whether NumPy's BLAS takes 64-bit integers (then unsuffixed cblas_* must not be trusted as LP64)."""
    try:
        import numpy as np
        config = np.show_config(mode="dicts")
        text = repr(config.get("Build Dependencies", {}).get("blas", {}))
        return "64" in text and ("USE64BITINT" in text or "ilp64" in text.lower() or "openblas64" in text)
    except Exception:
        return False


def _from_loaded():
    import numpy  # noqa: F401  (makes sure NumPy's BLAS is loaded)

    ilp64 = None
    for path in _loaded_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for s_name, d_name, kind in _SYMBOLS:
            if not (hasattr(lib, s_name) and hasattr(lib, d_name)):
                continue
            if kind == CBLAS32:
                ilp64 = _numpy_uses_ilp64() if ilp64 is None else ilp64
                if ilp64:
                    continue
            address = lambda name: ctypes.cast(getattr(lib, name), ctypes.c_void_p).value  # noqa: E731
            threads = next((address(n) for n in _THREADS_LOCAL if hasattr(lib, n)), None)
            return kind, address(s_name), address(d_name), threads, f"{path}:{s_name}"
    return None


def _from_scipy():
    try:
        from scipy.linalg import cython_blas
    except ImportError:
        return None
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    name = ctypes.pythonapi.PyCapsule_GetName
    name.restype, name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    capsules = cython_blas.__pyx_capi__
    s, d = capsules["sgemm"], capsules["dgemm"]
    return FORTRAN32, get(s, name(s)), get(d, name(d)), None, "scipy.linalg.cython_blas"


def find_gemm():
    """``(kind, sgemm, dgemm, set_threads_local, description)``, or None when no BLAS is reachable.

    The first three are function addresses; ``set_threads_local`` is the address of OpenBLAS's
    ``openblas_set_num_threads_local`` or None.
    """
    return _from_loaded() or _from_scipy()


_GET_THREADS = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads")


def thread_count_function():
    """A callable returning OpenBLAS's current thread count (NumPy's copy), or None when not found."""
    for path in _loaded_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _GET_THREADS:
            if hasattr(lib, name):
                fn = getattr(lib, name)
                fn.argtypes, fn.restype = [], ctypes.c_int
                return fn
    return None
