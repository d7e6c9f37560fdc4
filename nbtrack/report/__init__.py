"""Reports: one self-contained HTML page of what was tried and what won.

The page inlines everything it needs (Vega, Vega-Lite and vega-embed, CSS, the
data), so it opens offline, from an e-mail attachment or a shared drive, and
fetches nothing. Its charts are the specs of :mod:`nbtrack.charts`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import NbtrackError
from .build import build_report
from .media import MAX_IMAGE_BYTES
from .select import Selection

__all__ = ["DEFAULT_NAME", "export_report", "render_report"]

#: The file ``export_report`` writes when given no path (or a directory).
DEFAULT_NAME = "nbtrack-report.html"


def _refs(runs: Any) -> list[str] | None:
    """Run ids or names from a string, a list, Run objects or a ``nbtrack.runs()`` frame."""
    if runs is None:
        return None
    if isinstance(runs, str) or (hasattr(runs, "summary") and hasattr(runs, "id")):
        runs = [runs]
    elif "id" in getattr(runs, "columns", ()):
        runs = list(runs["id"])
    refs = [r if isinstance(r, str) else str(getattr(r, "id", r)) for r in runs]
    if not refs:
        raise NbtrackError("runs= is an empty list: pass run ids or names, or leave it out for all runs")
    return refs


def render_report(
    *,
    project: str | None = None,
    runs: Any = None,
    sweep: str | None = None,
    where: str | None = None,
    metrics: str | Sequence[str] | None = None,
    title: str | None = None,
    store: Any = None,
    max_points: int = 1000,
    progress: bool | None = None,
    max_image_bytes: int = MAX_IMAGE_BYTES,
    x: str | None = None,
) -> str:
    """The report as an HTML string (what :func:`export_report` writes), e.g. for a download."""
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 2:
        raise NbtrackError(f"max_points must be a whole number of at least 2; got {max_points!r}")
    if isinstance(max_image_bytes, bool) or not isinstance(max_image_bytes, int) or max_image_bytes < 0:
        raise NbtrackError(f"max_image_bytes must be a whole number of bytes (0 for no images); "
                           f"got {max_image_bytes!r}")
    selection = Selection(project=project, runs=_refs(runs), sweep=sweep, where=where)
    wanted = [metrics] if isinstance(metrics, str) else list(metrics) if metrics is not None else None
    if x is not None and (not isinstance(x, str) or not x):
        raise NbtrackError(f"x must be 'step', 'relative', 'wall' or a logged metric's key; got {x!r}")
    return build_report(selection, metrics=wanted, title=title, store=store, max_points=max_points,
                        progress=progress, max_image_bytes=max_image_bytes, x=x)


def _target(path: str | os.PathLike[str]) -> Path:
    """Where to write, checked before any work: a directory gets the default file name."""
    target = Path(path).expanduser()
    if target.is_dir():
        target = target / DEFAULT_NAME
    folder = target.parent
    if not folder.is_dir():
        why = "is not a folder" if folder.exists() else "does not exist"
        raise NbtrackError(f"cannot write the report to {target}: {folder} {why}")
    if not os.access(folder, os.W_OK | os.X_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise NbtrackError(f"cannot write the report to {target}: permission denied; pick another path")
    return target


def _write(target: Path, text: str) -> None:
    """Write whole or not at all: a failed export leaves no half-written page behind."""
    tmp = None
    try:
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=target.parent, delete=False,
                                         prefix=f".{target.name}.", suffix=".tmp") as handle:
            tmp = handle.name
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise NbtrackError(f"cannot write the report to {target}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def export_report(
    path: str | os.PathLike[str] = DEFAULT_NAME,
    *,
    project: str | None = None,
    runs: Any = None,
    sweep: str | None = None,
    where: str | None = None,
    metrics: str | Sequence[str] | None = None,
    title: str | None = None,
    store: Any = None,
    max_points: int = 1000,
    progress: bool | None = None,
    max_image_bytes: int = MAX_IMAGE_BYTES,
    x: str | None = None,
) -> Path:
    """Write a self-contained HTML report of some runs and return its path.

    The page has a summary (runs, dates, best run per metric), a sortable run table,
    metric curves with every run overlaid, a config diff, system (CPU/GPU) charts, for
    a sweep its importance, parallel coordinates and best-so-far, logged media (images,
    histograms over time, tables, texts), the artifacts the runs made or used with
    their lineage, and each run's notes, cell source and environment. It inlines Vega
    and the images, so it renders offline.

    Parameters
    ----------
    path
        The file to write (default ``nbtrack-report.html``); a folder gets that name inside.
    project, runs, sweep, where
        Which runs: a project; run ids or names (a list, Runs, or a ``nbtrack.runs()``
        frame); a sweep id; a filter such as ``"config.lr > 0.01 and status == 'finished'"``
        over the columns of :func:`nbtrack.runs`. Each one given narrows the selection.
    metrics
        Metric keys to chart (default: all logged); ``"acc:max"`` / ``"loss:min"`` says
        which way is better (else guessed from the name: losses and errors go down).
    title
        The page title (default: from the project or sweep).
    store
        The store directory to read (default: the current store).
    max_points
        Each series is downsampled to about this many points for display.
    progress
        Show a progress bar on stderr (default: when stderr is a terminal).
    max_image_bytes
        Logged images are embedded until their files add up to this many bytes (default
        6 MiB; a few evenly spread steps per key); the page says what was left out.
    x
        What the metric charts are first drawn against: ``"step"``, ``"relative"`` (seconds
        since each run's first point), ``"wall"`` (the clock) or a logged metric's key
        (``"epoch"``, ``"tokens"``; one not charted rides along as its points); default: the
        step (a ``define_metric`` step metric where every run has one), time for system charts
        (the clock with ``"wall"``). The page's controls, those of every view, choose another
        x (any charted metric too), smoothing and a log y axis.

    Example
    -------
    >>> nbtrack.export_report("mnist.html", project="mnist", where="status == 'finished'")  # doctest: +SKIP
    PosixPath('mnist.html')
    """
    target = _target(path)
    text = render_report(project=project, runs=runs, sweep=sweep, where=where, metrics=metrics,
                         title=title, store=store, max_points=max_points, progress=progress,
                         max_image_bytes=max_image_bytes, x=x)
    _write(target, text)
    return target
