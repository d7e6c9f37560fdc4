"""Reading a W&B sweep config (a dict or a YAML/JSON file) into a checked :class:`SweepSpec`.

The config is taken as users write it for W&B Sweeps: ``method``, ``metric``,
``parameters`` (nested with ``parameters:``) and ``early_terminate``; ``program`` and
``command`` (with W&B's macros) are what ``nbtrack agent`` runs for each trial. Keys
that only matter to W&B's servers (``entity``, ``job``, ...) and ``controller`` (there
is no sweep server: every agent runs the search itself against the shared store, as
W&B's ``controller: {type: local}`` does) are accepted and change nothing; a warning
names them, once. Any other key is an error naming it, as is a bad range.

Example
-------
>>> spec = parse_config({"method": "random", "metric": {"name": "loss"},
...                      "parameters": {"lr": {"min": 0.001, "max": 0.1},
...                                     "layers": {"min": 1, "max": 4}}})
>>> [(p.name, p.distribution) for p in spec.parameters]
[('lr', 'uniform'), ('layers', 'int_uniform')]
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import NbtrackError, warn_once

__all__ = ["COMMAND_MACROS", "DISTRIBUTIONS", "HyperbandSpec", "MetricSpec", "ParamSpec", "SweepSpec",
           "ignored_note", "load_config", "parse_config"]

METHODS = ("grid", "random", "bayes")
#: Top-level keys W&B defines that only its servers use: accepted, and named in one warning.
IGNORED_KEYS = ("entity", "controller", "job", "image_uri", "apiVersion", "kind")
TOP_KEYS = ("method", "metric", "parameters", "early_terminate", "name", "description", "project",
            "run_cap", "program", "command", *IGNORED_KEYS)
#: What each ignored key would do at W&B, and why it changes nothing here.
_IGNORED_WHY = {
    "controller": "nbtrack has no sweep server: every agent runs the search itself against the "
                  "shared store (what W&B's controller: {type: local} does)",
    "entity": "nbtrack has no teams or accounts; sweeps are grouped by project",
}
#: The macros of a ``command`` entry (W&B's), besides ``${envvar:NAME}``.
COMMAND_MACROS = ("env", "interpreter", "program", "args", "args_no_hyphens", "args_no_boolean_flags",
                  "args_json", "args_json_file")
METRIC_KEYS = ("name", "goal", "target", "impute", "impute_while_running")
HYPERBAND_KEYS = ("type", "min_iter", "max_iter", "s", "eta", "strict")

_Q = ("q",)
_RANGE = ("min", "max")
_NORMAL = ("mu", "sigma")
_BETA = ("a", "b")
#: Every W&B distribution and the keys it takes besides ``distribution``.
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "constant": ("value",),
    "categorical": ("values", "probabilities"),
    "categorical_w_probabilities": ("values", "probabilities"),
    "int_uniform": _RANGE,
    "uniform": _RANGE,
    "q_uniform": _RANGE + _Q,
    "log_uniform": _RANGE,
    "log_uniform_values": _RANGE,
    "q_log_uniform": _RANGE + _Q,
    "q_log_uniform_values": _RANGE + _Q,
    "inv_log_uniform": _RANGE,
    "inv_log_uniform_values": _RANGE,
    "normal": _NORMAL,
    "q_normal": _NORMAL + _Q,
    "log_normal": _NORMAL,
    "q_log_normal": _NORMAL + _Q,
    "beta": _BETA,
    "q_beta": _BETA + _Q,
}
#: Distributions a grid can enumerate (as W&B's grid search allows).
GRID_DISTRIBUTIONS = ("constant", "categorical", "categorical_w_probabilities", "int_uniform", "q_uniform")
_DEFAULTS = {"mu": 0.0, "sigma": 1.0, "q": 1.0, "a": 1.0, "b": 1.0}


@dataclass(frozen=True)
class MetricSpec:
    """The metric a sweep optimises: a key the trials log, and whether lower is better."""

    name: str
    goal: str = "minimize"
    #: stop launching trials once a finished trial reaches this value
    target: float | None = None


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: its dotted name (``optimizer.lr`` for nested ones) and its distribution."""

    name: str
    path: tuple[str, ...]
    distribution: str
    value: Any = None
    values: tuple[Any, ...] = ()
    probabilities: tuple[float, ...] | None = None
    min: float | None = None
    max: float | None = None
    mu: float = 0.0
    sigma: float = 1.0
    q: float = 1.0
    a: float = 1.0
    b: float = 1.0


@dataclass(frozen=True)
class HyperbandSpec:
    """W&B's ``early_terminate: {type: hyperband}``, as the iterations (steps) it checks at."""

    eta: int
    #: the first band; later bands are ``first_band * eta**k``
    first_band: int
    #: the last band (``None``: no last band, as with ``min_iter``)
    last_band: int | None
    min_iter: int | None = None
    max_iter: int | None = None
    s: int | None = None

    def bands(self, up_to: int) -> list[int]:
        """The bands at or below step ``up_to``."""
        out, band = [], self.first_band
        limit = up_to if self.last_band is None else min(up_to, self.last_band)
        while band <= limit:
            out.append(band)
            band *= self.eta
        return out


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep config; ``raw`` is the user's config as given (JSON-ready)."""

    method: str
    parameters: tuple[ParamSpec, ...]
    metric: MetricSpec | None = None
    early_terminate: HyperbandSpec | None = None
    name: str | None = None
    description: str | None = None
    project: str | None = None
    run_cap: int | None = None
    #: the training script ``nbtrack agent`` runs, and the command line it runs it with
    program: str | None = None
    command: tuple[str, ...] | None = None
    #: top-level keys given that nbtrack does not use (see :data:`IGNORED_KEYS`)
    ignored: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def searched(self) -> tuple[ParamSpec, ...]:
        """The parameters that vary (everything but constants)."""
        return tuple(p for p in self.parameters if p.distribution != "constant")


def _fail(where: str, problem: str) -> NbtrackError:
    return NbtrackError(f"sweep config: {where}: {problem}")


# -- loading -------------------------------------------------------------------
def load_config(source: Any) -> dict[str, Any]:
    """A sweep config as a plain dict, from a dict or the path of a YAML or JSON file."""
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source))
    if not isinstance(source, (str, os.PathLike)):
        raise NbtrackError(
            f"a sweep config is a dict or the path of a YAML file; got {type(source).__name__}"
        )
    path = Path(source).expanduser()
    if not path.is_file():
        raise NbtrackError(f"no sweep config file {str(path)!r}")
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix.lower() == ".json" else _yaml(text, path)
    if not isinstance(data, dict):
        raise NbtrackError(f"the sweep config file {str(path)!r} must hold a mapping at the top")
    return data


def _yaml(text: str, path: Path) -> Any:
    try:
        import yaml
    except ImportError:
        raise NbtrackError("reading a YAML sweep config needs PyYAML: pip install pyyaml") from None

    class Loader(yaml.SafeLoader):  # type: ignore[misc]
        pass

    # YAML 1.1 reads 1e-5 (no dot) as a string; W&B configs write learning rates that way.
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
        list("-+0123456789"),
    )
    try:
        return yaml.load(text, Loader=Loader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        raise NbtrackError(f"cannot read the sweep config file {str(path)!r}: {exc}") from None


# -- parsing -------------------------------------------------------------------
def parse_config(source: Any) -> SweepSpec:
    """Check a W&B sweep config and return its :class:`SweepSpec` (raises naming the bad key)."""
    raw = load_config(source)
    unknown = [k for k in raw if k not in TOP_KEYS]
    if unknown:
        raise _fail(repr(unknown[0]), f"unknown key; a sweep config takes {', '.join(TOP_KEYS[:8])}")
    try:
        json.dumps(raw, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise NbtrackError(
            f"sweep config: must be JSON-like (numbers, strings, lists, dicts): {exc}") from None
    method = raw.get("method")
    if method not in METHODS:
        hint = " (custom search is not supported)" if method == "custom" else ""
        raise _fail("method", f"{method!r} is not one of {', '.join(METHODS)}{hint}")
    metric = _metric(raw["metric"]) if raw.get("metric") is not None else None
    parameters = raw.get("parameters")
    if not isinstance(parameters, Mapping) or not parameters:
        raise _fail("parameters", "give at least one parameter, e.g. {'lr': {'min': 0.001, 'max': 0.1}}")
    params = tuple(_parameters(parameters, ()))
    early = raw.get("early_terminate")
    hyperband = _hyperband(early) if early is not None else None
    if method == "bayes" and metric is None:
        raise _fail("metric", "method 'bayes' needs a metric to optimise, e.g. {'name': 'loss'}")
    if hyperband is not None and metric is None:
        raise _fail("early_terminate", "needs a metric to compare trials by, e.g. metric: {name: loss}")
    if method == "grid":
        for p in params:
            if p.distribution not in GRID_DISTRIBUTIONS:
                raise _fail(f"parameters.{p.name}", f"grid search cannot enumerate a {p.distribution} "
                            "distribution; use values, or int_uniform / q_uniform")
    run_cap = raw.get("run_cap")
    if run_cap is not None and (not _is_int(run_cap) or run_cap < 1):
        raise _fail("run_cap", f"must be a whole number of at least 1; got {run_cap!r}")
    for key in ("name", "description", "project", "program"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise _fail(key, f"must be a string; got {raw[key]!r}")
    command = _command(raw.get("command"))
    ignored = tuple(k for k in IGNORED_KEYS if k in raw)
    if ignored:
        warn_once(f"sweep-ignored-keys:{','.join(ignored)}", ignored_note(ignored))
    return SweepSpec(method=method, parameters=params, metric=metric, early_terminate=hyperband,
                     name=raw.get("name"), description=raw.get("description"),
                     project=raw.get("project"), run_cap=run_cap, program=raw.get("program"),
                     command=command, ignored=ignored, raw=raw)


def ignored_note(keys: tuple[str, ...]) -> str:
    """One line saying which W&B keys of a sweep config nbtrack does not use, and why."""
    why = "; ".join(f"{k}: {_IGNORED_WHY[k]}" for k in keys if k in _IGNORED_WHY)
    others = [k for k in keys if k not in _IGNORED_WHY]
    if others:
        why = "; ".join([*([why] if why else []), f"{', '.join(others)}: used by W&B's servers only"])
    return f"nbtrack: sweep config keys {', '.join(keys)} change nothing here ({why})"


def _command(command: Any) -> tuple[str, ...] | None:
    """W&B's ``command``: a list of strings with macros such as ``${args}``."""
    if command is None:
        return None
    if not isinstance(command, (list, tuple)) or not command:
        raise _fail("command", f"must be a non-empty list, e.g. [${{env}}, ${{interpreter}}, ${{program}}, "
                    f"${{args}}]; got {command!r}")
    out = []
    for part in command:
        if isinstance(part, bool) or not isinstance(part, (str, int, float)):
            raise _fail("command", f"every entry must be a string; got {part!r}")
        text = str(part)
        for macro in re.findall(r"\$\{([^}]*)\}", text):
            if macro not in COMMAND_MACROS and not macro.startswith("envvar:"):
                raise _fail("command", f"unknown macro ${{{macro}}}; W&B's are "
                            f"{', '.join('${' + m + '}' for m in COMMAND_MACROS)} and ${{envvar:NAME}}")
        out.append(text)
    return tuple(out)


def _metric(metric: Any) -> MetricSpec:
    if isinstance(metric, str):
        raise _fail("metric", f"must be a mapping like {{'name': {metric!r}, 'goal': 'minimize'}}")
    if not isinstance(metric, Mapping):
        raise _fail("metric", f"must be a mapping with a name; got {metric!r}")
    for key in metric:
        if key not in METRIC_KEYS:
            raise _fail(f"metric.{key}", f"unknown key; metric takes {', '.join(METRIC_KEYS)}")
    name = metric.get("name")
    if not isinstance(name, str) or not name:
        raise _fail("metric.name", f"must be the name of a logged metric; got {name!r}")
    goal = metric.get("goal", "minimize")
    if goal not in ("minimize", "maximize"):
        raise _fail("metric.goal", f"must be 'minimize' or 'maximize'; got {goal!r}")
    target = metric.get("target")
    if target is not None:
        _number("metric.target", target)
    return MetricSpec(name=name, goal=goal, target=None if target is None else float(target))


def _parameters(params: Mapping[str, Any], prefix: tuple[str, ...]) -> list[ParamSpec]:
    out: list[ParamSpec] = []
    for key, body in params.items():
        path = (*prefix, key)
        where = "parameters." + ".".join(path)
        if not isinstance(key, str) or not key:
            raise _fail(where, "parameter names must be non-empty strings")
        if not isinstance(body, Mapping):
            raise _fail(where, f"must be a mapping like {{'values': [...]}}; got {body!r}")
        if "parameters" in body:
            extra = [k for k in body if k != "parameters"]
            if extra:
                raise _fail(f"{where}.{extra[0]}", "a nested parameter takes only 'parameters'")
            nested = body["parameters"]
            if not isinstance(nested, Mapping) or not nested:
                raise _fail(f"{where}.parameters", "must map names to parameters")
            out.extend(_parameters(nested, path))
        else:
            out.append(_parameter(where, path, body))
    names = [p.name for p in out]
    for name in names:
        if names.count(name) > 1:
            raise _fail(f"parameters.{name}", "is given twice (a dotted name and a nested one?)")
    return out


def _parameter(where: str, path: tuple[str, ...], body: Mapping[str, Any]) -> ParamSpec:
    distribution = body.get("distribution") or _infer(where, body)
    if distribution not in DISTRIBUTIONS:
        raise _fail(f"{where}.distribution", f"unknown distribution {distribution!r}; "
                    f"W&B's are {', '.join(DISTRIBUTIONS)}")
    allowed = DISTRIBUTIONS[distribution]
    for key in body:
        if key != "distribution" and key not in allowed:
            raise _fail(f"{where}.{key}", f"not a key of a {distribution} parameter "
                        f"(it takes {', '.join(allowed)})")
    name = ".".join(path)
    if distribution == "constant":
        if "value" not in body:
            raise _fail(where, "a constant needs 'value'")
        return ParamSpec(name, path, distribution, value=copy.deepcopy(body["value"]))
    if distribution in ("categorical", "categorical_w_probabilities"):
        return _categorical(where, name, path, body)
    fields: dict[str, Any] = {}
    for key in allowed:
        if key in body:
            fields[key] = _number(f"{where}.{key}", body[key])
        elif key in _DEFAULTS:
            fields[key] = _DEFAULTS[key]
        else:
            raise _fail(where, f"a {distribution} parameter needs {key!r}")
    spec = ParamSpec(name, path, distribution, **fields)
    _check_ranges(where, spec)
    return spec


def _infer(where: str, body: Mapping[str, Any]) -> str:
    if "value" in body:
        return "constant"
    if "values" in body:
        return "categorical"
    if "min" in body and "max" in body:
        both_int = _is_int(body["min"]) and _is_int(body["max"])
        return "int_uniform" if both_int else "uniform"
    if "min" in body or "max" in body:
        missing = "max" if "min" in body else "min"
        raise _fail(where, f"needs {missing!r} too")
    raise _fail(where, "say how to sample it: 'value', 'values', 'min'/'max', or a 'distribution'")


def _categorical(where: str, name: str, path: tuple[str, ...], body: Mapping[str, Any]) -> ParamSpec:
    values = body.get("values")
    if not isinstance(values, (list, tuple)) or not values:
        raise _fail(f"{where}.values", f"must be a non-empty list; got {values!r}")
    probabilities = body.get("probabilities")
    if probabilities is None:
        return ParamSpec(name, path, "categorical", values=tuple(copy.deepcopy(list(values))))
    if not isinstance(probabilities, (list, tuple)) or len(probabilities) != len(values):
        raise _fail(f"{where}.probabilities", f"must be a list of {len(values)} numbers, one per value")
    probs = tuple(_number(f"{where}.probabilities", p) for p in probabilities)
    if any(p < 0 for p in probs) or not math.isclose(sum(probs), 1.0, abs_tol=1e-6):
        raise _fail(f"{where}.probabilities", f"must be non-negative and sum to 1; got {list(probs)}")
    return ParamSpec(name, path, "categorical_w_probabilities",
                     values=tuple(copy.deepcopy(list(values))), probabilities=probs)


def _check_ranges(where: str, p: ParamSpec) -> None:
    d = p.distribution
    if p.min is not None and p.max is not None:
        if d == "int_uniform":
            for key in ("min", "max"):
                if not _is_int(getattr(p, key)):
                    raise _fail(f"{where}.{key}", f"an int_uniform bound must be a whole number; "
                                f"got {getattr(p, key)!r}")
            if p.max < p.min:
                raise _fail(f"{where}.max", f"{p.max!r} is below min ({p.min!r})")
        elif p.max <= p.min:
            raise _fail(f"{where}.max", f"{p.max!r} must be greater than min ({p.min!r})")
        if d.endswith("_values") and p.min <= 0:
            raise _fail(f"{where}.min", f"a {d} range must be positive; got {p.min!r} "
                        "(use log_uniform for bounds given as logarithms)")
        if d in ("log_uniform", "q_log_uniform", "inv_log_uniform") and max(abs(p.min), abs(p.max)) > 700:
            raise _fail(f"{where}.max", f"{d} takes natural logarithms of the bounds; "
                        f"{p.max!r} is far too large (did you mean {d}_values?)")
    if d.startswith("q_") and p.q <= 0:
        raise _fail(f"{where}.q", f"must be greater than 0; got {p.q!r}")
    if d in ("normal", "q_normal", "log_normal", "q_log_normal") and p.sigma < 0:
        raise _fail(f"{where}.sigma", f"must not be negative; got {p.sigma!r}")
    if d in ("beta", "q_beta"):
        for key in ("a", "b"):
            if getattr(p, key) <= 0:
                raise _fail(f"{where}.{key}", f"must be greater than 0; got {getattr(p, key)!r}")
    if d in ("q_uniform", "q_log_uniform", "q_log_uniform_values"):
        from .space import bounds, multiples

        low, high = bounds(p)
        if multiples(low, high, p.q) is None:
            raise _fail(f"{where}.q", f"no multiple of {p.q!r} lies between {low:g} and {high:g}")


def _hyperband(early: Any) -> HyperbandSpec:
    if not isinstance(early, Mapping):
        raise _fail("early_terminate", f"must be a mapping like {{'type': 'hyperband', 'min_iter': 3}}; "
                    f"got {early!r}")
    for key in early:
        if key not in HYPERBAND_KEYS:
            raise _fail(f"early_terminate.{key}", f"unknown key; hyperband takes {', '.join(HYPERBAND_KEYS)}")
    if early.get("type") != "hyperband":
        raise _fail("early_terminate.type", f"only 'hyperband' is supported; got {early.get('type')!r}")
    eta = early.get("eta", 3)
    if not _is_int(eta) or eta < 2:
        raise _fail("early_terminate.eta", f"must be a whole number of at least 2; got {eta!r}")
    for key in ("min_iter", "max_iter", "s"):
        value = early.get(key)
        if value is not None and (not _is_int(value) or value < 1):
            raise _fail(f"early_terminate.{key}", f"must be a whole number of at least 1; got {value!r}")
    max_iter, s, min_iter = early.get("max_iter"), early.get("s"), early.get("min_iter")
    if max_iter is not None:
        if s is None:
            raise _fail("early_terminate.s", "max_iter needs s, the number of bands below it")
        # W&B's bands: max_iter / eta**i for i = 1..s, down to 1.
        bands = [int(max_iter / eta**i) for i in range(1, s + 1) if max_iter / eta**i >= 1]
        if not bands:
            raise _fail("early_terminate.max_iter", f"{max_iter} leaves no band of at least 1 with "
                        f"eta={eta}; raise max_iter or lower s")
        return HyperbandSpec(eta=eta, first_band=min(bands), last_band=max(bands),
                             min_iter=min_iter, max_iter=max_iter, s=s)
    if min_iter is None:
        raise _fail("early_terminate", "hyperband needs min_iter, or max_iter and s")
    return HyperbandSpec(eta=eta, first_band=min_iter, last_band=None, min_iter=min_iter, s=s)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(where: str, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(where, f"must be a finite number; got {value!r}")
    return value
