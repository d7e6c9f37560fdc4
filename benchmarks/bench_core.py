"""Core benchmarks for nbtrack: log overhead, ingest, read-back, import, disk, memory.

Run from the repository root::

    .venv/bin/python benchmarks/bench_core.py            # 5 repeats per measurement
    .venv/bin/python benchmarks/bench_core.py --quick    # 3 repeats
    .venv/bin/python benchmarks/bench_core.py --out benchmarks/RESULTS-core.md
    .venv/bin/python benchmarks/bench_core.py --profile  # pyinstrument/cProfile of the log loop

Prints Markdown tables: each number is the median of the repeats, with [min-max] beside
it, next to the baseline measured in the same invocation and the ratio between them.
Every group of measurements runs in its own fresh subprocess (so threads, caches and
peak RSS from one group do not leak into another), and every repeat uses a fresh
temporary store directory. Each subprocess first does one small untimed run, so
one-time costs (importing DuckDB and numpy, scanning installed packages) are not
charged to the first repeat; the "import" section measures those separately.

This is a script, not a test: it asserts correctness (row counts) but never timings.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MARK = "@@BENCH@@ "

LOG_STEPS = 100_000          # section 1: 100k log calls x 4 scalars = 400k points
INGEST_STEPS = 250_000       # section 3: 250k steps x 4 keys = 1M points
SERIES_POINTS = 1_000_000    # section 4: one 1M-point series
OTHER_RUNS = 10              # section 4: other 1M-point runs in the "crowded" store
MEM_STEPS = 500_000          # section 7: 500k steps x 4 keys = 2M points
DOWNSAMPLE_TO = 2000
HEAVY = ("duckdb", "pandas", "numpy", "IPython", "pyarrow")

TARGET_LOG_US = 5.0
TARGET_INGEST_PPS = 1_000_000
TARGET_DOWNSAMPLE_MS = 100.0


# ----------------------------------------------------------------------------- helpers
def med(xs: list[float]) -> float:
    return statistics.median(xs)


def fresh_dir(prefix: str) -> str:
    return tempfile.mkdtemp(prefix=f"nbtrack-bench-{prefix}-")


def store_file(d: str) -> Path:
    return Path(d) / "nbtrack.duckdb"


def dir_bytes(d: str) -> int:
    return sum(p.stat().st_size for p in Path(d).iterdir() if p.is_file() and p.suffix != ".lock")


def warm_up() -> None:
    """One small run so DuckDB/numpy imports and per-process caches are paid up front."""
    import nbtrack

    d = fresh_dir("warm")
    run = nbtrack.init(name="warm-up", dir=d)
    for i in range(100):
        run.log({"loss": 1.0 / (i + 1)})
    run.finish()
    nbtrack.history(run.id, "loss", store=d)
    nbtrack.runs(store=d)
    shutil.rmtree(d, ignore_errors=True)
    gc.collect()


def metrics(i: int) -> dict[str, float]:
    x = i * 1e-5
    return {"loss": 1.0 / (1.0 + x), "acc": x, "lr": 0.1 - x * 1e-3, "grad_norm": 2.0 + x}


def emit(payload: dict[str, Any]) -> None:
    print(MARK + json.dumps(payload), flush=True)


# ----------------------------------------------------------------------------- the loops
# The four loops share one shape and one value formula so that only the logging differs.
def loop_run_log(run: Any, n: int) -> None:
    log = run.log
    for i in range(n):
        x = i * 1e-5
        log({"loss": 1.0 / (1.0 + x), "acc": x, "lr": 0.1 - x * 1e-3, "grad_norm": 2.0 + x})


def loop_module_log(run: Any, n: int) -> None:
    import nbtrack

    for i in range(n):
        x = i * 1e-5
        nbtrack.log({"loss": 1.0 / (1.0 + x), "acc": x, "lr": 0.1 - x * 1e-3, "grad_norm": 2.0 + x})


def loop_module_kwargs(run: Any, n: int) -> None:
    import nbtrack

    for i in range(n):
        x = i * 1e-5
        nbtrack.log(loss=1.0 / (1.0 + x), acc=x, lr=0.1 - x * 1e-3, grad_norm=2.0 + x)


def loop_dict_only(run: Any, n: int) -> None:
    for i in range(n):
        x = i * 1e-5
        d = {"loss": 1.0 / (1.0 + x), "acc": x, "lr": 0.1 - x * 1e-3, "grad_norm": 2.0 + x}
    del d


def loop_single_series(run: Any, n: int) -> None:
    log = run.log
    for i in range(n):
        log({"loss": 1.0 / (1.0 + i * 1e-5)})


def timed_run(loop: Callable[[Any, int], None], n: int, *, nbtrack_run: bool = True,
              name: str = "bench") -> dict[str, Any]:
    """init -> loop -> finish in a fresh store; wall/CPU times and the store size."""
    import nbtrack

    d = fresh_dir(name)
    gc.collect()
    run = nbtrack.init(name=name, dir=d) if nbtrack_run else None
    c0 = time.process_time()
    t0 = time.perf_counter()
    loop(run, n)
    t1 = time.perf_counter()
    if run is not None:
        run.finish()
    t2 = time.perf_counter()
    c2 = time.process_time()
    size = dir_bytes(d) if run is not None else 0
    shutil.rmtree(d, ignore_errors=True)
    return {"loop": t1 - t0, "total": t2 - t0, "finish": t2 - t1, "cpu": c2 - c0, "bytes": size}


# ----------------------------------------------------------------------------- children
def child_log(repeats: int) -> dict[str, Any]:
    """Section 1 and the dict-building baseline of section 2, interleaved per repeat."""
    warm_up()
    variants = {
        "run.log": (loop_run_log, True),
        "nbtrack.log(dict)": (loop_module_log, True),
        "nbtrack.log(**kw)": (loop_module_kwargs, True),
        "dict only": (loop_dict_only, False),
    }
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in variants}
    for _ in range(repeats):
        for label, (loop, real) in variants.items():
            out[label].append(timed_run(loop, LOG_STEPS, nbtrack_run=real))
    return out


def _raw_frame(steps: int) -> dict[str, Any]:
    import numpy as np

    i = np.arange(steps, dtype=np.float64)
    x = i * 1e-5
    n = steps * 4
    values = np.empty(n, dtype=np.float64)
    values[0::4], values[1::4], values[2::4], values[3::4] = (
        1.0 / (1.0 + x), x, 0.1 - x * 1e-3, 2.0 + x)
    t = (time.time() + i * 1e-6) * 1e6
    return {
        # Keys as int32 codes into a list, as nbtrack's writer passes them (an object
        # column of strings makes DuckDB hold the GIL; see nbtrack/writer.py).
        "code": np.tile(np.arange(4, dtype=np.int32), steps),
        "step": np.repeat(np.arange(steps, dtype=np.int64), 4),
        "value": values,
        "time": np.repeat(t.astype(np.int64), 4).view("datetime64[us]"),
    }


def raw_insert(frame: dict[str, Any]) -> tuple[float, int]:
    """Connect, create a table shaped like metric_points, bulk insert, commit, close."""
    import duckdb

    d = fresh_dir("raw")
    gc.collect()
    t0 = time.perf_counter()
    con = duckdb.connect(str(Path(d) / "raw.duckdb"))
    con.execute(
        "CREATE TABLE metric_points (run_id VARCHAR NOT NULL, key VARCHAR NOT NULL, "
        "step BIGINT NOT NULL, value DOUBLE, time TIMESTAMP NOT NULL)"
    )
    con.execute("BEGIN TRANSACTION")
    con.register("batch", frame)
    con.execute("INSERT INTO metric_points SELECT ?, list_extract(?::VARCHAR[], code + 1), "
                "step, value, time FROM batch", ["abcd1234", ["loss", "acc", "lr", "grad_norm"]])
    con.unregister("batch")
    con.execute("COMMIT")
    con.close()
    elapsed = time.perf_counter() - t0
    size = dir_bytes(d)
    shutil.rmtree(d, ignore_errors=True)
    return elapsed, size


def child_raw(repeats: int) -> dict[str, Any]:
    """Section 2: raw DuckDB bulk insert from numpy arrays (the store's floor)."""
    warm_up()
    out: dict[str, Any] = {}
    for steps in (LOG_STEPS, INGEST_STEPS):
        frame = _raw_frame(steps)
        runs = [raw_insert(frame) for _ in range(repeats)]
        out[str(steps * 4)] = {"time": [r[0] for r in runs], "bytes": runs[-1][1]}
    return out


def child_ingest(repeats: int) -> dict[str, Any]:
    """Section 3 (end to end, default flush interval) and section 6 (disk)."""
    warm_up()
    return {"e2e": [timed_run(loop_run_log, INGEST_STEPS, name="ingest") for _ in range(repeats)]}


def child_backlog(repeats: int) -> dict[str, Any]:
    """Section 3: the writer alone, flushing a 1M-point backlog in one finish()."""
    import nbtrack
    import nbtrack._run as run_module

    warm_up()
    nbtrack.settings(flush_interval=3600)
    # Logging normally hands a long queue to the writer (memory stays flat); lift that
    # limit here so one finish() flushes the whole backlog and the writer is timed alone.
    run_module._QUEUE_LIMIT = 10**12
    out = []
    for _ in range(repeats):
        d = fresh_dir("backlog")
        run = nbtrack.init(name="backlog", dir=d)
        # init wakes the writer once (to insert the run record); let that finish
        # before logging so the whole backlog is left for finish().
        deadline = time.monotonic() + 30
        while not run._inserted and time.monotonic() < deadline:
            time.sleep(0.01)
        loop_run_log(run, INGEST_STEPS)
        # Nothing written yet: every logged call is still queued, as a flat
        # (step, time, metrics) triple.
        queued = len(run._queue) // 3
        pending = run._writer.pending_points()
        assert queued == INGEST_STEPS and pending == 4 * queued, (queued, pending)
        gc.collect()
        c0 = time.process_time()
        t0 = time.perf_counter()
        run.finish()
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - c0
        out.append({"flush": elapsed, "cpu": cpu, "bytes": dir_bytes(d), "points": pending})
        shutil.rmtree(d, ignore_errors=True)
    # The same flush split in two: Writer.drain (queue of dicts -> numpy chunks,
    # summary update) and the rest of finish() (numpy arrays, DuckDB open/insert/commit/close).
    split = []
    for _ in range(repeats):
        d = fresh_dir("backlog-split")
        run = nbtrack.init(name="backlog", dir=d)
        deadline = time.monotonic() + 30
        while not run._inserted and time.monotonic() < deadline:
            time.sleep(0.01)
        loop_run_log(run, INGEST_STEPS)
        gc.collect()
        t0 = time.perf_counter()
        run._writer.drain(run)
        t1 = time.perf_counter()
        run.finish()
        t2 = time.perf_counter()
        split.append({"drain": t1 - t0, "rest": t2 - t1})
        shutil.rmtree(d, ignore_errors=True)
    return {"backlog": out, "split": split}


def _time_reads(d: str, run_id: str, repeats: int) -> dict[str, Any]:
    import nbtrack

    res: dict[str, Any] = {"full": [], "down": [], "runs": []}
    # Untimed first call of each: imports pandas and the query module.
    nbtrack.history(run_id, "loss", max_points=DOWNSAMPLE_TO, store=d)
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        full = nbtrack.history(run_id, "loss", store=d)
        res["full"].append(time.perf_counter() - t0)
        assert len(full) == SERIES_POINTS, len(full)
        del full
        gc.collect()
        t0 = time.perf_counter()
        down = nbtrack.history(run_id, "loss", max_points=DOWNSAMPLE_TO, store=d)
        res["down"].append(time.perf_counter() - t0)
        per_series = down.groupby(["run_id", "key"]).size().max()
        assert 2 <= per_series <= DOWNSAMPLE_TO, per_series
        res["down_rows"] = int(per_series)
        gc.collect()
        t0 = time.perf_counter()
        table = nbtrack.runs(store=d)
        res["runs"].append(time.perf_counter() - t0)
        res["runs_rows"] = len(table)
    res["bytes"] = dir_bytes(d)
    return res


def _log_series(d: str, name: str) -> str:
    import nbtrack

    run = nbtrack.init(name=name, dir=d)
    loop_single_series(run, SERIES_POINTS)
    run.finish()
    return run.id


def child_read(repeats: int) -> dict[str, Any]:
    """Section 4: read-back of a 1M-point series, alone and among 10 other 1M-point runs."""
    warm_up()
    alone = fresh_dir("read1")
    t0 = time.perf_counter()
    target = _log_series(alone, "target")
    build_alone = time.perf_counter() - t0
    out = {"alone": _time_reads(alone, target, repeats)}
    out["alone"]["build_s"] = build_alone
    shutil.rmtree(alone, ignore_errors=True)

    crowded = fresh_dir("read11")
    t0 = time.perf_counter()
    # The target sits between the others, as when runs are logged one after another.
    for k in range(OTHER_RUNS // 2):
        _log_series(crowded, f"other-{k}")
    target = _log_series(crowded, "target")
    for k in range(OTHER_RUNS // 2, OTHER_RUNS):
        _log_series(crowded, f"other-{k}")
    build_crowded = time.perf_counter() - t0
    out["crowded"] = _time_reads(crowded, target, repeats)
    out["crowded"]["build_s"] = build_crowded
    shutil.rmtree(crowded, ignore_errors=True)
    return out


def child_mem(repeats: int, flush_interval: float, steps: int = MEM_STEPS) -> dict[str, Any]:
    """Section 7: RSS growth while logging `steps` x 4 points (one repeat per process)."""
    import psutil

    import nbtrack

    warm_up()
    nbtrack.settings(flush_interval=flush_interval)
    proc = psutil.Process()
    gc.collect()
    rss0 = proc.memory_info().rss
    maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    d = fresh_dir("mem")
    run = nbtrack.init(name="mem", dir=d)
    log = run.log
    samples = []
    t0 = time.perf_counter()
    for i in range(steps):
        x = i * 1e-5
        log({"loss": 1.0 / (1.0 + x), "acc": x, "lr": 0.1 - x * 1e-3, "grad_norm": 2.0 + x})
        if i % 50_000 == 49_999:
            samples.append(proc.memory_info().rss - rss0)
    loop_s = time.perf_counter() - t0
    rss_end_loop = proc.memory_info().rss - rss0
    run.finish()
    maxrss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    shutil.rmtree(d, ignore_errors=True)
    return {
        "rss0": rss0, "maxrss0": maxrss0, "peak_growth": maxrss1 - rss0,
        "sampled_max": max(samples), "samples": samples, "end_of_loop": rss_end_loop,
        "loop_s": loop_s, "steps": steps,
    }


def child_import_probe() -> dict[str, Any]:
    """Run inside `python -c`: time `import nbtrack` and list heavy modules it loaded."""
    t0 = time.perf_counter()
    import nbtrack  # noqa: F401

    elapsed = time.perf_counter() - t0
    return {"import_s": elapsed, "heavy": [m for m in HEAVY if m in sys.modules]}


def child_ipython_probe() -> dict[str, Any]:
    """`import nbtrack` + `%load_ext nbtrack` in a fresh InteractiveShell."""
    t0 = time.perf_counter()
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    t1 = time.perf_counter()
    before = {m for m in HEAVY if m in sys.modules}
    import nbtrack  # noqa: F401

    t2 = time.perf_counter()
    shell.run_line_magic("load_ext", "nbtrack")
    t3 = time.perf_counter()
    after = [m for m in HEAVY if m in sys.modules and m not in before]
    return {"shell_s": t1 - t0, "import_s": t2 - t1, "load_ext_s": t3 - t2,
            "heavy_added": after}


# ----------------------------------------------------------------------------- orchestration
def run_child(args: list[str], timeout: float = 1800) -> dict[str, Any]:
    env = dict(os.environ)
    env["NBTRACK_DIR"] = tempfile.mkdtemp(prefix="nbtrack-bench-default-")  # nothing in ./.nbtrack
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)
    shutil.rmtree(env["NBTRACK_DIR"], ignore_errors=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"child {args} failed (rc={proc.returncode}):\n{proc.stderr[-4000:]}")
    if proc.stderr.strip():
        print(f"[{' '.join(args)}] stderr: {proc.stderr.strip()[-800:]}", file=sys.stderr)
    return json.loads(lines[-1][len(MARK):])


def measure_imports(repeats: int) -> dict[str, Any]:
    py = sys.executable
    env = dict(os.environ)
    env.pop("PYTHONPROFILEIMPORTTIME", None)

    def wall(code: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([py, "-c", code], check=True, cwd=ROOT, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - t0

    def probe(func: str) -> dict[str, Any]:
        code = (f"import sys, json; sys.path.insert(0, {str(HERE)!r}); import bench_core as b; "
                f"print(b.MARK + json.dumps(b.{func}()))")
        out = subprocess.run([py, "-c", code], check=True, cwd=ROOT, env=env,
                             capture_output=True, text=True).stdout
        return json.loads([ln for ln in out.splitlines() if ln.startswith(MARK)][-1][len(MARK):])

    res: dict[str, Any] = {"python_pass": [], "python_import": [], "inside": [], "ipython": []}
    for _ in range(repeats):
        res["python_pass"].append(wall("pass"))
        res["python_import"].append(wall("import nbtrack"))
        res["inside"].append(probe("child_import_probe"))
        res["ipython"].append(probe("child_ipython_probe"))
    # -X importtime once: the biggest cumulative imports under `import nbtrack`.
    err = subprocess.run([py, "-X", "importtime", "-c", "import nbtrack"], cwd=ROOT, env=env,
                         capture_output=True, text=True).stderr
    rows = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cum_us, name = line[len("import time:"):].split("|", 2)
        rows.append((int(cum_us), int(self_us), name.rstrip()))
    res["importtime_total_us"] = next((c for c, _, n in rows if n.strip() == "nbtrack"), None)
    res["importtime_top"] = [(c, s, n.strip()) for c, s, n in sorted(rows, reverse=True)[:8]]
    return res


def machine() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        models = [ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines()
                  if ln.startswith("model name")]
        info["CPU"] = models[0] if models else platform.processor()
    except OSError:
        info["CPU"] = platform.processor() or "?"
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info["Cores"] = f"{os.cpu_count()} logical ({affinity} usable)"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["RAM"] = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    info["OS"] = platform.platform()
    info["Python"] = f"{platform.python_version()} ({platform.python_implementation()})"
    for mod in ("duckdb", "numpy", "pandas", "IPython", "nbtrack"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:
            info[mod] = "not installed"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip()
        info["nbtrack commit"] = commit + " (working tree may have uncommitted changes)"
    except OSError:
        pass
    info["Date (UTC)"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    info["Load average at start (1/5/15 min)"] = load_average()
    return info


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


# ----------------------------------------------------------------------------- formatting
def spread(xs: list[float], scale: float = 1.0, fmt: str = "{:.2f}") -> str:
    return (fmt.format(med(xs) * scale) + " [" + fmt.format(min(xs) * scale) + "–"
            + fmt.format(max(xs) * scale) + "]")


def verdict(ok: bool) -> str:
    return "**PASS**" if ok else "**FAIL**"


def mib(b: float) -> str:
    return f"{b / 2**20:.1f} MiB"


def report(res: dict[str, Any], repeats: int, quick: bool) -> str:
    L: list[str] = []
    add = L.append
    add("# nbtrack core benchmarks")
    add("")
    add(f"`benchmarks/bench_core.py{' --quick' if quick else ''}`: median of {repeats} repeats, "
        "[min–max] beside it; each group in a fresh subprocess, each repeat in a fresh "
        "temporary store. Wall = `time.perf_counter`, CPU = `time.process_time` "
        "(all threads of the process, so the background writer is included).")
    add("")
    add("## Machine")
    add("")
    add("| | |")
    add("|---|---|")
    for k, v in res["machine"].items():
        add(f"| {k} | {v} |")
    add("")

    # ---- 1 + 2: log overhead
    lg = res["log"]
    n = LOG_STEPS
    base = lg["dict only"]
    base_loop = med([r["loop"] for r in base]) / n * 1e6
    base_cpu = med([r["cpu"] for r in base]) / n * 1e6
    add(f"## 1. Cost of a `log` call (4 scalars, {n:,} calls = {4 * n:,} points)")
    add("")
    add("µs per call/step. *Loop* = the 100k-call loop alone; *incl. finish* = loop plus "
        "`finish()` (the final synchronous flush); *CPU* = process CPU time incl. finish, "
        "all threads. Baseline: the same loop only building the dict "
        f"(loop {base_loop:.3f} µs, CPU {base_cpu:.3f} µs).")
    add("")
    add("| API | loop wall µs/call | × dict baseline | incl. finish wall µs/step | finish ms "
        "| CPU µs/step incl. finish | target < 5 µs/call (loop) | target < 5 µs/step (incl. finish) |")
    add("|---|---|---|---|---|---|---|---|")
    for label in ("run.log", "nbtrack.log(dict)", "nbtrack.log(**kw)", "dict only"):
        rows = lg[label]
        loop = [r["loop"] / n * 1e6 for r in rows]
        total = [r["total"] / n * 1e6 for r in rows]
        fin = [r["finish"] * 1e3 for r in rows]
        cpu = [r["cpu"] / n * 1e6 for r in rows]
        if label == "dict only":
            add(f"| {label} (baseline) | {spread(loop, fmt='{:.3f}')} | 1.00 | – | – "
                f"| {spread(cpu, fmt='{:.3f}')} | – | – |")
            continue
        add(f"| `{label}` | {spread(loop)} | {med(loop) / base_loop:.1f}× "
            f"(+{med(loop) - base_loop:.2f} µs) | {spread(total)} | {spread(fin, fmt='{:.0f}')} "
            f"| {spread(cpu)} | {verdict(med(loop) < TARGET_LOG_US)} "
            f"| {verdict(med(total) < TARGET_LOG_US)} |")
    add("")

    # ---- 2 + 3: ingest vs raw DuckDB
    raw = res["raw"]
    raw400 = [4 * n / t for t in raw[str(4 * n)]["time"]]
    raw1m = [4 * INGEST_STEPS / t for t in raw[str(4 * INGEST_STEPS)]["time"]]
    nb400 = [4 * n / r["total"] for r in lg["run.log"]]
    e2e = res["ingest"]["e2e"]
    npts = 4 * INGEST_STEPS
    e2e_pps = [npts / r["total"] for r in e2e]
    e2e_loop = [r["loop"] / INGEST_STEPS * 1e6 for r in e2e]
    bl = res["backlog"]["backlog"]
    bl_pps = [r["points"] / r["flush"] for r in bl]
    bl_cpu = [r["points"] / r["cpu"] for r in bl]
    add("## 2–3. Ingest throughput vs. raw DuckDB")
    add("")
    add("Points/s (M = million). *Raw DuckDB* = connect to a new file, create a table shaped "
        "like `metric_points`, insert the same points from numpy arrays (keys as int32 codes "
        "into a list, as nbtrack passes them) in one transaction, close: the floor for the store. "
        "*End to end* = points / (first `log` → `finish()` returned), default 1 s flush "
        "interval. *Writer alone* = one `finish()` flushing a 1M-point backlog logged with "
        "`flush_interval=3600`.")
    add("")
    add("| measurement | points | M points/s | raw DuckDB M points/s (same points) "
        "| nbtrack / raw | target > 1M points/s |")
    add("|---|---|---|---|---|---|")
    add(f"| raw DuckDB bulk insert (floor) | {4 * n:,} | {spread(raw400, 1e-6)} | – | – | – |")
    add(f"| raw DuckDB bulk insert (floor) | {npts:,} | {spread(raw1m, 1e-6)} | – | – | – |")
    add(f"| end to end, 100k × `run.log` + finish | {4 * n:,} | {spread(nb400, 1e-6)} "
        f"| {med(raw400) * 1e-6:.2f} | {med(nb400) / med(raw400):.2f}× "
        f"| {verdict(med(nb400) > TARGET_INGEST_PPS)} |")
    add(f"| **end to end, 250k × `run.log` + finish** | {npts:,} | {spread(e2e_pps, 1e-6)} "
        f"| {med(raw1m) * 1e-6:.2f} | {med(e2e_pps) / med(raw1m):.2f}× "
        f"| {verdict(med(e2e_pps) > TARGET_INGEST_PPS)} |")
    add(f"| writer alone: `finish()` of a 1M backlog (wall) | {npts:,} | {spread(bl_pps, 1e-6)} "
        f"| {med(raw1m) * 1e-6:.2f} | {med(bl_pps) / med(raw1m):.2f}× "
        f"| {verdict(med(bl_pps) > TARGET_INGEST_PPS)} |")
    add(f"| writer alone (per CPU second) | {npts:,} | {spread(bl_cpu, 1e-6)} | – | – | – |")
    add("")
    add(f"End-to-end 1M run: logging loop {spread(e2e_loop)} µs/step, final `finish()` "
        f"{spread([r['finish'] * 1e3 for r in e2e], fmt='{:.0f}')} ms; writer-alone flush of "
        f"1M points {spread([r['flush'] * 1e3 for r in bl], fmt='{:.0f}')} ms "
        f"(raw DuckDB insert of 1M: {spread(raw[str(npts)]['time'], 1e3, '{:.0f}')} ms). "
        f"That flush split in two: `Writer.drain` (queued dicts → numpy chunks, summary) "
        f"{spread([r['drain'] * 1e3 for r in res['backlog']['split']], fmt='{:.0f}')} ms, then the "
        f"rest of `finish()` (numpy arrays, DuckDB open + insert + commit + close) "
        f"{spread([r['rest'] * 1e3 for r in res['backlog']['split']], fmt='{:.0f}')} ms.")
    add("")

    # ---- 4: read-back
    rd = res["read"]
    add("## 4. Read-back of a 1M-point series")
    add("")
    add("ms per call; the store is closed between calls, so every call opens the DuckDB file "
        "read-only, creates the views, queries and closes it (OS page cache warm). "
        f"*Alone*: the store holds only the target run. *Among 10 others*: {OTHER_RUNS} other "
        "runs of 1M `loss` points each, 5 logged before and 5 after the target.")
    add("")
    add(f"| query | alone | among {OTHER_RUNS} others | target (< {TARGET_DOWNSAMPLE_MS:.0f} ms) |")
    add("|---|---|---|---|")
    a, c = rd["alone"], rd["crowded"]
    add(f"| `history(id, 'loss')` full, 1M rows → DataFrame | {spread(a['full'], 1e3, '{:.0f}')} "
        f"| {spread(c['full'], 1e3, '{:.0f}')} | – |")
    add(f"| **`history(id, 'loss', max_points={DOWNSAMPLE_TO})`** "
        f"(→ {a['down_rows']} / {c['down_rows']} rows) | {spread(a['down'], 1e3, '{:.0f}')} "
        f"| {spread(c['down'], 1e3, '{:.0f}')} "
        f"| alone {verdict(med(a['down']) * 1e3 < TARGET_DOWNSAMPLE_MS)}, "
        f"among others {verdict(med(c['down']) * 1e3 < TARGET_DOWNSAMPLE_MS)} |")
    add(f"| `runs()` ({a['runs_rows']} / {c['runs_rows']} runs) | {spread(a['runs'], 1e3, '{:.0f}')} "
        f"| {spread(c['runs'], 1e3, '{:.0f}')} | – |")
    add("")
    add(f"Store sizes: {mib(a['bytes'])} (1 run, 1M points), {mib(c['bytes'])} "
        f"({OTHER_RUNS + 1} runs, {OTHER_RUNS + 1}M points). Building them (logging through "
        f"nbtrack): {a['build_s']:.1f} s and {c['build_s']:.1f} s.")
    add("")

    # ---- 5: import
    im = res["imports"]
    inside = [r["import_s"] for r in im["inside"]]
    heavy = sorted({m for r in im["inside"] for m in r["heavy"]})
    ipy = im["ipython"]
    heavy_ext = sorted({m for r in ipy for m in r["heavy_added"]})
    add("## 5. Import and extension load")
    add("")
    add("ms; every measurement in a fresh interpreter.")
    add("")
    add("| measurement | ms |")
    add("|---|---|")
    add(f"| `python -c pass` (interpreter start, baseline) | {spread(im['python_pass'], 1e3, '{:.0f}')} |")
    add(f"| `python -c \"import nbtrack\"` (wall, whole process) "
        f"| {spread(im['python_import'], 1e3, '{:.0f}')} |")
    add(f"| → minus interpreter start | {(med(im['python_import']) - med(im['python_pass'])) * 1e3:.0f} |")
    add(f"| `import nbtrack` measured inside (perf_counter) | {spread(inside, 1e3, '{:.1f}')} |")
    if im.get("importtime_total_us"):
        add(f"| `import nbtrack` per `-X importtime` (cumulative) | {im['importtime_total_us'] / 1e3:.1f} |")
    add(f"| IPython `InteractiveShell.instance()` (baseline, not nbtrack) | "
        f"{spread([r['shell_s'] for r in ipy], 1e3, '{:.0f}')} |")
    add(f"| `import nbtrack` inside that shell's process "
        f"| {spread([r['import_s'] for r in ipy], 1e3, '{:.1f}')} |")
    add(f"| `%load_ext nbtrack` | {spread([r['load_ext_s'] for r in ipy], 1e3, '{:.1f}')} |")
    add(f"| import + `%load_ext` | {spread([r['import_s'] + r['load_ext_s'] for r in ipy], 1e3, '{:.1f}')} |")
    add("")
    add(f"Heavy modules loaded by `import nbtrack` (of {', '.join(HEAVY)}): "
        f"**{', '.join(heavy) if heavy else 'none'}**; added by `import nbtrack` + "
        f"`%load_ext nbtrack` beyond what IPython had loaded: "
        f"**{', '.join(heavy_ext) if heavy_ext else 'none'}**.")
    add("")
    if im.get("importtime_top"):
        add("Largest cumulative imports under `python -X importtime -c 'import nbtrack'` (µs):")
        add("")
        add("| module | cumulative µs | self µs |")
        add("|---|---|---|")
        for cum, self_us, name in im["importtime_top"]:
            add(f"| `{name}` | {cum:,} | {self_us:,} |")
        add("")

    # ---- 6: disk
    e2e_bytes = [r["bytes"] for r in e2e]
    bl_bytes = [r["bytes"] for r in bl]
    raw_bytes = raw[str(npts)]["bytes"]
    add("## 6. Disk")
    add("")
    add("| store | bytes | bytes/point | × raw DuckDB |")
    add("|---|---|---|---|")
    add(f"| raw DuckDB table, 1M points in one insert (floor) | {raw_bytes:,} "
        f"| {raw_bytes / npts:.2f} | 1.00 |")
    add(f"| nbtrack, 1M points (4 keys), default 1 s flushes | {int(med(e2e_bytes)):,} "
        f"| {med(e2e_bytes) / npts:.2f} | {med(e2e_bytes) / raw_bytes:.2f} |")
    add(f"| nbtrack, 1M points (4 keys), one flush | {int(med(bl_bytes)):,} "
        f"| {med(bl_bytes) / npts:.2f} | {med(bl_bytes) / raw_bytes:.2f} |")
    add(f"| nbtrack, 1 run × 1M points (1 key) | {a['bytes']:,} | {a['bytes'] / SERIES_POINTS:.2f} | – |")
    add(f"| nbtrack, 11 runs × 1M points (1 key) | {c['bytes']:,} "
        f"| {c['bytes'] / (SERIES_POINTS * (OTHER_RUNS + 1)):.2f} | – |")
    add("")

    # ---- 7: memory
    mem = res["mem"]
    add(f"## 7. Memory while logging {4 * MEM_STEPS / 1e6:.0f}M points ({MEM_STEPS:,} steps × 4 keys)")
    add("")
    add("Growth over the RSS after warm-up. *Peak* = `ru_maxrss` at the end minus RSS "
        "before logging; *sampled max* = largest RSS growth seen every 50k steps; "
        "*end of loop* = growth when the loop ends (before `finish()`). One fresh process "
        "per repeat.")
    add("")
    add("| flush interval | peak growth | sampled max | end of loop | loop µs/step |")
    add("|---|---|---|---|---|")
    for label, key in (("1 s (default)", "default"),
                       ("3600 s (the writer thread wakes only for a long queue)", "nobg")):
        rows = mem[key]
        add(f"| {label} | {mib(med([r['peak_growth'] for r in rows]))} "
            f"[{mib(min(r['peak_growth'] for r in rows))}–{mib(max(r['peak_growth'] for r in rows))}] "
            f"| {mib(med([r['sampled_max'] for r in rows]))} | {mib(med([r['end_of_loop'] for r in rows]))} "
            f"| {med([r['loop_s'] for r in rows]) / MEM_STEPS * 1e6:.2f} |")
    samples = mem["default"][0]["samples"]
    add("")
    add("RSS growth every 50k steps, default interval (first repeat): "
        + ", ".join(f"{s / 2**20:.0f}" for s in samples) + " MiB.")
    per_point = med([r["peak_growth"] for r in mem["nobg"]]) / (4 * MEM_STEPS)
    add("")
    add(f"With a 3600 s interval, peak RSS growth is about {per_point:.0f} bytes per point "
        "logged: memory is bounded by the queue limit (queued `(step, time, dict)` records, "
        "~100 B/point), not by the run's length.")
    lg_mem = mem["long"][0]
    add("")
    add(f"Longer run, once: {4 * lg_mem['steps'] / 1e6:.0f}M points, default interval: peak growth "
        f"{mib(lg_mem['peak_growth'])}, end of loop {mib(lg_mem['end_of_loop'])}, "
        f"{lg_mem['loop_s'] / lg_mem['steps'] * 1e6:.2f} µs/step; RSS growth every 50k steps: "
        + ", ".join(f"{s / 2**20:.0f}" for s in lg_mem["samples"]) + " MiB.")
    add("")

    # ---- summary
    add("## Targets")
    add("")
    add("| target | measured (median) | result |")
    add("|---|---|---|")
    runlog = lg["run.log"]
    loop_us = med([r["loop"] / n * 1e6 for r in runlog])
    tot_us = med([r["total"] / n * 1e6 for r in runlog])
    down_a, down_c = med(a["down"]) * 1e3, med(c["down"]) * 1e3
    short_peak = med([r["peak_growth"] for r in mem["default"]])
    long_peak = mem["long"][0]["peak_growth"]
    long_pts = 4 * mem["long"][0]["steps"] / 1e6
    rows = [
        ("< 5 µs per `run.log` call, 4 scalars (loop alone)", f"{loop_us:.2f} µs",
         loop_us < TARGET_LOG_US),
        ("< 5 µs per `run.log` step incl. the final flush", f"{tot_us:.2f} µs",
         tot_us < TARGET_LOG_US),
        ("> 1M points/s ingest (end to end, 1M points)", f"{med(e2e_pps) / 1e6:.2f} M/s",
         med(e2e_pps) > TARGET_INGEST_PPS),
        ("> 1M points/s ingest (writer alone, 1M backlog)", f"{med(bl_pps) / 1e6:.2f} M/s",
         med(bl_pps) > TARGET_INGEST_PPS),
        (f"1M-point series → {DOWNSAMPLE_TO} points < 100 ms (alone)", f"{down_a:.0f} ms",
         down_a < TARGET_DOWNSAMPLE_MS),
        (f"1M-point series → {DOWNSAMPLE_TO} points < 100 ms (among {OTHER_RUNS} other 1M runs)",
         f"{down_c:.0f} ms", down_c < TARGET_DOWNSAMPLE_MS),
        ("`import nbtrack` loads no heavy module", ", ".join(heavy) or "none", not heavy),
        (f"RSS bounded with the default flush interval ({long_pts:.0f}M-point peak "
         f"< 1.5× the {4 * MEM_STEPS / 1e6:.0f}M-point peak)",
         f"{mib(long_peak)} vs {mib(short_peak)} ({long_peak / short_peak:.1f}×)",
         long_peak < 1.5 * short_peak),
    ]
    for label, shown, ok in rows:
        add(f"| {label} | {shown} | {verdict(ok)} |")
    add("")
    return "\n".join(L)


def profile_log_loop() -> str:
    """pyinstrument (else cProfile) of the 100k-call loop including finish()."""
    import nbtrack

    warm_up()
    d = fresh_dir("profile")
    try:
        from pyinstrument import Profiler
    except ImportError:
        Profiler = None  # type: ignore[assignment]
    if Profiler is not None:
        profiler = Profiler(interval=0.0005)
        profiler.start()
        run = nbtrack.init(name="profile", dir=d)
        loop_run_log(run, LOG_STEPS)
        run.finish()
        profiler.stop()
        text = profiler.output_text(unicode=True, color=False, show_all=False)
    else:
        import cProfile
        import io
        import pstats

        pr = cProfile.Profile()
        pr.enable()
        run = nbtrack.init(name="profile", dir=d)
        loop_run_log(run, LOG_STEPS)
        run.finish()
        pr.disable()
        buf = io.StringIO()
        pstats.Stats(pr, stream=buf).sort_stats("cumulative").print_stats(25)
        text = buf.getvalue()
    shutil.rmtree(d, ignore_errors=True)
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 repeats instead of 5")
    ap.add_argument("--repeats", type=int, default=None, help="override the repeat count")
    ap.add_argument("--out", type=Path, default=None, help="also write the Markdown here")
    ap.add_argument("--json", type=Path, default=None,
                    help="also save the raw measurements as JSON (re-render with --from-json)")
    ap.add_argument("--from-json", type=Path, default=None,
                    help="render the tables from a saved --json file without measuring")
    ap.add_argument("--profile", action="store_true",
                    help="profile the 100k-call log loop incl. finish() and exit")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--flush-interval", type=float, default=1.0, help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    repeats = args.repeats or (3 if args.quick else 5)

    if args.child:
        fn = {"log": child_log, "raw": child_raw, "ingest": child_ingest,
              "backlog": child_backlog, "read": child_read}.get(args.child)
        if args.child == "mem":
            emit(child_mem(repeats, args.flush_interval, args.steps or MEM_STEPS))
        elif fn is None:
            ap.error(f"unknown child {args.child}")
        else:
            emit(fn(repeats))
        return

    if args.profile:
        print(profile_log_loop())
        return

    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        text = report(saved["results"], saved["repeats"], saved["quick"])
        print(text)
        if args.out:
            args.out.write_text(text + "\n")
        return

    res: dict[str, Any] = {"machine": machine()}
    steps = [
        ("log", lambda: run_child(["--child", "log", "--repeats", str(repeats)])),
        ("raw", lambda: run_child(["--child", "raw", "--repeats", str(repeats)])),
        ("ingest", lambda: run_child(["--child", "ingest", "--repeats", str(repeats)])),
        ("backlog", lambda: run_child(["--child", "backlog", "--repeats", str(repeats)])),
        ("read", lambda: run_child(["--child", "read", "--repeats", str(repeats)])),
        ("imports", lambda: measure_imports(repeats)),
        ("mem", lambda: {
            "default": [run_child(["--child", "mem", "--flush-interval", "1"]) for _ in range(repeats)],
            "nobg": [run_child(["--child", "mem", "--flush-interval", "3600"]) for _ in range(repeats)],
            # 4x longer, once: does RSS plateau (bounded) or keep growing with the default interval?
            "long": [run_child(["--child", "mem", "--flush-interval", "1",
                                "--steps", str(4 * MEM_STEPS)])],
        }),
    ]
    for name, fn in steps:
        t0 = time.perf_counter()
        print(f"... {name}", file=sys.stderr, flush=True)
        res[name] = fn()
        print(f"    {name} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    res["machine"]["Load average at end (1/5/15 min)"] = load_average()
    raw_path = args.json or Path(tempfile.gettempdir()) / "nbtrack-bench-core-last.json"
    raw_path.write_text(json.dumps({"results": res, "repeats": repeats, "quick": args.quick}))
    print(f"raw measurements saved to {raw_path}", file=sys.stderr)
    text = report(res, repeats, args.quick)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
