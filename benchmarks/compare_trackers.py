"""nbtrack against other experiment trackers, all fully offline, on the same workloads.

Run from the repository root, in the benchmark virtualenv (see benchmarks/README.md)::

    .venv-bench/bin/python benchmarks/compare_trackers.py --out benchmarks/RESULTS.md
    .venv-bench/bin/python benchmarks/compare_trackers.py --quick          # about 5 minutes
    .venv-bench/bin/python benchmarks/compare_trackers.py --tools nbtrack,trackio --sections log
    .venv-bench/bin/python benchmarks/compare_trackers.py --from-json out.json --out RESULTS.md
    .venv-bench/bin/python benchmarks/compare_trackers.py --profile runs     # pyinstrument

Trackers: nbtrack, trackio (local SQLite under TRACKIO_DIR), wandb (WANDB_MODE=offline),
tensorboardX (SummaryWriter; read back with tensorboard's EventAccumulator), mlflow (local
sqlite store), aim (local repo). A tracker that does not import is skipped and reported.

Every measurement runs in its own fresh subprocess of this script, so imports, threads
and helper processes (wandb-core, wandb-symon) of one tool never touch another's
numbers. Tools are interleaved within each repeat, so drift in the machine's load hits
all of them alike: only ratios from the same invocation mean anything. Untimed setup
(writing the 1M-point series, creating thousands of runs) runs before the timed
sections, two children at a time.

This is a script, not a test: it checks counts (each read returns every point) but
never asserts timings.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import bench_core  # noqa: E402  (shared helpers: machine(), med(), the IPython probe)

MARK = bench_core.MARK
HAND_WRITTEN = "<!-- hand-written below: kept when the tables above are regenerated -->"
TOOLS = ["nbtrack", "trackio", "wandb", "tensorboardX", "mlflow", "aim"]
IMPORTS = {"nbtrack": "nbtrack", "trackio": "trackio", "wandb": "wandb",
           "tensorboardX": "tensorboardX", "mlflow": "mlflow", "aim": "aim"}
PIP_NAMES = {"tensorboardX": "tensorboardX tensorboard"}
DOWNSAMPLE_TO = 2000
KEYS4 = ("loss", "acc", "lr", "grad_norm")

# Sizes: full run (about 30 minutes here) and --quick (about 5 minutes).
FULL = {
    "repeats": 3, "log_steps": 100_000, "log_cap_s": 10.0, "series": 1_000_000,
    "series_cap_s": 150.0, "runs": 10_000, "runs_cap_s": 120.0, "read_cap_s": 240.0,
    "scale_points": [10**4, 10**5, 10**6, 10**7, 3 * 10**7],
    "scale_runs": [10, 100, 1_000, 10_000, 100_000],
}
QUICK = {
    "repeats": 3, "log_steps": 20_000, "log_cap_s": 3.0, "series": 100_000,
    "series_cap_s": 25.0, "runs": 1_000, "runs_cap_s": 20.0, "read_cap_s": 60.0,
    "scale_points": [10**4, 10**5, 10**6], "scale_runs": [10, 100, 1_000],
}
TINY = {  # smoke test of the script itself (hidden --tiny)
    "repeats": 1, "log_steps": 2_000, "log_cap_s": 2.0, "series": 5_000,
    "series_cap_s": 10.0, "runs": 10, "runs_cap_s": 10.0, "read_cap_s": 60.0,
    "scale_points": [10**4, 10**5], "scale_runs": [10, 100],
}
RUN_LADDER = [10, 100, 1_000, 10_000, 100_000]

ENV = {
    "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_CONSOLE": "off",
    "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1", "HF_HUB_OFFLINE": "1",
    "AIM_UI_TELEMETRY_ENABLED": "0", "GIT_PYTHON_REFRESH": "quiet", "TF_CPP_MIN_LOG_LEVEL": "3",
    "PYTHONWARNINGS": "ignore", "TQDM_DISABLE": "1",
}


# ============================================================================ child side
class TreeMeter:
    """CPU time and peak RSS of this process and every process below it.

    CPU = this process (all threads, ``time.process_time``) + children it reaped
    (``RUSAGE_CHILDREN``) + every live descendant's own and reaped-children CPU, read
    with psutil. A descendant that exits is counted through whoever reaps it: wandb-core
    reaps wandb-symon, and we reap wandb-core. A sampler thread (every 0.5 s) records the
    tree's RSS; its own CPU is subtracted.
    """

    def __init__(self, interval: float = 0.5) -> None:
        import psutil

        self.proc = psutil.Process()
        self.peak_tree_rss = 0
        self.peak_children_rss = 0
        self._sampler_cpu = 0.0
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._run, name="bench-meter", daemon=True)
        self._thread.start()
        self.marks: dict[str, tuple[float, float, float, float]] = {}

    def _kids(self) -> list[Any]:
        try:
            return self.proc.children(recursive=True)
        except Exception:
            return []

    def _sample(self) -> None:
        t0 = time.thread_time()
        kids = 0
        for k in self._kids():
            with contextlib.suppress(Exception):
                kids += k.memory_info().rss
        try:
            own = self.proc.memory_info().rss
        except Exception:
            own = 0
        self.peak_children_rss = max(self.peak_children_rss, kids)
        self.peak_tree_rss = max(self.peak_tree_rss, own + kids)
        self._sampler_cpu += time.thread_time() - t0

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def mark(self, name: str) -> None:
        wall = time.perf_counter()
        own = time.process_time()
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        kids = ru.ru_utime + ru.ru_stime
        for k in self._kids():
            try:
                c = k.cpu_times()
                kids += c.user + c.system + c.children_user + c.children_system
            except Exception:
                pass
        self.marks[name] = (wall, own - self._sampler_cpu, kids, self._sampler_cpu)

    def between(self, a: str, b: str) -> dict[str, float]:
        wa, oa, ka, _ = self.marks[a]
        wb, ob, kb, _ = self.marks[b]
        return {"wall": wb - wa, "cpu_self": ob - oa, "cpu_children": kb - ka,
                "cpu": (ob - oa) + (kb - ka)}

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._sample()
        self_peak = peak_rss()
        return {"peak_tree_rss": max(self.peak_tree_rss, self_peak + self.peak_children_rss),
                "peak_self_rss": self_peak, "peak_children_rss": self.peak_children_rss}


def peak_rss() -> int:
    """This process's peak RSS (VmHWM). Not ru_maxrss: Linux carries that across exec, so
    a child would report its parent's peak at fork time when that is larger."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def tree_bytes(path: Path, prefix: str | None = None) -> int:
    """Bytes in files under ``path`` (only names starting with ``prefix`` at the top)."""
    total = 0
    if not path.exists():
        return 0
    for p in path.rglob("*"):
        if prefix is not None and not p.relative_to(path).parts[0].startswith(prefix):
            continue
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
        except OSError:
            pass
    return total


def value(i: int) -> float:
    return 1.0 / (1.0 + i * 1e-5)


# --- log loops: one shape and one value formula for every tool; a clock check every 64
# calls stops a slow tool at the time cap (mlflow takes ~5-30 ms a call here).
def loop_dict(log: Callable[..., Any], n: int, width: int, deadline: float) -> int:
    pc = time.perf_counter
    if width == 1:
        for i in range(n):
            log({"loss": 1.0 / (1.0 + i * 1e-5)})
            if not i & 63 and pc() > deadline:
                return i + 1
        return n
    for i in range(n):
        x = i * 1e-5
        log({"loss": 1.0 / (1.0 + x), "acc": x, "lr": 0.1 - x * 1e-3, "grad_norm": 2.0 + x})
        if not i & 63 and pc() > deadline:
            return i + 1
    return n


def loop_dict_step(log: Callable[..., Any], n: int, width: int, deadline: float) -> int:
    pc = time.perf_counter
    if width == 1:
        for i in range(n):
            log({"loss": 1.0 / (1.0 + i * 1e-5)}, step=i)
            if not i & 63 and pc() > deadline:
                return i + 1
        return n
    for i in range(n):
        x = i * 1e-5
        log({"loss": 1.0 / (1.0 + x), "acc": x, "lr": 0.1 - x * 1e-3, "grad_norm": 2.0 + x},
            step=i)
        if not i & 63 and pc() > deadline:
            return i + 1
    return n


def loop_scalar(add: Callable[..., Any], n: int, width: int, deadline: float) -> int:
    pc = time.perf_counter
    if width == 1:
        for i in range(n):
            add("loss", 1.0 / (1.0 + i * 1e-5), i)
            if not i & 63 and pc() > deadline:
                return i + 1
        return n
    for i in range(n):
        x = i * 1e-5
        add("loss", 1.0 / (1.0 + x), i)
        add("acc", x, i)
        add("lr", 0.1 - x * 1e-3, i)
        add("grad_norm", 2.0 + x, i)
        if not i & 63 and pc() > deadline:
            return i + 1
    return n


class Tool:
    """One tracker's public API, as a user would call it."""

    name = ""

    def imp(self) -> None:
        raise NotImplementedError

    def start(self, d: Path, name: str, config: dict[str, Any]) -> Any:
        raise NotImplementedError

    def loop(self, h: Any, n: int, width: int, deadline: float) -> int:
        raise NotImplementedError

    def finish(self, h: Any) -> None:
        raise NotImplementedError

    def size(self, d: Path, h: Any) -> int:
        return tree_bytes(d)

    # read-back: write one 'loss' series of n points with the fastest public API
    def write_series(self, d: Path, n: int, cap: float) -> dict[str, Any]:
        h = self.start(d, "series", {"lr": 0.1})
        done = self.loop(h, n, 1, time.perf_counter() + cap)
        self.finish(h)
        return {"ref": self.ref(d, h), "points": done}

    def ref(self, d: Path, h: Any) -> Any:
        return None

    def after_write(self, d: Path) -> float:
        """Work a tool needs between writing and reading through its API (aim: indexing)."""
        return 0.0

    def read_full(self, d: Path, ref: Any) -> int:
        raise NotImplementedError

    def read_down(self, d: Path, ref: Any, m: int) -> int | None:
        return None  # no downsampling read in the public API

    # run listing
    def make_run(self, d: Path, i: int) -> None:
        h = self.start(d, f"run-{i}", run_config(i))
        self.loop(h, 10, 4, float("inf"))
        self.finish(h)

    def list_runs(self, d: Path) -> int:
        raise NotImplementedError


def run_config(i: int) -> dict[str, Any]:
    return {"lr": 10 ** -(1 + i % 4), "batch_size": 32 << (i % 3), "seed": i, "optimizer": "adam"}


class Nbtrack(Tool):
    name = "nbtrack"

    def imp(self) -> None:
        import nbtrack  # noqa: F401

    def start(self, d: Path, name: str, config: dict[str, Any]) -> Any:
        import nbtrack

        return nbtrack.init(name=name, config=config, dir=d)

    def loop(self, h: Any, n: int, width: int, deadline: float) -> int:
        return loop_dict(h.log, n, width, deadline)

    def finish(self, h: Any) -> None:
        h.finish()

    def size(self, d: Path, h: Any) -> int:
        return tree_bytes(d, prefix="nbtrack.duckdb")

    def ref(self, d: Path, h: Any) -> Any:
        return h.id

    def read_full(self, d: Path, ref: Any) -> int:
        import nbtrack

        return len(nbtrack.history(ref, "loss", store=d))

    def read_down(self, d: Path, ref: Any, m: int) -> int | None:
        import nbtrack

        return len(nbtrack.history(ref, "loss", max_points=m, store=d))

    def list_runs(self, d: Path) -> int:
        import nbtrack

        return len(nbtrack.runs(store=d))


class Trackio(Tool):
    name = "trackio"

    def imp(self) -> None:
        import trackio  # noqa: F401

    def _dir(self) -> Path:
        from trackio.utils import TRACKIO_DIR

        return Path(TRACKIO_DIR)

    def start(self, d: Path, name: str, config: dict[str, Any]) -> Any:
        import trackio

        # TRACKIO_DIR is read once at import; each "store" is a project (one SQLite file).
        return trackio.init(project=d.name, name=name, config=config)

    def loop(self, h: Any, n: int, width: int, deadline: float) -> int:
        return loop_dict(h.log, n, width, deadline)

    def finish(self, h: Any) -> None:
        import trackio

        trackio.finish()

    def size(self, d: Path, h: Any) -> int:
        return tree_bytes(self._dir(), prefix=d.name)

    def ref(self, d: Path, h: Any) -> Any:
        return h.name

    def read_full(self, d: Path, ref: Any) -> int:
        # What `trackio get metric --project P --run R --metric loss` calls (no Python API
        # for metric values in trackio.Api).
        from trackio.sqlite_storage import SQLiteStorage

        return len(SQLiteStorage.get_metric_values(d.name, ref, "loss"))

    def read_down(self, d: Path, ref: Any, m: int) -> int | None:
        from trackio.sqlite_storage import SQLiteStorage

        return len(SQLiteStorage.get_metric_values(d.name, ref, "loss", max_points=m))

    def list_runs(self, d: Path) -> int:
        import trackio

        return len([(r.name, r.config) for r in trackio.Api().runs(d.name)])


class Wandb(Tool):
    name = "wandb"

    def imp(self) -> None:
        import wandb  # noqa: F401

    def start(self, d: Path, name: str, config: dict[str, Any]) -> Any:
        import wandb

        d.mkdir(parents=True, exist_ok=True)
        return wandb.init(project="bench", name=name, config=config, dir=str(d), mode="offline")

    def loop(self, h: Any, n: int, width: int, deadline: float) -> int:
        return loop_dict(h.log, n, width, deadline)

    def finish(self, h: Any) -> None:
        h.finish()

    def ref(self, d: Path, h: Any) -> Any:
        return str(next(d.glob("wandb/offline-run-*/run-*.wandb")))

    def read_full(self, d: Path, ref: Any) -> int:
        # wandb.Api() needs a server. The offline reader is the CLI's `wandb leet inspect
        # --json FILE` (one JSON record per line); keep the 'loss' history points.
        exe = Path(sys.executable).with_name("wandb")
        proc = subprocess.Popen([str(exe), "leet", "inspect", "--json", ref],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        steps, values = [], []
        assert proc.stdout is not None
        for line in proc.stdout:
            if b'"history"' not in line:
                continue
            item = json.loads(line).get("history", {}).get("item", {})
            if "loss" in item:
                steps.append(item.get("_step"))
                values.append(item["loss"])
        proc.wait()
        return len(values)


class TensorboardX(Tool):
    name = "tensorboardX"

    def imp(self) -> None:
        from tensorboardX import SummaryWriter  # noqa: F401

    def start(self, d: Path, name: str, config: dict[str, Any]) -> Any:
        from tensorboardX import SummaryWriter

        return SummaryWriter(logdir=str(d / name))

    def loop(self, h: Any, n: int, width: int, deadline: float) -> int:
        return loop_scalar(h.add_scalar, n, width, deadline)

    def finish(self, h: Any) -> None:
        h.close()

    def ref(self, d: Path, h: Any) -> Any:
        return str(d / "series")

    def read_full(self, d: Path, ref: Any) -> int:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        acc = EventAccumulator(ref, size_guidance={"scalars": 0})  # 0 = keep every point
        acc.Reload()
        return len(acc.Scalars("loss"))

    def read_down(self, d: Path, ref: Any, m: int) -> int | None:
        # TensorBoard's own downsampling: reservoir sampling while it parses every event
        # (default 10,000 scalars per tag; asked for m here).
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        acc = EventAccumulator(ref, size_guidance={"scalars": m})
        acc.Reload()
        return len(acc.Scalars("loss"))


class Mlflow(Tool):
    name = "mlflow"

    def imp(self) -> None:
        import mlflow  # noqa: F401

    def _uri(self, d: Path) -> str:
        d.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{d / 'mlflow.db'}"

    def start(self, d: Path, name: str, config: dict[str, Any]) -> Any:
        import mlflow

        mlflow.set_tracking_uri(self._uri(d))
        run = mlflow.start_run(run_name=name)
        mlflow.log_params(config)
        return run

    def loop(self, h: Any, n: int, width: int, deadline: float) -> int:
        import mlflow

        return loop_dict_step(mlflow.log_metrics, n, width, deadline)

    def finish(self, h: Any) -> None:
        import mlflow

        mlflow.end_run()

    def write_series(self, d: Path, n: int, cap: float) -> dict[str, Any]:
        # mlflow's fastest public path: MlflowClient.log_batch, 1000 metrics per call (its limit).
        from mlflow import MlflowClient
        from mlflow.entities import Metric

        client = MlflowClient(tracking_uri=self._uri(d))
        run = client.create_run("0", run_name="series")
        rid = run.info.run_id
        ts = int(time.time() * 1000)
        done = 0
        deadline = time.perf_counter() + cap
        while done < n and time.perf_counter() < deadline:
            hi = min(done + 1000, n)
            client.log_batch(rid, metrics=[Metric("loss", value(i), ts, i) for i in range(done, hi)])
            done = hi
        client.set_terminated(rid)
        return {"ref": rid, "points": done}

    def read_full(self, d: Path, ref: Any) -> int:
        from mlflow import MlflowClient

        return len(MlflowClient(tracking_uri=self._uri(d)).get_metric_history(ref, "loss"))

    def make_run(self, d: Path, i: int) -> None:
        from mlflow import MlflowClient
        from mlflow.entities import Metric, Param

        clients = self.__dict__.setdefault("_clients", {})
        client = clients.get(d) or clients.setdefault(d, MlflowClient(tracking_uri=self._uri(d)))
        run = client.create_run("0", run_name=f"run-{i}")
        ts = int(time.time() * 1000)
        client.log_batch(run.info.run_id,
                         metrics=[Metric(k, value(i), ts, 9) for k in KEYS4],
                         params=[Param(k, str(v)) for k, v in run_config(i).items()])
        client.set_terminated(run.info.run_id)

    def list_runs(self, d: Path) -> int:
        import mlflow

        mlflow.set_tracking_uri(self._uri(d))
        return len(mlflow.search_runs(search_all_experiments=True))


class Aim(Tool):
    name = "aim"

    def imp(self) -> None:
        from aim import Run  # noqa: F401

    def start(self, d: Path, name: str, config: dict[str, Any], **kw: Any) -> Any:
        from aim import Run

        run = Run(repo=str(d), experiment="bench", **kw)
        run.name = name
        run["hparams"] = config
        return run

    def loop(self, h: Any, n: int, width: int, deadline: float) -> int:
        return loop_dict_step(h.track, n, width, deadline)

    def finish(self, h: Any) -> None:
        h.close()

    def ref(self, d: Path, h: Any) -> Any:
        return h.hash

    def after_write(self, d: Path) -> float:
        # Finished runs are invisible to aim.Repo until indexed; `aim up` indexes in the
        # background, a script has to run `aim storage reindex`.
        t0 = time.perf_counter()
        exe = Path(sys.executable).with_name("aim")
        subprocess.run([str(exe), "storage", "--repo", str(d), "reindex", "-y"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - t0

    def read_full(self, d: Path, ref: Any) -> int:
        from aim import Repo
        from aim.storage.context import Context

        metric = Repo(str(d)).get_run(ref).get_metric("loss", Context({}))
        return len(metric.dataframe())

    def make_run(self, d: Path, i: int) -> None:
        # Fastest settings for setup: no system-metrics thread, no terminal capture.
        h = self.start(d, f"run-{i}", run_config(i), system_tracking_interval=None,
                       capture_terminal_logs=False)
        self.loop(h, 10, 4, float("inf"))
        self.finish(h)

    def list_runs(self, d: Path) -> int:
        from aim import Repo

        return len([(r.hash, r.name, r.get("hparams")) for r in Repo(str(d)).iter_runs()])


ADAPTERS: dict[str, Tool] = {t.name: t for t in
                             (Nbtrack(), Trackio(), Wandb(), TensorboardX(), Mlflow(), Aim())}


def emit(payload: dict[str, Any]) -> None:
    print(MARK + json.dumps(payload), flush=True)


# --- children ------------------------------------------------------------------------
def child_import(tool: str, root: Path) -> dict[str, Any]:
    a = ADAPTERS[tool]
    t0 = time.perf_counter()
    a.imp()
    t1 = time.perf_counter()
    h = a.start(root / "s1", "first", {"lr": 0.1})
    t2 = time.perf_counter()
    a.loop(h, 10, 4, float("inf"))
    a.finish(h)
    return {"import": t1 - t0, "init": t2 - t1}


def child_log(tool: str, root: Path, width: int, steps: int, cap: float) -> dict[str, Any]:
    meter = TreeMeter()
    a = ADAPTERS[tool]
    a.imp()
    # One small run first: lazy imports and one-time caches are paid before the clock
    # starts (a notebook pays them once per kernel); the import section times them.
    warm = a.start(root / "warm", "warm-up", {"lr": 0.1})
    a.loop(warm, 100, width, float("inf"))
    a.finish(warm)
    d = root / "timed"
    h = a.start(d, "timed", {"lr": 0.1})
    gc.collect()
    meter.mark("start")
    deadline = time.perf_counter() + cap
    done = a.loop(h, steps, width, deadline)
    meter.mark("loop")
    a.finish(h)
    meter.mark("end")
    mem = meter.stop()
    loop = meter.between("start", "loop")
    total = meter.between("start", "end")
    return {"steps": done, "width": width, "loop_wall": loop["wall"], "wall": total["wall"],
            "finish": total["wall"] - loop["wall"], "cpu": total["cpu"],
            "cpu_self": total["cpu_self"], "cpu_children": total["cpu_children"],
            "bytes": a.size(d, h), **mem}


def child_write_series(tool: str, root: Path, n: int, cap: float) -> dict[str, Any]:
    """The big series, and a 10-point one that each read child reads first (untimed
    in the comparison), so lazy imports and one-time caches are not charged to the read."""
    a = ADAPTERS[tool]
    a.imp()
    tiny = a.write_series(root / "tiny", 10, 60.0)
    a.after_write(root / "tiny")
    d = root / "series"
    t0 = time.perf_counter()
    out = a.write_series(d, n, cap)
    out["write_s"] = time.perf_counter() - t0
    out["index_s"] = a.after_write(d)
    out["bytes"] = a.size(d, None)
    out["capped"] = out["points"] < n
    out["tiny_ref"] = tiny["ref"]
    return out


def child_read(tool: str, root: Path, ref: Any, points: int) -> dict[str, Any]:
    a = ADAPTERS[tool]
    a.imp()
    tiny_ref, ref = ref
    t0 = time.perf_counter()
    a.read_full(root / "tiny", tiny_ref)
    a.read_down(root / "tiny", tiny_ref, DOWNSAMPLE_TO)
    first = time.perf_counter() - t0
    d = root / "series"
    gc.collect()
    t0 = time.perf_counter()
    got = a.read_full(d, ref)
    full = time.perf_counter() - t0
    out: dict[str, Any] = {"first": first, "full": full, "full_rows": got, "ok": got == points}
    gc.collect()
    t0 = time.perf_counter()
    down = a.read_down(d, ref, DOWNSAMPLE_TO)
    if down is not None:
        out["down"] = time.perf_counter() - t0
        out["down_rows"] = down
    return out


def child_make_runs(tool: str, root: Path, target: int, cap: float) -> dict[str, Any]:
    """Create runs up to the largest step of the 10x ladder that fits in ``cap`` seconds."""
    a = ADAPTERS[tool]
    a.imp()
    d = root / "runs"
    a.make_run(root / "runs-tiny", 0)  # listed first by child_list, untimed
    a.after_write(root / "runs-tiny")
    if tool == "nbtrack":
        return nbtrack_clone_runs(d, target)
    ladder = [n for n in RUN_LADDER if n <= target]
    t0 = time.perf_counter()
    made, rate = 0, 0.0
    for step in ladder:
        spent = time.perf_counter() - t0
        # Projected from the last step's rate (the first run pays one-time costs).
        if made and spent + (step - made) * rate > cap:
            break
        t1 = time.perf_counter()
        for i in range(made, step):
            a.make_run(d, i)
        rate = (time.perf_counter() - t1) / (step - made)
        made = step
    create_s = time.perf_counter() - t0
    return {"runs": made, "create_s": create_s, "per_run_ms": rate * 1e3,
            "index_s": a.after_write(d), "bytes": a.size(d, None)}


def nbtrack_clone_runs(d: Path, n: int, real: int = 20) -> dict[str, Any]:
    """``real`` runs through nbtrack.init/log/finish, then cloned with SQL up to ``n``.

    nbtrack has no bulk import, and init+finish costs tens of ms per run (see the
    report), so 100k runs through the API would take hours here. The clones are copies
    of real rows (config, summary, environment, 40 points each) with new ids and names.
    """
    import duckdb

    a = ADAPTERS["nbtrack"]
    real = min(real, n)
    t0 = time.perf_counter()
    for i in range(real):
        a.make_run(d, i)
    per_run = (time.perf_counter() - t0) / real
    if n > real:
        copies = -(-n // real)
        con = duckdb.connect(str(d / "nbtrack.duckdb"))
        con.execute("BEGIN TRANSACTION")
        con.execute(
            "CREATE TEMP TABLE src AS SELECT * FROM run_records; "
            "CREATE TEMP TABLE src_points AS SELECT * FROM metric_points; "
            "DELETE FROM run_records; DELETE FROM metric_points;")
        con.execute(
            "INSERT INTO run_records SELECT s.* REPLACE ("
            " s.id || '-' || c.i AS id, s.name || '-' || c.i AS name,"
            " s.created_at + to_microseconds(c.i) AS created_at)"
            f" FROM src s, range({copies}) c(i)")
        con.execute(
            "INSERT INTO metric_points SELECT p.* REPLACE (p.run_id || '-' || c.i AS run_id)"
            f" FROM src_points p, range({copies}) c(i)")
        extra = copies * real - n
        if extra:
            con.execute("DELETE FROM run_records WHERE id IN (SELECT id FROM run_records "
                        f"ORDER BY created_at DESC LIMIT {extra})")
            con.execute("DELETE FROM metric_points WHERE run_id NOT IN (SELECT id FROM run_records)")
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
        con.close()
    return {"runs": n, "real_runs": real, "create_s": time.perf_counter() - t0,
            "per_run_ms": per_run * 1e3, "index_s": 0.0, "bytes": tree_bytes(d, "nbtrack.duckdb")}


def child_list(tool: str, root: Path, expect: int, repeats: int) -> dict[str, Any]:
    a = ADAPTERS[tool]
    a.imp()
    t0 = time.perf_counter()
    a.list_runs(root / "runs-tiny")  # lazy imports and caches, on another store
    first = time.perf_counter() - t0
    d = root / "runs"
    times, got = [], 0
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        got = a.list_runs(d)
        times.append(time.perf_counter() - t0)
    return {"first": first, "times": times, "rows": got, "ok": got == expect}


def child_scale_points(root: Path, points: int, repeats: int) -> dict[str, Any]:
    """nbtrack only: log ``points`` (4 scalars a step), RSS while logging, then reads."""
    import psutil

    import nbtrack

    a = ADAPTERS["nbtrack"]
    warm = a.start(root / "warm", "warm", {})
    a.loop(warm, 100, 4, float("inf"))
    a.finish(warm)
    nbtrack.history(warm.id, "loss", max_points=DOWNSAMPLE_TO, store=root / "warm")
    proc = psutil.Process()
    gc.collect()
    rss0 = proc.memory_info().rss
    d = root / "scale"
    run = nbtrack.init(name="scale", dir=d)
    log = run.log
    steps = points // 4
    every = max(steps // 20, 1)
    samples = []
    c0, t0 = time.process_time(), time.perf_counter()
    for i in range(steps):
        x = i * 1e-5
        log({"loss": 1.0 / (1.0 + x), "acc": x, "lr": 0.1 - x * 1e-3, "grad_norm": 2.0 + x})
        if i % every == every - 1:
            samples.append(proc.memory_info().rss - rss0)
    t1 = time.perf_counter()
    run.finish()
    t2, c2 = time.perf_counter(), time.process_time()
    peak = peak_rss() - rss0
    out: dict[str, Any] = {
        "points": points, "loop": t1 - t0, "wall": t2 - t0, "finish": t2 - t1, "cpu": c2 - c0,
        "peak_growth": peak, "rss_samples": samples, "bytes": tree_bytes(d, "nbtrack.duckdb"),
        "full": [], "down": [],
    }
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        rows = len(nbtrack.history(run.id, "loss", store=d))
        out["full"].append(time.perf_counter() - t0)
        gc.collect()
        t0 = time.perf_counter()
        nbtrack.history(run.id, "loss", max_points=DOWNSAMPLE_TO, store=d)
        out["down"].append(time.perf_counter() - t0)
    out["ok"] = rows == steps
    return out


def child_ipython() -> dict[str, Any]:
    return bench_core.child_ipython_probe()


def child_main(args: argparse.Namespace) -> None:
    root = Path(args.root)
    kind, tool = args.child, args.tool
    if kind == "import":
        emit(child_import(tool, root))
    elif kind == "ipython":
        emit(child_ipython())
    elif kind == "log":
        emit(child_log(tool, root, args.width, args.n, args.cap))
    elif kind == "write_series":
        emit(child_write_series(tool, root, args.n, args.cap))
    elif kind == "read":
        emit(child_read(tool, root, json.loads(args.ref), args.n))
    elif kind == "make_runs":
        emit(child_make_runs(tool, root, args.n, args.cap))
    elif kind == "list":
        emit(child_list(tool, root, args.n, args.repeats))
    elif kind == "scale_points":
        emit(child_scale_points(root, args.n, args.repeats))
    else:
        raise SystemExit(f"unknown child {kind}")


# ============================================================================ orchestration
class Orchestrator:
    def __init__(self, tools: list[str], cfg: dict[str, Any], keep: bool = False) -> None:
        self.tools = tools
        self.cfg = cfg
        self.base = Path(tempfile.mkdtemp(prefix="nbtrack-cmp-"))
        self.keep = keep
        self.lock = threading.Lock()

    def root(self, *parts: str) -> Path:
        p = self.base.joinpath(*parts)
        p.mkdir(parents=True, exist_ok=True)
        return p

    def child(self, kind: str, tool: str, root: Path, timeout: float, **kw: Any) -> dict[str, Any]:
        """Run one measurement in a fresh interpreter; {'error': ...} if it fails or times out."""
        env = {**os.environ, **ENV, "NBTRACK_DIR": str(root / "nbtrack-default"),
               "TRACKIO_DIR": str(root / "trackio"), "HOME": str(self.root("home"))}
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--tool", tool,
               "--root", str(root)]
        for k, v in kw.items():
            cmd += [f"--{k}", str(v)]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  cwd=root, env=env)
        except subprocess.TimeoutExpired:
            return {"error": f"> {timeout:.0f} s (stopped)", "timeout": True}
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
        if proc.returncode != 0 or not lines:
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1][:300]
            print(f"  !! {kind} {tool} failed rc={proc.returncode}: {tail}", file=sys.stderr)
            return {"error": tail}
        out = json.loads(lines[-1][len(MARK):])
        out["child_s"] = time.perf_counter() - t0
        return out

    def say(self, text: str) -> None:
        with self.lock:
            print(text, file=sys.stderr, flush=True)

    # -- sections ---------------------------------------------------------------
    def imports(self) -> dict[str, Any]:
        out: dict[str, Any] = {t: [] for t in self.tools}
        reps = 1 if self.cfg is QUICK else self.cfg["repeats"]
        for r in range(reps):
            for t in self.tools:
                out[t].append(self.child("import", t, self.root("import", t, str(r)), 180))
        out["ipython"] = [self.child("ipython", "nbtrack", self.root("ipython", str(r)), 120)
                          for r in range(self.cfg["repeats"])]
        return out

    def log(self) -> dict[str, Any]:
        c = self.cfg
        out: dict[str, Any] = {}
        for width, reps in ((4, c["repeats"]), (1, c["repeats"] if self.cfg is FULL else 1)):
            res: dict[str, list[Any]] = {t: [] for t in self.tools}
            for r in range(reps):
                for t in self.tools:
                    res[t].append(self.child("log", t, self.root("log", str(width), t, str(r)),
                                             c["log_cap_s"] + 300, width=width,
                                             n=c["log_steps"], cap=c["log_cap_s"]))
                    self.say(f"  log w={width} rep {r} {t}: {_brief(res[t][-1])}")
                    shutil.rmtree(self.base / "log" / str(width) / t / str(r), ignore_errors=True)
            out[str(width)] = res
        return out

    def setup(self) -> dict[str, Any]:
        """Untimed: series and run stores for every tool, plus nbtrack's run ladder."""
        c = self.cfg
        jobs: list[tuple[str, Callable[[], dict[str, Any]]]] = []
        for t in self.tools:
            jobs.append((f"series/{t}", lambda t=t: self.child(
                "write_series", t, self.root("read", t), c["series_cap_s"] + 600,
                n=c["series"], cap=c["series_cap_s"])))
            if t not in ("wandb", "tensorboardX", "nbtrack"):
                jobs.append((f"runs/{t}", lambda t=t: self.child(
                    "make_runs", t, self.root("list", t), c["runs_cap_s"] + 600,
                    n=c["runs"], cap=c["runs_cap_s"])))
        for n in c["scale_runs"]:
            jobs.append((f"ladder/{n}", lambda n=n: self.child(
                "make_runs", "nbtrack", self.root("ladder", str(n)), 900, n=n, cap=0)))
        # Slowest first, two at a time (2 cores): nothing timed runs meanwhile.
        slow = ("series/wandb", "series/aim", "series/mlflow", "runs/mlflow", "runs/aim",
                "runs/trackio", "series/tensorboardX")
        jobs.sort(key=lambda j: slow.index(j[0]) if j[0] in slow else len(slow))
        out: dict[str, Any] = {}

        def go(item: tuple[str, Callable[[], dict[str, Any]]]) -> None:
            name, fn = item
            t0 = time.perf_counter()
            out[name] = fn()
            self.say(f"  setup {name}: {time.perf_counter() - t0:.0f} s {_brief(out[name])}")

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(go, jobs))
        return out

    def read(self, setup: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {t: [] for t in self.tools}
        skip: set[str] = set()
        for r in range(self.cfg["repeats"]):
            for t in self.tools:
                s = setup.get(f"series/{t}", {})
                if "error" in s or t in skip:
                    continue
                res = self.child("read", t, self.root("read", t), self.cfg["read_cap_s"],
                                 ref=json.dumps([s["tiny_ref"], s["ref"]]), n=s["points"])
                out[t].append(res)
                self.say(f"  read rep {r} {t}: {_brief(res)}")
                # One slow or failed read is enough: the cap is what we report.
                if "error" in res or res.get("full", 0) > self.cfg["read_cap_s"] / 4:
                    skip.add(t)
        return out

    def listing(self, setup: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for t in self.tools:
            s = setup.get(f"runs/{t}")
            if s is None or "error" in s:
                continue
            out[t] = self.child("list", t, self.root("list", t), self.cfg["read_cap_s"] * 3,
                                n=s["runs"], repeats=self.cfg["repeats"])
            self.say(f"  list {t}: {_brief(out[t])}")
        for n in self.cfg["scale_runs"]:
            s = setup.get(f"ladder/{n}", {})
            if "error" in s:
                continue
            out[f"ladder/{n}"] = self.child("list", "nbtrack", self.root("ladder", str(n)), 600,
                                            n=n, repeats=self.cfg["repeats"])
            self.say(f"  list nbtrack {n}: {_brief(out[f'ladder/{n}'])}")
        return out

    def scale(self) -> dict[str, Any]:
        out = {}
        for n in self.cfg["scale_points"]:
            reps = self.cfg["repeats"]  # the log loop runs once per size; reads repeat
            out[str(n)] = self.child("scale_points", "nbtrack", self.root("scale", str(n)), 900,
                                     n=n, repeats=reps)
            self.say(f"  scale {n}: {_brief(out[str(n)])}")
            shutil.rmtree(self.base / "scale" / str(n), ignore_errors=True)
        return out

    def cleanup(self) -> None:
        if not self.keep:
            shutil.rmtree(self.base, ignore_errors=True)


def _brief(res: dict[str, Any]) -> str:
    if "error" in res:
        return "ERROR " + res["error"]
    keys = ("steps", "wall", "cpu", "points", "write_s", "full", "down", "runs", "create_s",
            "rows", "times", "import", "init", "loop", "peak_growth")
    parts = []
    for k in keys:
        if k in res:
            v = res[k]
            parts.append(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" if not
                         isinstance(v, list) else f"{k}={[round(x, 3) for x in v]}")
    return " ".join(parts)


def probe_tools(tools: list[str]) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """Which trackers import here; their versions; why the others are skipped."""
    ok, versions, failed = [], {}, {}
    extra = {"tensorboard": "tensorboard", "duckdb": "duckdb", "psutil": "psutil",
             "pyinstrument": "pyinstrument", "IPython": "ipython"}
    from importlib import metadata

    for t in tools:
        dist = {"tensorboardX": "tensorboardX", "aim": "aim"}.get(t, t)
        code = f"import {IMPORTS[t]}"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              cwd=ROOT, env={**os.environ, **ENV}, timeout=120)
        if proc.returncode != 0:
            failed[t] = (proc.stderr.strip().splitlines() or ["?"])[-1]
            continue
        ok.append(t)
        try:
            versions[t] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[t] = "?"
    for mod, dist in extra.items():
        try:
            versions[mod] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[mod] = "not installed"
    return ok, versions, failed


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    cfg = TINY if args.tiny else QUICK if args.quick else FULL
    wanted = args.tools.split(",") if args.tools else TOOLS
    tools, versions, failed = probe_tools(wanted)
    if "nbtrack" not in tools:
        raise SystemExit(f"nbtrack does not import: {failed.get('nbtrack')}")
    sections = args.sections.split(",") if args.sections else [
        "import", "log", "setup", "read", "list", "scale"]
    machine = bench_core.machine()
    machine["Load average at start (1/5/15 min)"] = bench_core.load_average()
    res: dict[str, Any] = {"machine": machine, "versions": versions, "failed": failed,
                           "tools": tools, "quick": args.quick, "cfg": cfg, "sections": sections}
    orch = Orchestrator(tools, cfg, keep=args.keep)
    print(f"stores under {orch.base}", file=sys.stderr)
    started = time.perf_counter()
    try:
        plan: list[tuple[str, Callable[[], Any]]] = [
            ("import", orch.imports), ("log", orch.log), ("setup", orch.setup),
            ("read", lambda: orch.read(res["setup"])), ("list", lambda: orch.listing(res["setup"])),
            ("scale", orch.scale)]
        for name, fn in plan:
            if name not in sections and not (name == "setup" and {"read", "list"} & set(sections)):
                continue
            t0 = time.perf_counter()
            print(f"... {name}", file=sys.stderr, flush=True)
            res[name] = fn()
            res.setdefault("section_s", {})[name] = time.perf_counter() - t0
            print(f"    {name} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    finally:
        orch.cleanup()
    res["total_s"] = time.perf_counter() - started
    res["machine"]["Load average at end (1/5/15 min)"] = bench_core.load_average()
    return res


# ============================================================================ report
def med(xs: list[float]) -> float:
    return statistics.median(xs)


def good(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if "error" not in r]


def fmt(v: float, digits: int = 3) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def spread(xs: list[float], scale: float = 1.0) -> str:
    if len(xs) == 1:
        return fmt(xs[0] * scale)
    return f"{fmt(med(xs) * scale)} [{fmt(min(xs) * scale)}–{fmt(max(xs) * scale)}]"


def ratio(x: float | None, base: float | None) -> str:
    if x is None or base is None or base <= 0:
        return "–"
    return f"{x / base:.1f}×" if x / base >= 1.95 or x / base < 0.95 else f"{x / base:.2f}×"


def mib(b: float) -> str:
    return f"{b / 2**20:,.0f} MiB" if b >= 10 * 2**20 else f"{b / 2**20:.1f} MiB"


def verdict(ok: bool | None) -> str:
    return "–" if ok is None else "**PASS**" if ok else "**FAIL**"


def report(res: dict[str, Any]) -> str:
    L: list[str] = []
    add = L.append
    mode = "--quick" if res["quick"] else "full"
    add("# nbtrack against other trackers")
    add("")
    add(f"`benchmarks/compare_trackers.py` ({mode} run, {res.get('total_s', 0) / 60:.0f} min). "
        "Every number is the median over repeats, [min–max] beside it, each repeat in a fresh "
        "subprocess per tool, tools interleaved within a repeat. Ratios are against nbtrack in "
        "this same run (higher = slower than nbtrack); absolute numbers drift 2–4× between runs "
        "on this shared 2-core machine, ratios much less. How to reproduce and what each number "
        "means: `benchmarks/README.md`.")
    add("")
    add("## Machine")
    add("")
    add("| | |")
    add("|---|---|")
    for k, v in res["machine"].items():
        if k in ("IPython",):
            continue
        add(f"| {k} | {v} |")
    for k, v in res["versions"].items():
        if k not in res["machine"]:
            add(f"| {k} | {v} |")
    add("")
    if res["failed"]:
        add("Skipped (did not import): " + "; ".join(f"{t}: `{e}`" for t, e in res["failed"].items()))
        add("")
    summary: dict[str, Any] = {}
    if "log" in res:
        _report_log(res, add, summary)
    if "import" in res:
        _report_import(res, add, summary)
    if "read" in res:
        _report_read(res, add, summary)
    if "list" in res:
        _report_list(res, add, summary)
    if "scale" in res or "list" in res:
        _report_scale(res, add, summary)
    _report_goals(res, add, summary)
    return "\n".join(L)


def _log_stats(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    rows = good(rows)
    if not rows:
        return None
    per = lambda k: [r[k] / r["steps"] * 1e6 for r in rows]  # noqa: E731
    return {
        "loop": per("loop_wall"), "wall": per("wall"), "cpu": per("cpu"),
        "cpu_children": per("cpu_children"), "finish": [r["finish"] for r in rows],
        "rss": [r["peak_tree_rss"] for r in rows], "steps": [r["steps"] for r in rows],
        "bytes_pt": [r["bytes"] / (r["steps"] * r["width"]) for r in rows],
        "bytes": [r["bytes"] for r in rows],
    }


def _report_log(res: dict[str, Any], add: Callable[[str], None], summary: dict[str, Any]) -> None:
    cfg, tools = res["cfg"], res["tools"]
    for width in ("4", "1"):
        if width not in res["log"]:
            continue
        data = {t: _log_stats(res["log"][width].get(t, [])) for t in tools}
        base = data.get("nbtrack")
        reps = len(next(iter(res["log"][width].values())))
        add(f"## Log cost: {width} scalar{'s' if width == '4' else ''} per step, up to "
            f"{cfg['log_steps']:,} steps ({reps} repeat{'s' if reps > 1 else ''})")
        add("")
        add(f"µs per step. *Wall incl. finish* = (loop + finish/close) / steps; *CPU* = CPU time "
            f"of the whole process tree over the same span (all threads, helper processes such "
            f"as wandb-core and wandb-symon included), per step; *helpers* = the part of it spent "
            f"in child processes. A tool still logging after {cfg['log_cap_s']:.0f} s is stopped "
            "there (its step count shows it) and finished. Peak RSS: whole process tree, whole "
            "child life (import, a 100-step warm-up run, the timed run). Disk: the timed run's "
            "files.")
        add("")
        add("| tool | steps | loop µs/step | **wall µs/step incl. finish** | × nbtrack | finish ms "
            "| **CPU µs/step** | × nbtrack | of which helpers | peak RSS (tree) | disk B/point |")
        add("|---|---|---|---|---|---|---|---|---|---|---|")
        for t in tools:
            s = data[t]
            if s is None:
                err = next((r["error"] for r in res["log"][width].get(t, []) if "error" in r), "?")
                add(f"| {t} | failed: {err} | | | | | | | | | |")
                continue
            add(f"| {t} | {int(med(s['steps'])):,} | {spread(s['loop'])} | {spread(s['wall'])} | "
                f"{ratio(med(s['wall']), base and med(base['wall']))} | "
                f"{spread(s['finish'], 1e3)} | {spread(s['cpu'])} | "
                f"{ratio(med(s['cpu']), base and med(base['cpu']))} | {fmt(med(s['cpu_children']))} | "
                f"{mib(med(s['rss']))} | {fmt(med(s['bytes_pt']))} |")
        add("")
        summary[f"log{width}"] = data


def _report_import(res: dict[str, Any], add: Callable[[str], None], summary: dict[str, Any]) -> None:
    tools = res["tools"]
    imp = res["import"]
    add("## Import and init")
    add("")
    add("Seconds, fresh interpreter each time. *Import* = `import <tool>` (for tensorboardX "
        "`from tensorboardX import SummaryWriter`); *init* = the first run's start in a new "
        "store directory (nbtrack.init, trackio.init, wandb.init(mode='offline') incl. starting "
        "wandb-core, SummaryWriter(), mlflow.start_run on a new sqlite file incl. its schema "
        "migrations, aim.Run on a new repo).")
    add("")
    add("| tool | import s | × nbtrack | init s | × nbtrack | import + init s |")
    add("|---|---|---|---|---|---|")
    base = good(imp.get("nbtrack", []))
    bi = med([r["import"] for r in base]) if base else None
    bn = med([r["init"] for r in base]) if base else None
    for t in tools:
        rows = good(imp.get(t, []))
        if not rows:
            add(f"| {t} | failed | | | | |")
            continue
        i, n = [r["import"] for r in rows], [r["init"] for r in rows]
        add(f"| {t} | {spread(i)} | {ratio(med(i), bi)} | {spread(n)} | {ratio(med(n), bn)} | "
            f"{fmt(med(i) + med(n))} |")
    add("")
    ip = good(imp.get("ipython", []))
    if ip:
        tot = [r["import_s"] + r["load_ext_s"] for r in ip]
        add(f"In a notebook kernel (IPython already loaded): `import nbtrack` "
            f"{spread([r['import_s'] for r in ip], 1e3)} ms + `%load_ext nbtrack` "
            f"{spread([r['load_ext_s'] for r in ip], 1e3)} ms = **{spread(tot, 1e3)} ms**; heavy "
            f"modules added: {', '.join(ip[0]['heavy_added']) or 'none'}.")
        add("")
        summary["ipython"] = med(tot)


def _report_read(res: dict[str, Any], add: Callable[[str], None], summary: dict[str, Any]) -> None:
    cfg, tools, setup = res["cfg"], res["tools"], res["setup"]
    add(f"## Read back one series of {cfg['series']:,} points")
    add("")
    add("Seconds per read, fresh interpreter per repeat. Each child first reads a 10-point "
        "series in another store of the same tool (*first call*: lazy imports, caches; not part "
        "of the comparison), then the big series (opening the store included). The series "
        "is written first (untimed) with each tool's fastest public API: "
        "`run.log` for nbtrack, trackio and wandb; `SummaryWriter.add_scalar` for tensorboardX; "
        "`MlflowClient.log_batch` with 1,000 metrics per call for mlflow; `run.track` for aim; "
        f"capped at {cfg['series_cap_s']:.0f} s, so a slow tool may hold fewer points (shown), "
        "which only flatters it. Read paths: nbtrack `history(run, 'loss')` and with "
        f"`max_points={DOWNSAMPLE_TO}`; trackio `SQLiteStorage.get_metric_values` (what `trackio "
        "get metric` runs; `trackio.Api` has no metric read) with and without `max_points`; "
        "wandb `wandb leet inspect --json FILE` (the only offline reader: `wandb.Api` needs a "
        "server) parsed for the `loss` history; tensorboard `EventAccumulator` with every "
        f"scalar kept, and with a {DOWNSAMPLE_TO}-point reservoir (its own downsampling, which "
        "still parses every event); mlflow `MlflowClient.get_metric_history`; aim "
        "`Repo.get_run(h).get_metric('loss', Context({})).dataframe()`.")
    add("")
    add("| tool | points | write s (setup) | B/point on disk | first call s | **full read s** | "
        f"× nbtrack | **downsampled to ~{DOWNSAMPLE_TO} s** | × nbtrack | all points returned |")
    add("|---|---|---|---|---|---|---|---|---|---|")
    base = good(res["read"].get("nbtrack", []))
    bf = med([r["full"] for r in base]) if base else None
    bd = med([r["down"] for r in base if "down" in r]) if base else None
    summary["read"] = {}
    for t in tools:
        s = setup.get(f"series/{t}", {})
        if "error" in s:
            add(f"| {t} | setup failed: {s['error']} | | | | | | | | |")
            continue
        rows = res["read"].get(t, [])
        ok_rows = good(rows)
        write = f"{fmt(s['write_s'])}" + (" (capped)" if s.get("capped") else "")
        if s.get("index_s"):
            write += f" + index {fmt(s['index_s'])}"
        bpp = fmt(s["bytes"] / max(s["points"], 1))
        if not ok_rows:
            err = rows[0]["error"] if rows else "?"
            add(f"| {t} | {s['points']:,} | {write} | {bpp} | | {err} | > {ratio(cfg['read_cap_s'], bf)}"
                " | | | |")
            summary["read"][t] = {"full": float("inf"), "points": s["points"]}
            continue
        full = [r["full"] for r in ok_rows]
        downs = [r["down"] for r in ok_rows if "down" in r]
        down_s = spread(downs) + f" ({ok_rows[0]['down_rows']:,} pts)" if downs else "n/a"
        add(f"| {t} | {s['points']:,} | {write} | {bpp} | {spread([r['first'] for r in ok_rows])} | "
            f"{spread(full)} | {ratio(med(full), bf)} | "
            f"{down_s} | {ratio(med(downs), bd) if downs else '–'} | "
            f"{_returned(ok_rows, s['points'])} |")
        summary["read"][t] = {"full": med(full), "down": med(downs) if downs else None,
                              "points": s["points"], "bpp": s["bytes"] / max(s["points"], 1)}
    add("")


def _returned(rows: list[dict[str, Any]], points: int) -> str:
    if all(r["ok"] for r in rows):
        return "yes"
    got = min(r["full_rows"] for r in rows)
    return f"**NO: {got:,} of {points:,}**"


def _report_list(res: dict[str, Any], add: Callable[[str], None], summary: dict[str, Any]) -> None:
    cfg, tools, setup, lst = res["cfg"], res["tools"], res["setup"], res["list"]
    add("## List runs")
    add("")
    add("Seconds to list every run with its config, fresh interpreter. nbtrack `runs()` (a "
        "DataFrame with config and last metric values); mlflow `search_runs(search_all_experiments"
        "=True)` (DataFrame with params and metrics); aim `[(r.hash, r.name, r.get('hparams')) for "
        "r in Repo(path).iter_runs()]`; trackio `[(r.name, r.config) for r in Api().runs(p)]`. "
        "wandb: not possible offline (`wandb.Api` needs a server; `wandb leet` browses offline "
        "runs only as an interactive terminal UI). tensorboard: no API (runs are directories).")
    add("")
    add(f"Setup (untimed) creates runs up to {cfg['runs']:,} on a 10× ladder, stopping at the "
        f"last step that fits in {cfg['runs_cap_s']:.0f} s, with the fastest public path: mlflow "
        "`create_run` + `log_batch` + `set_terminated`; aim `Run(...)` without system tracking "
        "+ `track` + `close`, then `aim storage reindex`; trackio `init` + `log` + `finish`. "
        "nbtrack: 20 runs through `init`/`log`/`finish`, cloned with SQL to the count "
        "(nbtrack has no bulk import). The nbtrack column is measured on a store of the same "
        "size as the other tool's.")
    add("")
    add("*First call*: listing a 1-run store of the same tool first in the same child (lazy "
        "imports), not part of the comparison.")
    add("")
    add("| tool | runs | create ms/run (setup) | first call s | **list s** | nbtrack, same count, s "
        "| × nbtrack | rows ok |")
    add("|---|---|---|---|---|---|---|---|")
    summary["list"] = {}
    real = [v for k, v in setup.items() if k.startswith("ladder/") and "error" not in v]
    if real:
        per_run = med([v["per_run_ms"] for v in real])
        sized = [v for v in real if v["runs"] == cfg["runs"]]
        biggest = sized[0] if sized else max(real, key=lambda v: v["runs"])
        nl = lst.get(f"ladder/{biggest['runs']}", {})
        if nl and "error" not in nl:
            add(f"| nbtrack (reference) | {biggest['runs']:,} | {fmt(per_run)} (init+log+finish) | "
                f"{fmt(nl['first'])} | {spread(nl['times'])} | – | 1.00× | "
                f"{'yes' if nl['ok'] else 'NO'} |")
    for t in tools:
        if t == "nbtrack":
            continue
        if t in ("wandb", "tensorboardX"):
            add(f"| {t} | – | – | – | {'not possible offline' if t == 'wandb' else 'n/a (no API)'} "
                "| – | – | – |")
            continue
        s = setup.get(f"runs/{t}", {})
        r = lst.get(t, {})
        if "error" in s or "error" in r or not r:
            add(f"| {t} | failed: {s.get('error') or r.get('error')} | | | | | | |")
            continue
        n = s["runs"]
        nb = lst.get(f"ladder/{n}", {})
        nbm = med(nb["times"]) if nb and "error" not in nb else None
        add(f"| {t} | {n:,} | {fmt(s['per_run_ms'])} | {fmt(r['first'])} | {spread(r['times'])} | "
            f"{fmt(nbm) if nbm else '–'} | {ratio(med(r['times']), nbm)} | "
            f"{'yes' if r['ok'] else 'NO (' + str(r['rows']) + ')'} |")
        summary["list"][t] = {"runs": n, "time": med(r["times"]), "nbtrack": nbm}
    add("")


def _exponents(xs: list[float], ys: list[float]) -> list[str]:
    import math

    out = []
    for (x0, y0), (x1, y1) in itertools.pairwise(zip(xs, ys)):
        out.append(f"{math.log(y1 / y0) / math.log(x1 / x0):.2f}" if y0 > 0 and y1 > 0 else "–")
    return out


def _report_scale(res: dict[str, Any], add: Callable[[str], None], summary: dict[str, Any]) -> None:
    sc = res.get("scale", {})
    add("## Scale (nbtrack)")
    add("")
    if sc:
        add("One run logging 4 scalars a step with `run.log`, up to N points in total; then "
            "`history(run, 'loss')` (N/4 rows) and `history(..., max_points=2000)`. *Growth "
            "exponent* b between neighbouring sizes: time ∝ N^b (1 = linear, below 1 = fixed "
            "costs still dominate, above ~1.15 = worse than linear). *Peak RSS growth*: "
            "peak RSS (VmHWM) after finish minus RSS before the run.")
        add("")
        add("| points | log µs/point incl. finish | ingest M points/s | CPU µs/point | finish s | "
            "peak RSS growth | store B/point | full read of N/4 s | downsample s |")
        add("|---|---|---|---|---|---|---|---|---|")
        ns, walls, fulls, downs, peaks, sizes = [], [], [], [], [], []
        for key, r in sc.items():
            if "error" in r:
                add(f"| {int(key):,} | {r['error']} | | | | | | | |")
                continue
            n = r["points"]
            ns.append(n)
            walls.append(r["wall"])
            fulls.append(med(r["full"]))
            downs.append(med(r["down"]))
            peaks.append(r["peak_growth"])
            sizes.append(r["bytes"])
            add(f"| {n:,} | {fmt(r['wall'] / n * 1e6)} | {fmt(n / r['wall'] / 1e6)} | "
                f"{fmt(r['cpu'] / n * 1e6)} | {fmt(r['finish'])} | {mib(r['peak_growth'])} | "
                f"{fmt(r['bytes'] / n)} | {spread(r['full'])} | {spread(r['down'])} |")
        add("")
        if len(ns) > 1:
            add("Growth exponents between neighbouring sizes (" +
                ", ".join(f"{a:.0e}→{b:.0e}" for a, b in itertools.pairwise(ns)) + "): " +
                f"log wall {', '.join(_exponents(ns, walls))}; full read "
                f"{', '.join(_exponents(ns, fulls))}; downsample {', '.join(_exponents(ns, downs))}; "
                f"store bytes {', '.join(_exponents(ns, sizes))}; peak RSS "
                f"{', '.join(_exponents(ns, [max(p, 1) for p in peaks]))}.")
            add("")
            worse = [f"{name} {a:.0e}→{b:.0e} ({e})" for name, ys in
                     (("log wall", walls), ("full read", fulls), ("downsample", downs),
                      ("store bytes", sizes))
                     for (a, b), e in zip(itertools.pairwise(ns), _exponents(ns, ys))
                     if e != "–" and float(e) > 1.15]
            add("Worse than linear (exponent > 1.15): " + (", ".join(worse) or "none") + ".")
            add("")
            last = sc[str(ns[-1])]
            add(f"RSS growth while logging {ns[-1]:,} points, sampled 20 times: "
                + ", ".join(f"{s / 2**20:.0f}" for s in last["rss_samples"]) + " MiB.")
            add("")
            # On paper: 1e8 from the largest measured size, linear where the exponent says so.
            n1 = ns[-1]
            k = 1e8 / n1

            def paper(ys: list[float]) -> float:
                # Linear, or the last measured exponent where that is worse.
                e = _exponents(ns, ys)[-1]
                return ys[-1] * k ** max(1.0, float(e) if e != "–" else 1.0)

            pe = _exponents(ns, [max(p, 1) for p in peaks])[-1]
            if pe != "–" and float(pe) < 0.2:
                pe = "0"  # flat: past the buffers' bound, memory no longer grows
            add(f"**1e8 points, on paper** (×{k:.0f} from {n1:,}; linear, or the last measured "
                f"exponent where worse): logging ~{paper(walls):,.0f} s "
                f"({n1 and 1e8 / paper(walls) / 1e6:.2f} M points/s); store "
                f"~{paper(sizes) / 2**30:.1f} GiB; full read of the 2.5e7-point `loss` series "
                f"~{paper(fulls):,.0f} s (and ~{2.5e7 * 45 / 2**30:.1f} GiB as a DataFrame); "
                f"downsample ~{paper(downs):.1f} s (it aggregates every point of the series); "
                f"peak RSS growth ~{peaks[-1] * k ** float(pe if pe != '–' else 1) / 2**20:,.0f} MiB "
                + ("(flat between the two largest sizes: the buffers are bounded)." if pe == "0"
                   else f"if it keeps growing with the last exponent ({pe})."))
            add("")
            summary["scale"] = {"ns": ns, "walls": walls, "peaks": peaks, "sizes": sizes,
                                "downs": downs, "samples": last["rss_samples"]}
    lst = res.get("list", {})
    ladder = [(int(k.split("/")[1]), v) for k, v in lst.items() if k.startswith("ladder/")
              and "error" not in v]
    if ladder:
        ladder.sort()
        add("`runs()` latency by number of runs in the store (setup: 20 real runs cloned with SQL):")
        add("")
        add("| runs | `runs()` s | µs per run | first call (1-run store, lazy imports) s |")
        add("|---|---|---|---|")
        for n, v in ladder:
            add(f"| {n:,} | {spread(v['times'])} | {fmt(med(v['times']) / n * 1e6)} | "
                f"{fmt(v['first'])} |")
        add("")
        ns = [n for n, _ in ladder]
        ts = [med(v["times"]) for _, v in ladder]
        add("Growth exponents: " + ", ".join(
            f"{a:,}→{b:,}: {e}" for (a, b), e in zip(itertools.pairwise(ns), _exponents(ns, ts))) + ".")
        if ns[-1] < 100_000:
            add(f" 100k runs on paper: ~{ts[-1] * 100_000 / ns[-1]:.1f} s if linear.")
        add("")
        summary["ladder"] = dict(zip(ns, ts))


def _report_goals(res: dict[str, Any], add: Callable[[str], None], summary: dict[str, Any]) -> None:
    add("## Goals (issue 9)")
    add("")
    add("| goal | measured | result |")
    add("|---|---|---|")
    lg = summary.get("log4")
    if lg and lg.get("nbtrack") and lg.get("trackio"):
        n, t = lg["nbtrack"], lg["trackio"]
        w, c = med(n["wall"]) / med(t["wall"]), med(n["cpu"]) / med(t["cpu"])
        add(f"| log cost per step incl. finish ≤ ½ trackio's, wall (4 scalars) | nbtrack "
            f"{fmt(med(n['wall']))} µs vs trackio {fmt(med(t['wall']))} µs = {w:.2f}× | "
            f"{verdict(w <= 0.5)} |")
        add(f"| … and CPU, all threads and helper processes (4 scalars) | {fmt(med(n['cpu']))} vs "
            f"{fmt(med(t['cpu']))} µs = {c:.2f}× | {verdict(c <= 0.5)} |")
    lg1 = summary.get("log1")
    if lg1 and lg1.get("nbtrack") and lg1.get("trackio"):
        n, t = lg1["nbtrack"], lg1["trackio"]
        w, c = med(n["wall"]) / med(t["wall"]), med(n["cpu"]) / med(t["cpu"])
        add(f"| same, 1 scalar: wall / CPU | {w:.2f}× / {c:.2f}× of trackio | "
            f"{verdict(w <= 0.5 and c <= 0.5)} |")
    sc = summary.get("scale")
    if sc:
        best = [(n, n / w) for n, w in zip(sc["ns"], sc["walls"]) if n >= 10**6]
        if best:
            txt = ", ".join(f"{r / 1e6:.2f} M/s at {n:.0e}" for n, r in best)
            add(f"| ingest > 1M points/s (end to end: `run.log` loop + finish) | {txt} | "
                f"{verdict(all(r > 1e6 for _, r in best))} |")
        bpp = [s / n for n, s in zip(sc["ns"], sc["sizes"]) if n >= 10**5]
        if bpp:
            add(f"| < 60 bytes per point on disk | {', '.join(fmt(b) for b in bpp)} B/point "
                f"(≥1e5 points) | {verdict(all(b < 60 for b in bpp))} |")
    rd = summary.get("read")
    if rd and "nbtrack" in rd:
        nb = rd["nbtrack"]
        others = {t: v for t, v in rd.items() if t != "nbtrack"}
        if others:
            slower = all(v["full"] > nb["full"] for v in others.values())
            fastest = min(others, key=lambda t: others[t]["full"])
            add(f"| read-back faster than every other tool (full series) | nbtrack {fmt(nb['full'])} s; "
                f"fastest other: {fastest} {fmt(others[fastest]['full'])} s on "
                f"{others[fastest]['points']:,} points | {verdict(slower)} |")
            downs = {t: v["down"] for t, v in others.items() if v.get("down")}
            if downs and nb.get("down"):
                ok = all(d > nb["down"] for d in downs.values())
                add(f"| … downsampled read | nbtrack {fmt(nb['down'])} s vs " + ", ".join(
                    f"{t} {fmt(d)} s" for t, d in downs.items()) + f" | {verdict(ok)} |")
    ls = summary.get("list")
    if ls:
        ok = all(v["nbtrack"] is not None and v["time"] > v["nbtrack"] for v in ls.values())
        add("| run listing faster than every other tool | " + ", ".join(
            f"{t}: {fmt(v['time'])} s vs nbtrack {fmt(v['nbtrack']) if v['nbtrack'] else '?'} s "
            f"({v['runs']:,} runs)" for t, v in ls.items()) + f" | {verdict(ok)} |")
    if "ipython" in summary:
        add(f"| `import nbtrack` + `%load_ext nbtrack` < 0.3 s | {summary['ipython'] * 1e3:.0f} ms | "
            f"{verdict(summary['ipython'] < 0.3)} |")
    if sc and len(sc["ns"]) > 1:
        # Flat = no longer growing with the points logged. Only sizes past the buffers'
        # bound show it (200k queued + 1M waiting + 1M in a write: ~2.2M points); below
        # it a short run holds everything it logged, so 1e6 vs 1e7 would compare a run
        # still filling its buffers with one that has filled them.
        p0, p1 = sc["peaks"][-2], sc["peaks"][-1]
        n0, n1 = sc["ns"][-2], sc["ns"][-1]
        samples = sc.get("samples") or []
        half = len(samples) // 2
        early, late = max(samples[:half], default=0), max(samples[half:], default=0)
        if n0 < 5 * 10**6:
            add(f"| memory flat while logging 10M points (bounded buffers) | not measured: the "
                f"largest sizes here ({n0:.0e}, {n1:.0e}) are below the buffers' bound; the full "
                "run measures 1e7 and 3e7 | – |")
        else:
            flat = p1 < 1.25 * p0 and late < 1.25 * early + 16 * 2**20
            add(f"| memory flat while logging 10M points (bounded buffers) | peak RSS growth "
                f"{mib(p0)} at {n0:.0e} → {mib(p1)} at {n1:.0e} points; while logging {n1:.0e}: "
                f"highest sample {mib(early)} in the first half, {mib(late)} in the second | "
                f"{verdict(flat)} |")
    add("")


# ============================================================================ profile
def profile(what: str, n: int) -> None:
    """pyinstrument of one nbtrack workload, in this process (see README)."""
    from pyinstrument import Profiler

    import nbtrack

    root = Path(tempfile.mkdtemp(prefix="nbtrack-cmp-prof-"))
    try:
        if what == "runs":
            nbtrack_clone_runs(root / "runs", n)
            nbtrack.runs(store=root / "runs")
            fn: Callable[[], Any] = lambda: nbtrack.runs(store=root / "runs")  # noqa: E731
        elif what in ("read", "down"):
            run = nbtrack.init(name="p", dir=root / "s")
            loop_dict(run.log, n, 1, float("inf"))
            run.finish()
            mp = DOWNSAMPLE_TO if what == "down" else None
            fn = lambda: nbtrack.history(run.id, "loss", max_points=mp, store=root / "s")  # noqa: E731
        elif what == "log":
            warm = nbtrack.init(name="w", dir=root / "w")
            loop_dict(warm.log, 100, 4, float("inf"))
            warm.finish()

            def fn() -> None:
                run = nbtrack.init(name="p", dir=root / "l")
                loop_dict(run.log, n, 4, float("inf"))
                run.finish()
        else:
            raise SystemExit(f"unknown profile target {what}")
        prof = Profiler(interval=0.0005)
        prof.start()
        t0 = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - t0
        prof.stop()
        print(prof.output_text(unicode=True, color=False, show_all=False))
        print(f"{what} n={n}: {elapsed:.3f} s", file=sys.stderr)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, about 5 minutes")
    ap.add_argument("--tools", default=None, help=f"comma-separated subset of {','.join(TOOLS)}")
    ap.add_argument("--sections", default=None,
                    help="comma-separated subset of import,log,read,list,scale")
    ap.add_argument("--out", type=Path, default=None, help="write the Markdown report here")
    ap.add_argument("--json", type=Path, default=None, help="save raw measurements here")
    ap.add_argument("--from-json", type=Path, default=None, help="re-render a saved --json")
    ap.add_argument("--keep", action="store_true", help="keep the temporary stores")
    ap.add_argument("--profile", default=None, metavar="{log,read,down,runs}",
                    help="pyinstrument one nbtrack workload of --n items and exit")
    ap.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)
    # child-only
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--tool", default="nbtrack", help=argparse.SUPPRESS)
    ap.add_argument("--root", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--width", type=int, default=4, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=100_000, help=argparse.SUPPRESS)
    ap.add_argument("--cap", type=float, default=60.0, help=argparse.SUPPRESS)
    ap.add_argument("--ref", default="null", help=argparse.SUPPRESS)
    ap.add_argument("--repeats", type=int, default=3, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        child_main(args)
        return
    if args.profile:
        profile(args.profile, args.n)
        return
    if args.from_json:
        res = json.loads(args.from_json.read_text())
    else:
        res = run_all(args)
        path = args.json or Path(tempfile.gettempdir()) / "nbtrack-compare-last.json"
        path.write_text(json.dumps(res))
        print(f"raw measurements saved to {path}", file=sys.stderr)
    text = report(res)
    print(text)
    if args.out:
        # Keep the hand-written analysis below the marker when re-rendering.
        kept = ""
        if args.out.exists():
            old = args.out.read_text()
            if HAND_WRITTEN in old:
                kept = old[old.index(HAND_WRITTEN):]
        args.out.write_text(text + "\n" + (("\n" + kept) if kept else ""))


if __name__ == "__main__":
    main()
