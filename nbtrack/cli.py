"""The ``nbtrack`` command: list, show and query runs from a terminal, and a demo.

Each subcommand is one function registered with :func:`subcommand`, together with a
function that adds its options; a new subcommand is one more decorated function::

    def _args(parser):
        parser.add_argument("run")

    @subcommand("touch", "do something with a run", _args)
    def touch(args):
        ...
        return 0

Errors nbtrack raises on purpose (no such run, bad SQL, a locked or unreadable
store) print one line to stderr and exit 1; argparse's usage errors exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from . import _settings
from ._version import __version__
from .errors import NbtrackError
from .formatting import duration, json_text, timestamp
from .formatting import number as format_number
from .formatting import value as value_text

__all__ = ["SUBCOMMANDS", "build_parser", "main", "subcommand"]

NAME_WIDTH = 32
PROJECT_WIDTH = 20
MAX_METRICS = 4
SQL_CELL_WIDTH = 60
@dataclass(frozen=True)
class Subcommand:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


SUBCOMMANDS: dict[str, Subcommand] = {}


def subcommand(
    name: str, help: str, configure: Callable[[argparse.ArgumentParser], None] | None = None
) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    """Register ``nbtrack NAME``: the function takes the parsed args and returns the exit code."""

    def register(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        SUBCOMMANDS[name] = Subcommand(name, help, configure or (lambda parser: None), run)
        return run

    return register


# -- text layout --------------------------------------------------------------------
def _clean(value: Any) -> str:
    """One line of text: control characters (newlines, tabs) shown escaped."""
    text = "" if value is None else str(value)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


def _char_width(ch: str) -> int:
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def text_width(text: str) -> int:
    """Columns ``text`` takes in a terminal (wide CJK and emoji count two)."""
    return sum(_char_width(ch) for ch in text)


def fit(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` columns, with an ellipsis when cut."""
    if text_width(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = _char_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    """Rows under headers in aligned columns; column indexes in ``right`` align right."""
    widths = [text_width(h) for h in headers]
    for row in rows:
        widths = [max(w, text_width(cell)) for w, cell in zip(widths, row)]

    def line(cells: Sequence[str]) -> str:
        parts = []
        for i, (cell, w) in enumerate(zip(cells, widths)):
            pad = " " * (w - text_width(cell))
            parts.append(pad + cell if i in right else cell + pad)
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def number(value: Any) -> str:
    """A metric or config value in a runs table: the one formatting module's short form."""
    return _clean(value_text(value, nan_missing=True))


# -- ls -----------------------------------------------------------------------------
def _ls_args(parser: argparse.ArgumentParser) -> None:
    from ._run import STATUSES

    parser.add_argument("--project", "-p", help="only runs in this project")
    parser.add_argument("--status", "-s", choices=STATUSES, help="only runs with this status")
    parser.add_argument("--tag", "-t", action="append", metavar="TAG",
                        help="only runs with this tag (repeatable: any of them)")
    parser.add_argument("--limit", "-n", type=_positive, default=20,
                        help="at most N runs (default 20)")
    parser.add_argument("--all", "-a", action="store_true", help="list every run (no limit)")


def runs_table(frame: Any) -> str:
    """The ``nbtrack ls`` table for a DataFrame from :func:`nbtrack.runs`."""
    metric_cols = [c for c in frame.columns if c.startswith("summary.")]
    counts = {c: int(frame[c].notna().sum()) for c in metric_cols}
    chosen = sorted((c for c in metric_cols if counts[c]), key=lambda c: -counts[c])[:MAX_METRICS]
    headers = ["id", "name", "project", "status", "created", "duration"]
    headers += [fit(_clean(c.removeprefix("summary.")), 16) for c in chosen]
    rows = []
    for rec in frame.to_dict("records"):
        row = [rec["id"], fit(_clean(rec["name"]), NAME_WIDTH),
               fit(_clean(rec["project"]), PROJECT_WIDTH), rec["status"],
               timestamp(rec["created_at"]), duration(rec["duration"])]
        rows.append(row + [fit(number(rec[c]), 16) for c in chosen])
    return table(headers, rows, right={5, *range(6, 6 + len(chosen))})


@subcommand("ls", "list runs, newest first", _ls_args)
def cmd_ls(args: argparse.Namespace) -> int:
    import nbtrack

    limit = None if args.all else args.limit
    # One more than shown, to tell whether there are more.
    frame = nbtrack.runs(args.project, status=args.status, tags=args.tag,
                         limit=None if limit is None else limit + 1)
    if frame.empty:
        asked = (("project", args.project), ("status", args.status), ("tag", args.tag))
        filters = [f"{key} {value!r}" for key, value in asked if value]
        where = f" matching {', '.join(filters)}" if filters else ""
        print(f"no runs in {_store_shown()}{where}")
        return 0
    more = limit is not None and len(frame) > limit
    print(runs_table(frame.head(limit) if more else frame))
    if more:
        print(f"(newest {limit} shown; --limit N or --all for more)")
    return 0


# -- show ---------------------------------------------------------------------------
def _show_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="run id, or name (the newest run of that name)")
    parser.add_argument("--json", action="store_true", help="print the whole record as JSON")


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _flat(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = value
    return out


def _value(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def _indent(text: str, by: str = "  ") -> str:
    return "\n".join(by + line if line else line for line in text.rstrip("\n").splitlines())


def describe(rec: dict[str, Any]) -> str:
    """The ``nbtrack show`` text for a record from :func:`nbtrack.run_record`."""
    env = rec.get("environment") or {}
    git = rec.get("git_commit")
    if git:
        branch = (env.get("git") or {}).get("branch")
        dirty = " (dirty)" if rec.get("git_dirty") else ""
        git = git[:12] + (f" on {branch}" if branch else "") + dirty
    count = rec.get("execution_count")
    cell = None if count is None else f"In [{count}]"
    fields = [
        ("id", rec["id"]), ("project", rec["project"]), ("status", rec["status"]),
        ("created", timestamp(rec["created_at"])),
        ("ended", timestamp(rec["ended_at"]) if rec.get("ended_at") is not None else None),
        ("duration", duration(rec["duration"])),
        ("tags", ", ".join(rec.get("tags") or [])), ("notes", rec.get("notes")),
        ("group", rec.get("group_name")), ("sweep", rec.get("sweep_id")),
        ("notebook", rec.get("notebook_path")), ("cell", cell),
        ("hostname", rec.get("hostname")), ("git", git), ("python", env.get("python")),
    ]
    lines = [_clean(rec["name"])]
    lines += [f"  {key:<9} {_clean(val)}" for key, val in fields if val not in (None, "")]
    for title, data in (("config", rec.get("config")), ("summary", rec.get("summary"))):
        lines += ["", title]
        flat = _flat("", data, {}) if data else {}
        lines += [f"  {_clean(k)} = {_value(v)}" for k, v in flat.items()] or ["  (none)"]
    lines += ["", "metrics"]
    metrics = rec.get("metrics") or []
    if metrics:
        rows = [[_clean(m["key"]), str(m["points"]), f"{m['first_step']}-{m['last_step']}"]
                for m in metrics]
        lines.append(_indent(table(["key", "points", "steps"], rows, right={1})))
    else:
        lines.append("  (none logged)")
    if rec.get("error"):
        lines += ["", "error", _indent(rec["error"])]
    if rec.get("source"):
        lines += ["", "source", _indent(rec["source"], "    ")]
    return "\n".join(lines)


@subcommand("show", "show everything stored about one run", _show_args)
def cmd_show(args: argparse.Namespace) -> int:
    import nbtrack

    rec = nbtrack.run_record(args.run)
    if args.json:
        print(json_text(rec, indent=2))
        return 0
    print(describe(rec))
    if rec["id"] != args.run:
        from .selection import Selection
        from .store import get_store

        same = get_store().count_runs(Selection(name=args.run))
        if same > 1:
            print(f"\n({same} runs are named {args.run!r}; this is the newest, "
                  "pass an id for another)")
    return 0


# -- sql ----------------------------------------------------------------------------
def _sql_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", help='DuckDB SQL over the views runs, metrics and config, '
                        'e.g. "SELECT name, status FROM runs"')
    parser.add_argument("--csv", action="store_true", help="print CSV instead of a table")


@subcommand("sql", "query the runs, metrics and config views with SQL (read-only)", _sql_args)
def cmd_sql(args: argparse.Namespace) -> int:
    import nbtrack

    try:
        frame = nbtrack.sql(args.query)
    except NbtrackError as exc:
        raise NbtrackError(str(exc).removeprefix("nbtrack.sql(): ")) from None
    if args.csv:
        frame.to_csv(sys.stdout, index=False)
    elif frame.columns.empty:
        print("(no result)")
    else:
        print(result_table(frame))
        if frame.empty:
            print("(0 rows)")
    return 0


def _cell(value: Any) -> str:
    missing = (isinstance(value, float) and math.isnan(value)) or str(value) in ("NaT", "<NA>")
    if value is None or missing:
        return "NULL"
    if isinstance(value, float):
        return format_number(value, 6)
    if getattr(value, "ndim", 0) > 0 and hasattr(value, "tolist"):
        value = value.tolist()  # a list column (tags) arrives as a numpy array
    elif hasattr(value, "item") and not isinstance(value, str):
        return _cell(value.item())
    if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return fit(_clean(value), SQL_CELL_WIDTH)


def result_table(frame: Any) -> str:
    """A query result as a table: numbers right-aligned, long text cut (``--csv`` shows all)."""
    import pandas as pd

    types = pd.api.types
    right = {i for i, dtype in enumerate(frame.dtypes)
             if types.is_numeric_dtype(dtype) and not types.is_bool_dtype(dtype)}
    rows = [[_cell(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    return table([fit(_clean(c), SQL_CELL_WIDTH) for c in frame.columns], rows, right)


# -- demo ---------------------------------------------------------------------------
def _demo_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=_positive, default=3,
                        help="runs, one per learning rate (default 3)")
    parser.add_argument("--steps", type=_positive, default=200,
                        help="training steps per run (default 200)")
    parser.add_argument("--project", default="demo", help="project of the demo runs (default demo)")


@subcommand("demo", "train a tiny numpy model, one run per learning rate", _demo_args)
def cmd_demo(args: argparse.Namespace) -> int:
    import nbtrack

    from . import demo as training

    started = time.monotonic()
    try:
        chosen = _settings.store_location()
        if not isinstance(chosen, str):
            chosen.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NbtrackError(f"cannot create the store directory: {exc}; pass --store DIR") from None
    print(f"training {args.runs} logistic regression run(s) for {args.steps} steps ...")
    done = training.run_demo(runs=args.runs, steps=args.steps, project=args.project)
    frame = nbtrack.runs(args.project)
    frame = frame[frame["id"].isin([run.id for run in done])] if not frame.empty else frame
    if len(frame) < len(done):
        raise NbtrackError(f"the demo runs could not be written to {_store_shown()}")
    print(runs_table(frame))
    top = training.best(done)
    print(
        f"\nbest run: {top.name} (id {top.id}): final loss {number(top.summary.get('loss'))}, "
        f"accuracy {number(top.summary.get('acc'))}  [{time.monotonic() - started:.1f}s in all]"
    )
    print(f"store: {_store_shown()}")
    print(f"next: nbtrack show {top.id}   |   nbtrack ls --project {args.project}")
    return 0


# -- export-report ------------------------------------------------------------------
def _report_args(parser: argparse.ArgumentParser) -> None:
    from .report import DEFAULT_NAME

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "Each selection option given narrows the selection; with none, every run in the store.\n\n"
        "--where EXPR: a filter over the run columns of `nbtrack ls` / nbtrack.runs():\n"
        "  config.lr > 0.01                      compare with == != < <= > >= (0.1 < config.lr < 1 too)\n"
        "  status == 'finished' and not summary.loss > 1      and, or, not, parentheses\n"
        "  status in ['failed', 'crashed']       in / not in a list\n"
        "  'cnn' in tags                         a tag of the run\n"
        "  config['batch-size'] >= 64            keys that are not plain names\n"
        "  summary.acc == None                   missing values (other comparisons with them are false)\n"
        "  created_at >= '2024-05-01'            times compare with ISO dates (UTC)\n"
        "Columns: id, name, project, status, created_at, ended_at, duration, tags, notes,\n"
        "config.<key>, summary.<metric>. Anything else (calls, arithmetic) is refused.\n\n"
        "examples:\n"
        "  nbtrack export-report --project mnist -o mnist.html\n"
        "  nbtrack export-report --sweep s1a2b3c4 --metrics val/acc:max\n"
        "  nbtrack export-report --runs baseline k3j9x0qa --title 'Baseline vs wide'"
    )
    parser.add_argument("-o", "--output", default=DEFAULT_NAME, metavar="PATH",
                        help=f"the HTML file to write (default: {DEFAULT_NAME} in the current "
                        "directory; a directory gets that name inside)")
    parser.add_argument("--project", "-p", help="only runs in this project")
    parser.add_argument("--runs", nargs="+", metavar="RUN",
                        help="only these runs, by id or name (a name means the newest run of that name)")
    parser.add_argument("--sweep", metavar="ID", help="only the runs of this sweep, with the sweep's charts")
    parser.add_argument("--where", metavar="EXPR",
                        help="only runs for which EXPR holds, e.g. \"config.lr > 0.01\" (syntax below)")
    parser.add_argument("--metrics", nargs="+", metavar="KEY",
                        help="metrics to chart (default: all logged); KEY:max or KEY:min says which "
                        "way is better (else guessed: losses and errors go down)")
    parser.add_argument("--title", help="the report's title (default: from the project or sweep)")
    parser.add_argument("--x", metavar="X",
                        help="what the metric charts are first drawn against (the page can choose another): "
                        "step (default), relative (seconds since each run began), wall (the clock) or a "
                        "logged metric such as epoch")
    parser.add_argument("--max-points", type=_positive, default=1000, metavar="N",
                        help="downsample each series to about N points for display (default 1000)")
    parser.add_argument("--max-image-mb", type=float, default=6.0, metavar="MB",
                        help="embed at most this many MB of logged images (default 6; 0: none)")
    bar = parser.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="show a progress bar (default: when stderr is a terminal)")
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


@subcommand("export-report", "write a self-contained HTML report of runs (opens offline)", _report_args)
def cmd_export_report(args: argparse.Namespace) -> int:
    from .report import export_report

    if args.max_points < 2:
        raise NbtrackError(f"--max-points must be at least 2; got {args.max_points}")
    if not args.max_image_mb >= 0:
        raise NbtrackError(f"--max-image-mb must be 0 or more; got {args.max_image_mb}")
    started = time.monotonic()
    path = export_report(args.output, project=args.project, runs=args.runs, sweep=args.sweep,
                         where=args.where, metrics=args.metrics, title=args.title,
                         max_points=args.max_points, progress=args.progress,
                         max_image_bytes=int(args.max_image_mb * 1024 * 1024), x=args.x)
    size = path.stat().st_size
    print(f"wrote {path} ({size / 1e6:.1f} MB) in {time.monotonic() - started:.1f}s")
    return 0


# -- import -------------------------------------------------------------------------
def _import_args(parser: argparse.ArgumentParser) -> None:
    tools = parser.add_subparsers(dest="tool", metavar="TOOL", required=True)
    tb = tools.add_parser("tensorboard", help="event files under DIR (each folder with them is a run)",
                          description="Import every TensorBoard run (folder of event files) under DIR.")
    tb.add_argument("path", metavar="DIR", help="the folder SummaryWriter wrote to")
    ml = tools.add_parser("mlflow", help="runs from an MLflow tracking URI",
                          description="Import MLflow runs: params, metric histories, tags, status.")
    ml.add_argument("uri", nargs="?", metavar="URI",
                    help="sqlite:///mlflow.db or a ./mlruns folder (default: as MLflow resolves it)")
    ml.add_argument("--experiment", "-e", metavar="NAME", help="only this experiment (name or id)")
    wb = tools.add_parser("wandb-offline", help="W&B offline runs under DIR",
                          description="Import W&B offline runs (offline-run-*/run-*.wandb) under DIR.")
    wb.add_argument("path", metavar="DIR", help="the wandb/ folder, or one offline-run-* folder")
    for sub in (tb, ml, wb):
        sub.add_argument("--project", "-p", help="put the runs in this project (default: the "
                         "source's experiment or project name, else the folder's name)")
        # --store after the tool's name too (`nbtrack import tensorboard DIR --store X`);
        # SUPPRESS, as build_parser does, so an absent one does not reset an earlier one.
        sub.add_argument("--store", metavar="DIR", default=argparse.SUPPRESS,
                         help="store directory (default: NBTRACK_DIR, else ./.nbtrack)")


@subcommand("import", "import runs from TensorBoard, MLflow or W&B offline (again = update)",
            _import_args)
def cmd_import(args: argparse.Namespace) -> int:
    from . import importers

    if args.tool == "tensorboard":
        report = importers.import_tensorboard(args.path, project=args.project)
    elif args.tool == "mlflow":
        report = importers.import_mlflow(args.uri, experiment=args.experiment, project=args.project)
    else:
        report = importers.import_wandb_offline(args.path, project=args.project)
    print(report)
    print(f"store: {_store_shown()}")
    if report.complete:
        return 0
    # What could be read was imported; the exit code tells a script that not all was.
    print(f"nbtrack import: not everything could be read: {len(report.damaged)} damaged, "
          f"{report.runs_skipped} run(s) not imported (see the lines above)", file=sys.stderr)
    return 3


# -- sweep and agent: W&B's sweeps over training scripts --------------------------------
def _sweep_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="a W&B sweep config (YAML or JSON), unchanged")
    parser.add_argument("--project", "-p", help="project of the sweep and its runs (default: the config's)")
    parser.add_argument("--name", "-n", help="the sweep's name (default: the config's, else sweep-<id>)")


@subcommand("sweep", "register a sweep from a W&B sweep config, for `nbtrack agent` to run",
            _sweep_args)
def sweep_command(args: argparse.Namespace) -> int:
    from .store import get_store
    from .sweeps.agent import create_sweep

    with _plain_warnings():
        made = create_sweep(args.config, project=args.project, name=args.name)
    store = f" --store {args.store}" if getattr(args, "store", None) else ""
    print(f"created sweep {made.name!r} ({made.id}), {made.method}, project {made.project!r}, "
          f"in {get_store().location}")
    print("run an agent on each machine that reaches the store:")
    print(f"  nbtrack agent {made.id}{store}")
    return 0


def _agent_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sweep", metavar="SWEEP_ID",
                        help="what `nbtrack sweep` printed (or the sweep's name)")
    parser.add_argument("--count", type=_positive, metavar="N",
                        help="trials this agent runs (default: until the sweep is done)")


@subcommand("agent", "run trials of a sweep: its program with each trial's parameters", _agent_args)
def agent_command(args: argparse.Namespace) -> int:
    from .sweeps.agent import Agent

    with _plain_warnings():
        agent = Agent(args.sweep, args.count)
    return agent.run()


@contextlib.contextmanager
def _plain_warnings() -> Iterator[None]:
    """nbtrack's warnings (the sweep config keys it does not use) as plain lines on stderr."""
    import warnings

    from .errors import NbtrackWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NbtrackWarning)
        try:
            yield
        finally:
            for warning in caught:
                print(str(warning.message), file=sys.stderr)


def _store_shown() -> str:
    """The store in force as a person would name it (a folder, or a URL without its password)."""
    return _settings.redact(str(_settings.store_location()))


# -- entry point --------------------------------------------------------------------
def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


# -- rerun and export-script --------------------------------------------------------------
def _rerun_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="run id, or name (the newest run of that name)")
    parser.add_argument("--timeout", type=float, default=600, metavar="S",
                        help="seconds each cell may take (default 600)")
    parser.add_argument("--dry-run", action="store_true",
                        help="only list what cannot be reproduced and the cells that would run")


@subcommand("rerun", "run a %%track cell again in a fresh kernel, as a new run; compare metrics",
            _rerun_args)
def rerun_command(args: argparse.Namespace) -> int:
    from .query import run_record
    from .reproduce import notebook_cells, problems, rerun

    if args.dry_run:
        record = run_record(args.run)
        for problem in problems(record):
            print(f"cannot reproduce: {_clean(problem)}")
        for number, cell in enumerate(notebook_cells(record)):
            print(f"--- cell {number}\n{cell}")
        return 0
    result = rerun(args.run, timeout=args.timeout)
    print(result)
    return 0 if result.reproduced else 1


def _export_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="run id, or name (the newest run of that name)")
    parser.add_argument("-o", "--output", metavar="PATH", default=None,
                        help="file to write (default: print the script)")


@subcommand("export-script", "write a %%track run as a standalone Python script", _export_args)
def export_script_command(args: argparse.Namespace) -> int:
    from .script_export import export_script

    text = export_script(args.run, args.output)
    if args.output is None:
        print(text, end="")
    else:
        print(f"wrote {args.output}")
    return 0


def _sync_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", metavar="STORE", default=None,
                        help="the store to copy to: a postgresql:// URL or a folder")
    parser.add_argument("--from", dest="source", metavar="STORE", default=None,
                        help="the store to copy from (default: the store in force)")
    parser.add_argument("--project", default=None, help="only runs of this project")
    parser.add_argument("--run", dest="runs", action="append", metavar="RUN", default=None,
                        help="only this run (id or name); repeat for more")


@subcommand("sync", "copy runs with their points, media and artifacts to (or from) another store, "
            "e.g. a team's PostgreSQL database; again later, only what changed", _sync_args)
def sync_command(args: argparse.Namespace) -> int:
    from .syncing import sync

    if args.to is None and args.source is None:
        return _fail("say where to sync: nbtrack sync --to postgresql://user@host/db (or --from ...)")
    report = sync(args.to, source=args.source, project=args.project, runs=args.runs, progress=True)
    print(report.summary())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``nbtrack`` parser with every registered subcommand."""
    store = argparse.ArgumentParser(add_help=False)
    # On the main parser and on each subcommand; SUPPRESS keeps one from resetting the other.
    store.add_argument("--store", metavar="STORE", default=argparse.SUPPRESS,
                       help="store folder or postgresql:// URL (default: NBTRACK_STORE or "
                            "NBTRACK_DIR, else ./.nbtrack)")
    parser = argparse.ArgumentParser(
        prog="nbtrack", parents=[store],
        description="Notebook-native experiment tracking: look at the runs in a store.",
    )
    parser.add_argument("--version", action="version", version=f"nbtrack {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for sub in SUBCOMMANDS.values():
        sub.configure(commands.add_parser(sub.name, help=sub.help, description=sub.help,
                                          parents=[store]))
    return parser


def _fail(message: str) -> int:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    print(f"nbtrack: {lines[0] if lines else 'failed'}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``nbtrack`` with ``argv`` (default: the command line); returns the exit code."""
    if hasattr(sys.stdout, "reconfigure"):  # a run name the terminal cannot show is no crash
        sys.stdout.reconfigure(errors="replace")
    args = build_parser().parse_args(argv)
    if getattr(args, "store", None):
        _settings.settings(store=args.store)
    chosen = _settings.store_location()
    where = _settings.redact(str(chosen))
    if not isinstance(chosen, str) and chosen.exists() and not chosen.is_dir():
        return _fail(f"the store {where} is not a directory; pass --store DIR or set NBTRACK_DIR")
    try:
        return SUBCOMMANDS[args.command].run(args)
    except NbtrackError as exc:
        return _fail(str(exc))
    except BrokenPipeError:  # `nbtrack ls | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:
        return _fail(f"cannot use the store {where}: {exc}")
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        import duckdb

        if not isinstance(exc, duckdb.Error):
            raise
        return _fail(f"cannot read the store {where}: {exc}")


if __name__ == "__main__":
    sys.exit(main())
