"""The team store (PostgreSQL) beside the local store (DuckDB folder), same workloads, same run.

Sections (``--only log,ingest,read``; all by default), each run on both engines in turn:

1. ``log``    the cost of one ``run.log()`` of 3 scalars: 200k calls in a fresh process, median
              per call (what training pays; neither engine is touched on this path).
2. ``ingest`` a fresh process logs N points (3 scalars per step) and finishes; then a second
              process counts them all. Time from the first log to "all readable by another
              process", in points per second.
3. ``read``   4 writer processes log (paced, 500 calls/s each) while this process times
              ``runs()`` and ``history(id, "loss", max_points=500)``: p50 and p99.

PostgreSQL: ``--pg URL`` (a maintenance URL; a fresh database is made per section), else a
private server is started from Debian's package (as the tests do). Figures are reported
side by side with the ratio team/local: these machines are shared and noisy, so only the
ratio within one run means much.

    .venv/bin/python benchmarks/bench_team_store.py --md benchmarks/out/team-store.md
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

CHILD_LOG = """
import json, time, nbtrack
run = nbtrack.init(name="bench-log")
n = {n}
costs = []
for block in range(20):
    started = time.perf_counter()
    for i in range(n // 20):
        run.log({{"loss": 0.5, "acc": 0.5, "lr": 0.001}})
    costs.append((time.perf_counter() - started) / (n // 20))
run.finish()
print("RESULT", json.dumps({{"per_call_us": sorted(costs)[len(costs) // 2] * 1e6}}))
"""

CHILD_INGEST = """
import json, time, nbtrack
started = time.time()
run = nbtrack.init(name="bench-ingest")
for i in range({steps}):
    run.log({{"loss": 1.0 / (i + 1), "acc": i / {steps}, "lr": 0.001}})
run.finish()
print("RESULT", json.dumps({{"id": run.id, "started": started, "finished": time.time()}}))
"""

CHILD_COUNT = """
import json, time, nbtrack
deadline = time.time() + 300
while True:
    n = int(nbtrack.sql("SELECT count(*) AS n FROM metrics WHERE run_id = ?", [{run_id!r}])["n"][0])
    if n >= {expected} or time.time() > deadline:
        break
    time.sleep(0.05)
print("RESULT", json.dumps({{"seen": n, "at": time.time()}}))
"""

CHILD_WRITER = """
import time, nbtrack
run = nbtrack.init(name="writer-{i}", project="bench")
print("READY", run.id, flush=True)
deadline = time.time() + {seconds}
i = 0
while time.time() < deadline:
    run.log({{"loss": 1.0 / (i + 1), "acc": 0.5}})
    i += 1
    time.sleep(1 / 500)
run.finish()
"""


def child(code: str, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[7:]))
    raise RuntimeError(f"child failed ({proc.returncode}): {proc.stderr[-2000:]}")


class Engines:
    """A fresh store of each engine per section: a folder, and a new database."""

    def __init__(self, pg: str | None) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="nbtrack-bench-team-"))
        self._stop = None
        if pg is None:
            from helpers import start_postgres

            folder = Path(tempfile.mkdtemp(prefix="nbtrack-bench-pg-"))
            pg, self._stop = start_postgres(folder)
        self.pg = pg

    def fresh(self, engine: str) -> tuple[dict[str, str], Path]:
        import psycopg

        work = self.tmp / uuid.uuid4().hex[:8]
        work.mkdir()
        env = {**os.environ, "XDG_CACHE_HOME": str(work / "cache"), "PYTHONWARNINGS": "ignore"}
        env.pop("NBTRACK_DIR", None)
        if engine == "local":
            env["NBTRACK_STORE"] = str(work / ".nbtrack")
        else:
            name = f"bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(self.pg, autocommit=True) as con:
                con.execute(f'CREATE DATABASE "{name}"')
            env["NBTRACK_STORE"] = self.pg.rsplit("/", 1)[0] + "/" + name
        return env, work

    def close(self) -> None:
        if self._stop is not None:
            self._stop()


def sec_log(engines: Engines, n: int) -> dict[str, Any]:
    out = {}
    for engine in ("local", "team"):
        env, work = engines.fresh(engine)
        out[engine] = child(CHILD_LOG.format(n=n), env, work)["per_call_us"]
    return {"log() per call, us": out}


def sec_ingest(engines: Engines, steps: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for engine in ("local", "team"):
        env, work = engines.fresh(engine)
        logged = child(CHILD_INGEST.format(steps=steps), env, work)
        counted = child(CHILD_COUNT.format(run_id=logged["id"], expected=steps * 3), env, work)
        assert counted["seen"] == steps * 3, counted
        out.setdefault("log + finish, s", {})[engine] = logged["finished"] - logged["started"]
        out.setdefault("points/s until another process sees all", {})[engine] = (
            steps * 3 / (counted["at"] - logged["started"])
        )
    return out


def sec_read(engines: Engines, seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for engine in ("local", "team"):
        env, work = engines.fresh(engine)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(CHILD_WRITER.format(i=i, seconds=seconds))],
                env=env,
                cwd=work,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(4)
        ]
        ids = [p.stdout.readline().split()[1] for p in procs]  # type: ignore[union-attr]
        code = f"""
            import json, time, nbtrack
            runs, hist = [], []
            deadline = time.time() + {seconds - 1}
            time.sleep(1)
            while time.time() < deadline:
                t = time.perf_counter(); nbtrack.runs(); runs.append(time.perf_counter() - t)
                t = time.perf_counter(); nbtrack.history({ids[0]!r}, keys=["loss"], max_points=500)
                hist.append(time.perf_counter() - t)
            print("RESULT", json.dumps({{"runs": runs, "history": hist}}))
        """
        timed = child(code, env, work)
        for p in procs:
            p.wait(timeout=120)
        for what in ("runs", "history"):
            xs = sorted(timed[what])
            out.setdefault(f"{what}() p50 beside 4 writers, ms", {})[engine] = statistics.median(xs) * 1e3
            out.setdefault(f"{what}() p99 beside 4 writers, ms", {})[engine] = (
                xs[int(0.99 * (len(xs) - 1))] * 1e3
            )
    return out


def table(results: dict[str, Any]) -> str:
    lines = ["| measure | local (DuckDB folder) | team (PostgreSQL) | team / local |", "|---|---:|---:|---:|"]
    for measure, pair in results.items():
        local, team = pair["local"], pair["team"]
        lines.append(f"| {measure} | {local:,.3g} | {team:,.3g} | {team / local:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default=os.environ.get("NBTRACK_TEST_PG"), help="PostgreSQL maintenance URL")
    parser.add_argument("--only", default="log,ingest,read")
    parser.add_argument("--log-calls", type=int, default=200_000)
    parser.add_argument("--steps", type=int, default=333_334, help="ingest: steps of 3 scalars (1M points)")
    parser.add_argument("--read-s", type=float, default=12.0)
    parser.add_argument("--md", default=None, help="write the table to this file too")
    args = parser.parse_args()
    engines = Engines(args.pg)
    results: dict[str, Any] = {}
    try:
        only = args.only.split(",")
        if "log" in only:
            results.update(sec_log(engines, args.log_calls))
        if "ingest" in only:
            results.update(sec_ingest(engines, args.steps))
        if "read" in only:
            results.update(sec_read(engines, args.read_s))
    finally:
        engines.close()
    import nbtrack

    text = (
        f"nbtrack {nbtrack.__version__} from {Path(nbtrack.__file__).parent}; "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}\n\n{table(results)}\n"
    )
    print(text)
    if args.md:
        Path(args.md).parent.mkdir(parents=True, exist_ok=True)
        Path(args.md).write_text(text)


if __name__ == "__main__":
    main()
