"""The ``rnnkit`` command.

For now it runs the core's demonstration: a small LSTM learns to continue a sine
wave, trained by explicit backpropagation through time, and prints its loss
falling epoch by epoch. The full set of applications is still to come.
"""
import argparse
import sys

import numpy as np


def sine_windows(count, length, rng):
    """``count`` windows of a sine wave with random phase and frequency: inputs (N, T, 1) and the next value (N, 1)."""
    phase = rng.uniform(0, 2 * np.pi, (count, 1))
    freq = rng.uniform(0.1, 0.3, (count, 1))
    t = np.arange(length + 1)[None, :]
    wave = np.sin(phase + freq * t).astype(np.float32)
    return wave[:, :length, None], wave[:, length:]


def train_demo(epochs=30, units=16, seed=0, out=sys.stdout):
    """Train LSTM(units) + a linear readout on next-value prediction with Adam-free plain SGD; return the losses."""
    from .cells.lstm import LSTMCell

    rng = np.random.default_rng(seed)
    x, y = sine_windows(256, 20, rng)
    cell = LSTMCell(units, seed=seed)
    cell.build(1)
    readout = rng.normal(0, 0.3, (units, 1)).astype(np.float32)
    losses = []
    for epoch in range(1, epochs + 1):
        outputs, _, cache = cell.forward(x)
        last = outputs[:, -1]
        error = last @ readout - y
        loss = float(np.mean(error ** 2))
        d_pred = 2 * error / len(x)
        d_outputs = np.zeros_like(outputs)
        d_outputs[:, -1] = d_pred @ readout.T
        _, _, grads = cell.backward(d_outputs, None, cache)
        readout -= 0.5 * last.T @ d_pred
        for value, grad in zip(cell.params.values(), grads):
            value -= 0.5 * grad
        losses.append(loss)
        print(f"epoch {epoch:3d}/{epochs}  mse {loss:.5f}", file=out)
    return losses


def main(argv=None):
    parser = argparse.ArgumentParser(prog="rnnkit", description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--units", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    losses = train_demo(args.epochs, args.units, args.seed)
    print(f"loss fell from {losses[0]:.4f} to {losses[-1]:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
