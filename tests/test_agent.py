"""``nbtrack sweep`` + ``nbtrack agent`` over a real train.py, as W&B users run them.

Everything is real: the commands run as subprocesses against a DuckDB store under
tmp_path, and the trial scripts are Python files that ``import nbtrack as wandb``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import nbtrack
from nbtrack.sweeps.command import build

pytest.importorskip("yaml")

#: A W&B-style training script: argparse, wandb.init(config=defaults), a few logged points.
TRAIN = textwrap.dedent("""
    import argparse, sys, time
    import nbtrack as wandb

    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--opt", default="sgd")
    parser.add_argument("--mode", default="ok")
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    if args.mode == "noinit":
        print("never calls init")
        sys.exit(0)
    run = wandb.init(config={"lr": 0.5, "opt": "sgd", "mode": "ok", "steps": 3, "only_default": 7})
    slow = args.lr > 0.5
    for step in range(args.steps):
        wandb.log({"loss": (args.lr - 0.01) ** 2 + 1 / (step + 1), "lr_parsed": args.lr})
        time.sleep(0.1 if slow else 0.01)
        if args.mode == "raise" and step == 1:
            raise ValueError("boom at step 1")
    if args.mode == "exit3":
        print("leaving with code 3")
        sys.exit(3)
""")


def _env(tmp_path: Path) -> dict[str, str]:
    store = str(tmp_path / "store")
    return {**os.environ, "NBTRACK_DIR": store, "NBTRACK_STORE": store, "PYTHONIOENCODING": "utf-8"}


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``nbtrack ARGS`` in tmp_path with the store at tmp_path/store, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "nbtrack.cli", *args], cwd=tmp_path, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=120, check=False)


def start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """``nbtrack ARGS`` started in the background (see :func:`cli`)."""
    return subprocess.Popen([sys.executable, "-m", "nbtrack.cli", *args], cwd=tmp_path, env=_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def make_sweep(tmp_path: Path, config: str, program: str = TRAIN) -> str:
    """Write train.py and sweep.yaml, run `nbtrack sweep`, return the sweep id from its output."""
    (tmp_path / "train.py").write_text(program)
    (tmp_path / "sweep.yaml").write_text(textwrap.dedent(config))
    made = cli(tmp_path, "sweep", "sweep.yaml")
    assert made.returncode == 0, made.stderr
    line = next(line for line in made.stdout.splitlines() if line.strip().startswith("nbtrack agent "))
    return line.split()[2]


def load(tmp_path: Path, sweep_id: str) -> nbtrack.Sweep:
    return nbtrack.Sweep.load(sweep_id, dir=tmp_path / "store")


# -- nbtrack sweep ----------------------------------------------------------------------
def test_sweep_registers_and_prints_the_agent_line_without_running(tmp_path):
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "sweep.yaml").write_text(textwrap.dedent("""
        program: train.py
        method: random
        metric: {name: loss}
        entity: my-team
        controller: {type: local}
        parameters:
          lr: {min: 0.001, max: 0.1}
    """))
    made = cli(tmp_path, "sweep", "sweep.yaml", "--project", "vision", "--name", "lr-search")
    assert made.returncode == 0, made.stderr
    sweep_id = made.stdout.split("nbtrack agent ")[1].split()[0]
    assert f"  nbtrack agent {sweep_id}\n" in made.stdout
    # The keys nbtrack does not use are named once, with why.
    assert made.stderr.count("entity, controller change nothing here") == 1
    assert "every agent runs the search itself" in made.stderr
    sweep = load(tmp_path, sweep_id)
    assert (sweep.name, sweep.project, sweep.status) == ("lr-search", "vision", "pending")
    assert sweep.trials().empty and nbtrack.runs(store=tmp_path / "store").empty


def test_sweep_without_a_program_is_refused(tmp_path):
    (tmp_path / "sweep.yaml").write_text("method: grid\nparameters:\n  lr: {values: [0.1]}\n")
    proc = cli(tmp_path, "sweep", "sweep.yaml")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "the sweep config has no program: add `program: train.py`" in proc.stderr
    assert nbtrack.Sweep.list(dir=tmp_path / "store").empty


def test_wrong_sweep_id_is_one_clear_line(tmp_path):
    make_sweep(tmp_path, "program: train.py\nmethod: grid\nparameters:\n  lr: {values: [0.1]}\n")
    proc = cli(tmp_path, "agent", "nosuchid")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "no sweep with id or name 'nosuchid'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_agent_refuses_a_missing_program_before_claiming(tmp_path):
    sweep_id = make_sweep(tmp_path, "program: missing.py\nmethod: grid\nparameters:\n  lr: {values: [0.1]}\n")
    proc = cli(tmp_path, "agent", sweep_id)
    assert proc.returncode == 1
    assert "program 'missing.py' is not in" in proc.stderr
    assert load(tmp_path, sweep_id).trials().empty


# -- agents -------------------------------------------------------------------------------
def test_three_agents_run_each_grid_point_once(tmp_path):
    sweep_id = make_sweep(tmp_path, """
        program: train.py
        method: grid
        metric: {name: loss, goal: minimize}
        parameters:
          lr: {values: [0.01, 0.1]}
          opt: {values: [adam, sgd]}
    """)
    agents = [start(tmp_path, "agent", sweep_id) for _ in range(3)]
    outputs = [agent.communicate(timeout=120) for agent in agents]
    assert [a.returncode for a in agents] == [0, 0, 0], outputs
    sweep = load(tmp_path, sweep_id)
    trials = sweep.trials()
    assert sorted(trials["number"]) == list(range(4))
    points = sorted(zip(trials["config.lr"], trials["config.opt"]))
    assert points == sorted((lr, opt) for lr in (0.01, 0.1) for opt in ("adam", "sgd"))
    runs = sweep.runs()
    assert len(runs) == 4 and set(runs["status"]) == {"finished"}
    # The value the script parsed from --lr is the one recorded: the sweep's, not the default.
    assert list(runs["config.lr"]) == list(runs["summary.lr_parsed"])
    assert set(runs["config.only_default"]) == {7}  # init's defaults fill in the rest
    # The scripts' runs are the trials' runs (the ids the agents chose), in the sweep.
    assert set(runs["id"]) == set(trials["run_id"])
    assert sweep.status == "finished"
    # Each agent ran its share, and said which trials it ran.
    ran = [err.count(") finished") for _, err in outputs]
    assert sum(ran) == 4
    assert sweep.best_config["lr"] == 0.01  # the search read each trial's metric


def test_random_sweep_count_per_agent(tmp_path):
    sweep_id = make_sweep(tmp_path, """
        program: train.py
        method: random
        metric: {name: loss}
        parameters:
          lr: {min: 0.001, max: 0.1}
    """)
    wrong = cli(tmp_path, "agent", f"team/other/{sweep_id}", "--count", "2")
    assert wrong.returncode == 1 and f"sweep {sweep_id} is in project 'default', not 'other'" in wrong.stderr
    proc = cli(tmp_path, "agent", f"team/default/{sweep_id}", "--count", "2")  # W&B's entity/project/ID
    assert proc.returncode == 0, proc.stderr
    runs = load(tmp_path, sweep_id).runs()
    assert len(runs) == 2 and set(runs["status"]) == {"finished"}
    assert runs["config.lr"].between(0.001, 0.1).all()
    assert list(runs["config.lr"]) == list(runs["summary.lr_parsed"])
    assert load(tmp_path, sweep_id).status == "stopped"  # more could run: another agent may go on


def test_command_macros_reach_the_script(tmp_path):
    probe = textwrap.dedent("""
        import json, os, sys
        import nbtrack
        argv = sys.argv[1:]
        got = {"argv": argv, "marker": os.environ.get("AGENT_MARK"),
               "json_arg": json.loads(argv[2]), "json_file": json.load(open(argv[3]))}
        with open("probe.json", "w") as out:
            json.dump(got, out)
        run = nbtrack.init()
        nbtrack.log({"loss": 1.0})
    """)
    sweep_id = make_sweep(tmp_path, """
        program: probe.py
        method: grid
        metric: {name: loss}
        command:
          - ${env}
          - AGENT_MARK=from-env
          - ${interpreter}
          - ${program}
          - ${args_no_hyphens}
          - ${args_json}
          - ${args_json_file}
        parameters:
          lr: {values: [0.01]}
          net:
            parameters:
              width: {value: 32}
    """, program="")
    (tmp_path / "probe.py").write_text(probe)
    proc = cli(tmp_path, "agent", sweep_id)
    assert proc.returncode == 0, proc.stderr
    got = json.loads((tmp_path / "probe.json").read_text())
    assert got["marker"] == "from-env"  # ${env} is /usr/bin/env: VAR=value works before the interpreter
    assert got["argv"][:2] == ["lr=0.01", "net={'width': 32}"]
    assert got["json_arg"] == got["json_file"] == {"lr": 0.01, "net": {"width": 32}}
    runs = load(tmp_path, sweep_id).runs()
    assert list(runs["status"]) == ["finished"] and list(runs["config.lr"]) == [0.01]


def test_command_macros_as_wandb_writes_them():
    config = {"lr": 0.01, "amp": True, "ema": False, "layers": [1, 2]}
    args = build(("${env}", "${interpreter}", "${program}", "${args}"), "train.py", config,
                 interpreter="python")
    assert args == ["/usr/bin/env", "python", "train.py", "--lr=0.01", "--amp=True", "--ema=False",
                    "--layers=[1, 2]"]
    assert build(("${args_no_boolean_flags}",), None, config) == ["--lr=0.01", "--amp", "--layers=[1, 2]"]
    assert build(("x", "--cfg=${args_json_file}"), None, config, json_file="/tmp/c.json") == [
        "x", "--cfg=/tmp/c.json"]
    os.environ["NBTRACK_TEST_MACRO"] = "v1"
    try:
        assert build(("${envvar:NBTRACK_TEST_MACRO}/x",), None, {}) == ["v1/x"]
    finally:
        del os.environ["NBTRACK_TEST_MACRO"]


def test_hyperband_prunes_a_script_trial_and_stops_its_process(tmp_path):
    # Trials run in grid order; the third (lr=1.0) is the worst at the first band and is
    # slow (0.1 s a step), so it is still running when the agent reads its step 3.
    sweep_id = make_sweep(tmp_path, """
        program: train.py
        method: grid
        metric: {name: loss, goal: minimize}
        early_terminate: {type: hyperband, min_iter: 3, eta: 3}
        parameters:
          lr: {values: [0.02, 0.01, 1.0]}
          steps: {value: 40}
    """)
    proc = cli(tmp_path, "agent", sweep_id)
    assert proc.returncode == 0, proc.stderr
    sweep = load(tmp_path, sweep_id)
    runs = sweep.runs().set_index("config.lr")
    assert runs.loc[0.02, "status"] == runs.loc[0.01, "status"] == "finished"
    assert runs.loc[1.0, "status"] == "pruned"
    history = nbtrack.history(runs.loc[1.0, "id"], keys=["loss"], store=tmp_path / "store")
    assert 3 <= history["step"].max() < 39  # it logged, and was stopped long before its end
    assert "trial 2 pruned by hyperband" in proc.stderr
    assert sweep.status == "finished"


def test_failed_scripts_are_recorded_with_exit_code_and_output(tmp_path):
    sweep_id = make_sweep(tmp_path, """
        program: train.py
        method: grid
        parameters:
          mode: {values: [raise, exit3, noinit]}
    """)
    proc = cli(tmp_path, "agent", sweep_id)
    assert proc.returncode == 1  # its first three trials failed: the agent gives up, saying so
    assert "the first 3 trials failed" in proc.stderr
    trials = load(tmp_path, sweep_id).trials().set_index("config.mode")
    assert set(trials["status"]) == {"failed"}
    raised = trials.loc["raise", "error"]
    assert "exit code 1" in raised and "ValueError: boom at step 1" in raised
    exit3 = trials.loc["exit3", "error"]
    assert "exit code 3" in exit3 and "leaving with code 3" in exit3
    noinit = trials.loc["noinit", "error"]
    assert "never started a tracked run" in noinit and "never calls init" in noinit
    # The failed trials' runs keep what they logged before failing.
    runs = load(tmp_path, sweep_id).runs().set_index("config.mode")
    assert runs.loc["raise", "summary.lr_parsed"] == 0.5


def test_sigterm_on_the_agent_ends_its_trial_interrupted(tmp_path):
    sweep_id = make_sweep(tmp_path, """
        program: train.py
        method: grid
        parameters:
          lr: {values: [0.9]}
          steps: {value: 300}
    """)
    agent = start(tmp_path, "agent", sweep_id)
    store = tmp_path / "store"
    deadline = time.monotonic() + 60
    while nbtrack.runs(store=store).empty:  # the script's run appears once it logs
        assert agent.poll() is None and time.monotonic() < deadline, agent.communicate()
        time.sleep(0.2)
    agent.send_signal(signal.SIGTERM)  # a scheduler ending the job
    _, err = agent.communicate(timeout=60)
    assert agent.returncode == 130, err
    (status, run_id), = nbtrack.runs(store=store)[["status", "id"]].itertuples(index=False)
    assert status == "interrupted"
    assert nbtrack.history(run_id, keys=["loss"], store=store)["step"].max() < 299
    assert load(tmp_path, sweep_id).status == "interrupted"


def test_agents_on_several_machines_share_one_sweep_through_postgres(tmp_path, pg_url):
    """The team set-up: the sweep in a PostgreSQL store, three agents each in its own folder
    with its own copy of train.py and its own local cache (as on three machines). Each grid
    point runs once and the scripts' runs land in the database."""
    (tmp_path / "sweep.yaml").write_text(textwrap.dedent("""
        program: train.py
        method: grid
        metric: {name: loss, goal: minimize}
        parameters:
          lr: {values: [0.01, 0.1, 0.3]}
          opt: {values: [adam, sgd]}
    """))
    env = {**os.environ, "NBTRACK_STORE": pg_url, "PYTHONIOENCODING": "utf-8"}
    env.pop("NBTRACK_DIR", None)
    made = subprocess.run([sys.executable, "-m", "nbtrack.cli", "sweep", "sweep.yaml"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    sweep_id = made.stdout.split("nbtrack agent ")[1].split()[0]
    agents = []
    for i in range(3):
        box = tmp_path / f"machine{i}"
        box.mkdir()
        (box / "train.py").write_text(TRAIN)
        agents.append(subprocess.Popen(
            [sys.executable, "-m", "nbtrack.cli", "agent", sweep_id], cwd=box, text=True,
            env={**env, "XDG_CACHE_HOME": str(box / "cache")},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    outputs = [agent.communicate(timeout=180) for agent in agents]
    assert [a.returncode for a in agents] == [0, 0, 0], outputs
    sweep = nbtrack.Sweep.load(sweep_id, dir=pg_url)
    trials = sweep.trials()
    assert sorted(trials["number"]) == list(range(6))
    assert sorted(zip(trials["config.lr"], trials["config.opt"])) == sorted(
        (lr, opt) for lr in (0.01, 0.1, 0.3) for opt in ("adam", "sgd"))
    runs = sweep.runs()
    assert len(runs) == 6 and set(runs["status"]) == {"finished"}
    assert list(runs["config.lr"]) == list(runs["summary.lr_parsed"])
    assert sweep.status == "finished" and sweep.best_config["lr"] == 0.01
    assert sum(err.count(") finished") for _, err in outputs) == 6
