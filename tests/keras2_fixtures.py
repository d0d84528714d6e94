"""Legacy Keras 2 (tf.keras 2.x) HDF5 files written with h5py from the documented layout, for tests.

tf.keras 2 is not installed here, so these files are written the way tf.keras 2.4-2.12's
``hdf5_format.save_model_to_hdf5`` / ``save_weights_to_hdf5_group`` wrote them:

* whole model: root attributes ``keras_version`` and ``backend`` (UTF-8 bytes), ``model_config`` and
  ``training_config`` (JSON as UTF-8 bytes); group ``model_weights``; group ``optimizer_weights``
  with a ``weight_names`` attribute (``b"Adam/iter:0"``, ``b"Adam/dense/kernel/m:0"``, ...);
* ``model_weights`` (or the root of a weights-only file): attributes ``layer_names`` (an array of
  bytes, every layer including weightless ones), ``backend``, ``keras_version``; one group per
  layer with attribute ``weight_names`` (``b"lstm/lstm_cell/kernel:0"``) and each weight stored as
  the dataset at that path;
* configs in Keras 2's form: ``"dtype": "float32"``, ``batch_input_shape`` on the first layer,
  ``{"class_name": "GlorotUniform", "config": {"seed": null}}`` initializers, ``time_major`` and
  ``implementation`` on recurrent layers.
"""
import json

import numpy as np

KERAS_VERSION = b"2.4.0"
_INIT = {"kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
         "recurrent_initializer": {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": None}},
         "bias_initializer": {"class_name": "Zeros", "config": {}}}
_NO_REGULARIZERS = {"kernel_regularizer": None, "recurrent_regularizer": None, "bias_regularizer": None,
                    "activity_regularizer": None, "kernel_constraint": None, "recurrent_constraint": None,
                    "bias_constraint": None}


def layer(class_name, name, **config):
    return {"class_name": class_name, "config": {"name": name, "trainable": True, "dtype": "float32", **config}}


def recurrent(class_name, name, units, **config):
    """A Keras 2 SimpleRNN / LSTM / GRU config with its defaults spelled out."""
    extra = {"LSTM": {"unit_forget_bias": True, "recurrent_activation": "sigmoid", "implementation": 2},
             "GRU": {"recurrent_activation": "sigmoid", "reset_after": True, "implementation": 2},
             "SimpleRNN": {}}[class_name]
    base = {"return_sequences": False, "return_state": False, "go_backwards": False, "stateful": False,
            "unroll": False, "time_major": False, "units": units, "activation": "tanh", "use_bias": True,
            **_INIT, **_NO_REGULARIZERS, "dropout": 0.0, "recurrent_dropout": 0.0, **extra}
    return layer(class_name, name, **{**base, **config})


def dense(name, units, **config):
    no_reg = {k: v for k, v in _NO_REGULARIZERS.items() if "recurrent" not in k}
    init = {k: v for k, v in _INIT.items() if "recurrent" not in k}
    return layer("Dense", name, **{"units": units, "activation": "linear", "use_bias": True, **init, **no_reg,
                                   **config})


def embedding(name, input_dim, output_dim, **config):
    return layer("Embedding", name, **{
        "input_dim": input_dim, "output_dim": output_dim, "mask_zero": False, "input_length": None,
        "embeddings_initializer": {"class_name": "RandomUniform",
                                   "config": {"minval": -0.05, "maxval": 0.05, "seed": None}},
        "embeddings_regularizer": None, "activity_regularizer": None, "embeddings_constraint": None, **config})


def sequential_config(layers, name="sequential"):
    return {"class_name": "Sequential", "config": {"name": name, "layers": layers},
            "keras_version": KERAS_VERSION.decode(), "backend": "tensorflow"}


def _bytes_array(names):
    return np.array([n.encode("utf-8") for n in names]) if names else np.array([], dtype="S1")


def _write_weights(group, layers):
    """``layers``: list of (layer name, [(weight name, array), ...])."""
    group.attrs["layer_names"] = _bytes_array([name for name, _ in layers])
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = KERAS_VERSION
    for name, weights in layers:
        layer_group = group.create_group(name)
        layer_group.attrs["weight_names"] = _bytes_array([weight_name for weight_name, _ in weights])
        for weight_name, value in weights:
            layer_group.create_dataset(weight_name, data=np.asarray(value))


def write_model(path, config, layers, training_config=None, optimizer_weights=None):
    """A Keras 2 whole-model file; ``optimizer_weights`` is a list of (name, array)."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = KERAS_VERSION
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode("utf-8")
        if training_config is not None:
            f.attrs["training_config"] = json.dumps(training_config).encode("utf-8")
        _write_weights(f.create_group("model_weights"), layers)
        if optimizer_weights:
            group = f.create_group("optimizer_weights")
            group.attrs["weight_names"] = _bytes_array([name for name, _ in optimizer_weights])
            for name, value in optimizer_weights:
                group.create_dataset(name, data=np.asarray(value))


def write_weights(path, layers):
    """A Keras 2 ``save_weights("x.h5")`` file."""
    import h5py

    with h5py.File(path, "w") as f:
        _write_weights(f, layers)


def rnn_weight_names(layer_name, cell_name, use_bias=True):
    names = [f"{layer_name}/{cell_name}/kernel:0", f"{layer_name}/{cell_name}/recurrent_kernel:0"]
    return names + ([f"{layer_name}/{cell_name}/bias:0"] if use_bias else [])
