"""model.save keeps the optimizer's state (Keras's include_optimizer=True default): fit after
load_model continues as the uninterrupted model would."""
import numpy as np
import pytest

import rnnkit
from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.io.arrays_file import RnnkitFileError, load_arrays, save_arrays


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(24, 5, 3)).astype(np.float32), rng.normal(size=(24, 2)).astype(np.float32)


def _model(optimizer="adam"):
    rnnkit.utils.set_random_seed(3)
    model = rnnkit.Sequential([rnnkit.layers.Input((5, 3)), rnnkit.layers.LSTM(4), rnnkit.layers.Dense(2)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "nadam"])
def test_fit_after_load_continues_exactly(tmp_path, optimizer):
    x, y = _data()
    straight = _model(optimizer)
    straight.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    saved = _model(optimizer)
    saved.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    saved.save(tmp_path / "m.rnnkit")
    loaded = rnnkit.load_model(tmp_path / "m.rnnkit")
    assert loaded.optimizer.iterations == saved.optimizer.iterations == 3
    loaded.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(straight.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_without_the_optimizer_the_moments_start_again(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    model.save(tmp_path / "m.rnnkit", include_optimizer=False)
    loaded = rnnkit.load_model(tmp_path / "m.rnnkit")
    assert loaded.optimizer.iterations == 0
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_bad_arguments_are_named(tmp_path):
    model = _model()
    model.build((None, 5, 3))
    with pytest.raises(RnnkitTypeError, match="include_optimizer"):
        model.save(tmp_path / "m.rnnkit", include_optimizer="yes")
    (tmp_path / "m.rnnkit").write_bytes(b"keep me")
    with pytest.raises(RnnkitValueError, match="already exists"):
        model.save(tmp_path / "m.rnnkit", overwrite=False)
    assert (tmp_path / "m.rnnkit").read_bytes() == b"keep me"


def test_a_forged_optimizer_state_is_a_file_error(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    model.save(tmp_path / "m.rnnkit")
    arrays, metadata = load_arrays(tmp_path / "m.rnnkit")
    slot = next(name for name in arrays if name.startswith("optimizer/slot/"))
    arrays[slot] = arrays[slot][..., :1]
    save_arrays(tmp_path / "bad.rnnkit", arrays, metadata)
    with pytest.raises(RnnkitFileError, match="optimizer state does not fit"):
        rnnkit.load_model(tmp_path / "bad.rnnkit")
    metadata["optimizer"] = ["not", "a", "mapping"]
    save_arrays(tmp_path / "bad2.rnnkit", load_arrays(tmp_path / "m.rnnkit")[0], metadata)
    with pytest.raises(RnnkitFileError, match="optimizer"):
        rnnkit.load_model(tmp_path / "bad2.rnnkit")
