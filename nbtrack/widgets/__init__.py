"""Notebook widgets: the live panel of a run (charts, status, machine gauges).

``%%track`` calls :func:`cell_panel` when its cell starts; ``nbtrack.live()`` shows the
same panel for a run started with ``nbtrack.init``. Both need a Jupyter kernel and
anywidget; outside a kernel they show nothing and tracking carries on.

This package imports anywidget and ipywidgets only when a panel is made (in the background
for a ``%%track`` cell in a Jupyter kernel: :func:`warm_up`).

Why the warm-up: a fresh kernel's first live panel needs anywidget (about 0.3 s), the chart
templates (Altair: about 2 s unless cached on disk), and for the picture the run leaves
behind Altair, pandas and vl-convert's JavaScript runtime (about 0.5 s to start). None of
that may delay the cell's own code or its first chart point, so the first live cell loads it
in daemon threads (not ``%load_ext``: a ``--no-live`` cell would pay for it). vl-convert
starts in its own thread: it runs without the GIL, so it costs the user's code nothing.
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
#: What the picture a finished run leaves behind imports (see :mod:`._static`).
PICTURE_MODULES = ("pandas", "altair", "nbtrack.query", "nbtrack.charts.metrics",
                   "nbtrack.charts.system", "nbtrack.charts.interactions")


def warm_up(stage: str) -> list[threading.Thread]:
    """Load what the live panel will need, in daemon threads; returns them (started).

    ``"panel"``: anywidget and the panel module, the chart library and the chart templates
    when they are cached on disk. ``"charts"``, after it: the templates (built with Altair
    when not cached), the modules of the final picture, and vl-convert's runtime.
    The first live cell starts the first and shows its panel once anywidget is in (its code
    does not wait); its panel starts the second. A ``--no-live`` cell loads none of it.
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
    if _specs.ready():
        # Importing Altair holds the GIL for a second or more: after the first chart is up,
        # not while the panel looks up the run's colour and sends its first points.
        picture_due.wait(FIRST_CHART_FIRST_S)
    for name in PICTURE_MODULES:  # Altair first, under the fork-safe lock, then the build
        _lazy.warm_import(name)
    _specs.warm()


def _warm_svg() -> None:
    """Start vl-convert's runtime: its first picture takes about 0.5 s more than the next."""
    from .. import _lazy

    vlc = _lazy.warm_import("vl_convert")
    vlc.vegalite_to_svg({"mark": "point", "data": {"values": [{"x": 1}]},
                         "encoding": {"x": {"field": "x", "type": "quantitative"}}})


_STAGES: dict[str, tuple[Any, ...]] = {"panel": (_warm_panel,), "charts": (_warm_charts, _warm_svg)}


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
        return project_run_colors([run.id], store=run._store)[run.id]
    except Exception:  # a store that cannot be read yet: the id's own colour
        return run_colors([run.id])[run.id]


class _Relay:
    """Holds a run's events from the cell's start until its panel exists, then passes them on,
    so a panel made in the background misses no point. Its colour (a store read, slow while
    the run's first writes hold the store) is looked up meanwhile."""

    def __init__(self, run: Run) -> None:
        self._lock = threading.Lock()
        self._backlog: list[tuple[str, Any]] = []
        self._target: Any = None
        self.made_at = time.monotonic()
        self.color: Future[str] = Future()
        threading.Thread(target=lambda: self.color.set_result(_run_color(run)),
                         name="nbtrack-live-color", daemon=True).start()
        self.unsubscribe = run.subscribe(self)

    def __call__(self, event: str, payload: Any) -> None:
        with self._lock:
            if self._target is None:
                self._backlog.append((event, payload))
                return
        self._target(event, payload)

    def attach(self, target: Any) -> None:
        """Hand the events so far to ``target``, in order, then every later one."""
        with self._lock:  # an event arriving meanwhile waits, so none overtakes the backlog
            for event, payload in self._backlog:
                target(event, payload)
            self._backlog.clear()
            self._target = target


#: Run id -> the thread showing its panel while the panel module still loads.
_showing: dict[str, threading.Thread] = {}


def _show_later(run: Run, relay: _Relay) -> None:
    try:
        _show(run, relay)
    except Exception as exc:  # never into the user's cell
        relay.unsubscribe()
        warn_once("live-panel", f"nbtrack could not show the live panel ({exc!r}); tracking goes on")


def wait_shown(run: Run, timeout: float = 30) -> None:
    """Wait until the panel of ``run`` that is being shown in the background is shown
    (the magic calls this as its cell ends, so the panel's output stays in that cell)."""
    thread = _showing.pop(run.id, None)
    if thread is not None:
        thread.join(timeout)


def _show(run: Run, relay: _Relay | None = None) -> LivePanel:
    from .. import system

    warm_up("charts")
    with _open_lock:
        existing = _open.get(run.id)
    if existing is not None and existing.comm is not None:
        return existing
    panel = _panel_class()(run, relay=relay)
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
    if any(thread.is_alive() for thread in warm_up("panel")):
        # anywidget is still loading (the kernel's first live cell): the cell's code starts
        # now and the panel joins its output in a moment, with every point logged meanwhile.
        from .. import system

        system.attach(run)
        relay = _Relay(run)
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
    return _show(chosen)


def prepare() -> str:
    """Build and cache the bundled chart library now; returns the cache file's path.

    Run once in an image build or CI so the first panel does not spend two seconds
    bundling Vega (``python -c "import nbtrack.widgets as w; w.prepare()"``).
    """
    from ._bundle import prepare as _prepare

    return str(_prepare())
