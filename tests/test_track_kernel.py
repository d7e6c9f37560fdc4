"""%%track on a real kernel (nbclient): IPython syntax inside the cell, the config policy,
overrides that reach what runs, tracebacks in the user's own lines, exit statuses."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import execute_notebook

import nbtrack

pytest.importorskip("nbclient")

SETUP = (
    "%load_ext nbtrack\n"
    "import nbtrack, time, argparse\n"
    "from dataclasses import dataclass\n"
)
EARLIER = (
    "seed = 42\n"
    "data_path = 'data/train.csv'\n"
    "model_name = 'resnet18'\n"
    "layers = [64, 32, 10]\n"
    "t_start = time.time()\n"
)
STRUCTURED = (
    "@dataclass\n"
    "class TrainConfig:\n"
    "    lr: float = 0.01\n"
    "    epochs: int = 3\n"
    "cfg = TrainConfig(lr=0.02)\n"
    "args = argparse.Namespace(batch_size=16, opt='adam')\n"
    "opts = {'dropout': 0.1, 'wd': 1e-4}\n"
    "data = list(range(100))\n"
)
#: Each cell runs with --config lr=0.5 and logs the lr it actually used.
SYNTAX = {
    "help": "len?\nlr = 0.1\nnbtrack.log(used=lr)",
    "shell": "files = !echo hi\nlr = 0.1\nnbtrack.log(used=lr, n_files=len(files))",
    "time": "%time warm = 1\nlr = 0.1\n%time nbtrack.log(used=lr, warm=warm)",
    "time-assign": "%time lr = 0.1\nnbtrack.log(used=lr)",
    "line-magic": "%env NBTRACK_TEST_X=1\nlr = 0.1\nnbtrack.log(used=lr)",
    "await": "import asyncio\nlr = 0.1\nawait asyncio.sleep(0)\nnbtrack.log(used=lr)",
    "no-assign": "%time nbtrack.log(used=lr)",
}
PATTERNS = (
    "%%track patterns\n"
    "import random\n"
    "random.seed(seed)\n"
    "n = len(data)\n"
    "batch_size = args.batch_size\n"
    "steps = n // batch_size\n"
    "t0 = time.time()\n"
    "hidden = layers[0] * 2\n"
    "name = f'{model_name}-{hidden}'\n"
    "for epoch in range(cfg.epochs):\n"
    "    nbtrack.log(loss=cfg.lr * random.random() / (epoch + 1))\n"
    "print(data_path, opts, t_start, steps, t0)\n"
)


@pytest.fixture(scope="module")
def notebook(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    folder = tmp_path_factory.mktemp("kernel")
    cells = [SETUP, EARLIER, STRUCTURED]
    cells += [f"%%track {name} --config lr=0.5\n{body}" for name, body in SYNTAX.items()]
    cells += [PATTERNS, "seed = 7", PATTERNS]
    cells += [
        "%%track broken\nx = 1\nraise ValueError('boom at line 3')",
        "%%track exits\nimport sys\nnbtrack.log(loss=1.0)\nsys.exit(0)",
        "%%track exits-1\nimport sys\nsys.exit(3)",
        "%%track loop --config lr=0.3\nfor lr in range(3):\n    pass",
    ]
    nb = execute_notebook(cells, folder)
    return nb, folder / ".nbtrack"


def _outputs(nb: Any, start: str) -> str:
    """What the user saw under the cell, without terminal colours."""
    for cell in nb.cells:
        if cell.source.startswith(start):
            text = "\n".join(str(o.get("text", "")) + "\n".join(o.get("traceback", []))
                             for o in cell.outputs)
            return re.sub(r"\x1b\[[0-9;]*m", "", text)
    raise AssertionError(f"no cell starts with {start!r}")


@pytest.mark.parametrize("name", list(SYNTAX))
def test_override_reaches_what_runs_whatever_the_ipython_syntax(notebook, name: str) -> None:
    nb, store = notebook
    record = nbtrack.run_record(name, store=store)
    assert record["status"] == "finished", _outputs(nb, f"%%track {name} ")
    used = nbtrack.history(record["id"], keys="used", store=store)["value"].tolist()
    assert used == [0.5]  # the value the cell ran with ...
    assert record["config"]["lr"] == 0.5  # ... is the one recorded


def test_ipython_syntax_keeps_the_cells_other_config(notebook) -> None:
    _, store = notebook
    assert nbtrack.run_record("time", store=store)["config"] == {"lr": 0.5, "warm": 1}
    shell = nbtrack.run_record("shell", store=store)
    assert shell["config"] == {"lr": 0.5}  # `files = !echo hi` is output, not config
    assert shell["environment"]["derived"]["files"] == ["hi"]


def test_config_policy_on_a_training_cell(notebook) -> None:
    _, store = notebook
    first, second = nbtrack.runs(name="patterns", store=store).sort_values("created_at")["id"]
    record = nbtrack.run_record(first, store=store)
    config = record["config"]
    assert config == {
        "seed": 42, "args": {"batch_size": 16, "opt": "adam"}, "layers": [64, 32, 10],
        "model_name": "resnet18", "cfg": {"lr": 0.02, "epochs": 3}, "data_path": "data/train.csv",
        "opts": {"dropout": 0.1, "wd": 1e-4}, "batch_size": 16, "hidden": 128,
        "name": "resnet18-128",
    }
    derived = record["environment"]["derived"]
    assert set(derived) == {"n", "steps", "t0", "t_start"}  # calls, data and time
    assert (derived["n"], derived["steps"]) == (100, 6)
    # The same cell run again after `seed = 7`: the new value is what is recorded.
    assert nbtrack.run_record(second, store=store)["config"]["seed"] == 7


def test_failing_cell_traceback_shows_the_users_own_lines(notebook) -> None:
    nb, store = notebook
    shown = _outputs(nb, "%%track broken")
    assert "%%track broken" in shown and "raise ValueError('boom at line 3')" in shown
    assert "----> 3 raise ValueError" in shown and "      1 %%track broken" in shown
    assert "__import__" not in shown and "begin_cell" not in shown
    record = nbtrack.run_record("broken", store=store)
    assert record["status"] == "failed"
    assert "ValueError: boom at line 3" in record["error"] and "begin_cell" not in record["error"]


def test_sys_exit_zero_is_finished_and_nonzero_failed(notebook) -> None:
    _, store = notebook
    assert nbtrack.run_record("exits", store=store)["status"] == "finished"
    failed = nbtrack.run_record("exits-1", store=store)
    assert failed["status"] == "failed" and "SystemExit: 3" in failed["error"]


def test_override_that_cannot_reach_is_refused_before_the_cell_runs(notebook) -> None:
    nb, store = notebook
    shown = _outputs(nb, "%%track loop ")
    assert "UsageError" in shown and "--config lr" in shown and "line 1" in shown, shown
    assert "loop" not in set(nbtrack.runs(store=store)["name"])


def test_first_cell_runs_at_once_and_its_first_point_reaches_the_live_chart(tmp_path) -> None:
    """A fresh kernel with no chart templates cached (the first after install): the cell's code runs
    while the panel's chart templates are still being built, and the first point logged
    still reaches the front-end with its chart and the chart library."""
    import nbclient
    import nbformat

    seen: list[tuple[str, Any]] = []  # the cell's messages in the order a front-end gets them

    class Client(nbclient.NotebookClient):
        def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
            if cell_index == 1:
                data = msg["content"].get("data", {})
                if msg["msg_type"] == "stream":
                    seen.append(("stream", msg["content"]["text"]))
                elif msg["msg_type"] == "comm_msg" and data.get("method") == "custom":
                    seen.append((data["content"]["type"], data["content"]))
                elif msg["msg_type"] == "comm_msg" and (data.get("state") or {}).get("charts"):
                    seen.append(("charts", data["state"]["charts"]))
            return super().process_message(msg, cell, cell_index)

    # The cell logs until its panel has the chart (building it takes seconds on a cold cache).
    cells = ["%load_ext nbtrack\nimport nbtrack, time\nimport nbtrack.widgets as widgets",
             "%%track first\nprint('started')\nstep, deadline = 0, time.time() + 120\n"
             "while time.time() < deadline:\n"
             "    nbtrack.log({'loss': 1.0 / (step + 1)})\n    step += 1\n    time.sleep(0.1)\n"
             "    panel = widgets._open.get(nbtrack.active_run().id)\n"
             "    if panel is not None and 'loss' in panel.charts:\n        break\n"
             "time.sleep(0.5)\n"]
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python",
                                                           "display_name": "Python 3"}})
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    from nbtrack.widgets import _bundle

    library = _bundle.prepare()  # the chart library cached (as after install): the specs are not
    (tmp_path / "cache" / "nbtrack").mkdir(parents=True)
    shutil.copy(library, tmp_path / "cache" / "nbtrack" / library.name)
    env = {key: value for key, value in os.environ.items() if key != "NBTRACK_DIR"}
    env.update({"XDG_CACHE_HOME": str(tmp_path / "cache"),
                "PATH": str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")})
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        Client(nb, kernel_name="python3", timeout=180,
               resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    kinds = [kind for kind, _ in seen]
    assert "library" in kinds and "charts" in kinds, kinds
    started = next(i for i, (kind, text) in enumerate(seen) if kind == "stream" and "started" in text)
    assert started < kinds.index("charts"), kinds  # the code did not wait for the chart
    charts = next(body for kind, body in seen if kind == "charts")
    assert charts["loss"]["data"] == {"name": "points"}
    steps = [step for kind, body in seen if kind == "update"
             for op in body["series"].get("loss", {}).get("ops", []) if op[0] == "rows"
             for step in op[1]["step"]]
    assert steps[:1] == [0], seen  # the first point logged reached the chart
    pictures = [o for o in nb.cells[1].outputs if "image/svg+xml" in o.get("data", {})]
    assert [o["data"]["text/plain"].splitlines()[0] for o in pictures] == ["nbtrack run first — finished"]
    assert len(list((tmp_path / "cache" / "nbtrack").glob("specs-*.json"))) == 1  # the next kernel reads it
