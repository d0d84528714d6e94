"""The Keras 3 model cases compared with rnnkit through Keras's files, for the tests and for
benchmarks/keras_conversion_differences.py (Keras itself is imported by the caller, on the torch
backend: tests/keras_reference.py)."""
import numpy as np

VOCAB, FEATURES = 12, 2
DIRECTIONS = ("Keras 3 -> .keras -> rnnkit", "Keras 3 -> .weights.h5 -> rnnkit", "rnnkit -> .keras -> Keras 3",
              "rnnkit -> .weights.h5 -> Keras 3", "Keras 3 -> .h5 -> rnnkit", "rnnkit -> .h5 -> Keras 3")


def max_difference(a, b):
    """Largest absolute difference of two (lists of) arrays, in float64; inf when either holds a NaN
    (NaN would slip through ``max`` and ``<`` comparisons)."""
    if isinstance(a, (list, tuple)):
        return max(max_difference(x, y) for x, y in zip(a, b))
    difference = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    return float("inf") if np.isnan(difference).any() else float(np.max(difference))


def cases(keras):
    """name -> (function making the Keras layers, input kind "float" / "ids" / "padded")."""
    L = keras.layers
    return {
        "simple_rnn": (lambda: [L.SimpleRNN(4, return_sequences=True, activation="relu"),
                                L.SimpleRNN(3, go_backwards=True), L.Dense(2)], "float"),
        "lstm": (lambda: [L.LSTM(4, return_sequences=True),
                          L.LSTM(3, recurrent_activation="hard_sigmoid", unit_forget_bias=False, use_bias=False),
                          L.Dense(2, activation="softmax")], "float"),
        "gru_reset_after": (lambda: [L.GRU(4, return_sequences=True), L.GRU(3, go_backwards=True)], "float"),
        "gru_reset_before": (lambda: [L.GRU(4, reset_after=False, return_sequences=True),
                                      L.GRU(3, reset_after=False)], "float"),
        **{f"bidirectional_{mode}": (lambda mode=mode: [
            L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode=mode),
            L.Bidirectional(L.GRU(2), merge_mode=mode)], "float") for mode in ("concat", "sum", "mul", "ave")},
        "stacked_cells": (lambda: [L.RNN([L.LSTMCell(3), L.GRUCell(2), L.SimpleRNNCell(2)], return_sequences=True),
                                   L.LSTM(2), L.Dense(1)], "float"),
        "embedding_mask_zero": (lambda: [L.Embedding(VOCAB, 4, mask_zero=True), L.LSTM(3, return_sequences=True),
                                         L.GRU(2)], "ids"),
        "masking": (lambda: [L.Masking(0.0), L.Bidirectional(L.SimpleRNN(3, return_sequences=True)),
                             L.LSTM(2)], "padded"),
        "dense_dropout_time_distributed": (lambda: [
            L.TimeDistributed(L.Dense(3, activation="tanh")), L.Dropout(0.3), L.LSTM(3, return_sequences=True),
            L.Flatten(), L.Dense(2), L.Activation("sigmoid")], "float"),
        **_new_layer_cases(keras),
    }


def _new_layer_cases(keras):
    """Cases for the layers of issues #13/#14, present once rnnkit has them."""
    import rnnkit

    L = keras.layers
    candidates = {
        "cnn_lstm": (("Conv1D", "MaxPooling1D", "GlobalAveragePooling1D"), lambda: [
            L.Conv1D(4, 3, padding="causal", activation="relu"), L.MaxPooling1D(2),
            L.LSTM(3, return_sequences=True), L.GlobalAveragePooling1D(), L.Dense(2)]),
        "pooling": (("Conv1D", "AveragePooling1D", "GlobalMaxPooling1D"), lambda: [
            L.Conv1D(3, 2), L.AveragePooling1D(2, padding="same"), L.GlobalMaxPooling1D(), L.Dense(2)]),
        "normalization_noise_reshaping": (
            ("BatchNormalization", "LayerNormalization", "SpatialDropout1D", "GaussianNoise", "RepeatVector",
             "Reshape"), lambda: [
                L.LSTM(4, return_sequences=True), L.BatchNormalization(), L.LayerNormalization(),
                L.SpatialDropout1D(0.2), L.GaussianNoise(0.1), L.GRU(3), L.RepeatVector(2),
                L.LSTM(2, return_sequences=True), L.Reshape((4,)), L.Dense(1)]),
    }
    return {name: (make, "float") for name, (needed, make) in candidates.items()
            if all(layer in rnnkit.layers.__all__ for layer in needed)}


def inputs(kind, batch, time, seed):
    """Random inputs of a case: floats (B, T, F), ids (B, T) with trailing zeros, or padded floats."""
    rng = np.random.default_rng(seed)
    if kind == "ids":
        ids = rng.integers(1, VOCAB, (batch, time))
        ids[0, time - 2:] = 0
        ids[-1, time // 2:] = 0
        return ids
    x = rng.normal(size=(batch, time, FEATURES)).astype(np.float32)
    if kind == "padded":
        x[0, time - 2:] = 0.0
        x[-1, 1:] = 0.0
    return x


def keras_model(keras, make, kind, time, name):
    shape = (time,) if kind == "ids" else (time, FEATURES)
    return keras.Sequential([keras.Input(shape, dtype="int32" if kind == "ids" else "float32"), *make()],
                            name=name)


def randomized(weights, seed):
    """Random weights of scale 0.5 in place of ``weights``; arrays that are all positive (moving
    variances) stay positive."""
    rng = np.random.default_rng(seed)
    drawn = [rng.normal(0.0, 0.5, w.shape).astype(np.float32) for w in weights]
    return [np.abs(d) + 0.1 if w.size and np.all(np.asarray(w) > 0) else d for w, d in zip(weights, drawn)]


def keras_run(keras, model, x):
    """The model's output(s) on ``x`` as NumPy arrays (a list for several outputs)."""
    outputs = model(x, training=False)
    if isinstance(outputs, (list, tuple)):
        return [keras.ops.convert_to_numpy(output) for output in outputs]
    return keras.ops.convert_to_numpy(outputs)


def encoder_decoder(keras, time, attention=True):
    """A functional Keras model: an LSTM encoder whose states start an LSTM decoder (the two of equal
    shapes, so swapped weights would show), with Luong attention over the encoder's outputs."""
    L = keras.layers
    enc_in, dec_in = keras.Input((time, 3), name="enc_in"), keras.Input((time - 1, 3), name="dec_in")
    encoded, h, c = L.LSTM(4, return_sequences=True, return_state=True, name="encoder")(enc_in)
    decoded = L.LSTM(4, return_sequences=True, name="decoder")(dec_in, initial_state=[h, c])
    if attention:
        decoded = L.Concatenate(name="concat")([decoded, L.Attention(name="attention")([decoded, encoded])])
    return keras.Model([enc_in, dec_in], L.TimeDistributed(L.Dense(2, activation="softmax"))(decoded))


def encoder_decoder_inputs(batch, time, seed):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(batch, time, 3)).astype(np.float32),
            rng.normal(size=(batch, time - 1, 3)).astype(np.float32)]


def round_trips(keras, make, kind, folder, batch, time, name="m", legacy=False):
    """:func:`model_round_trips` of the Sequential case ``(make, kind)``."""
    return model_round_trips(keras, keras_model(keras, make, kind, time, name), inputs(kind, batch, time, seed=1),
                             folder, legacy)


def model_round_trips(keras, km, x, folder, legacy=False):
    """Run the conversions of the Keras model ``km`` on inputs ``x``; returns ({direction: largest
    difference}, largest |output|).

    Keras 3 -> .keras -> rnnkit, Keras 3 -> .weights.h5 -> rnnkit (architecture from Keras's
    config), rnnkit -> .keras -> Keras 3, rnnkit -> .weights.h5 -> Keras 3, and with ``legacy`` the
    same two ways through legacy .h5 whole-model files; new random weights each time.
    """
    import rnnkit

    km.set_weights(randomized(km.get_weights(), seed=2))
    differences, largest = {}, 0.0

    def compare(direction, ours, theirs):
        nonlocal largest
        differences[direction] = max_difference(ours, theirs)
        largest = max([largest] + [float(np.max(np.abs(t))) for t in (theirs if isinstance(theirs, list)
                                                                         else [theirs])])

    km.save(folder / "keras.keras")
    compare("Keras 3 -> .keras -> rnnkit", rnnkit.load_model(folder / "keras.keras")(x), keras_run(keras, km, x))
    model_class = rnnkit.Sequential if isinstance(km, keras.Sequential) else rnnkit.Model
    ours = model_class.from_config(km.get_config())
    km.save_weights(folder / "keras.weights.h5")
    ours.load_weights(folder / "keras.weights.h5")
    compare("Keras 3 -> .weights.h5 -> rnnkit", ours(x), keras_run(keras, km, x))
    ours.set_weights(randomized(ours.get_weights(), seed=3))
    ours.save(folder / "rnnkit.keras")
    theirs = keras.saving.load_model(folder / "rnnkit.keras")
    compare("rnnkit -> .keras -> Keras 3", ours(x), keras_run(keras, theirs, x))
    ours.set_weights(randomized(ours.get_weights(), seed=4))
    ours.save_weights(folder / "rnnkit.weights.h5")
    km.load_weights(folder / "rnnkit.weights.h5")
    compare("rnnkit -> .weights.h5 -> Keras 3", ours(x), keras_run(keras, km, x))
    if legacy:
        km.save(folder / "keras.h5")
        compare("Keras 3 -> .h5 -> rnnkit", rnnkit.load_model(folder / "keras.h5")(x), keras_run(keras, km, x))
        ours.set_weights(randomized(ours.get_weights(), seed=5))
        ours.save(folder / "rnnkit.h5")
        theirs = keras.saving.load_model(folder / "rnnkit.h5")
        compare("rnnkit -> .h5 -> Keras 3", ours(x), keras_run(keras, theirs, x))
    return differences, largest


SCHEDULE = {"initial_learning_rate": 0.02, "decay_steps": 3, "decay_rate": 0.5}
# Each Keras 3 optimizer (and the settings that add slots or drop the learning-rate variable):
# name -> (class name, keyword arguments); Keras and rnnkit take the same ones.
OPTIMIZERS = {
    "sgd_nesterov": ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}),
    "adam_amsgrad": ("Adam", {"learning_rate": 0.01, "amsgrad": True}),
    "adamw": ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.05}),
    "rmsprop_centered": ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True}),
    "adagrad": ("Adagrad", {"learning_rate": 0.05}),
    "nadam": ("Nadam", {"learning_rate": 0.01}),
    "adamax": ("Adamax", {"learning_rate": 0.01}),
    "adadelta": ("Adadelta", {"learning_rate": 1.0}),
    "ftrl": ("Ftrl", {"learning_rate": 0.1, "l1_regularization_strength": 0.01,
                      "l2_shrinkage_regularization_strength": 0.01}),
    "lion": ("Lion", {"learning_rate": 0.003}),
    "adam_ema_accumulation_schedule": ("Adam", {"use_ema": True, "ema_momentum": 0.5,
                                                "gradient_accumulation_steps": 2, "learning_rate": SCHEDULE}),
}


def make_optimizer(module, name):
    """The optimizer ``name`` of OPTIMIZERS from ``module`` (keras or rnnkit)."""
    class_name, arguments = OPTIMIZERS[name]
    arguments = dict(arguments)
    if isinstance(arguments.get("learning_rate"), dict):
        arguments["learning_rate"] = module.optimizers.schedules.ExponentialDecay(**arguments["learning_rate"])
    return getattr(module.optimizers, class_name)(**arguments)


def resumed_training(keras, name, first, folder, time):
    """Train a GRU model 2 epochs with ``fit`` in ``first`` ("keras" or "rnnkit"), save it as .keras,
    load it in the other framework, train one more epoch in both; returns (largest weight difference,
    (Keras's, rnnkit's) iteration counts after loading)."""
    import rnnkit

    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(16, time, FEATURES)).astype(np.float32), rng.normal(size=(16, 2)).astype(np.float32)
    km = keras.Sequential([keras.Input((time, FEATURES)), keras.layers.GRU(3), keras.layers.Dense(2)])
    km.compile(optimizer=make_optimizer(keras, name), loss="mse")
    fit = {"batch_size": 4, "shuffle": False, "verbose": 0}
    if first == "keras":
        km.fit(x, y, epochs=2, **fit)
        km.save(folder / "trained.keras")
        ours, theirs = rnnkit.load_model(folder / "trained.keras"), km
    else:
        km.save(folder / "fresh.keras")
        ours = rnnkit.load_model(folder / "fresh.keras")
        ours.fit(x, y, epochs=2, **fit)
        ours.save(folder / "trained.keras")
        theirs = keras.saving.load_model(folder / "trained.keras")
    iterations = (int(theirs.optimizer.iterations), ours.optimizer.iterations)
    theirs.fit(x, y, epochs=1, **fit)
    ours.fit(x, y, epochs=1, **fit)
    return max_difference(theirs.get_weights(), ours.get_weights()), iterations
