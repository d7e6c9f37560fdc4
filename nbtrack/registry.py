"""Artifacts: versioned, deduplicated datasets, models and files, with lineage.

``run.log_artifact(path, type="model")`` stores each file once by content (a blob of
the store) and records a version of the artifact's name: ``v0``, then a
new ``vN`` only when the content changes (logging the same bytes again returns the
version that already holds them). ``run.use_artifact("name:v1")`` records that the
run consumed it. Both directions are lineage: :func:`lineage` shows which run made
each version and which runs used it.

A DataFrame, numpy array or tensor can be logged as a *reference*: it is
fingerprinted in place (a hash of its values, not a copy) so a later run can tell
whether it trained on the same data.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .errors import NbtrackError, StoreError, warn_once
from .store import StoreBase, get_store

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Artifact", "artifacts", "lineage", "log_artifact", "use_artifact"]

_NAME = re.compile(r"^[\w.\-]{1,128}$")
_CHUNK = 1 << 20


@dataclass
class Artifact:
    """An artifact: one stored version, or (W&B's builder) files gathered to log as one.

    ``nbtrack.Artifact(name, type)`` starts a new one: add files with :meth:`add_file`,
    :meth:`add_dir` and :meth:`new_file`, then ``run.log_artifact(artifact)`` stores it
    and fills in ``version``. A stored version (from :func:`log_artifact` or
    :func:`use_artifact`) has ``files`` mapping relative paths to stored objects.

    Example
    -------
    >>> art = nbtrack.Artifact("mnist", type="dataset")   # doctest: +SKIP
    >>> art.add_file("data/train.csv")                     # doctest: +SKIP
    >>> art.add_dir("images", name="images")               # doctest: +SKIP
    >>> run.log_artifact(art, aliases=["best"]).ref        # doctest: +SKIP
    'mnist:v0'
    """

    name: str
    type: str = "dataset"
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    version: int | None = None  # None: not logged yet
    digest: str = ""
    size: int = 0
    aliases: list[str] = field(default_factory=list)
    created_at: datetime | None = None
    created_by: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    reference: bool = False
    is_new: bool = False  # set by log_artifact: whether this call created the version
    store: StoreBase | None = field(default=None, repr=False, compare=False)
    #: The builder's files, path in the artifact -> file on disk (until it is logged).
    _staged: dict[str, Path] = field(default_factory=dict, repr=False, compare=False)
    _scratch: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.version is None:  # a builder: check now, not when logging
            _check_name(self.name)
            if not isinstance(self.type, str) or not self.type:
                raise NbtrackError(f"nbtrack.Artifact: type must be a non-empty string; got {self.type!r}")
            self.metadata = dict(self.metadata or {})

    @property
    def ref(self) -> str:
        """``name:vN``, what :func:`use_artifact` takes."""
        self._check_logged()
        return f"{self.name}:v{self.version}"

    def _check_logged(self) -> None:
        if self.version is None:
            raise NbtrackError(f"artifact {self.name!r} is not logged yet: run.log_artifact(artifact) first")

    # -- building (W&B's Artifact.add_file / add_dir / new_file) ----------------------------
    def _builder(self, call: str) -> None:
        if self.version is not None:
            raise NbtrackError(f"{call}: {self.ref} is stored and cannot change; start a new version "
                               f"with nbtrack.Artifact({self.name!r}, type={self.type!r})")

    def add_file(self, local_path: str | os.PathLike[str], name: str | None = None, *,
                 overwrite: bool = False) -> None:
        """Add a file, as ``name`` inside the artifact (default: its file name)."""
        self._builder("add_file")
        source = Path(local_path)
        if not source.is_file():
            raise NbtrackError(f"add_file: {source} is not a file" + ("; use add_dir for a folder"
                                                                       if source.is_dir() else ""))
        self._stage(_inner_path(name if name is not None else source.name), source, overwrite)

    def add_dir(self, local_path: str | os.PathLike[str], name: str | None = None, *,
                overwrite: bool = False) -> None:
        """Add every file under a folder, under ``name/`` inside the artifact (default: at its root)."""
        self._builder("add_dir")
        folder = Path(local_path)
        if not folder.is_dir():
            raise NbtrackError(f"add_dir: {folder} is not a folder")
        prefix = _inner_path(name) + "/" if name else ""
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        if not files:
            raise NbtrackError(f"add_dir: {folder} holds no files")
        for source in files:
            self._stage(prefix + source.relative_to(folder).as_posix(), source, overwrite)

    @contextlib.contextmanager
    def new_file(self, name: str, mode: str = "x", encoding: str | None = None) -> Iterator[IO[Any]]:
        """Write a file straight into the artifact: ``with art.new_file("a.txt") as f: f.write(...)``."""
        self._builder("new_file")
        inner = _inner_path(name)
        if inner in self._staged:
            raise NbtrackError(f"new_file: the artifact already has a file {inner!r}")
        if self._scratch is None:
            self._scratch = tempfile.mkdtemp(prefix="nbtrack-artifact-")
        target = Path(self._scratch) / f"{len(self._staged)}-{Path(inner).name}"
        with open(target, mode, encoding=encoding) as handle:
            yield handle
        self._stage(inner, target, False)

    def _stage(self, inner: str, source: Path, overwrite: bool) -> None:
        if inner in self._staged and not overwrite:
            raise NbtrackError(f"the artifact already has a file {inner!r}; pass overwrite=True to "
                               "replace it")
        self._staged[inner] = source

    def file(self, path: str | None = None) -> Path:
        """The stored file (of a one-file artifact, or ``path`` within it); read it, don't edit it."""
        self._check_logged()
        if self.reference:
            raise NbtrackError(f"{self.ref} is a fingerprint of in-memory data; it holds no files")
        chosen = [f for f in self.files if path is None or f["path"] == path]
        if path is None and len(self.files) != 1:
            names = ", ".join(f["path"] for f in self.files[:5])
            raise NbtrackError(f"{self.ref} holds {len(self.files)} files ({names}...); pass file(path=...)"
                               " or use download()")
        if not chosen:
            raise NbtrackError(f"{self.ref} has no file {path!r}")
        assert self.store is not None
        return self.store.blob_file(chosen[0]["object"])

    def download(self, root: str | os.PathLike[str] | None = None) -> Path:
        """Copy the files into a folder (default ``./artifacts/<name>:v<N>``, as W&B); return it.

        Files already there with the right content are left as they are.
        """
        self._check_logged()
        if self.reference:
            raise NbtrackError(f"{self.ref} is a fingerprint of in-memory data; it holds no files")
        assert self.store is not None
        target = Path(root) if root is not None else Path("artifacts") / self.ref
        for entry in self.files:
            dest = target / entry["path"]
            if (dest.exists() and dest.stat().st_size == entry["size"]
                    and _file_digest(dest) == entry["digest"]):
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.store.blob_file(entry["object"]), dest)
        return target

    def matches(self, data: Any) -> bool:
        """Whether in-memory ``data`` (or a path) has exactly this version's content."""
        digest = _fingerprint(data)[0] if not isinstance(data, (str, os.PathLike)) else \
            _manifest_digest(_scan(Path(data))[0])
        return digest == self.digest

    def __repr__(self) -> str:
        if self.version is None:
            staged = len(self._staged)
            return f"<nbtrack.Artifact {self.name} (not logged) type={self.type!r} {staged} file(s)>"
        kind = "reference" if self.reference else f"{len(self.files)} file(s)"
        return f"<nbtrack.Artifact {self.ref} type={self.type!r} {kind}, {self.size:,} bytes>"


def _inner_path(name: Any) -> str:
    """A path inside an artifact: relative, with ``/``, no ``..``."""
    text = str(name).replace("\\", "/").strip("/") if isinstance(name, (str, os.PathLike)) else ""
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise NbtrackError("a file's name inside an artifact must be a relative path without '..'; "
                           f"got {name!r}")
    return "/".join(parts)


# -- content ---------------------------------------------------------------------

def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _scan(path: Path) -> tuple[list[dict[str, Any]], list[Path]]:
    """Manifest entries (path, digest, size) for a file or a folder, and the sources."""
    if not path.exists():
        raise NbtrackError(f"log_artifact: {path} does not exist")
    sources = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    base = path.parent if path.is_file() else path
    entries = [{"path": src.relative_to(base).as_posix(), "digest": _file_digest(src),
                "size": src.stat().st_size} for src in sources]
    return entries, sources


def _manifest_digest(entries: list[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for entry in sorted(entries, key=lambda e: e["path"]):
        h.update(f"{entry['path']}\0{entry['digest']}\n".encode())
    return h.hexdigest()


def _fingerprint(data: Any) -> tuple[str, dict[str, Any]]:
    """A content hash of a DataFrame/Series/array/tensor, without copying its values."""
    import numpy as np
    import pandas as pd

    h = hashlib.sha256()
    if isinstance(data, (pd.DataFrame, pd.Series)):
        try:
            rows = pd.util.hash_pandas_object(data, index=True).to_numpy()  # 8 bytes per row
        except TypeError:  # unhashable cells (lists): hash their text
            rows = pd.util.hash_pandas_object(data.astype(str), index=True).to_numpy()
        columns = [str(c) for c in data.columns] if isinstance(data, pd.DataFrame) else [str(data.name)]
        dtypes = [str(t) for t in (data.dtypes if isinstance(data, pd.DataFrame) else [data.dtype])]
        h.update(json.dumps(["pandas", columns, dtypes, list(data.shape)]).encode())
        h.update(rows.tobytes())
        return h.hexdigest(), {"kind": type(data).__name__, "shape": list(data.shape),
                               "columns": columns, "dtypes": dtypes}
    if hasattr(data, "detach"):
        data = data.detach().cpu().numpy()
    if not hasattr(data, "__array__"):
        raise NbtrackError(
            f"log_artifact takes a file or folder path, a DataFrame, or an array; got {type(data).__name__}")
    array = np.asarray(data)
    if array.dtype == object:
        raise NbtrackError("log_artifact: arrays of Python objects cannot be fingerprinted; "
                           "save them to a file and log the path")
    h.update(json.dumps(["array", str(array.dtype), list(array.shape)]).encode())
    if array.flags.c_contiguous:
        h.update(memoryview(array).cast("B"))  # type: ignore[arg-type]
    else:
        for part in array:  # row by row: never a full copy of a large strided array
            h.update(np.ascontiguousarray(part).tobytes())
    return h.hexdigest(), {"kind": "ndarray", "shape": list(array.shape), "dtype": str(array.dtype)}


# -- logging and using -------------------------------------------------------------

def _run_or_active(run: Any) -> Any:
    if run is not None:
        return run
    from ._run import active_run

    return active_run()


def _disabled(run: Any) -> bool:
    """Whether ``run`` is a ``mode="disabled"`` run (it has no store)."""
    return getattr(run, "kind", None) == "disabled"


def _store_for(run: Any, store: Any) -> StoreBase:
    if store is not None:
        return store if isinstance(store, StoreBase) else get_store(store)
    return run._store if run is not None else get_store()


def log_artifact(
    data: Any, name: str | None = None, type: str | None = None, *, metadata: dict[str, Any] | None = None,
    description: str | None = None, aliases: list[str] | None = None, run: Any = None, store: Any = None,
) -> Artifact | None:
    """Store a file, a folder, an :class:`Artifact` built with ``add_file``/``add_dir``, or a
    fingerprint of in-memory data, as a version of ``name``.

    A new version (``v0``, ``v1``, ...) is made only when the content differs from
    every earlier version; otherwise the existing one is returned (``is_new`` False).
    The active run (or ``run``) is recorded as having logged it. If the store
    cannot be written (a full disk), this warns once and returns None: training goes on.
    With a ``mode="disabled"`` run it stores nothing and returns None.

    Example
    -------
    >>> art = run.log_artifact("model.pt", type="model", aliases=["best"])  # doctest: +SKIP
    >>> art.ref                                                             # doctest: +SKIP
    'model.pt:v0'
    """
    run = _run_or_active(run)
    if _disabled(run):  # nbtrack.init(mode="disabled"): stores nothing, as run.log_artifact
        return None
    chosen = _store_for(run, store)
    alias_list = [str(a) for a in (aliases or [])]
    if isinstance(data, Artifact):
        if type is not None and type != data.type:
            raise NbtrackError(f"log_artifact: the artifact {data.name!r} was built with type "
                               f"{data.type!r}; drop type={type!r} or build it with that type")
        return _log_built(data, name, chosen, run, metadata, description, alias_list)
    if isinstance(data, (str, os.PathLike)):
        source = Path(data)
        name = name if name is not None else source.name
        _check_name(name)
        entries, sources = _scan(source)
        digest, reference = _manifest_digest(entries), False
        meta: dict[str, Any] = dict(metadata or {})
    else:
        if name is None:
            raise NbtrackError("log_artifact: pass name=... for in-memory data, e.g. name='train-set'")
        _check_name(name)
        digest, info = _fingerprint(data)
        entries, sources, reference = [], [], True
        meta = {**info, **(metadata or {})}
    return _store_version(chosen, run, name, type or "dataset", digest, entries, sources, meta,
                          description, alias_list, reference)


def _store_version(
    chosen: StoreBase, run: Any, name: str, kind: str, digest: str, entries: list[dict[str, Any]],
    sources: list[Path], meta: dict[str, Any], description: str | None, aliases: list[str], reference: bool,
) -> Artifact | None:
    try:
        for entry, src in zip(entries, sources):
            entry["object"] = chosen.put_blob_file(src, entry["digest"], folder="objects",
                                                   suffix="".join(src.suffixes[-2:]))
        return _record_version(chosen, run, name, kind, digest, entries, meta, description,
                               aliases, reference)
    except (OSError, StoreError) as exc:
        warn_once("artifact-store", f"nbtrack could not store the artifact {name!r} in {chosen.location} "
                  f"({_type_name(exc)}: {exc}); your code keeps running")
        return None


def _log_built(art: Artifact, name: str | None, chosen: StoreBase, run: Any, metadata: dict[str, Any] | None,
               description: str | None, aliases: list[str]) -> Artifact | None:
    """Store a builder's files as one version; the builder becomes that version (as W&B's does)."""
    if art.version is not None:
        raise NbtrackError(f"{art.ref} is stored already: record that a run used it with "
                           f"use_artifact({art.ref!r}), or log a new nbtrack.Artifact({art.name!r}, ...)")
    if name is not None and name != art.name:
        raise NbtrackError(f"log_artifact: the artifact is named {art.name!r}; drop name={name!r}")
    if not art._staged:
        raise NbtrackError(f"artifact {art.name!r} has no files yet: add them with add_file, add_dir or "
                           "new_file")
    staged = sorted(art._staged.items())
    for inner, source in staged:
        if not source.is_file():
            raise NbtrackError(f"log_artifact: {source} (added as {inner!r}) is gone")
    entries = [{"path": inner, "digest": _file_digest(source), "size": source.stat().st_size}
               for inner, source in staged]
    stored = _store_version(chosen, run, art.name, art.type, _manifest_digest(entries),
                            entries, [source for _, source in staged], {**art.metadata, **(metadata or {})},
                            description if description is not None else art.description, aliases, False)
    if stored is None:
        return None
    for attribute in ("version", "digest", "size", "metadata", "description", "aliases", "created_at",
                      "created_by", "files", "reference", "is_new", "store"):
        setattr(art, attribute, getattr(stored, attribute))
    art._staged = {}
    if art._scratch is not None:
        shutil.rmtree(art._scratch, ignore_errors=True)
        art._scratch = None
    return art


def _type_name(exc: BaseException) -> str:
    return type(exc).__name__


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise NbtrackError(f"artifact names are 1-128 letters, digits, '_', '-' or '.'; got {name!r}")


def _record_version(
    store: StoreBase, run: Any, name: str, kind: str, digest: str, entries: list[dict[str, Any]],
    meta: dict[str, Any], description: str | None, aliases: list[str], reference: bool,
) -> Artifact:
    for alias in aliases:
        if alias == "latest" or re.fullmatch(r"v\d+", alias):
            raise NbtrackError(f"alias {alias!r} is reserved; 'latest' and vN are always there")
    version, is_new = store.register_artifact_version(
        name, type=kind, digest=digest, files=entries, metadata=meta, description=description,
        aliases=aliases, reference=reference, project=run.project if run is not None else "default",
        run_id=run.id if run is not None else None)
    art = _get(store, name, version)
    art.is_new = is_new
    return art


def _parse_ref(ref: str) -> tuple[str, str]:
    name, _, selector = ref.partition(":")
    _check_name(name)
    return name, selector or "latest"


def _find(store: StoreBase, name: str, selector: str) -> Artifact | None:
    """The version ``selector`` (``latest``, ``vN``, ``N`` or an alias) names, if any."""
    number = re.fullmatch(r"v?(\d+)", selector)
    if selector == "latest":
        found = store.find_artifact_version(name)
    elif number:
        found = store.find_artifact_version(name, version=int(number.group(1)))
    else:
        found = store.find_artifact_version(name, alias=selector)
    return None if found is None else Artifact(**found, store=store)


def _get(store: StoreBase, name: str, version: int) -> Artifact:
    art = _find(store, name, str(version))
    if art is None:
        raise NbtrackError(f"no artifact {name}:v{version} in {store.location}")
    return art


def use_artifact(ref: Any, *, type: str | None = None, run: Any = None, store: Any = None) -> Artifact:
    """Fetch ``name``, ``name:vN``, ``name:latest`` or ``name:<alias>`` and record the use.

    The active run (or ``run``) is recorded as a consumer of that version; a
    ``mode="disabled"`` run has no store to read, so this raises :class:`NbtrackError`.

    Example
    -------
    >>> data = nbtrack.use_artifact("mnist:latest")   # doctest: +SKIP
    >>> train = pd.read_parquet(data.file())          # doctest: +SKIP
    """
    run = _run_or_active(run)
    if _disabled(run):
        run.use_artifact(ref)  # raises the disabled run's NbtrackError, naming what to do
    chosen = _store_for(run, store)
    text = ref.ref if isinstance(ref, Artifact) else str(ref)  # an unlogged builder raises here
    name, selector = _parse_ref(text)
    art = _find(chosen, name, selector)
    if art is None:
        known = ", ".join(f"v{v}" for v in chosen.artifact_version_numbers(name)) or "none"
        raise NbtrackError(f"no artifact {text!r} in {chosen.location} (versions of {name!r}: {known})")
    if type is not None and art.type != type:
        raise NbtrackError(f"artifact {art.ref} is a {art.type!r}, not a {type!r}")
    if run is not None:
        assert art.version is not None  # found in the store: a stored version
        try:
            chosen.link_artifact_use(run.id, art.name, art.version)
        except StoreError as exc:
            warn_once("artifact-link", f"nbtrack could not record that run {run.name!r} used {art.ref} "
                      f"({exc}); your code keeps running")
    return art


# -- reading -------------------------------------------------------------------------

def artifacts(name: str | None = None, *, type: str | None = None, store: Any = None) -> pd.DataFrame:
    """Artifact versions as a DataFrame with who made them and how many runs used them.

    Example
    -------
    >>> nbtrack.artifacts(type="model")   # doctest: +SKIP
    """
    return _store_for(None, store).artifact_versions(name, type)


def lineage(ref: Any = None, *, store: Any = None) -> pd.DataFrame:
    """Lineage edges: ``name, version, role`` (output: the run logged it; input: used it) and the run.

    ``ref`` narrows to one artifact (``"name"``) or version (``"name:v2"``, an alias);
    a :class:`nbtrack.Run` or run id narrows to what that run made and used.

    Example
    -------
    >>> nbtrack.lineage("mnist")   # doctest: +SKIP
    """
    chosen = _store_for(None, store)
    name: str | None = None
    version: int | None = None
    run_id: str | None = None
    if ref is not None:
        text = ref.ref if isinstance(ref, Artifact) else (ref.id if hasattr(ref, "log") else str(ref))
        if hasattr(ref, "log") or (":" not in text and not chosen.artifact_exists(text)):
            run_id = text
        else:
            name, selector = _parse_ref(text)
            if ":" in text:
                art = _find(chosen, name, selector)
                if art is None:
                    raise NbtrackError(f"no artifact {text!r} in {chosen.location}")
                version = art.version
    return chosen.artifact_lineage(name, version, run_id)
