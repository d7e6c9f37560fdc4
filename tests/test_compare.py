"""The computations behind nbtrack.compare(), with exact values: filter, goals, best run per
metric, sorting and paging the table, and the data behind each chart of the selection."""

from __future__ import annotations

import pandas as pd
import pytest

import nbtrack
from nbtrack import comparison as core
from nbtrack.errors import NbtrackError


def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "id": ["a", "b", "c", "d"],
        "name": ["base", "<img src=x onerror=alert(1)>", "wide", "deep"],
        "status": ["finished", "finished", "running", "failed"],
        "tags": [["cnn"], [], ["cnn", "archived"], ["mlp"]],
        "config.lr": [0.1, 0.001, 0.03, None],
        "config.opt": ["sgd", "adam", "adam", "sgd"],
        "summary.loss": [0.5, 0.2, float("nan"), 0.9],
        "summary.val_acc": [0.8, 0.9, 0.95, 0.1],
        "summary.system/cpu": [10.0, 20.0, 30.0, 40.0],
    })


def test_filter_uses_the_where_language_and_hides_archived_runs():
    df = frame()
    assert core.filter_runs(df, "config.lr > 0.01")["id"].tolist() == ["a", "c"]
    assert core.filter_runs(df, "config.lr > 0.01", archived=False)["id"].tolist() == ["a"]
    assert core.filter_runs(df, "'cnn' in tags and status == 'finished'")["id"].tolist() == ["a"]
    assert core.filter_runs(df, "  ", archived=False)["id"].tolist() == ["a", "b", "d"]
    assert core.filter_runs(df, "summary.loss < 0.6 or config.opt == 'sgd'")["id"].tolist() == ["a", "b", "d"]
    with pytest.raises(NbtrackError, match="not a valid expression"):
        core.filter_runs(df, "config.lr >")
    with pytest.raises(NbtrackError, match=r"config\.nope"):
        core.filter_runs(df, "config.nope == 1")
    with pytest.raises(NbtrackError, match="not a column"):
        core.filter_runs(df, "__import__('os').system('true')")


def test_goals_are_guessed_from_names_and_can_be_given():
    assert core.metric_goals(["loss", "val_acc", "lr"]) == {
        "loss": "minimize", "val_acc": "maximize", "lr": "minimize"}
    assert core.metric_goals(["loss", "lr"], {"lr": "max", "loss": "maximize"}) == {
        "loss": "maximize", "lr": "maximize"}
    assert core.metric_goals(["loss"], ["f1:max", "loss"]) == {"loss": "minimize", "f1": "maximize"}
    with pytest.raises(NbtrackError, match="'min' or 'max'"):
        core.metric_goals(["loss"], {"loss": "lower"})


def test_best_run_per_metric_skips_missing_values_and_follows_the_goal():
    df = frame()
    best = core.best_per_metric(df, {"loss": "minimize", "val_acc": "maximize", "absent": "minimize"})
    assert best == {
        "loss": {"run_id": "b", "run": "<img src=x onerror=alert(1)>", "value": 0.2, "goal": "minimize"},
        "val_acc": {"run_id": "c", "run": "wide", "value": 0.95, "goal": "maximize"},
    }
    flipped = core.best_per_metric(df, {"loss": "maximize"})
    assert flipped["loss"]["run_id"] == "d" and flipped["loss"]["value"] == 0.9
    assert core.summary_metrics(df) == ["loss", "val_acc"]


def test_sorting_puts_missing_values_last_both_ways():
    df = frame()
    assert core.sort_runs(df, "summary.loss")["id"].tolist() == ["b", "a", "d", "c"]
    assert core.sort_runs(df, "summary.loss", descending=True)["id"].tolist() == ["d", "a", "b", "c"]
    assert core.sort_runs(df, "config.lr")["id"].tolist() == ["b", "c", "a", "d"]
    assert core.sort_runs(df, "name")["id"].tolist() == ["b", "a", "d", "c"]
    assert core.sort_runs(df, "tags")["id"].tolist() == ["b", "a", "c", "d"]  # by their text
    assert core.sort_runs(df, "config.opt")["id"].tolist() == ["b", "c", "a", "d"]  # ties keep order
    assert core.sort_runs(df, "no-such-column")["id"].tolist() == ["a", "b", "c", "d"]


def test_a_table_page_is_json_safe_and_marks_the_best_runs():
    df = frame()
    best = core.best_per_metric(df, {"loss": "minimize", "val_acc": "maximize"})
    rows = core.table_page(df, ["name", "summary.loss", "tags"], page=0, page_size=3, best=best)
    assert rows == [
        {"id": "a", "name": "base", "summary.loss": 0.5, "tags": ["cnn"], "best": []},
        {"id": "b", "name": "<img src=x onerror=alert(1)>", "summary.loss": 0.2, "tags": [],
         "best": ["loss"]},
        {"id": "c", "name": "wide", "summary.loss": None, "tags": ["cnn", "archived"],
         "best": ["val_acc"]},
    ]
    second = core.table_page(df, ["name"], page=1, page_size=3)
    assert second == [{"id": "d", "name": "deep", "best": []}]
    assert core.table_page(df, ["name"], page=5, page_size=3) == []
    assert core.json_value(float("inf")) == "Infinity"  # nbtrack.formatting's one rule
    assert core.json_value(float("nan")) is None  # an absent cell of the frame
    assert core.json_value(pd.Timestamp("2024-05-01 12:00")) == "2024-05-01T12:00:00.000Z"
    assert core.json_value(pd.NaT) is None


def test_paging_a_thousand_runs_is_exact():
    df = pd.DataFrame({"id": [f"r{i:04d}" for i in range(1000)], "name": [f"n{i}" for i in range(1000)],
                       "summary.loss": [((i * 37) % 1000) / 1000 for i in range(1000)]})
    ordered = core.sort_runs(df, "summary.loss")
    page = core.table_page(ordered, ["summary.loss"], page=2, page_size=100)
    assert [r["summary.loss"] for r in page] == [i / 1000 for i in range(200, 300)]
    assert page[0]["id"] == f"r{(200 * 973) % 1000:04d}"  # 37 * 973 = 1 (mod 1000)


# -- the data behind the selection's charts ---------------------------------------------------------

@pytest.fixture
def three_runs(store_dir):
    ids = []
    for i, lr in enumerate([0.1, 0.03, 0.01]):
        run = nbtrack.init(name=f"r{i}", project="cmp", config={"lr": lr, "depth": 2, "opt": {"m": i % 2}})
        for step in range(10):
            run.log({"loss": 1.0 / (step + 1) + i, "acc": step / 10})
        run.finish()
        ids.append(run.id)
    return ids


def test_the_selection_charts_come_from_nbtrack_charts(three_runs):
    from nbtrack.widgets._compare_charts import config_rows, selection_charts

    chosen = nbtrack.runs(project="cmp").set_index("id").loc[three_runs[:2]].reset_index()
    diff = config_rows(chosen)
    assert diff == {
        "runs": [{"id": three_runs[0], "name": "r0"}, {"id": three_runs[1], "name": "r1"}],
        "rows": [{"key": "lr", "differs": True, "values": [0.1, 0.03]},
                 {"key": "opt.m", "differs": True, "values": [0, 1]},
                 {"key": "depth", "differs": False, "values": [2, 2]}],
    }
    out = selection_charts(chosen, metric="loss", param="lr", goal="minimize", x="step", smoothing=0.0,
                           log_scale=False, max_overlay=20, max_points=500, store=None)
    assert sorted(out["overlays"]) == ["acc", "loss"] and out["note"] == ""
    loss = out["overlays"]["loss"]
    (points,) = [d for d in loss["datasets"].values() if d and "key" in d[0]]
    first = [(p["step"], p["value"]) for p in points if p["key"] == "loss" and p["run"] == "r0"][:3]
    assert first == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    assert {p["run"] for p in points} == {"r0", "r1"}
    parallel = next(d for d in out["parallel"]["datasets"].values() if d and "axis" in d[0])
    assert sorted({p["axis"] for p in parallel}) == ["loss", "lr", "opt.m"]  # only what differs
    scatter = next(d for d in out["scatter"]["datasets"].values() if d and "param" in d[0])
    assert [(p["name"], p["param"], p["metric"]) for p in scatter] == [
        ("r0", 0.1, pytest.approx(0.1)), ("r1", 0.03, pytest.approx(1.1))]


def test_overlays_stop_at_max_overlay_with_a_message(three_runs):
    from nbtrack.widgets._compare_charts import selection_charts

    chosen = nbtrack.runs(project="cmp")
    out = selection_charts(chosen, metric="loss", param="lr", goal="minimize", x="time", smoothing=0.6,
                           log_scale=True, max_overlay=2, max_points=500, store=None)
    assert out["note"] == "3 runs selected: curves show the first 2; select fewer to see the others"
    points = next(d for d in out["overlays"]["loss"]["datasets"].values() if d and "key" in d[0])
    assert len({p["run_id"] for p in points}) == 2
    layers = out["overlays"]["loss"]["layer"]
    assert layers[1]["encoding"]["y"]["field"] == "smoothed"
    assert layers[1]["encoding"]["y"]["scale"] == {"type": "log"}
    assert layers[0]["encoding"]["x"]["field"] == "time"


def test_importing_the_compare_core_loads_no_widget_library():
    from helpers import run_python

    out = run_python(
        "import sys, nbtrack.comparison, nbtrack\n"
        "print(callable(nbtrack.compare), 'anywidget' in sys.modules, 'ipywidgets' in sys.modules)"
    ).stdout.split()
    assert out == ["True", "False", "False"]
