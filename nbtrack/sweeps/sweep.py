"""``nbtrack.sweep`` and the :class:`Sweep` object: W&B sweeps in a notebook, no server.

::

    sweep = nbtrack.sweep({"method": "bayes", "metric": {"name": "loss", "goal": "minimize"},
                           "parameters": {"lr": {"distribution": "log_uniform_values",
                                                 "min": 1e-4, "max": 1e-1}}},
                          train, count=20, executor=4)
    sweep.best_config, sweep.importance(), sweep.parallel_coordinates()

A sweep's state lives in the store (``sweep_records``, ``sweep_trials``, and its trials'
runs), so ``Sweep.load(id).resume(train)`` continues it after the kernel died.
"""

from __future__ import annotations

import contextlib
import html
import math
import secrets
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .. import _settings
from ..errors import NbtrackError, warn_once
from ..formatting import number, value
from ..store import StoreBase, get_store
from . import analysis, records
from .config import parse_config
from .driver import Driver, TrialEvent, check_timeout
from .space import SearchSpace

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Sweep", "agent", "sweep"]

_Rows = list[dict[str, Any]]  # a name: inside Sweep, ``list`` is Sweep.list
_live: weakref.WeakValueDictionary[str, Sweep] = weakref.WeakValueDictionary()
_live_lock = threading.Lock()


def sweep(config: Any = None, function: Callable[..., Any] | None = None, count: int | None = None,
          executor: Any = None, project: str | None = None, *, name: str | None = None,
          seed: int | None = None, resume: str | None = None,
          on_trial: Callable[[TrialEvent], Any] | None = None, dir: Any = None,
          trial_timeout: float | None = None, **wandb_options: Any) -> Sweep:
    """Run a hyperparameter sweep from a W&B sweep config; return the :class:`Sweep`.

    Parameters
    ----------
    config
        A W&B sweep config: a dict, or the path of a YAML/JSON file. ``None`` with ``resume``.
    function
        Called once per trial, with the trial's config if it takes an argument (else with
        none); ``nbtrack.config`` holds the config and ``nbtrack.log`` logs to the trial.
        ``None`` (W&B's ``wandb.sweep(sweep=config)``): only record the sweep and return
        it, for :func:`agent` (or :meth:`Sweep.run`) to run.
    count
        Trials to run now. ``None``: the whole grid for ``grid``; for ``random`` and
        ``bayes``, until ``run_cap`` or until stopped (Ctrl-C, ``sweep.stop()``), as W&B.
    executor
        ``None``: trials one after another in this kernel. ``N``: N local worker
        processes (a trial that dies ends alone, ``crashed``). A ``dask.distributed.Client``:
        trials on its cluster, whose workers need not see the store (what they log
        travels through Dask).
    project
        Project of the sweep and its trial runs (else the config's, else the default).
    name, seed
        The sweep's name (else the config's, else ``sweep-<id>``) and the search's seed.
    resume
        The id (or name) of a sweep in the store to continue instead of starting one.
    on_trial
        Called with a :class:`TrialEvent` as each trial starts and ends.
    trial_timeout
        Seconds each trial may run. Past it the trial is stopped and ends ``failed`` with
        "stopped after N s: trial_timeout", keeping what it logged; the others go on. In
        worker processes it is stopped at once (SIGTERM, then SIGKILL after 2 s); in the
        kernel and on Dask, at its next ``nbtrack.log``.

    Example
    -------
    >>> def train(config):                                          # doctest: +SKIP
    ...     for step in range(10):
    ...         nbtrack.log({"loss": (config.lr - 0.01) ** 2 / (step + 1)})
    >>> s = nbtrack.sweep({"method": "random", "metric": {"name": "loss"},
    ...                    "parameters": {"lr": {"min": 0.0, "max": 0.1}}},
    ...                   train, count=8, executor=4)                 # doctest: +SKIP
    """
    config = _wandb_sweep_options(config, wandb_options)
    check_timeout(trial_timeout)  # before anything is recorded
    if function is None and count is None and executor is None and on_trial is None and trial_timeout is None:
        # W&B's two steps: sweep_id = wandb.sweep(config); wandb.agent(sweep_id, train)
        if resume is not None:
            return Sweep.load(resume, dir=dir)
        if config is None:
            raise NbtrackError("nbtrack.sweep() needs a sweep config (or resume=SWEEP_ID)")
        return Sweep.create(config, project=project, name=name, seed=seed, dir=dir)
    if resume is not None:
        found = Sweep.load(resume, dir=dir)
        if config is not None and parse_config(config).raw != found.config:
            raise NbtrackError(f"sweep {found.name!r} ({found.id}) was started with a different config; "
                               "pass config=None to resume it as it was")
        return found.resume(function, count, executor, on_trial=on_trial,  # type: ignore[arg-type]
                            trial_timeout=trial_timeout)
    if config is None:
        raise NbtrackError("nbtrack.sweep() needs a sweep config (or resume=SWEEP_ID)")
    created = Sweep.create(config, project=project, name=name, seed=seed, dir=dir)
    return created.run(function, count, executor, on_trial=on_trial,  # type: ignore[arg-type]
                       trial_timeout=trial_timeout)


def agent(sweep_id: Any, function: Callable[..., Any] | None = None, entity: str | None = None,
          project: str | None = None, count: int | None = None) -> Sweep:
    """``wandb.agent``: run ``count`` trials of a sweep made by ``nbtrack.sweep(config)``.

    ``sweep_id``: what that returned (a :class:`Sweep`), or its id or name. Trials run
    here, one after another; ``nbtrack.sweep(config, function, executor=4)`` runs them in
    parallel, and the ``nbtrack agent`` command runs a config's ``program``.

    Example
    -------
    >>> sweep_id = nbtrack.sweep(sweep=sweep_configuration, project="my-first-sweep")  # doctest: +SKIP
    >>> nbtrack.agent(sweep_id, function=main, count=10)                                # doctest: +SKIP
    """
    if function is None:
        raise NbtrackError("nbtrack.agent() needs function= (the training function); for a config "
                           "with program/command, run `nbtrack agent SWEEP_ID` in a shell")
    found = sweep_id if isinstance(sweep_id, Sweep) else Sweep.load(str(sweep_id))
    if project is not None and project != found.project:
        raise NbtrackError(f"sweep {found.id} is in project {found.project!r}, not {project!r}")
    return found.run(function, count)


def _wandb_sweep_options(config: Any, options: dict[str, Any]) -> Any:
    """W&B's ``wandb.sweep(sweep=..., entity=..., project=...)`` keywords."""
    if "sweep" in options:
        if config is not None:
            raise NbtrackError("nbtrack.sweep(): pass the config once (as config or as sweep=)")
        config = options.pop("sweep")
    entity = options.pop("entity", None)
    if entity is not None:
        warn_once("sweep-entity", f"nbtrack.sweep: entity={entity!r} is not used: nbtrack has no teams "
                  "or accounts; sweeps are grouped by project=")
    if options:
        raise NbtrackError(f"nbtrack.sweep() got unknown argument(s): {', '.join(sorted(options))}")
    return config


class Sweep:
    """A hyperparameter sweep: its config, its trials (runs) and what they found.

    Get one from :func:`nbtrack.sweep`, :meth:`Sweep.create` (then :meth:`run` or
    :meth:`start`) or :meth:`Sweep.load`.
    """

    def __init__(self, record: dict[str, Any], store: StoreBase) -> None:
        self._store = store
        self.id: str = record["id"]
        self.name: str = record["name"]
        self.project: str = record["project"]
        self.method: str = record["method"]
        self.config: dict[str, Any] = record["config"]
        self.seed: int | None = record.get("seed")
        self.created_at = record.get("created_at")
        self.spec = parse_config(self.config)
        self.space = SearchSpace(self.spec)
        self._record = record
        self._driver: Driver | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        #: created here and never run: no trials to read back before the first launch
        self._fresh = False

    # -- making and finding sweeps --------------------------------------------------
    @classmethod
    def create(cls, config: Any, *, project: str | None = None, name: str | None = None,
               seed: int | None = None, dir: Any = None) -> Sweep:
        """Check ``config`` and record a new sweep in the store, without running trials yet."""
        from .._run import _check_name, new_run_id

        spec = parse_config(config)
        sweep_id = new_run_id()
        record = {
            "id": sweep_id,
            "name": _check_name(name or spec.name or f"sweep-{sweep_id}", "sweep name"),
            "project": _check_name(project or spec.project or _settings.current().project, "project"),
            "method": spec.method, "config": spec.raw,
            "metric": spec.metric.name if spec.metric else None,
            "goal": spec.metric.goal if spec.metric else None,
            "status": "pending", "seed": seed if seed is not None else secrets.randbelow(2**31),
        }
        store = get_store(dir)
        records.create(store, record)
        made = cls(record, store)
        made._fresh = True
        with _live_lock:
            _live[sweep_id] = made
        return made

    @classmethod
    def load(cls, sweep_id: str, *, dir: Any = None) -> Sweep:
        """The sweep with this id (or name) from the store."""
        store = get_store(dir)
        with _live_lock:
            live = _live.get(sweep_id)
        if live is not None and live._store is store:
            return live
        record = records.load(store, sweep_id)
        with _live_lock:
            live = _live.get(record["id"])
            if live is not None and live._store is store:
                return live
            made = _live[record["id"]] = cls(record, store)
        return made

    @staticmethod
    def list(project: str | None = None, *, dir: Any = None) -> pd.DataFrame:
        """Every sweep in the store, newest first: id, name, project, method, metric, status, trials."""
        import pandas as pd

        rows = records.list_sweeps(get_store(dir), project)
        for row in rows:
            row["status"] = _effective_status(row)
            for key in ("hostname", "pid", "pid_started"):
                row.pop(key, None)
        columns = ["id", "name", "project", "method", "metric", "goal", "status", "trials",
                   "created_at", "ended_at"]
        return pd.DataFrame(rows, columns=columns)

    # -- running ------------------------------------------------------------------
    @property
    def metric(self) -> str | None:
        """The metric's name, or None for a sweep without one."""
        return self.spec.metric.name if self.spec.metric is not None else None

    @property
    def goal(self) -> str:
        return self.spec.metric.goal if self.spec.metric is not None else "minimize"

    def run(self, function: Callable[..., Any], count: int | None = None, executor: Any = None, *,
            on_trial: Callable[[TrialEvent], Any] | None = None, trial_timeout: float | None = None) -> Sweep:
        """Run trials here until ``count`` are done (see :func:`sweep`); returns self.

        Ctrl-C stops cleanly: finished trials are kept, running ones end ``interrupted``,
        and the interrupt goes on to the caller.
        """
        from .progress import Progress

        self._claim()
        progress = Progress(self)  # a line kept current in a notebook: a blocked cell says why
        driver = Driver(self, function, count, executor, _both(progress, on_trial), trial_timeout)
        self._driver, self._thread = driver, None
        progress.start()
        try:
            driver.run()  # its record is read again when asked for (``status``)
        finally:
            progress.finish()
        return self

    def resume(self, function: Callable[..., Any], count: int | None = None, executor: Any = None, *,
               on_trial: Callable[[TrialEvent], Any] | None = None,
               trial_timeout: float | None = None) -> Sweep:
        """Continue a stopped, interrupted or crashed sweep: its search goes on from the store."""
        return self.run(function, count, executor, on_trial=on_trial, trial_timeout=trial_timeout)

    def start(self, function: Callable[..., Any], count: int | None = None, executor: Any = None, *,
              on_trial: Callable[[TrialEvent], Any] | None = None,
              trial_timeout: float | None = None) -> Sweep:
        """Like :meth:`run`, in a background thread; follow it with :meth:`poll`, end it with :meth:`stop`."""
        self._claim()
        self._error = None
        driver = Driver(self, function, count, executor, on_trial, trial_timeout)
        self._driver = driver

        def target() -> None:
            try:
                driver.run()
            except BaseException as exc:
                self._error = exc
            finally:
                with contextlib.suppress(Exception):
                    self._record = records.load(self._store, self.id)

        self._thread = threading.Thread(target=target, name=f"nbtrack-sweep-{self.id}", daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a sweep started with :meth:`start`; True when it is over (raises its error)."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return True

    def stop(self, cancel: bool = False) -> None:
        """Launch no more trials; running ones finish (``cancel=True``: they end ``interrupted``)."""
        if self._driver is not None and self._driver.status in ("starting", "running"):
            self._driver.stop(cancel)
            return
        if self.status == "running":
            raise NbtrackError(f"sweep {self.name!r} is running in another process "
                               f"(pid {self._record.get('pid')}); stop it there")

    def _claim(self) -> None:
        # The store-side check (another process runs it) is in the driver's first write.
        if self._driver is not None and self._driver.status in ("starting", "running") and \
                self._thread_alive():
            raise NbtrackError(f"sweep {self.name!r} is already running in this process")

    def _thread_alive(self) -> bool:
        return self._thread is None or self._thread.is_alive()

    # -- state ----------------------------------------------------------------------
    @property
    def status(self) -> str:
        """pending, running, finished, stopped, interrupted, failed, or crashed (its process died)."""
        if self._driver is not None and self._driver.status == "running" and self._thread_alive():
            return "running"
        self._record = records.load(self._store, self.id)
        return _effective_status(self._record)

    def poll(self) -> dict[str, Any]:
        """A snapshot for progress views: status, counts by trial status, best trial, all trials."""
        live = self._driver is not None and self.status == "running"
        if live:
            assert self._driver is not None
            trials = self._driver.snapshot()
            plan = self._driver.plan
            planned, launched = plan.planned, plan.launched
        else:
            frame = self.trials()
            trials = [{"number": int(r["number"]), "run_id": r["run_id"], "status": r["status"],
                       "value": None if _missing(r["value"]) else float(r["value"]), "error": r["error"]}
                      for r in frame.to_dict("records")]
            planned, launched = None, 0
        counts: dict[str, int] = {}
        for trial in trials:
            counts[trial["status"]] = counts.get(trial["status"], 0) + 1
        done = [t for t in trials if t["status"] == "finished" and t["value"] is not None]
        best = (max if self.goal == "maximize" else min)(done, key=lambda t: t["value"]) if done else None
        return {"id": self.id, "name": self.name, "status": self.status, "method": self.method,
                "metric": self.metric, "goal": self.goal, "counts": counts, "planned": planned,
                "launched": launched, "best": best, "trials": trials}

    def trials(self) -> pd.DataFrame:
        """Its trials in order: number, run_id, name, status, value (the metric), ..., ``config.*``."""
        rows = self._trial_rows()
        queued = set(self._driver._running) if self._driver is not None else set()
        return analysis.trials_frame(rows, self.space, self.metric, queued)

    def runs(self) -> pd.DataFrame:
        """Its trials' runs, as :func:`nbtrack.runs` gives them."""
        from ..query import runs

        return runs(sweep=self.id, store=self._store)

    @property
    def best(self) -> Any:
        """The finished trial with the best metric value: its row of :meth:`runs` (None if none)."""
        row = analysis.best_row(self.trials(), self.goal)
        if row is None:
            return None
        runs = self.runs()
        match = runs[runs["id"] == row["run_id"]]
        return match.iloc[0] if not match.empty else None

    @property
    def best_config(self) -> dict[str, Any] | None:
        """The config of the best finished trial, nested as the trial got it."""
        rows = self._trial_rows()
        row = analysis.best_row(self.trials(), self.goal)
        if row is None:
            return None
        found: dict[str, Any] = next(r["config"] for r in rows if r["run_id"] == row["run_id"])
        return found

    def importance(self, method: str = "ped-anova") -> pd.DataFrame:
        """Columns ``parameter, importance, correlation``, most important first.

        ``method``: ``"ped-anova"`` (default) or ``"fanova"`` (needs scikit-learn); see
        :mod:`nbtrack.importance`, which the HTML report shares.
        """
        return analysis.importance(self.spec, self.space, self._trial_rows(), method)

    def _trial_rows(self) -> _Rows:
        if self._driver is not None:  # rows of trials just launched here are written first
            self._driver.recorder.flush()
        return records.trial_rows(self._store, self.id)

    # -- charts ---------------------------------------------------------------------
    def parallel_coordinates(self, params: Sequence[str] | None = None) -> Any:
        """A line per finished or pruned trial across its parameters and the metric.

        Charts drawn offline (an :class:`nbtrack.charts.OfflineChart`: the Altair chart with
        a renderer that needs no network; ``.to_altair()`` gives the Altair chart).
        """
        from ..charts import log_parameters, parallel_coordinates
        from ..charts._base import empty
        from ..charts._offline import offline

        metric = self._need_metric()
        runs = self.runs()
        column = f"summary.{metric}"
        if column not in runs.columns:
            return offline(empty(f"no trial has logged {metric!r} yet"))
        runs = runs[runs["status"].isin(["finished", "pruned"]) & runs[column].notna()]
        names = params if params is not None else [d.name for d in self.space.dimensions]
        names = [n for n in names if f"config.{n}" in runs.columns]
        return offline(parallel_coordinates(runs, names, metric, goal=self.goal,
                                            log_axes=log_parameters(self.config) or None))

    def importance_chart(self, method: str = "ped-anova") -> Any:
        """Importance bars, coloured by the sign of the correlation (drawn offline)."""
        from ..charts import importance_bars
        from ..charts._offline import offline

        return offline(importance_bars(self.importance(method)))

    def best_so_far_chart(self) -> Any:
        """Each finished trial's metric and the best so far, in trial order (drawn offline)."""
        from ..charts import best_so_far
        from ..charts._offline import offline

        metric = self._need_metric()
        trials = self.trials()
        values = [float(v) if s == "finished" and not _missing(v) else None
                  for s, v in zip(trials["status"], trials["value"])]
        return offline(best_so_far(values or [None], self.goal, metric=metric))

    def _need_metric(self) -> str:
        if self.metric is None:
            raise NbtrackError(f"sweep {self.name!r} has no metric in its config: nothing to chart")
        return self.metric

    # -- display ----------------------------------------------------------------------
    def __repr__(self) -> str:
        poll = self.poll()
        counts = ", ".join(f"{n} {s}" for s, n in sorted(poll["counts"].items())) or "no trials"
        best = poll["best"]
        tail = f"; best {self.metric}={number(best['value'])} (trial {best['number']})" if best else ""
        return f"<nbtrack.Sweep {self.name!r} id={self.id} {self.method} {poll['status']}: {counts}{tail}>"

    def _repr_html_(self) -> str:
        from .progress import trials_table

        poll = self.poll()
        e = _escape
        counts = ", ".join(f"{n} {e(s)}" for s, n in sorted(poll["counts"].items())) or "no trials yet"
        goal = f"{e(self.metric)} ({e(self.goal)})" if self.metric else "none"
        lines = [f"<b>sweep {e(self.name)}</b> <code>{e(self.id)}</code> &middot; {e(poll['status'])}",
                 f"method {e(self.method)} &middot; metric {goal} &middot; project {e(self.project)}",
                 f"trials: {counts}"]
        best = poll["best"]
        if best is not None:
            config = self.best_config or {}
            lines.append(f"best {e(self.metric)} = {e(number(best['value']))} "
                         f"(trial {e(best['number'])}): <code>{e(value(config))}</code>")
        table = trials_table(self.trials(), self.metric, self.goal)
        return "<div class='nbtrack-sweep'>" + "<br>".join(lines) + table + "</div>"


def _escape(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _both(first: Callable[[TrialEvent], Any], second: Callable[[TrialEvent], Any] | None) -> Any:
    """One ``on_trial`` observer calling two (the progress line, and the user's own)."""
    if second is None:
        return first

    def both(event: TrialEvent) -> Any:
        first(event)
        return second(event)

    return both


def _effective_status(record: dict[str, Any]) -> str:
    status = str(record["status"])
    if status == "running" and not records.driver_alive(record):
        return "crashed"
    return status


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
