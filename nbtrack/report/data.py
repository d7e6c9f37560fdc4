"""Compute steps of the report: pure functions over the runs DataFrame.

Each takes a frame from :func:`nbtrack.runs` (``config.<key>`` and
``summary.<metric>`` columns) and returns plain data, so other views can share them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import NbtrackError
from ..formatting import is_missing
from ..values import finite_float

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SYSTEM_PREFIX", "best_runs", "config_table", "guess_goal", "is_system", "parse_metric"]

SYSTEM_PREFIX = "system/"
_LOWER_IS_BETTER = ("loss", "err", "mse", "mae", "rmse", "perplexity", "ppl", "latency", "time", "wer",
                    "cer", "regret", "cost", "nll")
_HIGHER_IS_BETTER = ("acc", "f1", "auc", "precision", "recall", "score", "reward", "iou", "map", "bleu",
                     "rouge", "r2", "return", "throughput")


def is_system(key: str) -> bool:
    """Whether a metric key is a machine metric (CPU, RAM, GPU) rather than a training one."""
    return key.startswith(SYSTEM_PREFIX)


def guess_goal(metric: str) -> str:
    """``"maximize"`` for accuracy-like names, else ``"minimize"`` (losses, errors, unknown).

    Example
    -------
    >>> guess_goal("val/acc"), guess_goal("loss"), guess_goal("lr")
    ('maximize', 'minimize', 'minimize')
    """
    name = metric.lower()
    if any(word in name for word in _LOWER_IS_BETTER):
        return "minimize"
    return "maximize" if any(word in name for word in _HIGHER_IS_BETTER) else "minimize"


def parse_metric(text: str) -> tuple[str, str, bool]:
    """``"acc:max"`` -> ``("acc", "maximize", True)``; without a suffix the goal is guessed.

    The last item says whether the goal was given rather than guessed.
    """
    for suffix, goal in ((":max", "maximize"), (":min", "minimize")):
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)], goal, True
    return text, guess_goal(text), False


def config_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Compute: every config key of the runs, one column per run, and whether it differs.

    Returns a frame indexed by config key (without ``config.``) whose first column
    ``differs`` is True where the runs do not all hold the same value (a run lacking
    the key counts as a different value), followed by one column per run id, in the
    order of ``runs``, holding that run's value (None when it lacks the key). Which
    keys differ is :func:`nbtrack.diffing.config_diff`'s answer, so every view agrees.

    Example
    -------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": ["a", "b"], "name": ["a", "b"], "config.lr": [0.1, 0.2],
    ...                    "config.opt": ["sgd", "sgd"]})
    >>> table = config_table(df)
    >>> table["differs"].to_dict(), table.loc["lr", "b"]
    ({'lr': True, 'opt': False}, 0.2)
    """
    import pandas as pd

    from ..diffing import config_diff

    differing = set(config_diff(runs).columns)
    ids = [str(i) for i in runs["id"]]
    rows = []
    for column in (c for c in runs.columns if c.startswith("config.")):
        values = [None if is_missing(v) else _python(v) for v in runs[column]]
        rows.append([column.removeprefix("config."), column in differing, *values])
    frame = pd.DataFrame(rows, columns=["key", "differs", *ids]).set_index("key")
    frame["differs"] = frame["differs"].astype(bool)
    return frame


def _python(value: Any) -> Any:
    if hasattr(value, "tolist") and not isinstance(value, str):
        return value.tolist()
    return value


def best_runs(runs: pd.DataFrame, metrics: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """Compute: the best run per metric by its summary (final) value.

    ``metrics`` holds ``(key, goal)`` pairs, goal ``"minimize"`` or ``"maximize"``.
    Returns ``metric, goal, run_id, run, value, runs`` (how many runs report it); a
    metric no run reports gets None for the run.
    """
    import pandas as pd

    rows = []
    for key, goal in metrics:
        if goal not in ("minimize", "maximize"):
            raise NbtrackError(f"goal must be 'minimize' or 'maximize'; got {goal!r}")
        column = f"summary.{key}"
        best: tuple[float, str, str] | None = None
        count = 0
        if column in runs.columns:
            for run_id, name, raw in zip(runs["id"], runs["name"], runs[column]):
                value = finite_float(raw)
                if value is None:
                    continue
                count += 1
                if best is None or (value < best[0] if goal == "minimize" else value > best[0]):
                    best = (value, str(run_id), str(name))
        rows.append({"metric": key, "goal": goal, "run_id": best and best[1], "run": best and best[2],
                     "value": best and best[0], "runs": count})
    return pd.DataFrame(rows, columns=["metric", "goal", "run_id", "run", "value", "runs"])
