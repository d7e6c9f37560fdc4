"""What differs between two runs: config, summary, cell source and environment."""

from __future__ import annotations

import difflib
import html
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RunDiff", "diff", "config_diff"]

_MISSING = "—"


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _flat(f"{prefix}{key}.", inner, out)
    else:
        out[prefix[:-1]] = value


def flatten(mapping: dict[str, Any]) -> dict[str, Any]:
    """Nested dicts as dotted keys: ``{"opt": {"lr": 1}}`` -> ``{"opt.lr": 1}``."""
    out: dict[str, Any] = {}
    if mapping:  # an empty config has no keys (not one key "" holding {})
        _flat("", mapping, out)
    return out


def _same(a: Any, b: Any) -> bool:
    # NaN equals NaN here: an unchanged diverged value is not a difference. True and 1
    # differ (a flag is not a count); 1 and 1.0 do not.
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return bool(a == b)


def _table(a: dict[str, Any], b: dict[str, Any], names: tuple[str, str]) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, _MISSING), b.get(key, _MISSING)
        if not _same(va, vb):
            rows.append({"key": key, names[0]: va, names[1]: vb})
    return pd.DataFrame(rows, columns=["key", *names])


@dataclass
class RunDiff:
    """Differences between run ``a`` and run ``b``; each table lists only what differs."""

    a: dict[str, Any]
    b: dict[str, Any]
    config: pd.DataFrame
    summary: pd.DataFrame
    environment: pd.DataFrame
    source: str

    @property
    def identical_config(self) -> bool:
        return bool(self.config.empty)

    def __repr__(self) -> str:
        parts = [f"diff {self.a['name']!r} ({self.a['id']}) -> {self.b['name']!r} ({self.b['id']})"]
        for title, table in (("config", self.config), ("summary", self.summary),
                             ("environment", self.environment)):
            parts.append(f"-- {title}: " + ("same" if table.empty else "\n" + table.to_string(index=False)))
        parts.append("-- source: " + ("same" if not self.source else "\n" + self.source))
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        esc = html.escape
        out = [f"<h4>{esc(self.a['name'])} → {esc(self.b['name'])}</h4>"]
        for title, table in (("config", self.config), ("summary", self.summary),
                             ("environment", self.environment)):
            out.append(f"<h5>{title}</h5>")
            out.append("<p>same</p>" if table.empty else table.to_html(index=False, escape=True))
        out.append("<h5>source</h5>")
        out.append(f"<pre>{esc(self.source) if self.source else 'same'}</pre>")
        return "".join(out)


def _environment(record: dict[str, Any]) -> dict[str, Any]:
    env = record.get("environment") or {}
    out = {"python": env.get("python"), "git.commit": record.get("git_commit"),
           "git.dirty": record.get("git_dirty"), "hostname": record.get("hostname")}
    for name, version in (env.get("packages") or {}).items():
        out[f"package.{name}"] = version
    return out


def diff(run_a: Any, run_b: Any, *, store: Any = None) -> RunDiff:
    """Compare two runs (ids, names or Run objects): config, summary, code and environment.

    Example
    -------
    >>> d = nbtrack.diff("baseline", "high-lr")  # doctest: +SKIP
    >>> d.config                                  # doctest: +SKIP
         key  baseline  high-lr
    0     lr       0.1      0.5
    >>> print(d.source)                           # doctest: +SKIP
    """
    from .query import run_record

    a = run_record(getattr(run_a, "id", run_a), store=store)
    b = run_record(getattr(run_b, "id", run_b), store=store)
    names = (a["name"], b["name"]) if a["name"] != b["name"] else (f"a ({a['id']})", f"b ({b['id']})")
    source = "".join(difflib.unified_diff(
        (a.get("source") or "").splitlines(keepends=True),
        (b.get("source") or "").splitlines(keepends=True),
        fromfile=f"{a['name']} ({a['id']})", tofile=f"{b['name']} ({b['id']})",
    ))
    return RunDiff(
        a=a, b=b,
        config=_table(flatten(a["config"]), flatten(b["config"]), names),
        summary=_table(a["summary"], b["summary"], names),
        environment=_table(_environment(a), _environment(b), names),
        source=source,
    )


def config_diff(runs: pd.DataFrame) -> pd.DataFrame:
    """The ``config.*`` columns of a runs() frame that differ between its rows.

    Returns ``name`` (and ``id``) plus only the config columns whose values are not
    all the same, which is what a config diff table shows.
    """
    keep = []
    for column in runs.columns:
        if not column.startswith("config."):
            continue
        values = [repr(v) for v in runs[column]]
        if len(set(values)) > 1:
            keep.append(column)
    return runs[["id", "name", *keep]].reset_index(drop=True)
