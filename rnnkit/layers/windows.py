"""Sliding windows along the time axis, shared by Conv1D and the 1-D pooling layers.

A window of ``size`` taps spaced ``dilation`` apart starts every ``stride`` steps of the padded
input; Keras's paddings: "valid" (none), "same" (TensorFlow's: ceil(L / stride) outputs, the odd
padding step on the right), "causal" (dilation · (size - 1) steps on the left only).
"""
import numpy as np

from ..errors import RnnkitValueError


def padding_amounts(padding, length, size, stride, dilation=1):
    """(left, right) zero steps added to an input of ``length`` steps."""
    if padding == "valid":
        return 0, 0
    effective = (size - 1) * dilation + 1
    if padding == "causal":
        return effective - 1, 0
    total = max((-(-length // stride) - 1) * stride + effective - length, 0)
    return total // 2, total - total // 2


def output_length(padding, length, size, stride, dilation=1):
    """Number of windows, or None for an unknown length; a clear error when not even one fits."""
    if length is None:
        return None
    left, right = padding_amounts(padding, length, size, stride, dilation)
    count = (length + left + right - (size - 1) * dilation - 1) // stride + 1
    if count <= 0:
        raise RnnkitValueError(
            f"inputs of {length} steps are too short for windows of size {size} with dilation {dilation} "
            f"and padding {padding!r}")
    return count


def gather(padded, size, stride, dilation, count):
    """(B, Lp, C) -> (B, count, size, C): ``out[:, t, j] = padded[:, t·stride + j·dilation]``."""
    span = stride * (count - 1) + 1
    return np.stack([padded[:, j * dilation:j * dilation + span:stride] for j in range(size)], axis=2)


def scatter(d_windows, padded_length, stride, dilation):
    """Adjoint of :func:`gather`: sum each window entry's gradient back onto its input step."""
    batch, count, size, channels = d_windows.shape
    out = np.zeros((batch, padded_length, channels), d_windows.dtype)
    span = stride * (count - 1) + 1
    for j in range(size):  # within one tap the steps are distinct, so += through a slice is exact
        out[:, j * dilation:j * dilation + span:stride] += d_windows[:, :, j]
    return out
