"""The ``nbtrack`` command, run as a real subprocess against a real store under tmp_path."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import nbtrack
from nbtrack.cli import duration, fit, text_width

LONG_NAME = "a very long run name that goes on and on well past the name column"
WIDE_NAME = "日本語のラン🚀"

# Runs written by another process through the public API, as a user would.
MAKE_RUNS = textwrap.dedent(
    f"""
    import nbtrack
    from IPython.testing.globalipapp import start_ipython

    with nbtrack.init("baseline", project="vision", config={{"lr": 0.1, "layers": [64, 32]}},
                      tags=["cnn"], notes="first try") as run:
        for step in range(10):
            run.log({{"loss": 1.0 / (step + 1), "acc": step / 10}}, step=step)
        run.log({{"loss": 0.125}}, step=9)
    try:
        with nbtrack.init("broken", project="vision", config={{"lr": 10.0}}) as run:
            run.log({{"loss": 99.0}})
            raise ValueError("exploding gradients")
    except ValueError:
        pass
    with nbtrack.init({LONG_NAME!r}, project="text") as run:
        run.log({{"loss": 0.5}})
    with nbtrack.init({WIDE_NAME!r}, project="text", tags=["unicode"]) as run:
        run.log({{"loss": 0.25}})

    ip = start_ipython()
    ip.run_line_magic("load_ext", "nbtrack")
    ip.run_cell("import nbtrack\\nmomentum = 0.9")
    result = ip.run_cell(
        "%%track cellrun --project vision\\n"
        "for step in range(3):\\n"
        "    nbtrack.log({{'loss': momentum / (step + 1)}}, step=step)\\n"
    )
    assert result.success, result
    """
)


def run_cli(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``nbtrack ARGS`` with NBTRACK_DIR=store, as a user runs it."""
    full_env = {**os.environ, "NBTRACK_DIR": str(store), "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "nbtrack.cli", *args], env=full_env, capture_output=True,
        text=True, encoding="utf-8", timeout=120, check=False,
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("nbtrack: ")
    return lines[0]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cli") / "store"
    env = {**os.environ, "NBTRACK_DIR": str(directory)}
    proc = subprocess.run(
        [sys.executable, "-c", MAKE_RUNS], env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return directory


def test_help_lists_subcommands(tmp_path: Path) -> None:
    proc = run_cli(tmp_path, "--help")
    assert proc.returncode == 0
    for name in ("ls", "show", "sql", "demo", "--store", "--version"):
        assert name in proc.stdout
    version = run_cli(tmp_path, "--version")
    assert version.stdout.strip() == f"nbtrack {nbtrack.__version__}"


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run_cli(tmp_path).returncode == 2
    bad = run_cli(tmp_path, "ls", "--limit", "0")
    assert bad.returncode == 2
    assert "at least 1" in bad.stderr


def test_ls_lists_runs_with_status_and_metrics(store: Path) -> None:
    proc = run_cli(store, "ls")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:6] == ["id", "name", "project", "status", "created", "duration"]
    assert "loss" in lines[0].split()
    rows = {line.split()[1]: line for line in lines[2:]}
    assert "finished" in rows["baseline"] and "0.125" in rows["baseline"]
    assert "failed" in rows["broken"] and "99" in rows["broken"].split()
    assert "cellrun" in rows
    assert lines[2].split()[1] == "cellrun"  # newest first


def test_ls_truncates_long_names_and_aligns_unicode(store: Path) -> None:
    lines = run_cli(store, "ls").stdout.splitlines()
    assert LONG_NAME not in "\n".join(lines)
    assert any("a very long run name" in line and "…" in line for line in lines)
    # The status column starts at the same terminal column on every row.
    starts = {text_width(line[: line.index(status)]) for line in lines[2:]
              for status in ("finished", "failed") if f" {status} " in line}
    assert len(starts) == 1, lines
    assert any(WIDE_NAME in line for line in lines)


def test_ls_filters_and_limit(store: Path) -> None:
    failed = run_cli(store, "ls", "--status", "failed").stdout
    assert "broken" in failed and "baseline" not in failed
    text = run_cli(store, "ls", "--project", "text").stdout
    assert WIDE_NAME in text and "baseline" not in text
    tagged = run_cli(store, "ls", "--tag", "cnn").stdout
    assert "baseline" in tagged and "broken" not in tagged
    limited = run_cli(store, "ls", "--limit", "2").stdout.splitlines()
    assert len(limited) == 2 + 2 + 1 and "--all" in limited[-1]
    assert len(run_cli(store, "ls", "--all").stdout.splitlines()) == 2 + 5


def test_ls_empty_store(tmp_path: Path) -> None:
    proc = run_cli(tmp_path / "nothing", "ls")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"no runs in {tmp_path / 'nothing'}"


def test_show_prints_config_summary_and_metrics(store: Path) -> None:
    proc = run_cli(store, "show", "baseline")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.splitlines()[0] == "baseline"
    python = ".".join(map(str, sys.version_info[:3]))
    for expected in ("status    finished", "project   vision", "tags      cnn",
                     "notes     first try", "lr = 0.1", "layers = [64, 32]", "loss = 0.125",
                     "acc = 0.9", f"python    {python}"):
        assert expected in out, expected
    metrics = out.split("\nmetrics\n")[1].splitlines()[2:]
    metric_rows = {line.split()[0]: line.split()[1:] for line in metrics if line.strip()}
    assert metric_rows["loss"] == ["11", "0-9"]  # step 9 logged twice
    assert metric_rows["acc"] == ["10", "0-9"]


def test_show_failed_run_prints_the_error(store: Path) -> None:
    out = run_cli(store, "show", "broken").stdout
    assert "status    failed" in out
    assert "Traceback (most recent call last)" in out
    assert "ValueError: exploding gradients" in out


def test_show_cell_run_prints_source(store: Path) -> None:
    out = run_cli(store, "show", "cellrun").stdout
    assert "momentum = 0.9" in out  # inferred config, not declared
    assert "cell      In [" in out
    source = out.split("\nsource\n")[1]
    assert "nbtrack.log({'loss': momentum / (step + 1)}, step=step)" in source


def test_show_by_id_and_json(store: Path) -> None:
    run_id = nbtrack.runs(store=store, name="baseline")["id"][0]
    record = json.loads(run_cli(store, "show", run_id, "--json").stdout)
    assert record["name"] == "baseline" and record["id"] == run_id
    assert record["config"] == {"lr": 0.1, "layers": [64, 32]}
    assert record["summary"]["loss"] == 0.125
    assert record["created_at"].endswith("Z")
    assert {m["key"]: m["points"] for m in record["metrics"]} == {"loss": 11, "acc": 10}


def test_show_unknown_run_is_one_line(store: Path) -> None:
    line = one_line_error(run_cli(store, "show", "no-such-run"))
    assert "no-such-run" in line and str(store) in line


def test_sql_table_and_csv(store: Path) -> None:
    query = "SELECT name, status FROM runs WHERE project = 'vision' ORDER BY name"
    table = run_cli(store, "sql", query).stdout.splitlines()
    assert table[0].split() == ["name", "status"]
    assert [line.split() for line in table[2:]] == [
        ["baseline", "finished"], ["broken", "failed"], ["cellrun", "finished"]]
    rows = list(csv.DictReader(io.StringIO(run_cli(store, "sql", query, "--csv").stdout)))
    assert [row["name"] for row in rows] == ["baseline", "broken", "cellrun"]
    points = run_cli(store, "sql", "SELECT count(*) AS n FROM metrics m JOIN runs r "
                     "ON r.id = m.run_id WHERE r.name = 'baseline' AND m.key = 'loss'").stdout
    assert points.split()[-1] == "11"


def test_bad_sql_is_one_line(store: Path) -> None:
    line = one_line_error(run_cli(store, "sql", "SELEC name FROM runs"))
    assert "syntax error" in line.lower()
    one_line_error(run_cli(store, "sql", "SELECT nope FROM runs"))
    one_line_error(run_cli(store, "sql", "DELETE FROM runs"))
    assert len(nbtrack.runs(store=store)) == 5


def test_unreadable_store_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "nbtrack.duckdb").write_text("not a database")
    line = one_line_error(run_cli(tmp_path / "broken", "ls"))
    assert str(tmp_path / "broken") in line
    (tmp_path / "file").write_text("")
    assert "not a directory" in one_line_error(run_cli(tmp_path / "file", "ls"))


def test_store_option_beats_the_environment(store: Path, tmp_path: Path) -> None:
    out = run_cli(tmp_path / "elsewhere", "--store", str(store), "ls").stdout
    assert "baseline" in out
    assert "baseline" in run_cli(tmp_path / "elsewhere", "ls", "--store", str(store)).stdout


def test_demo_creates_finished_runs(tmp_path: Path) -> None:
    store = tmp_path / "demo-store"
    proc = run_cli(store, "demo", "--runs", "4", "--steps", "30", "--project", "try")
    assert proc.returncode == 0, proc.stderr
    assert "best run: lr=1 " in proc.stdout
    assert str(store) in proc.stdout
    runs = nbtrack.runs("try", store=store)
    assert len(runs) == 4 and set(runs["status"]) == {"finished"}
    assert sorted(runs["config.lr"]) == [0.01, 0.0464, 0.215, 1.0]
    history = nbtrack.history(runs, keys=["loss", "acc"], store=store)
    assert history.groupby(["run_id", "key"]).size().eq(30).all()
    assert len(history) == 4 * 2 * 30
    best = runs.sort_values("summary.loss").iloc[0]
    assert best["name"] in proc.stdout.split("best run:")[1]


def test_demo_defaults(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "demo").returncode == 0
    runs = nbtrack.runs(store=tmp_path)
    assert len(runs) == 3 and set(runs["project"]) == {"demo"}
    assert nbtrack.run_record(runs["id"][0], store=tmp_path)["metrics"][0]["points"] == 200


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0123, "12 ms"), (1.234, "1.2 s"), (184, "3m 04s"), (3720, "1h 02m"),
     (2 * 86400 + 3 * 3600, "2d 03h"), (None, "—"), (float("nan"), "—")],
)
def test_duration(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


def test_fit_counts_wide_characters() -> None:
    assert fit("abcdef", 4) == "abc…"
    assert fit("日本語", 6) == "日本語"
    assert fit("日本語", 5) == "日本…"
    assert text_width(fit("日本語テキスト", 7)) <= 7
