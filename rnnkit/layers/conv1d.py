"""Conv1D (Keras 3): a 1-D convolution over time, channels last by default."""
import numpy as np

from .._validate import choice, describe, positive_int
from ..errors import RnnkitValueError
from ..random import make_rng
from . import windows
from .base import Layer
from .layer_utils import (activation_backward, apply_activation, cached, int_tuple, kernel_options_config,
                          set_kernel_options)
from .layer_utils import data_format as standardize_data_format


class Conv1D(Layer):
    """``y[b, t, f] = activation(Σ_{j, c} x_pad[b, t·s + j·d, c] · kernel[j, c, f] + bias[f])``.

    With ``groups`` = G the C input channels and the F filters split into G equal groups, and filter f
    sees only the input channels of its group (kernel (k, C/G, F)).

    Args:
        filters: F, the number of output channels.
        kernel_size: k (int or 1-tuple).
        strides: s (int or 1-tuple, default 1).
        padding: "valid" (default), "same" (TensorFlow's, ceil(L/s) outputs) or "causal" (d·(k-1) zeros
            on the left: output t sees inputs up to t only).
        data_format: "channels_last" (default; inputs (B, L, C)) or "channels_first" ((B, C, L)).
        dilation_rate: d (int or 1-tuple, default 1); strides and dilation cannot both exceed 1.
        groups: G, dividing both C and F.
        activation: None (linear), any registered elementwise name, "softmax" or "log_softmax" (over F).
        use_bias: add ``bias`` (F,).
        kernel_initializer, bias_initializer: Keras defaults "glorot_uniform" and "zeros".
        seed: int or None; fixes the initial weights.
        kernel_regularizer, bias_regularizer: penalties on the weights (:mod:`rnnkit.regularizers`),
            added to the training loss; activity_regularizer: a penalty on the output / batch size.
        kernel_constraint, bias_constraint: projections applied after each optimizer step
            (:mod:`rnnkit.constraints`).
        name, dtype, input_shape, trainable: see :class:`Layer`.

    Weights (Keras layout): kernel (k, C/G, F), bias (F,).
    Shapes: (B, L, C) -> (B, L_out, F) with L_out = floor((L + pads - d·(k-1) - 1) / s) + 1.

    Example:
        >>> import numpy as np
        >>> Conv1D(4, 3, padding="causal", seed=0)(np.zeros((2, 10, 5), np.float32)).shape
        (2, 10, 4)
    """

    input_ndim = 3

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", seed=None, kernel_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = positive_int("filters", filters)
        self.kernel_size = int_tuple("kernel_size", kernel_size, 1)
        self.strides = int_tuple("strides", strides, 1)
        self.padding = choice("padding", padding.lower() if isinstance(padding, str) else padding,
                              ("valid", "same", "causal"))
        self.data_format = standardize_data_format(data_format)
        self.dilation_rate = int_tuple("dilation_rate", dilation_rate, 1)
        self.groups = positive_int("groups", groups)
        if self.filters % self.groups:
            raise RnnkitValueError(f"filters ({self.filters}) must be divisible by groups, got groups={groups!r}")
        if self.strides[0] > 1 and self.dilation_rate[0] > 1:
            raise RnnkitValueError(f"strides > 1 and dilation_rate > 1 cannot be combined, got strides={strides!r} "
                                   f"and dilation_rate={dilation_rate!r}")
        set_kernel_options(self, activation, use_bias, kernel_initializer, bias_initializer, seed,
                           kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint)
        self._cache = None

    @property
    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def build(self, input_shape):
        if self.built:
            return
        channels = positive_int(f"input_shape[{self._channel_axis}] (channels)", input_shape[self._channel_axis])
        if channels % self.groups:
            raise RnnkitValueError(f"the {channels} input channels of layer {self.name!r} must be divisible by "
                                   f"groups={self.groups}")
        rng = make_rng(self.seed)
        shape = self.kernel_size + (channels // self.groups, self.filters)
        self.kernel = self.add_weight("kernel", self.kernel_initializer(shape, self.dtype, rng))
        if self.use_bias:
            self.bias = self.add_weight("bias", self.bias_initializer((self.filters,), self.dtype, rng))
        self.input_features = channels if self.data_format == "channels_last" else None
        self._channels = channels
        self.built = True

    def _window_args(self, length):
        size, stride, dilation = self.kernel_size[0], self.strides[0], self.dilation_rate[0]
        return size, stride, dilation, windows.output_length(self.padding, length, size, stride, dilation)

    def call(self, inputs, training=False, mask=None):
        x = inputs if self.data_format == "channels_last" else np.swapaxes(inputs, 1, 2)
        if x.shape[-1] != self._channels:
            raise RnnkitValueError(f"inputs of layer {self.name!r} must have {self._channels} channels "
                                   f"({self.data_format}), got {describe(inputs)}")
        size, stride, dilation, count = self._window_args(x.shape[1])
        left, right = windows.padding_amounts(self.padding, x.shape[1], size, stride, dilation)
        padded = np.pad(x, ((0, 0), (left, right), (0, 0)))
        patches = self._grouped(windows.gather(padded, size, stride, dilation, count))
        z = self._ungroup(patches @ self._grouped_kernel(), x.shape[0], count)
        if self.use_bias:
            z = z + self.bias.value
        y = apply_activation(self.activation, z)
        self._cache = (patches, z, y, x.shape, left, padded.shape[1])
        return y if self.data_format == "channels_last" else np.swapaxes(y, 1, 2)

    # (B, L_out, k, C) windows <-> (G, B·L_out, k·C/G) matrices, so one batched matmul serves every group
    def _grouped(self, patches):
        b, count, size, channels = patches.shape
        g = self.groups
        return patches.reshape(b * count, size, g, channels // g).transpose(2, 0, 1, 3).reshape(
            g, b * count, size * channels // g)

    def _ungrouped_patches(self, grouped, batch, count):
        g, rows, width = grouped.shape
        size = self.kernel_size[0]
        return grouped.reshape(g, rows, size, width // size).transpose(1, 2, 0, 3).reshape(
            batch, count, size, g * width // size)

    def _grouped_kernel(self):
        kernel = self.kernel.value
        size, per_group, filters = kernel.shape
        g = self.groups
        return kernel.reshape(size, per_group, g, filters // g).transpose(2, 0, 1, 3).reshape(
            g, size * per_group, filters // g)

    def _ungroup(self, grouped, batch, count):
        """(G, B·L_out, F/G) -> (B, L_out, F)."""
        return grouped.transpose(1, 0, 2).reshape(batch, count, self.filters)

    def backward(self, d_outputs):
        """dL/dinputs from dL/doutputs; fills the kernel and bias gradients."""
        patches, z, y, x_shape, left, padded_length = cached(self)
        dy = np.asarray(d_outputs, self.dtype)
        if self.data_format == "channels_first":
            dy = np.swapaxes(dy, 1, 2)
        dz = activation_backward(self.activation, z, y, dy)
        batch, count, _ = dz.shape
        g = self.groups
        dz_grouped = dz.reshape(batch * count, g, self.filters // g).transpose(1, 0, 2)
        size, per_group = self.kernel_size[0], self._channels // g
        d_kernel = (np.swapaxes(patches, 1, 2) @ dz_grouped).reshape(g, size, per_group, self.filters // g)
        grads = [d_kernel.transpose(1, 2, 0, 3).reshape(self.kernel.shape)]
        if self.use_bias:
            grads.append(dz.sum(axis=(0, 1)))
        self._gradients = grads
        d_patches = self._ungrouped_patches(dz_grouped @ np.swapaxes(self._grouped_kernel(), 1, 2), batch, count)
        dx = windows.scatter(d_patches, padded_length, self.strides[0], self.dilation_rate[0])
        dx = dx[:, left:left + x_shape[1]]
        return dx if self.data_format == "channels_last" else np.swapaxes(dx, 1, 2)

    def compute_output_shape(self, input_shape):
        length_axis = 1 if self.data_format == "channels_last" else 2
        *_, count = self._window_args(input_shape[length_axis])
        if self.data_format == "channels_last":
            return (input_shape[0], count, self.filters)
        return (input_shape[0], self.filters, count)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate, "groups": self.groups, **kernel_options_config(self)}
