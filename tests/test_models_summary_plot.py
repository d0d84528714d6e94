"""summary()'s "Connected to" column for graphs, and plot_model / model_to_dot."""
import os
import stat

import pytest

import rnnkit
from rnnkit import layers
from rnnkit.utils import GraphvizNotFoundError, model_to_dot, plot_model


@pytest.fixture(autouse=True)
def fresh_names():
    rnnkit.utils.clear_session()


def _keras_example():
    """The model of the Keras 3.15 summary quoted below (same layer names)."""
    a, b = rnnkit.Input((5, 3), name="a"), rnnkit.Input((5, 3), name="b")
    encoder = layers.LSTM(4, return_state=True, name="enc")
    output, h, c = encoder(a)
    output2, _, _ = encoder(b)
    merged = layers.Concatenate(name="concatenate")([output, output2])
    y1, y2 = layers.Dense(2, name="dense")(merged), layers.Dense(3, name="dense_1")(h)
    decoded = layers.LSTM(4, name="dec")(a, initial_state=[h, c])
    return rnnkit.Model([a, b], {"out1": y1, "out2": y2, "out3": decoded}, name="m")


def _rows(text):
    """(name, shape, params, connections) per layer row of a summary table (cells joined over lines)."""
    rows, current = [], None
    for line in text.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            if current is None:
                current = cells
            else:
                current = [f"{a} {b}".strip() for a, b in zip(current, cells)]
        elif current is not None:
            rows.append(tuple(current))
            current = None
    return rows


def test_graph_summary_has_keras_connected_to_column(capsys):
    _keras_example().summary()
    text = capsys.readouterr().out
    assert "┃ Connected to" in text
    # what Keras 3.15 prints for the same model (cell by cell)
    assert _rows(text) == [
        ("a (InputLayer)", "(None, 5, 3)", "0", "-"),
        ("b (InputLayer)", "(None, 5, 3)", "0", "-"),
        ("enc (LSTM)", "[(None, 4), (None, 4), (None, 4)]", "128", "a[0][0], b[0][0]"),
        ("concatenate (Concatenate)", "(None, 8)", "0", "enc[0][0], enc[1][0]"),
        ("dense (Dense)", "(None, 2)", "18", "concatenate[0][0]"),
        ("dense_1 (Dense)", "(None, 3)", "15", "enc[0][1]"),
        ("dec (LSTM)", "(None, 4)", "128", "a[0][0], enc[0][1], enc[0][2]"),
    ]
    assert " Total params: 289 (1.13 KB)" in text


def test_chain_graph_summary_has_no_connected_to_column(capsys):
    x = rnnkit.Input((5, 3), name="x")
    rnnkit.Model(x, layers.Dense(2)(layers.LSTM(4)(x))).summary()
    text = capsys.readouterr().out
    assert "Connected to" not in text
    assert _rows(text) == [("x (InputLayer)", "(None, 5, 3)", "0"), ("lstm (LSTM)", "(None, 4)", "128"),
                           ("dense (Dense)", "(None, 2)", "10")]


def test_unbuilt_layers_say_so_as_keras_does(capsys):
    model = rnnkit.Sequential([layers.LSTM(4), layers.Dense(2)])
    model.summary()
    rows = [line for line in capsys.readouterr().out.splitlines() if "(LSTM)" in line or "(Dense)" in line]
    assert len(rows) == 2 and all("0 (unbuilt)" in row for row in rows), rows
    model.build((None, 5, 3))
    model.summary()
    out = capsys.readouterr().out
    assert "unbuilt" not in out and f"{4 * 4 * (3 + 4 + 1):,}" in out


def test_model_to_dot_has_a_box_per_layer_and_an_arrow_per_connection():
    text = model_to_dot(_keras_example(), show_shapes=True, rankdir="LR")
    assert text.startswith('digraph "m" {') and "rankdir=LR;" in text
    for edge in ('"a" -> "enc"', '"b" -> "enc"', '"enc" -> "concatenate"', '"enc" -> "dense_1"',
                 '"a" -> "dec"', '"enc" -> "dec"', '"concatenate" -> "dense"'):
        assert edge in text
    assert text.count(" -> ") == 7
    assert '"enc" [label="enc (LSTM)\\ninput: (None, 5, 3)\\noutput: [(None, 4), (None, 4), (None, 4)]"]' in text
    nested_in = rnnkit.Input((5, 3))
    outer = rnnkit.Model(nested_in, layers.Dense(1, name="head")(_inner()(nested_in)))
    expanded = model_to_dot(outer, expand_nested=True)
    assert 'subgraph "cluster_inner"' in expanded and '"inner/gru" -> "head"' in expanded
    with pytest.raises(rnnkit.RnnkitValueError, match="rankdir must be one of"):
        model_to_dot(outer, rankdir="XY")


def _inner():
    x = rnnkit.Input((5, 3))
    return rnnkit.Model(x, layers.GRU(2, name="gru")(x), name="inner")


def test_plot_model_writes_dot_text_or_draws_with_graphviz(tmp_path, monkeypatch):
    model = _keras_example()
    dot_file = plot_model(model, to_file=tmp_path / "m.dot")
    assert open(dot_file).read() == model_to_dot(model, show_layer_names=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(GraphvizNotFoundError, match=r"Graphviz's `dot` program .* to_file='.*m\.dot'"):
        plot_model(model, to_file=tmp_path / "m.png")
    with pytest.raises(ImportError):  # Keras raises ImportError without graphviz; code catching that works
        plot_model(model, to_file=tmp_path / "m.svg")
    # a stand-in `dot` that records its arguments and input
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "dot"
    fake.write_text('#!/bin/sh\necho "$@" > "$3.args"\ncat > "$3"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + "/usr/bin:/bin")
    out = plot_model(model, to_file=tmp_path / "pic" / "m.png", show_shapes=True)
    assert open(out).read() == model_to_dot(model, show_shapes=True, show_layer_names=False)
    assert open(out + ".args").read().split()[0] == "-Tpng"
    with pytest.raises(rnnkit.RnnkitValueError, match="to_file must end with one of"):
        plot_model(model, to_file=tmp_path / "m.bmp")
    unbuilt = rnnkit.Sequential([layers.Dense(2)])
    with pytest.raises(rnnkit.RnnkitValueError, match="no graph to draw yet"):
        model_to_dot(unbuilt)
