"""nbtrack's Jupyter server extension: the REST API behind the JupyterLab sidebar.

The Jupyter server a user already runs serves it (no tracking server): enabled by
``jupyter-config/server-config/nbtrack.json`` on install, or by hand with
``jupyter server extension enable nbtrack.server``. Its routes are listed in
:mod:`nbtrack.server.handlers`. Imports Jupyter only here, never from the core.
"""

from __future__ import annotations

from typing import Any

from .._version import __version__

__all__ = ["__version__", "_jupyter_server_extension_points", "_load_jupyter_server_extension"]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "nbtrack.server"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    """Add the ``/nbtrack/`` handlers; paths are confined to the folder Jupyter serves."""
    from .handlers import setup_handlers

    root = getattr(server_app.contents_manager, "root_dir", None) or server_app.root_dir
    setup_handlers(server_app.web_app, root)
    server_app.log.info("nbtrack: sidebar API at %snbtrack/ for stores under %s",
                        server_app.base_url, root)
