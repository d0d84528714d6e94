"""Time one optimizer step (``optimizer.apply_gradients(zip(grads, variables))``, what ``fit`` calls
once per batch) on two models; prints the median over many steps in microseconds.

    PYTHONPATH=$PWD python3 benchmarks/bench_optimizer_step.py [--steps 2000] [--repeats 5]

Models: ``LSTM(64)`` + ``Dense(10)`` on 8x8 digits (5 variables, 19,594 weights) and the tutorials'
three-layer ReLU LSTM action model on (5, 126) frames (15 variables, 203,459 weights). The
gradients are those of one real batch; the same arrays are fed at every step. Run it against two
checkouts (``PYTHONPATH=/path/to/other``) alternately to compare; the machine's load (``uptime``) is
printed so that noisy numbers can be recognised.
"""
import argparse
import os
import statistics
import time

import numpy as np

import rnnkit
from rnnkit.layers import LSTM, Dense


def digits_model():
    model = rnnkit.Sequential([LSTM(64, input_shape=(8, 8), seed=0), Dense(10, activation="softmax", seed=1)])
    x = np.random.default_rng(0).standard_normal((32, 8, 8)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[np.arange(32) % 10]
    return model, x, y


def action_model():
    model = rnnkit.Sequential([
        LSTM(64, return_sequences=True, activation="relu", input_shape=(5, 126), seed=0),
        LSTM(128, return_sequences=True, activation="relu", seed=1),
        LSTM(64, activation="relu", seed=2),
        Dense(64, activation="relu", seed=3), Dense(32, activation="relu", seed=4),
        Dense(3, activation="softmax", seed=5)])
    x = np.random.default_rng(0).standard_normal((32, 5, 126)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[np.arange(32) % 3]
    return model, x, y


def time_steps(make_model, optimizer, steps, repeats):
    """Median seconds of one step, over ``repeats`` medians of ``steps`` steps each (fresh model each)."""
    medians = []
    for _ in range(repeats):
        model, x, y = make_model()
        model.compile(optimizer=optimizer, loss="categorical_crossentropy")
        _, grads, _ = model.compute_loss_and_gradients(x, y)
        grads = [g * 1e-3 for g in grads]  # keep the weights near where they were over many steps
        variables = model.trainable_variables
        opt = model.optimizer
        opt.apply_gradients(zip(grads, variables))  # builds the slots
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            opt.apply_gradients(zip(grads, variables))
            times.append(time.perf_counter() - start)
        medians.append(statistics.median(times))
    return statistics.median(medians)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--optimizers", default="sgd,adam,rmsprop")
    args = parser.parse_args()
    print(f"rnnkit from {os.path.dirname(rnnkit.__file__)}; load average {os.getloadavg()}")
    for name, make in (("LSTM(64)+Dense(10)", digits_model), ("3-layer LSTM action model", action_model)):
        for opt in args.optimizers.split(","):
            seconds = time_steps(make, opt, args.steps, args.repeats)
            print(f"{name:28s} {opt:8s} {seconds * 1e6:9.1f} us/step")


if __name__ == "__main__":
    main()
