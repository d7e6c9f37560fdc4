"""The sidebar's REST API under ``/nbtrack/``: thin handlers over :mod:`.reads` and :mod:`.writes`.

Every handler is a Jupyter ``APIHandler`` behind ``tornado.web.authenticated`` and
``authorized`` (Jupyter's token or cookie login; POSTs also need the XSRF token the
JupyterLab client sends). Work that opens the store runs in a small thread pool, so
the server's event loop never waits on DuckDB or on the store's lock.

===========================================  =========================================
``GET  stores?dir=&depth=``                   stores found in a folder and below it
``GET  projects?store=``                      projects with run counts
``GET  runs?store=&project=&q=&status=&sort=&limit=&metrics=``   the run list
``GET  run?store=&id=``                       one run's record
``GET  charts?store=&runs=a,b&keys=&max_points=&width=&height=``  Vega-Lite overlay
``     &layout=sections&x=&smoothing=&log=1``       ... as sections of charts (the workspace)
``GET  sweep?store=&id=&width=&height=``      a sweep's parallel coordinates
``GET  diff?store=&runs=a,b``                 config / summary / code differences
``POST runs/<id>/rename|tags|notes``          ``{"name"}``, ``{"tags": [...]}``, ``{"notes"}``
``POST runs/delete``, ``POST runs/restore``   ``{"ids": [...]}``
``POST report``                               ``{"store", "runs"?, "project"?, "title"?}``
``GET  report/file?path=``                    a written report as a page (its own origin)
``GET  media?store=&id=&width=``              a run's media keys: kinds, steps, previews
``GET  media/file?store=&id=&key=&step=&idx=``  one logged image (looked up, never a path)
``GET  artifacts?store=&id=``                 artifact versions (one run's) with lineage
``POST pictures/warm``                        ``{"kernel", "path"}``: the picture helper, started
``                                            with that kernel's Python (see below)
===========================================  =========================================

``store`` is a store folder relative to the Jupyter root (``mnist/.nbtrack``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import posixpath
import re
import string
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from jupyter_client.kernelspec import KernelSpec, NoSuchKernel
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import ensure_async, url_path_join
from tornado import web

from ..errors import NbtrackError, StoreError
from . import media, reads, writes
from .paths import STORE_DIR, PathRefused, Root, team_store

__all__ = ["setup_handlers"]

T = TypeVar("T")
MAX_RUNS_PER_CHART = 20
_pool: list[ThreadPoolExecutor] = []
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    # A few threads: reads of one store queue on its lock anyway, and a slow report
    # must not hold up the list.
    with _pool_lock:
        if not _pool:
            _pool.append(ThreadPoolExecutor(max_workers=4, thread_name_prefix="nbtrack-server"))
        return _pool[0]


def _status_of(exc: NbtrackError) -> int:
    if isinstance(exc, StoreError):
        return 503 if "lock" in str(exc) else 500
    return 404 if str(exc).startswith("no run") else 400


class _Handler(APIHandler):
    auth_resource = "nbtrack"
    root: Root

    def initialize(self, root: Root) -> None:
        self.root = root

    async def work(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking store work in the pool; nbtrack's errors become JSON errors."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(_executor(), functools.partial(fn, *args, **kwargs))
        except PathRefused as exc:
            raise web.HTTPError(exc.status, exc.message) from None
        except NbtrackError as exc:
            raise web.HTTPError(_status_of(exc), str(exc)) from None

    def reply(self, payload: Any) -> None:
        self.finish(json.dumps(payload, allow_nan=False))

    def path_arg(self, name: str, *, store: bool = True, must_exist: bool = False) -> Any:
        value = self.get_query_argument(name, None)
        try:
            return self.root.store(value, must_exist=must_exist) if store else self.root.resolve(value)
        except PathRefused as exc:
            raise web.HTTPError(exc.status, exc.message) from None

    def int_arg(self, name: str, default: int, low: int, high: int) -> int:
        text = self.get_query_argument(name, None)
        if not text:
            return default
        try:
            value = int(text)
        except ValueError:
            raise web.HTTPError(400, f"{name} must be a whole number; got {text!r}") from None
        return min(max(value, low), high)

    def float_arg(self, name: str, default: float, low: float, high: float) -> float:
        text = self.get_query_argument(name, None)
        if not text:
            return default
        try:
            value = float(text)
        except ValueError:
            raise web.HTTPError(400, f"{name} must be a number; got {text!r}") from None
        if value != value:  # NaN
            raise web.HTTPError(400, f"{name} must be a number; got {text!r}")
        return min(max(value, low), high)

    def list_arg(self, name: str) -> list[str]:
        text = self.get_query_argument(name, "") or ""
        return [part for part in (p.strip() for p in text.split(",")) if part]

    def body(self) -> dict[str, Any]:
        data = self.get_json_body()
        if not isinstance(data, dict):
            raise web.HTTPError(400, "send a JSON object as the request body")
        return data

    def body_store(self, data: dict[str, Any]) -> Any:
        try:
            return self.root.store(data.get("store") if isinstance(data.get("store"), str) else None,
                                   must_exist=True)
        except PathRefused as exc:
            raise web.HTTPError(exc.status, exc.message) from None


def _text(data: dict[str, Any], key: str, *, optional: bool = False) -> Any:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise web.HTTPError(400, f"{key!r} must be text")
    return value


def _ids(data: dict[str, Any], key: str = "ids") -> list[str]:
    value = data.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise web.HTTPError(400, f"{key!r} must be a non-empty list of run ids")
    return value


class StoresHandler(_Handler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        folder = self.get_query_argument("dir", "") or ""
        depth = self.int_arg("depth", 2, 0, 4)
        found = await self.work(self.root.find_stores, folder, depth)
        default = f"{folder.strip('/')}/{STORE_DIR}" if folder.strip("/") else STORE_DIR
        team = team_store()
        if team is not None:  # the kernels of this server log there: it comes first
            found = [team[0], *found]
        self.reply({"dir": folder, "default": default, "stores": found,
                    "team": team[0] if team is not None else None})


class ProjectsHandler(_Handler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        store = self.path_arg("store")
        self.reply({"projects": await self.work(reads.list_projects, store)})


class RunsHandler(_Handler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        store = self.path_arg("store")
        statuses = self.list_arg("status")
        unknown = [s for s in statuses if s not in reads.STATUSES]
        if unknown:
            raise web.HTTPError(400, f"unknown status {unknown[0]!r}; use {', '.join(reads.STATUSES)}")
        query = reads.RunQuery(
            project=self.get_query_argument("project", None) or None,
            q=(self.get_query_argument("q", "") or "")[:500],
            statuses=statuses,
            sort=self.get_query_argument("sort", "-created_at") or "-created_at",
            limit=self.int_arg("limit", 200, 1, 5000),
            metrics=self.list_arg("metrics")[:20] or None,
        )
        self.reply(await self.work(reads.list_runs, store, self.root, query))


class RunHandler(_Handler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        store = self.path_arg("store", must_exist=True)
        run_id = self.get_query_argument("id", "") or ""
        if not run_id:
            raise web.HTTPError(400, "say which run: id=<run id>")
        self.reply(await self.work(reads.run_detail, store, self.root, run_id))


class ChartsHandler(_Handler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        store = self.path_arg("store", must_exist=True)
        runs = self.list_arg("runs")
        if not runs or len(runs) > MAX_RUNS_PER_CHART:
            raise web.HTTPError(400, f"runs= takes 1 to {MAX_RUNS_PER_CHART} run ids, comma-separated")
        layout = self.get_query_argument("layout", "grid") or "grid"
        if layout not in ("grid", "sections"):
            raise web.HTTPError(400, f"layout must be 'grid' or 'sections'; got {layout!r}")
        self.reply(await self.work(
            reads.charts, store, runs, self.list_arg("keys") or None,
            max_points=self.int_arg("max_points", 400, 2, 5000),
            width=self.int_arg("width", 260, 80, 2000), height=self.int_arg("height", 150, 60, 1200),
            sections=layout == "sections", x=self.get_query_argument("x", None) or None,
            smoothing=self.float_arg("smoothing", 0.0, 0.0, 0.99),
            log_scale=(self.get_query_argument("log", "") or "") in ("1", "true")))


class SweepHandler(_Handler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        store = self.path_arg("store", must_exist=True)
        sweep_id = self.get_query_argument("id", "") or ""
        if not sweep_id:
            raise web.HTTPError(400, "say which sweep: id=<sweep id>")
        self.reply(await self.work(reads.sweep_chart, store, sweep_id,
                                   width=self.int_arg("width", 600, 160, 3000),
                                   height=self.int_arg("height", 260, 80, 1200)))


class DiffHandler(_Handler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        store = self.path_arg("store", must_exist=True)
        runs = list(dict.fromkeys(self.list_arg("runs")))
        if not 2 <= len(runs) <= MAX_RUNS_PER_CHART:
            raise web.HTTPError(400, f"runs= takes 2 to {MAX_RUNS_PER_CHART} run ids, comma-separated")
        self.reply(await self.work(reads.diff, store, runs))


class RunEditHandler(_Handler):
    @web.authenticated
    @authorized
    async def post(self, run_id: str, action: str) -> None:
        data = self.body()
        store = self.body_store(data)
        if action == "rename":
            result = await self.work(writes.rename, store, run_id, _text(data, "name"))
        elif action == "tags":
            tags = data.get("tags")
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise web.HTTPError(400, "'tags' must be a list of text")
            result = await self.work(writes.set_tags, store, run_id, tags)
        else:
            result = await self.work(writes.set_notes, store, run_id, _text(data, "notes", optional=True))
        self.reply(result)


class TrashHandler(_Handler):
    @web.authenticated
    @authorized
    async def post(self, action: str) -> None:
        data = self.body()
        store = self.body_store(data)
        change = writes.delete if action == "delete" else writes.restore
        self.reply(await self.work(change, store, _ids(data)))


class ReportHandler(_Handler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        data = self.body()
        store = self.body_store(data)
        runs = _ids(data, "runs") if data.get("runs") else None
        self.reply(await self.work(
            writes.export, store, self.root, run_ids=runs,
            project=_text(data, "project", optional=True), title=_text(data, "title", optional=True)))


class ReportFileHandler(_Handler):
    """A report (an ``.html`` file under the root) as a page for a new browser tab.

    Jupyter's ``/files/`` refuses a GET with neither a Referer nor an ``_xsrf`` argument
    (403 "Blocking request from unknown origin"), which is what a link opened in a new tab
    sends. This GET needs the login like every handler here; like ``/files/`` it confines
    the page's scripts to an origin of their own (CSP ``sandbox allow-scripts``), so the
    report's charts draw but cannot talk to the Jupyter server.
    """

    @property
    def content_security_policy(self) -> str:
        # APIHandler's policy (default-src 'none') would stop the report's inline scripts.
        base: str = super(APIHandler, self).content_security_policy
        return base + "; sandbox allow-scripts"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        path = self.path_arg("path", store=False)
        if path.suffix.lower() not in (".html", ".htm"):
            raise web.HTTPError(403, f"only HTML reports open here; got {path.name!r}")
        if not path.is_file():
            raise web.HTTPError(404, f"no report at {self.get_query_argument('path', '')!r}")
        data = await self.work(path.read_bytes)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")
        self.finish(data, set_content_type="text/html; charset=UTF-8")


class MediaHandler(_Handler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        store = self.path_arg("store", must_exist=True)
        run_id = self._run_id()
        width = self.int_arg("width", 260, 80, 2000)
        self.reply(await self.work(media.run_media, store, run_id, width=width))

    def _run_id(self) -> str:
        run_id = self.get_query_argument("id", "") or ""
        if not run_id:
            raise web.HTTPError(400, "say which run: id=<run id>")
        return run_id


class MediaFileHandler(MediaHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        store = self.path_arg("store", must_exist=True)
        run_id = self._run_id()
        key = self.get_query_argument("key", None)
        if not key:
            raise web.HTTPError(400, "say which media key: key=<key>")
        if not self.get_query_argument("step", None):
            raise web.HTTPError(400, "say which step: step=<step>")
        step = self.int_arg("step", 0, -(2**62), 2**62)
        idx = self.int_arg("idx", 0, 0, 1_000_000)
        path, kind = await self.work(media.media_file, store, self.root, run_id, key, step, idx)
        data = await self.work(path.read_bytes)
        # The browser must take it as the image type we name, and nothing in it may run.
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Security-Policy", "default-src 'none'; sandbox")
        self.set_header("Cache-Control", "private, max-age=86400")  # content-addressed: never changes
        self.finish(data, set_content_type=kind)


#: Run with a kernel's Python: this user's picture helper for that environment, started if none
#: listens (nbtrack.charts._render); exit status 0 once one listens.
_WARM_PICTURES = "import sys\nfrom nbtrack.charts import _render\nsys.exit(0 if _render.warm_shared() else 1)"
#: Interpreter options a kernelspec may put before ``-m ipykernel...`` (``python -m ipykernel
#: install`` writes ``-Xfrozen_modules=off``); they shape ``sys.path`` as in the kernel.
_PYTHON_OPTIONS = re.compile(r"-(?:[XW].+|[EsIuBOq]+|O{1,2})")


def kernel_python(argv: list[str]) -> list[str] | None:
    """The command that starts a kernelspec's Python with its options (``[python, *options]``),
    or ``None`` where the kernelspec is not ``python [options] -m ipykernel...`` (a wrapper
    script, ``conda run``, another language): nothing else is run with code.

    Example
    -------
    >>> kernel_python(["/env/bin/python", "-Xfrozen_modules=off", "-m", "ipykernel_launcher"])
    ['/env/bin/python', '-Xfrozen_modules=off']
    """
    if "-m" not in argv[1:]:
        return None
    at = argv.index("-m", 1)
    options = argv[1:at]
    if at + 1 >= len(argv) or not argv[at + 1].startswith("ipykernel"):
        return None
    if not all(_PYTHON_OPTIONS.fullmatch(option) for option in options):
        return None
    # "python" is this server's, as jupyter_client reads it (KernelManager.format_kernel_cmd).
    short = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}
    return [sys.executable if argv[0] in short else argv[0], *options]


def warm_pictures(python: list[str], env: dict[str, str], cwd: str | None = None) -> bool:
    """Start the picture helper of a kernel's Python (``python``: :func:`kernel_python`), with
    that kernel's environment and working folder (so it imports the nbtrack that kernel will),
    as the kernel starts: the kernel's first live cell then finds vl-convert warm. Whether one
    listens; ``False`` where that Python has no nbtrack (or no helper could start), which
    costs the kernel nothing."""
    try:
        folder = cwd if cwd and os.path.isdir(cwd) else None
        done = subprocess.run([*python, "-c", _WARM_PICTURES], env=env, cwd=folder, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


class PicturesHandler(_Handler):
    """A notebook that uses nbtrack got a kernel (the sidebar asks): warm its picture helper.
    Body: ``{"kernel": name, "path": the notebook's path}``."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        data = self.body()
        name = _text(data, "kernel")
        path = _text(data, "path", optional=True) or ""
        # It runs the kernel's Python: as much as starting that kernel is allowed.
        if not self.authorizer.is_authorized(self, self.current_user, "execute", "kernels"):
            raise web.HTTPError(403, "starting kernels is not allowed for this user")
        try:
            spec = await ensure_async(self.kernel_spec_manager.get_kernel_spec(name))
        except (NoSuchKernel, KeyError):
            raise web.HTTPError(404, f"no kernel named {name!r}") from None
        python = kernel_python(list(spec.argv or [])) if isinstance(spec, KernelSpec) else None
        if python is None:  # a gateway's kernel (another machine), or not python -m ipykernel
            self.reply({"started": False, "why": f"{name!r} is not a local python -m ipykernel kernel"})
            return
        # The kernel's environment as jupyter_client makes it: the spec's variables, with
        # ${VAR} filled in from this one's; no PYTHONEXECUTABLE (it would name another Python).
        env = {key: value for key, value in os.environ.items() if key != "PYTHONEXECUTABLE"}
        env.update({key: string.Template(str(value)).safe_substitute(env)
                    for key, value in (spec.env or {}).items()})
        try:  # where the kernel starts: the notebook's folder ('' on its sys.path)
            cwd = str(self.root.resolve(posixpath.dirname(path)))
        except PathRefused:
            cwd = str(self.root.resolve(""))
        loop = asyncio.get_running_loop()  # not the store pool: this waits on a process
        started = await loop.run_in_executor(None, warm_pictures, python, env, cwd)
        self.reply({"started": started})


class ArtifactsHandler(_Handler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        store = self.path_arg("store", must_exist=True)
        run_id = self.get_query_argument("id", "") or None
        self.reply(await self.work(media.artifacts, store, run_id))


def setup_handlers(web_app: Any, root_dir: str) -> None:
    """Add the ``/nbtrack/`` routes to Jupyter's tornado application."""
    base = url_path_join(web_app.settings.get("base_url", "/"), "nbtrack")
    args = {"root": Root(root_dir)}
    routes: list[tuple[str, type[_Handler]]] = [
        ("stores", StoresHandler),
        ("projects", ProjectsHandler),
        ("runs", RunsHandler),
        ("run", RunHandler),
        ("charts", ChartsHandler),
        ("diff", DiffHandler),
        ("sweep", SweepHandler),
        (r"runs/(delete|restore)", TrashHandler),
        (r"runs/([^/]+)/(rename|tags|notes)", RunEditHandler),
        ("report", ReportHandler),
        ("report/file", ReportFileHandler),
        ("media", MediaHandler),
        ("media/file", MediaFileHandler),
        ("artifacts", ArtifactsHandler),
        ("pictures/warm", PicturesHandler),
    ]
    web_app.add_handlers(".*$", [(url_path_join(base, path), cls, args) for path, cls in routes])
