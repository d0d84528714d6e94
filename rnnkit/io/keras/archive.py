"""Keras 3's ``.keras`` archive: a ZIP of ``metadata.json``, ``config.json`` and ``model.weights.h5``.

Keras stores the three members uncompressed (``ZIP_STORED``) in that order; so does
:func:`save_model`. Reading refuses, before decompressing anything: a file that is not a
complete ZIP, members compressed other than stored or deflated, a member whose declared size
is more than its stored bytes could expand to (exactly its size when stored, 1032 times — the
deflate limit — when deflated), members that add up to more than the file, JSON members over
64 MiB, and a weights member far larger than the weights the config describes.
"""
import datetime
import io
import json
import os
import zipfile

from ..._validate import path_text
from ..files import atomic_write
from .budget import check_built_size, check_member_size, within_file
from .compile_config import compile_from_keras, compile_to_keras
from .errors import KerasFileError
from .h5 import reading, write_bytes
from .model_config import model_from_keras, model_to_keras
from .weights_store import read_model_weights, require_built, write_model_weights

CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
#: the Keras release whose layout rnnkit writes and was checked against
KERAS_LAYOUT_VERSION = "3.15.1"
_MAX_JSON_BYTES = 64 * 2**20
_DEFLATE_MAX_RATIO = 1032


def save_model(model, filepath):
    """Write ``model`` (built) as a Keras 3 ``.keras`` archive that ``keras.saving.load_model`` opens."""
    filepath = path_text("filepath", filepath)
    require_built(model, filepath, "save to")
    config = model_to_keras(model)
    compile_config = compile_to_keras(model, filepath)
    if compile_config is not None:
        config["compile_config"] = compile_config
    metadata = {"keras_version": KERAS_LAYOUT_VERSION, "date_saved": datetime.datetime.now().strftime(
        "%Y-%m-%d@%H:%M:%S"), "producer": producer()}
    weights = write_bytes(filepath, lambda handle: write_model_weights(handle, model))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(METADATA, json.dumps(metadata))
        archive.writestr(CONFIG, json.dumps(config))
        archive.writestr(WEIGHTS, weights)
    atomic_write(filepath, buffer.getvalue())


def producer():
    """Who wrote the file, for the files' metadata: ``"rnnkit <version>"``."""
    from ... import __version__
    return f"rnnkit {__version__}"


def _open_archive(filepath):
    size = os.path.getsize(filepath)
    try:
        archive = zipfile.ZipFile(filepath)
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as error:
        raise KerasFileError(filepath, f"it is not a complete ZIP archive, as a .keras file must be ({error})") \
            from None
    if sum(info.compress_size for info in infos) > size:
        archive.close()
        raise KerasFileError(filepath, "its ZIP directory declares more stored bytes than the file has")
    return archive, size


def _member_info(archive, filepath, name):
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise KerasFileError(filepath, f"the archive has no {name!r} (members: {archive.namelist()[:10]})") from None
    if info.compress_type == zipfile.ZIP_STORED:
        limit = info.compress_size
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        limit = info.compress_size * _DEFLATE_MAX_RATIO
    else:
        raise KerasFileError(filepath, f"member {name!r} uses ZIP compression method {info.compress_type}; only "
                                       f"stored and deflated members are read")
    if info.file_size > limit:
        raise KerasFileError(filepath, f"member {name!r} declares {info.file_size} bytes but its "
                                       f"{info.compress_size} stored bytes cannot hold more than {limit}")
    return info


def _read_member(archive, filepath, info):
    try:
        with archive.open(info) as member:
            return member.read(info.file_size + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as error:
        raise KerasFileError(filepath, f"member {info.filename!r} is damaged ({error})") from None


def _read_json(archive, filepath, name):
    info = _member_info(archive, filepath, name)
    if info.file_size > _MAX_JSON_BYTES:
        raise KerasFileError(filepath, f"member {name!r} declares {info.file_size} bytes; a Keras config is "
                                       f"far smaller (limit {_MAX_JSON_BYTES})")
    try:
        return json.loads(_read_member(archive, filepath, info).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise KerasFileError(filepath, f"member {name!r} is not valid JSON ({error})") from None


def load_weights(model, filepath):
    """Load the weights (and optimizer state) of a ``.keras`` archive into the built ``model``, as
    Keras 3's ``model.load_weights("x.keras")`` does; the archive's config is not used."""
    filepath = path_text("filepath", filepath)
    require_built(model, filepath, "load weights from")
    archive, _ = _open_archive(filepath)
    with archive:
        info = _member_info(archive, filepath, WEIGHTS)
        check_member_size(filepath, model, info.file_size, WEIGHTS)
        data = _read_member(archive, filepath, info)
    with reading(io.BytesIO(data), filepath, len(data)) as reader:
        read_model_weights(reader, model, filepath)


def load_model(filepath, compile=True, safe_mode=True):
    """Rebuild the model of a Keras 3 ``.keras`` archive: architecture, weights, and (with ``compile``)
    the compile settings and optimizer state where rnnkit has them.

    Args:
        filepath: the ``.keras`` file.
        compile: compile the model as it was saved (otherwise it is returned uncompiled).
        safe_mode: Keras's flag: a Lambda layer's marshalled bytecode is refused with
            :class:`UnsafeCodeError`; with False (only for a trusted file) it is loaded as a Python
            function that runs when the layer is called, differentiated by rnnkit's Lambda tracing.
    """
    filepath = path_text("filepath", filepath)
    archive, _ = _open_archive(filepath)
    with archive:
        config = _read_json(archive, filepath, CONFIG)
        weights_info = _member_info(archive, filepath, WEIGHTS)
        if not isinstance(config, dict):
            raise KerasFileError(filepath, f"{CONFIG} must hold a JSON object, got {type(config).__name__}")
        with within_file(filepath, weights_info.file_size, WEIGHTS):
            model = model_from_keras(config, safe_mode)
        check_built_size(filepath, model, weights_info.file_size, WEIGHTS)
        check_member_size(filepath, model, weights_info.file_size, WEIGHTS)
        if compile:
            compile_from_keras(model, config.get("compile_config"), filepath)
        data = _read_member(archive, filepath, weights_info)
    with reading(io.BytesIO(data), filepath, len(data)) as reader:
        read_model_weights(reader, model, filepath)
    return model
