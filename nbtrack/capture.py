"""Capture what a tracked cell ran with: the config inferred from its code, and its environment.

Config inference (policy in :mod:`nbtrack.cellcode`) is pure static analysis of the cell's
Python plus a look at the values the
namespace already holds, so a ``%%track`` cell needs no ``nbtrack.config(...)`` call. This
module imports neither IPython nor numpy nor pandas: it is imported on every ``import nbtrack``.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import functools
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .cellcode import History, ParsedCell, assignment_pairs, is_config_expr, parse_cell

__all__ = ["CellConfig", "collect_deferred", "collect_derived", "config_value", "environment",
           "infer_config", "notebook_path", "parse_override", "plain_value"]

MAX_STR_LEN = 1000
MAX_ITEMS = 64
MAX_DEPTH = 3
GIT_TIMEOUT_S = 5

# Names IPython injects into every user namespace; they are never hyperparameters.
_IPYTHON_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython"})
_NOT_PLAIN: tuple[bool, Any] = (False, None)


@dataclass
class CellConfig:
    """Config inferred from one cell.

    ``values`` is the config known when the cell starts, in source order; ``deferred`` names
    config assigned from simple arithmetic, to read after the run with :func:`collect_deferred`.
    ``derived`` names values the cell computes (calls, data, time), read after the run with
    :func:`collect_derived`; ``derived_values`` those read from earlier cells. Never config.
    """

    values: dict[str, Any] = field(default_factory=dict)
    deferred: list[str] = field(default_factory=list)
    derived: list[str] = field(default_factory=list)
    derived_values: dict[str, Any] = field(default_factory=dict)


def plain_value(value: Any) -> tuple[bool, Any]:
    """Tell whether ``value`` is plain config, and normalise it to JSON-friendly Python.

    Plain means bool, int, float, str (at most 1000 chars), None, numpy scalars, and
    lists, tuples and str-keyed dicts of those (at most 64 items each, nested at most 3 deep).

    Examples
    --------
    >>> plain_value((1, 2.5, "a"))
    (True, [1, 2.5, 'a'])
    >>> plain_value(object())
    (False, None)
    """
    # A hostile __len__, __iter__ or item() must not break the user's cell.
    with contextlib.suppress(Exception):
        return _plain(value, 0)
    return _NOT_PLAIN


def _is_numpy_scalar(value: Any) -> bool:
    # numpy.generic is the base of all numpy scalar types; a 0-d ndarray is not one of them.
    return type(value).__module__ == "numpy" and any(
        cls.__name__ == "generic" and cls.__module__ == "numpy" for cls in type(value).__mro__
    )


def _plain(value: Any, depth: int) -> tuple[bool, Any]:
    if _is_numpy_scalar(value):
        value = value.item()
        if _is_numpy_scalar(value):
            return _NOT_PLAIN
    if value is None or isinstance(value, bool):
        return True, value
    if isinstance(value, int):
        return True, int(value)  # IntEnum and friends become bare ints
    if isinstance(value, float):
        return True, float(value)
    if isinstance(value, str):
        return (True, str(value)) if len(value) <= MAX_STR_LEN else _NOT_PLAIN
    if not isinstance(value, (list, tuple, dict)) or depth >= MAX_DEPTH or len(value) > MAX_ITEMS:
        return _NOT_PLAIN
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            ok, norm = _plain(item, depth + 1)
            if not ok or not isinstance(key, str):
                return _NOT_PLAIN
            out[str(key)] = norm
        return True, out
    items: list[Any] = []
    for item in value:
        ok, norm = _plain(item, depth + 1)
        if not ok:
            return _NOT_PLAIN
        items.append(norm)
    return True, items


def config_value(value: Any) -> tuple[bool, Any]:
    """:func:`plain_value`, plus the structured configs people keep in a notebook.

    A dataclass instance, an ``argparse.Namespace`` or ``types.SimpleNamespace`` becomes the
    dict of its plain fields; a ``pathlib`` path its string.

    Examples
    --------
    >>> import argparse
    >>> config_value(argparse.Namespace(lr=0.1, model="cnn"))
    (True, {'lr': 0.1, 'model': 'cnn'})
    """
    with contextlib.suppress(Exception):
        fields = _structured(value)
        if fields is not None:
            out = {}
            for key, item in fields.items():
                ok, norm = _plain(item, 1)
                if ok and isinstance(key, str):
                    out[key] = norm
            return (True, out) if out else _NOT_PLAIN
        if isinstance(value, os.PathLike) and type(value).__module__ == "pathlib":
            return plain_value(os.fspath(value))
    return plain_value(value)


def _structured(value: Any) -> dict[str, Any] | None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if type(value).__name__ in ("Namespace", "SimpleNamespace") and type(value).__module__ in (
            "argparse", "types"):
        return dict(vars(value))
    return None


def _is_candidate(name: str) -> bool:
    return not name.startswith("_") and name not in _IPYTHON_NAMES


def infer_config(source: str | ParsedCell, namespace: Mapping[str, Any],
                 history: History | None = None) -> CellConfig:
    """Infer a cell's config from its Python and the namespace it will run in.

    ``source`` is Python (a ``%%track`` cell after IPython's transformer). The policy, from
    :mod:`nbtrack.cellcode`: names the cell assigns once, at top level, to a literal are config
    now; to simple arithmetic of literals and config names, config read after the run
    (``deferred``); to anything else (a call, data, the clock), *derived* (``derived``, read
    after the run). Names read from earlier cells are config when their value is plain or a
    structured config, unless ``history`` shows they were computed (then derived). Imports,
    functions, loop variables and running variables (rebound anywhere) are neither. Never
    raises on unparsable source.

    Examples
    --------
    >>> src = "lr = 1e-3\\nbatch = 2 * base\\nt0 = now()\\nfit(lr, epochs)"
    >>> cfg = infer_config(src, {"epochs": 5, "base": 8})
    >>> cfg.values, cfg.deferred, cfg.derived
    ({'lr': 0.001, 'base': 8, 'epochs': 5}, ['batch'], ['t0'])
    """
    cell = source if isinstance(source, ParsedCell) else parse_cell(source)
    if cell.tree is None:
        return CellConfig()
    found: dict[str, tuple[tuple[int, int], Any]] = {}  # name -> (first position, value)
    derived_now: dict[str, Any] = {}
    config_names: set[str] = set()
    for line, node in _statement_nodes(cell):
        if not isinstance(node, ast.Name) or node.id not in cell.reads or node.id not in namespace:
            continue
        pos = (line, node.col_offset)
        if not _is_candidate(node.id) or (node.id in found and found[node.id][0] <= pos):
            continue
        ok, value = config_value(namespace[node.id])
        if not ok:
            continue
        structured = _structured(namespace[node.id]) is not None or isinstance(value, dict)
        if not structured and history is not None and history.config_state(node.id) is False:
            derived_now[node.id] = value
            continue
        found[node.id] = (pos, value)
        config_names.add(node.id)

    deferred: list[str] = []
    derived: list[str] = []
    for line, stmt in _statements(cell):
        for target, rhs in assignment_pairs(stmt):
            if cell.binds[target.id] != 1 or not _is_candidate(target.id):
                continue
            is_literal, literal = _literal(rhs)
            if is_literal:
                ok, value = plain_value(literal)
                if ok:
                    found[target.id] = ((line, target.col_offset), value)
                    config_names.add(target.id)
            elif is_config_expr(rhs, config_names.__contains__):
                deferred.append(target.id)  # its value exists only once the cell ran
                config_names.add(target.id)
            else:
                derived.append(target.id)

    ordered = sorted(found.items(), key=lambda item: item[1][0])
    return CellConfig(values={name: value for name, (_, value) in ordered}, deferred=deferred,
                      derived=derived, derived_values=derived_now)


def _statements(cell: ParsedCell) -> Iterator[tuple[int, ast.stmt]]:
    """Top-level statements in order, those of a ``%time`` line at that line."""
    assert cell.tree is not None
    for stmt in cell.tree.body:
        magic = cell.magic_code.get(id(stmt))
        if magic is None:
            yield stmt.lineno, stmt
        else:
            for inner in magic[2].body:
                yield stmt.lineno, inner


def _statement_nodes(cell: ParsedCell) -> Iterator[tuple[int, ast.AST]]:
    assert cell.tree is not None
    for stmt in cell.tree.body:
        magic = cell.magic_code.get(id(stmt))
        if magic is None:
            for node in ast.walk(stmt):
                yield getattr(node, "lineno", stmt.lineno), node
        else:
            for node in ast.walk(magic[2]):
                yield stmt.lineno, node


def _literal(node: ast.expr | None) -> tuple[bool, Any]:
    if node is None:
        return False, None
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def collect_deferred(cfg: CellConfig, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """Read the deferred config names from the namespace after the cell ran.

    Examples
    --------
    >>> collect_deferred(CellConfig(deferred=["batch", "model"]), {"batch": 64, "model": object()})
    {'batch': 64}
    """
    out: dict[str, Any] = {}
    for name in cfg.deferred:
        if name in namespace:
            ok, value = plain_value(namespace[name])
            if ok:
                out[name] = value
    return out


def collect_derived(cfg: CellConfig, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The cell's derived values (computed, not config) once it ran, plain ones only.

    Examples
    --------
    >>> collect_derived(CellConfig(derived=["n"], derived_values={"t0": 1.5}), {"n": 60000})
    {'t0': 1.5, 'n': 60000}
    """
    out = dict(cfg.derived_values)
    out.update(collect_deferred(CellConfig(deferred=cfg.derived), namespace))
    return out


def parse_override(text: str) -> tuple[str, Any]:
    """Parse one ``--config key=value`` option; the value is a Python literal or a raw string.

    Examples
    --------
    >>> parse_override("lr=0.1"), parse_override("opt=adam")
    (('lr', 0.1), ('opt', 'adam'))
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise ValueError(f"invalid config override {text!r}: expected the form key=value")
    try:
        ok, value = plain_value(ast.literal_eval(raw))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        ok, value = False, None
    return key, value if ok else raw


@functools.lru_cache(maxsize=1)
def _module_distributions() -> Mapping[str, list[str]]:
    # Scans every installed distribution's metadata: slow, so once per process.
    return importlib.metadata.packages_distributions()


@functools.cache
def _version(dist: str) -> str:
    return importlib.metadata.version(dist)


def _packages() -> dict[str, str]:
    mapping = _module_distributions()
    # list() copies the keys in one step: other threads may be importing while we run.
    modules = {name.partition(".")[0] for name in list(sys.modules)}
    found: dict[str, str] = {}
    for module in sorted(modules - set(sys.stdlib_module_names)):
        for dist in mapping.get(module, ()):
            if dist not in found:
                with contextlib.suppress(Exception):  # broken metadata: skip that package only
                    found[dist] = _version(dist)
    return dict(sorted(found.items()))


def _git(args: list[str], cwd: str | None) -> str | None:
    # Optional locks off: a background `git status` must not take index.lock from the user.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        proc = subprocess.run(
            ["git", *args], check=False, capture_output=True, timeout=GIT_TIMEOUT_S,
            cwd=cwd, env=env, stdin=subprocess.DEVNULL, encoding="utf-8", errors="replace",
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _git_info(cwd: str | None) -> dict[str, Any] | None:
    commit = _git(["rev-parse", "HEAD"], cwd)
    if not commit:
        return None  # not a repository, no commit yet, or no git binary
    branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], cwd)
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    return {
        "commit": commit,
        "branch": None if branch in (None, "HEAD") else branch,  # "HEAD" means detached
        "dirty": None if status is None else bool(status),
        "remote": _git(["config", "--get", "remote.origin.url"], cwd) or None,
    }


def environment(cwd: str | None = None) -> dict[str, Any]:
    """Describe the interpreter, machine, imported packages and git state. Never raises.

    Keys: ``python``, ``platform``, ``hostname``, ``packages`` (distribution name to version,
    for the non-stdlib modules imported so far) and ``git`` (None outside a repository, else
    ``commit``, ``branch``, ``dirty``, ``remote``).

    Examples
    --------
    >>> env = environment()
    >>> sorted(env)
    ['git', 'hostname', 'packages', 'platform', 'python']
    """
    env: dict[str, Any] = {"python": None, "platform": None, "hostname": None,
                           "packages": {}, "git": None}
    probes: dict[str, Callable[[], Any]] = {
        "python": platform.python_version,
        "platform": platform.platform,
        "hostname": socket.gethostname,
        "packages": _packages,
        "git": lambda: _git_info(cwd),
    }
    for key, probe in probes.items():
        # Runs in a background thread: one failed probe must not lose the others, nor raise.
        with contextlib.suppress(Exception):
            env[key] = probe()
    return env


def notebook_path(namespace: Mapping[str, Any]) -> str | None:
    """Find the path of the running notebook, or None when the frontend does not tell.

    Examples
    --------
    >>> notebook_path({"__session__": "/home/me/train.ipynb"})
    '/home/me/train.ipynb'
    """
    # An odd namespace or a deleted cwd: no path rather than a failed cell.
    with contextlib.suppress(Exception):
        candidates = (
            namespace.get("__session__"),  # ipykernel, JupyterLab
            namespace.get("__vsc_ipynb_file__"),  # VS Code
            os.environ.get("JPY_SESSION_NAME"),
        )
        for raw in candidates:
            if isinstance(raw, str) and raw.strip():
                return _resolve(raw.strip())
    return None


def _resolve(raw: str) -> str:
    path = os.path.expanduser(raw)
    if os.path.isabs(path):
        return os.path.normpath(path)
    # Jupyter gives the path relative to the server root, but the kernel runs in the
    # notebook's own directory: try both before settling for the plain absolute form.
    for candidate in (os.path.abspath(path), os.path.join(os.getcwd(), os.path.basename(path))):
        if os.path.exists(candidate):
            return candidate
    return os.path.abspath(path)
