"""What the live panel costs: a 100k-step loop with and without it, and the saved notebook's size.

Run from the repository root::

    .venv/bin/python benchmarks/bench_live.py                 # 5 repeats of each
    .venv/bin/python benchmarks/bench_live.py --quick         # 3 repeats
    .venv/bin/python benchmarks/bench_live.py --out benchmarks/RESULTS-live.md

1. *Loop overhead*: a real ipykernel (started with jupyter_client, as JupyterLab starts
   one) runs a ``%%track`` cell whose loop logs 4 scalars at each of 100,000 steps, once
   with the live panel and once with ``--no-live``, alternating, each repeat in a fresh
   store; once with logging alone and once with 20 µs of pure-Python work per step (so
   the loop lasts long enough for the panel to update many times while it runs). The
   loop is timed inside the kernel (wall: ``perf_counter``; CPU:
   ``process_time``, every thread of the kernel, so the panel's thread is included);
   the whole cell (loop, finishing the run, drawing the final picture) is timed from
   the client. The client reads every message the kernel sends, as a browser would,
   and counts the panel's messages and bytes. One untimed run of each kind comes first
   (Altair, the chart library and vl-convert load once per kernel).
2. *Notebook size*: nbclient runs a notebook whose ``%%track`` cell logs 4 scalars at
   each of 10,000 steps, saves it (nbclient also saves the state of every widget it
   saw), and reports the file's size and where the bytes are.

This is a script, not a test: it prints Markdown tables and asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STEPS = 100_000
NOTEBOOK_STEPS = 10_000

LOOP = """\
%%track bench-{index} {flags}
import time as _time
_pc = _time.perf_counter
_w, _c = _time.perf_counter(), _time.process_time()
for step in range({steps}):
    _end = _pc() + {work_s}
    while _pc() < _end:  # the "training step": pure Python, holding the GIL
        pass
    nbtrack.log({{"loss": 1.0 / (step + 1), "acc": step / {steps}, "lr": 0.1, "grad_norm": 1.5}})
print("@@" + __import__("json").dumps([_time.perf_counter() - _w, _time.process_time() - _c]))
_panel = __import__("nbtrack.widgets").widgets._open.get(nbtrack.active_run().id)
"""
#: After the cell: CPU seconds the panel's update thread spent during the run.
PANEL_CPU = 'print("@@" + __import__("json").dumps(_panel.cpu_seconds if _panel else 0.0))'

#: Simulated work per step, in microseconds: none (logging alone, the worst case for the
#: panel's share) and 20 µs of pure Python (a 2-second loop the panel updates during).
WORK_US = (0, 20)


def med(values: list[float]) -> float:
    return statistics.median(values)


def span(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    return (f"{med(values) * scale:.{digits}f} [{min(values) * scale:.{digits}f}–"
            f"{max(values) * scale:.{digits}f}]")


class Kernel:
    """A real ipykernel and a client that reads everything it sends."""

    def __init__(self) -> None:
        from jupyter_client.manager import start_new_kernel

        self.manager, self.client = start_new_kernel(kernel_name="python3")

    def run(self, code: str, timeout: float = 600) -> dict[str, Any]:
        start = time.perf_counter()
        msg_id = self.client.execute(code)
        out: dict[str, Any] = {"stdout": "", "errors": [], "comm_msgs": 0, "updates": 0,
                               "comm_bytes": 0, "library_bytes": 0}
        while True:
            try:
                msg = self.client.get_iopub_msg(timeout=timeout)
            except queue.Empty:
                raise TimeoutError(f"no message for {timeout} s") from None
            kind, content = msg["msg_type"], msg["content"]
            if kind.startswith("comm_"):
                size = len(json.dumps(content)) + sum(len(b) for b in msg.get("buffers") or [])
                data = content.get("data", {})
                is_library = data.get("content", {}).get("type") == "library"
                out["comm_msgs"] += 1
                out["comm_bytes"] += size
                out["library_bytes"] += size if is_library else 0
                out["updates"] += data.get("method") == "custom" and not is_library
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if kind == "stream":
                out["stdout"] += content["text"]
            elif kind == "error":
                out["errors"].append(f"{content['ename']}: {content['evalue']}")
            elif kind == "status" and content["execution_state"] == "idle":
                break
        out["cell_s"] = time.perf_counter() - start
        return out

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def loop_overhead(repeats: int, steps: int, work_us: float) -> dict[str, Any]:
    kernel = Kernel()
    results: dict[str, list[dict[str, Any]]] = {"live": [], "no-live": []}
    stores = Path(tempfile.mkdtemp(prefix="nbtrack-bench-live-"))
    try:
        setup = kernel.run("%load_ext nbtrack\nimport nbtrack")
        assert not setup["errors"], setup["errors"]
        for index in range(repeats + 1):
            for mode in ("live", "no-live"):
                store = stores / f"{mode}-{index}"
                kernel.run(f"nbtrack.settings(dir={str(store)!r})")
                flags = "--no-live" if mode == "no-live" else ""
                result = kernel.run(LOOP.format(index=index, flags=flags, steps=steps,
                                                work_s=work_us / 1e6))
                assert not result["errors"], result["errors"]
                line = next(x for x in result["stdout"].splitlines() if x.startswith("@@"))
                result["loop_wall"], result["loop_cpu"] = json.loads(line[2:])
                after = kernel.run(PANEL_CPU)["stdout"]
                result["panel_cpu"] = json.loads(after.strip().splitlines()[-1][2:])
                if index:  # the first of each kind is the untimed warm-up
                    results[mode].append(result)
                print(f"  {work_us:g} us {mode:8s} #{index}: loop {result['loop_wall']:.3f} s, "
                      f"cell {result['cell_s']:.3f} s, {result['updates']} updates", file=sys.stderr)
    finally:
        kernel.close()
        shutil.rmtree(stores, ignore_errors=True)
    return results


def notebook_size(steps: int) -> dict[str, Any]:
    import nbclient
    import nbformat

    folder = Path(tempfile.mkdtemp(prefix="nbtrack-bench-nb-"))
    sizes: dict[str, Any] = {}
    try:
        for mode in ("live", "no-live"):
            flags = "" if mode == "live" else "--no-live"
            nb = nbformat.v4.new_notebook()
            nb.cells = [
                nbformat.v4.new_code_cell("%load_ext nbtrack\nimport nbtrack"),
                nbformat.v4.new_code_cell(
                    f"%%track size-{mode} {flags}\nfor step in range({steps}):\n"
                    f"    nbtrack.log({{'loss': 1 / (step + 1), 'acc': step / {steps}, "
                    f"'lr': 0.1 * 0.9999**step, 'grad_norm': 1 + (step % 7) / 7}})\n"),
            ]
            client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=600,
                                             resources={"metadata": {"path": str(folder)}})
            client.execute()
            path = folder / f"{mode}.ipynb"
            nbformat.write(nb, path)
            outputs = nb.cells[1].outputs
            sizes[mode] = {
                "file": path.stat().st_size,
                "outputs": len(json.dumps(outputs)),
                "picture": sum(len(o.get("data", {}).get("image/svg+xml", "")) for o in outputs),
                "widget_state": len(json.dumps(nb.metadata.get("widgets", {}))),
                "kinds": sorted({k for o in outputs for k in o.get("data", {})}),
            }
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return sizes


def report(loops: dict[float, dict[str, Any]], sizes: dict[str, Any], repeats: int, steps: int) -> str:
    lines = [
        "# nbtrack live panel benchmarks",
        "",
        f"`benchmarks/bench_live.py`: median of {repeats} repeats, [min–max] beside it.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU cores | {os.cpu_count()} |",
        f"| OS | {platform.platform()} |",
        f"| Python | {platform.python_version()} |",
        f"| Date (UTC) | {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} |",
        f"| Load average at end | {' / '.join(f'{x:.2f}' for x in os.getloadavg())} |",
        "",
        f"## 1. A {steps:,}-step loop logging 4 scalars, with and without the live panel",
        "",
        "Seconds. *Loop* is timed inside the kernel; *cell* from the client, and includes",
        "finishing the run (the final flush) and, with the panel, drawing the static picture.",
        "*Work* is pure-Python busy work per step before the `log` call. *Panel thread CPU*:",
        "CPU time of the panel's update thread (not affected by other load on the machine).",
        "",
        "| work per step | panel | loop wall s | loop CPU s (all threads) | panel thread CPU s "
        "| cell wall s | updates sent | bytes sent |",
        "|---|---|---|---|---|---|---|---|",
    ]
    ratios = []
    for work_us, results in loops.items():
        live, plain = results["live"], results["no-live"]
        for name, rows in (("live", live), ("`--no-live`", plain)):
            lines.append(
                f"| {work_us:g} µs | {name} | {span([r['loop_wall'] for r in rows], digits=3)} | "
                f"{span([r['loop_cpu'] for r in rows], digits=3)} | "
                f"{span([r['panel_cpu'] for r in rows], digits=3)} | "
                f"{span([r['cell_s'] for r in rows], digits=3)} | "
                f"{med([r['updates'] for r in rows]):.0f} | "
                f"{med([r['comm_bytes'] for r in rows]) / 1e3:,.0f} kB "
                f"(library {med([r['library_bytes'] for r in rows]) / 1e3:,.0f} kB) |")

        def ratio(key: str, live: list[dict[str, Any]] = live, plain: list[dict[str, Any]] = plain) -> str:
            values = [a[key] / b[key] for a, b in zip(live, plain)]
            overall = med([a[key] for a in live]) / med([b[key] for b in plain])
            return f"{overall:.3f} (per pair {span(values, digits=3)})"

        share = med([r["panel_cpu"] / r["loop_wall"] for r in live])
        ratios.append(f"- work {work_us:g} µs/step: loop wall {ratio('loop_wall')}; loop CPU "
                      f"{ratio('loop_cpu')}; whole cell {ratio('cell_s')}; the panel's thread used "
                      f"{share:.1%} of the loop's wall time in CPU")
    lines += ["", "**Ratio with / without the panel** (median over median; per-pair ratios beside):", "",
              *ratios, "",
              f"## 2. Saved notebook for a {NOTEBOOK_STEPS:,}-step run (nbclient, widget state saved)",
              "",
              "| | file bytes | cell outputs bytes | SVG picture bytes | widget state bytes | output kinds |",
              "|---|---|---|---|---|---|"]
    for mode, row in sizes.items():
        lines.append(f"| {mode} | {row['file']:,} | {row['outputs']:,} | {row['picture']:,} | "
                     f"{row['widget_state']:,} | {', '.join(row['kinds'])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 5")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--out", type=Path, help="also write the Markdown report here")
    args = parser.parse_args()
    os.environ.pop("NBTRACK_DIR", None)
    venv = Path(sys.executable).parent
    os.environ["PATH"] = f"{venv}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ.setdefault("JUPYTER_PATH", str(Path(sys.prefix) / "share" / "jupyter"))
    repeats = 3 if args.quick else 5
    print("loop overhead ...", file=sys.stderr)
    loops = {work: loop_overhead(repeats, args.steps, work) for work in WORK_US}
    print("notebook size ...", file=sys.stderr)
    sizes = notebook_size(NOTEBOOK_STEPS)
    text = report(loops, sizes, repeats, args.steps)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
