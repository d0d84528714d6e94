"""Find or build the native loop library (plain C, loaded with ctypes), for this CPU's variant.

The library exists in several variants, one per instruction-set level (``cpu.py``); the best one
this CPU can run is taken. Lookup order, for each variant the CPU supports, best first:
1. the library ``setup.py`` built at install time next to this file (``_loops_<tag>`` + the
   interpreter's extension suffix), if it was built from the sources now here (an edited source
   tree gets a fresh build);
then, when none is installed, for the best supported variant the compiler can target:
2. a copy compiled earlier into the cache directory, keyed by a hash of the C sources, the
   compiler, its flags, the variant and the CPU's features;
3. compile now with the system C compiler into that cache (about 1.2 s on two cores, once per
   machine and source version; a line on stderr says so when it takes longer than half a second),
   atomically so concurrent processes never load a half-written file.

Never ``-march=native``: a cached library on a shared home directory may be loaded by another
machine, which loads it only when its CPU has the variant's features.

The cache directory is ``$RNNKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/rnnkit``, else
``~/.cache/rnnkit``. ``RNNKIT_NO_COMPILE=1`` forbids step 3.
"""
import ctypes
import hashlib
import importlib.machinery
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time

try:
    from . import cpu
except ImportError:  # loaded by path from setup.py
    import importlib.util

    _spec = importlib.util.spec_from_file_location("_rnnkit_cpu", os.path.join(os.path.dirname(__file__), "cpu.py"))
    cpu = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(cpu)

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = ("loops.c", "loops_impl.h", "simd.h", "step_gemm.h", "vector_ops.h")
LIBRARY_PREFIX = "_loops"
#: -O1 plus the vectoriser, and the pass that fuses a * b + c into FMAs, compiles in about half the time
#: of -O2 and the loops run as fast (measured). It keeps the first-use pause of a source checkout short.
BASE_FLAGS = ["-O1", "-ftree-vectorize", "-fvect-cost-model=dynamic", "-fexpensive-optimizations", "-fPIC",
              "-shared", "-fno-math-errno", "-pthread"]
#: setup.py's flags (compile time does not matter there)
INSTALL_FLAGS = ["-O2", "-ftree-vectorize", "-fvect-cost-model=dynamic", "-fno-math-errno", "-pthread"]
#: a first-use compile that takes longer than this says so on stderr
ANNOUNCE_AFTER_S = 0.5

#: what the last load_library() chose: variant name, path, "installed" / "cached" / "compiled"
#: (with the seconds it took), and why better variants were passed over
LOADED = {}


class BuildError(RuntimeError):
    """The native loop library could not be found nor compiled."""


def source_hash():
    """sha256 (16 hex digits) of the C sources; setup.py compiles it into the libraries it builds."""
    digest = hashlib.sha256()
    for name in SOURCES:
        with open(os.path.join(HERE, name), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


def library_name(variant):
    """Module name (without the extension suffix) of ``variant``'s library: ``_loops_x86_64_v3``."""
    return f"{LIBRARY_PREFIX}_{variant.tag}"


def defines(variant):
    """The -D flags every build of ``variant`` gets: the source hash and the variant's name."""
    return [f'-DRK_SOURCE_HASH="{source_hash()}"', f'-DRK_VARIANT="{variant.name}"']


def installed_library(variant):
    """Path of ``variant``'s library built by setup.py from the sources now next to it, or None."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(HERE, library_name(variant) + suffix)
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


_accepted = {}


def target_flags(cc, variant):
    """The first of ``variant``'s flag sets that ``cc`` accepts (an empty C file compiles), or None."""
    key = (tuple(cc), variant.name)
    if key not in _accepted:
        _accepted[key] = None
        for flags in variant.flags:
            try:
                ok = subprocess.run(cc + flags + ["-x", "c", "-c", "-o", os.devnull, "-"], input="int rk;\n",
                                    capture_output=True, text=True, timeout=60).returncode == 0
            except (OSError, subprocess.SubprocessError):
                ok = False
            if ok:
                _accepted[key] = list(flags)
                break
    return _accepted[key]


def _cache_key(flags, cc, variant):
    digest = hashlib.sha256(source_hash().encode())
    for part in (" ".join(cc + flags), variant.name, cpu.feature_key(), sysconfig.get_platform()):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


def _wait_announcing(jobs, variant, target):
    """Wait for the compiler processes; past ANNOUNCE_AFTER_S, say once on stderr what is going on."""
    deadline = time.monotonic() + ANNOUNCE_AFTER_S
    for job in jobs:
        try:
            job.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"rnnkit: compiling its native loops for {variant.name} (first use on this machine; "
                  f"cached in {os.path.dirname(target)})", file=sys.stderr, flush=True)
            break
    return [job.communicate()[1] for job in jobs if job.wait() != 0]


def _compile(cc, flags, target, variant):
    """Compile loops.c into ``target``: its two halves (RK_PART, see loops.c) as two compiler
    processes side by side, then one link (measured 1.1-1.2 s against 2.0 s for one process, on the
    2-core machines); written under a temporary name and renamed, so a concurrent loader never sees a
    half-written file."""
    directory = os.path.dirname(target)
    os.makedirs(directory, exist_ok=True)
    source = os.path.join(HERE, "loops.c")
    compile_flags = [flag for flag in flags if flag != "-shared"] + defines(variant)
    with tempfile.TemporaryDirectory(dir=directory) as work:
        objects = [os.path.join(work, f"part{part}.o") for part in (1, 2)]
        jobs = [subprocess.Popen(cc + compile_flags + [f"-DRK_PART={part}", "-c", "-o", obj, source],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for part, obj in zip((1, 2), objects)]
        failures = _wait_announcing(jobs, variant, target)
        if failures:
            raise BuildError(f"compiling rnnkit's native loops failed ({' '.join(cc + compile_flags)}):\n"
                             f"{failures[0][-2000:]}")
        library = os.path.join(work, "loops.so")
        result = subprocess.run(cc + ["-shared", "-pthread", "-o", library] + objects + ["-lm"],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"linking rnnkit's native loops failed:\n{result.stderr[-2000:]}")
        os.replace(library, target)  # atomic: a concurrent loader sees the old file or the new one


def cached_library(variant, allow_compile=True):
    """``(path, how)`` of ``variant``'s library in the cache, compiling it if needed and allowed;
    how is 'cached' or 'compiled'. Raises BuildError when the compiler cannot target the variant."""
    cc = compiler()
    flags = target_flags(cc, variant)
    if flags is None:
        raise BuildError(f"{' '.join(cc)} cannot compile for {variant.name}")
    flags = BASE_FLAGS + flags
    target = os.path.join(cache_dir(), f"loops-{variant.tag}-{_cache_key(flags, cc, variant)}.so")
    if os.path.exists(target):
        return target, "cached"
    if not allow_compile:
        raise BuildError("not in the cache, and RNNKIT_NO_COMPILE forbids compiling")
    start = time.perf_counter()
    _compile(cc, flags, target, variant)
    return target, f"compiled in {time.perf_counter() - start:.1f} s"


def load_library():
    """ctypes handle of the best native loop library for this CPU, and its path; fills LOADED.

    Raises BuildError (saying why) when there is none: no variant for this CPU, none installed
    and no compiler, or compiling disabled."""
    LOADED.clear()
    usable = cpu.supported()
    if not usable:
        raise BuildError(f"this CPU has none of the variants the native loops are built for "
                         f"({', '.join(v.name for v in cpu.variants())})")
    lacking = [f"{v.name} (this CPU lacks it)" for v in cpu.variants()[:cpu.variants().index(usable[0])]]
    for rank, variant in enumerate(usable):
        path = installed_library(variant)
        if path is not None:
            return _record(path, variant, "installed", lacking + [f"{v.name} (not installed)" for v in usable[:rank]])
    errors = []
    allow_compile = not os.environ.get("RNNKIT_NO_COMPILE")
    for variant in usable:
        try:
            path, how = cached_library(variant, allow_compile)
            return _record(path, variant, how, lacking + errors)
        except (BuildError, OSError) as exc:
            errors.append(f"{variant.name} ({exc})")
    raise BuildError(f"no installed library and none could be built: {'; '.join(errors)}")


def _record(path, variant, how, passed_over):
    library = ctypes.CDLL(path)
    LOADED.update(variant=variant.name, path=path, how=how, passed_over=passed_over)
    return library, path
