"""The recurrent stacks the commands build."""

CELLS = {"lstm": "LSTM", "gru": "GRU", "simple": "SimpleRNN"}


def recurrent_stack(cell, units, layers, input_shape, seed, return_sequences=False):
    """``layers`` recurrent layers of ``cell`` ("lstm", "gru" or "simple"), each feeding its sequence to the next.

    The first layer declares ``input_shape`` (time, features); only the last one returns
    ``return_sequences``. Layer k is seeded ``seed + k`` so a run repeats bit for bit.
    """
    from .. import layers as layer_module

    cls = getattr(layer_module, CELLS[cell])
    stack = []
    for k in range(layers):
        last = k == layers - 1
        kwargs = {"input_shape": input_shape} if k == 0 else {}
        stack.append(cls(units, return_sequences=return_sequences if last else True, seed=seed + k,
                         name=f"{CELLS[cell].lower()}_{k + 1}", **kwargs))
    return stack
