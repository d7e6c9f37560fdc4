"""The background writer under pressure: a loop outpacing it, and a store that fails meanwhile."""

from __future__ import annotations

import re

import pytest

import nbtrack
from tests.helpers import run_python

# A child that logs through an outage: RLIMIT_FSIZE makes writes past a size fail with
# EFBIG, as a full disk would (the limit is below any segment file and below the store
# file, so saving and folding both fail); a small queue limit makes the loop hand its
# queue to the writer often, so the failing path is taken many times while it logs.
_OUTAGE = """
    import resource, signal, threading, time, nbtrack
    import nbtrack._run as run_module
    from nbtrack.writer import Writer
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    run_module._QUEUE_LIMIT = 5_000
    nbtrack.settings(flush_interval=0.05, max_buffered_points={keep})
    from collections import Counter
    failed_in = Counter()
    largest = [0]
    save = Writer._save
    def recording(self, segment):
        largest[0] = max(largest[0], segment.point_count())
        try:
            save(self, segment)
        except Exception:
            failed_in[threading.current_thread().name] += 1
            raise
    Writer._save = recording
    with nbtrack.init(name="small") as run:
        run.log({{"warmup": 1.0}})
    nbtrack._run.flush_all()  # the store file exists before the disk fills
    resource.setrlimit(resource.RLIMIT_FSIZE, (1_000, resource.RLIM_INFINITY))
    run = nbtrack.init(name="big")
    for step in range({steps}):
        run.log({{"loss": step * 1.0, "noise": (step * 7919 % 1000) / 7.0}})
    time.sleep(0.3)
    print("failed in loop", failed_in["MainThread"], flush=True)
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    {recover}
    for step in range({steps}, {steps} + 20_000):  # logging on while the writer catches up
        run.log({{"loss": step * 1.0, "noise": (step * 7919 % 1000) / 7.0}})
    run.finish()
    print("largest write", largest[0], flush=True)
"""


def _stored(key: str) -> tuple[list[int], list[float]]:
    # In the order the rows were inserted (rowid): points put back after a failed
    # write must land before the ones logged after them.
    rows = nbtrack.sql(
        "SELECT step, value FROM main.metric_points WHERE key = ? AND run_id = "
        "(SELECT id FROM runs WHERE name = 'big') ORDER BY rowid", [key])
    return rows["step"].tolist(), rows["value"].tolist()


def test_a_failed_write_while_the_loop_logs_on_loses_nothing_and_keeps_the_order(store_dir):
    proc = run_python(_OUTAGE.format(keep=20_000_000, steps=60_000, recover=""),
                      {"NBTRACK_DIR": str(store_dir)})
    # The loop tried the failing disk itself at most once (before the writer thread
    # had found it failing), then only drained and went on.
    assert re.search(r"failed in loop [01]\n", proc.stdout), proc.stdout + proc.stderr
    assert proc.stderr.count("could not write to the store") == 1, proc.stderr
    assert proc.stderr.count("is writable again; nothing was lost") == 1, proc.stderr
    # The 120k points kept through the outage were saved in several segments, each
    # within the write limit (and folded in transactions of at most a million points).
    from nbtrack import writer
    largest = int(re.search(r"largest write (\d+)", proc.stdout).group(1))
    assert 0 < largest <= writer.WRITE_LIMIT * 5_000
    steps, values = _stored("loss")
    assert steps == list(range(80_000))
    assert values == [float(s) for s in range(80_000)]
    noise_steps, noise = _stored("noise")
    assert noise_steps == steps and noise[7] == (7 * 7919 % 1000) / 7.0


def test_a_long_outage_drops_the_oldest_points_and_says_how_many(store_dir):
    # The disk is back and the buffer saved before the loop goes on: what was dropped is
    # decided in the outage alone. (Without it, a writer thread starved on a busy machine
    # retried only after part of the next 40k points, which then counted as dropped too:
    # 94,374 on CI.)
    recover = "nbtrack._run.flush_all()"
    proc = run_python(_OUTAGE.format(keep=50_000, steps=60_000, recover=recover),
                      {"NBTRACK_DIR": str(store_dir)})
    assert proc.stderr.count("dropped the oldest") == 1, proc.stderr
    recovered = re.search(r"is writable again; ([\d,]+) points were dropped", proc.stderr)
    assert recovered, proc.stderr
    dropped = int(recovered.group(1).replace(",", ""))
    # 120k points logged in the outage, 50k kept (whole chunks go, some still queued).
    assert 50_000 <= dropped <= 90_000
    steps, values = _stored("loss")
    # Whole calls go, oldest first: what is left is the newest steps, in order.
    assert steps == list(range(dropped // 2, 80_000))
    assert values == [float(s) for s in steps]


def test_memory_stays_bounded_when_the_loop_outpaces_the_writer(store_dir, monkeypatch):
    import nbtrack._run as run_module
    from nbtrack import writer

    monkeypatch.setattr(run_module, "_QUEUE_LIMIT", 1_000)
    nbtrack.settings(flush_interval=3600)  # only a long queue wakes the background thread
    run = nbtrack.init(name="firehose")
    most = 0
    for step in range(20_000):
        run.log({"a": 1.0, "b": 2.0, "c": 3.0, "d": float(step)})
        if step % 50 == 0:
            most = max(most, run._writer.pending_points())
    run.finish()
    # Queued (<= limit + one call), drained chunks waiting (<= CHUNK_LIMIT x limit, else
    # the loop writes them itself) and one write under way (<= WRITE_LIMIT x limit):
    # bounded by the limit, never the 80k points logged.
    assert most <= (1 + writer.CHUNK_LIMIT + writer.WRITE_LIMIT) * 1_000 + 4
    assert most < 20_000
    assert len(nbtrack.history(run.id, "d")) == 20_000
    assert nbtrack.history(run.id, "d")["value"].tolist() == [float(s) for s in range(20_000)]


@pytest.mark.parametrize("batch", [1_000_000, 3])  # all segments in one fold, or several
def test_chunks_with_other_keys_written_together_keep_their_keys(store_dir, monkeypatch, batch):
    import nbtrack.store as store_module

    monkeypatch.setattr(store_module, "FOLD_POINTS", batch)
    nbtrack.settings(flush_interval=3600)
    run = nbtrack.init(name="mixed")
    run.log({"a": 1.0, "b": 2.0})
    run.drain()  # one chunk with keys a, b; the next with b, c (another order of codes)
    run.log({"b": 3.0, "c": 4.0})
    run.log({"c": None})
    run.drain()
    run.log({"a": 6.0, "b": float("nan")})
    run.finish()
    rows = nbtrack.sql("SELECT step, key, value FROM metrics ORDER BY step, key")
    got = [(s, k, None if v is None or v != v else v) for s, k, v in rows.itertuples(index=False)]
    assert got == [(0, "a", 1.0), (0, "b", 2.0), (1, "b", 3.0), (1, "c", 4.0), (2, "c", None),
                   (3, "a", 6.0), (3, "b", None)]
    nan = nbtrack.sql("SELECT step FROM metrics WHERE isnan(value)")["step"].tolist()
    assert nan == [3]  # NaN stays NaN, None stays missing (NULL)
    assert run.summary["c"] == 4.0 and run.summary["a"] == 6.0


def _writer_threads() -> set:
    import threading

    return {t for t in threading.enumerate()
            if t.name in ("nbtrack-writer", "nbtrack-folder") and t.is_alive()}


def _gone(threads: set, within: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + within
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(t.is_alive() for t in threads)


def test_an_idle_store_lets_its_threads_go_and_the_next_run_starts_them_again(store_dir, monkeypatch):
    import time

    from nbtrack import writer

    monkeypatch.setattr(writer, "IDLE_EXIT", 0.3)
    nbtrack.settings(flush_interval=0.05)
    others = _writer_threads()  # earlier tests' stores, ending on their own
    run = nbtrack.init(name="first")
    run.log({"loss": 1.0})
    first = _writer_threads() - others
    assert sorted(t.name for t in first) == ["nbtrack-folder", "nbtrack-writer"]
    time.sleep(1.5)  # a run that logs nothing for a while keeps them
    assert all(t.is_alive() for t in first)
    run.log({"loss": 0.5})
    run.finish()
    assert _gone(first), "a store with no run and nothing pending kept its threads"

    second = nbtrack.init(name="second")
    for step in range(300):
        second.log({"loss": 1.0 / (step + 1)})
    started = _writer_threads() - others - first
    assert sorted(t.name for t in started) == ["nbtrack-folder", "nbtrack-writer"]
    time.sleep(0.5)  # saved by the new writer thread, before finish() would save them
    unsaved = second._writer.pending_points()
    second.finish()
    assert unsaved == 0
    assert len(nbtrack.history(second.id, "loss")) == 300
    assert nbtrack.history(run.id, "loss")["value"].tolist() == [1.0, 0.5]
    assert _gone(started)
