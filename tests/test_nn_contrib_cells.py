"""TF1 contrib cells: LayerNormBasicLSTMCell (new math), LSTMBlockCell/LSTMBlockFusedCell, GRUBlockCell,
CoupledInputForgetGateLSTMCell, and the TF1 keyword arguments of every cell.

LayerNormBasicLSTMCell is not in TensorFlow 2, so its reference here is a direct NumPy
transcription of TF1 contrib's ``call`` (TF1's own weight layout: one kernel for
[inputs, h] with gate blocks i, j, f, o, and contrib's layer_norm with epsilon 1e-12).
"""
import numpy as np
import pytest

from helpers import numeric_grad, rel_error, step_loop_errors
from rnnkit.contrib import rnn as contrib_rnn
from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.nn import AUTO_REUSE, dynamic_rnn, dynamic_rnn_backward, rnn_cell
from rnnkit.nn.rnn_cell.layer_norm_lstm import layer_norm, layer_norm_backward
from tf1_checks import leaves, random_state, static_rnn_gradient_errors

F64 = {"dtype": "float64"}
LENGTHS = np.array([4, 2, 0])


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def tf1_layer_norm_lstm_step(x, c, h, tf_kernel, tf_bias, norms, forget_bias, keep_mask=None):
    """TF1 contrib LayerNormBasicLSTMCell.call, transcribed: i, j, f, o = split([x, h] K (+ b))."""
    def ln(v, scope):
        mean = v.mean(-1, keepdims=True)
        var = ((v - mean) ** 2).mean(-1, keepdims=True)
        return (v - mean) / np.sqrt(var + 1e-12) * norms[scope][0] + norms[scope][1]

    concat = np.concatenate([x, h], 1) @ tf_kernel
    if tf_bias is not None:
        concat = concat + tf_bias
    i, j, f, o = np.split(concat, 4, axis=1)
    if norms:
        i, j, f, o = ln(i, "input"), ln(j, "transform"), ln(f, "forget"), ln(o, "output")
    g = np.tanh(j)
    if keep_mask is not None:
        g = g * keep_mask
    new_c = c * sigmoid(f + forget_bias) + sigmoid(i) * g
    if norms:
        new_c = ln(new_c, "state")
    new_h = np.tanh(new_c) * sigmoid(o)
    return new_h, new_c


def to_tf1_layout(cell):
    """TF1's kernel (I + H, 4H) in gate order i, j, f, o from rnnkit's Keras layout (i, f, c, o)."""
    w = dict(zip(cell._core.weight_names, cell.get_weights()))
    h = cell.output_size
    order = lambda m: np.concatenate([m[..., 0:h], m[..., 2 * h:3 * h], m[..., h:2 * h], m[..., 3 * h:]], -1)
    kernel = order(np.concatenate([w["kernel"], w["recurrent_kernel"]], 0))
    norms = {scope: (w[f"{scope}/gamma"], w[f"{scope}/beta"]) for scope in
             ("input", "transform", "forget", "output", "state") if f"{scope}/gamma" in w}
    return kernel, (order(w["bias"]) if "bias" in w else None), norms


def randomize(cell, rng, scale=0.5):
    cell.set_weights([rng.standard_normal(w.shape) * scale + (1.0 if "gamma" in n else 0.0)
                      for n, w in zip(cell._core.weight_names, cell.get_weights())])


@pytest.mark.parametrize("layer_norm", [True, False])
def test_layer_norm_lstm_equals_the_tf1_contrib_formula(layer_norm):
    rng = np.random.default_rng(0)
    cell = contrib_rnn.LayerNormBasicLSTMCell(4, forget_bias=0.7, layer_norm=layer_norm, seed=0, **F64)
    cell.build(3)
    randomize(cell, rng)
    x = rng.standard_normal((2, 5, 3))
    outputs, state = dynamic_rnn(cell, x)
    kernel, bias, norms = to_tf1_layout(cell)
    assert bool(norms) == layer_norm and (bias is None) == layer_norm
    c = h = np.zeros((2, 4))
    for t in range(5):
        h, c = tf1_layer_norm_lstm_step(x[:, t], c, h, kernel, bias, norms, 0.7)
        np.testing.assert_allclose(outputs[:, t], h, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(state.c, c, rtol=1e-12, atol=1e-14)
    if layer_norm:  # the new cell state is normalised (gamma, beta random here)
        gamma, beta = norms["state"]
        np.testing.assert_allclose(((state.c - beta) / gamma).mean(-1), 0.0, atol=1e-12)


def test_layer_norm_lstm_initial_weights_and_names():
    cell = contrib_rnn.LayerNormBasicLSTMCell(3, norm_gain=0.5, norm_shift=0.25, seed=0)
    cell.build(2)
    names = [v.name for v in cell.weights]
    assert names[:2] == ["layer_norm_basic_lstm_cell/kernel", "layer_norm_basic_lstm_cell/recurrent_kernel"]
    assert names[2:] == [f"layer_norm_basic_lstm_cell/{s}/{k}" for s in ("input", "transform", "forget", "output",
                                                                          "state") for k in ("gamma", "beta")]
    values = dict(zip(names, cell.get_weights()))
    assert np.all(values["layer_norm_basic_lstm_cell/state/gamma"] == 0.5)
    assert np.all(values["layer_norm_basic_lstm_cell/input/beta"] == 0.25)
    assert cell.count_params() == 2 * 12 + 3 * 12 + 10 * 3
    plain = contrib_rnn.LayerNormBasicLSTMCell(3, layer_norm=False, seed=0)
    plain.build(2)
    assert [v.name.split("/")[-1] for v in plain.weights] == ["kernel", "recurrent_kernel", "bias"]


def test_layer_norm_backward_matches_finite_differences():
    rng = np.random.default_rng(1)
    v, gamma, beta = rng.standard_normal((3, 5)), rng.standard_normal(5), rng.standard_normal(5)
    g = rng.standard_normal((3, 5))

    def loss():
        return float(np.sum(layer_norm(v, gamma, beta)[0] * g))

    dv, dgamma, dbeta = layer_norm_backward(g, layer_norm(v, gamma, beta)[1])
    for analytic, array in ((dv, v), (dgamma, gamma), (dbeta, beta)):
        assert rel_error(analytic, numeric_grad(loss, array)) < 1e-8


LN_CASES = {
    "layer_norm": {},
    "no_layer_norm": {"layer_norm": False},
    "relu_forget_bias": {"activation": "relu", "forget_bias": 0.3},
    "dropout": {"dropout_keep_prob": 0.6, "dropout_prob_seed": 3},
}


@pytest.mark.parametrize("case", sorted(LN_CASES))
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
def test_layer_norm_lstm_gradients_match_finite_differences(case, lengths):
    rng = np.random.default_rng(2)
    kwargs = LN_CASES[case]
    cell = contrib_rnn.LayerNormBasicLSTMCell(3, seed=0, **kwargs, **F64)
    cell.build(2)
    randomize(cell, rng, 0.8)

    def make():  # dropout: the same seed gives the same masks for every evaluation of the loss
        if "dropout_prob_seed" in kwargs:
            cell._core._dropout_rng = np.random.default_rng(kwargs["dropout_prob_seed"])
        return cell

    errors = static_rnn_gradient_errors(make, lengths=lengths)
    assert max(errors.values()) < 1e-6, errors


def test_layer_norm_lstm_core_step_loop_equals_sequence_and_recurrent_mask_gradients():
    rng = np.random.default_rng(3)
    core = contrib_rnn.LayerNormBasicLSTMCell(3, seed=0, **F64)._core
    core.build(2)
    x = rng.standard_normal((2, 4, 2))
    state0 = tuple(rng.standard_normal((2, 3)) for _ in range(2))
    errors = step_loop_errors(core, x, state0)
    assert max(errors.values()) < 1e-12, errors
    from helpers import cell_gradient_errors
    errors = cell_gradient_errors(core, x, recurrent_mask=rng.uniform(0.5, 1.5, (2, 3)), zero_output_for_mask=False,
                                  mask=np.array([[1, 1, 0, 1], [0, 1, 1, 0]], bool))
    assert max(errors.values()) < 1e-6, errors


def test_layer_norm_lstm_dropout_masks():
    rng = np.random.default_rng(4)
    cell = contrib_rnn.LayerNormBasicLSTMCell(40, dropout_keep_prob=0.5, dropout_prob_seed=1, seed=0, **F64)
    x = rng.standard_normal((3, 4, 5))
    a, _ = dynamic_rnn(cell, x)
    b, _ = dynamic_rnn(cell, x)
    assert not np.array_equal(a, b)  # a fresh mask for every call, as TF1
    cell.dropout_keep_prob = 1.0
    reference, _ = dynamic_rnn(contrib_rnn.LayerNormBasicLSTMCell(40, seed=0, **F64), x)
    np.testing.assert_array_equal(dynamic_rnn(cell, x)[0], reference)
    with pytest.raises(RnnkitValueError, match="dropout_keep_prob"):
        cell.dropout_keep_prob = 0.0


def block_pairs():
    rng_weights = np.random.default_rng(5)
    return {
        "lstm_block": (contrib_rnn.LSTMBlockCell(3, forget_bias=0.5, seed=0, **F64),
                       rnn_cell.LSTMCell(3, forget_bias=0.5, seed=1, **F64)),
        "lstm_block_peep_clip": (contrib_rnn.LSTMBlockCell(3, use_peephole=True, cell_clip=0.8, seed=0, **F64),
                                 rnn_cell.LSTMCell(3, use_peepholes=True, cell_clip=0.8, seed=1, **F64)),
        "lstm_block_clip_minus_one": (contrib_rnn.LSTMBlockCell(3, cell_clip=-1, seed=0, **F64),
                                      rnn_cell.LSTMCell(3, seed=1, **F64)),
        "gru_block": (contrib_rnn.GRUBlockCell(3, seed=0, dtype="float64"), rnn_cell.GRUCell(3, seed=1, **F64)),
        "gru_block_cell_size": (contrib_rnn.GRUBlockCellV2(cell_size=3, seed=0, dtype="float64"),
                                rnn_cell.GRUCell(3, seed=1, **F64)),
    }, rng_weights


@pytest.mark.parametrize("kind", sorted(block_pairs()[0]))
def test_block_cells_are_the_tf1_cells_under_contrib_names(kind):
    pairs, rng = block_pairs()
    block, reference = pairs[kind]
    x = rng.standard_normal((3, 4, 2))
    block.build(2)
    reference.build(2)
    randomize(block, rng)
    reference.set_weights(block.get_weights())
    out, state = dynamic_rnn(block, x, LENGTHS)
    ref, ref_state = dynamic_rnn(reference, x, LENGTHS)
    np.testing.assert_array_equal(out, ref)
    for a, b in zip(leaves(state), leaves(ref_state)):
        np.testing.assert_array_equal(a, b)
    errors = static_rnn_gradient_errors(lambda: block, lengths=LENGTHS)
    assert max(errors.values()) < 1e-6, errors


def test_lstm_block_fused_cell_time_major_lists_and_backward():
    rng = np.random.default_rng(6)
    fused = contrib_rnn.LSTMBlockFusedCell(3, use_peephole=True, seed=0, dtype="float64")
    x = rng.standard_normal((4, 3, 2))  # time-major
    outputs, state, cache = fused(x, sequence_length=LENGTHS, return_cache=True)
    ref, ref_state, ref_cache = dynamic_rnn(fused.cell, x, LENGTHS, time_major=True, return_cache=True)
    np.testing.assert_array_equal(outputs, ref)
    np.testing.assert_array_equal(state.c, ref_state.c)
    g = rng.standard_normal(outputs.shape)
    dx, d0, grads = fused.backward(cache, g, state)
    rdx, rd0, rgrads = dynamic_rnn_backward(ref_cache, g, ref_state)
    np.testing.assert_array_equal(dx, rdx)
    outs_list, state_list, cache_list = fused(list(x), initial_state=(state.c, state.h), return_cache=True)
    assert isinstance(outs_list, list) and len(outs_list) == 4 and outs_list[0].shape == (3, 3)
    dx_list, _, _ = fused.backward(cache_list, [None, None, g[2], g[3]])
    assert isinstance(dx_list, list) and dx_list[0].shape == (3, 2)
    assert len(grads) == 6 and fused.weights == fused.cell.weights and fused.output_size == 3


def tf1_cifg_step(x, c, h, kernel, bias, w_f, w_o, proj, forget_bias):
    """TF1 contrib CoupledInputForgetGateLSTMCell.call: j, f, o = split([x, h] W + B)."""
    j, f, o = np.split(np.concatenate([x, h], 1) @ kernel + bias, 3, axis=1)
    f_act = sigmoid(f + forget_bias + (0.0 if w_f is None else w_f * c))
    c = f_act * c + (1 - f_act) * np.tanh(j)
    m = sigmoid(o + (0.0 if w_o is None else w_o * c)) * np.tanh(c)
    return (m if proj is None else m @ proj), c


@pytest.mark.parametrize("peepholes, num_proj", [(False, None), (True, 2)])
def test_coupled_input_forget_gate_lstm_cell(peepholes, num_proj):
    rng = np.random.default_rng(7)
    cell = contrib_rnn.CoupledInputForgetGateLSTMCell(3, use_peepholes=peepholes, num_proj=num_proj, forget_bias=0.4,
                                                      seed=0, **F64)
    cell.build(2)
    randomize(cell, rng)
    w = dict(zip(cell._core.weight_names, cell.get_weights()))
    hh = 3
    order = lambda m: np.concatenate([m[..., hh:2 * hh], m[..., :hh], m[..., 2 * hh:]], -1)  # f, c, o -> j, f, o
    kernel = order(np.concatenate([w["kernel"], w["recurrent_kernel"]], 0))
    x = rng.standard_normal((2, 4, 2))
    outputs, state = dynamic_rnn(cell, x)
    c, h = np.zeros((2, 3)), np.zeros((2, num_proj or 3))
    for t in range(4):
        h, c = tf1_cifg_step(x[:, t], c, h, kernel, order(w["bias"]), w.get("peephole_f"), w.get("peephole_o"),
                             w.get("projection_kernel"), 0.4)
        np.testing.assert_allclose(outputs[:, t], h, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(state.c, c, rtol=1e-12, atol=1e-14)
    errors = static_rnn_gradient_errors(lambda: cell, lengths=LENGTHS)
    assert max(errors.values()) < 1e-6, errors


def test_tf1_keyword_arguments_are_accepted():
    cells = [
        rnn_cell.BasicRNNCell(4, None, None, "rnn", "float64"),  # TF1's positions
        rnn_cell.BasicLSTMCell(4, 1.0, True, None, reuse=None, name="lstm", dtype="float64"),
        rnn_cell.LSTMCell(4, False, None, None, None, None, 2, 2, 1.0, True, None, AUTO_REUSE, "lstm2", "float64"),
        rnn_cell.GRUCell(4, None, True, None, None, "gru", "float64", _scope="s"),
        contrib_rnn.LSTMBlockCell(4, reuse=True, name="block"),
        contrib_rnn.LayerNormBasicLSTMCell(4, input_size=3, reuse=False),
        contrib_rnn.CoupledInputForgetGateLSTMCell(4, num_unit_shards=2, reuse=None),
    ]
    assert [c.name for c in cells[:5]] == ["rnn", "lstm", "lstm2", "gru", "block"]
    assert cells[1].dtype == np.float64 and cells[3].dtype == np.float64
    x = np.ones((2, 3, 3), np.float32)
    for cell in cells:
        assert dynamic_rnn(cell, x)[0].shape == (2, 3, 4)


@pytest.mark.parametrize("call, error, words", [
    (lambda: rnn_cell.BasicLSTMCell(3, reuse="sometimes"), RnnkitValueError, "reuse"),
    (lambda: rnn_cell.LSTMCell(3, num_unit_shards=0), RnnkitValueError, "num_unit_shards"),
    (lambda: rnn_cell.GRUCell(3, trainable=False), RnnkitValueError, "trainable"),
    (lambda: rnn_cell.BasicRNNCell(3, bogus=1), RnnkitTypeError, "bogus"),
    (lambda: contrib_rnn.GRUBlockCell(), RnnkitValueError, "num_units"),
    (lambda: contrib_rnn.GRUBlockCell(3, cell_size=3), RnnkitValueError, "cell_size"),
    (lambda: contrib_rnn.LSTMBlockCell(3, cell_clip="big"), RnnkitValueError, "cell_clip"),
    (lambda: contrib_rnn.CoupledInputForgetGateLSTMCell(3, layer_norm=True), RnnkitValueError, "layer_norm"),
    (lambda: contrib_rnn.LayerNormBasicLSTMCell(3, dropout_keep_prob=1.5), RnnkitValueError, "dropout_keep_prob"),
    (lambda: contrib_rnn.LayerNormBasicLSTMCell(3, norm_gain=np.nan), RnnkitValueError, "norm_gain"),
    (lambda: contrib_rnn.LSTMBlockFusedCell(3).backward({}), RnnkitValueError, "cache"),
])
def test_named_errors(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)


def test_step_loop_of_contrib_cells_equals_dynamic_rnn():
    rng = np.random.default_rng(8)
    for cell in (contrib_rnn.LayerNormBasicLSTMCell(3, seed=0, **F64),
                 contrib_rnn.CoupledInputForgetGateLSTMCell(3, use_peepholes=True, seed=0, **F64),
                 contrib_rnn.LSTMBlockCell(3, use_peephole=True, seed=0, **F64)):
        x = rng.standard_normal((2, 4, 2))
        cell.build(2)
        state0 = random_state(rng, cell, 2)
        outputs, state = dynamic_rnn(cell, x, initial_state=state0)
        loop_state = state0
        for t in range(4):
            out, loop_state = cell(x[:, t], loop_state)
            np.testing.assert_allclose(out, outputs[:, t], rtol=1e-12, atol=1e-14)
        for a, b in zip(leaves(loop_state), leaves(state)):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_checkpointing_with_dropout_is_refused_on_every_path():
    """The refusal sits on the path every caller takes (forward and the layers' forward_unchecked)."""
    from rnnkit import layers
    from rnnkit.errors import RnnkitValueError
    from rnnkit.nn.rnn_cell.layer_norm_lstm import LayerNormLSTMCore

    x = np.zeros((2, 4, 3), np.float32)
    with pytest.raises(RnnkitValueError, match="checkpointing through time"):
        LayerNormLSTMCore(3, dropout_keep_prob=0.5, seed=0).forward(x, backprop_segment=2)
    with pytest.raises(RnnkitValueError, match="checkpointing through time"):
        layers.RNN(LayerNormLSTMCore(3, dropout_keep_prob=0.5, seed=0), backprop_segment=2)(x, training=True)
    layers.RNN(LayerNormLSTMCore(3, seed=0), backprop_segment=2)(x, training=True)  # no dropout: allowed
