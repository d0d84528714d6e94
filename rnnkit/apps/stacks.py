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


#: more recurrent layers than any of the commands' problems can use; building them is a loop per layer
MAX_LAYERS = 64
# float32 copies of every weight a training run keeps: the weights, their gradients, Adam's two
# slots, the best weights of EarlyStopping-like callbacks and the backup being written
_COPIES_WHILE_TRAINING = 6
_GATES = {"lstm": 4, "gru": 3, "simple": 1, "simplernn": 1}


def stack_parameters(cell, units, layers, input_dim):
    """Weights of ``layers`` recurrent layers of ``cell`` on ``input_dim`` features, in closed form
    (GRU counts Keras's reset_after bias, (2, 3·units))."""
    gates = _GATES[cell]
    bias = 2 * gates * units if cell == "gru" else gates * units
    first = gates * units * (input_dim + units) + bias
    return first + (layers - 1) * (gates * units * 2 * units + bias)


def check_stack_size(cell, units, layers, input_dim, outputs, extra=0, options=None):
    """Refuse, before anything is built, a stack too deep or too big to train in the memory available.

    Args:
        cell, units, layers, input_dim: as for :func:`recurrent_stack`.
        outputs: units of the Dense layer on top.
        extra: further weights (an Embedding's).
        options: the command-line options that chose these sizes, for the message
            (default ``"--units U with --layers L"``).
    """
    from ..errors import RnnkitMemoryError
    from ..memory_limits import check_bytes
    from .console import CliError

    if layers > MAX_LAYERS:
        raise CliError(f"--layers {layers}: at most {MAX_LAYERS} recurrent layers")
    count = stack_parameters(cell, units, layers, input_dim) + units * outputs + outputs + extra
    try:
        check_bytes(f"{options or f'--units {units} with --layers {layers}'}: a model of {count:,} weights, trained,",
                    count * 4 * _COPIES_WHILE_TRAINING)
    except RnnkitMemoryError as err:
        raise CliError(str(err)) from None
