"""MLflow's artifact calls on nbtrack artifacts: each file or folder is a version of a named artifact."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from ..errors import NbtrackError
from ._runs import target

__all__ = ["log_artifact", "log_artifacts", "log_dict", "log_figure", "log_image", "log_table", "log_text"]


def _artifact_name(path: Path) -> str:
    return re.sub(r"[^\w.\-]", "-", path.name)[:128] or "artifact"


def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None,
                 run_id: str | None = None) -> Any:
    """Store a file as a version of the nbtrack artifact named after it, made by the active run."""
    from ..registry import log_artifact as store_artifact

    path = Path(local_path)
    if not path.is_file():
        raise NbtrackError(f"log_artifact: {path} is not a file; for a folder use log_artifacts")
    run = target(run_id, "log_artifact").run
    meta = {"artifact_path": artifact_path} if artifact_path else None
    return store_artifact(path, _artifact_name(path), "file", metadata=meta, run=run)


def log_artifacts(local_dir: str | os.PathLike[str], artifact_path: str | None = None,
                  run_id: str | None = None) -> Any:
    """Store a folder's files as one version of the artifact named after ``artifact_path`` or the folder."""
    from ..registry import log_artifact as store_artifact

    path = Path(local_dir)
    if not path.is_dir():
        raise NbtrackError(f"log_artifacts: {path} is not a folder; for a file use log_artifact")
    run = target(run_id, "log_artifacts").run
    name = _artifact_name(Path(artifact_path)) if artifact_path else _artifact_name(path.resolve())
    return store_artifact(path, name, "folder", run=run)


def _log_written(artifact_file: str, write: Any, run_id: str) -> Any:
    inside = Path(artifact_file)
    with tempfile.TemporaryDirectory(prefix="nbtrack-mlflow-") as folder:
        path = Path(folder) / inside.name
        write(path)
        parent = inside.parent.as_posix()
        return log_artifact(path, None if parent in ("", ".") else parent, run_id)


def log_dict(dictionary: Any, artifact_file: str, run_id: str | None = None) -> Any:
    """Store a dict as a JSON file (YAML for ``.yaml``/``.yml``) artifact named ``artifact_file``."""
    run = target(run_id, "log_dict").run

    def write(path: Path) -> None:
        if path.suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise NbtrackError("log_dict to a .yaml file needs PyYAML: pip install pyyaml") from None
            path.write_text(yaml.safe_dump(dictionary, sort_keys=False))
        else:
            path.write_text(json.dumps(dictionary, indent=2))

    return _log_written(artifact_file, write, run.id)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> Any:
    """Store text as a file artifact named ``artifact_file``."""
    run = target(run_id, "log_text").run
    return _log_written(artifact_file, lambda path: path.write_text(text), run.id)


def log_figure(figure: Any, artifact_file: str, *, save_kwargs: dict[str, Any] | None = None) -> Any:
    """Store a matplotlib figure as an image file artifact, and as an image in the run's media."""
    run = target(None, "log_figure").run
    from ..rich_media import Image

    run.log({artifact_file: Image(figure)}, step=0)
    return _log_written(artifact_file, lambda path: figure.savefig(path, **(save_kwargs or {})), run.id)


def log_image(image: Any, artifact_file: str | None = None, key: str | None = None,
              step: int | None = None, timestamp: int | None = None) -> Any:
    """An image (array, PIL image) as a run media value at ``key``/``step``, or a file artifact."""
    if (artifact_file is None) == (key is None):
        raise NbtrackError("log_image needs exactly one of artifact_file= or key=")
    if timestamp is not None:
        raise NbtrackError("log_image(timestamp=...): nbtrack records the time of the call; drop timestamp=")
    run = target(None, "log_image").run
    from ..rich_media import Image

    picture = Image(image)
    if key is not None:
        run.log({key: picture}, step=step if step is not None else 0)
        return None
    assert artifact_file is not None
    run.log({artifact_file: picture}, step=0)
    return _log_written(artifact_file, lambda path: path.write_bytes(picture._bytes), run.id)


def log_table(data: Any, artifact_file: str, run_id: str | None = None) -> Any:
    """A dict of columns or a DataFrame as a table in the run's media (key ``artifact_file``)
    and a JSON file artifact (``{"columns": [...], "data": [[...]]}``, as MLflow writes it)."""
    import pandas as pd

    from ..rich_media import Table

    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    run = target(run_id, "log_table").run
    table = Table(dataframe=frame)
    run.log({artifact_file: table}, step=0)
    body = json.dumps({"columns": table.columns, "data": table.rows}, ensure_ascii=False)
    return _log_written(artifact_file, lambda path: path.write_text(body), run.id)
