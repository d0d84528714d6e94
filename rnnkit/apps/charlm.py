"""``rnnkit charlm train`` / ``rnnkit charlm sample``: a character-level language model.

``train`` reads a text (``--text FILE``, or by default a fixed set of the running
interpreter's standard-library modules), learns to predict every next character
with an LSTM, GRU or SimpleRNN, reports training and validation bits per character
after every epoch, saves the model in the run directory and prints a sample.
``sample`` loads that model and writes new text.
"""
from .charlm_data import DEFAULT_MODULES

HELP = "character-level language model: train on a text, then sample from it"


def _description():
    modules = ", ".join(DEFAULT_MODULES)
    return f"""\
Train a character-level language model and sample from it.

  train   read a text, cut it into windows of --seq-len characters (every tenth
          window validates), train Embedding -> {{LSTM|GRU|SimpleRNN}} x --layers ->
          Dense(vocabulary) to predict every next character, and report bits per
          character (the loss in nats / ln 2) for training and validation every epoch.
          --tbptt-steps K backpropagates through K steps at a time, carrying the state
          along each window. Saves model.rnnkit, metrics.csv, best.weights, config.json,
          bits_per_char.png and sample.txt in the run directory.
  sample  load the model of a run directory and generate --length characters after
          --prime, drawing each from softmax(logits / --temperature).

Default text (offline, always present): these modules of the running interpreter's
standard library (sysconfig.get_paths()["stdlib"]), concatenated in this order:
  {modules}

examples:
  rnnkit charlm train --run-dir runs/pylm               # LSTM(128), 30 epochs: a few minutes
  rnnkit charlm sample --run-dir runs/pylm --prime "def " --temperature 0.7
  rnnkit charlm train --text poems.txt --cell gru --layers 2 --units 128 --tbptt-steps 25
"""


DESCRIPTION = _description()
MODEL_KEYS = ("text", "cell", "layers", "units", "embedding", "seq_len")
MODEL_FILE = "model.rnnkit"


def add_arguments(parser):
    import argparse

    from .arguments import add_common_arguments, non_negative_int, positive_float, positive_int

    actions = parser.add_subparsers(dest="action", metavar="{train,sample}", title="actions")
    actions.required = True
    formatter = argparse.RawDescriptionHelpFormatter

    train = actions.add_parser("train", help="train on a text and report bits per character",
                               description=DESCRIPTION, formatter_class=formatter)
    group = train.add_argument_group("text and model")
    group.add_argument("--text", metavar="FILE", default=None,
                       help="UTF-8 text to learn (default: the standard-library modules listed above)")
    group.add_argument("--cell", choices=("lstm", "gru", "simplernn"), default="lstm",
                       help="recurrent cell (default lstm)")
    group.add_argument("--layers", type=positive_int, default=1, help="stacked recurrent layers (default 1)")
    group.add_argument("--units", type=positive_int, default=128, help="units per recurrent layer (default 128)")
    group.add_argument("--embedding", type=positive_int, default=32,
                       help="size of the character embedding (default 32)")
    group.add_argument("--seq-len", type=positive_int, default=64,
                       help="characters per training window (default 64)")
    group.add_argument("--tbptt-steps", type=positive_int, default=None,
                       help="truncated BPTT: backpropagate through this many steps at a time, carrying "
                            "the state across (default: the whole window)")
    group.add_argument("--learning-rate", type=positive_float, default=0.005, help="Adam's step (default 0.005)")
    group.add_argument("--clipnorm", type=positive_float, default=5.0,
                       help="clip each gradient to this norm (default 5)")
    group.add_argument("--sample-length", type=positive_int, default=400,
                       help="characters of the sample printed after training (default 400)")
    add_common_arguments(train, epochs=30, batch_size=32)

    sample = actions.add_parser("sample", help="generate text with a trained model",
                                description=DESCRIPTION, formatter_class=formatter)
    sample.add_argument("--run-dir", required=True, metavar="DIR", help="run directory of 'charlm train'")
    sample.add_argument("--length", type=positive_int, default=500, help="characters to generate (default 500)")
    sample.add_argument("--temperature", type=positive_float, default=0.8,
                        help="softmax temperature: < 1 safer, > 1 wilder (default 0.8)")
    sample.add_argument("--prime", default="",
                        help="text the model reads before generating (default: a newline)")
    sample.add_argument("--seed", type=non_negative_int, default=0, help="seed of the draws (default 0)")
    sample.add_argument("--output", metavar="FILE", default=None,
                        help="also write the sample to FILE (default: sample.txt in the run directory)")


def run(args):
    if args.action == "train":
        return train(args)
    return sample(args)


# ---------------------------------------------------------------------- train
def _load_text(args):
    from .charlm_data import TextError, default_text, read_text
    from .console import CliError

    try:
        if args.text is None:
            return default_text()
        return read_text(args.text), args.text
    except TextError as err:
        raise CliError(str(err)) from None


def train(args):
    import numpy as np

    from .. import set_random_seed
    from ..losses import SparseCategoricalCrossentropy
    from ..optimizers import Adam
    from .charlm_data import TextError, encode, split_windows, vocabulary
    from .charlm_model import BitsPerCharacter, bits, build_model, generate
    from .console import CliError, say, wrote
    from .fitting import fit_callbacks, load_best
    from .run_dir import open_run_dir, split_config
    from .stacks import check_stack_size

    text, source = _load_text(args)
    vocab = vocabulary(text)
    ids = encode(text, vocab)
    try:
        (x_train, y_train), (x_val, y_val) = split_windows(ids, args.seq_len)
    except TextError as err:
        raise CliError(str(err)) from None
    if args.tbptt_steps is not None and args.tbptt_steps > args.seq_len:
        raise CliError(f"--tbptt-steps {args.tbptt_steps} is longer than --seq-len {args.seq_len}; "
                       f"choose at most {args.seq_len} (or leave it out for full BPTT)")
    check_stack_size(args.cell, args.units, args.layers, args.embedding, len(vocab), extra=len(vocab) * args.embedding,
                     options=f"--units {args.units}, --layers {args.layers} and --embedding {args.embedding}")

    run_dir = open_run_dir(args, "charlm")
    model_config, settings = split_config(args, MODEL_KEYS)
    model_config["text"] = args.text or "stdlib"
    model_config["vocab"] = vocab
    settings.pop("action", None)
    run_dir.write_config(model_config, settings)
    say(f"text: {len(text):,} characters, {len(vocab)} distinct, from {source}")
    say(f"{len(x_train)} training and {len(x_val)} validation windows of {args.seq_len} characters; "
        f"uniform guessing would cost {np.log2(len(vocab)):.2f} bits per character")

    set_random_seed(args.seed)
    model = build_model(len(vocab), args.cell, args.layers, args.units, args.embedding, args.seed)
    model.build((None, args.seq_len))
    model.compile(optimizer=Adam(args.learning_rate, clipnorm=args.clipnorm),
                  loss=SparseCategoricalCrossentropy(from_logits=True))
    if args.verbose:
        model.summary()
    callbacks = [BitsPerCharacter()] + fit_callbacks(run_dir, monitor="val_loss")
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose,
              validation_data=(x_val, y_val), callbacks=callbacks, tbptt_steps=args.tbptt_steps)

    _report_epochs(run_dir)
    load_best(model, run_dir)
    val_bpc = bits(model.evaluate(x_val, y_val, batch_size=args.batch_size, verbose=0))
    say(f"best model: validation {val_bpc:.3f} bits per character")
    path = run_dir.file(MODEL_FILE)
    model.save(path)
    wrote(path, "the best model; 'rnnkit charlm sample --run-dir' loads it")

    prime = _default_prime(vocab)
    text_out = generate(model, vocab, encode(prime, vocab), args.sample_length, 0.8,
                        np.random.default_rng(args.seed))
    say(f"--- sample (temperature 0.8, {args.sample_length} characters) ---")
    say(prime + text_out)
    say("--- end of sample ---")
    from ..io import atomic_write_text

    atomic_write_text(run_dir.file("sample.txt"), prime + text_out)
    wrote(run_dir.file("sample.txt"), "the sample above")
    _draw(run_dir)
    return 0


def _report_epochs(run_dir):
    from .console import say
    from .run_dir import read_history

    history = read_history(run_dir)
    bpc, val_bpc = history.get("bpc", []), history.get("val_bpc", [])
    if not bpc:
        return
    say("epoch   train bits/char   validation bits/char")
    for epoch, (a, b) in enumerate(zip(bpc, val_bpc), start=1):
        say(f"{epoch:5d}   {a:15.3f}   {b:20.3f}")


def _draw(run_dir):
    from .console import wrote
    from .pictures import pyplot, save_figure
    from .run_dir import read_history

    plt = pyplot()
    if plt is None:
        return
    history = read_history(run_dir)
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label in (("bpc", "training"), ("val_bpc", "validation")):
        values = history.get(key, [])
        ax.plot(range(1, len(values) + 1), values, marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("bits per character")
    ax.set_title("Character language model")
    ax.grid(True, alpha=0.3)
    ax.legend()
    wrote(save_figure(fig, run_dir.png("bits_per_char")), "bits per character per epoch")


def _default_prime(vocab):
    return "\n" if "\n" in vocab else vocab[0]


# ---------------------------------------------------------------------- sample
def _trained_model(run_dir, config):
    """The model of a train run: model.rnnkit, or (after an interrupted run) best.weights on a rebuilt model."""
    import os

    from ..models import load_model
    from .charlm_model import build_model
    from .console import CliError

    model_path = run_dir.file(MODEL_FILE)
    if os.path.isfile(model_path):
        return load_model(model_path, compile=False)
    if run_dir.has_checkpoint():
        m = _rebuild_settings(run_dir, config["model"])
        model = build_model(len(m["vocab"]), m["cell"], m["layers"], m["units"], m["embedding"])
        model.build((None, m["seq_len"]))
        model.load_weights(run_dir.checkpoint_path)
        return model
    raise CliError(f"{run_dir.path!r} holds no trained model ({MODEL_FILE} or best.weights); "
                   f"run 'rnnkit charlm train --run-dir {run_dir.path}' first")


def _vocabulary(run_dir, config):
    """config.json's vocabulary, checked: a non-empty string of distinct characters."""
    from .console import CliError

    vocab = config["model"]["vocab"]
    if not isinstance(vocab, str) or not vocab or len(set(vocab)) != len(vocab):
        shown = repr(vocab) if len(repr(vocab)) <= 60 else repr(vocab)[:57] + "..."
        raise CliError(f"{run_dir.config_path!r}: its vocabulary must be a non-empty string of distinct characters "
                       f"(the model's classes, in order), got {shown}; was config.json edited?")
    return vocab


def _rebuild_settings(run_dir, settings):
    """The model settings of config.json needed to rebuild the model around best.weights, checked."""
    from .console import CliError
    from .stacks import check_stack_size

    checks = {"cell": lambda v: v in ("lstm", "gru", "simplernn"),
              **{key: lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0
                 for key in ("layers", "units", "embedding", "seq_len")}}
    for key, ok in checks.items():
        if not ok(settings.get(key)):
            raise CliError(f"{run_dir.config_path!r}: its model setting {key!r} is {settings.get(key)!r}, which "
                           f"'rnnkit charlm train' never writes; was config.json edited?")
    vocab_size = len(settings["vocab"])
    check_stack_size(settings["cell"], settings["units"], settings["layers"], settings["embedding"], vocab_size,
                     extra=vocab_size * settings["embedding"])
    return settings


def _check_fits_vocabulary(run_dir, model, vocab):
    """The model reads and predicts exactly the vocabulary's characters (an edited vocabulary does not fit)."""
    from .console import CliError

    reads = getattr(model.layers[0], "input_dim", None)
    predicts = model.output_shape[-1]
    if reads != len(vocab) or predicts != len(vocab):
        raise CliError(f"{run_dir.config_path!r} lists {len(vocab)} characters but the trained model reads {reads} "
                       f"and predicts {predicts}; was config.json edited?")


def sample(args):
    import numpy as np

    from .charlm_data import TextError, encode
    from .charlm_model import generate
    from .console import CliError, say, wrote
    from .run_dir import RunDir

    run_dir = RunDir("charlm", args.run_dir, resume=True)
    config = run_dir.read_config()
    if config.get("command") != "charlm" or "vocab" not in config.get("model", {}):
        raise CliError(f"--run-dir {args.run_dir!r} holds a run of 'rnnkit {config.get('command')}', "
                       f"not of 'rnnkit charlm train'")
    vocab = _vocabulary(run_dir, config)
    prime = args.prime or _default_prime(vocab)
    try:
        prime_ids = encode(prime, vocab)
    except TextError as err:
        raise CliError(f"--prime {args.prime!r}: {err}") from None
    model = _trained_model(run_dir, config)
    _check_fits_vocabulary(run_dir, model, vocab)
    text = generate(model, vocab, prime_ids, args.length, args.temperature, np.random.default_rng(args.seed))
    say(prime + text)
    from ..io import atomic_write_text

    output = args.output or run_dir.file("sample.txt")
    atomic_write_text(output, prime + text)
    wrote(output, f"{args.length} characters at temperature {args.temperature}")
    return 0
