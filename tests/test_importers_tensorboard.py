"""Importing TensorBoard event files written by PyTorch's real SummaryWriter."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

import nbtrack
from nbtrack import cli
from nbtrack.errors import NbtrackError
from nbtrack.importers import import_tensorboard

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


def f32(x: float) -> float:
    return float(np.float32(x))  # TensorBoard keeps scalars as 32-bit floats


def write_logs(logdir, steps=3):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(logdir))
    for step in range(steps):
        writer.add_scalar("loss", 1.0 / (step + 1), global_step=step, walltime=T0 + step)
    writer.add_scalar("legacy", 2.5, global_step=7, walltime=T0 + 7, new_style=False)
    writer.add_scalars("lr", {"a": 0.1, "b": 0.2}, global_step=1, walltime=T0 + 10.5)
    writer.add_text("note", "hello", global_step=0, walltime=T0)
    writer.add_histogram("weights", np.arange(10), global_step=2, walltime=T0 + 2)
    writer.add_hparams({"lr": 0.01, "bs": 32, "opt": "adam"}, {"hparam/acc": 0.9})
    writer.close()


def test_scalars_hparams_and_add_scalars_make_one_run(tmp_path, store_dir):
    write_logs(tmp_path / "logs" / "exp1")
    report = import_tensorboard(tmp_path / "logs")
    assert (report.runs_imported, report.runs_updated, report.runs_skipped) == (1, 0, 0)
    assert (report.points, report.media) == (7, 2)
    assert report.not_read == []

    runs = nbtrack.runs()
    assert len(runs) == 1
    row = runs.iloc[0]
    assert (row["name"], row["project"], row["status"]) == ("exp1", "logs", "finished")
    assert list(row["tags"]) == ["imported:tensorboard"]
    assert row["created_at"] == datetime(2023, 11, 14, 22, 13, 20)
    assert (row["config.lr"], row["config.bs"], row["config.opt"]) == (0.01, 32, "adam")

    hist = nbtrack.history(row["id"])
    series = {k: list(zip(g["step"], g["value"])) for k, g in hist.groupby("key")}
    assert series == {
        "loss": [(0, 1.0), (1, 0.5), (2, f32(1 / 3))],
        "legacy": [(7, 2.5)],
        "lr/a": [(1, f32(0.1))],
        "lr/b": [(1, f32(0.2))],
        "hparam/acc": [(0, f32(0.9))],
    }
    loss_times = hist[hist.key == "loss"]["time"].tolist()
    assert loss_times == [datetime(2023, 11, 14, 22, 13, 20 + s) for s in range(3)]
    assert hist[hist.key == "lr/a"]["time"].tolist() == [datetime(2023, 11, 14, 22, 13, 30, 500000)]

    record = nbtrack.run_record(row["id"])
    assert record["kind"] == "import"
    assert record["environment"]["imported"] == {
        "tool": "tensorboard", "path": str((tmp_path / "logs" / "exp1").resolve())}
    assert record["summary"]["loss"] == f32(1 / 3)


def test_import_again_replaces_the_run(tmp_path, store_dir):
    from torch.utils.tensorboard import SummaryWriter

    logdir = tmp_path / "runs" / "a"
    with SummaryWriter(str(logdir)) as writer:
        writer.add_scalar("x", 1.0, 0, walltime=T0)
    first = import_tensorboard(tmp_path / "runs", project="p")
    with SummaryWriter(str(logdir)) as writer:  # training went on: a second event file
        writer.add_scalar("x", 2.0, 1, walltime=T0 + 1)
    again = import_tensorboard(tmp_path / "runs", project="p")

    assert (again.runs_imported, again.runs_updated, again.points) == (0, 1, 2)
    assert again.run_ids == first.run_ids
    assert nbtrack.runs()["id"].tolist() == first.run_ids
    hist = nbtrack.history(first.run_ids[0])
    assert list(zip(hist["step"], hist["value"])) == [(0, 1.0), (1, 2.0)]


def test_separate_folders_are_separate_runs(tmp_path, store_dir):
    from torch.utils.tensorboard import SummaryWriter

    for name, value in (("lr_0.1", 0.5), ("lr_0.01", 0.7)):
        with SummaryWriter(str(tmp_path / "sweep" / name)) as writer:
            writer.add_scalar("loss", value, 0, walltime=T0)
    report = import_tensorboard(tmp_path / "sweep")
    assert report.runs_imported == 2
    runs = nbtrack.runs().sort_values("name")
    assert runs["name"].tolist() == ["lr_0.01", "lr_0.1"]
    assert runs["summary.loss"].tolist() == [f32(0.7), 0.5]


def test_missing_or_empty_directory_says_so(tmp_path, store_dir, capsys):
    with pytest.raises(NbtrackError, match="no such directory"):
        import_tensorboard(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NbtrackError, match=r"no TensorBoard event files \(events.out.tfevents.\*\)"):
        import_tensorboard(tmp_path / "empty")
    assert cli.main(["import", "tensorboard", str(tmp_path / "empty")]) == 1
    assert "no TensorBoard event files" in capsys.readouterr().err
    assert not (store_dir / "nbtrack.duckdb").exists()


def test_cli_prints_the_report(tmp_path, store_dir, capsys):
    write_logs(tmp_path / "logs" / "exp1")
    assert cli.main(["import", "tensorboard", str(tmp_path / "logs"), "--project", "tb"]) == 0
    out = capsys.readouterr().out
    assert f"tensorboard {tmp_path / 'logs'}: 1 run imported, 0 updated, 0 skipped; 7 points" in out
    assert "7 points, 2 media values in" in out and "not imported" not in out
    assert nbtrack.runs()["project"].tolist() == ["tb"]


# -- histograms, images and text ------------------------------------------------------
DBL_MAX = np.finfo(np.float64).max


def _pixels(row):
    return np.asarray(nbtrack.load_media(row))


def _hist(row):
    return row["data"]["counts"], row["data"]["edges"]


def test_histograms_images_and_text_keep_values_steps_and_times(tmp_path, store_dir):
    from torch.utils.tensorboard import SummaryWriter

    rng = np.random.default_rng(0)
    weights = [rng.normal(size=200) * (step + 1) for step in range(2)]
    picture = rng.integers(0, 256, size=(3, 6, 8), dtype=np.uint8)  # C×H×W, as torch keeps it
    grey = np.arange(12, dtype=np.uint8).reshape(1, 3, 4) * 20
    with SummaryWriter(str(tmp_path / "logs" / "exp1")) as writer:
        for step in range(2):
            writer.add_histogram("weights", weights[step], step, bins=16, walltime=T0 + step)
        # explicit bins with empty outer ones: SummaryWriter itself drops those
        writer.add_histogram("fixed", np.array([1.5, 2.5, 2.5, 3.5]), 4, bins=np.arange(7.0),
                             walltime=T0 + 4)
        # TensorFlow's outer buckets reach to -DBL_MAX and DBL_MAX
        writer.add_histogram_raw("raw", min=-3.0, max=5.0, num=6, sum=0.0, sum_squares=0.0,
                                 bucket_limits=[-DBL_MAX, -1.0, 0.0, DBL_MAX],
                                 bucket_counts=[0, 1, 2, 3], global_step=5, walltime=T0 + 5)
        writer.add_image("sample", picture, 3, walltime=T0 + 3.25)
        writer.add_image("grey", grey, 3, walltime=T0 + 3.25)
        writer.add_text("note", "lr *halved*\nunicode: é", 2, walltime=T0 + 2.5)
    report = import_tensorboard(tmp_path / "logs")
    assert (report.points, report.media, report.not_read) == (0, 7, [])

    rows = nbtrack.media(report.run_ids[0])
    assert list(zip(rows["key"], rows["step"], rows["kind"])) == [
        ("fixed", 4, "histogram"), ("grey", 3, "image"), ("note", 2, "text"),
        ("raw", 5, "histogram"), ("sample", 3, "image"),
        ("weights", 0, "histogram"), ("weights", 1, "histogram")]
    assert rows["time"].tolist() == [datetime.fromtimestamp(T0 + s, timezone.utc).replace(tzinfo=None)
                                     for s in (4, 3.25, 2.5, 5, 3.25, 0, 1)]
    by_key = rows.groupby("key")
    for step, row in enumerate(by_key.get_group("weights").itertuples()):
        counts, edges = np.histogram(weights[step], bins=16)
        assert row.data == {"counts": counts.tolist(), "edges": edges.tolist()}
    assert _hist(by_key.get_group("fixed").iloc[0]) == ([1, 2, 1], [1.0, 2.0, 3.0, 4.0])
    assert _hist(by_key.get_group("raw").iloc[0]) == ([1, 2, 3], [-3.0, -1.0, 0.0, 5.0])

    sample = by_key.get_group("sample").iloc[0]
    assert np.array_equal(_pixels(sample), picture.transpose(1, 2, 0))
    assert (sample["meta"]["width"], sample["meta"]["height"]) == (8, 6)
    assert np.array_equal(_pixels(by_key.get_group("grey").iloc[0]),
                          np.repeat(grey.transpose(1, 2, 0), 3, axis=2))  # torch stores grey as RGB
    assert nbtrack.load_media(by_key.get_group("note").iloc[0]) == "lr *halved*\nunicode: é"

    # importing again replaces the media instead of adding a second copy
    again = import_tensorboard(tmp_path / "logs")
    assert (again.runs_updated, again.media) == (1, 7)
    assert len(nbtrack.media()) == 7


def test_tensor_summaries_as_tensorflow_2_writes_them(tmp_path, store_dir):
    from tensorboard import data_compat
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.histogram.summary_v2 import histogram_pb
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import image

    values = np.array([0.0, 1.0, 1.0, 4.0, 10.0])
    picture = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(3, 2, 3) * 10  # H×W×C
    with SummaryWriter(str(tmp_path / "logs" / "tf")) as writer:
        file_writer = writer._get_file_writer()
        file_writer.add_summary(histogram_pb("dist", values, buckets=5), 7, T0 + 7)
        legacy = image("pic", picture, dataformats="HWC").value[0]
        file_writer.add_summary(Summary(value=[data_compat.migrate_value(legacy)]), 8, T0 + 8)
        junk = Summary.Value(tag="broken", image=Summary.Image(encoded_image_string=b"not a png"))
        file_writer.add_summary(Summary(value=[junk]), 9, T0 + 9)
    report = import_tensorboard(tmp_path / "logs")
    assert report.media == 2
    assert report.not_read == ["1 image summaries (unreadable or empty)"]

    rows = nbtrack.media().set_index("key")
    assert rows.loc["dist", "kind"] == "histogram" and rows.loc["dist", "step"] == 7
    assert _hist(rows.loc["dist"]) == ([3, 0, 1, 0, 1], [0.0, 2.0, 4.0, 6.0, 8.0, 10.0])
    assert rows.loc["pic", "step"] == 8
    assert np.array_equal(_pixels(rows.loc["pic"]), picture)


def test_cli_takes_store_after_the_tool(tmp_path, store_dir, capsys):
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(tmp_path / "logs" / "a")) as writer:
        writer.add_scalar("x", 1.0, 0, walltime=T0)
    other = tmp_path / "elsewhere"
    assert cli.main(["import", "tensorboard", str(tmp_path / "logs"), "--store", str(other)]) == 0
    assert f"store: {other}" in capsys.readouterr().out
    assert nbtrack.runs(store=other)["name"].tolist() == ["a"]
    assert not (store_dir / "nbtrack.duckdb").exists()


def test_more_buckets_than_nbtrack_keeps_are_merged_by_neighbours(tmp_path, store_dir):
    from torch.utils.tensorboard import SummaryWriter

    values = np.arange(1000.0)
    with SummaryWriter(str(tmp_path / "logs" / "wide")) as writer:
        writer.add_histogram("wide", values, 0, bins=1000, walltime=T0)
    import_tensorboard(tmp_path / "logs")
    counts, edges = _hist(nbtrack.media().iloc[0])
    logged_edges = np.histogram(values, bins=1000)[1]
    assert counts == [2.0] * 500  # 1000 buckets of one value, two at a time
    assert edges == logged_edges[::2].tolist()


# -- layouts: add_scalars folders and TensorFlow's HParams trials ------------------------
@pytest.mark.parametrize("writer_module", ["tensorboardX", "torch.utils.tensorboard"])
def test_add_scalars_folders_are_metrics_of_the_run_that_wrote_them(tmp_path, store_dir, writer_module):
    """tensorboardX writes ``<run>/<main_tag>/<tag>/``, PyTorch ``<run>/<main_tag>_<tag>/``."""
    module = pytest.importorskip(writer_module, reason=f"pip install {writer_module.split('.')[0]}")
    writer = module.SummaryWriter(str(tmp_path / "logs" / "exp"))
    for step in range(3):
        writer.add_scalars("loss", {"train": 1.0 / (step + 1), "val": 2.0 / (step + 3)},
                           step, walltime=T0 + step)
        writer.add_scalars("acc/top", {"k1": 0.1 * step, "k5": 0.3 * step}, step, walltime=T0 + step)
        writer.add_scalar("lr", 0.01 * step, step, walltime=T0 + step)
    writer.add_hparams({"lr": 0.01, "bs": 32}, {"hparam/acc": 0.75})
    writer.close()
    layout = "acc/top/k5" if writer_module == "tensorboardX" else "acc_top_k5"
    assert (tmp_path / "logs" / "exp" / layout).is_dir()  # the two layouts differ

    report = import_tensorboard(tmp_path / "logs")
    assert (report.runs_imported, report.points, report.not_read) == (1, 16, [])
    (run,) = nbtrack.runs().itertuples()
    assert run.name == "exp"
    assert nbtrack.run_record(run.id)["config"] == {"lr": 0.01, "bs": 32}
    hist = nbtrack.history(run.id)
    series = {k: list(zip(g["step"], g["value"])) for k, g in hist.groupby("key")}
    assert series == {
        "loss/train": [(s, f32(1.0 / (s + 1))) for s in range(3)],
        "loss/val": [(s, f32(2.0 / (s + 3))) for s in range(3)],
        "acc/top/k1": [(s, f32(0.1 * s)) for s in range(3)],
        "acc/top/k5": [(s, f32(0.3 * s)) for s in range(3)],
        "lr": [(s, f32(0.01 * s)) for s in range(3)],
        "hparam/acc": [(0, f32(0.75))],
    }
    times = hist[hist.key == "loss/val"]["time"].tolist()
    assert times == [datetime(2023, 11, 14, 22, 13, 20 + s) for s in range(3)]


def write_hparams_tuning(root, trials):
    """TensorFlow's HParams tutorial, as ``hp.hparams_config`` / ``hp.hparams`` and Keras'
    TensorBoard callback write it: the experiment in the root, one folder per trial."""
    from tensorboard.plugins.hparams import summary_v2 as hp
    from tensorboard.plugins.scalar.summary_v2 import scalar_pb
    from torch.utils.tensorboard.writer import FileWriter

    def write(folder, summaries):
        writer = FileWriter(str(folder))
        for summary, step, seconds in summaries:
            writer.add_summary(summary, step, seconds)
        writer.close()

    write(root, [(hp.hparams_config_pb(
        hparams=[hp.HParam("units", hp.Discrete([16, 32])), hp.HParam("dropout", hp.RealInterval(0.1, 0.2)),
                 hp.HParam("optimizer", hp.Discrete(["adam", "sgd"]))],
        metrics=[hp.Metric("accuracy")]), 0, T0)])
    for i, hparams in enumerate(trials):
        trial = root / f"run-{i}"
        start = T0 + 100 * i
        write(trial, [(hp.hparams_pb(hparams, start_time_secs=start), 0, start),
                      (scalar_pb("accuracy", 0.5 + 0.125 * i), 1, start + 50)])
        for group, offset in (("train", 0.0), ("validation", 0.0625)):
            write(trial / group, [(scalar_pb("epoch_loss", 1.0 / (epoch + 1) + offset + i), epoch,
                                   start + epoch) for epoch in range(3)])


def test_tensorflow_hparams_layout_is_one_run_per_trial(tmp_path, store_dir):
    trials = [{"units": 16, "dropout": 0.1, "optimizer": "adam"},
              {"units": 32, "dropout": 0.2, "optimizer": "sgd"},
              {"units": 32, "dropout": 0.1, "optimizer": "sgd"}]
    write_hparams_tuning(tmp_path / "hparam_tuning", trials)
    report = import_tensorboard(tmp_path / "hparam_tuning")
    assert (report.runs_imported, report.points, report.not_read) == (3, 3 * 7, [])

    runs = nbtrack.runs().set_index("name").sort_index()
    assert runs.index.tolist() == ["run-0", "run-1", "run-2"]
    for i, hparams in enumerate(trials):
        run = runs.loc[f"run-{i}"]
        assert nbtrack.run_record(run["id"])["config"] == hparams
        hist = nbtrack.history(run["id"])
        series = {k: list(zip(g["step"], g["value"])) for k, g in hist.groupby("key")}
        assert series == {
            "accuracy": [(1, 0.5 + 0.125 * i)],
            "train/epoch_loss": [(e, f32(1.0 / (e + 1) + i)) for e in range(3)],
            "validation/epoch_loss": [(e, f32(1.0 / (e + 1) + 0.0625 + i)) for e in range(3)],
        }
        assert run["created_at"] == datetime.fromtimestamp(T0 + 100 * i, timezone.utc).replace(tzinfo=None)


# -- damaged event files --------------------------------------------------------------
def record_ends(file):
    """The byte offset where each TFRecord of an event file ends."""
    import struct

    data, ends, pos = file.read_bytes(), [], 0
    while pos < len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        pos += 16 + length  # length, its crc, the event, its crc
        ends.append(pos)
    return ends


def test_damaged_event_files_are_reported_and_what_they_hold_is_kept(tmp_path, store_dir, capsys):
    from torch.utils.tensorboard import SummaryWriter

    for name in ("truncated", "corrupted", "whole"):
        with SummaryWriter(str(tmp_path / "logs" / name)) as writer:
            for step in range(10):
                writer.add_scalar("loss", 1.0 / (step + 1), step, walltime=T0 + step)
    (truncated,) = (tmp_path / "logs" / "truncated").glob("events.out.tfevents.*")
    (corrupted,) = (tmp_path / "logs" / "corrupted").glob("events.out.tfevents.*")
    ends = record_ends(truncated)
    assert len(ends) == 11  # the file version, then one record per step
    size = len(truncated.read_bytes())
    truncated.write_bytes(truncated.read_bytes()[: ends[5] + 7])  # a writer killed mid-record
    data = bytearray(corrupted.read_bytes())
    data[ends[3] + 14] ^= 0xFF  # a flipped bit in the event of step 3
    corrupted.write_bytes(bytes(data))

    assert cli.main(["import", "tensorboard", str(tmp_path / "logs")]) == 3
    out, err = capsys.readouterr()
    assert "3 runs imported, 0 updated, 0 skipped; 18 points" in out
    damaged = [line for line in out.splitlines() if line.startswith("  damaged: ")]
    assert damaged == [
        f"  damaged: run corrupted: {corrupted.name} is truncated or corrupted at byte {ends[3]:,} "
        f"of {size:,}: its first 4 records were imported, the rest could not be read",
        f"  damaged: run truncated: {truncated.name} is truncated or corrupted at byte {ends[5]:,} "
        f"of {ends[5] + 7:,}: its first 6 records were imported, the rest could not be read"]
    assert "not everything could be read: 2 damaged, 0 run(s) not imported" in err

    runs = nbtrack.runs().set_index("name")
    assert runs["status"].to_dict() == {"corrupted": "crashed", "truncated": "crashed", "whole": "finished"}
    for name, steps in (("corrupted", 3), ("truncated", 5), ("whole", 10)):
        hist = nbtrack.history(runs.loc[name, "id"])
        assert list(zip(hist["step"], hist["value"])) == [(s, f32(1.0 / (s + 1))) for s in range(steps)]
    record = nbtrack.run_record(runs.loc["truncated", "id"])
    assert record["notes"] == f"nbtrack import: {damaged[1].split(': ', 2)[2]}"
    assert record["error"] == damaged[1].split(": ", 2)[2]
    assert nbtrack.run_record(runs.loc["whole", "id"])["notes"] is None
