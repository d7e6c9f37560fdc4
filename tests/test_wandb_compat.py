"""``import nbtrack as wandb``: W&B's common subset with W&B's semantics, against a real store."""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest
from helpers import run_python

import nbtrack
from nbtrack import NbtrackError, NbtrackWarning


def values(run_id: str, key: str) -> list[tuple[int, float]]:
    h = nbtrack.history(run_id, key)
    return list(zip(h["step"].tolist(), h["value"].tolist()))


def stored(run_id: str) -> dict:
    record = nbtrack.run_record(run_id)
    assert record is not None
    return record


# -- 1. sweep values win over init(config=defaults) --------------------------------
DEFAULTS = {"lr": 1.0, "layers": 9, "dropout": 0.5, "optimizer": {"name": "sgd", "momentum": 0.9}}


def wandb_shaped_trial(seen):
    def train():
        run = nbtrack.init(config=DEFAULTS)
        config = nbtrack.config
        seen.append((config.lr, config["layers"], config.dropout, config.optimizer["name"],
                     config.optimizer["momentum"]))
        for epoch in range(3):
            nbtrack.log({"loss": (config.lr - 0.2) ** 2 + config.layers + epoch / 10})
        run.finish()
    return train


def test_sweep_values_win_over_init_defaults(store_dir):
    seen: list[tuple] = []
    sweep = nbtrack.sweep({
        "method": "grid", "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"lr": {"values": [0.1, 0.2, 0.3]}, "layers": {"values": [1, 2]},
                       "optimizer": {"parameters": {"name": {"values": ["adam"]}}}},
    }, wandb_shaped_trial(seen))
    # Trained with the sweep's values; the defaults only fill in what the sweep does not set.
    grid = {(lr, layers) for lr in (0.1, 0.2, 0.3) for layers in (1, 2)}
    assert {(s[0], s[1]) for s in seen} == grid
    assert {s[2:] for s in seen} == {(0.5, "adam", 0.9)}
    # The best trial's config: the sweep's values, with the defaults it trained with.
    assert sweep.best_config == {"lr": 0.2, "layers": 1, "dropout": 0.5,
                                 "optimizer": {"name": "adam", "momentum": 0.9}}
    runs = sweep.runs()
    assert len(runs) == 6 and set(runs["status"]) == {"finished"}
    for _, row in runs.iterrows():
        config = stored(row["id"])["config"]
        assert config["dropout"] == 0.5 and config["optimizer"] == {"name": "adam", "momentum": 0.9}
        assert row["summary.loss"] == pytest.approx((config["lr"] - 0.2) ** 2 + config["layers"] + 0.2)
    assert {(r["config.lr"], r["config.layers"]) for _, r in runs.iterrows()} == grid


def test_a_trial_cannot_overwrite_a_sweep_value(store_dir):
    def train(config):
        nbtrack.config.lr = 5.0  # W&B: locked by the sweep, ignored with a warning
        nbtrack.config.update({"lr": 6.0, "extra": 1})
        nbtrack.log({"loss": nbtrack.config.lr})

    with pytest.warns(NbtrackWarning, match="'lr' is set by the sweep"):
        sweep = nbtrack.sweep({"method": "grid", "metric": {"name": "loss"},
                               "parameters": {"lr": {"values": [0.1]}}}, train)
    row = sweep.runs().iloc[0]
    assert row["config.lr"] == 0.1 and row["config.extra"] == 1 and row["summary.loss"] == 0.1


# -- 2. config ------------------------------------------------------------------
def test_config_attribute_item_and_update_go_to_the_active_run(store_dir):
    config = nbtrack.config  # taken before init, as W&B scripts do
    run = nbtrack.init(config={"lr": 0.1})
    config.learning_rate = 0.01
    config["batch_size"] = 32
    config.update({"epochs": 3}, allow_val_change=True)
    config.setdefaults({"epochs": 99, "seed": 7})
    run.config.width = 64
    assert (config.learning_rate, config.epochs, run.config.batch_size) == (0.01, 3, 32)
    run.finish()
    assert stored(run.id)["config"] == {"lr": 0.1, "learning_rate": 0.01, "batch_size": 32, "epochs": 3,
                                        "seed": 7, "width": 64}
    # Nothing stuck to the module-level proxy: the next run starts clean.
    other = nbtrack.init()
    assert dict(nbtrack.config) == {}
    with pytest.raises(AttributeError):
        _ = nbtrack.config.learning_rate
    other.finish()
    assert "learning_rate" not in vars(config)


def test_config_writes_without_a_run_name_init(store_dir):
    for write in (lambda: setattr(nbtrack.config, "lr", 0.1), lambda: nbtrack.config.update({"a": 1}),
                  lambda: nbtrack.config.setdefaults({"a": 1}), lambda: nbtrack.summary.update(a=1)):
        with pytest.raises(NbtrackError, match=r"call nbtrack.init\(\) first"):
            write()


# -- 3. init: job_type, id/resume, mode, reinit ----------------------------------------
def test_job_type_is_a_visible_tag(store_dir):
    run = nbtrack.init(project="p", job_type="train", tags=["cnn"])
    assert run.job_type == "train"
    run.finish()
    assert nbtrack.runs(tags="job_type:train")["id"].tolist() == [run.id]
    assert stored(run.id)["tags"] == ["cnn", "job_type:train"]


def test_resume_continues_steps_config_and_summary(store_dir):
    first = nbtrack.init(id="exp-1", project="p", config={"lr": 0.1, "epochs": 2})
    for loss in (3.0, 2.0):
        nbtrack.log({"loss": loss})
    first.summary["best"] = 2.0
    nbtrack.finish()
    again = nbtrack.init(id="exp-1", resume="allow", config={"epochs": 4})
    assert (again.name, again.project, again.step) == (first.name, "p", 2)
    assert dict(again.config) == {"lr": 0.1, "epochs": 4}
    nbtrack.log({"loss": 1.0})
    nbtrack.finish()
    assert values("exp-1", "loss") == [(0, 3.0), (1, 2.0), (2, 1.0)]
    record = stored("exp-1")
    assert record["status"] == "finished" and record["summary"]["best"] == 2.0
    assert record["summary"]["loss"] == 1.0 and record["config"] == {"lr": 0.1, "epochs": 4}
    assert len(nbtrack.runs()) == 1
    run = nbtrack.init(id="exp-1", resume=True)
    assert run.step == 3
    run.finish()


def test_resume_rules_name_what_to_do(store_dir):
    with pytest.raises(NbtrackError, match="no run with id 'nope'"):
        nbtrack.init(id="nope", resume="must")
    nbtrack.init(id="fresh", resume="never").finish()
    with pytest.raises(NbtrackError, match=r"already exists.*resume='allow'"):
        nbtrack.init(id="fresh", resume="never")
    with pytest.raises(NbtrackError, match="already exists"):
        nbtrack.init(id="fresh")  # an id reused by accident never mixes two runs
    with pytest.raises(NbtrackError, match="needs the id"):
        nbtrack.init(resume="must")
    with pytest.raises(NbtrackError, match="has name 'run-fresh', not 'other'"):
        nbtrack.init(id="fresh", resume="allow", name="other")
    with pytest.raises(NbtrackError, match="resume must be"):
        nbtrack.init(id="fresh", resume="sometimes")
    assert len(nbtrack.runs()) == 1
    nbtrack.init(id="new-one", resume="allow").finish()  # allow: starts it when missing
    assert set(nbtrack.runs()["id"]) == {"fresh", "new-one"}


def test_disabled_mode_stores_nothing_and_the_code_runs(store_dir):
    run = nbtrack.init(mode="disabled", project="p", config={"lr": 0.1})
    assert run.disabled and nbtrack.run is run
    nbtrack.config.epochs = 3
    run.config.update({"bs": 4}, allow_val_change=True)
    nbtrack.define_metric("loss", summary="min")
    for step in range(3):
        nbtrack.log({"loss": 1.0 / (step + 1)}, commit=step != 1)
        run.log({"acc": step})
    nbtrack.summary["best"] = 1
    assert nbtrack.config.lr == 0.1 and run.summary["best"] == 1
    nbtrack.finish(exit_code=0)
    assert nbtrack.run is None and run.status == "finished"
    assert not store_dir.exists() or nbtrack.runs().empty
    with nbtrack.init(mode="disabled") as other:
        other.log({"x": 1})
    failing = nbtrack.init(mode="disabled")
    nbtrack.finish(2)  # wandb.finish(exit_code) positionally
    assert failing.status == "failed"
    assert not store_dir.exists() or nbtrack.runs().empty


def test_modes_and_unknown_options(store_dir):
    with pytest.warns(NbtrackWarning, match="no server"):
        nbtrack.init(mode="online").finish()
    nbtrack.init(mode="offline").finish()
    with pytest.raises(NbtrackError, match="mode must be"):
        nbtrack.init(mode="dryrun")
    with pytest.raises(NbtrackError, match=r"nbtrack\.settings"):
        nbtrack.init(settings={"x": 1})
    with pytest.raises(NbtrackError, match=r"unknown argument.*save_code"):
        nbtrack.init(save_code=True)
    with pytest.warns(NbtrackWarning, match="entity='team' is not used"):
        nbtrack.init(entity="team").finish()
    assert len(nbtrack.runs()) == 3


def test_reinit(store_dir):
    first = nbtrack.init(name="a")
    assert nbtrack.init(reinit="return_previous") is first
    assert nbtrack.init(reinit=False) is first
    second = nbtrack.init(name="b", reinit=True)  # finishes the first, no warning
    assert first.status == "finished" and nbtrack.run is second
    third = nbtrack.init(name="c", reinit="create_new")
    assert second.status == "running" and nbtrack.run is third
    third.finish()
    second.finish()
    with pytest.warns(NbtrackWarning, match="finishing the previous run 'd'"):
        nbtrack.init(name="d")
        nbtrack.init(name="e")


# -- 4. log, summary, define_metric --------------------------------------------------
def test_commit_false_accumulates_into_one_step(store_dir):
    run = nbtrack.init()
    nbtrack.log({"loss": 1.0}, commit=False)
    nbtrack.log({"loss": 1.5, "acc": 0.5}, commit=False)  # W&B: a later value in the step wins
    assert run.step == 0
    nbtrack.log({"lr": 0.1})
    nbtrack.log({"loss": 0.5})
    run.log({"loss": 0.4}, commit=False)
    run.log({"loss": 0.3}, step=5)  # another step: the open one is stored first
    nbtrack.log({"acc": 0.9}, commit=False)  # still open at finish: stored then
    run.finish()
    assert values(run.id, "loss") == [(0, 1.5), (1, 0.5), (2, 0.4), (5, 0.3)]
    assert values(run.id, "acc") == [(0, 0.5), (6, 0.9)] and values(run.id, "lr") == [(0, 0.1)]
    assert stored(run.id)["summary"]["acc"] == 0.9


def test_arrays_become_histograms(store_dir):
    torch = pytest.importorskip("torch")
    run = nbtrack.init()
    nbtrack.log({"weights": np.arange(100.0), "grads": torch.ones(5), "loss": np.array([0.5])})
    run.finish()
    media = nbtrack.sql("SELECT key, kind, data FROM media ORDER BY key")
    assert media[["key", "kind"]].values.tolist() == [["grads", "histogram"], ["weights", "histogram"]]
    weights = json.loads(media.iloc[1]["data"])
    assert sum(weights["counts"]) == 100 and weights["edges"][0] == 0.0 and weights["edges"][-1] == 99.0
    assert values(run.id, "loss") == [(0, 0.5)]  # one value stays a number


def test_define_metric_rules_the_summary(store_dir):
    run = nbtrack.init()
    nbtrack.define_metric("val/loss", step_metric="epoch", summary="min")
    nbtrack.define_metric("acc", summary="max")
    nbtrack.define_metric("lr", summary="mean")
    nbtrack.define_metric("train/*", summary="best", goal="maximize")
    nbtrack.define_metric("noise", summary="none")
    for epoch, (loss, acc, lr) in enumerate([(3.0, 0.5, 0.1), (1.0, 0.9, 0.2), (2.0, 0.7, 0.3)]):
        nbtrack.log({"val/loss": loss, "acc": acc, "lr": lr, "train/f1": acc, "noise": 1.0,
                     "epoch": epoch, "last": loss})
        run.drain()
        if epoch == 1:  # a later definition leaves the running aggregates of the others alone
            nbtrack.define_metric("later", summary="max")
    assert nbtrack.summary["val/loss"] == 1.0  # read while running, too
    run.finish()
    summary = stored(run.id)["summary"]
    assert summary["val/loss"] == 1.0 and summary["acc"] == 0.9 and summary["train/f1"] == 0.9
    assert summary["lr"] == pytest.approx(0.2) and summary["last"] == 2.0 and "noise" not in summary
    assert stored(run.id)["environment"]["define_metric"]["val/loss"] == {"step_metric": "epoch",
                                                                           "summary": "min"}
    again = nbtrack.init(id=run.id, resume="allow")  # the rules and the best so far carry on
    nbtrack.log({"val/loss": 1.5})
    again.finish()
    assert stored(run.id)["summary"]["val/loss"] == 1.0


def test_define_metric_misuse(store_dir):
    with pytest.raises(NbtrackError, match=r"call nbtrack.init\(\) first"):
        nbtrack.define_metric("loss", summary="min")
    nbtrack.init()
    with pytest.raises(NbtrackError, match="summary must be one of"):
        nbtrack.define_metric("loss", summary="median")
    with pytest.raises(NbtrackError, match="needs goal="):
        nbtrack.define_metric("loss", summary="best")
    with pytest.raises(NbtrackError, match="one summary value"):
        nbtrack.define_metric("loss", summary="min,max")


# -- 5. finish(exit_code=), watch ----------------------------------------------------
def test_finish_exit_code(store_dir):
    ok = nbtrack.init()
    nbtrack.finish(exit_code=0, quiet=True)
    bad = nbtrack.init()
    bad.finish(exit_code=3)
    records = {r: stored(r) for r in (ok.id, bad.id)}
    assert records[ok.id]["status"] == "finished"
    assert records[bad.id]["status"] == "failed" and records[bad.id]["error"] == "exit code 3"

    def trial():
        nbtrack.init().finish(exit_code=1)

    sweep = nbtrack.sweep({"method": "grid", "parameters": {"x": {"values": [1]}}}, trial)
    assert sweep.runs()["status"].tolist() == ["failed"]


def test_watch_logs_gradients(store_dir):
    torch = pytest.importorskip("torch")
    model = torch.nn.Linear(3, 1)
    run = nbtrack.init()
    nbtrack.watch(model, log="gradients", log_freq=1)
    model(torch.ones(2, 3)).sum().backward()
    nbtrack.log({"loss": 1.0})
    run.finish()
    nbtrack.unwatch(model)
    assert "gradients/weight" in set(nbtrack.sql("SELECT key FROM media")["key"])
    with pytest.raises(NbtrackError, match="graph"):
        nbtrack.watch(model, log_graph=True)


# -- 6. what nbtrack does not have: one clear line each ------------------------------------
@pytest.mark.parametrize(("call", "names"), [
    (lambda: nbtrack.save("model.h5"), "log_artifact"),
    (lambda: nbtrack.alert(title="x", text="y"), "nbtrack.runs"),
    (lambda: nbtrack.login(key="k"), "no server"),
    (lambda: nbtrack.Settings(start_method="fork"), "nbtrack.settings"),
])
def test_unsupported_calls_say_the_nbtrack_way(store_dir, call, names):
    with pytest.raises(NbtrackError, match=names):
        call()


def test_wandb_module_names_nbtrack_lacks_say_what_to_use():
    for name, instead in (("plot", "nbtrack.charts"), ("Api", "nbtrack.runs"), ("Video", "log_artifact")):
        with pytest.raises(NbtrackError, match=instead):
            getattr(nbtrack, name)
    assert not hasattr(nbtrack, "Audio") and not hasattr(nbtrack, "no_such_name")
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        _ = nbtrack.no_such_name


# -- a W&B quickstart with only the import changed -------------------------------------
QUICKSTART = """
import random
import numpy as np
import nbtrack as wandb

config = {"learning_rate": 0.02, "architecture": "CNN", "dataset": "CIFAR-100", "epochs": 5}
run = wandb.init(project="my-awesome-project", config=config, job_type="train", mode="offline")
assert wandb.run is run and wandb.run.name == run.name
wandb.config.batch_size = 64
wandb.define_metric("val_acc", summary="max")
offset = random.random() / 5
for epoch in range(2, wandb.config.epochs):
    acc = 1 - 2 ** -epoch - random.random() / epoch - offset
    loss = 2 ** -epoch + random.random() / epoch + offset
    wandb.log({"acc": acc, "loss": loss}, commit=False)
    wandb.log({"val_acc": [0.4, 0.9, 0.6][epoch - 2], "weights": np.random.randn(50)})
wandb.summary["test_acc"] = 0.77
print(run.id)
wandb.finish()
"""


def test_wandb_quickstart_with_one_changed_line(store_dir, tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(QUICKSTART))
    proc = run_python(f"import runpy, sys; sys.argv = [{str(script)!r}]; runpy.run_path({str(script)!r})",
                      env={"NBTRACK_DIR": str(store_dir)})
    run_id = proc.stdout.strip()
    record = stored(run_id)
    assert record["project"] == "my-awesome-project" and record["status"] == "finished"
    assert record["config"] == {"learning_rate": 0.02, "architecture": "CNN", "dataset": "CIFAR-100",
                                "epochs": 5, "batch_size": 64}
    assert record["tags"] == ["job_type:train"]
    assert record["summary"]["val_acc"] == 0.9 and record["summary"]["test_acc"] == 0.77
    assert [s for s, _ in values(run_id, "acc")] == [0, 1, 2] == [s for s, _ in values(run_id, "val_acc")]
    assert nbtrack.sql("SELECT count(*) AS n FROM media WHERE key = 'weights'")["n"].iloc[0] == 3
    assert sys.executable  # the child ran under this interpreter (run_python)


def test_wandb_sweep_then_agent(store_dir):
    seen: list[float] = []

    def main():
        run = nbtrack.init(config={"lr": 1.0, "epochs": 2})
        seen.append(nbtrack.config.lr)
        nbtrack.log({"loss": abs(nbtrack.config.lr - 0.02)})
        run.finish()

    sweep_configuration = {"method": "grid", "metric": {"goal": "minimize", "name": "loss"},
                           "parameters": {"lr": {"values": [0.01, 0.02, 0.05]}}}
    sweep_id = nbtrack.sweep(sweep=sweep_configuration, project="my-first-sweep")
    assert seen == [] and sweep_id.status == "pending"
    nbtrack.agent(sweep_id, function=main, count=2)
    nbtrack.agent(sweep_id.id, function=main)  # by id: the rest of the grid
    assert sorted(seen) == [0.01, 0.02, 0.05]
    found = nbtrack.Sweep.load(sweep_id.id)
    assert found.best_config == {"lr": 0.02, "epochs": 2} and found.project == "my-first-sweep"
    with pytest.raises(NbtrackError, match="needs function="):
        nbtrack.agent(sweep_id)


def test_run_methods_from_wandb(store_dir):
    run = nbtrack.init()
    run.summary.update({"best": 0.9})
    nbtrack.summary.update(other=1)
    for name, instead in (("save", "log_artifact"), ("dir", "log_artifact"), ("url", "no server")):
        with pytest.raises(NbtrackError, match=instead):
            getattr(run, name)
    assert not hasattr(run, "log_code") and not hasattr(run, "no_such_thing")
    run.finish()
    summary = stored(run.id)["summary"]
    assert summary["best"] == 0.9 and summary["other"] == 1


def test_init_inside_a_trial_joins_it(store_dir):
    outcomes = []

    def train():
        for bad in ({"mode": "disabled"}, {"resume": "allow"}, {"name": "other"}):
            with pytest.raises(NbtrackError, match="this sweep trial is already run"):
                nbtrack.init(**bad)
        with pytest.warns(NbtrackWarning, match="project/group given to nbtrack.init"):
            nbtrack.init(project="elsewhere")
        outcomes.append(nbtrack.init(job_type="trial") is nbtrack.run)
        nbtrack.log({"loss": 1.0})

    sweep = nbtrack.sweep({"method": "grid", "parameters": {"x": {"values": [1]}}}, train)
    assert outcomes == [True]
    assert sweep.runs()["status"].tolist() == ["finished"]
    assert "job_type:trial" in stored(sweep.runs()["id"].iloc[0])["tags"]


def test_config_from_files_namespaces_and_config_defaults(store_dir, tmp_path, monkeypatch):
    import argparse

    monkeypatch.chdir(tmp_path)
    (tmp_path / "config-defaults.yaml").write_text(
        "wandb_version: 1\nepochs:\n  desc: passes over the data\n  value: 10\nbatch_size: 32\n")
    (tmp_path / "exp.yaml").write_text("lr: 0.01\nbatch_size: 64\n")
    from_file = nbtrack.init(config="exp.yaml")
    from_file.finish()
    from_args = nbtrack.init(config=argparse.Namespace(lr=0.5, optimizer="adam"))
    from_args.finish()
    assert stored(from_file.id)["config"] == {"epochs": 10, "batch_size": 64, "lr": 0.01}
    assert stored(from_args.id)["config"] == {"epochs": 10, "batch_size": 32, "lr": 0.5, "optimizer": "adam"}

    def train():  # the sweep still wins over both
        nbtrack.init(config="exp.yaml")
        nbtrack.log({"loss": nbtrack.config.lr})

    sweep = nbtrack.sweep({"method": "grid", "parameters": {"lr": {"values": [0.3]}}}, train)
    assert stored(sweep.runs()["id"].iloc[0])["config"] == {"lr": 0.3, "epochs": 10, "batch_size": 64}
    (tmp_path / "bad.yaml").write_text("- a\n- b\n")
    with pytest.raises(NbtrackError, match="must hold a mapping"):
        nbtrack.init(config="bad.yaml")
    with pytest.raises(NbtrackError, match="cannot read the config file"):
        nbtrack.init(config="missing.yaml")


RESUMABLE = """
import sys
import nbtrack as wandb

run = wandb.init(project="long-job", id="job-42", resume="allow", config={"lr": 0.1})
start = run.step
for step in range(start, start + 3):
    wandb.log({"loss": 1.0 / (step + 1)})
print(start)
wandb.finish()
"""


def test_a_script_resumed_in_a_new_process_continues_its_steps(store_dir, tmp_path):
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(RESUMABLE))
    env = {"NBTRACK_DIR": str(store_dir)}
    starts = [run_python(f"import runpy; runpy.run_path({str(script)!r})", env=env).stdout.strip()
              for _ in range(2)]
    assert starts == ["0", "3"]
    assert [s for s, _ in values("job-42", "loss")] == [0, 1, 2, 3, 4, 5]
    record = stored("job-42")
    assert record["status"] == "finished" and record["summary"]["loss"] == pytest.approx(1 / 6)
    assert len(nbtrack.runs()) == 1


def test_a_resumed_run_reads_running_while_its_new_process_runs(store_dir, tmp_path):
    from helpers import start_python

    env = {"NBTRACK_DIR": str(store_dir)}
    run_python("import nbtrack\nnbtrack.init(id='job-7').log({'loss': 1.0})\nnbtrack.finish()", env=env)
    go_on = tmp_path / "go-on"
    child = start_python(f"""
        import os, time, nbtrack
        nbtrack.init(id="job-7", resume="must").log({{"loss": 0.5}})
        nbtrack.run.drain()
        from nbtrack._run import flush_all
        flush_all()
        print("resumed", flush=True)
        while not os.path.exists({str(go_on)!r}):
            time.sleep(0.05)
        nbtrack.finish()
    """, env=env)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "resumed"
        status = stored("job-7")["status"]
    finally:
        go_on.touch()
        child.communicate(timeout=60)  # waits, and closes its pipes
    assert stored("job-7")["status"] == "finished"
    assert status == "running"


def test_an_open_step_stays_the_parents_in_a_forked_child(store_dir):
    run_python("""
        import multiprocessing as mp, warnings, nbtrack
        warnings.simplefilter("ignore")  # the child's one line about forked logging
        run = nbtrack.init(id="forked")
        run.log({"loss": 1.0}, commit=False)  # open in the parent when the worker forks

        def worker():
            run.log({"worker": 2.0}, step=10)

        child = mp.get_context("fork").Process(target=worker)
        child.start()
        child.join()
        assert child.exitcode == 0
        run.log({"acc": 0.5})
        run.finish()
    """, env={"NBTRACK_DIR": str(store_dir)})
    assert values("forked", "loss") == [(0, 1.0)]  # once: the child did not store the parent's step
    assert values("forked", "worker") == [(10, 2.0)] and values("forked", "acc") == [(0, 0.5)]


# -- review findings -----------------------------------------------------------------
def test_define_metric_racing_the_writer_loses_no_point(store_dir):
    # Rules defined while the background writer folds points into the rules' aggregates:
    # every point is stored, define_metric never raises, nothing warns.
    import time
    import warnings

    run = nbtrack.init(name="race")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(400):
            run.log({f"k{i}_{j}": float(j) for j in range(20)})
            run.define_metric(f"k{i}_*", summary="min")
            if i % 50 == 0:
                time.sleep(0.02)
                run.drain()
        run.finish()
    assert len(nbtrack.history(run.id)) == 400 * 20
    assert stored(run.id)["summary"]["k7_3"] == 3.0


def test_a_failing_rule_fold_loses_no_point(store_dir, monkeypatch):
    from nbtrack import _wandb

    run = nbtrack.init(name="fold")
    run.define_metric("a", summary="max")
    calls = []

    def broken(run, flat):
        calls.append(1)
        raise RuntimeError("broken fold")

    monkeypatch.setattr(_wandb, "fold_rules", broken)
    with pytest.warns(NbtrackWarning, match="broken fold"):
        for i in range(3):
            run.log({"a": float(i)})
        run.drain()
        run.log({"a": 9.0})
        run.drain()
    run.finish()
    assert len(calls) == 2
    assert values(run.id, "a") == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 9.0)]


def test_commit_false_takes_the_values_at_the_call(store_dir):
    run = nbtrack.init(name="taken")
    buf, one = np.ones(100), np.array([1.0])
    table = nbtrack.Table(columns=["a"])
    table.add_data(1)
    run.log({"w": buf, "s": one, "t": table}, commit=False)
    buf[:] = 7.0  # a training loop reuses its buffers
    one[0] = 7.0
    table.add_data(2)
    run.log({"loss": 0.1})
    run.finish()
    assert values(run.id, "s") == [(0, 1.0)] and values(run.id, "loss") == [(0, 0.1)]
    media = nbtrack.media(run.id).set_index("key")
    assert sorted(media.index) == ["t", "w"] and set(media["step"]) == {0}
    hist = nbtrack.load_media(media.loc["w"])
    assert sum(hist["counts"]) == 100 and max(hist["edges"]) <= 1.5
    assert len(nbtrack.load_media(media.loc["t"])) == 1


def test_a_bad_commit_false_value_raises_at_its_call(store_dir):
    run = nbtrack.init(name="bad")
    with pytest.raises(NbtrackError, match="'a'"):
        run.log({"a": "oops"}, commit=False)
    run.log({"b": 1.0})  # not an error for this call, and stored
    run.log({"c": 2.0}, commit=False)
    with pytest.raises(NbtrackError, match="'d'"):
        run.log({"d": "oops", "e": 3.0}, commit=False)
    run.log({"f": 4.0})
    run.finish()
    assert values(run.id, "b") == [(0, 1.0)]
    assert values(run.id, "c") == [(1, 2.0)] and values(run.id, "f") == [(1, 4.0)]
    assert values(run.id, "e") == [] and values(run.id, "d") == []


def test_finish_in_a_trial_commits_the_open_step_and_ends_logging(store_dir):
    refused: list[str] = []

    def train():
        run = nbtrack.init(config={"x": 1})
        nbtrack.log({"loss": 1.0})
        nbtrack.log({"open": 2.0}, commit=False)
        if nbtrack.config.lr == 0.01:
            run.finish(exit_code=1)
        else:
            nbtrack.finish()
            for late in (lambda: nbtrack.log({"after_finish": 3.0}),
                         lambda: run.log({"after_finish": 4.0}, commit=False)):
                try:
                    late()
                except NbtrackError as exc:
                    refused.append(str(exc))

    sweep = nbtrack.sweep({"method": "grid", "parameters": {"lr": {"values": [0.01, 0.02]}}}, train)
    runs = sweep.runs().set_index("run_id") if "run_id" in sweep.runs() else sweep.runs().set_index("id")
    assert len(refused) == 2 and all("finish" in m for m in refused)
    statuses = {}
    for run_id in runs.index:
        record = stored(run_id)
        statuses[record["config"]["lr"]] = record["status"]
        assert values(run_id, "open") == [(1, 2.0)]
        assert values(run_id, "after_finish") == []
    assert statuses == {0.01: "failed", 0.02: "finished"}


def test_a_later_glob_keeps_the_aggregates_it_does_not_change(store_dir):
    run = nbtrack.init(name="globs")
    run.define_metric("val/loss", summary="max")
    run.define_metric("train/*", summary="min")
    run.log({"val/loss": 5.0, "val/acc": 0.9, "train/loss": 1.0})
    run.log({"val/loss": 1.0, "val/acc": 0.1, "train/loss": 3.0})
    run.drain()
    run.define_metric("val/*", summary="min")  # val/loss keeps its own rule, and its max so far
    run.define_metric("train/l*", summary="max")  # train/loss: the first glob's min stays
    run.log({"val/loss": 2.0, "val/acc": 0.5, "train/loss": 2.0})
    run.finish()
    summary = stored(run.id)["summary"]
    assert summary["val/loss"] == 5.0 and summary["train/loss"] == 1.0
    assert summary["val/acc"] == 0.5  # no rule covered it before: min from here on


def test_summary_last_keeps_nan_and_none_as_the_default_does(store_dir):
    import math

    run = nbtrack.init(name="last")
    run.define_metric("a", summary="last")
    run.define_metric("n", summary="last")
    for a in (1.0, float("nan")):
        run.log({"a": a, "b": a})
    run.log({"n": 1.0, "m": 1.0})
    run.log({"n": None, "m": None})
    run.finish()
    summary = stored(run.id)["summary"]
    assert math.isnan(summary["b"]) and math.isnan(summary["a"])
    assert summary["n"] == summary["m"]


def test_resume_continues_after_the_last_media_step(store_dir):
    env = {"NBTRACK_DIR": str(store_dir)}
    run_python("""
        import nbtrack
        run = nbtrack.init(id="media-last")
        run.log({"loss": 1.0})
        run.log({"loss": 0.5})
        run.log({"sample": nbtrack.Text("last thing logged")})  # step 2, media only
        run.finish()
    """, env=env)
    out = run_python("""
        import nbtrack
        run = nbtrack.init(id="media-last", resume="must")
        print(run.step)
        run.log({"loss": 0.2, "sample": nbtrack.Text("after resume")})
        run.finish()
    """, env=env)
    assert out.stdout.split() == ["3"]
    assert values("media-last", "loss") == [(0, 1.0), (1, 0.5), (3, 0.2)]
    assert sorted(nbtrack.media("media-last")["step"]) == [2, 3]


def test_resume_continues_a_mean_summary(store_dir):
    env = {"NBTRACK_DIR": str(store_dir)}
    run_python("""
        import nbtrack
        run = nbtrack.init(id="mean")
        run.define_metric("loss", summary="mean")
        run.define_metric("acc", summary="max")
        for loss, acc in ((1.0, 0.1), (3.0, 0.9), (float("nan"), 0.5)):
            run.log({"loss": loss, "acc": acc})
    """, env=env)  # exits without finish()
    assert stored("mean")["summary"]["loss"] == 2.0
    run_python("""
        import nbtrack
        nbtrack.init(id="mean", resume="allow").log({"loss": 5.0, "acc": 0.2})
        nbtrack.finish()
    """, env=env)
    summary = stored("mean")["summary"]
    assert summary["loss"] == 3.0 and summary["acc"] == 0.9


def test_an_array_of_huge_close_integers_is_a_histogram(store_dir):
    run = nbtrack.init(name="big")
    run.log({"same": np.array([2**62, 2**62 + 1]), "close": np.array([2**62, 2**62 + 4096, 2**62 + 8192])})
    run.finish()
    media = nbtrack.media(run.id).set_index("key")
    for key, count in (("same", 2), ("close", 3)):
        hist = nbtrack.load_media(media.loc[key])
        assert sum(hist["counts"]) == count
        assert min(hist["edges"]) <= 2**62 <= max(hist["edges"])
