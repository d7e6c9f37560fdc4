"""Images, histograms, tables and text logged through run.log, read back exactly."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

import nbtrack
from nbtrack import MetricValueError, NbtrackError


def _pixels(row):
    return np.asarray(nbtrack.load_media(row))


def test_an_image_array_round_trips_pixel_for_pixel(store_dir):
    rgb = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    with nbtrack.init(name="img") as run:
        run.log({"loss": 0.5, "sample": nbtrack.Image(rgb, caption="<b>digit 7</b>")})
    rows = nbtrack.media(run)
    assert list(rows["key"]) == ["sample"] and list(rows["step"]) == [0]
    row = rows.iloc[0]
    assert row["kind"] == "image" and row["caption"] == "<b>digit 7</b>"
    assert row["meta"]["width"] == 5 and row["meta"]["height"] == 4
    assert np.array_equal(_pixels(row), rgb)
    # scalars of the same call share its step
    assert nbtrack.history(run)["step"].tolist() == [0]


def test_float_images_scale_and_chw_tensors_are_transposed(store_dir):
    grey = np.array([[0.0, 0.5], [1.0, 0.25]])
    chw = np.zeros((3, 2, 5), dtype=np.uint8)
    chw[0] = 200  # red channel
    torch = pytest.importorskip("torch")
    tensor = torch.zeros((3, 2, 4))  # a torch tensor is C×H×W even when W could be channels
    tensor[1] = 1.0
    with nbtrack.init(name="img") as run:
        run.log({"grey": nbtrack.Image(grey), "chw": nbtrack.Image(chw), "tensor": nbtrack.Image(tensor)})
    rows = nbtrack.media(run).set_index("key")
    assert _pixels(rows.loc["grey"]).tolist() == [[0, 128], [255, 64]]
    pixels = _pixels(rows.loc["chw"])
    assert pixels.shape == (2, 5, 3) and (pixels[..., 0] == 200).all() and (pixels[..., 1:] == 0).all()
    pixels = _pixels(rows.loc["tensor"])
    assert pixels.shape == (2, 4, 3) and (pixels[..., 1] == 255).all() and (pixels[..., 0] == 0).all()


def test_pil_images_figures_and_files_are_images(store_dir, tmp_path):
    PIL = pytest.importorskip("PIL.Image")
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    jpeg = tmp_path / "photo.jpg"
    PIL.new("RGB", (7, 3), (10, 200, 30)).save(jpeg, format="JPEG")
    fig, ax = plt.subplots(figsize=(2, 1), dpi=50)
    ax.plot([1, 2, 3])
    with nbtrack.init(name="img") as run:
        run.log({"pil": PIL.new("L", (3, 2), 9), "fig": fig, "file": nbtrack.Image(jpeg)})
    plt.close(fig)
    rows = nbtrack.media(run).set_index("key")
    assert _pixels(rows.loc["pil"]).tolist() == [[9, 9, 9], [9, 9, 9]]
    assert rows.loc["fig", "meta"]["format"] == "png" and rows.loc["fig", "meta"]["width"] > 10
    # a file is stored as it is: same bytes, same format
    stored = rows.loc["file"]
    assert stored["meta"]["format"] == "jpeg"
    assert (stored["meta"]["width"], stored["meta"]["height"]) == (7, 3)
    with open(stored["path"], "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == hashlib.sha256(jpeg.read_bytes()).hexdigest()


def test_the_same_picture_is_stored_once(store_dir):
    picture = np.full((8, 8), 7, dtype=np.uint8)
    with nbtrack.init(name="img") as run:
        for step in range(50):
            run.log({"same": nbtrack.Image(picture)}, step=step)
    rows = nbtrack.media(run)
    assert rows["step"].tolist() == list(range(50))
    assert rows["path"].nunique() == 1
    assert len([p for p in (store_dir / "media").rglob("*") if p.is_file()]) == 1


def test_a_list_of_images_is_one_step_in_order(store_dir):
    with nbtrack.init(name="grid") as run:
        run.log({"grid": [nbtrack.Image(np.full((2, 2), v, dtype=np.uint8), caption=str(v))
                          for v in (1, 2, 3)]})
        run.log({"grid": [nbtrack.Image(np.full((2, 2), 4, dtype=np.uint8))]})
    rows = nbtrack.media(run, "grid")
    assert rows[["step", "idx"]].values.tolist() == [[0, 0], [0, 1], [0, 2], [1, 0]]
    assert rows["caption"].tolist()[:3] == ["1", "2", "3"]
    assert [int(_pixels(r)[0, 0]) for _, r in rows.iterrows()] == [1, 2, 3, 4]


def test_histograms_keep_exact_bins_and_count_non_finite_values(store_dir):
    values = np.array([0.0, 1.0, 1.5, 2.0, 2.0, 3.0, math.nan, math.inf])
    counts, edges = np.histogram(values[np.isfinite(values)], bins=3)
    with nbtrack.init(name="hist") as run:
        for step in range(3):
            run.log({"w": nbtrack.Histogram(values + step, num_bins=3)})
        run.log({"pre": nbtrack.Histogram(np_histogram=([1, 2], [0.0, 0.5, 1.0]))})
    rows = nbtrack.media(run, kind="histogram")
    first = rows[rows["key"] == "w"].iloc[0]
    assert first["data"]["counts"] == counts.tolist() and first["data"]["edges"] == edges.tolist()
    assert first["meta"] == {"bins": 3, "count": 6.0, "nan": 1, "inf": 1}
    long = nbtrack.rich_media.histogram_frame(rows)
    assert long[long["key"] == "w"]["step"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    pre = long[long["key"] == "pre"][["lo", "hi", "count"]].values.tolist()
    assert pre == [[0.0, 0.5, 1.0], [0.5, 1.0, 2.0]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of"),
        ({"sequence": [1], "num_bins": 0}, "num_bins"),
        ({"np_histogram": ([1, 2], [0, 1])}, "one more edge"),
        ({"sequence": ["a"]}, "must be numbers"),
    ],
)
def test_bad_histograms_say_what_to_fix(kwargs, message):
    with pytest.raises(NbtrackError, match=message):
        nbtrack.Histogram(**kwargs)


def test_tables_round_trip_a_dataframe_with_unicode_and_missing_values(store_dir):
    frame = pd.DataFrame({"image id": [1, 2, 3], "label": ["猫", "dog", "<script>"],
                          "p": [0.9, float("nan"), 0.25], "ok": [True, False, True]})
    with nbtrack.init(name="tab") as run:
        run.log({"preds": nbtrack.Table(dataframe=frame)})
        run.log({"pairs": nbtrack.Table(columns=["x", "y"], data=[[1, "a"], [2, None]])})
    rows = nbtrack.media(run, kind="table").set_index("key")
    back = nbtrack.load_media(rows.loc["preds"])
    assert back.columns.tolist() == ["image id", "label", "p", "ok"]
    assert back["label"].tolist() == ["猫", "dog", "<script>"] and back["ok"].tolist() == [True, False, True]
    assert back["p"].iloc[0] == 0.9 and back["p"].isna().iloc[1]
    assert rows.loc["preds", "meta"] == {"rows": 3, "columns": ["image id", "label", "p", "ok"]}
    pairs = nbtrack.load_media(rows.loc["pairs"])
    assert pairs["x"].tolist() == [1, 2] and pairs["y"].iloc[0] == "a" and pd.isna(pairs["y"].iloc[1])
    with pytest.raises(NbtrackError, match="a row has 1 values for 2 columns"):
        nbtrack.Table(columns=["x", "y"], data=[[1]])


def test_tables_built_row_by_row_as_in_wandb(store_dir):
    table = nbtrack.Table(columns=["id", "prediction", "p"])
    for i, (label, p) in enumerate([("cat", 0.9), ("dog", float("nan"))]):
        table.add_data(i, label, np.float32(p))
    table.add_column("ok", [True, False])
    assert table.data == [[0, "cat", pytest.approx(0.9), True], [1, "dog", None, False]]
    with pytest.raises(NbtrackError, match="a row has 2 values for 4 columns"):
        table.add_data(2, "bird")
    with pytest.raises(NbtrackError, match="1 values for 2 rows"):
        table.add_column("extra", [1])
    untitled = nbtrack.Table()
    untitled.add_data("a", 1)
    assert untitled.columns == ["col0", "col1"]
    with nbtrack.init(name="tab") as run:
        run.log({"preds": table})
    back = nbtrack.load_media(nbtrack.media(run, kind="table").iloc[0])
    assert back.columns.tolist() == ["id", "prediction", "p", "ok"]
    assert back["prediction"].tolist() == ["cat", "dog"] and back["ok"].tolist() == [True, False]
    assert back["p"].iloc[0] == pytest.approx(0.9) and back["p"].isna().iloc[1]


def test_text_short_inline_long_in_a_file(store_dir):
    long = "λ" * 20_000
    with nbtrack.init(name="txt") as run:
        run.log({"sample": nbtrack.Text("héllo <i>world</i>")})
        run.log({"sample": nbtrack.Text(long)})
    rows = nbtrack.media(run, "sample")
    assert rows["path"].iloc[0] is None and rows["data"].iloc[0] == "héllo <i>world</i>"
    assert rows["path"].iloc[1] is not None and nbtrack.load_media(rows.iloc[1]) == long


def test_media_only_calls_move_the_step_like_scalars(store_dir):
    with nbtrack.init(name="steps") as run:
        run.log({"a": nbtrack.Text("x")})
        run.log({"b": nbtrack.Text("y")}, commit=False)
        run.log({"loss": 1.0})
        run.log({"c": nbtrack.Text("z")}, step=10)
        assert run.step == 11
    assert nbtrack.media(run)[["key", "step"]].values.tolist() == [["a", 0], ["b", 1], ["c", 10]]
    assert nbtrack.history(run)[["key", "step"]].values.tolist() == [["loss", 1]]


def test_strings_and_arrays_still_point_to_the_media_types(store_dir):
    run = nbtrack.init(name="bad")
    hint = r"nbtrack\.Image, nbtrack\.Histogram, nbtrack\.Table and nbtrack\.Text"
    with pytest.raises(MetricValueError, match=hint):
        run.log({"note": "text"})
    with pytest.raises(NbtrackError, match="not an image"):
        nbtrack.Image(np.zeros((2, 2, 7)))
    with pytest.raises(MetricValueError, match="one kind"):
        run.log({"mixed": [nbtrack.Text("a"), nbtrack.Histogram([1])]})
    run.finish()


def test_an_unwritable_media_folder_warns_once_and_training_goes_on(store_dir):
    store_dir.mkdir(parents=True)
    (store_dir / "media").write_text("not a folder")  # every media file write fails
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with nbtrack.init(name="full") as run:
            for step in range(5):
                run.log({"loss": float(step), "img": nbtrack.Image(np.zeros((2, 2)))})
    messages = [str(w.message) for w in caught if "could not store the image" in str(w.message)]
    assert len(messages) == 1 and "your code keeps running" in messages[0]
    assert nbtrack.history(run)["value"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert len(nbtrack.media(run)) == 0


def test_media_shows_in_sql_and_leaves_with_deleted_runs(store_dir):
    with nbtrack.init(name="keep") as keep:
        keep.log({"t": nbtrack.Text("a")})
    with nbtrack.init(name="gone") as gone:
        gone.log({"t": nbtrack.Text("b")})
    nbtrack.delete_runs([gone.id])
    assert nbtrack.sql("SELECT data FROM media")["data"].tolist() == ["a"]
    assert nbtrack.media()["run_id"].tolist() == [keep.id]
    meta = nbtrack.sql("SELECT meta FROM media")["meta"].iloc[0]
    assert json.loads(meta) == {"chars": 1}


def test_media_logged_from_a_track_cell(store_dir):
    from IPython.testing.globalipapp import get_ipython

    ip = get_ipython()
    ip.run_line_magic("load_ext", "nbtrack")
    result = ip.run_cell(
        "%%track cell-media\n"
        "import numpy as np, nbtrack\n"
        "for i in range(3):\n"
        "    nbtrack.log({'loss': 1.0 / (i + 1), 'h': nbtrack.Histogram(np.arange(i + 2), num_bins=2)})\n"
    )
    assert result.error_in_exec is None
    run_id = nbtrack.runs().query("name == 'cell-media'")["id"].iloc[0]
    rows = nbtrack.media(run_id)
    assert rows["step"].tolist() == [0, 1, 2]
    assert [sum(d["counts"]) for d in rows["data"]] == [2, 3, 4]


def test_importing_nbtrack_does_not_load_pillow():
    from helpers import run_python

    out = run_python("import sys, nbtrack; print('PIL' in sys.modules, 'nbtrack.rich_media' in sys.modules)")
    assert out.stdout.split() == ["False", "False"]


def test_png_bytes_are_valid_png(store_dir):
    with nbtrack.init(name="png") as run:
        run.log({"x": nbtrack.Image(np.zeros((3, 3, 4), dtype=np.uint8))})
    path = nbtrack.media(run)["path"].iloc[0]
    with open(path, "rb") as handle:
        data = handle.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    assert Image.open(io.BytesIO(data)).mode == "RGBA"


def test_emptying_the_trash_removes_media_no_run_still_uses(store_dir, monkeypatch):
    from nbtrack import manage

    shared = np.full((4, 4), 1, dtype=np.uint8)
    with nbtrack.init(name="keep") as keep:
        keep.log({"img": nbtrack.Image(shared)})
    with nbtrack.init(name="gone") as gone:
        gone.log({"img": nbtrack.Image(shared), "own": nbtrack.Image(np.full((4, 4), 2, dtype=np.uint8))})
    kept_path = nbtrack.media(keep)["path"].iloc[0]
    own_path = nbtrack.media(gone, "own")["path"].iloc[0]
    nbtrack.delete_runs([gone.id])
    monkeypatch.setattr(manage, "MEDIA_GRACE_S", 0.0)
    assert nbtrack.empty_trash() == 1
    assert nbtrack.sql("SELECT count(*) AS n FROM main.media_points")["n"].iloc[0] == 1
    from pathlib import Path

    assert Path(kept_path).exists() and not Path(own_path).exists()
    assert np.array_equal(np.asarray(nbtrack.load_media(nbtrack.media(keep).iloc[0])), shared)



@contextlib.contextmanager
def twenty_notes():
    """A run named "blocked" logging 20 texts, with the warnings it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = nbtrack.init(name="blocked")
        for step in range(20):
            run.log({"note": nbtrack.Text(f"step {step}")})
        yield run, caught

def test_media_logged_while_another_process_holds_the_store_are_all_kept(store_dir):
    from nbtrack.store import get_store, lock

    with nbtrack.init(name="first"):
        pass
    nbtrack.runs()  # the store file and its lock exist
    nbtrack.settings(flush_interval=0.02)
    held = lock.acquire(str(get_store().lock_path), shared=False, timeout=5)  # another writer, stuck
    try:
        with twenty_notes() as (run, caught):
            run.finish()  # saved as pending segments: no wait for the lock
    finally:
        lock.release(held)
    assert not [w for w in caught if "dropped" in str(w.message)]
    assert nbtrack.media(run)["data"].tolist() == [f"step {s}" for s in range(20)]


def test_media_waiting_for_an_unwritable_store_keep_memory_bounded(store_dir, monkeypatch):
    import shutil
    import time

    from nbtrack import _run as run_module
    from nbtrack.store import get_store

    monkeypatch.setattr(run_module, "_MEDIA_ROWS_LIMIT", 5)
    with nbtrack.init(name="first"):
        pass
    nbtrack.runs()
    nbtrack.settings(flush_interval=0.02)
    pending = get_store().pending_dir
    shutil.rmtree(pending, ignore_errors=True)
    pending.write_text("a file where the pending folder goes: saving fails, as on a full disk")
    try:
        with twenty_notes() as (run, caught):
            time.sleep(0.5)  # several failed save cycles
    finally:
        pending.unlink()
    run.finish()
    dropped = [str(w.message) for w in caught if "dropped the oldest" in str(w.message)]
    assert len(dropped) == 1 and "15 media records" in dropped[0], dropped
    assert nbtrack.media(run)["data"].tolist() == [f"step {s}" for s in range(15, 20)]
