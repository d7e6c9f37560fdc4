"""Capture what a tracked cell ran with: the config inferred from its code, and its environment.

Config inference is pure static analysis of the cell source plus a look at the values the
namespace already holds, so a ``%%track`` cell needs no ``nbtrack.config(...)`` call. This
module imports neither IPython nor numpy nor pandas: it is imported on every ``import nbtrack``.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib.metadata
import os
import platform
import socket
import subprocess
import symtable
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CellConfig", "collect_deferred", "environment", "infer_config", "notebook_path",
           "parse_override", "plain_value"]

MAX_STR_LEN = 1000
MAX_ITEMS = 64
MAX_DEPTH = 3
GIT_TIMEOUT_S = 5

# Names IPython injects into every user namespace; they are never hyperparameters.
_IPYTHON_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython"})
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_NAMED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ExceptHandler, ast.MatchAs,
          ast.MatchStar)
_NOT_PLAIN: tuple[bool, Any] = (False, None)


@dataclass
class CellConfig:
    """Config inferred from one cell.

    ``values`` is the config known when the cell starts, in source order; ``deferred`` names
    top-level assignments of non-literals, to read after the run with :func:`collect_deferred`.
    """

    values: dict[str, Any] = field(default_factory=dict)
    deferred: list[str] = field(default_factory=list)


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


def _parse(source: str) -> tuple[ast.Module, str] | None:
    try:
        return ast.parse(source), source
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass
    # IPython syntax (line magics, shell escapes, help) is not Python: blank it out with a
    # same-indented `pass`, keeping line numbers so source order is still meaningful.
    lines = []
    for line in source.splitlines():
        stripped = line.strip()
        # `obj?` help cannot hold a `#`; a code line ending in `# why?` is a comment.
        ipython = stripped.startswith(("%", "!", "?")) or (
            stripped.endswith("?") and "#" not in stripped
        )
        lines.append(line[: len(line) - len(line.lstrip())] + "pass" if ipython else line)
    text = "\n".join(lines)
    try:
        return ast.parse(text), text
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _scope_nodes(nodes: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """Yield the nodes evaluated in the current scope, without entering nested scopes."""
    stack = list(nodes)[::-1]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, _SCOPES):
            continue  # its name binds here; its body is another scope
        if isinstance(node, ast.comprehension):
            children: list[ast.AST] = [node.iter, *node.ifs]  # the target is comprehension-local
        elif isinstance(node, ast.AnnAssign) and node.value is None:
            children = [node.annotation]  # a bare `x: int` binds nothing
        else:
            children = list(ast.iter_child_nodes(node))
        stack.extend(reversed(children))


def _bound_names(node: ast.AST) -> Iterator[str]:
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
        yield node.id  # assignments, augmented assignments, for/with targets, walrus, del
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        for alias in node.names:
            if alias.name != "*":
                yield alias.asname or alias.name.partition(".")[0]
    elif isinstance(node, _NAMED) and node.name:
        yield node.name
    elif isinstance(node, ast.MatchMapping) and node.rest:
        yield node.rest


def _tables(table: symtable.SymbolTable) -> Iterator[symtable.SymbolTable]:
    yield table
    for child in table.get_children():
        yield from _tables(child)


def _scan(tree: ast.Module, top: symtable.SymbolTable) -> tuple[Counter[str], set[str]]:
    """Count module-scope bindings per name, and find the module-level names read anywhere."""
    binds = Counter(name for node in _scope_nodes(tree.body) for name in _bound_names(node))
    reads: set[str] = set()
    for table in _tables(top):  # symtable resolves scopes: function locals are not reads
        for sym in table.get_symbols():
            if sym.is_referenced() and sym.is_global():
                reads.add(sym.get_name())
            if table is not top and sym.is_declared_global() and sym.is_assigned():
                binds[sym.get_name()] += 1  # `global x; x = ...` in a function rebinds x
    for comp in ast.walk(tree):  # belt and braces: comprehension variables are never config
        if isinstance(comp, ast.comprehension):
            reads -= {n.id for n in ast.walk(comp.target) if isinstance(n, ast.Name)}
    return binds, reads - set(binds)


_Pair = tuple[ast.Name, "ast.expr | None"]


def _targets(target: ast.expr, value: ast.expr | None) -> Iterator[_Pair]:
    """Pair each assigned name with its own RHS node (None: only known after the run)."""
    if isinstance(target, ast.Name):
        yield target, value
    elif isinstance(target, ast.Starred):
        yield from _targets(target.value, None)
    elif isinstance(target, (ast.Tuple, ast.List)):
        rhs: list[ast.expr | None] = [None] * len(target.elts)
        elts = value.elts if isinstance(value, (ast.Tuple, ast.List)) else []
        if len(elts) == len(rhs) and not any(isinstance(v, ast.Starred) for v in elts):
            rhs = list(elts)  # `a, b = 1, 2`: each name gets its own element
        for elt, elt_value in zip(target.elts, rhs):
            yield from _targets(elt, elt_value)


def _literal(node: ast.expr | None) -> tuple[bool, Any]:
    if node is None:
        return False, None
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _is_candidate(name: str) -> bool:
    return not name.startswith("_") and name not in _IPYTHON_NAMES


def infer_config(source: str, namespace: Mapping[str, Any]) -> CellConfig:
    """Infer a cell's config from its source and the namespace it will run in.

    ``values`` holds plain values the cell reads from earlier cells plus names it assigns
    once, at top level, to a literal; ``deferred`` lists names assigned once at top level
    from an expression. Imports, functions, loop variables and running variables (rebound
    anywhere, e.g. ``total += x``) are never config. Never raises on unparsable source.

    Examples
    --------
    >>> cfg = infer_config("lr = 1e-3\\nbatch = 2 * base\\nfit(lr, epochs)", {"epochs": 5})
    >>> cfg.values, cfg.deferred
    ({'lr': 0.001, 'epochs': 5}, ['batch'])
    """
    parsed = _parse(source)
    if parsed is None:
        return CellConfig()
    tree, text = parsed
    try:
        binds, reads = _scan(tree, symtable.symtable(text, "<cell>", "exec"))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return CellConfig()  # e.g. `nonlocal` at top level: the cell itself will fail

    found: dict[str, tuple[tuple[int, int], Any]] = {}  # name -> (first position, value)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Name) or node.id not in reads or node.id not in namespace:
            continue
        pos = (node.lineno, node.col_offset)
        if _is_candidate(node.id) and (node.id not in found or pos < found[node.id][0]):
            ok, value = plain_value(namespace[node.id])
            if ok:
                found[node.id] = (pos, value)

    deferred: list[str] = []
    for stmt in tree.body:  # only simple statements directly at top level define config
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            pairs = list(_targets(stmt.targets[0], stmt.value))
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            pairs = list(_targets(stmt.target, stmt.value))
        else:
            continue
        for target, rhs in pairs:
            if binds[target.id] != 1 or not _is_candidate(target.id):
                continue
            is_literal, literal = _literal(rhs)
            ok, value = plain_value(literal)
            if not is_literal:
                deferred.append(target.id)  # its value exists only once the cell ran
            elif ok:
                found[target.id] = ((target.lineno, target.col_offset), value)

    ordered = sorted(found.items(), key=lambda item: item[1][0])
    return CellConfig(values={name: value for name, (_, value) in ordered}, deferred=deferred)


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
