"""Sweep configs as W&B users write them: parsing, clear errors, and every distribution's support."""

from __future__ import annotations

import math
import statistics
import warnings

import pytest

from nbtrack import NbtrackError
from nbtrack.errors import NbtrackWarning
from nbtrack.sweeps.config import DISTRIBUTIONS, load_config, parse_config
from nbtrack.sweeps.space import SearchSpace, beta_ppf
from nbtrack.sweeps.study import new_study


def config(parameters, method="random", **extra):
    return {"method": method, "metric": {"name": "loss", "goal": "minimize"}, "parameters": parameters,
            **extra}


def sample(parameter, n=400, seed=0):
    """``n`` config values of one parameter, drawn through Optuna's random sampler."""
    spec = parse_config(config({"p": parameter}))
    space = SearchSpace(spec)
    study = new_study(spec, seed)
    out = []
    for _ in range(n):
        trial = study.ask(space.distributions())
        out.append(space.config(trial.params)["p"])
        study.tell(trial, 0.0)
    return out


def is_multiple(value, q):
    k = value / q
    return abs(k - round(k)) < 1e-9


# -- every distribution within its declared support --------------------------------
def test_every_wandb_distribution_is_covered():
    assert set(DISTRIBUTIONS) == {
        "constant", "categorical", "categorical_w_probabilities", "int_uniform", "uniform", "q_uniform",
        "log_uniform", "log_uniform_values", "q_log_uniform", "q_log_uniform_values", "inv_log_uniform",
        "inv_log_uniform_values", "normal", "q_normal", "log_normal", "q_log_normal", "beta", "q_beta"}


def test_constant_and_categorical():
    assert set(map(str, sample({"value": {"a": [1, 2]}}, 5))) == {"{'a': [1, 2]}"}
    values = sample({"values": ["adam", "sgd", 3, None]})
    assert set(map(repr, values)) == {"'adam'", "'sgd'", "3", "None"}
    nested = sample({"values": [[16, 16], [32], [16, 16]]})
    assert {tuple(v) for v in nested} == {(16, 16), (32,)}
    assert all(isinstance(v, list) for v in nested)


def test_categorical_with_probabilities():
    values = sample({"values": ["a", "b", "c"], "probabilities": [0.7, 0.3, 0.0]}, 600)
    assert set(values) == {"a", "b"}
    assert 0.6 < values.count("a") / len(values) < 0.8


def test_int_uniform():
    values = sample({"min": -2, "max": 3})
    assert set(values) == {-2, -1, 0, 1, 2, 3}
    assert all(type(v) is int for v in values)
    assert sample({"distribution": "int_uniform", "min": 5, "max": 5}, 3) == [5, 5, 5]


def test_uniform():
    values = sample({"min": 0.5, "max": 2})
    assert all(0.5 <= v <= 2 and isinstance(v, float) for v in values)
    assert max(values) - min(values) > 1.3


def test_q_uniform():
    values = sample({"distribution": "q_uniform", "min": 0.25, "max": 1.05, "q": 0.1})
    assert set(values) == {0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0}  # exact decimals, in range
    ints = sample({"distribution": "q_uniform", "min": 1, "max": 64, "q": 8})
    assert set(ints) == {8, 16, 24, 32, 40, 48, 56, 64} and all(type(v) is int for v in ints)


@pytest.mark.parametrize("parameter, low, high", [
    ({"distribution": "log_uniform", "min": math.log(1e-4), "max": math.log(1e-1)}, 1e-4, 1e-1),
    ({"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1}, 1e-4, 1e-1),
    ({"distribution": "inv_log_uniform", "min": math.log(10), "max": math.log(1e4)}, 1e-4, 1e-1),
    ({"distribution": "inv_log_uniform_values", "min": 1e-4, "max": 1e-1}, 1e-4, 1e-1),
])
def test_log_uniform_family_is_log_uniform_within_bounds(parameter, low, high):
    values = sample(parameter)
    assert all(low * (1 - 1e-9) <= v <= high * (1 + 1e-9) for v in values)
    logs = [math.log10(v) for v in values]
    # log-uniform: a quarter of the draws in each quarter of the log range
    below = sum(lg < math.log10(low) + 0.75 for lg in logs) / len(logs)
    assert 0.17 < below < 0.33


@pytest.mark.parametrize("parameter, low, high, q", [
    ({"distribution": "q_log_uniform", "min": math.log(0.001), "max": math.log(1), "q": 0.01}, 0.01, 1, 0.01),
    ({"distribution": "q_log_uniform_values", "min": 1, "max": 1024, "q": 1}, 1, 1024, 1),
    ({"distribution": "q_log_uniform_values", "min": 3, "max": 300, "q": 4}, 4, 300, 4),
])
def test_q_log_uniform_stays_on_multiples_inside_the_range(parameter, low, high, q):
    values = sample(parameter)
    assert all(low <= v <= high and is_multiple(v, q) and v > 0 for v in values)
    if isinstance(q, int):
        assert all(type(v) is int for v in values)


def test_normal_family():
    normal = sample({"distribution": "normal", "mu": 5, "sigma": 2}, 800)
    assert all(math.isfinite(v) for v in normal)
    assert abs(statistics.mean(normal) - 5) < 0.3 and abs(statistics.stdev(normal) - 2) < 0.3
    q_normal = sample({"distribution": "q_normal", "mu": 0, "sigma": 3, "q": 2})
    assert all(type(v) is int and v % 2 == 0 for v in q_normal)
    log_normal = sample({"distribution": "log_normal", "mu": 0, "sigma": 1}, 800)
    assert all(v > 0 for v in log_normal)
    assert abs(statistics.median(log_normal) - 1) < 0.2
    q_log_normal = sample({"distribution": "q_log_normal", "mu": 0, "sigma": 1, "q": 0.5})
    assert all(v >= 0.5 and is_multiple(v, 0.5) for v in q_log_normal)
    defaults = sample({"distribution": "normal"}, 400)
    assert abs(statistics.mean(defaults)) < 0.25


def test_beta_family():
    beta = sample({"distribution": "beta", "a": 2, "b": 5}, 600)
    assert all(0 <= v <= 1 for v in beta)
    assert abs(statistics.mean(beta) - 2 / 7) < 0.03
    q_beta = sample({"distribution": "q_beta", "a": 0.5, "b": 0.5, "q": 0.3})
    assert set(q_beta) <= {0.0, 0.3, 0.6, 0.9} and len(set(q_beta)) >= 3


def test_beta_ppf_matches_closed_forms():
    assert beta_ppf(0.3, 1, 1) == pytest.approx(0.3)
    assert beta_ppf(0.5, 3, 1) == pytest.approx(0.5 ** (1 / 3))  # Beta(a, 1): u ** (1/a)
    assert beta_ppf(0.1, 0.5, 0.5) == pytest.approx(math.sin(math.pi * 0.1 / 2) ** 2)  # arcsine law


# -- the parsed spec ------------------------------------------------------------------
def test_int_or_float_is_inferred_and_nested_parameters_nest():
    spec = parse_config(config({
        "epochs": {"min": 1, "max": 10}, "lr": {"min": 1, "max": 2.5},
        "optimizer": {"parameters": {"name": {"values": ["adam"]}, "momentum": {"value": 0.9}}},
    }))
    kinds = {p.name: p.distribution for p in spec.parameters}
    assert kinds == {"epochs": "int_uniform", "lr": "uniform", "optimizer.name": "categorical",
                     "optimizer.momentum": "constant"}
    space = SearchSpace(spec)
    assert space.config({"epochs": 3, "lr": 1.5, "optimizer.name": "adam"}) == {
        "epochs": 3, "lr": 1.5, "optimizer": {"name": "adam", "momentum": 0.9}}


def test_grid_enumerates_every_discrete_kind():
    spec = parse_config(config({
        "a": {"values": [1, 2]}, "b": {"min": 0, "max": 2},
        "c": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.5}, "d": {"value": "x"},
    }, method="grid"))
    space = SearchSpace(spec)
    points = [space.config(p) for p in space.grid()]
    assert len(points) == 2 * 3 * 3
    assert len({(p["a"], p["b"], p["c"]) for p in points}) == 18
    assert {p["d"] for p in points} == {"x"}


def test_hyperband_bands_follow_wandb():
    min_iter = parse_config(config({"x": {"min": 0.0, "max": 1.0}},
                                   early_terminate={"type": "hyperband", "min_iter": 3}))
    assert min_iter.early_terminate.bands(100) == [3, 9, 27, 81]
    max_iter = parse_config(config({"x": {"min": 0.0, "max": 1.0}},
                                   early_terminate={"type": "hyperband", "max_iter": 27, "s": 2, "eta": 3}))
    assert max_iter.early_terminate.bands(1000) == [3, 9]


def test_yaml_file_is_read_as_wandb_writes_it(tmp_path):
    pytest.importorskip("yaml")
    path = tmp_path / "sweep.yaml"
    path.write_text(
        "method: bayes\n"
        "metric:\n  name: val_loss\n  goal: minimize\n"
        "parameters:\n"
        "  lr:\n    distribution: log_uniform_values\n    min: 1e-5\n    max: 1e-1\n"
        "  batch_size:\n    values: [16, 32, 64]\n"
        "early_terminate:\n  type: hyperband\n  min_iter: 3\n"
        "program: train.py\n"
    )
    spec = parse_config(str(path))
    lr = next(p for p in spec.parameters if p.name == "lr")
    assert (lr.min, lr.max) == (1e-5, 1e-1)  # YAML 1.1 reads 1e-5 as text; W&B users write it so
    assert spec.metric.name == "val_loss" and spec.method == "bayes"
    assert load_config(path)["program"] == "train.py"


# -- clear errors naming the key ----------------------------------------------------
@pytest.mark.parametrize("bad, message", [
    ({"method": "random", "parameters": {"x": {"values": [1]}}, "metrc": {}}, r"'metrc': unknown key"),
    ({"method": "hill-climb", "parameters": {"x": {"values": [1]}}}, r"method: 'hill-climb' is not one of"),
    ({"method": "bayes", "parameters": {"x": {"min": 0.0, "max": 1.0}}}, r"metric: method 'bayes' needs"),
    (config({"x": {"min": 1.0, "max": 0.5}}), r"parameters\.x\.max: 0\.5 must be greater than min"),
    (config({"x": {"distribution": "int_uniform", "min": 0.5, "max": 4}}),
     r"parameters\.x\.min: an int_uniform bound must be a whole number"),
    (config({"x": {"distribution": "log_uniform_values", "min": 0, "max": 1}}),
     r"parameters\.x\.min: a log_uniform_values range must be positive"),
    (config({"x": {"distribution": "normal", "mu": 0, "sigma": -1}}), r"parameters\.x\.sigma: must not be"),
    (config({"x": {"distribution": "beta", "a": 0}}), r"parameters\.x\.a: must be greater than 0"),
    (config({"x": {"distribution": "q_uniform", "min": 0.1, "max": 0.2, "q": 1}}),
     r"parameters\.x\.q: no multiple of 1"),
    (config({"x": {"distribution": "gaussian"}}), r"parameters\.x\.distribution: unknown distribution"),
    (config({"x": {"distribution": "uniform", "min": 0, "max": 1, "mu": 3}}),
     r"parameters\.x\.mu: not a key of a uniform parameter"),
    (config({"x": {"min": 0}}), r"parameters\.x: needs 'max' too"),
    (config({"x": {"min": "a", "max": 1}}), r"parameters\.x\.min: must be a finite number"),
    (config({"x": {"values": []}}), r"parameters\.x\.values: must be a non-empty list"),
    (config({"x": {"values": [1, 2], "probabilities": [0.5, 0.6]}}), r"parameters\.x\.probabilities"),
    (config({"o": {"parameters": {"lr": {"min": 2.0, "max": 1.0}}}}), r"parameters\.o\.lr\.max"),
    (config({"x": {"distribution": "uniform", "min": 0, "max": 1}}, method="grid"),
     r"parameters\.x: grid search cannot enumerate a uniform"),
    (config({"x": {"values": [1]}}, early_terminate={"type": "hyperband"}),
     r"early_terminate: hyperband needs"),
    (config({"x": {"values": [1]}}, early_terminate={"type": "hyperband", "min_iter": 3, "eta": 1.5}),
     r"early_terminate\.eta"),
    (config({"x": {"values": [1]}}, early_terminate={"type": "median", "min_iter": 3}),
     r"early_terminate\.type: only 'hyperband'"),
    ({"method": "random", "metric": {"name": "loss", "goal": "lowest"}, "parameters": {"x": {"value": 1}}},
     r"metric\.goal"),
    (config({"x": {"values": [1]}}, command="python train.py"), r"command: must be a non-empty list"),
    (config({"x": {"values": [1]}}, command=["${interpreter}", "${argz}"]),
     r"command: unknown macro \$\{argz\}"),
    (config({"x": {"values": [1]}}, program=["train.py"]), r"program: must be a string"),
])
def test_bad_configs_name_the_key(bad, message):
    with pytest.raises(NbtrackError, match=message):
        parse_config(bad)


def test_program_and_command_are_kept_for_the_agent():
    spec = parse_config(config({"x": {"values": [1]}}, program="train.py",
                               command=["${env}", "python3", "${program}", "-b", 8, "${args}"]))
    assert spec.program == "train.py"
    assert spec.command == ("${env}", "python3", "${program}", "-b", "8", "${args}")
    assert parse_config(config({"x": {"values": [1]}})).command is None


def test_keys_nbtrack_does_not_use_are_named_once():
    given = config({"x": {"values": [1]}}, entity="team", controller={"type": "local"}, job="j")
    with pytest.warns(NbtrackWarning) as caught:
        spec = parse_config(given)
    assert spec.ignored == ("entity", "controller", "job")
    (warning,) = caught
    text = str(warning.message)
    assert "entity, controller, job change nothing here" in text
    assert "every agent runs the search itself against the shared store" in text  # controller
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parse_config(given)  # once: the same keys again say nothing
        parse_config(config({"x": {"values": [1]}}, program="train.py"))  # program is used: no warning


def test_missing_yaml_file_is_clear(tmp_path):
    with pytest.raises(NbtrackError, match="no sweep config file"):
        parse_config(str(tmp_path / "nope.yaml"))
