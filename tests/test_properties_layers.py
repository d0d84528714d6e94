"""Property-based tests of the Keras face: recurrent layers (with masks, dropout, states,
go_backwards, Bidirectional) forward and backward over random shapes, dtypes and scales, and
every layer constructor fed junk arguments."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnkit import layers
from test_properties_support import JUNK, PROPERTY_SETTINGS, all_finite, documented, sequences

# a NumPy overflow/invalid/complex-cast warning is a silent numerical problem: fail on it
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

RNN_LAYERS = {
    "SimpleRNN": lambda d, **k: layers.SimpleRNN(3, dtype=d, seed=0, **k),
    "LSTM": lambda d, **k: layers.LSTM(2, dtype=d, seed=0, **k),
    "GRU": lambda d, **k: layers.GRU(3, dtype=d, seed=0, **k),
}


@PROPERTY_SETTINGS
@given(kind=st.sampled_from(sorted(RNN_LAYERS)), data=sequences(batch=st.integers(1, 3)),
       return_sequences=st.booleans(), return_state=st.booleans(), go_backwards=st.booleans(),
       dropout=st.sampled_from([0.0, 0.5]), training=st.booleans(), bidirectional=st.booleans(),
       merge_mode=st.sampled_from(["concat", "sum", "mul", "ave"]))
def test_recurrent_layers_forward_backward_finite(kind, data, return_sequences, return_state, go_backwards,
                                                  dropout, training, bidirectional, merge_mode):
    x, mask = data
    layer = RNN_LAYERS[kind](x.dtype.name, return_sequences=return_sequences, return_state=return_state,
                             go_backwards=go_backwards, dropout=dropout, recurrent_dropout=dropout)
    if bidirectional:
        layer = layers.Bidirectional(layer, merge_mode=merge_mode)
    result = layer(x, training=training, mask=mask)
    returned = result if isinstance(result, list) else [result]
    expected = layer.compute_output_shape(x.shape)
    expected = expected if isinstance(expected, list) else [expected]
    assert [r.shape for r in returned] == [tuple(e) for e in expected]
    rng = np.random.default_rng(1)
    dx = layer.backward(*[rng.standard_normal(r.shape).astype(x.dtype) for r in returned])
    assert dx.shape == x.shape and dx.dtype == x.dtype
    assert all_finite(returned, dx, layer.get_gradients())


@PROPERTY_SETTINGS
@given(kind=st.sampled_from(sorted(RNN_LAYERS)), x=JUNK, mask=st.one_of(st.none(), JUNK),
       initial_state=st.one_of(st.none(), JUNK), training=st.one_of(st.booleans(), JUNK))
def test_recurrent_layer_call_on_junk_works_or_raises_documented_error(kind, x, mask, initial_state, training):
    layer = RNN_LAYERS[kind]("float32")
    layer(np.zeros((1, 2, 3), np.float32))  # built for 3 features
    result = documented(lambda: layer(x, training=training, mask=mask, initial_state=initial_state))
    if result is not None:
        assert np.asarray(x).shape[-1] == 3 and all_finite(result)
        documented(lambda: layer.backward(np.ones_like(result)))


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 70), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=4), st.sampled_from(["tanh", "relu", "softmax", "glorot_uniform", "zeros",
                                                          "concat", "float64", "int8"]))

CONSTRUCTORS = {
    "SimpleRNN": lambda a, b, c: layers.SimpleRNN(a, activation=b, dropout=c),
    "LSTM": lambda a, b, c: layers.LSTM(a, recurrent_activation=b, recurrent_dropout=c),
    "LSTM_variants": lambda a, b, c: layers.LSTM(2, num_proj=a, cell_clip=b, forget_bias=c),
    "GRU": lambda a, b, c: layers.GRU(a, reset_after=b, kernel_initializer=c),
    "Dense": lambda a, b, c: layers.Dense(a, activation=b, use_bias=c),
    "Embedding": lambda a, b, c: layers.Embedding(a, b, mask_zero=c),
    "Dropout": lambda a, b, c: layers.Dropout(a, seed=b),
    "Masking": lambda a, b, c: layers.Masking(mask_value=a),
    "Bidirectional": lambda a, b, c: layers.Bidirectional(layers.GRU(2), merge_mode=a),
    "RNN_seed_dtype": lambda a, b, c: layers.SimpleRNN(2, seed=a, dtype=b),
    "TimeDistributed": lambda a, b, c: layers.TimeDistributed(a),
    "Activation": lambda a, b, c: layers.Activation(a),
}


@PROPERTY_SETTINGS
@given(name=st.sampled_from(sorted(CONSTRUCTORS)), a=SCALARS, b=SCALARS, c=SCALARS)
def test_layer_constructors_validate_their_arguments(name, a, b, c):
    layer = documented(lambda: CONSTRUCTORS[name](a, b, c))
    if layer is not None:  # whatever was accepted must also survive a config round trip
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config
