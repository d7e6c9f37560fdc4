"""What every importer shares: the source run, the report, and the write path.

An importer reads its tool's files into :class:`SourceRun` objects; :class:`Importer`
writes each one through an :class:`ImportedRun`, a :class:`~nbtrack._run.Run` whose
times, environment and points come from the source instead of from this process.
Reusing the normal write path keeps one way of writing runs (the background writer,
its lock and its batching) rather than a second insert path to keep in step.
"""

from __future__ import annotations

import hashlib
import re
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import _settings
from .._run import Run
from ..errors import NbtrackError, StoreError
from ..store import get_store

__all__ = ["ImportReport", "ImportedRun", "Importer", "MediaPoint", "SourceRun", "run_id_for"]

#: Values buffered before the importer lets the writer store them: memory stays flat
#: on a large import, and each write is one batch of this size.
BATCH_VALUES = 250_000
#: Media rows buffered before a write: images are written to files as they come, so
#: only their rows wait, and a write stays one modest batch.
BATCH_MEDIA = 1_000
Point = tuple[int, float, dict[str, Any]]
#: ``(step, unix seconds, key, value)``: a rich value (nbtrack.Image, Histogram, ...)
#: or a list of them of one kind.
MediaPoint = tuple[int, float, str, Any]


def run_id_for(tool: str, identity: str) -> str:
    """The nbtrack run id of a source run: the same source always gets the same id.

    Example
    -------
    >>> run_id_for("mlflow", "0a1b")
    'mlflow-0a1b'
    """
    prefix = re.sub(r"[^a-z0-9]", "", tool.lower())[:12] or "import"
    if re.fullmatch(r"[a-z0-9_-]{1,48}", identity):
        return f"{prefix}-{identity}"
    digest = hashlib.sha1(f"{tool}\0{identity}".encode()).hexdigest()[:20]
    return f"{prefix}-{digest}"


@dataclass
class SourceRun:
    """One run as another tool recorded it, ready to be written to the store.

    ``points`` yields ``(step, unix seconds, {metric: value})`` and ``media`` yields
    ``(step, unix seconds, key, rich value)``; both may be generators, read once while
    the run is written. ``origin`` says where the run came from and is stored as the
    run's environment under ``"imported"``.
    """

    identity: str
    name: str
    started: float
    ended: float | None = None
    status: str = "finished"
    project: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    group: str | None = None
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    points: Iterable[Point] = ()
    media: Iterable[MediaPoint] = ()
    origin: dict[str, Any] = field(default_factory=dict)
    #: More of the run's environment record, beside ``"imported"`` (W&B's
    #: ``define_metric`` definitions, where nbtrack's own runs keep them).
    environment: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImportReport:
    """What one import did: runs imported, updated (imported before), skipped (could
    not be read: each has a line in ``not_read``) and deleted in the source, points
    (scalar values) and media values (images, histograms, text, tables) written, and
    what could not be read.

    Example
    -------
    >>> print(ImportReport("tensorboard", "logs", runs_imported=2, points=300))
    tensorboard logs: 2 runs imported, 0 updated, 0 skipped; 300 points in 0.0s
    """

    tool: str
    source: str
    runs_imported: int = 0
    runs_updated: int = 0
    runs_skipped: int = 0
    runs_deleted: int = 0
    points: int = 0
    media: int = 0
    run_ids: list[str] = field(default_factory=list)
    not_read: list[str] = field(default_factory=list)
    #: One line per damaged file (truncated, corrupted): where it broke and what was read.
    #: A damaged run's file also makes the run ``crashed``, with the line in its notes.
    damaged: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def __str__(self) -> str:
        lines = [
            f"{self.tool} {self.source}: {_count(self.runs_imported, 'run')} imported, "
            f"{self.runs_updated} updated, {self.runs_skipped} skipped"
            + (f", {self.runs_deleted} deleted in {self.tool} (not imported)" if self.runs_deleted else "")
            + "; "
            f"{self.points:,} points"
            + (f", {self.media:,} media values" if self.media else "")
            + f" in {self.seconds:.1f}s"
        ]
        lines += [f"  not imported: {line}" for line in self.not_read]
        lines += [f"  damaged: {line}" for line in self.damaged]
        return "\n".join(lines)

    @property
    def complete(self) -> bool:
        """Whether everything found was read: no damaged file and no run skipped."""
        return not self.damaged and not self.runs_skipped




def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


class ImportedRun(Run):
    """A run written from a :class:`SourceRun`: the source's times, no environment capture.

    The first write of the record also deletes an earlier import of the same source,
    in the same transaction, so re-importing replaces rather than duplicates.
    """

    def __init__(self, source: SourceRun, *, tool: str, run_id: str, project: str,
                 dir: Any = None) -> None:
        # Set before Run.__init__: its writer thread may write the record at once.
        self._source = source
        self._import_env = {**source.environment, "imported": {"tool": tool, **source.origin}}
        super().__init__(source.name, project=project, config=source.config,
                         tags=[*source.tags, f"imported:{tool}"], notes=source.notes,
                         group=source.group, kind="import", dir=dir, id=run_id)
        self.created_at = source.started
        from .. import system

        system.detach(self)  # an import has no machine to sample (settings.system_metrics)

    def _capture_environment(self) -> None:
        self._environment = self._import_env
        self._mark("environment")

    def _snapshot(self, now: float) -> dict[str, Any]:
        self.created_at = self._source.started
        first = not self._inserted
        if self._finished:
            self.ended_at = self._source.ended
        snapshot = super()._snapshot(now)
        # The first snapshot replaces an earlier import of the run, in the fold's own
        # transaction: the old import goes only if the new record is written.
        return {**snapshot, "replace": True} if first else snapshot

    def push_points(self, points: Iterable[Point]) -> int:
        """Queue the source's points with their own times; returns how many values."""
        queue, total, pending = self._queue, 0, 0
        for step, seconds, values in points:
            queue.extend((step, seconds, values))
            pending += len(values)
            if pending >= BATCH_VALUES:
                self._store_now()
                total, pending = total + pending, 0
        return total + pending

    def push_media(self, media: Iterable[MediaPoint]) -> int:
        """Store the source's rich values at their steps and times; returns how many.

        Each value goes through :meth:`Run._store_media`, as ``run.log`` does: its
        file is written now and its row waits for the writer.
        """
        total = 0
        for step, seconds, key, value in media:
            self._store_media(step, seconds, [(key, value)])
            total += len(value) if isinstance(value, list) else 1
            if len(self._media_rows) >= BATCH_MEDIA:
                self._store_now()
        return total

    def _store_now(self) -> None:
        """Save and fold what is queued: an import is a batch job, it may wait for the store."""
        if not self._writer.flush() or not self._writer.fold(_settings.current().lock_timeout):
            raise StoreError(f"could not write the imported run {self.name!r} to "
                             f"{self._store.location}: {self._writer.last_error}")


class Importer(ABC):
    """Reads one tool's runs; :meth:`run` writes them and returns the report.

    A subclass sets ``tool`` and ``requires`` (the pip command for its reader) and
    implements :meth:`sources`; it calls :meth:`not_read` for what it cannot import.
    """

    tool: str = ""

    def __init__(self, source: str, *, project: str | None = None, dir: Any = None) -> None:
        self.source = source
        self.project = project
        self.dir = dir
        self._not_read: Counter[str] = Counter()
        self._skipped: list[str] = []
        self._damaged: list[str] = []
        self._deleted = 0

    @abstractmethod
    def sources(self) -> Iterator[SourceRun]:
        """The runs to import; raises :class:`NbtrackError` when there is nothing to read."""

    def default_project(self) -> str:
        return Path(self.source).resolve().name or "default"

    def not_read(self, what: str, count: int = 1) -> None:
        """Note ``count`` items that were not imported, e.g. ``"histogram summaries"``."""
        self._not_read[what] += count

    def skip_run(self, name: str, why: str) -> None:
        """Note a whole run that could not be read, and why."""
        self._skipped.append(f"run {name}: {why}")

    def deleted(self, count: int) -> None:
        """Note runs the source tool has deleted (in its trash): counted, not imported."""
        self._deleted += count

    def damaged(self, line: str) -> None:
        """Note damaged input: a file read only up to where it broke (which, where, what
        was read), or a source's own record that could not be read at all."""
        self._damaged.append(line)

    def run(self) -> ImportReport:
        started = time.monotonic()
        report = ImportReport(self.tool, self.source)
        for source in self.sources():
            run_id = run_id_for(self.tool, source.identity)
            existed = _exists(run_id, self.dir)
            points, media = self._write(source, run_id)
            report.points += points
            report.media += media
            report.run_ids.append(run_id)
            if existed:
                report.runs_updated += 1
            else:
                report.runs_imported += 1
        report.source = self.source  # an importer may resolve a default (MLflow's URI)
        report.runs_skipped = len(self._skipped)
        report.runs_deleted = self._deleted
        report.not_read = ([f"{n:,} {what}" for what, n in self._not_read.items()]
                           + self._skipped)
        report.damaged = list(self._damaged)
        report.seconds = time.monotonic() - started
        return report

    def _write(self, source: SourceRun, run_id: str) -> tuple[int, int]:
        """Write one run; returns (points, media values)."""
        project = self.project or source.project or self.default_project()
        run = ImportedRun(source, tool=self.tool, run_id=run_id, project=project, dir=self.dir)
        failed: list[BaseException] = []
        try:
            points = run.push_points(_until_error(source.points, failed))
            media = run.push_media(_until_error(source.media, failed))
            run._store_now()
            for key, value in source.summary.items():
                run.summary[key] = value
            status, error = source.status, source.error
            if failed:
                # The source gave out while its points were read (a metric file damaged
                # in ./mlruns, an unreadable media file): keep what came, say so, go on.
                line = (f"reading it stopped part-way ({one_line(failed[0])}); the {points:,} "
                        f"points and {media:,} media values read before were imported")
                self.damaged(f"run {source.name}: {line}")
                status, error = "crashed", line if error is None else f"{error}; {line}"
                run.set_notes("\n".join(filter(None, [run.notes, f"nbtrack import: {line}"])))
            run.finish(status, error)
        except BaseException:
            run.finish("failed", "the import stopped half-way; import again")
            raise
        if not run._done_writing():
            run._store_now()
        return points, media


def _until_error(items: Iterable[Any], failed: list[BaseException]) -> Iterator[Any]:
    """``items`` until reading them raises; the error goes to ``failed``.

    Only the source's own reading runs inside this frame (the store writes happen in
    the caller), so what is caught here is a damaged source, never a store failure.
    """
    try:
        yield from items
    except Exception as exc:
        failed.append(exc)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def _exists(run_id: str, dir: Any) -> bool:
    return get_store(dir).run_exists(run_id)


def need(module: str, extra: str) -> Any:
    """Import an importer's reader, or say how to install it."""
    from importlib import import_module

    try:
        return import_module(module)
    except ImportError as exc:
        raise NbtrackError(
            f"importing from {extra} needs the {module.split('.')[0]} package ({exc}); "
            f"install it with: pip install 'nbtrack[import-{extra}]'"
        ) from None
