"""Media benchmark: what images and histograms cost to log, and whether they slow the store.

Not a test: it measures and writes ``benchmarks/RESULTS-media.md``. Each tool runs in a
fresh subprocess; repeats are interleaved so the machine's load hits all alike.

    .venv/bin/python benchmarks/bench_media.py            # ~2 min here
    .venv/bin/python benchmarks/bench_media.py --quick

Workloads
- *log cost*: N images (random RGB, so PNG cannot compress them) logged one per step with
  4 scalars, through nbtrack, wandb (offline) and TensorBoard's SummaryWriter (torch),
  timed from the first call to the end of ``finish``/``close``; and N histograms of
  10k values (64 bins).
- *store*: read latency of ``runs()``, a 10k-point ``history`` and ``media()`` in a store
  with no media, then after 10k images and 10k histograms were logged: large media live in
  files beside the DuckDB file, so scalar reads should not change.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

LOG_CODE = {
    "nbtrack": """
import nbtrack
run = nbtrack.init(name="media")
def log(i, img, hist):
    data = {"loss": 1.0 / (i + 2), "acc": 0.5, "lr": 0.1, "gn": 1.0}
    if img is not None: data["sample"] = nbtrack.Image(img)
    if hist is not None: data["w"] = nbtrack.Histogram(hist)
    run.log(data, step=i)
def finish(): run.finish()
""",
    "wandb": """
import os, wandb
os.environ["WANDB_MODE"] = "offline"; os.environ["WANDB_SILENT"] = "true"
run = wandb.init(project="bench", dir=os.environ["BENCH_DIR"])
def log(i, img, hist):
    data = {"loss": 1.0 / (i + 2), "acc": 0.5, "lr": 0.1, "gn": 1.0}
    if img is not None: data["sample"] = wandb.Image(img)
    if hist is not None: data["w"] = wandb.Histogram(hist)
    run.log(data, step=i)
def finish(): run.finish()
""",
    "tensorboard": """
import os
from torch.utils.tensorboard import SummaryWriter
writer = SummaryWriter(os.environ["BENCH_DIR"])
def log(i, img, hist):
    for k, v in (("loss", 1.0 / (i + 2)), ("acc", 0.5), ("lr", 0.1), ("gn", 1.0)):
        writer.add_scalar(k, v, i)
    if img is not None: writer.add_image("sample", img, i, dataformats="HWC")
    if hist is not None: writer.add_histogram("w", hist, i, bins=64)
def finish(): writer.close()
""",
}

CHILD = """
import json, os, sys, time
import numpy as np
kind, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
images = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(min(n, 20))]
hists = [rng.normal(size=10_000) for _ in range(min(n, 20))]
{setup}
log(-1, None, None)  # warm-up (step -1): imports and first write outside the timing
t0 = time.perf_counter(); c0 = time.process_time()
for i in range(n):
    log(i, images[i % len(images)] if kind == "image" else None,
        hists[i % len(hists)] if kind == "hist" else None)
t1 = time.perf_counter()
finish()
t2 = time.perf_counter(); c2 = time.process_time()
size_on_disk = sum(f.stat().st_size for f in __import__("pathlib").Path(os.environ["BENCH_DIR"]).rglob("*")
                   if f.is_file())
print(json.dumps({"loop": t1 - t0, "total": t2 - t0, "cpu": c2 - c0, "disk": size_on_disk}))
"""

STORE_CODE = """
import json, time, numpy as np, nbtrack
def timed(fn, repeats=5):
    out = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); out.append(time.perf_counter() - t)
    return sorted(out)[len(out) // 2]
with nbtrack.init(name="scalars") as run:
    for i in range(10_000):
        run.log({"loss": 1.0 / (i + 2)})
def reads():
    return {"runs": timed(lambda: nbtrack.runs()), "history": timed(lambda: nbtrack.history(run, "loss")),
            "media": timed(lambda: nbtrack.media(run))}
before = reads()
import pathlib, os
store = pathlib.Path(os.environ["NBTRACK_DIR"])
db_before = (store / "nbtrack.duckdb").stat().st_size
rng = np.random.default_rng(0)
t = time.perf_counter()
with nbtrack.init(name="media") as media_run:
    for i in range({n}):
        media_run.log({"img": nbtrack.Image(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)),
                       "w": nbtrack.Histogram(rng.normal(size=1000))})
logged = time.perf_counter() - t
after = reads()
after["media"] = timed(lambda: nbtrack.media(media_run))
files = [p for p in (store / "media").rglob("*") if p.is_file()]
print(json.dumps({"before": before, "after": after, "log_s": logged, "db_before": db_before,
                  "db_after": (store / "nbtrack.duckdb").stat().st_size, "files": len(files),
                  "file_bytes": sum(p.stat().st_size for p in files)}))
"""


def child(kind: str, tool: str, n: int, size: int) -> dict[str, float] | str:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "BENCH_DIR": tmp, "NBTRACK_DIR": tmp, "HOME": tmp, "WANDB_DIR": tmp,
               "DO_NOT_TRACK": "1", "WANDB_MODE": "offline"}
        code = CHILD.replace("{setup}", textwrap.dedent(LOG_CODE[tool]))
        proc = subprocess.run([sys.executable, "-c", code, kind, str(n), str(size)], env=env,
                              capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            return (proc.stderr.strip().splitlines() or ["failed"])[-1]
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(HERE / "RESULTS-media.md"))
    args = parser.parse_args()
    n_img, n_hist, n_store = (50, 200, 2_000) if args.quick else (200, 1_000, 10_000)
    results: dict[str, dict[str, list]] = {}
    for _ in range(args.repeats):
        for tool in LOG_CODE:
            for kind, n, size in (("image", n_img, 256), ("hist", n_hist, 0)):
                got = child(kind, tool, n, size or 8)
                results.setdefault(f"{kind}:{tool}", {"n": [n], "runs": []})["runs"].append(got)
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-c", STORE_CODE.replace("{n}", str(n_store))],
                              env={**os.environ, "NBTRACK_DIR": tmp}, capture_output=True, text=True,
                              timeout=1800)
        store = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else proc.stderr
    write(args.out, results, store, n_img, n_hist, n_store)
    print(Path(args.out).read_text())


def med(values: list[float]) -> float:
    return statistics.median(values)


def write(out: str, results: dict, store: object, n_img: int, n_hist: int, n_store: int) -> None:
    lines = [
        "# Media: log cost and effect on the store",
        "",
        f"`benchmarks/bench_media.py`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; load at end {os.getloadavg()[0]:.2f}. Medians of the repeats "
        "[min–max]; ratios against nbtrack in the same run (this machine is shared: absolute "
        "numbers drift, same-run ratios much less).",
        "",
        f"## Log cost: one 256×256 RGB image per step ({n_img} steps) / one 10k-value histogram per "
        f"step ({n_hist} steps), 4 scalars each step, finish included",
        "",
        "| workload | tool | ms per step (wall, incl. finish) | × nbtrack | CPU ms per step | finish ms "
        "| disk per step |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, n in (("image", n_img), ("hist", n_hist)):
        base = None
        for tool in LOG_CODE:
            runs = results.get(f"{kind}:{tool}", {}).get("runs", [])
            good = [r for r in runs if isinstance(r, dict)]
            if not good:
                lines.append(f"| {kind} | {tool} | failed: {runs[0] if runs else '?'} | | | | |")
                continue
            wall = [r["total"] / n * 1e3 for r in good]
            cpu = [r["cpu"] / n * 1e3 for r in good]
            fin = [(r["total"] - r["loop"]) * 1e3 for r in good]
            disk = med([r["disk"] / n for r in good])
            base = base if base is not None else (med(wall) if tool == "nbtrack" else None)
            ratio = f"{med(wall) / base:.1f}×" if base else "–"
            lines.append(f"| {kind} | {tool} | {med(wall):.3f} [{min(wall):.3f}–{max(wall):.3f}] | {ratio} "
                         f"| {med(cpu):.3f} | {med(fin):.0f} | {disk / 1024:.1f} KiB |")
    lines += ["", "CPU is the logging process only (wandb's helper process is not counted here; "
              "`compare_trackers.py` counts helpers for scalars).", ""]
    lines += [f"## Store: scalar reads before and after {n_store:,} images (32×32) and {n_store:,} "
              "histograms in another run", ""]
    if isinstance(store, dict):
        b, a = store["before"], store["after"]
        lines += [
            "| read | before, ms | after, ms |", "|---|---|---|",
            f"| `runs()` | {b['runs'] * 1e3:.1f} | {a['runs'] * 1e3:.1f} |",
            f"| `history(run, 'loss')`, 10k points | {b['history'] * 1e3:.1f} | {a['history'] * 1e3:.1f} |",
            f"| `media(run)` of the media run ({2 * n_store:,} rows) | – | {a['media'] * 1e3:.1f} |",
            "",
            f"Logging them took {store['log_s']:.1f} s ({store['log_s'] / n_store * 1e3:.2f} ms per step "
            f"with one image and one histogram). DuckDB file {store['db_before'] / 1024:.0f} KiB → "
            f"{store['db_after'] / 1024:.0f} KiB; {store['files']:,} media files, "
            f"{store['file_bytes'] / 1024 / 1024:.1f} MiB beside it.",
        ]
    else:
        lines.append(f"failed: {store}")
    Path(out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
