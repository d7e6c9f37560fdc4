"""The live panel of a run: status, one chart per metric, machine gauges.

How it stays cheap: the panel subscribes to its run (:meth:`nbtrack.Run.subscribe`),
whose listener only queues the lists of new points. A daemon thread wakes every
``interval`` (0.25 s: at most 4 updates a second; less often when an update costs more
than ``CPU_BUDGET`` of a CPU), drains the run's buffer, folds the points into
per-metric display buckets (:mod:`._stream`, at most ``max_points`` a metric) and
sends what is new: the status in one trait update, the points in one custom message.
Logged media (images, histograms, text, tables) take the same path, bounded by
:class:`._media.LiveMedia`, in ``media`` messages with the image bytes as buffers; a
failure there stops the media part alone, with one warning.
Nothing here waits for the chart templates (Altair-built, cached on disk; :mod:`._specs`):
until they are loaded the panel sends status, last values and points, and a chart joins
at the first update after they are (the browser keeps the points it got before).
When the run ends the panel's output becomes a static SVG picture of the final charts
(:mod:`._static`) and the widget is closed, so a saved notebook shows results with no
kernel and keeps no widget state.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets as t

from ..errors import warn_once
from ..formatting import json_safe
from . import COLOR_WAIT_S, _bundle, _run_color, _specs, final_color, gauges, picture_due
from ._media import LiveMedia
from ._static import error_line, final_picture
from ._stream import SYSTEM, Fold

if TYPE_CHECKING:
    from .._run import Run

__all__ = ["LivePanel"]

#: Seconds between updates when nothing but the clock moved.
_CLOCK_EVERY = 1.0
#: Share of one CPU the update thread may use; past it, updates come less often.
CPU_BUDGET = 0.05
#: Seconds between updates, at most, whatever they cost.
_SLOWEST = 2.0
#: The module a closed panel is left with (its output is a static picture by then).
_CLOSED_ESM = "export default {};\n"


class LivePanel(anywidget.AnyWidget):
    """Live view of one run; see the module docstring.

    Example
    -------
    >>> panel = LivePanel(nbtrack.init(name="demo"))  # doctest: +SKIP
    >>> panel.show()                                  # doctest: +SKIP
    """

    _esm = _bundle.panel_esm()
    _css = _bundle.panel_css()

    panel_id = t.Unicode("").tag(sync=True)
    library = t.Unicode("").tag(sync=True)
    run_id = t.Unicode("").tag(sync=True)
    run_name = t.Unicode("").tag(sync=True)
    status = t.Unicode("running").tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    step = t.Int(0).tag(sync=True)
    elapsed = t.Float(0.0).tag(sync=True)
    last_values = t.Dict().tag(sync=True)
    charts = t.Dict().tag(sync=True)
    hidden_metrics = t.Int(0).tag(sync=True)
    gauges: t.List[dict[str, Any]] = t.List(t.Dict()).tag(sync=True)
    gauges_spec = t.Dict().tag(sync=True)
    system_note = t.Unicode("").tag(sync=True)

    def __init__(self, run: Run, *, interval: float = 0.25, max_points: int = 2000,
                 max_charts: int = 24, start: bool = True, relay: Any = None, **kwargs: Any) -> None:
        super().__init__(panel_id=uuid.uuid4().hex, run_id=run.id, run_name=run.name,
                         status=run.status, **kwargs)
        self.interval = max(float(interval), 0.05)
        self.max_points = max_points
        self.max_charts = max_charts
        self._run = run
        self._points = Fold(max_points, max_charts)
        self._series = self._points.series
        self._last = self._points.last
        self._pending: deque[tuple[list[str], list[int], list[Any], list[float]]] = deque()
        self._media = LiveMedia(run._store)
        self._media_pending: deque[list[tuple[Any, ...]]] = deque()
        self._media_failed = False
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handle: Any = None
        self._clock_at = 0.0
        self._library_sent = False
        #: The run's colour in every view: the store may be busy with the run's first writes,
        #: so it is looked up beside the update thread, which sends points meanwhile.
        self._color: Future[str] = Future()
        self._color_asked = False
        self._made_at = time.monotonic()
        #: Whether the panel gets every point of the run (it was made, or its relay was, before
        #: the run logged any), so its picture can be drawn from them; else from the store.
        self._complete = run.step == 0
        self._media_seen = False
        self._ended = False
        #: Made too late: the run ended and its relay left the picture (see widgets._Relay).
        self.gave_way = False
        self.messages_sent = 0
        #: CPU seconds the update thread has spent bringing the browser up to date.
        self.cpu_seconds = 0.0
        if relay is None:
            self._unsubscribe = run.subscribe(self._on_event)
        else:  # made after the run started: the relay kept its events so far (widgets._Relay)
            self._color, self._color_asked = relay.color, True
            self._made_at = relay.made_at  # the colour has been looked up since the cell began
            self._complete = relay.complete
            self._unsubscribe = relay.unsubscribe
            self.gave_way = not relay.attach(self._on_event)
            if self.gave_way:  # the run ended first: the relay leaves its picture
                self._ended = True
                return
        if not self._complete:
            # Made after the run logged (a resumed run, nbtrack.live() later): its relative
            # time counts from the run's start, not from the first point this panel sees,
            # and its picture is drawn from the store (Altair and pandas).
            self._points.origin = run.created_at
            from . import warm_up

            warm_up("picture")
        if run._finished:
            self._ended = True
            self._final_state()
        elif start:
            self.start()

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the update thread (the constructor does, unless ``start=False``)."""
        if self._thread is None and not self._ended:
            self._look_up_color(wait=False)
            self._thread = threading.Thread(target=self._loop, name="nbtrack-live", daemon=True)
            self._thread.start()

    def show(self) -> None:
        """Display the panel in the current cell's output (once) and send it the chart library."""
        if self._handle is not None:
            return
        from IPython.display import display

        if self._ended:  # a finished run: its picture is all there is to show
            self._handle = display(self.picture(), raw=True, display_id=True)  # type: ignore[no-untyped-call]
            self.close()
            return
        data, metadata = self._repr_mimebundle_() or ({}, {})
        data["text/plain"] = f"nbtrack live panel for run {self.run_name!r} (needs the running kernel)"
        self._handle = display(data, metadata=metadata, raw=True, display_id=True)  # type: ignore[no-untyped-call]
        if _bundle.library_cached():  # else the update thread builds it (seconds) and sends it
            self._send_library()

    def _send_library(self) -> None:
        if not self._library_sent:
            self._library_sent = True
            self.library = _bundle.send_library(self)

    def _chart_color(self) -> str | None:
        """The run's colour once looked up; past ``COLOR_WAIT_S`` (a store busy for that long),
        the run id's own colour, so the charts do not wait for the store any longer."""
        if self._color.done() or time.monotonic() - self._made_at >= COLOR_WAIT_S:
            return final_color(self._run, self._color, self._made_at)  # waits no more
        return None

    def _look_up_color(self, wait: bool) -> None:
        if self._color_asked:
            return
        self._color_asked = True
        if wait:
            self._color.set_result(_run_color(self._run))
        else:
            threading.Thread(target=lambda: self._color.set_result(_run_color(self._run)),
                             name="nbtrack-live-color", daemon=True).start()

    def _ipython_display_(self) -> None:
        self.show()

    def _loop(self) -> None:
        wait = 0.0  # the points logged before the panel was shown go out at once
        while not self._stop.wait(wait):
            started = time.thread_time()
            try:
                self.tick()
            except Exception as exc:  # never into the user's cell; the run goes on
                warn_once("live-panel-tick", f"nbtrack's live panel stopped updating ({exc!r})")
                return
            finally:
                spent = time.thread_time() - started
                self.cpu_seconds += spent
            # A loop that logs very fast makes every update costly: update less often
            # rather than take more than CPU_BUDGET of the CPU from the user's code.
            wait = min(max(self.interval, spent / CPU_BUDGET), _SLOWEST)

    def _on_event(self, event: str, payload: Any) -> None:
        if event == "points":
            self._pending.append(payload)
        elif event == "media":
            if not self._media_seen:
                self._media_seen = True
                from . import warm_up

                warm_up("picture")  # the picture of media needs Altair and pandas
            if not self._media_failed:
                self._media_pending.append(payload)
        elif event == "finish":
            self._finish()

    # -- updates -----------------------------------------------------------------------
    def tick(self) -> bool:
        """Bring the browser up to date now; returns whether a points message was sent."""
        with self._lock:
            if self.comm is None:  # closed: by the end of the run, or by the user
                self._stop.set()
                return False
            if self._handle is not None and not self._library_sent:
                # Not cached on disk yet: bundled here (seconds), not in the user's cell.
                self._send_library()
            self._run.drain()
            updates = self._fold()
            self._sync_traits(bool(updates))
            self._send_media()
            if not updates:
                return False
            self.send({"type": "update", "series": updates})
            self.messages_sent += 1
            return True

    def _fold(self) -> dict[str, Any]:
        """Group the queued points per metric and take each metric's new display points."""
        touched: set[str] = set()
        while self._pending:
            keys, steps, values, times = self._pending.popleft()
            touched |= self._points.add(keys, steps, values, times)
        updates = {}
        for key in sorted(touched):
            update = self._series[key].update()
            if update is not None:
                updates[key] = update
        return updates

    def _send_media(self) -> None:
        """Send the media that changed; a failure stops the media part, not the panel."""
        if self._media_failed or not (self._media_pending or self._media.pending):
            return
        try:
            while self._media_pending:
                self._media.add(self._media_pending.popleft())
            update = self._media.update(time.time())
            if update is not None:
                self.send(update[0], buffers=update[1])
                self.messages_sent += 1
        except Exception as exc:
            self._media_failed = True
            self._media_pending.clear()
            warn_once("live-panel-media", f"nbtrack's live panel stopped showing media of run "
                      f"{self.run_name!r} ({exc!r}); the run and its charts go on")

    def _sync_traits(self, moved: bool) -> None:
        now = time.time()
        color_known = self._color.done() or time.monotonic() - self._made_at >= COLOR_WAIT_S
        charts_due = _specs.ready() and color_known and (len(self.charts) < len(self._series)
                                         or bool(self.gauges and not self.gauges_spec))
        if not (moved or charts_due or self._points.system_moved) and now - self._clock_at < _CLOCK_EVERY:
            return
        run = self._run
        with self.hold_sync():
            if self._thread is None:  # ticked by its caller, with no update thread: look it up now
                self._look_up_color(wait=True)
            color = self._chart_color()
            missing = ([k for k in self._series if k not in self.charts]
                       if color is not None and _specs.ready() else [])
            if missing:
                self.charts = {**self.charts, **{k: _specs.metric_spec(k, color) for k in missing}}
                picture_due.set()  # the first chart is up: the final picture's imports may start
            self.hidden_metrics = len(self._points.hidden)
            self.last_values = {k: json_safe(v) for k, v in sorted(self._last.items())}
            self.step = max(run.step - 1, 0)
            self.elapsed = round((run.ended_at or now) - run.created_at, 1)
            if self._points.system_moved:
                self._sync_gauges()
                self._points.system_moved = False
            if self.gauges and not self.gauges_spec and _specs.ready():
                self.gauges_spec = _specs.gauges_spec()
        self._clock_at = now

    def _sync_gauges(self) -> None:
        self.gauges, self.system_note = gauges(self._run, self._points.system)

    # -- the end ------------------------------------------------------------------------
    def _finish(self) -> None:
        picture_due.set()
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        with self._lock:
            if self._ended:
                return
            self._ended = True
            run = self._run
            self.tick()
            with self.hold_sync():
                self.status = run.status
                self.error = error_line(run.error)
                self.elapsed = round((run.ended_at or time.time()) - run.created_at, 1)
            self._unsubscribe()
            if self._handle is not None:
                self._replace_with_picture()

    def _replace_with_picture(self) -> None:
        try:
            self._handle.update(self.picture(), raw=True)
        except Exception as exc:
            warn_once("live-panel-picture",
                      f"nbtrack could not draw the final charts of run {self.run_name!r} ({exc!r})")
            return
        self._shrink()
        self.close()  # the output no longer shows the widget: free it

    def _shrink(self) -> None:
        """Empty the big traits before closing: notebook runners such as nbclient save
        the last state of every widget they saw, closed or not."""
        with self.hold_sync():
            self.charts = {}
            self.gauges_spec = {}
            self.set_trait("_esm", _CLOSED_ESM)
            self.set_trait("_css", "")

    def _final_state(self) -> None:
        """Status, step and last values of a run that ended before the panel was made."""
        run = self._run
        self.status = run.status
        self.error = error_line(run.error)
        self.step = max(run.step - 1, 0)
        self.elapsed = round((run.ended_at or time.time()) - run.created_at, 1)
        summary = dict(run.summary)
        self.last_values = {k: json_safe(v) for k, v in sorted(summary.items())
                            if not k.startswith(SYSTEM) and isinstance(v, (int, float))}

    def picture(self) -> dict[str, str]:
        """The static MIME bundle (SVG and text) of the run's charts and status now."""
        return final_picture(
            self._run, self._series, holds_every_point=self._complete,
            media_logged=self._media_seen and not self._media_failed,
            color=lambda: final_color(self._run, self._color if self._color_asked else None,
                                      self._made_at),
            gauges=self.gauges, last=self.last_values, step=self.step, elapsed=self.elapsed,
            note=self.system_note, max_charts=self.max_charts)
