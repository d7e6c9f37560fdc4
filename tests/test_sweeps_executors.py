"""Trials in worker processes and on Dask, with a function defined in a notebook cell.

A notebook function lives in ``__main__`` of the kernel and cannot be imported by
name elsewhere; :func:`notebook_function` builds one the same way (``exec`` in a
namespace called ``__main__`` that ``sys.modules['__main__']`` does not hold), so
these tests pass only when the function travels by value.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import nbtrack

TRAIN = """
import os, time
import nbtrack

def train(config):
    for step in range(config["steps"]):
        time.sleep(config["pause"])
        nbtrack.log({"loss": config["q"] + 1.0 / (step + 1), "pid": os.getpid()}, step=step)
"""


def notebook_function(source: str = TRAIN, name: str = "train"):
    namespace = {"__name__": "__main__"}
    exec(textwrap.dedent(source), namespace)
    function = namespace[name]
    assert function.__module__ == "__main__" and not hasattr(sys.modules["__main__"], name)
    return function


def cfg(parameters, method="grid", **extra):
    return {"method": method, "metric": {"name": "loss", "goal": "minimize"}, "parameters": parameters,
            **extra}


# -- local worker processes ----------------------------------------------------------
@pytest.mark.slow
def test_worker_processes_run_a_notebook_function(store_dir):
    train = notebook_function()
    sweep = nbtrack.sweep(cfg({"q": {"values": [0.1, 0.2, 0.3, 0.4]}, "steps": {"value": 5},
                               "pause": {"value": 0.01}}), train, executor=2)
    runs = sweep.runs()
    assert list(runs["status"]) == ["finished"] * 4
    pids = set(runs["summary.pid"])
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert sorted(runs["summary.loss"]) == pytest.approx([0.3, 0.4, 0.5, 0.6])
    assert len(nbtrack.history(runs["id"][0], "loss")) == 5


@pytest.mark.slow
def test_nbtrack_config_in_a_worker_process(store_dir):
    train = notebook_function("""
        import nbtrack
        def train():
            nbtrack.log({"loss": nbtrack.config["x"] * 2, "runs_seen": len(nbtrack.runs())})
        """)
    sweep = nbtrack.sweep(cfg({"x": {"values": [1, 2]}}), train, executor=2)
    trials = sweep.trials()
    assert sorted(trials["value"]) == [2, 4]
    runs = sweep.runs()
    assert (runs["summary.runs_seen"] >= 1).all()  # nbtrack.runs() in a worker reads the sweep's store


@pytest.mark.slow
def test_four_workers_run_eight_one_second_trials_in_about_two_seconds(store_dir):
    sleep = notebook_function("""
        import time, nbtrack
        def sleep(config):
            time.sleep(1.0)
            nbtrack.log({"loss": config["x"]})
        """, "sleep")
    config = cfg({"x": {"min": 0.0, "max": 1.0}}, method="random")
    nbtrack.sweep(config, sleep, count=4, executor=4)  # start the pool once, as a notebook would
    start = time.perf_counter()
    sweep = nbtrack.sweep(config, sleep, count=8, executor=4)
    elapsed = time.perf_counter() - start
    assert list(sweep.trials()["status"]) == ["finished"] * 8
    print(f"\n4 workers, 8 one-second trials: {elapsed:.2f} s")
    assert elapsed < 4.0  # two waves of 1 s; sequential would be 8 s


@pytest.mark.slow
def test_hyperband_stops_trials_in_worker_processes_as_metrics_arrive(store_dir):
    train = notebook_function()
    sweep = nbtrack.sweep(cfg({"q": {"values": [0.0, 0.05, 0.9, 0.95, 0.8, 0.85]}, "steps": {"value": 40},
                               "pause": {"value": 0.1}},
                              early_terminate={"type": "hyperband", "min_iter": 3, "eta": 3}),
                          train, executor=2)
    trials = sweep.trials()
    assert trials["status"][0] == "finished"
    bad = trials[trials["config.q"] >= 0.8]
    assert (bad["status"] == "pruned").all(), trials[["number", "status", "config.q"]]
    for run_id in bad["run_id"]:
        steps = nbtrack.history(run_id, "loss")["step"]
        # Cut short well before its 40 steps: stopped within about 2.5 s of crossing band
        # 3 or 9 (0.1 s a step), with room for a loaded 2-core CI machine.
        assert 3 <= steps.max() < 9 + 25, steps.max()
        assert nbtrack.run_record(run_id)["status"] == "pruned"


@pytest.mark.slow
def test_a_function_that_cannot_be_pickled_is_explained(store_dir):
    import threading

    lock = threading.Lock()

    def train():
        with lock:
            nbtrack.log({"loss": 1.0})

    with pytest.raises(nbtrack.NbtrackError, match="could not be sent to a worker process"):
        nbtrack.sweep(cfg({"x": {"values": [1]}}), train, executor=1)


# -- Ctrl-C ------------------------------------------------------------------------------
KERNEL = f"TRAIN = {TRAIN!r}\n" + """
import sys, textwrap, nbtrack
namespace = {"__name__": "__main__"}
exec(textwrap.dedent(TRAIN), namespace)
s = nbtrack.Sweep.create({"method": "grid", "metric": {"name": "loss"},
                          "parameters": {"q": {"values": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]},
                                         "steps": {"values": [3, 400]}, "pause": {"value": 0.02}}})
print(s.id, flush=True)
s.run(namespace["train"], executor=2, on_trial=lambda e: print(e.status, flush=True))
"""


@pytest.mark.slow
@pytest.mark.parametrize("whom", ["process group", "kernel only"])
def test_ctrl_c_stops_cleanly_and_the_sweep_resumes(store_dir, whom):
    # Jupyter interrupts the kernel's whole process group; a terminal may hit the kernel alone.
    kernel = subprocess.Popen([sys.executable, "-c", KERNEL], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "NBTRACK_DIR": str(store_dir)},
                              start_new_session=True)
    try:
        sweep_id = kernel.stdout.readline().strip()
        events = []
        while events.count("finished") < 2:
            events.append(kernel.stdout.readline().strip())
        time.sleep(1.5)
        if whom == "process group":
            os.killpg(kernel.pid, signal.SIGINT)
        else:
            os.kill(kernel.pid, signal.SIGINT)
        _, err = kernel.communicate(timeout=60)
    finally:
        if kernel.poll() is None:
            kernel.kill()
            kernel.wait()
    assert "KeyboardInterrupt" in err and f"Sweep.load('{sweep_id}').resume" in err
    sweep = nbtrack.Sweep.load(sweep_id)
    assert sweep.status == "interrupted"
    trials = sweep.trials()
    statuses = list(trials["status"])
    assert statuses.count("finished") >= 2 and "running" not in statuses and "crashed" not in statuses
    interrupted = trials[trials["status"] == "interrupted"]
    assert len(interrupted) >= 1
    for run_id in interrupted["run_id"]:
        assert len(nbtrack.history(run_id, "loss")) > 0  # kept what it logged

    quick = notebook_function(TRAIN.replace('range(config["steps"])', "range(2)"))
    sweep.resume(quick, executor=2)
    trials = sweep.trials()
    done = trials[trials["status"] == "finished"]
    assert len(done) == 12 and len(set(zip(done["config.q"], done["config.steps"]))) == 12
    assert sweep.status == "finished"


# -- Dask ------------------------------------------------------------------------------------
@contextlib.contextmanager
def dask_cluster(**options):
    """A LocalCluster's Client, the two closed within 30 s each. pytest-timeout interrupts a
    test once: a cluster that then hung in its close (a worker thread stuck in a trial) would
    hold the whole suite, with the interruption's stacks unshown in the capture."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(dashboard_address=None, **options)
    try:
        client = distributed.Client(cluster)
        try:
            yield client
        finally:
            client.close(timeout=30)
    finally:
        cluster.close(timeout=30)


@pytest.fixture
def dask_client():
    with dask_cluster(n_workers=1, threads_per_worker=2, processes=False) as client:
        yield client


def test_dask_cluster_runs_trials_and_prunes(store_dir, dask_client):
    train = notebook_function()
    # 60 steps of 0.05 s: a bad trial crosses band 3 after 0.15 s and would finish after
    # 3 s, room for the stop to arrive on a loaded 2-core CI machine.
    sweep = nbtrack.sweep(cfg({"q": {"values": [0.0, 0.05, 0.9, 0.95]}, "steps": {"value": 60},
                               "pause": {"value": 0.05}},
                              early_terminate={"type": "hyperband", "min_iter": 3, "eta": 3}),
                          train, executor=dask_client)
    trials = sweep.trials()
    assert trials["status"][0] == "finished"
    assert (trials[trials["config.q"] >= 0.9]["status"] == "pruned").all(), trials[["status", "config.q"]]
    assert nbtrack.active_run() is None  # trials in this process's threads left nothing behind


@pytest.mark.slow
def test_dask_worker_processes_run_a_notebook_function(store_dir):
    train = notebook_function()
    with dask_cluster(n_workers=2, threads_per_worker=1, processes=True) as client:
        sweep = nbtrack.sweep(cfg({"q": {"values": [0.1, 0.2, 0.3, 0.4]}, "steps": {"value": 3},
                                   "pause": {"value": 0.01}}), train, executor=client)
    runs = sweep.runs()
    assert list(runs["status"]) == ["finished"] * 4
    assert os.getpid() not in set(runs["summary.pid"])


# -- a real IPython cell -------------------------------------------------------------------
@pytest.mark.slow
def test_a_function_from_a_real_ipython_cell_runs_in_workers(store_dir):
    from IPython.testing.globalipapp import get_ipython

    ip = get_ipython()
    result = ip.run_cell(textwrap.dedent("""
        import os, nbtrack
        def cell_train(config):
            nbtrack.log({"loss": config["x"] ** 2, "pid": os.getpid()})
        sweep = nbtrack.sweep({"method": "grid", "metric": {"name": "loss"},
                               "parameters": {"x": {"values": [1, 2, 3]}}}, cell_train, executor=2)
        """))
    assert result.error_in_exec is None
    runs = nbtrack.runs()
    assert sorted(runs["summary.loss"]) == [1, 4, 9]
    assert os.getpid() not in set(runs["summary.pid"])


@pytest.mark.slow
def test_metrics_of_running_trials_reach_the_store_while_they_run(store_dir):
    train = notebook_function()
    sweep = nbtrack.Sweep.create(cfg({"q": {"values": [0.5]}, "steps": {"value": 40},
                                      "pause": {"value": 0.1}}))
    sweep.start(train, executor=1)
    try:
        deadline = time.monotonic() + 30
        seen = 0
        while time.monotonic() < deadline and seen < 5:
            trials = sweep.trials()
            if len(trials) and trials["status"][0] == "running":
                seen = len(nbtrack.history(trials["run_id"][0], "loss"))
            time.sleep(0.2)
        assert seen >= 5 and sweep.trials()["status"][0] == "running"
        assert sweep.trials()["value"][0] < 1.5  # the live value of the metric, from the run's summary
    finally:
        sweep.stop(cancel=True)
        assert sweep.wait(30)
    assert sweep.trials()["status"][0] == "interrupted"


@pytest.mark.slow
def test_dask_workers_without_the_notebooks_store_send_metrics_and_get_stopped(tmp_path, monkeypatch):
    # The store's path means another place on the workers, as on another machine:
    # /proc/self/cwd/store is the notebook's store in this process and a folder with no
    # store in the workers, which start in their own folder. Their trials' metrics and the
    # sweep's stop signals must travel through Dask.
    notebook, workers = tmp_path / "notebook", tmp_path / "workers"
    notebook.mkdir()
    workers.mkdir()
    monkeypatch.setenv("NBTRACK_DIR", "/proc/self/cwd/store")
    monkeypatch.chdir(workers)
    train = notebook_function(TRAIN.replace('"pid": os.getpid()',
                                            '"pid": os.getpid(), "cwd": len(os.getcwd())'))
    with dask_cluster(n_workers=2, threads_per_worker=1, processes=True,
                      local_directory=str(workers)) as client:
        monkeypatch.chdir(notebook)
        sweep = nbtrack.sweep(cfg({"q": {"values": [0.0, 0.05, 0.9, 0.95]}, "steps": {"value": 60},
                                   "pause": {"value": 0.05}},
                                  early_terminate={"type": "hyperband", "min_iter": 3, "eta": 3}),
                              train, executor=client)
    trials = sweep.trials()
    assert trials["status"][0] == "finished", trials[["status", "error"]]
    assert len(nbtrack.history(trials["run_id"][0], "loss")) == 60
    assert (trials[trials["config.q"] >= 0.9]["status"] == "pruned").all(), trials[["status", "config.q"]]
    runs = sweep.runs()
    assert os.getpid() not in set(runs["summary.pid"])
    assert set(runs["summary.cwd"]) == {len(str(workers))}  # they ran in their own folder
    assert (notebook / "store").is_dir() and not (workers / "store").exists()


def test_media_logged_in_a_dask_trial_reach_the_store(store_dir, dask_client):
    import numpy as np

    def train(config):
        nbtrack.log({"loss": 1.0, "sample": nbtrack.Image(np.full((4, 4), config["v"], dtype=np.uint8))})

    sweep = nbtrack.sweep(cfg({"v": {"values": [10, 200]}}), train, executor=dask_client)
    for run_id, v in zip(sweep.trials()["run_id"], [10, 200]):
        (row,) = nbtrack.media(run_id).to_dict("records")
        assert np.asarray(nbtrack.load_media(row)).max() == v


@pytest.mark.slow
def test_a_dask_trial_that_kills_its_worker_ends_crashed_alone(store_dir):
    dask = pytest.importorskip("dask")

    train = notebook_function("""
        import os, time, nbtrack
        def train(config):
            if config["die"]:
                nbtrack.log({"loss": 1.0})
                time.sleep(0.3)
                os._exit(3)
            for step in range(10):
                time.sleep(0.1)
                nbtrack.log({"loss": float(step)}, step=step)
        """)
    # One death is enough to give the task up (Dask would retry it on another worker).
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            dask_cluster(n_workers=2, threads_per_worker=1, processes=True) as client:
        sweep = nbtrack.sweep(cfg({"die": {"values": [True, False]}}), train, executor=client)
    trials = sweep.trials()
    assert list(trials["status"]) == ["crashed", "finished"], trials[["status", "error"]]
    assert "KilledWorker" in trials["error"][0]
    assert nbtrack.run_record(trials["run_id"][0])["status"] == "crashed"
    assert len(nbtrack.history(trials["run_id"][1], "loss")) == 10


@pytest.mark.slow
def test_a_trial_in_a_worker_is_wholly_stored_when_the_sweep_hears_it_ended(store_dir):
    """Its environment record too (saved in the background while the trial runs): a worker
    lives on after its trial, and a record saved later went into a store the notebook may
    have moved on from (a test's database dropped, a notebook's store switched)."""
    train = notebook_function()
    nbtrack.sweep(cfg({"q": {"values": [0.1, 0.2, 0.3, 0.4]}, "steps": {"value": 1},
                       "pause": {"value": 0.0}}), train, executor=2)
    stored = nbtrack.sql("SELECT name, environment FROM runs ORDER BY name")
    assert len(stored) == 4 and stored["environment"].notna().all(), stored
