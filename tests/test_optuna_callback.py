"""Optuna trials as nbtrack runs: a real study, a pruner that prunes, a trial that fails."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import run_python

import nbtrack

optuna = pytest.importorskip("optuna")
from nbtrack.integrations import optuna as nbtrack_optuna  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.ERROR)
XS = [1.0, 2.0, 3.0, 9.0, 5.0, 1.5]  # 3 and 9 are pruned at step 0; 5 fails


def objective(trial: Any) -> float:
    x = trial.suggest_float("x", 0.0, 10.0)
    if x == 5.0:
        raise ValueError("x=5 diverged")
    for step in range(4):
        trial.report(x * (step + 1), step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return x * 10


def study() -> Any:
    made = optuna.create_study(study_name="curve", direction="minimize",
                               pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0))
    for x in XS:
        made.enqueue_trial({"x": x})
    return made


def points(run_id: str, key: str) -> list[tuple[int, float]]:
    frame = nbtrack.history(run_id, key)
    return list(zip(frame["step"], frame["value"]))


def check_runs(expected_error: str) -> dict[str, Any]:
    runs = nbtrack.runs().set_index("name")
    assert dict(runs["status"]) == {"trial-0": "finished", "trial-1": "finished", "trial-2": "pruned",
                                    "trial-3": "pruned", "trial-4": "failed", "trial-5": "finished"}
    assert list(runs.loc[[f"trial-{i}" for i in range(6)], "config.x"]) == XS
    ids = dict(runs["id"])
    assert points(ids["trial-1"], "intermediate_value") == [(0, 2.0), (1, 4.0), (2, 6.0), (3, 8.0)]
    assert points(ids["trial-1"], "value") == [(3, 20.0)]
    assert points(ids["trial-2"], "intermediate_value") == [(0, 3.0)]  # pruned at its first report
    assert nbtrack.history(ids["trial-2"], "value").empty
    record = nbtrack.run_record(ids["trial-4"])
    assert expected_error in record["error"] and record["group_name"] == "curve"
    assert record["tags"] == ["optuna"]
    return ids


def test_callback_records_every_trial_with_its_status(store_dir: Path) -> None:
    study().optimize(objective, n_trials=len(XS), catch=(ValueError,),
                     callbacks=[nbtrack_optuna.callback()])
    check_runs("wrap the objective in nbtrack.integrations.optuna.track")


def test_track_logs_reports_live_and_keeps_the_run_active(store_dir: Path) -> None:
    seen: list[tuple[str, bool]] = []

    @nbtrack_optuna.track
    def tracked(trial: Any) -> float:
        assert isinstance(trial, optuna.Trial)
        run = nbtrack.run
        seen.append((run.name, run.status == "running"))
        nbtrack.log({"lr": 0.1}, step=0)  # the user's own logging goes to the trial's run
        return objective(trial)

    made = study()
    # With both, each trial is recorded once (track's run; the callback sees it is done).
    made.optimize(tracked, n_trials=len(XS), catch=(ValueError,), callbacks=[nbtrack_optuna.callback()])
    assert seen == [(f"trial-{i}", True) for i in range(6)]
    assert nbtrack.run is None
    ids = check_runs("ValueError: x=5 diverged")
    assert points(ids["trial-0"], "lr") == [(0, 0.1)]
    assert made.trials[0].user_attrs["nbtrack_run_id"] == ids["trial-0"]


def test_track_records_a_failure_that_stops_the_study(store_dir: Path) -> None:
    made = study()
    with pytest.raises(ValueError, match="diverged"):
        made.optimize(nbtrack_optuna.track(objective), n_trials=len(XS))
    runs = nbtrack.runs().set_index("name")
    assert dict(runs["status"]) == {"trial-0": "finished", "trial-1": "finished", "trial-2": "pruned",
                                    "trial-3": "pruned", "trial-4": "failed"}


def test_wandb_shaped_init_in_the_objective_joins_the_trial_run(store_dir: Path) -> None:
    @nbtrack_optuna.track
    def wandb_style(trial: Any) -> float:
        run = nbtrack.init(config={"lr": 0.5, "epochs": 2})  # the script's defaults
        lr = trial.suggest_float("lr", 0.01, 0.1)
        for epoch in range(run.config["epochs"]):
            nbtrack.log({"loss": lr * (epoch + 1)}, step=epoch)
        return lr

    made = optuna.create_study()
    made.enqueue_trial({"lr": 0.05})
    made.optimize(wandb_style, n_trials=1)
    (record,) = nbtrack.runs().to_dict("records")
    assert record["name"] == "trial-0" and record["status"] == "finished"
    assert (record["config.lr"], record["config.epochs"]) == (0.05, 2)  # the trial's value won
    assert points(record["id"], "loss") == [(0, 0.05), (1, 0.1)]


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_several_objectives_use_the_study_metric_names(store_dir: Path) -> None:
    made = optuna.create_study(directions=["maximize", "minimize"])
    made.set_metric_names(["accuracy", "latency"])
    made.enqueue_trial({"width": 4})
    made.optimize(lambda t: (t.suggest_int("width", 1, 8) / 10, 3.5), n_trials=1,
                  callbacks=[nbtrack_optuna.callback(project="multi")])
    (run_id,) = nbtrack.runs(project="multi")["id"]
    history = nbtrack.history(run_id)
    assert sorted(zip(history["key"], history["value"])) == [("accuracy", 0.4), ("latency", 3.5)]
    assert nbtrack.run_record(run_id)["config"] == {"width": 4}


def test_parallel_trials_log_to_their_own_runs(store_dir: Path) -> None:
    import time

    @nbtrack_optuna.track
    def slow(trial: Any) -> float:
        x = trial.suggest_int("x", 0, 100)
        for step in range(3):
            nbtrack.log({"x_seen": float(x)}, step=step)  # another thread's trial runs meanwhile
            time.sleep(0.01)
        return float(x)

    made = optuna.create_study()
    for x in (10, 20, 30, 40):
        made.enqueue_trial({"x": x})
    made.optimize(slow, n_trials=4, n_jobs=2)
    runs = nbtrack.runs().to_dict("records")
    assert sorted(r["config.x"] for r in runs) == [10, 20, 30, 40]
    for record in runs:
        assert points(record["id"], "x_seen") == [(s, float(record["config.x"])) for s in range(3)]


def test_returning_nan_is_a_failed_run(store_dir: Path) -> None:
    made = optuna.create_study()
    made.optimize(nbtrack_optuna.track(lambda t: float("nan")), n_trials=1)
    (record,) = nbtrack.runs().to_dict("records")
    assert record["status"] == "failed" and made.trials[0].state.name == "FAIL"


def test_without_optuna_the_error_names_the_install() -> None:
    proc = run_python("""
        import sys
        sys.modules["optuna"] = None
        from nbtrack.integrations import optuna
        try:
            optuna.callback()
        except Exception as exc:
            print(type(exc).__name__, exc)
    """)
    assert "NbtrackError" in proc.stdout and "pip install optuna" in proc.stdout
    assert sys.modules.get("optuna") is not None


STATE_TO_STATUS = {"COMPLETE": "finished", "PRUNED": "pruned", "FAIL": "failed"}


def statuses_match_optuna(made: Any) -> dict[str, str]:
    """Each trial's run has the status Optuna gave the trial; returns name -> status."""
    runs = nbtrack.runs().set_index("name")
    stored = dict(runs["status"])
    assert stored == {f"trial-{t.number}": STATE_TO_STATUS[t.state.name] for t in made.trials}
    return stored


def test_wandb_shaped_with_block_and_finish_are_deferred_to_the_trial_end(store_dir: Path) -> None:
    # W&B code in the objective: `with init()` or init() ... finish(). The trial's run is
    # joined, its finish waits for the trial, and the stored status is Optuna's.
    @nbtrack_optuna.track
    def wandb_style(trial: Any) -> float:
        x = trial.suggest_float("x", 0.0, 10.0)
        if trial.number % 2:
            run = nbtrack.init(config={"layers": 2})
            nbtrack.log({"loss": x}, step=0)
            nbtrack.finish()
        else:
            with nbtrack.init(config={"layers": 2}) as run:
                for step in range(3):
                    nbtrack.log({"loss": x * (step + 1)}, step=step)
                    trial.report(x * (step + 1), step)
                    if x == 3.0 and step == 1:
                        raise optuna.TrialPruned()  # inside the with block
                    if x == 5.0:
                        raise ValueError("x=5 diverged")
        assert run.status == "running"  # the trial is not over yet
        return x

    made = optuna.create_study()
    for x in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0):
        made.enqueue_trial({"x": x})
    made.optimize(wandb_style, n_trials=6, catch=(ValueError,))  # nbtrack must not make it raise
    assert [t.state.name for t in made.trials] == ["COMPLETE", "COMPLETE", "PRUNED", "COMPLETE",
                                                   "FAIL", "COMPLETE"]
    statuses_match_optuna(made)
    runs = nbtrack.runs().set_index("name")
    assert points(runs.loc["trial-0", "id"], "value") == [(2, 1.0)]  # logged after the block
    assert points(runs.loc["trial-1", "id"], "value") == [(0, 2.0)]
    assert runs.loc["trial-2", "config.layers"] == 2
    assert "ValueError: x=5 diverged" in nbtrack.run_record(runs.loc["trial-4", "id"])["error"]


def test_an_infinite_value_completes_in_optuna_and_in_the_store(store_dir: Path) -> None:
    made = optuna.create_study()
    made.optimize(nbtrack_optuna.track(lambda t: float("inf")), n_trials=1)
    assert made.trials[0].state.name == "COMPLETE"
    statuses_match_optuna(made)


def reports_a_nan(trial: Any) -> float:
    trial.report(0.5, 0)
    trial.report(float("nan"), 1)
    trial.report(0.25, 2)
    return float("inf") if trial.suggest_int("inf", 0, 1) else float("nan")


@pytest.mark.parametrize("how", ["callback", "track"])
def test_nan_reports_and_non_finite_values_are_stored(store_dir: Path, how: str) -> None:
    made = optuna.create_study()
    made.enqueue_trial({"inf": 1})
    made.enqueue_trial({"inf": 0})
    if how == "callback":
        made.optimize(reports_a_nan, n_trials=2, callbacks=[nbtrack_optuna.callback()])
    else:
        made.optimize(nbtrack_optuna.track(reports_a_nan), n_trials=2)
    statuses_match_optuna(made)  # inf: COMPLETE, NaN: FAIL
    ids = dict(nbtrack.runs().set_index("name")["id"])
    for name in ("trial-0", "trial-1"):
        reported = points(ids[name], "intermediate_value")
        assert [s for s, _ in reported] == [0, 1, 2]
        assert reported[0][1] == 0.5 and reported[1][1] != reported[1][1] and reported[2][1] == 0.25
    assert points(ids["trial-0"], "value") == [(2, float("inf"))]
    if how == "track":  # what the objective returned, though Optuna fails the trial for it
        ((step, value),) = points(ids["trial-1"], "value")
        assert step == 2 and value != value


def test_logging_after_finish_in_the_objective_is_refused_as_in_a_sweep_trial(store_dir: Path) -> None:
    from nbtrack.errors import NbtrackError

    @nbtrack_optuna.track
    def finishes_early(trial: Any) -> float:
        nbtrack.init(config={"layers": 2})
        nbtrack.log({"loss": 1.0})
        nbtrack.finish()
        with pytest.raises(NbtrackError, match=r"finish\(\)"):
            nbtrack.log({"late": 2.0})  # W&B refuses logs after finish; the trial is not over
        return 0.5

    made = optuna.create_study()
    made.optimize(finishes_early, n_trials=1)
    statuses_match_optuna(made)
    (run_id,) = nbtrack.runs()["id"]
    assert points(run_id, "value") == [(0, 0.5)]  # the trial's own value is still recorded
    assert nbtrack.history(run_id, "late").empty
