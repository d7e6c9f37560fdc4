"""The store between real processes: concurrent writers and readers, kill -9, locks, schema."""

from __future__ import annotations

import os
import re
import signal
import time

import pytest
from helpers import hold_lock, run_python, start_python

import nbtrack
from nbtrack import StoreError
from nbtrack.store import Store, get_store, lock, schema

WRITER = """
import sys, time, nbtrack
nbtrack.settings(flush_interval=0.2)
name, steps = sys.argv[1] if len(sys.argv) > 1 else "{name}", {steps}
with nbtrack.init(name="{name}", project="concurrency") as run:
    for step in range(steps):
        run.log({{"loss": 1.0 / (step + 1), "acc": step / steps}})
        if step % 10 == 0:
            time.sleep(0.01)
print("done", run.id)
"""


def test_four_writers_and_a_polling_reader_lose_nothing(store_dir):
    env = {"NBTRACK_DIR": str(store_dir)}
    steps = 3000
    writers = [start_python(WRITER.format(name=f"w{i}", steps=steps), env) for i in range(4)]
    seen: dict[str, int] = {}
    polls = 0
    while any(p.poll() is None for p in writers) or polls == 0:
        counts = nbtrack.sql("SELECT run_id, count(*) AS n FROM metrics GROUP BY run_id")
        for run_id, n in zip(counts["run_id"], counts["n"]):
            assert n >= seen.get(run_id, 0), "a reader saw points disappear"
            seen[run_id] = int(n)
        polls += 1
        time.sleep(0.05)
    for p in writers:
        _, err = p.communicate()
        assert p.returncode == 0, err
    df = nbtrack.runs(project="concurrency")
    assert sorted(df["name"]) == ["w0", "w1", "w2", "w3"]
    assert set(df["status"]) == {"finished"}
    counts = nbtrack.sql(
        "SELECT run_id, count(*) AS n, count(DISTINCT step) AS s FROM metrics GROUP BY run_id"
    )
    assert counts["n"].tolist() == [2 * steps] * 4 and counts["s"].tolist() == [steps] * 4
    assert polls > 3  # the reader really read while the writers wrote


def test_kill_9_loses_at_most_the_last_second_and_shows_crashed(store_dir):
    env = {"NBTRACK_DIR": str(store_dir)}
    child = start_python("""
        import time, nbtrack
        run = nbtrack.init(name="doomed", project="kill")
        print(run.id, flush=True)
        step = 0
        while True:
            run.log({"loss": float(step)}, step=step)
            step += 1
            time.sleep(0.001)
    """, env)
    try:
        run_id = child.stdout.readline().strip()
        seen_steps = 0
        deadline = time.monotonic() + 60
        while seen_steps < 500 and time.monotonic() < deadline:
            seen_steps = int(nbtrack.sql("SELECT count(*) AS n FROM metrics WHERE run_id = ?",
                                         [run_id])["n"][0])
            time.sleep(0.1)
        assert seen_steps >= 500
        seen = nbtrack.history(run_id, "loss")
        assert nbtrack.runs().iloc[0]["status"] == "running"
        killed_at = time.time()
    finally:
        os.kill(child.pid, signal.SIGKILL)  # never leave the endless child behind
        child.wait()
    after = nbtrack.history(run_id, "loss")
    # Nothing a reader has seen is lost ...
    assert set(seen["step"]).issubset(set(after["step"]))
    assert after["step"].tolist() == list(range(len(after)))
    # ... and at most about the last second (the flush interval) is.
    last_written = after["time"].max().timestamp()
    assert killed_at - last_written < 2.5
    row = nbtrack.runs().iloc[0]
    assert row["status"] == "crashed" and row["ended_at"] is not None
    # Any later reader in another process sees it crashed too (it was also written down).
    proc = run_python("import nbtrack; print(nbtrack.runs().iloc[0]['status'])", env)
    assert proc.stdout.strip() == "crashed"
    with get_store(store_dir).read() as con:
        assert con.execute("SELECT status FROM run_records").fetchone()[0] == "crashed"


def test_readers_wait_for_a_writer_and_give_up_with_a_clear_error(store_dir):
    with nbtrack.init(name="x") as run:
        run.log({"a": 1.0})
    nbtrack.runs()  # folded into the file: the lock file exists
    holder = hold_lock(store_dir, 1.5)
    nbtrack.settings(lock_timeout=0.3)
    with pytest.raises(StoreError, match=r"held by another process.*lock_timeout"):
        nbtrack.runs()
    nbtrack.settings(lock_timeout=30)
    started = time.monotonic()
    assert nbtrack.runs()["name"].tolist() == ["x"]  # waits for the holder, then reads
    assert time.monotonic() - started > 0.3
    holder.wait()


def test_logging_goes_on_while_another_process_holds_the_store(store_dir):
    nbtrack.settings(flush_interval=0.1)
    run = nbtrack.init(name="patient")
    run.log({"a": 0.0})
    nbtrack._run.flush_all()  # the store file and its lock exist
    holder = hold_lock(store_dir, 1.0)
    started = time.perf_counter()
    for step in range(1, 1001):
        run.log({"a": float(step)})
    assert time.perf_counter() - started < 0.5  # the loop never waited on the lock
    holder.wait()
    run.finish()
    assert len(nbtrack.history(run.id, "a")) == 1001


def test_lock_is_released_when_its_holder_is_killed(store_dir):
    store_dir.mkdir(parents=True)
    holder = hold_lock(store_dir, 600)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    fd = lock.acquire(str(store_dir / "nbtrack.lock"), shared=False, timeout=2)
    lock.release(fd)


def test_schema_is_versioned_and_migrates_once(store_dir, monkeypatch):
    with nbtrack.init(name="old") as run:
        run.log({"a": 1.0})
    nbtrack._run.flush_all()  # folded into the file (finish() leaves that to a thread)
    added = []

    def add_column(con):
        added.append(True)
        con.execute("ALTER TABLE run_records ADD COLUMN colour VARCHAR DEFAULT 'blue'")

    nxt = schema.LATEST + 1
    known = [name for _, name, _ in schema.MIGRATIONS]
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, (nxt, "run colour", add_column)])
    monkeypatch.setattr(schema, "LATEST", nxt)
    fresh = Store(get_store().dir)  # a new process's view of the same directory
    with fresh.write() as con:
        assert schema.version(con) == nxt
    with Store(get_store().dir).write() as con:
        assert con.execute("SELECT name, colour FROM run_records").fetchall() == [("old", "blue")]
        names = [r[0] for r in con.execute("SELECT name FROM schema_migrations ORDER BY version").fetchall()]
    assert added == [True] and names == [*known, "run colour"]


def test_a_store_from_a_newer_nbtrack_is_refused_clearly(store_dir):
    with nbtrack.init(name="x"):
        pass
    with get_store().write() as con:
        con.execute("INSERT INTO schema_migrations VALUES (99, 'future', now()::TIMESTAMP)")
    with pytest.raises(StoreError, match=r"schema version 99, newer.*upgrade nbtrack"), \
            Store(get_store().dir).read():
        pass


def test_unwritable_store_warns_once_and_training_goes_on(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the store directory should be")
    proc = run_python("""
        import nbtrack
        nbtrack.settings(flush_interval=0.05)
        run = nbtrack.init(name="nowhere")
        total = 0.0
        for step in range(2000):
            total += step
            run.log({"loss": 1.0})
        run.finish()
        print("training finished", total)
    """, {"NBTRACK_DIR": str(blocker / "store")})
    assert "training finished 1999000.0" in proc.stdout
    assert proc.stderr.count("could not write to the store") == 1
    assert "Your code keeps running" in proc.stderr


def test_full_disk_warns_once_training_goes_on_and_data_lands_when_space_returns(store_dir):
    # RLIMIT_FSIZE makes writes past a size fail with EFBIG, as a full disk would.
    proc = run_python("""
        import resource, signal, time, nbtrack
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        nbtrack.settings(flush_interval=0.05)
        with nbtrack.init(name="small") as run:
            run.log({"warmup": 1.0})
        limit = 300_000
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
        run = nbtrack.init(name="big")
        for step in range(200_000):
            run.log({"loss": step * 1.0, "noise": (step * 7919 % 1000) / 7.0})
        time.sleep(0.5)
        print("training finished", flush=True)
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        run.finish()
    """, {"NBTRACK_DIR": str(store_dir)})
    assert "training finished" in proc.stdout
    assert proc.stderr.count("could not write to the store") == 1, proc.stderr
    assert "File too large" in proc.stderr  # the cause is named
    assert proc.stderr.count("is writable again; nothing was lost") == 1
    df = nbtrack.runs().set_index("name")
    assert df.loc["big", "status"] == "finished"
    assert len(nbtrack.history("big", "loss")) == 200_000


def _fake_running_run(hostname: str, pid: int, started: float | None, heartbeat_age_s: float) -> None:
    from datetime import timedelta

    from nbtrack.store.schema import utcnow

    with nbtrack.init(name="seed"):
        pass
    with get_store().write() as con:
        con.execute(
            "INSERT INTO run_records (id, name, project, status, created_at, heartbeat_at, "
            "hostname, pid, pid_started) VALUES ('ghost', 'ghost', 'default', 'running', ?, ?, ?, ?, ?)",
            [utcnow() - timedelta(seconds=600), utcnow() - timedelta(seconds=heartbeat_age_s),
             hostname, pid, started],
        )


def test_a_run_on_another_host_is_crashed_only_after_its_heartbeat_goes_stale(store_dir):
    _fake_running_run("some-other-host", 1, None, heartbeat_age_s=10)
    assert nbtrack.runs(name="ghost").iloc[0]["status"] == "running"
    nbtrack.settings(heartbeat_timeout=5)
    row = nbtrack.runs(name="ghost").iloc[0]
    assert row["status"] == "crashed"
    assert 580 < row["duration"] < 600  # it ran until its last heartbeat


def test_a_reused_pid_does_not_keep_a_dead_run_alive(store_dir):
    import socket

    import psutil

    me = psutil.Process()
    # Our own live pid, but started at another time: the run's process is gone.
    _fake_running_run(socket.gethostname(), os.getppid(), me.create_time() - 1000, 1)
    assert nbtrack.runs(name="ghost").iloc[0]["status"] == "crashed"


def test_a_forked_child_does_not_write_its_parents_buffer(store_dir):
    # A DataLoader-style fork: the child inherits the parent's unflushed points and
    # exits normally (atexit runs); only the parent may write them, once.
    run_python("""
        import os, sys, nbtrack
        nbtrack.settings(flush_interval=3600)
        run = nbtrack.init(name="parent")
        for step in range(100):
            run.log({"a": float(step)})
        pid = os.fork()
        if pid == 0:
            assert nbtrack.active_run() is None
            sys.exit(0)
        assert os.waitpid(pid, 0)[1] == 0
        run.finish()
    """, {"NBTRACK_DIR": str(store_dir)})
    assert len(nbtrack.history("parent", "a")) == 100
    assert nbtrack.runs()["name"].tolist() == ["parent"]


@pytest.mark.parametrize("leaves", ["sys.exit(0)", "os._exit(0)"])
def test_a_forked_child_that_logs_slowly_keeps_every_point(store_dir, leaves):
    # A worker that logs now and then: saved by its writer between its logs, then logging
    # again. Each point after its first save was lost (the writer let go of the child's run
    # once its queue was empty, and never drained it again).
    run_python(f"""
        import os, sys, time, warnings, nbtrack
        warnings.simplefilter("ignore")  # the child's one line about logging from a fork
        nbtrack.settings(flush_interval=0.05)
        run = nbtrack.init(name="parent")
        run.log({{"parent": 1.0}}, step=0)
        pid = os.fork()
        if pid == 0:
            for step in range(1, 9):
                run.log({{"child": float(step)}}, step=step)
                time.sleep(0.15)  # three saves between two logs
            {leaves}
        assert os.waitpid(pid, 0)[1] == 0
        run.finish()
    """, {"NBTRACK_DIR": str(store_dir)})
    child = nbtrack.history("parent", "child")
    assert child["step"].tolist() == list(range(1, 9))
    assert child["value"].tolist() == [float(step) for step in range(1, 9)]


def test_damaged_or_misplaced_stores_get_a_clear_error(tmp_path):
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "nbtrack.duckdb").write_bytes(b"this is not a database" * 100)
    db = re.escape(str(damaged / "nbtrack.duckdb"))
    with pytest.raises(StoreError, match=rf"the store file {db} is damaged .*Move it aside \(mv {db} "):
        nbtrack.runs(store=damaged)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(StoreError, match="is a file, not a directory"):
        nbtrack.runs(store=a_file)
    with pytest.raises(nbtrack.NbtrackError, match=f"no run with id or name 'nope': the store {tmp_path}"):
        nbtrack.history("nope", store=tmp_path / "empty")


def test_the_buffer_stays_bounded_when_the_loop_outpaces_the_writer(store_dir, monkeypatch):
    import nbtrack._run as run_module

    monkeypatch.setattr(run_module, "_QUEUE_LIMIT", 1_000)
    nbtrack.settings(flush_interval=3600)  # the background thread never gets there first
    run = nbtrack.init(name="firehose")
    most = 0
    for step in range(20_000):
        run.log({"a": 1.0, "b": 2.0, "c": 3.0, "d": float(step)})
        most = max(most, len(run._queue) // 3 * 4)
    run.finish()
    assert most <= 2 * 1_000 + 4  # points waiting in memory, never more than twice the limit
    assert len(nbtrack.history(run.id, "d")) == 20_000  # and nothing was lost on the way


def test_a_run_saved_moments_ago_exists_before_it_is_folded(store_dir):
    # `init(id=..., resume=...)` and importers ask whether a run exists: a run finished a
    # moment ago is in a pending segment, not in the DuckDB file yet.
    run = nbtrack.init(name="just-now")
    run.log(loss=1.0)
    run.finish()
    store = get_store(store_dir)
    assert store.pending_paths(), "the run should still be pending for this test to mean anything"
    assert store.run_exists(run.id)
    assert not store.run_exists("no-such-run")


def test_a_run_killed_before_anything_was_folded_is_recorded_crashed(store_dir):
    # A process killed in its first second has folded nothing: its run is only in its
    # pending segments. Readers must show it crashed and write that down, not only show it.
    env = {"NBTRACK_DIR": str(store_dir)}
    child = start_python("""
        import time, nbtrack, nbtrack.writer
        nbtrack.writer.FOLD_EVERY = 3600.0  # this process never folds (as one killed at once)
        run = nbtrack.init(name="early", project="kill")
        for step in range(50):
            run.log({"loss": float(step)}, step=step)
        for writer in nbtrack.writer.all_writers():
            writer.flush()  # saved as a pending segment, not folded
        print(run.id, flush=True)
        time.sleep(600)
    """, env)
    try:
        run_id = child.stdout.readline().strip()
        assert not (store_dir / "nbtrack.duckdb").exists()
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert nbtrack.runs().iloc[0]["status"] == "crashed"
    assert nbtrack.history(run_id, "loss")["step"].tolist() == list(range(50))
    with get_store(store_dir).read() as con:
        assert con is not None, "the crashed run should have been folded and recorded"
        assert con.execute("SELECT status FROM run_records").fetchone()[0] == "crashed"
