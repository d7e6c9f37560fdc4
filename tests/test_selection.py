"""One run selection for every view: Selection, its SQL in the store, the where language in the core."""

from __future__ import annotations

import pytest

import nbtrack
from nbtrack import NbtrackError
from nbtrack._run import STATUSES
from nbtrack.selection import Selection
from nbtrack.selection_where import filter_records
from nbtrack.store import get_store


@pytest.fixture
def runs(store_dir) -> dict[str, str]:
    """Five runs in two projects with configs, summaries, tags and statuses."""
    made = {}
    for name, project, lr, loss, tags, status in [
        ("a", "vision", 0.1, 0.5, ["cnn"], "finished"),
        ("b", "vision", 0.01, 0.2, ["cnn", "big"], "failed"),
        ("c", "vision", 1.0, None, [], "finished"),
        ("d", "text", 0.3, 0.9, ["rnn"], "finished"),
        ("d", "text", "auto", 0.1, [], "finished"),  # a second "d", newest: config lr is text
    ]:
        run = nbtrack.init(project=project, name=name, config={"lr": lr, "opt": {"name": "sgd"}}, tags=tags)
        if loss is not None:
            run.log({"loss": loss})
        run.finish(status=status)
        made[name] = run.id
    return made


def names(rows: list[dict]) -> list[str]:
    return [r["name"] for r in rows]


def test_selection_checks_its_fields_when_made() -> None:
    assert Selection(statuses="finished").statuses == ("finished",)
    assert Selection(tags=["x", "y"]).tags == ("x", "y")
    assert Selection(sort="-summary.loss").order == ("summary.loss", True)
    assert Selection(sort="config.opt.name").order == ("config.opt.name", False)
    assert Selection(where="  ").where is None
    for status in STATUSES:
        Selection(statuses=[status])
    with pytest.raises(NbtrackError, match="unknown run status 'done'; use one of running, finished"):
        Selection(statuses="done")
    with pytest.raises(NbtrackError, match="cannot sort by 'config'"):
        Selection(sort="config")
    with pytest.raises(NbtrackError, match="cannot sort by 'lower\\(name\\)'"):
        Selection(sort="lower(name)")
    with pytest.raises(NbtrackError, match="limit"):
        Selection(limit=-1)
    assert Selection(project="p", statuses="failed", where="x > 1").describe() == (
        "project 'p' and where 'x > 1' and status failed")


def test_filters_sort_and_limit_in_the_store(runs) -> None:
    store = get_store()
    assert names(store.select_runs(Selection())) == ["d", "d", "c", "b", "a"]  # newest first
    assert names(store.select_runs(Selection(project="vision", sort="created_at"))) == ["a", "b", "c"]
    assert names(store.select_runs(Selection(statuses=("failed",)))) == ["b"]
    assert names(store.select_runs(Selection(tags=("big", "rnn")))) == ["d", "b"]
    assert names(store.select_runs(Selection(q="VIS CN"))) == ["b", "a"]  # every word, any field
    assert names(store.select_runs(Selection(ids=(runs["a"], runs["c"])))) == ["c", "a"]
    assert store.select_runs(Selection(ids=())) == []
    assert names(store.select_runs(Selection(limit=2))) == ["d", "d"]
    assert store.count_runs(Selection(project="vision", limit=1)) == 3
    # summary.<metric>: numeric order, missing last either way
    assert names(store.select_runs(Selection(project="vision", sort="summary.loss"))) == ["b", "a", "c"]
    assert names(store.select_runs(Selection(project="vision", sort="-summary.loss"))) == ["a", "b", "c"]
    # config.<key>: numbers in numeric order, then text
    by_lr = store.select_runs(Selection(sort="config.lr"))
    assert [r["config"]["lr"] for r in by_lr] == [0.01, 0.1, 0.3, 1.0, "auto"]
    row = by_lr[0]
    assert row["summary"] == {"loss": 0.2} and row["tags"] == ["cnn", "big"] and row["project"] == "vision"
    assert store.summary_keys(Selection(project="vision")) == ["loss"]


def test_where_runs_after_the_sql_filters_and_before_the_limit(runs) -> None:
    store = get_store()
    chosen = Selection(project="vision", where="config.lr >= 0.1", sort="created_at", limit=1)
    assert names(store.select_runs(chosen)) == ["a"]
    assert store.count_runs(chosen) == 2
    cnn = Selection(where="'cnn' in tags and config.opt.name == 'sgd'")
    assert names(store.select_runs(cnn)) == ["b", "a"]
    with pytest.raises(NbtrackError, match=r"no selected run has the column 'config\.nope'"):
        store.select_runs(Selection(where="config.nope > 1"))
    with pytest.raises(NbtrackError, match="where expression"):
        store.select_runs(Selection(where="__import__('os')"))


def test_names_resolve_to_the_newest_run_within_a_scope(runs) -> None:
    store = get_store()
    assert store.resolve_runs(["d", runs["a"], "nope"]) == {"d": runs["d"], runs["a"]: runs["a"]}
    assert store.resolve_runs(["a"], within=Selection(project="text")) == {}


def test_runs_keywords_build_the_same_selection(runs) -> None:
    frame = nbtrack.runs("vision", status=["finished", "failed"], tags="cnn")
    assert frame["name"].tolist() == ["b", "a"]
    assert list(frame.columns[:9]) == ["id", "name", "project", "status", "created_at", "ended_at",
                                       "duration", "tags", "notes"]
    assert "config.opt.name" in frame.columns and "summary.loss" in frame.columns
    with pytest.raises(NbtrackError, match="unknown run status"):
        nbtrack.runs(status="done")


def test_filter_records_is_the_where_language_over_flat_rows() -> None:
    rows = [{"id": "a", "config.lr": 0.1, "tags": ["x"]}, {"id": "b", "config.lr": None, "tags": []}]
    assert [r["id"] for r in filter_records(rows, "config.lr == None")] == ["b"]
    assert [r["id"] for r in filter_records(rows, "'x' in tags")] == ["a"]


def test_the_store_reads_in_one_snapshot_and_an_empty_store_answers_empty(tmp_path) -> None:
    store = get_store(tmp_path / "never")
    with store.snapshot():
        assert store.select_runs(Selection()) == []
        assert store.count_runs(Selection()) == 0
        assert store.projects() == [] and store.crashed_runs() == []
        assert store.history(["x"]).empty and store.metric_keys(["x"]) == []
        assert store.run_record("x") is None
    assert not (tmp_path / "never").exists()
    assert list(store.query("SELECT id FROM runs").columns) == ["id"]
