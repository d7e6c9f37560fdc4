"""The DuckDB store's SQL for importers and sync: whether a run is here, a run exported whole."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import NbtrackError
from ._views import reading, table

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from .journal import Segment

__all__ = ["ImportQueries"]


class ImportQueries:
    """Mixed into :class:`nbtrack.store.Store`; uses its ``read()``/``write()`` connections."""

    if TYPE_CHECKING:
        def read(self, timeout: float | None = None) -> AbstractContextManager[Any]: ...
        def write(self, timeout: float | None = None) -> AbstractContextManager[Any]: ...

        @property
        def location(self) -> str: ...

    def run_exists(self, run_id: str) -> bool:
        """Whether the store holds run ``run_id`` (in the trash or not)."""
        # Through a reading session: a run saved moments ago may be in a pending segment only.
        with reading(self) as con:
            return con is not None and con.execute(
                f"SELECT 1 FROM {table(self, 'run_records')} WHERE id = ?", [run_id]).fetchone() is not None

    def export_run(self, run_id: str) -> Segment:
        """Everything stored of one run as a segment another store can save (``nbtrack sync``)."""
        from ._export import run_segment
        from ._fold import MEDIA_COLUMNS, RUN_COLUMNS

        with reading(self) as con:
            row = None if con is None else con.execute(
                f"SELECT {', '.join(RUN_COLUMNS)} FROM {table(self, 'run_records')} WHERE id = ?",
                [run_id]).fetchone()
            if con is None or row is None:
                raise NbtrackError(f"no run with id {run_id!r} in {self.location}")
            record = dict(zip(RUN_COLUMNS, row))
            points = con.execute(
                "SELECT key, step, value, value IS NULL AS missing, epoch_us(time) AS time_us "
                f"FROM {table(self, 'metric_points')} WHERE run_id = ? ORDER BY time, step", [run_id]).df()
            columns = ", ".join("epoch_us(time) / 1e6" if c == "time" else c for c in MEDIA_COLUMNS)
            media = [list(r) for r in con.execute(
                f"SELECT {columns} FROM {table(self, 'media_points')} WHERE run_id = ? "
                "ORDER BY time, key, step, idx", [run_id]).fetchall()]
        return run_segment(record, points, media)

    def run_sizes(self, ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """How many points and media values each of these runs holds (``nbtrack sync``)."""
        sizes: dict[str, list[int]] = {}
        with reading(self) as con:
            if con is None or not ids:
                return {}
            for slot, name in ((0, "metric_points"), (1, "media_points")):
                for run_id, n in con.execute(
                        f"SELECT run_id, count(*) FROM {table(self, name)} WHERE list_contains(?, run_id) "
                        "GROUP BY run_id", [list(ids)]).fetchall():
                    sizes.setdefault(run_id, [0, 0])[slot] = int(n)
        return {run_id: (points, media) for run_id, (points, media) in sizes.items()}
