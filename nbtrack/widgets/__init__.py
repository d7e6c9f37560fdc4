"""Notebook widgets: the live panel of a run (charts, status, machine gauges).

``%%track`` calls :func:`cell_panel` when its cell starts; ``nbtrack.live()`` shows the
same panel for a run started with ``nbtrack.init``. Both need a Jupyter kernel and
anywidget; outside a kernel they show nothing and tracking carries on.

This package imports anywidget and ipywidgets only when a panel is made (in the background
for a ``%%track`` cell in a Jupyter kernel: :func:`warm_up`).

Why the warm-up: a fresh kernel's first live panel needs anywidget (about 0.3 s) and the
chart templates (Altair: about 2 s unless cached on disk); the picture the run leaves behind
needs vl-convert's JavaScript runtime (about 0.5 s to start, holding the GIL). None of that
may delay the cell's own code or its first chart point, so the first live cell loads the
first two in daemon threads (not ``%load_ext``: a ``--no-live`` cell would pay for them), and
pictures are drawn in a helper process (:mod:`nbtrack.charts._render`) that the first live
cell starts: it costs the kernel a few milliseconds and warms on another core (started by
``%load_ext``, it slowed ``--no-live`` cells on a busy two-core machine by 0.1-0.4 s). The picture is
drawn from the points the panel holds and the cached templates (:func:`._static.series_picture`):
Altair and pandas are imported only for a picture that needs them (a run's media, a panel
shown after the run had logged), in the background once that is known.
A run that ends before its panel is shown (a cell shorter than anywidget's import) leaves its
picture without a panel at all.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from ..errors import NbtrackError, warn_once

if TYPE_CHECKING:
    from .._run import Run
    from .panel import LivePanel

__all__ = ["cell_panel", "live", "prepare", "warm_up"]

_open: dict[str, LivePanel] = {}
_open_lock = threading.Lock()
#: Warm-up stages started in this process (each once), and their threads.
_warming: dict[str, list[threading.Thread]] = {}
_warming_lock = threading.Lock()
#: What the picture of a run's media, or one drawn from the store, imports (see :mod:`._static`).
PICTURE_MODULES = ("pandas", "altair", "nbtrack.query", "nbtrack.charts.metrics",
                   "nbtrack.charts.system", "nbtrack.charts.interactions")


def warm_up(stage: str) -> list[threading.Thread]:
    """Load what the live panel will need, in daemon threads; returns them (started).

    ``"panel"``: anywidget and the panel module, the chart library and the chart templates
    when they are cached on disk. ``"charts"``, after it: the templates (built with Altair
    when not cached). ``"picture"``: Altair and pandas for a picture drawn from the store or
    of media (after the panel's first chart). The first live cell starts the first and shows
    its panel once anywidget is in (its code does not wait); its panel starts the second, and
    the third when it knows its picture needs them. A ``--no-live`` cell loads none of it.
    Each stage runs once per process; a failure is left for the panel to report when it
    needs the part (the warm-up never warns).

    Example
    -------
    >>> threads = warm_up("panel")  # doctest: +SKIP
    """
    if stage not in _STAGES:
        raise ValueError(f"warm_up stage must be one of {sorted(_STAGES)}; got {stage!r}")
    with _warming_lock:
        threads = _warming.get(stage)
        if threads is None:
            threads = _warming[stage] = [
                threading.Thread(target=_quietly, args=(step,), name=f"nbtrack-warm-{stage}", daemon=True)
                for step in _STAGES[stage]]
            for thread in threads:
                thread.start()
        return threads


def _quietly(step: Any) -> None:
    with contextlib.suppress(Exception):  # the panel reports a part it cannot load, when it needs it
        step()


def _warm_panel() -> None:
    from .. import _lazy

    _lazy.warm_import("nbtrack.widgets.panel")
    from . import _bundle, _specs

    if _bundle.library_cached():
        _bundle.vega_library()
    _specs.warm(build=False)


#: Set when a live panel has drawn its first chart or its run ended (see :func:`_warm_charts`).
picture_due = threading.Event()
#: Seconds the picture's imports wait for a panel's first chart, at most.
FIRST_CHART_FIRST_S = 10.0


def _warm_charts() -> None:
    from .. import _lazy
    from . import _specs

    for thread in _warming.get("panel", ()):  # what the cell's start needs comes first
        thread.join()
    _specs.warm(build=False)
    if not _specs.ready():  # the first kernel after install: built with Altair, cached on disk
        for name in PICTURE_MODULES:  # Altair first, under the fork-safe lock, then the build
            _lazy.warm_import(name)
        _specs.warm()


def _warm_picture() -> None:
    from .. import _lazy

    # Importing Altair holds the GIL for a second or more: after the first chart is up,
    # not while the panel looks up the run's colour and sends its first points.
    picture_due.wait(FIRST_CHART_FIRST_S)
    for name in PICTURE_MODULES:
        _lazy.warm_import(name)


_STAGES: dict[str, tuple[Any, ...]] = {"panel": (_warm_panel,), "charts": (_warm_charts,),
                                       "picture": (_warm_picture,)}


def start_picture_helper() -> None:
    """In a Jupyter kernel, start the process that draws the pictures live views leave
    (:mod:`nbtrack.charts._render`); elsewhere nothing."""
    if _kernel_shell() is not None:
        from ..charts import _render

        # In a thread: starting a process from a big kernel takes tens of milliseconds, and
        # the cell's code starts first (a picture asked for meanwhile waits for it).
        threading.Thread(target=_render.start, name="nbtrack-picture-helper", daemon=True).start()


def _kernel_shell() -> Any:
    """The IPython shell of a Jupyter kernel, or ``None`` (plain Python, terminal IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None


def _panel_class() -> type[LivePanel]:
    try:
        from .panel import LivePanel
    except ImportError as exc:
        raise NbtrackError(
            f"nbtrack's live panel needs anywidget and ipywidgets ({exc}): "
            "pip install 'anywidget>=0.9' 'ipywidgets>=8'"
        ) from None
    return LivePanel


def _run_color(run: Run) -> str:
    """The run's colour in every view (the sidebar, compare, reports), for its live charts."""
    from ..charts.colors import project_run_colors, run_colors

    try:
        # Not fresh: the read must not fold the run's first writes (0.1-0.5 s); a run not
        # stored yet is the newest of its project, which is where it is put.
        return project_run_colors([run.id], store=run._store, fresh=False)[run.id]
    except Exception:  # a store that cannot be read yet: the id's own colour
        return run_colors([run.id])[run.id]


#: Seconds from the cell's start the charts wait for the run's colour from the store, at most.
COLOR_WAIT_S = 1.0


def final_color(run: Run, color: Future[str] | None, made_at: float) -> str:
    """The run's colour for its picture: the look-up's answer, waited for up to
    ``COLOR_WAIT_S`` from the cell's start (as the live charts do), else the run id's own."""
    if color is not None and not color.done():
        with contextlib.suppress(TimeoutError):
            color.result(timeout=max(0.0, COLOR_WAIT_S - (time.monotonic() - made_at)))
    if color is not None and color.done() and color.exception() is None:
        return color.result()
    from ..charts.colors import run_colors

    return run_colors([run.id])[run.id]


def gauges(run: Run, values: dict[str, float]) -> tuple[list[dict[str, Any]], str]:
    """The machine gauges of a run's latest ``system/`` values, and the note under them."""
    from .. import system

    peaks = {key: agg.peak for key, agg in system.aggregates(run).items()}
    return system.gauge_rows(values, peaks, system.gpu_power_limits()), system.gpu_note()


class _Relay:
    """Holds a run's events from the cell's start until its panel exists, then passes them on,
    so a panel made in the background misses no point. Its colour (a store read, slow while
    the run's first writes hold the store) is looked up meanwhile.

    A run that ends before its panel is made (the cell's end calls :meth:`give_way`) gets no
    panel: at its ``finish`` the relay leaves the run's picture in the cell instead."""

    def __init__(self, run: Run) -> None:
        self._run = run
        self._lock = threading.Lock()
        self._backlog: list[tuple[str, Any]] = []
        self._target: Any = None
        self._gave_way = False
        self.made_at = time.monotonic()
        #: Whether the relay gets every point of the run (none was logged before it).
        self.complete = run.step == 0
        self.color: Future[str] = Future()
        threading.Thread(target=lambda: self.color.set_result(_run_color(run)),
                         name="nbtrack-live-color", daemon=True).start()
        self.unsubscribe = run.subscribe(self)

    def __call__(self, event: str, payload: Any) -> None:
        with self._lock:  # decided under the lock: give_way() leaves the picture, or this call
            target = self._target
            if target is None:
                self._backlog.append((event, payload))
            leave = target is None and event == "finish" and self._gave_way
        if target is not None:
            target(event, payload)
        elif leave:
            self._leave_picture()

    def attach(self, target: Any) -> bool:
        """Hand the events so far to ``target``, in order, then every later one; ``False``
        (nothing handed) when the relay gave way to the run's picture."""
        with self._lock:  # an event arriving meanwhile waits, so none overtakes the backlog
            if self._gave_way:
                return False
            for event, payload in self._backlog:
                target(event, payload)
            self._backlog.clear()
            self._target = target
            return True

    @property
    def gave_way(self) -> bool:
        return self._gave_way

    def give_way(self) -> bool:
        """The cell is ending: if no panel has the run's events yet, none will; the picture is
        left at the run's finish, in the caller's cell (at once when the cell's code finished
        the run itself). Returns whether it gave way."""
        with self._lock:
            if self._target is None:
                self._gave_way = True
            ended = self._gave_way and any(event == "finish" for event, _ in self._backlog)
        if ended:
            self._leave_picture()
        return self._gave_way

    def _leave_picture(self) -> None:
        from IPython.display import display

        self.unsubscribe()
        try:
            display(self.picture(), raw=True)  # type: ignore[no-untyped-call]
        except Exception as exc:  # never into the user's cell
            warn_once("live-panel-picture",
                      f"nbtrack could not draw the final charts of run {self._run.name!r} ({exc!r})")

    def picture(self) -> dict[str, str]:
        """The picture a panel would have left, from the events held."""
        from ..formatting import json_safe
        from . import _specs
        from ._static import final_picture
        from ._stream import Fold

        run = self._run
        points, media = Fold(), False
        for event, payload in self._backlog:
            if event == "points":
                points.add(*payload[:3])
            media = media or event == "media"
        rows, note = gauges(run, points.system) if points.system else ([], "")
        _specs.warm(build=False)
        return final_picture(
            run, points.series, holds_every_point=self.complete, media_logged=media,
            color=lambda: final_color(run, self.color, self.made_at), gauges=rows,
            last={k: json_safe(v) for k, v in sorted(points.last.items())}, step=max(run.step - 1, 0),
            elapsed=round((run.ended_at or time.time()) - run.created_at, 1), note=note,
            max_charts=points.max_charts)


#: Run id -> the thread showing its panel while the panel module still loads, and its relay.
_showing: dict[str, threading.Thread] = {}
_relays: dict[str, _Relay] = {}


def _show_later(run: Run, relay: _Relay) -> None:
    try:
        for thread in _warming.get("panel", ()):  # anywidget and the panel module are in
            thread.join()
        _show(run, relay)
    except Exception as exc:  # never into the user's cell
        relay.unsubscribe()
        warn_once("live-panel", f"nbtrack could not show the live panel ({exc!r}); tracking goes on")


def wait_shown(run: Run, timeout: float = 30) -> None:
    """The magic calls this as its cell ends: a panel being shown in the background is
    shown in that cell before the run ends; one not made yet never will be (the run's
    picture takes its place at the finish, :meth:`_Relay.give_way`)."""
    thread = _showing.pop(run.id, None)
    relay = _relays.pop(run.id, None)
    if thread is None or (relay is not None and relay.give_way()):
        return
    thread.join(timeout)


def _show(run: Run, relay: _Relay | None = None) -> LivePanel | None:
    from .. import system

    warm_up("charts")
    if relay is not None and relay.gave_way:  # the run ended first: its picture is in the cell
        return None
    with _open_lock:
        existing = _open.get(run.id)
    if existing is not None and existing.comm is not None:
        return existing
    panel = _panel_class()(run, relay=relay)
    if panel.gave_way:  # the run ended while the panel was made
        panel.close()
        return None
    with _open_lock:
        _open[run.id] = panel
    run.subscribe(lambda event, _payload: _forget(run.id) if event == "finish" else None)
    if not run._finished:
        system.attach(run)
    panel.show()
    return panel


def _forget(run_id: str) -> None:
    with _open_lock:
        _open.pop(run_id, None)


def cell_panel(run: Run) -> LivePanel | None:
    """Show the live panel of a ``%%track`` cell's run in that cell's output.

    Called by the magic when the cell starts. Does nothing outside a Jupyter kernel;
    without anywidget it warns once and tracking goes on without a panel.
    """
    if _kernel_shell() is None:
        return None
    start_picture_helper()
    if any(thread.is_alive() for thread in warm_up("panel")):
        # anywidget is still loading (the kernel's first live cell): the cell's code starts
        # now and the panel joins its output in a moment, with every point logged meanwhile.
        from .. import system

        system.attach(run)
        relay = _relays[run.id] = _Relay(run)
        context = contextvars.copy_context()  # the cell's output, whatever thread displays
        thread = threading.Thread(target=context.run, args=(_show_later, run, relay),
                                  name="nbtrack-show", daemon=True)
        _showing[run.id] = thread
        thread.start()
        return None
    try:
        return _show(run)
    except NbtrackError as exc:
        warn_once("live-panel-missing", f"{exc}; the cell runs without a live panel")
        return None


def live(run: Run | None = None) -> LivePanel | None:
    """Show the live panel (charts, status, machine gauges) of a run in this cell's output.

    Parameters
    ----------
    run
        The run to show; by default the active one (from ``nbtrack.init``).

    Returns
    -------
    LivePanel or None
        The panel, or ``None`` outside a Jupyter kernel (nothing to show there).

    Example
    -------
    >>> run = nbtrack.init(name="baseline")  # doctest: +SKIP
    >>> nbtrack.live()                       # doctest: +SKIP
    >>> for step in range(1000):             # doctest: +SKIP
    ...     nbtrack.log({"loss": 1 / (step + 1)})
    >>> nbtrack.finish()                     # doctest: +SKIP
    """
    from .._run import active_run

    chosen = run if run is not None else active_run()
    if chosen is None:
        raise NbtrackError(
            "nbtrack.live() has no run to show: call nbtrack.init() first, or pass a run"
        )
    if _kernel_shell() is None:
        warn_once("live-no-kernel", "nbtrack.live() shows a panel in a Jupyter notebook; "
                  "this Python has no notebook front-end, so nothing is shown")
        return None
    start_picture_helper()
    return _show(chosen)


def prepare() -> str:
    """Build and cache the bundled chart library now; returns the cache file's path.

    Run once in an image build or CI so the first panel does not spend two seconds
    bundling Vega (``python -c "import nbtrack.widgets as w; w.prepare()"``).
    """
    from ._bundle import prepare as _prepare

    return str(_prepare())
