"""Training speed of ``fit`` end to end: rnnkit against Keras 3 and a plain PyTorch loop, in one process.

Four models, the same architecture and data for every library:

    digits  LSTM(64) + Dense(10, softmax) on the 8x8 digits read row by row (rnnkit/data), batch 32
    action  the tutorials' action model: LSTM(64, relu, seq) -> LSTM(128, relu, seq) -> LSTM(64, relu)
            -> Dense(64, relu) -> Dense(32, relu) -> Dense(3, softmax) on (5, 126) frames, batch 32
    imdb    Embedding(20000, 128) + Bidirectional(LSTM(64)) + Dense(1, sigmoid) on length-200
            reviews (synthetic ids), batch 32
    chars   GRU(256, seq) + Dense(65) over 100 steps of 65 one-hot characters, next-character
            cross-entropy from logits, batch 64

Libraries: rnnkit's ``fit``; Keras 3's ``fit`` on the torch backend (in this process) and on the
tensorflow backend (in a worker process, one per thread count, driven step by step from here, so
its runs alternate with the others like the rest); a plain PyTorch loop (``zero_grad``, forward,
loss, ``backward``, Adam ``step``, ``loss.item()``), its batches shuffled each epoch like ``fit``.
PyTorch has no ReLU LSTM: its action model uses ``nn.LSTM`` (tanh), the same products. Adam with
Keras's defaults everywhere; no metrics.

Each (model, load) case runs every (library, thread count) in turn, rotating the order each round,
and reports the median samples/s of ``--repeats`` rounds (a run stops at the end of the batch that
passes ``--max-seconds``, 4 s with ``--quick``, and its rate counts the samples it did: a library
whose threads collapse under a competing process costs seconds, not minutes); ratios are taken
within a case, so a burst of load from elsewhere lands on every library alike. "busy" runs one competing process
(``python -c "while True: pass"``) beside the case. Threads: ``rnnkit.set_num_threads(n)`` and
NumPy's BLAS limited to n (threadpoolctl), ``torch.set_num_threads(n)`` (Keras's torch backend
too), TensorFlow's intra- and inter-op threads.

Streaming inference: the latency of one step of a stateful LSTM(64) / GRU(64) at batch 1 (32 input
features) called from Python step by step: rnnkit's layer under ``rnnkit.no_grad()`` and its
``Sequential.predict_on_batch``, against ``torch.nn.LSTM/GRU`` with the hidden state carried,
under ``torch.no_grad()``.

    python benchmarks/bench_fit.py                # everything: 4 models x quiet/busy x 1/2 threads
    python benchmarks/bench_fit.py --quick        # fewer samples and rounds (a few minutes)
    python benchmarks/bench_fit.py --models digits,chars --loads quiet --threads 2
    python benchmarks/bench_fit.py --keras torch  # skip the tensorflow worker (or: none)
    python benchmarks/bench_fit.py --no-fit       # streaming only
"""
import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODELS = ("digits", "action", "imdb", "chars")
#: samples per timed run and epochs per timed fit call (full, quick)
SIZES = {"digits": ((1797, 2), (1797, 1)), "action": ((2048, 2), (512, 1)), "imdb": ((1024, 1), (256, 1)),
         "chars": ((640, 1), (192, 1))}
BATCH = {"digits": 32, "action": 32, "imdb": 32, "chars": 64}
VOCAB, REVIEW_LENGTH, CHARS, CHAR_STEPS = 20000, 200, 65, 100


# ---------------------------------------------------------------------------------------- data

def make_data(name, count):
    """x, y (NumPy) of model ``name``: the same arrays for every library (seeded)."""
    import numpy as np

    rng = np.random.default_rng(1234)
    if name == "digits":
        from rnnkit.apps.classify import load_digits

        x, y = load_digits()
        return x[:count], y[:count]
    if name == "action":
        example = _action_example()
        x, y = example.keypoint_sequences(example.action_motions(rng), -(-count // 3), rng)
        order = rng.permutation(len(x))[:count]
        return x[order], y[order]
    if name == "imdb":
        return (rng.integers(1, VOCAB, (count, REVIEW_LENGTH)).astype(np.int64),
                rng.integers(0, 2, count).astype(np.float32))
    ids = rng.integers(0, CHARS, (count, CHAR_STEPS + 1))
    return np.eye(CHARS, dtype=np.float32)[ids[:, :-1]], ids[:, 1:].astype(np.int64)


def _action_example():
    """examples/action_model/action_model.py (its data generator and its rnnkit model)."""
    path = os.path.join(ROOT, "examples", "action_model", "action_model.py")
    spec = importlib.util.spec_from_file_location("action_model_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------- models

def rnnkit_model(name):
    import rnnkit
    from rnnkit import layers

    if name == "digits":
        model = rnnkit.Sequential([layers.Input((8, 8)), layers.LSTM(64), layers.Dense(10, activation="softmax")])
        loss = "sparse_categorical_crossentropy"
    elif name == "action":
        model, loss = _action_example().build_model(), "categorical_crossentropy"
    elif name == "imdb":
        model = rnnkit.Sequential([layers.Input((REVIEW_LENGTH,), dtype="int64"), layers.Embedding(VOCAB, 128),
                                   layers.Bidirectional(layers.LSTM(64)), layers.Dense(1, activation="sigmoid")])
        loss = "binary_crossentropy"
    else:
        model = rnnkit.Sequential([layers.Input((CHAR_STEPS, CHARS)), layers.GRU(256, return_sequences=True),
                                   layers.Dense(CHARS)])
        loss = rnnkit.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer="adam", loss=loss)
    return model


def keras_model(name):
    import keras
    from keras import layers

    if name == "digits":
        model = keras.Sequential([keras.Input((8, 8)), layers.LSTM(64), layers.Dense(10, activation="softmax")])
        loss = "sparse_categorical_crossentropy"
    elif name == "action":
        model = keras.Sequential([keras.Input((5, 126)),
                                  layers.LSTM(64, return_sequences=True, activation="relu"),
                                  layers.LSTM(128, return_sequences=True, activation="relu"),
                                  layers.LSTM(64, activation="relu"), layers.Dense(64, activation="relu"),
                                  layers.Dense(32, activation="relu"), layers.Dense(3, activation="softmax")])
        loss = "categorical_crossentropy"
    elif name == "imdb":
        model = keras.Sequential([keras.Input((REVIEW_LENGTH,), dtype="int64"), layers.Embedding(VOCAB, 128),
                                  layers.Bidirectional(layers.LSTM(64)), layers.Dense(1, activation="sigmoid")])
        loss = "binary_crossentropy"
    else:
        model = keras.Sequential([keras.Input((CHAR_STEPS, CHARS)), layers.GRU(256, return_sequences=True),
                                  layers.Dense(CHARS)])
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer="adam", loss=loss)
    return model


def torch_model(name):
    """(module, loss function of (output, target)) for the plain PyTorch loop."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            if name == "digits":
                self.rnn, self.head = nn.LSTM(8, 64, batch_first=True), nn.Linear(64, 10)
            elif name == "action":  # nn.LSTM has no ReLU: tanh, the same products
                self.rnns = nn.ModuleList([nn.LSTM(126, 64, batch_first=True), nn.LSTM(64, 128, batch_first=True),
                                           nn.LSTM(128, 64, batch_first=True)])
                self.head = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(),
                                          nn.Linear(32, 3))
            elif name == "imdb":
                self.embedding = nn.Embedding(VOCAB, 128)
                self.rnn = nn.LSTM(128, 64, batch_first=True, bidirectional=True)
                self.head = nn.Linear(128, 1)
            else:
                self.rnn, self.head = nn.GRU(CHARS, 256, batch_first=True), nn.Linear(256, CHARS)

        def forward(self, x):
            if name == "digits":
                return self.head(self.rnn(x)[0][:, -1])
            if name == "action":
                for rnn in self.rnns:
                    x = rnn(x)[0]
                return self.head(x[:, -1])
            if name == "imdb":
                _, (h, _) = self.rnn(self.embedding(x))
                return self.head(torch.cat([h[0], h[1]], dim=1))[:, 0]
            return self.head(self.rnn(x)[0])

    cross_entropy = nn.CrossEntropyLoss()
    if name == "imdb":
        loss = nn.BCEWithLogitsLoss()
    elif name == "chars":
        def loss(out, y):
            return cross_entropy(out.reshape(-1, CHARS), y.reshape(-1))
    else:
        loss = cross_entropy
    return Net(), loss


# ---------------------------------------------------------------------------------------- runners

#: seconds after which a timed run stops at the end of its current batch (--max-seconds)
MAX_SECONDS = {0: 30.0, 1: 4.0}


def _deadline_callback(base, run):
    """A ``base`` (rnnkit's or Keras's Callback class) callback that counts the samples of a fit and
    stops it once ``run.max_seconds`` have passed."""

    class Deadline(base):
        def on_train_begin(self, logs=None):
            self.start, self.epoch, self.samples = time.perf_counter(), 0, 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            self.samples = self.epoch * run.count + min((batch + 1) * run.batch, run.count)
            if run.max_seconds and time.perf_counter() - self.start > run.max_seconds:
                self.model.stop_training = True

    return Deadline()


class RnnkitRun:
    label = "rnnkit"
    max_seconds = None

    def __init__(self, name, quick):
        import rnnkit

        self.rnnkit = rnnkit
        (self.count, self.epochs), self.batch = SIZES[name][quick], BATCH[name]
        self.x, self.y = make_data(name, self.count)
        self.model = rnnkit_model(name)
        self.deadline = _deadline_callback(rnnkit.callbacks.Callback, self)

    def set_threads(self, n):
        self.rnnkit.set_num_threads(n)

    def run(self):
        """``(seconds, samples)`` of one fit (stopped early after ``max_seconds``)."""
        start = time.perf_counter()
        self.model.fit(self.x, self.y, batch_size=self.batch, epochs=self.epochs, verbose=0,
                       callbacks=[self.deadline])
        return time.perf_counter() - start, self.deadline.samples


class KerasRun(RnnkitRun):
    def __init__(self, name, quick):
        import keras

        self.label = f"keras-{keras.backend.backend()}"
        (self.count, self.epochs), self.batch = SIZES[name][quick], BATCH[name]
        self.x, self.y = make_data(name, self.count)
        self.model = keras_model(name)
        self.deadline = _deadline_callback(keras.callbacks.Callback, self)

    def set_threads(self, n):
        if self.label == "keras-torch":
            import torch

            torch.set_num_threads(n)


class TorchRun:
    label = "torch"
    max_seconds = None

    def __init__(self, name, quick):
        import torch

        self.torch = torch
        (self.count, self.epochs), self.batch = SIZES[name][quick], BATCH[name]
        x, y = make_data(name, self.count)
        if name == "action":
            y = y.argmax(axis=1)
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.net, self.loss = torch_model(name)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=0.001, eps=1e-7)

    def set_threads(self, n):
        self.torch.set_num_threads(n)

    def run(self):
        torch = self.torch
        start, samples = time.perf_counter(), 0
        for _ in range(self.epochs):
            order = torch.randperm(self.count)
            total = 0.0
            for lo in range(0, self.count, self.batch):
                index = order[lo:lo + self.batch]
                self.optimizer.zero_grad()
                loss = self.loss(self.net(self.x[index]), self.y[index])
                loss.backward()
                self.optimizer.step()
                total += loss.item() * len(index)
                samples += len(index)
                if self.max_seconds and time.perf_counter() - start > self.max_seconds:
                    return time.perf_counter() - start, samples
        return time.perf_counter() - start, samples


class WorkerRun:
    """A runner living in a worker process (Keras on the tensorflow backend), driven over pipes."""

    def __init__(self, backend, threads, name, quick, max_seconds):
        self.label = f"keras-{backend}"
        self.threads = threads
        self.count, self.epochs = SIZES[name][quick]
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", backend, "--worker-threads", str(threads),
             "--models", name, "--max-seconds", str(max_seconds)] + (["--quick"] if quick else []),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2"))
        self._reply()  # built and warmed up

    def _reply(self):
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.label} worker stopped (exit code {self.process.wait()})")
        return json.loads(line)

    def set_threads(self, n):
        if n != self.threads:
            raise ValueError("a worker runs at the thread count it started with")

    def run(self):
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        reply = self._reply()
        return reply["seconds"], reply["samples"]

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.write("quit\n")
            self.process.stdin.flush()
            self.process.wait(timeout=60)


def worker_main(backend, threads, name, quick, max_seconds):
    """The worker loop: build the Keras model at ``threads`` threads, warm it up, then time a fit per line."""
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    limit_blas(threads)
    run = KerasRun(name, quick)
    run.set_threads(threads)
    run.run()
    run.max_seconds = max_seconds
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        seconds, samples = run.run()
        print(json.dumps({"seconds": seconds, "samples": samples}), flush=True)


_blas_limits = []


def limit_blas(n):
    """Limit NumPy's BLAS (and any other threadpool threadpoolctl sees) to ``n`` threads."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    for limiter in _blas_limits:
        limiter.restore_original_limits()
    _blas_limits[:] = [threadpool_limits(n)]


# ---------------------------------------------------------------------------------------- one case

class Busy:
    """``count`` competing processes spinning on a core each, while the ``with`` block runs."""

    def __init__(self, count):
        self.count, self.processes = count, []

    def __enter__(self):
        self.processes = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(self.count)]
        return self

    def __exit__(self, *exc):
        for process in self.processes:
            process.kill()
            process.wait()


def load_average():
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def run_case(name, load, threads, runners, repeats):
    """Median samples/s of every (runner, threads) entry, alternating; returns ({(label, n): rate}, loads)."""
    entries = [(runner, n) for runner in runners for n in threads if getattr(runner, "threads", n) == n]
    rates = {(r.label, n): [] for r, n in entries}
    loads = []
    with Busy(1 if load == "busy" else 0):
        for round_ in range(repeats):
            shift = round_ % len(entries)
            for runner, n in entries[shift:] + entries[:shift]:
                runner.set_threads(n)
                limit_blas(n)
                seconds, samples = runner.run()
                rates[runner.label, n].append(samples / seconds)
            loads.append(load_average())
    return {key: statistics.median(values) for key, values in rates.items()}, loads


# ---------------------------------------------------------------------------------------- streaming

def streaming(repeats, steps=2000, features=32, units=64):
    """Per-step latency (microseconds) of stateful LSTM/GRU at batch 1, rnnkit against PyTorch."""
    import numpy as np
    import torch

    import rnnkit
    from rnnkit import layers

    rnnkit.set_num_threads(1)
    torch.set_num_threads(1)
    limit_blas(1)
    rows = []
    x = np.random.default_rng(0).standard_normal((1, 1, features)).astype(np.float32)
    for kind in ("LSTM", "GRU"):
        layer = getattr(layers, kind)(units, stateful=True)
        layer(x)
        model = rnnkit.Sequential([layers.Input(batch_shape=(1, 1, features)),
                                   getattr(layers, kind)(units, stateful=True)])
        torch_layer = getattr(torch.nn, kind)(features, units, batch_first=True)
        x_torch, state = torch.from_numpy(x), [None]

        def rnnkit_layer():
            with rnnkit.no_grad():
                for _ in range(steps):
                    layer(x)

        def rnnkit_predict():
            for _ in range(steps):
                model.predict_on_batch(x)

        def torch_step():
            with torch.no_grad():
                for _ in range(steps):
                    _, state[0] = torch_layer(x_torch, state[0])

        fns = {"rnnkit layer": rnnkit_layer, "rnnkit predict_on_batch": rnnkit_predict, "torch": torch_step}
        times = {key: [] for key in fns}
        for fn in fns.values():
            fn()  # warm-up
        for round_ in range(repeats):
            keys = list(fns)
            keys = keys[round_ % len(keys):] + keys[:round_ % len(keys)]
            for key in keys:
                start = time.perf_counter()
                fns[key]()
                times[key].append((time.perf_counter() - start) / steps * 1e6)
        rows.append((kind, {key: statistics.median(values) for key, values in times.items()}))
    return rows


# ---------------------------------------------------------------------------------------- main

def keras_backends(choice):
    """The Keras backends to run: those asked for that are installed."""
    wanted = {"auto": ["torch", "tensorflow"], "none": []}.get(choice, choice.split(","))
    have = []
    for backend in wanted:
        if importlib.util.find_spec("keras") and importlib.util.find_spec(backend):
            have.append(backend)
    return have


def fmt_rate(value):
    return f"{value:,.0f}" if value == value else "-"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples and rounds (a few minutes)")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {MODELS}")
    parser.add_argument("--loads", default="quiet,busy", help="quiet and/or busy (one competing process)")
    parser.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    parser.add_argument("--keras", default="auto", help="Keras backends: auto (torch and tensorflow where "
                        "installed), torch, tensorflow, torch,tensorflow or none")
    parser.add_argument("--repeats", type=int, default=None, help="rounds per case (default 7, quick 3)")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="a timed fit stops at the end of the batch that passes this many seconds and counts the "
                             "samples it did (default 30, quick 4; 0: never); libraries that collapse under load "
                             "(threads waiting for a busy core) then cost seconds, not minutes")
    parser.add_argument("--no-fit", action="store_true", help="streaming latency only")
    parser.add_argument("--no-streaming", action="store_true", help="fit only")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-threads", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = int(args.quick)
    max_seconds = MAX_SECONDS[quick] if args.max_seconds is None else args.max_seconds
    if args.worker:
        return worker_main(args.worker, args.worker_threads, args.models, quick, max_seconds)
    repeats = args.repeats or (3 if quick else 7)
    models = [m for m in args.models.split(",") if m]
    loads = [load for load in args.loads.split(",") if load]
    threads = [int(n) for n in args.threads.split(",")]
    backends = keras_backends(args.keras)
    if "torch" in backends:
        os.environ["KERAS_BACKEND"] = "torch"  # the in-process Keras; tensorflow runs in workers
    import numpy as np
    import torch

    import rnnkit

    print(f"# bench_fit: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; Python "
          f"{platform.python_version()}, NumPy {np.__version__}, torch {torch.__version__}, rnnkit "
          f"{getattr(rnnkit, '__version__', '?')}; load average {load_average():.1f} at start", flush=True)
    if not args.no_fit:
        fit_table(models, loads, threads, backends, quick, repeats, max_seconds)
    if not args.no_streaming:
        print(f"\nStreaming inference, one step of a stateful layer at batch 1 (32 features, 64 units), "
              f"microseconds per step (median of {repeats * 3} blocks); load {load_average():.1f}\n")
        print("| cell | rnnkit layer | rnnkit predict_on_batch | torch | torch / rnnkit layer |")
        print("|---|---|---|---|---|")
        for kind, row in streaming(repeats * 3):
            print(f"| {kind}(64) | {row['rnnkit layer']:.1f} | {row['rnnkit predict_on_batch']:.1f} | "
                  f"{row['torch']:.1f} | {row['torch'] / row['rnnkit layer']:.2f}x |", flush=True)
    return 0


def fit_table(models, loads, threads, backends, quick, repeats, max_seconds):
    print(f"\nfit, samples/s (median of {repeats} alternating rounds; a run stops after the batch that passes "
          f"{max_seconds:g} s and counts the samples it did). Ratios are rnnkit's samples/s over the "
          f"other's in the same case (same model, load and threads); 'vs 1 thread': rnnkit at this thread count "
          f"over rnnkit at {threads[0]} in the same case\n")
    keras_cols = [f"keras-{b}" for b in backends]
    header = ["model", "load", "threads", "rnnkit", "torch", *keras_cols, "rnnkit/torch"]
    header += ["rnnkit/keras (faster backend)"] if backends else []
    header += ["rnnkit vs 1 thread", "load avg"]
    print("| " + " | ".join(header) + " |")
    print("|---" * len(header) + "|")
    for name in models:
        for load in loads:
            runners = [RnnkitRun(name, quick), TorchRun(name, quick)]
            if "torch" in backends:
                runners.append(KerasRun(name, quick))
            workers = [WorkerRun("tensorflow", n, name, quick, max_seconds)
                       for n in threads] if "tensorflow" in backends else []
            for runner in runners:  # warm-up: first-call builds, compiles, traces
                runner.max_seconds = max_seconds
                runner.set_threads(threads[-1])
                runner.run()
            try:
                rates, load_values = run_case(name, load, threads, runners + workers, repeats)
            finally:
                for worker in workers:
                    worker.close()
            for n in threads:
                rate = rates[("rnnkit", n)]
                keras_rates = {col: rates.get((col, n), float("nan")) for col in keras_cols}
                cells = [name, load, str(n), fmt_rate(rate), fmt_rate(rates[("torch", n)])]
                cells += [fmt_rate(keras_rates[col]) for col in keras_cols]
                cells.append(f"{rate / rates[('torch', n)]:.2f}x")
                if backends:
                    best = max(keras_cols, key=lambda col: keras_rates[col])
                    cells.append(f"{rate / keras_rates[best]:.2f}x ({best[6:]})")
                cells.append("-" if n == threads[0] else f"{rate / rates[('rnnkit', threads[0])]:.2f}x")
                cells.append(f"{min(load_values):.1f}-{max(load_values):.1f}")
                print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
