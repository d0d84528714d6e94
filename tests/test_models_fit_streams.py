"""fit / evaluate / predict on streams of batches: generators, iterables, PyDataset, rnnkit's datasets, a
torch DataLoader, tf.data; Keras 3's epoch rules (steps_per_epoch, running out, len), validation options,
shuffle semantics, laziness, and the named errors."""
import itertools
import warnings

import numpy as np
import pytest

import rnnkit
from rnnkit import layers
from rnnkit.callbacks import Callback
from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.utils import PyDataset, timeseries_dataset_from_array

RNG = np.random.default_rng(0)
X = RNG.standard_normal((40, 5, 3)).astype("float32")
Y = RNG.standard_normal((40, 2)).astype("float32")


def make_model(seed=3):
    model = rnnkit.Sequential([rnnkit.Input((5, 3)), layers.SimpleRNN(4, seed=seed), layers.Dense(2, seed=seed)])
    model.compile(rnnkit.optimizers.SGD(0.05), "mse", metrics=["mae"])
    return model


def batches(count, size=8, start=0):
    """Generator of `count` batches cycling over the 5 batches of (X, Y)."""
    for i in range(start, start + count):
        j = i % 5
        yield X[j * size:(j + 1) * size], Y[j * size:(j + 1) * size]


class Counting:
    """A generator that counts what it has yielded (to see that fit reads it lazily)."""

    def __init__(self, count):
        self.yielded = 0
        self._source = batches(count)

    def __iter__(self):
        return self

    def __next__(self):
        batch = next(self._source)
        self.yielded += 1
        return batch


class Batches(PyDataset):
    def __init__(self, count=5, endless=False, **kwargs):
        super().__init__(**kwargs)
        self.count, self.endless, self.asked, self.epoch_ends = count, endless, [], 0

    def __len__(self):
        return self.count

    @property
    def num_batches(self):
        return None if self.endless else self.count

    def __getitem__(self, index):
        self.asked.append(index)
        j = index % 5
        return X[j * 8:(j + 1) * 8], Y[j * 8:(j + 1) * 8]

    def on_epoch_end(self):
        self.epoch_ends += 1


def test_generator_trains_exactly_like_the_same_arrays():
    streamed, arrays = make_model(), make_model()
    streamed.fit(batches(5), epochs=1, verbose=0)
    arrays.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(streamed.get_weights(), arrays.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_generator_is_read_lazily_one_batch_per_step():
    source = Counting(100)
    seen = []

    class Watch(Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(source.yielded)

    make_model().fit(source, steps_per_epoch=3, epochs=2, verbose=0, callbacks=[Watch()])
    assert seen == [1, 2, 3, 4, 5, 6]  # never a batch read ahead, nothing concatenated up front
    assert source.yielded == 6


def test_generator_running_out_ends_the_epoch_early_then_stops_training():
    model = make_model()
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(batches(5), steps_per_epoch=3, epochs=3, verbose=0)
    # 3 batches, then the 2 left (Keras's warning), then nothing left: training stops (tf.keras 2 does;
    # Keras 3 replays the batches it peeked at while building)
    assert len(history.history["loss"]) == 2
    reference = make_model()
    reference.fit(X[:24], Y[:24], batch_size=8, shuffle=False, verbose=0)
    second = reference.evaluate(X[24:40], Y[24:40], batch_size=8, verbose=0)
    assert history.history["loss"][0] == pytest.approx(reference.history.history["loss"][0], rel=1e-6)
    assert second == pytest.approx(reference.evaluate(X[24:40], Y[24:40], batch_size=8, verbose=0))
    assert model.stop_training


def test_generator_without_steps_is_one_pass_and_a_second_epoch_gets_nothing():
    model = make_model()
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(batches(5), epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1
    assert "no batch left for epoch 2" in model.stop_reason


def test_dataset_with_len_and_steps_per_epoch_follows_keras():
    """len 5, steps 3: epochs of 3, 2 (the pass ends: Keras's warning) and 3 batches (a new pass)."""
    data = Batches(5)
    counts = []

    class Count(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            counts.append(0)

        def on_train_batch_end(self, batch, logs=None):
            counts[-1] += 1

    with pytest.warns(UserWarning, match="ran out of data"):
        history = make_model().fit(data, steps_per_epoch=3, epochs=3, shuffle=False, verbose=0, callbacks=[Count()])
    assert counts == [3, 2, 3]
    assert data.asked == [0, 1, 2, 3, 4, 0, 1, 2]
    assert data.epoch_ends == 3
    assert history.params["steps"] == 3


def test_steps_per_epoch_larger_than_the_data_ends_each_epoch_with_the_pass():
    with pytest.warns(UserWarning, match="ran out of data"):
        history = make_model().fit(X, Y, batch_size=8, steps_per_epoch=7, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2  # arrays start a new pass every epoch


def test_steps_per_epoch_alone_sets_the_batch_size_of_arrays():
    sizes = []
    model = make_model()
    train_step = model._train_step
    model._train_step = lambda xs, ys, where, w=None: sizes.append(len(xs[0])) or train_step(xs, ys, where, w)
    model.fit(X, Y, steps_per_epoch=3, epochs=1, verbose=0)
    assert sizes == [14, 14, 12]  # Keras: ceil(40 / 3)


def test_pydataset_shuffle_permutes_the_batch_order_only():
    data = Batches(5)
    make_model().fit(data, epochs=2, verbose=0)
    assert sorted(data.asked[:5]) == sorted(data.asked[5:]) == [0, 1, 2, 3, 4]
    assert data.asked[:5] != list(range(5)) or data.asked[5:] != list(range(5))
    data = Batches(5)
    make_model().fit(data, epochs=1, shuffle=False, verbose=0)
    assert data.asked == [0, 1, 2, 3, 4]


def test_pydataset_with_workers_trains_like_one_worker():
    one, many = make_model(), make_model()
    one.fit(Batches(5), epochs=2, shuffle=False, verbose=0)
    many.fit(Batches(5, workers=3), epochs=2, shuffle=False, verbose=0)
    for a, b in zip(one.get_weights(), many.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_endless_sources_need_steps_per_epoch():
    for source in (Batches(endless=True), itertools.cycle([(X[:8], Y[:8])])):
        with pytest.raises(RnnkitValueError, match="endless: give steps_per_epoch"):
            make_model().fit(source, epochs=1, verbose=0)
    history = make_model().fit(Batches(endless=True), steps_per_epoch=4, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    with pytest.raises(RnnkitValueError, match="endless: give steps"):
        make_model().evaluate(Batches(endless=True), verbose=0)
    assert np.isfinite(make_model().evaluate(Batches(endless=True), steps=2, verbose=0)[0])


def test_a_plain_iterable_is_read_again_every_epoch():
    class Twice:
        def __iter__(self):
            return batches(2)

    history = make_model().fit(Twice(), epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3


def test_wrong_arity_and_shapes_are_named_errors():
    def four():
        yield X[:8], Y[:8], np.ones(8), np.ones(8)

    with pytest.raises(RnnkitValueError, match=r"batch 1 of x \(a generator\) must be x, \(x,\), \(x, y\) or "
                                               r"\(x, y, sample_weight\), got a tuple of 4 items"):
        make_model().fit(four(), verbose=0)

    def bad_shape():
        yield X[:8], Y[:8]
        yield X[:8, :, :2], Y[:8]

    with pytest.raises(RnnkitValueError, match=r"batch 2 of x \(a generator\): input .* must have shape"):
        make_model().fit(bad_shape(), verbose=0)

    def no_targets():
        yield X[:8]

    with pytest.raises(RnnkitValueError, match="batch 1 of x .*need targets"):
        make_model().fit(no_targets(), verbose=0)

    def ragged_lengths():
        yield X[:8], Y[:7]

    with pytest.raises(RnnkitValueError, match="batch 1 .*same number of samples"):
        make_model().evaluate(ragged_lengths(), verbose=0)


def test_arguments_a_stream_carries_itself_are_refused():
    with pytest.raises(RnnkitValueError, match="when x is a generator, y must not be given"):
        make_model().fit(batches(2), Y, verbose=0)
    with pytest.raises(RnnkitValueError, match="sample_weight must not be given"):
        make_model().fit(batches(2), sample_weight=np.ones(40), verbose=0)
    with pytest.raises(RnnkitValueError, match="validation_split is only supported for arrays"):
        make_model().fit(batches(2), validation_split=0.2, verbose=0)
    with pytest.raises(RnnkitTypeError, match="call the generator function"):
        make_model().fit(batches, verbose=0)


def test_validation_on_a_generator_with_validation_steps_and_freq():
    source = Counting(100)
    history = make_model().fit(X, Y, epochs=4, verbose=0, validation_data=source, validation_steps=2,
                               validation_freq=[1, 3])
    assert len(history.history["loss"]) == 4 and len(history.history["val_loss"]) == 2
    assert source.yielded == 4  # two validations of two batches, continuing the generator
    history = make_model().fit(X, Y, epochs=4, verbose=0, validation_data=(X, Y), validation_freq=2)
    assert len(history.history["val_loss"]) == 2


def test_a_one_shot_validation_generator_needs_validation_steps_for_several_validations():
    with pytest.raises(RnnkitValueError, match="give validation_steps"):
        make_model().fit(X, Y, epochs=2, verbose=0, validation_data=batches(5))
    history = make_model().fit(X, Y, epochs=1, verbose=0, validation_data=batches(5))
    assert len(history.history["val_loss"]) == 1


def test_validation_batch_size_and_weighted_validation_data():
    model = make_model()
    sizes = []
    forward = model._forward

    def recording(xs, training):
        if not training:
            sizes.append(len(xs[0]))
        return forward(xs, training)

    model._forward = recording
    weights = np.linspace(0.1, 2.0, 40)
    history = model.fit(X, Y, batch_size=8, epochs=1, verbose=0, validation_data=(X, Y, weights),
                        validation_batch_size=16)
    assert sizes == [16, 16, 8]
    model._forward = forward
    expected = model.evaluate(X, Y, sample_weight=weights, batch_size=16, verbose=0, return_dict=True)
    assert history.history["val_loss"][0] == pytest.approx(expected["loss"], rel=1e-12)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", [0, 2], True])
def test_bad_validation_freq_is_a_named_error(bad):
    with pytest.raises(RnnkitValueError, match="validation_freq must be"):
        make_model().fit(X, Y, validation_data=(X, Y), validation_freq=bad, verbose=0)


def test_shuffle_modes_on_arrays():
    def order(shuffle):
        seen = []
        model = make_model()
        train_step = model._train_step
        model._train_step = lambda xs, ys, where, w=None: seen.append(xs[0][:, 0, 0].copy()) or \
            train_step(xs, ys, where, w)
        model.fit(X, Y, batch_size=8, epochs=1, shuffle=shuffle, verbose=0)
        return seen

    plain = order(False)
    in_batch = order("batch")
    for a, b in zip(plain, in_batch):  # "batch": the same samples in each batch, their order shuffled
        assert sorted(a) == sorted(b)
    assert any(not np.array_equal(a, b) for a, b in zip(plain, in_batch))
    full = order(True)
    assert sorted(np.concatenate(full)) == sorted(np.concatenate(plain))
    assert any(sorted(a) != sorted(b) for a, b in zip(plain, full))
    with pytest.raises(RnnkitValueError, match="shuffle must be True, False or 'batch'"):
        make_model().fit(X, Y, shuffle="yes", verbose=0)


def test_evaluate_and_predict_on_streams():
    model = make_model()
    expected = model.evaluate(X, Y, batch_size=8, verbose=0)
    assert model.evaluate(batches(5), verbose=0) == pytest.approx(expected, rel=1e-12)
    assert model.evaluate(batches(100), steps=5, verbose=0) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(model.predict(batches(5)), model.predict(X), rtol=1e-6)
    np.testing.assert_allclose(model.predict((X[i:i + 8] for i in range(0, 40, 8))), model.predict(X), rtol=1e-6)
    assert model.predict(Batches(endless=True), steps=2).shape == (16, 2)


def test_timeseries_dataset_feeds_fit_with_its_len_and_take():
    series = np.sin(np.arange(300) / 10.0).astype("float32")[:, None]
    data = timeseries_dataset_from_array(series[:-5], series[5:, 0], sequence_length=5, batch_size=32)
    model = rnnkit.Sequential([rnnkit.Input((5, 1)), layers.LSTM(4, seed=1), layers.Dense(1, seed=1)])
    model.compile("adam", "mse")
    history = model.fit(data, epochs=2, validation_data=data.take(2), verbose=0)
    assert history.params["steps"] == len(data)
    assert len(history.history["val_loss"]) == 2
    assert model.evaluate(data.take(3), verbose=0) > 0


def test_torch_dataloader_trains_like_the_same_arrays():
    torch = pytest.importorskip("torch")
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(X), torch.tensor(Y)),
                                         batch_size=8, shuffle=False)
    streamed, arrays = make_model(), make_model()
    history = streamed.fit(loader, epochs=2, verbose=0)
    arrays.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert history.params["steps"] == 5
    for a, b in zip(streamed.get_weights(), arrays.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(streamed.predict(loader), streamed.predict(X), rtol=1e-6)


@pytest.mark.slow
def test_tf_data_dataset_trains_like_the_same_arrays():
    tf = pytest.importorskip("tensorflow")
    data = tf.data.Dataset.from_tensor_slices((X, Y)).batch(8)
    streamed, arrays = make_model(), make_model()
    history = streamed.fit(data, epochs=2, validation_data=data, verbose=0)
    arrays.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert history.params["steps"] == 5
    for a, b in zip(streamed.get_weights(), arrays.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    with pytest.raises(RnnkitValueError, match="endless"):
        streamed.fit(data.repeat(), epochs=1, verbose=0)
    assert len(streamed.fit(data.repeat(), steps_per_epoch=7, verbose=0).history["loss"]) == 1


def test_stream_fit_matches_keras_epoch_by_epoch():
    """The same PyDataset (len 5, steps_per_epoch 3: epochs of 3, 2, 3 batches) in Keras 3 and rnnkit."""
    from keras_reference import keras_or_skip
    keras = keras_or_skip()

    class KerasBatches(keras.utils.PyDataset):
        def __len__(self):
            return 5

        def __getitem__(self, index):
            return X[index * 8:(index + 1) * 8], Y[index * 8:(index + 1) * 8]

    kmodel = keras.Sequential([keras.Input((5, 3)), keras.layers.SimpleRNN(4), keras.layers.Dense(2)])
    kmodel.compile(keras.optimizers.SGD(0.05), "mse")
    model = make_model()
    model.set_weights([np.asarray(w) for w in kmodel.get_weights()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = kmodel.fit(KerasBatches(), steps_per_epoch=3, epochs=3, shuffle=False, verbose=0).history["loss"]
        got = model.fit(Batches(5), steps_per_epoch=3, epochs=3, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    for a, b in zip(model.get_weights(), kmodel.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-6)


def test_class_weight_and_tbptt_with_streams():
    labels = (Y[:, 0] > 0).astype("int64")

    class Labelled(PyDataset):
        def __len__(self):
            return 5

        def __getitem__(self, index):
            return X[index * 8:(index + 1) * 8], labels[index * 8:(index + 1) * 8]

    def build():
        model = rnnkit.Sequential([layers.GRU(3, seed=0), layers.Dense(2, activation="softmax", seed=0)])
        model.compile("sgd", "sparse_categorical_crossentropy")
        return model

    streamed, arrays = build(), build()  # not built: the stream's first batch builds it
    streamed.fit(Labelled(), class_weight={0: 0.3, 1: 2.0}, shuffle=False, verbose=0)
    arrays.fit(X, labels, batch_size=8, class_weight={0: 0.3, 1: 2.0}, shuffle=False, verbose=0)
    for a, b in zip(streamed.get_weights(), arrays.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(RnnkitValueError, match="class_weight names class 2, which does not exist"):
        build().fit(Labelled(), class_weight={2: 1.0}, verbose=0)
    truncated, whole = make_model(), make_model()
    truncated.fit(batches(5), tbptt_steps=2, verbose=0)
    whole.fit(X, Y, batch_size=8, shuffle=False, tbptt_steps=2, verbose=0)
    for a, b in zip(truncated.get_weights(), whole.get_weights()):
        np.testing.assert_array_equal(a, b)
    weighted = ((x, y, np.ones(len(x), "float32")) for x, y in batches(2))
    with pytest.raises(RnnkitValueError, match="batch 1: tbptt_steps cannot use the sample weights"):
        make_model().fit(weighted, tbptt_steps=2, verbose=0)
