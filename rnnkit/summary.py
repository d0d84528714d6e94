"""The text of ``model.summary()``, laid out like Keras 3's table."""


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


def model_table(model, line_length=None):
    """Rows of (name (type), output shape, params) between box-drawing rules, then the totals."""
    rows = []
    shape = model.input_shape
    for layer in model.layers:
        if shape is not None:
            shape = layer.compute_output_shape(shape)
            shape_text = _output_shape_text(shape)
        else:
            shape_text = "?"
        params = layer.count_params() if layer.built else 0
        rows.append((f"{layer.name} ({type(layer).__name__})", shape_text, f"{params:,}"))
    widths = [max(31, *(len(r[0]) + 1 for r in rows)), max(22, *(len(r[1]) + 1 for r in rows)), 13]
    if line_length:
        widths[0] = max(widths[0], line_length - widths[1] - widths[2] - 4)

    def line(left, mid, right, fill):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def cells(values):
        return [f" {values[0]:<{widths[0]}} ", f" {values[1]:<{widths[1]}} ", f" {values[2]:>{widths[2]}} "]

    out = [f'Model: "{model.name}"', line("┏", "┳", "┓", "━")]
    out.append("┃" + "┃".join(cells(("Layer (type)", "Output Shape", "Param #"))) + "┃")
    out.append(line("┡", "╇", "┩", "━"))
    for i, row in enumerate(rows):
        out.append("│" + "│".join(cells(row)) + "│")
        if i < len(rows) - 1:
            out.append(line("├", "┼", "┤", "─"))
    out.append(line("└", "┴", "┘", "─"))
    itemsize = model.weights[0].value.itemsize if model.weights else 4
    trainable = sum(v.value.size for v in model.trainable_variables)
    non_trainable = sum(v.value.size for v in model.non_trainable_variables)
    total = trainable + non_trainable
    out.append(f" Total params: {total:,} ({_bytes_text(total, itemsize)})")
    out.append(f" Trainable params: {trainable:,} ({_bytes_text(trainable, itemsize)})")
    out.append(f" Non-trainable params: {non_trainable:,} ({_bytes_text(non_trainable, itemsize)})")
    return "\n".join(out)
