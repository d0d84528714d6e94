"""tf.nn.dynamic_rnn on rnnkit: whole sequences, sequence_length, bidirectional RNNs and BPTT by hand.

Run:  python examples/dynamic_rnn/dynamic_rnn.py
"""
import numpy as np

from rnnkit.nn import bidirectional_dynamic_rnn, dynamic_rnn, dynamic_rnn_backward, rnn_cell


def variable_lengths():
    """Four sequences of lengths 10, 7, 3, 0 padded to 10 steps: padding outputs zeros, the state stops."""
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((4, 10, 48)).astype(np.float32)
    lengths = np.array([10, 7, 3, 0])
    cell = rnn_cell.LSTMCell(num_units=64, use_peepholes=True, seed=0)
    outputs, state = dynamic_rnn(cell, inputs, sequence_length=lengths)
    print("dynamic_rnn   outputs", outputs.shape, " state.c", state.c.shape, " state.h", state.h.shape)
    for b, n in enumerate(lengths):
        padding_zero = bool(np.all(outputs[b, n:] == 0))
        last = outputs[b, n - 1] if n else np.zeros(64, np.float32)
        print(f"  sequence {b}: length {n:2d}  padding outputs zero: {padding_zero}  "
              f"final h = output at step {n}: {bool(np.allclose(state.h[b], last))}")
    return outputs, state, lengths


def bidirectional():
    """A forward and a backward GRU; out_bw[:, t] is aligned with inputs[:, t], so they concatenate."""
    inputs = np.random.default_rng(1).standard_normal((2, 6, 5)).astype(np.float32)
    (out_fw, out_bw), (s_fw, s_bw) = bidirectional_dynamic_rnn(
        rnn_cell.GRUCell(8, seed=0), rnn_cell.GRUCell(8, seed=1), inputs, sequence_length=[6, 4])
    both = np.concatenate([out_fw, out_bw], axis=-1)
    print("bidirectional outputs", both.shape, " backward state = its output at step 1:",
          bool(np.allclose(s_bw[1], out_bw[1, 0])))
    return both


def gradient_through_time(steps=50):
    """BPTT by hand: the gradient of the last output reaching each earlier input, for tanh RNN and LSTM."""
    inputs = np.random.default_rng(2).standard_normal((1, steps, 4)).astype(np.float64)
    norms = {}
    for name, cell in (("BasicRNNCell", rnn_cell.BasicRNNCell(16, dtype="float64", seed=0)),
                       ("LSTMCell", rnn_cell.LSTMCell(16, dtype="float64", seed=0))):
        outputs, _, cache = dynamic_rnn(cell, inputs, return_cache=True)
        d_outputs = np.zeros_like(outputs)
        d_outputs[:, -1] = 1.0 / np.sqrt(outputs.shape[-1])  # loss = mean-scaled sum of the last output
        d_inputs, _, grads = dynamic_rnn_backward(cache, d_outputs)
        norms[name] = np.linalg.norm(d_inputs[0], axis=-1)
        print(f"{name:13s} |dL/dx_t| at t = {steps}, {steps - 10}, {steps - 30}, 1: "
              + ", ".join(f"{norms[name][t]:.2e}" for t in (steps - 1, steps - 11, steps - 31, 0))
              + f"   ({len(grads)} weight gradients)")
    return norms


def main():
    variable_lengths()
    bidirectional()
    gradient_through_time()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
