"""Sweeps in the kernel (the default executor): trials as runs, grid, search, pruning,
resume, Ctrl-C, importance and charts, against a real store."""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import re
import signal
import statistics
import threading
import time

import pytest
from helpers import start_python

import nbtrack
from nbtrack import NbtrackError
from nbtrack.store import get_store, schema


def cfg(parameters, method="random", metric="loss", goal="minimize", **extra):
    out = {"method": method, "parameters": parameters, **extra}
    if metric is not None:
        out["metric"] = {"name": metric, "goal": goal}
    return out


def quadratic(config):
    nbtrack.log({"loss": (config["x"] - 0.3) ** 2})


# -- trials are runs ------------------------------------------------------------
def test_grid_runs_every_combination_exactly_once(store_dir):
    seen = []

    def train(config):
        seen.append((config["opt"], config["layers"], config["lr"]))
        nbtrack.log({"loss": config["layers"] * config["lr"]})

    sweep = nbtrack.sweep(cfg({"opt": {"values": ["adam", "sgd", "rmsprop"]}, "layers": {"min": 1, "max": 2},
                               "lr": {"distribution": "q_uniform", "min": 0.1, "max": 0.2, "q": 0.1},
                               "seed": {"value": 7}}, method="grid"), train)
    expected = set(itertools.product(["adam", "sgd", "rmsprop"], [1, 2], [0.1, 0.2]))
    assert len(seen) == 12 and set(seen) == expected  # every point, each exactly once
    runs = sweep.runs()
    assert len(runs) == 12 and set(runs["status"]) == {"finished"}
    assert set(zip(runs["config.opt"], runs["config.layers"], runs["config.lr"])) == expected
    assert set(runs["config.seed"]) == {7}
    assert sweep.status == "finished"
    # Running it again finds nothing left to do.
    sweep.resume(train)
    assert len(seen) == 12


def test_trials_are_runs_of_the_sweep(store_dir):
    sweep = nbtrack.sweep(cfg({"x": {"min": 0.0, "max": 1.0}}), quadratic, count=3, project="proj",
                          name="my-sweep")
    runs = nbtrack.runs(sweep=sweep.id)
    assert sorted(runs["name"]) == ["my-sweep-0", "my-sweep-1", "my-sweep-2"]
    assert set(runs["project"]) == {"proj"}
    record = nbtrack.run_record(runs["id"][0])
    assert record["kind"] == "sweep-trial" and record["sweep_id"] == sweep.id
    trials = sweep.trials()
    assert list(trials["number"]) == [0, 1, 2]
    assert list(trials["status"]) == ["finished"] * 3
    assert trials["value"].tolist() == pytest.approx([(x - 0.3) ** 2 for x in trials["config.x"]])
    assert set(trials["run_id"]) == set(runs["id"])


def test_function_gets_the_config_with_or_without_an_argument(store_dir):
    got = []

    def with_argument(config):
        got.append((config.x, config["x"], nbtrack.config["x"], nbtrack.config.x))
        nbtrack.log({"loss": config.x})

    def without_argument():
        got.append((nbtrack.config.x,))
        nbtrack.log(loss=nbtrack.config["x"])

    nbtrack.sweep(cfg({"x": {"values": [3]}}), with_argument, count=1)
    nbtrack.sweep(cfg({"x": {"values": [4]}}), without_argument, count=1)
    assert got == [(3, 3, 3, 3), (4,)]
    assert nbtrack.active_run() is None  # nothing left active after the sweep


def test_wandb_style_init_inside_the_function_joins_the_trial(store_dir):
    def train(config=None):
        with nbtrack.init(config=config) as run:
            run.log({"loss": nbtrack.config["x"]})

    sweep = nbtrack.sweep(cfg({"x": {"values": [1.0, 2.0]}}, method="grid"), train)
    assert sorted(sweep.trials()["value"]) == [1.0, 2.0]
    assert len(nbtrack.runs()) == 2


def test_on_trial_events_and_poll(store_dir):
    events = []
    sweep = nbtrack.sweep(cfg({"x": {"values": [0.3, 1.0]}}, method="grid"), quadratic,
                          on_trial=lambda e: events.append((e.number, e.status, e.config["x"])))
    assert events == [(0, "running", 0.3), (0, "finished", 0.3), (1, "running", 1.0), (1, "finished", 1.0)]
    poll = sweep.poll()
    assert poll["status"] == "finished" and poll["counts"] == {"finished": 2}
    assert poll["best"]["number"] == 0 and poll["best"]["value"] == pytest.approx(0.0)


# -- search --------------------------------------------------------------------------
def best_after(method, seed, trials=60):
    """Best value of a 2-D quadratic after ``trials`` trials, through the sweep's own study."""
    from nbtrack.sweeps.config import parse_config
    from nbtrack.sweeps.space import SearchSpace
    from nbtrack.sweeps.study import new_study

    spec = parse_config(cfg({"x": {"min": -10.0, "max": 10.0}, "y": {"min": -10.0, "max": 10.0}},
                            method=method))
    space = SearchSpace(spec)
    study = new_study(spec, seed)
    for _ in range(trials):
        trial = study.ask(space.distributions())
        c = space.config(trial.params)
        study.tell(trial, (c["x"] - 1.3) ** 2 + (c["y"] + 0.7) ** 2)
    return study.best_value


@pytest.mark.slow
def test_bayes_beats_random_by_a_wide_margin():
    seeds = range(5)
    bayes = [best_after("bayes", s) for s in seeds]
    random = [best_after("random", s) for s in seeds]
    assert statistics.median(bayes) * 5 < statistics.median(random), (bayes, random)
    assert sum(b < r for b, r in zip(bayes, random)) >= 4


@pytest.mark.slow
def test_a_bayes_sweep_finds_more_than_a_random_one(store_dir):
    def train(config):
        nbtrack.log({"loss": (config["x"] - 1.3) ** 2 + (config["y"] + 0.7) ** 2})

    space = {"x": {"min": -10.0, "max": 10.0}, "y": {"min": -10.0, "max": 10.0}}
    best = {}
    for method in ("random", "bayes"):
        sweep = nbtrack.sweep(cfg(space, method=method), train, count=60, seed=0)
        best[method] = sweep.trials()["value"].min()
    assert best["bayes"] * 5 < best["random"], best


def test_run_cap_and_count(store_dir):
    sweep = nbtrack.sweep(cfg({"x": {"min": 0.0, "max": 1.0}}, run_cap=3), quadratic, count=5)
    assert len(sweep.trials()) == 3
    sweep.resume(quadratic, count=5)
    assert len(sweep.trials()) == 3


def test_metric_target_ends_the_sweep(store_dir):
    sweep = nbtrack.sweep({"method": "grid", "metric": {"name": "loss", "target": 0.05},
                           "parameters": {"x": {"values": [1.0, 0.3, 0.5, 0.9]}}}, quadratic)
    assert list(sweep.trials()["config.x"]) == [1.0, 0.3]
    assert sweep.status == "finished"


# -- early termination ---------------------------------------------------------------
def curve(config):
    # Every trial improves with steps; its quality q decides where it ends up.
    for step in range(27):
        nbtrack.log({"loss": config["q"] + 1.0 / (step + 1)}, step=step)


def test_hyperband_prunes_a_fair_share_of_bad_trials(store_dir):
    sweep = nbtrack.sweep(cfg({"q": {"min": 0.0, "max": 1.0}},
                              early_terminate={"type": "hyperband", "min_iter": 1, "eta": 3}),
                          curve, count=30, seed=4)
    trials = sweep.trials()
    assert set(trials["status"]) == {"finished", "pruned"}
    pruned = trials["status"] == "pruned"
    worse_half = trials["config.q"] > trials["config.q"].median()
    assert pruned.sum() >= 10, trials[["number", "status", "config.q"]]
    assert (pruned & worse_half).sum() >= 0.6 * worse_half.sum()
    best = trials.loc[trials["config.q"].idxmin()]
    assert best["status"] == "finished"


def test_a_pruned_trial_ends_at_a_band_and_keeps_what_it_logged(store_dir):
    sweep = nbtrack.sweep(cfg({"q": {"values": [0.0, 0.5]}}, method="grid",
                              early_terminate={"type": "hyperband", "min_iter": 3, "eta": 3}), curve)
    first, second = sweep.trials().to_dict("records")
    assert (first["status"], second["status"]) == ("finished", "pruned")
    history = nbtrack.history(second["run_id"], "loss")
    assert list(history["step"]) == [0, 1, 2, 3]  # judged at band 3, stopped on the call that crossed it
    assert second["value"] == pytest.approx(0.5 + 1 / 4)
    assert nbtrack.run_record(second["run_id"])["status"] == "pruned"


def test_user_code_cannot_swallow_the_stop(store_dir):
    def stubborn(config):
        for step in range(10):
            with contextlib.suppress(Exception):  # the usual catch-all in training loops
                nbtrack.log({"loss": config["q"] + 1.0 / (step + 1)}, step=step)

    sweep = nbtrack.sweep(cfg({"q": {"values": [0.0, 0.5]}}, method="grid",
                              early_terminate={"type": "hyperband", "min_iter": 2, "eta": 2}), stubborn)
    assert list(sweep.trials()["status"]) == ["finished", "pruned"]


# -- failures, stop, Ctrl-C ------------------------------------------------------------
def test_a_failing_trial_is_failed_and_the_sweep_goes_on(store_dir, capsys):
    def train(config):
        if config["x"] == 2:
            raise ValueError("bad x")
        nbtrack.log({"loss": config["x"]})

    sweep = nbtrack.sweep(cfg({"x": {"values": [1, 2, 3]}}, method="grid"), train)
    trials = sweep.trials()
    assert list(trials["status"]) == ["finished", "failed", "finished"]
    assert "ValueError: bad x" in trials["error"][1]
    assert "ValueError: bad x" in capsys.readouterr().err


def test_a_function_failing_every_time_stops_the_sweep(store_dir):
    def broken(config):
        raise RuntimeError("typo in my training loop")

    with pytest.raises(NbtrackError, match=r"(?s)first 3 trials.*failed.*typo in my training loop"):
        nbtrack.sweep(cfg({"x": {"min": 0.0, "max": 1.0}}), broken, count=10)
    (sweep_id,) = nbtrack.Sweep.list()["id"]
    assert nbtrack.Sweep.load(sweep_id).status == "failed"
    assert len(nbtrack.runs()) == 3


def test_ctrl_c_keeps_finished_trials_and_resumes(store_dir):
    calls = []

    def train(config):
        calls.append(config["x"])
        if len(calls) == 3:
            nbtrack.log({"loss": 1.0})
            raise KeyboardInterrupt  # what Ctrl-C raises in the kernel
        nbtrack.log({"loss": config["x"]})

    created = nbtrack.Sweep.create(cfg({"x": {"values": [1, 2, 3, 4, 5]}}, method="grid"))
    with pytest.raises(KeyboardInterrupt):
        created.run(train)
    trials = created.trials()
    assert list(trials["status"]) == ["finished", "finished", "interrupted"]
    assert created.status == "interrupted"
    assert nbtrack.history(trials["run_id"][2], "loss")["value"].tolist() == [1.0]  # kept what it logged
    created.resume(train)
    trials = created.trials()
    assert list(trials["status"]) == ["finished", "finished", "interrupted"] + ["finished"] * 3
    finished = trials[trials["status"] == "finished"]
    assert sorted(finished["config.x"]) == [1, 2, 3, 4, 5]  # the interrupted point ran again
    assert created.status == "finished"


def test_start_poll_and_stop_from_another_thread(store_dir):
    started = threading.Event()

    def slow(config):
        started.set()
        for step in range(40):
            time.sleep(0.05)
            nbtrack.log({"loss": config["x"] + step}, step=step)

    sweep = nbtrack.Sweep.create(cfg({"x": {"min": 0.0, "max": 1.0}}))
    sweep.start(slow, count=5)
    assert started.wait(20)
    assert sweep.poll()["status"] == "running"
    sweep.stop()
    assert sweep.wait(30)
    trials = sweep.trials()
    assert list(trials["status"]) == ["finished"]  # the running trial finished; no new one
    assert sweep.status == "stopped"

    started.clear()
    sweep.start(slow, count=5)
    assert started.wait(20)
    sweep.stop(cancel=True)
    assert sweep.wait(30)
    assert list(sweep.trials()["status"]) == ["finished", "interrupted"]
    assert sweep.status == "interrupted"


def test_stop_right_after_start_launches_nothing(store_dir):
    sweep = nbtrack.Sweep.create(cfg({"x": {"min": 0.0, "max": 1.0}}))
    sweep.start(quadratic, count=50)
    sweep.stop()
    assert sweep.wait(30)
    assert len(sweep.trials()) <= 1 and sweep.status in ("stopped", "finished")


# -- resume after the kernel died ----------------------------------------------------
KERNEL = """
import time, nbtrack
def train(config):
    for step in range(3 if config["x"] < 2 else 1000):
        time.sleep(0.01)
        nbtrack.log({"loss": config["x"] + step}, step=step)
s = nbtrack.Sweep.create({"method": "grid", "metric": {"name": "loss"},
                          "parameters": {"x": {"values": [0, 1, 2, 3]}}})
print(s.id, flush=True)
s.run(train, on_trial=lambda e: print(e.status, flush=True))
"""


def resumed_train(config):
    nbtrack.log({"loss": float(config["x"])})


def test_a_sweep_resumes_after_its_kernel_died(store_dir):
    kernel = start_python(KERNEL, {"NBTRACK_DIR": str(store_dir)})
    try:
        sweep_id = kernel.stdout.readline().strip()
        lines = []
        while lines.count("finished") < 2:
            lines.append(kernel.stdout.readline().strip())
        time.sleep(1.5)  # trial 2 is running and has flushed some points
    finally:
        os.kill(kernel.pid, signal.SIGKILL)
        kernel.wait()
    sweep = nbtrack.Sweep.load(sweep_id)
    assert sweep.status == "crashed"
    assert list(sweep.trials()["status"]) == ["finished", "finished", "crashed"]
    sweep.resume(resumed_train)
    trials = sweep.trials()
    assert list(trials["status"]) == ["finished", "finished", "crashed", "finished", "finished"]
    finished = trials[trials["status"] == "finished"]
    assert sorted(finished["config.x"]) == [0, 1, 2, 3]
    assert sweep.status == "finished"


def test_a_resumed_random_search_continues_instead_of_repeating(store_dir):
    sweep = nbtrack.sweep(cfg({"x": {"min": 0.0, "max": 1.0}}), quadratic, count=3, seed=11)
    again = nbtrack.sweep(None, quadratic, count=3, resume=sweep.id)
    assert again is sweep
    xs = sweep.trials()["config.x"].tolist()
    assert len(xs) == 6 and len(set(xs)) == 6
    assert list(sweep.trials()["number"]) == list(range(6))


def test_resume_rebuilds_the_search_and_its_pruner_from_the_store(store_dir):
    config = cfg({"q": {"min": 0.0, "max": 1.0}}, method="bayes",
                 early_terminate={"type": "hyperband", "min_iter": 1, "eta": 3})
    sweep = nbtrack.sweep(config, curve, count=6, seed=1)
    from nbtrack.sweeps import Sweep

    fresh = Sweep({**sweep._record, "config": sweep.config}, get_store())  # a new kernel's view
    fresh.resume(curve, count=2)
    study = fresh._driver.study
    assert len(study.trials) == 8
    first_six = study.trials[:6]
    states = [t.state.name for t in first_six]
    assert states == ["COMPLETE" if s == "finished" else "PRUNED" for s in sweep.trials()["status"][:6]]
    # the pruner's record of each replayed trial at band 1
    assert all("completed_rung_0" in t.system_attrs for t in first_six)


def test_resume_refuses_a_sweep_running_elsewhere(store_dir):
    sweep = nbtrack.Sweep.create(cfg({"x": {"values": [1]}}))
    other = start_python("import time; print('up', flush=True); time.sleep(60)")
    try:
        other.stdout.readline()
        import psutil

        with get_store().write() as con:
            con.execute("UPDATE sweep_records SET status = 'running', hostname = ?, pid = ?, pid_started = ? "
                        "WHERE id = ?", [__import__("socket").gethostname(), other.pid,
                                         psutil.Process(other.pid).create_time(), sweep.id])
        with pytest.raises(NbtrackError, match=r"is running in process \d+"):
            nbtrack.Sweep.load(sweep.id).resume(quadratic)
    finally:
        other.kill()
        other.wait()
    assert nbtrack.Sweep.load(sweep.id).status == "crashed"


def test_resuming_with_a_different_config_is_refused(store_dir):
    sweep = nbtrack.sweep(cfg({"x": {"values": [0.3]}}), quadratic, count=1)
    with pytest.raises(NbtrackError, match="different config"):
        nbtrack.sweep(cfg({"x": {"values": [0.4]}}), quadratic, resume=sweep.id)


# -- what the sweep found ------------------------------------------------------------
def test_importance_best_and_charts(store_dir):
    def train(config):
        nbtrack.log({"score": 3 * config["x"] + 0.01 * config["noise"] + (config["opt"] == "adam")})

    sweep = nbtrack.sweep(cfg({"x": {"min": 0.0, "max": 1.0}, "noise": {"min": 0.0, "max": 1.0},
                               "opt": {"values": ["adam", "sgd"]}, "fixed": {"value": 1}},
                              metric="score", goal="maximize"), train, count=30, seed=5)
    importance = sweep.importance()
    assert list(importance.columns) == ["parameter", "importance", "correlation"]
    assert set(importance["parameter"]) == {"x", "noise", "opt"}
    by = importance.set_index("parameter")
    assert importance["parameter"][0] == "x"
    assert by.loc["x", "importance"] > by.loc["noise", "importance"]
    assert by.loc["x", "correlation"] > 0.8
    assert math.isnan(by.loc["opt", "correlation"])  # strings have no order

    trials = sweep.trials()
    best = sweep.best
    assert best["id"] == trials.loc[trials["value"].idxmax(), "run_id"]
    assert sweep.best_config == {"x": best["config.x"], "noise": best["config.noise"],
                                 "opt": best["config.opt"], "fixed": 1}

    parallel = sweep.parallel_coordinates().to_dict()
    axes = {row["axis"] for row in next(iter(parallel["datasets"].values()))}
    assert axes == {"x", "noise", "opt", "score"}
    bars = sweep.importance_chart().to_dict()
    assert {row["parameter"] for row in next(iter(bars["datasets"].values()))} == {"x", "noise", "opt"}
    best_so_far = sweep.best_so_far_chart().to_dict()
    rows = next(iter(best_so_far["datasets"].values()))
    assert len(rows) == 30 and rows[-1]["best"] == pytest.approx(trials["value"].max())


def test_importance_needs_finished_trials(store_dir):
    sweep = nbtrack.sweep(cfg({"x": {"min": 0.0, "max": 1.0}}), quadratic, count=1)
    assert sweep.importance().empty
    assert sweep.importance_chart().to_dict()  # says there is nothing to rank yet


def test_html_summary_escapes_user_text(store_dir):
    sweep = nbtrack.sweep(cfg({"opt": {"values": ["<script>x</script>"]}}), lambda: nbtrack.log(loss=1.0),
                          count=1, name="<b>mine</b>")
    page = sweep._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;mine&lt;/b&gt;" in page
    assert "1 finished" in repr(sweep)


def test_sweeps_are_listed_and_loaded_by_id_or_name(store_dir):
    sweep = nbtrack.sweep(cfg({"x": {"values": [0.3]}}), quadratic, count=1, name="lr-search")
    listed = nbtrack.Sweep.list()
    assert listed[["name", "status", "trials", "method", "metric"]].values.tolist() == [
        ["lr-search", "finished", 1, "random", "loss"]]
    assert nbtrack.Sweep.load("lr-search") is sweep
    stored = nbtrack.sql("SELECT config FROM sweep_records WHERE id = ?", [sweep.id])["config"][0]
    assert json.loads(stored) == sweep.config  # the user's W&B config, unchanged


def test_an_old_store_gains_the_sweep_tables(store_dir):
    from nbtrack.store import Store

    old = Store(store_dir)
    old.dir.mkdir(parents=True)
    con = old._connect(read_only=False)
    try:
        con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
                    "applied_at TIMESTAMP NOT NULL)")
        schema._v1_initial(con)
        con.execute("INSERT INTO schema_migrations VALUES (1, 'initial', now()::TIMESTAMP)")
    finally:
        con.close()
    sweep = nbtrack.sweep(cfg({"x": {"values": [0.3]}}), quadratic, count=1)
    assert sweep.status == "finished"
    with get_store().read() as con:
        assert schema.version(con) == schema.LATEST >= 2


def test_api_misuse_is_explained(store_dir):
    with pytest.raises(NbtrackError, match="count must be"):
        nbtrack.sweep(cfg({"x": {"values": [1]}}), quadratic, count=0)
    with pytest.raises(NbtrackError, match="executor="):
        nbtrack.sweep(cfg({"x": {"values": [1]}}), quadratic, count=1, executor="gpu")
    with pytest.raises(NbtrackError, match="needs a function"):
        nbtrack.sweep(cfg({"x": {"values": [1]}}), None, count=1)
    with pytest.raises(NbtrackError, match="no sweep with id or name"):
        nbtrack.Sweep.load("nope")


# -- optional dependencies -------------------------------------------------------------
def test_sweeps_load_nothing_heavy_until_a_sweep_runs():
    from helpers import run_python

    probe = ("import sys, nbtrack\nnbtrack.Sweep, nbtrack.sweep\n"
             "print([m for m in ('optuna', 'loky', 'distributed', 'pandas', 'yaml') if m in sys.modules])")
    assert run_python(probe).stdout.strip().splitlines()[-1] == "[]"


def test_a_yaml_config_without_pyyaml_says_what_to_install(tmp_path, monkeypatch):
    import sys

    path = tmp_path / "sweep.yaml"
    path.write_text("method: random\nparameters:\n  x:\n    values: [1]\n")
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(NbtrackError, match="pip install pyyaml"):
        nbtrack.Sweep.create(str(path))
    json_path = tmp_path / "sweep.json"
    json_path.write_text(json.dumps({"method": "random", "parameters": {"x": {"values": [1]}}}))
    assert nbtrack.Sweep.create(str(json_path), dir=tmp_path / "store").method == "random"


def test_fanova_importance_needs_scikit_learn(store_dir):
    sweep = nbtrack.sweep(cfg({"x": {"min": 0.0, "max": 1.0}}), quadratic, count=3)
    try:
        import sklearn  # noqa: F401
    except ImportError:
        with pytest.raises(NbtrackError, match="pip install scikit-learn"):
            sweep.importance(method="fanova")
    else:
        assert list(sweep.importance(method="fanova")["parameter"]) == ["x"]


def test_a_sweep_in_a_notebook_shows_its_progress_and_a_formatted_table(tmp_path):
    """In a real kernel: a blocked sweep cell keeps one progress line current (done/planned,
    best so far) and the sweep's result is a table of trials, best first, values formatted."""
    from helpers import execute_notebook

    nb = execute_notebook([
        "import nbtrack\n"
        "def train(config):\n"
        "    for step in range(3):\n"
        "        nbtrack.log({'loss': config['lr'] * 3 + 0.1 / 3 + step * 1e-9})\n"
        "sweep = nbtrack.sweep({'method': 'grid', 'metric': {'name': 'loss'},\n"
        "                       'parameters': {'lr': {'values': [0.3, 0.1, 0.2, 0.05]},\n"
        "                                      'opt': {'values': ['<b>adam</b>']}}},\n"
        "                      train, name='lr-grid')\n"
        "sweep",
    ], tmp_path)
    outputs = nb.cells[0].outputs
    assert all(o.output_type != "error" for o in outputs), outputs
    lines = [o for o in outputs if o.output_type == "display_data" and "nbtrack-sweep-progress" in
             o.data.get("text/html", "")]
    assert len(lines) == 1  # one line, updated in place
    text = lines[0].data["text/plain"]
    assert text.startswith("sweep lr-grid finished: 4 trials") and "best loss 0.1833 (trial 3)" in text
    table = next(o for o in outputs if o.output_type == "execute_result").data["text/html"]
    cells = re.findall(r"<td>([^<]*)</td>", table.split("<tbody>")[1])
    assert cells[:5] == ["3", "finished", "0.1833", "0.05", cells[4]]  # best first, 4 significant digits
    assert "0.18333333" not in table
    assert "&lt;b&gt;adam" not in table.split("<tbody>")[1]  # a parameter that does not vary: hidden
    assert table.count("<tr>") == 5
