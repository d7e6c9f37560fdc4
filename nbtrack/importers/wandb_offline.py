"""W&B offline runs: the ``run-<id>.wandb`` record log in each ``offline-run-*`` folder.

wandb 0.31 reads these files in its Go core and ships no Python reader, so the
framing (LevelDB's log format with W&B's ``:W&B`` header, unchanged since the
Python ``DataStore`` that wandb used to ship) is read here and each record is parsed
with wandb's own protobuf ``Record``. Read: run name, project, group, config, tags,
notes, start time, history rows (``_step``, ``_timestamp``), summary and exit code;
``job_type`` as the tag ``job_type:<type>`` (as ``nbtrack.init(job_type=)`` keeps it)
and ``define_metric`` definitions (step metric, summary rule, goal) in the run's
environment under ``define_metric``, where nbtrack's own runs keep them; a
define_metric summary (``{"min": 0.2}`` in W&B) is the metric's one summary value.
Rich history values become nbtrack media at their row's step and time: histograms,
images and tables (read from the run's ``files/`` folder, see
:mod:`nbtrack.importers._wandb_media`) and strings (as text). Not read, and counted
in the report: other media (audio, HTML, ...), lists, system metric samples, console
output, and file records.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import NbtrackError
from ._base import Importer, MediaPoint, Point, SourceRun, need
from ._wandb_media import Unreadable, convert

__all__ = ["WandbOfflineImporter", "read_records"]

BLOCK = 32768
HEADER = struct.Struct("<4sHB")  # ident, magic, version
RECORD = struct.Struct("<IHB")  # crc32, length, type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
_CRC = {kind: zlib.crc32(bytes([kind])) & 0xFFFFFFFF for kind in (FULL, FIRST, MIDDLE, LAST)}
_NOT_READ = {"stats": "system metric samples", "output_raw": "console output records",
             "output": "console output records", "files": "file records (uploaded online only)",
             "artifact": "artifact records", "alert": "alerts"}


def read_records(path: Path, damage: list[tuple[int, int]] | None = None) -> Iterator[bytes]:
    """The payloads of a ``.wandb`` file, in order.

    A damaged record (a torn last record from a killed process, or a chunk whose
    checksum fails) is skipped as LevelDB's own reader does: the rest of its 32 KiB
    block is dropped and reading goes on at the next block, so nothing readable is
    lost. Each such place is appended to ``damage`` as ``(byte offset, bytes lost)``.
    """
    data = path.read_bytes()
    if len(data) < HEADER.size:
        raise NbtrackError(f"{path} is empty or not a W&B run file")
    ident, magic, _version = HEADER.unpack_from(data)
    if ident != b":W&B" or magic != 0xBEE1:
        raise NbtrackError(f"{path} is not a W&B run file (header {data[:7]!r})")
    pos, pending = HEADER.size, None
    lost = damage if damage is not None else []
    while pos + RECORD.size <= len(data):
        left = BLOCK - pos % BLOCK
        if left < RECORD.size:  # a block's tail too short for a header is padding
            pos += left
            continue
        crc, length, kind = RECORD.unpack_from(data, pos)
        if kind == 0 and length == 0:  # zero-filled rest of the block
            pos += left
            continue
        chunk = data[pos + RECORD.size: pos + RECORD.size + length]
        if (len(chunk) < length or length > left - RECORD.size
                or zlib.crc32(chunk, _CRC.get(kind, 0)) & 0xFFFFFFFF != crc):
            # Torn or corrupted: drop the rest of the block and the record it was part of.
            skip = min(left, len(data) - pos)
            lost.append((pos, skip + (len(pending) if pending else 0)))
            pos, pending = pos + skip, None
            continue
        pos += RECORD.size + length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind in (MIDDLE, LAST) and pending is not None:
            pending += chunk
            if kind == LAST:
                yield pending
                pending = None
    if pending:  # a record whose last part never came: a torn end
        lost.append((len(data) - len(pending), len(pending)))


class WandbOfflineImporter(Importer):
    tool = "wandb"

    def sources(self) -> Iterator[SourceRun]:
        root = Path(self.source)
        if not root.is_dir():
            raise NbtrackError(f"no such directory: {self.source}; pass the wandb/ folder "
                               "(or one offline-run-* folder in it)")
        files = sorted(root.rglob("run-*.wandb"))
        if not files:
            raise NbtrackError(f"no W&B run files (offline-run-*/run-*.wandb) under {self.source}")
        pb = need("wandb.proto.wandb_internal_pb2", "wandb")
        for file in files:
            try:
                source = self._read(file, pb)
            except Exception as exc:  # one damaged file must not stop the others
                self.skip_run(file.parent.name, f"could not read {file.name} ({exc})")
                continue
            if source is not None:
                yield source

    def _read(self, file: Path, pb: Any) -> SourceRun | None:
        state = _RunState(self)
        damage: list[tuple[int, int]] = []
        records = 0
        for payload in read_records(file, damage):
            record = pb.Record()
            record.ParseFromString(payload)
            state.take(record)
            records += 1
        if damage:
            state.damaged = (f"{file.name} is truncated or corrupted at byte {damage[0][0]:,} of "
                             f"{file.stat().st_size:,}: {records:,} records were imported, "
                             f"{sum(n for _, n in damage):,} bytes could not be read")
            self.damaged(f"run {file.parent.name}: {state.damaged}")
        if state.run is None:
            self.skip_run(file.parent.name, f"{file.name} holds no run record")
            return None
        return state.source(file)


class _RunState:
    """Folds a run's records, in order, into what a :class:`SourceRun` needs."""

    def __init__(self, importer: WandbOfflineImporter) -> None:
        self.importer = importer
        self.run: Any = None
        self.exit: Any = None
        self.config: dict[str, Any] = {}
        self.summary: dict[str, Any] = {}
        self.points: list[Point] = []
        # (step, time, key, W&B value): turned into media only while the run is written
        self.media: list[tuple[int, float, str, Any]] = []
        self.last_time = -math.inf
        self.damaged: str | None = None  # the report's line when the file is damaged
        #: define_metric, as nbtrack keeps it: {name or glob: {step_metric, summary, goal}}
        self.metrics: dict[str, dict[str, Any]] = {}

    def take(self, record: Any) -> None:
        kind = record.WhichOneof("record_type")
        if kind == "run":
            self.run = record.run
            _apply(self.config, record.run.config)
        elif kind == "config":
            _apply(self.config, record.config)
        elif kind == "history":
            self._history(record.history)
        elif kind == "summary":
            _apply(self.summary, record.summary)
        elif kind == "exit":
            self.exit = record.exit
        elif kind == "metric":
            self._metric(record.metric)
        elif kind in _NOT_READ:
            self.importer.not_read(_NOT_READ[kind])

    def _metric(self, metric: Any) -> None:
        """A ``define_metric`` record: its step metric, summary rule and goal."""
        name = metric.name or metric.glob_name
        if not name or metric.expanded_from_glob:
            return  # wandb's own copy of a glob's definition for one metric
        step = metric.step_metric
        rules = [r for r in _SUMMARY_RULES if getattr(metric.summary, r)]
        definition = {"step_metric": step or None, "summary": ",".join(rules) or None,
                      "goal": _GOALS.get(metric.goal)}
        self.metrics[name] = {k: v for k, v in definition.items() if v is not None}

    def _history(self, history: Any) -> None:
        row: dict[str, Any] = {}
        for item in history.item:
            _set(row, list(item.nested_key) or [item.key], json.loads(item.value_json))
        step = row.get("_step", history.step.num)
        seconds = row.get("_timestamp")
        if not isinstance(seconds, (int, float)):
            seconds = self.last_time if math.isfinite(self.last_time) else 0.0
        self.last_time = max(self.last_time, seconds)
        values: dict[str, float | None] = {}
        rich: dict[str, Any] = {}
        self._flatten("", row, values, rich)
        if values:
            self.points.append((int(step), float(seconds), values))
        self.media += [(int(step), float(seconds), key, value) for key, value in rich.items()]

    def _flatten(self, prefix: str, row: dict[str, Any], out: dict[str, float | None],
                 rich: dict[str, Any]) -> None:
        for key, value in row.items():
            if not prefix and key.startswith("_"):
                continue  # _step, _timestamp, _runtime, _wandb
            name = f"{prefix}{key}"
            if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
                out[name] = value
            elif isinstance(value, bool):
                out[name] = float(value)
            elif isinstance(value, (str, dict)) and (isinstance(value, str) or "_type" in value):
                rich[name] = value
            elif isinstance(value, dict):
                self._flatten(f"{name}/", value, out, rich)
            else:
                self.importer.not_read("list values")

    def _media(self, files: Path) -> Iterator[MediaPoint]:
        for step, seconds, key, value in self.media:
            try:
                yield step, seconds, key, convert(value, files)
            except Unreadable as why:
                self.importer.not_read(str(why))

    def source(self, file: Path) -> SourceRun:
        run = self.run
        started = run.start_time.seconds + run.start_time.nanos / 1e9
        error: str | None
        if self.exit is None:
            status, error = "crashed", "the W&B run file has no exit record: it crashed or is still running"
            ended = self.last_time if math.isfinite(self.last_time) else None
        else:
            code = self.exit.exit_code
            status, error = ("finished", None) if code == 0 else ("failed", f"exit code {code}")
            ended = max(started + self.exit.runtime, self.last_time)
        notes = run.notes or None
        if self.damaged:
            # Read only in part: whatever its exit record says, the run here is not whole.
            status = "crashed"
            error = self.damaged if error is None else f"{error}; {self.damaged}"
            notes = "\n".join(filter(None, [notes, f"nbtrack import: {self.damaged}"]))
        self.config.pop("_wandb", None)
        summary = {k: _summary_value(v) for k, v in self.summary.items()
                   if not k.startswith("_") and not (isinstance(v, dict) and "_type" in v)}
        tags = list(run.tags) + ([f"job_type:{run.job_type}"] if run.job_type else [])
        return SourceRun(
            identity=run.run_id, name=run.display_name or run.run_id, started=started,
            ended=ended, status=status, error=error, project=run.project or None,
            config=self.config, tags=tags, notes=notes,
            group=run.run_group or None, summary=summary, points=self.points,
            media=self._media(file.parent / "files"),
            origin={"path": str(file.resolve()), "run_id": run.run_id, "entity": run.entity,
                    "project": run.project, "host": run.host,
                    **({"job_type": run.job_type} if run.job_type else {})},
            environment={"define_metric": self.metrics} if self.metrics else {},
        )


_SUMMARY_RULES = ("min", "max", "mean", "last", "best", "first")
_GOALS = {1: "minimize", 2: "maximize"}


def _summary_value(value: Any) -> Any:
    """W&B keeps a define_metric summary as ``{"min": 0.2}``; nbtrack, as its one value."""
    if isinstance(value, dict) and len(value) == 1:
        (rule, inner), = value.items()
        if rule in _SUMMARY_RULES and isinstance(inner, (int, float)):
            return inner
    return value


def _apply(target: dict[str, Any], record: Any) -> None:
    """Apply a config or summary record's updates and removals to ``target``."""
    for item in record.update:
        _set(target, list(item.nested_key) or [item.key], json.loads(item.value_json))
    for item in record.remove:
        path = list(item.nested_key) or [item.key]
        inner: dict[str, Any] = target
        for key in path[:-1]:
            child = inner.get(key)
            inner = child if isinstance(child, dict) else {}
        inner.pop(path[-1], None)


def _set(target: dict[str, Any], path: list[str], value: Any) -> None:
    for key in path[:-1]:
        inner = target.get(key)
        if not isinstance(inner, dict):
            inner = target[key] = {}
        target = inner
    target[path[-1]] = value
