"""``plot_model`` / ``model_to_dot``: a model's graph as Graphviz DOT text, drawn by Graphviz's ``dot``.

The DOT text is written here without any package; only drawing it (PNG, SVG, PDF, ...) needs the
``dot`` program of Graphviz (found on ``PATH``). ``to_file="model.dot"`` writes the text itself.
"""
import os
import shutil
import subprocess

from .._validate import choice, describe, path_text
from ..errors import RnnkitError, RnnkitTypeError, RnnkitValueError

_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf", ".jpg": "jpg", ".jpeg": "jpg", ".gif": "gif", ".dot": "dot"}


class GraphvizNotFoundError(RnnkitError, ImportError):
    """Drawing a model needs Graphviz's ``dot`` program, which is not installed."""


def _quote(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _shape_text(shapes):
    if isinstance(shapes, list) and len(shapes) == 1:
        shapes = shapes[0]
    if isinstance(shapes, list):
        return "[" + ", ".join(_shape_text(s) for s in shapes) + "]"
    return "(" + ", ".join("None" if d is None else str(d) for d in shapes) + (",)" if len(shapes) == 1 else ")")


def _label(model, layer, options):
    class_name = type(layer).__name__
    lines = [f"{layer.name} ({class_name})" if options["show_layer_names"] else class_name]
    if options["show_layer_activations"] and hasattr(layer, "activation"):
        activation = layer.activation
        name = activation if isinstance(activation, str) else getattr(activation, "name", None) or getattr(
            activation, "__name__", str(activation))
        lines.append(f"activation: {name}")
    if options["show_dtype"]:
        lines.append(f"dtype: {getattr(layer.dtype, 'name', layer.dtype)}")
    if options["show_shapes"]:
        nodes = [n for n in layer._inbound_nodes if id(n) in model._graph.node_ids]
        if nodes:
            node = nodes[-1]
            if not node.is_input:
                lines.append(f"input: {_shape_text([t.shape for t in node.input_tensors])}")
            lines.append(f"output: {_shape_text([t.shape for t in node.outputs])}")
    if options["show_trainable"]:
        lines.append(f"trainable: {'Y' if layer.trainable else 'N'}")
    return "\n".join(lines)


def _model_lines(model, options, prefix, indent):
    """DOT statements for ``model``'s layers and edges; returns (lines, {id(layer): (entry ids, exit id)})."""
    lines, ends = [], {}
    for layer in model.layers:
        node_id = f"{prefix}{layer.name}"
        if options["expand_nested"] and getattr(layer, "_graph", None) is not None:
            inner, inner_ends = _model_lines(layer, options, f"{node_id}/", indent + "  ")
            lines.append(f"{indent}subgraph {_quote('cluster_' + node_id)} {{")
            lines.append(f"{indent}  label={_quote(f'{layer.name} ({type(layer).__name__})')};")
            lines += inner
            lines.append(f"{indent}}}")
            entries = [f"{node_id}/{t._keras_history.operation.name}" for t in layer.inputs]
            exits = [f"{node_id}/{t._keras_history.operation.name}" for t in layer.outputs]
            ends[id(layer)] = (entries, exits)
        else:
            lines.append(f"{indent}{_quote(node_id)} [label={_quote(_label(model, layer, options))}];")
            ends[id(layer)] = ([node_id], [node_id])
    seen = set()
    for node in model._graph.nodes:
        targets = ends[id(node.layer)][0]
        for position, tensor in enumerate(node.input_tensors):
            source = tensor._keras_history.operation
            exits = ends[id(source)][1]
            source_id = exits[min(tensor._keras_history.tensor_index, len(exits) - 1)]
            target_id = targets[min(position, len(targets) - 1)]
            if (source_id, target_id) not in seen:
                seen.add((source_id, target_id))
                lines.append(f"{indent}{_quote(source_id)} -> {_quote(target_id)};")
    return lines, ends


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
                 expand_nested=False, dpi=200, subgraph=False, show_layer_activations=False,
                 show_trainable=False, splines="ortho", **kwargs):
    """The DOT text (a ``str``) of ``model``'s graph: one box per layer, one arrow per connection.

    Args (Keras's): show_shapes (input and output shapes in each box), show_dtype,
        show_layer_names, rankdir ("TB" top to bottom, "LR", "BT", "RL"), expand_nested
        (draw a nested model's layers inside a cluster), dpi, subgraph (a ``subgraph cluster_``
        block instead of a whole ``digraph``), show_layer_activations, show_trainable, splines.
    """
    if kwargs:
        raise RnnkitTypeError(f"model_to_dot got unexpected arguments {sorted(kwargs)}")
    if getattr(model, "_graph", None) is None:
        raise RnnkitValueError(f"model {getattr(model, 'name', model)!r} has no graph to draw yet: build it "
                               f"(give the first layer an input shape, or call it on data) first")
    rankdir = choice("rankdir", rankdir, ("TB", "LR", "BT", "RL"))
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or dpi <= 0:
        raise RnnkitValueError(f"dpi must be a positive number, got {describe(dpi)}")
    options = {"show_shapes": bool(show_shapes), "show_dtype": bool(show_dtype),
               "show_layer_names": bool(show_layer_names), "expand_nested": bool(expand_nested),
               "show_layer_activations": bool(show_layer_activations), "show_trainable": bool(show_trainable)}
    body, _ = _model_lines(model, options, "", "  ")
    header = "subgraph " + _quote("cluster_" + model.name) if subgraph else "digraph " + _quote(model.name)
    settings = [f"  rankdir={rankdir};", f"  splines={_quote(splines)};", "  concentrate=true;",
                f"  dpi={dpi};", "  node [shape=box, fontname=Helvetica];"]
    return "\n".join([header + " {"] + settings + body + ["}"]) + "\n"


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=False,
               rankdir="TB", expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False,
               splines="ortho", **kwargs):
    """Draw ``model``'s graph into ``to_file`` (Keras's ``keras.utils.plot_model``).

    The format comes from the extension: .png, .svg, .pdf, .jpg, .gif (drawn by Graphviz's ``dot``
    program, which must be installed) or .dot (the DOT text, no Graphviz needed). The other
    arguments are :func:`model_to_dot`'s. Returns the path written.
    """
    path = path_text("to_file", to_file)
    extension = os.path.splitext(path)[1].lower()
    if extension not in _FORMATS:
        raise RnnkitValueError(f"to_file must end with one of {sorted(_FORMATS)}, got {to_file!r}")
    text = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                        rankdir=rankdir, expand_nested=expand_nested, dpi=dpi,
                        show_layer_activations=show_layer_activations, show_trainable=show_trainable,
                        splines=splines, **kwargs)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    if _FORMATS[extension] == "dot":
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return path
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizNotFoundError(
            f"plot_model needs Graphviz's `dot` program to draw {path}, and it is not on PATH: install Graphviz "
            f"(apt install graphviz, brew install graphviz or conda install graphviz), or write the DOT text "
            f"with to_file='{os.path.splitext(path)[0]}.dot'")
    result = subprocess.run([dot, f"-T{_FORMATS[extension]}", "-o", path], input=text, text=True,
                            capture_output=True, timeout=120)
    if result.returncode != 0:
        raise RnnkitValueError(f"Graphviz's dot could not draw {path}: {result.stderr.strip()[:500]}")
    return path
