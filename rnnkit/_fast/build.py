"""Find or build the compiled kernel library (plain C, loaded with ctypes).

Lookup order:
1. the library ``setup.py`` built at install time next to this file
   (``_kernels`` + the interpreter's extension suffix), if it was built from the
   sources now here (an edited source tree gets a fresh build);
2. a copy compiled earlier into the cache directory, keyed by a hash of the C
   sources, the compiler and its flags;
3. compile now with the system C compiler into that cache (about 1.2 s on two
   cores, once per machine and source version), atomically so concurrent
   processes never load a half-written file.

The cache directory is ``$RNNKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/rnnkit``,
else ``~/.cache/rnnkit``. ``RNNKIT_NO_COMPILE=1`` forbids step 3.
"""
import ctypes
import hashlib
import importlib.machinery
import os
import shlex
import shutil
import subprocess
import sysconfig
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = ("kernels.c", "kernels_impl.h", "simd.h", "lstm_fused.h")
LIBRARY_NAME = "_kernels"
#: -O1 plus the vectoriser, and the pass that fuses a * b + c into FMAs, compiles in about half the time
#: of -O2 and the kernels run as fast (measured). It keeps the first-use pause of a source checkout short.
BASE_FLAGS = ["-O1", "-ftree-vectorize", "-fvect-cost-model=dynamic", "-fexpensive-optimizations", "-fPIC",
              "-shared", "-fno-math-errno", "-pthread"]
#: the machine that compiles is the machine that runs, so use all of its vector units
NATIVE_FLAGS = ["-march=native"]


class BuildError(RuntimeError):
    """The kernel library could not be found nor compiled."""


def source_hash():
    """sha256 (16 hex digits) of the C sources; setup.py compiles it into the library it builds."""
    digest = hashlib.sha256()
    for name in SOURCES:
        with open(os.path.join(HERE, name), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


def installed_library():
    """Path of the library built by setup.py from the sources now next to it, or None."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(HERE, LIBRARY_NAME + suffix)
        if os.path.exists(path) and _built_from_current_sources(path):
            return path
    return None


def _built_from_current_sources(path):
    try:
        function = ctypes.CDLL(path).rk_source_hash
    except (OSError, AttributeError):  # unloadable, or older than the hash
        return False
    function.restype = ctypes.c_char_p
    return function().decode() == source_hash()


def cache_dir():
    if os.environ.get("RNNKIT_CACHE_DIR"):
        return os.environ["RNNKIT_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "rnnkit")


def compiler():
    """The C compiler command as a list (CC from the environment or Python's build config, else cc)."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    command = shlex.split(cc)
    if not shutil.which(command[0]):
        for fallback in ("cc", "gcc", "clang"):
            if shutil.which(fallback):
                return [fallback]
        raise BuildError(f"no C compiler found (tried {cc!r}, cc, gcc, clang)")
    return command


def _cache_key(flags, cc):
    digest = hashlib.sha256(source_hash().encode())
    digest.update(" ".join(cc + flags).encode())
    digest.update(sysconfig.get_platform().encode())
    return digest.hexdigest()[:16]


def _compile(cc, flags, target):
    """Compile kernels.c into ``target``: its two halves (RK_PART, see kernels.c) as two compiler
    processes side by side, then one link (measured 1.1-1.2 s against 2.0 s for one process, on the
    2-core machines); written under a temporary name and renamed, so a concurrent loader never sees a
    half-written file."""
    directory = os.path.dirname(target)
    os.makedirs(directory, exist_ok=True)
    source = os.path.join(HERE, "kernels.c")
    compile_flags = [flag for flag in flags if flag != "-shared"]
    with tempfile.TemporaryDirectory(dir=directory) as work:
        objects = [os.path.join(work, f"part{part}.o") for part in (1, 2)]
        jobs = [subprocess.Popen(cc + compile_flags + [f"-DRK_PART={part}", "-c", "-o", obj, source],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for part, obj in zip((1, 2), objects)]
        failures = [job.communicate()[1] for job in jobs if job.wait() != 0]
        if failures:
            raise BuildError(f"compiling rnnkit kernels failed ({' '.join(cc + compile_flags)}):\n"
                             f"{failures[0][-2000:]}")
        library = os.path.join(work, "kernels.so")
        result = subprocess.run(cc + ["-shared", "-pthread", "-o", library] + objects + ["-lm"],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"linking rnnkit kernels failed:\n{result.stderr[-2000:]}")
        os.replace(library, target)  # atomic: a concurrent loader sees the old file or the new one


def cached_library(allow_compile=True):
    """Path of a cached compiled library, compiling it if needed and allowed."""
    cc = compiler()
    errors = []
    for flags in (BASE_FLAGS + NATIVE_FLAGS, BASE_FLAGS):
        target = os.path.join(cache_dir(), f"kernels-{_cache_key(flags, cc)}.so")
        if os.path.exists(target):
            return target
        if not allow_compile:
            continue
        try:
            _compile(cc, flags, target)
            return target
        except (BuildError, OSError) as exc:  # e.g. a compiler without -march=native: retry plain
            errors.append(str(exc))
    raise BuildError("; ".join(errors) or "no cached rnnkit kernel library and compiling is disabled")


def load_library():
    """ctypes handle of the kernel library; raises BuildError when there is none."""
    path = installed_library()
    if path is None:
        path = cached_library(allow_compile=not os.environ.get("RNNKIT_NO_COMPILE"))
    return ctypes.CDLL(path), path
