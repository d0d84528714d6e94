"""Optimizers and schedules against Keras 3 itself (torch backend): the same gradient sequence fed to
both gives the same weights; the schedules give the same values; EMA, weight decay, gradient
accumulation and loss scaling follow Keras's semantics."""
import os

import numpy as np
import pytest

from helpers import rel_error
from rnnkit import optimizers
from rnnkit.optimizers import schedules
from rnnkit.variables import Variable

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
# Keras's torch backend converts with np.array(tensor), which NumPy 2 warns about.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# A small model's weights: kernel, bias, recurrent-like kernel, a 3-d array.
SHAPES = {"dense/kernel": (6, 5), "dense/bias": (5,), "lstm/recurrent_kernel": (5, 8), "conv/kernel": (2, 3, 4)}
EPOCHS, BATCHES = 15, 4  # 60 updates: "15 epochs of fit-like updates"


def _initial(seed=0):
    rng = np.random.default_rng(seed)
    return {name: (rng.standard_normal(shape) * 0.5).astype(np.float32) for name, shape in SHAPES.items()}


def _gradients(seed=1, steps=EPOCHS * BATCHES):
    """Gradients with a slowly shrinking scale and a few large spikes, as a training run's."""
    rng = np.random.default_rng(seed)
    out = []
    for t in range(steps):
        scale = 1.0 / (1 + 0.05 * t) * (8.0 if t % 17 == 5 else 1.0)
        out.append([(rng.standard_normal(shape) * scale).astype(np.float32) for shape in SHAPES.values()])
    return out


def _run_rnnkit(optimizer, grads, finalize=False):
    variables = [Variable(value, name) for name, value in _initial().items()]
    for step in grads:
        optimizer.apply_gradients(zip(step, variables))
    if finalize:
        optimizer.finalize_variable_values(variables)
    return [v.numpy() for v in variables]


def _run_keras(optimizer, grads, finalize=False):
    # Keras 3 names a variable by its last path part ("kernel"), which weight-decay exclusion searches.
    variables = [keras.Variable(value, name=name.split("/")[-1]) for name, value in _initial().items()]
    for step in grads:
        optimizer.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in step], variables))
    if finalize:
        optimizer.finalize_variable_values(variables)
    return [keras.ops.convert_to_numpy(v.value) for v in variables]


def _errors(ours, theirs):
    start = list(_initial().values())
    weights = max(rel_error(a, b) for a, b in zip(ours, theirs))
    moved = max(rel_error(a - s, b - s) for a, b, s in zip(ours, theirs, start))
    return weights, moved


CASES = {
    # name: (class name in both rnnkit.optimizers and keras.optimizers, arguments for both)
    "sgd": ("SGD", {"learning_rate": 0.05}),
    "sgd_nesterov": ("SGD", {"learning_rate": 0.02, "momentum": 0.9, "nesterov": True}),
    "adam": ("Adam", {"learning_rate": 0.01}),
    "adam_amsgrad": ("Adam", {"learning_rate": 0.01, "amsgrad": True, "beta_2": 0.99}),
    "adamw": ("AdamW", {"learning_rate": 0.01}),
    "adamw_strong_decay": ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.5, "beta_1": 0.8}),
    "nadam": ("Nadam", {"learning_rate": 0.01}),
    "nadam_betas": ("Nadam", {"learning_rate": 0.005, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 1e-5}),
    "adamax": ("Adamax", {"learning_rate": 0.01}),
    "adamax_betas": ("Adamax", {"learning_rate": 0.02, "beta_1": 0.7, "beta_2": 0.9}),
    "adadelta": ("Adadelta", {"learning_rate": 1.0}),
    "adadelta_rho": ("Adadelta", {"learning_rate": 0.5, "rho": 0.8, "epsilon": 1e-5}),
    "ftrl": ("Ftrl", {"learning_rate": 0.05}),
    "ftrl_regularized": ("Ftrl", {"learning_rate": 0.05, "learning_rate_power": -0.3,
                                  "l1_regularization_strength": 0.01, "l2_regularization_strength": 0.02,
                                  "l2_shrinkage_regularization_strength": 0.03, "beta": 0.1,
                                  "initial_accumulator_value": 0.2}),
    "lion": ("Lion", {"learning_rate": 0.001}),
    "lion_betas": ("Lion", {"learning_rate": 0.003, "beta_1": 0.95, "beta_2": 0.98}),
    "rmsprop_centered_momentum": ("RMSprop", {"learning_rate": 0.005, "momentum": 0.5, "centered": True}),
    "adagrad": ("Adagrad", {"learning_rate": 0.05}),
    # Keras 3's common arguments, on several algorithms.
    "adam_weight_decay": ("Adam", {"learning_rate": 0.01, "weight_decay": 0.1}),
    "nadam_clipnorm": ("Nadam", {"learning_rate": 0.01, "clipnorm": 1.0}),
    "adamax_clipvalue": ("Adamax", {"learning_rate": 0.01, "clipvalue": 0.5}),
    "lion_global_clipnorm": ("Lion", {"learning_rate": 0.001, "global_clipnorm": 2.0, "weight_decay": 0.05}),
    "adadelta_ema": ("Adadelta", {"learning_rate": 1.0, "use_ema": True, "ema_momentum": 0.9,
                                  "ema_overwrite_frequency": 7}),
    "adamw_accumulation": ("AdamW", {"learning_rate": 0.01, "gradient_accumulation_steps": 3,
                                     "global_clipnorm": 1.5}),
    "ftrl_loss_scale": ("Ftrl", {"learning_rate": 0.05, "loss_scale_factor": 128.0}),
    "sgd_accumulation_ema": ("SGD", {"learning_rate": 0.05, "momentum": 0.5, "gradient_accumulation_steps": 2,
                                     "use_ema": True, "ema_momentum": 0.8, "ema_overwrite_frequency": 5}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_trajectory_matches_keras(case):
    cls, kwargs = CASES[case]
    grads = _gradients()
    ours = _run_rnnkit(getattr(optimizers, cls)(**kwargs), grads)
    theirs = _run_keras(getattr(keras.optimizers, cls)(**kwargs), grads)
    weights, moved = _errors(ours, theirs)
    # float32 on both sides: the two differ by rounding only (about 1e-6 here); the bar is 2e-3.
    assert weights < 2e-3 and moved < 2e-3, (weights, moved)


SCHEDULES = {
    "exponential": ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 7, "decay_rate": 0.8}),
    "exponential_staircase": ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 7,
                                                   "decay_rate": 0.5, "staircase": True}),
    "inverse_time": ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 5, "decay_rate": 0.5}),
    "inverse_time_staircase": ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 5,
                                                    "decay_rate": 0.5, "staircase": True}),
    "piecewise": ("PiecewiseConstantDecay", {"boundaries": [10, 25, 40], "values": [0.1, 0.05, 0.01, 0.001]}),
    "polynomial": ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 30, "power": 2.0}),
    "polynomial_cycle": ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 12,
                                             "end_learning_rate": 0.01, "power": 0.5, "cycle": True}),
    "cosine": ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 40, "alpha": 0.1}),
    "cosine_warmup": ("CosineDecay", {"initial_learning_rate": 0.0, "decay_steps": 30, "alpha": 0.05,
                                      "warmup_target": 0.2, "warmup_steps": 10}),
    "cosine_restarts": ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 6,
                                                "t_mul": 2.0, "m_mul": 0.7, "alpha": 0.1}),
    "cosine_restarts_fixed_period": ("CosineDecayRestarts", {"initial_learning_rate": 0.1,
                                                             "first_decay_steps": 6, "t_mul": 1.0}),
}


@pytest.mark.parametrize("case", sorted(SCHEDULES))
def test_schedule_values_match_keras(case):
    cls, kwargs = SCHEDULES[case]
    ours = getattr(schedules, cls)(**kwargs)
    theirs = getattr(keras.optimizers.schedules, cls)(**kwargs)
    steps = range(0, 75)
    ours_values = np.array([ours(step) for step in steps])
    theirs_values = np.array([float(keras.ops.convert_to_numpy(theirs(step))) for step in steps])
    # Keras computes in float32: 1 + cos(x) near x = pi loses a few digits there.
    np.testing.assert_allclose(ours_values, theirs_values, rtol=1e-5, atol=1e-9)
    # get_config holds the same keys and values as Keras's; from_config rebuilds it.
    assert ours.get_config() == theirs.get_config()
    again = schedules.deserialize(schedules.serialize(ours))
    assert type(again) is type(ours) and again.get_config() == ours.get_config()


def test_schedule_as_learning_rate_matches_keras():
    grads = _gradients()
    kwargs = {"initial_learning_rate": 0.05, "decay_steps": 20, "warmup_target": 0.1, "warmup_steps": 10}
    ours = _run_rnnkit(optimizers.Nadam(learning_rate=schedules.CosineDecay(**kwargs)), grads)
    theirs = _run_keras(keras.optimizers.Nadam(learning_rate=keras.optimizers.schedules.CosineDecay(**kwargs)), grads)
    assert max(_errors(ours, theirs)) < 2e-3


@pytest.mark.parametrize("frequency", [None, 4])
def test_ema_and_finalize_match_keras(frequency):
    grads = _gradients(steps=10)
    kwargs = {"learning_rate": 0.05, "use_ema": True, "ema_momentum": 0.7, "ema_overwrite_frequency": frequency}
    ours = _run_rnnkit(optimizers.Adam(**kwargs), grads, finalize=True)
    theirs = _run_keras(keras.optimizers.Adam(**kwargs), grads, finalize=True)
    assert max(_errors(ours, theirs)) < 1e-5
    # finalize_variable_values really changed the weights: they are the average, not the last values.
    last = _run_rnnkit(optimizers.Adam(**kwargs), grads)
    assert max(rel_error(a, b) for a, b in zip(ours, last)) > 1e-3


def test_weight_decay_exclusions_match_keras():
    grads = _gradients(steps=12)
    ours_opt = optimizers.AdamW(learning_rate=0.02, weight_decay=0.3)
    ours_opt.exclude_from_weight_decay(var_names=["bias", "recurrent"])
    theirs_opt = keras.optimizers.AdamW(learning_rate=0.02, weight_decay=0.3)
    theirs_opt.exclude_from_weight_decay(var_names=["bias", "recurrent"])
    ours, theirs = _run_rnnkit(ours_opt, grads), _run_keras(theirs_opt, grads)
    assert max(_errors(ours, theirs)) < 1e-5
    # The exclusion matters: without it the bias ends elsewhere.
    plain = _run_rnnkit(optimizers.AdamW(learning_rate=0.02, weight_decay=0.3), grads)
    assert rel_error(plain[1] - _initial()["dense/bias"], ours[1] - _initial()["dense/bias"]) > 1e-2


def test_optimizer_configs_match_keras():
    for name in ("sgd", "adam", "adamw", "nadam", "adamax", "adadelta", "ftrl", "lion", "rmsprop", "adagrad"):
        ours = optimizers.get(name).get_config()
        theirs = keras.optimizers.get(name).get_config()
        ours.pop("name"), theirs.pop("name")
        assert set(ours) == set(theirs), name
        for key, value in theirs.items():
            assert ours[key] == pytest.approx(value, rel=1e-7) if isinstance(value, float) else ours[key] == value, \
                (name, key)


def test_slot_order_and_names_match_keras():
    variables = [Variable(value, name) for name, value in _initial().items()]
    ours = optimizers.Nadam(use_ema=True, gradient_accumulation_steps=2, name="nadam")
    ours.build(variables)
    theirs = keras.optimizers.Nadam(use_ema=True, gradient_accumulation_steps=2, name="nadam")
    theirs.build([keras.Variable(value, name=name.replace("/", "_")) for name, value in _initial().items()])
    assert [v.name for v in ours.variables][:-1] == [v.path for v in theirs.variables][:-1]
    assert [v.shape for v in ours.variables] == [tuple(v.shape) for v in theirs.variables]
