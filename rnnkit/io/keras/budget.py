"""Building the model a Keras file describes within the weights the file holds.

A hostile config can ask for ``LSTM(10**9)``; building that would allocate before any weight
is read. So loaders build the model inside :func:`within_file`: through
:func:`rnnkit.initializers.weights_from_file` every weight is drawn as zeros and counted
against the numbers the file's weights can hold, and the first weight that does not fit is
refused before it is allocated. The count is in float32 numbers (Keras's dtype), so a float64
model is refused once it needs more than twice the file's bytes; :func:`check_built_size`
then compares bytes exactly. :func:`check_member_size` refuses a weights member far larger than
the weights (a decompression bomb) before it is read into memory.
"""
import contextlib

from ... import initializers
from .errors import KerasFileError

# HDF5 bookkeeping per stored array and per file, on top of the array bytes themselves.
_H5_BYTES_PER_ARRAY = 16 * 2**10
_H5_BYTES_FIXED = 2**20
_FLOAT32_BYTES = 4


@contextlib.contextmanager
def within_file(filepath, member_bytes, what):
    """Build inside this block: weights beyond the ``member_bytes`` that ``what`` holds are refused."""
    available = member_bytes // _FLOAT32_BYTES

    def refuse(owner, shape, wanted, left):
        raise KerasFileError(filepath, f"its config asks {owner or 'a layer'} for a weight of shape {shape} "
                                       f"({wanted:,} numbers) but {what} holds only {member_bytes:,} bytes "
                                       f"({left:,} numbers not yet claimed by other weights)")

    with initializers.weights_from_file(available, refuse):
        yield


def check_built_size(filepath, model, member_bytes, what):
    """After building: the weights must fit in the bytes ``what`` holds."""
    if not model.built:
        raise KerasFileError(filepath, "the model config gives no input shape, so its weights cannot be sized "
                                       "or loaded")
    needed = sum(v.value.nbytes for v in model.weights)
    if needed > member_bytes:
        raise KerasFileError(filepath, f"the model needs {needed:,} bytes of weights but {what} holds only "
                                       f"{member_bytes:,} bytes")


def check_member_size(filepath, model, member_bytes, what):
    """Before reading a weights member into memory: it must not be far larger than the model's weights
    (the weights, up to three optimizer slots each, their groups and the file's own bookkeeping)."""
    needed = sum(v.value.nbytes for v in model.weights)
    limit = 4 * needed + _H5_BYTES_PER_ARRAY * (4 * len(model.weights) + 2 * len(model.layers) + 8) \
        + _H5_BYTES_FIXED
    if member_bytes > limit:
        raise KerasFileError(filepath, f"{what} declares {member_bytes:,} bytes, far more than the {needed:,} "
                                       f"bytes of weights and optimizer state of the model its config describes")
