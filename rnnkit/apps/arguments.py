"""Argument types every command shares, and the run options (--seed, --epochs, --run-dir, ...)."""
import math

from .reading import parse_float, parse_int
from .run_dir import CHECKPOINT_FILE, DEFAULT_ROOT, METRICS_FILE


def _argument_type(convert, accept, expected):
    """An argparse ``type``: ``convert(text)`` must succeed and satisfy ``accept``, else one clear error."""
    def parse(text):
        import argparse

        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


# Strict parsers: Python's int()/float() would also take "1_000", " 12 " or "١٢".
positive_int = _argument_type(parse_int, lambda v: v >= 1, "a positive integer")
non_negative_int = _argument_type(parse_int, lambda v: v >= 0, "a non-negative integer")
positive_float = _argument_type(parse_float, lambda v: math.isfinite(v) and v > 0, "a positive number")
unit_fraction = _argument_type(parse_float, lambda v: 0.0 <= v < 1.0, "a number in [0, 1)")
verbosity = _argument_type(parse_int, lambda v: v in (0, 1, 2), "0, 1 or 2")


def add_common_arguments(parser, epochs=10, batch_size=32, seed=0):
    """Add --seed, --epochs, --batch-size, --run-dir, --resume and --verbose with a command's defaults."""
    group = parser.add_argument_group("run options (every command)")
    group.add_argument("--seed", type=non_negative_int, default=seed,
                       help=f"seed of every random draw: same seed, same run (default {seed})")
    group.add_argument("--epochs", type=positive_int, default=epochs,
                       help=f"number of training epochs (default {epochs})")
    group.add_argument("--batch-size", type=positive_int, default=batch_size,
                       help=f"samples per gradient step (default {batch_size})")
    group.add_argument("--run-dir", default=None, metavar="DIR",
                       help=f"folder for config.json, {METRICS_FILE}, {CHECKPOINT_FILE} and the PNG pictures "
                            f"(default {DEFAULT_ROOT}/<command>-<date>-<time>)")
    group.add_argument("--resume", action="store_true",
                       help="continue the run in --run-dir (its model settings must match) up to --epochs")
    group.add_argument("--verbose", type=verbosity, choices=(0, 1, 2), default=1,
                       help="0 quiet, 1 progress bars (default), 2 one line per epoch")
    return group
