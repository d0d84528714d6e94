"""``rnnkit seq2seq train`` / ``rnnkit seq2seq translate``: an encoder-decoder on character pairs.

``train`` learns ``source -> target`` from tab-separated pairs (``--pairs FILE``, Tatoeba's
format) or, by default, from dates written in many human formats and their ISO 8601 form
(generated from the seed, see :mod:`rnnkit.apps.seq2seq_dates`). The model (see
:mod:`rnnkit.apps.seq2seq_model`) reads characters; after training, the held-out test pairs are
decoded greedily with :func:`rnnkit.seq2seq.greedy_decode` and scored:

    exact match = share of outputs equal to the reference
    CER         = Σ edit distance(output, reference) / Σ len(reference)     (character error rate)

next to two trivial answers (copy the source; always the most frequent training target).
``translate`` loads the run's model, rebuilds the inference models from its layers and
decodes text from the command line, ``--input FILE`` or standard input (greedy, or beam
search with ``--beam N``).
"""
import os
import sys
import time

HELP = "sequence-to-sequence: dates to ISO 8601 (default) or tab-separated pairs; attention heatmaps; translate"
DESCRIPTION = """Train an encoder-decoder on character pairs, then translate with it.

  train      learn source -> target from --pairs FILE (one pair a line: source TAB target;
             more tab-separated columns are ignored, as in the Tatoeba files of
             manythings.org/anki such as fra.txt) or, by default, from --dates N pairs of dates
             written the ways people write them ("Monday 30 Nov 2026", "30/11/26",
             "november 30, 2026", "2026.11.30", ...) and their ISO form 2026-11-30, generated
             from --seed (numeric dates are day first; yy means 19yy for yy >= 50, else 20yy).
             The pairs are shuffled and split 80/10/10 into training, validation (picks the
             best epoch) and test. Model: Embedding -> [Bidirectional] LSTM|GRU encoder whose
             final states start an LSTM|GRU decoder; with --attention the decoder's state
             queries the encoder's outputs (luong: dot-product scores, Keras's Attention;
             bahdanau: additive scores, Keras's AdditiveAttention) and the context joins it
             before the softmax. Trained with teacher forcing; the test pairs are then decoded
             greedily and scored by exact match and character error rate next to trivial
             answers. Writes model.rnnkit, config.json, metrics.csv, best.weights, results.json,
             training_curves.png and attention.png (the attention weights of a few test pairs).
  translate  decode with the model of a run directory: the texts given, each line of
             --input FILE, or lines typed on standard input; greedy, or beam search with
             --beam N (--length-penalty a: rank by log-probability / length^a).

examples:
  rnnkit seq2seq train --run-dir runs/dates                # dates, defaults: a few minutes
  rnnkit seq2seq translate --run-dir runs/dates "Friday 13 March 2026" "3/4/99"
  rnnkit seq2seq translate --run-dir runs/dates --beam 4 --input my_dates.txt
  rnnkit seq2seq train --pairs fra.txt --max-pairs 10000 --units 128 --epochs 30 --cell gru
"""
MODEL_KEYS = ("pairs", "dates", "max_pairs", "cell", "units", "embedding", "attention", "bidirectional",
              "max_source_length", "max_target_length", "seed")
MODEL_FILE = "model.rnnkit"
#: most dates --dates may ask for (each a Python string pair: far below any memory limit)
MAX_DATES = 2_000_000
#: test pairs whose attention weights are drawn
HEATMAPS = 4


def add_arguments(parser):
    import argparse

    from .arguments import add_common_arguments, positive_float, positive_int

    actions = parser.add_subparsers(dest="action", metavar="{train,translate}", title="actions")
    actions.required = True
    formatter = argparse.RawDescriptionHelpFormatter

    train = actions.add_parser("train", help="train on pairs and report exact match and character error rate",
                               description=DESCRIPTION, formatter_class=formatter)
    data = train.add_argument_group("data")
    data.add_argument("--pairs", metavar="FILE", default=None,
                      help="tab-separated pairs, one a line (default: generated dates)")
    data.add_argument("--max-pairs", type=positive_int, default=10000,
                      help="read at most this many pairs of --pairs, the first ones (default 10000)")
    data.add_argument("--dates", type=positive_int, default=20000,
                      help="number of date pairs to generate when no --pairs is given (default 20000)")
    data.add_argument("--max-source-length", type=positive_int, default=64,
                      help="longest source in characters; a longer one is an error (default 64)")
    data.add_argument("--max-target-length", type=positive_int, default=64,
                      help="longest target in characters; a longer one is an error (default 64)")
    model = train.add_argument_group("model")
    model.add_argument("--cell", choices=("lstm", "gru"), default="lstm", help="recurrent cell (default lstm)")
    model.add_argument("--units", type=positive_int, default=32,
                       help="encoder units per direction; the decoder has twice as many with a "
                            "bidirectional encoder (default 32)")
    model.add_argument("--embedding", type=positive_int, default=32, help="character embedding size (default 32)")
    model.add_argument("--attention", choices=("luong", "bahdanau", "none"), default="luong",
                       help="attention over the encoder's outputs (default luong)")
    model.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=True,
                       help="read the source in both directions (default: yes; --no-bidirectional: forward only)")
    model.add_argument("--learning-rate", type=positive_float, default=0.01, help="Adam's step (default 0.01)")
    model.add_argument("--clipnorm", type=positive_float, default=5.0,
                       help="clip each gradient to this norm (default 5)")
    add_common_arguments(train, epochs=3, batch_size=64)

    translate = actions.add_parser("translate", help="decode texts with a trained model",
                                   description=DESCRIPTION, formatter_class=formatter)
    translate.add_argument("texts", nargs="*", metavar="TEXT", help="texts to translate")
    translate.add_argument("--run-dir", required=True, metavar="DIR", help="run directory of 'seq2seq train'")
    translate.add_argument("--input", metavar="FILE", default=None, help="translate each line of FILE")
    translate.add_argument("--beam", type=positive_int, default=1,
                           help="beam width; 1 decodes greedily (default 1)")
    translate.add_argument("--length-penalty", type=_non_negative_float, default=0.0,
                           help="beam search ranks by log-probability / length^a (default 0: the sum)")
    translate.add_argument("--max-length", type=positive_int, default=None,
                           help="longest output (default: the run's --max-target-length)")


def _non_negative_float(text):
    import argparse
    import math

    from .reading import parse_float

    try:
        value = parse_float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def run(args):
    if args.action == "train":
        return train(args)
    return translate(args)


# ---------------------------------------------------------------------- train
def _load_pairs(args):
    from .console import CliError
    from .reading import check_regular_file
    from .seq2seq_data import check_lengths, read_pairs
    from .seq2seq_dates import date_pairs

    if args.pairs is not None:
        check_regular_file("--pairs", args.pairs)
        longest = args.max_source_length + args.max_target_length + 2
        _check_memory(f"--pairs {args.pairs!r}", min(os.stat(args.pairs).st_size, args.max_pairs * longest * 4))
        pairs = read_pairs(args.pairs, args.max_pairs, args.max_source_length, args.max_target_length)
        return pairs, f"{args.pairs} (the first {len(pairs):,} pairs)"
    if args.dates > MAX_DATES:
        raise CliError(f"--dates {args.dates}: at most {MAX_DATES:,} pairs")
    _check_memory(f"--dates {args.dates}", args.dates * 60)
    pairs = date_pairs(args.dates, args.seed)
    check_lengths(pairs, args.max_source_length, args.max_target_length, f"--dates {args.dates}")
    return pairs, f"{len(pairs):,} generated dates (seed {args.seed})"


def _check_memory(what, text_bytes):
    """Refuse data whose pairs (Python strings, their id arrays, the model's activations on them:
    about 40 bytes of memory per byte of text) would not fit in the memory available."""
    from ..errors import RnnkitMemoryError
    from ..memory_limits import check_bytes
    from .console import CliError

    try:
        check_bytes(f"{what}: about {text_bytes:,} bytes of text, as pairs,", 40 * text_bytes)
    except RnnkitMemoryError as err:
        raise CliError(str(err)) from None


def _check_size(args, source_size, target_size):
    from .seq2seq_model import decoder_units
    from .stacks import check_stack_size, stack_parameters

    directions = 2 if args.bidirectional else 1
    decoder = decoder_units(args.units, args.bidirectional)
    extra = (directions - 1) * stack_parameters(args.cell, args.units, 1, args.embedding)
    extra += stack_parameters(args.cell, decoder, 1, args.embedding)
    extra += (source_size + target_size) * args.embedding + (decoder * target_size if args.attention != "none" else 0)
    check_stack_size(args.cell, args.units, 1, args.embedding, target_size, extra=extra,
                     options=f"--units {args.units} and --embedding {args.embedding}")


def train(args):
    import numpy as np

    from .. import optimizers, set_random_seed
    from .console import say, wrote
    from .fitting import fit_callbacks, load_best
    from .pictures import draw_accuracy_and_loss
    from .run_dir import open_run_dir, read_history, split_config
    from .seq2seq_data import (SOURCE_RESERVED, TARGET_RESERVED, baselines, encode_sources, encode_targets, scores,
                               split, vocabularies)
    from .seq2seq_model import build_training_model

    pairs, described = _load_pairs(args)
    training, validation, test = split(pairs, args.seed)
    source_chars, target_chars = vocabularies(pairs)
    source_size, target_size = len(source_chars) + SOURCE_RESERVED, len(target_chars) + TARGET_RESERVED
    _check_size(args, source_size, target_size)

    run_dir = open_run_dir(args, "seq2seq")
    model_config, settings = split_config(args, MODEL_KEYS)
    model_config.update(pairs=args.pairs or "dates", source_chars=source_chars, target_chars=target_chars)
    if args.pairs is None:
        model_config["max_pairs"] = None
    else:
        model_config["dates"] = None
    settings.pop("action", None)
    run_dir.write_config(model_config, settings)
    say(f"run directory: {run_dir.path}")
    say(f"pairs: {described}; train {len(training):,}, validation {len(validation):,}, test {len(test):,}; "
        f"{len(source_chars)} source and {len(target_chars)} target characters")

    def arrays(part):
        target_in, target_out = encode_targets([t for _, t in part], target_chars)
        return [encode_sources([s for s, _ in part], source_chars), target_in], target_out

    x_train, y_train = arrays(training)
    set_random_seed(args.seed)
    model = build_training_model(source_size, target_size, args.cell, args.units, args.embedding, args.attention,
                                 args.bidirectional, args.seed)
    model.compile(optimizer=optimizers.Adam(args.learning_rate, clipnorm=args.clipnorm),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if args.verbose:
        model.summary(print_fn=say)
    started, cpu_started = time.perf_counter(), time.process_time()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose,
              validation_data=arrays(validation), callbacks=fit_callbacks(run_dir, monitor="val_loss"))
    fit_seconds, fit_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if load_best(model, run_dir):
        say(f"using the best weights (val_loss) from {run_dir.checkpoint_path}")
    path = run_dir.file(MODEL_FILE)
    model.save(path)
    wrote(path, "the best model; 'rnnkit seq2seq translate --run-dir' loads it")

    decoded = _decode_report(model, test, source_chars, target_chars, args.max_target_length)
    found = scores([d.text for d in decoded.outputs], [t for _, t in test])
    trivial = baselines(training, test)
    say(f"test pairs: {len(test):,}, decoded greedily in {decoded.seconds:.1f} s "
        f"({decoded.step_ms:.2f} ms per decoder step for {decoded.batch} sources at once)")
    say(f"{'':32}exact match     CER")
    say(f"{'model':32}{found['exact_match']:11.1%}  {found['cer']:6.4f}")
    for name, numbers in trivial.items():
        say(f"{'baseline: ' + name:32}{numbers['exact_match']:11.1%}  {numbers['cer']:6.4f}")
    for (source, target), output in list(zip(test, decoded.outputs))[:8]:
        mark = "" if output.text == target else f"   (expected {target})"
        say(f"  {source} -> {output.text}{mark}")
    results = {"exact_match": found["exact_match"], "cer": found["cer"], "test_pairs": len(test),
               "baselines": trivial, "fit_seconds": fit_seconds, "fit_cpu_seconds": fit_cpu,
               "decode_seconds": decoded.seconds, "decode_ms_per_step": decoded.step_ms,
               "epochs": int(len(read_history(run_dir).get("loss", [])))}
    wrote(run_dir.metrics_path, "per-epoch metrics")
    if draw_accuracy_and_loss(read_history(run_dir), run_dir.png("training_curves")):
        wrote(run_dir.png("training_curves"), "accuracy (per character) and loss")
    if args.attention != "none":
        from .seq2seq_pictures import draw_attention

        examples = [(s, d.text, d.attention) for (s, _), d in zip(test[:HEATMAPS], decoded.outputs)]
        if draw_attention(examples, run_dir.png("attention")):
            wrote(run_dir.png("attention"), f"attention weights of {len(examples)} test pairs")
    wrote(run_dir.write_results(results), "final numbers")
    return 0 if np.isfinite(found["cer"]) else 1


class _Decoded:
    def __init__(self, outputs, seconds, steps, batch):
        self.outputs, self.seconds, self.batch = outputs, seconds, batch
        self.step_ms = 1000.0 * seconds / max(1, steps)


def _decode_report(model, test, source_chars, target_chars, max_target_length):
    """Greedy decoding of the test sources (all at once), timed; a decoder step's time is the whole
    time over the number of steps the longest output took."""
    from .seq2seq_model import Translator

    translator = Translator(model, source_chars, target_chars, max_target_length + 1)
    started = time.perf_counter()
    outputs = translator([s for s, _ in test], attention=True, batch_size=len(test))
    seconds = time.perf_counter() - started
    return _Decoded(outputs, seconds, max(len(o.tokens) + 1 for o in outputs), len(test))


# ---------------------------------------------------------------------- translate
def _trained_model(run_dir, config):
    """The model of a train run: model.rnnkit, or (after an interrupted run) best.weights on the model
    rebuilt from config.json's settings; checked to read and write the config's vocabularies."""
    from ..models import load_model
    from .console import CliError
    from .seq2seq_data import SOURCE_RESERVED, TARGET_RESERVED

    path = run_dir.file(MODEL_FILE)
    source_chars, target_chars = config["source_chars"], config["target_chars"]
    if os.path.isfile(path):
        model = load_model(path, compile=False)
    elif run_dir.has_checkpoint():
        model = _rebuilt_model(run_dir, config, len(source_chars) + SOURCE_RESERVED,
                               len(target_chars) + TARGET_RESERVED)
        path = run_dir.checkpoint_path
    else:
        raise CliError(f"{run_dir.path!r} holds no trained model ({MODEL_FILE} or best.weights); run "
                       f"'rnnkit seq2seq train --run-dir {run_dir.path}' first")
    names = {layer.name for layer in model.layers}
    needed = {"source_embedding", "encoder", "target_embedding", "decoder", "output"}
    if not needed <= names or len(model.inputs) != 2:
        raise CliError(f"{path!r} is not a model written by 'rnnkit seq2seq train' (it lacks the layers "
                       f"{sorted(needed - names)})")
    reads = model.get_layer("source_embedding").input_dim
    writes = model.get_layer("output").units
    if reads != len(source_chars) + SOURCE_RESERVED or writes != len(target_chars) + TARGET_RESERVED:
        raise CliError(f"{run_dir.config_path!r} lists {len(source_chars)} source and {len(target_chars)} target "
                       f"characters but the model reads {reads - SOURCE_RESERVED} and writes "
                       f"{writes - TARGET_RESERVED}; was config.json edited?")
    return model


def _rebuilt_model(run_dir, config, source_size, target_size):
    """The training model rebuilt from config.json (its settings checked first) with best.weights loaded."""
    import argparse

    from .console import CliError
    from .seq2seq_model import build_training_model

    def positive(value):
        return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 1 << 20

    checks = {"cell": lambda v: v in ("lstm", "gru"), "attention": lambda v: v in ("luong", "bahdanau", "none"),
              "bidirectional": lambda v: isinstance(v, bool), "units": positive, "embedding": positive}
    for key, ok in checks.items():
        if not ok(config.get(key)):
            raise CliError(f"{run_dir.config_path!r}: its model setting {key!r} is {config.get(key)!r:.60}, which "
                           f"'rnnkit seq2seq train' never writes; was config.json edited?")
    settings = argparse.Namespace(**{key: config[key] for key in checks})
    _check_size(settings, source_size, target_size)
    model = build_training_model(source_size, target_size, settings.cell, settings.units, settings.embedding,
                                 settings.attention, settings.bidirectional)
    model.load_weights(run_dir.checkpoint_path)
    return model


def _characters(run_dir, settings, key):
    from .console import CliError

    value = settings.get(key)
    if not isinstance(value, str) or not value or len(set(value)) != len(value):
        raise CliError(f"{run_dir.config_path!r}: its {key} must be a non-empty string of distinct characters, "
                       f"got {value!r:.60}; was config.json edited?")
    return value


def _texts(args):
    """The texts to translate: the arguments, then --input's lines; None for standard input."""
    from .reading import open_text

    texts = list(args.texts)
    if args.input is not None:
        with open_text("--input", args.input, encoding="utf-8-sig") as handle:
            texts += [line.rstrip("\r\n") for line in handle if line.strip()]
    return texts if texts or args.input is not None else None


def translate(args):
    from .console import CliError, say
    from .run_dir import RunDir

    from .run_dir import CONFIG_FILE

    if not os.path.isfile(os.path.join(args.run_dir, CONFIG_FILE)):
        raise CliError(f"--run-dir {args.run_dir!r} holds no run ({CONFIG_FILE} is missing); train one with "
                       f"'rnnkit seq2seq train --run-dir {args.run_dir}'")
    run_dir = RunDir("seq2seq", args.run_dir, resume=True)
    config = run_dir.read_config()
    if config.get("command") != "seq2seq":
        raise CliError(f"--run-dir {args.run_dir!r} holds a run of 'rnnkit {config.get('command')}', "
                       f"not of 'rnnkit seq2seq train'")
    settings = config.get("model", {})
    source_chars = _characters(run_dir, settings, "source_chars")
    target_chars = _characters(run_dir, settings, "target_chars")
    limit = settings.get("max_target_length")
    max_length = args.max_length or (limit + 1 if isinstance(limit, int) and 0 < limit < 10**6 else 100)
    texts = _texts(args)
    model = _trained_model(run_dir, settings)

    from .seq2seq_model import Translator

    translator = Translator(model, source_chars, target_chars, max_length)

    def show(batch):
        unknown = sorted({c for text in batch for c in text} - set(source_chars))
        if unknown:
            say(f"note: {', '.join(map(repr, unknown[:10]))} never appeared in training; read as unknown")
        for text, output in zip(batch, translator(batch, beam=args.beam, length_penalty=args.length_penalty)):
            say(f"{text} -> {output.text}")

    if texts is not None:
        if texts:
            show(texts)
        return 0
    interactive = sys.stdin is not None and hasattr(sys.stdin, "isatty") and sys.stdin.isatty()
    if interactive:
        say("type a text and Enter to translate it; an empty line or Ctrl-D ends")
    for line in sys.stdin if sys.stdin is not None else ():
        text = line.rstrip("\r\n")
        if not text.strip():
            if interactive:
                break
            continue
        show([text])
    return 0
