"""Build hook for the optional compiled kernels; all metadata lives in pyproject.toml.

``rnnkit/_fast/kernels.c`` is plain C (no Python headers) that rnnkit loads with
ctypes. It is built here as an optional extension: when no working C compiler is
found the install still succeeds, and rnnkit compiles the same source on first use
(cached) or runs its NumPy reference kernels. The library is compiled for the
installing machine (-march=native); set RNNKIT_PORTABLE=1 when building a wheel
for other machines.
"""
import hashlib
import os
import sys

from setuptools import Extension, setup

SOURCES = ("kernels.c", "kernels_impl.h", "simd.h", "lstm_fused.h")  # rnnkit/_fast/build.py: SOURCES


def source_hash():
    """What rnnkit/_fast/build.py.source_hash computes: the loader checks the library against it."""
    digest = hashlib.sha256()
    for name in SOURCES:
        with open(os.path.join("rnnkit", "_fast", name), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


FLAGS = ["-O2", "-ftree-vectorize", "-fvect-cost-model=dynamic", "-fno-math-errno", "-pthread",
         f'-DRK_SOURCE_HASH="{source_hash()}"']
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
