"""rnnkit seq2seq train / translate: the dates task, pair files, scores, the command end to end."""
import datetime
import io
import json
import os
import re

import numpy as np
import pytest

from cli_runs import tiny_charlm_run
from rnnkit import cli
from rnnkit.apps import seq2seq
from rnnkit.apps.common import pyplot
from rnnkit.apps.console import CliError
from rnnkit.apps.seq2seq_data import (END, START, baselines, decode_target, edit_distance, encode_sources,
                                      encode_targets, read_pairs, scores, split, vocabularies)
from rnnkit.apps.seq2seq_dates import CASES, FORMATS, date_pairs, write_date

TINY = ["--units", "8", "--embedding", "8", "--epochs", "1", "--batch-size", "32", "--verbose", "0"]


def json_file(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def one_line_error(capsys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rnnkit seq2seq: error:"), err
    return err


# ---------------------------------------------------------------------- the dates task
def _read_back(text):
    """The date a written form means, parsed independently of the generator (strptime, and the
    two-digit-year rule by hand)."""
    text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text, flags=re.IGNORECASE)
    text = re.sub(" of ", " ", text, flags=re.IGNORECASE)
    patterns = ["%A %d %b %Y", "%a, %d %b %Y", "%A, %B %d, %Y", "%d %B %Y", "%d %B, %Y", "%B %d, %Y", "%b %d, %Y",
                "%d %b %Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%Y", "%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d"]
    for pattern in patterns:
        try:
            return datetime.datetime.strptime(text, pattern).date()
        except ValueError:
            pass
    day, month, year = re.fullmatch(r"(\d+)[-/]([A-Za-z]+|\d+)[-/](\d\d)", text).groups()
    month = int(month) if month.isdigit() else datetime.datetime.strptime(month, "%b").month
    year = int(year) + (1900 if int(year) >= 50 else 2000)
    return datetime.date(year, month, int(day))


def test_every_written_form_means_its_iso_date():
    rng = np.random.default_rng(0)
    for _ in range(40):
        date = datetime.date(1950, 1, 1) + datetime.timedelta(days=int(rng.integers(0, 36525)))
        for form in range(len(FORMATS)):
            for case in CASES:
                assert _read_back(write_date(date, form, case)) == date, (form, case, date)
    assert write_date(datetime.date(2026, 11, 30), 0) == "Monday 30 Nov 2026"
    assert write_date(datetime.date(2026, 11, 30), 11) == "30/11/26"
    assert write_date(datetime.date(2026, 11, 30), 6, "lower") == "november 30, 2026"
    assert write_date(datetime.date(2001, 3, 22), 5) == "22nd of March, 2001"


def test_date_pairs_are_seeded_and_varied():
    pairs = date_pairs(3000, seed=5)
    assert pairs == date_pairs(3000, seed=5) and pairs != date_pairs(3000, seed=6)
    assert all(_read_back(source).isoformat() == target for source, target in pairs[:300])
    years = [int(target[:4]) for _, target in pairs]
    assert min(years) == 1950 and max(years) == 2049
    assert sum(source.isupper() for source, _ in pairs) > 100 and sum(source.islower() for source, _ in pairs) > 300
    assert len({len(source) for source, _ in pairs}) > 15


# ---------------------------------------------------------------------- pairs, ids, scores
def test_read_pairs_in_tatoeba_form(tmp_path):
    path = tmp_path / "fra.txt"
    lines = [f"Go {i}.\tVa {i} !\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272 (CM)" for i in range(12)]
    path.write_text("\n".join(lines[:5]) + "\n\n" + "\n".join(lines[5:]) + "\n", encoding="utf-8")
    pairs = read_pairs(str(path), 100, 64, 64)
    assert pairs[0] == ("Go 0.", "Va 0 !") and len(pairs) == 12
    assert len(read_pairs(str(path), 10, 64, 64)) == 10


@pytest.mark.parametrize("content, message", [
    ("", "holds 0 pairs (it is empty)"),
    ("a\tb\n" * 3, "at least 10"),
    ("a\tb\n" * 4 + "no tab here\n" + "a\tb\n" * 10, "line 5 has no tab"),
    ("a\tb\n" * 2 + "a\t\n" + "a\tb\n" * 10, "line 3 has an empty target"),
    ("a\tb\n" + "a\t" + "x" * 9 + "\n" + "a\tb\n" * 10, "line 2: the target has 9 characters, more than "
                                                       "--max-target-length 8"),
    ("x" * 11 + "\tb\n" + "a\tb\n" * 10, "the source has 11 characters, more than --max-source-length 10"),
])
def test_read_pairs_errors_name_the_line(tmp_path, content, message):
    path = tmp_path / "pairs.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CliError, match=re.escape(message)):
        read_pairs(str(path), 100, 10, 8)


def test_ids_for_teacher_forcing_and_back():
    source_chars, target_chars = vocabularies([("ab", "xy"), ("ba c", "z")])
    assert (source_chars, target_chars) == (" abc", "xyz")
    ids = encode_sources(["ab", "a?"], source_chars)
    assert ids.tolist() == [[3, 4], [3, 1]]  # 0 pads, 1 is an unseen character
    target_in, target_out = encode_targets(["xy", "z"], target_chars)
    assert target_in.tolist() == [[START, 3, 4], [START, 5, 0]]
    assert target_out.tolist() == [[3, 4, END], [5, END, 0]]
    assert decode_target([3, 4, 0, END], target_chars) == "xy"


def test_scores_and_baselines():
    assert edit_distance("kitten", "sitting") == 3 and edit_distance("", "abc") == 3 and edit_distance("ab", "ab") == 0
    found = scores(["2026-11-30", "2026-11-03"], ["2026-11-30", "2026-11-30"])
    assert found == {"exact_match": 0.5, "cer": pytest.approx(2 / 20)}
    trivial = baselines([("a", "x"), ("b", "x"), ("c", "y")], [("x", "x"), ("q", "y")])
    assert trivial["copy the source"] == {"exact_match": 0.5, "cer": 0.5}
    assert trivial["most frequent target"] == {"exact_match": 0.5, "cer": 0.5}


def test_split_is_seeded_80_10_10():
    pairs = [(str(i), str(i)) for i in range(100)]
    train, validation, test = split(pairs, 3)
    assert (len(train), len(validation), len(test)) == (80, 10, 10)
    assert sorted(train + validation + test) == sorted(pairs) and split(pairs, 3) == (train, validation, test)
    assert [len(part) for part in split(pairs[:10], 0)] == [8, 1, 1]


# ---------------------------------------------------------------------- the command
def train_run(tmp_path, *extra, run="run"):
    run_dir = str(tmp_path / run)
    return cli.main(["seq2seq", "train", "--dates", "400", *TINY, "--run-dir", run_dir, *extra]), run_dir


def test_train_writes_the_run_and_reports_scores_next_to_baselines(tmp_path, capsys):
    status, run_dir = train_run(tmp_path)
    assert status == 0
    out = capsys.readouterr().out
    assert re.search(r"^model\s+\d+\.\d%\s+\d\.\d{4}$", out, re.MULTILINE)
    assert re.search(r"^baseline: copy the source\s+\d+\.\d%", out, re.MULTILINE)
    assert "ms per decoder step" in out and re.search(r"^  .+ -> ", out, re.MULTILINE)
    for name in ("config.json", "metrics.csv", "best.weights", "model.rnnkit", "results.json"):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    results = json_file(os.path.join(run_dir, "results.json"))
    assert results["test_pairs"] == 40 and 0 <= results["exact_match"] <= 1 and results["cer"] >= 0
    assert set(results["baselines"]) == {"copy the source", "most frequent target"}
    config = json_file(os.path.join(run_dir, "config.json"))
    assert config["command"] == "seq2seq" and config["model"]["pairs"] == "dates"
    assert config["model"]["target_chars"] == "-0123456789" and config["model"]["attention"] == "luong"
    if pyplot() is not None:
        for picture in ("attention.png", "training_curves.png"):
            with open(os.path.join(run_dir, picture), "rb") as handle:
                assert handle.read(4) == b"\x89PNG"


def test_translate_from_arguments_a_file_and_standard_input(tmp_path, capsys, monkeypatch):
    status, run_dir = train_run(tmp_path)
    assert status == 0
    capsys.readouterr()
    assert cli.main(["seq2seq", "translate", "--run-dir", run_dir, "30/11/26", "Monday 30 Nov 2026"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" -> ")[0] for line in lines] == ["30/11/26", "Monday 30 Nov 2026"]
    assert all(re.fullmatch(r"[-0-9]*", line.split(" -> ")[1]) for line in lines)
    inputs = tmp_path / "in.txt"
    inputs.write_text("1 jan 2000\n\n2/2/02\n", encoding="utf-8")
    assert cli.main(["seq2seq", "translate", "--run-dir", run_dir, "--input", str(inputs), "--beam", "3",
                     "--length-penalty", "1"]) == 0
    out = capsys.readouterr().out
    assert [line.split(" -> ")[0] for line in out.splitlines()] == ["1 jan 2000", "2/2/02"]
    monkeypatch.setattr("sys.stdin", io.StringIO("3 mar 2003\n\n~\n"))
    assert cli.main(["seq2seq", "translate", "--run-dir", run_dir]) == 0
    out = capsys.readouterr().out
    assert "'~' never appeared in training" in out
    assert [line.split(" -> ")[0] for line in out.splitlines() if " -> " in line] == ["3 mar 2003", "~"]


def test_beam_of_one_translates_as_greedy(tmp_path, capsys):
    status, run_dir = train_run(tmp_path, "--epochs", "2")
    assert status == 0
    capsys.readouterr()
    texts = ["12/12/12", "July 4, 1976", "1999.1.1"]
    cli.main(["seq2seq", "translate", "--run-dir", run_dir, *texts])
    greedy = capsys.readouterr().out
    cli.main(["seq2seq", "translate", "--run-dir", run_dir, "--beam", "1", *texts])
    assert capsys.readouterr().out == greedy


def test_pairs_file_with_other_models(tmp_path, capsys):
    pairs = tmp_path / "pairs.txt"
    words = ["go", "run", "stop", "wait", "help", "jump", "hello", "thanks", "sorry", "cheers", "smile", "listen"]
    pairs.write_text("".join(f"{w}\t{w[::-1].upper()}\tCC-BY 2.0\n" for w in words * 3), encoding="utf-8")
    for extra in (["--cell", "gru", "--attention", "bahdanau", "--no-bidirectional"], ["--attention", "none"]):
        run = f"run-{extra[1]}"
        status, run_dir = train_run(tmp_path, "--pairs", str(pairs), *extra, run=run)
        assert status == 0, capsys.readouterr().err
        config = json_file(os.path.join(run_dir, "config.json"))["model"]
        assert config["pairs"] == str(pairs) and config["target_chars"] == "".join(sorted(set("".join(words).upper())))
        assert os.path.isfile(os.path.join(run_dir, "attention.png")) == (extra[1] != "none" and pyplot() is not None)
        capsys.readouterr()
        assert cli.main(["seq2seq", "translate", "--run-dir", run_dir, "--beam", "2", "go"]) == 0
        assert capsys.readouterr().out.startswith("go -> ")


def test_resume_continues_and_refuses_another_model(tmp_path, capsys):
    status, run_dir = train_run(tmp_path)
    assert status == 0
    status, _ = train_run(tmp_path, "--resume", "--epochs", "2")
    assert status == 0
    with open(os.path.join(run_dir, "metrics.csv"), encoding="utf-8") as handle:
        assert len(handle.read().splitlines()) == 3  # header and two epochs
    capsys.readouterr()
    status, _ = train_run(tmp_path, "--resume", "--units", "9")
    assert status == 2 and "units" in one_line_error(capsys)


def test_train_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("hello world\n" * 20, encoding="utf-8")
    status, _ = train_run(tmp_path, "--pairs", str(bad), run="a")
    assert status == 2 and "line 1 has no tab" in one_line_error(capsys)
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    status, _ = train_run(tmp_path, "--pairs", str(empty), run="b")
    assert status == 2 and "empty" in one_line_error(capsys)
    long = tmp_path / "long.txt"
    long.write_text("a\tb\n" * 20 + "a\t" + "z" * 70 + "\n", encoding="utf-8")
    status, _ = train_run(tmp_path, "--pairs", str(long), run="c")
    assert status == 2 and "line 21: the target has 70 characters" in one_line_error(capsys)
    status, _ = train_run(tmp_path, "--max-target-length", "5", run="d")
    assert status == 2 and "--max-target-length 5" in one_line_error(capsys)
    status, _ = train_run(tmp_path, "--pairs", str(tmp_path / "missing.txt"), run="e")
    assert status == 2 and "no such file" in one_line_error(capsys)
    assert not any(os.path.exists(tmp_path / run) for run in "abcde")
    assert cli.main(["seq2seq", "train", "--units", "0"]) == 2
    assert "positive integer" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [(["--units", "100000"], "memory available"),
                                           (["--embedding", "1000000000"], "--embedding 1000000000"),
                                           (["--dates", "1000000000"], "at most 2,000,000")])
def test_huge_sizes_are_refused_before_building(tmp_path, capsys, args, message):
    status, run_dir = train_run(tmp_path, *args)
    assert status == 2 and message in one_line_error(capsys)
    assert not os.path.exists(run_dir)


def test_translate_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["seq2seq", "translate", "--run-dir", str(tmp_path / "none"), "x"]) == 2
    assert "config.json" in one_line_error(capsys)
    other = tiny_charlm_run(tmp_path)
    capsys.readouterr()
    assert cli.main(["seq2seq", "translate", "--run-dir", str(other), "x"]) == 2
    assert "'rnnkit charlm'" in one_line_error(capsys)
    status, run_dir = train_run(tmp_path, run="s2s")
    assert status == 0
    capsys.readouterr()
    assert cli.main(["seq2seq", "translate", "--run-dir", run_dir, "--input", str(tmp_path / "nope.txt")]) == 2
    assert "no such file" in one_line_error(capsys)
    config_path = os.path.join(run_dir, "config.json")
    config = json_file(config_path)
    config["model"]["target_chars"] = "0123"
    with open(config_path, "w", encoding="utf-8") as handle:
        json.dump(config, handle)
    assert cli.main(["seq2seq", "translate", "--run-dir", run_dir, "x"]) == 2
    assert "was config.json edited?" in one_line_error(capsys)
    config["model"]["target_chars"] = "-0123456789"
    config["model"]["units"] = "8"
    with open(config_path, "w", encoding="utf-8") as handle:
        json.dump(config, handle)
    os.remove(os.path.join(run_dir, "model.rnnkit"))  # rebuilt from config.json around best.weights
    assert cli.main(["seq2seq", "translate", "--run-dir", run_dir, "x"]) == 2
    assert "its model setting 'units' is '8'" in one_line_error(capsys)
    os.remove(os.path.join(run_dir, "best.weights"))
    assert cli.main(["seq2seq", "translate", "--run-dir", run_dir, "x"]) == 2
    assert "no trained model" in one_line_error(capsys)
    assert cli.main(["seq2seq", "train", "--resume", "--run-dir", str(other), *TINY]) == 2
    assert "holds a run of 'rnnkit charlm'" in one_line_error(capsys)


def test_translate_after_an_interrupted_run_uses_best_weights(tmp_path, capsys):
    status, run_dir = train_run(tmp_path, "--cell", "gru", "--attention", "bahdanau", "--no-bidirectional")
    assert status == 0
    capsys.readouterr()
    assert cli.main(["seq2seq", "translate", "--run-dir", run_dir, "5 May 1955", "1/1/01"]) == 0
    from_model = capsys.readouterr().out
    os.remove(os.path.join(run_dir, "model.rnnkit"))
    assert cli.main(["seq2seq", "translate", "--run-dir", run_dir, "5 May 1955", "1/1/01"]) == 0
    assert capsys.readouterr().out == from_model


def test_missing_action_is_a_usage_error_and_help_has_an_example(capsys):
    assert cli.main(["seq2seq"]) == 2
    assert "train" in capsys.readouterr().err
    assert cli.main(["seq2seq", "train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "rnnkit seq2seq translate --run-dir runs/dates" in out and "--beam" in out
    assert seq2seq.HELP == cli.COMMANDS["seq2seq"][1]


@pytest.mark.slow
def test_default_settings_normalise_dates(tmp_path, capsys):
    """The README's claim: the defaults reach >= 95% exact match on the held-out dates."""
    run_dir = str(tmp_path / "run")
    assert cli.main(["seq2seq", "train", "--run-dir", run_dir, "--verbose", "0"]) == 0
    results = json_file(os.path.join(run_dir, "results.json"))
    assert results["exact_match"] >= 0.95, results
    assert results["exact_match"] > 10 * max(b["exact_match"] for b in results["baselines"].values())
    assert results["cer"] < 0.02
