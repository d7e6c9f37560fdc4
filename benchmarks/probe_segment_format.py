"""Why pending segments are raw numpy columns, not Arrow IPC or Parquet: save and load costs.

python benchmarks/probe_segment_format.py [points]  (prints a markdown table; 5 repeats, medians)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nbtrack.store import journal


def columns(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"codes": np.tile(np.arange(3, dtype=np.int32), n // 3 + 1)[:n],
            "steps": np.repeat(np.arange(n // 3 + 1, dtype=np.int64), 3)[:n],
            "values": rng.random(n), "times": np.arange(n, dtype=np.int64) + 1_700_000_000_000_000}


def ours(folder: Path, cols: dict[str, np.ndarray]) -> tuple[float, float]:
    segment = journal.Segment(points=[journal.PointGroup("run", ["a", "b", "c"], **cols)])
    started = time.perf_counter()
    path = journal.write_segment(folder, segment)
    saved = time.perf_counter() - started
    started = time.perf_counter()
    journal.read_segment(path)
    return saved, time.perf_counter() - started


def arrow(folder: Path, cols: dict[str, np.ndarray], parquet: bool) -> tuple[float, float]:
    import pyarrow as pa
    import pyarrow.ipc as ipc
    import pyarrow.parquet as pq

    started = time.perf_counter()
    table = pa.table({**cols, "codes": pa.DictionaryArray.from_arrays(cols["codes"], ["a", "b", "c"])})
    path = folder / ("x.parquet" if parquet else "x.arrow")
    if parquet:
        pq.write_table(table, path, compression="none")
    else:
        with ipc.new_file(str(path), table.schema) as writer:
            writer.write_table(table)
    saved = time.perf_counter() - started
    started = time.perf_counter()
    if parquet:
        pq.read_table(path)
    else:
        ipc.open_file(pa.memory_map(str(path))).read_all()
    return saved, time.perf_counter() - started


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    cols = columns(n)
    rows = []
    for name, fn in (("nbtrack segment (raw numpy columns)", lambda d: ours(d, cols)),
                     ("Arrow IPC file (pyarrow)", lambda d: arrow(d, cols, False)),
                     ("Parquet, uncompressed (pyarrow)", lambda d: arrow(d, cols, True))):
        runs = []
        for _ in range(5):
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(fn(Path(tmp)))
        rows.append((name, statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)))
    imports = {}
    for module in ("numpy", "pyarrow, pyarrow.ipc", "pyarrow.parquet"):
        code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
        imports[module] = float(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                               text=True, check=True).stdout)
    print(f"| format ({n:,} points) | save ms | load ms |\n|---|---:|---:|")
    for name, saved, loaded in rows:
        print(f"| {name} | {saved * 1e3:.1f} | {loaded * 1e3:.1f} |")
    print("\n| import in a fresh process | ms |\n|---|---:|")
    for module, seconds in imports.items():
        print(f"| {module} | {seconds * 1e3:.0f} |")


if __name__ == "__main__":
    main()
