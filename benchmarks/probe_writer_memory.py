"""Where the memory of a fast logging loop goes: RSS beside the writer's buffers.

Logs N points (4 scalars a step) into a fresh store while a thread samples, every 10 ms,
RSS growth together with the points queued (``Run._queued``), waiting as numpy chunks and
in the write under way; at the end it prints peak RSS growth (VmHWM), ingest, the sample
at the RSS peak, and how many writes each thread made and how large they were::

    .venv/bin/python benchmarks/probe_writer_memory.py 1e7
    .venv/bin/python benchmarks/probe_writer_memory.py 1e7 --queue 1e5 --wake 4 --chunks 10 --write 5

The sizes override ``run._QUEUE_LIMIT`` and ``writer.WAKE_AT / CHUNK_LIMIT / WRITE_LIMIT``
(the last three in multiples of the queue limit). A script, not a test: run variants
alternately, several times; see benchmarks/RESULTS.md ("Memory flat").
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any


def vm_hwm() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("points", type=float)
    ap.add_argument("--queue", type=float, default=None)
    ap.add_argument("--wake", type=int, default=None)
    ap.add_argument("--chunks", type=int, default=None)
    ap.add_argument("--write", type=int, default=None)
    args = ap.parse_args()

    import numpy as np
    import psutil

    import nbtrack
    import nbtrack._run as run_module
    from nbtrack import writer as writer_module

    if args.queue:
        run_module._QUEUE_LIMIT = int(args.queue)
    for name, value in (("WAKE_AT", args.wake), ("CHUNK_LIMIT", args.chunks),
                        ("WRITE_LIMIT", args.write)):
        if value is not None:
            setattr(writer_module, name, value)

    writes: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    original = writer_module.Writer._save

    def counted(self: Any, segment: Any) -> None:
        t0 = time.perf_counter()
        try:
            original(self, segment)
        finally:
            w = writes[threading.current_thread().name]
            w[0] += 1
            w[1] += segment.point_count()
            w[2] += time.perf_counter() - t0

    writer_module.Writer._save = counted  # type: ignore[method-assign]

    root = Path(tempfile.mkdtemp(prefix="nbtrack-memprobe-"))
    warm = nbtrack.init(name="warm", dir=root / "warm")
    for _ in range(100):
        warm.log({"loss": 1.0})
    warm.finish()
    nbtrack.history(warm.id, "loss", store=root / "warm")

    proc = psutil.Process()
    gc.collect()
    rss0 = proc.memory_info().rss
    run = nbtrack.init(name="probe", dir=root / "probe")
    writer = run._writer
    samples: list[tuple[int, int, int, int]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append((proc.memory_info().rss - rss0, run._queued,
                            writer._pending_in_chunks(), writer._in_flight))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    log = run.log
    steps = int(args.points) // 4
    t0 = time.perf_counter()
    for i in range(steps):
        x = i * 1e-5
        log({"loss": 1.0 / (1.0 + x), "acc": x, "lr": 0.1 - x * 1e-3, "grad_norm": 2.0 + x})
    run.finish()
    wall = time.perf_counter() - t0
    nbtrack._run.flush_all(fold_wait=60)  # everything in the DuckDB file, not only saved
    folded = time.perf_counter() - t0
    done.set()
    sampler.join()

    mib = 2**20
    a = np.array(samples, dtype=float)
    top = a[a[:, 0].argmax()]
    print(f"{steps * 4:,} points: {steps * 4 / wall / 1e6:.2f} M points/s to finish() (saved), "
          f"{steps * 4 / folded / 1e6:.2f} M points/s into the DuckDB file, "
          f"peak RSS growth {(vm_hwm() - rss0) / mib:.0f} MiB")
    size = sum(f.stat().st_size for f in (root / "probe").rglob("*") if f.is_file())
    print(f"store: {size / (steps * 4):.1f} "
          "B/point on disk")
    print(f"at the RSS peak ({top[0] / mib:.0f} MiB): queued {top[1]:,.0f}, waiting {top[2]:,.0f}, "
          f"in a write {top[3]:,.0f} points")
    print(f"most ever: queued {a[:, 1].max():,.0f}, waiting {a[:, 2].max():,.0f}, "
          f"in a write {a[:, 3].max():,.0f} points")
    for thread, (n, pts, secs) in writes.items():
        print(f"saves by {thread}: {n}, {pts / max(n, 1) / 1e3:,.0f}k points each, {secs:.2f} s")


if __name__ == "__main__":
    main()
