"""Store write-path benchmark: short runs, first runs, finish(), readers beside writers,
log() beside a long reader, and what a kill -9 loses. nbtrack beside trackio where it says so.

Sections (``--only warm,first,finish,readers,stall,kill``; all by default):

1. ``warm``    init + 10 log calls (3 scalars) + finish, N times in one process after a
               warm-up run; the same for trackio. Goal: nbtrack <= 0.5x trackio.
2. ``first``   a fresh process: import + init + 10 logs + finish into a new store, timed in the
               child from its first line (and from the parent's spawn); median of K processes;
               the same for trackio. Goal: <= 0.5x trackio.
3. ``finish``  finish() of a 20k-step run (3 scalars a step), after a first run in the process.
               Goal: < 50 ms.
4. ``readers`` 8 writer processes logging (paced, ``--writer-hz`` calls/s each, 0 = flat out)
               into one store while this process times ``runs()`` and
               ``history(id, "loss", max_points=500)``. Goal: p99 < 0.5 s.
5. ``stall``   a writer logging flat out records its slowest log() call while another process
               runs a long ``nbtrack.sql()`` cross join. Goal: log() never blocks (ms range).
6. ``kill``    a child logs step i every 1 ms and prints i; kill -9 after 2-3 s; a fresh
               process reads the store back. Loss = time of the last logged step - time of
               the last stored step. Goal: <= 0.25 s.

Run against any checkout: the children inherit ``PYTHONPATH``, so

    PYTHONPATH=/path/to/checkout python benchmarks/bench_store.py --quick \\
        --out benchmarks/out/store.json --md benchmarks/out/store.md

measures that checkout's ``nbtrack`` (the report prints which file it imported). trackio, when
importable, runs with ``TRACKIO_DIR`` in a temporary directory, offline.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SECTIONS = ["warm", "first", "finish", "readers", "stall", "kill"]
ENV = {"DO_NOT_TRACK": "1", "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore",
       "TQDM_DISABLE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
FULL = {"warm_n": 30, "first_n": 7, "finish_n": 5, "finish_steps": 20_000,
        "writers": 8, "writer_hz": 1000, "read_s": 20.0, "seed_steps": 100_000,
        "query_s": 20.0, "kill_n": 5}
QUICK = {"warm_n": 30, "first_n": 7, "finish_n": 5, "finish_steps": 20_000,
         "writers": 8, "writer_hz": 1000, "read_s": 15.0, "seed_steps": 100_000,
         "query_s": 15.0, "kill_n": 5}
POINT = {"loss": 0.5, "acc": 0.5, "lr": 0.001}


def point(i: int) -> dict[str, float]:
    return {"loss": 1.0 / (i + 1), "acc": i / (i + 10.0), "lr": 0.001}


# ============================================================================ child side
def result(payload: dict[str, Any]) -> None:
    print("RESULT " + json.dumps(payload), flush=True)


def short_run(tool: str, i: int) -> None:
    """init + 10 log calls (3 scalars each) + finish."""
    if tool == "nbtrack":
        import nbtrack

        run = nbtrack.init(name=f"short-{i}")
        for s in range(10):
            run.log(point(s))
        run.finish()
    else:
        import trackio

        trackio.init(project="bench", name=f"short-{i}")
        for s in range(10):
            trackio.log(point(s))
        trackio.finish()


def child_warm(p: dict[str, Any]) -> None:
    short_run(p["tool"], -1)  # warm-up: imports, store creation, caches
    times = []
    for i in range(p["n"]):
        t = time.perf_counter()
        short_run(p["tool"], i)
        times.append(time.perf_counter() - t)
    result({"times": times})


def child_finish(p: dict[str, Any]) -> None:
    import nbtrack

    short_run("nbtrack", -1)  # the first run in the process, untimed
    loops, finishes = [], []
    for r in range(p["n"]):
        run = nbtrack.init(name=f"long-{r}")
        t = time.perf_counter()
        for s in range(p["steps"]):
            run.log(point(s))
        t1 = time.perf_counter()
        run.finish()
        finishes.append(time.perf_counter() - t1)
        loops.append(t1 - t)
    result({"finish": finishes, "loop": loops})


def child_seed(p: dict[str, Any]) -> None:
    """One run of ``steps`` steps (untimed setup for the stall section)."""
    import nbtrack

    run = nbtrack.init(name="seed")
    for s in range(p["steps"]):
        run.log(point(s))
    run.finish()
    result({"id": run.id})


def paced_log(run: Any, hz: int, stop: Path, deadline: float) -> dict[str, Any]:
    """Log at ``hz`` calls/s (in 10 ms ticks; 0 = flat out) until ``stop`` exists."""
    per_tick = max(1, hz // 100) if hz else 1000
    worst, calls, start = 0.0, 0, time.perf_counter()
    while time.perf_counter() < deadline and not stop.exists():
        for _ in range(per_tick):
            t = time.perf_counter()
            run.log(point(calls))
            dt = time.perf_counter() - t
            worst = dt if dt > worst else worst
            calls += 1
        if hz:
            wait = start + calls / hz - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
    return {"calls": calls, "max_log_s": worst, "secs": time.perf_counter() - start}


def child_writer(p: dict[str, Any]) -> None:
    import nbtrack

    run = nbtrack.init(name=p["name"])
    run.log(point(0))
    print("READY " + run.id, flush=True)
    stats = paced_log(run, p["hz"], Path(p["stop"]), time.perf_counter() + p["max_s"])
    t = time.perf_counter()
    run.finish()
    result({**stats, "id": run.id, "finish_s": time.perf_counter() - t})


def child_stall_writer(p: dict[str, Any]) -> None:
    """Flat out; every log() call slower than 5 ms is kept with its wall-clock start."""
    import nbtrack

    run = nbtrack.init(name="stall-writer")
    stop, deadline = Path(p["stop"]), time.perf_counter() + p["max_s"]
    print("READY " + run.id, flush=True)
    slow, ticks, calls, worst, clock = [], [], 0, 0.0, time.perf_counter
    while True:
        if calls % 20_000 == 0:
            ticks.append((time.time(), calls))
        for _ in range(2000):
            t = clock()
            run.log(point(calls))
            dt = clock() - t
            if dt > 0.005:
                slow.append((time.time() - dt, dt))
            worst = dt if dt > worst else worst
            calls += 1
        if clock() > deadline or stop.exists():
            break
    ticks.append((time.time(), calls))
    t = clock()
    run.finish()
    result({"calls": calls, "max_log_s": worst, "slow": slow, "ticks": ticks,
            "finish_s": clock() - t, "id": run.id})


SLOWDOWN = 2.5
CROSS = ("SELECT count(*) AS n FROM "
         "(SELECT value FROM metrics WHERE run_id = $id AND key = 'loss' LIMIT $n) a, "
         "(SELECT value FROM metrics WHERE run_id = $id AND key = 'acc' LIMIT $n) b "
         "WHERE sin(a.value * b.value * 1000) > 0.5")


def child_cross(p: dict[str, Any]) -> None:
    """The long reader: calibrate the cross join's size (or take ``n``) and run it."""
    import nbtrack

    n = p.get("n")
    if n is None:  # cost grows as n^2; time a small one, scale to the target
        nbtrack.sql(CROSS, {"id": p["id"], "n": 1000})
        t = time.perf_counter()
        nbtrack.sql(CROSS, {"id": p["id"], "n": 5000})
        per_pair = (time.perf_counter() - t) / 5000**2
        # Beside the flat-out writer the join has about one core of two: measured ~3x
        # slower than calibrated alone (1.7-3.2x), so aim at 1/2.5 of the pairs.
        n = min(p["max_n"], int((p["target_s"] / per_pair / SLOWDOWN) ** 0.5))
        result({"n": n, "per_pair_ns": per_pair * 1e9})
        return
    w0 = time.time()
    nbtrack.sql(CROSS, {"id": p["id"], "n": n})
    result({"start": w0, "end": time.time(), "n": n})


def child_kill(p: dict[str, Any]) -> None:
    """Step i every 1 ms; print 'i time' after each log() returns. Killed from outside."""
    import nbtrack

    run = nbtrack.init(name="kill-me")
    print("RUN " + run.id, flush=True)
    out, start = sys.stdout, time.perf_counter()
    i = 0
    while True:
        run.log({"x": float(i)}, step=i)
        out.write(f"{i} {time.time():.6f}\n")
        out.flush()
        i += 1
        wait = start + i * 0.001 - time.perf_counter()
        if wait > 0:
            time.sleep(wait)


def child_readback(p: dict[str, Any]) -> None:
    import nbtrack

    try:
        h = nbtrack.history(p["id"], "x")
        last = int(h["step"].max()) if len(h) else None
        runs = nbtrack.runs()
        status = runs.loc[runs["id"] == p["id"], "status"].tolist()
        result({"last": last, "points": len(h), "status": status[0] if status else None})
    except Exception as exc:  # an unreadable store is a finding, not a crash
        result({"last": None, "points": 0, "error": f"{type(exc).__name__}: {exc}"})


CHILDREN = {"warm": child_warm, "finish": child_finish, "seed": child_seed,
            "writer": child_writer, "stall_writer": child_stall_writer,
            "cross": child_cross, "kill": child_kill, "readback": child_readback}

# The fresh-process probe runs as `python -c`, so no line of this file is charged to it.
FIRST_CODE = {
    "nbtrack": "run = nbtrack.init(name='first')\n"
               "for s in range(10): run.log({'loss': 1.0 / (s + 1), 'acc': s / 10, 'lr': 0.001})\n"
               "run.finish()\n",
    "trackio": "trackio.init(project='first', name='first')\n"
               "for s in range(10): trackio.log({'loss': 1.0 / (s + 1), 'acc': s / 10, 'lr': 0.001})\n"
               "trackio.finish()\n",
}


def first_code(tool: str) -> str:
    return ("import time\nt0 = time.perf_counter()\n"
            f"import {tool}\nt1 = time.perf_counter()\n" + FIRST_CODE[tool] +
            "t2 = time.perf_counter(); w2 = time.time()\nimport json\n"
            "print('RESULT ' + json.dumps({'import': t1 - t0, 'total': t2 - t0, 'end': w2}),"
            " flush=True)\n")


# ============================================================================ parent side
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.root = Path(tempfile.mkdtemp(prefix="nbtrack-bench-store-"))
        self.home = self.root / "home"
        self.home.mkdir()
        sizes = QUICK if args.quick else FULL
        self.cfg = {k: sizes[k] if getattr(args, k) is None else getattr(args, k) for k in FULL}
        self.tools = ["nbtrack"]  # + "trackio" once main() has seen it import
        self.procs: list[subprocess.Popen] = []

    def env(self, section: str, **extra: str) -> dict[str, str]:
        d = self.root / section
        d.mkdir(exist_ok=True)
        return {**os.environ, **ENV, "HOME": str(self.home),
                "NBTRACK_DIR": str(d / "nbtrack"), "TRACKIO_DIR": str(d / "trackio"), **extra}

    def spawn(self, kind: str, params: dict[str, Any], env: dict[str, str]) -> subprocess.Popen:
        cmd = [sys.executable, __file__, "--child", kind, json.dumps(params)]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=self.root)
        self.procs.append(proc)
        return proc

    def reap(self) -> None:
        """Kill whatever a section left running (a failed section must not load the next)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.procs.clear()

    def child(self, kind: str, params: dict[str, Any], env: dict[str, str],
              timeout: float = 300) -> dict[str, Any]:
        proc = self.spawn(kind, params, env)
        out, err = proc.communicate(timeout=timeout)
        return parse(out, err, f"child {kind}")


def parse(out: str, err: str, what: str) -> dict[str, Any]:
    """The child's RESULT line, with its stderr's tail (warnings are findings too)."""
    for line in reversed(out.splitlines()):
        if line.startswith("RESULT "):
            r = json.loads(line[7:])
            if err.strip():
                r["stderr"] = err[-1500:]
            return r
    raise RuntimeError(f"{what} gave no result; stderr tail:\n{err[-2000:]}")


def wait_line(proc: subprocess.Popen, prefix: str, timeout: float = 60) -> str:
    """Read the child's stdout until a line starting with ``prefix`` (its rest)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"child exited before {prefix!r}: {proc.stderr.read()[-2000:]}")
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    raise RuntimeError(f"no {prefix!r} line within {timeout} s")


def med(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def row(section: str, measure: str, nb: float | None, tk: float | None = None,
        goal: str = "", met: bool | None = None, unit: str = "ms") -> dict[str, Any]:
    ratio = nb / tk if nb is not None and tk else None
    return {"section": section, "measure": measure, "nbtrack": nb, "trackio": tk,
            "ratio": ratio, "goal": goal, "met": met, "unit": unit}


# ---------------------------------------------------------------------------- sections
def sec_warm(b: Bench) -> dict[str, Any]:
    raw = {}
    for tool in b.tools:
        raw[tool] = b.child("warm", {"tool": tool, "n": b.cfg["warm_n"]}, b.env(f"warm-{tool}"))
    nb, tk = med(raw["nbtrack"]["times"]), med(raw.get("trackio", {}).get("times", []))
    met = nb <= 0.5 * tk if tk else None
    rows = [row("warm", f"init+10 log+finish, warm, median of {b.cfg['warm_n']}", ms(nb), ms(tk),
                "<= 0.5x trackio", met),
            row("warm", "same, p90", ms(pct(raw["nbtrack"]["times"], 0.9)),
                ms(pct(raw.get("trackio", {}).get("times", []), 0.9)))]
    return {"rows": rows, "raw": raw}


def first_once(b: Bench, tool: str, k: int) -> dict[str, Any]:
    env = b.env(f"first-{tool}-{k}")  # a new store every time
    w0 = time.time()
    proc = subprocess.run([sys.executable, "-c", first_code(tool)], env=env, cwd=b.root,
                          capture_output=True, text=True, timeout=300)
    w_exit = time.time()
    r = parse(proc.stdout, proc.stderr, f"first run of {tool}")
    return {**r, "spawn_to_finish": r["end"] - w0, "spawn_to_exit": w_exit - w0}


def sec_first(b: Bench) -> dict[str, Any]:
    raw: dict[str, list[dict[str, Any]]] = {t: [] for t in b.tools}
    for k in range(b.cfg["first_n"]):
        for tool in b.tools if k % 2 == 0 else b.tools[::-1]:  # interleaved
            raw[tool].append(first_once(b, tool, k))

    def m(tool: str, key: str) -> float | None:
        return med([r[key] for r in raw.get(tool, [])])

    n = b.cfg["first_n"]
    total_met = m("nbtrack", "total") <= 0.5 * m("trackio", "total") if "trackio" in raw else None
    rows = [row("first", f"first line -> finish() returned, median of {n} processes",
                ms(m("nbtrack", "total")), ms(m("trackio", "total")), "<= 0.5x trackio", total_met),
            row("first", "  of which import", ms(m("nbtrack", "import")), ms(m("trackio", "import"))),
            row("first", "  spawn -> finish() returned (interpreter start incl.)",
                ms(m("nbtrack", "spawn_to_finish")), ms(m("trackio", "spawn_to_finish"))),
            row("first", "  spawn -> process exited",
                ms(m("nbtrack", "spawn_to_exit")), ms(m("trackio", "spawn_to_exit")))]
    return {"rows": rows, "raw": raw}


def sec_finish(b: Bench) -> dict[str, Any]:
    c = b.cfg
    r = b.child("finish", {"n": c["finish_n"], "steps": c["finish_steps"]}, b.env("finish"))
    f = med(r["finish"])
    rows = [row("finish", f"finish() of a {c['finish_steps']:,}-step run (3 scalars), "
                f"median of {c['finish_n']}", ms(f), goal="< 50 ms", met=f < 0.05),
            row("finish", "  max of the repeats", ms(max(r["finish"]))),
            row("finish", "  the logging loop before it, median", ms(med(r["loop"])))]
    return {"rows": rows, "raw": r}


def start_writers(b: Bench, env: dict[str, str], stop: Path, hz: int, max_s: float,
                  ) -> tuple[list[subprocess.Popen], list[str]]:
    procs = [b.spawn("writer", {"name": f"writer-{i}", "hz": hz, "stop": str(stop),
                                "max_s": max_s}, env) for i in range(b.cfg["writers"])]
    ids = [wait_line(p, "READY ", timeout=120) for p in procs]
    return procs, ids


def wait_visible(ids: list[str], timeout: float) -> None:
    """Until runs() lists every writer's run (untimed; under load their first write lags)."""
    import nbtrack

    deadline = time.monotonic() + timeout
    while not set(ids) <= set(nbtrack.runs().get("id", [])):
        if time.monotonic() > deadline:
            raise RuntimeError(f"writers' runs not in the store after {timeout} s")
        time.sleep(0.2)


def timed_reads(run_id: str, seconds: float) -> dict[str, list[float]]:
    """runs() then history(), back to back, for ``seconds``, after one untimed round;
    failures counted apart."""
    import nbtrack

    out: dict[str, list[float]] = {"runs": [], "history": [], "errors": []}
    nbtrack.runs()  # untimed: this process's lazy imports (duckdb, pandas) are not the store's
    nbtrack.history(run_id, "loss", max_points=500)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for name, call in (("runs", nbtrack.runs),
                           ("history", lambda: nbtrack.history(run_id, "loss", max_points=500))):
            t = time.perf_counter()
            try:
                call()
                out[name].append(time.perf_counter() - t)
            except Exception as exc:  # a lock timeout is a result too
                out["errors"].append(f"{name}: {type(exc).__name__}: {exc}"[:300])
    return out


def sec_readers(b: Bench) -> dict[str, Any]:
    c, env = b.cfg, b.env("readers")
    stop = b.root / "readers" / "stop"
    procs, ids = start_writers(b, env, stop, c["writer_hz"], c["read_s"] + 120)
    os.environ["NBTRACK_DIR"] = env["NBTRACK_DIR"]  # this process reads the same store
    wait_visible(ids, 120)
    reads = timed_reads(ids[0], c["read_s"])
    stop.touch()
    writers = [parse(*p.communicate(timeout=180), "writer") for p in procs]
    rows = []
    for name in ("runs", "history"):
        xs = reads[name]
        met = pct(xs, 0.99) < 0.5 if xs else False
        label = "runs()" if name == "runs" else "history(id, 'loss', max_points=500)"
        rows += [row("readers", f"{label} p50 / n={len(xs)}", ms(pct(xs, 0.5))),
                 row("readers", f"{label} p99", ms(pct(xs, 0.99)), goal="< 500 ms", met=met),
                 row("readers", f"{label} max", ms(max(xs) if xs else None))]
    tried = len(reads["runs"]) + len(reads["history"]) + len(reads["errors"])
    rows.append(row("readers", f"reads failed (of {tried})", len(reads["errors"]), unit="count"))
    rows.append(row("readers", "writers' slowest log() call", ms(max(w["max_log_s"] for w in writers))))
    rate = sum(w["calls"] / w["secs"] for w in writers)
    rows.append(row("readers", "writers' total log() rate achieved (calls/s)", rate, unit="/s"))
    return {"rows": rows, "raw": {"reads": reads, "writers": writers,
                                  "writer_hz": c["writer_hz"]}}


def sec_stall(b: Bench) -> dict[str, Any]:
    c, env = b.cfg, b.env("stall")
    seed = b.child("seed", {"steps": c["seed_steps"]}, env)
    cal = b.child("cross", {"id": seed["id"], "target_s": c["query_s"],
                            "max_n": c["seed_steps"]}, env)
    stop = b.root / "stall" / "stop"
    writer = b.spawn("stall_writer", {"stop": str(stop), "max_s": c["query_s"] * 4 + 60}, env)
    wait_line(writer, "READY ", timeout=120)
    time.sleep(2.0)  # the writer at full speed, past its first flushes
    q = b.child("cross", {"id": seed["id"], "n": cal["n"]}, env, timeout=c["query_s"] * 10 + 120)
    time.sleep(2.0)
    stop.touch()
    w = parse(*writer.communicate(timeout=300), "stall writer")
    return {"rows": stall_rows(cal, q, w),
            "raw": {"seed": seed, "calibration": cal, "query": q, "writer": w}}


def stall_rows(cal: dict[str, Any], q: dict[str, Any], w: dict[str, Any]) -> list[dict[str, Any]]:
    """log() calls over 5 ms: during the query, in the 1 s after it (the backlog it left),
    and elsewhere."""
    start, end = q["start"], q["end"]
    during = [(s, d) for s, d in w["slow"] if s + d > start and s < end]
    after = [d for s, d in w["slow"] if end <= s < end + 1.0]
    other = [d for s, d in w["slow"] if s + d <= start or s >= end + 1.0]
    worst = max((d for _, d in during), default=0.0)
    return [row("stall", f"sql() cross join (n={cal['n']:,}) took", ms(end - start)),
            row("stall", "slowest log() call while it ran", ms(worst),
                goal="ms range (< 50 ms)", met=worst < 0.05),
            row("stall", "slowest log() call starting < 1 s after it ended", ms(max(after, default=0.0)),
                goal="ms range (< 50 ms)", met=max(after, default=0.0) < 0.05),
            row("stall", "slowest log() call elsewhere", ms(max(other, default=0.0))),
            row("stall", "log() calls > 5 ms while it ran", len(during), unit="count"),
            row("stall", "share of its time the loop spent in log() calls > 5 ms",
                stuck_share(w["slow"], start, end), unit="%"),
            row("stall", "  same, in the 2 s before it", stuck_share(w["slow"], start - 2, start),
                unit="%"),
            row("stall", "log() calls/s while it ran", rate_in(w["ticks"], start, end), unit="/s"),
            row("stall", "log() calls/s in the 2 s before it", rate_in(w["ticks"], start - 2, start),
                unit="/s"),
            row("stall", "writer's finish() after the loop", ms(w["finish_s"])),
            row("stall", "writer's log() calls (flat out)", w["calls"], unit="count")]


def stuck_share(slow: list[list[float]], start: float, end: float) -> float:
    """Percent of [start, end] spent inside the slow calls."""
    return 100 * sum(min(s + d, end) - max(s, start) for s, d in slow
                     if s + d > start and s < end) / (end - start)


def rate_in(ticks: list[list[float]], start: float, end: float) -> float | None:
    """Calls per second over [start, end], the call count interpolated between ticks."""
    def calls_at(t: float) -> float | None:
        for (t0, n0), (t1, n1) in itertools.pairwise(ticks):
            if t0 <= t <= t1:
                return n0 + (n1 - n0) * (t - t0) / (t1 - t0) if t1 > t0 else n0
        return None

    a, b = calls_at(start), calls_at(end)
    return None if a is None or b is None else (b - a) / (end - start)


def kill_once(b: Bench, k: int, rng: random.Random) -> dict[str, Any]:
    env = b.env(f"kill-{k}")
    proc = b.spawn("kill", {}, env)
    run_id = wait_line(proc, "RUN ", timeout=120)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    delay = rng.uniform(2.0, 3.0)
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    reader.join(10)
    logged = dict(parse_step(x) for x in lines if x.endswith("\n") and " " in x)
    back = b.child("readback", {"id": run_id}, env)
    last_logged = max(logged)
    if back["last"] is not None and back["last"] in logged:
        loss = logged[last_logged] - logged[back["last"]]
    else:  # nothing stored: everything logged is lost
        loss = logged[last_logged] - min(logged.values())
    return {"delay": delay, "last_logged": last_logged, "last_stored": back["last"],
            "loss_s": loss, "readback": back}


def parse_step(line: str) -> tuple[int, float]:
    i, t = line.split()
    return int(i), float(t)


def sec_kill(b: Bench) -> dict[str, Any]:
    rng = random.Random(b.args.seed)
    tries = [kill_once(b, k, rng) for k in range(b.cfg["kill_n"])]
    losses = [t["loss_s"] for t in tries]
    errors = [t["readback"].get("error") for t in tries if t["readback"].get("error")]
    rows = [row("kill", f"seconds of logging lost at kill -9, median of {len(tries)}",
                med(losses), goal="<= 0.25 s", met=med(losses) <= 0.25, unit="s"),
            row("kill", "  worst", max(losses), met=max(losses) <= 0.25, unit="s"),
            row("kill", "  each: " + ", ".join(f"{x:.3f}" for x in losses), None, unit="s"),
            row("kill", "  stores unreadable after the kill", len(errors), unit="count")]
    return {"rows": rows, "raw": tries}


SECTION_FUNCS = {"warm": sec_warm, "first": sec_first, "finish": sec_finish,
                 "readers": sec_readers, "stall": sec_stall, "kill": sec_kill}


# ============================================================================ report
def ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def fmt(x: float | None, unit: str) -> str:
    if x is None:
        return ""
    if unit in ("count", "/s"):
        return f"{x:,.0f}"
    return f"{x:,.3f}" if unit == "s" else (f"{x:,.1f}" if x < 1000 else f"{x:,.0f}")


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [f"nbtrack: `{meta['nbtrack_file']}` ({meta['nbtrack_rev']}); trackio "
             f"{meta.get('trackio') or 'not measured'}; duckdb {meta.get('duckdb')}; "
             f"{meta['cpus']} CPUs, load {meta['load_start']} -> {meta['load_end']}",
             "", "| section | measure | unit | nbtrack | trackio | nbtrack/trackio | goal | met |",
             "|---|---|---|---:|---:|---:|---|---|"]
    for r in rows:
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else ""
        met = {True: "yes", False: "**no**", None: ""}[r["met"]]
        lines.append(f"| {r['section']} | {r['measure']} | {r['unit']} | {fmt(r['nbtrack'], r['unit'])} "
                     f"| {fmt(r['trackio'], r['unit'])} | {ratio} | {r['goal']} | {met} |")
    return "\n".join(lines) + "\n"


def probe(env: dict[str, str]) -> dict[str, Any]:
    code = ("import json, nbtrack, duckdb\ntry:\n import trackio; tv = trackio.__version__\n"
            "except Exception as e:\n tv = None\n"
            "print('RESULT ' + json.dumps({'nbtrack_file': nbtrack.__file__, "
            "'duckdb': duckdb.__version__, 'trackio': tv}))")
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    meta = parse(p.stdout, p.stderr, "probe")
    repo = Path(meta["nbtrack_file"]).parent.parent
    git = subprocess.run(["git", "-C", str(repo), "describe", "--always", "--dirty"],
                         capture_output=True, text=True)
    meta["nbtrack_rev"] = git.stdout.strip() or "no git"
    return meta


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma list of {SECTIONS}")
    ap.add_argument("--quick", action="store_true", help="smaller sizes (< 3 min here)")
    ap.add_argument("--no-trackio", action="store_true", help="nbtrack alone")
    ap.add_argument("--out", type=Path, help="write the raw results as JSON here")
    ap.add_argument("--md", type=Path, help="write the markdown table here too")
    ap.add_argument("--seed", type=int, default=1, help="seed of the kill -9 moments")
    ap.add_argument("--keep", action="store_true", help="keep the temporary stores")
    for key, value in FULL.items():
        ap.add_argument("--" + key.replace("_", "-"), type=type(value), default=None,
                        help=f"default {value} (--quick: {QUICK[key]})")
    return ap.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    b = Bench(args)
    meta = probe(b.env("probe"))
    b.tools = ["nbtrack"] + (["trackio"] if meta["trackio"] and not args.no_trackio else [])
    meta.update(cpus=os.cpu_count(), python=platform.python_version(),
                load_start=round(os.getloadavg()[0], 2), config=b.cfg, argv=argv)
    print(f"nbtrack from {meta['nbtrack_file']} ({meta['nbtrack_rev']}); tools {b.tools}; "
          f"stores under {b.root}", file=sys.stderr)
    results, rows = {}, []
    for name in [s for s in args.only.split(",") if s]:
        t = time.perf_counter()
        try:
            results[name] = SECTION_FUNCS[name](b)
        except Exception as exc:  # one broken section must not lose the others
            results[name] = {"rows": [row(name, f"FAILED: {type(exc).__name__}: {exc}"[:200],
                                          None)], "error": repr(exc)}
        finally:
            b.reap()
        results[name]["seconds"] = time.perf_counter() - t
        rows += results[name]["rows"]
        print(f"  {name}: {results[name]['seconds']:.1f} s", file=sys.stderr)
    meta["load_end"] = round(os.getloadavg()[0], 2)
    text = markdown(rows, meta)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"meta": meta, "sections": results}, indent=1))
    if args.md:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(text)
    if not args.keep:
        subprocess.run(["rm", "-rf", str(b.root)])
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        CHILDREN[sys.argv[2]](json.loads(sys.argv[3]))
    else:
        sys.exit(main(sys.argv[1:]))
