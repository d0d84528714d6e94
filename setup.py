"""Build hook for the optional native loops; all metadata lives in pyproject.toml.

``rnnkit/_fast/loops.c`` is plain C (no Python headers) that rnnkit loads with ctypes. It is
built here once per instruction-set level of this machine's family (``rnnkit/_fast/cpu.py``:
x86-64-v2, -v3 and -v4 on x86_64, armv8-a on aarch64) into sibling libraries
``rnnkit/_fast/_loops_<level>``; at run time the best level the CPU has is loaded. Never
``-march=native``, so a wheel runs on every CPU of its platform. Each library is an optional
extension: when no working C compiler is found the install still succeeds, and rnnkit compiles
the same source on first use (cached) or runs its NumPy reference kernels (with a warning).
"""
import importlib.util
import os
import sys

from setuptools import Extension, setup


def _load_by_path(name):
    """A module of rnnkit/_fast, loaded by path (importing the package would need NumPy at build time)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rnnkit", "_fast", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_rnnkit_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = _load_by_path("build")  # its SOURCES and source_hash are what the loader checks a library against


def _extensions():
    if sys.platform == "win32":  # the C uses GCC/Clang attributes and pthreads
        return []
    try:
        cc = BUILD.compiler()
    except BUILD.BuildError:
        return []  # no compiler: rnnkit compiles on first use, or runs the reference kernels
    extensions = []
    for variant in BUILD.cpu.variants():
        flags = BUILD.target_flags(cc, variant)
        if flags is None:  # e.g. a compiler without AVX-512: that variant is not built
            continue
        extensions.append(Extension(
            f"rnnkit._fast.{BUILD.library_name(variant)}",
            sources=["rnnkit/_fast/loops.c"],
            depends=[f"rnnkit/_fast/{name}" for name in BUILD.SOURCES[1:]],
            extra_compile_args=BUILD.INSTALL_FLAGS + flags + BUILD.defines(variant),
            libraries=["m"],
            optional=True,
        ))
    return extensions


setup(
    ext_modules=_extensions(),
    package_data={"rnnkit._fast": list(BUILD.SOURCES)},
)
