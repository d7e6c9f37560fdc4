"""What the first ``%%track`` cell in a fresh kernel costs, and when its first chart point arrives.

Run from the repository root::

    .venv/bin/python benchmarks/bench_first_cell.py --before /tmp/before \\
        --out benchmarks/RESULTS-first-cell.md

``--before`` is a checkout of the code to compare with (``git worktree add /tmp/before
<commit>``); it is put first on the kernel's ``PYTHONPATH``, as this checkout is for
*after*. Each trial is a fresh kernel driven by nbclient, as "Run All" would be: cell 1
``%load_ext nbtrack``, cell 2 at once the measured cell, a short training loop (logging
a loss at each step, each step waiting ``STEP_S`` as a GPU step would). Modes:

* *plain*: the same loop without ``%%track`` and without ``%load_ext`` (no ``log``): the baseline;
* *live*: ``%%track`` with its live panel; for *after*, three rows: *live, helper warm* (the
  picture helper this user's kernels share is up: a kernel after another within its idle
  time, as after a restart), *live, new helper* (none yet: the first kernel after login,
  or after 30 minutes without one, in a front-end that does not start it: nbclient, VS Code;
  each such trial gets its own ``XDG_RUNTIME_DIR``) and *live, new helper started with the
  kernel* (none yet, and JupyterLab's nbtrack extension has the server start it as the
  notebook's kernel starts: here the server's own call, ``warm_pictures``, made in a thread
  as nbclient starts the kernel), with the cells run at once ("Run All" as the notebook
  opens) or the first cell a second after the kernel is up (``time.sleep(1)`` ending the
  ``%load_ext`` cell: a person's click);
* *no-live*: ``%%track --no-live``.

Measured from the client (nbclient's side of the kernel's messages, what a front-end sees):
the cell's wall time; *overhead* = median wall time minus *plain*'s; when the user's code
started (its first line prints the kernel's clock); when the panel's first ``update``
message with points arrived, when its ``charts`` trait first held a chart and when the chart
library arrived: the first point is drawable once all three are in (*first point*; "–", or
"k of n" beside the figure, where the run ended before its chart reached the front-end: the
final picture then replaced the panel, at about the cell's wall time).
Times are from nbclient sending the cell. The chart library and chart specs are cached on
disk: *warm cache* (every kernel after the first on a machine: one untimed trial fills the
cache) and *cold cache* (an empty cache folder per trial: the first kernel after install).

A script, not a test: it prints Markdown and asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STEP_S = 0.025
LOOPS = {"short (0.1 s)": 4, "1 s": 40}

SETUP = "%load_ext nbtrack\nimport nbtrack, time"
BODY = (
    "print('@@start', time.time())\n"
    "for step in range({steps}):\n"
    "    time.sleep({step_s})\n"
    "    {log}\n"
    "print('@@end', time.time())\n"
)
LOG = "nbtrack.log({'loss': 1.0 / (step + 1)})"


def cell(mode: str, steps: int) -> str:
    body = BODY.format(steps=steps, step_s=STEP_S, log=LOG if mode != "plain" else "pass")
    if mode == "plain":
        return body
    return f"%%track first-cell {'--no-live' if mode == 'no-live' else ''}\n{body}"


#: The report's names for the modes.
MODE_NAMES = {"live": "live, helper warm", "live-new": "live, new helper",
              "live-lab": "live, new helper started with the kernel (JupyterLab), cells at once",
              "live-lab-1s": "live, new helper started with the kernel (JupyterLab), 1 s later",
              "no-live": "no-live",
              "plain": "plain"}


def trial(code_root: Path, mode: str, steps: int, cache: Path) -> dict[str, float | None]:
    """One fresh kernel: cell 1 loads nbtrack, cell 2 is the measured cell."""
    import nbclient
    import nbformat

    marks: dict[str, float] = {}

    class Client(nbclient.NotebookClient):
        def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
            now = time.time()
            if cell_index == 1 and msg["msg_type"] == "comm_msg":
                data = msg["content"].get("data", {})
                content = data.get("content") or {}
                state = data.get("state") or {}
                if data.get("method") == "custom" and content.get("type") == "update":
                    marks.setdefault("update", now)
                if data.get("method") == "custom" and content.get("type") == "library":
                    marks.setdefault("library", now)
                if data.get("method") == "update" and state.get("charts"):
                    marks.setdefault("charts", now)
            return super().process_message(msg, cell, cell_index)

        async def async_execute_cell(self, cell: Any, cell_index: int, *args: Any, **kwargs: Any) -> Any:
            marks[f"sent{cell_index}"] = time.time()
            try:
                return await super().async_execute_cell(cell, cell_index, *args, **kwargs)
            finally:
                marks[f"done{cell_index}"] = time.time()

    folder = Path(tempfile.mkdtemp(prefix="nbtrack-bench-first-"))
    kernelspec = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": kernelspec})  # type: ignore[no-untyped-call]
    setup = SETUP if mode != "plain" else "import time, nbtrack"  # no %load_ext, no warm-up
    if mode == "live-lab-1s":  # a person's second between the kernel coming up and the first cell
        setup += "\ntime.sleep(1)"
    new_cell = nbformat.v4.new_code_cell
    nb.cells = [new_cell(setup), new_cell(cell(mode, steps)),  # type: ignore[no-untyped-call]
                new_cell("print('@@file', nbtrack.__file__)")]  # type: ignore[no-untyped-call]
    env = {key: value for key, value in os.environ.items() if key != "NBTRACK_DIR"}
    env.update({"PYTHONPATH": str(code_root), "XDG_CACHE_HOME": str(cache),
                "PATH": str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", ""),
                "NBTRACK_RENDER_IDLE_S": "120"})  # the shared helper stays through the benchmark
    runtime = None
    if mode in ("live-new", "live-lab", "live-lab-1s"):  # no shared helper to find; killed at the end
        runtime = tempfile.mkdtemp(prefix="nbr-", dir="/tmp")
        env.update({"XDG_RUNTIME_DIR": runtime})
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernel inherits this environment
    try:
        client = Client(nb, kernel_name="python3", timeout=300,
                        resources={"metadata": {"path": str(folder)}})
        if mode.startswith("live-lab"):  # as JupyterLab's server does when the notebook's kernel starts
            from nbtrack.server.handlers import warm_pictures

            threading.Thread(target=warm_pictures, args=([sys.executable], dict(os.environ), str(folder)),
                             daemon=True).start()
        asyncio.run(client.async_execute())
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(folder, ignore_errors=True)
        if runtime is not None:
            stop_helpers(Path(runtime))
            shutil.rmtree(runtime, ignore_errors=True)
    text = "".join(o.get("text", "") for c in nb.cells for o in c.outputs if o.get("output_type") == "stream")
    found = {line.split()[0]: line.split()[1] for line in text.splitlines() if line.startswith("@@")}
    assert Path(found["@@file"]).resolve().is_relative_to(code_root.resolve()), (found, code_root)
    sent = marks["sent1"]
    out: dict[str, float | None] = {
        "wall": marks["done1"] - sent, "load_ext": marks["done0"] - marks["sent0"],
        "user_start": float(found["@@start"]) - sent}
    for name in ("update", "charts", "library"):
        out[name] = marks[name] - sent if name in marks else None
    if mode.startswith("live"):
        parts = [out["update"], out["charts"], out["library"]]
        present = [p for p in parts if p is not None]
        out["first_point"] = max(present) if len(present) == len(parts) else None
    return out


def stop_helpers(runtime: Path) -> None:
    """Kill the shared picture helpers listening in ``runtime`` (a trial's own)."""
    import signal

    from nbtrack.charts._render_worker import listening_pid

    for path in runtime.glob("nbtrack/*.sock"):
        pid = listening_pid(str(path))
        if pid is not None:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def med(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def span(values: list[float | None]) -> str:
    """Median [min–max]; when some trials lack the value, over those that have it, and how many."""
    present = [v for v in values if v is not None]
    if not present:
        return "–"
    text = f"{statistics.median(present):.2f} [{min(present):.2f}–{max(present):.2f}]"
    return text if len(present) == len(values) else f"{text} ({len(present)} of {len(values)})"


Results = dict[tuple[str, str, str, str], list[dict[str, Any]]]


def measure(roots: dict[str, Path], trials: int, cold_trials: int) -> Results:
    results: Results = {}
    scratch = Path(tempfile.mkdtemp(prefix="nbtrack-bench-cache-"))
    try:
        warm = {name: scratch / f"warm-{name}" for name in roots}
        for name, root in roots.items():  # fills the warm caches (chart library, chart specs)
            for _ in range(3):
                trial(root, "live", 40, warm[name])
                cached = {p.name.split("-")[0] for p in (warm[name] / "nbtrack").glob("*")}
                if {"vega", "specs"} <= cached or (name == "before" and "vega" in cached):
                    break
        for label, steps in LOOPS.items():
            for index in range(trials):  # interleaved, so load on the machine hits every mode alike
                for name, root in roots.items():
                    modes = (["plain", "live", "live-new", "live-lab", "live-lab-1s", "no-live"]
                             if name == "after"
                             else ["live", "no-live"])
                    for mode in modes:
                        result = trial(root, mode, steps, warm[name])
                        results.setdefault((name, mode, label, "warm"), []).append(result)
                        print(f"  {label} {name:6s} {mode:8s} #{index}: wall {result['wall']:.2f} s, "
                              f"first point {fmt(result.get('first_point'))}", file=sys.stderr)
        label = next(iter(LOOPS))
        for index in range(cold_trials):
            for name, root in roots.items():
                cold = scratch / f"cold-{name}-{index}"
                result = trial(root, "live", LOOPS[label], cold)
                results.setdefault((name, "live", label, "cold"), []).append(result)
                print(f"  cold {name:6s} #{index}: wall {result['wall']:.2f} s, first point "
                      f"{fmt(result.get('first_point'))}", file=sys.stderr)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return results


def report(results: Results, trials: int,
           before: str, after: str) -> str:
    lines = [
        "# The first `%%track` cell in a fresh kernel",
        "",
        f"`benchmarks/bench_first_cell.py`: a fresh kernel per trial (nbclient), median of {trials}",
        "trials, [min–max] beside it. Seconds from nbclient sending the cell. *before*: "
        f"`{before}`; *after*: `{after}`.",
        "",
        "| | |",
        "|---|---|",
        f"| CPU cores | {os.cpu_count()} (shared with other work: absolute times are noisy) |",
        f"| OS | {platform.platform()} |",
        f"| Python | {platform.python_version()} |",
        f"| Date (UTC) | {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} |",
        f"| Load average at end | {' / '.join(f'{x:.2f}' for x in os.getloadavg())} |",
        "",
    ]
    for label in LOOPS:
        plain = med([r["wall"] for r in results[("after", "plain", label, "warm")]])
        lines += [
            f"## Loop of {label} ({LOOPS[label]} steps of {STEP_S * 1000:g} ms), warm cache",
            "",
            "| code | mode | cell wall | overhead (− plain) | user code starts | first `update` "
            "| `charts` trait | library | **first point** | `%load_ext` cell |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, mode in (("after", "plain"), ("before", "no-live"), ("after", "no-live"),
                           ("before", "live"), ("after", "live-new"), ("after", "live-lab"),
                           ("after", "live-lab-1s"), ("after", "live")):
            rows = results.get((name, mode, label, "warm"))
            if not rows:
                continue
            wall = med([r["wall"] for r in rows])
            over = None if wall is None or plain is None or mode == "plain" else wall - plain
            lines.append(
                f"| {name if mode != 'plain' else '–'} | {MODE_NAMES[mode] if name == 'after' else mode} | "
                f"{span([r['wall'] for r in rows])} | "
                f"{fmt(over)} | {span([r['user_start'] for r in rows])} | "
                f"{span([r['update'] for r in rows])} | {span([r['charts'] for r in rows])} | "
                f"{span([r['library'] for r in rows])} | {span([r.get('first_point') for r in rows])} | "
                f"{span([r['load_ext'] for r in rows])} |")
        lines += ["", *ratios(results, label, plain), ""]
    cold = [(n, results[(n, "live", next(iter(LOOPS)), "cold")]) for n in ("before", "after")
            if (n, "live", next(iter(LOOPS)), "cold") in results]
    if cold:
        lines += [f"## Cold cache (an empty cache folder: the first kernel after install), "
                  f"loop of {next(iter(LOOPS))}, live", "",
                  "| code | cell wall | user code starts | first `update` | `charts` trait | library "
                  "| first point |", "|---|---|---|---|---|---|---|"]
        for name, rows in cold:
            lines.append(f"| {name} | {span([r['wall'] for r in rows])} | "
                         f"{span([r['user_start'] for r in rows])} | {span([r['update'] for r in rows])} | "
                         f"{span([r['charts'] for r in rows])} | {span([r['library'] for r in rows])} | "
                         f"{span([r.get('first_point') for r in rows])} |")
        lines.append("")
    return "\n".join(lines)


def ratios(results: Results, label: str,
           plain: float | None) -> list[str]:
    out = []
    for mode, before_mode in (("live", "live"), ("live-new", "live"), ("live-lab", "live"),
                              ("live-lab-1s", "live"), ("no-live", "no-live")):
        before = results.get(("before", before_mode, label, "warm"))
        after = results.get(("after", mode, label, "warm"))
        if not before or not after or plain is None:
            continue
        b_over = (med([r["wall"] for r in before]) or 0.0) - plain
        a_over = (med([r["wall"] for r in after]) or 0.0) - plain
        line = (f"- {MODE_NAMES[mode]}: overhead before {b_over:.2f} s, after {a_over:.2f} s "
                f"(after/before {a_over / b_over:.2f})" if b_over > 0 else
                f"- {MODE_NAMES[mode]}: overhead before {b_over:.2f} s, after {a_over:.2f} s")
        if mode != "no-live":
            b_first = med([r.get("first_point") for r in before])
            a_first = med([r.get("first_point") for r in after])
            if b_first and a_first:
                line += (f"; first point before {b_first:.2f} s, after {a_first:.2f} s "
                         f"(after/before {a_first / b_first:.2f})")
        out.append(line)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="a checkout of the code to compare with")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--cold-trials", type=int, default=2)
    parser.add_argument("--out", type=Path, help="also write the Markdown report here")
    args = parser.parse_args()
    venv = Path(sys.executable).parent
    os.environ["PATH"] = f"{venv}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ.setdefault("JUPYTER_PATH", str(Path(sys.prefix) / "share" / "jupyter"))
    roots = {"after": ROOT}
    if args.before:
        roots = {"before": args.before, "after": ROOT}
    results = measure(roots, args.trials, args.cold_trials)

    def describe(root: Path) -> str:
        import subprocess

        head = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%h %s"],
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "nbtrack"],
                               capture_output=True, text=True).stdout.strip()
        return head + (" + uncommitted changes" if dirty else "")

    text = report(results, args.trials, describe(args.before) if args.before else "–", describe(ROOT))
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
