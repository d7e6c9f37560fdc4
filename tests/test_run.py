"""The script API: init/log/finish, steps, values, bad input, and what queries return."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from helpers import run_python

import nbtrack
from nbtrack import MetricValueError, NbtrackError


def values(run_id: str, key: str) -> list[tuple[int, float]]:
    h = nbtrack.history(run_id, key)
    return list(zip(h["step"].tolist(), h["value"].tolist()))


def test_wandb_shaped_roundtrip(store_dir):
    run = nbtrack.init(name="baseline", project="mnist", config={"lr": 0.1, "layers": (64, 32)},
                       tags=["cnn", "small"], notes="first try")
    for step in range(5):
        nbtrack.log({"loss": 1.0 / (step + 1), "acc": step / 4})
    nbtrack.finish()
    df = nbtrack.runs()
    assert len(df) == 1
    row = df.iloc[0]
    assert (row["name"], row["project"], row["status"]) == ("baseline", "mnist", "finished")
    assert row["config.lr"] == 0.1 and row["config.layers"] == [64, 32]
    assert row["summary.loss"] == pytest.approx(0.2) and row["summary.acc"] == 1.0
    assert row["tags"] == ["cnn", "small"] and row["notes"] == "first try"
    assert row["duration"] >= 0 and isinstance(row["created_at"], pd.Timestamp)
    assert list(df.columns[:9]) == ["id", "name", "project", "status", "created_at", "ended_at",
                                    "duration", "tags", "notes"]
    assert values(run.id, "loss") == [(s, pytest.approx(1.0 / (s + 1))) for s in range(5)]
    assert (store_dir / "nbtrack.duckdb").exists()


def test_context_manager_and_kwargs_form(store_dir):
    with nbtrack.init(name="ctx") as run:
        run.log(loss=0.5, acc=0.1)
        run.log({"loss": 0.4}, acc=0.2)
    assert run.status == "finished"
    assert values(run.id, "acc") == [(0, 0.1), (1, 0.2)]


def test_steps_out_of_order_repeated_and_commit_false_are_kept(store_dir):
    run = nbtrack.init(name="steps")
    run.log({"a": 1.0}, step=10)
    run.log({"a": 2.0})            # auto: 11
    run.log({"a": 3.0}, step=3)    # backwards
    run.log({"a": 4.0}, step=3)    # repeated
    run.log({"b": 5.0}, commit=False)  # step 4, kept open
    run.log({"c": 6.0})                # still step 4
    run.log({"a": 7.0}, step=np.int64(20))
    run.finish()
    assert sorted(values(run.id, "a")) == [(3, 3.0), (3, 4.0), (10, 1.0), (11, 2.0), (20, 7.0)]
    assert values(run.id, "b") == [(4, 5.0)] and values(run.id, "c") == [(4, 6.0)]


def test_nan_inf_huge_and_numpy_values_are_stored_as_such(store_dir):
    run = nbtrack.init(name="odd values")
    # Ints no float can hold (10**400) are refused: see test_status_edges.py.
    run.log({"nan": float("nan"), "inf": math.inf, "ninf": -math.inf, "big": 1e308,
             "f32": np.float32(0.5),
             "arr": np.array([2.0]), "flag": True, "missing": None,
             "nested": {"loss": 1, "acc": 0.5}})
    run.finish()
    h = nbtrack.history(run.id).set_index("key")["value"]
    assert math.isnan(h["nan"]) and h["inf"] == math.inf and h["ninf"] == -math.inf
    assert h["big"] == 1e308
    assert h["f32"] == 0.5 and h["arr"] == 2.0 and h["flag"] == 1.0
    assert h["nested/loss"] == 1.0 and h["nested/acc"] == 0.5
    assert pd.isna(h["missing"])
    # NULL in SQL, not NaN: "missing" and "not a number" stay different things.
    nulls = nbtrack.sql("SELECT key FROM metrics WHERE value IS NULL")
    assert nulls["key"].tolist() == ["missing"]
    summary = nbtrack.runs().iloc[0]
    assert math.isnan(summary["summary.nan"]) and summary["summary.inf"] == math.inf


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"loss": "0.1"}, "metric 'loss' has a value of type str"),
        ({"loss": [1, 2]}, "metric 'loss' has a value of type list"),
        ({"w": np.zeros(0)}, "metric 'w'"),
        ({3: 1.0}, "metric names must be non-empty strings; got 3"),
        ({"": 1.0}, "metric names must be non-empty strings"),
        ("loss", "expects a dict of metric names to numbers"),
    ],
)
def test_bad_metric_values_name_the_key_and_keep_earlier_points(store_dir, data, message):
    run = nbtrack.init(name="bad")
    run.log({"ok": 1.0})
    with pytest.raises(MetricValueError, match=message):
        run.log(data)
    run.log({"ok": 2.0})
    run.finish()
    assert values(run.id, "ok") == [(0, 1.0), (1, 2.0)]


def test_bad_steps(store_dir):
    run = nbtrack.init()
    for step in (1.5, "3", True, 2**70):
        with pytest.raises(MetricValueError, match="step"):
            run.log({"a": 1.0}, step=step)
    run.finish()


def test_api_misuse_says_what_to_do(store_dir):
    with pytest.raises(NbtrackError, match=r"call nbtrack.init\(\) first"):
        nbtrack.log({"loss": 1.0})
    with pytest.raises(NbtrackError, match="no active run to write to"):
        nbtrack.config["lr"] = 0.1
    assert dict(nbtrack.config) == {}
    run = nbtrack.init(name="done")
    run.finish()
    with pytest.raises(NbtrackError, match="already finished; start a new one"):
        run.log({"a": 1.0})
    with pytest.raises(NbtrackError, match="non-empty string"):
        nbtrack.init(name="")
    with pytest.raises(NbtrackError, match="unknown argument"):
        nbtrack.init(name="x", bogus=1)
    with pytest.raises(NbtrackError, match="unknown setting 'colour'"):
        nbtrack.settings(colour="red")


def test_config_proxy_follows_the_active_run(store_dir):
    run = nbtrack.init(name="cfg", config={"lr": 0.1})
    assert nbtrack.config["lr"] == 0.1 and nbtrack.config.lr == 0.1
    nbtrack.config.update({"epochs": 3})
    nbtrack.config["opt"] = {"name": "adam", "betas": (0.9, 0.99)}
    run.finish()
    row = nbtrack.runs().iloc[0]
    assert row["config.epochs"] == 3 and row["config.opt.name"] == "adam"
    assert row["config.opt.betas"] == [0.9, 0.99]


def test_unicode_long_and_html_names_round_trip(store_dir):
    names = ["训练 🚀 ünïcödé", "x" * 4096, "<img src=x onerror=alert(1)>", "a'b\"c; DROP TABLE runs"]
    for name in names:
        with nbtrack.init(name=name, project="п р о е к т") as run:
            run.log({"损失": 1.0, "k" * 2000: 2.0})
    df = nbtrack.runs()
    assert sorted(df["name"]) == sorted(names)
    assert set(df["project"]) == {"п р о е к т"}
    assert set(nbtrack.history(df["id"].tolist())["key"]) == {"损失", "k" * 2000}


def test_rerunning_a_name_makes_a_new_run(store_dir):
    ids = []
    for lr in (0.1, 0.2):
        with nbtrack.init(name="same", config={"lr": lr}) as run:
            run.log({"loss": lr})
            ids.append(run.id)
    df = nbtrack.runs(name="same")
    assert len(set(ids)) == 2 and sorted(df["id"]) == sorted(ids)
    assert sorted(df["config.lr"]) == [0.1, 0.2]
    # A name in history() means the newest run of that name.
    assert values("same", "loss") == [(0, 0.2)]


def test_failure_and_interrupt_statuses(store_dir):
    with pytest.raises(ZeroDivisionError), nbtrack.init(name="fails") as run:
        run.log({"loss": 1.0})
        run.log({"ratio": 1 / 0})
    with pytest.raises(KeyboardInterrupt), nbtrack.init(name="stopped"):
        raise KeyboardInterrupt
    df = nbtrack.runs().set_index("name")
    assert df.loc["fails", "status"] == "failed"
    assert df.loc["stopped", "status"] == "interrupted"
    assert df.loc["fails", "summary.loss"] == 1.0
    error = nbtrack.run_record("fails")["error"]
    assert "ZeroDivisionError" in error and "1 / 0" in error


def test_init_while_a_run_is_active_finishes_it_with_a_warning(store_dir):
    first = nbtrack.init(name="first")
    with pytest.warns(nbtrack.NbtrackWarning, match="finishing the previous run 'first'"):
        second = nbtrack.init(name="second")
    assert first.status == "finished" and nbtrack.active_run() is second
    second.finish()


def test_filters(store_dir):
    for name, project, tags, fail in [("a", "p1", ["x"], False), ("b", "p1", ["y"], True),
                                      ("c", "p2", ["x", "y"], False)]:
        run = nbtrack.init(name=name, project=project, tags=tags)
        run.finish("failed" if fail else "finished")
    assert set(nbtrack.runs("p1")["name"]) == {"a", "b"}
    assert set(nbtrack.runs(status="failed")["name"]) == {"b"}
    assert set(nbtrack.runs(status=["failed", "finished"], project="p2")["name"]) == {"c"}
    assert set(nbtrack.runs(tags="x")["name"]) == {"a", "c"}
    assert len(nbtrack.runs(limit=2)) == 2
    assert nbtrack.runs(project="none").empty


def test_empty_store_reads_are_empty_not_errors(store_dir):
    assert nbtrack.runs().empty
    assert list(nbtrack.runs().columns[:4]) == ["id", "name", "project", "status"]
    assert nbtrack.sql("SELECT count(*) AS n FROM runs")["n"].tolist() == [0]
    assert not (store_dir / "nbtrack.duckdb").exists()
    with pytest.raises(NbtrackError, match="no run with id or name 'nope'"):
        nbtrack.history("nope")


def test_history_downsampling_keeps_shape_and_extremes(store_dir):
    run = nbtrack.init(name="long")
    for step in range(10_000):
        run.log({"loss": 100.0 if step == 5_000 else 1.0 / (step + 1)})
    run.finish()
    full = nbtrack.history(run.id, "loss")
    assert len(full) == 10_000
    small = nbtrack.history(run.id, "loss", max_points=200)
    assert 100 <= len(small) <= 200
    assert small["step"].is_monotonic_increasing
    assert small["max"].max() == 100.0  # the spike survives as the bucket max
    assert small["min"].min() == pytest.approx(1 / 10_000)
    assert small["value"].iloc[0] == pytest.approx(np.mean(1.0 / np.arange(1, 51)), rel=0.2)
    # Short series come back whole.
    short = nbtrack.init(name="short")
    short.log({"loss": 1.0})
    short.finish()
    assert nbtrack.history(short.id, "loss", max_points=200)["value"].tolist() == [1.0]


@pytest.mark.parametrize("arrow", [True, False], ids=["pyarrow", "no-pyarrow"])
def test_full_history_is_the_same_through_arrow_and_without_it(store_dir, monkeypatch, arrow):
    import sys

    if not arrow:
        monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow -> ImportError
    gone = nbtrack.init(name="trashed")
    gone.log({"loss": 9.0})
    gone.finish()
    nbtrack.delete_runs(gone.id)
    run = nbtrack.init(name="r")
    run.log({"loss": 1.0, "Ü/ключ 🎯": 2.0})
    run.log({"loss": float("nan"), "Ü/ключ 🎯": None})
    run.log({"loss": -0.5}, step=7)
    run.finish()
    h = nbtrack.history(run.id)
    assert list(h.columns) == ["run_id", "step", "key", "value", "time"]
    assert h["run_id"].tolist() == [run.id] * 5
    assert h["key"].tolist() == ["loss", "loss", "loss", "Ü/ключ 🎯", "Ü/ключ 🎯"]
    assert h["step"].tolist() == [0, 1, 7, 0, 1]
    v = h["value"].tolist()
    assert v[0] == 1.0 and np.isnan(v[1]) and v[2] == -0.5 and v[3] == 2.0 and np.isnan(v[4])
    assert str(h["time"].dtype).startswith("datetime64") and h["step"].dtype == np.int64
    assert (h["time"].dt.year >= 2026).all()
    # The trashed run's points are not read, even asked for by id.
    with pytest.raises(NbtrackError, match="no run"):
        nbtrack.history(gone.id)


def test_sql_views_are_documented_and_read_only(store_dir):
    with nbtrack.init(name="q", config={"lr": 0.3}) as run:
        run.log({"loss": 0.5})
    df = nbtrack.sql("SELECT r.name, m.key, m.value FROM runs r JOIN metrics m ON m.run_id = r.id")
    assert df.to_dict("records") == [{"name": "q", "key": "loss", "value": 0.5}]
    cfg = nbtrack.sql("SELECT key, value FROM config WHERE run_id = ?", [run.id])
    assert cfg.to_dict("records") == [{"key": "lr", "value": "0.3"}]
    lr = nbtrack.sql("SELECT config->>'$.lr' AS lr FROM runs")
    assert lr["lr"].tolist() == ["0.3"]
    with pytest.raises(NbtrackError, match="read-only"):
        nbtrack.sql("DELETE FROM metric_points")
    with pytest.raises(NbtrackError, match=r"nbtrack\.sql"):
        nbtrack.sql("SELEC nonsense")


def test_summary_can_be_set_like_wandb(store_dir):
    run = nbtrack.init(name="s")
    run.log({"acc": 0.5})
    run.log({"acc": 0.7})
    assert run.summary["acc"] == 0.7
    run.summary["best_acc"] = 0.9
    run.log({"acc": None})  # a missing value does not replace the last real one
    run.finish()
    row = nbtrack.runs().iloc[0]
    assert row["summary.acc"] == 0.7 and row["summary.best_acc"] == 0.9


def test_tags_and_notes_editable_while_running(store_dir):
    run = nbtrack.init(name="edit", tags=["a"])
    run.set_tags(["a", "b", "a"])
    run.set_notes("looks good")
    run.finish()
    row = nbtrack.runs().iloc[0]
    assert row["tags"] == ["a", "b"] and row["notes"] == "looks good"


def test_script_exit_finishes_or_fails_the_run(store_dir):
    run_python("""
        import nbtrack
        run = nbtrack.init(name="no finish call")
        for i in range(10): run.log({"loss": i})
    """)
    proc = run_python("""
        import nbtrack
        run = nbtrack.init(name="crashes")
        run.log({"loss": 1.0})
        raise RuntimeError("diverged")
    """, check=False)
    assert proc.returncode == 1 and "RuntimeError: diverged" in proc.stderr
    df = nbtrack.runs().set_index("name")
    assert df.loc["no finish call", "status"] == "finished"
    assert df.loc["no finish call", "summary.loss"] == 9
    assert df.loc["crashes", "status"] == "failed"
    assert "diverged" in nbtrack.run_record("crashes")["error"]


def test_environment_is_recorded(store_dir, tmp_path):
    import numpy  # a package the user's code imported: its version is in the record

    with nbtrack.init(name="env"):
        pass
    record = nbtrack.run_record("env")
    assert record["environment"]["python"].count(".") == 2
    # (Not duckdb: nbtrack imports it only when it reads or folds, which a short run may not.)
    assert record["environment"]["packages"]["numpy"] == numpy.__version__
    assert record["hostname"] and record["kind"] == "script"


def test_listeners_see_new_points_and_the_end_and_system_metrics_keep_the_step(store_dir):
    events = []
    run = nbtrack.init(name="live")
    unsubscribe = run.subscribe(lambda event, payload: events.append((event, payload)))
    run.log({"loss": 1.0})
    run.log_system({"cpu_percent": 50.0})
    run.log({"loss": 0.5})
    run.drain()
    assert events == [("points", (["loss", "system/cpu_percent", "loss"], [0, 0, 1],
                                  [1.0, 50.0, 0.5], events[0][1][3]))]
    assert run.step == 2  # the system point did not move the training step
    run.log({"loss": 0.25})
    run.finish()
    assert events[-1] == ("finish", "finished") and events[-2][1][0] == ["loss"]
    unsubscribe()
    assert run._listeners == []
    keys = set(nbtrack.history(run.id)["key"])
    assert keys == {"loss", "system/cpu_percent"}


def test_a_failing_listener_is_detached_with_one_warning(store_dir):
    run = nbtrack.init(name="bad view")
    run.subscribe(lambda event, payload: 1 / 0)
    run.log({"loss": 1.0})
    with pytest.warns(nbtrack.NbtrackWarning, match="live view failed"):
        run.drain()
    run.log({"loss": 2.0})
    run.finish()
    assert len(nbtrack.history(run.id)) == 2


def test_nbtrack_run_is_the_active_run_or_none_as_wandb_run(store_dir) -> None:
    # `import nbtrack as wandb`: `wandb.run.name`, `if wandb.run is None`.
    assert nbtrack.run is None
    with nbtrack.init(name="active") as run:
        assert nbtrack.run is run and nbtrack.run.name == "active"
    assert nbtrack.run is None


def test_media_logged_without_finish_is_stored_at_exit(store_dir):
    # The exit fold inserts media with pandas; imported only then, after the interpreter's
    # shutdown began, its import failed ("can't register atexit after shutdown").
    proc = run_python("""
        import sys
        import nbtrack
        run = nbtrack.init(id="exit-media")
        run.log({"a": 1.0})
        run.log({"h": nbtrack.Histogram(list(range(10)))})
        assert "pandas" not in sys.modules
    """, env={"NBTRACK_DIR": str(store_dir)})
    assert "nbtrack" not in proc.stderr, proc.stderr
    assert not list((store_dir / "pending").glob("*.seg"))
    assert nbtrack.run_record("exit-media")["status"] == "finished"
    assert list(nbtrack.media("exit-media")["key"]) == ["h"]
    assert nbtrack.history("exit-media", "a")["value"].tolist() == [1.0]
