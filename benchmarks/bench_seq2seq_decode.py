"""Per-step latency of rnnkit.seq2seq's inference loops on the model of ``rnnkit seq2seq train``.

The model is the command's default (Embedding 32 -> Bidirectional LSTM(32) encoder -> LSTM(64)
decoder with Luong attention; 59 source and 14 target ids, sources of 30 characters), with its
initial weights: the time of a step does not depend on what the weights say, and ``end_token=None``
makes every run decode exactly ``--steps`` tokens. Reported per decoder step (total / steps), as
the median of ``--repeats`` runs, in wall-clock and CPU time:

- ``greedy_decode`` for a batch of 1 and of 256 sources;
- ``beam_search`` with 4 beams for 1 and 64 sources;
- for comparison, keras-io's loop: ``decoder.predict([...])`` once per step (batch 1), which
  validates and batches its inputs at every call.

    python benchmarks/bench_seq2seq_decode.py
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_seq2seq_decode.py --repeats 15
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import rnnkit  # noqa: E402
from rnnkit.apps.seq2seq_model import build_training_model, inference_models  # noqa: E402
from rnnkit.seq2seq import beam_search, greedy_decode  # noqa: E402


def timed(run, repeats):
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def predict_loop(encoder, decoder, source, steps):
    """keras-io's decode_sequence, with ids instead of one-hot vectors."""
    memory, h, c = encoder.predict(source, verbose=0)
    token = np.array([[1]])
    for _ in range(steps):
        probabilities, h, c, _ = decoder.predict([token, memory, h, c], verbose=0)
        token = np.argmax(probabilities[:, -1], axis=-1)[:, None]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=11, help="tokens decoded per run (an ISO date and its end)")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    model = build_training_model(59 + 2, 11 + 3)
    encoder, decoder = inference_models(model)
    rng = np.random.default_rng(0)
    sources = {n: rng.integers(2, 61, (n, 30)) for n in (1, 64, 256)}
    cases = [
        ("greedy_decode, 1 source", lambda: greedy_decode(encoder, decoder, sources[1], 1, None, args.steps)),
        ("greedy_decode, 256 sources", lambda: greedy_decode(encoder, decoder, sources[256], 1, None, args.steps)),
        ("beam_search (4 beams), 1 source",
         lambda: beam_search(encoder, decoder, sources[1], 1, None, args.steps, beam_width=4)),
        ("beam_search (4 beams), 64 sources",
         lambda: beam_search(encoder, decoder, sources[64], 1, None, args.steps, beam_width=4)),
        ("decoder.predict per step, 1 source", lambda: predict_loop(encoder, decoder, sources[1], args.steps)),
    ]
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"rnnkit {rnnkit.__version__}; OPENBLAS_NUM_THREADS={threads}; load average "
          f"{os.getloadavg()[0]:.1f}; {args.steps} steps, median of {args.repeats}")
    print(f"{'':38}{'wall ms/step':>14}{'CPU ms/step':>14}")
    for name, run in cases:
        run()  # warm-up: first calls build nothing, but fill caches and the allocator
        wall, cpu = timed(run, args.repeats)
        print(f"{name:38}{1000 * wall / args.steps:14.3f}{1000 * cpu / args.steps:14.3f}")


if __name__ == "__main__":
    main()
