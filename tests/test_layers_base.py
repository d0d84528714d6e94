import inspect

import numpy as np
import pytest

from rnnkit.errors import RnnkitValueError
from rnnkit.layers import (GRU, LSTM, RNN, Bidirectional, Dense, Layer, SimpleRNN, SimpleRNNCell,
                           deserialize_layer, reset_name_counters, serialize_layer)
from rnnkit.variables import Variable


def test_default_names_follow_keras():
    reset_name_counters()
    assert [SimpleRNN(2).name, SimpleRNN(2).name, SimpleRNN(2).name] == ["simple_rnn", "simple_rnn_1", "simple_rnn_2"]
    assert [LSTM(2).name, GRU(2).name, Dense(2).name, RNN(SimpleRNNCell(2)).name] == ["lstm", "gru", "dense", "rnn"]
    assert Bidirectional(LSTM(2)).name == "bidirectional"
    assert Dense(2, name="out").name == "out"
    reset_name_counters()
    assert Dense(2).name == "dense"


def test_variables_are_the_arrays_the_cell_computes_with():
    layer = SimpleRNN(3, name="simple_rnn", seed=0)
    layer(np.zeros((1, 2, 5), np.float32))
    assert [v.name for v in layer.weights] == ["simple_rnn/kernel", "simple_rnn/recurrent_kernel", "simple_rnn/bias"]
    assert all(isinstance(v, Variable) for v in layer.weights)
    assert layer.weights[0].value is layer.cell.params["kernel"]
    layer.set_weights([np.ones((5, 3)), np.zeros((3, 3)), np.zeros(3)])
    assert layer.weights[0].value is layer.cell.params["kernel"]
    x = np.ones((1, 1, 5), np.float32)
    np.testing.assert_allclose(layer(x), np.tanh(np.full((1, 3), 5.0)), rtol=1e-6)
    layer.weights[2].value[...] = -5.0  # an optimizer writing in place is seen by the next call
    np.testing.assert_allclose(layer(x), np.zeros((1, 3)), atol=1e-6)


def test_trainable_flag_and_weight_lists():
    layer = LSTM(2, trainable=False)
    layer.build((None, 3, 4))
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 3
    assert layer.weights == layer.non_trainable_weights
    dense = Dense(2)
    dense.build((None, 4))
    assert dense.trainable_weights == dense.weights and dense.non_trainable_weights == []


def test_get_gradients_before_backward_is_an_error():
    layer = Dense(2)
    with pytest.raises(RnnkitValueError, match="no gradients yet"):
        layer.get_gradients()


@pytest.mark.parametrize("cls,args", [(Dense, (3,)), (SimpleRNN, (3,)), (LSTM, (3,)), (GRU, (3,)),
                                      (RNN, (SimpleRNNCell(3),)), (Bidirectional, (LSTM(2),))])
def test_config_holds_every_constructor_argument(cls, args):
    layer = cls(*args, input_shape=(4, 5))
    config = layer.get_config()
    names = [p for p, spec in inspect.signature(cls.__init__).parameters.items()
             if p != "self" and spec.kind is not inspect.Parameter.VAR_KEYWORD]
    names = [n for n in names if not (cls is Bidirectional and n == "backward_layer")]
    missing = [n for n in names + ["name", "dtype", "trainable", "input_shape"] if n not in config]
    assert not missing
    clone = deserialize_layer(serialize_layer(layer))
    assert type(clone) is cls and clone.get_config() == config


def test_base_layer_defaults():
    layer = Layer(name="plain")
    assert layer.compute_mask(None, np.ones((1, 2), bool)) is None
    assert layer.get_config() == {"name": "plain", "trainable": True, "dtype": "float32"}
    with pytest.raises(RnnkitValueError, match="input_shape must be a tuple"):
        Layer(input_shape=(0, 3))
