"""register_activation: a custom Activation becomes a name layers and cells accept, that their
configs carry, and that runs (on the NumPy reference: the compiled loops know only the built-ins)."""
import numpy as np
import pytest

from layer_checks import check_layer
from rnnkit import layers
from rnnkit.errors import RnnkitTypeError
from rnnkit.ops.activations import Activation, available_activations, get_activation, register_activation

SOFTCUBE = register_activation(Activation("softcube_test", lambda z: z / (1.0 + z * z) ** 0.5,
                                          lambda z, y: (1.0 + z * z) ** -1.5))


def test_a_registered_name_resolves_and_is_listed():
    assert get_activation("softcube_test") is SOFTCUBE
    assert "softcube_test" in available_activations()


def test_a_registered_activation_round_trips_a_layer_config_and_gives_the_same_outputs():
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    layer = layers.LSTM(4, activation="softcube_test", seed=0)
    clone = layers.LSTM.from_config(layer.get_config())
    assert clone.get_config()["activation"] == "softcube_test"
    np.testing.assert_array_equal(clone(x), layer(x))


def test_gradients_through_a_registered_activation():
    check_layer(layers.GRU, {"units": 3, "activation": "softcube_test", "seed": 1}, (2, 4, 3))


def test_register_activation_refuses_a_plain_function():
    with pytest.raises(RnnkitTypeError, match="activation must be an rnnkit Activation"):
        register_activation(np.tanh)
