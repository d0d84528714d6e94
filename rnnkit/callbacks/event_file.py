"""TensorBoard event files, written without TensorFlow or the tensorboard package.

An event file (``events.out.tfevents.<time>.<host>.<pid>.<n>.v2``) is a TFRecord stream of
``Event`` protocol buffers. Each record is::

    uint64 length (little endian) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)

with ``masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8`` (mod 2^32), CRC-32C being the
Castagnoli polynomial. The messages written here are small and hand-encoded (protobuf wire
format: a key ``field << 3 | wire type`` then a varint, a fixed 64/32-bit value, or a
length-prefixed payload):

    Event           1 wall_time (double)  2 step (int64)  3 file_version (string)  5 summary
    Summary         1 value (repeated Summary.Value)
    Summary.Value   1 tag  2 simple_value (float)  5 histo (HistogramProto)  8 tensor  9 metadata
    HistogramProto  1 min  2 max  3 num  4 sum  5 sum_squares (doubles)
                    6 bucket_limit  7 bucket (packed repeated doubles)
    SummaryMetadata 1 plugin_data (1 plugin_name, 2 content)
    TensorProto     1 dtype (7 = string)  2 tensor_shape (empty: a scalar)  8 string_val

TensorBoard reads scalars written as ``simple_value`` and histograms as ``HistogramProto``
(its loader turns both into its current tensor form), and a Keras model's JSON config under the
``graph_keras_model`` plugin as the conceptual graph.
"""
import os
import socket
import struct
import time

import numpy as np

from .._validate import path_text

_CRC_TABLE = []
for _byte in range(256):
    _crc = _byte
    for _ in range(8):
        _crc = (_crc >> 1) ^ 0x82F63B78 if _crc & 1 else _crc >> 1
    _CRC_TABLE.append(_crc)


def crc32c(data):
    """CRC-32C (Castagnoli) of ``data`` (bytes); crc32c(b"123456789") == 0xE3069283."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data):
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(data):
    """One TFRecord: the framing around ``data``."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + data + struct.pack("<I", masked_crc32c(data))


# ---------------------------------------------------------------------- protobuf wire format
def _varint(value):
    out = bytearray()
    value &= (1 << 64) - 1  # negative int64 as two's complement, as protobuf does
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _key(field, wire_type):
    return _varint(field << 3 | wire_type)


def _bytes_field(field, payload):
    return _key(field, 2) + _varint(len(payload)) + payload


def _double_field(field, value):
    return _key(field, 1) + struct.pack("<d", float(value))


def _packed_doubles(field, values):
    return _bytes_field(field, np.asarray(values, "<f8").tobytes())


def event(step, summary=None, file_version=None, wall_time=None):
    """The bytes of an ``Event``."""
    data = _double_field(1, time.time() if wall_time is None else wall_time) + _key(2, 0) + _varint(int(step))
    if file_version is not None:
        data += _bytes_field(3, file_version.encode())
    if summary is not None:
        data += _bytes_field(5, summary)
    return data


def scalar_value(tag, value):
    """A ``Summary.Value`` holding a float scalar."""
    return _bytes_field(1, tag.encode()) + _key(2, 5) + struct.pack("<f", float(value))


def histogram_value(tag, values, buckets=30):
    """A ``Summary.Value`` with the histogram of ``values`` in ``buckets`` equal-width buckets over
    [min, max] (one bucket around the value when all are equal), as ``tf.summary.histogram`` bins."""
    flat = np.asarray(values, np.float64).reshape(-1)
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        low = high = 0.0
        limits, counts = [0.0], [0.0]
    else:
        low, high = float(flat.min()), float(flat.max())
        if low == high:
            limits, counts = [high + 0.5], [float(flat.size)]
        else:
            counts, edges = np.histogram(flat, bins=buckets, range=(low, high))
            limits = edges[1:]
    histo = (_double_field(1, low) + _double_field(2, high) + _double_field(3, flat.size)
             + _double_field(4, flat.sum()) + _double_field(5, np.square(flat).sum())
             + _packed_doubles(6, limits) + _packed_doubles(7, counts))
    return _bytes_field(1, tag.encode()) + _bytes_field(5, histo)


def text_tensor_value(tag, text, plugin_name, content=b"1"):
    """A ``Summary.Value`` holding one string tensor for the plugin ``plugin_name``."""
    metadata = _bytes_field(1, _bytes_field(1, plugin_name.encode()) + _bytes_field(2, content))
    tensor = _key(1, 0) + _varint(7) + _bytes_field(2, b"") + _bytes_field(8, text.encode())
    return _bytes_field(1, tag.encode()) + _bytes_field(8, tensor) + _bytes_field(9, metadata)


def summary(*values):
    return b"".join(_bytes_field(1, value) for value in values)


class EventFileWriter:
    """Appends events to a new event file in ``log_dir`` (created if missing).

    Example:
        >>> import tempfile
        >>> writer = EventFileWriter(tempfile.mkdtemp())
        >>> writer.scalar("epoch_loss", 0.5, step=0)
        >>> writer.close()
    """

    _count = 0

    def __init__(self, log_dir):
        self.log_dir = path_text("log_dir", log_dir)
        os.makedirs(self.log_dir, exist_ok=True)
        EventFileWriter._count += 1
        name = (f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}."
                f"{EventFileWriter._count}.v2")
        self.path = os.path.join(self.log_dir, name)
        self._file = open(self.path, "wb")
        self._write(event(0, file_version="brain.Event:2"))
        self.flush()

    def _write(self, data):
        self._file.write(tfrecord(data))

    def scalar(self, tag, value, step):
        self._write(event(step, summary(scalar_value(tag, value))))

    def histogram(self, tag, values, step, buckets=30):
        self._write(event(step, summary(histogram_value(tag, values, buckets))))

    def keras_model(self, tag, json_text, step=0):
        """The model's JSON config for TensorBoard's graph plugin (Keras's ``keras_model_summary``)."""
        self._write(event(step, summary(text_tensor_value(tag, json_text, "graph_keras_model"))))

    def flush(self):
        self._file.flush()

    def close(self):
        if not self._file.closed:
            self._file.close()
