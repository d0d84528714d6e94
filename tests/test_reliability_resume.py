"""BackupAndRestore across a real crash: a fit in a child process is killed with SIGKILL, the same
script is run again (under an unrelated global seed, so nothing can come from reseeding) and
must end with weights bit-identical to an uninterrupted run — weights, Adam's slots, the epoch
counter and the random states behind shuffling and both kinds of dropout all come back."""
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

REPO = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    import rnnkit
    from rnnkit import Sequential, layers
    from rnnkit.callbacks import BackupAndRestore, Callback

    seed, backup_dir, out_path, hang_epoch, hang_batch = sys.argv[1:6]
    seed, hang_epoch, hang_batch = int(seed), int(hang_epoch), int(hang_batch)
    rnnkit.set_random_seed(seed)
    data = np.random.default_rng(0)  # the data never depends on the global seed
    x = data.standard_normal((48, 6, 3)).astype(np.float32)
    y = data.standard_normal((48, 1)).astype(np.float32)
    model = Sequential([
        layers.LSTM(8, dropout=0.2, recurrent_dropout=0.3, return_sequences=True, input_shape=(6, 3)),
        layers.Dropout(0.25),
        layers.GRU(5, recurrent_dropout=0.2),
        layers.Dense(1),
    ])
    model.compile("adam", "mse")

    class Hang(Callback):
        # Tells the parent where it is, then waits to be killed at a known point.
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            # BackupAndRestore runs after every other callback, so epoch hang_epoch's backup is
            # written once the next epoch begins
            if epoch == hang_epoch + 1 and hang_batch == -1:
                self.hang()

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == hang_epoch and batch == hang_batch:
                self.hang()

        def hang(self):
            print("HANG", flush=True)
            time.sleep(120)

    history = model.fit(x, y, batch_size=8, epochs=6, verbose=0,
                        callbacks=[BackupAndRestore(backup_dir), Hang()])
    np.savez(out_path, *model.get_weights())
    with open(out_path + ".json", "w") as f:
        json.dump({"epochs": history.epoch, "loss": history.history["loss"]}, f)
    print("DONE", flush=True)
""")


def _run(script, seed, backup, out, hang_epoch=-1, hang_batch=-2):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, str(script), str(seed), str(backup), str(out),
                             str(hang_epoch), str(hang_batch)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(REPO))


def _finish(proc):
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert stdout.strip().endswith("DONE")


def _kill_when_hanging(proc):
    line = proc.stdout.readline()
    assert line.strip() == "HANG", (line, proc.stderr.read() if proc.poll() is not None else "")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _weights(path):
    with np.load(path) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run with seed 7: its final weights and history."""
    root = tmp_path_factory.mktemp("reference")
    script = root / "train.py"
    script.write_text(SCRIPT)
    out = root / "weights.npz"
    _finish(_run(script, 7, root / "backup", str(out)))
    return script, _weights(out), json.loads((root / "weights.npz.json").read_text())


# killed after epoch 3 (index 2) was backed up; after its last batch but before its backup
# (so epoch 3 runs again); in the middle of epoch 4 (6 batches per epoch, batch -1: epoch end)
@pytest.mark.parametrize("hang_epoch, hang_batch, resumed_epochs",
                         [(2, -1, [3, 4, 5]), (2, 5, [2, 3, 4, 5]), (3, 2, [3, 4, 5])],
                         ids=["after_epoch_3_backup", "before_epoch_3_backup", "mid_epoch_4"])
def test_sigkilled_fit_resumes_bit_for_bit(reference, tmp_path, hang_epoch, hang_batch, resumed_epochs):
    script, want, want_history = reference
    backup, out = tmp_path / "backup", str(tmp_path / "weights.npz")
    _kill_when_hanging(_run(script, 7, backup, out, hang_epoch, hang_batch))
    assert (backup / "training_state").exists() and not os.path.exists(out)

    _finish(_run(script, 12345, backup, out))  # another global seed: everything must come from the backup
    got_history = json.loads(Path(out + ".json").read_text())
    assert got_history["epochs"] == resumed_epochs
    assert got_history["loss"] == want_history["loss"][resumed_epochs[0]:]
    got = _weights(out)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()  # bit for bit, not merely close
    assert not backup.exists()  # removed once the resumed fit completed


def test_without_the_backup_another_seed_gives_other_weights(reference, tmp_path):
    """The control: the seed does matter, so the equality above is the backup's doing."""
    script, want, _ = reference
    out = str(tmp_path / "weights.npz")
    _finish(_run(script, 12345, tmp_path / "backup", out))
    assert any(a.tobytes() != b.tobytes() for a, b in zip(_weights(out), want))
