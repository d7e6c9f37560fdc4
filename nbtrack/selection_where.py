"""The ``where`` language: a small, safe filter over runs (``--where``, ``Selection.where``).

The expression is parsed with Python's own parser and then *interpreted* here over
an allow-list of node types; nothing is ever evaluated, so an expression can read
run columns and compare them with literals, and do nothing else.

Supported::

    config.lr > 0.01                     comparisons: == != < <= > >=, chained (0.1 < config.lr <= 1)
    status == "finished" and not summary.loss > 1      and, or, not, parentheses
    status in ["finished", "crashed"]    in / not in a list of literals
    "cnn" in tags                        membership in a list column (tags)
    config["batch-size"] >= 64           keys that are not identifiers
    summary.acc == None                  missing values (comparisons with them are false)
    created_at >= "2024-05-01"           times compare with ISO dates (UTC)
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .errors import NbtrackError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SYNTAX", "filter_records", "filter_runs", "predicate"]

SYNTAX = (
    "comparisons (== != < <= > >=) of run columns (config.lr, summary.loss, status, name, project, "
    "tags, duration, created_at; config[\"odd-key\"]) with numbers, 'strings', True/False/None "
    "or [lists], joined with and/or/not and parentheses; e.g. \"config.lr > 0.01 and status == "
    "'finished'\""
)
MAX_LENGTH = 2000

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
}


class _Column:
    """A reference to a column of the runs DataFrame."""

    def __init__(self, name: str) -> None:
        self.name = name


def filter_runs(runs: pd.DataFrame, expression: str) -> pd.DataFrame:
    """Compute: the rows of ``runs`` (from :func:`nbtrack.runs`) for which ``expression`` holds.

    Example
    -------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": ["a", "b"], "status": ["finished", "failed"],
    ...                    "config.lr": [0.1, 0.001]})
    >>> filter_runs(df, "config.lr > 0.01 and status == 'finished'")["id"].tolist()
    ['a']
    """
    holds = predicate(expression, set(runs.columns))
    keep = [holds(row) for row in runs.to_dict("records")]
    return runs[keep] if len(runs) else runs


def filter_records(records: list[dict[str, Any]], expression: str,
                   columns: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Compute: the flat run records (one :func:`nbtrack.runs` row each) for which ``expression`` holds.

    ``columns`` are the names the expression may use (default: every key of every record).

    Example
    -------
    >>> rows = [{"id": "a", "config.lr": 0.1}, {"id": "b", "config.lr": 0.001}]
    >>> [r["id"] for r in filter_records(rows, "config.lr > 0.01")]
    ['a']
    """
    known = set(columns) if columns is not None else {k for r in records for k in r}
    holds = predicate(expression, known)
    return [row for row in records if holds(row)]


def predicate(expression: str, columns: set[str]) -> Callable[[dict[str, Any]], bool]:
    """Check ``expression`` once against the known ``columns``; a test for one flat run record.

    Raises :class:`NbtrackError` for an expression outside the language or naming an
    unknown column.
    """
    tree = _parse(expression)
    checked = _check(tree.body, expression, columns)
    return lambda row: bool(_truth(_evaluate(checked, row)))


def _fail(expression: str, why: str) -> NbtrackError:
    return NbtrackError(f"cannot use the where expression {expression!r}: {why}. Supported: {SYNTAX}")


def _parse(expression: str) -> ast.Expression:
    if not expression.strip():
        raise _fail(expression, "it is empty")
    if len(expression) > MAX_LENGTH:
        raise _fail(expression[:60] + "...", f"it is longer than {MAX_LENGTH} characters")
    try:
        return ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        reason = getattr(exc, "msg", None) or type(exc).__name__
        raise _fail(expression, f"not a valid expression ({reason})") from None


def _column_name(node: ast.expr) -> str | None:
    """``config.lr`` -> "config.lr"; ``config["a-b"]`` -> "config.a-b"; else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _column_name(node.value)
        return None if base is None else f"{base}.{node.attr}"
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        base = _column_name(node.value)
        key = node.slice.value
        return None if base is None or not isinstance(key, str) else f"{base}.{key}"
    return None


def _check(node: ast.expr, expression: str, columns: set[str]) -> Any:
    """Turn the syntax tree into nested tuples over an allow-list; reject the rest."""
    if isinstance(node, ast.BoolOp):
        joiner = "and" if isinstance(node.op, ast.And) else "or"
        return (joiner, [_check(v, expression, columns) for v in node.values])
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return ("not", _check(node.operand, expression, columns))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _check(node.operand, expression, columns)
        if isinstance(inner, (int, float)) and not isinstance(inner, bool):
            return -inner
    if isinstance(node, ast.Compare):
        ops = [type(op) for op in node.ops]
        for kind in ops:
            if kind not in _COMPARE and kind not in (ast.In, ast.NotIn):
                raise _fail(expression, f"the operator {kind.__name__} is not supported")
        operands = [_check(n, expression, columns) for n in [node.left, *node.comparators]]
        return ("compare", ops, operands)
    literal = (bool, int, float, str)
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, literal)):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_check(e, expression, columns) for e in node.elts]
        if any(isinstance(i, (tuple, _Column)) for i in items):
            raise _fail(expression, "lists may only hold literal values")
        return list(items)
    name = _column_name(node)
    if name is not None:
        if name not in columns:
            known = ", ".join(sorted(c for c in columns if c != "notes"))
            raise _fail(expression, f"no selected run has the column {name!r} (columns: {known})")
        return _Column(name)
    raise _fail(expression, f"{ast.unparse(node)!r} is not a column, a literal or a comparison")


def _evaluate(node: Any, row: dict[str, Any]) -> Any:
    if isinstance(node, _Column):
        return _plain(row.get(node.name))
    if isinstance(node, tuple):
        kind = node[0]
        if kind == "and":
            return all(_truth(_evaluate(v, row)) for v in node[1])
        if kind == "or":
            return any(_truth(_evaluate(v, row)) for v in node[1])
        if kind == "not":
            return not _truth(_evaluate(node[1], row))
        values = [_evaluate(v, row) for v in node[2]]
        return all(_compare(op, a, b) for op, a, b in zip(node[1], values, values[1:]))
    return node


def _plain(value: Any) -> Any:
    """DataFrame cells as plain Python: numpy scalars unwrapped, NaN and NaT as None."""
    if hasattr(value, "to_pydatetime"):
        return None if str(value) == "NaT" else value.to_pydatetime()
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _truth(value: Any) -> bool:
    return value is not None and bool(value)


def _compare(op: type[ast.cmpop], left: Any, right: Any) -> bool:
    if op in (ast.In, ast.NotIn):
        found = isinstance(right, (list, tuple, str)) and _member(left, right)
        return found if op is ast.In else (isinstance(right, (list, tuple, str)) and not found)
    if left is None or right is None:
        # Missing values: only `== None` and `!= None` say anything about them.
        if op is ast.Eq:
            return left is None and right is None
        if op is ast.NotEq:
            return (left is None) != (right is None)
        return False
    left, right = _as_time(left, right), _as_time(right, left)
    try:
        return bool(_COMPARE[op](left, right))
    except TypeError:  # "abc" < 3: no order between them, so the run does not match
        return False


def _member(item: Any, container: Any) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    return any(item == element for element in container)


def _as_time(value: Any, other: Any) -> Any:
    """An ISO date string compared with a time becomes a time."""
    if isinstance(value, str) and isinstance(other, datetime):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return parsed if parsed.tzinfo is None else parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return value
