"""Test-session settings shared by every test module."""
import os

# The thread policy uses fewer threads while other processes keep cores busy (rnnkit/_fast/load.py).
# Tests that check how calls are split must not depend on what else runs on the machine: the
# adjustment is off for the session (inherited by subprocesses); tests/test_fast_load.py turns it on.
os.environ["RNNKIT_ADAPT_THREADS"] = "0"
