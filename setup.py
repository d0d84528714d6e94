"""Build hook for the optional compiled kernels; all metadata lives in pyproject.toml.

``rnnkit/_fast/kernels.c`` is plain C (no Python headers) that rnnkit loads with
ctypes. It is built here as an optional extension: when no working C compiler is
found the install still succeeds, and rnnkit compiles the same source on first use
(cached) or runs its NumPy reference kernels. The library is compiled for the
installing machine (-march=native); set RNNKIT_PORTABLE=1 when building a wheel
for other machines.
"""
import importlib.util
import os
import sys

from setuptools import Extension, setup


def _kernel_build_module():
    """rnnkit/_fast/build.py, loaded by path (importing the package would need NumPy at build time):
    its SOURCES and source_hash are the ones the loader checks the library against."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rnnkit", "_fast", "build.py")
    spec = importlib.util.spec_from_file_location("_rnnkit_kernel_build", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = _kernel_build_module()
SOURCES = BUILD.SOURCES

FLAGS = ["-O2", "-ftree-vectorize", "-fvect-cost-model=dynamic", "-fno-math-errno", "-pthread",
         f'-DRK_SOURCE_HASH="{BUILD.source_hash()}"']
if not os.environ.get("RNNKIT_PORTABLE"):
    FLAGS.append("-march=native")

ext_modules = []
if sys.platform != "win32":  # the C uses GCC/Clang attributes
    ext_modules.append(Extension(
        "rnnkit._fast._kernels",
        sources=["rnnkit/_fast/kernels.c"],
        depends=[f"rnnkit/_fast/{name}" for name in SOURCES[1:]],
        extra_compile_args=FLAGS,
        libraries=["m"],
        optional=True,
    ))

setup(
    ext_modules=ext_modules,
    package_data={"rnnkit._fast": list(SOURCES)},
)
