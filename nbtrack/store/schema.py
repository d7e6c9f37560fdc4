"""The store's schema as named, ordered migrations.

Each migration runs once, inside the transaction that records it in
``schema_migrations``, so a process killed half-way leaves the old version intact.
Append new migrations; never edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

__all__ = ["LATEST", "MIGRATIONS", "migrate", "version"]

Migration = tuple[int, str, Callable[[Any], None]]


def _v1_initial(con: Any) -> None:
    con.execute(
        """
        CREATE TABLE run_records (
            id VARCHAR PRIMARY KEY,
            name VARCHAR NOT NULL,
            project VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            ended_at TIMESTAMP,
            heartbeat_at TIMESTAMP,
            tags VARCHAR[],
            notes VARCHAR,
            group_name VARCHAR,
            kind VARCHAR,
            config VARCHAR,
            summary VARCHAR,
            source VARCHAR,
            execution_count INTEGER,
            notebook_path VARCHAR,
            hostname VARCHAR,
            pid INTEGER,
            pid_started DOUBLE,
            environment VARCHAR,
            git_commit VARCHAR,
            git_dirty BOOLEAN,
            error VARCHAR,
            sweep_id VARCHAR,
            deleted_at TIMESTAMP
        )
        """
    )
    con.execute(
        """
        CREATE TABLE metric_points (
            run_id VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            step BIGINT NOT NULL,
            value DOUBLE,
            time TIMESTAMP NOT NULL
        )
        """
    )


def _v2_sweeps(con: Any) -> None:
    # A sweep's own state; its trials are ordinary runs (run_records.sweep_id). The
    # search's parameter values are kept per trial so a resumed sweep rebuilds its
    # search exactly (quantile and index encodings are not recoverable from a config).
    con.execute(
        """
        CREATE TABLE sweep_records (
            id VARCHAR PRIMARY KEY,
            name VARCHAR NOT NULL,
            project VARCHAR NOT NULL,
            method VARCHAR NOT NULL,
            config VARCHAR NOT NULL,
            metric VARCHAR,
            goal VARCHAR,
            status VARCHAR NOT NULL,
            seed BIGINT,
            created_at TIMESTAMP NOT NULL,
            ended_at TIMESTAMP,
            hostname VARCHAR,
            pid INTEGER,
            pid_started DOUBLE,
            error VARCHAR
        )
        """
    )
    con.execute(
        """
        CREATE TABLE sweep_trials (
            sweep_id VARCHAR NOT NULL,
            number INTEGER NOT NULL,
            run_id VARCHAR NOT NULL,
            params VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            PRIMARY KEY (sweep_id, number)
        )
        """
    )


def _v3_media_artifacts(con: Any) -> None:
    # Rich values logged with run.log: the bytes of images and tables live in
    # content-addressed files beside the store (path relative to the store folder);
    # small values (histogram bins, text) inline in ``data``. ``idx`` orders a list
    # of values logged under one key at one step (an image grid).
    con.execute(
        """
        CREATE TABLE media_points (
            run_id VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            step BIGINT NOT NULL,
            idx INTEGER NOT NULL,
            time TIMESTAMP NOT NULL,
            kind VARCHAR NOT NULL,
            digest VARCHAR,
            path VARCHAR,
            meta VARCHAR,
            data VARCHAR
        )
        """
    )
    # One row per version; a version's files are listed in its manifest (JSON) and
    # stored once per content in objects/. Reference artifacts (a DataFrame or array
    # fingerprinted in memory) have a digest and metadata but no files.
    con.execute(
        """
        CREATE TABLE artifact_versions (
            name VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            type VARCHAR NOT NULL,
            digest VARCHAR NOT NULL,
            size BIGINT NOT NULL,
            file_count INTEGER NOT NULL,
            manifest VARCHAR,
            metadata VARCHAR,
            description VARCHAR,
            aliases VARCHAR[],
            source VARCHAR,
            project VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            created_by VARCHAR,
            PRIMARY KEY (name, version)
        )
        """
    )
    # Lineage: which runs logged ("output") and used ("input") each version.
    con.execute(
        """
        CREATE TABLE artifact_links (
            run_id VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            role VARCHAR NOT NULL,
            time TIMESTAMP NOT NULL
        )
        """
    )


def _v4_folded_segments(con: Any) -> None:
    # Names of pending segment files already folded into the tables, recorded in the
    # fold's own transaction: a process killed between COMMIT and deleting the files
    # leaves them behind, and the next fold must drop them rather than add them twice.
    con.execute("CREATE TABLE folded_segments (name VARCHAR PRIMARY KEY)")


MIGRATIONS: list[Migration] = [
    (1, "initial run_records and metric_points", _v1_initial),
    (2, "sweep_records and sweep_trials", _v2_sweeps),
    (3, "media_points, artifact_versions and artifact_links", _v3_media_artifacts),
    (4, "folded_segments", _v4_folded_segments),
]
LATEST = MIGRATIONS[-1][0]


def utcnow() -> datetime:
    """Now in UTC as a naive datetime: every TIMESTAMP in the store is UTC."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def version(con: Any) -> int:
    """The schema version of an open store (0 for an empty file)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_name = 'schema_migrations'"
    ).fetchone()[0]
    if not exists:
        return 0
    row = con.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(con: Any) -> list[str]:
    """Bring a read-write connection to :data:`LATEST`; return the names applied."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    applied: list[str] = []
    current = version(con)
    for number, name, step in MIGRATIONS:
        if number <= current:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            step(con)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [number, name, utcnow()])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied
