"""The storage contract: what every engine that holds runs provides.

Everything above this line (runs, the writer, queries, reports, the sidebar, sweeps)
talks to a store only through these domain methods: plain Python values in and out,
never a connection or SQL text, and nothing that assumes a local file. The DuckDB
file (:class:`nbtrack.store.Store`) is the default engine; a second one (PostgreSQL
for a team) implements the same methods. Shaped like optuna's ``BaseStorage``.

The write path is two steps so that logging never waits on the engine: a process
*saves* what it logged as segments on its own disk (:meth:`save`, never blocks), and
whoever can *folds* pending segments into the engine (:meth:`fold`); reads include
segments not folded yet.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    import pandas as pd

    from ..selection import Selection
    from . import journal

__all__ = ["StoreBase"]


class StoreBase(ABC):
    """The storage contract (see the module docstring)."""

    #: Whether readers elsewhere see segments saved but not folded yet (a folder store: they
    #: lie in it); a database store's wait on the machine that logged them.
    pending_visible: bool = True

    @property
    @abstractmethod
    def location(self) -> str:
        """Where this store is, as a person would name it in a message (a folder, a URL)."""

    @property
    def address(self) -> str:
        """What :func:`~nbtrack.store.get_store` takes to open this store again, in this process
        or another one (a trial's worker, an agent's script). It may hold a password: pass it
        on, never show it (show :attr:`location`)."""
        return self.location

    @property
    def pending_place(self) -> str:
        """Where saved points wait for a fold, as a person would name it in a message."""
        return f"{self.location} (pending/)"

    # -- Writes: what processes logged --------------------------------------------------------
    @abstractmethod
    def exists(self) -> bool:
        """Whether anything was ever stored here (in the file, or saved and not folded yet)."""

    @abstractmethod
    def save(self, segment: journal.Segment) -> Path:
        """Save what a process logged as a pending segment; never waits on other processes."""

    @abstractmethod
    def save_elsewhere(self, segment: journal.Segment) -> Path:
        """Save a segment beside the system's temporary files, when the store folder cannot take it;
        any later fold of this store picks it up from there."""

    @abstractmethod
    def pending_paths(self) -> list[Path]:
        """Segment files not folded yet, oldest first."""

    @abstractmethod
    def generation(self) -> Any:
        """A token that changes when the store is deleted and made again (None while it is
        absent): a writer then sends its runs' whole records again."""

    @abstractmethod
    def oldest_pending_age(self) -> float:
        """Seconds since the oldest pending segment was saved (0 when none is pending)."""

    @abstractmethod
    def fold(self, wait: float = 0.0) -> bool | None:
        """Fold every pending segment into the file if the lock can be had within ``wait`` s."""

    # -- Reads: run selection, history, media rows, liveness ----------------------------------
    @abstractmethod
    def snapshot(self, fresh: bool = True) -> AbstractContextManager[None]:
        """Several reads that share one open of the store and see the same state.

        ``fresh=False``: what the store holds now, without first saving and folding what
        this process logged (a write transaction, 0.1-0.5 s beside a run's first writes):
        for look-ups that must not wait, such as a new run's colour."""

    @abstractmethod
    def select_runs(self, selection: Selection) -> list[dict[str, Any]]:
        """The selected runs in the selection's order, as dicts of :data:`SELECTED_FIELDS`."""

    @abstractmethod
    def count_runs(self, selection: Selection) -> int:
        """How many runs the selection keeps, its ``limit`` left aside."""

    @abstractmethod
    def summary_keys(self, selection: Selection, limit: int = 200) -> list[str]:
        """Top-level summary metrics of the selected runs, the most common first (``limit``
        aside)."""

    @abstractmethod
    def resolve_runs(self, refs: Sequence[str], within: Selection | None = None) -> dict[str, str]:
        """Run ids for ids or names (a name: the newest run of that name), as ``{ref: id}``."""

    @abstractmethod
    def run_records(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Every column of the ``runs`` view for these runs (JSON fields as dicts), in ``ids``
        order."""

    @abstractmethod
    def run_record(self, run_id: str) -> dict[str, Any] | None:
        """One run's record (see :meth:`run_records`) and its ``metrics``: key, points, first/last
        step."""

    @abstractmethod
    def metric_stats(self, run_id: str) -> list[dict[str, Any]]:
        """Per metric of one run: ``key, points, first_step, last_step``, by key."""

    @abstractmethod
    def projects(self) -> list[dict[str, Any]]:
        """Projects, most recently active first: ``name, runs, running, last_run``."""

    @abstractmethod
    def crashed_runs(self) -> list[str]:
        """Runs marked running whose process is gone or silent too long (they read as
        ``crashed``)."""

    @abstractmethod
    def metric_keys(self, ids: Sequence[str]) -> list[str]:
        """Metric keys logged by any of these runs, sorted."""

    @abstractmethod
    def history(self, ids: Sequence[str], keys: Sequence[str] | None = None,
                max_points: int | None = None) -> pd.DataFrame:
        """Logged points of these runs (resolved ids): ``run_id, step, key, value, time``."""

    @abstractmethod
    def media_rows(self, ids: Sequence[str] | None = None, key: str | None = None,
                   kind: str | None = None) -> pd.DataFrame:
        """Logged media rows (:data:`MEDIA_COLUMNS`; ``path`` relative to the store, ``meta`` JSON
        text)."""

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        """A read-only SQL query over the documented views (see :mod:`._views`), as a DataFrame."""

    # -- Blobs: media files and artifact objects, by key --------------------------------------
    @abstractmethod
    def put_blob(self, data: bytes, *, folder: str = "media", suffix: str = "") -> tuple[str, str]:
        """Store ``data`` once per content (``folder``: media or objects); returns ``(sha256,
        key)``."""

    @abstractmethod
    def put_blob_file(self, source: Path, digest: str, *, folder: str = "objects", suffix: str = "") -> str:
        """Store the file ``source`` (SHA-256 ``digest``) once per content; returns its key."""

    @abstractmethod
    def blob_file(self, key: str) -> Path:
        """A local file holding blob ``key`` (the stored file itself, or a cached copy of it)."""

    @abstractmethod
    def blob_bytes(self, key: str) -> bytes:
        """The bytes of blob ``key``."""

    # -- Run management: names, tags, notes, trash --------------------------------------------
    @abstractmethod
    def set_run_field(self, ref: str, field: str, value: Any) -> str:
        """Set a run's ``name``, ``tags`` or ``notes``; returns the run's id."""

    @abstractmethod
    def add_run_tags(self, ref: str, tags: Sequence[str]) -> tuple[str, list[str]]:
        """Add tags to a run, keeping its own first; returns its id and tags now."""

    @abstractmethod
    def remove_run_tags(self, ref: str, tags: Sequence[str]) -> tuple[str, list[str]]:
        """Remove tags from a run (absent ones are ignored); returns its id and tags now."""

    @abstractmethod
    def trash_runs(self, refs: Sequence[str]) -> list[str]:
        """Move runs to the trash (hidden everywhere, points kept); returns their ids."""

    @abstractmethod
    def restore_runs(self, refs: Sequence[str]) -> list[str]:
        """Take runs out of the trash; returns their ids."""

    @abstractmethod
    def trashed_runs(self) -> pd.DataFrame:
        """Runs in the trash, last trashed first: ``id, name, project, status, created_at,
        deleted_at``."""

    @abstractmethod
    def empty_trash(self, *, media_grace_s: float = 3600.0) -> int:
        """Delete trashed runs for good, with their points and media; returns how many."""

    # -- Artifacts ----------------------------------------------------------------------------
    @abstractmethod
    def register_artifact_version(
        self, name: str, *, type: str, digest: str, files: list[dict[str, Any]], metadata: dict[str, Any],
        description: str | None, aliases: Sequence[str], reference: bool, project: str,
        run_id: str | None,
    ) -> tuple[int, bool]:
        """Record a version of artifact ``name`` in one transaction; returns ``(version,
        is_new)``."""

    @abstractmethod
    def find_artifact_version(self, name: str, *, version: int | None = None,
                              alias: str | None = None) -> dict[str, Any] | None:
        """One version of an artifact: by number, by alias, or the latest; None if absent."""

    @abstractmethod
    def artifact_version_numbers(self, name: str) -> list[int]:
        """The version numbers of artifact ``name``, in order."""

    @abstractmethod
    def artifact_exists(self, name: str) -> bool:
        """Whether any version of artifact ``name`` was logged."""

    @abstractmethod
    def link_artifact_use(self, run_id: str, name: str, version: int) -> None:
        """Record that a run used a version of an artifact (once, however often it does)."""

    @abstractmethod
    def artifact_versions(self, name: str | None = None, type: str | None = None) -> pd.DataFrame:
        """Artifact versions, with the run that logged each and how many runs used it."""

    @abstractmethod
    def artifact_lineage(self, name: str | None = None, version: int | None = None,
                         run_id: str | None = None) -> pd.DataFrame:
        """Lineage edges (``output``: a run logged the version; ``input``: a run used it)."""

    # -- Sweeps -------------------------------------------------------------------------------
    @abstractmethod
    def create_sweep(self, record: dict[str, Any]) -> None:
        """Add a sweep; ``record`` holds its fields (``config`` a dict), absent ones empty."""

    @abstractmethod
    def find_sweep(self, ref: str) -> dict[str, Any] | None:
        """A sweep's record by id or name (the newest of that name), ``config`` parsed; None if
        absent."""

    @abstractmethod
    def update_sweep(self, sweep_id: str, **fields: Any) -> None:
        """Change some fields of a sweep's record (not ``id`` or ``config``)."""

    @abstractmethod
    def sweep_driver(self, sweep_id: str) -> dict[str, Any] | None:
        """Who drives a sweep: ``status, hostname, pid, pid_started, name``; None if no such
        sweep."""

    @abstractmethod
    def claim_sweep(self, sweep_id: str, driver: dict[str, Any], *, expected: dict[str, Any]) -> bool:
        """Mark a sweep running under ``driver`` (hostname, pid, pid_started)."""

    @abstractmethod
    def list_sweeps(self, project: str | None = None) -> list[dict[str, Any]]:
        """Every sweep (or a project's), newest first, with its number of trials."""

    @abstractmethod
    def add_sweep_trials(self, sweep_id: str, trials: Iterable[tuple[int, str, dict[str, Any]]]) -> None:
        """Record trials about to start: ``(number, run id, search values)``."""

    @abstractmethod
    def sweep_trials(self, sweep_id: str) -> list[dict[str, Any]]:
        """A sweep's trials in order, with their runs' fields (status None: never started)."""

    @abstractmethod
    def trial_points(self, run_ids: Sequence[str], key: str) -> dict[str, list[tuple[int, float]]]:
        """Every logged point of metric ``key`` for some runs, ``{run id: [(step, value)]}`` in step
        order."""

    @abstractmethod
    def new_trial_points(self, key: str, after: dict[str, int]) -> list[tuple[str, int, float]]:
        """Points of metric ``key`` past each run's step in ``after``: ``(run id, step, value)``."""

    @abstractmethod
    def request_trial_stop(self, sweep_id: str, run_id: str, reason: str) -> None:
        """Ask a running trial to stop (``reason``: pruned or interrupted), wherever it runs."""

    @abstractmethod
    def trial_stop_reason(self, sweep_id: str, run_id: str) -> str | None:
        """Why the sweep asked this trial to stop, or None; cheap enough to poll while logging."""

    @abstractmethod
    def clear_trial_stop(self, sweep_id: str, run_id: str | None = None) -> None:
        """Forget the stop request of one trial, or of every trial of the sweep."""

    @abstractmethod
    def mark_trials_interrupted(self, run_ids: Sequence[str]) -> None:
        """End trials still marked running (or crashed) as interrupted."""

    # -- Importers ----------------------------------------------------------------------------
    @abstractmethod
    def run_exists(self, run_id: str) -> bool:
        """Whether the store holds run ``run_id`` (in the trash or not)."""

    @abstractmethod
    def export_run(self, run_id: str) -> journal.Segment:
        """Everything stored of one run as a segment another store can save: its whole record
        (a snapshot that replaces the run there), its points (NaN and missing kept apart) and
        its media rows (their blobs stay here: copy them by key). For ``nbtrack sync``."""

    @abstractmethod
    def run_sizes(self, ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """How many points and media values each of these runs holds, ``{id: (points, media)}``
        (runs with neither are left out). For ``nbtrack sync``."""
