"""register_keras_serializable / get_registered_* / custom_object_scope and load_model(custom_objects=):
custom layers, cells, losses, regularizers and constraints save and load by name."""
import numpy as np
import pytest

import rnnkit
from rnnkit import layers
from test_regularizers import Quartic
from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.saving import (CustomObjectScope, custom_object_scope, get_custom_objects, get_registered_name,
                           get_registered_object, register_keras_serializable)


@register_keras_serializable(package="RegTest")
class Scale(layers.Layer):
    """y = x * s with one trainable scalar per feature."""

    def build(self, input_shape):
        self.s = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="s")

    def call(self, inputs, training=False, mask=None):
        self._cache = inputs
        return inputs * self.s.value

    def backward(self, d_outputs):
        self._gradients = [np.sum(d_outputs * self._cache, axis=tuple(range(d_outputs.ndim - 1)))]
        return d_outputs * self.s.value

    def compute_output_shape(self, input_shape):
        return input_shape


Quartic = register_keras_serializable(package="RegTest", name="quartic")(Quartic)


@register_keras_serializable(package="RegTest")
class ClipTo(rnnkit.constraints.Constraint):
    def __init__(self, bound=0.3):
        self.bound = bound

    def __call__(self, w):
        return np.clip(w, -self.bound, self.bound)

    def get_config(self):
        return {"bound": self.bound}


@register_keras_serializable(package="RegTest")
class HalfMSE(rnnkit.losses.Loss):
    default_name = "half_mse"

    def _rows(self, y_true, y_pred):
        diff = y_pred - y_true
        return 0.5 * np.mean(diff ** 2, axis=-1), diff / y_pred.shape[-1]


def test_registration_names():
    assert get_registered_name(Scale) == "RegTest>Scale"
    assert get_registered_name(Quartic) == "RegTest>quartic"
    assert get_registered_name(layers.Dense) == "Dense"
    assert get_registered_object("RegTest>Scale") is Scale
    assert get_registered_object("Nope>Scale") is None
    assert get_registered_object("x", custom_objects={"x": Scale}) is Scale
    assert get_custom_objects()["RegTest>quartic"] is Quartic

    @register_keras_serializable()
    def my_activation(x):
        return x

    assert get_registered_name(my_activation) == "Custom>my_activation"


def test_registration_errors():
    with pytest.raises(RnnkitTypeError, match="no get_config"):
        register_keras_serializable()(type("NoConfig", (), {}))
    with pytest.raises(RnnkitTypeError, match="package must be a non-empty string"):
        register_keras_serializable(package=3)
    with pytest.raises(RnnkitTypeError, match="custom_objects must be a dict"):
        CustomObjectScope([Scale])


def test_scopes_nest_and_end():
    with custom_object_scope({"A": Scale}):
        with custom_object_scope({"B": Quartic}):
            assert get_registered_object("A") is Scale and get_registered_object("B") is Quartic
        assert get_registered_object("B") is None
    assert get_registered_object("A") is None


def _model():
    model = rnnkit.Sequential([layers.Input((4,)), Scale(),
                               layers.Dense(3, kernel_regularizer=Quartic(0.2), kernel_constraint=ClipTo(0.5)),
                               layers.Dense(1)])
    model.compile(optimizer="sgd", loss=HalfMSE())
    return model


def test_custom_layer_regularizer_constraint_and_loss_save_and_load(tmp_path):
    model = _model()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 4)).astype(np.float32), rng.normal(size=(8, 1)).astype(np.float32)
    model.fit(x, y, epochs=2, verbose=0)
    assert np.abs(model.layers[1].kernel.value).max() <= 0.5 + 1e-7  # the custom constraint ran
    config = model.get_config()["layers"][1]
    assert config["registered_name"] == "RegTest>Scale"
    assert config["class_name"] == "Scale"
    path = tmp_path / "custom.rnnkit"
    model.save(path)
    loaded = rnnkit.load_model(path)
    assert type(loaded.layers[0]) is Scale
    assert isinstance(loaded.layers[1].kernel.regularizer, Quartic) and loaded.layers[1].kernel.regularizer.k == 0.2
    assert isinstance(loaded.layers[1].kernel.constraint, ClipTo)
    assert isinstance(loaded.loss, HalfMSE)
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-6)
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)


def test_custom_objects_and_scope_take_precedence_by_class_name(tmp_path):
    class Doubler(layers.Layer):
        def call(self, inputs, training=False, mask=None):
            return inputs * 2

        def backward(self, d_outputs):
            return d_outputs * 2

        def compute_output_shape(self, input_shape):
            return input_shape

    class Tripler(Doubler):
        def call(self, inputs, training=False, mask=None):
            return inputs * 3

    model = rnnkit.Sequential([layers.Input((2,)), Doubler()])
    path = tmp_path / "m.rnnkit"
    model.save(path)
    x = np.ones((1, 2), np.float32)
    np.testing.assert_array_equal(rnnkit.load_model(path).predict(x), 2 * x)
    np.testing.assert_array_equal(rnnkit.load_model(path, custom_objects={"Doubler": Tripler}).predict(x), 3 * x)
    with custom_object_scope({"Doubler": Tripler}):
        np.testing.assert_array_equal(rnnkit.load_model(path).predict(x), 3 * x)
    spec = layers.serialize_layer(Doubler())
    assert type(layers.deserialize_layer(spec, custom_objects={"Doubler": Tripler})) is Tripler


def test_registered_name_wins_over_a_later_class_of_the_same_name(monkeypatch):
    from rnnkit.layers import base
    monkeypatch.setattr(base, "_layer_classes", dict(base._layer_classes))  # the shadow below is undone after
    spec = layers.serialize_layer(Scale())
    shadow = type("Scale", (layers.Layer,), {})  # another class with the registered one's __name__
    assert base._layer_classes["Scale"] is shadow
    assert type(layers.deserialize_layer(spec)) is Scale


def test_unknown_names_are_named_errors():
    with pytest.raises(RnnkitValueError, match="unknown layer class_name 'Nope'.*register_keras_serializable"):
        layers.deserialize_layer({"class_name": "Nope", "config": {}})
    with pytest.raises(RnnkitValueError, match="unknown cell class_name 'NoCell'"):
        layers.RNN.from_config({"cell": {"class_name": "NoCell", "config": {}}})
    with pytest.raises(RnnkitValueError, match="loss must be one of"):
        rnnkit.losses.get({"class_name": "NoLoss", "config": {}})
    with pytest.raises(RnnkitValueError, match="unknown regularizer class_name 'Nope'"):
        rnnkit.regularizers.get({"class_name": "Nope", "config": {}, "registered_name": "X>Nope"})
