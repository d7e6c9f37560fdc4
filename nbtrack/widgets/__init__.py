"""Notebook widgets: the live panel of a run (charts, status, machine gauges).

``%%track`` calls :func:`cell_panel` when its cell starts; ``nbtrack.live()`` shows the
same panel for a run started with ``nbtrack.init``. Both need a Jupyter kernel and
anywidget; outside a kernel they show nothing and tracking carries on.

This package imports anywidget and ipywidgets only when a panel is made.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ..errors import NbtrackError, warn_once

if TYPE_CHECKING:
    from .._run import Run
    from .panel import LivePanel

__all__ = ["cell_panel", "live", "prepare"]

_open: dict[str, LivePanel] = {}
_open_lock = threading.Lock()


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


def _show(run: Run) -> LivePanel:
    from .. import system

    with _open_lock:
        existing = _open.get(run.id)
    if existing is not None and existing.comm is not None:
        return existing
    panel = _panel_class()(run)
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
