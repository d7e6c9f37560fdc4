"""nbtrack rerun / export-script on real kernels: a seeded training cell that reads a data file
in an earlier cell reproduces its metrics exactly; a changed data file is reported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import execute_notebook

import nbtrack
from nbtrack.cli import main

pytest.importorskip("nbclient")

CELLS = [
    "%load_ext nbtrack\nimport nbtrack\nimport numpy as np",
    "%time raw = open('data.csv').read()\ndata = np.array([float(x) for x in raw.split(',')])",
    "seed = 0\nepochs = 5\nnote = open('other.txt').read()",
    "unused = open('unused.txt').read()",
    (
        "%%track train --config lr=0.05\n"
        "lr = 0.1\n"
        "rng = np.random.default_rng(seed)\n"
        "w = rng.normal(size=len(data))\n"
        "for step in range(epochs):\n"
        "    w = w - lr * (w - data) + rng.normal(scale=0.01, size=len(data))\n"
        "    nbtrack.log({'loss': float(((w - data) ** 2).mean())}, step=step)\n"
    ),
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("rerun")
    (folder / "data.csv").write_text("1.0,2.0,3.0,4.0")
    (folder / "other.txt").write_text("read by a cell the tracked cell depends on")
    (folder / "unused.txt").write_text("read by a cell the tracked cell does not depend on")
    nb: Any = execute_notebook(CELLS, folder)
    errors = [o for c in nb.cells for o in c.outputs if o.get("output_type") == "error"]
    assert not errors, errors
    return folder, folder / ".nbtrack"


def test_the_run_records_its_earlier_cells_and_data_file(trained) -> None:
    folder, store = trained
    reproduce = nbtrack.run_record("train", store=store)["environment"]["reproduce"]
    assert [c["execution_count"] for c in reproduce["cells"]] == [1, 2, 3]
    assert reproduce["cells"][1]["source"].startswith("%time raw = open")  # as the user wrote it
    # Files the cell and the cells it depends on read (cell 3 reads other.txt).
    assert [f["path"] for f in reproduce["files"]] == [str(folder / "data.csv"), str(folder / "other.txt")]
    assert reproduce["overrides"] == {"lr": 0.05} and reproduce["unknown"] == []


def test_a_seeded_cell_reruns_with_exactly_the_same_metrics(trained) -> None:
    _, store = trained
    result = nbtrack.rerun("train", store=store)
    assert result.problems == [] and result.errors == [], str(result)
    assert result.reproduced, str(result)
    assert result.metrics["metric"].tolist() == ["loss"] and result.metrics["same"].all()
    assert result.metrics["max_abs_diff"].tolist() == [0.0]
    new = nbtrack.run_record(result.run_id, store=store)
    assert new["environment"]["reproduce"]["rerun_of"] == result.original
    assert new["config"] == nbtrack.run_record(result.original, store=store)["config"]
    assert new["config"]["lr"] == 0.05
    assert "<b>" in result._repr_html_() and "<script" not in result._repr_html_()


def test_export_script_runs_standalone_and_logs_the_same_metrics(trained) -> None:
    folder, store = trained
    script = folder / "run.py"
    assert main(["--store", str(store), "export-script", "train", "-o", str(script)]) == 0
    text = script.read_text()
    assert "pip install numpy==" in text and "lr = 0.05" in text
    env = {**os.environ, "NBTRACK_DIR": str(store)}
    proc = subprocess.run([sys.executable, str(script)], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    runs = nbtrack.runs(name="train", store=store).sort_values("created_at")
    exported = runs[runs["tags"].apply(lambda tags: "exported" in list(tags))]
    assert len(exported) == 1
    record = nbtrack.run_record(exported["id"].iloc[0], store=store)
    assert record["config"]["lr"] == 0.05 and record["status"] == "finished"
    loss = nbtrack.history(record["id"], keys="loss", store=store)["value"].tolist()
    assert loss == nbtrack.history(runs["id"].iloc[0], keys="loss", store=store)["value"].tolist()


def test_a_changed_data_file_is_reported(trained) -> None:
    folder, store = trained
    first = nbtrack.runs(name="train", store=store).sort_values("created_at")["id"].iloc[0]
    (folder / "data.csv").write_text("1.0,2.0,3.0,5.0")
    try:
        assert main(["--store", str(store), "rerun", first, "--dry-run"]) == 0
        result = nbtrack.rerun(first, store=store)
    finally:
        (folder / "data.csv").write_text("1.0,2.0,3.0,4.0")
    assert len(result.problems) == 1
    assert result.problems[0].startswith(f"data file {folder / 'data.csv'} changed since the run")
    assert not result.reproduced and not result.metrics["same"].all()


def test_a_run_without_its_earlier_cells_says_why_it_cannot_rerun(store_dir) -> None:
    with nbtrack.init(name="script-run"):
        nbtrack.log(loss=1.0)
    with pytest.raises(nbtrack.NbtrackError, match="only %%track cells recorded"):
        nbtrack.rerun("script-run")
    assert main(["export-script", "script-run"]) == 1


def test_files_nbtrack_itself_reads_during_a_cell_are_not_the_cells_data(tmp_path, monkeypatch) -> None:
    # The live panel's scripts and the cached chart library are read while a cell runs (in
    # another thread, at a moment that depends on load): they must not become the run's data.
    from nbtrack.magics import _lineage
    from nbtrack.widgets._bundle import cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data = tmp_path / "data.csv"
    data.write_text("1,2,3")
    library = cache_dir() / "vega-library-test.js.gz"
    library.parent.mkdir(parents=True)
    library.write_bytes(b"library")
    script = Path(nbtrack.__file__).parent / "widgets" / "static" / "panel.js"  # built by jlpm build:widgets
    _lineage.install()
    _lineage.start_cell()
    for path in (data, library, script):
        with open(path, "rb") as fh:
            fh.read()
    opened = _lineage.stop_cell(None)
    assert {str(data), str(library), str(script)} <= opened
    assert [f["path"] for f in _lineage.fingerprints([], opened, [])] == [str(data)]
