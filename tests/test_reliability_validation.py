"""Runs every row of the argument-check table in docs/reliability.md: the call must raise the
named rnnkit error (also a builtin ValueError/TypeError) with a message that begins as written."""
import re
from pathlib import Path

import numpy as np
import pytest

import rnnkit
from rnnkit import Sequential, callbacks, cells, initializers, layers, losses, metrics, nn, optimizers
from rnnkit.errors import RnnkitError, RnnkitTypeError, RnnkitValueError
from rnnkit.io.arrays_file import RnnkitFileError
from rnnkit.nn import rnn_cell

DOC = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"
ERRORS = {"RnnkitValueError": RnnkitValueError, "RnnkitTypeError": RnnkitTypeError, "RnnkitFileError": RnnkitFileError}


def _rows():
    text = DOC.read_text(encoding="utf-8")
    table = text.split("<!-- checks:begin -->")[1].split("<!-- checks:end -->")[0]
    rows = []
    for line in table.strip().splitlines()[2:]:  # skip the header and the |---| line
        cells_ = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells_) == 4, line
        call = re.fullmatch(r"`(.+)`", cells_[1]).group(1)
        message = re.fullmatch(r"`(.+)`", cells_[3]).group(1)
        rows.append(pytest.param(call, cells_[2], message, id=call[:60]))
    return rows


ROWS = _rows()


def test_the_table_covers_every_kind_of_entry_point():
    calls = " ".join(row.values[0] for row in ROWS)
    for entry in ("cells.", "nn.dynamic_rnn", "rnn_cell.", "layers.", "Sequential(", ".compile(", ".fit(",
                  ".predict(", "optimizers.", "losses.", "metrics.", "callbacks.", "initializers.", "load_weights"):
        assert entry in calls, entry
    assert len(ROWS) >= 80


@pytest.fixture
def namespace(tmp_path):
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not an rnnkit file\n")

    def built(cell):
        cell.build(3)
        return cell

    def model():
        m = Sequential([layers.LSTM(2, input_shape=(4, 3)), layers.Dense(1)])
        m.compile("sgd", "mse")
        return m

    return dict(np=np, rnnkit=rnnkit, Sequential=Sequential, callbacks=callbacks, cells=cells,
                initializers=initializers, layers=layers, losses=losses, metrics=metrics, nn=nn,
                optimizers=optimizers, rnn_cell=rnn_cell, built=built, model=model, text_file=str(text_file),
                x=np.zeros((2, 4, 3), np.float32), y=np.zeros((2, 1)))


@pytest.mark.parametrize("call, error, message", ROWS)
def test_documented_check(namespace, call, error, message):
    with pytest.raises(RnnkitError) as info:
        eval(call, namespace)  # the calls come from the repository's own docs/reliability.md
    assert type(info.value) is ERRORS[error], (type(info.value), str(info.value))
    assert isinstance(info.value, (ValueError, TypeError))
    assert str(info.value).startswith(message), str(info.value)
