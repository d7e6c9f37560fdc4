"""The DuckDB store's SQL for importers: replacing an imported run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._views import reading, table

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

__all__ = ["ImportQueries"]


class ImportQueries:
    """Mixed into :class:`nbtrack.store.Store`; uses its ``read()``/``write()`` connections."""

    if TYPE_CHECKING:
        def read(self, timeout: float | None = None) -> AbstractContextManager[Any]: ...
        def write(self, timeout: float | None = None) -> AbstractContextManager[Any]: ...

    def run_exists(self, run_id: str) -> bool:
        """Whether the store holds run ``run_id`` (in the trash or not)."""
        # Through a reading session: a run saved moments ago may be in a pending segment only.
        with reading(self) as con:
            return con is not None and con.execute(
                f"SELECT 1 FROM {table(self, 'run_records')} WHERE id = ?", [run_id]).fetchone() is not None
