"""Parameter importance has one home (nbtrack.importance): the sweep and the report agree.

Sweeps run for real (nbtrack.sweep on a tiny function, a real store under tmp_path);
the runs function is checked on hand-made frames, Spearman against SciPy and known values.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_report import Page, chart_payloads, packed_rows

import nbtrack
from nbtrack import importance as imp
from nbtrack.errors import NbtrackError
from nbtrack.importance import COLUMNS, runs_importance, spearman
from nbtrack.report import render_report
from nbtrack.report.sweep import find_sweep, sweep_importance, sweep_record


def train(config):
    nbtrack.log(
        {
            "loss": 50 * (math.log10(config["lr"]) + 2) ** 2
            + 0.1 * config["layers"]
            + (config["act"] == "relu")
        }
    )


GRID = {
    "lr": {"values": [0.001, 0.01, 0.1]},
    "layers": {"values": [1, 2, 3]},
    "act": {"values": ["relu", "gelu"]},
}
RANDOM = {
    "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1.0},
    "layers": {"distribution": "int_uniform", "min": 1, "max": 4},
    "act": {"values": ["relu", "gelu"]},
}


def report_importance(sweep_id: str, metrics: list[tuple[str, str]], given: bool) -> pd.DataFrame:
    """What build_report computes for the sweep section, step by step."""
    record = sweep_record(sweep_id)
    runs = nbtrack.runs(sweep=sweep_id)
    found = find_sweep(record, runs, {sweep_id}, metrics, given)
    assert found is not None
    return sweep_importance(found, runs)


# -- the sweep and the report agree ---------------------------------------------------------
@pytest.mark.parametrize(("method", "parameters", "count"), [("grid", GRID, None), ("random", RANDOM, 16)])
def test_the_report_shows_the_sweeps_own_importance(store_dir, method, parameters, count):
    sweep = nbtrack.sweep(
        {"method": method, "metric": {"name": "loss", "goal": "minimize"}, "parameters": parameters},
        train,
        count=count,
        seed=3,
    )
    expected = sweep.importance()
    assert list(expected.columns) == COLUMNS and set(expected["parameter"]) == {"lr", "layers", "act"}
    assert expected["parameter"][0] == "lr"

    got = report_importance(sweep.id, [("loss", "minimize")], False)
    assert list(got.columns) == COLUMNS
    assert got["parameter"].tolist() == expected["parameter"].tolist()
    assert got["importance"].tolist() == pytest.approx(expected["importance"].tolist(), abs=1e-9, rel=0)
    assert got["correlation"].tolist() == pytest.approx(
        expected["correlation"].tolist(), abs=1e-9, rel=0, nan_ok=True
    )

    # The page carries the same bars (numbers packed as float32).
    page = Page(render_report(sweep=sweep.id))
    bars = next(p for p in chart_payloads(page) if p["spec"].get("title") == "parameter importance")
    rows = {r["parameter"]: r["importance"] for r in packed_rows(next(iter(bars["datasets"].values())))}
    assert rows == pytest.approx(dict(zip(expected["parameter"], expected["importance"])), rel=1e-6)


def test_another_metric_or_goal_is_inferred_from_the_runs(store_dir):
    sweep = nbtrack.sweep(
        {"method": "grid", "metric": {"name": "loss", "goal": "minimize"}, "parameters": GRID}, train, seed=3
    )
    runs = nbtrack.runs(sweep=sweep.id)
    flipped = report_importance(sweep.id, [("loss", "maximize")], True)
    expected = runs_importance(runs, ["lr", "layers", "act"], "loss", "maximize")
    pd.testing.assert_frame_equal(flipped, expected)
    # Without the sweep's record (a sweep run elsewhere), the runs are all there is.
    found = find_sweep({"id": sweep.id}, runs, {sweep.id}, [("loss", "minimize")], False)
    assert found is not None and found.searched is None
    pd.testing.assert_frame_equal(
        sweep_importance(found, runs), runs_importance(runs, found.params, "loss", "minimize")
    )


# -- spearman ---------------------------------------------------------------------------------
def test_spearman_matches_scipy_and_known_values():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    xs = rng.integers(0, 5, 40).tolist()  # many ties
    ys = rng.normal(size=40).tolist()
    assert spearman(xs, ys) == pytest.approx(scipy_stats.spearmanr(xs, ys).statistic, abs=1e-12)
    # No ties: 1 - 6 * sum(d^2) / (n (n^2 - 1)), rank differences d = (4, -1, 1, -2, -2).
    assert spearman([5, 1, 4, 2, 3], [1.0, 4.0, 9.0, 16.0, 25.0]) == pytest.approx(1 - 6 * 26 / (5 * 24))
    assert spearman([0.1, 0.2, 0.3, 0.4], [4.0, 3.0, 2.5, 1.0]) == -1.0
    assert spearman(np.array([1, 2, 3], dtype=np.int64), pd.Series([1.0, 2.0, 3.0])) == 1.0
    assert spearman([True, False, True, False], [1.0, 0.0, 0.9, 0.1]) == pytest.approx(math.sqrt(0.8))


def test_spearman_is_nan_when_it_cannot_be_computed():
    assert math.isnan(spearman(["a", "b", "c"], [1.0, 2.0, 3.0]))  # no order
    assert math.isnan(spearman([[1], [2], [3]], [1.0, 2.0, 3.0]))
    assert math.isnan(spearman([1, 1, 1, 1], [1.0, 2.0, 3.0, 4.0]))  # constant
    assert math.isnan(spearman([1, 2, 3], [5.0, 5.0, 5.0]))
    assert math.isnan(spearman([1, 2], [1.0, 2.0]))  # fewer than 3 pairs
    assert math.isnan(spearman([1, 2, None, 4], [1.0, 2.0, 3.0, float("nan")]))  # 2 pairs left
    assert spearman([1, 2, None, 4, 5], [1.0, 2.0, 3.0, 4.0, 5.0]) == 1.0  # missing pairs left out


# -- importance from plain runs ------------------------------------------------------------------
@pytest.fixture
def studies(monkeypatch):
    """The studies runs_importance builds, as it hands them to study_importance."""
    seen = []
    real = imp.study_importance

    def spy(study, method="ped-anova"):
        seen.append(study)
        return real(study, method)

    monkeypatch.setattr(imp, "study_importance", spy)
    return seen


def test_runs_infer_distributions_from_values(studies):
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    df = pd.DataFrame(
        {
            "config.lr": [1e-4, 1e-3, 1e-2, 1e-1, 3e-2, 3e-4],  # 3 decades: log
            "config.dropout": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],  # includes 0: linear
            "config.wd": [0.01, 0.02, 0.5, 0.9, 0.1, 0.2],  # under 2 decades: linear
            "config.layers": np.array([1, 2, 3, 4, 2, 1], dtype=np.int64),
            "config.act": ["relu", "gelu", "relu", "gelu", "relu", "tanh"],
            "config.bn": [True, False, True, False, True, False],
            "config.sizes": [[64], [64, 64], [64], [64, 64], [64], [64]],
            "config.seed": [7] * 6,  # one value: left out
            "summary.loss": [5.0, 3.0, 1.0, 2.0, 1.5, 4.0],
        }
    )
    params = ["lr", "dropout", "wd", "layers", "act", "bn", "sizes", "seed", "absent"]
    result = runs_importance(df, params, "loss")
    assert list(result.columns) == COLUMNS
    assert set(result["parameter"]) == set(params) - {"seed", "absent"}
    assert result["importance"].is_monotonic_decreasing
    assert result["importance"].sum() == pytest.approx(1.0)

    (study,) = studies
    assert study.direction.name == "MINIMIZE" and len(study.trials) == 6
    dists = study.trials[0].distributions
    assert dists["lr"] == FloatDistribution(1e-4, 1e-1, log=True)
    assert dists["dropout"] == FloatDistribution(0.0, 0.5) and dists["wd"] == FloatDistribution(0.01, 0.9)
    assert dists["layers"] == IntDistribution(1, 4)
    assert isinstance(dists["act"], CategoricalDistribution) and set(dists["act"].choices) == {
        "relu",
        "gelu",
        "tanh",
    }
    assert set(dists["bn"].choices) == {True, False}
    assert set(dists["sizes"].choices) == {"[64]", "[64, 64]"}

    by = result.set_index("parameter")["correlation"]
    assert by["lr"] == pytest.approx(spearman(df["config.lr"], df["summary.loss"]))
    assert math.isnan(by["act"]) and math.isnan(by["sizes"])  # no order
    assert not math.isnan(by["bn"])  # booleans rank as 0 and 1


def test_runs_missing_the_metric_or_a_param_are_left_out(studies):
    df = pd.DataFrame(
        {
            "config.lr": [0.1, 0.2, None, 0.4, 0.5, 0.6],
            "config.opt": ["a", "b", "a", np.nan, "a", "b"],
            "summary.acc": [0.5, 0.6, 0.7, 0.8, float("nan"), 0.9],
        }
    )
    result = runs_importance(df, ["lr", "opt"], "acc", "maximize")
    assert set(result["parameter"]) == {"lr", "opt"}
    (study,) = studies
    assert study.direction.name == "MAXIMIZE"
    assert [t.params["lr"] for t in study.trials] == [0.1, 0.2, 0.6]
    assert [t.value for t in study.trials] == [0.5, 0.6, 0.9]


def test_too_few_runs_give_an_empty_frame():
    one = pd.DataFrame({"config.lr": [0.1, 0.2], "summary.loss": [1.0, None]})
    for frame, params, metric in [
        (one, ["lr"], "loss"),
        (one, ["lr"], "acc"),
        (one.iloc[:0], ["lr"], "loss"),
        (one, [], "loss"),
    ]:
        result = runs_importance(frame, params, metric)
        assert result.empty and list(result.columns) == COLUMNS


def test_runs_importance_refuses_bad_arguments():
    df = pd.DataFrame({"config.lr": [0.1, 0.2, 0.3], "summary.loss": [3.0, 2.0, 1.0]})
    with pytest.raises(NbtrackError, match="importance method must be one of ped-anova, fanova; got 'shap'"):
        runs_importance(df, ["lr"], "loss", method="shap")
    with pytest.raises(NbtrackError, match="goal must be"):
        runs_importance(df, ["lr"], "loss", "lowest")


def test_runs_importance_with_fanova():
    pytest.importorskip("sklearn")
    df = pd.DataFrame(
        {
            "config.lr": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
            "config.bs": [1, 2, 1, 2, 1, 2],
            "summary.loss": [6.0, 5.0, 4.0, 3.0, 2.0, 1.0],
        }
    )
    result = runs_importance(df, ["lr", "bs"], "loss", method="fanova")
    assert result["parameter"].tolist() == ["lr", "bs"]


def test_importance_bars_still_draw_it():
    from nbtrack.charts import importance_bars

    df = pd.DataFrame(
        {
            "config.lr": [0.1, 0.2, 0.3, 0.4],
            "config.act": ["a", "b", "a", "b"],
            "summary.loss": [4.0, 3.0, 2.0, 1.0],
        }
    )
    spec = importance_bars(runs_importance(df, ["lr", "act"], "loss")).to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert {r["parameter"] for r in rows} == {"lr", "act"}
