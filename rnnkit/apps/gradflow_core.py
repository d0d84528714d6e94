"""The arithmetic behind ``rnnkit gradflow``: the adding problem and dL/dh_t at every step.

The adding problem (Hochreiter & Schmidhuber 1997; in the form of Le, Jaitly & Hinton 2015):
each sequence has T steps of two features, a random value u_t ~ U(0, 1) and a marker
m_t in {0, 1}. Exactly two markers are 1, one in the first half and one in the second;
the target is the sum of the two marked values. Answering 1.0 always (the mean of the
target) scores MSE = Var(u_a + u_b) = 2/12 = 1/6 ≈ 0.167, so a network has learnt
something only when it goes clearly below that.

The gradient picture needs dL/dh_t for every step t, which the whole-sequence kernels
never expose (they carry it from step to step internally). So :func:`state_gradients`
runs the cell one step at a time with ``cell.step_forward``, keeps every step's cache,
and walks back with ``cell.step_backward``: the state gradient handed from step t+1 to
step t *is* dL/dh_t. For an LSTM that is the gradient with respect to h_t with c_t held
fixed (the part of the carried gradient that flows through the hidden output).
"""
import numpy as np

#: MSE of always answering 1.0 on the adding problem: Var(U(0,1) + U(0,1)) = 1/6
CONSTANT_BASELINE_MSE = 1.0 / 6.0


def adding_problem(count, length, rng, dtype=np.float32):
    """``count`` sequences of the adding problem.

    Args:
        count: number of sequences N.
        length: steps per sequence T (>= 2).
        rng: ``np.random.Generator``.

    Returns:
        x (N, T, 2): values in [:, :, 0], markers in [:, :, 1];
        y (N, 1): the sum of the two marked values.
    """
    half = length // 2
    x = np.zeros((count, length, 2), dtype)
    x[:, :, 0] = rng.random((count, length))
    rows = np.arange(count)
    first = rng.integers(0, half, count)
    second = rng.integers(half, length, count)
    x[rows, first, 1] = 1.0
    x[rows, second, 1] = 1.0
    y = (x[rows, first, 0] + x[rows, second, 0])[:, None]
    return x, y.astype(dtype)


def state_gradients(cell, readout_kernel, readout_bias, x, y):
    """Per-example dℓ_b/dh_t for every step, with ℓ_b = (h_T^b · V + c - y_b)².

    The loss sits at the last step only (a linear readout V, c of the final output), so
    every dh_t with t < T reaches the loss only through the recurrence: its size shows
    how much of the error signal survives the trip back from T to t.

    Args:
        cell: a built recurrent cell (``step_forward`` / ``step_backward``, state ``(h,)``
            or ``(h, c)``).
        readout_kernel: V, (H, 1).
        readout_bias: c, (1,) (or None).
        x: (B, T, I) inputs.
        y: (B, 1) targets.

    Returns:
        grads (B, T, H) with grads[:, t] = dℓ_b/dh_t, and the losses ℓ (B,).
    """
    batch, time, _ = x.shape
    states = cell.get_initial_state(batch) if batch else None
    caches = []
    output = None
    for t in range(time):
        output, states, cache = cell.step_forward(x[:, t], states)
        caches.append(cache)
    prediction = output @ readout_kernel
    if readout_bias is not None:
        prediction = prediction + readout_bias
    error = prediction - y
    d_h = 2.0 * error @ readout_kernel.T  # dℓ_b/dh_T: each example's own loss, so no 1/B
    grads = np.empty((batch, time, output.shape[-1]), output.dtype)
    grads[:, time - 1] = d_h
    d_states = None
    for t in range(time - 1, 0, -1):
        d_output = d_h if t == time - 1 else None
        _, d_states, _ = cell.step_backward(d_output, d_states, caches[t])
        grads[:, t - 1] = d_states[0]
    return grads, (error[:, 0] ** 2)


def gradient_norms(cell, readout_kernel, readout_bias, x, y):
    """Mean over the batch of ‖dℓ_b/dh_t‖₂ for t = 1..T: an array (T,)."""
    grads, _ = state_gradients(cell, readout_kernel, readout_bias, x, y)
    return np.linalg.norm(grads.astype(np.float64), axis=-1).mean(axis=0)
