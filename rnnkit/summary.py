"""The text of ``model.summary()``, laid out like Keras 3's table.

A chain of layers (a Sequential, or a functional model whose graph is a chain: Keras's
"sequential-like" rule) gets the columns Layer (type), Output Shape and Param #; any other
graph adds Keras's "Connected to" column: for every call of the layer in the model, its input
tensors as ``layer[node_index][tensor_index]``.
"""


def _shape_text(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + (",)" if len(shape) == 1 else ")")


def _output_shape_text(shape):
    if isinstance(shape, list):  # several outputs, e.g. return_state
        return "[" + ", ".join(_shape_text(s) for s in shape) + "]"
    return _shape_text(shape)


def _bytes_text(count, itemsize):
    size = count * itemsize
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024


def _model_nodes(model, layer):
    graph = getattr(model, "_graph", None)
    if graph is None:
        return []
    return [node for node in layer._inbound_nodes if id(node) in graph.node_ids]


def is_chain(model):
    """Keras's "sequential-like": one node per depth, each with one input, and no layer called twice."""
    graph = getattr(model, "_graph", None)
    if model.config_class_name == "Sequential" or graph is None:
        return True
    for nodes in graph.nodes_by_depth.values():
        if len(nodes) > 1 or (len(nodes) == 1 and len(nodes[0].input_tensors) > 1):
            return False
    return all(len(_model_nodes(model, layer)) <= 1 for layer in model.layers)


def _shape_of(model, layer):
    nodes = _model_nodes(model, layer)
    if not nodes:
        return "?"
    node = nodes[-1]  # Keras shows the last call's shapes
    shapes = [t.shape for t in node.outputs]
    return _output_shape_text(shapes[0] if node.single_output else shapes)


def _connections(model, layer):
    links = []
    for node in _model_nodes(model, layer):
        for tensor in node.input_tensors:
            source, node_index, tensor_index = tensor._keras_history
            links.append(f"{source.name}[{node_index}][{tensor_index}]")
    return links or ["-"]


def _wrap(items, width):
    """Join ``items`` with ", " into lines of at most ``width`` characters (an item is never split)."""
    lines, current = [], ""
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else "")
        if current and len(current) + 1 + len(piece) > width:
            lines.append(current)
            current = piece
        else:
            current = f"{current} {piece}" if current else piece
    lines.append(current)
    return lines


def model_table(model, line_length=None):
    """Rows of (name (type), output shape, params[, connected to]) between box-drawing rules, then the totals."""
    chain = is_chain(model)
    rows = []
    for layer in model.layers:
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"  # Keras's words
        row = [[f"{layer.name} ({type(layer).__name__})"], [_shape_of(model, layer)], [params]]
        if not chain:
            row.append(_connections(model, layer))
        rows.append(row)
    if chain:
        widths = [max(31, *(len(r[0][0]) + 1 for r in rows)), max(22, *(len(r[1][0]) + 1 for r in rows)), 13]
        if line_length:
            widths[0] = max(widths[0], line_length - widths[1] - widths[2] - 4)
    else:
        widths = [max(25, *(len(r[0][0]) + 1 for r in rows)), max(20, *(len(r[1][0]) + 1 for r in rows)), 10,
                  max(20, *(len(item) + 1 for r in rows for item in r[3]))]
        if line_length:
            widths[3] = max(widths[3], line_length - sum(widths[:3]) - 3 * len(widths) - 1)
        for row in rows:
            row[3] = _wrap(row[3], widths[3])
    header = ["Layer (type)", "Output Shape", "Param #", "Connected to"][:len(widths)]
    right = {2}

    def line(left, mid, end, fill):
        return left + mid.join(fill * (w + 2) for w in widths) + end

    def cells(values, sep):
        parts = [f" {v:>{w}} " if i in right else f" {v:<{w}} " for i, (v, w) in enumerate(zip(values, widths))]
        return sep + sep.join(parts) + sep

    out = [f'Model: "{model.name}"', line("┏", "┳", "┓", "━"), cells(header, "┃"), line("┡", "╇", "┩", "━")]
    for i, row in enumerate(rows):
        height = max(len(cell) for cell in row)
        for k in range(height):
            out.append(cells([cell[k] if k < len(cell) else "" for cell in row], "│"))
        if i < len(rows) - 1:
            out.append(line("├", "┼", "┤", "─"))
    out.append(line("└", "┴", "┘", "─"))
    weights = model.weights
    itemsize = weights[0].value.itemsize if weights else 4
    trainable = sum(v.value.size for v in model.trainable_variables)
    non_trainable = sum(v.value.size for v in model.non_trainable_variables)
    total = trainable + non_trainable
    out.append(f" Total params: {total:,} ({_bytes_text(total, itemsize)})")
    out.append(f" Trainable params: {trainable:,} ({_bytes_text(trainable, itemsize)})")
    out.append(f" Non-trainable params: {non_trainable:,} ({_bytes_text(non_trainable, itemsize)})")
    return "\n".join(out)
