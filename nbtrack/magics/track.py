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

import ast
import contextlib
import itertools
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from .. import capture
from .. import run as _run
from ..errors import NbtrackError, warn_once

__all__ = ["TrackMagics", "begin_cell", "load", "unload"]

PREFIX = "%%track"


@dataclass
class _CellState:
    """The run of the cell now executing, and what to restore after it."""

    run: _run.Run | None = None
    info: Any = None
    restore: Callable[[], None] | None = None  # from nbtrack.run.activate
    deferred: capture.CellConfig | None = None
    infos: list[Any] = field(default_factory=list)


_state = _CellState()


@magic_arguments()
@argument("name", nargs="?", default=None, help="Run name (re-running a name makes a new run).")
@argument("-p", "--project", default=None, help="Project the run belongs to.")
@argument("-t", "--tags", nargs="+", default=None, metavar="TAG", help="Tags for the run.")
@argument("-n", "--notes", default=None, help="Free-text notes (quote them).")
@argument("-g", "--group", default=None, help="Group name, e.g. for the folds of a CV run.")
@argument(
    "-c", "--config", nargs="+", default=None, metavar="KEY=VALUE",
    help="Config overrides: top-level assignments of KEY in the cell use VALUE instead.",
)
@argument(
    "--no-live", action="store_true",
    help="Do not show the live panel (charts and gauges) under the cell.",
)
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
        capture=not args.no_capture, live=not args.no_live,
    )


def _unquote(text: str | None) -> str | None:
    # magic_arguments keeps the quotes of a quoted argument ("my run" stays quoted).
    if text and len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


# -- input transformation ---------------------------------------------------------
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
    body = "".join(lines[1:])
    key = next(_keys)
    _pending[key] = (args, body)
    while len(_pending) > 64:  # cells transformed but never run (inspection, completion)
        del _pending[next(iter(_pending))]
    call = f"__import__('nbtrack.magics.track', fromlist=['_']).begin_cell({key})  # {PREFIX} {args}\n"
    return [call, *apply_overrides(body, _lenient_overrides(args)).splitlines(keepends=True)]


# IPython skips transformers with side effects when it only checks completeness.
transform.has_side_effects = True  # type: ignore[attr-defined]
_pending: dict[int, tuple[str, str]] = {}
_keys = itertools.count(1)


def _lenient_overrides(args: str) -> dict[str, Any]:
    try:
        return parse_options(args).overrides
    except Exception:
        return {}  # begin_cell reports the error when the cell runs


def _top_assignments(body: str) -> list[tuple[str, ast.expr]]:
    """``(name, value node)`` of each simple top-level ``name = value`` in the cell."""
    try:
        tree = ast.parse(_mask_ipython_syntax(body))
    except SyntaxError:
        return []
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name):
            found.append((target.id, value))
    return found


def apply_overrides(body: str, overrides: dict[str, Any]) -> str:
    """Replace the value of top-level ``KEY = ...`` assignments by ``--config`` values.

    Line numbers are kept: a multi-line assignment becomes one line plus blank lines.
    """
    if not overrides:
        return body
    lines = body.splitlines(keepends=True)
    edits = [(value, repr(overrides[name])) for name, value in _top_assignments(body)
             if name in overrides]
    for value, text in reversed(edits):
        first, last = value.lineno - 1, (value.end_lineno or value.lineno) - 1
        start, end = value.col_offset, value.end_col_offset or 0
        head = _utf8_slice(lines[first], 0, start)
        tail = _utf8_slice(lines[last], end, None)
        lines[first:last + 1] = [head + text + tail] + ["\n"] * (last - first)
    return "".join(lines)


def _utf8_slice(line: str, start: int, end: int | None) -> str:
    # ast column offsets count UTF-8 bytes.
    return line.encode("utf-8")[start:end].decode("utf-8")


def _mask_ipython_syntax(body: str) -> str:
    out = []
    for line in body.splitlines(keepends=True):
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            out.append(line[: len(line) - len(stripped)] + "pass\n")
        else:
            out.append(line)
    return "".join(out)


# -- run lifecycle ------------------------------------------------------------------
def begin_cell(key: int | str, body: str | None = None) -> None:
    """Start the run of the executing cell (called from the transformed first line)."""
    from IPython import get_ipython

    if isinstance(key, int):
        try:
            args, body = _pending.pop(key)
        except KeyError:
            raise UsageError("%%track: this cell's text was lost; run the cell again") from None
    else:
        args = key
    assert body is not None
    options = parse_options(args)  # UsageError goes to the user: their cell has not run yet
    shell = get_ipython()
    if _state.run is not None and not _state.run._finished:
        raise UsageError(
            f"%%track: run {_state.run.name!r} is still open; %%track cells cannot be nested"
        )
    try:
        _start(shell, options, body)
    except NbtrackError as exc:
        raise UsageError(f"%%track: {exc}") from None
    except Exception as exc:  # tracking must never stop the user's cell
        warn_once(
            "begin-cell",
            f"nbtrack could not start tracking this cell ({exc!r}); the cell runs untracked",
        )


def _start(shell: Any, options: _Options, body: str) -> None:
    namespace = shell.user_ns if shell is not None else {}
    config: dict[str, Any] = {}
    deferred = None
    if options.capture:
        try:
            deferred = capture.infer_config(body, namespace)
            config.update(deferred.values)
        except Exception as exc:
            warn_once("capture", f"nbtrack could not infer this cell's config ({exc!r}); tracking goes on")
    for key, value in options.overrides.items():
        config[key] = value
        if not _assigns_at_top(body, key):
            namespace[key] = value  # as if the cell began with KEY = VALUE
    run = _run.Run(
        options.name, project=options.project, config=config, tags=options.tags,
        notes=options.notes, group=options.group, kind="cell", source=body,
        execution_count=getattr(shell, "execution_count", None),
        notebook_path=capture.notebook_path(namespace),
    )
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


def _assigns_at_top(body: str, key: str) -> bool:
    return any(name == key for name, _ in _top_assignments(body))


def end_cell(
    error: BaseException | None,
    namespace: dict[str, Any] | None = None,
    execution_count: int | None = None,
) -> _run.Run | None:
    """Finish the executing cell's run with the cell's outcome."""
    run = _state.run
    if run is None:
        return None
    _state.run = None
    try:
        if execution_count is not None and execution_count != run.execution_count:
            # IPython 9 counts the cell before running it, 8 after: trust the result.
            run.execution_count = execution_count
            run._mark("execution_count")
        if _state.deferred is not None and namespace is not None and not run._finished:
            late = capture.collect_deferred(_state.deferred, namespace)
            if late:
                run.config.update(late)
        if error is None:
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


def _format(error: BaseException) -> str:
    tb = error.__traceback__
    # Drop IPython's own exec frame so the stored traceback starts in the user's cell.
    if tb is not None and tb.tb_next is not None and "interactiveshell" in tb.tb_frame.f_code.co_filename:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb))


def _pre_run_cell(info: Any) -> None:
    _state.infos.append(info)


def _post_run_cell(result: Any) -> None:
    info = _state.infos.pop() if _state.infos else None
    if _state.run is not None and (info is _state.info or info is None):
        from IPython import get_ipython

        shell = get_ipython()
        end_cell(
            result.error_in_exec, getattr(shell, "user_ns", None),
            getattr(result, "execution_count", None),
        )


@magics_class
class TrackMagics(Magics):
    """Holds ``%%track`` for help and for callers that bypass input transformation."""

    @cell_magic
    def track(self, line: str, cell: str) -> None:
        options = parse_options(line)
        if _state.run is not None and not _state.run._finished:
            raise UsageError("%%track cells cannot be nested")
        source = apply_overrides(cell, options.overrides)
        saved_infos = list(_state.infos)
        begin_cell(line, cell)
        _state.info = "fallback"
        shell = self.shell
        assert shell is not None
        try:
            result = shell.run_cell(source, store_history=False)
        finally:
            _state.infos[:] = saved_infos
        end_cell(result.error_in_exec, shell.user_ns)

    track.__doc__ = _track_signature.__doc__


def load(shell: Any) -> None:
    shell.register_magics(TrackMagics)
    if transform not in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.append(transform)
    shell.events.register("pre_run_cell", _pre_run_cell)
    shell.events.register("post_run_cell", _post_run_cell)
    # %load_ext runs inside a cell whose pre_run_cell we missed: count it now.
    _state.infos.append(None)


def unload(shell: Any) -> None:
    if transform in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.remove(transform)
    for event, handler in (("pre_run_cell", _pre_run_cell), ("post_run_cell", _post_run_cell)):
        with contextlib.suppress(ValueError):  # not registered: nothing to undo
            shell.events.unregister(event, handler)
