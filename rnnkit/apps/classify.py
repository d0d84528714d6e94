"""``rnnkit classify``: sequence classification, handwritten digits read row by row.

Each 8x8 image (pixel counts 0..16, scaled to [0, 1]) is a sequence of T = 8 time
steps, step t being image row t (8 features). A recurrent layer reads the rows top
to bottom; its last state goes to ``Dense(10, softmax)``:

    h_t = cell(x_t, h_{t-1}),  t = 1..8;   p(digit | image) = softmax(h_8 W + b)

trained on sparse categorical cross-entropy with Adam. The data (1,797 digits, the
UCI "Optical Recognition of Handwritten Digits" test set, CC BY 4.0) ships with
rnnkit; a seeded, class-stratified split holds out a test part and a validation part.
"""
import gzip
import os

from .arguments import add_common_arguments, positive_float, positive_int, unit_fraction
from .console import CliError, say, wrote
from .fitting import fit_callbacks, load_best
from .pictures import draw_accuracy_and_loss, pyplot, save_figure
from .run_dir import open_run_dir, read_history, split_config
from .stacks import check_stack_size, recurrent_stack

HELP = "classify 8x8 handwritten digits read row by row as time steps"
DESCRIPTION = """Sequence classification: 8x8 handwritten digits read row by row.

Each image is a sequence of 8 rows of 8 pixels; an LSTM (or GRU) reads the rows one per
time step and Dense(10, softmax) names the digit from its last state. The 1,797 digits
(UCI ML repository, E. Alpaydin and C. Kaynak, CC BY 4.0; the copy scikit-learn ships)
are bundled. Reports the test accuracy and writes confusion_matrix.png, examples.png
(test digits with their predicted labels), training_curves.png and the usual run files.

examples:
  rnnkit classify
  rnnkit classify --cell gru --units 32 --epochs 20
"""

DATA_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "digits.csv.gz")
MODEL_KEYS = ("cell", "units", "layers", "learning_rate", "test_fraction", "val_fraction")


def add_arguments(parser):
    parser.add_argument("--cell", choices=("lstm", "gru", "simple"), default="lstm",
                        help="recurrent cell (default lstm)")
    parser.add_argument("--units", type=positive_int, default=64, help="units per recurrent layer (default 64)")
    parser.add_argument("--layers", type=positive_int, default=1, help="recurrent layers (default 1)")
    parser.add_argument("--learning-rate", type=positive_float, default=0.005, help="Adam step size (default 0.005)")
    parser.add_argument("--test-fraction", type=unit_fraction, default=0.2,
                        help="share of the digits held out for the test (default 0.2)")
    parser.add_argument("--val-fraction", type=unit_fraction, default=0.1,
                        help="share of the digits held out for validation (default 0.1)")
    add_common_arguments(parser, epochs=30, batch_size=32)


def load_digits(path=DATA_FILE):
    """The bundled digits: images (1797, 8, 8) float32 in [0, 1] and labels (1797,) int64."""
    import numpy as np

    try:
        with gzip.open(path, "rt", encoding="ascii") as handle:
            table = np.loadtxt(handle, delimiter=",", dtype=np.float64)
    except (OSError, ValueError) as err:
        raise CliError(f"cannot read the bundled digits {path!r}: {err}") from None
    images = (table[:, :64] / 16.0).reshape(-1, 8, 8).astype(np.float32)
    return images, table[:, 64].astype(np.int64)


def stratified_split(labels, fractions, seed):
    """Index arrays (train, *held_out) with each class split in the given fractions (seeded shuffle)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    parts = [[] for _ in range(len(fractions) + 1)]
    for cls in np.unique(labels):
        index = rng.permutation(np.flatnonzero(labels == cls))
        start = 0
        for k, fraction in enumerate(fractions, start=1):
            count = int(round(fraction * len(index)))
            parts[k].append(index[start:start + count])
            start += count
        parts[0].append(index[start:])
    return [rng.permutation(np.concatenate(p)) if p else np.zeros(0, np.int64) for p in parts]


def build_model(args):
    from .. import optimizers
    from ..layers import Dense
    from ..models import Sequential

    model = Sequential(recurrent_stack(args.cell, args.units, args.layers, (8, 8), args.seed)
                       + [Dense(10, activation="softmax", seed=args.seed + 100, name="digit")], name="classify")
    model.compile(optimizer=optimizers.Adam(args.learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def confusion_matrix(truth, predicted, classes=10):
    """counts[i, j] = number of test digits of class i predicted as j."""
    import numpy as np

    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (truth, predicted), 1)
    return counts


def draw_confusion(counts, accuracy, path):
    plt = pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(6.2, 5.4))
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046)
    limit = counts.max() / 2 if counts.size else 0
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            if counts[i, j]:
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if counts[i, j] > limit else "black")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(f"Confusion matrix (test accuracy {accuracy:.1%})")
    return save_figure(fig, path)


def draw_examples(images, truth, predicted, path, count=24):
    """Test digits with their predictions; the mistakes first, titled 'pred (true)' in red."""
    import numpy as np

    plt = pyplot()
    if plt is None:
        return None
    wrong = np.flatnonzero(truth != predicted)
    right = np.flatnonzero(truth == predicted)
    chosen = np.concatenate([wrong, right])[:count]
    cols = 8
    rows = max(1, int(np.ceil(len(chosen) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.3))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, k in zip(np.ravel(axes), chosen):
        ax.imshow(images[k], cmap="gray_r", vmin=0, vmax=1)
        ok = truth[k] == predicted[k]
        ax.set_title(f"{predicted[k]}" if ok else f"{predicted[k]} ({truth[k]})", fontsize=9,
                     color="black" if ok else "tab:red")
    fig.suptitle("Test digits: predicted (true, when wrong)")
    return save_figure(fig, path)


def draw_curves(history, path):
    return draw_accuracy_and_loss(history, path, accuracy_key="accuracy")


def run(args):
    import numpy as np

    from ..random import set_random_seed

    if args.test_fraction + args.val_fraction >= 0.9:
        raise CliError(f"--test-fraction {args.test_fraction} and --val-fraction {args.val_fraction} leave "
                       f"less than 10% of the digits for training; use smaller fractions")
    run_dir = open_run_dir(args, "classify")
    model_cfg, settings = split_config(args, MODEL_KEYS)
    run_dir.write_config(model_cfg, settings)
    say(f"run directory: {run_dir.path}")

    images, labels = load_digits()
    train, test, val = stratified_split(labels, (args.test_fraction, args.val_fraction), seed=args.seed)
    say(f"digits: {len(images)} images of 8 rows x 8 pixels (UCI optdigits, CC BY 4.0); "
        f"train {len(train)}, validation {len(val)}, test {len(test)}")

    set_random_seed(args.seed)
    check_stack_size(args.cell, args.units, args.layers, 8, 10)
    model = build_model(args)
    model.summary(print_fn=say)
    validation = (images[val], labels[val]) if len(val) else None
    monitor = "val_accuracy" if validation else "accuracy"
    model.fit(images[train], labels[train], batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose,
              validation_data=validation, callbacks=fit_callbacks(run_dir, monitor=monitor))
    if load_best(model, run_dir):
        say(f"using the best weights ({monitor}) from {run_dir.checkpoint_path}")

    results = {}
    if len(test):
        probs = model.predict(images[test])
        predicted = np.argmax(probs, axis=-1)
        truth = labels[test]
        accuracy = float(np.mean(predicted == truth))
        counts = confusion_matrix(truth, predicted)
        say(f"test accuracy: {accuracy:.4f} ({int(np.sum(predicted == truth))}/{len(test)} digits)")
        worst = sorted(((counts[i, j], i, j) for i in range(10) for j in range(10) if i != j), reverse=True)[:3]
        confusions = ", ".join(f"{i} as {j} ({n}x)" for n, i, j in worst if n)
        say(f"most frequent mistakes: {confusions or 'none'}")
        results = {"test_accuracy": accuracy, "test_digits": int(len(test)), "confusion_matrix": counts.tolist()}
        if draw_confusion(counts, accuracy, run_dir.png("confusion_matrix")):
            wrote(run_dir.png("confusion_matrix"), "confusion matrix of the test digits")
        if draw_examples(images[test], truth, predicted, run_dir.png("examples")):
            wrote(run_dir.png("examples"), "test digits with predictions")
    wrote(run_dir.metrics_path, "per-epoch metrics")
    wrote(run_dir.checkpoint_path, f"best checkpoint (monitor: {monitor})")
    if draw_curves(read_history(run_dir), run_dir.png("training_curves")):
        wrote(run_dir.png("training_curves"), "accuracy and loss curves")
    wrote(run_dir.write_results(results), "final numbers")
    return 0
