"""TensorBoard: every folder holding ``events.out.tfevents.*`` files is a run.

Event files are read with the ``tensorboard`` package's own loader. Runs are the
ones a TensorBoard user sees (see :func:`_fold`): ``add_scalars("lr", {"a": ...})``
folders (``lr_a/`` from PyTorch, ``lr/a/`` from tensorboardX, holding tag ``lr``)
are metric ``lr/a`` of the run that wrote them; ``add_hparams``' ``<time>/`` folder
gives its run's config and metric values; in TensorFlow's HParams layout (the
experiment in the root, one folder per trial) each trial is a run with its hparams
as config and its sub-folders (Keras' ``train/``, ``validation/``) as metrics
``train/<tag>``, and the root itself is not a run.

Histograms, images and text become nbtrack media at their steps and wall times
(see :mod:`nbtrack.importers._tb_media` for how bucket edges are read). Their event
files are read a second time while the run is written, so a large log of images is
never held in memory whole.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import NbtrackError
from ._base import Importer, MediaPoint, Point, SourceRun, need
from ._tb_media import KINDS, convert, media_kind

__all__ = ["TensorBoardImporter"]

EVENTS_GLOB = "events.out.tfevents.*"
# Summaries we do not import, named as the report says them.
_NOT_READ = {
    "audio": "audio summaries", "text": "text summaries", "pr_curves": "PR curve summaries",
    "mesh": "mesh summaries", "graph": "graphs",
}
_SESSION_STATUS = {1: "finished", 2: "failed", 3: "crashed"}  # hparams' Status enum


@dataclass
class _Folder:
    """What one folder's event files hold."""

    path: Path
    series: dict[str, tuple[list[int], list[float], list[float]]] = field(default_factory=dict)
    hparams: dict[str, Any] = field(default_factory=dict)
    experiment: bool = False  # holds the hparams experiment summary (the domain of each)
    session: bool = False  # holds a trial's session_start_info
    status: str | None = None
    media_dirs: list[Path] = field(default_factory=list)  # folders to read media from
    damaged: list[str] = field(default_factory=list)  # one line per damaged event file
    first: float = math.inf
    last: float = -math.inf

    def add(self, tag: str, step: int, seconds: float, value: float) -> None:
        steps, times, values = self.series.setdefault(tag, ([], [], []))
        steps.append(step)
        times.append(seconds)
        values.append(value)

    def merge(self, other: _Folder, rename: dict[str, str]) -> None:
        for tag, (steps, times, values) in other.series.items():
            mine = self.series.setdefault(rename.get(tag, tag), ([], [], []))
            mine[0].extend(steps)
            mine[1].extend(times)
            mine[2].extend(values)
        self.hparams.update(other.hparams)
        self.session = self.session or other.session
        self.status = other.status or self.status
        self.media_dirs += other.media_dirs
        self.damaged += other.damaged
        self.first, self.last = min(self.first, other.first), max(self.last, other.last)


class TensorBoardImporter(Importer):
    tool = "tensorboard"

    def sources(self) -> Iterator[SourceRun]:
        root = Path(self.source)
        if not root.is_dir():
            raise NbtrackError(f"no such directory: {self.source}; pass the folder "
                               "SummaryWriter wrote to (its log_dir)")
        loader = self._loader = need("tensorboard.backend.event_processing.event_file_loader",
                                     "tensorboard")
        dirs = sorted({f.parent for f in root.rglob(EVENTS_GLOB) if f.is_file()})
        if not dirs:
            raise NbtrackError(f"no TensorBoard event files ({EVENTS_GLOB}) under {self.source}")
        folders: dict[Path, _Folder] = {}
        for folder in dirs:
            try:
                folders[folder] = self._read(folder, loader)
            except Exception as exc:  # one unreadable folder must not stop the others
                self.skip_run(self._name(root, folder), f"could not read its event files ({exc})")
        _fold(folders)
        for data in folders.values():
            if data.experiment and not (data.series or data.media_dirs or data.session):
                continue  # an HParams root: the experiment's hparam domains, its trials below
            yield self._source_run(root, data)

    def _name(self, root: Path, folder: Path) -> str:
        rel = folder.relative_to(root).as_posix()
        return root.resolve().name if rel == "." else rel

    def _source_run(self, root: Path, folder: _Folder) -> SourceRun:
        started = folder.first if math.isfinite(folder.first) else folder.path.stat().st_mtime
        ended = folder.last if math.isfinite(folder.last) else started
        name = self._name(root, folder.path)
        status, error, notes = folder.status or "finished", None, None
        if folder.damaged:
            # What a writer killed mid-record leaves: the run did not end cleanly, and
            # what came after the damage is unknown. "crashed", not "finished".
            status, error = "crashed", "; ".join(folder.damaged)
            notes = "\n".join(f"nbtrack import: {line}" for line in folder.damaged)
            for line in folder.damaged:
                self.damaged(f"run {name}: {line}")
        return SourceRun(
            identity=str(folder.path.resolve()), name=name, started=started, ended=ended,
            status=status, error=error, notes=notes, config=folder.hparams,
            points=_points(folder), media=self._media(folder.media_dirs),
            origin={"path": str(folder.path.resolve())},
        )

    def _read(self, path: Path, loader: Any) -> _Folder:
        folder = _Folder(path)
        plugins: dict[str, str] = {}  # TF2 writes a tag's plugin only on its first event
        for file in sorted(path.glob(EVENTS_GLOB)):
            events = _counting(loader)(str(file))
            for event in events.Load():
                folder.first = min(folder.first, event.wall_time)
                folder.last = max(folder.last, event.wall_time)
                what = event.WhichOneof("what")
                if what == "summary":
                    for value in event.summary.value:
                        self._value(folder, plugins, event, value)
                elif what in ("graph_def", "meta_graph_def"):
                    self.not_read("graphs")
                elif what == "tagged_run_metadata":
                    self.not_read("run metadata records")
            size = file.stat().st_size
            if events.bytes_read < size:  # the loader stops, without a word, at a bad record
                folder.damaged.append(
                    f"{file.name} is truncated or corrupted at byte {events.bytes_read:,} of "
                    f"{size:,}: its first {events.records:,} records were imported, the rest "
                    "could not be read")
        return folder

    def _value(self, folder: _Folder, plugins: dict[str, str], event: Any, value: Any) -> None:
        kind = value.WhichOneof("value")
        plugin = _plugin(value, plugins)
        if kind == "simple_value":
            folder.add(value.tag, event.step, event.wall_time, value.simple_value)
        elif kind == "tensor" and plugin == "scalars":
            folder.add(value.tag, event.step, event.wall_time, _scalar(value.tensor))
        elif plugin == "hparams":
            self._hparams(folder, value.metadata.plugin_data.content)
        elif media_kind(kind, plugin):
            if folder.path not in folder.media_dirs:
                folder.media_dirs.append(folder.path)
        else:
            self.not_read(_NOT_READ.get(plugin or kind or "", f"{plugin or kind} summaries"))

    def _media(self, dirs: list[Path]) -> Iterator[MediaPoint]:
        """The histograms, images and text of these folders, read again from their files."""
        for path in dirs:
            plugins: dict[str, str] = {}
            for file in sorted(path.glob(EVENTS_GLOB)):
                # The raw events: TensorBoard's usual loader would turn a legacy histogram
                # into float32 buckets with min/max as outer edges, losing the logged edges.
                for event in self._loader.LegacyEventFileLoader(str(file)).Load():
                    if event.WhichOneof("what") != "summary":
                        continue
                    for value in event.summary.value:
                        kind, plugin = value.WhichOneof("value"), _plugin(value, plugins)
                        what = media_kind(kind, plugin)
                        if what is None:
                            continue
                        converted = convert(value, kind, plugin)
                        if converted is None:
                            self.not_read(f"{KINDS[what]} (unreadable or empty)")
                        else:
                            yield event.step, event.wall_time, converted[1], converted[2]

    def _hparams(self, folder: _Folder, content: bytes) -> None:
        data = need("tensorboard.plugins.hparams.plugin_data_pb2", "tensorboard").HParamsPluginData()
        data.ParseFromString(content)
        if data.HasField("experiment"):
            folder.experiment = True
        elif data.HasField("session_start_info"):
            folder.session = True
            for name, value in data.session_start_info.hparams.items():
                folder.hparams[name] = _hparam(value)
        elif data.HasField("session_end_info"):
            folder.status = _SESSION_STATUS.get(data.session_end_info.status)


_COUNTING: list[type] = []


def _counting(loader: Any) -> Any:
    """TensorBoard's ``EventFileLoader``, counting the records and bytes it read.

    Its raw loader ends a file quietly at a truncated or corrupted record (a live
    writer's last record may be incomplete); comparing the bytes read with the file's
    size is how a damaged file is told from a whole one.
    """
    if not _COUNTING:
        class CountingRaw(loader.RawEventFileLoader):  # type: ignore[misc]
            bytes_read = 0
            records = 0

            def Load(self) -> Iterator[bytes]:
                for record in super().Load():
                    self.bytes_read += len(record) + 16  # length, its crc, data, data crc
                    self.records += 1
                    yield record

        # C3 puts CountingRaw between LegacyEventFileLoader and RawEventFileLoader.
        class Counting(loader.EventFileLoader, CountingRaw):  # type: ignore[misc]
            pass

        _COUNTING.append(Counting)
    return _COUNTING[0]


def _plugin(value: Any, plugins: dict[str, str]) -> str:
    """A value's plugin name; TF2 writes it only on a tag's first event, so remember it."""
    plugin = value.metadata.plugin_data.plugin_name or plugins.get(value.tag, "")
    if plugin:
        plugins[value.tag] = plugin
    return plugin


def _scalar(tensor: Any) -> float:
    if tensor.float_val:
        return float(tensor.float_val[0])
    if tensor.double_val:
        return float(tensor.double_val[0])
    from tensorboard.util import tensor_util

    return float(tensor_util.make_ndarray(tensor).reshape(-1)[0])


def _hparam(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        # TensorBoard keeps every number as a double; 32 came in as an int.
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if kind in ("string_value", "bool_value"):
        return getattr(value, kind)
    return None


def _fold(folders: dict[Path, _Folder]) -> None:
    """Fold the sub-folders that TensorBoard shows as parts of another run into that run.

    - ``add_hparams`` (PyTorch, tensorboardX) writes the experiment, the session and its
      metric values together into a ``<time>/`` folder under the run: they are the run's
      config and metrics.
    - ``add_scalars("loss", {"train": ...})`` writes tag ``loss`` into ``loss_train/``
      (PyTorch) or ``loss/train/`` (tensorboardX): metric ``loss/train`` of the run.
    - TensorFlow's HParams layout is a root holding only the experiment and one folder per
      trial holding its session (``hp.hparams``); a trial is a run, and the folders
      under it (Keras' ``train/`` and ``validation/``) are its metrics ``train/<tag>``.
    """
    for path in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        child = folders[path]
        if child.experiment and child.session and path.parent in folders:  # add_hparams
            folders[path.parent].merge(folders.pop(path), {})
            continue
        target = _scalars_writer(path, child, folders)
        if target is not None:
            writer_path, rename = target
            folders[writer_path].merge(folders.pop(path), rename)
    for path in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        trial = next((a for a in path.parents if a in folders and folders[a].session
                      and any(b in folders and folders[b].experiment for b in a.parents)), None)
        child = folders[path]
        if trial is not None and not child.session and not child.experiment:
            group = path.relative_to(trial).as_posix()
            folders[trial].merge(folders.pop(path), {tag: f"{group}/{tag}" for tag in child.series})


def _scalars_writer(path: Path, child: _Folder, folders: dict[Path, _Folder]
                    ) -> tuple[Path, dict[str, str]] | None:
    """The folder of the writer whose ``add_scalars`` made ``path``, and the tag's new name."""
    if child.media_dirs or child.hparams or child.experiment or len(child.series) != 1:
        return None
    (tag,) = child.series
    # PyTorch: <writer>/<main_tag with / as _>_<tag>
    prefix = tag.replace("/", "_") + "_"
    if path.name.startswith(prefix) and len(path.name) > len(prefix) and path.parent in folders:
        return path.parent, {tag: f"{tag}/{path.name[len(prefix):]}"}
    # tensorboardX: <writer>/<main_tag>/<tag>, the writer's folder holding events of its own
    depth = len(tag.split("/"))
    if len(path.parts) > depth + 1 and path.parent.as_posix().endswith("/" + tag):
        writer = path.parents[depth]
        if writer in folders:
            return writer, {tag: f"{tag}/{path.name}"}
    return None


def _points(folder: _Folder) -> Iterator[Point]:
    for tag, (steps, times, values) in folder.series.items():
        for step, seconds, value in zip(steps, times, values):
            yield step, seconds, {tag: value}
