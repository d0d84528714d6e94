"""``rnnkit forecast``: forecast a time series several steps ahead with a recurrent network.

The series s_1..s_n (one CSV column) becomes supervised pairs: the input is a window
of W values ``s[o-W:o]`` and the target the next H values ``s[o:o+H]`` (one model
output per step ahead, "direct" multi-step forecasting). Values are standardised with
the mean and standard deviation of the training part only. A window's pair belongs to
the training, validation or test part by where its targets lie (time order is kept:
validation follows training, test comes last), so no test value is ever trained on.

The model is ``--layers`` recurrent layers (LSTM, GRU or SimpleRNN) and ``Dense(H)``,
trained on mean squared error with Adam; the weights of the best validation loss are
kept. Reported on the test part, in the series' own units:

    RMSE = sqrt(mean((y_hat - y)^2)),   MAE = mean(|y_hat - y|)

next to the last-value baseline y_hat[o+h] = s[o-1] for every h (the naive forecast).
"""
import csv
import math
import os

from .arguments import add_common_arguments, positive_float, positive_int, unit_fraction
from .console import CliError, say, wrote
from .fitting import fit_callbacks, load_best
from ..errors import RnnkitMemoryError
from .pictures import pyplot, save_figure
from .reading import open_text, parse_float
from .run_dir import open_run_dir, read_history, split_config
from .stacks import CELLS, check_stack_size, recurrent_stack

HELP = "time-series forecasting from a CSV column (default: yearly sunspots)"
DESCRIPTION = """Forecast a time series several steps ahead.

Reads one numeric column of a CSV file (by default the yearly sunspot numbers 1700-2008
shipped with rnnkit: public domain, from NOAA's National Geophysical Data Center), cuts it
into windows of --window values each followed by --horizon values to predict, standardises
with the training part's statistics, trains an LSTM/GRU/SimpleRNN + Dense model, and
reports the test RMSE and MAE next to the last-value baseline (repeat the last value seen).
Writes forecast.png (history, test forecasts and the truth), training_curves.png,
forecast.csv (the forecast beyond the end of the data) and the usual run files.

examples:
  rnnkit forecast
  rnnkit forecast --csv prices.csv --column close --window 30 --horizon 7 --cell gru
"""

DEFAULT_CSV = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "sunspots.csv")
DEFAULT_COLUMN = "SUNACTIVITY"
MIN_TRAIN_SAMPLES = 8
# validation and test together may take at most 95% of the series (a sane bound, and it keeps
# minimum_rows's exact search short: it looks at most 2 / MIN_TRAIN_FRACTION + 1 points)
MIN_TRAIN_FRACTION = 0.05
MODEL_KEYS = ("csv", "column", "window", "horizon", "cell", "units", "layers", "val_fraction", "test_fraction",
              "learning_rate")


def add_arguments(parser):
    data = parser.add_argument_group("data")
    data.add_argument("--csv", default=None, metavar="FILE",
                      help="CSV file with a header row (default: the bundled yearly sunspot numbers)")
    data.add_argument("--column", default=None, metavar="NAME",
                      help=f"column to forecast (default {DEFAULT_COLUMN} for the bundled data, "
                           f"else the last column)")
    data.add_argument("--window", type=positive_int, default=24, help="past values the model reads (default 24)")
    data.add_argument("--horizon", type=positive_int, default=5, help="steps ahead to forecast (default 5)")
    data.add_argument("--val-fraction", type=unit_fraction, default=0.15,
                      help="share of the series (after training, before test) for validation (default 0.15)")
    data.add_argument("--test-fraction", type=unit_fraction, default=0.15,
                      help="share of the series at its end held out for testing (default 0.15)")
    model = parser.add_argument_group("model")
    model.add_argument("--cell", choices=sorted(CELLS), default="lstm", help="recurrent cell (default lstm)")
    model.add_argument("--units", type=positive_int, default=32, help="units per recurrent layer (default 32)")
    model.add_argument("--layers", type=positive_int, default=1, help="recurrent layers (default 1)")
    model.add_argument("--learning-rate", type=positive_float, default=0.005, help="Adam step size (default 0.005)")
    add_common_arguments(parser, epochs=80, batch_size=16)


# ---------------------------------------------------------------------- reading the series
class SparseLabels:
    """The first-column labels (years, dates) of a long series, kept at every ``stride``-th row only.

    Labels only name a handful of axis ticks, so memory stays bounded (at most ``2 * keep`` strings)
    however long the file is: whenever the kept list fills up, every other label is dropped and the
    stride doubles.
    """

    def __init__(self, keep=2048):
        self.keep, self.stride, self.kept, self.count = keep, 1, [], 0

    def add(self, text):
        if self.count % self.stride == 0:
            self.kept.append(text)
            if len(self.kept) >= 2 * self.keep:
                self.kept, self.stride = self.kept[::2], self.stride * 2
        self.count += 1

    def ticks(self, first, last, count=6):
        """Up to ``count`` (position, label) pairs between positions ``first`` and ``last``, at kept rows."""
        import numpy as np

        wanted = np.linspace(first, last, count).astype(int)
        positions = sorted({int(p) - int(p) % self.stride for p in wanted})
        return [(p, self.kept[p // self.stride]) for p in positions if p // self.stride < len(self.kept)]


def read_series(path, column):
    """The values of ``column`` in the CSV file ``path`` as a float64 array, with one-line errors.

    The file is streamed row by row: memory is 8 bytes per value (and a bounded number of labels),
    not the whole text. Returns (values, column name, :class:`SparseLabels` or None): the first
    column is kept as labels (years, dates) when it is not the forecast column.
    """
    import array

    import numpy as np

    values, labels, index, header = array.array("d"), None, None, None
    with open_text("--csv", path, encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if header is None:
                    header = [name.strip() for name in row]
                    column = header[-1] if column is None else column
                    if column not in header:
                        raise CliError(f"--column: {path!r} has no column {column!r}; its columns are "
                                       f"{', '.join(header)}")
                    index = header.index(column)
                    labels = SparseLabels() if index != 0 else None
                    continue
                try:  # inline: this runs once per row of files with millions of them
                    value = parse_float(row[index].strip())
                except (ValueError, IndexError):
                    value = math.nan
                if not math.isfinite(value):
                    _refuse(row, index, reader.line_num, path, column)
                values.append(value)
                if labels is not None:
                    labels.add(row[0].strip())
        except csv.Error as err:
            raise CliError(f"--csv: {path!r} line {reader.line_num} is not CSV ({err})") from None
    if header is None:
        raise CliError(f"--csv: {path!r} is empty; expected a header row and numeric rows")
    return np.frombuffer(values, dtype=np.float64), column, labels


def _refuse(row, index, line, path, column):
    """The one-line error for a cell of the forecast column that is not a finite number."""
    text = row[index].strip() if index < len(row) else ""
    try:
        parse_float(text)
    except ValueError:
        raise CliError(f"--csv: {path!r} line {line}, column {column!r}: {text!r} is not a number") from None
    raise CliError(f"--csv: {path!r} line {line}, column {column!r}: {text!r} is not a finite number")


def split_sizes(n, window, horizon, val_fraction, test_fraction):
    """Points in (train, val, test): val/test hold at least ``horizon`` points each (or none if fraction 0)."""
    n_test = max(horizon, int(round(n * test_fraction))) if test_fraction > 0 else 0
    n_val = max(horizon, int(round(n * val_fraction))) if val_fraction > 0 else 0
    return n - n_val - n_test, n_val, n_test


def check_fractions(val_fraction, test_fraction):
    """Validation and test together must leave at least MIN_TRAIN_FRACTION of the series for training."""
    if val_fraction + test_fraction > 1.0 - MIN_TRAIN_FRACTION:
        raise CliError(f"--val-fraction {val_fraction} and --test-fraction {test_fraction} leave "
                       f"{max(0.0, 1.0 - val_fraction - test_fraction):.3g} of the series for training; together "
                       f"they may take at most {1.0 - MIN_TRAIN_FRACTION:.3g}")


def minimum_rows(window, horizon, val_fraction, test_fraction):
    """The fewest points that give every part at least one window (and training MIN_TRAIN_SAMPLES).

    Closed form, not a count upwards (which never ended when the fractions left no training part):
    the training points ``f(n) = n - n_val(n) - n_test(n)`` lie between two nondecreasing bounds
    ``low(n) <= f(n) <= high(n)`` that differ by at most 2, from ``x - 0.5 <= round(x) <= x + 0.5``
    and ``max(h, r) >= h``. The answer lies between the first n where ``high`` reaches the need and
    the first where ``low`` does (found by bisection), at most ``2 / (1 - val - test) + 1`` points
    apart, and those few are checked exactly.
    """
    check_fractions(val_fraction, test_fraction)
    need = window + horizon - 1 + MIN_TRAIN_SAMPLES
    v, t = val_fraction, test_fraction
    h_v, h_t = (horizon if v > 0 else 0), (horizon if t > 0 else 0)

    # n * v is the very float split_sizes rounds, so the bounds hold exactly; the 1e-6 only keeps
    # each comparison on the safe side of a last-bit difference in the subtraction
    def high(n):
        return n - max(h_v, n * v - 0.5) - max(h_t, n * t - 0.5) + 1e-6

    def low(n):
        return n - max(h_v, n * v + 0.5 if v > 0 else 0) - max(h_t, n * t + 0.5 if t > 0 else 0) - 1e-6

    def first(bound):
        lo, hi = 1, 1
        while bound(hi) < need:
            hi *= 2
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (mid + 1, hi) if bound(mid) < need else (lo, mid)
        return lo

    for n in range(first(high), first(low) + 1):
        if split_sizes(n, window, horizon, v, t)[0] >= need:
            return n
    return first(low)  # not reached: low(n) >= need implies the exact count is too


def make_windows(series, window, horizon, start, stop):
    """Pairs whose targets lie in series[start:stop]: x (N, window, 1), y (N, horizon), origins (N,)."""
    import numpy as np

    from ..memory_limits import check_bytes

    origins = np.arange(max(start, window), stop - horizon + 1)
    if not len(origins):
        return np.zeros((0, window, 1), np.float32), np.zeros((0, horizon), np.float32), origins
    try:
        check_bytes(f"--window {window} and --horizon {horizon}: {len(origins):,} windows",
                    len(origins) * (window + horizon) * 4)
    except RnnkitMemoryError as err:
        raise CliError(str(err)) from None
    windows = np.lib.stride_tricks.sliding_window_view  # views: only the fancy indexing below copies
    x = windows(series, window)[origins - window].astype(np.float32)
    y = windows(series, horizon)[origins].astype(np.float32)
    return x[..., None], y, origins


# ---------------------------------------------------------------------- model and metrics
def build_model(args):
    from .. import optimizers
    from ..layers import Dense
    from ..models import Sequential

    model = Sequential(recurrent_stack(args.cell, args.units, args.layers, (args.window, 1), args.seed)
                       + [Dense(args.horizon, seed=args.seed + 100, name="forecast")], name="forecast")
    model.compile(optimizer=optimizers.Adam(args.learning_rate), loss="mse", metrics=["mae"])
    return model


def errors(prediction, truth):
    """(RMSE, MAE) over every sample and step."""
    import numpy as np

    diff = np.asarray(prediction, np.float64) - np.asarray(truth, np.float64)
    return float(np.sqrt(np.mean(diff ** 2))), float(np.mean(np.abs(diff)))


# ---------------------------------------------------------------------- pictures
def draw_forecast(path, series, labels, split, test, future, column, horizon):
    """History, one chosen test forecast and its truth, the future forecast, and the 1-step test fit."""
    import numpy as np

    plt = pyplot()
    if plt is None:
        return None
    t = np.arange(len(series))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7))
    top.plot(t, series, color="0.3", lw=1, label="history")
    n_train, n_val = split
    top.axvspan(n_train, n_train + n_val, color="tab:orange", alpha=0.08, label="validation")
    top.axvspan(n_train + n_val, len(series), color="tab:green", alpha=0.08, label="test")
    if test is not None:
        origins, pred, truth = test
        o = origins[-1]
        steps = np.arange(o, o + horizon)
        top.plot(steps, truth[-1], "o-", color="tab:green", ms=3, label="truth (last test window)")
        top.plot(steps, pred[-1], "o-", color="tab:blue", ms=3, label="forecast (last test window)")
        top.plot([o - 1, o + horizon - 1], [series[o - 1]] * 2, "--", color="tab:red", lw=1,
                 label="last-value baseline")
        bottom.plot(origins, truth[:, 0], color="tab:green", label="truth")
        bottom.plot(origins, pred[:, 0], color="tab:blue", label="forecast, 1 step ahead")
        bottom.plot(origins, series[origins - 1], "--", color="tab:red", lw=1, label="last value")
        bottom.set_title("Test part: one-step-ahead forecasts")
        bottom.legend(fontsize=8)
    steps = np.arange(len(series), len(series) + horizon)
    top.plot(steps, future, "o--", color="tab:purple", ms=3, label=f"forecast beyond the data ({horizon} steps)")
    top.set_title(f"{column}: history and {horizon}-step forecasts")
    if labels is not None:  # label the axes with the CSV's first column (years, dates) instead of positions
        spans = [(top, 0, len(series) - 1)]
        if test is not None:
            spans.append((bottom, int(test[0][0]), int(test[0][-1])))
        for ax, first, last in spans:
            ticks = labels.ticks(first, last)
            ax.set_xticks([position for position, _ in ticks])
            ax.set_xticklabels([text for _, text in ticks])
    if test is None:
        bottom.set_visible(False)
    top.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return save_figure(fig, path)


def draw_curves(history, path):
    plt = pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [int(e) + 1 for e in history.get("epoch", [])]
    ax.plot(epochs, history.get("loss", []), label="training loss (scaled MSE)")
    if "val_loss" in history:
        ax.plot(epochs, history["val_loss"], label="validation loss")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.legend()
    return save_figure(fig, path)


# ---------------------------------------------------------------------- the command
def run(args):
    import numpy as np

    from ..io import atomic_write_text
    from ..random import set_random_seed

    bundled = args.csv is None
    path = DEFAULT_CSV if bundled else args.csv
    column = args.column if args.column is not None else (DEFAULT_COLUMN if bundled else None)
    need = minimum_rows(args.window, args.horizon, args.val_fraction, args.test_fraction)  # checks the fractions
    check_stack_size(args.cell, args.units, args.layers, 1, args.horizon)
    series, column, labels = read_series(path, column)
    if len(series) < need:
        raise CliError(f"--csv: {path!r} has {len(series)} rows in column {column!r}; --window {args.window} "
                       f"and --horizon {args.horizon} need at least {need}")
    args.column = column
    n_train, n_val, n_test = split_sizes(len(series), args.window, args.horizon, args.val_fraction,
                                         args.test_fraction)

    run_dir = open_run_dir(args, "forecast")
    model_cfg, settings = split_config(args, MODEL_KEYS)
    model_cfg["csv"] = "bundled:sunspots.csv" if bundled else os.path.abspath(path)
    run_dir.write_config(model_cfg, settings)
    say(f"run directory: {run_dir.path}")
    source = "bundled yearly sunspot numbers 1700-2008 (NOAA NGDC, public domain)" if bundled else path
    say(f"series: {source}, column {column!r}, {len(series)} values; "
        f"train {n_train}, validation {n_val}, test {n_test}")

    mean, std = float(series[:n_train].mean()), float(series[:n_train].std())
    std = std if std > 0 else 1.0
    scaled = (series - mean) / std
    x_train, y_train, _ = make_windows(scaled, args.window, args.horizon, 0, n_train)
    x_val, y_val, _ = make_windows(scaled, args.window, args.horizon, n_train, n_train + n_val)
    x_test, y_test, test_origins = make_windows(scaled, args.window, args.horizon, n_train + n_val, len(series))
    say(f"windows: {len(x_train)} train, {len(x_val)} validation, {len(x_test)} test "
        f"({args.window} values in, {args.horizon} out)")

    set_random_seed(args.seed)
    model = build_model(args)
    model.summary(print_fn=say)
    validation = (x_val, y_val) if len(x_val) else None
    monitor = "val_loss" if validation else "loss"
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose,
              validation_data=validation, callbacks=fit_callbacks(run_dir, monitor=monitor))
    if load_best(model, run_dir):
        say(f"using the best weights ({monitor}) from {run_dir.checkpoint_path}")

    def unscale(values):
        return np.asarray(values, np.float64) * std + mean

    test, results = None, {}
    if len(x_test):
        pred = unscale(model.predict(x_test))
        truth = unscale(y_test)
        baseline = np.repeat(series[test_origins - 1][:, None], args.horizon, axis=1)
        rmse, mae = errors(pred, truth)
        base_rmse, base_mae = errors(baseline, truth)
        say(f"test ({len(x_test)} windows, {args.horizon} steps ahead):  RMSE {rmse:.3f}  MAE {mae:.3f}")
        say(f"last-value baseline:                     RMSE {base_rmse:.3f}  MAE {base_mae:.3f}")
        verdict = "beats" if rmse < base_rmse else "does not beat"
        say(f"the model {verdict} the baseline on RMSE ({rmse:.3f} vs {base_rmse:.3f}, "
            f"{100 * (1 - rmse / base_rmse):+.1f}%)")
        test = (test_origins, pred, truth)
        results = {"test_rmse": rmse, "test_mae": mae, "baseline_rmse": base_rmse, "baseline_mae": base_mae}
    else:
        say("no test part (--test-fraction 0): no RMSE or MAE to report")

    future = unscale(model.predict(scaled[-args.window:][None, :, None].astype(np.float32)))[0]
    lines = ["step,forecast"] + [f"{k + 1},{value!r}" for k, value in enumerate(future.tolist())]
    atomic_write_text(run_dir.file("forecast.csv"), "\n".join(lines) + "\n")
    say("forecast beyond the data: " + ", ".join(f"{v:.1f}" for v in future))
    wrote(run_dir.file("forecast.csv"), f"the next {args.horizon} values")
    wrote(run_dir.metrics_path, "per-epoch metrics")
    wrote(run_dir.checkpoint_path, f"best checkpoint (monitor: {monitor})")
    if draw_forecast(run_dir.png("forecast"), series, labels, (n_train, n_val), test, future, column, args.horizon):
        wrote(run_dir.png("forecast"), "history, forecasts and truth")
    if draw_curves(read_history(run_dir), run_dir.png("training_curves")):
        wrote(run_dir.png("training_curves"), "loss curves")
    results["forecast_beyond_data"] = future.tolist()
    wrote(run_dir.write_results(results), "final numbers")
    return 0
