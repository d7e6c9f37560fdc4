"""Importing W&B offline runs written by real wandb (WANDB_MODE=offline, in a subprocess)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import numpy as np
import pytest
from helpers import run_python

import nbtrack
from nbtrack import cli
from nbtrack.errors import NbtrackError
from nbtrack.importers import import_wandb_offline
from nbtrack.importers.wandb_offline import read_records

WRITE = """
import json, wandb
run = wandb.init(project="proj-x", name="my-run", config={"lr": 0.01, "opt": {"name": "adam"}},
                 tags=["a", "b"], notes="hello notes", group="g1")
for i in range(5):
    wandb.log({"loss": 1.0 / (i + 1), "val": {"acc": i * 0.25}}, step=i * 2)
wandb.log({"hist": wandb.Histogram([1, 2, 3, 3])}, step=10)
run.summary["best"] = 0.5
print(json.dumps({"id": run.id, "start": run.start_time}))
run.finish(exit_code=%d)
"""


def write_run(tmp_path, exit_code=0):
    proc = run_python(WRITE % exit_code, env={"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path),
                                              "WANDB_SILENT": "true"})
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_offline_run_keeps_name_config_history_summary(tmp_path, store_dir, capsys):
    info = write_run(tmp_path)
    report = import_wandb_offline(tmp_path / "wandb")
    assert (report.runs_imported, report.runs_updated, report.points) == (1, 0, 10)
    assert report.media == 1 and not any("histogram" in line for line in report.not_read)
    counts, edges = np.histogram([1, 2, 3, 3], bins=64)  # what wandb.Histogram computed
    assert nbtrack.media(report.run_ids[0])["data"].tolist() == [
        {"counts": counts.tolist(), "edges": edges.tolist()}]
    assert report.run_ids == [f"wandb-{info['id']}"]

    row = nbtrack.runs().iloc[0]
    assert (row["name"], row["project"], row["status"]) == ("my-run", "proj-x", "finished")
    assert list(row["tags"]) == ["a", "b", "imported:wandb"]
    assert row["notes"] == "hello notes"
    assert (row["config.lr"], row["config.opt.name"]) == (0.01, "adam")
    assert (row["summary.loss"], row["summary.best"], row["summary.val/acc"]) == (0.2, 0.5, 1.0)
    started = datetime.fromtimestamp(info["start"], timezone.utc).replace(tzinfo=None)
    assert abs((row["created_at"] - started).total_seconds()) < 1e-3
    assert "config._wandb" not in row.index

    hist = nbtrack.history(row["id"])
    loss = hist[hist.key == "loss"]
    assert loss["step"].tolist() == [0, 2, 4, 6, 8]
    assert loss["value"].tolist() == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    assert hist[hist.key == "val/acc"]["value"].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    times = loss["time"].tolist()
    assert times == sorted(times) and started <= times[0] <= row["ended_at"]
    record = nbtrack.run_record(row["id"])
    assert record["group_name"] == "g1"
    assert record["environment"]["imported"]["run_id"] == info["id"]

    # again, through the CLI, from the run's own folder: replaced, not duplicated
    folder = next((tmp_path / "wandb").glob("offline-run-*"))
    assert cli.main(["import", "wandb-offline", str(folder)]) == 0
    assert "0 runs imported, 1 updated, 0 skipped; 10 points, 1 media values" in capsys.readouterr().out
    assert len(nbtrack.runs()) == 1
    assert len(nbtrack.history(row["id"])) == 10


def test_failed_and_torn_runs(tmp_path, store_dir):
    write_run(tmp_path, exit_code=3)
    file = next((tmp_path / "wandb").rglob("run-*.wandb"))
    import_wandb_offline(tmp_path / "wandb")
    row = nbtrack.runs().iloc[0]
    assert row["status"] == "failed"
    assert nbtrack.run_record(row["id"])["error"] == "exit code 3"

    # A run killed before its exit record: the records written so far are read.
    records = list(read_records(file))
    data = file.read_bytes()
    file.write_bytes(data[: len(data) * 2 // 3])
    assert 0 < len(list(read_records(file))) < len(records)
    report = import_wandb_offline(tmp_path / "wandb")
    assert report.runs_updated == 1
    row = nbtrack.runs().iloc[0]
    assert row["status"] == "crashed"
    # a torn end is damage too: said in the report and in the run's notes
    (line,) = report.damaged
    size = len(data) * 2 // 3
    found = re.fullmatch(rf"run {file.parent.name}: {re.escape(file.name)} is truncated or corrupted "
                         rf"at byte ([\d,]+) of {size:,}: (\d+) records were imported, ([\d,]+) bytes "
                         "could not be read", line)
    assert found is not None, line
    at, read, lost = (int(g.replace(",", "")) for g in found.groups())
    assert (read, at + lost) == (len(list(read_records(file))), size)  # all after the tear
    assert row["notes"] == "hello notes\nnbtrack import: " + line.split(": ", 1)[1]


LONG = """
import wandb
run = wandb.init(project="long", name="long")
for i in range(600):
    wandb.log({"loss": 1.0 / (i + 1), "acc": i / 600}, step=i)
run.finish()
"""


def test_a_corrupted_record_loses_only_its_block(tmp_path, store_dir, capsys):
    run_python(LONG, env={"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_SILENT": "true"})
    file = next((tmp_path / "wandb").rglob("run-*.wandb"))
    data = bytearray(file.read_bytes())
    assert len(data) > 3 * 32768  # records in several 32 KiB blocks
    data[32768 + 1000] ^= 0xFF  # one flipped bit in the second block
    file.write_bytes(bytes(data))

    assert cli.main(["import", "wandb-offline", str(tmp_path / "wandb")]) == 3
    out, err = capsys.readouterr()
    (line,) = [x for x in out.splitlines() if x.startswith("  damaged: ")]
    assert f"{file.name} is truncated or corrupted at byte " in line and f"of {len(data):,}:" in line
    assert "not everything could be read: 1 damaged, 0 run(s) not imported" in err
    row = nbtrack.runs().iloc[0]
    assert row["status"] == "crashed"  # its exit record was read, but the run here is not whole
    assert row["notes"] == "nbtrack import: " + line.split(": ", 2)[2]

    hist = nbtrack.history(row["id"])
    loss = hist[hist.key == "loss"]
    steps = loss["step"].tolist()
    # the rows of the damaged block are gone; those before and after it are all there
    assert 0 < len(steps) < 600 and steps[0] == 0 and steps[-1] == 599
    assert loss["value"].tolist() == [1.0 / (i + 1) for i in steps]
    gap = sorted(set(range(600)) - set(steps))
    assert gap == list(range(gap[0], gap[-1] + 1))  # one run of lost rows
    acc = hist[hist.key == "acc"]
    assert list(zip(acc["step"], acc["value"])) == [(i, i / 600) for i in steps]


def test_missing_empty_or_foreign_directory(tmp_path, store_dir):
    with pytest.raises(NbtrackError, match="no such directory"):
        import_wandb_offline(tmp_path / "wandb")
    (tmp_path / "wandb").mkdir()
    with pytest.raises(NbtrackError, match=r"no W&B run files \(offline-run-\*/run-\*.wandb\)"):
        import_wandb_offline(tmp_path / "wandb")
    bad = tmp_path / "wandb" / "offline-run-x" / "run-x.wandb"
    bad.parent.mkdir()
    bad.write_bytes(b"not a wandb file")
    report = import_wandb_offline(tmp_path / "wandb")
    assert (report.runs_imported, report.runs_skipped) == (0, 1)
    assert report.not_read[0].startswith("run offline-run-x: could not read run-x.wandb")


MEDIA = """
import glob, os, numpy as np, wandb
run = wandb.init(project="media")
picture = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
wandb.log({"loss": 0.5, "picture": wandb.Image(picture, caption="first <b>"),
           "grid": [wandb.Image(picture[:, :, 0]), wandb.Image(picture[:, :, 1])],
           "dist": wandb.Histogram(np_histogram=([1, 0, 4], [0.0, 0.5, 2.0, 3.25])),
           "preds": wandb.Table(columns=["x", "label"], data=[[1, "cat"], [2.5, None]]),
           "sample": "generated text", "page": wandb.Html("<p>hi</p>")}, step=3)
wandb.log({"loss": 0.25, "gone": wandb.Image(picture)}, step=4)
files = run.dir
run.finish()
for name in glob.glob(os.path.join(files, "media", "images", "gone_*.png")):
    os.remove(name)  # as if the file were lost
"""


def test_offline_media_become_nbtrack_media(tmp_path, store_dir):
    run_python(MEDIA, env={"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_SILENT": "true"})
    report = import_wandb_offline(tmp_path / "wandb")
    assert (report.points, report.media) == (2, 6)
    assert "1 html-file values (nbtrack has no such media)" in report.not_read
    assert "1 image-file values whose file is not in the run's files/ folder" in report.not_read

    run_id = report.run_ids[0]
    rows = nbtrack.media(run_id)
    assert list(zip(rows["key"], rows["step"], rows["idx"], rows["kind"])) == [
        ("dist", 3, 0, "histogram"), ("grid", 3, 0, "image"), ("grid", 3, 1, "image"),
        ("picture", 3, 0, "image"), ("preds", 3, 0, "table"), ("sample", 3, 0, "text")]
    # every value keeps the time of the history row it was logged in (metric and media
    # times are both rounded to the microsecond)
    logged = nbtrack.history(run_id)
    (row_time,) = set(logged[logged.step == 3]["time"])
    assert all(t == row_time for t in rows["time"])
    assert len(set(rows["time"])) == 1

    by_key = rows.set_index(["key", "idx"])
    assert by_key.loc[("dist", 0), "data"] == {"counts": [1, 0, 4], "edges": [0.0, 0.5, 2.0, 3.25]}
    picture = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    assert by_key.loc[("picture", 0), "caption"] == "first <b>"
    assert np.array_equal(np.asarray(nbtrack.load_media(by_key.loc[("picture", 0)])), picture)
    for idx in (0, 1):
        assert np.array_equal(np.asarray(nbtrack.load_media(by_key.loc[("grid", idx)])),
                              picture[:, :, idx])
    table = by_key.loc[("preds", 0)]
    assert nbtrack.load_media(table).columns.tolist() == ["x", "label"]
    with open(table["path"], encoding="utf-8") as handle:
        assert json.load(handle) == {"columns": ["x", "label"], "data": [[1, "cat"], [2.5, None]]}
    assert nbtrack.load_media(by_key.loc[("sample", 0)]) == "generated text"


def test_packed_histogram_bins_and_unknown_types():
    from pathlib import Path

    from nbtrack.importers._wandb_media import Unreadable, convert

    # wandb.watch logs gradients with equal bins given as start, width and count
    packed = {"_type": "histogram", "values": [1, 2, 3, 4],
              "packedBins": {"min": -1.0, "size": 0.5, "count": 4}}
    hist = convert(packed, Path("files"))
    assert (hist.counts, hist.edges) == ([1.0, 2.0, 3.0, 4.0], [-1.0, -0.5, 0.0, 0.5, 1.0])
    with pytest.raises(Unreadable, match=r"^audio-file values \(nbtrack has no such media\)$"):
        convert({"_type": "audio-file", "path": "media/audio/a.wav"}, Path("files"))
    with pytest.raises(Unreadable, match="image-file values with a path outside the run's files/"):
        convert({"_type": "image-file", "path": "../../../etc/passwd"}, Path("files"))


DEFINE = """
import wandb
run = wandb.init(project="defs", name="defs", job_type="train")
run.define_metric("epoch")
run.define_metric("val/*", step_metric="epoch", summary="min")
run.define_metric("train/loss", step_metric="epoch", summary="max")
for i in range(3):
    run.log({"train/loss": 1.0 / (i + 1), "val/loss": 2.0 / (i + 1), "val/acc": 0.1 * i, "epoch": i * 10})
run.finish()
"""


def test_define_metric_and_job_type_are_kept(tmp_path, store_dir):
    run_python(DEFINE, env={"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_SILENT": "true"})
    report = import_wandb_offline(tmp_path / "wandb")
    record = nbtrack.run_record(report.run_ids[0])
    # where nbtrack.init(job_type=) and run.define_metric keep them
    assert record["tags"] == ["job_type:train", "imported:wandb"]
    assert record["environment"]["imported"]["job_type"] == "train"
    assert record["environment"]["define_metric"] == {
        "epoch": {}, "val/*": {"step_metric": "epoch", "summary": "min"},
        "train/loss": {"step_metric": "epoch", "summary": "max"}}
    # W&B's summary under those rules ({"min": ...} there) is each metric's one value here
    summary = record["summary"]
    assert (summary["val/loss"], summary["val/acc"], summary["train/loss"], summary["epoch"]) == (
        2.0 / 3, 0.0, 1.0, 20)
    hist = nbtrack.history(record["id"])
    series = {k: list(zip(g["step"], g["value"])) for k, g in hist.groupby("key")}
    assert series == {"train/loss": [(i, 1.0 / (i + 1)) for i in range(3)],
                      "val/loss": [(i, 2.0 / (i + 1)) for i in range(3)],
                      "val/acc": [(i, 0.1 * i) for i in range(3)],
                      "epoch": [(i, float(i * 10)) for i in range(3)]}
