"""Forging rnnkit array files for the hostile-file tests: any header, a valid checksum, sparse data.

``craft`` writes bytes in rnnkit's layout around a hand-written header; ``rewrite_header``
takes a real file, lets a function edit its decoded header and writes the file back with
the arrays' table, offsets and checksum made consistent again, so only the edit is "wrong".
"""
import hashlib
import json
import pathlib

from rnnkit.io import arrays_file


def padded_header(raw):
    return raw + b" " * (-(32 + len(raw)) % 64)


def craft(path, header, data=b"", header_len=None, data_len=None, version=1):
    """A file in rnnkit's layout with a hand-written header (dict or bytes) and a valid checksum."""
    raw = json.dumps(header).encode() if isinstance(header, dict) else header
    padded = padded_header(raw)
    head = arrays_file._PREAMBLE.pack(arrays_file.MAGIC, version, 0,
                                      len(padded) if header_len is None else header_len,
                                      len(data) if data_len is None else data_len)
    body = head + padded + data
    pathlib.Path(path).write_bytes(body + hashlib.sha256(body).digest())


def craft_sparse(path, header, data_len):
    """A file whose data section (``data_len`` bytes) is one hole: tiny on disk, huge on paper.

    The checksum is 32 zero bytes, so it is wrong (computing the right one would mean hashing
    the whole declared size)."""
    padded = padded_header(json.dumps(header).encode())
    head = arrays_file._PREAMBLE.pack(arrays_file.MAGIC, 1, 0, len(padded), data_len)
    with open(path, "wb") as handle:
        handle.write(head + padded)
        handle.truncate(len(head) + len(padded) + data_len + 32)


def split(raw):
    """(preamble fields, header dict, data bytes) of a valid file's bytes."""
    fields = arrays_file._PREAMBLE.unpack(raw[:32])
    header_len, data_len = fields[3], fields[4]
    header = json.loads(raw[32:32 + header_len])
    return fields, header, raw[32 + header_len:32 + header_len + data_len]


def rewrite_header(raw, edit):
    """Bytes of the valid file ``raw`` after ``edit(header_dict)`` (in place), checksum recomputed.

    ``edit`` may change the metadata and the array table; the data section is kept as it was.
    """
    _, header, data = split(raw)
    edit(header)
    padded = padded_header(json.dumps(header).encode())
    head = arrays_file._PREAMBLE.pack(arrays_file.MAGIC, 1, 0, len(padded), len(data))
    body = head + padded + data
    return body + hashlib.sha256(body).digest()


def with_checksum(body):
    """``body`` (everything but the digest) followed by its SHA-256."""
    return body + hashlib.sha256(body).digest()


def rewrite_safetensors_header(raw, edit):
    """Bytes of the safetensors file ``raw`` after ``edit(header_dict)`` (data kept; no checksum to fix)."""
    import struct

    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    edit(header)
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + raw[8 + length:]
