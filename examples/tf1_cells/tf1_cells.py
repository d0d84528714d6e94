"""The TensorFlow 1 cell shapes the tutorials print, and their worked simple-RNN step, on rnnkit.

Run:  python examples/tf1_cells/tf1_cells.py
"""
import numpy as np

from rnnkit.nn import rnn_cell


def basic_rnn_cell():
    """BasicRNNCell(num_units=128): state (32, 128) after one call on inputs (32, 100)."""
    cell = rnn_cell.BasicRNNCell(num_units=128, seed=0)
    print("BasicRNNCell  state_size", cell.state_size, " output_size", cell.output_size)
    h0 = cell.zero_state(32, np.float32)
    output, h1 = cell.call(np.zeros((32, 100), np.float32), h0)
    print("  h0", h0.shape, " output", output.shape, " h1", h1.shape)
    return h1.shape


def lstm_cells():
    """LSTMCell(128) on (4, 48) gives output, s1.h and s1.c of (4, 128); BasicLSTMCell's state is (c, h)."""
    cell = rnn_cell.LSTMCell(num_units=128, seed=0)
    s0 = cell.zero_state(4, np.float32)
    output, s1 = cell(np.ones((4, 48), np.float32), s0)
    print("LSTMCell      output", output.shape, " s1.h", s1.h.shape, " s1.c", s1.c.shape)
    basic = rnn_cell.BasicLSTMCell(num_units=12, forget_bias=1.0, state_is_tuple=True, seed=0)
    basic.build(80)
    print("BasicLSTMCell(12) on 80 inputs:", basic.count_params(), "weights = 4*12*(12+80+1)")
    return output.shape, s1.h.shape, s1.c.shape, basic.count_params()


def stacked_cells():
    """GRUCell and MultiRNNCell: the state of a stack is a tuple of each layer's state."""
    stack = rnn_cell.MultiRNNCell([rnn_cell.GRUCell(16, seed=0), rnn_cell.LSTMCell(8, seed=1)])
    state = stack.zero_state(2, np.float32)
    output, state = stack(np.ones((2, 5), np.float32), state)
    print("MultiRNNCell  output", output.shape, " states", [getattr(s, "shape", None) or (s.c.shape, s.h.shape)
                                                              for s in state])
    return output.shape


def worked_step():
    """The tutorial's hand computation: input b, kernel row [-2.3, 0.8, 1.1], bias [0.5, 0.3, -0.2], h0 = 0.

    new state = tanh(x_b kernel + h0 recurrent_kernel + bias) = tanh([-1.8, 1.1, 0.9]) ~ [-0.95, 0.80, 0.72]
    """
    cell = rnn_cell.BasicRNNCell(num_units=3, seed=0)
    cell.build(5)
    kernel, recurrent, bias = cell.get_weights()
    kernel[1] = [-2.3, 0.8, 1.1]
    cell.set_weights([kernel, recurrent, np.array([0.5, 0.3, -0.2], np.float32)])
    b = np.array([[0, 1, 0, 0, 0]], np.float32)
    _, h1 = cell(b, cell.zero_state(1, np.float32))
    print("worked step   tanh([-1.8, 1.1, 0.9]) =", np.round(h1[0], 2))
    return h1[0]


def main():
    basic_rnn_cell()
    lstm_cells()
    stacked_cells()
    worked_step()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
