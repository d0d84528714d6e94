"""Keras 3 <-> rnnkit through .keras archives and .weights.h5 files, both frameworks run on the
same random inputs (float32; every difference must stay under 1e-5).

One Keras import for the module (torch backend); tiny shapes.
"""
import numpy as np
import pytest

import keras_file_cases as kc
import rnnkit
from keras_file_cases import max_difference
from keras_reference import keras_or_skip
from rnnkit.io.keras import UnsafeCodeError, UnsupportedLayerError

keras = keras_or_skip()
L = keras.layers
TOLERANCE = 1e-5
BATCH, TIME, FEATURES = 3, 5, 2
CASES = kc.cases(keras)
# Every merge mode goes through the same code; one runs by default, the others with -m slow.
_SLOW = ("bidirectional_sum", "bidirectional_mul", "bidirectional_ave")


def _keras_model(case):
    make, kind = CASES[case]
    return kc.keras_model(keras, make, kind, TIME + (kind == "ids"), f"m_{case}")


def _keras_run(model, x):
    return kc.keras_run(keras, model, x)


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c in _SLOW else c for c in sorted(CASES)])
def test_round_trips_through_keras_files(case, tmp_path):
    make, kind = CASES[case]
    differences, _ = kc.round_trips(keras, make, kind, tmp_path, BATCH, TIME + (kind == "ids"), f"m_{case}")
    print(case, {k: f"{v:.1e}" for k, v in differences.items()})
    assert max(differences.values()) < TOLERANCE, differences


@pytest.mark.parametrize("name", sorted(kc.OPTIMIZERS))
def test_optimizer_state_continues_training_identically(name, tmp_path):
    """A training step taken after loading matches the other framework's next step only if the
    iteration count and every slot (moments, accumulators) came along in the right order."""
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(4, TIME, FEATURES)).astype(np.float32), rng.normal(size=(4, 2)).astype(np.float32)
    km = keras.Sequential([keras.Input((TIME, FEATURES)), L.LSTM(3), L.Dense(2)])
    km.compile(optimizer=kc.make_optimizer(keras, name), loss="mse")
    for _ in range(4):
        km.train_on_batch(x, y)
    km.save(tmp_path / "k.keras")
    ours = rnnkit.load_model(tmp_path / "k.keras")
    assert type(ours.optimizer).__name__ == kc.OPTIMIZERS[name][0]
    assert ours.optimizer.iterations == int(km.optimizer.iterations) > 0
    km.train_on_batch(x, y)
    ours.train_on_batch(x, y)
    assert max_difference(km.get_weights(), ours.get_weights()) < TOLERANCE

    ours.train_on_batch(x, y)
    ours.save(tmp_path / "r.keras")
    theirs = keras.saving.load_model(tmp_path / "r.keras")
    assert int(theirs.optimizer.iterations) == ours.optimizer.iterations
    assert [v.shape for v in theirs.optimizer.variables] == [v.shape for v in ours.optimizer.variables]
    theirs.train_on_batch(x, y)
    ours.train_on_batch(x, y)
    assert max_difference(theirs.get_weights(), ours.get_weights()) < TOLERANCE


# Three optimizers by default (different slot layouts); every one with -m slow.
_FIT_DEFAULT = ("adam_amsgrad", "nadam", "rmsprop_centered")
FIT_TOLERANCE = 2e-3  # three epochs of float32 steps computed in a different order


@pytest.mark.parametrize("name", [pytest.param(name, marks=() if name in _FIT_DEFAULT else pytest.mark.slow)
                                  for name in sorted(kc.OPTIMIZERS)])
@pytest.mark.parametrize("first", ["keras", "rnnkit"])
def test_two_epochs_in_one_framework_then_one_more_in_both(first, name, tmp_path):
    """Train 2 epochs with fit in one framework, save .keras, load in the other, then one more epoch in
    both: the weights agree only if the optimizer state (counters, every slot, in order) crossed."""
    difference, iterations = kc.resumed_training(keras, name, first, tmp_path, TIME)
    assert iterations[0] == iterations[1] == 8 // (_fit_accumulation(name) or 1)
    assert difference < FIT_TOLERANCE


def _fit_accumulation(name):
    return kc.OPTIMIZERS[name][1].get("gradient_accumulation_steps")


def test_weights_file_carries_optimizer_state_both_ways(tmp_path):
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(4, TIME, FEATURES)).astype(np.float32), rng.normal(size=(4, 2)).astype(np.float32)
    km = keras.Sequential([keras.Input((TIME, FEATURES)), L.GRU(3), L.Dense(2)])
    km.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    km.train_on_batch(x, y)
    ours = rnnkit.Sequential.from_config(km.get_config())
    ours.compile(optimizer=rnnkit.optimizers.Adam(0.01), loss="mse")
    km.save_weights(tmp_path / "k.weights.h5")
    ours.load_weights(tmp_path / "k.weights.h5")
    km.train_on_batch(x, y)
    ours.train_on_batch(x, y)
    assert ours.optimizer.iterations == 2
    assert max_difference(km.get_weights(), ours.get_weights()) < TOLERANCE


def test_compile_settings_come_along(tmp_path):
    km = keras.Sequential([keras.Input((TIME, FEATURES)), L.SimpleRNN(3), L.Dense(4)])
    km.compile(optimizer=keras.optimizers.RMSprop(0.003, rho=0.8),
               loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
               metrics=["accuracy", keras.metrics.SparseCategoricalAccuracy()])
    km.save(tmp_path / "k.keras")
    ours = rnnkit.load_model(tmp_path / "k.keras")
    assert isinstance(ours.loss, rnnkit.losses.SparseCategoricalCrossentropy) and ours.loss.from_logits
    assert ours.optimizer.rho == pytest.approx(0.8) and ours.optimizer.learning_rate == pytest.approx(0.003)
    assert ours.metrics_names == ["loss", "accuracy", "sparse_categorical_accuracy"]
    assert not getattr(rnnkit.load_model(tmp_path / "k.keras", compile=False), "compiled", False)

    rng = np.random.default_rng(0)
    ours.train_on_batch(rng.normal(size=(2, TIME, FEATURES)).astype(np.float32), np.array([1, 3]))
    ours.save(tmp_path / "r.keras")
    theirs = keras.saving.load_model(tmp_path / "r.keras")
    assert isinstance(theirs.optimizer, keras.optimizers.RMSprop) and int(theirs.optimizer.iterations) == 1
    assert float(theirs.optimizer.learning_rate) == pytest.approx(0.003)
    assert theirs.loss.get_config()["from_logits"] is True


def test_keras_legacy_h5_from_keras_itself(tmp_path):
    """Keras 3's ``model.save("x.h5")`` writes the legacy HDF5 format; rnnkit reads it, and Keras reads
    rnnkit's legacy whole-model and weights-only files."""
    x = kc.inputs("float", BATCH, TIME, seed=7)
    km = _keras_model("bidirectional_concat")
    km.set_weights(kc.randomized(km.get_weights(), seed=8))
    km.compile(optimizer="adam", loss="mse")
    km.save(tmp_path / "keras.h5")
    loaded = rnnkit.load_model(tmp_path / "keras.h5")
    assert loaded.optimizer.iterations == 0 and isinstance(loaded.loss, rnnkit.losses.MeanSquaredError)
    assert max_difference(_keras_run(km, x), loaded(x)) < TOLERANCE
    ours = rnnkit.Sequential.from_config(km.get_config())
    ours.load_weights(tmp_path / "keras.h5")  # the weights of a whole-model file
    assert max_difference(_keras_run(km, x), ours(x)) < TOLERANCE

    ours.set_weights(kc.randomized(ours.get_weights(), seed=9))
    ours.compile(optimizer="adam", loss="mse")
    ours.save(tmp_path / "rnnkit.h5")
    assert max_difference(ours(x), _keras_run(keras.saving.load_model(tmp_path / "rnnkit.h5"), x)) < TOLERANCE
    ours.save_weights(tmp_path / "rnnkit_weights.h5")
    km.load_weights(tmp_path / "rnnkit_weights.h5")
    assert max_difference(ours(x), _keras_run(km, x)) < TOLERANCE
    again = rnnkit.load_model(tmp_path / "rnnkit.h5")
    assert max_difference(ours(x), again(x)) == 0.0


def test_lambda_layer_written_by_keras_is_refused_unless_safe_mode_is_false(tmp_path):
    km = keras.Sequential([keras.Input((3,)), L.Lambda(lambda t: t * 2.0), L.Dense(2)])
    km.save(tmp_path / "lambda.keras")
    with pytest.raises(UnsafeCodeError, match="refused"):
        rnnkit.load_model(tmp_path / "lambda.keras")
    x = np.random.default_rng(12).normal(size=(2, 3)).astype(np.float32)
    opted_in = rnnkit.load_model(tmp_path / "lambda.keras", safe_mode=False)  # as Keras: runs the file's code
    assert max_difference(opted_in(x), _keras_run(km, x)) < TOLERANCE


def test_unsupported_layers_are_all_named(tmp_path):
    km = keras.Sequential([keras.Input((TIME, FEATURES)), L.ZeroPadding1D(1), L.LSTM(2, return_sequences=True),
                           L.UpSampling1D(2), L.Dense(1)])
    km.save(tmp_path / "padding.keras")
    with pytest.raises(UnsupportedLayerError) as info:
        rnnkit.load_model(tmp_path / "padding.keras")
    assert [class_name for _, class_name in info.value.layers] == ["ZeroPadding1D", "UpSampling1D"]


def test_keras2_fixture_generator_writes_what_keras_reads(tmp_path):
    """The hand-written Keras 2 layout of keras2_fixtures.py checked against Keras's own legacy reader:
    Keras 3 and rnnkit load the same Keras 2 weights file and predict the same. (Keras 3 itself refuses
    tf.keras 2 whole-model files with recurrent layers: their configs carry ``time_major``.)"""
    import keras2_fixtures as k2
    from test_io_keras_legacy import TRAINING, ids, keras2_config, keras2_weights, reference_model

    k2.write_model(tmp_path / "model.h5", keras2_config(), keras2_weights(reference_model()), TRAINING)
    ours = rnnkit.load_model(tmp_path / "model.h5", compile=False)
    ours.save(tmp_path / "same_architecture.keras")
    theirs = keras.saving.load_model(tmp_path / "same_architecture.keras")
    k2.write_weights(tmp_path / "weights.h5", keras2_weights(reference_model(seed=4)))
    theirs.load_weights(tmp_path / "weights.h5")
    ours.load_weights(tmp_path / "weights.h5")
    assert max_difference(_keras_run(theirs, ids()), ours(ids())) < TOLERANCE


def test_functional_encoder_decoder_with_attention_round_trips(tmp_path):
    """Encoder states into a decoder, Attention and Concatenate: every conversion, the legacy .h5 too."""
    km = kc.encoder_decoder(keras, TIME)
    x = kc.encoder_decoder_inputs(BATCH, TIME, seed=10)
    differences, _ = kc.model_round_trips(keras, km, x, tmp_path, legacy=True)
    assert [layer.name for layer in rnnkit.load_model(tmp_path / "keras.keras").layers] == [l.name for l in km.layers]
    assert max(differences.values()) < TOLERANCE, differences


def test_functional_shared_layer_and_two_outputs_keep_keras_layer_order(tmp_path):
    """Layers of one class are numbered in Keras's layer order (lstm, lstm_1, ...) in the weights file; a
    model built by hand in rnnkit, its layers created in another order, loads Keras's weights right."""
    def build(lib, layers):
        a, b = lib.Input((TIME, 3), name="a"), lib.Input((TIME, 3), name="b")
        second, first, shared = layers.GRU(4, name="second"), layers.GRU(4, name="first"), layers.Dense(3, name="s")
        out_b = second(shared(b))
        out_a = first(shared(a))
        return a, b, out_a, layers.Dense(2, name="deep")(layers.Dense(3, name="mid")(out_b))

    a, b, out_a, deep = build(keras, L)
    km = keras.Model([a, b], [deep, out_a])
    km.set_weights(kc.randomized(km.get_weights(), seed=14))
    ra, rb, rout_a, rdeep = build(rnnkit, rnnkit.layers)
    ours = rnnkit.Model([ra, rb], [rdeep, rout_a])
    rng = np.random.default_rng(15)
    x = [rng.normal(size=(BATCH, TIME, 3)).astype(np.float32) for _ in range(2)]
    km.save_weights(tmp_path / "k.weights.h5")
    ours.load_weights(tmp_path / "k.weights.h5")
    assert max_difference(_keras_run(km, x), ours(x)) < TOLERANCE
    km.save(tmp_path / "k.keras")
    assert max_difference(_keras_run(km, x), rnnkit.load_model(tmp_path / "k.keras")(x)) < TOLERANCE


def test_bidirectional_without_merging_and_with_its_own_backward_layer_round_trips(tmp_path):
    """merge_mode=None (two outputs, so a functional model) and a backward_layer of another class:
    every conversion."""
    inputs = keras.Input((TIME, FEATURES))
    forward, backward = L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode=None)(inputs)
    mixed = L.Bidirectional(L.LSTM(2), backward_layer=L.GRU(2, go_backwards=True), merge_mode="sum")(forward)
    km = keras.Model(inputs, [L.Dense(1)(mixed), backward])
    x = kc.inputs("float", BATCH, TIME, seed=16)
    differences, _ = kc.model_round_trips(keras, km, x, tmp_path)
    assert max(differences.values()) < TOLERANCE, differences


def test_regularizers_and_constraints_train_the_same_after_crossing_both_ways(tmp_path):
    """Every Keras 3 regularizer and constraint class on recurrent layers (directly, inside Bidirectional,
    on a cell) and Dense: a training step after loading (penalties in the loss and its gradient,
    constraints applied to the new weights) matches the other framework's."""
    R, C = keras.regularizers, keras.constraints
    km = keras.Sequential([
        keras.Input((TIME, FEATURES)),
        L.LSTM(3, return_sequences=True, kernel_regularizer=R.L2(0.05), recurrent_constraint=C.MaxNorm(0.5),
               activity_regularizer=R.L1(0.01)),
        L.Bidirectional(L.GRU(2, bias_regularizer="l1", kernel_constraint=C.UnitNorm(), return_sequences=True)),
        L.RNN(L.SimpleRNNCell(2, recurrent_regularizer=R.OrthogonalRegularizer(0.1))),
        L.Dense(2, kernel_regularizer=R.L1L2(0.01, 0.02), bias_constraint=C.NonNeg(),
                kernel_constraint=C.MinMaxNorm(0.1, 0.9, 0.5))])
    km.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    # random weights: orthogonal initial ones put OrthogonalRegularizer's |n_i . n_j| at its kink (0), where
    # the sign of a rounding error picks the gradient
    km.set_weights(kc.randomized(km.get_weights(), seed=18))
    rng = np.random.default_rng(17)
    x, y = rng.normal(size=(4, TIME, FEATURES)).astype(np.float32), rng.normal(size=(4, 2)).astype(np.float32)
    km.save(tmp_path / "k.keras")
    ours = rnnkit.load_model(tmp_path / "k.keras")
    assert abs(km.train_on_batch(x, y) - ours.train_on_batch(x, y)) < TOLERANCE
    assert max_difference(km.get_weights(), ours.get_weights()) < TOLERANCE

    ours.save(tmp_path / "r.keras")
    theirs = keras.saving.load_model(tmp_path / "r.keras")
    assert theirs.layers[-1].kernel_constraint.get_config() == {"min_value": 0.1, "max_value": 0.9, "rate": 0.5,
                                                                "axis": 0}
    assert abs(theirs.train_on_batch(x, y) - ours.train_on_batch(x, y)) < TOLERANCE
    assert max_difference(theirs.get_weights(), ours.get_weights()) < TOLERANCE
