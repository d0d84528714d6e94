"""``rnnkit info``: what runs the recurrent kernels on this machine, and why.

Prints rnnkit's, Python's and NumPy's versions, then ``rnnkit._fast.status()``: the compiled
variant in use (the instruction-set level chosen for this CPU) or why the NumPy reference
kernels run, the levels this CPU can run, the most threads a call may use, and NumPy's BLAS
with its thread count. ``--json`` prints the same as one JSON object.
"""
import json
import platform
import sys

HELP = "show which compiled variant, BLAS and thread count run the kernels here (or why the reference runs)"
DESCRIPTION = """Which compiled variant of the native loops runs here (chosen for this CPU at load),
or why the NumPy reference kernels run instead; the CPU's levels, threads and NumPy's BLAS.

example:
  rnnkit info
  RNNKIT_CPU_VARIANT=x86-64-v2 rnnkit info --json"""


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def run(args):
    import numpy as np

    from .. import __version__, _fast
    from .._fast.report import details

    versions = f"rnnkit {__version__}, Python {platform.python_version()}, NumPy {np.__version__}"
    if args.json:
        _fast.available()  # loads (or fails to load) the library
        info = details(_fast._state)
        info["versions"] = versions
        print(json.dumps(info, indent=2, default=str))
    else:
        print(versions)
        print(_fast.status())
    sys.stdout.flush()
    return 0
