"""How many of this process's cores other processes are using now: the thread policy's view of load.

Two threads beside a process that keeps one of two cores busy are slower than one (measured:
IMDB BiLSTM fit 0.8x): the scheduler leaves this process's main thread, which also runs all of
the step's Python, sharing a core with the other process while the worker waits for slices. So
a call uses no more threads than there are cores the others leave free, as GNU OpenMP's dynamic
adjustment does from the load average, but measured over the last ~0.1 s instead of a minute:

    others = (busy CPU time of our cores, from /proc/stat) - (this process's CPU time), per second
    free   = cores this process may run on - others

Linux only (elsewhere, and when /proc/stat cannot be read, there is no adjustment).
``RNNKIT_ADAPT_THREADS=0`` turns the adjustment off.
"""
import os
import threading
import time

#: seconds between two readings (the measurement is over the last completed interval)
INTERVAL = 0.1

_lock = threading.Lock()
_last = None  # (monotonic time, busy seconds of our cores, this process's CPU seconds)
_free = None  # cores free at the last reading
_TICK = None


def _our_cpus():
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def _busy_seconds(cpus):
    """CPU seconds spent on ``cpus`` (all but idle and iowait) since boot, from /proc/stat, or None."""
    global _TICK
    if _TICK is None:
        _TICK = float(os.sysconf("SC_CLK_TCK"))
    wanted = {f"cpu{c}" for c in cpus}
    busy = 0
    with open("/proc/stat") as stat:
        for line in stat:
            if not line.startswith("cpu") or line.startswith("cpu "):
                continue
            fields = line.split()
            if fields[0] in wanted:
                values = [int(v) for v in fields[1:8]]
                busy += sum(values) - values[3] - values[4]  # user nice system idle iowait irq softirq
    return busy / _TICK


def _read():
    """``(monotonic time, busy CPU seconds of our cores or None, this process's CPU seconds)``."""
    cpus = _our_cpus()
    try:
        busy = _busy_seconds(cpus) if cpus else None
    except (OSError, ValueError):
        busy = None
    return time.monotonic(), busy, time.process_time()


def free_cores(cores):
    """Cores of the ``cores`` this process may use that other processes leave free (at least 1),
    as of the last reading (taken now when the previous one is older than :data:`INTERVAL`); None
    when turned off or unknown (not Linux, /proc/stat unreadable, no earlier reading)."""
    global _last, _free
    if os.environ.get("RNNKIT_ADAPT_THREADS", "1").strip() == "0":
        return None
    last = _last
    if last is not None and time.monotonic() - last[0] < INTERVAL:
        return None if _free is None else min(cores, _free)
    with _lock:
        if _last is last:  # else another thread took this reading meanwhile
            now, busy, own = _read()
            if busy is None:
                _free = None
            elif last is not None and last[1] is not None and now > last[0]:
                others = (busy - last[1] - (own - last[2])) / (now - last[0])
                _free = max(1.0, cores - max(0.0, others))
            _last = (now, busy, own)
    return None if _free is None else min(cores, _free)


def forget():
    """Drop the readings (the next call starts a new interval)."""
    global _last, _free
    with _lock:
        _last = _free = None
