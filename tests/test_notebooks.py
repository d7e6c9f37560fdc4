"""Every notebook in example_notebooks/ runs top to bottom on a real kernel, and fills the store.

Each notebook runs in a temporary copy of its folder with ``NBTRACK_DIR`` unset, so it
uses the default store ``.nbtrack/`` next to itself, as it does for a user. What each
notebook must leave in that store is checked by its entry in ``STORE_CHECKS``.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import nbtrack

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

EXAMPLES = Path(__file__).resolve().parent.parent / "example_notebooks"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
CELL_TIMEOUT_S = 180


def check_quickstart(store: Path, nb: Any) -> None:
    runs = nbtrack.runs(project="quickstart", store=store)
    assert len(runs) == 2, runs[["name", "status"]]
    assert set(runs["status"]) == {"finished"}
    names = set(runs["name"])
    assert "baseline" in names and len(names) == 2
    by_name = runs.set_index("name")
    other = (names - {"baseline"}).pop()
    assert by_name.loc["baseline", "config.lr"] == 0.1
    assert by_name.loc[other, "config.lr"] == 0.5
    assert set(runs["config.epochs"]) == {50}
    assert all(math.isfinite(loss) for loss in runs["summary.loss"])

    baseline = nbtrack.run_record("baseline", store=store)
    # The config came from the code the cell read, not from any nbtrack.config call.
    assert baseline["config"] == {"lr": 0.1, "epochs": 50}
    assert "nbtrack.config" not in baseline["source"] and "init(" not in baseline["source"]
    assert baseline["kind"] == "cell" and baseline["tags"] == ["demo"]

    loss = nbtrack.history("baseline", keys="loss", store=store)
    assert len(loss) == 50
    assert list(loss["step"]) == list(range(50))

    script = nbtrack.runs(project="quickstart-scripts", store=store)
    assert list(script["status"]) == ["finished"]
    assert "baseline" in _text(nb, 'runs = nbtrack.runs(project="quickstart")')


def check_sweeps(store: Path, nb: Any) -> None:
    listed = nbtrack.Sweep.list(project="sweeps-demo", dir=store)
    assert len(listed) == 1 and listed["status"][0] == "finished", listed
    sweep = nbtrack.Sweep.load(listed["id"][0], dir=store)
    assert (sweep.method, sweep.metric, sweep.goal) == ("bayes", "loss", "minimize")
    trials = sweep.trials()
    assert list(trials["number"]) == list(range(10)), trials  # 8, then 2 more on resume
    assert set(trials["status"]) <= {"finished", "pruned"} and (trials["status"] == "finished").any()
    runs = nbtrack.runs(sweep=sweep.id, store=store)
    assert len(runs) == 10 and set(runs["project"]) == {"sweeps-demo"}
    assert all(0.01 <= lr <= 3.0 for lr in runs["config.lr"])
    assert set(runs["config.epochs"]) <= {30, 60} and set(runs["config.seed"]) == {0}
    record = nbtrack.run_record(runs["id"][0], store=store)
    assert record["kind"] == "sweep-trial" and record["sweep_id"] == sweep.id
    finished = runs[runs["status"] == "finished"]
    for run_id, epochs in zip(finished["id"], finished["config.epochs"]):
        assert len(nbtrack.history(run_id, "loss", store=store)) == epochs
    assert set(sweep.importance()["parameter"]) == {"lr", "epochs"}
    assert "'lr'" in _text(nb, "sweep.best_config")
    assert "finished" in _text(nb, "again = nbtrack.Sweep.load(")


def check_live(store: Path, nb: Any) -> None:
    runs = nbtrack.runs(store=store).set_index("name")
    assert set(runs.index) == {"live-demo", "script-style"}, runs.index
    assert set(runs["status"]) == {"finished"}
    demo = nbtrack.run_record("live-demo", store=store)
    points = {m["key"]: m["points"] for m in demo["metrics"]}
    assert points["train/loss"] == points["train/acc"] == 3000  # the store keeps every point
    assert points.get("system/cpu_percent", 0) >= 1, points  # the sampler ran with the panel
    assert "system/cpu_percent.peak" in demo["summary"]
    for start, name in (("%%track live-demo", "live-demo"),
                        ('run = nbtrack.init(name="script-style"', "script-style")):
        outputs = [o for c in nb.cells if c.cell_type == "code" and c.source.startswith(start)
                   for o in c.outputs]
        pictures = [o for o in outputs if "image/svg+xml" in o.get("data", {})]
        assert len(pictures) == 1, outputs  # the live panel became a static picture...
        assert f"{name} — finished" in pictures[0]["data"]["image/svg+xml"]
        widget = "application/vnd.jupyter.widget-view+json"
        assert not any(widget in o.get("data", {}) for o in outputs)  # ...and left no widget


def check_media(store: Path, nb: Any) -> None:
    runs = nbtrack.runs(project="media-demo", store=store).set_index("name")
    assert set(runs.index) == {"prepare-data", "train-logreg"} and set(runs["status"]) == {"finished"}
    train = runs.loc["train-logreg", "id"]
    assert len(nbtrack.history(train, "loss", store=store)) == 40
    media = nbtrack.media(train, store=store)
    kinds = media.groupby("key")["kind"].agg(["first", "count"]).to_dict("index")
    assert kinds == {"boundary": {"first": "image", "count": 4},
                     "confidence": {"first": "histogram", "count": 4},
                     "predictions": {"first": "table", "count": 1},
                     "summary": {"first": "text", "count": 1}}
    assert media[media["key"] == "boundary"]["step"].tolist() == [0, 10, 20, 30]
    assert media[media["key"] == "boundary"]["caption"].tolist() == [f"epoch {e}" for e in (0, 10, 20, 30)]
    table = nbtrack.load_media(media[media["key"] == "predictions"].iloc[0])
    assert list(table.columns) == ["x", "y", "label", "p"] and len(table) == 100
    assert [sum(h["counts"]) for h in media[media["key"] == "confidence"]["data"]] == [300.0] * 4
    assert media[media["key"] == "summary"]["data"].iloc[0].startswith("test accuracy ")
    edges = nbtrack.lineage(store=store)
    assert edges[["ref", "role", "run_name"]].values.tolist() == [
        ["blobs.csv:v0", "output", "prepare-data"], ["blobs.csv:v0", "input", "train-logreg"],
        ["logreg:v0", "output", "train-logreg"]]
    assert nbtrack.artifacts("logreg", store=store)["aliases"].map(list).tolist() == [["best"]]
    pictures = [o for c in nb.cells if c.cell_type == "code" and c.source.startswith("last_boundary")
                for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(pictures) == 1  # the loaded image displays in the notebook


STORE_CHECKS: dict[str, Callable[[Path, Any], None]] = {
    "quickstart.ipynb": check_quickstart,
    "sweeps.ipynb": check_sweeps,
    "live.ipynb": check_live,
    "media_and_artifacts.ipynb": check_media,
}


def _text(nb: Any, cell_start: str) -> str:
    """Everything the first code cell starting with ``cell_start`` showed."""
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith(cell_start):
            parts = []
            for output in cell.outputs:
                parts.append(output.get("text", ""))
                parts.append(output.get("data", {}).get("text/plain", ""))
            return "\n".join(parts)
    raise AssertionError(f"no code cell starts with {cell_start!r}")


def _problems(nb: Any) -> list[str]:
    found = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                found.append(f"cell {index}: {output.ename}: {output.evalue}")
            elif output.output_type == "stream" and "NbtrackWarning" in output.text:
                found.append(f"cell {index}: {output.text.strip()}")
    return found


@pytest.fixture
def kernel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment of a user in the activated venv: default store, venv tools on PATH."""
    monkeypatch.delenv("NBTRACK_DIR", raising=False)
    bin_dir = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", bin_dir + os.pathsep + os.environ.get("PATH", ""))


def test_there_are_example_notebooks() -> None:
    assert NOTEBOOKS, f"no notebooks found in {EXAMPLES}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_and_fills_the_store(path: Path, tmp_path: Path, kernel_env: None) -> None:
    check = STORE_CHECKS.get(path.name)
    assert check is not None, f"add store assertions for {path.name} to STORE_CHECKS"
    folder = tmp_path / path.parent.name
    shutil.copytree(path.parent, folder, ignore=shutil.ignore_patterns(".nbtrack", ".ipynb_*"))
    nb = nbformat.read(folder / path.name, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=CELL_TIMEOUT_S, allow_errors=True,
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute()
    assert _problems(nb) == []
    store = folder / ".nbtrack"
    assert (store / "nbtrack.duckdb").exists(), "the notebook did not use the default store"
    check(store, nb)
