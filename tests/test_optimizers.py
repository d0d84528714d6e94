import io

import numpy as np
import pytest

from helpers import rel_error
from rnnkit import optimizers
from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.variables import Variable

torch = pytest.importorskip("torch")

SHAPES = [(3, 4), (4,), (2, 3, 2)]


def _variables(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [Variable(rng.standard_normal(s).astype(dtype), f"layer/w{i}") for i, s in enumerate(SHAPES)]


def _grad_sequence(steps, seed=1, scale=1.0):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s) * scale for s in SHAPES] for _ in range(steps)]


def _run_rnnkit(opt, grads):
    """The total displacement of every variable (compared instead of the weights, so that
    relative errors measure the updates themselves)."""
    variables = _variables()
    for step in grads:
        opt.apply_gradients(zip(step, variables))
    return [v.value - w.value for v, w in zip(variables, _variables())]


def _run_torch(make, grads):
    params = [torch.tensor(v.value, requires_grad=True) for v in _variables()]
    opt = make(params)
    for step in grads:
        for p, g in zip(params, step):
            p.grad = torch.tensor(g)
        opt.step()
    return [p.detach().numpy() - w.value for p, w in zip(params, _variables())]


def _max_error(a, b):
    return max(rel_error(x, y) for x, y in zip(a, b))


TORCH_CASES = {
    "sgd": (lambda: optimizers.SGD(0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    "sgd_momentum": (lambda: optimizers.SGD(0.05, momentum=0.9),
                     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    "sgd_nesterov": (lambda: optimizers.SGD(0.05, momentum=0.8, nesterov=True),
                     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True)),
    # Keras adds epsilon to sqrt(v), PyTorch to sqrt(v / (1 - beta_2^t)): equal when epsilon = 0.
    "adam": (lambda: optimizers.Adam(0.01, epsilon=0.0),
             lambda p: torch.optim.Adam(p, lr=0.01, eps=0.0)),
    "adam_amsgrad": (lambda: optimizers.Adam(0.01, beta_1=0.8, beta_2=0.99, epsilon=0.0, amsgrad=True),
                     lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=0.0, amsgrad=True)),
    # Keras puts epsilon inside sqrt(acc + eps), PyTorch outside: equal when epsilon = 0.
    "adagrad": (lambda: optimizers.Adagrad(0.1, initial_accumulator_value=0.1, epsilon=0.0),
                lambda p: torch.optim.Adagrad(p, lr=0.1, initial_accumulator_value=0.1, eps=0.0)),
    "rmsprop": (lambda: optimizers.RMSprop(0.01, rho=0.9, epsilon=0.0),
                lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=0.0)),
    "rmsprop_momentum_centered": (
        lambda: optimizers.RMSprop(0.01, rho=0.8, momentum=0.7, epsilon=0.0, centered=True),
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.8, momentum=0.7, eps=0.0, centered=True)),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_several_steps_match_torch(case):
    ours, theirs = TORCH_CASES[case]
    grads = _grad_sequence(6)
    assert _max_error(_run_rnnkit(ours(), grads), _run_torch(theirs, grads)) < 1e-13


def _keras_reference(kind, grads, lr, **kw):
    """Keras 3's update rules written out plainly in float64, one variable at a time."""
    out = []
    for i, w in enumerate(v.numpy() for v in _variables()):
        m = np.zeros_like(w)
        v = np.zeros_like(w)
        acc = np.full_like(w, kw.get("initial_accumulator_value", 0.1))
        for t, step in enumerate(grads, start=1):
            g = step[i]
            if kind == "adam":
                b1, b2, eps = 0.9, 0.999, 1e-7
                m = b1 * m + (1 - b1) * g
                v = b2 * v + (1 - b2) * g * g
                w = w - lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps)
            elif kind == "rmsprop":
                v = 0.9 * v + 0.1 * g * g
                w = w - lr * g / np.sqrt(v + 1e-7)
            elif kind == "adagrad":
                acc = acc + g * g
                w = w - lr * g / np.sqrt(acc + 1e-7)
        out.append(w)
    return [w - v.value for w, v in zip(out, _variables())]


@pytest.mark.parametrize("kind, cls", [("adam", optimizers.Adam), ("rmsprop", optimizers.RMSprop),
                                       ("adagrad", optimizers.Adagrad)])
def test_default_epsilon_matches_keras_formula(kind, cls):
    # Tiny gradients make epsilon matter, so its placement is really tested.
    grads = _grad_sequence(5, scale=1e-4)
    ours = _run_rnnkit(cls(0.01), grads)
    assert _max_error(ours, _keras_reference(kind, grads, 0.01)) < 1e-12


def test_keras_worked_numbers():
    # Keras's RMSprop docstring: var = 10, loss = var^2 / 2, lr = 0.1, one step -> 9.683772.
    var = Variable(np.array(10.0), "var1")
    optimizers.RMSprop(learning_rate=0.1).apply_gradients([(np.array(10.0), var)])
    assert float(var.value) == pytest.approx(9.683772, abs=1e-6)
    # Adam's first step moves each weight by about lr * sign(g), whatever the size of g.
    var = Variable(np.array([1.0, 1.0, 1.0]), "w")
    optimizers.Adam(learning_rate=0.01).apply_gradients([(np.array([3.0, -0.5, 200.0]), var)])
    assert np.allclose(var.value, [0.99, 1.01, 0.99], atol=1e-8)
    # Adagrad starts its accumulator at 0.1: w = 1 - 0.1 * 1 / sqrt(1.1 + 1e-7).
    var = Variable(np.array([1.0]), "w")
    optimizers.Adagrad(learning_rate=0.1).apply_gradients([(np.array([1.0]), var)])
    assert var.value[0] == pytest.approx(1 - 0.1 / np.sqrt(1.1 + 1e-7), abs=1e-15)


def test_defaults_and_configs():
    assert optimizers.SGD().get_config() == {
        "name": "SGD", "learning_rate": 0.01, "weight_decay": None, "clipnorm": None, "global_clipnorm": None,
        "clipvalue": None, "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
        "loss_scale_factor": None, "gradient_accumulation_steps": None, "momentum": 0.0, "nesterov": False}
    adam = optimizers.get("adam").get_config()
    assert (adam["learning_rate"], adam["beta_1"], adam["beta_2"], adam["epsilon"], adam["amsgrad"]) == \
        (0.001, 0.9, 0.999, 1e-7, False)
    rms = optimizers.get("rmsprop").get_config()
    assert (rms["learning_rate"], rms["rho"], rms["momentum"], rms["epsilon"], rms["centered"]) == \
        (0.001, 0.9, 0.0, 1e-7, False)
    ada = optimizers.get("adagrad").get_config()
    assert (ada["learning_rate"], ada["initial_accumulator_value"], ada["epsilon"]) == (0.001, 0.1, 1e-7)
    opt = optimizers.Adam(0.02, beta_1=0.8, amsgrad=True, clipnorm=1.5)
    again = optimizers.get(optimizers.serialize(opt))
    assert type(again) is optimizers.Adam and again.get_config() == opt.get_config()
    assert optimizers.get(opt) is opt
    with pytest.raises(RnnkitValueError, match=r"'adagrad'.*'sgd'"):
        optimizers.get("adamx")
    with pytest.raises(RnnkitValueError, match="only one of"):
        optimizers.SGD(clipnorm=1.0, clipvalue=0.5)
    with pytest.raises(RnnkitValueError, match="momentum"):
        optimizers.SGD(momentum=1.5)
    with pytest.raises(RnnkitValueError, match="learning_rate"):
        optimizers.Adam(learning_rate=-1.0)


def test_clipvalue_counts_and_clips_elementwise():
    var = [Variable(np.zeros(3), "a"), Variable(np.zeros(2), "b")]
    opt = optimizers.SGD(1.0, clipvalue=0.5)
    opt.apply_gradients(zip([np.array([0.2, -2.0, 0.7]), np.array([0.1, 0.3])], var))
    assert np.allclose(var[0].value, [-0.2, 0.5, -0.5]) and np.allclose(var[1].value, [-0.1, -0.3])
    assert (opt.last_clip_count, opt.clip_events) == (1, 1)
    assert opt.last_grad_norm == pytest.approx(np.sqrt(0.04 + 4 + 0.49 + 0.01 + 0.09))
    opt.apply_gradients(zip([np.array([0.1, 0.1, 0.1]), np.array([0.1, 0.1])], var))
    assert (opt.last_clip_count, opt.clip_events) == (0, 1)


def test_clipnorm_is_per_variable():
    var = [Variable(np.zeros(2), "a"), Variable(np.zeros(2), "b")]
    opt = optimizers.SGD(1.0, clipnorm=1.0)
    opt.apply_gradients(zip([np.array([3.0, 4.0]), np.array([0.3, 0.4])], var))
    assert np.allclose(var[0].value, [-0.6, -0.8], atol=1e-15)  # norm 5 -> 1
    assert np.allclose(var[1].value, [-0.3, -0.4], atol=1e-15)  # norm 0.5 untouched
    assert (opt.last_clip_count, opt.clip_events) == (1, 1)
    assert opt.last_grad_norm == pytest.approx(np.sqrt(25.25))


def test_global_clipnorm_scales_all_gradients_together():
    grads = _grad_sequence(1, scale=3.0)[0]
    norm = np.sqrt(sum(np.sum(g * g) for g in grads))
    variables = _variables()
    before = [v.numpy() for v in variables]
    opt = optimizers.SGD(1.0, global_clipnorm=2.0)
    opt.apply_gradients(zip(grads, variables))
    for v, b, g in zip(variables, before, grads):
        assert rel_error(b - v.value, g * 2.0 / norm) < 1e-14
    assert opt.last_grad_norm == pytest.approx(norm, rel=1e-14)
    assert (opt.last_clip_count, opt.clip_events) == (3, 1)
    # The same result as PyTorch's clip_grad_norm_ (which adds 1e-6 to the norm) up to that 1e-6.
    params = [torch.tensor(g) for g in grads]
    for p in params:
        p.grad = p.clone()
    torch.nn.utils.clip_grad_norm_(params, 2.0)
    assert _max_error([b - v.value for v, b in zip(variables, before)], [p.grad.numpy() for p in params]) < 1e-5


def _state_roundtrip(make, through_file):
    grads = _grad_sequence(8)
    variables = _variables()
    opt = make()
    for step in grads[:4]:
        opt.apply_gradients(zip(step, variables))
    state, saved_weights = opt.get_state(), [v.numpy() for v in variables]
    for step in grads[4:]:
        opt.apply_gradients(zip(step, variables))
    if through_file:  # plain arrays and numbers: an .npz file without pickle holds them
        buffer = io.BytesIO()
        np.savez(buffer, **state)
        buffer.seek(0)
        with np.load(buffer, allow_pickle=False) as data:
            state = {k: data[k] for k in data.files}
    resumed_vars = [Variable(w.copy(), v.name) for w, v in zip(saved_weights, variables)]
    resumed = make()
    resumed.set_state(state)  # before build: applied to the variables of the first step
    for step in grads[4:]:
        resumed.apply_gradients(zip(step, resumed_vars))
    return variables, resumed_vars, opt, resumed


@pytest.mark.parametrize("make", [
    lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True, clipvalue=0.8),
    lambda: optimizers.Adam(0.01, amsgrad=True, global_clipnorm=2.0),
    lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True, clipnorm=1.0),
    lambda: optimizers.Adagrad(0.1),
    lambda: optimizers.Adam(lambda step: 0.01 / (1 + step)),
    lambda: optimizers.Nadam(0.01, use_ema=True, ema_overwrite_frequency=3, clipnorm=1.0),
    lambda: optimizers.AdamW(optimizers.schedules.ExponentialDecay(0.01, 3, 0.9), gradient_accumulation_steps=3),
    lambda: optimizers.Ftrl(0.1, l1_regularization_strength=0.01, loss_scale_factor=8.0),
    lambda: optimizers.Lion(0.001, global_clipnorm=1.0, weight_decay=0.1),
    lambda: optimizers.Adadelta(1.0, clipvalue=0.5),
    lambda: optimizers.Adamax(0.01, use_ema=True),
])
@pytest.mark.parametrize("through_file", [False, True])
def test_get_state_set_state_resumes_bit_identically(make, through_file):
    original, resumed, opt, again = _state_roundtrip(make, through_file)
    for a, b in zip(original, resumed):
        assert np.array_equal(a.value, b.value)
    assert again.iterations == opt.iterations and again.get_state()["iterations"] == 8  # calls, accumulated or not
    assert again.clip_events == opt.clip_events


def test_set_state_after_build_and_mismatch_errors():
    variables = _variables()
    opt = optimizers.Adam(0.01)
    opt.apply_gradients(zip(_grad_sequence(1)[0], variables))
    state = opt.get_state()
    other = optimizers.Adam(0.01)
    other.build(variables)
    other.set_state(state)
    assert np.array_equal(other.get_slot(variables[0], "velocity"), opt.get_slot(variables[0], "velocity"))
    # Slots follow variable positions, not names: a model rebuilt under other layer names resumes.
    renamed = [Variable(v.numpy(), "other/" + v.name) for v in variables]
    stranger = optimizers.Adam(0.01)
    stranger.build(renamed)
    stranger.set_state(state)
    assert np.array_equal(stranger.get_slot(renamed[0], "velocity"), opt.get_slot(variables[0], "velocity"))
    fewer = optimizers.Adam(0.01)
    fewer.build(variables[:2])
    with pytest.raises(RnnkitValueError, match="unexpected"):
        fewer.set_state(state)
    sgd = optimizers.SGD(momentum=0.9)
    sgd.build(variables)
    with pytest.raises(RnnkitValueError, match="unexpected"):
        sgd.set_state(state)


def test_non_finite_gradient_raises_before_touching_anything():
    variables = _variables()
    opt = optimizers.Adam(0.01)
    opt.apply_gradients(zip(_grad_sequence(1)[0], variables))
    weights = [v.numpy() for v in variables]
    slots = [opt.get_slot(v, "momentum").copy() for v in variables]
    bad = _grad_sequence(1, seed=5)[0]
    bad[2][0, 1, 0] = np.nan
    bad[1][3] = np.inf
    with pytest.raises(optimizers.NonFiniteGradientError, match=r"layer/w1 \(0 NaN, 1 Inf.*layer/w2 \(1 NaN"):
        opt.apply_gradients(zip(bad, variables))
    assert all(np.array_equal(v.value, w) for v, w in zip(variables, weights))
    assert all(np.array_equal(opt.get_slot(v, "momentum"), s) for v, s in zip(variables, slots))
    assert opt.iterations == 1 and isinstance(optimizers.NonFiniteGradientError("x"), RnnkitValueError)


def test_learning_rate_schedule_and_setter():
    seen = []

    def schedule(step):
        seen.append(step)
        return 0.1 / (1 + step)

    var = Variable(np.array([0.0]), "w")
    opt = optimizers.SGD(schedule)
    for _ in range(3):
        opt.apply_gradients([(np.array([1.0]), var)])
    assert seen == [0, 1, 2] and var.value[0] == pytest.approx(-(0.1 + 0.05 + 0.1 / 3))
    assert opt.learning_rate == pytest.approx(0.025)
    with pytest.raises(RnnkitTypeError, match="schedule"):
        opt.learning_rate = 0.5
    fixed = optimizers.SGD(0.1)
    fixed.learning_rate = 0.01  # what ReduceLROnPlateau does
    fixed.apply_gradients([(np.array([1.0]), var)])
    assert fixed.learning_rate == 0.01 and fixed.get_config()["learning_rate"] == 0.01
    assert optimizers.SGD(lambda: 0.5).learning_rate == 0.5  # Keras's no-argument callable


def test_float32_variables_stay_float32_and_unknown_variables_are_refused():
    variables = _variables(dtype=np.float32)
    opt = optimizers.RMSprop(0.01, momentum=0.9)
    opt.apply_gradients(zip(_grad_sequence(1)[0], variables))
    assert all(v.value.dtype == np.float32 for v in variables)
    assert opt.get_slot(variables[0], "momentum").dtype == np.float32
    with pytest.raises(RnnkitValueError, match="unknown variable 'new'"):
        opt.apply_gradients([(np.zeros(2), Variable(np.zeros(2, np.float32), "new"))])
    with pytest.raises(RnnkitValueError, match=r"layer/w0 must have shape \(3, 4\)"):
        opt.apply_gradients([(np.zeros((4, 3)), variables[0])])
    # None gradients are skipped, as in Keras.
    before = variables[1].numpy()
    opt.apply_gradients([(np.ones((3, 4)), variables[0]), (None, variables[1])])
    assert np.array_equal(variables[1].value, before) and opt.iterations == 2


def test_set_state_before_build_restores_counters_at_once_and_checks_slots_at_build():
    variables = _variables()
    opt = optimizers.SGD(0.1, momentum=0.9)
    for step in _grad_sequence(3):
        opt.apply_gradients(zip(step, variables))
    fresh = optimizers.SGD(0.1, momentum=0.9)
    fresh.set_state(opt.get_state())
    assert fresh.iterations == 3 and not fresh.built
    wrong = [Variable(np.zeros(s[::-1]), f"other{i}") for i, s in enumerate(SHAPES)]
    with pytest.raises(RnnkitValueError, match="must have shape"):
        fresh.apply_gradients(zip([np.ones(s[::-1]) for s in SHAPES], wrong))
    assert all(not v.value.any() for v in wrong)


def test_integer_gradients_are_cast_to_the_variable_dtype():
    var = Variable(np.zeros(2, np.float32), "w")
    opt = optimizers.SGD(0.5, clipnorm=1.0)
    opt.apply_gradients([(np.array([3, 4]), var)])
    assert var.value.dtype == np.float32 and np.allclose(var.value, [-0.3, -0.4])
