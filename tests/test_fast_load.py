"""The thread policy's view of load (rnnkit/_fast/load.py): cores other processes leave free."""
import subprocess
import sys
import time

import pytest

import rnnkit
from rnnkit._fast import load, threads


@pytest.fixture
def adapting(monkeypatch):
    monkeypatch.setenv("RNNKIT_ADAPT_THREADS", "1")
    load.forget()
    yield
    load.forget()


def fake_readings(monkeypatch, readings):
    """Make load._read return ``readings`` (time, busy CPU s of our cores, our CPU s) one after another."""
    values = iter(readings)
    monkeypatch.setattr(load, "_read", lambda: next(values))
    monkeypatch.setattr(load.time, "monotonic", lambda: 1e9)  # every call is past INTERVAL of the last


def test_other_processes_busy_time_is_taken_off_the_cores(monkeypatch, adapting):
    # 1 s apart: our cores were busy 1.9 s, 0.9 s of it ours -> others used 1.0 core of 2
    fake_readings(monkeypatch, [(100.0, 50.0, 10.0), (101.0, 51.9, 10.9), (102.0, 52.9, 11.8)])
    assert load.free_cores(2) is None  # the first reading has nothing to compare with
    assert load.free_cores(2) == pytest.approx(1.0)
    assert load.free_cores(2) == pytest.approx(1.9)  # then only 0.1 s of the others' in 1 s


def test_free_cores_stay_between_one_and_the_cores(monkeypatch, adapting):
    fake_readings(monkeypatch, [(0.0, 0.0, 0.0), (1.0, 8.0, 0.0), (2.0, 8.0, 5.0)])
    load.free_cores(4)
    assert load.free_cores(4) == 1.0  # others busier than all our cores: still one
    assert load.free_cores(4) == 4.0  # our own time above the cores' busy time (clock skew): all free


def test_unreadable_stat_leaves_the_threads_alone(monkeypatch, adapting):
    fake_readings(monkeypatch, [(0.0, None, 0.0), (1.0, None, 1.0)])
    assert load.free_cores(3) is None and load.free_cores(3) is None


def test_usable_threads_follow_the_free_cores(monkeypatch, adapting):
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    monkeypatch.setattr(rnnkit.num_threads, "_override", 4)
    for free, want in ((1.0, 1), (1.4, 1), (1.6, 2), (4.0, 4), (None, 4)):
        monkeypatch.setattr(load, "free_cores", lambda cores, free=free: free)
        assert threads.usable_threads() == want
    monkeypatch.setattr(rnnkit.num_threads, "_override", 1)
    assert threads.usable_threads() == 1


def test_the_switch_turns_it_off(monkeypatch):
    monkeypatch.setenv("RNNKIT_ADAPT_THREADS", "0")
    monkeypatch.setattr(load, "_read", lambda: pytest.fail("read while off"))
    assert load.free_cores(2) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/stat")
def test_a_busy_process_is_seen_on_this_machine(adapting):
    """A real reading: a process spinning on one of our cores takes most of a core away."""
    cores = threads.available_cores()
    if cores < 2:
        pytest.skip("needs two cores")
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        load.free_cores(cores)
        time.sleep(0.3)  # more than load.INTERVAL: the next call reads again, over these 0.3 s
        free = load.free_cores(cores)
    finally:
        spinner.kill()
        spinner.wait()
    assert free <= cores - 0.5
