"""``nbtrack.sweep_launcher``: a form to edit and launch a sweep, and its trials as they run.

Plain ipywidgets (no JavaScript of ours): a form built from a W&B sweep config, Launch and
Stop buttons, a live table of trials, the best-so-far chart, and when the sweep is over its
importance bars and parallel coordinates, drawn as SVG by vl-convert.

A monitor thread redraws at most once per ``interval`` seconds while the sweep runs; every
widget update goes through :meth:`SweepLauncher.refresh`, so the launcher also works (and is
tested) in plain Python, with no kernel and no browser. Under the form, a still picture
(its status, trials and charts as PNG; :class:`._static.StillPicture`) is what a notebook
reopened without the kernel, untrusted or converted shows.
"""

from __future__ import annotations

import copy
import html
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from ..errors import NbtrackError
from ..formatting import number
from ..formatting import value as value_text
from ..sweeps.config import DISTRIBUTIONS, METHODS, ParamSpec, parse_config
from ._static import StillPicture

__all__ = ["SweepLauncher", "sweep_launcher"]

_ERROR_STYLE = "color:#b00020;white-space:pre-wrap"


def sweep_launcher(function: Callable[..., Any], config: Any, *, count: int | None = None,
                   project: str | None = None, dir: Any = None, interval: float = 1.0) -> SweepLauncher:
    """A widget to edit a W&B sweep config, launch it on ``function`` and watch its trials.

    Parameters
    ----------
    function
        Called once per trial, as with :func:`nbtrack.sweep`.
    config
        A W&B sweep config (dict, or a YAML/JSON path); checked as :func:`nbtrack.sweep` does.
    count
        The form's first trial count (``None``: 0, the whole grid or until stopped).
    project, dir
        The project of the sweep's runs, and the store directory.
    interval
        Seconds between redraws while the sweep runs.

    Example
    -------
    >>> def train(config):                                              # doctest: +SKIP
    ...     nbtrack.log({"loss": (config.lr - 0.01) ** 2})
    >>> nbtrack.sweep_launcher(train, {"method": "random", "metric": {"name": "loss"},
    ...     "parameters": {"lr": {"min": 0.0, "max": 0.1}}}, count=8)  # doctest: +SKIP
    """
    return SweepLauncher(function, config, count=count, project=project, dir=dir, interval=interval)


def _widgets() -> Any:
    try:
        import ipywidgets
    except ImportError:
        raise NbtrackError("nbtrack.sweep_launcher needs ipywidgets: pip install 'ipywidgets>=8'") from None
    return ipywidgets


def _escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


# -- values typed into the form ------------------------------------------------------
def _parse_value(text: str) -> Any:
    """A typed value: JSON when it reads as JSON (``3``, ``true``, ``[1, 2]``), else the string."""
    text = text.strip()
    try:
        return json.loads(text)
    except ValueError:
        return text


def _show_value(value: Any) -> str:
    """The text for a value, such that :func:`_parse_value` gives the value back."""
    if isinstance(value, str) and _parse_value(value) == value:
        return value
    return json.dumps(value)


class _ParamRow:
    """The form's row for one parameter; :meth:`body` gives its W&B config back."""

    def __init__(self, w: Any, spec: ParamSpec, body: dict[str, Any]) -> None:
        self.spec, self._body = spec, body
        self.fields: dict[str, Any] = {}
        label = w.HTML(f"<code>{_escape(spec.name)}</code>", layout=w.Layout(width="180px"))
        kind = w.HTML(f"<i>{_escape(spec.distribution)}</i>", layout=w.Layout(width="160px"))
        if spec.distribution == "constant":
            self.fields["value"] = w.Text(_show_value(spec.value), description="value")
        elif spec.distribution.startswith("categorical"):
            self.fields["values"] = w.TagsInput(value=[_show_value(v) for v in spec.values],
                                                allow_duplicates=False)
        else:
            whole = spec.distribution == "int_uniform"
            for key in DISTRIBUTIONS[spec.distribution]:
                number = getattr(spec, key)
                box = w.IntText if whole and key in ("min", "max") else w.FloatText
                self.fields[key] = box(value=number, description=key, layout=w.Layout(width="200px"))
        self.box = w.HBox([label, kind, *self.fields.values()])

    def body(self) -> dict[str, Any]:
        out = copy.deepcopy(self._body)
        for key, field in self.fields.items():
            if key == "values":
                out[key] = [_parse_value(v) for v in field.value]
            elif key == "value":
                out[key] = _parse_value(field.value)
            else:
                out[key] = field.value
        return out


def _set_path(parameters: dict[str, Any], path: tuple[str, ...], body: dict[str, Any]) -> None:
    for key in path[:-1]:
        parameters = parameters[key]["parameters"]
    parameters[path[-1]] = body


def _get_path(parameters: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    for key in path[:-1]:
        parameters = parameters[key]["parameters"]
    found: dict[str, Any] = parameters[path[-1]]
    return found


# -- the widget ------------------------------------------------------------------------
class SweepLauncher:
    """The launcher: ``widget`` is its ipywidgets box; ``sweep`` the last sweep it launched."""

    def __init__(self, function: Callable[..., Any], config: Any, *, count: int | None = None,
                 project: str | None = None, dir: Any = None, interval: float = 1.0) -> None:
        w = _widgets()
        self.spec = parse_config(config)  # a bad config raises here, as nbtrack.sweep does
        self.function, self.project, self.dir, self.interval = function, project, dir, interval
        self.sweep: Any = None
        self.error = ""
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._monitor: threading.Thread | None = None
        self._drawn: Any = None
        #: seconds between two renders of the best-so-far chart (vl-convert takes ~0.2 s each)
        self.chart_interval = max(interval, 1.0)
        self._charted = 0.0
        self._stop_clicks = 0
        self._build_form(w, count)
        self.launch_button = w.Button(description="Launch", button_style="primary", icon="play")
        self.stop_button = w.Button(description="Stop", button_style="warning", icon="stop", disabled=True)
        self.cancel_box = w.Checkbox(value=False, description="cancel running trials", indent=False)
        self.launch_button.on_click(lambda _b: self.launch())
        self.stop_button.on_click(lambda _b: self.stop())
        self.error_html = w.HTML("")
        self.status_html = w.HTML("")
        self.table_html = w.HTML("")
        self.best_html = w.HTML("")
        self.final_html = w.HTML("")
        buttons = w.HBox([self.launch_button, self.stop_button, self.cancel_box])
        # Hides the still picture under the launcher while the launcher itself is drawn
        # (a <style> in the page only while this widget's view is; see _static.StillPicture).
        hide = w.HTML("<style>.jp-OutputArea-child:has(.nbtrack-launcher) + "
                      ".jp-OutputArea-child:has(.nbtrack-launcher-static) { display: none; }</style>")
        self.widget = w.VBox([self.form, buttons, self.error_html, self.status_html, self.table_html,
                              self.best_html, self.final_html, hide])
        self.widget.add_class("nbtrack-launcher")
        self._still = StillPicture(self.picture)

    def _build_form(self, w: Any, count: int | None) -> None:
        metric = self.spec.metric
        self.method = w.Dropdown(options=list(METHODS), value=self.spec.method, description="method")
        self.count = w.BoundedIntText(value=count or 0, min=0, max=10**9, description="count",
                                      tooltip="0: the whole grid, or until run_cap or Stop")
        self.workers = w.BoundedIntText(value=1, min=1, max=1024, description="workers",
                                        tooltip="1: trials in this kernel; N: N worker processes")
        self.metric = w.Text(metric.name if metric else "", description="metric")
        self.goal = w.Dropdown(options=["minimize", "maximize"], value=metric.goal if metric else "minimize",
                               description="goal")
        self.params = [_ParamRow(w, p, _get_path(self.spec.raw["parameters"], p.path))
                       for p in self.spec.parameters]
        self.form = w.VBox([w.HBox([self.method, self.count, self.workers]),
                            w.HBox([self.metric, self.goal]), *[row.box for row in self.params]])

    # -- display ---------------------------------------------------------------------
    def picture(self) -> dict[str, str]:
        """The launcher as a still picture: ``text/html`` (the config, the sweep's status and
        trials table, its charts as PNG images) and ``text/plain``. Saved beside the widget
        view, it is what a notebook opened with no kernel, untrusted or converted shows."""
        from ._static import png_data_uri

        e = _escape
        with self._lock:
            config = self.config()
            params = ", ".join(e(".".join(row.spec.path)) for row in self.params)
            metric = (config.get("metric") or {}).get("name")
            goal = (config.get("metric") or {}).get("goal", "minimize")
            aim = f" · {e(metric)} ({e(goal)})" if metric else ""
            head = (f"<div><b>nbtrack sweep launcher</b> · {e(config.get('method'))}{aim}"
                    f" · parameters: {params or '—'}"
                    " <span style='opacity:0.7'>(a still picture: run the cell for the live form)"
                    "</span></div>")
            parts = ["<div class='nbtrack-launcher-static'>", head, self.error_html.value,
                     self.status_html.value, self.table_html.value]
            sweep = self.sweep
            over = sweep is not None and not (sweep._thread is not None and sweep._thread.is_alive())
            if sweep is not None and metric and over:
                for title, make in (("best so far", sweep.best_so_far_chart),
                                    ("parameter importance", sweep.importance_chart),
                                    ("parallel coordinates", sweep.parallel_coordinates)):
                    try:
                        uri = png_data_uri(_altair_of(make()))
                    except NbtrackError as exc:
                        parts.append(f"<h4>{e(title)}</h4><i>{e(exc)}</i>")
                        continue
                    parts.append(f"<h4>{e(title)}</h4><img alt='{e(title)}' src='{uri}' "
                                 "style='max-width:100%;height:auto'>")
            parts.append("</div>")
            status = f"sweep {sweep.id}: {sweep.status}" if sweep is not None else "not launched"
        return {"text/html": "".join(parts),
                "text/plain": f"nbtrack sweep launcher ({config.get('method')}, {status})"}

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self) -> None:
        """The form, and its still picture under it (:class:`._static.StillPicture`), kept
        current as the sweep runs."""
        from IPython.display import display

        display(self.widget)  # type: ignore[no-untyped-call]
        self._still.show()

    # -- the form -------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The W&B sweep config the form holds now (not yet checked)."""
        raw = copy.deepcopy(self.spec.raw)
        raw["method"] = self.method.value
        if self.metric.value.strip():
            raw["metric"] = {**(raw.get("metric") or {}), "name": self.metric.value.strip(),
                             "goal": self.goal.value}
        else:
            raw.pop("metric", None)
        for row in self.params:
            _set_path(raw["parameters"], row.spec.path, row.body())
        return raw

    # -- launching and stopping -------------------------------------------------------------
    def launch(self) -> Any:
        """Check the form's config and start its sweep; returns the sweep, or None on an error."""
        from ..sweeps import Sweep

        with self._lock:
            if self.running:
                return self.sweep
            try:
                config = self.config()
                parse_config(config)
                made = Sweep.create(config, project=self.project, dir=self.dir)
                made.start(self.function, self.count.value or None, self.workers.value
                           if self.workers.value > 1 else None, on_trial=lambda _event: self._wake.set())
            except NbtrackError as exc:
                self._show_error(str(exc))
                return None
            self.sweep, self._drawn, self._stop_clicks = made, None, 0
            self._show_error("")
            self.final_html.value = ""
            self.launch_button.disabled, self.stop_button.disabled = True, False
        self._monitor = threading.Thread(target=self._follow, name=f"nbtrack-launcher-{made.id}",
                                         daemon=True)
        self._monitor.start()
        return made

    def stop(self) -> None:
        """Launch no more trials; a second click (or the checkbox) also cancels running ones."""
        if self.sweep is None:
            return
        self._stop_clicks += 1
        cancel = self.cancel_box.value or self._stop_clicks > 1
        try:
            self.sweep.stop(cancel=cancel)
        except NbtrackError as exc:
            self._show_error(str(exc))
        self.stop_button.description = "Stopping…"
        self.stop_button.tooltip = "click again to cancel the running trials"
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._monitor is not None and self._monitor.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the sweep and the launcher's last redraw; True when both are over."""
        monitor = self._monitor
        if monitor is not None:
            monitor.join(timeout)
            return not monitor.is_alive()
        return True

    def _follow(self) -> None:
        sweep = self.sweep
        while sweep._thread is not None and sweep._thread.is_alive():
            self.refresh()
            self._wake.wait(self.interval)
            self._wake.clear()
            sweep._thread.join(self.interval / 4)  # a burst of events redraws once per interval
        try:
            sweep.wait(0)
        except BaseException as exc:  # the sweep's own failure: show it, never raise in a thread
            self._show_error(f"the sweep failed: {exc}")
        self.refresh(final=True)

    # -- drawing ------------------------------------------------------------------------------
    def refresh(self, final: bool = False) -> None:
        """Redraw the status, the table and the charts from the sweep (the one place that does)."""
        with self._lock:
            if self.sweep is None:
                return
            try:
                poll = self.sweep.poll()
                self.status_html.value = _status_html(poll)
                rows = _table_rows(self.sweep, poll)
                self.table_html.value = _table_html(rows, poll)
                drawn = [(r["number"], r["status"], r["value"]) for r in rows]
                due = final or time.monotonic() - self._charted >= self.chart_interval
                if drawn != self._drawn and due and poll["metric"] is not None:
                    self.best_html.value = _svg(self.sweep.best_so_far_chart)
                    self._drawn, self._charted = drawn, time.monotonic()
                if final:
                    self._draw_final(poll)
            except Exception as exc:  # a redraw must not kill the monitor or the sweep
                self._show_error(f"could not redraw the sweep: {exc}")
            if final:
                self.launch_button.disabled, self.stop_button.disabled = False, True
                self.stop_button.description, self.stop_button.tooltip = "Stop", ""
        if final:
            self._still.update()  # now, not in a while: the sweep's last picture is the one saved
        else:
            self._still.changed()

    def _draw_final(self, poll: dict[str, Any]) -> None:
        if poll["metric"] is None:
            self.final_html.value = "<i>no metric in the config: no importance to show</i>"
            return
        parts = [f"<h4>{title}</h4>{_svg(make)}" for title, make in (
            ("parameter importance", self.sweep.importance_chart),
            ("parallel coordinates", self.sweep.parallel_coordinates))]
        self.final_html.value = "".join(parts)

    def _show_error(self, message: str) -> None:
        self.error = message
        self.error_html.value = f"<div style='{_ERROR_STYLE}'>{_escape(message)}</div>" if message else ""


def _altair_of(chart: Any) -> Any:
    """The Altair chart inside what :mod:`nbtrack.charts` hands out (an ``OfflineChart``)."""
    return chart.to_altair() if hasattr(chart, "to_altair") else chart


def _svg(make: Callable[[], Any]) -> str:
    from ..charts import to_svg

    try:
        return f"<div class='nbtrack-chart'>{to_svg(make())}</div>"
    except NbtrackError as exc:
        return f"<i>{_escape(exc)}</i>"


def _status_html(poll: dict[str, Any]) -> str:
    e = _escape
    counts = ", ".join(f"{n} {e(s)}" for s, n in sorted(poll["counts"].items())) or "no trials yet"
    parts = [f"<b>{e(poll['name'])}</b> <code>{e(poll['id'])}</code>", e(poll["status"])]
    if poll["planned"] is not None or poll["launched"]:
        parts.append(f"launched {e(poll['launched'])} of {e(poll['planned'] or '∞')}")
    parts.append(counts)
    best = poll["best"]
    if best is not None:
        value = number(best["value"])
        parts.append(f"best {e(poll['metric'])} = {e(value)} (trial {e(best['number'])})")
    return "<div class='nbtrack-sweep-status'>" + " &middot; ".join(parts) + "</div>"


def _table_rows(sweep: Any, poll: dict[str, Any]) -> list[dict[str, Any]]:
    """The poll's trials with their flat ``config.*`` values (read from the store when over)."""
    from ..selection import flatten as _flatten

    frame = None
    rows = []
    for trial in poll["trials"]:
        row = {k: trial.get(k) for k in ("number", "status", "value", "error")}
        if "config" in trial:
            _flatten("config", trial["config"] or {}, row)
        else:
            if frame is None:
                frame = {int(r["number"]): r for r in sweep.trials().to_dict("records")}
            found = frame.get(int(trial["number"]), {})
            row.update({k: v for k, v in found.items() if k.startswith("config.")})
        rows.append(row)
    return rows


def _table_html(rows: list[dict[str, Any]], poll: dict[str, Any]) -> str:
    e = _escape
    params = sorted({k for r in rows for k in r if k.startswith("config.")})
    best = poll["best"]["number"] if poll["best"] else None
    head = ["#", "status", poll["metric"] or "value", *[p.removeprefix("config.") for p in params], "error"]
    lines = ["<table class='nbtrack-trials'><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in head)
             + "</tr></thead><tbody>"]
    for row in rows:
        value = value_text(row["value"], nan_missing=True)
        cells = [row["number"], row["status"], value, *[_cell(row.get(p)) for p in params],
                 _last_line(row["error"])]
        style = " style='font-weight:bold'" if row["number"] == best else ""
        lines.append(f"<tr data-status='{e(row['status'])}'{style}>"
                     + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>")
    lines.append("</tbody></table>")
    return "".join(lines)


def _last_line(error: Any) -> str:
    """A traceback's last line (the exception), short enough for a table cell."""
    lines = [line for line in str(error or "").splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def _cell(item: Any) -> str:
    return value_text(item, nan_missing=True)
