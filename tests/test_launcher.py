"""The sweep launcher in plain pytest: the form from a config, Launch, the live table and
charts, Stop, a bad range typed into the form, and escaping of user values."""

from __future__ import annotations

import threading
import time

import pytest

import nbtrack
from nbtrack import NbtrackError

pytest.importorskip("ipywidgets")

from nbtrack.widgets.launcher import SweepLauncher, sweep_launcher

XSS = "<img src=x onerror=alert(1)>"


def config(**extra):
    return {"method": "random", "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"x": {"min": 0.0, "max": 1.0},
                           "layers": {"min": 1, "max": 3},
                           "opt": {"values": ["adam", "sgd"]},
                           "seed": {"value": 7},
                           "optimizer": {"parameters": {"lr": {"distribution": "log_uniform_values",
                                                               "min": 1e-4, "max": 1e-1}}}},
            **extra}


def train(config):
    for step in range(3):
        nbtrack.log({"loss": (config["x"] - 0.3) ** 2 + config["layers"] / (step + 1)}, step=step)


def rows_of(launcher):
    return {row.spec.name: row for row in launcher.params}


def test_the_form_reflects_the_config(store_dir):
    launcher = sweep_launcher(train, config(), count=4, interval=0.05)
    assert isinstance(launcher, SweepLauncher)
    assert launcher.method.value == "random" and launcher.count.value == 4
    assert launcher.workers.value == 1
    assert launcher.metric.value == "loss" and launcher.goal.value == "minimize"
    rows = rows_of(launcher)
    assert list(rows) == ["x", "layers", "opt", "seed", "optimizer.lr"]  # nested: dotted
    assert rows["x"].fields["min"].value == 0.0 and rows["x"].fields["max"].value == 1.0
    assert type(rows["x"].fields["min"]).__name__ == "FloatText"
    assert type(rows["layers"].fields["max"]).__name__ == "IntText"
    assert rows["layers"].fields["max"].value == 3
    assert rows["opt"].fields["values"].value == ["adam", "sgd"]
    assert rows["seed"].fields["value"].value == "7"
    assert "log_uniform_values" in rows["optimizer.lr"].box.children[1].value
    # Unedited, the form gives the config back.
    assert launcher.config() == config()
    assert launcher.widget.children[0] is launcher.form
    assert "application/vnd.jupyter.widget-view+json" in launcher._repr_mimebundle_()


def test_a_bad_config_raises_as_nbtrack_sweep_does(store_dir):
    bad = {"method": "random", "parameters": {"x": {"min": 1.0, "max": 0.0}}}
    with pytest.raises(NbtrackError) as from_launcher:
        sweep_launcher(train, bad)
    with pytest.raises(NbtrackError) as from_sweep:
        nbtrack.Sweep.create(bad)
    assert str(from_launcher.value) == str(from_sweep.value)


def test_edit_launch_and_watch_to_the_end(store_dir):
    gridable = config()
    gridable["parameters"]["x"] = {"values": [0.1, 0.3]}
    gridable["parameters"]["optimizer"]["parameters"]["lr"] = {"values": [0.01]}
    launcher = sweep_launcher(train, gridable, interval=0.05)
    rows = rows_of(launcher)
    launcher.method.value = "grid"
    rows["layers"].fields["max"].value = 2
    rows["opt"].fields["values"].value = ["adam", "true"]
    launcher.launch_button.click()
    assert launcher.error == ""
    sweep = launcher.sweep
    assert sweep is not None and launcher.launch_button.disabled and not launcher.stop_button.disabled
    assert sweep.wait(60) and launcher.wait(30)
    trials = sweep.trials()
    assert len(trials) == 2 * 2 * 2 and set(trials["status"]) == {"finished"}
    assert set(trials["config.opt"]) == {"adam", True}  # "true" typed: a JSON value
    table = launcher.table_html.value
    from nbtrack.formatting import number as formatted

    for number, value in zip(trials["number"], trials["value"]):  # the one formatting rule
        assert f"<td>{number}</td><td>finished</td><td>{formatted(value)}</td>" in table
    assert "0.37333" not in table
    assert table.count("<tr data-status='finished'") == 8
    assert "8 finished" in launcher.status_html.value and "best loss" in launcher.status_html.value
    assert "<svg" in launcher.best_html.value
    assert launcher.final_html.value.count("<svg") == 2  # importance and parallel coordinates
    assert not launcher.launch_button.disabled and launcher.stop_button.disabled


def test_stop_ends_a_sweep_of_slow_trials(store_dir):
    started = threading.Event()

    def slow(config):
        started.set()
        for step in range(40):
            time.sleep(0.02)
            nbtrack.log({"loss": config["x"] + step}, step=step)

    launcher = sweep_launcher(slow, {"method": "random", "metric": {"name": "loss"},
                                     "parameters": {"x": {"min": 0.0, "max": 1.0}}}, count=20, interval=0.05)
    launcher.launch_button.click()
    assert started.wait(20)
    launcher.stop_button.click()  # no more trials; the running one finishes
    started.clear()
    assert launcher.wait(30)
    assert launcher.sweep.status == "stopped"
    assert list(launcher.sweep.trials()["status"]) == ["finished"]
    assert "<tr data-status='finished'" in launcher.table_html.value

    # Launch again, then Stop twice: the running trial is cancelled.
    launcher.launch_button.click()
    assert started.wait(20)
    launcher.stop_button.click()
    launcher.stop_button.click()
    assert launcher.wait(30)
    assert launcher.sweep.status == "interrupted"
    assert list(launcher.sweep.trials()["status"]) == ["interrupted"]
    assert "<tr data-status='interrupted'" in launcher.table_html.value


def test_a_bad_range_typed_in_the_form_shows_an_error_and_launches_nothing(store_dir):
    launcher = sweep_launcher(train, config(), count=2, interval=0.05)
    rows_of(launcher)["x"].fields["max"].value = -1.0
    launcher.launch_button.click()
    assert launcher.sweep is None
    assert "parameters.x.max" in launcher.error and "must be greater than min" in launcher.error
    assert "parameters.x.max" in launcher.error_html.value
    assert nbtrack.Sweep.list().empty  # nothing recorded
    assert not launcher.launch_button.disabled


def test_user_values_are_escaped(store_dir):
    def quick(config):
        nbtrack.log({"loss": 1.0 if config["opt"] == XSS else 2.0})

    launcher = sweep_launcher(quick, {"method": "grid", "metric": {"name": "loss"}, "name": "<b>sw</b>",
                                      "parameters": {"opt": {"values": [XSS, "plain"]}}}, interval=0.05)
    assert launcher.params[0].fields["values"].value == [XSS, "plain"]
    launcher.launch_button.click()
    assert launcher.wait(30)
    table = launcher.table_html.value
    assert XSS not in table and "&lt;img src=x onerror=alert(1)&gt;" in table
    status = launcher.status_html.value
    assert "<b>sw</b>" not in status and "&lt;b&gt;sw&lt;/b&gt;" in status


def test_a_failing_function_shows_the_error(store_dir):
    def broken(config):
        raise ValueError("<boom>")

    launcher = sweep_launcher(broken, {"method": "random", "metric": {"name": "loss"},
                                       "parameters": {"x": {"min": 0.0, "max": 1.0}}}, count=2, interval=0.05)
    launcher.launch_button.click()
    assert launcher.wait(30)
    assert "<tr data-status='failed'" in launcher.table_html.value
    assert "<boom>" not in launcher.table_html.value and "&lt;boom&gt;" in launcher.table_html.value
    assert not launcher.launch_button.disabled


def test_without_ipywidgets_it_says_how_to_install(store_dir, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    with pytest.raises(NbtrackError, match=r"pip install 'ipywidgets>=8'"):
        sweep_launcher(train, config())
