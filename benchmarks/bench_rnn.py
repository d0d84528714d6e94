"""Side-by-side CPU speed of rnnkit's recurrent kernels and PyTorch's, in one process.

For SimpleRNN, LSTM and GRU at several (batch, time, input, hidden) sizes it times
training (forward + backward, gradients of the weights, the input and the initial
state) and inference (forward only), takes the median of repeated runs, and prints
milliseconds, the rnnkit/PyTorch speed ratio (PyTorch time / rnnkit time: above 1.0
means rnnkit is faster) and GFLOP/s against the measured NumPy sgemm peak.

    python benchmarks/bench_rnn.py                     # every cell and size
    python benchmarks/bench_rnn.py --cells lstm --repeats 5
    python benchmarks/bench_rnn.py --reference         # NumPy reference ops instead of the compiled path
    python benchmarks/bench_rnn.py --memory            # add peak memory of one training step
    python benchmarks/bench_rnn.py --threads 1 --clock cpu   # CPU time: steady on a busy machine

Both libraries use the same number of threads (``--threads``, default: all cores).
"""
import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

SIZES = [(1, 100, 16, 32), (16, 50, 32, 64), (32, 100, 128, 128), (64, 100, 256, 256), (64, 100, 512, 512)]
CELLS = ["simple_rnn", "lstm", "gru"]
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}


def set_threads(threads):
    """Pin OpenBLAS (through the environment, before NumPy loads) and PyTorch to ``threads``."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)


def training_flops(cell, batch, time_, features, units):
    """GEMM flops of forward + backward: the forward's (x W, h U) three times (forward, d-input, d-weights)."""
    return 3 * forward_flops(cell, batch, time_, features, units)


def forward_flops(cell, batch, time_, features, units):
    return 2 * batch * time_ * (features + units) * GATES[cell] * units


#: the clock timings use: wall time (default) or, with --clock cpu, the CPU time of every thread of the
#: process (insensitive to other processes taking the cores; spin-waiting threads count)
CLOCK = time.perf_counter


def median_ms(fn, repeats, min_time=0.2):
    """Median time of ``fn()`` in ms over ``repeats`` runs (more for fast functions), after a warm-up."""
    return paired_ms([fn], repeats, min_time)[0]


def paired_ms(fns, repeats, min_time=0.3):
    """Median times (ms) of each of ``fns``, measured in alternating blocks (a a a, b b b, a a a, ...)
    so that load from other processes hits all of them alike; at least ``repeats`` runs each, more
    for fast functions, two counted runs per block (short blocks: a burst of load on this shared
    machine lands on both libraries, not on one block of one). The first run of each block is not
    counted: the other library's thread pool may still be spinning from its last call (OpenMP and
    OpenBLAS both spin before they sleep)."""
    once = []
    for fn in fns:
        fn()  # warm-up: caches, allocator, lazy loading
        start = CLOCK()
        fn()
        once.append(CLOCK() - start)
    runs = max(repeats, min(200, int(min_time / max(sum(once), 1e-6))))
    blocks = max(3, -(-runs // 2))
    per_block = -(-runs // blocks)
    samples = [[] for _ in fns]
    for _ in range(blocks):
        for fn, out in zip(fns, samples):
            fn()
            for _ in range(per_block):
                start = CLOCK()
                fn()
                out.append(CLOCK() - start)
    return [1e3 * statistics.median(out) for out in samples]


def sgemm_peak(np):
    """Measured float32 GEMM throughput of NumPy's BLAS in GFLOP/s (n = 1024 square)."""
    n = 1024
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b = a.T.copy()
    ms = median_ms(lambda: a @ b, 5)
    return 2 * n ** 3 / (ms * 1e-3) / 1e9


def rnnkit_params(np, cell, features, units, rng):
    """Keras-layout weights of one layer, float32."""
    gates = GATES[cell]
    scale = 1.0 / np.sqrt(units)
    params = {
        "kernel": rng.uniform(-scale, scale, (features, gates * units)),
        "recurrent_kernel": rng.uniform(-scale, scale, (units, gates * units)),
        "bias": rng.uniform(-scale, scale, (2, gates * units) if cell == "gru" else (gates * units,)),
    }
    return {k: v.astype(np.float32) for k, v in params.items()}


def rnnkit_options(cell):
    if cell == "simple_rnn":
        return dict(activation="tanh", zero_output_for_mask=False)
    if cell == "lstm":
        return dict(activation="tanh", recurrent_activation="sigmoid", forget_bias=0.0,
                    coupled_input_forget=False, cell_clip=None, proj_clip=None, zero_output_for_mask=False)
    return dict(activation="tanh", recurrent_activation="sigmoid", reset_after=True, zero_output_for_mask=False)


def rnnkit_ops(cell):
    """The (forward, backward) pair a cell of kind ``cell`` runs: the compiled twins by default, the NumPy
    reference with --reference (RNNKIT_BENCH_REFERENCE set)."""
    from rnnkit import cells
    from rnnkit.cells import dispatch

    reference = {"simple_rnn": cells.SimpleRNNCell, "lstm": cells.LSTMCell, "gru": cells.GRUCell}[cell].reference_ops
    return reference if os.environ.get("RNNKIT_BENCH_REFERENCE") else dispatch.active(reference)


def rnnkit_case(cell, batch, time_, features, units):
    """(train, infer) closures running the ops a cell of kind ``cell`` runs, on random float32 data."""
    import numpy as np
    from rnnkit import ops

    forward, backward = rnnkit_ops(cell)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, time_, features)).astype(np.float32)
    state0 = tuple(np.zeros((batch, units), np.float32) for _ in range(2 if cell == "lstm" else 1))
    params = rnnkit_params(np, cell, features, units, rng)
    d_out = rng.standard_normal((batch, time_, units)).astype(np.float32)
    options = rnnkit_options(cell)

    def train():
        _, _, cache = forward(x, state0, params, **options)
        backward(d_out, None, cache)

    def infer():  # as Model.predict runs it, and like torch's under no_grad
        with ops.no_grad():
            forward(x, state0, params, **options)

    return train, infer


def torch_case(cell, batch, time_, features, units):
    """(train, infer) closures running torch.nn.RNN/LSTM/GRU (batch_first, float32)."""
    import torch

    module = {"simple_rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
        features, units, batch_first=True)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, time_, features, generator=gen, requires_grad=True)
    d_out = torch.randn(batch, time_, units, generator=gen)

    def train():
        module.zero_grad(set_to_none=True)
        x.grad = None
        out, _ = module(x)
        out.backward(d_out)

    def infer():
        with torch.no_grad():
            module(x)

    return train, infer


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.machine()}, Python {platform.python_version()}"


def memory_child(lib, cell, size):
    """Run in a subprocess: peak RSS growth (MiB) over one training step, inputs and weights excluded.

    A tiny step first loads everything lazy (kernel library, thread pools), so the growth is what
    the step itself holds at its peak: caches, gradients, scratch.
    """
    make = rnnkit_case if lib == "rnnkit" else torch_case
    make(cell, 2, 3, 4, 5)[0]()
    train, _ = make(cell, *size)
    before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak-RSS mark (VmHWM): imports may have set it higher than this step goes
    train()
    print((_status_kib("VmHWM") - before) / 1024.0)


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_memory(lib, cell, size, threads):
    env = dict(os.environ)
    cmd = [sys.executable, __file__, "--memory-child", lib, cell, ",".join(map(str, size)), "--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    return float(out.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default=",".join(CELLS))
    parser.add_argument("--sizes", default=None, help="e.g. 1,100,16,32;64,100,512,512")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--reference", action="store_true", help="time the NumPy reference ops")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall time, or process CPU time (robust on a shared machine; use with --threads 1)")
    parser.add_argument("--memory", action="store_true", help="peak memory of a training step at the largest size")
    parser.add_argument("--memory-child", nargs=3, metavar=("LIB", "CELL", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    if args.memory_child:
        lib, cell, size = args.memory_child
        memory_child(lib, cell, tuple(int(v) for v in size.split(",")))
        return
    if args.reference:
        os.environ["RNNKIT_BENCH_REFERENCE"] = "1"
    cells = args.cells.split(",")
    sizes = SIZES if args.sizes is None else [tuple(int(v) for v in s.split(",")) for s in args.sizes.split(";")]

    peak = sgemm_peak(np)
    kinds = {}
    for cell in cells:
        forward = rnnkit_ops(cell)[0]
        kinds[cell] = f"{forward.__module__}.{forward.__name__}"
    print(f"machine: {machine()}")
    print(f"threads: {args.threads} (OpenBLAS and torch.set_num_threads); NumPy {np.__version__}, "
          f"torch {torch.__version__}; sgemm peak {peak:.0f} GFLOP/s; median of >= {args.repeats} runs in alternating blocks, {args.clock} clock")
    for cell, kind in kinds.items():
        print(f"rnnkit {cell} ops: {kind}")
    if not args.reference:
        import rnnkit
        from rnnkit import _fast
        print("rnnkit " + _fast.status().splitlines()[0] + f"; up to {rnnkit.get_num_threads()} threads per call")
    header = (f"{'cell':<10} {'B,T,I,H':<15} | {'train ms':>9} {'torch':>9} {'ratio':>6} {'GF/s':>6} {'%pk':>4} | "
              f"{'infer ms':>9} {'torch':>9} {'ratio':>6} {'GF/s':>6} {'%pk':>4}")
    print(header)
    print("-" * len(header))
    for cell in cells:
        for size in sizes:
            r_train, r_infer = rnnkit_case(cell, *size)
            t_train, t_infer = torch_case(cell, *size)
            row = []
            for r_fn, t_fn, flops in ((r_train, t_train, training_flops(cell, *size)),
                                      (r_infer, t_infer, forward_flops(cell, *size))):
                r_ms, t_ms = paired_ms([r_fn, t_fn], args.repeats)
                gflops = flops / (r_ms * 1e-3) / 1e9
                row.append(f"{r_ms:9.2f} {t_ms:9.2f} {t_ms / r_ms:6.2f} {gflops:6.1f} {100 * gflops / peak:3.0f}%")
            print(f"{cell:<10} {','.join(map(str, size)):<15} | {row[0]} | {row[1]}", flush=True)
    if args.memory:
        size = max(sizes, key=lambda s: s[0] * s[1] * s[3])
        print(f"\npeak memory of one training step at B,T,I,H = {','.join(map(str, size))} "
              f"(MiB: peak RSS during the step minus RSS before it, each in a fresh process; Linux only)")
        for cell in cells:
            mine = peak_memory("rnnkit", cell, size, args.threads)
            theirs = peak_memory("torch", cell, size, args.threads)
            print(f"{cell:<10} rnnkit {mine:8.1f}  torch {theirs:8.1f}")


if __name__ == "__main__":
    main()
