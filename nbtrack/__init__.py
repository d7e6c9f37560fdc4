"""nbtrack: notebook-native experiment tracking on an embedded DuckDB store.

::

    %load_ext nbtrack
    %%track baseline
    for step in range(epochs):
        nbtrack.log({"loss": loss}, step=step)

or, in plain Python, ``with nbtrack.init(name="baseline") as run: run.log(...)``.

``import nbtrack`` stays light: DuckDB, pandas, numpy and IPython load when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._run import Run, activate, active_run, finish, init, log
from ._settings import settings
from ._version import __version__

# W&B's module-level names: define_metric, summary, watch; save, alert, login and Settings
# raise one line naming the nbtrack way.
from ._wandb import Settings as Settings
from ._wandb import SummaryProxy, watch
from ._wandb import alert as alert
from ._wandb import define_metric_active as define_metric
from ._wandb import login as login
from ._wandb import save as save
from .config import ConfigProxy
from .errors import MetricValueError, NbtrackError, NbtrackWarning, StoreError

if TYPE_CHECKING:
    from .query import history, run_record, runs, sql
    from .reproduce import rerun
    from .script_export import export_script
    from .widgets import live

__all__ = [
    "MetricValueError",
    "NbtrackError",
    "NbtrackWarning",
    "Run",
    "StoreError",
    "__version__",
    "activate",
    "active_run",
    "config",
    "define_metric",
    "run",
    "summary",
    "watch",
    "unwatch",
    "finish",
    "history",
    "init",
    "load_ipython_extension",
    "log",
    "run_record",
    "runs",
    "settings",
    "export_report",
    "live",
    "compare",
    "sweep_launcher",
    "sweep",
    "agent",
    "Sweep",
    "diff",
    "rename_run",
    "set_tags",
    "add_tags",
    "remove_tags",
    "set_notes",
    "delete_runs",
    "restore_runs",
    "trash",
    "empty_trash",
    "sql",
    "unload_ipython_extension",
    "Image",
    "Histogram",
    "Table",
    "Text",
    "media",
    "load_media",
    "Artifact",
    "log_artifact",
    "use_artifact",
    "artifacts",
    "lineage",
    "rerun",
    "export_script",
    "sync",
    "workspace",
]

#: The active run's config (``nbtrack.config["lr"]``, ``nbtrack.config.update({...})``).
config = ConfigProxy(active_run)
#: The active run's summary (``nbtrack.summary["best_acc"] = 0.9``), as ``wandb.summary``.
summary = SummaryProxy()

# Heavy parts load on first use (PEP 562). Modules listed here may not exist yet in
# a partial checkout; each is owned by the issue that builds it.
_LAZY = {
    "runs": "query",
    "history": "query",
    "sql": "query",
    "run_record": "query",
    "charts": None,
    "importers": None,
    "mlflow": None,
    "integrations": None,
    "sweep": "sweeps",
    "agent": "sweeps.sweep",
    "unwatch": "integrations.torch",
    "Sweep": "sweeps",
    "export_report": "report",
    "live": "widgets",
    "compare": "comparison",
    "sweep_launcher": "widgets.launcher",
    "diff": "diffing",  # not "diff": a submodule of that name would shadow the function
    "sync": "syncing",
    "rename_run": "manage",
    "set_tags": "manage",
    "add_tags": "manage",
    "remove_tags": "manage",
    "set_notes": "manage",
    "delete_runs": "manage",
    "restore_runs": "manage",
    "trash": "manage",
    "empty_trash": "manage",
    "Image": "rich_media",
    "Histogram": "rich_media",
    "Table": "rich_media",
    "Text": "rich_media",
    "media": "rich_media",
    "load_media": "rich_media",
    "Artifact": "registry",
    "log_artifact": "registry",
    "use_artifact": "registry",
    "artifacts": "registry",
    "lineage": "registry",
    "rerun": "reproduce",  # not "rerun": a submodule of that name would shadow the function
    "export_script": "script_export",
    "workspace": "workspace",  # the module is callable too: importing it first shadows nothing
}


def __getattr__(name: str) -> Any:
    if name == "run":  # wandb.run: the active run, or None (the module is nbtrack._run)
        return active_run()
    if name not in _LAZY:
        from ._wandb import unsupported_module_attribute  # says what to use for W&B's names

        raise unsupported_module_attribute(__name__, name)
    from importlib import import_module

    module = _LAZY[name]
    value = import_module(f".{name}", __name__) if module is None else getattr(
        import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the built sidebar lives (for ``jupyter labextension develop``)."""
    return [{"src": "labextension", "dest": "nbtrack"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The sidebar's REST API (``jupyter server extension list`` shows ``nbtrack.server``)."""
    return [{"module": "nbtrack.server"}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext nbtrack``: registers ``%%track`` (imports the magics only now)."""
    from .magics import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magics import unload

    unload(ipython)
