"""Importing MLflow runs written by real mlflow, from a sqlite database and a ./mlruns folder."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from helpers import run_python

import nbtrack
from nbtrack import cli
from nbtrack.errors import NbtrackError
from nbtrack.importers import import_mlflow

T0_MS = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC

WRITE = """
import os, mlflow
os.chdir({cwd!r})  # a sqlite store puts artifacts in ./mlruns
mlflow.set_tracking_uri({uri!r})
mlflow.set_experiment("mnist")
with mlflow.start_run(run_name="baseline") as run:
    mlflow.log_params({{"lr": 0.01, "opt": "adam", "layers": [64, 32]}})
    mlflow.set_tags({{"team": "vision", "mlflow.note.content": "first try"}})
    for s in range(3):
        mlflow.log_metric("loss", 1.0 / (s + 1), step=s * 10, timestamp={t0} + s * 1500)
    mlflow.log_text("hello", "notes/readme.txt")
with mlflow.start_run(run_name="broken"):
    mlflow.log_metric("loss", 9.0, step=0, timestamp={t0})
    mlflow.end_run(status="FAILED")
"""


def write_runs(uri: str, cwd) -> None:
    # A subprocess: mlflow keeps process-wide state (tracking URI, active run).
    run_python(WRITE.format(uri=uri, t0=T0_MS, cwd=str(cwd)), env={"MLFLOW_ALLOW_FILE_STORE": "true"})


def check_store() -> None:
    runs = nbtrack.runs().sort_values("name")
    assert runs["name"].tolist() == ["baseline", "broken"]
    assert runs["project"].tolist() == ["mnist", "mnist"]
    assert runs["status"].tolist() == ["finished", "failed"]
    base = runs.iloc[0]
    # a list is kept as the text MLflow shows (see test_params_stay_text_unless_plainly_numbers)
    assert (base["config.lr"], base["config.opt"], base["config.layers"]) == (0.01, "adam", "[64, 32]")
    assert list(base["tags"]) == ["team=vision", "imported:mlflow"]
    assert base["notes"] == "first try"
    hist = nbtrack.history(base["id"])
    assert hist["step"].tolist() == [0, 10, 20]
    assert hist["value"].tolist() == [1.0, 0.5, 1 / 3]
    assert hist["time"].tolist() == [datetime(2023, 11, 14, 22, 13, 20),
                                     datetime(2023, 11, 14, 22, 13, 21, 500000),
                                     datetime(2023, 11, 14, 22, 13, 23)]
    record = nbtrack.run_record(base["id"])
    imported = record["environment"]["imported"]
    assert imported["artifacts"] == ["notes/readme.txt"]
    assert record["id"] == f"mlflow-{imported['run_id']}"
    assert record["ended_at"] > record["created_at"]


def test_sqlite_uri_imports_params_metrics_tags_and_status(tmp_path, store_dir, capsys):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    write_runs(uri, tmp_path)
    report = import_mlflow(uri)
    assert (report.runs_imported, report.runs_updated, report.points) == (2, 0, 4)
    assert report.not_read == ["1 artifact files (not copied; their paths are in each run's environment)"]
    check_store()

    # again, through the CLI: the same runs are replaced, not added
    assert cli.main(["import", "mlflow", uri, "--experiment", "mnist"]) == 0
    out = capsys.readouterr().out
    assert f"mlflow {uri}: 0 runs imported, 2 updated, 0 skipped; 4 points" in out
    assert len(nbtrack.runs()) == 2
    check_store()


def test_file_store_folder(tmp_path, store_dir, monkeypatch):
    mlruns = tmp_path / "mlruns"
    write_runs(str(mlruns), tmp_path)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    report = import_mlflow(str(mlruns), experiment="mnist")
    assert (report.runs_imported, report.points) == (2, 4)
    check_store()
    import os

    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ  # set only while reading


def test_missing_store_or_experiment_is_a_clear_error(tmp_path, store_dir):
    with pytest.raises(NbtrackError, match="no MLflow database at"):
        import_mlflow(f"sqlite:///{tmp_path / 'none.db'}")
    assert not (tmp_path / "none.db").exists()  # MLflow would have created an empty one
    with pytest.raises(NbtrackError, match=r"no MLflow store at .*no such directory"):
        import_mlflow(str(tmp_path / "mlruns"))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    write_runs(uri, tmp_path)
    with pytest.raises(NbtrackError, match=r"no MLflow experiment 'cifar' .*mnist"):
        import_mlflow(uri, experiment="cifar")


def test_default_uri_is_mlflows(tmp_path, store_dir, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    write_runs(uri, tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    report = import_mlflow()
    assert (report.source, report.runs_imported) == (uri, 2)


PARAMS = """
import mlflow
mlflow.set_tracking_uri({uri!r})
with mlflow.start_run(run_name="params"):
    mlflow.log_params({{"python": "3.10", "addr": "0x10", "steps": "1e3", "zip": "007", "big": "1_000",
                       "bs": 32, "neg": -3, "lr": 1e-05, "drop": -0.5, "wd": 0.1, "huge": 1e+16,
                       "flag": True, "none": None, "layers": [64, 32], "nan": float("nan")}})
"""


def test_params_stay_text_unless_plainly_numbers(tmp_path, store_dir):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_python(PARAMS.format(uri=uri))
    import_mlflow(uri)
    config = nbtrack.run_record(nbtrack.runs().iloc[0]["id"])["config"]
    assert config == {
        # texts with more than one reading stay the text that was logged
        "python": "3.10", "addr": "0x10", "steps": "1e3", "zip": "007", "big": "1_000",
        "flag": "True", "none": "None", "layers": "[64, 32]", "nan": "nan",
        # numbers logged from Python come back as those numbers
        "bs": 32, "neg": -3, "lr": 1e-05, "drop": -0.5, "wd": 0.1, "huge": 1e16,
    }
    assert [type(config[k]) for k in ("bs", "neg", "lr", "huge")] == [int, int, float, float]


NESTED = """
import json, mlflow
mlflow.set_tracking_uri({uri!r})
mlflow.set_experiment("search")
ids = {{}}
with mlflow.start_run(run_name="parent") as parent:
    ids["parent"] = parent.info.run_id
    for i in range(2):
        with mlflow.start_run(run_name=f"trial-{{i}}", nested=True) as trial:
            ids[f"trial-{{i}}"] = trial.info.run_id
            mlflow.log_metric("loss", 0.25 + i, step=i, timestamp={t0})
with mlflow.start_run(run_name="mistake") as mistake:
    mlflow.log_metric("loss", 99.0)
mlflow.delete_run(mistake.info.run_id)
print(json.dumps(ids))
"""


def write_nested(uri: str) -> dict[str, str]:
    proc = run_python(NESTED.format(uri=uri, t0=T0_MS), env={"MLFLOW_ALLOW_FILE_STORE": "true"})
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_nested_runs_keep_their_parent_and_deleted_runs_are_counted(tmp_path, store_dir, capsys):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ids = write_nested(uri)
    assert cli.main(["import", "mlflow", uri]) == 0
    assert (f"mlflow {uri}: 3 runs imported, 0 updated, 0 skipped, 1 deleted in mlflow "
            "(not imported); 2 points") in capsys.readouterr().out
    runs = nbtrack.runs().set_index("name")
    assert sorted(runs.index) == ["parent", "trial-0", "trial-1"]
    parent_id = runs.loc["parent", "id"]
    assert parent_id == f"mlflow-{ids['parent']}"
    assert list(runs.loc["parent", "tags"]) == ["imported:mlflow"]
    assert nbtrack.run_record(parent_id)["group_name"] is None
    for i in range(2):
        trial = nbtrack.run_record(runs.loc[f"trial-{i}", "id"])
        # the parent's nbtrack id, under MLflow's own tag name, as nbtrack.mlflow shows it
        assert trial["tags"] == [f"mlflow.parentRunId={parent_id}", "imported:mlflow"]
        assert trial["group_name"] == "parent"  # as nbtrack.mlflow groups nested runs
        assert trial["environment"]["imported"]["parent_run_id"] == ids["parent"]
        assert trial["environment"]["imported"]["tags"]["mlflow.parentRunId"] == ids["parent"]
        hist = nbtrack.history(trial["id"])
        assert list(zip(hist["step"], hist["value"])) == [(i, 0.25 + i)]


def test_a_bad_meta_yaml_is_reported_and_the_rest_imported(tmp_path, store_dir, capsys):
    mlruns = tmp_path / "mlruns"
    ids = write_nested(str(mlruns))
    (broken,) = mlruns.glob(f"*/{ids['trial-0']}/meta.yaml")
    broken.write_text("run_id: [unclosed\n")
    other = mlruns / "123"  # an experiment whose own meta.yaml is damaged
    other.mkdir()
    (other / "meta.yaml").write_text("{{{ not yaml\n")

    assert cli.main(["import", "mlflow", str(mlruns)]) == 3  # imported, but not all
    out, err = capsys.readouterr()
    assert "not everything could be read: 1 damaged, 1 run(s) not imported" in err
    assert "2 runs imported, 0 updated, 1 skipped, 1 deleted in mlflow (not imported); 1 points" in out
    lines = [line for line in out.splitlines() if line.startswith("  ")]
    assert len(lines) == 2  # one line each, not a traceback
    assert lines[0].startswith(f"  not imported: run {ids['trial-0']}: could not be read (")
    assert lines[1].startswith("  damaged: experiment 123: could not be read (")
    assert lines[1].endswith("none of its runs were imported")
    assert "Traceback" not in out
    runs = nbtrack.runs().set_index("name")
    assert sorted(runs.index) == ["parent", "trial-1"]
    assert nbtrack.history(runs.loc["trial-1", "id"])["value"].tolist() == [1.25]
