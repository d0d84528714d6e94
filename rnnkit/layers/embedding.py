"""Embedding: integer ids to dense vectors."""
import numpy as np

from .. import initializers, weight_options
from .._validate import describe, positive_int, rectangular
from ..errors import RnnkitTypeError, RnnkitValueError
from ..ops import grad_sinks, vector_ops
from ..cells.dispatch import active_function
from ..random import make_rng
from .base import Layer


class Embedding(Layer):
    """``y[b, t] = embeddings[ids[b, t]]``.

    Weights: embeddings (input_dim, output_dim).

    Args:
        input_dim: vocabulary size; ids must lie in [0, input_dim).
        output_dim: size of each vector.
        embeddings_initializer: Keras's default "uniform" is U(-0.05, 0.05).
        mask_zero: id 0 is padding: the output mask is ``ids != 0`` and flows to the recurrent layers.
        seed: int or None.
        embeddings_regularizer, embeddings_constraint: a penalty on / a projection of the embeddings
            (:mod:`rnnkit.regularizers`, :mod:`rnnkit.constraints`); activity_regularizer: a penalty
            on the output / batch size.

    Shapes: ids (B, T) integers -> (B, T, output_dim).
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", mask_zero=False,
                 seed=None, embeddings_regularizer=None, embeddings_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.input_dim = positive_int("input_dim", input_dim)
        self.output_dim = positive_int("output_dim", output_dim)
        if embeddings_initializer == "uniform":
            embeddings_initializer = initializers.RandomUniform(-0.05, 0.05)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.mask_zero = bool(mask_zero)
        make_rng(seed)
        self.seed = seed
        weight_options.set_weight_options(self, ("embeddings",), {"embeddings_regularizer": embeddings_regularizer,
                                                                  "embeddings_constraint": embeddings_constraint})
        self._cache = None

    def build(self, input_shape):
        value = self.embeddings_initializer((self.input_dim, self.output_dim), self.dtype, make_rng(self.seed))
        self.embeddings = self.add_weight("embeddings", value)
        self.built = True

    def check_inputs(self, inputs, name="inputs"):
        ids = rectangular(f"{name} of layer {self.name!r}", inputs)
        if np.issubdtype(ids.dtype, np.floating):
            if not np.all(np.isfinite(ids)) or not np.all(ids == np.round(ids)):
                raise RnnkitTypeError(f"{name} of layer {self.name!r} must be integer ids, got {describe(ids)}")
            ids = ids.astype(np.int64)
        elif not np.issubdtype(ids.dtype, np.integer):
            raise RnnkitTypeError(f"{name} of layer {self.name!r} must be integer ids, got {describe(ids)}")
        bad = (ids < 0) | (ids >= self.input_dim)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            raise RnnkitValueError(
                f"{name} of layer {self.name!r} must hold ids in [0, {self.input_dim}), got {ids[index]} at index {index}")
        return ids

    def call(self, inputs, training=False, mask=None):
        self._cache = inputs
        return self.embeddings.value[inputs]

    def backward(self, d_outputs):
        """Scatter-adds ``d_outputs`` (B, T, output_dim) into the rows used; ids have no gradient (returns None)."""
        table = self.embeddings.value
        grad = grad_sinks.take(table, table.shape, table.dtype)  # the training loop's buffer, when it keeps one
        if grad is None:
            grad = np.zeros_like(table)
        else:
            grad[...] = 0
        ids = np.ascontiguousarray(self._cache.reshape(-1), dtype=np.int64)
        rows = np.ascontiguousarray(np.asarray(d_outputs, table.dtype).reshape(-1, self.output_dim))
        active_function(vector_ops.scatter_add_rows)(grad, ids, rows)
        self._gradients = [grad]
        return None

    def compute_mask(self, inputs, mask=None):
        return (np.asarray(inputs) != 0) if self.mask_zero else None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": self.embeddings_initializer.serialize(),
                "mask_zero": self.mask_zero, "seed": self.seed,
                **weight_options.weight_options_config(self, ("embeddings",))}
