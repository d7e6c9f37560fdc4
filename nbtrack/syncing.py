"""``nbtrack sync``: copy runs between stores, e.g. a laptop's folder and the team's database.

Runs go with their points, media and the artifact versions they logged or used. A
sync is incremental and idempotent: a run already there with the same record and the
same number of points and media values is left alone; any other is replaced whole, in
one transaction of the target store, so a run synced twice is one run, and a run still
running syncs again later with what it logged since. Work done offline goes up when
the user is back online, as ``wandb sync`` does, but to the user's own database.

Example
-------
>>> import nbtrack
>>> nbtrack.sync(to="postgresql://me@db.lab/runs")            # doctest: +SKIP
SyncReport(copied=12, unchanged=40, points=1840000, media=96, artifacts=3)
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

from . import _settings
from .errors import NbtrackError, StoreError
from .selection import Selection
from .store import get_store
from .store.base import StoreBase

__all__ = ["SyncReport", "sync"]

#: What a run holds (with its point and media counts): a change here or there is a change.
_CONTENT = ("name", "project", "tags", "notes", "config", "summary", "error", "group_name", "sweep_id",
            "created_at")
#: How the run is going: only a change here counts (a reader of the target may have marked
#: the copy crashed after its heartbeat went quiet there; that is not an edit).
_LIVENESS = ("status", "ended_at", "heartbeat_at")
#: Seconds a sync waits for the target store to take what it saved.
FOLD_WAIT = 60.0


@dataclass
class SyncReport:
    """What a sync did: runs copied and left alone, points, media values and artifact versions."""

    source: str
    target: str
    copied: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    #: changed in the target since the last sync, and not here: left as they are there
    newer_there: list[str] = field(default_factory=list)
    #: changed on both sides (or never synced from here): left as they are there, with a warning
    conflicts: list[str] = field(default_factory=list)
    #: in the target's trash: left there
    in_trash: list[str] = field(default_factory=list)
    points: int = 0
    media: int = 0
    artifacts: int = 0

    def __repr__(self) -> str:
        return (f"SyncReport(copied={len(self.copied)}, unchanged={len(self.unchanged)}, "
                f"points={self.points}, media={self.media}, artifacts={self.artifacts})")

    def summary(self) -> str:
        text = (f"synced {self.source} -> {self.target}: {len(self.copied)} run(s) copied "
                f"({self.points:,} points, {self.media:,} media values, {self.artifacts} artifact "
                f"version(s)), {len(self.unchanged)} unchanged")
        for what, ids in (("newer there, left", self.newer_there), ("changed on both sides, left",
                          self.conflicts), ("in the target's trash, left", self.in_trash)):
            if ids:
                text += f", {len(ids)} {what}: {', '.join(ids)}"
        return text


def sync(to: Any = None, *, source: Any = None, project: str | None = None,
         runs: list[str] | None = None, progress: bool = False) -> SyncReport:
    """Copy runs from ``source`` (default: the store in force) to ``to`` (default: the store in force).

    Parameters
    ----------
    to, source
        Stores: a folder or a ``postgresql://`` URL; one of them may be left out (it is then
        the store in force: ``NBTRACK_STORE``/``NBTRACK_DIR``/``./.nbtrack``), not both.
    project
        Only runs of this project.
    runs
        Only these runs (ids or names).
    progress
        Print a line per run copied.

    Returns
    -------
    SyncReport
        Which runs were copied and which were already there unchanged.
    """
    if to is None and source is None:
        raise NbtrackError("say where to sync: nbtrack.sync(to='postgresql://...') or sync(source=...)")
    src: StoreBase = get_store(source)
    dst: StoreBase = get_store(to)
    if src is dst:
        raise NbtrackError(f"the source and the target are the same store ({src.location})")
    report = SyncReport(source=src.location, target=dst.location)
    from ._run import flush_all

    flush_all()  # runs of this process still in memory go too
    if not src.exists():
        return report
    selection = Selection(project=project)
    if runs:
        found = src.resolve_runs(runs)
        missing = [r for r in runs if r not in found]
        if missing:
            raise NbtrackError(f"no run with id or name {missing[0]!r} in {src.location}")
        selection = selection.replace(ids=tuple(found.values()))
    # Oldest first: a run that logged an artifact goes before the runs that used it.
    ids = [row["id"] for row in src.select_runs(selection.replace(sort="created_at"))]
    plan = _plan(src, dst, ids, report)
    for run_id, base in plan:
        _copy_run(src, dst, run_id, base, report)
        if progress:
            print(f"nbtrack sync: {run_id} copied", file=sys.stderr)
    _settle(dst)
    if report.conflicts:
        from .errors import warn

        warn(f"nbtrack sync: {len(report.conflicts)} run(s) changed in {dst.location} since they were "
             f"last synced there and changed here too (or were never synced from here): "
             f"{', '.join(report.conflicts)}. They were left as they are there; sync them the other "
             "way first (nbtrack sync --from), or rename one copy")
    return report


def _plan(src: StoreBase, dst: StoreBase, ids: list[str], report: SyncReport) -> list[tuple[str, str]]:
    """Which runs to copy, by a three-way comparison: this store's run, the target's, and the
    fingerprint the last sync left in the target's copy. ``[(run id, fingerprint now)]``."""
    with src.snapshot():
        mine = {r["id"]: r for r in src.run_records(ids)}
        my_sizes = src.run_sizes(ids)
    theirs: dict[str, dict[str, Any]] = {}
    their_sizes: dict[str, tuple[int, int]] = {}
    trashed: set[str] = set()
    if dst.exists():
        with dst.snapshot():
            theirs = {r["id"]: r for r in dst.run_records(ids)}
            their_sizes = dst.run_sizes(list(theirs))
            trashed = set(dst.trashed_runs()["id"]) & set(ids)
    plan = []
    for run_id in ids:
        now = _fingerprint(mine[run_id], my_sizes.get(run_id, (0, 0)))
        if run_id in trashed:
            report.in_trash.append(run_id)
            continue
        if run_id not in theirs:
            plan.append((run_id, now))
            continue
        there = _fingerprint(theirs[run_id], their_sizes.get(run_id, (0, 0)))
        base = ((theirs[run_id].get("environment") or {}).get("synced") or {}).get("fingerprint")
        changed_here = base is None or now != base
        changed_there = base is None or there.split("/")[0] != base.split("/")[0]
        if now == there or not (changed_here or changed_there):
            report.unchanged.append(run_id)
        elif changed_here and not changed_there:
            plan.append((run_id, now))
        elif changed_there and not changed_here:
            report.newer_there.append(run_id)  # resumed, renamed or tagged there: theirs stays
        else:
            report.conflicts.append(run_id)
    return plan


def _fingerprint(record: dict[str, Any], sizes: tuple[int, int]) -> str:
    """``content/liveness``: short hashes of what a run holds (its fields a user sees, its point
    and media counts) and of how it is going (status, end, heartbeat)."""
    import hashlib

    def short(value: Any) -> str:
        return hashlib.sha256(_plain(value).encode()).hexdigest()[:16]

    return (f"{short([[record.get(f) for f in _CONTENT], list(sizes)])}/"
            f"{short([record.get(f) for f in _LIVENESS])}")


def _plain(value: Any) -> str:
    """A value as comparable text (a NaN in a config equals itself here)."""
    import json

    return json.dumps(value, sort_keys=True, default=str)


def _copy_run(src: StoreBase, dst: StoreBase, run_id: str, fingerprint: str, report: SyncReport) -> None:
    import json

    segment = src.export_run(run_id)
    # The target's copy remembers what it was copied from: the next sync tells a run changed
    # here from one changed there (resumed, renamed, tagged), and never overwrites the latter.
    snapshot = segment.runs[0]
    environment = json.loads(snapshot["environment"]) if snapshot.get("environment") else {}
    environment["synced"] = {"from": src.location, "fingerprint": fingerprint}
    snapshot["environment"] = json.dumps(environment, allow_nan=True)
    for row in segment.media:
        key = row[7]  # MEDIA_COLUMNS: path, the blob's key
        if key:
            folder, _, suffix = _parts(key)
            dst.put_blob(src.blob_bytes(key), folder=folder, suffix=suffix)
    dst.save(segment)
    report.copied.append(run_id)
    report.points += segment.point_count()
    report.media += len(segment.media)
    report.artifacts += _copy_artifacts(src, dst, run_id)


def _parts(key: str) -> tuple[str, str, str]:
    """``media/ab/cdef....png`` as (folder, sha256 digest, suffix)."""
    folder, head, rest = key.split("/", 2)
    digest = head + rest[:62]
    return folder, digest, rest[62:]


def _copy_artifacts(src: StoreBase, dst: StoreBase, run_id: str) -> int:
    """The artifact versions a run logged or used, with their files; returns how many were new."""
    edges = src.artifact_lineage(run_id=run_id)
    copied = 0
    for name, version, role in zip(edges["name"], edges["version"], edges["role"]):
        found = src.find_artifact_version(name, version=int(version))
        if found is None:
            continue
        for entry in found["files"]:
            key = entry.get("object")
            if key:
                folder, _, suffix = _parts(key)
                dst.put_blob_file(src.blob_file(key), entry["digest"], folder=folder, suffix=suffix)
        number, is_new = dst.register_artifact_version(
            name, type=found["type"], digest=found["digest"], files=found["files"],
            metadata=found["metadata"], description=found["description"],
            aliases=[a for a in found["aliases"]], reference=found["reference"],
            project=_project(src, run_id), run_id=run_id if role == "output" else None)
        if role == "input":
            dst.link_artifact_use(run_id, name, number)
        copied += int(is_new)
    return copied


def _project(store: StoreBase, run_id: str) -> str:
    rows = store.run_records([run_id])
    return str(rows[0]["project"]) if rows else _settings.current().project


def _settle(dst: StoreBase) -> None:
    """Wait until the target store took everything this sync saved."""
    deadline = time.monotonic() + FOLD_WAIT
    while True:
        try:
            done = dst.fold(wait=1.0)
        except StoreError as exc:
            raise StoreError(f"nbtrack sync: {dst.location} did not take the runs ({exc}); they wait "
                             "on this machine and go in with the next sync or run") from None
        if done and not dst.pending_paths():
            return
        if time.monotonic() > deadline:
            raise StoreError(f"nbtrack sync: {dst.location} stayed busy for {FOLD_WAIT:.0f} s; the runs "
                             "wait on this machine and go in with the next sync or run")
        time.sleep(0.2)
