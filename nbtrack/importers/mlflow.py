"""MLflow: runs read through ``MlflowClient`` from any tracking URI it understands.

Params become config: MLflow keeps them as text, and a text stays text unless it is
a number exactly as Python prints one (see :func:`_param`: ``"0.01"`` is 0.01,
``"3.10"`` stays ``"3.10"``). Every metric's full history becomes metrics with its
steps and timestamps, ``mlflow.note.content`` becomes the notes and the other
non-system tags become ``key=value`` tags. A nested run keeps its parent as the tag
``mlflow.parentRunId=<the parent's nbtrack id>`` and has the parent's name as its
group (as ``nbtrack.mlflow`` keeps nested runs); MLflow's id of the parent is
``imported.parent_run_id`` in its environment. Runs deleted in MLflow are counted in
the report, not imported. A run or experiment that cannot be read (a damaged
``meta.yaml`` in ``./mlruns``) gets one line in the report and the import goes on.
Artifacts are not copied: their paths are listed in the run's environment
(``imported.artifacts``) and counted in the report.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import NbtrackError
from ._base import Importer, Point, SourceRun, need, one_line, run_id_for

__all__ = ["MlflowImporter"]

_STATUS = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "interrupted"}
PARENT_TAG = "mlflow.parentRunId"  # MLflow's link from a nested run to its parent
MAX_ARTIFACTS = 1000  # listed per run; a model folder can hold thousands of files


class MlflowImporter(Importer):
    tool = "mlflow"

    def __init__(self, uri: str | None = None, *, experiment: str | None = None,
                 project: str | None = None, dir: Any = None) -> None:
        self.experiment = experiment
        super().__init__(uri or "", project=project, dir=dir)

    def sources(self) -> Iterator[SourceRun]:
        mlflow = need("mlflow", "mlflow")
        self.source = self.source or mlflow.get_tracking_uri()
        file_store = _check_uri(self.source)
        self._root = Path(urlparse(self.source).path if self.source.startswith("file:")
                          else self.source) if file_store else None
        with _file_store_allowed(file_store):
            client = need("mlflow.tracking", "mlflow").MlflowClient(self.source)
            for experiment in self._experiments(client):
                runs = self._runs(client, experiment)
                names = {run.info.run_id: run.info.run_name or run.info.run_id for run in runs}
                for run in runs:
                    try:
                        yield self._source_run(client, experiment, run, names)
                    except Exception as exc:  # e.g. a metric file damaged in ./mlruns
                        self.skip_run(run.info.run_name or run.info.run_id,
                                      f"could not be read ({one_line(exc)})")

    def _runs(self, client: Any, experiment: Any) -> list[Any]:
        """The experiment's live runs, oldest first; deleted ones are counted, not imported.

        A file store's listing stops at the first run whose ``meta.yaml`` does not
        parse; there the runs are read one by one instead, and a bad one is reported.
        """
        view = need("mlflow.entities", "mlflow").ViewType
        try:
            self.deleted(len(list(_all_runs(client, experiment.experiment_id, view.DELETED_ONLY))))
            return list(_all_runs(client, experiment.experiment_id, view.ACTIVE_ONLY))
        except Exception as exc:
            if self._root is None:
                self.damaged(f"experiment {experiment.name}: its runs could not be listed ({one_line(exc)})")
                return []
        runs = []
        for folder in sorted((self._root / experiment.experiment_id).iterdir()):
            if not (folder / "meta.yaml").is_file():
                continue  # tags/, datasets/, traces/ ...: not runs
            try:
                run = client.get_run(folder.name)
            except Exception as exc:
                self.skip_run(folder.name, f"could not be read ({one_line(exc)})")
                continue
            if run.info.lifecycle_stage == "deleted":
                self.deleted(1)
            else:
                runs.append(run)
        return sorted(runs, key=lambda run: run.info.start_time or 0)

    def _experiments(self, client: Any) -> list[Any]:
        if self.experiment is None:
            found = self._all_experiments(client)
            if not found:
                raise NbtrackError(f"no MLflow experiments at {self.source}")
            return list(found)
        found = client.get_experiment_by_name(self.experiment)
        if found is None and self.experiment.isdigit():
            with contextlib.suppress(Exception):
                found = client.get_experiment(self.experiment)
        if found is None:
            names = ", ".join(e.name for e in client.search_experiments()) or "none"
            raise NbtrackError(f"no MLflow experiment {self.experiment!r} at {self.source} "
                               f"(experiments there: {names})")
        return [found]

    def _all_experiments(self, client: Any) -> list[Any]:
        """Every live experiment; in a file store, one with a bad ``meta.yaml`` is reported."""
        try:
            return list(client.search_experiments())
        except Exception:
            if self._root is None:
                raise
        found = []
        for folder in sorted(self._root.iterdir()):
            if not folder.name.isdigit() or not (folder / "meta.yaml").is_file():
                continue
            try:
                experiment = client.get_experiment(folder.name)
            except Exception as exc:
                self.damaged(f"experiment {folder.name}: could not be read ({one_line(exc)}); "
                             "none of its runs were imported")
                continue
            if experiment.lifecycle_stage != "deleted":
                found.append(experiment)
        return found

    def _source_run(self, client: Any, experiment: Any, run: Any, names: dict[str, str]) -> SourceRun:
        info, data = run.info, run.data
        tags = dict(data.tags)
        kept = [f"{k}={v}" if v else k for k, v in tags.items() if not k.startswith("mlflow.")]
        parent = tags.get(PARENT_TAG)
        origin: dict[str, Any] = {}
        if parent:
            # The parent's nbtrack id, as nbtrack.mlflow writes this tag for its own runs.
            kept.append(f"{PARENT_TAG}={run_id_for(self.tool, parent)}")
            origin["parent_run_id"] = parent
        status = _STATUS.get(info.status, "crashed")
        error = None
        if status == "crashed":  # RUNNING or SCHEDULED: a snapshot that will not move on
            error = f"imported while MLflow still had it as {info.status}; import again to update"
        artifacts = self._artifacts(client, info.run_id)
        return SourceRun(
            identity=info.run_id, name=info.run_name or tags.get("mlflow.runName") or info.run_id,
            started=info.start_time / 1000, status=status, error=error,
            ended=info.end_time / 1000 if info.end_time else None,
            project=experiment.name, config={k: _param(v) for k, v in data.params.items()},
            tags=kept,
            notes=tags.get("mlflow.note.content"),
            group=names.get(parent) if parent else None,
            points=_points(client, info.run_id, sorted(data.metrics)),
            origin={"uri": self.source, "run_id": info.run_id, "experiment": experiment.name,
                    "experiment_id": experiment.experiment_id, "tags": tags,
                    "artifact_uri": info.artifact_uri, "artifacts": artifacts, **origin},
        )

    def _artifacts(self, client: Any, run_id: str) -> list[str]:
        paths: list[str] = []
        folders: list[str | None] = [None]
        while folders and len(paths) < MAX_ARTIFACTS:
            try:
                listed = client.list_artifacts(run_id, folders.pop())
            except Exception:
                continue  # artifacts on a store we cannot reach; the run is still worth having
            for item in listed:
                (folders.append(item.path) if item.is_dir else paths.append(item.path))
        if paths:
            self.not_read("artifact files (not copied; their paths are in each run's environment)",
                          len(paths))
        return paths[:MAX_ARTIFACTS]


def _check_uri(uri: str) -> bool:
    """Refuse a local store that is not there (MLflow would create an empty one);
    return whether ``uri`` is a file store."""
    parsed = urlparse(uri)
    if parsed.scheme == "sqlite":
        path = uri.split("sqlite:///", 1)[-1]
        if path != ":memory:" and not Path(path).is_file():
            raise NbtrackError(f"no MLflow database at {path} (from {uri}); pass the tracking "
                               "URI, e.g. nbtrack import mlflow sqlite:///path/to/mlflow.db")
        return False
    if parsed.scheme in ("", "file") or len(parsed.scheme) == 1:  # a path (C: on Windows)
        path = parsed.path if parsed.scheme == "file" else uri
        if not Path(path).is_dir():
            raise NbtrackError(f"no MLflow store at {uri}: no such directory; pass the folder "
                               "holding the experiments, e.g. ./mlruns")
        return True
    return False


@contextlib.contextmanager
def _file_store_allowed(file_store: bool) -> Iterator[None]:
    # MLflow 3 refuses to open a ./mlruns folder unless asked: reading one to move it
    # elsewhere is exactly what it is in maintenance mode for.
    before = os.environ.get("MLFLOW_ALLOW_FILE_STORE")
    if file_store:
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        yield
    finally:
        if file_store and before is None:
            os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
        elif file_store:
            os.environ["MLFLOW_ALLOW_FILE_STORE"] = before or ""


def _all_runs(client: Any, experiment_id: str, view: Any) -> Iterator[Any]:
    token = None
    while True:
        page = client.search_runs([experiment_id], run_view_type=view, max_results=1000,
                                  page_token=token, order_by=["attributes.start_time ASC"])
        yield from page
        token = page.token
        if not token:
            return


def _points(client: Any, run_id: str, keys: list[str]) -> Iterator[Point]:
    for key in keys:
        for metric in client.get_metric_history(run_id, key):
            yield metric.step, metric.timestamp / 1000, {key: metric.value}


_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]+(?:e[-+][0-9]+)?|-?[1-9](?:\.[0-9]+)?e[-+][0-9]+")


def _param(text: str) -> Any:
    """A param as config: a number only where ``text`` is exactly how Python prints one.

    MLflow keeps ``str(value)``. An int or float logged from Python comes back as the
    text Python printed for it, and only that text is read back as a number: ``"32"``,
    ``"-3"``, ``"0.01"``, ``"1e-05"``. Every other text stays the string it is, because
    it has more than one reading: ``"3.10"`` (a version, not 3.1), ``"007"``,
    ``"0x10"``, ``"1e3"``, ``"1_000"``, ``"nan"``, ``"True"``, ``"None"``, ``"[64, 32]"``.

    Example
    -------
    >>> [_param(t) for t in ("32", "-0.5", "1e-05", "3.10", "0x10", "1e3", "True")]
    [32, -0.5, 1e-05, '3.10', '0x10', '1e3', 'True']
    """
    if _INT.fullmatch(text) and text != "-0":
        number = int(text)
        return number if -2**63 <= number < 2**63 else text
    if _FLOAT.fullmatch(text):
        value = float(text)
        if math.isfinite(value) and repr(value) == text:
            return value
    return text
