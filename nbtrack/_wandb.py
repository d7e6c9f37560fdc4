"""The parts of W&B's API that ``import nbtrack as wandb`` needs beyond init/log/finish.

``define_metric`` summary rules, resuming a run by id, ``mode="disabled"``, ``watch``,
and one clear error for each W&B call nbtrack does not have (never a silent no-op).
The README's "Coming from W&B" table lists the whole subset.
"""

from __future__ import annotations

import fnmatch
import math
import time
from collections import deque
from collections.abc import Iterator, Mapping, MutableMapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from .config import Config
from .errors import NbtrackError

if TYPE_CHECKING:
    from ._run import Run

__all__ = ["DisabledRun", "alert", "define_metric", "login", "save", "watch"]

_RULES = ("min", "max", "mean", "last", "none")
_GOALS = {"minimize": "min", "maximize": "max"}


# -- define_metric -------------------------------------------------------------
def define_metric(run: Run, name: Any, step_metric: Any, summary: Any, goal: Any,
                  options: dict[str, Any]) -> None:
    """Record a metric's definition on ``run`` and the summary rule it implies."""
    if not isinstance(name, str) or not name:
        raise NbtrackError(f"define_metric: name must be a non-empty string (a glob like 'val/*' too); "
                           f"got {name!r}")
    unknown = set(options) - {"step_sync", "hidden", "overwrite"}
    if unknown:
        raise NbtrackError(f"define_metric() got unknown argument(s): {', '.join(sorted(unknown))}; "
                           "nbtrack takes name, step_metric=, summary= and goal=")
    if step_metric is not None and (not isinstance(step_metric, str) or not step_metric):
        raise NbtrackError(f"define_metric: step_metric must be a metric name; got {step_metric!r}")
    if goal is not None and goal not in _GOALS:
        raise NbtrackError(f"define_metric: goal must be 'minimize' or 'maximize'; got {goal!r}")
    rule = _rule(summary, goal)
    definition = {"step_metric": step_metric, "summary": summary, "goal": goal}
    run.metric_definitions[name] = {k: v for k, v in definition.items() if v is not None}
    run._mark("environment")
    if rule is not None:
        # Under the rules' lock: the writer thread folds points into the aggregates.
        with run._rules_lock:
            run._summary_rules[name] = rule
            # The metrics seen so far that this name covers are resolved again; one whose
            # rule stays the same (an exact rule, an earlier glob) keeps its aggregate.
            state = run._rule_state
            for key in [k for k in state if k == name or fnmatch.fnmatchcase(k, name)]:
                kind = _resolve(run, key)
                current = state[key]
                if (current.kind if current is not None else None) != kind:
                    state[key] = None if kind is None else _Aggregate(kind)


def _rule(summary: Any, goal: Any) -> str | None:
    if summary is None:
        return _GOALS[goal] if goal is not None else None
    if not isinstance(summary, str):
        raise NbtrackError(f"define_metric: summary must be a string such as 'min'; got {summary!r}")
    first = summary.split(",")[0].strip()
    if "," in summary:
        raise NbtrackError(f"define_metric: nbtrack keeps one summary value per metric; got {summary!r}. "
                           f"Pick one of {', '.join(_RULES)}, 'best' (with goal=)")
    if first == "best":
        if goal is None:
            raise NbtrackError("define_metric: summary='best' needs goal='minimize' or goal='maximize'")
        return _GOALS[goal]
    if first not in _RULES:
        raise NbtrackError(f"define_metric: summary must be one of {', '.join(_RULES)} or 'best'; "
                           f"got {summary!r}")
    return first


class _Aggregate:
    """A metric's running summary value under its rule."""

    __slots__ = ("count", "kind", "total", "value")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.value: float | None = None
        self.count = 0
        self.total = 0.0

    def add(self, value: Any) -> None:
        if value is None:  # a missing value, as with no rule
            return
        if self.kind == "last":  # the last value as logged, NaN too (as with no rule)
            self.value = value
            return
        if isinstance(value, float) and math.isnan(value):
            return
        if self.kind == "mean":
            self.count += 1
            self.total += value
            self.value = self.total / self.count
        elif self.value is None or self.kind == "last":
            self.value = value
        elif self.kind == "min":
            self.value = min(self.value, value)
        elif self.kind == "max":
            self.value = max(self.value, value)


def _resolve(run: Run, key: str) -> str | None:
    """The rule of metric ``key``: its own, else the first glob that covers it."""
    kind = run._summary_rules.get(key)
    if kind is None:
        kind = next((k for pattern, k in run._summary_rules.items() if fnmatch.fnmatchcase(key, pattern)),
                    None)
    return kind


def _state_for(run: Run, key: str) -> _Aggregate | None:
    """``key``'s aggregate (None: no rule), resolved once per metric; hold ``run._rules_lock``."""
    state = run._rule_state
    if key in state:
        found: _Aggregate | None = state[key]
        return found
    kind = _resolve(run, key)
    aggregate = state[key] = None if kind is None else _Aggregate(kind)
    return aggregate


def fold_rules(run: Run, flat: list[Any]) -> None:
    """Take a batch of queued points ``(step, time, metrics)`` into the rules' aggregates."""
    with run._rules_lock:
        for metrics in flat[2::3]:
            for key, value in metrics.items():
                aggregate = _state_for(run, key)
                if aggregate is not None:
                    aggregate.add(value)


def apply_rules(run: Run, latest: dict[str, Any]) -> dict[str, Any]:
    """``latest`` with each ruled metric's summary value in place of its last value."""
    out = dict(latest)
    with run._rules_lock:
        for key in latest:
            aggregate = run._rule_state.get(key)
            if aggregate is None:
                continue
            if aggregate.kind == "none":
                del out[key]
            else:
                out[key] = aggregate.value
    return out


# -- resume --------------------------------------------------------------------
def resume_state(run: Run, record: dict[str, Any]) -> None:
    """Continue a stored run: its config (what init was given wins), summary, tags, notes,
    summary rules, and steps after its last one."""
    stored = record.get("config") or {}
    run.config.fill(stored if isinstance(stored, dict) else {})
    summary = record.get("summary") or {}
    if isinstance(summary, dict):
        dict.update(run.summary, summary)
    run.tags = list(dict.fromkeys([*(record.get("tags") or []), *run.tags]))
    if run.job_type is None:
        run.job_type = next((t.split(":", 1)[1] for t in run.tags if t.startswith("job_type:")), None)
    else:  # a new job type replaces the stored one
        run._set_job_type(run.job_type)
    if run.notes is None:
        run.notes = record.get("notes")
    if run.group is None:
        run.group = record.get("group_name")
    created = record.get("created_at")
    if isinstance(created, datetime):
        run.created_at = created.timestamp()
    last = [m["last_step"] for m in record.get("metrics") or [] if m.get("last_step") is not None]
    media_steps = run._store.media_rows([run.id])["step"]  # a media-only step is a step too
    if len(media_steps):
        last.append(int(media_steps.max()))
    run._step = max(last) + 1 if last else 0
    run._last_step = max(last) if last else None
    environment = record.get("environment") or {}
    if environment.get("synced"):  # what nbtrack sync compares against: outlives this process
        run._kept_environment["synced"] = environment["synced"]
    for name, definition in (environment.get("define_metric") or {}).items():
        run.define_metric(name, definition.get("step_metric"), summary=definition.get("summary"),
                          goal=definition.get("goal"))
    with run._rules_lock:
        for key, value in dict(run.summary).items():  # the aggregates go on from the stored value
            aggregate = _state_for(run, key) if run._summary_rules else None
            if aggregate is None or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if aggregate.kind in ("min", "max"):
                aggregate.add(value)
            elif aggregate.kind == "mean" and not math.isnan(value):
                # The stored mean is over the metric's stored points (NaN and None left out).
                points = run._store.history([run.id], [key])["value"].dropna()
                if len(points):
                    aggregate.count = len(points)
                    aggregate.total = float(value) * len(points)
                    aggregate.value = value


def resumable(store: Any, run_id: str, resume: Any) -> dict[str, Any] | None:
    """The stored record to resume (None: start run ``run_id`` afresh), by W&B's rules."""
    if resume not in (None, False, True, "allow", "must", "never", "auto"):
        raise NbtrackError(f"nbtrack.init: resume must be 'allow', 'must', 'never' or True; got {resume!r}")
    from ._run import _live_runs

    if run_id in _live_runs:
        raise NbtrackError(f"run {run_id!r} is still running in this process; finish it first "
                           "(or keep using the run object you have)")
    record: dict[str, Any] | None = store.run_record(run_id)  # pending segments included
    if record is None and store.run_exists(run_id):
        raise NbtrackError(f"run {run_id!r} is in the trash; restore it with nbtrack.restore_runs("
                           f"[{run_id!r}]) to resume it")
    if record is None:
        if resume == "must":
            raise NbtrackError(f"nbtrack.init(resume='must'): no run with id {run_id!r} in {store.location}; "
                               "check the id, or use resume='allow' to start it if it is missing")
        return None
    if resume in (None, False, "never"):
        raise NbtrackError(f"a run with id {run_id!r} already exists in {store.location}; pass "
                           "resume='allow' to continue it, or choose another id")
    return record


# -- mode="disabled" -----------------------------------------------------------------
def _no_store(*_args: Any, **_kwargs: Any) -> None:
    return None


class DisabledRun:
    """What ``init(mode="disabled")`` returns: the run's API, storing nothing.

    ``log``, ``finish``, ``config``, ``summary`` and ``define_metric`` work so the
    user's code runs unchanged; ``run.disabled`` is True.
    """

    disabled = True
    kind = "disabled"

    def __init__(self, name: str | None, project: str | None, config: Any, tags: Any,
                 notes: str | None, group: str | None, job_type: str | None) -> None:
        from ._run import new_run_id

        self.id = new_run_id()
        self.name = name or f"run-{self.id}"
        self.project = project
        self.tags = list(tags or [])
        self.notes, self.group, self.job_type = notes, group, job_type
        self.status = "running"
        self.config = Config(config if config is not None else {})
        self.summary: dict[str, Any] = {}
        self.metric_definitions: dict[str, dict[str, Any]] = {}
        self.created_at = time.time()
        self._finished = False
        self._step = 0
        self._queue: deque[Any] = deque()
        self._listeners: list[Any] = []

    def log(self, data: Any = None, step: Any = None, commit: bool = True, **metrics: Any) -> None:
        self._push({}, step, commit)

    def _push(self, data: dict[str, Any], step: Any, commit: bool) -> None:
        if isinstance(step, int):
            self._step = step
        if commit:
            self._step += 1

    @property
    def step(self) -> int:
        return self._step

    def finish(self, status: str = "finished", error: str | None = None, *, exit_code: int | None = None,
               quiet: bool | None = None) -> None:
        from . import _run

        if self._finished:
            return
        self._finished = True
        self.status = _run._exit_status(status, error, exit_code)[0]
        me: Any = self  # activated in the run's place (see nbtrack.init)
        if _run._default[0] is me:
            _run._default[0] = None
        if _run._active.get() is me:
            _run._active.set(None)

    def define_metric(self, name: str, step_metric: str | None = None, **options: Any) -> None:
        self.metric_definitions[name] = {"step_metric": step_metric, **options}

    log_system = set_tags = set_notes = drain = _mark = _sync_summary = _no_store
    log_artifact = watch = _no_store

    def use_artifact(self, ref: Any, **options: Any) -> NoReturn:
        raise NbtrackError("use_artifact needs a stored run; this run has mode='disabled'. "
                           "Use nbtrack.init() without mode='disabled'")

    def subscribe(self, listener: Any) -> Any:
        return _no_store

    def __enter__(self) -> DisabledRun:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.finish("finished" if exc[0] is None else "failed")

    def __repr__(self) -> str:
        return f"<nbtrack.Run {self.name!r} disabled: nothing is stored>"


# -- watch and what nbtrack does not have ---------------------------------------------
def watch(models: Any, criterion: Any = None, log: str | None = "gradients", log_freq: int = 1000,
          idx: int | None = None, log_graph: bool = False, *, run: Any = None) -> Any:
    """``wandb.watch``: log per-layer gradients and/or parameters of a torch model.

    Calls :func:`nbtrack.integrations.torch.watch` for each model (``criterion`` and
    ``idx`` are unused, as in W&B's own code). ``log_graph=True`` raises: nbtrack does
    not store model graphs.

    Example
    -------
    >>> nbtrack.watch(model, log="all", log_freq=10)  # doctest: +SKIP
    """
    from .integrations.torch import watch as torch_watch

    if log_graph:
        raise NbtrackError("nbtrack.watch cannot store the model's graph (log_graph=True); drop "
                           "log_graph, or save the model with nbtrack.log_artifact(path, name)")
    if log is None:
        raise NbtrackError("nbtrack.watch(log=None) would log nothing (nbtrack stores no graph); "
                           "use log='gradients', 'parameters' or 'all'")
    handles = [torch_watch(m, log, log_freq, run=run) for m in (models if isinstance(models, (list, tuple))
                                                           else [models])]
    return handles if isinstance(models, (list, tuple)) else handles[0]


def _unsupported(what: str, instead: str) -> NoReturn:
    raise NbtrackError(f"nbtrack has no {what}: {instead}")


def save(*_args: Any, **_kwargs: Any) -> NoReturn:
    """``wandb.save``: raises, naming nbtrack's way (``log_artifact``)."""
    _unsupported("wandb.save", "store files with nbtrack.log_artifact(path, name, type='file')")


def alert(*_args: Any, **_kwargs: Any) -> NoReturn:
    """``wandb.alert``: raises; nbtrack sends no notifications."""
    _unsupported("alerts (wandb.alert)", "nbtrack sends no notifications; check a run's status with "
                 "nbtrack.runs() or watch it live with nbtrack.live()")


def login(*_args: Any, **_kwargs: Any) -> NoReturn:
    """``wandb.login``: raises; nbtrack has no server and no account."""
    _unsupported("login (wandb.login)", "there is no server or account; runs are stored locally "
                 "(NBTRACK_DIR or nbtrack.settings(dir=...)): remove the login call")


def Settings(*_args: Any, **_kwargs: Any) -> NoReturn:
    """``wandb.Settings``: raises, naming ``nbtrack.settings``."""
    _unsupported("wandb.Settings", "use nbtrack.settings(dir=..., project=..., system_metrics=...) "
                 "and drop settings= from nbtrack.init()")


class UnsupportedError(NbtrackError, AttributeError):
    """A W&B run attribute nbtrack does not have (an AttributeError too, so hasattr works)."""


#: W&B run attributes with no nbtrack counterpart, and the nbtrack way.
_RUN_INSTEAD = {
    "save": "store files with run.log_artifact(path, name, type='file')",
    "log_code": "a %%track cell's source is stored with its run; for files use run.log_artifact(path, name)",
    "alert": "nbtrack sends no notifications",
    "dir": "nbtrack keeps no per-run folder; write files anywhere and store them with run.log_artifact",
    "url": "there is no server; open the run in the JupyterLab sidebar or nbtrack.runs()",
    "get_url": "there is no server; open the run in the JupyterLab sidebar or nbtrack.runs()",
    "mark_preempting": "a run whose process dies is marked crashed; resume it with "
                       "nbtrack.init(id=run_id, resume='allow')",
    "log_model": "store the model file with run.log_artifact(path, name, type='model')",
    "use_model": "fetch a stored model with run.use_artifact('name:latest')",
    "link_model": "store the model file with run.log_artifact(path, name, type='model')",
    "entity": "nbtrack has no teams or accounts; runs are grouped by run.project",
    "sweep": "a sweep trial's run has run.sweep_id; nbtrack.Sweep.load(run.sweep_id) is the sweep",
}


def unsupported_run_attribute(name: str) -> AttributeError:
    """The error for ``run.<name>``: what to use instead where it is a W&B name."""
    if name in _RUN_INSTEAD:
        return UnsupportedError(f"nbtrack runs have no {name} (W&B's run.{name}): {_RUN_INSTEAD[name]}")
    return AttributeError(f"'Run' object has no attribute {name!r}")


class SummaryProxy(MutableMapping[str, Any]):
    """``nbtrack.summary``: the active run's summary (W&B's ``wandb.summary``)."""

    def _summary(self, writing: bool) -> Any:
        from ._run import active_run

        run = active_run()
        if run is None:
            if writing:
                raise NbtrackError("nbtrack.summary has no active run to write to: call nbtrack.init() "
                                   "first or use it inside a %%track cell")
            return {}
        return run.summary

    def __getitem__(self, key: str) -> Any:
        return self._summary(False)[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._summary(True)[key] = value

    def __delitem__(self, key: str) -> None:
        summary = self._summary(True)
        dict.__delitem__(summary, key)
        if hasattr(summary, "_run"):
            summary._run._mark("summary")

    def __iter__(self) -> Iterator[str]:
        return iter(dict(self._summary(False)))

    def __len__(self) -> int:
        return len(self._summary(False))

    def update(self, *args: Any, **kwargs: Any) -> None:
        summary = self._summary(True)
        for key, value in dict(*args, **kwargs).items():
            summary[key] = value

    def __repr__(self) -> str:
        return f"<nbtrack.summary: {dict(self._summary(False))!r}>"


def define_metric_active(name: str, step_metric: str | None = None, **options: Any) -> None:
    """``nbtrack.define_metric``: :meth:`nbtrack.Run.define_metric` on the active run."""
    from ._run import active_run

    run = active_run()
    if run is None:
        raise NbtrackError("nbtrack.define_metric() has no active run: call nbtrack.init() first, or "
                           "use it inside a %%track cell")
    run.define_metric(name, step_metric, **options)


# -- init(config=...) as W&B takes it ---------------------------------------------------
DEFAULTS_FILE = "config-defaults.yaml"


def init_config(config: Any) -> Any:
    """``init``'s config as a mapping: a dict, an ``argparse.Namespace``, or the path of a
    YAML/JSON file; ``config-defaults.yaml`` in the working directory fills in, as W&B does."""
    import os
    from pathlib import Path

    if isinstance(config, (str, os.PathLike)):
        config = _config_file(Path(config))
    elif config is not None and hasattr(config, "__dict__") and not isinstance(config, Mapping):
        config = vars(config)
    defaults = Path(DEFAULTS_FILE)
    if defaults.is_file():
        return {**_config_file(defaults), **(dict(config) if config is not None else {})}
    return config


def _config_file(path: Any) -> dict[str, Any]:
    """A W&B config file: plain keys, or ``key: {value: ..., desc: ...}`` entries."""
    import json

    try:
        text = path.read_text()
    except OSError as exc:
        raise NbtrackError(f"nbtrack.init: cannot read the config file {str(path)!r} ({exc})") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise NbtrackError(f"nbtrack.init: the config file {str(path)!r} is not valid JSON "
                               f"({exc})") from None
    else:
        try:
            import yaml
        except ImportError:
            raise NbtrackError("reading a YAML config needs PyYAML: pip install pyyaml") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise NbtrackError(f"nbtrack.init: the config file {str(path)!r} is not valid YAML "
                               f"({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise NbtrackError(f"nbtrack.init: the config file {str(path)!r} must hold a mapping of keys to "
                           f"values; got {type(data).__name__}")
    return {str(k): v["value"] if isinstance(v, dict) and "value" in v else v
            for k, v in data.items() if k != "wandb_version"}


_MEDIA = ("nbtrack stores Image, Histogram, Table and Text; keep other files with "
          "nbtrack.log_artifact(path, name)")
#: W&B module attributes with no nbtrack counterpart, and the nbtrack way.
_MODULE_INSTEAD = {
    "plot": "log the numbers and chart them with nbtrack.charts or nbtrack.compare(); "
            "tables with nbtrack.Table",
    "Api": "read runs with nbtrack.runs(), nbtrack.history() and nbtrack.sql() (no server needed)",
    "Video": _MEDIA, "Audio": _MEDIA, "Object3D": _MEDIA, "Molecule": _MEDIA, "Html": _MEDIA,
    "restore": "fetch stored files with nbtrack.use_artifact('name:latest')",
    "log_model": "store the model file with nbtrack.log_artifact(path, name, type='model')",
    "use_model": "fetch a stored model with nbtrack.use_artifact('name:latest')",
    "link_model": "store the model file with nbtrack.log_artifact(path, name, type='model')",
    "tensorboard": "import TensorBoard event files with nbtrack.importers (see the README, importers)",
    "integration": "framework callbacks are in nbtrack.integrations (keras, lightning, huggingface, "
                   "sklearn, ...)",
    "setup": "nbtrack needs no setup; nbtrack.settings(...) sets the store and project",
    "teardown": "nbtrack.finish() ends the run; nothing else runs in the background to stop",
    "require": "nbtrack needs no feature flags; remove the call",
    "termlog": "use print() or logging", "termwarn": "use warnings.warn()", "termerror": "use logging",
}


def unsupported_module_attribute(module: str, name: str) -> AttributeError:
    """The error for ``nbtrack.<name>``: what to use instead where it is a W&B name."""
    if name in _MODULE_INSTEAD:
        return UnsupportedError(f"nbtrack has no {name} (W&B's wandb.{name}): {_MODULE_INSTEAD[name]}")
    return AttributeError(f"module {module!r} has no attribute {name!r}")
