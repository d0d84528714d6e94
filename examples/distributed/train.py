"""Data-parallel training of a sine forecaster: the same script on 1 rank or many.

    python examples/distributed/train.py                                           # one process
    mpiexec -n 2 python -m rnnkit.distributed.run examples/distributed/train.py    # two ranks, same result
"""
import argparse

import numpy as np

import rnnkit
from rnnkit import layers
from rnnkit.distributed import DataParallel, is_chief, size


def windows(count=512, length=24, seed=0):
    """Noisy sine windows -> the next value."""
    rng = np.random.default_rng(seed)
    start = rng.uniform(0, 2 * np.pi, size=(count, 1))
    t = start + 0.3 * np.arange(length + 1)
    series = np.sin(t) + 0.05 * rng.normal(size=t.shape)
    return series[:, :-1, None].astype(np.float32), series[:, -1:].astype(np.float32)


def build(units, seed=1):
    return rnnkit.Sequential([layers.Input((24, 1)), layers.LSTM(units, seed=seed), layers.Dense(1, seed=seed + 1)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64, help="the GLOBAL batch, split over the ranks")
    parser.add_argument("--save", help="save the trained model here (rank 0 writes it)")
    args = parser.parse_args()

    x, y = windows()
    strategy = DataParallel()
    with strategy.scope():
        model = build(units=32)
        model.compile(optimizer=rnnkit.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    rnnkit.set_random_seed(0)  # rank 0's shuffling is used by every rank
    history = model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, validation_split=0.25,
                        verbose=2 if is_chief() else 0)
    if is_chief():  # files and prints: once, from rank 0
        print(f"{size()} rank(s): final loss {history.history['loss'][-1]:.6f}, "
              f"val_loss {history.history['val_loss'][-1]:.6f}")
        if args.save:
            model.save(args.save)


if __name__ == "__main__":
    main()
