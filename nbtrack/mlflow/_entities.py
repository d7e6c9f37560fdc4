"""MLflow's shapes over nbtrack runs: ``Run.info``/``Run.data`` and the ``search_runs`` frame.

MLflow keeps tags as a key-value map; nbtrack keeps a list of text tags. A tag ``k``
with value ``v`` is the nbtrack tag ``k=v`` (as the MLflow importer writes them), so
both views show the same thing. ``mlflow.parentRunId`` is one such tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..errors import NbtrackError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Experiment", "Run", "RunData", "RunInfo", "mlflow_status", "param_text",
           "tag_dict", "tag_list"]

#: nbtrack status -> MLflow's (MLflow has no crashed or pruned: the nearest word).
_TO_MLFLOW = {"running": "RUNNING", "finished": "FINISHED", "failed": "FAILED",
              "interrupted": "KILLED", "crashed": "FAILED", "pruned": "KILLED"}
PARENT_TAG = "mlflow.parentRunId"


def mlflow_status(status: str) -> str:
    """MLflow's word for an nbtrack status (``crashed`` -> ``FAILED``, ``pruned`` -> ``KILLED``)."""
    return _TO_MLFLOW.get(status, status.upper())


def tag_dict(tags: Any) -> dict[str, str]:
    """nbtrack tags (``k=v`` or a bare ``k``) as MLflow's tag map."""
    out: dict[str, str] = {}
    for tag in tags or []:
        key, _, value = str(tag).partition("=")
        out[key] = value
    return out


def tag_list(tags: dict[str, str]) -> list[str]:
    """MLflow's tag map as nbtrack tags (``k=v``; an empty value keeps the bare key)."""
    return [f"{k}={v}" if v != "" else k for k, v in tags.items()]


def param_text(value: Any) -> str:
    """A param as MLflow stores it: text (``str(value)``)."""
    return value if isinstance(value, str) else str(value)


def millis(when: Any) -> int | None:
    """A naive-UTC datetime (or epoch seconds) as MLflow's epoch milliseconds."""
    if when is None:
        return None
    if isinstance(when, (int, float)):
        return int(when * 1000)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(when.timestamp() * 1000)


@dataclass
class RunInfo:
    """``run.info``: ``run_id``, ``run_name``, ``experiment_id``, ``status``, times in ms."""

    run_id: str
    run_name: str
    experiment_id: str
    status: str
    start_time: int | None
    end_time: int | None = None
    artifact_uri: str | None = None
    lifecycle_stage: str = "active"

    @property
    def run_uuid(self) -> str:
        return self.run_id


@dataclass
class RunData:
    """``run.data``: ``params`` (text, as MLflow), ``metrics`` (last value), ``tags``."""

    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Run:
    """What ``mlflow.get_run`` returns: ``info`` and ``data``."""

    info: RunInfo
    data: RunData


@dataclass
class Experiment:
    """An MLflow experiment is an nbtrack project: ``experiment_id`` and ``name`` are its name."""

    name: str
    artifact_location: str | None = None
    lifecycle_stage: str = "active"
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def experiment_id(self) -> str:
        return self.name


def flat_params(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flat_params(value, f"{name}."))
        else:
            out[name] = param_text(value)
    return out


def run_from_record(record: dict[str, Any]) -> Run:
    """An MLflow ``Run`` from an nbtrack run record (``nbtrack.run_record``)."""
    tags = tag_dict(record.get("tags"))
    tags.setdefault("mlflow.runName", record["name"])
    if record.get("notes"):
        tags.setdefault("mlflow.note.content", record["notes"])
    metrics = {k: float(v) for k, v in (record.get("summary") or {}).items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    info = RunInfo(run_id=record["id"], run_name=record["name"], experiment_id=record["project"],
                   status=mlflow_status(record["status"]), start_time=millis(record.get("created_at")),
                   end_time=millis(record.get("ended_at")))
    return Run(info, RunData(flat_params(record.get("config") or {}), metrics, tags))


# -- search_runs ---------------------------------------------------------------------

def search_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Runs from the store's ``select_runs`` as MLflow's ``search_runs`` frame: ``run_id,
    experiment_id, status, start_time, end_time``, then ``metrics.*`` (last values),
    ``params.*`` (text, as MLflow keeps them) and ``tags.*``."""
    import pandas as pd

    rows = []
    for record in records:
        row: dict[str, Any] = {
            "run_id": record["id"], "experiment_id": record["project"],
            "status": mlflow_status(record["status"]),
            "start_time": _utc(record.get("created_at")), "end_time": _utc(record.get("ended_at")),
        }
        summary = record.get("summary") or {}
        row.update({f"metrics.{k}": v for k, v in summary.items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool)})
        row.update({f"params.{k}": v for k, v in flat_params(record.get("config") or {}).items()})
        tags = tag_dict(record.get("tags"))
        tags.setdefault("mlflow.runName", record["name"])
        if record.get("notes"):
            tags.setdefault("mlflow.note.content", record["notes"])
        row.update({f"tags.{k}": v for k, v in tags.items()})
        rows.append(row)
    fixed = ["run_id", "experiment_id", "status", "start_time", "end_time"]
    extra = sorted({k for row in rows for k in row if k not in fixed},
                   key=lambda k: (("metrics", "params", "tags").index(k.split(".")[0]), k))
    out = pd.DataFrame.from_records(rows, columns=fixed + extra)
    for column in ("start_time", "end_time"):
        out[column] = pd.to_datetime(out[column], utc=True)
    return out


def _utc(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


_CLAUSE = re.compile(
    r"""\s*(?P<key>(?:`[^`]+`|"[^"]+"|[\w.\-]+)(?:\.(?:`[^`]+`|"[^"]+"|[\w.\-]+))*)\s*
        (?P<op>!=|<=|>=|=|<|>|\bNOT\s+ILIKE\b|\bNOT\s+LIKE\b|\bILIKE\b|\bLIKE\b|\bNOT\s+IN\b|\bIN\b)\s*
        (?P<value>'(?:[^']|'')*'|"[^"]*"|\([^)]*\)|[-+0-9.eE]+)\s*""", re.X | re.I)
_ATTRIBUTES = {"status": "status", "run_id": "run_id", "run_name": "tags.mlflow.runName",
               "start_time": "start_time", "end_time": "end_time", "experiment_id": "experiment_id"}


def filter_frame(frame: pd.DataFrame, text: str) -> pd.DataFrame:
    """Keep the rows of a ``search_runs`` frame that match an MLflow ``filter_string``.

    Clauses joined by ``AND``: ``metrics.x > 0.5``, ``params.model = 'tree'``,
    ``tags.team LIKE 'a%'``, ``attributes.status = 'FINISHED'``, ``run_name IN ('a', 'b')``.
    """
    import pandas as pd

    mask = pd.Series(True, index=frame.index)
    for clause in re.split(r"\s+AND\s+", text.strip(), flags=re.I):
        match = _CLAUSE.fullmatch(clause)
        if match is None:
            raise NbtrackError(
                f"search_runs: cannot read the filter clause {clause!r}; nbtrack.mlflow reads clauses "
                "like metrics.x > 0.5, params.model = 'tree', tags.k LIKE 'a%', "
                "attributes.status = 'FINISHED', joined by AND (no OR). For anything else, filter the "
                "returned DataFrame, or use nbtrack.runs() / nbtrack.sql()")
        column = _column(match.group("key"))
        op = " ".join(match.group("op").upper().split())
        mask &= _compare(frame, column, op, match.group("value"))
    return frame[mask]


def _column(key: str) -> str:
    parts = re.findall(r"`[^`]+`|\"[^\"]+\"|[^.]+", key)
    parts = [p.strip("`\"") for p in parts]
    head, rest = parts[0].lower(), ".".join(parts[1:])
    if head in ("metric", "metrics"):
        return f"metrics.{rest}"
    if head in ("param", "params", "parameter", "parameters"):
        return f"params.{rest}"
    if head in ("tag", "tags"):
        return f"tags.{rest}"
    name = rest if head in ("attribute", "attributes", "attr", "run") else ".".join(parts)
    if name not in _ATTRIBUTES:
        raise NbtrackError(f"search_runs: unknown attribute {name!r}; use one of "
                           f"{', '.join(sorted(_ATTRIBUTES))}, or metrics./params./tags.<key>")
    return _ATTRIBUTES[name]


def _literal(text: str) -> Any:
    if text[0] in "'\"":
        return text[1:-1].replace("''", "'")
    return float(text)


def _compare(frame: pd.DataFrame, column: str, op: str, raw: str) -> Any:
    import pandas as pd

    if column not in frame.columns:
        return pd.Series(False, index=frame.index)  # MLflow: a run without the key never matches
    values = frame[column]
    if op in ("IN", "NOT IN"):
        items = [_literal(p.strip()) for p in raw.strip("()").split(",") if p.strip()]
        hit = values.isin(items)
        return hit if op == "IN" else (~hit & values.notna())
    value = _literal(raw)
    if "LIKE" in op:
        pattern = "^" + re.escape(str(value)).replace("%", ".*").replace("_", ".") + "$"
        flags = re.I if "ILIKE" in op else 0
        hit = values.astype("string").str.match(pattern, flags=flags).fillna(False).astype(bool)
        return ~hit & values.notna() if op.startswith("NOT") else hit
    if column in ("start_time", "end_time") and isinstance(value, float):
        value = pd.Timestamp(int(value), unit="ms", tz="UTC")
    if column.startswith("params.") or column.startswith("tags.") or isinstance(value, str):
        values, value = values.astype("string"), str(value) if not isinstance(value, str) else value
    result = {"=": values == value, "!=": values != value, "<": values < value, "<=": values <= value,
              ">": values > value, ">=": values >= value}[op]
    return result.fillna(False).astype(bool) & values.notna()


def order_frame(frame: pd.DataFrame, order_by: Any) -> pd.DataFrame:
    """Sort by MLflow ``order_by`` entries (``"metrics.rmse ASC"``); default newest first."""
    columns, ascending = [], []
    for entry in order_by or ["attributes.start_time DESC"]:
        words = str(entry).split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC")):
            raise NbtrackError(f"search_runs: order_by entries look like 'metrics.rmse ASC'; got {entry!r}")
        column = _column(words[0])
        if column not in frame.columns:
            continue
        columns.append(column)
        ascending.append(len(words) == 1 or words[1].upper() == "ASC")
    if not columns:
        return frame
    return frame.sort_values(columns, ascending=ascending, na_position="last", kind="stable")
