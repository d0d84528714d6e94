"""Whole-buffer passes of a training step, written in NumPy: the reference of each compiled twin.

    sum_of_squares(x)               Σ x_i², accumulated in float64 (a gradient's squared norm)
    adam_update(g, w, m, v, ...)    Keras 3's Adam step on flat arrays, in place
    scatter_add_rows(dst, ids, r)   dst[ids[i]] += r[i] for every i, repeated ids adding up (np.add.at)

The compiled twins (rnnkit/_fast/vector.py, C in vector_ops.h) do the same arithmetic operation
for operation and split long buffers over rnnkit's threads; a caller takes whichever runs from
:func:`rnnkit.cells.dispatch.active_function`, as cells take their ops (this package never imports it).
"""
import numpy as np

def sum_of_squares(x):
    """Σ x_i² of the 1-D float array ``x`` as a Python float, the squares and sum in float64
    (NaN or Inf when ``x`` holds one; float32 squares never overflow float64)."""
    return float(np.sum(np.square(x, dtype=np.float64)))


def adam_update(g, w, m, v, v_hat, alpha, c1, c2, epsilon, work):
    """One Adam step on 1-D arrays of one dtype and length, in place (rnnkit.optimizers.Adam):

        m <- m + (g - m) c1;  v <- v + (g² - v) c2          (c1 = 1 - beta_1, c2 = 1 - beta_2)
        v_hat <- max(v_hat, v), used in place of v (AMSGrad; ``v_hat`` None without it)
        w <- w - (m alpha) / (sqrt(v) + epsilon)

    ``alpha`` (the step's bias-corrected learning rate), ``c1``, ``c2`` and ``epsilon`` are scalars
    of the arrays' dtype; ``work``: two scratch arrays like ``g``.
    """
    m += np.multiply(np.subtract(g, m, out=work[0]), c1, out=work[0])
    np.multiply(g, g, out=work[0])
    work[0] -= v
    work[0] *= c2
    v += work[0]
    if v_hat is not None:
        v = np.maximum(v_hat, v, out=v_hat)
    denominator = np.sqrt(v, out=work[0])
    denominator += epsilon
    change = np.multiply(m, alpha, out=work[1])
    change /= denominator
    w -= change


def scatter_add_rows(dst, ids, rows):
    """dst (V, D) += the rows (N, D) at ``ids`` (N,) integers in [0, V), in order (np.add.at); an id
    outside [0, V) raises IndexError (a negative one too, which NumPy would count from the end)."""
    check_row_ids(ids, dst.shape[0])
    np.add.at(dst, ids, rows)


def check_row_ids(ids, rows):
    """Raise IndexError unless every id lies in [0, rows)."""
    if np.size(ids) and (np.min(ids) < 0 or np.max(ids) >= rows):
        raise IndexError(f"scatter_add_rows: ids must lie in [0, {rows}), got {np.min(ids)}..{np.max(ids)}")
