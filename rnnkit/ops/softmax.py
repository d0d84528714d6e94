"""Softmax and log-softmax over one axis, with the vector-Jacobian products backward needs.

    softmax(z)_k     = exp(z_k - m) / Σ_j exp(z_j - m),      m = max_j z_j
    log_softmax(z)_k = (z_k - m) - log Σ_j exp(z_j - m)

Subtracting the maximum changes nothing mathematically and keeps every
exponent ≤ 0, so logits of ±1e4 neither overflow nor produce NaN.

Backward, with y = softmax(z) and upstream gradient g = dL/dy:
    dL/dz = y ⊙ (g - Σ_k g_k y_k)
and with l = log_softmax(z), g = dL/dl:
    dL/dz = g - softmax(z) · Σ_k g_k
Neither forms the (K, K) Jacobian.
"""
import numpy as np


def softmax(z, axis=-1):
    """Stable softmax of ``z`` (any shape) along ``axis``; same shape and dtype."""
    z = np.asarray(z)
    shifted = z - z.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(z, axis=-1):
    """Stable log-softmax of ``z`` along ``axis``; same shape and dtype."""
    z = np.asarray(z)
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax_backward(y, dy, axis=-1):
    """dL/dz from the softmax output ``y`` and ``dy`` = dL/dy (same shapes): y ⊙ (dy - <dy, y>)."""
    return y * (dy - np.sum(dy * y, axis=axis, keepdims=True))


def log_softmax_backward(log_y, dlog_y, axis=-1):
    """dL/dz from the log-softmax output ``log_y`` and ``dlog_y`` = dL/dlog_y: dlog_y - softmax · Σ dlog_y."""
    return dlog_y - np.exp(log_y) * np.sum(dlog_y, axis=axis, keepdims=True)


__all__ = ["softmax", "log_softmax", "softmax_backward", "log_softmax_backward"]
