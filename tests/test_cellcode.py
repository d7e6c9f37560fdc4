"""The pure analysis of a cell's Python: overrides, the config policy over earlier cells,
and the cells a run depended on. No IPython here except to produce a cell's Python."""

from __future__ import annotations

import argparse
import types
from dataclasses import dataclass
from pathlib import Path

import pytest
from IPython.core.inputtransformer2 import TransformerManager

from nbtrack.capture import CellConfig, config_value, infer_config
from nbtrack.cellcode import History, OverrideError, apply_overrides, parse_cell


def python_of(cell: str) -> str:
    return TransformerManager().transform_cell(cell)


def test_overrides_reach_plain_lines_next_to_ipython_syntax() -> None:
    cell = parse_cell(python_of("len?\nfiles = !ls\nlr = 0.1\n%time fit(lr)\n"))
    out = apply_overrides(cell, {"lr": 0.5})
    assert "lr = 0.5" in out and "lr = 0.1" not in out
    assert len(out.splitlines()) == 4  # line numbers kept


def test_overrides_rewrite_assignments_inside_time() -> None:
    cell = parse_cell(python_of("%time lr = 0.1\nfit(lr)\n"))
    out = apply_overrides(cell, {"lr": 0.5})
    assert "run_line_magic('time', 'lr = 0.5')" in out


@pytest.mark.parametrize(("body", "line"), [
    ("for lr in range(3):\n    pass\n", 1),
    ("x = 1\nlr, b = f()\n", 2),
    ("import lr\n", 1),
    ("with open(p) as lr:\n    pass\n", 1),
])
def test_overrides_that_cannot_reach_are_refused_naming_the_line(body: str, line: int) -> None:
    with pytest.raises(OverrideError, match=f"--config lr: the cell binds 'lr' on line {line}"):
        apply_overrides(parse_cell(body), {"lr": 0.5})


def test_augmented_assignment_starts_from_the_override() -> None:
    out = apply_overrides(parse_cell("lr = 0.1\nlr *= 0.9\n"), {"lr": 0.5})
    assert out == "lr = 0.5\nlr *= 0.9\n"


def test_tuple_of_literals_is_overridden_element_wise() -> None:
    assert apply_overrides(parse_cell("lr, wd = 0.1, 0.01\n"), {"wd": 0.2}) == "lr, wd = 0.1, 0.2\n"


EARLIER = [
    (1, "import time\nimport numpy as np\n"),
    (2, "seed = 42\nbase = 16\nbatch = base * 2\nname = f'net{base}'\n"),
    (3, "t0 = time.time()\ndata = np.arange(10)\nn = len(data)\nsteps = n // batch\n"),
    (4, "for epoch in range(3):\n    pass\ncounter = 0\ncounter += 1\n"),
    (5, "seed = int('7')\n"),
]


@pytest.mark.parametrize(("name", "state"), [
    ("base", True), ("batch", True), ("name", True),  # literals and arithmetic of config
    ("t0", False), ("n", False), ("steps", False), ("data", False),  # calls, data, time
    ("epoch", False), ("counter", False),  # loop and running variables
    ("unknown", None),
])
def test_history_tells_config_from_derived(name: str, state: bool | None) -> None:
    assert History(EARLIER).config_state(name) is state


def test_the_latest_definition_wins() -> None:
    history = History(EARLIER)
    assert history.config_state("seed") is False  # cell 5 computed it
    assert History(EARLIER[:4]).config_state("seed") is True


def test_dependencies_follow_what_the_defining_cells_read() -> None:
    history = History(EARLIER)
    cells, missing = history.dependencies(["steps", "ghost"])
    # steps (cell 3) needs time, np (cell 1) and batch (cell 2).
    assert [history.cells[i][0] for i in cells] == [1, 2, 3]
    assert missing == ["ghost"]


def test_a_cell_that_rebinds_before_reading_does_not_depend_on_earlier_cells() -> None:
    history = History([(1, "x = 1\n"), (2, "x = 5\ny = x + 1\n")])
    cells, _ = history.dependencies(["y"])
    assert [history.cells[i][0] for i in cells] == [2]


def test_namespace_values_from_computed_definitions_are_derived() -> None:
    history = History(EARLIER[:4])
    ns = {"seed": 42, "t0": 1.8e9, "n": 10, "steps": 0, "base": 16}
    cfg = infer_config("fit(seed, t0, n, steps, base)\n", ns, history)
    assert cfg == CellConfig(values={"seed": 42, "base": 16},
                             derived_values={"t0": 1.8e9, "n": 10, "steps": 0})


@dataclass
class TrainConfig:
    lr: float = 0.01
    layers: tuple[int, ...] = (64, 32)
    device: object = None


def test_structured_configs_from_earlier_cells_are_config_whatever_built_them() -> None:
    history = History([(1, "cfg = TrainConfig(lr=0.02)\nargs = parse()\nd = dict(a=1)\n")])
    ns = {"cfg": TrainConfig(lr=0.02, device=object()), "args": argparse.Namespace(bs=16),
          "d": {"a": 1}, "ns": types.SimpleNamespace(k="v")}
    cfg = infer_config("train(cfg, args, d, ns)\n", ns, history)
    # The dataclass keeps its plain fields; the device object is left out.
    assert cfg.values == {"cfg": {"lr": 0.02, "layers": [64, 32]}, "args": {"bs": 16},
                          "d": {"a": 1}, "ns": {"k": "v"}}


def test_config_value_of_paths_and_non_config() -> None:
    assert config_value(Path("data/train.csv")) == (True, "data/train.csv")
    assert config_value(object()) == (False, None)
    assert config_value(TrainConfig(device=object()))[1] == {"lr": 0.01, "layers": [64, 32]}


def test_cell_assignments_follow_the_same_policy() -> None:
    src = (
        "seed = 0\n"
        "hidden = [width] * depth\n"
        "path = Path(root) / 'train.csv'\n"
        "opt = dict(name='adam', lr=lr)\n"
        "lr_min = lr / 10 if lr > 0.01 else lr\n"
        "t0 = time.time()\n"
        "model = build(hidden)\n"
    )
    ns = {"width": 64, "depth": 2, "root": "data", "lr": 0.1}
    cfg = infer_config(src, ns)
    assert cfg.values == {"seed": 0, "width": 64, "depth": 2, "root": "data", "lr": 0.1}
    assert cfg.deferred == ["hidden", "path", "opt", "lr_min"]
    assert cfg.derived == ["t0", "model"]
