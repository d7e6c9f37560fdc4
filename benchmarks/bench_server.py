"""Latency of the sidebar's REST API on a large store: 10k runs, 10M points.

Run from the repository root::

    .venv/bin/python benchmarks/bench_server.py               # 7 requests per endpoint
    .venv/bin/python benchmarks/bench_server.py --repeat 15 --out benchmarks/RESULTS-server.md

Builds the store once (about 5 s: bulk inserts straight into DuckDB through the store's
own write lock and schema), starts a real ``jupyter server`` with ``nbtrack.server``
enabled on it, and times each endpoint over HTTP with the token, as the panel calls it:
median [min-max] wall time per request, with the server in another process.

The store: 10,000 runs in two projects (config lr/batch/opt, summary loss/acc), of which
10 "long" runs have 250,000 steps of two metrics (5M points) and the other 9,990 have
250 steps of two metrics (5M points): 10M points in all.

This is a script, not a test: it checks answers are right (counts, shapes) but never timings.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNS = 10_000
LONG_RUNS, LONG_STEPS = 10, 250_000
SHORT_STEPS = 250
TARGET_MS = 1000.0


def build_store(store: Path) -> float:
    """Fill a store with 10k runs and 10M points; returns the seconds it took."""
    sys.path.insert(0, str(ROOT))
    from nbtrack.store import get_store

    started = time.perf_counter()
    with get_store(store).write() as con:
        con.execute(f"""
            INSERT INTO run_records (id, name, project, status, created_at, ended_at, tags, config,
                                     summary, hostname, execution_count, notebook_path, source)
            SELECT printf('r%07d', i), printf('run-%d', i),
                   CASE WHEN i % 3 = 0 THEN 'mnist' ELSE 'cifar' END,
                   CASE WHEN i % 50 = 0 THEN 'failed' ELSE 'finished' END,
                   TIMESTAMP '2024-01-01' + INTERVAL (i) MINUTE,
                   TIMESTAMP '2024-01-01' + INTERVAL (i) MINUTE + INTERVAL 90 SECOND,
                   ['t' || (i % 7)],
                   json_object('lr', 0.001 * (i % 10 + 1), 'batch', 32 * (i % 4 + 1),
                               'opt', CASE WHEN i % 2 = 0 THEN 'adam' ELSE 'sgd' END),
                   json_object('loss', 1.0 / (i % 100 + 1), 'acc', (i % 100) / 100.0),
                   'bench', 1, NULL, printf('lr = %f', 0.001 * (i % 10 + 1))
            FROM range({RUNS}) t(i)""")
        con.execute(f"""
            INSERT INTO metric_points
            SELECT printf('r%07d', r), k, s,
                   CASE WHEN k = 'loss' THEN exp(-s / 50000.0) + random() * 0.01
                        ELSE 1 - exp(-s / 50000.0) END,
                   TIMESTAMP '2024-01-01' + INTERVAL (s) SECOND
            FROM range({LONG_RUNS}) a(r), (VALUES ('loss'), ('acc')) b(k), range({LONG_STEPS}) c(s)""")
        con.execute(f"""
            INSERT INTO metric_points
            SELECT printf('r%07d', r), k, s, 1.0 / (s + 1), TIMESTAMP '2024-01-01' + INTERVAL (s) SECOND
            FROM range({LONG_RUNS}, {RUNS}) a(r), (VALUES ('loss'), ('acc')) b(k),
                 range({SHORT_STEPS}) c(s)""")
        points = con.execute("SELECT count(*) FROM metric_points").fetchone()[0]
    assert points == 2 * (LONG_RUNS * LONG_STEPS + (RUNS - LONG_RUNS) * SHORT_STEPS), points
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(root: Path, port: int, token: str) -> subprocess.Popen[bytes]:
    config = root.parent / "bench_server_config.py"
    config.write_text(
        f"c.ServerApp.root_dir = {str(root)!r}\nc.ServerApp.port = {port}\nc.ServerApp.ip = '127.0.0.1'\n"
        f"c.IdentityProvider.token = {token!r}\nc.ServerApp.open_browser = False\n"
        "c.ServerApp.allow_root = True\nc.ServerApp.jpserver_extensions = {'nbtrack.server': True}\n"
    )
    proc = subprocess.Popen([sys.executable, "-m", "jupyter_server", f"--config={config}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=root)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"jupyter server did not start: {proc.stderr.read().decode() if proc.stderr else ''}")


def timed(call: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    call()  # the first request of a kind pays imports (Altair, pandas): not what a user waits for twice
    times, answer = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        answer = call()
        times.append((time.perf_counter() - started) * 1000)
    return times, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out", type=Path, help="also write the Markdown table here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="nbtrack-bench-server-"))
    root = work / "root"
    store = root / "big" / ".nbtrack"
    setup = build_store(store)
    size = sum(p.stat().st_size for p in store.iterdir()) / 1e6
    print(f"store: {RUNS} runs, {2 * (LONG_RUNS * LONG_STEPS + (RUNS - LONG_RUNS) * SHORT_STEPS):,} points, "
          f"{size:.0f} MB, built in {setup:.1f} s", flush=True)

    port, token = free_port(), os.urandom(16).hex()
    server = start_server(root, port, token)
    base = f"http://127.0.0.1:{port}/nbtrack/"

    def get(path: str, **params: Any) -> Any:
        url = base + path + "?" + urllib.parse.urlencode(params)
        request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    rel = "big/.nbtrack"
    long_pair, short_pair = "r0000000,r0000001", "r0005000,r0005001"
    cases: list[tuple[str, Callable[[], Any], Callable[[Any], str]]] = [
        ("stores under the root", lambda: get("stores", dir=""), lambda a: f"{len(a['stores'])} store"),
        ("projects", lambda: get("projects", store=rel), lambda a: f"{len(a['projects'])} projects"),
        ("runs (newest 200)", lambda: get("runs", store=rel),
         lambda a: f"{len(a['runs'])} of {a['total']} runs"),
        ("runs, search 'run-99' + status", lambda: get("runs", store=rel, q="run-99", status="finished"),
         lambda a: f"{len(a['runs'])} of {a['total']} runs"),
        ("runs, sorted by summary.loss", lambda: get("runs", store=rel, sort="summary.loss", project="mnist"),
         lambda a: f"{len(a['runs'])} of {a['total']} runs"),
        ("run record (a 500k-point run)", lambda: get("run", store=rel, id="r0000000"),
         lambda a: f"{sum(m['points'] for m in a['metrics']):,} points"),
        ("charts, 2 long runs (1M points)", lambda: get("charts", store=rel, runs=long_pair, max_points=400),
         lambda a: f"{a['points']} points drawn"),
        ("charts, 2 short runs", lambda: get("charts", store=rel, runs=short_pair, max_points=400),
         lambda a: f"{a['points']} points drawn"),
        ("diff, 2 runs", lambda: get("diff", store=rel, runs=long_pair),
         lambda a: f"{len(a['config'])} config keys differ"),
    ]
    rows = []
    try:
        for label, call, describe in cases:
            times, answer = timed(call, args.repeat)
            rows.append((label, statistics.median(times), min(times), max(times), describe(answer)))
            print(f"{label:34s} {statistics.median(times):7.0f} ms [{min(times):.0f}-{max(times):.0f}]  "
                  f"{describe(answer)}", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    lines = [
        f"| endpoint | median ms | [min-max] | answer | under {TARGET_MS:.0f} ms |",
        "|---|---:|---:|---|---|",
        *(f"| {label} | {med:.0f} | [{lo:.0f}-{hi:.0f}] | {what} | {'yes' if med < TARGET_MS else 'NO'} |"
          for label, med, lo, hi, what in rows),
    ]
    table = "\n".join(lines)
    print("\n" + table)
    if args.out:
        args.out.write_text(
            f"# Sidebar API latency: {RUNS} runs, 10M points\n\n"
            f"`{' '.join(sys.argv)}` on {os.cpu_count()} cores, {args.repeat} requests each after "
            "one warm-up, over HTTP to a real jupyter server.\n\n" + table + "\n")


if __name__ == "__main__":
    main()
