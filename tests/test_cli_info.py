"""``rnnkit info``: the compiled variant (or why the reference runs), the CPU's levels, threads, BLAS."""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def info(*args, **env):
    return subprocess.run([sys.executable, "-m", "rnnkit.cli", "info", *args], capture_output=True, text=True,
                          timeout=120, cwd=REPO, env={**os.environ, "PYTHONPATH": REPO, **env})


def test_info_names_the_variant_blas_and_threads():
    from rnnkit import _fast

    done = info()
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("rnnkit ")
    assert any(line.startswith("cpu: ") for line in lines) and any(line.startswith("blas: ") for line in lines)
    assert any(line.startswith("threads: at most ") for line in lines)
    if _fast.available():
        assert lines[1].startswith("kernels: compiled loops, variant ")
    else:
        assert lines[1].startswith("kernels: NumPy reference, because ")


def test_info_json_and_the_reason_for_the_reference():
    done = info("--json", RNNKIT_FAST="0")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["kernels"] == "reference" and data["fallback"] == "disabled by RNNKIT_FAST"
    assert data["threads"] >= 1 and "blas" in data and data["versions"].startswith("rnnkit ")
    done = info("--json", RNNKIT_NUM_THREADS="3")
    assert json.loads(done.stdout)["threads"] == 3
