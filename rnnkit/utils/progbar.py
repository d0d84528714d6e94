"""A Keras-style text progress bar.

verbose=1 draws ``12/12 ━━━━━━━━━━━━━━━━━━━━ 0s 4ms/step - accuracy: 0.9500 - loss: 0.1200``.
On a terminal (or in a notebook) the line is redrawn in place with ``\\r`` as
steps complete; on anything else (a pipe, a log file, pytest's capture) only the
final line of each bar is written, so logs are not flooded with partial bars.
verbose=2 writes one plain line per bar when it completes:
``12/12 - 0s - 4ms/step - accuracy: 0.9500 - loss: 0.1200``. verbose=0 is silent.

The stream is ``sys.stdout`` looked up at every write, so redirecting or
capturing stdout after the bar was made still works.
"""
import math
import numbers
import sys
import time

from .._validate import describe
from ..errors import RnnkitValueError

_BAR_CHAR = "━"
_PLAIN_TODO_CHAR = "─"  # without colours, the part still to do is drawn thinner
_BOLD, _GREEN, _GREY, _RESET = "\x1b[1m", "\x1b[32m", "\x1b[37m", "\x1b[0m"


def _now():
    """The clock the bar reads (a module function so tests can replace it)."""
    return time.monotonic()


def _is_dynamic(stream):
    """True where ``\\r`` redraws a line: a terminal, or a Jupyter kernel's stream."""
    isatty = getattr(stream, "isatty", None)
    try:
        if isatty is not None and isatty():
            return True
    except ValueError:  # a closed stream
        return False
    return "ipykernel" in sys.modules


def format_value(value):
    """Format one metric as Keras does: 4 decimals, scientific notation at or below 1e-3."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = float(value)
        if math.isfinite(value) and abs(value) <= 1e-3:
            return f"{value:.4e}"
        return f"{value:.4f}"
    return str(value)


def format_step_time(seconds, unit_name="step"):
    """``4ms/step``, ``12us/step`` or ``2s/step`` (Keras's three scales)."""
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit_name}"
    return f"{seconds * 1e6:.0f}us/{unit_name}"


def format_eta(seconds):
    """Remaining time as ``42s``, ``3:05`` or ``1:02:03``."""
    seconds = int(seconds)
    if seconds > 3600:
        return f"{seconds // 3600}:{(seconds % 3600) // 60:02d}:{seconds % 60:02d}"
    if seconds > 60:
        return f"{seconds // 60}:{seconds % 60:02d}"
    return f"{seconds}s"


class Progbar:
    """A progress bar over ``target`` steps.

    Args:
        target: total number of steps (int > 0), or None when unknown (the bar
            then shows ``   7/Unknown`` until it is finalized).
        width: number of bar characters (default 20, as Keras).
        verbose: 0 silent, 1 bar, 2 one line when finished.
        interval: least number of seconds between two redraws of a live bar.
        unit_name: the unit of the time-per-step figure ("step").

    Metric values passed to :meth:`update` are shown as given (fit passes
    running epoch means already); keys are shown in sorted order, as Keras 3
    shows them.

    Example:
        >>> bar = Progbar(3, verbose=2)
        >>> for step in (1, 2, 3):
        ...     bar.update(step, {"loss": 0.5})  # doctest: +SKIP
    """

    def __init__(self, target, width=20, verbose=1, interval=0.05, unit_name="step"):
        if target is not None and (isinstance(target, bool) or not isinstance(target, numbers.Integral)
                                   or target < 0):
            raise RnnkitValueError(f"target must be a non-negative integer or None, got {describe(target)}")
        if verbose not in (0, 1, 2):
            raise RnnkitValueError(f"verbose must be 0, 1 or 2, got {describe(verbose)}")
        if isinstance(width, bool) or not isinstance(width, numbers.Integral) or width < 1:
            raise RnnkitValueError(f"width must be a positive integer, got {describe(width)}")
        self.target = None if target is None else int(target)
        self.width = int(width)
        self.verbose = verbose
        self.interval = float(interval)
        self.unit_name = unit_name
        self._values = {}
        self._seen = 0
        self._start = _now()
        self._last_draw = None
        self._after_first_step = None
        self._prev_width = 0
        self._finalized = False

    def update(self, current, values=None, finalize=None):
        """Record that ``current`` steps are done and redraw.

        Args:
            current: steps completed so far (1-based count).
            values: dict or list of (name, value) pairs to show; a name keeps
                its latest value.
            finalize: whether this is the last update; defaults to
                ``current >= target``.
        """
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        if values:
            items = values.items() if isinstance(values, dict) else values
            for name, value in items:
                self._values[name] = value
        now = _now()
        step_time = self._step_time(current, now)
        self._seen = current
        if self.verbose == 0 or self._finalized:
            return
        if finalize:
            self._finalized = True
        if self.verbose == 1:
            self._draw_live(current, now, step_time, finalize)
        elif finalize:
            self._write(self._plain_line(current, now, step_time) + "\n")

    def add(self, n, values=None):
        """Advance the bar by ``n`` steps."""
        self.update(self._seen + n, values)

    def _step_time(self, current, now):
        # The first step often includes one-off costs (allocation, caches), so
        # once there are more steps its time is left out of the average.
        if not current:
            return 0.0
        if self._after_first_step is not None and current > 1:
            per_step = (now - self._after_first_step) / (current - 1)
        else:
            per_step = (now - self._start) / current
        if current == 1:
            self._after_first_step = now
        return per_step

    def _metrics_text(self):
        return "".join(f" - {name}: {format_value(self._values[name])}" for name in sorted(self._values))

    def _draw_live(self, current, now, step_time, finalize):
        stream = sys.stdout
        dynamic = _is_dynamic(stream)
        if not dynamic and not finalize:
            return
        if dynamic and not finalize and self._last_draw is not None and now - self._last_draw < self.interval:
            return
        self._last_draw = now
        count, bar = self._count_and_bar(current)
        if finalize or self.target is None or not self.target:
            timing = f"{now - self._start:.0f}s"
        else:
            timing = format_eta(step_time * (self.target - current))
        tail = f" {timing} {format_step_time(step_time, self.unit_name)}{self._metrics_text()}"
        plain = count + (" " + bar if bar else "") + tail
        if dynamic:
            styled = f"{_BOLD}{count}{_RESET}"
            if bar:
                done = self._done_width(current)
                styled += f" {_GREEN}{_BAR_CHAR * done}{_RESET}{_GREY}{_BAR_CHAR * (self.width - done)}{_RESET}"
            styled += tail
            # Pad with spaces so a shorter line fully covers the previous one.
            pad = " " * max(0, self._prev_width - len(plain))
            self._prev_width = len(plain)
            self._write("\r" + styled + pad + ("\n" if finalize else ""))
        else:
            self._write(plain + "\n")

    def _plain_line(self, current, now, step_time):
        count, _ = self._count_and_bar(current)
        return f"{count} - {now - self._start:.0f}s - {format_step_time(step_time, self.unit_name)}" \
               f"{self._metrics_text()}"

    def _done_width(self, current):
        return min(self.width, int(self.width * current / self.target))

    def _count_and_bar(self, current):
        if not self.target:
            return f"{current:7d}/Unknown", ""
        digits = len(str(self.target))
        done = self._done_width(current)
        return f"{current:{digits}d}/{self.target}", _BAR_CHAR * done + _PLAIN_TODO_CHAR * (self.width - done)

    @staticmethod
    def _write(text):
        stream = sys.stdout
        stream.write(text)
        stream.flush()
