"""Data-parallel fit over MPI ranks: throughput, allreduce cost, and the scaling it predicts.

    python benchmarks/bench_distributed.py              # everything, about 5 minutes on a quiet 2-core machine
    python benchmarks/bench_distributed.py --quick      # fewer batch sizes and rounds
    python benchmarks/bench_distributed.py --json out.json
    python benchmarks/bench_distributed.py --network 100G-InfiniBand:2:12   # also predict for a cluster network

What it measures (every configuration is a fresh process or MPI job, run in rounds that alternate
the configurations so that load from other processes hits them alike; medians over rounds):

1. samples/s of ``fit`` at a fixed global batch for 1 rank x 1 thread, 1 rank x 2 threads and
   2 ranks x 1 thread (``mpiexec -n 2 python -m rnnkit.distributed.run --threads 1``);
2. in the 2-rank runs, the time of the per-step allreduce as a fraction of a step, split into
   waiting (a barrier before it: the slower rank's lag) and transfer (the allreduce itself);
3. the allreduce alone on 10 KB, 1 MB and 10 MB float32 buffers between 2 ranks;
4. the smallest per-rank batch at which 2 ranks beat 1 rank (a sweep of global batch sizes);
5. on paper: the step time at 8 and 64 ranks from the ring-allreduce cost model
   ``t_allreduce(p) = 2 (p-1)/p * n/B + 2 (p-1) * alpha`` (alpha and B fitted to item 3) plus
   the compute time of one rank's share of the batch (a line fitted to the 1-rank sweep).

The machine's load average is printed with the results: on a shared machine the numbers say
little; rerun it on a quiet one.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SIZES_BYTES = [10_000, 1_000_000, 10_000_000]


# ---------------------------------------------------------------------------------------------- workers
def _model_and_data(args, seed=0):
    import numpy as np

    import rnnkit
    from rnnkit import layers

    rng = np.random.default_rng(seed)
    count = args.samples
    x = rng.normal(size=(count, args.time, args.features)).astype(np.float32)
    y = rng.integers(0, args.classes, size=count)
    model = rnnkit.Sequential([layers.Input((args.time, args.features)), layers.LSTM(args.units, seed=1),
                               layers.Dense(args.classes, activation="softmax", seed=2)])
    return model, x, y


def worker_fit(args):
    """One configuration: time ``repeats`` epochs of fit; print one JSON line (rank 0)."""
    from rnnkit.distributed.threads import pin_threads

    pin_threads(args.threads)
    from rnnkit.distributed import launched_size

    distributed = launched_size() > 1
    timings = {"wait": 0.0, "transfer": 0.0, "calls": 0}
    if distributed:
        from rnnkit.distributed import DataParallel, replicas
        from rnnkit.distributed.world import world

        comm = world()
        original = replicas.allreduce_sum

        def timed_allreduce(buffer, comm_=None):
            start = time.perf_counter()
            comm.Barrier()  # waiting: until the slowest rank arrives
            middle = time.perf_counter()
            original(buffer, comm_)
            timings["wait"] += middle - start
            timings["transfer"] += time.perf_counter() - middle
            timings["calls"] += 1
            return buffer

        replicas.allreduce_sum = timed_allreduce
        strategy = DataParallel()
        with strategy.scope():
            model, x, y = _model_and_data(args)
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        rank = strategy.rank
    else:
        model, x, y = _model_and_data(args)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        rank = 0
    model.fit(x, y, batch_size=args.global_batch, epochs=1, verbose=0)  # warm-up (first-use build, caches)
    epochs = []
    for _ in range(args.repeats):
        timings.update(wait=0.0, transfer=0.0, calls=0)
        start = time.perf_counter()
        model.fit(x, y, batch_size=args.global_batch, epochs=1, verbose=0)
        elapsed = time.perf_counter() - start
        epochs.append({"seconds": elapsed, "wait": timings["wait"], "transfer": timings["transfer"],
                       "calls": timings["calls"]})
    if rank == 0:
        gradient_bytes = sum(v.value.nbytes for v in model.trainable_variables)
        best = min(epochs, key=lambda e: e["seconds"])
        median = sorted(epochs, key=lambda e: e["seconds"])[len(epochs) // 2]
        steps = -(-args.samples // args.global_batch)
        print(json.dumps({"samples_per_s": args.samples / median["seconds"], "step_ms": 1e3 * median["seconds"] / steps,
                          "best_samples_per_s": args.samples / best["seconds"],
                          "wait_ms": 1e3 * median["wait"] / steps, "transfer_ms": 1e3 * median["transfer"] / steps,
                          "gradient_bytes": gradient_bytes, "parameters": int(gradient_bytes // 4)}), flush=True)


def worker_allreduce(args):
    """Allreduce of float32 buffers of each size: median over ``repeats`` calls after a barrier."""
    import numpy as np

    from rnnkit.distributed.collectives import allreduce_sum
    from rnnkit.distributed.world import world

    comm = world()
    results = {}
    for size in SIZES_BYTES:
        buffer = np.ones(size // 4, np.float32)
        for _ in range(3):
            allreduce_sum(buffer, comm)
        times = []
        for _ in range(args.repeats):
            comm.Barrier()
            start = time.perf_counter()
            allreduce_sum(buffer, comm)
            times.append(time.perf_counter() - start)
        slowest = comm.allreduce(statistics.median(times), op=_mpi_max())
        results[str(size)] = 1e3 * slowest
    if comm.Get_rank() == 0:
        print(json.dumps({"allreduce_ms": results}), flush=True)


def _mpi_max():
    from rnnkit.distributed.world import mpi

    return mpi().MAX


# ---------------------------------------------------------------------------------------------- driver
def _env():
    return {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _run(command, timeout=900):
    done = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return json.loads(lines[-1])


def _model_args(args, global_batch):
    return ["--units", str(args.units), "--time", str(args.time), "--features", str(args.features),
            "--classes", str(args.classes), "--samples", str(args.samples), "--repeats", str(args.repeats),
            "--global-batch", str(global_batch)]


def configuration(args, ranks, threads, global_batch):
    script = os.path.abspath(__file__)
    worker = ["--worker", "fit", "--threads", str(threads), *_model_args(args, global_batch)]
    if ranks == 1:
        return [sys.executable, script, *worker]
    return [shutil.which("mpiexec"), "-n", str(ranks), sys.executable, "-m", "rnnkit.distributed.run", "--threads",
            str(threads), script, *worker]


def measure(args, configs, rounds):
    """{config: [result per round]}, configurations alternating within each round."""
    results = {config: [] for config in configs}
    for _ in range(rounds):
        for config in configs:
            results[config].append(_run(configuration(args, *config)))
    return results


def _median(rows, key):
    return statistics.median(row[key] for row in rows)


def ring_allreduce_ms(ranks, nbytes, alpha_ms, bandwidth_bytes_per_ms):
    """The ring-allreduce cost model: 2 (p-1)/p * n/B + 2 (p-1) * alpha."""
    if ranks == 1:
        return 0.0
    return 2 * (ranks - 1) / ranks * nbytes / bandwidth_bytes_per_ms + 2 * (ranks - 1) * alpha_ms


def fit_line(points):
    """Least-squares (intercept, slope) of y = a + b x through ``points`` [(x, y), ...]."""
    xs, ys = zip(*points)
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x in xs)
    return mean_y - slope * mean_x, slope


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=["fit", "allreduce"], help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--units", type=int, default=64, help="LSTM units (default 64)")
    parser.add_argument("--time", type=int, default=20, help="time steps per sample (default 20)")
    parser.add_argument("--features", type=int, default=16, help="input features (default 16)")
    parser.add_argument("--classes", type=int, default=10, help="softmax classes (default 10)")
    parser.add_argument("--samples", type=int, default=512, help="samples per timed epoch (default 512)")
    parser.add_argument("--global-batch", type=int, default=64, help="global batch of the main table (default 64)")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per run (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds over the configurations")
    parser.add_argument("--sweep", default="4,8,16,32,64,128", help="global batch sizes of the 2-rank break-even sweep")
    parser.add_argument("--quick", action="store_true", help="2 rounds, sweep 8,32,128")
    parser.add_argument("--json", help="also write every number to this file")
    parser.add_argument("--network", action="append", default=[], metavar="NAME:ALPHA_US:GB_PER_S",
                        help="also predict with this interconnect's latency and bandwidth, e.g. "
                             "'100G-InfiniBand:2:12' (repeatable)")
    args = parser.parse_args(argv)
    if args.worker == "fit":
        return worker_fit(args)
    if args.worker == "allreduce":
        args.repeats = max(args.repeats, 20)
        return worker_allreduce(args)
    if shutil.which("mpiexec") is None:
        parser.error("mpiexec not found: pip install \"rnnkit[mpich]\"")
    if args.quick:
        args.rounds, args.sweep = 2, "8,32,128"
    sweep = [int(b) for b in args.sweep.split(",")]
    load_before = os.getloadavg()

    main_configs = [(1, 1, args.global_batch), (1, 2, args.global_batch), (2, 1, args.global_batch)]
    main_table = measure(args, main_configs, args.rounds)
    micro = [_run([shutil.which("mpiexec"), "-n", "2", sys.executable, "-m", "rnnkit.distributed.run",
                   os.path.abspath(__file__), "--worker", "allreduce", "--repeats", "50"]) for _ in range(args.rounds)]
    allreduce = {size: statistics.median(m["allreduce_ms"][str(size)] for m in micro) for size in SIZES_BYTES}
    sweep_configs = [(ranks, threads, batch) for batch in sweep for ranks, threads in ((1, 1), (1, 2), (2, 1))
                     if (ranks, threads, batch) not in main_configs]
    sweep_table = {**main_table, **measure(args, sweep_configs, args.rounds)}
    load_after = os.getloadavg()

    report = {"load_before": load_before, "load_after": load_after, "cores": os.cpu_count(), "model": {
        "units": args.units, "time": args.time, "features": args.features, "classes": args.classes,
        "samples": args.samples}, "allreduce_ms": allreduce, "runs": {}}
    print(f"# bench_distributed: LSTM({args.units}) on ({args.time}, {args.features}) -> Dense({args.classes}), "
          f"{args.samples} samples/epoch, {args.rounds} rounds x {args.repeats} epochs")
    print(f"# load average before {load_before[0]:.1f}, after {load_after[0]:.1f} on {os.cpu_count()} cores")
    gradient_bytes = main_table[main_configs[0]][0]["gradient_bytes"]
    print(f"# gradient buffer {gradient_bytes / 1e3:.0f} KB ({gradient_bytes // 4} float32 parameters)\n")

    print(f"## fixed global batch {args.global_batch}")
    print("| configuration | samples/s (median) | step ms | allreduce wait ms | allreduce transfer ms | "
          "allreduce / step |")
    print("|---|---|---|---|---|---|")
    for ranks, threads, batch in main_configs:
        rows = main_table[(ranks, threads, batch)]
        step, wait, transfer = _median(rows, "step_ms"), _median(rows, "wait_ms"), _median(rows, "transfer_ms")
        fraction = f"{(wait + transfer) / step:.1%} ({wait / step:.1%} wait + {transfer / step:.1%} transfer)" \
            if ranks > 1 else "-"
        label = f"{ranks} rank{'s' if ranks > 1 else ''} x {threads} thread{'s' if threads > 1 else ''}"
        print(f"| {label} | {_median(rows, 'samples_per_s'):.0f} | {step:.1f} | "
              f"{wait:.2f} | {transfer:.2f} | {fraction} |")

    print("\n## allreduce alone, 2 ranks (median of 50 calls, slowest rank)")
    print("| buffer | ms | GB/s (n / t) |")
    print("|---|---|---|")
    for size in SIZES_BYTES:
        print(f"| {size / 1e6:g} MB | {allreduce[size]:.3f} | {size / allreduce[size] / 1e6:.2f} |")
    bandwidth = (SIZES_BYTES[2] - SIZES_BYTES[1]) / max(allreduce[SIZES_BYTES[2]] - allreduce[SIZES_BYTES[1]], 1e-9)
    alpha = max((allreduce[SIZES_BYTES[0]] - SIZES_BYTES[0] / bandwidth) / 2, 0.0)
    print(f"\nfitted for p = 2 (t = n/B + 2 alpha): B = {bandwidth / 1e6:.2f} GB/s, alpha = {1e3 * alpha:.1f} us")

    print("\n## break-even sweep (samples/s, median)")
    print("| global batch | per-rank batch (2 ranks) | 1 x 1 | 1 x 2 | 2 x 1 | 2 ranks win over |")
    print("|---|---|---|---|---|---|")
    wins = {"1x1": None, "1x2": None}
    points = []
    for batch in sweep:
        rates = {key: _median(sweep_table[(r, t, batch)], "samples_per_s") for key, (r, t) in
                 (("1x1", (1, 1)), ("1x2", (1, 2)), ("2x1", (2, 1)))}
        points.append((batch, _median(sweep_table[(1, 1, batch)], "step_ms")))
        beaten = [key for key in ("1x1", "1x2") if rates["2x1"] > rates[key]]
        for key in beaten:
            wins[key] = batch // 2 if wins[key] is None else wins[key]
        print(f"| {batch} | {batch // 2} | {rates['1x1']:.0f} | {rates['1x2']:.0f} | {rates['2x1']:.0f} | "
              f"{', '.join(beaten) or 'neither'} |")
    print(f"\nsmallest per-rank batch at which 2 ranks win: over 1 rank x 1 thread: {wins['1x1']}, "
          f"over 1 rank x 2 threads: {wins['1x2']}")

    intercept, per_sample = fit_line(points)
    networks = [("this machine", alpha, bandwidth)]
    for spec in args.network:
        name, alpha_us, gb_per_s = spec.rsplit(":", 2)
        networks.append((name, float(alpha_us) / 1e3, float(gb_per_s) * 1e6))
    prediction = []
    for name, net_alpha, net_bandwidth in networks:
        print(f"\n## on paper: ring allreduce over {name} (alpha {1e3 * net_alpha:.1f} us, B "
              f"{net_bandwidth / 1e6:.2f} GB/s); compute t(b) = {intercept:.2f} ms + {per_sample:.3f} ms x b per "
              f"step, fitted to the 1 x 1 sweep")
        print("| ranks | global batch | per-rank batch | compute ms | allreduce ms | step ms | speed-up over 1 rank |")
        print("|---|---|---|---|---|---|---|")
        for global_batch in (args.global_batch, 1024):
            one = intercept + per_sample * global_batch
            for ranks in (1, 2, 8, 64):
                local = global_batch / ranks
                if local < 1:
                    continue
                compute = intercept + per_sample * local
                reduce_ms = ring_allreduce_ms(ranks, gradient_bytes, net_alpha, net_bandwidth)
                step = compute + reduce_ms
                prediction.append({"network": name, "ranks": ranks, "global_batch": global_batch, "step_ms": step,
                                   "speedup": one / step})
                print(f"| {ranks} | {global_batch} | {local:g} | {compute:.2f} | {reduce_ms:.3f} | {step:.2f} | "
                      f"{one / step:.2f} |")
    report["runs"] = {f"{r}x{t}@{b}": rows for (r, t, b), rows in sweep_table.items()}
    report.update(bandwidth_gb_s=bandwidth / 1e6, alpha_us=1e3 * alpha, compute_intercept_ms=intercept,
                  compute_per_sample_ms=per_sample, wins=wins, prediction=prediction)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
