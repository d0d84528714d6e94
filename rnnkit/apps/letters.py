"""``rnnkit letters``: the classic next-letter demo of the RNN tutorials.

Five letters a..e are one-hot vectors; the cycle a->b->c->d->e->a is learnt by
``SimpleRNN(3)`` then ``Dense(5, softmax)``:

    h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h)      (SimpleRNN, 3 units: 5*3 + 3*3 + 3 = 27 weights)
    p   = softmax(h_T W_hy + b_y)                   (Dense: 3*5 + 5 = 20 weights)

``--mode 1pre1``: x (5, 1, 5), one letter predicts the next; ``--mode 4pre1``:
x (5, 4, 5), four consecutive letters predict the fifth. Trained with Adam(0.01) on
sparse categorical cross-entropy for 100 epochs (batch 32: one step per epoch).
"""
import os
import sys

from .arguments import add_common_arguments
from .console import CliError, say, wrote
from .fitting import fit_callbacks, load_best
from .pictures import draw_accuracy_and_loss
from .reading import parse_int
from .run_dir import open_run_dir, read_history, split_config

HELP = "next-letter demo: SimpleRNN(3) + Dense(5) learns a->b->c->d->e->a"
DESCRIPTION = """The next-letter demo of the RNN tutorials, for real.

Five one-hot letters a..e; a SimpleRNN(3) + Dense(5, softmax) model (47 weights) learns
which letter comes next with Adam(0.01) for 100 epochs. --mode 1pre1 feeds one letter,
--mode 4pre1 four consecutive letters. The run directory gets config.json, metrics.csv,
the best checkpoint (monitor: loss), weights.txt (every trainable variable: name, shape,
values) and training_curves.png (accuracy and loss side by side). Then it predicts:
from --predict, else interactively when standard input is a terminal, else for every letter.

examples:
  rnnkit letters
  rnnkit letters --mode 4pre1 --predict abcd,eabc
  rnnkit letters --run-dir runs/my-letters --resume --epochs 150
"""

ALPHABET = "abcde"
MODES = {"1pre1": 1, "4pre1": 4}
MODEL_KEYS = ("mode", "units", "learning_rate")


def add_arguments(parser):
    from .arguments import positive_float, positive_int

    parser.add_argument("--mode", choices=sorted(MODES), default="1pre1",
                        help="1pre1: one letter predicts the next; 4pre1: four letters predict the fifth "
                             "(default 1pre1)")
    parser.add_argument("--units", type=positive_int, default=3, help="SimpleRNN units (default 3)")
    parser.add_argument("--learning-rate", type=positive_float, default=0.01, help="Adam step size (default 0.01)")
    parser.add_argument("--predict", default=None, metavar="LETTERS",
                        help="comma-separated inputs to predict without asking, e.g. a,b,c (1pre1) or "
                             "abcd,bcde (4pre1); '-' reads them from standard input")
    add_common_arguments(parser, epochs=100, batch_size=32)


def make_data(window):
    """One-hot windows of ``window`` letters and the index of the letter after each: x (5, window, 5), y (5,).

    Sample k starts at letter k and wraps around (for window 4: abcd->e, bcde->a, ...).
    Shuffled with the tutorials' fixed seed 7 (a permutation, so every letter stays in).
    """
    import numpy as np

    n = len(ALPHABET)
    eye = np.eye(n, dtype=np.float32)
    x = np.stack([eye[[(k + t) % n for t in range(window)]] for k in range(n)])
    y = np.array([(k + window) % n for k in range(n)], dtype=np.int64)
    order = np.random.default_rng(7).permutation(n)
    return x[order], y[order]


def build_model(units, learning_rate, window, seed):
    from .. import optimizers
    from ..layers import Dense, SimpleRNN
    from ..losses import SparseCategoricalCrossentropy
    from ..models import Sequential

    model = Sequential([
        SimpleRNN(units, input_shape=(window, len(ALPHABET)), seed=seed, name="simple_rnn"),
        Dense(len(ALPHABET), activation="softmax", seed=seed + 1, name="dense"),
    ], name="letters")
    model.compile(optimizer=optimizers.Adam(learning_rate),
                  loss=SparseCategoricalCrossentropy(from_logits=False),
                  metrics=["sparse_categorical_accuracy"])
    return model


def weights_text(model):
    """Every trainable variable as 'name', 'shape' and its values, as the tutorial writes weights.txt."""
    import numpy as np

    lines = []
    for variable in model.trainable_variables:
        lines.append(variable.name)
        lines.append(str(variable.shape))
        lines.append(np.array2string(variable.numpy(), precision=6, suppress_small=True, max_line_width=100))
        lines.append("")
    return "\n".join(lines)


def draw_curves(history, path):
    return draw_accuracy_and_loss(history, path, accuracy_key="sparse_categorical_accuracy")


def parse_queries(text, window, where="--predict"):
    """Split 'a,b,c' (or 'abcd,bcde') into inputs of ``window`` letters, each checked."""
    queries = [part.strip().lower() for part in text.replace("\n", ",").split(",") if part.strip()]
    if not queries:
        raise CliError(f"{where} needs letters such as {'a,b' if window == 1 else 'abcd,bcde'}, got {text!r}")
    for query in queries:
        if len(query) != window or any(ch not in ALPHABET for ch in query):
            raise CliError(f"{where}: {query!r} is not {window} letter{'s' if window > 1 else ''} "
                           f"from {ALPHABET!r}")
    return queries


def predict(model, queries):
    """The predicted next letter for each query string."""
    import numpy as np

    eye = np.eye(len(ALPHABET), dtype=np.float32)
    x = np.stack([eye[[ALPHABET.index(ch) for ch in q]] for q in queries])
    probs = model.predict(x)
    return [ALPHABET[i] for i in np.argmax(probs, axis=-1)]


def interactive(model, window):
    """The tutorial's loop: ask how many inputs to test, then read each and print 'a->b'."""
    try:
        answer = input("How many inputs to test? ").strip()
    except EOFError:  # standard input closed: nothing to test
        return
    try:
        count = parse_int(answer)
    except ValueError:
        raise CliError(f"expected a number of inputs, got {answer!r}") from None
    for _ in range(max(count, 0)):  # each turn waits for a line; the loop ends when the input does
        try:
            text = input(f"Input {window} letter{'s' if window > 1 else ''}: ").strip().lower()
        except EOFError:
            return
        try:
            query = parse_queries(text, window, where="input")[0]
        except CliError as err:
            say(f"  {err}")
            continue
        say(f"{query}->{predict(model, [query])[0]}")


def run(args):
    import numpy as np

    from ..io import atomic_write_text
    from ..random import set_random_seed

    window = MODES[args.mode]
    queries = None
    if args.predict is not None:  # check before training, so a typo costs nothing
        text = sys.stdin.read() if args.predict == "-" else args.predict
        queries = parse_queries(text, window)

    run_dir = open_run_dir(args, "letters")
    model_cfg, settings = split_config(args, MODEL_KEYS)
    run_dir.write_config(model_cfg, settings)
    say(f"run directory: {run_dir.path}")

    set_random_seed(args.seed)
    x, y = make_data(window)
    model = build_model(args.units, args.learning_rate, window, args.seed)
    model.summary(print_fn=say)
    if args.resume and not os.path.isdir(run_dir.backup_dir) and load_best(model, run_dir):
        say(f"loaded the checkpoint {run_dir.checkpoint_path}")

    model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose,
              callbacks=fit_callbacks(run_dir, monitor="loss"))
    loss, accuracy = model.evaluate(x, y, verbose=0)
    say(f"final: loss {loss:.4f}  accuracy {accuracy:.4f}  (after epoch {args.epochs})")

    path = run_dir.file("weights.txt")
    atomic_write_text(path, weights_text(model))
    wrote(path, "trainable variables: name, shape, values")
    wrote(run_dir.metrics_path, "per-epoch metrics")
    wrote(run_dir.checkpoint_path, "best checkpoint (monitor: loss)")
    if draw_curves(read_history(run_dir), run_dir.png("training_curves")):
        wrote(run_dir.png("training_curves"), "accuracy and loss")

    if queries is None:
        stdin = sys.stdin
        if stdin is not None and hasattr(stdin, "isatty") and stdin.isatty():
            try:
                interactive(model, window)
                return 0
            except EOFError:
                return 0
        queries = ["".join(ALPHABET[(k + t) % len(ALPHABET)] for t in range(window)) for k in range(len(ALPHABET))]
    for query, answer in zip(queries, predict(model, queries)):
        say(f"{query}->{answer}")
    return 0 if np.isfinite(loss) else 1
