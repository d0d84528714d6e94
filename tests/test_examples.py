"""Smoke tests: every script in examples/ runs as a program and prints what its README promises."""
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(REPO, "examples")


def run_example(relative, cwd, args=(), stdin="", timeout=120):
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, os.path.join(EXAMPLES, relative), *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_every_example_folder_has_a_readme_and_a_test():
    folders = sorted(d for d in os.listdir(EXAMPLES) if os.path.isdir(os.path.join(EXAMPLES, d)))
    assert folders == ["action_model", "attention_seq2seq", "distributed", "dynamic_rnn", "letters", "lstm_seq2seq",
                       "static_rnn_dropout", "tf1_cells"]
    for folder in folders:
        assert os.path.isfile(os.path.join(EXAMPLES, folder, "README.md")), folder


def test_tf1_cells(tmp_path):
    out = run_example("tf1_cells/tf1_cells.py", tmp_path)
    assert "h0 (32, 128)  output (32, 128)  h1 (32, 128)" in out
    assert "output (4, 128)  s1.h (4, 128)  s1.c (4, 128)" in out
    assert "4464 weights" in out
    assert "[-0.95  0.8   0.72]" in out


def test_dynamic_rnn(tmp_path):
    out = run_example("dynamic_rnn/dynamic_rnn.py", tmp_path)
    assert "outputs (4, 10, 64)" in out
    assert out.count("padding outputs zero: True") == 4 and "False" not in out
    assert "bidirectional outputs (2, 6, 16)" in out
    for name in ("BasicRNNCell", "LSTMCell"):
        norms = [float(v) for v in re.search(name + r"\s+\|dL/dx_t\| at t = [\d, ]+: ([^(]+)", out).group(1)
                 .split(",")]
        assert norms[0] > norms[-1]  # the gradient fades going back in time


def test_static_rnn_dropout_trains_through_the_explicit_backward(tmp_path):
    out = run_example("static_rnn_dropout/static_rnn_dropout.py", tmp_path, args=["--epochs", "3"])
    assert "DropoutWrapper(output_keep_prob=0.8); 5578 weights" in out
    losses = [float(v) for v in re.findall(r"loss ([\d.]+)", out)]
    accuracy = float(re.findall(r"test accuracy ([\d.]+)", out)[-1])
    assert len(losses) == 3 and losses[-1] < losses[0] and accuracy > 0.6


def test_letters_script_trains_checkpoints_and_answers(tmp_path):
    out = run_example("letters/letters_1pre1.py", tmp_path, stdin="3\na\nz\ne\n")
    assert "Total params: 47" in out
    assert "a->b" in out and "e->a" in out and "expected 1 letters" in out
    assert (tmp_path / "checkpoint" / "rnn_onehot_1pre1.ckpt").is_file()
    weights = (tmp_path / "weights.txt").read_text()
    assert "simple_rnn" in weights and "(3, 5)" in weights
    # A second run finds the checkpoint and starts from it.
    out = run_example("letters/letters_1pre1.py", tmp_path, args=["--epochs", "2"])
    assert "load the model" in out and "no (more) letters to test" in out


def test_letters_script_4pre1(tmp_path):
    out = run_example("letters/letters_1pre1.py", tmp_path, args=["--mode", "4pre1", "--epochs", "5"],
                      stdin="1\nabcd\n")
    assert re.search(r"abcd->[a-e]", out)
    assert (tmp_path / "checkpoint" / "rnn_onehot_4pre1.ckpt").is_file()


def test_action_model(tmp_path):
    out = run_example("action_model/action_model.py", tmp_path, args=["--epochs", "3"])
    assert "Total params: 203,459" in out and "48,896" in out
    accuracy = float(re.search(r"test accuracy ([\d.]+)", out).group(1))
    assert 0.0 <= accuracy <= 1.0


@pytest.mark.slow
def test_action_model_learns_the_synthetic_actions(tmp_path):
    out = run_example("action_model/action_model.py", tmp_path)
    assert float(re.search(r"test accuracy ([\d.]+)", out).group(1)) >= 0.9


def test_distributed_examples_run_as_one_process(tmp_path):
    """Without a launcher the data-parallel script trains as one process and the sweep runs its trials here
    (tests/test_distributed_cli.py runs the sweep over MPI ranks)."""
    out = run_example("distributed/train.py", tmp_path, args=["--epochs", "1", "--save", "model.rnnkit"])
    assert "1 rank(s): final loss" in out and (tmp_path / "model.rnnkit").is_file()
    out = run_example("distributed/sweep.py", tmp_path, args=["--trials", "2", "--epochs", "1"])
    assert out.count("trial ") == 2 and "wrote sweep.csv" in out


def test_lstm_seq2seq_keras_io_script(tmp_path):
    out = run_example("lstm_seq2seq/lstm_seq2seq.py", tmp_path, args=["--epochs", "2", "--latent-dim", "16"])
    assert "Number of samples: 444" in out and "Max sequence length for outputs: 33" in out
    assert out.count("Input sentence:") == 20 and out.count("Decoded sentence:") == 20
    assert "greedy_decode agrees with decode_sequence on 20 of 20 sentences" in out
    assert (tmp_path / "s2s_model.keras").is_file()


def test_lstm_seq2seq_pair_file_is_what_its_generator_writes(tmp_path):
    folder = os.path.join(EXAMPLES, "lstm_seq2seq")
    with open(os.path.join(folder, "fra-mini.txt"), encoding="utf-8") as handle:
        committed = handle.read()
    env = {**os.environ, "PYTHONPATH": REPO}
    script = os.path.join(folder, "make_pairs.py")
    copy = tmp_path / "make_pairs.py"
    copy.write_text(open(script, encoding="utf-8").read(), encoding="utf-8")
    subprocess.run([sys.executable, str(copy)], check=True, capture_output=True, env=env, timeout=60)
    assert (tmp_path / "fra-mini.txt").read_text(encoding="utf-8") == committed
    lines = committed.splitlines()
    assert len(lines) == 444 and all(line.count("\t") == 2 for line in lines)
    assert "I am tired.\tJe suis fatigué." in lines[0] + "\n" + committed
    assert "She doesn't want a car.\tElle ne veut pas de voiture." in committed


def test_attention_seq2seq(tmp_path):
    out = run_example("attention_seq2seq/attention_seq2seq.py", tmp_path, args=["--epochs", "1", "--pairs", "600"])
    assert "540 training dates, 60 test dates" in out
    assert re.search(r"greedy: exact match \d+\.\d% on 60 test dates", out)
    assert re.search(r"beam search \(3\): exact match \d+\.\d%", out)
    assert "attention of" in out and out.count(" -> ") >= 6


@pytest.mark.slow
def test_attention_seq2seq_learns_the_dates(tmp_path):
    out = run_example("attention_seq2seq/attention_seq2seq.py", tmp_path, timeout=1800)
    assert float(re.search(r"greedy: exact match ([\d.]+)%", out).group(1)) >= 95.0
