"""``nbtrack.workspace()``: open the runs workspace, a JupyterLab tab, from a notebook.

The function returns a small object whose display carries the MIME type
``application/vnd.nbtrack.workspace+json``. nbtrack's JupyterLab extension renders that
output as a button, and opens the workspace tab at once when the output is fresh (shown
by the cell that just ran, not read back from a saved notebook). Elsewhere (classic
Notebook, nbconvert, a terminal) the text and HTML forms say where the workspace is.
"""

from __future__ import annotations

import html
import os
import time
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import NbtrackError

__all__ = ["WORKSPACE_MIME", "Workspace", "workspace"]

WORKSPACE_MIME = "application/vnd.nbtrack.workspace+json"


class Workspace:
    """A request to open the runs workspace; shown in a notebook, it opens the tab.

    ``request`` is what the JupyterLab extension reads: ``store`` (a store folder relative
    to the folder JupyterLab serves, or None), ``near`` (the kernel's store relative to the
    kernel's working folder, the notebook's folder, or None), ``project``, ``at`` (ms since
    the epoch) and ``id``.
    """

    def __init__(self, request: dict[str, Any]) -> None:
        self.request = request

    def _describe(self) -> str:
        store = self.request.get("store") or self.request.get("near") or "the notebook's store"
        project = f", project {self.request['project']}" if self.request.get("project") else ""
        return f"nbtrack runs workspace ({store}{project})"

    def __repr__(self) -> str:
        return f"<{self._describe()}: open it in JupyterLab, or with the nbtrack sidebar's Workspace button>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        text = repr(self)
        return {
            WORKSPACE_MIME: dict(self.request),
            "text/plain": text,
            "text/html": f"<p><code>{html.escape(text, quote=True)}</code></p>",
        }


def _near(store: Any) -> str | None:
    """The store folder relative to the kernel's working folder, if it lies under it."""
    if isinstance(store, str):  # a database URL: the server's team store, if any, is the one
        return None
    try:
        relative = Path(store).resolve().relative_to(Path(os.getcwd()).resolve())
    except ValueError:
        return None
    return str(PurePosixPath(*relative.parts)) or "."


def workspace(store: str | None = None, *, project: str | None = None) -> Workspace:
    """Open nbtrack's runs workspace in JupyterLab: the run table, chart sections by prefix,
    the selected runs overlaid, their config diff and, for a sweep's trials, parallel
    coordinates. It follows running runs live.

    Put it last in a cell (or ``display(nbtrack.workspace())``): the tab opens when the
    output appears, and the output keeps a button to open it again.

    Parameters
    ----------
    store
        A store folder relative to the folder JupyterLab serves (``"exp/.nbtrack"``, as the
        sidebar's store picker names them). Default: the store this kernel logs to.
    project
        Show only this project's runs.

    Example
    -------
    >>> nbtrack.workspace()  # doctest: +SKIP
    >>> nbtrack.workspace("experiments/.nbtrack", project="mnist")  # doctest: +SKIP
    """
    from ._settings import store_location

    if store is not None:
        if not isinstance(store, str) or not store.strip():
            raise NbtrackError("store= takes a store folder's path as text, like 'exp/.nbtrack'; "
                               f"got {store!r}")
        if os.path.isabs(store) or store.startswith(("~", "..")) or "://" in store:
            raise NbtrackError(
                f"store= is a path relative to the folder JupyterLab serves, like 'exp/.nbtrack' "
                f"(the sidebar's store picker shows them); got {store!r}. Leave it out for the "
                "store this kernel logs to.")
    if project is not None and not isinstance(project, str):
        raise NbtrackError(f"project= takes a project's name as text; got {project!r}")
    near = None if store is not None else _near(store_location())
    return Workspace({"store": store, "near": near, "project": project,
                      "at": int(time.time() * 1000), "id": uuid.uuid4().hex})


class _CallableModule(type(os)):  # type: ignore[misc]
    """This module, callable as :func:`workspace`.

    ``import nbtrack.workspace`` (or ``from nbtrack.workspace import ...``) makes the package's
    ``workspace`` attribute this module, not the function: calling it must still open the
    workspace, as ``nbtrack.workspace()`` does when the function is looked up first.
    """

    def __call__(self, store: str | None = None, *, project: str | None = None) -> Workspace:
        return workspace(store, project=project)


import sys  # noqa: E402 - after the definitions the module's class needs

sys.modules[__name__].__class__ = _CallableModule
