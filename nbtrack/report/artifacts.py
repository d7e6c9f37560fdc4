"""The report's artifacts part: versions the selected runs made or used, with their lineage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..formatting import size

__all__ = ["artifact_rows"]


def _run(run_id: Any, name: Any, chosen: set[str], status: Any = None) -> dict[str, Any]:
    """A run as the page names it; ``in_page`` says whether its details are in the report."""
    return {"id": str(run_id), "name": str(name) if name is not None and name == name else str(run_id),
            "status": None if status is None or status != status else str(status),
            "in_page": str(run_id) in chosen}


def artifact_rows(run_ids: Sequence[str], store: Any) -> list[dict[str, Any]]:
    """One dict per artifact version that a selected run logged or used.

    Each: ``ref, name, version, type, size, files, aliases, source, producer`` (a run
    dict or None) and ``consumers`` (run dicts), from :func:`nbtrack.artifacts` and
    :func:`nbtrack.lineage`; a run outside the selection is still named.
    """
    from ..registry import artifacts, lineage

    edges = lineage(store=store)
    if edges.empty:
        return []
    chosen = set(run_ids)
    touched = {(n, int(v)) for n, v, r in zip(edges["name"], edges["version"], edges["run_id"])
               if r in chosen}
    if not touched:
        return []
    versions = artifacts(store=store)
    out = []
    for row in versions.to_dict("records"):
        ident = (row["name"], int(row["version"]))
        if ident not in touched:
            continue
        mine = edges[(edges["name"] == ident[0]) & (edges["version"] == ident[1])]
        consumers = [_run(r, n, chosen, s) for r, n, s, role in
                     zip(mine["run_id"], mine["run_name"], mine["run_status"], mine["role"])
                     if role == "input"]
        aliases = row.get("aliases")
        made_by = row["run_id"]
        out.append({
            "ref": f"{row['name']}:v{ident[1]}", "name": row["name"], "version": ident[1],
            "type": row["type"], "size": size(row["size"]), "files": row["files"],
            "aliases": [str(a) for a in (list(aliases) if aliases is not None else [])],
            "source": row.get("source"),
            "producer": _run(made_by, row["run_name"], chosen) if isinstance(made_by, str) else None,
            "consumers": list({c["id"]: c for c in consumers}.values()),
        })
    return out
