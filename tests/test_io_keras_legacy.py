"""Legacy Keras 2 HDF5 files (tf.keras's ``model.save("m.h5")`` and ``save_weights("w.h5")``) read by
rnnkit, from fixtures written with h5py in Keras 2's layout (see keras2_fixtures.py; the Keras 3
cross-check of those fixtures is in test_io_keras_roundtrip.py)."""
import numpy as np
import pytest

import keras2_fixtures as k2
import rnnkit
from rnnkit.io.keras import KerasConfigError, KerasFileError, KerasFormatWarning, UnsafeCodeError

pytest.importorskip("h5py")
L = rnnkit.layers
VOCAB, TIME = 9, 6


def keras2_config():
    return k2.sequential_config([
        k2.embedding("embedding", VOCAB, 4, mask_zero=True, batch_input_shape=[None, TIME], input_length=TIME),
        k2.layer("Bidirectional", "bidirectional", merge_mode="concat",
                 layer=k2.recurrent("GRU", "gru", 3, return_sequences=True)),
        k2.recurrent("LSTM", "lstm", 2),
        k2.layer("Dropout", "dropout", rate=0.25, noise_shape=None, seed=None),
        k2.dense("dense", 2, activation="softmax"),
    ])


def reference_model(seed=0):
    """The rnnkit model the Keras 2 config describes, built by hand, with random weights."""
    model = rnnkit.Sequential([
        L.Embedding(VOCAB, 4, mask_zero=True, input_shape=(TIME,)),
        L.Bidirectional(L.GRU(3, return_sequences=True)), L.LSTM(2), L.Dropout(0.25),
        L.Dense(2, activation="softmax")])
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0.0, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def keras2_weights(model):
    """The model's weights under Keras 2's layer and weight names."""
    emb, bidi, lstm, _, dense = model.layers
    names = (k2.rnn_weight_names("bidirectional/forward_gru", "gru_cell")
             + k2.rnn_weight_names("bidirectional/backward_gru", "gru_cell"))
    return [("embedding", [("embedding/embeddings:0", emb.get_weights()[0])]),
            ("bidirectional", list(zip(names, bidi.get_weights()))),
            ("lstm", list(zip(k2.rnn_weight_names("lstm", "lstm_cell"), lstm.get_weights()))),
            ("dropout", []),
            ("dense", list(zip(["dense/kernel:0", "dense/bias:0"], dense.get_weights())))]


def ids(seed=1):
    x = np.random.default_rng(seed).integers(1, VOCAB, (4, TIME))
    x[1, 3:] = 0
    return x


TRAINING = {"loss": "categorical_crossentropy", "metrics": ["accuracy"], "weighted_metrics": None,
            "loss_weights": None, "optimizer_config": {"class_name": "Adam", "config": {
                "name": "Adam", "learning_rate": 0.002, "decay": 0.0, "beta_1": 0.9, "beta_2": 0.999,
                "epsilon": 1e-07, "amsgrad": False}}}


def test_keras2_whole_model_file_loads_with_identical_predictions(tmp_path):
    reference = reference_model()
    optimizer_weights = [("Adam/iter:0", np.int64(7))] + [
        (f"Adam/{v.name}/m:0", np.zeros(v.shape, np.float32)) for v in reference.trainable_variables]
    k2.write_model(tmp_path / "model.h5", keras2_config(), keras2_weights(reference), TRAINING, optimizer_weights)
    with pytest.warns(KerasFormatWarning, match="optimizer state was dropped"):
        model = rnnkit.load_model(tmp_path / "model.h5")
    assert [type(layer).__name__ for layer in model.layers] == ["Embedding", "Bidirectional", "LSTM", "Dropout",
                                                                "Dense"]
    np.testing.assert_array_equal(model.predict(ids(), verbose=0), reference.predict(ids(), verbose=0))
    assert isinstance(model.optimizer, rnnkit.optimizers.Adam) and model.optimizer.learning_rate == 0.002
    assert isinstance(model.loss, rnnkit.losses.CategoricalCrossentropy)
    assert model.metrics_names == ["loss", "accuracy"]


def test_keras2_weights_file_loads_by_layer_order(tmp_path):
    reference = reference_model(seed=2)
    k2.write_weights(tmp_path / "weights.h5", keras2_weights(reference))
    model = reference_model(seed=3)
    model.load_weights(tmp_path / "weights.h5")
    np.testing.assert_array_equal(model.predict(ids(), verbose=0), reference.predict(ids(), verbose=0))


def test_keras2_weights_that_do_not_fit_change_nothing(tmp_path):
    reference = reference_model(seed=2)
    layers = keras2_weights(reference)
    layers[2] = ("lstm", layers[2][1][:2])  # the LSTM's bias is missing
    k2.write_weights(tmp_path / "weights.h5", layers)
    model = reference_model(seed=3)
    before = model.get_weights()
    with pytest.raises(KerasFileError, match="layer 'lstm' of the file has 2 weights"):
        model.load_weights(tmp_path / "weights.h5")
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    with pytest.raises(KerasFileError, match="holds weights for 4 layers"):
        rnnkit.Sequential([L.Embedding(VOCAB, 4, input_shape=(TIME,)), L.LSTM(2)]).load_weights(
            tmp_path / "weights.h5")


def test_weights_only_file_given_to_load_model_says_what_it_is(tmp_path):
    k2.write_weights(tmp_path / "weights.h5", keras2_weights(reference_model()))
    with pytest.raises(KerasFileError, match="weights only"):
        rnnkit.load_model(tmp_path / "weights.h5")


def test_keras_2_0_list_config_and_first_layer_batch_input_shape(tmp_path):
    reference = rnnkit.Sequential([L.SimpleRNN(3, input_shape=(4, 2)), L.Dense(1)])
    config = {"class_name": "Sequential", "config": [
        k2.recurrent("SimpleRNN", "simple_rnn", 3, batch_input_shape=[None, 4, 2]), k2.dense("dense", 1)]}
    rnn, dense = reference.layers
    k2.write_model(tmp_path / "old.h5", config, [
        ("simple_rnn", list(zip(k2.rnn_weight_names("simple_rnn", "simple_rnn_cell"), rnn.get_weights()))),
        ("dense", list(zip(["dense/kernel:0", "dense/bias:0"], dense.get_weights())))])
    model = rnnkit.load_model(tmp_path / "old.h5")
    x = np.random.default_rng(0).normal(size=(2, 4, 2)).astype(np.float32)
    np.testing.assert_array_equal(model(x), reference(x))
    assert not getattr(model, "compiled", False)


def test_time_major_and_lambda_in_keras2_configs_are_refused(tmp_path):
    config = k2.sequential_config([k2.recurrent("LSTM", "lstm", 2, batch_input_shape=[None, 4, 2],
                                                time_major=True)])
    k2.write_model(tmp_path / "tm.h5", config, [("lstm", [])])
    with pytest.raises(KerasConfigError, match="time_major=True"):
        rnnkit.load_model(tmp_path / "tm.h5")
    lam = k2.layer("Lambda", "lambda", function=["4wEAAAAAAAAA", None, None], function_type="lambda",
                   module="__main__", output_shape=None, arguments={})
    k2.write_model(tmp_path / "lambda.h5", k2.sequential_config([k2.dense("d", 1, batch_input_shape=[None, 2]),
                                                                 lam]), [("d", []), ("lambda", [])])
    with pytest.raises(UnsafeCodeError, match="bytecode"):
        rnnkit.load_model(tmp_path / "lambda.h5")
