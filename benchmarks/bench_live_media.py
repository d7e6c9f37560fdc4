"""Live panel overhead with media (not a test; prints its figures).

1,000 steps, each logging a scalar and a 64x64 image (and a histogram every 10 steps),
in a real ipykernel, with and without the live panel; 0 and 2 ms of work per step.

    .venv/bin/python benchmarks/bench_live_media.py
"""

import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_live import Kernel

LOOP = """\
%%track media-{index} {flags}
import time as _time, numpy as _np
_rng = _np.random.default_rng(0)
_imgs = [_rng.integers(0, 255, (64, 64, 3), dtype=_np.uint8) for _ in range(16)]
_pc = _time.perf_counter
_w, _c = _time.perf_counter(), _time.process_time()
for step in range({steps}):
    _end = _pc() + {work_s}
    while _pc() < _end:
        pass
    row = {{"loss": 1.0 / (step + 1), "samples": nbtrack.Image(_imgs[step % 16])}}
    if step % 10 == 0:
        row["weights"] = nbtrack.Histogram(_imgs[step % 16].ravel())
    nbtrack.log(row)
print("@@" + __import__("json").dumps([_time.perf_counter() - _w, _time.process_time() - _c]))
_panel = __import__("nbtrack.widgets").widgets._open.get(nbtrack.active_run().id)
"""
PANEL_CPU = 'print("@@" + __import__("json").dumps(_panel.cpu_seconds if _panel else 0.0))'


def main(repeats=3, steps=1000):
    for work_us in (0, 2000):
        kernel = Kernel()
        stores = Path(tempfile.mkdtemp())
        res = {"live": [], "no-live": []}
        try:
            kernel.run("%load_ext nbtrack\nimport nbtrack")
            for index in range(repeats + 1):
                for mode in ("live", "no-live"):
                    kernel.run(f"nbtrack.settings(dir={str(stores / f'{mode}-{index}')!r})")
                    flags = "--no-live" if mode == "no-live" else ""
                    r = kernel.run(LOOP.format(index=index, flags=flags, steps=steps, work_s=work_us / 1e6))
                    assert not r["errors"], r["errors"]
                    line = next(x for x in r["stdout"].splitlines() if x.startswith("@@"))
                    r["wall"], r["cpu"] = json.loads(line[2:])
                    panel = kernel.run(PANEL_CPU)["stdout"].strip().splitlines()[-1]
                    r["panel_cpu"] = json.loads(panel[2:])
                    if index:
                        res[mode].append(r)
        finally:
            kernel.close()
            shutil.rmtree(stores, ignore_errors=True)
        for mode, rs in res.items():
            report(work_us, mode, rs)


def report(work_us: int, mode: str, rs: list[dict]) -> None:
    def med(key: str) -> float:
        return statistics.median(x[key] for x in rs)

    walls = [x["wall"] for x in rs]
    print(f"work {work_us} us/step {mode:8s}: loop {med('wall'):.3f} s [{min(walls):.3f}-{max(walls):.3f}], "
          f"cpu {med('cpu'):.3f} s, cell {med('cell_s'):.3f} s, panel thread cpu {med('panel_cpu'):.3f} s, "
          f"messages {med('updates'):.0f}, comm bytes {med('comm_bytes') - med('library_bytes'):.0f}",
          flush=True)


if __name__ == "__main__":
    main()
