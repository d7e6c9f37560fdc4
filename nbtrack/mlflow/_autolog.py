"""``mlflow.autolog()``: switch on nbtrack's framework integrations without changing the training code.

Each installed framework gets its nbtrack integration added where the user's code
would otherwise have to pass it: the Lightning ``Trainer`` gets an ``NbtrackLogger``,
the transformers ``Trainer`` and Keras ``Model.fit`` an ``NbtrackCallback``, and every
scikit-learn estimator's ``fit`` records its params (and its training score) in a run.
Plain PyTorch has nothing to hook: ``nbtrack.integrations.torch.watch(model)`` is the way.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
import threading
from collections.abc import Callable
from typing import Any

from ..errors import NbtrackError, warn_once

__all__ = ["autolog"]

#: (owner object, attribute) -> the original function, for ``autolog(disable=True)``.
_patched: dict[tuple[Any, str], Any] = {}
_INHERITED = object()  # patched on a class that only inherited the method
_options: dict[str, Any] = {"log_models": False}
_depth = threading.local()  # sklearn: only the outermost fit of a Pipeline or a search logs
FLAVOURS = ("sklearn", "lightning", "transformers", "keras", "torch")
_MODULES = {"sklearn": "sklearn", "lightning": "lightning", "transformers": "transformers",
            "keras": "keras", "torch": "torch"}


def autolog(log_models: bool = True, disable: bool = False, exclusive: bool = False,
            silent: bool = False, exclude_flavors: Any = None, **_ignored: Any) -> dict[str, str]:
    """Switch on nbtrack's integration for each installed framework; return what was done.

    The result maps each framework to ``"enabled"`` or to why it was not (not
    installed, nothing to hook); the same is printed as one line unless ``silent``.
    With ``log_models`` (MLflow's default) each integration stores the trained model as
    a ``"model"`` artifact: Lightning's kept checkpoints, Keras' ``model.keras``, the
    transformers model at train end, scikit-learn's pickled estimator.

    Example
    -------
    >>> mlflow.autolog()  # doctest: +SKIP
    nbtrack.mlflow.autolog: sklearn enabled, lightning enabled, keras not installed, ...
    """
    unknown = set(_ignored) - {"log_input_examples", "log_model_signatures", "log_datasets",
                               "disable_for_unsupported_versions", "extra_tags", "log_traces"}
    if unknown:
        raise NbtrackError(f"autolog() got unknown argument(s): {', '.join(sorted(unknown))}")
    if _ignored.get("log_input_examples"):
        raise NbtrackError("autolog(log_input_examples=True): nbtrack logs no input examples; log one with "
                           "mlflow.log_table(...) or nbtrack.log({'examples': nbtrack.Table(dataframe=df)})")
    if _ignored.get("extra_tags"):
        raise NbtrackError("autolog(extra_tags=...): nbtrack's integrations tag nothing; start the run "
                           "yourself with mlflow.start_run(tags=...) and fit inside it")
    if exclusive:
        raise NbtrackError("autolog(exclusive=True): nbtrack's integrations log only to nbtrack; drop it")
    excluded = set([exclude_flavors] if isinstance(exclude_flavors, str) else exclude_flavors or ())
    _options["log_models"] = bool(log_models)
    if disable:
        for (owner, attribute), original in list(_patched.items()):
            if original is _INHERITED:
                delattr(owner, attribute)  # the inherited method shows through again
            else:
                setattr(owner, attribute, original)
        _patched.clear()
        report = {name: "disabled" for name in FLAVOURS if name not in excluded}
    else:
        report = {name: _enable(name) for name in FLAVOURS if name not in excluded}
    if not silent:
        print("nbtrack.mlflow.autolog: " + ", ".join(f"{k} {v}" for k, v in report.items())
              + " (model signatures, datasets and traces are not logged)", file=sys.stderr)
    return report


def _enable(name: str) -> str:
    if name == "torch":
        return ("has nothing to hook: call nbtrack.integrations.torch.watch(model) "
                "(Lightning is hooked separately)")
    if not _installed(_MODULES[name]):
        return "not installed"
    try:
        importlib.import_module(_MODULES[name])
    except Exception as exc:  # e.g. Keras 3 without its backend
        return f"is installed but does not import ({type(exc).__name__}: {exc})"
    try:
        _HOOKS[name]()
    except Exception as exc:  # a framework version we cannot hook: say so, never half-hook silently
        return f"could not be hooked ({type(exc).__name__}: {exc})"
    return "enabled"


def _installed(module: str) -> bool:
    if sys.modules.get(module) is not None:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: blocked with sys.modules[module] = None
        return False


def _patch(owner: Any, attribute: str, make: Callable[[Any], Any]) -> None:
    if (owner, attribute) in _patched:
        return
    if attribute in owner.__dict__:
        original = owner.__dict__[attribute]
        _patched[(owner, attribute)] = original
    else:  # inherited, e.g. Keras 3's Model.fit lives on its backend's Trainer class
        original = getattr(owner, attribute)
        _patched[(owner, attribute)] = _INHERITED
    setattr(owner, attribute, make(original))


# -- Lightning -------------------------------------------------------------------------------

def _lightning() -> None:
    trainer = importlib.import_module("lightning.pytorch").Trainer
    _patch(trainer, "__init__", _lightning_init)


def _lightning_init(original: Any) -> Any:
    @functools.wraps(original)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        from ..integrations.lightning import NbtrackLogger

        logger = kwargs.get("logger", True)
        if logger is not False:
            ours = NbtrackLogger(log_model=True) if _options["log_models"] else NbtrackLogger()
            if logger in (True, None):
                kwargs["logger"] = ours
            else:
                loggers = list(logger) if isinstance(logger, (list, tuple)) else [logger]
                if not any(isinstance(item, NbtrackLogger) for item in loggers):
                    kwargs["logger"] = [*loggers, ours]
        original(self, *args, **kwargs)

    return init


# -- transformers and Keras: a callback added to what the user passed ---------------------

def _add_callback(kwargs: dict[str, Any], kind: type, make: Callable[[], Any]) -> None:
    """Add ``make()`` to the ``callbacks`` the user passed, unless one of ``kind`` (an
    instance, or for transformers the class itself) is there already."""
    callbacks = list(kwargs.get("callbacks") or [])
    if not any(isinstance(c, kind) or c is kind for c in callbacks):
        kwargs["callbacks"] = [*callbacks, make()]


def _transformers() -> None:
    trainer = importlib.import_module("transformers").Trainer
    _patch(trainer, "__init__", _transformers_init)


def _transformers_init(original: Any) -> Any:
    @functools.wraps(original)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        from ..integrations.huggingface import NbtrackCallback

        _add_callback(kwargs, NbtrackCallback,
                      lambda: NbtrackCallback(log_model="end" if _options["log_models"] else False))
        original(self, *args, **kwargs)

    return init


def _keras() -> None:
    model = importlib.import_module("keras").Model
    _patch(model, "fit", _keras_fit)


def _keras_fit(original: Any) -> Any:
    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        from ..integrations.keras import NbtrackCallback

        _add_callback(kwargs, NbtrackCallback,
                      lambda: NbtrackCallback(log_model=bool(_options["log_models"])))
        return original(self, *args, **kwargs)

    return fit


# -- scikit-learn: every estimator's fit -----------------------------------------------------

def _sklearn() -> None:
    from sklearn.utils import all_estimators

    for _, cls in all_estimators():
        if "fit" in cls.__dict__:
            _patch(cls, "fit", _sklearn_fit)


def _sklearn_fit(original: Any) -> Any:
    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        depth = getattr(_depth, "value", 0)
        _depth.value = depth + 1
        try:
            if depth:
                return original(self, *args, **kwargs)
            return _fit_logged(original, self, args, kwargs)
        finally:
            _depth.value = depth

    return fit


def _fit_logged(original: Any, estimator: Any, args: Any, kwargs: Any) -> Any:
    from .. import _run
    from ..integrations.sklearn import log_estimator

    active = _run.active_run()
    own = active is None or active.status != "running"
    run: Any = _run.init(type(estimator).__name__) if own else active
    try:
        fitted = original(estimator, *args, **kwargs)
    except BaseException:
        if own:
            run.finish("failed")
        raise
    try:
        log_estimator(estimator, run=run, log_model=bool(_options["log_models"]))
        X = args[0] if args else kwargs.get("X")
        y = args[1] if len(args) > 1 else kwargs.get("y")
        if X is not None and y is not None and hasattr(estimator, "score"):
            run.log({"training_score": float(estimator.score(X, y))})
    except Exception as exc:
        warn_once("autolog-sklearn", f"nbtrack.mlflow.autolog could not record {type(estimator).__name__} "
                  f"({exc!r}); training goes on")
    if own:
        run.finish()
    return fitted


_HOOKS: dict[str, Callable[[], None]] = {"sklearn": _sklearn, "lightning": _lightning,
                                         "transformers": _transformers, "keras": _keras}
