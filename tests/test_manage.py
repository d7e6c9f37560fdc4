"""Run management (rename, tags, notes, trash with undo) and nbtrack.diff, with exact values."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import run_python

import nbtrack
from nbtrack._run import Run


def make(name, config, source=None, **kw):
    with Run(name, config=config, source=source, **kw) as run:
        run.log({"loss": config.get("lr", 0.0) * 10})
    return run


def test_rename_tags_notes(store_dir):
    run = make("old", {"lr": 0.1}, tags=["a"])
    nbtrack.rename_run(run.id, "new name <b>")
    assert nbtrack.add_tags("new name <b>", "b", "a", "c") == ["a", "b", "c"]
    assert nbtrack.remove_tags(run.id, "a", "zzz") == ["b", "c"]
    nbtrack.set_notes(run.id, "良い run")
    row = nbtrack.runs().iloc[0]
    assert (row["name"], row["tags"], row["notes"]) == ("new name <b>", ["b", "c"], "良い run")
    with pytest.raises(nbtrack.NbtrackError, match="no run with id or name 'nope'"):
        nbtrack.rename_run("nope", "x")
    with pytest.raises(nbtrack.NbtrackError, match="non-empty string"):
        nbtrack.rename_run(run.id, "  ")


def test_edits_from_another_process_while_the_run_logs(store_dir):
    run = nbtrack.init(name="busy")
    run.log({"a": 1.0})
    run._writer.flush()
    run_python(f"import nbtrack; nbtrack.rename_run({run.id!r}, 'renamed'); "
               f"nbtrack.set_notes({run.id!r}, 'from the sidebar')",
               {"NBTRACK_DIR": str(store_dir)})
    run.log({"a": 2.0})
    run.finish()  # the owner's later writes do not undo the other process's edits
    row = nbtrack.runs().iloc[0]
    assert (row["name"], row["notes"], row["status"]) == ("renamed", "from the sidebar", "finished")


def test_delete_is_undoable_until_the_trash_is_emptied(store_dir):
    keep = make("keep", {"lr": 0.1})
    gone = [make(f"bad{i}", {"lr": 1.0}).id for i in range(2)]
    assert sorted(nbtrack.delete_runs(gone)) == sorted(gone)
    assert nbtrack.runs()["name"].tolist() == ["keep"]
    assert nbtrack.sql("SELECT count(DISTINCT run_id) AS n FROM metrics")["n"][0] == 1
    assert sorted(nbtrack.trash()["id"]) == sorted(gone)
    nbtrack.restore_runs(gone[0])
    assert sorted(nbtrack.runs()["name"]) == ["bad0", "keep"]
    assert nbtrack.empty_trash() == 1
    assert nbtrack.trash().empty
    with pytest.raises(nbtrack.NbtrackError, match="in the trash"):
        nbtrack.restore_runs(gone[1])
    count = "SELECT count(*) FROM metric_points WHERE run_id = ?"
    with _raw(store_dir) as con:
        assert con.execute(count, [gone[1]]).fetchone()[0] == 0
        assert con.execute(count, [keep.id]).fetchone()[0] == 1


def _raw(store_dir):
    from nbtrack.store import get_store

    return get_store(store_dir).read()


def test_delete_accepts_a_runs_dataframe(store_dir):
    for i in range(3):
        make(f"r{i}", {"lr": i / 10})
    nbtrack.delete_runs(nbtrack.runs().query("`config.lr` > 0.05"))
    assert nbtrack.runs()["name"].tolist() == ["r0"]


def test_diff_lists_only_differences(store_dir):
    a = make("base", {"lr": 0.1, "epochs": 5, "opt": {"name": "sgd", "m": 0.9}, "flag": True},
             source="lr = 0.1\nfor s in range(epochs):\n    train(lr)\n")
    make("tuned", {"lr": 0.5, "epochs": 5, "opt": {"name": "adam", "m": 0.9}, "flag": 1,
                       "extra": "x"}, source="lr = 0.5\nfor s in range(epochs):\n    train(lr)\n")
    d = nbtrack.diff(a, "tuned")
    assert d.config.to_dict("records") == [
        {"key": "extra", "base": "—", "tuned": "x"},
        {"key": "flag", "base": True, "tuned": 1},
        {"key": "lr", "base": 0.1, "tuned": 0.5},
        {"key": "opt.name", "base": "sgd", "tuned": "adam"},
    ]
    assert d.summary.to_dict("records") == [{"key": "loss", "base": 1.0, "tuned": 5.0}]
    assert "-lr = 0.1\n+lr = 0.5\n" in d.source and " for s in range(epochs):" in d.source
    assert d.environment.empty  # same process, same packages
    same = nbtrack.diff(a, a)
    assert same.config.empty and same.source == ""
    assert "lr" in repr(d)


def test_diff_html_escapes_user_text(store_dir):
    a = make("<script>alert(1)</script>", {"k": "<img src=x onerror=alert(1)>"})
    b = make("plain", {"k": "v"})
    page = nbtrack.diff(a, b)._repr_html_()
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_config_diff_keeps_only_varying_columns(store_dir):
    from nbtrack.diffing import config_diff

    make("a", {"lr": 0.1, "epochs": 5})
    make("b", {"lr": 0.2, "epochs": 5})
    table = config_diff(nbtrack.runs())
    assert list(table.columns) == ["id", "name", "config.lr"]
    assert isinstance(table, pd.DataFrame)


def test_diff_stays_the_function_after_its_module_is_imported(store_dir):
    import nbtrack.diffing  # what the report and sidebar do

    assert callable(nbtrack.diff) and nbtrack.diff is nbtrack.diffing.diff


def test_a_run_without_config_diffs_as_having_no_keys(store_dir):
    with_config = nbtrack.init(name="a", config={"lr": 0.05})
    with_config.finish()
    without = nbtrack.init(name="b")
    without.finish()
    table = nbtrack.diff(with_config.id, without.id).config
    assert table["key"].tolist() == ["lr"]  # no row with an empty key holding {}
