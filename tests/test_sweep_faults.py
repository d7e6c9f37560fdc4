"""Sweeps that survive faults: a trial whose process dies (exit, segfault, SIGKILL as the
OOM killer sends), a trial past its time limit, and resuming a grid after crashes.

Real worker processes (``executor=N``), a real store under tmp_path, real Optuna. The
trial functions are built as a notebook cell's are (see ``notebook_function``), so
they travel to the workers by value.
"""

from __future__ import annotations

import textwrap

import pytest

import nbtrack

# A point ``die`` ends its process the way ``how`` says, 0.3 s in; the others log ten
# steps over about a second, so they are running when it dies.
DYING = """
import os, signal, sys, time, ctypes
import nbtrack

def train(config):
    if config["die"]:
        print("loading the huge batch", flush=True)
        print("still going", file=sys.stderr, flush=True)
        nbtrack.log({"loss": 9.0})
        time.sleep(0.3)
        how = config["how"]
        if how == "exit":
            os._exit(3)
        if how == "segfault":
            ctypes.string_at(0)
        os.kill(os.getpid(), signal.SIGKILL)
    for step in range(10):
        time.sleep(0.1)
        nbtrack.log({"loss": config["x"] + 1.0 / (step + 1)}, step=step)
"""


def notebook_function(source: str, name: str = "train"):
    namespace = {"__name__": "__main__"}
    exec(textwrap.dedent(source), namespace)
    return namespace[name]


def grid(parameters):
    return {"method": "grid", "metric": {"name": "loss", "goal": "minimize"}, "parameters": parameters}


@pytest.mark.parametrize(("how", "reason"), [
    ("exit", "crashed: exit code 3"),
    ("segfault", "crashed: killed by SIGSEGV (signal 11)"),
    ("sigkill", "crashed: killed by SIGKILL (signal 9), perhaps out of memory"),
])
def test_a_trial_that_dies_does_not_kill_its_neighbours(store_dir, how, reason):
    train = notebook_function(DYING)
    sweep = nbtrack.sweep(grid({"die": {"values": [True, False, False]}, "x": {"value": 0.5},
                                "how": {"value": how}}), train, executor=2)
    trials = sweep.trials()
    assert list(trials["status"]) == ["crashed", "finished", "finished"], trials[["status", "error"]]
    for run_id in trials["run_id"][1:]:
        assert nbtrack.history(run_id, "loss")["step"].tolist() == list(range(10))
    error = trials["error"][0]
    assert error.startswith(reason), error
    assert "loading the huge batch" in error and "still going" in error  # its last output lines
    record = nbtrack.run_record(trials["run_id"][0])
    assert record["status"] == "crashed" and record["error"] == error
    assert nbtrack.history(trials["run_id"][0], "loss")["value"].tolist() in ([9.0], [])
    assert sweep.status == "finished"


def test_a_trial_that_dies_before_its_first_save_is_written_down(store_dir):
    train = notebook_function("""
        import os
        def train(config):
            print("dying at once", flush=True)
            os._exit(7)
        """)
    sweep = nbtrack.sweep(grid({"x": {"values": [1]}}), train, executor=1)
    trials = sweep.trials()
    assert trials["status"][0] == "crashed"
    assert trials["error"][0].startswith("crashed: exit code 7") and "dying at once" in trials["error"][0]
    assert trials["config.x"][0] == 1


SLOW = """
import signal, time
import nbtrack

def train(config):
    if config["mode"] == "sleeps":
        nbtrack.log({"loss": 5.0})
        time.sleep(60)  # never logs again: stopped by SIGTERM
    if config["mode"] == "deaf":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # ignores the stop: killed
        time.sleep(60)
    step = 0
    while config["mode"] == "busy":  # mostly inside nbtrack.log when the limit comes
        nbtrack.log({"loss": float(step)}, step=step)
        step += 1
    nbtrack.log({"loss": 1.0})  # quick
"""


def test_trial_timeout_stops_the_slow_trials_and_keeps_the_others(store_dir):
    train = notebook_function(SLOW)
    sweep = nbtrack.sweep(grid({"mode": {"values": ["sleeps", "deaf", "quick"]}}), train, executor=3,
                          trial_timeout=1.0)
    trials = sweep.trials().set_index("config.mode")
    assert trials.loc["quick", "status"] == "finished"
    assert trials.loc["sleeps", "status"] == "failed"
    assert trials.loc["sleeps", "error"] == "stopped after 1 s: trial_timeout"
    assert trials.loc["sleeps", "value"] == 5.0  # what it logged before the limit is kept
    assert trials.loc["deaf", "status"] == "failed"
    killed = "stopped after 1 s: trial_timeout (killed: it did not stop when asked)"
    assert trials.loc["deaf", "error"] == killed
    assert sweep.status == "finished"


def test_trial_timeout_never_cuts_a_log_call_in_two(store_dir):
    # A trial logging flat out is inside nbtrack.log most of the time: it is stopped
    # between two calls, so every point it logged is stored and its summary is the last.
    sweep = nbtrack.sweep(grid({"mode": {"values": ["busy"]}}), notebook_function(SLOW), executor=1,
                          trial_timeout=1.0)
    trial = sweep.trials().iloc[0]
    assert trial["status"] == "failed" and trial["error"] == "stopped after 1 s: trial_timeout"
    steps = nbtrack.history(trial["run_id"], "loss")
    assert steps["step"].tolist() == list(range(len(steps))) and len(steps) > 10
    assert trial["value"] == steps["value"].iloc[-1]


def test_trial_timeout_in_the_kernel_stops_at_the_next_log(store_dir):
    def train(config):
        step = 0
        while True:  # would never end
            nbtrack.log({"loss": float(step)})
            step += 1

    sweep = nbtrack.sweep(grid({"x": {"values": [1]}}), train, trial_timeout=0.3)
    trials = sweep.trials()
    assert trials["status"][0] == "failed" and trials["error"][0] == "stopped after 0.3 s: trial_timeout"
    assert trials["value"][0] > 0


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "10", True])
def test_trial_timeout_must_be_a_positive_number(store_dir, bad):
    with pytest.raises(nbtrack.NbtrackError, match="trial_timeout must be a positive number of seconds"):
        nbtrack.sweep(grid({"x": {"values": [1]}}), lambda: None, trial_timeout=bad)
    assert nbtrack.Sweep.list().empty  # refused before anything was recorded


# -- resuming a grid after faults --------------------------------------------------------
FLAKY = """
import os, time
import nbtrack

def train(config):
    x, marks = config["x"], config["marks"]
    with open(os.path.join(marks, "ran"), "a") as f:
        f.write(f"{x}\\n")
    again = os.path.exists(os.path.join(marks, f"seen-{x}"))
    open(os.path.join(marks, f"seen-{x}"), "w").close()
    if x in (1, 4):
        raise ValueError(f"bad point {x}")  # the function's own error: never run again
    if x == 2 and not again:
        os._exit(3)  # crashed the first time
    if x == 5 and not again:
        for step in range(600):  # interrupted the first time
            time.sleep(0.05)
            nbtrack.log({"loss": 1.0}, step=step)
    nbtrack.log({"loss": float(x)})
"""


def test_resuming_a_grid_reruns_only_crashed_and_interrupted_points(store_dir, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    train = notebook_function(FLAKY)
    config = grid({"x": {"values": [0, 1, 2, 3, 4, 5, 6]}, "marks": {"value": str(marks)}})
    sweep = nbtrack.Sweep.create(config)
    ended = []
    sweep.start(train, executor=2, on_trial=lambda e: ended.append(e) if e.status != "running" else None)
    try:
        import time

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(ended) < 6:
            time.sleep(0.05)
        assert len(ended) == 6, [(e.number, e.status) for e in ended]  # all but the slow point
    finally:
        sweep.stop(cancel=True)
        assert sweep.wait(30)
    assert sweep.status == "interrupted"
    first = sweep.trials().set_index("config.x")["status"].to_dict()
    assert first == {0: "finished", 1: "failed", 2: "crashed", 3: "finished", 4: "failed",
                     5: "interrupted", 6: "finished"}
    (marks / "ran").write_text("")

    sweep.resume(train, executor=2)
    assert sorted(int(x) for x in (marks / "ran").read_text().split()) == [2, 5]  # nothing else ran
    trials = sweep.trials()
    assert len(trials) == 9 and "not started" not in set(trials["status"])  # every trial has its run
    last = trials.groupby("config.x")["status"].agg(list).to_dict()
    assert last == {0: ["finished"], 1: ["failed"], 2: ["crashed", "finished"], 3: ["finished"],
                    4: ["failed"], 5: ["interrupted", "finished"], 6: ["finished"]}
    assert sweep.status == "finished"
    sweep.resume(train, executor=2)  # nothing is left to run
    assert sorted((marks / "ran").read_text().split()) == ["2", "5"]


def test_a_killed_kernel_leaves_no_worker_behind_and_its_trial_ends_interrupted(store_dir):
    import os
    import signal
    import time

    import psutil
    from helpers import start_python

    kernel = start_python("""
        import textwrap, nbtrack
        namespace = {"__name__": "__main__"}
        exec(textwrap.dedent('''
            import os, time, nbtrack
            def train(config):
                print("worker", os.getpid(), nbtrack.run.id, flush=True)
                for step in range(600):
                    time.sleep(0.05)
                    nbtrack.log({"loss": 1.0}, step=step)
            '''), namespace)
        config = {"method": "grid", "parameters": {"x": {"values": [1]}}}
        nbtrack.sweep(config, namespace["train"], executor=1)
    """, {"NBTRACK_DIR": str(store_dir)})
    try:
        _, pid, run_id = kernel.stdout.readline().split()  # the worker's print reaches the kernel's stdout
        time.sleep(0.5)
    finally:
        os.kill(kernel.pid, signal.SIGKILL)
        kernel.wait()
    worker = psutil.Process(int(pid))
    worker.wait(15)  # it noticed, ended its trial and left
    deadline = time.monotonic() + 10
    while nbtrack.run_record(run_id)["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert nbtrack.run_record(run_id)["status"] == "interrupted"
    assert len(nbtrack.history(run_id, "loss")) >= 5  # what it logged is kept
