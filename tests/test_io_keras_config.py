"""Keras 3 / Keras 2 configs deserialize into rnnkit layers and models; what rnnkit lacks is a named
error, what changes nothing is ignored; rnnkit-only settings are refused when writing Keras files."""
import numpy as np
import pytest

import rnnkit
from rnnkit.io.keras import KerasConfigError, UnsafeCodeError, UnsupportedLayerError, layer_from_keras
from rnnkit.io.keras.compile_config import compile_to_keras
from rnnkit.io.keras.layer_config import IGNORED
from rnnkit.layers import deserialize_layer

POLICY = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}


def keras_init(class_name, **config):
    return {"module": "keras.initializers", "class_name": class_name, "config": {"seed": None, **config},
            "registered_name": None}


def keras_lstm(**config):
    base = {"name": "lstm", "trainable": True, "dtype": POLICY, "return_sequences": True, "return_state": False,
            "go_backwards": False, "stateful": False, "unroll": False, "zero_output_for_mask": False, "units": 3,
            "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True,
            "kernel_initializer": keras_init("GlorotUniform", input_axes=None, output_axes=None),
            "recurrent_initializer": keras_init("Orthogonal", gain=1.0),
            "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {},
                                 "registered_name": None},
            "unit_forget_bias": True, "kernel_regularizer": None, "recurrent_regularizer": None,
            "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
            "recurrent_constraint": None, "bias_constraint": None, "dropout": 0.1, "recurrent_dropout": 0.0,
            "seed": 7}
    return {"module": "keras.layers", "class_name": "LSTM", "config": {**base, **config}, "registered_name": None,
            "build_config": {"input_shape": [None, 5, 2]}}


def test_keras3_layer_config_deserializes_with_its_dictionaries():
    layer = deserialize_layer(keras_lstm())
    assert isinstance(layer, rnnkit.layers.LSTM)
    assert (layer.name, layer.units, layer.return_sequences, layer.dropout, layer.seed) == ("lstm", 3, True, 0.1, 7)
    assert layer.dtype == np.float32
    assert isinstance(layer.cell.kernel_initializer, rnnkit.initializers.GlorotUniform)
    assert isinstance(layer.cell.recurrent_initializer, rnnkit.initializers.Orthogonal)
    assert layer.unit_forget_bias is True


def test_initializer_and_dtype_variants():
    dense = {"class_name": "Dense", "config": {
        "name": "d", "units": 2, "dtype": {"class_name": "DTypePolicy", "config": {"name": "float64"}},
        "kernel_initializer": keras_init("LecunUniform"), "bias_initializer": keras_init("RandomNormal", stddev=0.5),
        "activation": {"module": "keras.activations", "class_name": "function", "config": "relu",
                       "registered_name": "function"}}}
    layer = layer_from_keras(dense)
    assert layer.dtype == np.float64 and layer.activation.name == "relu"
    assert layer.kernel_initializer.get_config() == {"scale": 1.0, "mode": "fan_in", "distribution": "uniform"}
    assert layer.bias_initializer.stddev == 0.5
    mixed = {"class_name": "Dense", "config": {"units": 2, "dtype": {"class_name": "DTypePolicy",
                                                                      "config": {"name": "mixed_float16"}}}}
    with pytest.raises(KerasConfigError, match="mixed_float16"):
        layer_from_keras(mixed)
    with pytest.raises(KerasConfigError, match="TruncatedNormal"):
        layer_from_keras({"class_name": "Dense", "config": {"units": 2,
                                                            "kernel_initializer": keras_init("TruncatedNormal")}})


def test_cosmetic_keras_arguments_are_ignored_and_listed():
    layer = deserialize_layer(keras_lstm(implementation=2, use_cudnn="auto", time_major=False))
    assert isinstance(layer, rnnkit.layers.LSTM)
    assert {"implementation", "use_cudnn", "unroll", "registered_name", "build_config"} <= set(IGNORED)


def test_keras_arguments_rnnkit_lacks_are_named():
    with pytest.raises(KerasConfigError, match=r"layer 'lstm' \(LSTM\).*time_major=True"):
        deserialize_layer(keras_lstm(time_major=True))
    with pytest.raises(KerasConfigError, match="no argument frobnicate=3"):
        deserialize_layer(keras_lstm(frobnicate=3))


def test_regularizers_and_constraints_translate_to_rnnkits_and_unknown_ones_are_named():
    l2 = {"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01}, "registered_name": None}
    max_norm = {"class_name": "MaxNorm", "config": {"max_value": 2, "axis": 0}}  # Keras 2's form
    layer = deserialize_layer(keras_lstm(kernel_regularizer=l2, bias_constraint=max_norm, activity_regularizer="l1"))
    config = layer.get_config()
    assert config["kernel_regularizer"] == {"class_name": "L2", "config": {"l2": 0.01}}
    assert config["bias_constraint"] == {"class_name": "MaxNorm", "config": {"max_value": 2, "axis": 0}}
    assert config["activity_regularizer"] == {"class_name": "L1", "config": {"l1": 0.01}}
    written = rnnkit.io.keras.layer_to_keras(layer, (None, 5, 2))["config"]
    assert written["kernel_regularizer"] == l2
    assert written["bias_constraint"] == {"module": "keras.constraints", **max_norm, "registered_name": None}
    with pytest.raises(KerasConfigError, match="kernel_regularizer=.*has no rnnkit regularizer: unknown regularizer"):
        deserialize_layer(keras_lstm(kernel_regularizer={"class_name": "MyPenalty", "config": {}}))
    with pytest.raises(KerasConfigError, match="bias_constraint=.*has no rnnkit constraint"):
        deserialize_layer(keras_lstm(bias_constraint={"class_name": "MaxNorm", "config": {"max_value": "big"}}))


def test_nested_layers_and_cells():
    bidi = {"module": "keras.layers", "class_name": "Bidirectional", "config": {
        "name": "bidirectional", "trainable": True, "dtype": POLICY, "merge_mode": "ave",
        "layer": keras_lstm(name="forward_lstm"),
        "backward_layer": keras_lstm(name="backward_lstm", go_backwards=True)}}
    layer = deserialize_layer(bidi)
    assert isinstance(layer, rnnkit.layers.Bidirectional) and layer.merge_mode == "ave"
    assert (layer.forward_layer.name, layer.backward_layer.name) == ("forward_lstm", "backward_lstm")
    cell = {"class_name": "GRUCell", "config": {"name": "gru_cell", "trainable": True, "dtype": POLICY, "units": 2,
                                                "reset_after": False, "dropout": 0.2, "recurrent_dropout": 0.1,
                                                "seed": None}}
    rnn = deserialize_layer({"module": "keras.layers", "class_name": "RNN", "config": {
        "name": "rnn", "dtype": POLICY, "cell": cell, "return_sequences": False}})
    assert isinstance(rnn.cell, rnnkit.cells.GRUCell) and not rnn.cell.reset_after
    assert (rnn.dropout, rnn.recurrent_dropout) == (0.2, 0.1)  # Keras keeps dropout on the cell, rnnkit on the RNN
    stacked = {"class_name": "StackedRNNCells", "config": {"cells": [cell, cell]}}
    with pytest.raises(KerasConfigError, match="dropout inside stacked cells"):
        deserialize_layer({"module": "keras.layers", "class_name": "RNN", "config": {"cell": stacked}})


def test_unsupported_layers_are_listed_together():
    config = {"name": "s", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 5, 2]}},
        {"module": "keras.layers", "class_name": "Conv3D", "config": {"name": "c"}},
        keras_lstm(), {"module": "my_package", "class_name": "MyLayer", "config": {"name": "mine"},
                       "registered_name": "my_package>MyLayer"}]}
    with pytest.raises(UnsupportedLayerError) as info:
        rnnkit.Sequential.from_config(config)
    assert info.value.layers == [("c", "Conv3D"), ("mine", "MyLayer")]
    assert "'c' (Conv3D), 'mine' (MyLayer)" in str(info.value)


def test_lambda_bytecode_is_never_run():
    lam = {"module": "keras.layers", "class_name": "Lambda", "config": {
        "name": "lambda", "function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAA", "defaults": None,
                                                                           "closure": None}}, "arguments": {}}}
    with pytest.raises(UnsafeCodeError, match="marshalled Python bytecode"):
        deserialize_layer(lam)
    with pytest.raises(KerasConfigError, match="bytecode cannot be read by this Python"):
        layer_from_keras(lam, safe_mode=False)  # opted in, but the code is truncated: unmarshalling fails
    # bytecode hidden in an activation of a supported layer: refused even with safe_mode=False
    dense = {"class_name": "Dense", "config": {"units": 1, "activation": lam["config"]["function"]}}
    for safe_mode in (True, False):
        with pytest.raises(UnsafeCodeError):
            layer_from_keras(dense, safe_mode=safe_mode)


def _marshalled(fn):
    import base64
    import marshal

    closure = [cell.cell_contents for cell in fn.__closure__] if fn.__closure__ else None
    return {"class_name": "__lambda__", "config": {"code": base64.encodebytes(marshal.dumps(fn.__code__)).decode(),
                                                   "defaults": fn.__defaults__, "closure": closure}}


def test_lambda_bytecode_runs_only_with_safe_mode_false():
    scale = 3.0
    lam = {"module": "keras.layers", "class_name": "Lambda", "config": {
        "name": "scaled", "function": _marshalled(lambda x, shift=1.0: np.tanh(x) * scale + shift), "arguments": {}}}
    with pytest.raises(UnsafeCodeError):
        layer_from_keras(lam)
    layer = layer_from_keras(lam, safe_mode=False)
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(1, 3, 2)
    np.testing.assert_allclose(layer(x), np.tanh(x) * 3.0 + 1.0, rtol=1e-6)
    np.testing.assert_allclose(layer.backward(np.ones_like(x)), 3.0 * (1 - np.tanh(x) ** 2), rtol=1e-5)
    forged = {**lam, "config": {**lam["config"], "function": {**lam["config"]["function"], "config": {
        **lam["config"]["function"]["config"], "closure": None}}}}  # the code needs one closure cell
    with pytest.raises(KerasConfigError, match="cannot be rebuilt"):
        layer_from_keras(forged, safe_mode=False)


def test_keras_sequential_config_builds_and_runs():
    config = {"name": "seq", "trainable": True, "dtype": POLICY, "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "config": {
            "batch_shape": [None, 5, 2], "dtype": "float32", "sparse": False, "ragged": False, "name": "input_layer",
            "optional": False}, "registered_name": None},
        keras_lstm(), {"module": "keras.layers", "class_name": "Dense", "config": {
            "name": "dense", "units": 1, "activation": "linear", "dtype": POLICY, "quantization_config": None}}],
        "build_input_shape": [None, 5, 2]}
    model = rnnkit.Sequential.from_config(config)
    assert model.built and model.input_shape == (None, 5, 2) and model.output_shape == (None, 5, 1)
    assert model(np.zeros((2, 5, 2), np.float32)).shape == (2, 5, 1)
    with pytest.raises(KerasConfigError, match="sparse"):
        rnnkit.Sequential.from_config({**config, "layers": [
            {"class_name": "InputLayer", "config": {"batch_shape": [None, 5, 2], "sparse": True}}, keras_lstm()]})


def test_rnnkit_own_configs_still_round_trip():
    model = rnnkit.Sequential([rnnkit.layers.LSTM(3, input_shape=(4, 2), use_peepholes=True),
                               rnnkit.layers.Dense(1)])
    again = rnnkit.Sequential.from_config(model.get_config())
    assert again.layers[0].use_peepholes and again.count_params() == model.count_params()


@pytest.mark.parametrize("layer, message", [
    (rnnkit.layers.LSTM(3, use_peepholes=True), "use_peepholes=True"),
    (rnnkit.layers.LSTM(3, num_proj=2), "num_proj=2"),
    (rnnkit.layers.LSTM(3, forget_bias=1.0), "forget_bias=1.0"),
])
def test_rnnkit_only_settings_cannot_be_written_as_keras(layer, message, tmp_path):
    pytest.importorskip("h5py")
    model = rnnkit.Sequential([layer])
    model.build((None, 4, 2))
    with pytest.raises(KerasConfigError, match=message):
        model.save(tmp_path / "m.keras")
    assert not (tmp_path / "m.keras").exists()


def _compiled_from(settings):
    from rnnkit.io.keras.compile_config import compile_from_keras

    model = rnnkit.Sequential([rnnkit.layers.Dense(2, input_shape=(3,))])
    compiled = compile_from_keras(model, settings, "f.keras")
    return model, compiled


def _optimizer(class_name, **config):
    return {"module": "keras.optimizers", "class_name": class_name, "registered_name": None,
            "config": {"name": class_name.lower(), "learning_rate": 0.01, "weight_decay": None, "use_ema": False,
                       "ema_momentum": 0.99, **config}}


@pytest.mark.parametrize("optimizer, reason", [
    (_optimizer("Lamb"), "optimizer must be one of"),
    (_optimizer("Adam", decay=0.01), "decay=0.01"),
    (_optimizer("SGD", learning_rate={"class_name": "ExponentialDecay", "config": {}}), "bad config for schedule"),
    (_optimizer("SGD", learning_rate={"class_name": "MyDecay", "config": {}}), "schedule class_name must be one of"),
])
def test_compile_settings_rnnkit_lacks_leave_the_model_uncompiled_with_a_warning(optimizer, reason):
    with pytest.warns(rnnkit.io.keras.KerasFormatWarning, match=f"without compiling it.*{reason}"):
        model, compiled = _compiled_from({"optimizer": optimizer, "loss": "mse"})
    assert not compiled and not getattr(model, "compiled", False)


def test_every_keras_optimizer_argument_and_schedule_translates():
    schedule = {"module": "keras.optimizers.schedules", "class_name": "CosineDecay", "registered_name": None,
                "config": {"initial_learning_rate": 0.1, "decay_steps": 10, "alpha": 0.0, "name": "CosineDecay",
                           "warmup_target": None, "warmup_steps": 0}}
    settings = {"optimizer": _optimizer("Nadam", learning_rate=schedule, weight_decay=0.01, use_ema=True,
                                        gradient_accumulation_steps=2, loss_scale_factor=4.0, jit_compile=True),
                "loss": "mse"}
    model, compiled = _compiled_from(settings)
    optimizer = model.optimizer
    assert compiled and type(optimizer).__name__ == "Nadam"
    assert (optimizer.weight_decay, optimizer.use_ema, optimizer.gradient_accumulation_steps,
            optimizer.loss_scale_factor) == (0.01, True, 2, 4.0)
    assert type(optimizer.get_config()["learning_rate"]) is dict and optimizer.learning_rate == 0.1
    written = compile_to_keras(model, "f.keras")["optimizer"]
    assert written["class_name"] == "Nadam" and written["config"]["learning_rate"]["module"] == \
        "keras.optimizers.schedules"
    assert written["config"]["learning_rate"]["config"] == schedule["config"]
    assert {k: written["config"][k] for k in ("weight_decay", "use_ema", "gradient_accumulation_steps")} == \
        {"weight_decay": 0.01, "use_ema": True, "gradient_accumulation_steps": 2}


def test_compile_settings_translate_and_unknown_metrics_are_dropped():
    settings = {"optimizer": _optimizer("Adam", beta_1=0.8), "loss": {
        "module": "keras.losses", "class_name": "MeanAbsoluteError",
        "config": {"name": "mean_absolute_error", "reduction": "sum_over_batch_size"}},
        "metrics": ["mse", {"module": "keras.metrics", "class_name": "AUC", "config": {"name": "auc"}}],
        "loss_weights": None, "weighted_metrics": None, "run_eagerly": False, "jit_compile": False}
    with pytest.warns(rnnkit.io.keras.KerasFormatWarning, match="metric .*AUC.* dropped"):
        model, compiled = _compiled_from(settings)
    assert compiled and model.optimizer.beta_1 == 0.8 and isinstance(model.loss, rnnkit.losses.MeanAbsoluteError)
    assert model.metrics_names == ["loss", "mse"]
    keras2 = {"loss": "mse", "metrics": ["mae"], "optimizer_config": {"class_name": "SGD", "config": {
        "name": "SGD", "lr": 0.1, "decay": 0.0, "momentum": 0.5, "nesterov": False}}}
    model, compiled = _compiled_from(keras2)
    assert compiled and model.optimizer.learning_rate == 0.1 and model.metrics_names == ["loss", "mae"]


def test_hostile_values_are_echoed_briefly():
    with pytest.raises(KerasConfigError) as info:
        deserialize_layer(keras_lstm(frobnicate="a" * 100_000))
    assert len(str(info.value)) < 400 and "100,002 characters" in str(info.value)


def test_keras2_fixed_batch_stays_fixed_and_rnnkits_own_batch_input_shape_is_not_taken_for_keras():
    keras2 = {"class_name": "LSTM", "config": {"name": "lstm", "trainable": True, "batch_input_shape": [2, 5, 3],
                                               "dtype": "float32", "units": 4, "stateful": True, "implementation": 2}}
    layer = layer_from_keras(keras2)
    assert layer.stateful and layer.get_config()["batch_input_shape"] == (2, 5, 3)
    keras2["config"]["batch_input_shape"] = [None, 5, 3]
    assert layer_from_keras(keras2).get_config()["input_shape"] == (5, 3)
    own = rnnkit.Sequential([rnnkit.layers.LSTM(4, batch_input_shape=(2, 5, 3), stateful=True, seed=0),
                             rnnkit.layers.Dense(1, seed=0)])
    again = rnnkit.Sequential.from_config(own.get_config())
    assert again.input_shape == (2, 5, 3) and again.get_config() == own.get_config()
