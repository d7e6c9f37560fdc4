"""Artifacts: content-hashed versions, deduplication, aliases, lineage, fingerprints."""

from __future__ import annotations

import hashlib
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest
from helpers import start_python

import nbtrack
from nbtrack import NbtrackError


def _objects(store_dir):
    return sorted(p for p in (store_dir / "objects").rglob("*") if p.is_file())


def test_a_new_version_only_when_the_content_changes(store_dir, tmp_path):
    data = tmp_path / "train.csv"
    data.write_text("x,y\n1,2\n")
    with nbtrack.init(name="prep") as run:
        first = run.log_artifact(data, type="dataset")
        again = run.log_artifact(data, type="dataset")
        data.write_text("x,y\n1,3\n")
        changed = run.log_artifact(data, type="dataset")
        data.write_text("x,y\n1,2\n")  # back to the first content: that version, not v2
        back = run.log_artifact(data, type="dataset")
    assert (first.ref, first.is_new) == ("train.csv:v0", True)
    assert (again.ref, again.is_new) == ("train.csv:v0", False)
    assert (changed.ref, changed.is_new) == ("train.csv:v1", True)
    assert (back.ref, back.is_new) == ("train.csv:v0", False)
    assert first.files == [{"path": "train.csv", "digest": hashlib.sha256(b"x,y\n1,2\n").hexdigest(),
                            "size": 8, "object": first.files[0]["object"]}]
    assert first.file().read_bytes() == b"x,y\n1,2\n"
    table = nbtrack.artifacts()
    assert table[["name", "ref", "type", "size", "files", "run_name"]].values.tolist() == [
        ["train.csv", "v0", "dataset", 8, 1, "prep"], ["train.csv", "v1", "dataset", 8, 1, "prep"]]


def test_folders_are_versioned_as_a_whole_and_files_stored_once(store_dir, tmp_path):
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "weights.bin").write_bytes(b"\x00" * 1000)
    (model / "sub" / "config.json").write_text('{"layers": 2}')
    (tmp_path / "copy.bin").write_bytes(b"\x00" * 1000)  # same bytes as weights.bin
    with nbtrack.init(name="train") as run:
        art = run.log_artifact(model, type="model", metadata={"acc": 0.9})
        other = run.log_artifact(tmp_path / "copy.bin", name="weights-only", type="model")
    assert [f["path"] for f in art.files] == ["sub/config.json", "weights.bin"]
    assert art.size == 1013 and art.metadata == {"acc": 0.9}
    assert other.files[0]["object"] == art.files[1]["object"]  # one object for both
    assert len(_objects(store_dir)) == 2
    out = art.download(tmp_path / "restored")
    assert (out / "weights.bin").read_bytes() == b"\x00" * 1000
    assert (out / "sub" / "config.json").read_text() == '{"layers": 2}'
    # editing the downloaded copy leaves the stored version intact
    (out / "weights.bin").write_bytes(b"changed")
    assert art.file("weights.bin").read_bytes() == b"\x00" * 1000


def test_use_artifact_by_version_latest_and_alias_records_lineage(store_dir, tmp_path):
    path = tmp_path / "model.pt"
    with nbtrack.init(name="trainer") as trainer:
        for content in (b"a", b"b", b"c"):
            path.write_bytes(content)
            trainer.log_artifact(path, type="model", aliases=["best"] if content == b"b" else None)
    with nbtrack.init(name="evaluator") as evaluator:
        assert evaluator.use_artifact("model.pt").file().read_bytes() == b"c"
        assert evaluator.use_artifact("model.pt:best").file().read_bytes() == b"b"
        assert evaluator.use_artifact("model.pt:v0", type="model").file().read_bytes() == b"a"
    edges = nbtrack.lineage("model.pt")
    assert edges[["ref", "role", "run_name"]].values.tolist() == [
        ["model.pt:v0", "output", "trainer"], ["model.pt:v0", "input", "evaluator"],
        ["model.pt:v1", "output", "trainer"], ["model.pt:v1", "input", "evaluator"],
        ["model.pt:v2", "output", "trainer"], ["model.pt:v2", "input", "evaluator"]]
    assert nbtrack.lineage("model.pt:best")["run_name"].tolist() == ["trainer", "evaluator"]
    assert sorted(nbtrack.lineage(evaluator)["ref"]) == ["model.pt:v0", "model.pt:v1", "model.pt:v2"]
    assert nbtrack.artifacts("model.pt")["used_by_runs"].tolist() == [1, 1, 1]


def test_aliases_move_and_misuse_is_explained(store_dir, tmp_path):
    path = tmp_path / "m.bin"
    with nbtrack.init(name="r") as run:
        path.write_bytes(b"1")
        run.log_artifact(path, type="model", aliases=["best"])
        path.write_bytes(b"2")
        run.log_artifact(path, type="model", aliases=["best"])
        with pytest.raises(NbtrackError, match="reserved"):
            run.log_artifact(path, type="model", aliases=["latest"])
        with pytest.raises(NbtrackError, match="is a 'model', not a 'dataset'"):
            run.log_artifact(path, type="dataset")
        with pytest.raises(NbtrackError, match=r"versions of 'm.bin': v0, v1"):
            run.use_artifact("m.bin:v7")
        with pytest.raises(NbtrackError, match="pass name="):
            run.log_artifact(np.zeros(3))
        with pytest.raises(NbtrackError, match="artifact names"):
            run.log_artifact(path, name="no/slashes")
        with pytest.raises(NbtrackError, match="does not exist"):
            run.log_artifact(tmp_path / "missing.bin")
    assert nbtrack.artifacts("m.bin")["aliases"].map(list).tolist() == [[], ["best"]]


def test_dataframes_and_arrays_are_fingerprinted_not_copied(store_dir):
    frame = pd.DataFrame({"x": [1, 2, 3], "label": ["a", "b", "c"]})
    with nbtrack.init(name="fp") as run:
        one = run.log_artifact(frame, "train-set")
        same = run.log_artifact(frame.copy(), "train-set")
        edited = frame.copy()
        edited.loc[2, "label"] = "z"
        two = run.log_artifact(edited, "train-set")
        big = np.arange(10_000_000, dtype=np.float64).reshape(2_000, 5_000)  # 80 MB
        tracemalloc.start()
        arr = run.log_artifact(big, "features")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert (one.ref, same.ref, two.ref) == ("train-set:v0", "train-set:v0", "train-set:v1")
    assert one.reference and one.files == [] and one.metadata["columns"] == ["x", "label"]
    assert one.matches(frame) and not one.matches(edited) and two.matches(edited)
    assert arr.metadata == {"kind": "ndarray", "shape": [2000, 5000], "dtype": "float64"}
    assert peak < 5_000_000, f"fingerprinting allocated {peak:,} bytes"
    # the same values in another memory layout match; other values do not
    assert arr.matches(np.asfortranarray(big)) and not arr.matches(big[:, ::-1])
    assert not (store_dir / "objects").exists()
    with pytest.raises(NbtrackError, match="holds no files"):
        one.file()


def test_artifacts_outside_a_run_have_no_producer(store_dir, tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("x")
    art = nbtrack.log_artifact(path, type="file")
    assert art.created_by is None
    assert nbtrack.use_artifact("f.txt").ref == "f.txt:v0"
    assert len(nbtrack.lineage("f.txt")) == 0


def test_two_processes_logging_the_same_content_make_one_version(store_dir, tmp_path):
    path = tmp_path / "shared.bin"
    path.write_bytes(b"same bytes" * 1000)
    code = f"""
import nbtrack
with nbtrack.init(name="writer") as run:
    for _ in range(20):
        run.log_artifact({str(path)!r}, type="dataset")
"""
    procs = [start_python(code, env={"NBTRACK_DIR": str(store_dir)}) for _ in range(3)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert nbtrack.artifacts()["ref"].tolist() == ["v0"]
    assert len(nbtrack.lineage("shared.bin")) == 3  # one output link per run


def test_an_unwritable_store_warns_and_returns_none(store_dir, tmp_path):
    store_dir.mkdir(parents=True)
    (store_dir / "objects").write_text("not a folder")
    path = tmp_path / "f.bin"
    path.write_bytes(b"1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with nbtrack.init(name="r") as run:
            assert run.log_artifact(path) is None
            run.log({"loss": 1.0})
    assert any("could not store the artifact 'f.bin'" in str(w.message) for w in caught)
    assert nbtrack.history(run)["value"].tolist() == [1.0]


def test_wandb_builder_add_file_add_dir_new_file_then_log_and_use(store_dir, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("x\n1\n")
    (tmp_path / "imgs" / "a").mkdir(parents=True)
    (tmp_path / "imgs" / "a" / "1.png").write_bytes(b"png1")
    (tmp_path / "imgs" / "2.png").write_bytes(b"png2")
    art = nbtrack.Artifact("mnist", type="dataset", description="digits", metadata={"n": 2})
    art.add_file(tmp_path / "data" / "train.csv")
    art.add_file(str(tmp_path / "data" / "train.csv"), name="splits/train-copy.csv")
    art.add_dir(tmp_path / "imgs", name="images")
    with art.new_file("README.txt", mode="w") as handle:
        handle.write("made by the test")
    assert "not logged" in repr(art)
    with pytest.raises(NbtrackError, match="not logged yet"):
        art.download(tmp_path / "early")
    with nbtrack.init(name="prep") as run:
        logged = run.log_artifact(art, aliases=["best"])
    assert logged is art and art.ref == "mnist:v0" and art.is_new
    assert art.type == "dataset" and art.description == "digits" and art.metadata == {"n": 2}
    assert [f["path"] for f in art.files] == ["README.txt", "images/2.png", "images/a/1.png",
                                             "splits/train-copy.csv", "train.csv"]
    with pytest.raises(NbtrackError, match="stored and cannot change"):
        art.add_file(tmp_path / "data" / "train.csv", name="more.csv")
    with nbtrack.init(name="train") as consumer:
        used = consumer.use_artifact("mnist:best")
        folder = used.download(tmp_path / "out")
    assert (folder / "images" / "a" / "1.png").read_bytes() == b"png1"
    assert (folder / "README.txt").read_text() == "made by the test"
    assert used.file("splits/train-copy.csv").read_text() == "x\n1\n"
    edges = nbtrack.lineage("mnist")
    assert sorted(zip(edges["role"], edges["run_name"])) == [("input", "train"), ("output", "prep")]
    # The same files built again are the same version; a changed file makes v1.
    again = nbtrack.Artifact("mnist", "dataset")
    again.add_dir(tmp_path / "imgs", name="images")
    (tmp_path / "data" / "train.csv").write_text("x\n2\n")
    again.add_file(tmp_path / "data" / "train.csv")
    assert nbtrack.log_artifact(again).ref == "mnist:v1"


def test_builder_misuse_says_what_to_do(store_dir, tmp_path):
    with pytest.raises(NbtrackError, match="artifact names"):
        nbtrack.Artifact("bad name", "dataset")
    art = nbtrack.Artifact("empty", "model")
    with pytest.raises(NbtrackError, match="has no files yet"):
        nbtrack.log_artifact(art)
    with pytest.raises(NbtrackError, match="is not a file"):
        art.add_file(tmp_path / "missing.bin")
    (tmp_path / "w.bin").write_bytes(b"w")
    art.add_file(tmp_path / "w.bin")
    with pytest.raises(NbtrackError, match="overwrite=True"):
        art.add_file(tmp_path / "w.bin")
    with pytest.raises(NbtrackError, match=r"without '\.\.'"):
        art.add_file(tmp_path / "w.bin", name="../escape.bin")
    with pytest.raises(NbtrackError, match="drop name="):
        nbtrack.log_artifact(art, name="other")
    with pytest.raises(NbtrackError, match="built with type 'model'"):
        nbtrack.log_artifact(art, type="dataset")  # said, not silently the builder's type
    with nbtrack.init(name="typed") as run, pytest.raises(NbtrackError, match="built with type"):
        run.log_artifact(art, type="dataset")
    with pytest.raises(NbtrackError, match="log_artifact"):
        nbtrack.use_artifact(art)  # not logged yet
    assert nbtrack.log_artifact(art).ref == "empty:v0"
    with pytest.raises(NbtrackError, match="stored already"):
        nbtrack.log_artifact(art)


def test_a_disabled_run_logs_no_artifact_and_cannot_use_one(store_dir, tmp_path):
    source = tmp_path / "f.txt"
    source.write_text("data")
    run = nbtrack.init(mode="disabled")
    assert nbtrack.log_artifact(source, "f") is None  # a no-op, as run.log_artifact
    assert run.log_artifact(source, "f") is None
    with pytest.raises(NbtrackError, match="mode='disabled'"):
        nbtrack.use_artifact("f:latest")
    run.finish()
    assert nbtrack.artifacts().empty
