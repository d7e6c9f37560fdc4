"""Tests for nbtrack.capture: config inference from cell source, and environment capture."""

from __future__ import annotations

import math
import os
import platform
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from nbtrack import capture
from nbtrack.capture import (
    CellConfig,
    collect_deferred,
    collect_derived,
    environment,
    infer_config,
    notebook_path,
    parse_override,
    plain_value,
)

EXAMPLE_CELL = (
    "import nbtrack\n"
    "for step in range(epochs):\n"
    "    loss = 1/(step+1)\n"
    "    nbtrack.log({'loss': loss}, step=step)\n"
)


# --------------------------------------------------------------------------- infer_config


def test_example_cell_reads_only_what_it_uses() -> None:
    cfg = infer_config(EXAMPLE_CELL, {"lr": 0.05, "epochs": 20, "np": np})
    assert cfg == CellConfig(values={"epochs": 20}, deferred=[])


def test_literal_assignments() -> None:
    src = (
        "lr = 1e-3\n"
        "layers = [64, 32]\n"
        'opt = {"name": "adam", "beta": 0.9}\n'
        "neg = -3\n"
        "shape = (28, 28)\n"
        "name: str = 'mnist'\n"
        "nothing = None\n"
        "flag = True\n"
    )
    cfg = infer_config(src, {})
    assert cfg.values == {
        "lr": 0.001,
        "layers": [64, 32],
        "opt": {"name": "adam", "beta": 0.9},
        "neg": -3,
        "shape": [28, 28],
        "name": "mnist",
        "nothing": None,
        "flag": True,
    }
    assert cfg.deferred == []


def test_literal_assignment_overrides_namespace_value() -> None:
    cfg = infer_config("epochs = 5\nfit(epochs)\n", {"epochs": 20, "fit": print})
    assert cfg.values == {"epochs": 5}


def test_values_in_source_order() -> None:
    src = "b = 1\nrun(c)\na = 2\nrun(d, c)\n"
    cfg = infer_config(src, {"c": "x", "d": 4.5, "run": print})
    assert list(cfg.values.items()) == [("b", 1), ("c", "x"), ("a", 2), ("d", 4.5)]


def test_deferred_non_literals_and_collect() -> None:
    src = (
        "import os\n"
        "batch = 2 * base\n"
        'n = int(os.environ.get("N", 3))\n'
        "model = make(batch)\n"
        "lr = 0.1\n"
    )
    ns: dict[str, Any] = {"base": 16, "make": object}
    cfg = infer_config(src, ns)
    assert cfg.values == {"base": 16, "lr": 0.1}
    assert cfg.deferred == ["batch"]  # arithmetic of config: config, read after the run
    assert cfg.derived == ["n", "model"]  # calls: derived, never config
    # After the cell ran: only plain values come back.
    ns.update(batch=32, n=np.int64(3), model=object(), os=os)
    assert collect_deferred(cfg, ns) == {"batch": 32}
    derived = collect_derived(cfg, ns)
    assert derived == {"n": 3} and type(derived["n"]) is int


def test_collect_deferred_skips_missing_names() -> None:
    assert collect_deferred(CellConfig(deferred=["gone", "x"]), {"x": [1, 2]}) == {"x": [1, 2]}


def test_running_variables_are_excluded() -> None:
    src = (
        "total = 0\n"
        "count = 0\n"
        "best = None\n"
        "lr = 0.1\n"
        "for x in xs:\n"
        "    total += x\n"
        "    if x > 1:\n"
        "        best = x\n"
        "with ctx():\n"
        "    count = count + 1\n"
    )
    cfg = infer_config(src, {"xs": [1, 2, 3], "ctx": object})
    assert cfg == CellConfig(values={"lr": 0.1, "xs": [1, 2, 3]}, deferred=[])


def test_rebinding_by_del_global_or_loop_excludes() -> None:
    src = (
        "a = 1\n"
        "del a\n"
        "b = 2\n"
        "def bump():\n"
        "    global b\n"
        "    b = 3\n"
        "c = 4\n"
        "for c in range(2):\n"
        "    pass\n"
        "d = f()\n"
        "d = g()\n"
        "e = 5\n"
    )
    assert infer_config(src, {}) == CellConfig(values={"e": 5}, deferred=[])


def test_block_assignments_are_not_config() -> None:
    src = "if fast:\n    lr = 0.5\ntry:\n    n = 3\nexcept Exception:\n    pass\n"
    assert infer_config(src, {"fast": True}) == CellConfig(values={"fast": True}, deferred=[])


def test_bound_names_are_not_config_even_if_in_namespace() -> None:
    src = (
        "import numpy as lr\n"
        "from os import path as p\n"
        "for step in range(epochs):\n"
        "    pass\n"
        "with open(fname) as fh:\n"
        "    pass\n"
        "try:\n"
        "    pass\n"
        "except ValueError as err:\n"
        "    pass\n"
        "sq = [i * i for i in range(3)]\n"
        "pairs = {k: v for k, v in items}\n"
        "if (m := 3) > 2:\n"
        "    pass\n"
        "def helper(q):\n"
        "    return q\n"
        "class Model:\n"
        "    pass\n"
        "print(lr, p, step, fh, err, i, k, v, m, helper, Model)\n"
    )
    bound = ["lr", "p", "step", "fh", "err", "i", "k", "v", "m", "helper", "Model"]
    ns: dict[str, Any] = {"epochs": 3, "fname": "f.txt", "items": [], **dict.fromkeys(bound, 1)}
    cfg = infer_config(src, ns)
    assert cfg == CellConfig(
        values={"epochs": 3, "fname": "f.txt", "items": []}, derived=["sq", "pairs"]
    )


def test_reads_inside_functions_lambdas_fstrings() -> None:
    src = (
        "def loss(y, wd=decay):\n"
        "    scale = 2\n"
        "    return scale * y * alpha\n"
        "f = lambda z: z + beta\n"
        "print(f'{gamma}')\n"
    )
    ns = {"decay": 0.01, "alpha": 0.5, "beta": 1, "gamma": "g", "y": 9, "z": 9, "scale": 9}
    cfg = infer_config(src, ns)
    # Parameters and function locals are not reads of the namespace, even when names clash.
    assert cfg == CellConfig(
        values={"decay": 0.01, "alpha": 0.5, "beta": 1, "gamma": "g"}, derived=["f"]
    )


def test_private_and_ipython_names_excluded() -> None:
    src = "_seed = 1\n_tmp = f(_x)\nprint(In, Out, exit, quit, get_ipython, _, __, seed)\n"
    ns = {"In": [""], "Out": {}, "exit": 1, "quit": 1, "get_ipython": 1, "_": 1, "__": 2,
          "_x": 3, "seed": 7}
    assert infer_config(src, ns) == CellConfig(values={"seed": 7}, deferred=[])


def test_non_plain_namespace_values_excluded() -> None:
    src = "use(np, fn, Cls, arr, df, obj, s, ok)\n"
    ns = {
        "use": print,
        "np": np,
        "fn": lambda: 1,
        "Cls": int,
        "arr": np.arange(3),
        "df": pd.DataFrame({"a": [1]}),
        "obj": object(),
        "s": {1, 2},
        "ok": "yes",
    }
    assert infer_config(src, ns) == CellConfig(values={"ok": "yes"}, deferred=[])


def test_numpy_scalars_in_namespace_converted() -> None:
    ns = {"lr": np.float64(0.5), "n": np.int32(7), "flag": np.bool_(True)}
    cfg = infer_config("train(lr, n, flag)\n", ns)
    assert cfg.values == {"lr": 0.5, "n": 7, "flag": True}
    assert [type(v) for v in cfg.values.values()] == [float, int, bool]


def test_tuple_unpacking() -> None:
    src = "a, b = 1, (2, 3)\nc, d = split()\ne, *rest = 1, 2, 3\n"
    cfg = infer_config(src, {})
    assert cfg == CellConfig(values={"a": 1, "b": [2, 3]}, derived=["c", "d", "e", "rest"])


def test_too_big_literal_is_not_config() -> None:
    src = f"ids = {list(range(65))!r}\nsmall = {list(range(64))!r}\n"
    assert infer_config(src, {}) == CellConfig(values={"small": list(range(64))}, deferred=[])


def python_of(cell: str) -> str:
    """The cell as IPython runs it (the %%track front-end hands infer_config this)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(cell)


def test_ipython_magic_lines_in_transformed_code() -> None:
    src = (
        "%time warmup()\n"
        "!nvidia-smi\n"
        "lr = 0.01\n"
        "for i in range(epochs):\n"
        "    %time step(i)\n"
        "np.mean?\n"
    )
    cfg = infer_config(python_of(src), {"epochs": 4, "np": np})
    assert cfg == CellConfig(values={"lr": 0.01, "epochs": 4})


def test_time_magic_code_counts_as_the_cells_own() -> None:
    src = "%time lr = 0.1\n%time fit(lr, epochs)\nfiles = !ls\n"
    cfg = infer_config(python_of(src), {"epochs": 4})
    assert cfg == CellConfig(values={"lr": 0.1, "epochs": 4}, derived=["files"])


def test_top_level_await_and_comment_questions() -> None:
    src = "%time warmup()\nres = await fetch(url)  # slow?\n"
    cfg = infer_config(python_of(src), {"url": "http://x"})
    assert cfg == CellConfig(values={"url": "http://x"}, derived=["res"])


def test_raw_ipython_syntax_is_not_python() -> None:
    # The front-end transforms first; raw IPython text is not guessed at.
    assert infer_config("files = !ls\nlr = 0.1\n", {}) == CellConfig()


@pytest.mark.parametrize(
    "src", ["def broken(:\n    pass\n", "x = = 1\n", "files = !ls\n", "nonlocal q\n", "a\x00b"]
)
def test_unparsable_source_gives_empty_config(src: str) -> None:
    assert infer_config(src, {"q": 1, "a": 1}) == CellConfig(values={}, deferred=[])


def test_empty_source() -> None:
    assert infer_config("", {"lr": 1}) == CellConfig()


# --------------------------------------------------------------------------- plain_value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, (True, None)),
        (True, (True, True)),
        (3, (True, 3)),
        (2.5, (True, 2.5)),
        ("adam", (True, "adam")),
        ((1, 2), (True, [1, 2])),
        ({"a": (1, {"b": 2})}, (True, {"a": [1, {"b": 2}]})),
        ({"a": (1, {"b": [2]})}, (False, None)),
        ([[[1]]], (True, [[[1]]])),
        ([[[[1]]]], (False, None)),
        (list(range(64)), (True, list(range(64)))),
        (list(range(65)), (False, None)),
        ({1: "a"}, (False, None)),
        ("x" * 1000, (True, "x" * 1000)),
        ("x" * 1001, (False, None)),
        ([1, object()], (False, None)),
        ({1, 2}, (False, None)),
        (b"bytes", (False, None)),
        (1 + 2j, (False, None)),
        (np.array(1.0), (False, None)),
        (np.arange(3), (False, None)),
        (np.float64(0.25), (True, 0.25)),
        (np.str_("s"), (True, "s")),
        ([np.int64(1), np.bool_(False)], (True, [1, False])),
        (types, (False, None)),
        (print, (False, None)),
    ],
)
def test_plain_value(value: Any, expected: tuple[bool, Any]) -> None:
    assert plain_value(value) == expected


def test_plain_value_normalises_types() -> None:
    ok, value = plain_value(np.float64(1.5))
    assert ok and type(value) is float
    ok, value = plain_value(np.int64(2))
    assert ok and type(value) is int
    ok, value = plain_value(np.bool_(True))
    assert ok and type(value) is bool


def test_plain_value_keeps_nan_and_inf() -> None:
    ok, value = plain_value([float("nan"), np.float32("inf")])
    assert ok and math.isnan(value[0]) and value[1] == math.inf


def test_plain_value_survives_hostile_objects() -> None:
    class Hostile(list[int]):
        def __len__(self) -> int:
            raise RuntimeError("boom")

    assert plain_value(Hostile()) == (False, None)


# --------------------------------------------------------------------------- parse_override


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lr=0.1", ("lr", 0.1)),
        ("opt=adam", ("opt", "adam")),
        ("layers=[1,2]", ("layers", [1, 2])),
        ("flag=True", ("flag", True)),
        ("n=-3", ("n", -3)),
        ("name='x y'", ("name", "x y")),
        ("shape=(2, 3)", ("shape", [2, 3])),
        ("expr=a=b", ("expr", "a=b")),
        ("empty=", ("empty", "")),
        ("path=/tmp/data", ("path", "/tmp/data")),
    ],
)
def test_parse_override(text: str, expected: tuple[str, Any]) -> None:
    assert parse_override(text) == expected


@pytest.mark.parametrize("text", ["lr", "=0.1", "1lr=0.1", "a.b=1", "my-key=2"])
def test_parse_override_rejects_bad_form(text: str) -> None:
    with pytest.raises(ValueError, match="key=value") as info:
        parse_override(text)
    assert repr(text) in str(info.value)


# --------------------------------------------------------------------------- environment

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git binary")


@pytest.fixture
def isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A working directory whose git never sees user config nor an enclosing repository."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(var, raising=False)
    return work


def _git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    )
    return proc.stdout.strip()


@needs_git
def test_environment_in_git_repo(isolated_git: Path) -> None:
    repo = isolated_git
    _git(repo, "init", "-q")
    _git(repo, "symbolic-ref", "HEAD", "refs/heads/main")
    (repo / "train.py").write_text("lr = 0.1\n")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "init")
    _git(repo, "remote", "add", "origin", "https://example.com/r.git")
    sha = _git(repo, "rev-parse", "HEAD")
    assert len(sha) == 40

    (repo / "untracked.txt").write_text("ignored by the dirty check\n")
    env = environment(cwd=str(repo))
    assert env["git"] == {
        "commit": sha, "branch": "main", "dirty": False, "remote": "https://example.com/r.git"
    }

    (repo / "train.py").write_text("lr = 0.2\n")
    assert environment(cwd=str(repo))["git"] == {
        "commit": sha, "branch": "main", "dirty": True, "remote": "https://example.com/r.git"
    }


@needs_git
def test_environment_detached_head_without_remote(isolated_git: Path) -> None:
    repo = isolated_git
    _git(repo, "init", "-q")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "init")
    sha = _git(repo, "rev-parse", "HEAD")
    _git(repo, "checkout", "-q", "--detach")
    git = environment(cwd=str(repo))["git"]
    assert git == {"commit": sha, "branch": None, "dirty": False, "remote": None}


def test_environment_outside_repo(isolated_git: Path) -> None:
    env = environment(cwd=str(isolated_git))
    assert sorted(env) == ["git", "hostname", "packages", "platform", "python"]
    assert env["git"] is None
    assert env["python"] == platform.python_version()
    assert env["platform"] == platform.platform()
    assert isinstance(env["hostname"], str) and env["hostname"]


def test_environment_missing_cwd_or_git_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert environment(cwd=str(tmp_path / "does-not-exist"))["git"] is None
    monkeypatch.setenv("PATH", str(tmp_path))  # no git to be found
    assert environment(cwd=str(tmp_path))["git"] is None


def test_environment_packages_of_imported_modules() -> None:
    packages = environment()["packages"]
    assert "numpy" in sys.modules and "pandas" in sys.modules
    assert packages["numpy"] == np.__version__
    assert packages["pandas"] == pd.__version__
    assert "pytest" in packages
    for stdlib in ("os", "json", "subprocess", "ast"):
        assert stdlib not in packages
    assert list(packages) == sorted(packages)


def test_environment_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> dict[str, str]:
        raise RuntimeError("broken metadata")

    monkeypatch.setattr(capture, "_packages", boom)
    monkeypatch.setattr(capture, "_git_info", lambda cwd: 1 / 0)
    env = environment()
    assert env["packages"] == {} and env["git"] is None
    assert env["python"] == platform.python_version()


# --------------------------------------------------------------------------- notebook_path


@pytest.fixture
def no_session_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)


@pytest.mark.usefixtures("no_session_env")
def test_notebook_path_from_session(tmp_path: Path) -> None:
    nb = tmp_path / "train.ipynb"
    assert notebook_path({"__session__": str(nb)}) == str(nb)


@pytest.mark.usefixtures("no_session_env")
def test_notebook_path_relative_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # JupyterLab reports the path from the server root; the kernel runs in the notebook's dir.
    nb_dir = tmp_path / "projects" / "mnist"
    nb_dir.mkdir(parents=True)
    (nb_dir / "train.ipynb").write_text("{}")
    monkeypatch.chdir(nb_dir)
    expected = str(nb_dir / "train.ipynb")
    assert notebook_path({"__session__": "projects/mnist/train.ipynb"}) == expected
    assert notebook_path({"__session__": "train.ipynb"}) == expected
    assert notebook_path({"__session__": "new.ipynb"}) == str(nb_dir / "new.ipynb")


@pytest.mark.usefixtures("no_session_env")
def test_notebook_path_vscode_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = str(tmp_path / "vs.ipynb")
    assert notebook_path({"__vsc_ipynb_file__": nb}) == nb
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "env.ipynb"))
    assert notebook_path({}) == str(tmp_path / "env.ipynb")


@pytest.mark.usefixtures("no_session_env")
def test_notebook_path_unknown() -> None:
    assert notebook_path({}) is None
    assert notebook_path({"__session__": "", "__vsc_ipynb_file__": 3}) is None
