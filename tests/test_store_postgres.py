"""The team store on a real PostgreSQL server: the same promises as the local store.

Tests marked with the ``engine`` fixture run on both engines (a DuckDB folder and a
PostgreSQL database) and must see the same answers.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import run_python, start_python

import nbtrack
from nbtrack.errors import NbtrackError, NbtrackWarning, StoreError
from nbtrack.selection import Selection
from nbtrack.store import get_store
from nbtrack.store.base import StoreBase


@pytest.fixture(params=["duckdb", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The store in force for this test: a local folder, then a PostgreSQL database."""
    location = str(tmp_path / "store") if request.param == "duckdb" else request.getfixturevalue("pg_url")
    monkeypatch.delenv("NBTRACK_DIR", raising=False)
    monkeypatch.setenv("NBTRACK_STORE", location)
    return location


@pytest.fixture
def pg_store(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("NBTRACK_DIR", raising=False)
    monkeypatch.setenv("NBTRACK_STORE", pg_url)
    return pg_url


def test_the_postgres_store_implements_the_whole_contract(pg_store):
    from nbtrack.store.postgres import PostgresStore

    store = get_store()
    assert isinstance(store, PostgresStore) and isinstance(store, StoreBase)
    assert not PostgresStore.__abstractmethods__
    assert store.location == pg_store


def test_logged_values_come_back_exactly(engine):
    """NaN, None, inf, huge and tiny values, unicode and awkward keys, on both engines."""
    awkward = ["损失/λ", 'a,"quoted" key', "new\nline", "tab\there", "back\\slash", "semi;colon"]
    with nbtrack.init(name="values ✓", config={"lr": 1e-3, "bad": float("nan"), "ω": "ünï"}) as run:
        run.log({"x": float("nan")}, step=0)
        run.log({"x": None}, step=1)
        run.log({"x": float("inf"), "y": -float("inf")}, step=2)
        run.log({"x": 1.7976931348623157e308, "y": 5e-324}, step=3)
        run.log({"x": 0.1 + 0.2}, step=4)
        for i, key in enumerate(awkward):
            run.log({key: i + 0.5}, step=5 + i)
    history = nbtrack.history(run.id)
    x = history[history["key"] == "x"].set_index("step")["value"]
    assert math.isnan(x[0]) and math.isnan(x[1])
    assert x[2] == math.inf and x[3] == 1.7976931348623157e308 and x[4] == 0.1 + 0.2
    y = history[history["key"] == "y"].set_index("step")["value"]
    assert y[2] == -math.inf and y[3] == 5e-324
    assert {k: v for k, v in zip(history["key"], history["value"]) if k in awkward} == {
        key: i + 0.5 for i, key in enumerate(awkward)
    }
    assert history["time"].dtype == "datetime64[us]" and history["step"].dtype == "int64"
    runs = nbtrack.runs()
    assert runs["name"].tolist() == ["values ✓"] and runs["config.ω"].iloc[0] == "ünï"
    assert math.isnan(runs["config.bad"].iloc[0]) and runs["config.lr"].iloc[0] == 1e-3
    # the logged None is missing (NULL); the logged NaN is a diverged value (NaN)
    stored = nbtrack.sql(
        "SELECT step, value IS NULL AS missing FROM metrics WHERE key = 'x' AND step < 2 ORDER BY step"
    )
    assert stored["missing"].tolist() == [False, True]


def _three_runs() -> list[str]:
    ids = []
    for name, lr, acc, tags in (
        ("alpha", 0.1, 0.7, ["base"]),
        ("beta", 0.001, 0.9, ["best", "base"]),
        ("gamma", "auto", None, []),
    ):
        with nbtrack.init(
            name=name, config={"lr": lr, "opt": {"beta1": len(name)}}, tags=tags, notes=f"notes of {name}"
        ) as run:
            if acc is not None:
                run.log({"acc": acc})
        ids.append(run.id)
    return ids


def test_selection_sorts_filters_and_searches_alike(engine):
    alpha, beta, gamma = _three_runs()
    store = get_store()

    def names(**kwargs):
        return [r["name"] for r in store.select_runs(Selection(**kwargs))]

    assert names() == ["gamma", "beta", "alpha"]  # newest first
    assert names(sort="config.lr") == ["beta", "alpha", "gamma"]  # numbers, then text
    assert names(sort="-summary.acc") == ["beta", "alpha", "gamma"]  # missing last either way
    assert names(sort="config.opt.beta1") == ["beta", "gamma", "alpha"]  # nested; ties newest first
    assert names(tags=("best",)) == ["beta"]
    assert names(q="NOTES ALP") == ["alpha"]
    assert names(where="config.lr < 0.05") == ["beta"]
    assert names(sort="name", limit=2) == ["alpha", "beta"]
    assert store.count_runs(Selection(tags=("base",))) == 2
    assert store.summary_keys(Selection()) == ["acc"]
    assert store.resolve_runs(["beta", alpha, "nope"]) == {"beta": beta, alpha: alpha}
    record = store.run_record(gamma)
    assert record["config"] == {"lr": "auto", "opt": {"beta1": 5}} and record["metrics"] == []
    assert [p["name"] for p in store.projects()] == ["default"]


def test_tags_notes_trash_and_restore(engine):
    _alpha, beta, _ = _three_runs()
    assert nbtrack.add_tags("alpha", "keep", "base") == ["base", "keep"]
    nbtrack.delete_runs(["beta"])
    assert sorted(nbtrack.runs()["name"]) == ["alpha", "gamma"]
    nbtrack.restore_runs(["beta"])
    nbtrack.delete_runs([beta])
    assert nbtrack.empty_trash() == 1
    assert sorted(nbtrack.runs()["name"]) == ["alpha", "gamma"]
    with pytest.raises(NbtrackError, match="no run with id or name"):
        nbtrack.history(beta)
    with pytest.raises(NbtrackError, match="no run with id or name 'beta'"):
        nbtrack.restore_runs(["beta"])


def test_sql_takes_one_placeholder_style_and_is_read_only(engine):
    _three_runs()
    assert nbtrack.sql("SELECT name FROM runs WHERE name = ? OR name LIKE 'g%'", ["alpha"])[
        "name"
    ].tolist() in (["alpha", "gamma"], ["gamma", "alpha"])
    assert nbtrack.sql("SELECT count(*) AS n FROM runs WHERE name = $who", {"who": "beta"})["n"][0] == 1
    with pytest.raises(NbtrackError, match="read-only"):
        nbtrack.sql("DELETE FROM run_records")
    with pytest.raises(NbtrackError, match=r"nbtrack.sql\(\)"):
        nbtrack.sql("SELECT nope FROM runs")
    assert len(nbtrack.runs()) == 3  # a failed query leaves the next read working


def test_every_feature_works_on_postgres(pg_store, tmp_path, monkeypatch):
    """What test_every_feature_works_through_the_contract_alone does, on the team store."""
    from test_store_contract import exercise_every_feature

    exercise_every_feature(get_store(), pg_store, tmp_path)


# -- many processes, many hosts --------------------------------------------------------------
_WRITER = """
import os, socket, sys
socket.gethostname = lambda: {host!r}  # a writer on another machine
import nbtrack
with nbtrack.init(name={name!r}, project="team") as run:
    for step in range({steps}):
        run.log({{"loss": 1.0 / (step + 1), "step_sq": float(step * step)}})
print("done", run.id)
"""


def test_writers_on_many_hosts_at_once(pg_store, tmp_path):
    """Four processes with their own working folders and host names log at once, a reader
    reads between them; every point arrives, each run once, with its host."""
    procs = []
    for i in range(4):
        cwd = tmp_path / f"box{i}"
        cwd.mkdir()
        code = _WRITER.format(host=f"gpu-box-{i}", name=f"w{i}", steps=3000)
        procs.append(start_python(code, env={"XDG_CACHE_HOME": str(cwd / "cache")}))
        procs[-1].cwd = cwd  # type: ignore[attr-defined]
    seen = []
    while any(p.poll() is None for p in procs):
        seen.append(len(nbtrack.runs(project="team")))
        time.sleep(0.05)
    for proc in procs:
        _out, err = proc.communicate()
        assert proc.returncode == 0, err
    runs = nbtrack.runs(project="team")
    assert sorted(runs["name"]) == ["w0", "w1", "w2", "w3"] and set(runs["status"]) == {"finished"}
    counts = nbtrack.sql(
        "SELECT r.hostname, count(*) AS n FROM metrics m JOIN runs r ON r.id = m.run_id "
        "GROUP BY r.hostname ORDER BY r.hostname"
    )
    assert counts["hostname"].tolist() == [f"gpu-box-{i}" for i in range(4)]
    assert counts["n"].tolist() == [6000] * 4
    assert seen == sorted(seen)  # a run once seen never disappears


def test_a_killed_writer_reads_as_crashed_here_and_from_other_hosts(pg_store, tmp_path):
    """kill -9: on its own host the process id says crashed at once; a host that cannot
    see the process waits for the heartbeat to go stale."""
    child = start_python(
        """
        import time, nbtrack
        run = nbtrack.init(name="doomed")
        run.log({"loss": 1.0})
        nbtrack.history(run.id)  # wait until it is in the database
        print("logging", flush=True)
        while True:
            run.log({"loss": 0.5}); time.sleep(0.01)
    """,
        env={"XDG_CACHE_HOME": str(tmp_path / "child-cache")},
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "logging"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert nbtrack.runs()["status"].tolist() == ["crashed"]
    # the same database seen from another host: only the heartbeat can tell
    look = """
        import socket; socket.gethostname = lambda: "elsewhere"
        import nbtrack
        nbtrack.settings(heartbeat_timeout={timeout})
        print(nbtrack.sql("SELECT status FROM runs")["status"].tolist())
    """
    get_store().close()
    with get_store()._transaction() as cur:  # as it was before anyone noticed
        cur.execute(
            "UPDATE run_records SET status = 'running', ended_at = NULL, "
            "heartbeat_at = now() AT TIME ZONE 'UTC'"
        )
    assert run_python(look.format(timeout=60)).stdout.strip() == "['running']"
    time.sleep(1.2)
    assert run_python(look.format(timeout=1)).stdout.strip() == "['crashed']"


# -- the database goes away and comes back ---------------------------------------------------
class Proxy:
    """A TCP relay in front of the database that a test can cut and restore: a real outage
    as a client sees one (refused connections, dropped links)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._server: socket.socket | None = None
        self._links: list[socket.socket] = []
        self.up()

    def up(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        self.port = server.getsockname()[1]
        server.listen()
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            # shutdown first: close() alone leaves a socket blocked in accept() listening
            with contextlib_suppress():
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        for link in self._links:
            with contextlib_suppress():
                link.shutdown(socket.SHUT_RDWR)
            link.close()
        self._links.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._links += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib_suppress():
                b.shutdown(socket.SHUT_WR)


def contextlib_suppress():
    import contextlib

    return contextlib.suppress(OSError)


def test_training_goes_on_while_the_database_is_down(pg_url, tmp_path, monkeypatch):
    """Points logged while the database is unreachable wait on local disk; the user is told
    once when it goes and once when it is back; nothing is lost, log() never waits."""
    from urllib.parse import urlsplit

    parts = urlsplit(pg_url)
    proxy = Proxy((parts.hostname, parts.port))
    url = f"postgresql://postgres@127.0.0.1:{proxy.port}{parts.path}"
    monkeypatch.delenv("NBTRACK_DIR", raising=False)
    monkeypatch.setenv("NBTRACK_STORE", url)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = nbtrack.init(name="through-an-outage")
        run.log({"loss": 1.0}, step=0)
        nbtrack.history(run.id)
        proxy.down()
        slowest = 0.0
        for step in range(1, 2001):
            started = time.perf_counter()
            run.log({"loss": 1.0 / (step + 1)}, step=step)
            slowest = max(slowest, time.perf_counter() - started)
            if step % 500 == 0:
                time.sleep(0.6)  # the writer tries the database meanwhile
        assert get_store().pending_paths(), "the points wait on local disk"
        proxy.up()
        run.finish()
        deadline = time.time() + 20
        while get_store().pending_paths() and time.time() < deadline:
            time.sleep(0.2)
    texts = [str(w.message) for w in caught]
    down = [t for t in texts if "could not write to the store" in t]
    assert len(down) == 1 and "Your code keeps running" in down[0], texts
    assert any("writable again" in t and "nothing was lost" in t for t in texts), texts
    assert slowest < 0.5  # never a database round trip (benchmarks/ measure the cost)
    history = nbtrack.history(run.id)
    assert history["step"].tolist() == list(range(2001))
    assert nbtrack.runs()["status"].tolist() == ["finished"]


# -- clear errors ----------------------------------------------------------------------------
def test_clear_errors_for_a_wrong_url_a_missing_database_or_missing_rights(pg_server, monkeypatch):
    import psycopg

    base = pg_server.rsplit("/", 1)[0]
    port = pg_server.rsplit(":", 1)[1].split("/")[0]
    with pytest.raises(StoreError, match=r"database 'no_such_db' does not exist.*createdb no_such_db"):
        get_store(base + "/no_such_db").select_runs(Selection())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    with pytest.raises(StoreError, match=rf"no PostgreSQL server answers at 127.0.0.1:{free}"):
        get_store(f"postgresql://postgres@127.0.0.1:{free}/x").select_runs(Selection())
    with pytest.raises(StoreError, match="refused user 'nobody_here'"):
        get_store(f"postgresql://nobody_here@127.0.0.1:{port}/postgres").select_runs(Selection())
    with pytest.raises(StoreError, match="not a PostgreSQL URL"):
        get_store("postgresql://[bad").select_runs(Selection())
    with psycopg.connect(pg_server, autocommit=True) as con:
        con.execute("DROP DATABASE IF EXISTS nbtrack_norights WITH (FORCE)")
        con.execute("DROP ROLE IF EXISTS intern")
        con.execute("CREATE ROLE intern LOGIN")
        con.execute("CREATE DATABASE nbtrack_norights")
    try:
        with pytest.raises(
            StoreError,
            match=r"user 'intern' lacks rights.*GRANT CREATE ON DATABASE "
            r"nbtrack_norights TO intern",
        ):
            get_store(f"postgresql://intern@127.0.0.1:{port}/nbtrack_norights").select_runs(Selection())
    finally:
        from nbtrack import store as store_module

        for location in list(store_module._stores):
            if isinstance(location, str) and "intern@" in location:
                store_module._stores.pop(location).close()
        with psycopg.connect(pg_server, autocommit=True) as con:
            con.execute("DROP DATABASE IF EXISTS nbtrack_norights WITH (FORCE)")
            con.execute("DROP ROLE IF EXISTS intern")


def test_the_password_never_shows(pg_server):
    store = get_store(pg_server.replace("postgres@", "postgres:s3cret@"))
    assert "s3cret" not in store.location and "s3cret" not in repr(store)
    store.close()


# -- large files -----------------------------------------------------------------------------
def test_large_media_go_to_the_shared_blob_folder(pg_store, tmp_path, monkeypatch):
    from nbtrack.store.postgres import _blobs

    monkeypatch.setattr(_blobs, "INLINE_MAX", 2000)
    picture = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    with nbtrack.init(name="big") as run, pytest.warns(NbtrackWarning, match="blob_dir") as told:
        run.log({"sample": nbtrack.Image(picture), "loss": 0.5})  # never an error in a training loop
    assert len([w for w in told if "skipped the image 'sample'" in str(w.message)]) == 1
    assert nbtrack.history(run.id)["value"].tolist() == [0.5]  # the rest of the call was kept
    assert nbtrack.media(run.id).empty
    nbtrack.settings(blob_dir=str(tmp_path / "shared"))
    with nbtrack.init(name="big2") as run:
        run.log({"sample": nbtrack.Image(picture), "small": nbtrack.Text("tiny")})
    media = nbtrack.media(run.id)
    image = media[media["kind"] == "image"].iloc[0]
    assert (tmp_path / "shared" / image["path"]).is_file()
    assert np.array_equal(np.asarray(nbtrack.load_media(image)), picture)
    assert nbtrack.load_media(media[media["kind"] == "text"].iloc[0]) == "tiny"


def test_points_left_at_exit_while_the_database_is_down_go_in_later(pg_url, tmp_path):
    """A script that ends during an outage says where its points wait; the next nbtrack
    process on the machine sends them."""
    from urllib.parse import urlsplit

    parts = urlsplit(pg_url)
    proxy = Proxy((parts.hostname, parts.port))
    url = f"postgresql://postgres@127.0.0.1:{proxy.port}{parts.path}"
    env = {"NBTRACK_STORE": url, "NBTRACK_DIR": "", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    get_store(url).select_runs(Selection())  # the schema exists; then the database goes away
    proxy.down()
    script = run_python("""
        import nbtrack
        with nbtrack.init(name="offline at the end") as run:
            for step in range(500):
                run.log({"loss": 1.0 / (step + 1)})
        print(run.id)
    """, env=env)
    run_id = script.stdout.strip()
    assert "wait in" in script.stderr and "nothing is lost" in script.stderr, script.stderr
    assert "could not write to the store" in script.stderr  # the outage was told, once
    proxy.up()
    later = run_python(f"""
        import nbtrack
        print(len(nbtrack.history({run_id!r})), nbtrack.runs()["status"].tolist())
    """, env=env)
    assert later.stdout.strip() == "500 ['finished']", later.stderr


# -- review findings: sql() is read-only, one bad value holds back nothing, parity ------------
def test_sql_cannot_write_or_leave_settings_behind(pg_store):
    _three_runs()
    for attack in ("commit; update nbtrack.run_records set name = 'hacked'",
                   "select 1; commit; delete from nbtrack.metric_points",
                   "rollback; create table nbtrack.evil (x int)",
                   "copy (select 1) to program 'touch /tmp/nbtrack-pwned'",
                   "set search_path = public"):
        with pytest.raises(NbtrackError, match=r"read-only|one statement|multiple commands"):
            nbtrack.sql(attack)
    nbtrack.sql("select set_config('search_path', 'public', false) as x")  # a function, rolled back
    assert not Path("/tmp/nbtrack-pwned").exists()
    assert sorted(nbtrack.runs()["name"]) == ["alpha", "beta", "gamma"]
    with nbtrack.init(name="after") as run:  # the store still works: its search path is intact
        run.log({"loss": 1.0})
    assert len(nbtrack.history(run.id)) == 1


def test_placeholders_and_quoting_as_in_the_local_store(engine):
    _three_runs()
    assert nbtrack.sql("SELECT name FROM runs WHERE name = $1 OR name = $2 ORDER BY name",
                       ["beta", "alpha"])["name"].tolist() == ["alpha", "beta"]
    assert nbtrack.sql("SELECT '?' AS q, name FROM runs WHERE name = ?", ["gamma"])["q"].tolist() == ["?"]


def test_one_value_the_database_refuses_holds_back_nothing_else(pg_store, tmp_path):
    """A NUL character (PostgreSQL text cannot hold one) in a metric name: that batch is set
    aside with a line saying so; runs logged after it, by any process, still go in."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with nbtrack.init(name="bad key") as bad:
            bad.log({"a\x00b": 1.0})
        with nbtrack.init(name="good", config={"s": "nul\x00inside"}) as good:
            good.log({"loss": 0.5})
        names = sorted(nbtrack.runs()["name"])
    assert "good" in names and nbtrack.history(good.id)["value"].tolist() == [0.5]
    refused = [str(w.message) for w in caught if "refused" in str(w.message)]
    assert refused and bad.id in refused[0] and ".refused" in refused[0]
    later = run_python("""
        import nbtrack
        with nbtrack.init(name="later") as run:
            run.log({"loss": 1.0})
        print(len(nbtrack.history(run.id)))
    """, env={"XDG_CACHE_HOME": os.environ["XDG_CACHE_HOME"]})
    assert later.stdout.strip() == "1", later.stderr


def test_a_run_marked_crashed_by_a_silent_heartbeat_comes_back_when_it_saves_again(engine, monkeypatch):
    """A reader on another host marks a run crashed after its heartbeat went quiet (a long
    network outage); the run's next save says it is running after all."""
    from nbtrack import _run as run_module
    from nbtrack import writer as writer_module

    # No save of the run between the mark and the check below: no heartbeat due, and the
    # environment scan (which marks the record changed when it ends) already done.
    monkeypatch.setattr(run_module, "HEARTBEAT_EVERY", 3600.0)
    monkeypatch.setattr(writer_module, "HEARTBEAT_EVERY", 3600.0)
    run = nbtrack.init(name="alive")
    run.log({"loss": 1.0})
    run._env_thread.join(timeout=30)
    store = get_store()
    deadline = time.time() + 10
    while (run._dirty or not run._inserted) and time.time() < deadline:  # all of it saved
        run_module.flush_all()
        time.sleep(0.05)
    nbtrack.history(run.id)
    store.mark_trials_interrupted([run.id])  # what a reader's record does to a quiet run
    assert nbtrack.runs()["status"].tolist() == ["interrupted"]
    run.log({"loss": 0.5})
    deadline = time.time() + 10
    while nbtrack.runs()["status"].tolist() != ["running"] and time.time() < deadline:
        time.sleep(0.2)
    assert nbtrack.runs()["status"].tolist() == ["running"]
    run.finish()
    assert nbtrack.runs()["status"].tolist() == ["finished"]


def test_sorting_by_config_matches_the_local_store(engine):
    for name, value in (("nine", "9"), ("ten", "10"), ("tiny", "0.05"), ("nan", float("nan")),
                        ("word", "adam"), ("num", 3)):
        nbtrack.init(name=name, config={"v": value}).finish()
    order = [r["name"] for r in get_store().select_runs(Selection(sort="config.v"))]
    assert order == ["tiny", "num", "nine", "ten", "nan", "word"]


def test_values_come_back_whatever_the_database_defaults(pg_store, pg_server):
    import psycopg

    database = pg_store.rsplit("/", 1)[1]
    with psycopg.connect(pg_server, autocommit=True) as con:
        con.execute(f'ALTER DATABASE "{database}" SET extra_float_digits = 0')
        con.execute(f'ALTER DATABASE "{database}" SET datestyle = \'German, DMY\'')
    with nbtrack.init(name="digits") as run:
        run.log({"x": 0.1 + 0.2, "third": 1 / 3})
    history = nbtrack.history(run.id)
    assert dict(zip(history["key"], history["value"])) == {"x": 0.1 + 0.2, "third": 1 / 3}
    assert nbtrack.runs()["summary.x"].tolist() == [0.1 + 0.2]


def test_a_password_never_shows_in_messages(pg_server):
    from nbtrack._settings import redact

    for url, hidden in (("postgresql://u:s3cret@h/db", "s3cret"),
                        ("postgresql://u@h/db?password=s3cret", "s3cret"),
                        ("postgresql://u:pa/ss@h/db", "pa/ss"), ("postgresql://u:p@ss@h/db", "p@ss")):
        assert hidden not in redact(url), url
    base = pg_server.rsplit("@", 1)[1]
    with pytest.raises(StoreError) as told:
        get_store(f"postgresql://postgres:top%zzsecret@{base}").select_runs(Selection())
    assert "zzsecret" not in str(told.value)


def test_a_sweep_with_worker_processes_and_the_compare_widget_on_the_team_store(pg_store):
    """Trials in worker processes write to the database by its address (a password in the
    URL reaches them); hyperband prunes from their points; compare() reads them back."""
    def train(config):
        for step in range(30):
            nbtrack.log({"loss": config["x"] + 1.0 / (step + 1)})

    sweep = nbtrack.sweep({"method": "grid", "metric": {"name": "loss", "goal": "minimize"},
                           "parameters": {"x": {"values": [0.0, 5.0, 10.0, 20.0]}},
                           "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 2}},
                          train, executor=2)
    runs = sweep.runs()
    assert len(runs) == 4 and set(runs["status"]) <= {"finished", "pruned"}
    assert runs.set_index("config.x").loc[0.0, "status"] == "finished"
    assert sweep.best_config["x"] == 0.0
    widget = nbtrack.compare()
    assert sorted(row["name"] for row in widget.rows) == sorted(runs["name"])


def test_a_new_runs_colour_is_read_without_waiting_for_its_writes_and_is_the_same(engine):
    """The live panel looks up a new run's colour with ``fresh=False`` (no save and fold of
    the run's first writes first): the colour is the one every view gives it once stored."""
    from nbtrack.charts.colors import _KNOWN, project_run_colors
    from nbtrack.writer import writer_for

    writer = writer_for(get_store())
    writer.folds = False  # the older runs' writes wait in this process, as behind a busy fold
    try:
        # 25: the first 20 colours all taken, so a look-up that missed them cannot agree by chance
        for n in range(25):
            with nbtrack.init(name=f"older {n}", project="colours") as older:
                older.log({"loss": 1.0})
        # The new run's first writes not even saved (the writer busy): it still is the newest
        # of its project, not a run of no project (which took the first colour of all).
        with writer._write_lock:
            run = nbtrack.init(name="new", project="colours")
            run.log({"loss": 0.5})
            quick = project_run_colors([run.id], fresh=False)[run.id]
    finally:
        writer.folds = True
    run.finish()
    _KNOWN.clear()
    assert project_run_colors([run.id])[run.id] == quick
    stored = get_store()
    with stored.snapshot(fresh=False):
        assert [r["name"] for r in stored.select_runs(Selection(project="colours", sort="created_at"))] \
            == [f"older {n}" for n in range(25)] + ["new"]


def test_a_downsampled_series_with_a_few_nans_keeps_its_finite_buckets(engine):
    """A diverged step (NaN) or an overflow (inf) among thousands: each bucket is the mean, min
    and max of its finite values (as a live chart's), not NaN, which blanked the whole chart."""
    from nbtrack import charts

    with nbtrack.init(name="spiky") as run:
        for step in range(2000):
            value = float("nan") if step % 301 == 7 else float("inf") if step == 999 else step / 2000
            run.log({"loss": value})
    data = charts.metric_data([run.id], ["loss"], max_points=100)
    assert 50 <= len(data) <= 100
    assert data[["value", "min", "max"]].notna().all().all()
    assert np.isfinite(data[["value", "min", "max"]].to_numpy()).all()
    assert data["min"].min() == 0.0 and data["max"].max() == 1999 / 2000
    # a short series keeps each point as logged: the NaN is a NaN
    with nbtrack.init(name="short") as short:
        short.log({"loss": 1.0})
        short.log({"loss": float("nan")})
    points = charts.metric_data([short.id], ["loss"], max_points=100)
    assert points["value"].iloc[0] == 1.0 and math.isnan(points["value"].iloc[1])
