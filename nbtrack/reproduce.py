"""Run a ``%%track`` cell again, in a fresh kernel, from what the store holds.

The store keeps, with each cell run, the cell's source, its ``--config`` overrides, the earlier
cells that defined the names it read (from the kernel's history), the names no cell defined, and
fingerprints of the files those cells read. :func:`rerun` checks what cannot be reproduced,
executes the earlier cells and the cell on a new kernel (nbclient) as a new run linked to the
original (``environment["reproduce"]["rerun_of"]``), and compares their metrics.

Example
-------
>>> result = nbtrack.rerun("baseline")   # doctest: +SKIP
>>> print(result)                         # doctest: +SKIP
"""

from __future__ import annotations

import html
import importlib.metadata
import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _settings, fingerprint
from .errors import NbtrackError

__all__ = ["RerunResult", "notebook_cells", "problems", "rerun"]

_ID_LINE = re.compile(r"NBTRACK_RERUN_ID=([a-z0-9_-]+)")


def reproduce_record(record: dict[str, Any]) -> dict[str, Any]:
    """The run's reproduce record, or a clear error for a run that has none."""
    reproduce = (record.get("environment") or {}).get("reproduce")
    if record.get("kind") != "cell" or not reproduce or record.get("source") is None:
        raise NbtrackError(
            f"run {record['name']!r} ({record['id']}) cannot be re-run: only %%track cells recorded "
            "by this version of nbtrack keep their earlier cells; run the cell again to record them")
    return dict(reproduce)


def problems(record: dict[str, Any]) -> list[str]:
    """What cannot be reproduced as it was, one sentence each (empty: nothing known)."""
    reproduce = reproduce_record(record)
    out = [f"name {name!r} was defined by no cell in the kernel's history (by %run, exec or an "
           "import *?) and is not a plain value: the rerun cannot recreate it"
           for name in reproduce.get("unknown", [])]
    out += [f"name {name!r} was defined by no cell in the kernel's history: restored from its "
            f"recorded value {value!r}" for name, value in reproduce.get("restored", {}).items()]
    for recorded in reproduce.get("files", []):
        change = fingerprint.change(recorded)
        if change is not None:
            out.append(change)
    packages = ((record.get("environment") or {}).get("packages")) or {}
    for dist, version in sorted(packages.items()):
        try:
            now = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out.append(f"package {dist} {version} is not installed here")
            continue
        if now != version:
            out.append(f"package {dist} was {version}, is {now} here")
    cwd = reproduce.get("cwd")
    if cwd and not os.path.isdir(cwd):
        out.append(f"the run's working directory {cwd} no longer exists; the rerun uses {os.getcwd()}")
    return out


def notebook_cells(record: dict[str, Any]) -> list[str]:
    """The cells a fresh kernel runs: the extension, restored names, earlier cells, the cell."""
    reproduce = reproduce_record(record)
    cells = ["%load_ext nbtrack"]
    setup = [f"import {module} as {name}" if module != name else f"import {module}"
             for name, module in sorted(reproduce.get("imports", {}).items())]
    setup += [f"{name} = {value!r}" for name, value in sorted(reproduce.get("restored", {}).items())]
    if setup:
        cells.append("\n".join(setup))
    for cell in reproduce.get("cells", []):
        cells.append(untracked(cell["source"]))
    line = ["%%track", shlex.quote(record["name"]), "--rerun-of", record["id"], "--no-live"]
    if record.get("project"):
        line += ["--project", shlex.quote(record["project"])]
    overrides = reproduce.get("overrides") or {}
    if overrides:
        line += ["--config", *(shlex.quote(f"{key}={value!r}") for key, value in overrides.items())]
    cells.append(" ".join(line) + "\n" + record["source"])
    cells.append("print('NBTRACK_RERUN_ID=' + "
                 "__import__('nbtrack.magics.track', fromlist=['_'])._state.last.id)")
    return cells


def untracked(source: str) -> str:
    """An earlier ``%%track`` cell runs as plain code in a rerun: it must not make a run."""
    if source.startswith("%%track") and (len(source) == 7 or source[7].isspace()):
        return "\n" + source.partition("\n")[2]
    return source


@dataclass
class RerunResult:
    """A rerun's new run, what could not be reproduced, and the metrics side by side."""

    original: str
    run_id: str | None
    problems: list[str] = field(default_factory=list)
    metrics: Any = None  # DataFrame: metric, original, rerun, steps, max_abs_diff, same
    config_changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # cells that failed in the fresh kernel

    @property
    def reproduced(self) -> bool:
        """Same config, no failed cell, and every metric equal at every step."""
        same = self.metrics is None or bool(self.metrics["same"].all())
        return self.run_id is not None and not self.errors and not self.config_changes and same

    def __str__(self) -> str:
        lines = [f"rerun of {self.original}: " + (f"new run {self.run_id}" if self.run_id else "no run"),
                 "reproduced exactly" if self.reproduced else "NOT reproduced exactly"]
        lines += [f"cannot reproduce: {p}" for p in self.problems]
        lines += [f"failed in the fresh kernel: {e}" for e in self.errors]
        lines += [f"config {k}: {a!r} -> {b!r}" for k, (a, b) in self.config_changes.items()]
        if self.metrics is not None and len(self.metrics):
            lines.append(self.metrics.to_string(index=False))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        body = "".join(f"<li>{html.escape(p, quote=True)}</li>" for p in
                       self.problems + self.errors + [f"config {k}: {a!r} -> {b!r}" for k, (a, b)
                                                      in self.config_changes.items()])
        table = self.metrics.to_html(index=False, escape=True) if self.metrics is not None else ""
        head = html.escape(str(self).splitlines()[0] + " - " + str(self).splitlines()[1], quote=True)
        return f"<div><b>{head}</b><ul>{body}</ul>{table}</div>"


def rerun(run: Any, *, store: Any = None, timeout: float = 600, kernel_name: str = "python3") -> RerunResult:
    """Execute a ``%%track`` run again in a fresh kernel, as a new run linked to it.

    Parameters
    ----------
    run : run id, name (the newest of that name) or :class:`nbtrack.Run`
    store : the store folder (default: the one in force)
    timeout : seconds each cell may take

    Example
    -------
    >>> result = nbtrack.rerun("baseline")  # doctest: +SKIP
    >>> result.reproduced, result.metrics   # doctest: +SKIP
    """
    from .query import run_record

    record = run_record(getattr(run, "id", run), store=store)
    found = problems(record)
    cells = notebook_cells(record)
    cwd = reproduce_record(record).get("cwd") or os.getcwd()
    if not os.path.isdir(cwd):
        cwd = os.getcwd()
    folder = Path(store).absolute() if isinstance(store, (str, os.PathLike)) else _settings.store_dir()
    nb = _execute(cells, cwd, str(folder), timeout, kernel_name)
    run_id, errors = _outcome(nb)
    result = RerunResult(record["id"], run_id, found, errors=errors)
    if run_id is not None:
        new = run_record(run_id, store=store)
        result.config_changes = {k: (record["config"].get(k), new["config"].get(k))
                                 for k in sorted(set(record["config"]) | set(new["config"]))
                                 if record["config"].get(k) != new["config"].get(k)}
        result.metrics = compare_metrics(record["id"], run_id, store)
    return result


def _execute(cells: list[str], cwd: str, store_dir: str, timeout: float, kernel_name: str) -> Any:
    try:
        import nbclient
        import nbformat
    except ImportError:
        raise NbtrackError("nbtrack rerun needs nbclient: pip install nbclient") from None
    nb = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]  # type: ignore[no-untyped-call]
    env = {**os.environ, "NBTRACK_DIR": store_dir}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    client = nbclient.NotebookClient(nb, kernel_name=kernel_name, timeout=int(timeout),
                                     allow_errors=True, resources={"metadata": {"path": cwd}})
    client.execute(env=env)
    return nb


def _outcome(nb: Any) -> tuple[str | None, list[str]]:
    run_id, errors = None, []
    for number, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                first = cell.source.splitlines()[0] if cell.source else ""
                errors.append(f"cell {number} ({first[:60]!r}): {output.get('ename')}: "
                              f"{output.get('evalue')}")
            found = _ID_LINE.search(str(output.get("text", "")))
            if found:
                run_id = found.group(1)
    return run_id, errors


def compare_metrics(original: str, rerun_id: str, store: Any = None) -> Any:
    """Each metric of both runs side by side: last values, steps, largest difference at a step."""
    import pandas as pd

    from .query import history

    a, b = history(original, store=store), history(rerun_id, store=store)
    rows = []
    for key in sorted(set(a["key"]) | set(b["key"])):
        if key.startswith("system/"):
            continue  # the machine, not the cell
        left = a[a["key"] == key].set_index("step")["value"]
        right = b[b["key"] == key].set_index("step")["value"]
        both = left.index.intersection(right.index)
        diff = (left.loc[both] - right.loc[both]).abs()
        same = left.index.equals(right.index) and bool(
            ((left == right) | (left.isna() & right.isna())).all())
        rows.append({"metric": key, "original": left.iloc[-1] if len(left) else None,
                     "rerun": right.iloc[-1] if len(right) else None,
                     "steps": f"{len(left)} / {len(right)}",
                     "max_abs_diff": float(diff.max()) if len(diff) else None, "same": same})
    return pd.DataFrame(rows, columns=["metric", "original", "rerun", "steps", "max_abs_diff", "same"])
