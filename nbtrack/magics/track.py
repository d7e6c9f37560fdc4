"""``%%track [name] [options]``: the cell becomes a run.

How it runs: an input transformer turns the ``%%track ...`` first line into a call
to :func:`begin_cell` (on the same line, so line numbers in tracebacks stay right)
and the cell body then runs as an ordinary cell. ``post_run_cell`` ends the run
with the cell's outcome. Compared with a magic that calls ``shell.run_cell`` itself
(as ``%%capture`` does), the user's exception and traceback reach them exactly as
without nbtrack, the cell is marked failed (so "Run All" stops there), the last
expression still displays and top-level ``await`` works. The registered cell magic
below is the fallback for callers that bypass input transformation
(``run_cell_magic``), and carries the help text for ``%%track?``.
"""

from __future__ import annotations

import contextlib
import itertools
import linecache
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from .. import _run, capture
from ..cellcode import OverrideError, ParsedCell, apply_overrides, assignment_pairs, parse_cell
from ..errors import NbtrackError, warn_once
from . import _lineage

__all__ = ["TrackMagics", "begin_cell", "load", "unload"]

PREFIX = "%%track"


@dataclass
class _CellState:
    """The run of the cell now executing, and what to restore after it."""

    run: _run.Run | None = None
    info: Any = None
    restore: Callable[[], None] | None = None  # from nbtrack._run.activate
    deferred: capture.CellConfig | None = None
    infos: list[Any] = field(default_factory=list)
    last: _run.Run | None = None  # the last cell's run (nbtrack rerun reads its id)


_state = _CellState()


@magic_arguments()
@argument("name", nargs="?", default=None, help="Run name (re-running a name makes a new run).")
@argument("-p", "--project", default=None, help="Project the run belongs to.")
@argument("-t", "--tags", nargs="+", default=None, metavar="TAG", help="Tags for the run.")
@argument("-n", "--notes", default=None, help="Free-text notes (quote them).")
@argument("-g", "--group", default=None, help="Group name, e.g. for the folds of a CV run.")
@argument(
    "-c", "--config", nargs="+", default=None, metavar="KEY=VALUE",
    help="Config overrides: top-level `KEY = ...` lines of the cell use VALUE instead "
         "(KEY is set before the cell when no such line exists).",
)
@argument(
    "--no-live", action="store_true",
    help="Do not show the live panel (charts and gauges) under the cell.",
)
@argument("--rerun-of", default=None, metavar="RUN_ID",
          help="Record that this cell re-runs RUN_ID (set by `nbtrack rerun`).")
@argument(
    "--no-capture", action="store_true",
    help="Do not infer config from the cell's variables (only --config and nbtrack.config).",
)
def _track_signature(line: str) -> None:
    """Track this cell as a run: its config, code, environment and everything it logs.

    Example::

        %%track baseline --project mnist --tags cnn small --config lr=0.01
        for step in range(epochs):
            nbtrack.log({"loss": train_step(lr)}, step=step)
    """


@dataclass
class _Options:
    name: str | None
    project: str | None
    tags: list[str] | None
    notes: str | None
    group: str | None
    overrides: dict[str, Any]
    capture: bool
    live: bool = True
    rerun_of: str | None = None


def parse_options(line: str) -> _Options:
    """Parse the ``%%track`` line; bad options raise IPython's one-line ``UsageError``."""
    try:
        args = parse_argstring(_track_signature, line)
    except UsageError:
        raise
    except ValueError as exc:  # shlex: "No closing quotation"
        raise UsageError(f"%%track: {exc} in {line!r}") from None
    overrides: dict[str, Any] = {}
    for item in args.config or []:
        try:
            key, value = capture.parse_override(item)
        except ValueError as exc:
            raise UsageError(f"%%track --config: {exc}") from None
        overrides[key] = value
    return _Options(
        name=_unquote(args.name), project=_unquote(args.project), tags=args.tags,
        notes=_unquote(args.notes), group=_unquote(args.group), overrides=overrides,
        capture=not args.no_capture, live=not args.no_live, rerun_of=_unquote(args.rerun_of),
    )


def _unquote(text: str | None) -> str | None:
    # magic_arguments keeps the quotes of a quoted argument ("my run" stays quoted).
    if text and len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


# -- input transformation ---------------------------------------------------------
@dataclass
class Prepared:
    """A ``%%track`` cell turned into Python once: what runs, and what was analysed."""

    args: str
    body: str  # as the user wrote it
    parsed: ParsedCell  # the body as IPython's transformer turned it into Python
    code: str  # what runs: ``parsed`` with the --config overrides applied
    options: _Options | None = None
    error: str | None = None  # a UsageError to raise when the cell starts, before it runs


def prepare(shell: Any, args: str, body: str) -> Prepared:
    """Turn the body into Python through IPython's own transformer, then apply the overrides.

    Every later step (config, overrides, dependencies) works on this one result.
    """
    python = _to_python(shell, body)
    parsed = parse_cell(python)
    try:
        options = parse_options(args)
    except UsageError as exc:
        return Prepared(args, body, parsed, python, error=str(exc))
    try:
        code = apply_overrides(parsed, options.overrides)
    except OverrideError as exc:
        return Prepared(args, body, parsed, python, options, error=f"%%track {exc}")
    return Prepared(args, body, parsed, code, options)


def _to_python(shell: Any, body: str) -> str:
    manager = getattr(shell, "input_transformer_manager", None)
    if manager is None or not body.strip():
        return body
    # IPython drops leading blank lines; keep them so line numbers match the user's cell.
    lines = body.splitlines(keepends=True)
    blank = len(lines) - len(list(itertools.dropwhile(lambda line: not line.strip(), lines)))
    try:
        python = str(manager.transform_cell("".join(lines[blank:])))
    except Exception:  # IPython shows its own error when the cell runs: leave the body as is
        return body
    return "\n" * blank + python


def transform(lines: list[str]) -> list[str]:
    """IPython cleanup transformer: rewrite a ``%%track`` cell, leave others alone."""
    if not lines or not lines[0].startswith(PREFIX):
        return lines
    head = lines[0][len(PREFIX):]
    if head and not head[0].isspace():
        return lines  # %%trackfoo is another magic
    args = head.strip()
    if args.endswith("?"):
        return lines  # %%track? is a request for help
    from IPython import get_ipython

    prepared = prepare(get_ipython(), args, "".join(lines[1:]))
    key = next(_keys)
    _pending[key] = prepared
    while len(_pending) > 64:  # cells transformed but never run (inspection, completion)
        del _pending[next(iter(_pending))]
    call = f"{_CALL}({key})  # {PREFIX} {args}\n"
    return [call, *prepared.code.splitlines(keepends=True)]


# IPython skips transformers with side effects when it only checks completeness.
transform.has_side_effects = True  # type: ignore[attr-defined]
_pending: dict[int, Prepared] = {}
_keys = itertools.count(1)
_CALL = "__import__('nbtrack.magics.track', fromlist=['_']).begin_cell"


# -- run lifecycle ------------------------------------------------------------------
def begin_cell(key: int | Prepared) -> None:
    """Start the run of the executing cell (called from the transformed first line)."""
    from IPython import get_ipython

    if isinstance(key, int):
        try:
            prepared = _pending.pop(key)
        except KeyError:
            raise UsageError("%%track: this cell's text was lost; run the cell again") from None
        _show_users_lines(sys._getframe(1).f_code.co_filename, prepared)
    else:
        prepared = key
    if prepared.error is not None or prepared.options is None:
        raise UsageError(prepared.error or "%%track: bad options")  # the cell has not run yet
    shell = get_ipython()
    if _state.run is not None and not _state.run._finished:
        raise UsageError(
            f"%%track: run {_state.run.name!r} is still open; %%track cells cannot be nested"
        )
    try:
        _start(shell, prepared, key if isinstance(key, int) else None)
    except NbtrackError as exc:
        raise UsageError(f"%%track: {exc}") from None
    except Exception as exc:  # tracking must never stop the user's cell
        warn_once(
            "begin-cell",
            f"nbtrack could not start tracking this cell ({exc!r}); the cell runs untracked",
        )


def _show_users_lines(filename: str, prepared: Prepared) -> None:
    """Make tracebacks show the cell as the user wrote it, not the code IPython runs.

    IPython caches the transformed cell for tracebacks; line for line it is the user's cell
    (IPython keeps line numbers), so the cache gets the user's own text back, starting with
    their ``%%track`` line.
    """
    entry = linecache.cache.get(filename)
    if entry is None or len(entry) != 4:
        return
    size, mtime, lines, name = entry
    users = [f"{PREFIX} {prepared.args}".rstrip() + "\n",
             *(line.rstrip("\n") + "\n" for line in prepared.body.splitlines())]
    if len(users) == len(lines):
        linecache.cache[filename] = (size, mtime, users, name)
    elif lines:  # a multi-line magic changed the line count: fix the first line at least
        linecache.cache[filename] = (size, mtime, [users[0], *lines[1:]], name)


def _start(shell: Any, prepared: Prepared, key: int | None) -> None:
    options = prepared.options
    assert options is not None
    namespace = shell.user_ns if shell is not None else {}
    config: dict[str, Any] = {}
    deferred = None
    history, raw = _lineage.earlier_cells(shell, f"{_CALL}({key})")
    if options.capture:
        try:
            deferred = capture.infer_config(prepared.parsed, namespace, history)
            config.update(deferred.values)
        except Exception as exc:
            warn_once("capture", f"nbtrack could not infer this cell's config ({exc!r}); tracking goes on")
    assigned = {target.id for stmt in (prepared.parsed.tree.body if prepared.parsed.tree else ())
                for target, value in assignment_pairs(stmt) if value is not None}
    for name, value in options.overrides.items():
        config[name] = value
        if deferred is not None:  # an override is config, whatever the line it replaced was
            deferred.deferred = [n for n in deferred.deferred if n != name]
            deferred.derived = [n for n in deferred.derived if n != name]
        if name not in assigned:
            namespace[name] = value  # as if the cell began with NAME = VALUE
    reproduce: dict[str, Any] = {"overrides": dict(options.overrides)}
    if options.rerun_of:
        reproduce["rerun_of"] = options.rerun_of
    try:
        reproduce.update(_lineage.record(prepared.parsed, namespace, history, raw))
    except Exception as exc:
        warn_once("lineage", f"nbtrack could not record this cell's earlier cells ({exc!r}); "
                  "tracking goes on, but `nbtrack rerun` will lack them")
    run = _run.Run(
        options.name, project=options.project, config=config, tags=options.tags,
        notes=options.notes, group=options.group, kind="cell", source=prepared.body,
        execution_count=getattr(shell, "execution_count", None),
        notebook_path=capture.notebook_path(namespace),
    )
    run.reproduce = reproduce
    run._mark("environment")
    _state.run, _state.deferred = run, deferred
    _state.info = _state.infos[-1] if _state.infos else None
    _state.restore = _run.activate(run)
    if options.live:
        show_live_panel(run)


#: Shows the live panel for a cell's run; replaced by the widgets front-end when it
#: is installed. Kept as a module attribute so tests and front-ends can swap it.
def show_live_panel(run: _run.Run) -> None:
    try:
        from ..widgets import cell_panel
    except ImportError:
        return  # no widget front-end in this install: tracking goes on without a panel
    try:
        cell_panel(run)
    except Exception as exc:  # a panel problem must never stop the cell
        warn_once("live-panel", f"nbtrack could not show the live panel ({exc!r}); tracking goes on")


def end_cell(
    error: BaseException | None,
    namespace: dict[str, Any] | None = None,
    execution_count: int | None = None,
    opened: set[str] | None = None,
) -> _run.Run | None:
    """Finish the executing cell's run with the cell's outcome.

    ``sys.exit(0)`` (or ``exit()``) in the cell is a normal end: the run is finished.
    """
    run = _state.run
    if run is None:
        return None
    _state.run = None
    _state.last = run
    widgets = sys.modules.get("nbtrack.widgets")
    if widgets is not None:  # a panel still being shown goes in this cell's output, not the next
        widgets.wait_shown(run)
    try:
        if execution_count is not None and execution_count != run.execution_count:
            # IPython 9 counts the cell before running it, 8 after: trust the result.
            run.execution_count = execution_count
            run._mark("execution_count")
        if _state.deferred is not None and namespace is not None and not run._finished:
            late = capture.collect_deferred(_state.deferred, namespace)
            if late:
                run.config.update(late)
            run.derived = capture.collect_derived(_state.deferred, namespace) or None
        _record_files(run, opened or set())
        if run._finished:
            pass  # the cell called nbtrack.finish() itself: its status stands
        elif error is None or _clean_exit(error):
            run.finish("finished")
        elif isinstance(error, KeyboardInterrupt):
            run.finish("interrupted", _format(error))
        else:
            run.finish("failed", _format(error))
    except Exception as exc:
        warn_once("end-cell", f"nbtrack could not finish run {run.name!r} ({exc!r})")
    finally:
        if _state.restore is not None:
            _state.restore()
        _state.restore = None
        _state.deferred = None
    return run


def _clean_exit(error: BaseException) -> bool:
    return isinstance(error, SystemExit) and error.code in (0, None)


def _record_files(run: _run.Run, opened: set[str]) -> None:
    reproduce = run.reproduce
    if reproduce is None:
        return
    counts = [cell["execution_count"] for cell in reproduce.get("cells", ())]
    store_dir = getattr(run._store, "dir", None) or getattr(run._store, "location", None)
    exclude = [str(store_dir)] if isinstance(store_dir, (str, os.PathLike)) else []
    try:
        files = _lineage.fingerprints(counts, opened, exclude)
    except Exception as exc:
        warn_once("fingerprints", f"nbtrack could not fingerprint the files this cell read ({exc!r})")
        return
    run.reproduce = {**reproduce, "files": files}  # a new dict: the writer thread may be reading
    run._mark("environment")


def _format(error: BaseException) -> str:
    tb = error.__traceback__
    # Drop IPython's own exec frame so the stored traceback starts in the user's cell.
    if tb is not None and tb.tb_next is not None and "interactiveshell" in tb.tb_frame.f_code.co_filename:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb))


def _pre_run_cell(info: Any) -> None:
    _state.infos.append(info)
    _lineage.start_cell()


def _post_run_cell(result: Any) -> None:
    info = _state.infos.pop() if _state.infos else None
    stored = getattr(getattr(result, "info", None), "store_history", False)
    opened = _lineage.stop_cell(getattr(result, "execution_count", None) if stored else None)
    if _state.run is not None and (info is _state.info or info is None):
        from IPython import get_ipython

        shell = get_ipython()
        end_cell(
            result.error_in_exec, getattr(shell, "user_ns", None),
            getattr(result, "execution_count", None), opened,
        )


@magics_class
class TrackMagics(Magics):
    """Holds ``%%track`` for help and for callers that bypass input transformation."""

    @cell_magic
    def track(self, line: str, cell: str) -> None:
        shell = self.shell
        assert shell is not None
        prepared = prepare(shell, line, cell)
        if _state.run is not None and not _state.run._finished:
            raise UsageError("%%track cells cannot be nested")
        saved_infos = list(_state.infos)
        begin_cell(prepared)
        _state.info = "fallback"
        _lineage.start_cell()
        try:
            result = shell.run_cell(prepared.code, store_history=False)
        finally:
            _state.infos[:] = saved_infos
        end_cell(result.error_in_exec, shell.user_ns, opened=_lineage.stop_cell(None))

    track.__doc__ = _track_signature.__doc__


def load(shell: Any) -> None:
    shell.register_magics(TrackMagics)
    if transform not in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.append(transform)
    shell.events.register("pre_run_cell", _pre_run_cell)
    shell.events.register("post_run_cell", _post_run_cell)
    _lineage.install()
    # %load_ext runs inside a cell whose pre_run_cell we missed: count it now.
    _state.infos.append(None)


def unload(shell: Any) -> None:
    if transform in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.remove(transform)
    for event, handler in (("pre_run_cell", _pre_run_cell), ("post_run_cell", _post_run_cell)):
        with contextlib.suppress(ValueError):  # not registered: nothing to undo
            shell.events.unregister(event, handler)
