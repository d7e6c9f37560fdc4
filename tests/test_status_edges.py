"""Exit and status edge cases: a run ends once, huge numbers are refused or kept exactly,
``sys.exit(0)`` is a normal end, and the first CPU reading of a run measures the run."""

from __future__ import annotations

import sys
import time

import pytest

import nbtrack
from nbtrack import system
from nbtrack.errors import MetricValueError


def test_a_second_finish_with_another_status_is_an_error(store_dir):
    run = nbtrack.init(name="once")
    run.finish()
    run.finish()  # the same status again: nothing to do
    with pytest.raises(nbtrack.NbtrackError, match=r"already ended as 'finished'.*cannot become 'failed'"):
        run.finish("failed")
    assert run.status == "finished"
    assert nbtrack.run_record(run.id)["status"] == "finished"


def test_module_finish_after_finish_is_a_no_op(store_dir):
    nbtrack.init(name="script")
    nbtrack.finish()
    nbtrack.finish("failed")  # no active run any more: nothing to change
    assert nbtrack.run_record("script")["status"] == "finished"


@pytest.mark.parametrize(("code", "status"), [(0, "finished"), (None, "finished"), (2, "failed")])
def test_sys_exit_in_a_with_block(store_dir, code, status):
    with pytest.raises(SystemExit), nbtrack.init(name=f"exit-{code}"):
        sys.exit(code)
    assert nbtrack.run_record(f"exit-{code}")["status"] == status


def test_finish_inside_a_with_block_stands(store_dir):
    with pytest.raises(ValueError), nbtrack.init(name="pruned-by-hand") as run:
        run.finish("pruned")
        raise ValueError("after the end")
    assert nbtrack.run_record("pruned-by-hand")["status"] == "pruned"


@pytest.mark.parametrize("metrics", [{"x": 10**400}, {"x": -(10**400)}, {"nested": {"x": 10**400}}])
def test_a_metric_no_float_can_hold_is_refused_with_a_clear_error(store_dir, metrics):
    run = nbtrack.init(name="huge")
    with pytest.raises(MetricValueError, match=r"integer of 401 digits.*config or summary"):
        run.log(metrics)
    run.log({"x": 2**70})  # big but in range: stored as the nearest float
    run.finish()
    assert nbtrack.history(run.id, "x")["value"].tolist() == [float(2**70)]


def test_huge_ints_in_config_and_summary_are_kept_exactly(store_dir):
    run = nbtrack.init(name="exact", config={"big": 10**400})
    run.summary["count"] = 10**400 + 1
    run.finish()
    record = nbtrack.run_record(run.id)
    assert record["config"]["big"] == 10**400
    assert record["summary"]["count"] == 10**400 + 1


def _burn_cpu(seconds: float) -> None:
    """Use this much CPU time (not wall time), so the machine was busy in the window."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        sum(range(1000))


def test_first_cpu_reading_of_a_run_covers_the_run_not_nothing(store_dir, monkeypatch):
    pytest.importorskip("psutil")
    monkeypatch.setattr(system, "_machine", [None])  # as in a fresh process
    sampler = system.Sampler(background=False)
    run = nbtrack.init(name="cpu")
    sampler.attach(run)  # the run starts: psutil's clock starts here
    _burn_cpu(0.2)
    assert sampler.sample() == 1
    run.finish()
    first = nbtrack.history(run.id, "system/cpu_percent")["value"].tolist()[0]
    assert first > 0  # psutil's first call reads 0; the busy window says otherwise


def test_a_reading_right_after_priming_is_not_a_bogus_zero(monkeypatch):
    pytest.importorskip("psutil")
    monkeypatch.setattr(system, "_machine", [None])
    system.prime_cpu()
    reading = system.read()  # no time since priming: measured over a short window instead
    assert 0 <= reading["cpu_percent"] <= 100
    assert time.monotonic() - system._cpu_clock[0] < 1
