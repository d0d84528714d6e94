"""The rnnkit command framework: the command table, one-line errors, RunDir, fit callbacks, pictures."""
import importlib
import json
import os
import subprocess
import sys

import pytest

from rnnkit import cli
from rnnkit.apps import common
from rnnkit.apps.common import CliError, RunDir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def app_modules():
    """(name, module) for every command whose module exists (two engineers write them in parallel)."""
    found = []
    for name, (module_name, _) in cli.COMMANDS.items():
        try:
            found.append((name, importlib.import_module(module_name)))
        except ModuleNotFoundError as err:
            if err.name != module_name:
                raise
    return found


def test_top_level_help_lists_every_command_without_importing_them():
    code = ("import sys, rnnkit.cli as c; status = c.main(['--help']); "
            "print('APPS', sorted(m for m in sys.modules if m.startswith('rnnkit.apps.') and m != 'rnnkit.apps.common'))"
            "; sys.exit(status)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": REPO})
    assert done.returncode == 0, done.stderr
    for name in cli.COMMANDS:
        assert name in done.stdout
    assert "APPS []" in done.stdout


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 0
    assert "letters" in capsys.readouterr().out


def test_every_app_module_follows_the_contract():
    modules = app_modules()
    assert "letters" in dict(modules)
    for name, module in modules:
        assert module.HELP == cli.COMMANDS[name][1], name
        assert "\n" not in module.HELP
        assert f"rnnkit {name}" in module.DESCRIPTION, f"{name}: DESCRIPTION needs an example command line"
        assert callable(module.add_arguments) and callable(module.run)


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_command_help_exits_zero(name, capsys):
    if name not in dict(app_modules()):
        pytest.skip(f"rnnkit.apps.{name} is not written yet")
    assert cli.main([name, "--help"]) == 0
    out = capsys.readouterr().out
    assert f"rnnkit {name}" in out
    if name not in ("charlm", "convert", "info"):  # charlm's live on its sub-commands; convert, info: no run dir
        assert "--run-dir" in out and "--seed" in out


def test_usage_error_exits_2(capsys):
    assert cli.main(["letters", "--epochs", "0"]) == 2
    assert "positive integer" in capsys.readouterr().err
    assert cli.main(["no-such-command"]) == 2


def test_cli_error_is_one_line_on_stderr(monkeypatch, capsys):
    letters = importlib.import_module("rnnkit.apps.letters")

    def fail(args):
        raise CliError("first line\nsecond line")

    monkeypatch.setattr(letters, "run", fail)
    assert cli.main(["letters"]) == 2
    captured = capsys.readouterr()
    assert captured.err == "rnnkit letters: error: first line second line\n"


def test_unwritable_run_dir_is_a_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert cli.main(["letters", "--run-dir", str(blocker / "run"), "--predict", "a"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnkit letters: error: ") and err.count("\n") == 1 and str(blocker) in err


def test_keyboard_interrupt_says_how_to_resume(monkeypatch, capsys, tmp_path):
    letters = importlib.import_module("rnnkit.apps.letters")

    def interrupted(args):
        common.open_run_dir(args, "letters")
        raise KeyboardInterrupt

    monkeypatch.setattr(letters, "run", interrupted)
    assert cli.main(["letters", "--run-dir", str(tmp_path / "r")]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--resume --run-dir" in err


def test_run_dir_default_name_and_layout(tmp_path):
    run = RunDir("letters", root=str(tmp_path))
    assert os.path.basename(run.path).startswith("letters-")
    run.write_config({"units": 3}, {"epochs": 5})
    stored = json.loads(open(run.config_path).read())
    assert stored["command"] == "letters" and stored["model"] == {"units": 3} and stored["settings"]["epochs"] == 5
    assert run.metrics_path.endswith("metrics.csv") and run.png("curves").endswith("curves.png")
    second = RunDir("letters", root=str(tmp_path))  # same second: a fresh folder anyway
    second.write_config({"units": 3}, {})
    assert second.path != run.path


def test_run_dir_refuses_to_mix_runs(tmp_path):
    path = str(tmp_path / "run")
    RunDir("forecast", path).write_config({"window": 24, "cell": "lstm"}, {"epochs": 3})
    with pytest.raises(CliError, match="already holds a run; add --resume"):
        RunDir("forecast", path)
    with pytest.raises(CliError, match="no config.json"):
        RunDir("forecast", str(tmp_path / "empty"), resume=True)
    with pytest.raises(CliError, match="needs --run-dir"):
        RunDir("forecast", None, resume=True)
    with pytest.raises(CliError, match=r"different model \(cell: 'lstm' there, 'gru' now, window: 24 there, 12 now\)"):
        RunDir("forecast", path, resume=True).write_config({"window": 12, "cell": "gru"}, {})
    with pytest.raises(CliError, match="holds a run of 'rnnkit forecast'"):
        RunDir("classify", path, resume=True).write_config({"window": 24, "cell": "lstm"}, {})
    # Same model, other settings: allowed, and the settings are updated.
    RunDir("forecast", path, resume=True).write_config({"window": 24, "cell": "lstm"}, {"epochs": 9})
    assert json.loads(open(os.path.join(path, "config.json")).read())["settings"]["epochs"] == 9


def test_run_dir_that_is_a_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(CliError, match="is a file"):
        RunDir("letters", str(target))


def test_fit_callbacks_and_best_logged(tmp_path):
    from rnnkit.callbacks import BackupAndRestore, CSVLogger, ModelCheckpoint

    run = RunDir("letters", str(tmp_path / "run"))
    run.write_config({}, {})
    checkpoint, logger, backup = common.fit_callbacks(run, monitor="val_accuracy")
    assert isinstance(checkpoint, ModelCheckpoint) and checkpoint.save_best_only and checkpoint.save_weights_only
    assert checkpoint.monitor == "val_accuracy" and checkpoint.filepath == run.checkpoint_path
    assert checkpoint.improves(0.9, 0.8)  # accuracy: higher is better
    assert isinstance(logger, CSVLogger) and not logger.append
    assert isinstance(backup, BackupAndRestore) and not backup.delete_checkpoint
    with open(run.metrics_path, "w") as handle:
        handle.write("epoch,loss,val_accuracy\n0,1.5,0.25\n1,0.9,NA\n2,1.1,0.75\n")
    assert run.best_logged("val_accuracy", "max") == 0.75
    assert run.best_logged("loss", "min") == 0.9
    assert common.read_history(run)["val_accuracy"][2] == 0.75
    resumed = RunDir("letters", run.path, resume=True)
    open(resumed.checkpoint_path, "wb").close()
    checkpoint, logger, _ = common.fit_callbacks(resumed, monitor="loss")
    assert checkpoint.best == 0.9 and logger.append


def test_split_config_keeps_model_keys_apart():
    import argparse

    args = argparse.Namespace(units=3, mode="1pre1", epochs=5, seed=1, command="letters", run_dir_used="x",
                              _module=object())
    model, settings = common.split_config(args, ("units", "mode"))
    assert model == {"units": 3, "mode": "1pre1"}
    assert settings == {"epochs": 5, "seed": 1}


def test_pictures_are_skipped_in_one_line_without_matplotlib(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    monkeypatch.setattr(common, "_PYPLOT", {"checked": False, "module": None})
    assert common.pyplot() is None
    assert common.pyplot() is None
    out = capsys.readouterr().out
    assert out.count("pictures skipped") == 1


def test_save_figure_writes_a_png(tmp_path):
    plt = common.pyplot()
    if plt is None:
        pytest.skip("matplotlib is not installed")
    import matplotlib

    assert matplotlib.get_backend().lower() == "agg"
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = common.save_figure(fig, str(tmp_path / "sub" / "p.png"))
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("parse, text, ok", [
    (common.positive_int, "3", 3), (common.positive_int, "0", None), (common.non_negative_int, "0", 0),
    (common.positive_float, "0.5", 0.5), (common.positive_float, "nan", None), (common.unit_fraction, "1", None),
    (common.unit_fraction, "0.2", 0.2), (common.positive_int, "x", None),
])
def test_argument_types(parse, text, ok):
    import argparse

    if ok is None:
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)
    else:
        assert parse(text) == ok


def test_a_real_process_exits_2_with_one_line_and_no_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "rnnkit.cli", "forecast", "--csv", str(tmp_path / "none.csv")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": REPO})
    assert done.returncode == 2
    assert done.stderr == f"rnnkit forecast: error: --csv: no such file {str(tmp_path / 'none.csv')!r}\n"
    assert not (tmp_path / "runs").exists()


def test_a_command_runs_without_matplotlib(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    monkeypatch.setattr(common, "_PYPLOT", {"checked": False, "module": None})
    run_dir = tmp_path / "run"
    assert cli.main(["letters", "--epochs", "2", "--verbose", "0", "--run-dir", str(run_dir), "--predict", "a"]) == 0
    out = capsys.readouterr().out
    assert out.count("pictures skipped: matplotlib is not installed") == 1
    assert (run_dir / "metrics.csv").is_file() and not list(run_dir.glob("*.png"))
