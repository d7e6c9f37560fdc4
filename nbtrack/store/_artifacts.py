"""The DuckDB store's SQL for artifact versions, aliases and lineage."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import NbtrackError
from .schema import utcnow

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    import pandas as pd

__all__ = ["ArtifactQueries"]

_VERSION_COLUMNS = ("name, version, type, digest, size, metadata, description, aliases, created_at, "
                    "created_by, manifest, source")
_SELECT = f"SELECT {_VERSION_COLUMNS} FROM artifact_versions"
# The listing and lineage are standard SQL over the documented views, typed placeholders
# included: the PostgreSQL store runs the same text through its query().

_LISTING = """
SELECT a.name, a.version, 'v' || a.version AS ref, a.type, a.size, a.file_count AS files,
       a.digest, a.aliases, a.source, a.created_at, a.created_by AS run_id, r.name AS run_name,
       (SELECT count(DISTINCT l.run_id) FROM artifact_lineage l WHERE l.name = a.name
          AND l.version = a.version AND l.role = 'input') AS used_by_runs
FROM artifacts a LEFT JOIN runs r ON r.id = a.created_by
WHERE ($name::text IS NULL OR a.name = $name) AND ($type::text IS NULL OR a.type = $type)
ORDER BY a.name, a.version
"""

_LINEAGE = """
SELECT l.name, l.version, l.name || ':v' || l.version AS ref, a.type, l.role, l.run_id,
       r.name AS run_name, r.status AS run_status, l.time
FROM artifact_lineage l JOIN artifacts a ON a.name = l.name AND a.version = l.version
LEFT JOIN runs r ON r.id = l.run_id
WHERE ($name::text IS NULL OR l.name = $name) AND ($version::int IS NULL OR l.version = $version)
  AND ($run::text IS NULL OR l.run_id = $run)
ORDER BY l.name, l.version, l.role DESC, l.time
"""


class ArtifactQueries:
    """Mixed into :class:`nbtrack.store.Store`; uses its ``read()``/``write()`` connections."""

    if TYPE_CHECKING:
        def read(self, timeout: float | None = None) -> AbstractContextManager[Any]: ...
        def write(self, timeout: float | None = None) -> AbstractContextManager[Any]: ...
        def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame: ...

    def register_artifact_version(
        self, name: str, *, type: str, digest: str, files: list[dict[str, Any]], metadata: dict[str, Any],
        description: str | None, aliases: Sequence[str], reference: bool, project: str,
        run_id: str | None,
    ) -> tuple[int, bool]:
        """Record a version of artifact ``name`` in one transaction; returns ``(version, is_new)``.

        The version that holds ``digest`` already is reused; otherwise the next number
        is added. ``aliases`` move to it from any other version, and ``run_id`` (if
        any) is linked as the run that logged it.

        Example
        -------
        >>> store.register_artifact_version("model.pt", type="model", digest=d, files=entries,
        ...     metadata={}, description=None, aliases=["best"], reference=False,
        ...     project="mnist", run_id=run.id)  # doctest: +SKIP
        (0, True)
        """
        with self.write() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                _check_type(con, name, type)
                row = con.execute("SELECT version FROM artifact_versions WHERE name = ? AND digest = ?",
                                  [name, digest]).fetchone()
                if row is None:
                    version = _insert_version(con, name, type, digest, files, metadata, description,
                                              reference, project, run_id)
                else:
                    version = row[0]
                _move_aliases(con, name, version, aliases)
                if run_id is not None:
                    _link(con, run_id, name, version, "output")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return version, row is None

    def find_artifact_version(self, name: str, *, version: int | None = None,
                              alias: str | None = None) -> dict[str, Any] | None:
        """One version of an artifact: by number, by alias, or the latest; None if absent.

        Returns ``name, version, type, digest, size, metadata, description, aliases,
        created_at, created_by, files, reference``.
        """
        if version is not None:
            where, params = " WHERE name = ? AND version = ?", [name, version]
        elif alias is not None:
            where, params = " WHERE name = ? AND list_contains(aliases, ?)", [name, alias]
        else:
            where, params = " WHERE name = ? ORDER BY version DESC LIMIT 1", [name]
        with self.read() as con:
            row = None if con is None else con.execute(_SELECT + where, params).fetchone()
        return None if row is None else _version_dict(row)

    def artifact_version_numbers(self, name: str) -> list[int]:
        """The version numbers of artifact ``name``, in order."""
        with self.read() as con:
            if con is None:
                return []
            return [v for (v,) in con.execute(
                "SELECT version FROM artifact_versions WHERE name = ? ORDER BY version", [name]).fetchall()]

    def artifact_exists(self, name: str) -> bool:
        """Whether any version of artifact ``name`` was logged."""
        with self.read() as con:
            return con is not None and con.execute(
                "SELECT 1 FROM artifact_versions WHERE name = ? LIMIT 1", [name]).fetchone() is not None

    def link_artifact_use(self, run_id: str, name: str, version: int) -> None:
        """Record that a run used a version of an artifact (once, however often it does)."""
        with self.write() as con:
            _link(con, run_id, name, version, "input")

    def artifact_versions(self, name: str | None = None, type: str | None = None) -> pd.DataFrame:
        """Artifact versions, with the run that logged each and how many runs used it."""
        return self.query(_LISTING, {"name": name, "type": type})

    def artifact_lineage(self, name: str | None = None, version: int | None = None,
                         run_id: str | None = None) -> pd.DataFrame:
        """Lineage edges (``output``: a run logged the version; ``input``: a run used it)."""
        return self.query(_LINEAGE, {"name": name, "version": version, "run": run_id})


def _check_type(con: Any, name: str, kind: str) -> None:
    # One name, one type: "model.pt" the model never becomes "model.pt" the dataset.
    row = con.execute("SELECT DISTINCT type FROM artifact_versions WHERE name = ?", [name]).fetchone()
    if row is not None and row[0] != kind:
        raise NbtrackError(f"artifact {name!r} is a {row[0]!r}, not a {kind!r}; use another name")


def _insert_version(con: Any, name: str, kind: str, digest: str, files: list[dict[str, Any]],
                    metadata: dict[str, Any], description: str | None, reference: bool,
                    project: str, run_id: str | None) -> int:
    version: int = con.execute("SELECT coalesce(max(version) + 1, 0) FROM artifact_versions "
                               "WHERE name = ?", [name]).fetchone()[0]
    con.execute(
        "INSERT INTO artifact_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [name, version, kind, digest, sum(f["size"] for f in files), len(files), json.dumps(files),
         json.dumps(metadata, default=str), description, [], "reference" if reference else "files",
         project, utcnow(), run_id])
    return version


def _move_aliases(con: Any, name: str, version: int, aliases: Sequence[str]) -> None:
    for alias in aliases:
        con.execute("UPDATE artifact_versions SET aliases = list_filter(aliases, lambda a: a != ?) "
                    "WHERE name = ?", [alias, name])
        con.execute("UPDATE artifact_versions SET aliases = list_append(aliases, ?) "
                    "WHERE name = ? AND version = ?", [alias, name, version])


def _link(con: Any, run_id: str, name: str, version: int, role: str) -> None:
    exists = con.execute("SELECT 1 FROM artifact_links WHERE run_id = ? AND name = ? AND version = ? "
                         "AND role = ?", [run_id, name, version, role]).fetchone()
    if exists is None:
        con.execute("INSERT INTO artifact_links VALUES (?, ?, ?, ?, ?)",
                    [run_id, name, version, role, utcnow()])


def _version_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    (name, version, kind, digest, size, metadata, description, aliases, created_at, created_by,
     manifest, source) = row
    return {"name": name, "version": version, "type": kind, "digest": digest, "size": size,
            "metadata": json.loads(metadata) if metadata else {}, "description": description,
            "aliases": list(aliases or []), "created_at": created_at, "created_by": created_by,
            "files": json.loads(manifest) if manifest else [], "reference": source == "reference"}
