"""Largest differences between Keras 3 and rnnkit after converting through Keras's files.

    python benchmarks/keras_conversion_differences.py

For every model case of tests/keras_file_cases.py (recurrent layers and variants, Bidirectional in
every merge mode, stacked cells, masks, Dense, Embedding, Dropout, TimeDistributed, the
convolution, pooling, normalization and noise layers, ...) and for a functional encoder-decoder
with attention it runs
the conversions of ``keras_file_cases.round_trips`` (Keras 3 -> .keras / .weights.h5 / legacy .h5 ->
rnnkit and back) on the same random inputs (float32,
batch 8, 20 steps, random weights of scale 0.5) and prints, per direction, the largest absolute
difference of the outputs and the largest output. Then, for every Keras 3 optimizer, training
resumed across a .keras file (``keras_file_cases.resumed_training``: 2 epochs of fit in one
framework, 1 more in both) and the largest weight difference after it, each way. Needs keras (run on
the torch backend) and h5py.
"""
import os
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))
os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import keras_file_cases as kc  # noqa: E402

BATCH, TIME = 8, 20


def main():
    worst = {}
    print("columns:", "; ".join(kc.DIRECTIONS))
    for name, (make, kind) in sorted(kc.cases(keras).items()):
        with tempfile.TemporaryDirectory() as folder:
            differences, largest = kc.round_trips(keras, make, kind, pathlib.Path(folder), BATCH, TIME, name,
                                                  legacy=True)
        print(f"{name:32s}", " ".join(f"{v:.1e}" for v in differences.values()), f"(largest output {largest:.2f})")
        for direction, value in differences.items():
            old = worst.get(direction, (0.0, 0.0))
            worst[direction] = (max(old[0], value), max(old[1], largest))
    with tempfile.TemporaryDirectory() as folder:
        model = kc.encoder_decoder(keras, TIME)
        differences, largest = kc.model_round_trips(keras, model, kc.encoder_decoder_inputs(BATCH, TIME, seed=1),
                                                    pathlib.Path(folder), legacy=True)
    print(f"{'functional encoder-decoder':32s}", " ".join(f"{v:.1e}" for v in differences.values()),
          f"(largest output {largest:.2f})")
    print()
    for direction, (value, largest) in worst.items():
        print(f"{direction:36s} largest difference {value:.1e} (largest output {largest:.2f})")
    print("\noptimizer state: largest weight difference after 2 epochs in one framework, .keras, 1 more in both")
    for name in kc.OPTIMIZERS:
        with tempfile.TemporaryDirectory() as folder:
            both = [kc.resumed_training(keras, name, first, pathlib.Path(folder), TIME)[0]
                    for first in ("keras", "rnnkit")]
        print(f"{name:32s} Keras first {both[0]:.1e}  rnnkit first {both[1]:.1e}")


if __name__ == "__main__":
    main()
