"""nbtrack sync between a laptop's folder and the team's PostgreSQL database, both ways."""

from __future__ import annotations

import numpy as np
import pytest

import nbtrack
from nbtrack.errors import NbtrackError
from nbtrack.store import get_store


@pytest.fixture
def laptop(tmp_path, monkeypatch):
    """The store in force: a local folder, as on a laptop."""
    folder = tmp_path / "laptop" / ".nbtrack"
    monkeypatch.delenv("NBTRACK_STORE", raising=False)
    monkeypatch.setenv("NBTRACK_DIR", str(folder))
    return folder


def _points(store, run_id):
    frame = store.query("SELECT key, step, value, value IS NULL AS missing FROM metrics "
                        "WHERE run_id = ? ORDER BY key, step", [run_id])
    return [(k, int(s), None if m else (repr(v))) for k, s, v, m in
            zip(frame["key"], frame["step"], frame["value"], frame["missing"])]


def test_offline_runs_go_up_whole_and_once(laptop, pg_url, tmp_path):
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"w" * 3000)
    picture = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    with nbtrack.init(name="offline ✈", config={"lr": 0.1, "bad": float("nan")}, tags=["laptop"]) as run:
        for step in range(100):
            run.log({"loss": 1.0 / (step + 1), "odd": float("nan") if step == 3 else None})
        run.log({"sample": nbtrack.Image(picture)})
        run.log_artifact(weights, type="model")
    with nbtrack.init(name="consumer") as user:
        nbtrack.use_artifact("model.pt:latest")
        user.log({"acc": 0.5})
    trashed = nbtrack.init(name="thrown away")
    trashed.finish()
    nbtrack.delete_runs([trashed.id])

    report = nbtrack.sync(to=pg_url)
    assert sorted(report.copied) == sorted([run.id, user.id]) and report.unchanged == []
    assert report.points == 100 * 2 + 1 and report.media == 1 and report.artifacts == 1

    team, local = get_store(pg_url), get_store()
    remote = nbtrack.runs(store=team)
    assert sorted(remote["name"]) == ["consumer", "offline ✈"]
    for run_id in (run.id, user.id):
        assert _points(team, run_id) == _points(local, run_id)
        mine, theirs = local.history([run_id]), team.history([run_id])
        assert mine["time"].tolist() == theirs["time"].tolist()  # to the microsecond
    assert [p for p in _points(team, run.id) if p[0] == "odd"][:4] == [
        ("odd", 0, None), ("odd", 1, None), ("odd", 2, None), ("odd", 3, "nan")]
    original = team.run_records([run.id])[0]
    assert original["tags"] == ["laptop"] and original["status"] == "finished"
    media = nbtrack.media(run.id, store=team)
    assert np.array_equal(np.asarray(nbtrack.load_media(media.iloc[0])), picture)
    lineage = nbtrack.lineage(store=team)
    assert sorted(zip(lineage["run_id"], lineage["role"])) == sorted([(run.id, "output"), (user.id, "input")])
    artifact = nbtrack.use_artifact("model.pt:latest", store=team)
    assert artifact.file().read_bytes() == weights.read_bytes()

    again = nbtrack.sync(to=pg_url)
    assert again.copied == [] and sorted(again.unchanged) == sorted([run.id, user.id])
    assert len(nbtrack.runs(store=team)) == 2
    assert len(team.history([run.id])) == 200


def test_a_running_run_syncs_again_with_what_it_logged_since(laptop, pg_url):
    run = nbtrack.init(name="long job")
    for step in range(10):
        run.log({"loss": float(step)})
    nbtrack.sync(to=pg_url)
    team = get_store(pg_url)
    assert team.history([run.id])["step"].tolist() == list(range(10))
    for step in range(10, 25):
        run.log({"loss": float(step)})
    second = nbtrack.sync(to=pg_url)
    assert second.copied == [run.id]
    assert team.history([run.id])["step"].tolist() == list(range(25))
    assert nbtrack.runs(store=team)["status"].tolist() == ["running"]
    run.finish()
    nbtrack.sync(to=pg_url)
    assert nbtrack.runs(store=team)["status"].tolist() == ["finished"]
    assert len(nbtrack.runs(store=team)) == 1


def test_runs_come_down_from_the_team_store(pg_url, tmp_path, monkeypatch):
    monkeypatch.delenv("NBTRACK_DIR", raising=False)
    monkeypatch.setenv("NBTRACK_STORE", pg_url)
    with nbtrack.init(name="from the cluster", config={"gpus": 8}) as run:
        run.log({"loss": 0.25}, step=7)
    home = tmp_path / "home" / ".nbtrack"
    report = nbtrack.sync(to=str(home), project="default")
    assert report.copied == [run.id]
    local = nbtrack.runs(store=get_store(str(home)))
    assert local["name"].tolist() == ["from the cluster"] and local["config.gpus"].tolist() == [8]
    assert nbtrack.history(run.id, store=get_store(str(home)))["value"].tolist() == [0.25]


def test_sync_says_what_is_wrong(laptop, pg_url):
    with pytest.raises(NbtrackError, match="say where to sync"):
        nbtrack.sync()
    with pytest.raises(NbtrackError, match="the same store"):
        nbtrack.sync(to=str(laptop))
    nbtrack.init(name="here").finish()
    with pytest.raises(NbtrackError, match="no run with id or name 'nope'"):
        nbtrack.sync(to=pg_url, runs=["nope"])


def test_the_command_line_syncs_up_and_says_what_it_did(laptop, pg_url, tmp_path):
    import subprocess
    import sys

    with nbtrack.init(name="cli run") as run:
        run.log({"loss": 1.0})
    # In the store file before the command starts. (Once, on CI at load ~90, the command
    # found no run at all here; not reproduced since: cross-process visibility of a run
    # still in pending segments is tested in test_store*.py, not by this test.)
    assert nbtrack.runs()["name"].tolist() == ["cli run"]
    command = [sys.executable, "-m", "nbtrack.cli", "--store", str(laptop), "sync", "--to", pg_url]
    first = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "1 run(s) copied (1 points" in first.stdout and "0 unchanged" in first.stdout
    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert "0 run(s) copied" in again.stdout and "1 unchanged" in again.stdout
    listed = subprocess.run([sys.executable, "-m", "nbtrack.cli", "--store", pg_url, "ls"],
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and "cli run" in listed.stdout, listed.stderr
    nothing = subprocess.run([sys.executable, "-m", "nbtrack.cli", "sync"], capture_output=True, text=True)
    assert nothing.returncode == 1 and "say where to sync" in nothing.stderr


def test_a_second_sync_never_overwrites_what_changed_in_the_target(laptop, pg_url):
    """Three-way: a run resumed, renamed or trashed in the team store since the last sync
    stays as it is there; a run changed only here goes up; changed on both sides: left, told."""
    import warnings

    ids = {}
    for name in ("resumed-there", "renamed-there", "both", "trashed-there", "renamed-here"):
        with nbtrack.init(name=name) as run:
            run.log({"loss": 1.0})
        ids[name] = run.id
    nbtrack.sync(to=pg_url)
    team = get_store(pg_url)
    with nbtrack.init(id=ids["resumed-there"], resume="must", dir=pg_url) as again:
        again.log({"loss": 0.5})
        again.log({"cluster_only": 1.0})
    nbtrack.rename_run(ids["renamed-there"], "renamed by a teammate", store=team)
    nbtrack.rename_run(ids["both"], "theirs", store=team)
    nbtrack.delete_runs([ids["trashed-there"]], store=team)
    nbtrack.rename_run(ids["renamed-here"], "mine, renamed", store=get_store())
    nbtrack.rename_run(ids["both"], "mine", store=get_store())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = nbtrack.sync(to=pg_url)
    assert report.copied == [ids["renamed-here"]]
    assert sorted(report.newer_there) == sorted([ids["resumed-there"], ids["renamed-there"]])
    assert report.conflicts == [ids["both"]] and report.in_trash == [ids["trashed-there"]]
    assert any("changed on both sides" in str(w.message) or ids["both"] in str(w.message) for w in caught)
    names = dict(zip(nbtrack.runs(store=team)["id"], nbtrack.runs(store=team)["name"]))
    assert names[ids["renamed-there"]] == "renamed by a teammate" and names[ids["both"]] == "theirs"
    assert names[ids["renamed-here"]] == "mine, renamed" and ids["trashed-there"] not in names
    resumed = team.history([ids["resumed-there"]])
    assert sorted(resumed["key"]) == ["cluster_only", "loss", "loss"]  # the cluster's points kept
