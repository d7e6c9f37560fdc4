"""What a ``%%track`` cell needs to run again, captured from the kernel.

The earlier cells that defined the names it read (from IPython's history, in execution order),
the names no earlier cell defines, and fingerprints of the files those cells and the tracked
cell opened for reading (seen through a ``sys.addaudithook`` hook, installed once with the
extension: Python offers no way to remove one, so it only records while a cell runs).
"""

from __future__ import annotations

import os
import re
import sys
import types
from typing import Any

from .. import fingerprint
from ..capture import plain_value
from ..cellcode import History, ParsedCell
from ..widgets._bundle import cache_dir

__all__ = ["cell_opened", "earlier_cells", "install", "record", "start_cell", "stop_cell"]

MAX_HISTORY = 500
MAX_OPENED = 256
_KEEP_CELLS = 512
#: IPython's own names (In, Out, _, __, _i3, _5, _ih, ...): never a dependency.
_IPYTHON_NAME = re.compile(r"^(In|Out|get_ipython|exit|quit|_+|_i+|_i?\d+|_ih|_oh|_dh)$")

_opened: dict[int, set[str]] = {}  # history index -> paths opened for reading by that cell
_current: list[set[str] | None] = [None]  # what the running cell opened so far
_outer: list[set[str] | None] = []  # cells run from inside a cell (the fallback magic)
_installed = [False]


def install() -> None:
    """Start the audit hook (once per process)."""
    if not _installed[0]:
        sys.addaudithook(_audit)
        _installed[0] = True


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "open":
        return
    current = _current[0]
    if current is None or len(current) >= MAX_OPENED:
        return
    try:  # an exception here would break the user's open()
        path, mode, flags = args
        if isinstance(path, int) or path is None:
            return
        if mode is not None:
            if any(c in mode for c in "wax+"):
                return
        elif flags is not None and flags & (os.O_WRONLY | os.O_RDWR):
            return
        current.add(os.path.abspath(os.fsdecode(path)))
    except Exception:
        return


def start_cell() -> None:
    _outer.append(_current[0])
    _current[0] = set()


def stop_cell(history_index: int | None) -> set[str]:
    opened = _current[0] or set()
    outer = _outer.pop() if _outer else None
    if outer is not None:
        outer |= opened  # a cell run inside a cell: the outer one read it too
    _current[0] = outer
    if history_index is not None:
        _opened[history_index] = opened
        while len(_opened) > _KEEP_CELLS:
            del _opened[min(_opened)]
    return opened


def cell_opened(history_index: int) -> set[str]:
    return _opened.get(history_index, set())


def earlier_cells(shell: Any, marker: str) -> tuple[History, list[str]]:
    """The kernel's earlier cells as a :class:`History`, and their raw text by history index.

    ``marker`` identifies the running cell, which IPython has already put last in its history.
    """
    manager = getattr(shell, "history_manager", None)
    if manager is None:
        return History([]), []
    parsed, raw = list(manager.input_hist_parsed), list(manager.input_hist_raw)
    end = len(parsed) - 1 if parsed and marker in parsed[-1] else len(parsed)
    start = max(1, end - MAX_HISTORY)
    return History([(i, parsed[i]) for i in range(start, end)]), raw


def record(cell: ParsedCell, namespace: dict[str, Any], history: History,
           raw: list[str]) -> dict[str, Any]:
    """The reproduce record: dependency cells, restorable and unknown names (files come later)."""
    names = {n for n in cell.reads if n in namespace and not _IPYTHON_NAME.match(n)}
    indexes, missing = history.dependencies(names)
    cells = []
    for index in indexes:
        count = history.cells[index][0]
        source = raw[count] if count < len(raw) else history.cells[index][1]
        cells.append({"execution_count": count, "source": source})
    restored: dict[str, Any] = {}
    imports: dict[str, str] = {}
    unknown: list[str] = []
    for name in missing:
        value = namespace.get(name)
        if isinstance(value, types.ModuleType):
            imports[name] = value.__name__
            continue
        ok, plain = plain_value(value)
        if ok:
            restored[name] = plain  # a plain value can be written back as a literal
        else:
            unknown.append(name)
    return {"cells": cells, "restored": restored, "imports": imports, "unknown": unknown,
            "cwd": os.getcwd()}


def fingerprints(counts: list[int], own: set[str], exclude: list[str]) -> list[dict[str, Any]]:
    """Fingerprints of the data files the tracked cell and its dependency cells opened."""
    paths = set(own)
    for count in counts:
        paths |= cell_opened(count)
    # nbtrack's own reads during the cell (its widgets' scripts, the chart library it caches)
    # are not the cell's data.
    own_files = [os.path.dirname(os.path.dirname(os.path.abspath(__file__))), str(cache_dir())]
    out = []
    for path in fingerprint.data_files(paths, [*exclude, *own_files]):
        found = fingerprint.fingerprint(path)
        if found is not None:
            out.append(found)
    return out
