"""How nbtrack writes numbers, times and durations for people, and values as JSON.

The one Python home for the CLI, the report, the widgets, the sweeps and the server;
``labextension/src/format.ts`` is the one TypeScript home (the sidebar, and the widgets'
front-ends in ``labextension/src/widgets/``, which bundle it). Both are tested against the
same cases, ``tests/formatting_cases.json``, so a value reads the same in every view.

Rules
-----
* A number keeps ``digits`` significant digits (4 by default) and drops trailing zeros:
  ``0.1235``, ``12.35``, ``12346`` (digits before the point are never cut), ``3``.
  Below 0.001 or from 1e6 up it is written ``1.235e-5`` / ``1.235e6``. Integers below
  1e6 are written whole. Rounding is half away from zero on the exact binary value
  (JavaScript's ``toPrecision`` rule), so Python and TypeScript agree to the digit.
* Missing (``None``, pandas' ``NA``/``NaT``) is ``—``; not-a-number is ``NaN``;
  infinities are ``inf`` and ``-inf``.
* Sizes: ``12 B``, ``1.5 KB``.
* Durations: ``7 ms``, ``2.3 s``, ``1m 05s``, ``1h 02m``, ``2d 03h``.
* Times: ``2026-05-01 14:03:07`` (local time; ``utc=True`` gives UTC with `` UTC``).
* JSON (:func:`json_safe`, :func:`json_text`): strict JSON that any browser parses. The
  one NaN rule: a non-finite float becomes the text ``"NaN"``, ``"Infinity"`` or
  ``"-Infinity"``, which JavaScript's ``Number()`` and Python's ``float()`` read back;
  missing is ``null``; times are UTC ISO text with milliseconds and ``Z``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

__all__ = ["MISSING", "duration", "is_missing", "json_safe", "json_text", "number", "size", "timestamp",
           "value"]

#: What every view shows for a missing value.
MISSING = "—"
#: Significant digits of a number unless a caller asks for others.
DIGITS = 4
_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def is_missing(value: Any) -> bool:
    """``None``, NaN, pandas' ``NA`` and ``NaT``: a value that is not there."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return type(value).__name__ in ("NaTType", "NAType")


def _exponent(magnitude: Decimal, digits: int) -> int:
    """The power of ten of ``magnitude`` once rounded to ``digits`` significant digits."""
    rounded = magnitude.quantize(Decimal(1).scaleb(magnitude.adjusted() - digits + 1), ROUND_HALF_UP)
    return rounded.adjusted()


def _trim(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def number(value: Any, digits: int = DIGITS) -> str:
    """A number for people: ``digits`` significant digits that fit, one way for NaN and inf.

    Example
    -------
    >>> number(0.123456), number(12345.6), number(3.0), number(2.5e-7), number(float("nan"))
    ('0.1235', '12346', '3', '2.5e-7', 'NaN')
    """
    if isinstance(value, bool):
        return "True" if value else "False"
    if is_missing(value) and not isinstance(value, float):
        return MISSING
    if hasattr(value, "item") and not isinstance(value, (int, float)):
        value = value.item()  # numpy scalars
    x = float(value)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    if x.is_integer() and abs(x) < 1e6:
        return str(int(x))
    exact = Decimal(x)
    sign = "-" if x < 0 else ""
    magnitude = abs(exact)
    power = _exponent(magnitude, digits)
    if power < -3 or power >= 6:
        mantissa = (magnitude.scaleb(-magnitude.adjusted())
                    .quantize(Decimal(1).scaleb(1 - digits), ROUND_HALF_UP))
        if mantissa >= 10:  # 9.9996e-5 rounds up to 1.000e-4
            mantissa = (mantissa / 10).quantize(Decimal(1).scaleb(1 - digits), ROUND_HALF_UP)
        return f"{sign}{_trim(str(mantissa))}e{power}"
    places = max(0, digits - 1 - power)
    return sign + _trim(f"{magnitude.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP):f}")


def value(item: Any, digits: int = DIGITS, *, nan_missing: bool = False) -> str:
    """A config or summary value as short text: numbers by :func:`number`, lists as JSON.

    ``nan_missing`` is for cells of a runs frame, where pandas marks an absent value NaN.

    Example
    -------
    >>> value(0.30000000000000004), value([64, 32]), value(None), value("adam")
    ('0.3', '[64, 32]', '—', 'adam')
    """
    if hasattr(item, "tolist") and not isinstance(item, str):
        item = item.tolist()
    if is_missing(item) and (nan_missing or not isinstance(item, float)):
        return MISSING
    if isinstance(item, (bool, int, float)):
        return number(item, digits)
    if isinstance(item, (datetime, date)):
        return timestamp(item)
    if isinstance(item, (list, tuple, dict)):
        return _compound(item, digits)
    return str(item)


def _compound(item: Any, digits: int) -> str:
    """Lists and dicts as JSON-like text whose numbers read as :func:`number` writes them."""
    if isinstance(item, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)}: {_compound(v, digits)}"
                               for k, v in item.items()) + "}"
    if isinstance(item, (list, tuple)):
        return "[" + ", ".join(_compound(v, digits) for v in item) + "]"
    if item is None or isinstance(item, (bool, str)):
        return json.dumps(item, ensure_ascii=False)
    if isinstance(item, (int, float)):
        return number(item, digits)
    return json.dumps(str(item), ensure_ascii=False)


def duration(seconds: Any) -> str:
    """How long something took: ``7 ms``, ``2.3 s``, ``1m 05s``, ``1h 02m``, ``2d 03h``.

    Missing, negative and non-finite durations are ``—``.

    Example
    -------
    >>> duration(0.0073), duration(2.34), duration(65), duration(3725), duration(None)
    ('7 ms', '2.3 s', '1m 05s', '1h 02m', '—')
    """
    if hasattr(seconds, "total_seconds"):
        seconds = seconds.total_seconds()
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        try:
            seconds = float(seconds)
        except (TypeError, ValueError):
            return MISSING
    if not math.isfinite(seconds) or seconds < 0:
        return MISSING
    exact = Decimal(seconds)
    # Each unit rounds the exact value half up, as JavaScript's toFixed does.
    millis = exact.quantize(Decimal("0.001"), ROUND_HALF_UP)
    if millis < 1:
        return f"{int(millis * 1000)} ms"
    tenths = exact.quantize(Decimal("0.1"), ROUND_HALF_UP)
    if tenths < 60:
        return f"{tenths} s"
    whole = int(exact.quantize(Decimal(1), ROUND_HALF_UP))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


def size(count: Any) -> str:
    """Bytes as a short size: ``12 B``, ``1.5 KB``, ``3.0 GB``; ``—`` when unknown.

    Example
    -------
    >>> size(1536), size(12), size(None)
    ('1.5 KB', '12 B', '—')
    """
    try:
        amount = Decimal(float(count))
    except (TypeError, ValueError):
        return MISSING
    if not amount.is_finite() or amount < 0:
        return MISSING
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if amount < 1024 or unit == "TB":
            if unit == "B":
                return f"{amount.quantize(Decimal(1), ROUND_HALF_UP)} B"
            return f"{amount.quantize(Decimal('0.1'), ROUND_HALF_UP)} {unit}"
        amount /= 1024
    return MISSING


def _as_datetime(when: Any) -> datetime | None:
    if is_missing(when) or str(when) in ("NaT", "nan", "None", ""):
        return None
    if hasattr(when, "to_pydatetime"):
        when = when.to_pydatetime()
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(when, (int, float)):
        return datetime.fromtimestamp(when, timezone.utc)
    if not isinstance(when, datetime):
        return None
    # The store keeps naive UTC.
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def timestamp(when: Any, *, utc: bool = False) -> str:
    """A point in time to the second: local ``2026-05-01 16:03:07``, or UTC with ``utc=True``.

    Naive datetimes (the store's) are UTC; ISO text and epoch seconds are read too.

    Example
    -------
    >>> timestamp("2026-05-01T14:03:07.123456Z", utc=True)
    '2026-05-01 14:03:07 UTC'
    """
    moment = _as_datetime(when)
    if moment is None:
        return MISSING
    if utc:
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def json_safe(item: Any, _depth: int = 0) -> Any:
    """``item`` as strict-JSON-ready Python, by the module's one NaN rule.

    Non-finite floats become ``"NaN"``/``"Infinity"``/``"-Infinity"``; missing values
    ``None``; times UTC ISO text with milliseconds and ``Z``; numpy and pandas values
    plain Python; anything else its ``str``.

    Example
    -------
    >>> json_safe({"loss": float("nan"), "best": float("-inf"), "lr": 0.1})
    {'loss': 'NaN', 'best': '-Infinity', 'lr': 0.1}
    """
    if item is None or isinstance(item, (str, bool)):
        return item
    if isinstance(item, int):
        return int(item)
    if isinstance(item, float):
        return float(item) if math.isfinite(item) else _NON_FINITE[repr(float(item))]
    if isinstance(item, (datetime, date)) or hasattr(item, "to_pydatetime"):
        moment = _as_datetime(item)
        if moment is None:
            return None
        return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
    if _depth < 32 and isinstance(item, Mapping):
        return {str(k): json_safe(v, _depth + 1) for k, v in item.items()}
    if _depth < 32 and isinstance(item, (list, tuple, set, frozenset)):
        return [json_safe(v, _depth + 1) for v in item]
    if is_missing(item):
        return None
    if hasattr(item, "item") and getattr(item, "ndim", 0) == 0:  # numpy scalars
        return json_safe(item.item(), _depth)
    if hasattr(item, "tolist"):
        return json_safe(item.tolist(), _depth)
    return str(item)


def json_text(item: Any, **options: Any) -> str:
    """:func:`json_safe` as JSON text (``ensure_ascii=False``; ``indent`` and such pass through).

    Example
    -------
    >>> json_text([1, float("inf"), None])
    '[1, "Infinity", null]'
    """
    return json.dumps(json_safe(item), ensure_ascii=False, allow_nan=False, **options)
