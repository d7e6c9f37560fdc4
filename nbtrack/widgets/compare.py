"""The compare widget: a runs table to filter, sort and select, and charts of the selection.

Python computes, JavaScript (``labextension/src/widgets/compare.ts``) only draws. The table travels a page
at a time (``page_size`` rows, sorted and filtered here with :mod:`nbtrack.comparison`);
the charts are :mod:`nbtrack.charts` specs whose data was downsampled in SQL
(``history(max_points=...)``), so a thousand runs and millions of points cost the
browser a hundred rows and a few thousand points. While a shown run is running, a
thread re-reads the store at most once a second and updates only what changed.
Actions (tag, rename, notes, delete with undo, archive, export) arrive as custom
messages and go through :mod:`nbtrack.manage`. The Media part (images of one step side
by side, histograms over time, latest tables and text) comes from :mod:`._compare_media`.
Charts come in :func:`nbtrack.charts.metric_sections`, each run in its
:func:`~nbtrack.charts.project_run_colors` colour (the table's swatches too). Under the
widget, its still picture (:mod:`._compare_static`, :class:`._static.StillPicture`) is
what a notebook without the kernel shows.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import anywidget
import traitlets as t

from .. import comparison as core
from ..charts.colors import project_run_colors
from ..errors import NbtrackError, warn_once
from . import _bundle
from ._compare_charts import selection_charts
from ._compare_charts import x_choices as axis_choices
from ._compare_media import media_view
from ._compare_static import compare_picture
from ._static import StillPicture

__all__ = ["CompareWidget"]

_BASE_COLUMNS = ["name", "status", "created_at", "duration", "tags", "notes"]
#: Config and summary columns shown in the table, at most (the rest stay filterable).
MAX_EXTRA_COLUMNS = 24


class CompareWidget(anywidget.AnyWidget):
    """Compare runs; see the module docstring. Made by ``nbtrack.compare()``.

    Example
    -------
    >>> w = CompareWidget(project="mnist", metrics={"acc": "max"})  # doctest: +SKIP
    >>> w.selected = list(w.rows[i]["id"] for i in range(2))        # doctest: +SKIP
    """

    _esm = _bundle.widget_esm("compare")
    _css = _bundle.widget_css("compare")

    library = t.Unicode("").tag(sync=True)
    widget_id = t.Unicode("").tag(sync=True)
    # the table
    filter = t.Unicode("").tag(sync=True)
    filter_error = t.Unicode("").tag(sync=True)
    sort_by = t.Unicode("created_at").tag(sync=True)
    descending = t.Bool(True).tag(sync=True)
    page = t.Int(0).tag(sync=True)
    page_size = t.Int(100).tag(sync=True)
    total = t.Int(0).tag(sync=True)
    show_archived = t.Bool(False).tag(sync=True)
    columns = t.List(t.Unicode()).tag(sync=True)
    rows: t.List[dict[str, Any]] = t.List(t.Dict()).tag(sync=True)
    goals = t.Dict().tag(sync=True)
    best = t.Dict().tag(sync=True)
    # the selection and its charts
    selected = t.List(t.Unicode()).tag(sync=True)
    metrics = t.List(t.Unicode()).tag(sync=True)
    params = t.List(t.Unicode()).tag(sync=True)
    metric = t.Unicode("").tag(sync=True)
    param = t.Unicode("").tag(sync=True)
    x = t.Unicode("step").tag(sync=True)
    x_choices = t.List(t.Unicode()).tag(sync=True)
    sections: t.List[dict[str, Any]] = t.List(t.Dict()).tag(sync=True)
    smoothing = t.Float(0.0).tag(sync=True)
    log_scale = t.Bool(False).tag(sync=True)
    overlays = t.Dict().tag(sync=True)
    parallel = t.Dict().tag(sync=True)
    scatter = t.Dict().tag(sync=True)
    diff = t.Dict().tag(sync=True)
    note = t.Unicode("").tag(sync=True)
    # the selection's media
    media_keys = t.Dict().tag(sync=True)
    image_key = t.Unicode("").tag(sync=True)
    image_step = t.Int(-1).tag(sync=True)  # -1: the latest step
    histogram_key = t.Unicode("").tag(sync=True)
    media = t.Dict().tag(sync=True)
    # actions
    message = t.Unicode("").tag(sync=True)
    undo = t.List(t.Unicode()).tag(sync=True)
    trash_count = t.Int(0).tag(sync=True)
    report_path = t.Unicode("").tag(sync=True)

    def __init__(self, runs: Any = None, metrics: Mapping[str, str] | Sequence[str] | None = None,
                 project: str | None = None, *, store: Any = None, interval: float = 1.0,
                 max_overlay: int = 20, max_points: int = 500, start: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(widget_id=uuid.uuid4().hex, **kwargs)
        from ..query import _run_ids

        self._store = store
        self._project = project
        self._only = _run_ids(runs) if runs is not None else None
        self._given_goals = metrics
        self.max_overlay = max_overlay
        self.max_points = max_points
        self.interval = max(float(interval), 1.0)  # at most one store read a second
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._all: Any = None
        self._chart_key: Any = None
        self._media_key: Any = None
        self._still = StillPicture(self.picture)
        self._load()
        self.observe(self._on_table, ["filter", "sort_by", "descending", "page", "page_size",
                                      "show_archived"])
        self.observe(self._on_selection, ["selected", "metric", "param", "x", "smoothing", "log_scale",
                                          "image_key", "image_step", "histogram_key"])
        self.on_msg(self._on_message)
        if start:
            self.start()

    # -- reading ------------------------------------------------------------------------
    def _read(self) -> Any:
        from ..query import runs

        frame = runs(self._project, store=self._store)
        if self._only is not None:
            wanted = set(self._only)
            frame = frame[[i in wanted or n in wanted for i, n in zip(frame["id"], frame["name"])]]
        return frame.reset_index(drop=True)

    def _load(self, force: bool = True) -> None:
        """Read the store and bring every trait up to date (charts: when their runs moved, or ``force``)."""
        with self._lock:
            self._all = self._read()
            known = set(self._all["id"])
            with self.hold_sync():
                if any(i not in known for i in self.selected):
                    self.selected = [i for i in self.selected if i in known]
                self._sync_table()
                self._sync_charts(force=force)
                self.trash_count = len(_trash(self._store))
        self._still.changed()

    def _filtered(self) -> Any:
        try:
            frame = core.filter_runs(self._all, self.filter, archived=self.show_archived)
            self.filter_error = ""
        except NbtrackError as exc:
            self.filter_error = str(exc)
            frame = core.filter_runs(self._all, "", archived=self.show_archived)
        return frame

    def _sync_table(self) -> None:
        frame = self._filtered()
        metrics = core.summary_metrics(self._all)
        self.goals = core.metric_goals(metrics, self._given_goals)
        goals = {k: g for k, g in self.goals.items() if k in metrics}
        best = core.best_per_metric(frame, goals)
        self.best = {k: {**v, "value": core.json_value(v["value"])} for k, v in best.items()}
        extra = [c for c in self._all.columns if c.startswith(("config.", "summary."))
                 and not c.startswith("summary.system/")][:MAX_EXTRA_COLUMNS]
        self.columns = _BASE_COLUMNS + extra
        self.total = len(frame)
        last_page = max((len(frame) - 1) // max(self.page_size, 1), 0)
        if self.page > last_page:
            self.page = last_page
        ordered = core.sort_runs(frame, self.sort_by, self.descending)
        rows = core.table_page(ordered, self.columns, page=self.page, page_size=self.page_size,
                               best=best)
        colors = project_run_colors([r["id"] for r in rows], store=self._store) if rows else {}
        self.rows = [{**row, "color": colors.get(row["id"], "")} for row in rows]
        self.metrics = metrics
        self.x_choices = axis_choices(metrics)
        self.params = [c.removeprefix("config.") for c in self._all.columns if c.startswith("config.")]
        if self.metric not in metrics:
            self.metric = metrics[0] if metrics else ""
        if self.param not in self.params:
            self.param = self.params[0] if self.params else ""

    def _sync_charts(self, force: bool = False) -> None:
        ids = [i for i in self.selected if i in set(self._all["id"])]
        chosen = self._all.set_index("id").loc[ids].reset_index() if ids else self._all.iloc[0:0]
        self._sync_media(chosen, force)
        key = (tuple(ids), self.metric, self.param, self.x, self.smoothing, self.log_scale,
               _fingerprint(chosen))
        if not force and key == self._chart_key:
            return
        self._chart_key = key
        charts = selection_charts(
            chosen, metric=self.metric, param=self.param, goal=self.goals.get(self.metric, "minimize"),
            x=self.x, smoothing=self.smoothing, log_scale=self.log_scale,
            max_overlay=self.max_overlay, max_points=self.max_points, store=self._store)
        for name, value in charts.items():
            if getattr(self, name) != value:
                setattr(self, name, value)

    def _sync_media(self, chosen: Any, force: bool) -> None:
        ids, moved = tuple(chosen["id"]), _fingerprint(chosen)
        if not force and (ids, self.image_key, self.image_step, self.histogram_key, moved) == self._media_key:
            return
        view = media_view(chosen, image_key=self.image_key, image_step=self.image_step,
                          histogram_key=self.histogram_key, store=self._store)
        # Keyed by the keys as corrected, so the trait changes below do not build it again.
        self._media_key = (ids, view["image_key"], self.image_step, view["histogram_key"], moved)
        for name, value in view.items():
            if getattr(self, name) != value:
                setattr(self, name, value)

    # -- front-end events ---------------------------------------------------------------
    def _on_table(self, change: dict[str, Any]) -> None:
        with self._lock, self.hold_sync():
            self._sync_table()
        self._still.changed()

    def _on_selection(self, change: dict[str, Any]) -> None:
        with self._lock, self.hold_sync():
            self._sync_charts()
        self._still.changed()

    def _on_message(self, _widget: Any, content: Any, buffers: Any) -> None:
        if not isinstance(content, dict) or content.get("type") != "action":
            return
        try:
            self.act(str(content.get("action")), content)
        except NbtrackError as exc:
            self.message = str(exc)

    def act(self, action: str, content: Mapping[str, Any] | None = None) -> None:
        """Do what a button asked, on the selected runs; :mod:`._compare_actions` does the work."""
        from ._compare_actions import ACTIONS

        handler = ACTIONS.get(action)
        if handler is None:
            raise NbtrackError(f"unknown compare action {action!r}")
        with self._lock:
            self.message = handler(self, dict(content or {}))
            self._load()

    # -- display and refresh ------------------------------------------------------------
    def picture(self) -> dict[str, str]:
        """The widget as a still picture: ``text/html`` (the runs table with colour swatches,
        the selection's charts as a PNG) and ``text/plain``; see :mod:`._compare_static`."""
        with self._lock:
            return compare_picture(self)

    def show(self) -> None:
        """Display the widget, its still picture under it (:class:`._static.StillPicture`:
        what a notebook shows without the kernel, hidden while the widget is drawn), and send
        the widget the chart library (once per page)."""
        from IPython.display import display

        data, metadata = self._repr_mimebundle_() or ({}, {})
        data["text/plain"] = "nbtrack compare widget (needs the running kernel; its picture follows)"
        display(data, metadata=metadata, raw=True)  # type: ignore[no-untyped-call]
        self._still.show()
        self.library = _bundle.vega_library()[0]
        _bundle.send_library(self)

    def _ipython_display_(self) -> None:
        self.show()

    def start(self) -> None:
        """Start the refresh thread (the constructor does, unless ``start=False``)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="nbtrack-compare", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        super().close()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh(only_if_running=True)
            except Exception as exc:  # a store being rewritten: try again next time
                warn_once("compare-refresh", f"nbtrack.compare stopped refreshing ({exc!r})")
                return

    def refresh(self, *, only_if_running: bool = False) -> bool:
        """Re-read the store; with ``only_if_running``, only while a shown run is running."""
        if only_if_running and not self._shows_running():
            return False
        started = time.perf_counter()
        self._load(force=False)
        # A slow store (huge runs) should not be re-read back to back.
        self.interval = max(self.interval, 10 * (time.perf_counter() - started))
        return True

    def _shows_running(self) -> bool:
        shown = {row["id"] for row in self.rows if row.get("status") == "running"}
        if shown:
            return True
        frame = self._all
        if frame is None or frame.empty:
            return False
        running = set(frame.loc[frame["status"] == "running", "id"])
        return bool(running & set(self.selected))


def _fingerprint(frame: Any) -> Any:
    """What makes a selection's charts stale: its runs' status, duration and summary."""
    if frame.empty:
        return ()
    cols = [c for c in frame.columns if c in ("status", "duration") or c.startswith("summary.")]
    return tuple(map(str, frame[cols].itertuples(index=False)))


def _trash(store: Any) -> Any:
    from ..manage import trash

    return trash(store=store)
