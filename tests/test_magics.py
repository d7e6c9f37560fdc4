"""%%track in a real IPython shell: config capture, options, statuses, and the cell's own behaviour."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from IPython.core.getipython import get_ipython as running_shell
from IPython.testing.globalipapp import start_ipython

import nbtrack
from nbtrack.cellcode import apply_overrides, parse_cell
from nbtrack.magics import track as track_module


@pytest.fixture
def ip(store_dir):
    start_ipython()  # once per process; later calls return None
    shell = running_shell()
    shell.run_cell("%load_ext nbtrack")
    yield shell
    shell.run_cell("%unload_ext nbtrack")
    for name in ("lr", "epochs", "batch", "x", "loss"):
        shell.user_ns.pop(name, None)


def cell(ip, text):
    return ip.run_cell(text, store_history=True)  # as a kernel runs cells


def only_run(**filters):
    df = nbtrack.runs(**filters)
    assert len(df) == 1, df
    return df.iloc[0]


def test_the_issue_example_captures_config_and_logs(ip):
    assert cell(ip, "lr = 0.05; epochs = 20").success
    result = cell(ip, (
        "%%track baseline\n"
        "import nbtrack\n"
        "for step in range(epochs):\n"
        "    loss = 1 / (step + 1)\n"
        "    acc = step / epochs\n"
        "    nbtrack.log({'loss': loss, 'acc': acc}, step=step)\n"
    ))
    assert result.success
    row = only_run()
    assert (row["name"], row["status"]) == ("baseline", "finished")
    assert row["config.epochs"] == 20
    assert "config.lr" not in row.index  # the cell never read lr
    assert row["summary.loss"] == pytest.approx(1 / 20)
    assert len(nbtrack.history(row["id"], "loss")) == 20
    record = nbtrack.run_record(row["id"])
    assert record["kind"] == "cell" and "nbtrack.log" in record["source"]
    assert record["source"].startswith("import nbtrack")
    assert record["execution_count"] == ip.execution_count - 1


def test_assigned_literals_reads_and_late_values_are_config_not_objects(ip):
    cell(ip, "import numpy as np\nbase = 16\narr = np.zeros(3)\n_hidden = 1")
    assert cell(ip, (
        "%%track cfg\n"
        "lr = 3e-4\n"
        "layers = (64, 32)\n"
        "batch = base * 2\n"
        "total = 0\n"
        "for i in range(3):\n"
        "    total += i\n"
        "w = arr + _hidden\n"
        "nbtrack.config['note'] = 'x'\n"
    )).success
    row = only_run()
    config = {k[7:]: v for k, v in row.items() if k.startswith("config.")}
    assert config == {"base": 16, "batch": 32, "layers": [64, 32], "lr": 3e-4, "note": "x"}


def test_options_project_tags_notes_group_and_overrides(ip):
    cell(ip, "epochs = 3")
    result = cell(ip, (
        "%%track tuned --project 'my proj' --tags a b --notes 'first try' --group g1 "
        "--config lr=0.5 epochs=2 opt=adam\n"
        "lr = 0.1\n"
        "seen = []\n"
        "for s in range(epochs):\n"
        "    seen.append(lr)\n"
        "    nbtrack.log(loss=lr)\n"
    ))
    assert result.success
    assert ip.user_ns["seen"] == [0.5, 0.5]  # the override is what the cell used
    assert ip.user_ns["opt"] == "adam"
    row = only_run()
    assert row["project"] == "my proj" and row["tags"] == ["a", "b"] and row["notes"] == "first try"
    assert (row["config.lr"], row["config.epochs"], row["config.opt"]) == (0.5, 2, "adam")
    assert nbtrack.sql("SELECT group_name FROM runs")["group_name"][0] == "g1"


def test_bad_options_are_one_line_usage_errors_and_make_no_run(ip):
    for line in ("%%track --bogus", "%%track a b", "%%track x --config lr", "%%track x --config 1x=2",
                 "%%track 'unclosed"):
        result = cell(ip, line + "\nx = 1")
        assert isinstance(result.error_in_exec, UsageError), line
        assert "Traceback" not in str(result.error_in_exec)
    assert nbtrack.runs().empty


def test_user_exception_reaches_the_user_unchanged_and_is_stored(ip, capsys):
    result = cell(ip, "%%track broken\nx = 1\nraise ValueError('boom at step 3')")
    assert type(result.error_in_exec) is ValueError
    assert str(result.error_in_exec) == "boom at step 3"
    shown = capsys.readouterr().out
    assert "ValueError" in shown and "----> 3 raise ValueError" in shown  # line numbers kept
    row = only_run()
    assert row["status"] == "failed"
    error = nbtrack.run_record("broken")["error"]
    assert "ValueError: boom at step 3" in error and "interactiveshell" not in error
    assert cell(ip, "x + 1").result == 2  # the kernel keeps working


def test_keyboard_interrupt_marks_interrupted(ip):
    result = cell(ip, "%%track stop\nnbtrack.log(loss=1.0)\nraise KeyboardInterrupt")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert only_run()["status"] == "interrupted"
    assert cell(ip, "%%track next\nnbtrack.log(loss=2.0)").success
    assert set(nbtrack.runs()["status"]) == {"interrupted", "finished"}


def test_every_execution_is_a_new_run_and_last_expression_displays(ip):
    for _ in range(2):
        result = cell(ip, "%%track same\nnbtrack.log(loss=1.0)\n40 + 2")
        assert result.result == 42
    df = nbtrack.runs(name="same")
    assert len(df) == 2 and df["id"].nunique() == 2


def test_wandb_style_init_inside_a_cell_returns_the_cell_run(ip):
    assert cell(ip, (
        "%%track cellrun\n"
        "run = nbtrack.init(config={'lr': 0.2}, tags=['w'])\n"
        "run.log({'loss': 1.0})\n"
        "nbtrack.log({'loss': 0.5})\n"
    )).success
    row = only_run()
    assert row["name"] == "cellrun" and row["config.lr"] == 0.2 and row["tags"] == ["w"]
    assert row["summary.loss"] == 0.5
    result = cell(ip, "%%track one\nnbtrack.init(name='two')")
    assert isinstance(result.error_in_exec, nbtrack.NbtrackError)
    assert "already run 'one'" in str(result.error_in_exec)


def test_no_active_run_after_the_cell_and_script_runs_still_work(ip):
    cell(ip, "%%track a\nnbtrack.log(loss=1.0)")
    assert nbtrack.active_run() is None
    cell(ip, "r = nbtrack.init(name='script')")
    cell(ip, "nbtrack.log(loss=2.0)")  # init in one cell, log in the next
    cell(ip, "%%track b\nnbtrack.log(loss=3.0)")
    cell(ip, "nbtrack.log(loss=4.0)")  # goes to 'script' again, not 'b'
    cell(ip, "nbtrack.finish()")
    df = nbtrack.runs().set_index("name")
    assert df.loc["script", "summary.loss"] == 4.0 and df.loc["b", "summary.loss"] == 3.0


def test_no_capture_and_help_and_ipython_syntax_inside(ip):
    cell(ip, "epochs = 2")
    assert cell(ip, "%%track plain --no-capture\nfor s in range(epochs):\n    nbtrack.log(a=s)").success
    assert not any(c.startswith("config.") for c in only_run().index)
    assert cell(ip, "%%track magics\n%time y = 1\nz = 2\nnbtrack.log(a=z)").success
    assert nbtrack.runs(name="magics").iloc[0]["config.z"] == 2
    assert cell(ip, "%%track?").success
    assert len(nbtrack.runs()) == 2


def test_run_cell_magic_fallback_and_reload(ip):
    ip.run_cell_magic("track", "fallback --tags f", "nbtrack.log(loss=1.0)\n")
    assert only_run()["tags"] == ["f"]
    ip.run_cell("%reload_ext nbtrack")
    assert cell(ip, "%%track after-reload\nnbtrack.log(loss=1.0)").success
    assert len(nbtrack.runs()) == 2
    assert track_module.transform in ip.input_transformers_cleanup
    assert ip.input_transformers_cleanup.count(track_module.transform) == 1


def test_tracking_failure_never_stops_the_cell(ip, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("store exploded")

    monkeypatch.setattr(track_module._run, "Run", broken)
    with pytest.warns(nbtrack.NbtrackWarning, match="cell runs untracked"):
        result = cell(ip, "%%track doomed\nx = 41 + 1\nx")
    assert result.success and result.result == 42


def test_overrides_keep_line_numbers():
    body = "a = 1\nlr = (0.1 +\n      0.2); b = lr\nraise ValueError\n"
    out = apply_overrides(parse_cell(body), {"lr": 0.5})
    assert out.splitlines() == ["a = 1", "lr = (0.5); b = lr", "", "raise ValueError"]
    assert apply_overrides(parse_cell("x = 'é'; lr = 1\n"), {"lr": 2}) == "x = 'é'; lr = 2\n"
