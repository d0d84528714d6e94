"""The optimizers' flat buffer: weights are views into one array per dtype, layers and cells see
every update, subsets and mixed dtypes update exactly what they should, and Keras 3's common
arguments (EMA, weight decay, accumulation, loss scaling, schedules) keep their state."""
import json

import numpy as np
import pytest

import rnnkit
from helpers import rel_error
from rnnkit import optimizers
from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.layers import GRU, LSTM, Bidirectional, Dense, SimpleRNN
from rnnkit.nn import rnn_cell
from rnnkit.optimizers import schedules
from rnnkit.variables import Variable

SHAPES = [(3, 4), (4,), (2, 3, 2), (5,)]
ALL = ["SGD", "Adam", "AdamW", "Adamax", "Nadam", "RMSprop", "Adagrad", "Adadelta", "Ftrl", "Lion"]


def _variables(seed=0, dtype=np.float64, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return [Variable(rng.standard_normal(s).astype(dtype), f"layer/w{i}") for i, s in enumerate(shapes)]


def _grads(steps, seed=1, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s) for s in shapes] for _ in range(steps)]


def _per_variable(make, grads, variables):
    """The reference: one optimizer per variable, so nothing is shared between variables."""
    opts = [make() for _ in variables]
    for step in grads:
        for opt, g, v in zip(opts, step, variables):
            if g is not None:
                opt.apply_gradients([(g, v)])
    return variables


def test_values_become_views_of_one_flat_buffer():
    variables = _variables()
    arrays = [v.value for v in variables]
    opt = optimizers.Adam()
    opt.build(variables)
    (group,) = opt.flat_groups
    assert group.params.size == sum(int(np.prod(s)) for s in SHAPES)
    for v, old in zip(variables, arrays):
        assert v.value.base is group.params and v.value.flags.c_contiguous and np.array_equal(v.value, old)
    assert opt.get_slot(variables[2], "velocity").base is group.slots["velocity"]
    assert opt.gradient_buffer(variables[1]).base is group.grads


@pytest.mark.parametrize("name", ALL)
def test_one_flat_update_equals_one_update_per_variable(name):
    # Per-variable clipping, weight decay and EMA too: every variable is on its own in the reference.
    kwargs = {"clipnorm": 1.5, "weight_decay": 0.01, "use_ema": True, "ema_overwrite_frequency": 3}
    make = lambda: getattr(optimizers, name)(learning_rate=0.01, **kwargs)  # noqa: E731
    grads = _grads(7)
    flat = _variables()
    opt = make()
    for step in grads:
        opt.apply_gradients(zip(step, flat))
    reference = _per_variable(make, grads, _variables())
    assert max(rel_error(a.value, b.value) for a, b in zip(flat, reference)) < 1e-13


@pytest.mark.parametrize("name", ["Adam", "Nadam", "Ftrl", "RMSprop", "SGD"])
def test_missing_gradients_leave_weights_and_slots_alone(name):
    extra = {"momentum": 0.9} if name in ("SGD", "RMSprop") else {}
    make = lambda: getattr(optimizers, name)(learning_rate=0.01, **extra)  # noqa: E731
    grads = _grads(6)
    for t, step in enumerate(grads):  # variable 1 has no gradient on odd steps, variable 3 none after step 2
        if t % 2:
            step[1] = None
        if t > 2:
            step[3] = None
    flat = _variables()
    opt = make()
    for step in grads:
        before = [(v.numpy(), {n: opt.get_slot(v, n).copy() for n in opt._active_slots()}) if opt.built else None
                  for v in flat]
        opt.apply_gradients(zip(step, flat))
        for g, v, old in zip(step, flat, before):
            if g is None:
                assert np.array_equal(v.value, old[0])
                assert all(np.array_equal(opt.get_slot(v, n), s) for n, s in old[1].items())
    reference = _per_variable(make, grads, _variables())
    # Adam's and Nadam's corrections follow the optimizer's step count, so a variable skipped on some
    # steps differs from a lone optimizer's; the others match it exactly.
    compared = [0, 2] if name in ("Adam", "Nadam") else [0, 1, 2, 3]
    assert max(rel_error(flat[i].value, reference[i].value) for i in compared) < 1e-13


def test_mixed_dtypes_get_one_buffer_each():
    variables = _variables(dtype=np.float32)[:2] + _variables(dtype=np.float64)[2:]
    opt = optimizers.RMSprop(0.01, momentum=0.5, global_clipnorm=1.0)
    grads = _grads(4)
    for step in grads:
        opt.apply_gradients(zip(step, variables))
    assert [g.dtype for g in opt.flat_groups] == [np.float32, np.float64]
    assert [v.value.dtype for v in variables] == [np.float32, np.float32, np.float64, np.float64]
    # Global clipping sees every variable: the same numbers as one float64 optimizer, to float32 precision.
    same = _variables(dtype=np.float32)[:2] + _variables(dtype=np.float64)[2:]
    same = [Variable(v.value.astype(np.float64), v.name) for v in same]
    ref = optimizers.RMSprop(0.01, momentum=0.5, global_clipnorm=1.0)
    for step in grads:
        ref.apply_gradients(zip(step, same))
    assert max(rel_error(a.value, b.value) for a, b in zip(variables, same)) < 1e-5


def test_gradient_buffer_path_equals_apply_gradients():
    grads = _grads(5)
    a, b = _variables(), _variables()
    opt_a, opt_b = optimizers.Nadam(0.01, clipvalue=0.8), optimizers.Nadam(0.01, clipvalue=0.8)
    opt_b.build(b)
    for step in grads:
        opt_a.apply_gradients(zip(step, a))
        for g, v in zip(step, b):
            opt_b.gradient_buffer(v)[...] = g
        opt_b.apply_gradient_buffer()
    assert all(np.array_equal(x.value, y.value) for x, y in zip(a, b))
    assert opt_a.get_state().keys() == opt_b.get_state().keys()
    # Keras 3's apply(grads): one gradient per built variable, in build order.
    c = _variables()
    opt_c = optimizers.Nadam(0.01, clipvalue=0.8)
    opt_c.build(c)
    for step in grads:
        opt_c.apply(step)
    assert all(np.array_equal(x.value, y.value) for x, y in zip(a, c))


def test_gradients_with_tail_keeps_the_buffer_and_steps_from_it():
    """rnnkit.distributed sums the gradient buffer and a few scalars after it in one call."""
    grads = _grads(3)
    a, b = _variables(), _variables()
    opt_a, opt_b = optimizers.Adam(0.01, global_clipnorm=1.0), optimizers.Adam(0.01, global_clipnorm=1.0)
    opt_b.build(b)
    (group,) = opt_b.flat_groups
    opt_b.gradient_buffer(b[0])[...] = 7.0
    tail = group.gradients_with_tail(3)
    assert tail.shape == (group.size + 3,) and tail.dtype == group.dtype
    assert np.shares_memory(tail, group.grads) and group.grads.size == group.size
    assert np.all(opt_b.gradient_buffer(b[0]) == 7.0)  # values kept, views re-pointed into the longer array
    assert group.gradients_with_tail(3) is tail  # reused while the tail length stays
    for step in grads:
        opt_a.apply_gradients(zip(step, a))
        for g, v in zip(step, b):
            opt_b.gradient_buffer(v)[...] = g
        tail[group.size:] = [1.0, 2.0, 3.0]
        opt_b.apply_gradient_buffer()
        assert list(tail[group.size:]) == [1.0, 2.0, 3.0]  # the step leaves the tail alone
    assert all(np.array_equal(x.value, y.value) for x, y in zip(a, b))
    longer = group.gradients_with_tail(5)
    assert longer is not tail and longer.size == group.size + 5 and np.shares_memory(longer, group.grads)


def test_unmovable_and_re_pointed_variables_still_update():
    variables = _variables()
    variables[1].movable = False
    kept = variables[1].value
    opt = optimizers.Adam(0.01)
    grads = _grads(4)
    opt.apply_gradients(zip(grads[0], variables))
    assert variables[1].value is kept  # copied in and out instead of moved
    variables[1].value[...] += 1.0  # a change made outside the optimizer is seen by the next step
    variables[2].value = variables[2].value.copy()  # code re-binding a value: moved back at the next step
    variables[2].value[...] -= 1.0
    for step in grads[1:]:
        opt.apply_gradients(zip(step, variables))
    reference = _variables()
    ref_opt = optimizers.Adam(0.01)
    ref_opt.apply_gradients(zip(grads[0], reference))
    reference[1].value[...] += 1.0
    reference[2].value[...] -= 1.0
    for step in grads[1:]:
        ref_opt.apply_gradients(zip(step, reference))
    assert all(np.array_equal(a.value, b.value) for a, b in zip(variables, reference))
    assert variables[1].value is kept and variables[2].value.base is opt.flat_groups[0].params


def test_two_optimizers_on_the_same_variables_take_turns():
    variables, reference = _variables(), _variables()
    first, second = optimizers.SGD(0.1, momentum=0.9), optimizers.Adam(0.01)
    ref_first, ref_second = optimizers.SGD(0.1, momentum=0.9), optimizers.Adam(0.01)
    for step in _grads(4):
        first.apply_gradients(zip(step, variables))
        second.apply_gradients(zip(step, variables))
        ref_first.apply_gradients(zip(step, reference))
        ref_second.apply_gradients(zip(step, reference))
    assert all(np.array_equal(a.value, b.value) for a, b in zip(variables, reference))


@pytest.mark.parametrize("layers", [
    lambda seed: [LSTM(4, return_sequences=True, seed=seed), GRU(3, seed=seed + 1), Dense(2, seed=seed + 2)],
    lambda seed: [Bidirectional(SimpleRNN(3, seed=seed)), Dense(2, seed=seed + 1)],
    lambda seed: [rnnkit.layers.RNN([rnnkit.layers.LSTMCell(3, seed=seed), rnnkit.layers.GRUCell(2, seed=seed + 1)]),
                  Dense(2, seed=seed + 2)],
])
def test_layers_and_cells_see_the_updated_weights(layers):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 5, 3)).astype(np.float32), rng.standard_normal((8, 2)).astype(np.float32)
    model = rnnkit.Sequential(layers(0))
    model.compile(optimizer=optimizers.Adam(0.05), loss="mse")
    model.fit(x, y, epochs=3, batch_size=4, verbose=0)
    group = model.optimizer.flat_groups[0]
    assert all(v.value.base is group.params for v in model.trainable_variables)
    # A model built anew from the trained weights predicts the same: the layers and cells of the
    # trained one really use the weights the optimizer updated.
    fresh = rnnkit.Sequential(layers(10))
    fresh(x[:1])
    fresh.set_weights(model.get_weights())
    np.testing.assert_array_equal(model.predict(x, verbose=0), fresh.predict(x, verbose=0))


def test_tf1_cells_see_the_updated_weights():
    cell = rnn_cell.MultiRNNCell([rnn_cell.BasicLSTMCell(3, seed=0), rnn_cell.GRUCell(2, seed=1)])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    before, _ = cell(x, cell.zero_state(4, np.float32))
    opt = optimizers.Adam(0.1)
    opt.apply_gradients((rng.standard_normal(v.shape), v) for v in cell.weights)
    assert all(np.array_equal(w, v.value) for w, v in zip(cell.get_weights(), cell.weights))
    fresh = rnn_cell.MultiRNNCell([rnn_cell.BasicLSTMCell(3, seed=5), rnn_cell.GRUCell(2, seed=6)])
    fresh(x, fresh.zero_state(4, np.float32))
    fresh.set_weights(cell.get_weights())
    out, _ = cell(x, cell.zero_state(4, np.float32))
    expected, _ = fresh(x, fresh.zero_state(4, np.float32))
    np.testing.assert_array_equal(out, expected)
    assert not np.allclose(out, before)


def test_gradient_accumulation_applies_the_mean_every_n_calls():
    variables = _variables()
    opt = optimizers.SGD(0.1, gradient_accumulation_steps=3)
    grads = _grads(6)
    start = [v.numpy() for v in variables]
    for t, step in enumerate(grads):
        opt.apply_gradients(zip(step, variables))
        if t in (0, 1, 3, 4):
            continue
        assert opt.iterations == (t + 1) // 3
    expected = [s - 0.1 * (sum(step[i] for step in grads[:3]) / 3 + sum(step[i] for step in grads[3:]) / 3)
                for i, s in enumerate(start)]
    assert max(rel_error(v.value, e) for v, e in zip(variables, expected)) < 1e-14


def test_loss_scale_factor_divides_the_gradients():
    a, b = _variables(), _variables()
    scaled, plain = optimizers.Adam(0.01, loss_scale_factor=1024.0), optimizers.Adam(0.01)
    for step in _grads(3):
        scaled.apply_gradients((g * 1024.0, v) for g, v in zip(step, a))
        plain.apply_gradients(zip(step, b))
    assert max(rel_error(x.value, y.value) for x, y in zip(a, b)) < 1e-14
    assert scaled.scale_loss(2.0) == 2048.0 and plain.scale_loss(2.0) == 2.0


def test_constraint_attribute_is_applied_after_the_update():
    variables = _variables()
    variables[0].constraint = lambda w: np.clip(w, -0.1, 0.1)
    optimizers.SGD(1.0).apply_gradients(zip(_grads(1)[0], variables))
    assert np.abs(variables[0].value).max() <= 0.1 and np.abs(variables[2].value).max() > 0.1


def test_configs_with_schedules_round_trip_through_json():
    for schedule in (schedules.CosineDecay(0.01, 100, warmup_target=0.1, warmup_steps=10),
                     schedules.PiecewiseConstantDecay([5, 10], [0.1, 0.01, 0.001]),
                     schedules.CosineDecayRestarts(0.1, 10), schedules.PolynomialDecay(0.1, 10, cycle=True),
                     schedules.InverseTimeDecay(0.1, 3, 0.5), schedules.ExponentialDecay(0.1, 3, 0.5, True)):
        opt = optimizers.Nadam(learning_rate=schedule, weight_decay=0.01, use_ema=True)
        again = optimizers.get(json.loads(json.dumps(optimizers.serialize(opt))))
        assert type(again) is optimizers.Nadam and again.get_config() == opt.get_config()
        assert [again._learning_rate(s) for s in range(0, 30, 7)] == [schedule(s) for s in range(0, 30, 7)]
    for name in ("adamw", "nadam", "adamax", "adadelta", "ftrl", "lion", "AdamW", "Lion"):
        assert isinstance(optimizers.get(name), optimizers.Optimizer)


def test_schedule_drives_the_learning_rate_and_cannot_be_overwritten():
    var = Variable(np.array([0.0]), "w")
    opt = optimizers.SGD(schedules.PiecewiseConstantDecay([1], [0.5, 0.1]))
    for _ in range(3):
        opt.apply_gradients([(np.array([1.0]), var)])
    assert var.value[0] == pytest.approx(-(0.5 + 0.5 + 0.1))  # steps 0 and 1 <= boundary 1
    with pytest.raises(RnnkitTypeError, match="schedule"):
        opt.learning_rate = 0.2


@pytest.mark.parametrize("kwargs, match", [
    ({"weight_decay": -0.1}, "weight_decay"),
    ({"ema_momentum": 1.5}, "ema_momentum"),
    ({"use_ema": True, "ema_overwrite_frequency": 0}, "ema_overwrite_frequency"),
    ({"gradient_accumulation_steps": 1}, "gradient_accumulation_steps"),
    ({"loss_scale_factor": 0.0}, "loss_scale_factor"),
    ({"clipnorm": 1.0, "global_clipnorm": 1.0}, "only one of"),
])
def test_bad_common_arguments_are_named(kwargs, match):
    with pytest.raises(RnnkitValueError, match=match):
        optimizers.Adam(**kwargs)


def test_bad_arguments_of_the_new_optimizers_are_named():
    with pytest.raises(RnnkitTypeError, match="unexpected arguments.*'betas'"):
        optimizers.Adam(betas=(0.9, 0.99))
    with pytest.raises(RnnkitValueError, match="weight_decay"):
        optimizers.AdamW(weight_decay=None)
    with pytest.raises(RnnkitValueError, match="beta_1"):
        optimizers.Lion(beta_1=0.0)
    with pytest.raises(RnnkitValueError, match="learning_rate_power"):
        optimizers.Ftrl(learning_rate_power=0.5)
    with pytest.raises(RnnkitValueError, match="l1_regularization_strength"):
        optimizers.Ftrl(l1_regularization_strength=-1.0)
    with pytest.raises(RnnkitValueError, match="decay_steps"):
        schedules.ExponentialDecay(0.1, 0, 0.5)
    with pytest.raises(RnnkitValueError, match="one more entry"):
        schedules.PiecewiseConstantDecay([1, 2], [0.1])
    with pytest.raises(RnnkitValueError, match="class_name must be one of"):
        schedules.deserialize({"class_name": "Nope", "config": {}})
    opt = optimizers.Adam(weight_decay=0.1)
    opt.build(_variables())
    with pytest.raises(RnnkitValueError, match="before the optimizer is built"):
        opt.exclude_from_weight_decay(var_names=["bias"])
    with pytest.raises(RnnkitValueError, match="listed twice"):
        optimizers.SGD().build(_variables()[:1] * 2)
    with pytest.raises(RnnkitTypeError, match="float32 or float64"):
        optimizers.SGD().build([Variable(np.zeros(3, np.int64), "ids")])
    with pytest.raises(RnnkitValueError, match="without variables"):
        optimizers.SGD().apply([np.zeros(3)])


def _fit(optimizer, epochs=2):
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((12, 4, 3)).astype(np.float32), rng.standard_normal((12, 2)).astype(np.float32)
    model = rnnkit.Sequential([LSTM(4, seed=0), Dense(2, seed=1)])
    model.compile(optimizer=optimizer, loss="mse")
    history = model.fit(x, y, epochs=epochs, batch_size=4, verbose=0, shuffle=False)
    return model, history


def test_fit_ends_on_the_moving_average_with_use_ema():
    model, _ = _fit(optimizers.Adam(0.05, use_ema=True, ema_momentum=0.5))
    opt = model.optimizer
    for v in model.trainable_variables:
        np.testing.assert_array_equal(v.value, opt.get_slot(v, "average"))
    plain, _ = _fit(optimizers.Adam(0.05))
    assert max(rel_error(a, b) for a, b in zip(model.get_weights(), plain.get_weights())) > 1e-4


def test_fit_with_loss_scale_factor_trains_as_without():
    scaled, scaled_history = _fit(optimizers.SGD(0.1, loss_scale_factor=1024.0))
    plain, plain_history = _fit(optimizers.SGD(0.1))
    for a, b in zip(scaled.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(scaled_history.history["grad_norm"], plain_history.history["grad_norm"], rtol=1e-6)
    np.testing.assert_allclose(scaled_history.history["loss"], plain_history.history["loss"], rtol=1e-6)


def test_functional_model_with_a_shared_layer_sees_the_updated_weights():
    def build(seed):
        a, b = rnnkit.Input(shape=(5, 3)), rnnkit.Input(shape=(5, 3))
        shared = LSTM(4, seed=seed)
        merged = rnnkit.layers.Concatenate()([shared(a), shared(b)])
        return rnnkit.Model([a, b], Dense(2, seed=seed + 1)(merged))

    rng = np.random.default_rng(1)
    xa, xb = (rng.standard_normal((8, 5, 3)).astype(np.float32) for _ in range(2))
    y = rng.standard_normal((8, 2)).astype(np.float32)
    model = build(0)
    model.compile(optimizer=optimizers.Nadam(0.05, weight_decay=0.01), loss="mse")
    model.fit([xa, xb], y, epochs=3, batch_size=4, verbose=0)
    group = model.optimizer.flat_groups[0]
    assert all(v.value.base is group.params for v in model.trainable_variables)
    fresh = build(10)
    fresh.set_weights(model.get_weights())
    np.testing.assert_array_equal(model.predict([xa, xb], verbose=0), fresh.predict([xa, xb], verbose=0))
