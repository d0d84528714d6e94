"""A random search of learning rate and size for the sine forecaster, trials spread over MPI ranks.

    python examples/distributed/sweep.py --trials 4                                       # one process
    mpiexec -n 5 python -m rnnkit.distributed.run examples/distributed/sweep.py --trials 16
                                                      # rank 0 hands out trials, 4 ranks train

Each trial is an ordinary one-process fit; rank 0 prints the table and writes sweep.csv.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import rnnkit  # noqa: E402
from rnnkit.distributed import DataParallel, sweep  # noqa: E402
from train import build, windows  # noqa: E402


def trial(params):
    """One training run; module level, so worker ranks find it by name."""
    rnnkit.set_random_seed(0)
    x, y = windows()
    with DataParallel().scope():  # inside a sweep trial a strategy covers this one process: code written
        model = build(units=params["units"])  # for data-parallel runs serves as a trial unchanged
        model.compile(optimizer=rnnkit.optimizers.Adam(params["learning_rate"]), loss="mse")
    history = model.fit(x, y, batch_size=64, epochs=params["epochs"], validation_split=0.25, verbose=0)
    return {"val_loss": history.history["val_loss"][-1], "loss": history.history["loss"][-1]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--csv", default="sweep.csv")
    args = parser.parse_args()
    space = {"units": [8, 16, 32], "learning_rate": sweep.log_uniform(1e-3, 3e-2), "epochs": args.epochs}
    rows = sweep.run(trial, sweep.random_search(space, trials=args.trials, seed=0))
    if sweep.is_chief():
        for row in rows:
            result = row["result"] or {}
            print(f"trial {row['trial']:2d} on rank {row['rank']}: units {row['params']['units']:3d}  "
                  f"lr {row['params']['learning_rate']:.4f}  val_loss {result.get('val_loss', float('nan')):.5f}"
                  + (f"  FAILED {row['error']}" if row["error"] else ""))
        best = sweep.best(rows, "val_loss")
        print(f"best: {best['params']} val_loss {best['result']['val_loss']:.5f}")
        sweep.write_csv(rows, args.csv)
        print(f"wrote {args.csv}")


if __name__ == "__main__":
    main()
