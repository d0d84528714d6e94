"""Small finished runs of the rnnkit command, for tests that damage what a run leaves behind."""
from rnnkit import cli


def tiny_charlm_run(folder, epochs=1):
    """``rnnkit charlm train`` on a short repetitive text in ``folder/run`` (seconds); returns that folder."""
    text = folder / "text.txt"
    text.write_text("the cat sat on the mat. " * 40)
    run = folder / "run"
    assert cli.main(["charlm", "train", "--text", str(text), "--run-dir", str(run), "--units", "4", "--embedding",
                     "3", "--seq-len", "16", "--sample-length", "5", "--epochs", str(epochs), "--verbose", "0"]) == 0
    return run
