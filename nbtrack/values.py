"""Turning what users pass to ``log`` and ``config`` into storable values.

The fast path in :meth:`nbtrack.Run.log` accepts plain ``float``/``int`` values by
type check alone; everything else comes here once per call.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from .errors import MetricValueError

__all__ = ["coerce_metrics", "coerce_step", "dumps", "jsonable"]

_HINT = (
    "metrics must be numbers (int, float, bool, a numpy scalar, or a one-element "
    "array/tensor; a larger numpy array or tensor becomes a histogram); None is stored as a "
    "missing value. For pictures, distributions, tables and text use nbtrack.Image, "
    "nbtrack.Histogram, nbtrack.Table and nbtrack.Text."
)


def _metric_value(key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return _to_float(key, value)
    item = getattr(value, "item", None)
    size = getattr(value, "size", None)
    if callable(size):  # torch.Tensor.size() is a method; numel() is the count
        size = value.numel() if hasattr(value, "numel") else None
    if callable(item) and (size is None or size == 1):
        try:
            inner = item()
        except Exception as exc:  # e.g. a tensor with many elements
            raise MetricValueError(
                f"nbtrack.log: metric {key!r} could not be read as a number ({exc}); {_HINT}"
            ) from None
        if isinstance(inner, (bool, int, float)):
            return _metric_value(key, inner)
    if hasattr(value, "__float__") and not isinstance(value, (str, bytes)):
        try:
            return _to_float(key, float(value))
        except (TypeError, ValueError):
            pass
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    raise MetricValueError(
        f"nbtrack.log: metric {key!r} has a value of type {type(value).__name__} ({shown}); {_HINT}"
    )


def _to_float(key: str, value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:
        # Storing inf would silently lose the value: say so instead.
        digits = len(str(abs(int(value))))
        raise MetricValueError(
            f"nbtrack.log: metric {key!r} is an integer of {digits} digits, beyond what a metric "
            "(a 64-bit float, at most about 1.8e308) can hold; log a number in range (e.g. "
            "math.log10 of it), or keep it exactly in the config or summary (run.summary[key] = value)"
        ) from None


def _check_key(key: Any) -> str:
    if type(key) is not str or not key:
        raise MetricValueError(
            f"nbtrack.log: metric names must be non-empty strings; got {key!r} "
            f"({type(key).__name__}). Use e.g. nbtrack.log({{'loss': 0.1}})."
        )
    return key


def coerce_metrics(data: Mapping[str, Any], prefix: str = "",
                   rich: list[tuple[str, Any]] | None = None) -> dict[str, float | None]:
    """Validate and convert one ``log`` call's values; nested dicts become ``a/b`` keys.

    With ``rich``, media values (:class:`nbtrack.Image` and friends) are moved there as
    ``(key, value)`` pairs instead of raising.

    Example
    -------
    >>> coerce_metrics({"train": {"loss": 1}, "ok": True})
    {'train/loss': 1.0, 'ok': 1.0}
    """
    if not isinstance(data, Mapping):
        raise MetricValueError(
            f"nbtrack.log expects a dict of metric names to numbers, e.g. "
            f"nbtrack.log({{'loss': 0.1}}) or nbtrack.log(loss=0.1); got {type(data).__name__}"
        )
    out: dict[str, float | None] = {}
    for key, value in data.items():
        name = prefix + _check_key(key)
        if isinstance(value, Mapping):
            out.update(coerce_metrics(value, name + "/", rich))
        elif rich is not None and not isinstance(value, (int, float)) and value is not None:
            from .rich_media import as_media

            media = as_media(value)
            if media is None and _is_array(value):
                from .rich_media import Histogram

                media = Histogram(value)  # W&B's rule: an array (or tensor) of values is a histogram
            if media is None:
                out[name] = _metric_value(name, value)
            else:
                rich.append((name, media))
        else:
            out[name] = _metric_value(name, value)
    return out


def _is_array(value: Any) -> bool:
    """A numpy array or torch tensor of more than one value (one value is a number)."""
    module = type(value).__module__
    if module == "numpy":
        return getattr(value, "ndim", 0) > 0 and int(getattr(value, "size", 0)) > 1
    if module.startswith("torch") and hasattr(value, "numel"):
        return int(value.numel()) > 1
    return False


def coerce_step(step: Any) -> int:
    """An explicit ``step=``: an integer (numpy integers too), never a bool or float."""
    if isinstance(step, bool):
        raise MetricValueError(f"nbtrack.log: step must be an integer; got {step!r}")
    index = getattr(step, "__index__", None)
    if index is None:
        if isinstance(step, float) and step.is_integer():
            return int(step)
        raise MetricValueError(
            f"nbtrack.log: step must be an integer; got {step!r} ({type(step).__name__})"
        )
    value = int(index())
    if not -(2**63) <= value <= 2**63 - 2:
        raise MetricValueError(f"nbtrack.log: step {value} is outside the 64-bit range")
    return value


def finite_float(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (not a number, NaN, inf).

    Example
    -------
    >>> finite_float("0.5"), finite_float(float("nan")), finite_float(None)
    (0.5, None, None)
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def jsonable(value: Any, _depth: int = 0) -> Any:
    """A JSON-ready copy of a config value; what JSON cannot hold becomes its ``repr``.

    Example
    -------
    >>> jsonable({"layers": (64, 32), "act": print})
    {'layers': [64, 32], 'act': '<built-in function print>'}
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return jsonable(value.item(), _depth)
    if _depth < 8 and isinstance(value, Mapping):
        return {str(k): jsonable(v, _depth + 1) for k, v in value.items()}
    if _depth < 8 and isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, _depth + 1) for v in value]
    text = repr(value)
    return text if len(text) <= 1000 else text[:997] + "..."


def dumps(value: Any) -> str:
    """JSON text for the store; NaN and inf are kept (Python's json reads them back)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=True)
