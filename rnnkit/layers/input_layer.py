"""``Input`` and ``InputLayer``: where a functional model's data enters (Keras 3's names and arguments)."""
import numpy as np

from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError
from .base import Layer, _shape_tuple, unique_name
from .symbolic import KerasHistory, KerasTensor, Node


def _dtype(value):
    if value is None:
        return np.dtype("float32")
    try:
        dtype = np.dtype(value)
    except TypeError:
        raise RnnkitTypeError(f"dtype must be a NumPy dtype name such as 'float32' or 'int32', "
                              f"got {describe(value)}") from None
    if not (np.issubdtype(dtype, np.number) or dtype == bool) or np.issubdtype(dtype, np.complexfloating):
        raise RnnkitValueError(f"dtype of an Input must be a real number type or bool, got {describe(value)}")
    return dtype


def _batch_shape(shape, batch_size, batch_shape):
    if shape is not None and batch_shape is not None:
        raise RnnkitValueError(f"give either shape or batch_shape to Input, not both: got shape={shape!r} and "
                               f"batch_shape={batch_shape!r}")
    if batch_shape is not None:
        if batch_size is not None:
            raise RnnkitValueError("batch_size cannot be given with batch_shape (its first entry is the batch size)")
        full = _shape_tuple("batch_shape", batch_shape)
        if not full:
            raise RnnkitValueError(f"batch_shape must have a batch axis, got {describe(batch_shape)}")
        return full
    if shape is None:
        raise RnnkitValueError("Input needs a shape, e.g. Input(shape=(None, 8)) for sequences of 8 features "
                               "(the batch axis is not part of shape)")
    sample = _shape_tuple("shape", shape)
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                   or batch_size <= 0):
        raise RnnkitValueError(f"batch_size must be a positive integer or None, got {describe(batch_size)}")
    return (None if batch_size is None else int(batch_size),) + sample


class InputLayer(Layer):
    """The layer behind :func:`Input`: it has no weights and its one output is the model's input.

    Args:
        shape: shape of one sample, without the batch axis; ``None`` for sizes that vary
            (e.g. ``(None, 8)``: sequences of any length with 8 features).
        batch_size: fixed batch size, or None (any); stateful recurrent layers use it.
        dtype: dtype of the data (default "float32"; e.g. "int32" for token ids).
        batch_shape: the full shape, batch axis first, instead of shape + batch_size.
        name: the input's name (default ``input_layer``, ``input_layer_1``, ...); dict inputs of
            ``fit``/``predict`` are matched by it.
        sparse, ragged, input_tensor, optional: Keras's; rnnkit takes dense arrays only, so they
            must be left at their defaults.
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, ragged=None, batch_shape=None,
                 input_tensor=None, optional=False, name=None, **kwargs):
        # tf.keras 2 configs spell the shapes input_shape / batch_input_shape
        if "input_shape" in kwargs and shape is None:
            shape = kwargs.pop("input_shape")
        if "batch_input_shape" in kwargs and batch_shape is None:
            batch_shape = kwargs.pop("batch_input_shape")
        kwargs.pop("trainable", None)
        if kwargs:
            raise RnnkitTypeError(f"InputLayer got unexpected arguments {sorted(kwargs)}")
        for flag, value in (("sparse", sparse), ("ragged", ragged), ("optional", optional)):
            if value:
                raise RnnkitValueError(f"Input({flag}=True) is not supported: rnnkit models take dense NumPy "
                                       f"arrays, got {flag}={value!r}")
        if input_tensor is not None:
            raise RnnkitValueError(f"Input(tensor=...) is not supported: give a shape, got {describe(input_tensor)}")
        full_shape = _batch_shape(shape, batch_size, batch_shape)
        data_dtype = _dtype(dtype)
        super().__init__(name=name if name is not None else unique_name("input_layer"))
        self.dtype = data_dtype
        self.batch_shape = full_shape
        self.built = True
        tensor = KerasTensor(full_shape, data_dtype, name=self.name, history=KerasHistory(self, 0, 0))
        self._inbound_nodes.append(Node(self, [], {}, [tensor], single_output=True))

    @property
    def batch_size(self):
        return self.batch_shape[0]

    def __call__(self, *args, **kwargs):
        raise RnnkitTypeError(f"InputLayer {self.name!r} is not called: use its output (rnnkit.Input(...) "
                              "returns it) as the input of other layers")

    def compute_output_shape(self, input_shape=None):
        return self.batch_shape

    def get_config(self):
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype.name, "sparse": False,
                "ragged": False, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, sparse=None, ragged=None, batch_shape=None, name=None,
          tensor=None, optional=False):
    """A symbolic input: the start of a functional model (Keras's ``keras.Input``).

    Args:
        shape: shape of one sample without the batch axis, ``None`` for sizes that vary,
            e.g. ``Input(shape=(None, 8))``; see :class:`InputLayer` for the other arguments.

    Returns:
        a :class:`~rnnkit.layers.symbolic.KerasTensor`; call layers on it, then
        ``rnnkit.Model(inputs, outputs)``.

    Example:
        >>> import rnnkit
        >>> x = rnnkit.Input(shape=(None, 8), name="x")
        >>> x.shape, x.dtype
        ((None, None, 8), 'float32')
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse, ragged=ragged,
                       batch_shape=batch_shape, input_tensor=tensor, optional=optional, name=name)
    return layer.output
