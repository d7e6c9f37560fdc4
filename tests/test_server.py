"""The sidebar's REST API (nbtrack.server) in a real Jupyter server, through pytest-jupyter.

Stores are real DuckDB files under the server's root; runs are logged with the public API
(and by a second process for the read-while-writing case).
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import psutil
import pytest

pytest.importorskip("jupyter_server")
pytest.importorskip("pytest_jupyter")

from helpers import start_python
from pytest_jupyter.jupyter_server import *  # noqa: F403 - fixtures for this module only
from tornado.httpclient import HTTPClientError
from traitlets.config import Config

import nbtrack
from nbtrack.server import reads
from nbtrack.server.paths import Root

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def jp_server_config() -> Config:
    return Config({"ServerApp": {"jpserver_extensions": {"nbtrack.server": True}}})


@pytest.fixture
def root(jp_root_dir: Path) -> Path:
    return Path(jp_root_dir)


@pytest.fixture
def api(jp_fetch: Any, jp_asyncio_loop: Any) -> Any:
    """``api(path, params=..., body=..., expect=200)`` -> decoded JSON (sync, drives the server's loop)."""

    def call(path: str, params: dict[str, Any] | None = None, body: Any = None,
             expect: int = 200, **kwargs: Any) -> Any:
        options: dict[str, Any] = {"params": params or {}, **kwargs}
        if body is not None:
            options.update(method="POST", body=json.dumps(body))
        try:
            response = jp_asyncio_loop.run_until_complete(jp_fetch("nbtrack", path, **options))
        except HTTPClientError as exc:
            assert exc.code == expect, exc.response.body if exc.response else exc
            return json.loads(exc.response.body) if exc.response else None
        assert response.code == expect
        assert response.headers["Content-Type"].startswith("application/json")
        return json.loads(response.body)

    return call


def _log(store: Path, name: str, config: dict[str, Any], steps: int = 20, **kwargs: Any) -> str:
    run = nbtrack.init(name=name, dir=str(store), config=config, **kwargs)
    for step in range(steps):
        run.log({"loss": config.get("lr", 0.1) * 10 / (step + 1), "acc": step / steps}, step=step)
    run.finish()
    return run.id


@pytest.fixture
def lab(root: Path) -> dict[str, Any]:
    """A notebook folder ``exp`` with a store of three runs; a second store in ``other/deep``."""
    store = root / "exp" / ".nbtrack"
    ids = {
        "base": _log(store, "baseline", {"lr": 0.1, "opt": "sgd"}, project="mnist", tags=["cnn"]),
        "high": _log(store, "high-lr", {"lr": 0.5, "opt": "sgd"}, project="mnist", tags=["cnn", "big"]),
        "xss": _log(store, XSS, {"lr": 0.2, "opt": "adam"}, project="cifar", notes="<script>x</script>"),
    }
    _log(root / "other" / "deep" / ".nbtrack", "elsewhere", {"lr": 1.0})
    nbtrack._run.flush_all()  # in the store files, as a kernel's runs are a second later
    return {"store": "exp/.nbtrack", "ids": ids}


# ------------------------------------------------------------------------------ reading
def test_stores_are_found_under_a_folder_of_the_root(api, lab):
    found = api("stores", {"dir": ""})
    assert found["stores"] == ["exp/.nbtrack", "other/deep/.nbtrack"]
    assert api("stores", {"dir": "exp"}) == {"dir": "exp", "default": "exp/.nbtrack",
                                             "stores": ["exp/.nbtrack"], "team": None}
    assert api("stores", {"dir": "", "depth": "1"})["stores"] == ["exp/.nbtrack"]
    assert api("stores", {"dir": "nope"}, expect=404)["message"].startswith("no folder")


def test_runs_list_with_times_status_tags_and_summary_metrics(api, lab):
    answer = api("runs", {"store": lab["store"]})
    assert (answer["total"], answer["running"], answer["exists"]) == (3, 0, True)
    assert [r["name"] for r in answer["runs"]] == [XSS, "high-lr", "baseline"]  # newest first
    assert answer["metrics"] == ["acc", "loss"] and answer["summary_keys"] == ["acc", "loss"]
    run = answer["runs"][1]
    assert run["status"] == "finished" and run["tags"] == ["cnn", "big"] and run["project"] == "mnist"
    assert run["created_at"].endswith("Z") and run["ended_at"] >= run["created_at"]
    assert run["duration"] >= 0
    assert run["metrics"] == {"acc": 19 / 20, "loss": pytest.approx(0.5 * 10 / 20)}
    # User text comes back as data, unchanged; escaping is the panel's job (textContent).
    assert answer["runs"][0]["name"] == XSS and answer["runs"][0]["notes"] == "<script>x</script>"


def test_runs_search_filter_sort_and_limit(api, lab):
    def names(**params: str) -> list[str]:
        return [r["name"] for r in api("runs", {"store": lab["store"], **params})["runs"]]

    assert names(q="BIG") == ["high-lr"]                      # a tag, any case
    assert names(q="cnn base") == ["baseline"]                # every word must match
    assert names(q="script") == [XSS]                         # notes
    assert names(q="%") == [] and names(q="_") == []          # no wildcards
    assert names(project="mnist", sort="name") == ["baseline", "high-lr"]
    assert names(sort="summary.loss") == ["baseline", XSS, "high-lr"]
    assert names(sort="-summary.loss") == ["high-lr", XSS, "baseline"]
    assert names(sort="-created_at", limit="1") == [XSS]
    assert names(status="running") == []
    assert api("runs", {"store": lab["store"], "limit": "1"})["total"] == 3
    assert api("runs", {"store": lab["store"], "metrics": "loss"})["runs"][0]["metrics"].keys() == {"loss"}
    assert api("runs", {"store": lab["store"], "sort": "-summary.loss"})["metrics"] == ["loss", "acc"]
    assert "cannot sort" in api("runs", {"store": lab["store"], "sort": "id; DROP TABLE x"},
                                expect=400)["message"]
    assert "unknown status" in api("runs", {"store": lab["store"], "status": "x"}, expect=400)["message"]
    assert names(status="interrupted,pruned") == [] and names(status="crashed,finished") != []


def test_runs_list_names_every_status_for_the_filter(api, lab):
    from nbtrack._run import STATUSES

    assert api("runs", {"store": lab["store"]})["statuses"] == list(STATUSES)
    assert len(STATUSES) == 6


def test_a_folder_without_a_store_is_an_empty_list_not_an_error(api, root, lab):
    (root / "fresh").mkdir()
    answer = api("runs", {"store": "fresh/.nbtrack"})
    assert (answer["runs"], answer["exists"]) == ([], False)
    assert not (root / "fresh" / ".nbtrack").exists()  # reading never creates a store


def test_projects(api, lab):
    projects = api("projects", {"store": lab["store"]})["projects"]
    assert [(p["name"], p["runs"], p["running"]) for p in projects] == [("cifar", 1, 0), ("mnist", 2, 0)]


def test_one_run_with_its_notebook_under_the_root(api, root, lab):
    notebook = root / "exp" / "train.ipynb"
    notebook.write_text("{}")
    store = root / "exp" / ".nbtrack"
    with nbtrack.init(name="from-nb", dir=str(store)) as run:
        run.log({"loss": 1.0})
    from nbtrack.store import get_store

    with get_store(str(store)).write() as con:  # as a kernel would have recorded it
        con.execute("UPDATE run_records SET notebook_path = ?, execution_count = 7 WHERE id = ?",
                    [str(notebook), run.id])
        con.execute("UPDATE run_records SET notebook_path = '/elsewhere/x.ipynb' WHERE id = ?",
                    [lab["ids"]["base"]])
    record = api("run", {"store": lab["store"], "id": run.id})
    assert (record["notebook"], record["execution_count"]) == ("exp/train.ipynb", 7)
    assert "notebook_path" not in record and record["metrics"][0]["key"] == "loss"
    assert api("run", {"store": lab["store"], "id": lab["ids"]["base"]})["notebook"] is None
    listed = {r["id"]: r["notebook"] for r in api("runs", {"store": lab["store"]})["runs"]}
    assert listed[run.id] == "exp/train.ipynb"
    assert api("run", {"store": lab["store"], "id": "nope"}, expect=404)["message"].startswith("no run")


def _datasets(spec: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return list(spec.get("datasets", {}).values())


def test_charts_are_the_chart_modules_specs_with_data_inline_and_downsampled(api, root, lab):
    store = root / "exp" / ".nbtrack"
    long_id = _log(store, "long", {"lr": 0.3}, steps=5000)
    ids = f"{lab['ids']['base']},{long_id}"
    answer = api("charts", {"store": lab["store"], "runs": ids, "max_points": "100"})
    assert answer["keys"] == ["acc", "loss"] and answer["shown"] == ["acc", "loss"]
    spec = answer["spec"]
    assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
    assert "vconcat" in spec  # one chart per metric, stacked for a narrow sidebar
    rows = [row for data in _datasets(spec) for row in data]
    assert {row["run"] for row in rows} == {"baseline", "long"}
    long_loss = [r for r in rows if r["run"] == "long" and r["key"] == "loss"]
    assert 50 <= len(long_loss) <= 100  # 5000 points, downsampled in SQL
    assert answer["points"] <= 2 * 2 * 100
    one = api("charts", {"store": lab["store"], "runs": ids, "keys": "loss", "width": "200"})
    (chart,) = one["spec"]["hconcat"]
    assert one["shown"] == ["loss"] and (chart["title"], chart["width"]) == ("loss", 200)
    assert api("charts", {"store": lab["store"], "runs": "nope"}, expect=404)["message"].startswith("no run")
    assert api("charts", {"store": lab["store"], "runs": ""}, expect=400)
    assert api("charts", {"store": lab["store"], "runs": ",".join(["a"] * 21)}, expect=400)


def test_the_runs_list_gives_each_run_the_colour_its_curves_have(api, lab):
    """The swatch beside a run in the list is the colour of its line in every chart."""
    listed = {r["id"]: r["color"] for r in api("runs", {"store": lab["store"]})["runs"]}
    assert all(isinstance(c, str) and len(c) == 7 and c.startswith("#") for c in listed.values())
    assert len(set(listed.values())) == 3  # three runs, three colours
    base, high = lab["ids"]["base"], lab["ids"]["high"]
    answer = api("charts", {"store": lab["store"], "runs": f"{base},{high}", "layout": "sections"})
    chart = answer["sections"][0]["charts"][0]["spec"]
    scales = [layer["encoding"]["color"]["scale"] for layer in chart["layer"]
              if "color" in layer.get("encoding", {}) and "scale" in layer["encoding"]["color"]]
    drawn = dict(zip(scales[0]["domain"], scales[0]["range"]))
    assert drawn == {"baseline": listed[base], "high-lr": listed[high]}
    # A filtered list keeps each run's colour (given over the project, not the rows shown).
    only = api("runs", {"store": lab["store"], "q": "high"})["runs"]
    assert [r["color"] for r in only] == [listed[high]]


def _params(spec: Any) -> list[str]:
    found: list[str] = []
    if isinstance(spec, dict):
        found += [p.get("name", "") for p in spec.get("params", []) if isinstance(p, dict)]
        for value in spec.values():
            found += _params(value)
    elif isinstance(spec, list):
        for value in spec:
            found += _params(value)
    return found


@pytest.fixture
def sections_run(root: Path) -> dict[str, Any]:
    """Two runs with train/ and val/ metrics, system metrics (one constant) and a plain loss."""
    store = root / "sec" / ".nbtrack"
    ids = []
    for name, lr in (("a", 0.1), ("b", 0.2)):
        run = nbtrack.init(name=name, dir=str(store), config={"lr": lr})
        for step in range(12):
            run.log({"loss": lr / (step + 1), "train/acc": step * lr, "val/loss": 1 - step * lr / 20},
                    step=step)
            run.log_system({"cpu_percent": 30.0 + step, "ram_total_gb": 16.0})
        run.finish()
        ids.append(run.id)
    nbtrack._run.flush_all()
    return {"store": "sec/.nbtrack", "ids": ids}


def test_charts_come_in_sections_by_prefix_system_against_time_constants_listed(api, sections_run):
    answer = api("charts", {"store": sections_run["store"], "runs": ",".join(sections_run["ids"]),
                            "layout": "sections", "width": "300"})
    assert "spec" not in answer
    sections = answer["sections"]
    assert [(s["name"], s["x"]) for s in sections] == [("", "step"), ("train", "step"), ("val", "step"),
                                                       ("system", "relative")]
    assert [[c["key"] for c in s["charts"]] for s in sections] == [
        ["loss"], ["train/acc"], ["val/loss"], ["system/cpu_percent"]]
    assert sections[3]["constants"] == {"system/ram_total_gb": 16.0}  # a value, not a chart
    assert answer["shown"] == ["loss", "train/acc", "val/loss", "system/cpu_percent"]
    # The run list's summary columns are results, not the machine's metrics (unless sorted by one).
    assert api("runs", {"store": sections_run["store"]})["metrics"] == ["loss", "train/acc", "val/loss"]
    by_cpu = api("runs", {"store": sections_run["store"], "sort": "-summary.system/cpu_percent"})
    assert by_cpu["metrics"][0] == "system/cpu_percent"
    loss, cpu = sections[0]["charts"][0]["spec"], sections[3]["charts"][0]["spec"]
    # Each chart fills its container, and carries the chart layer's crosshair and zoom.
    assert loss["width"] == "container" and loss["config"]["view"]["continuousWidth"] == 300
    names = _params(loss)
    assert any(n.startswith("hover_") for n in names) and any(n.startswith("zoom_") for n in names)
    x_titles = {layer["encoding"]["x"].get("title") for layer in cpu["layer"]
                if "x" in layer.get("encoding", {})}
    assert x_titles == {"relative time (s)"}
    # The view's drawing options reach the chart layer: log scale, smoothing, another x.
    one = {"store": sections_run["store"], "runs": sections_run["ids"][0]}
    drawn = api("charts", {**one, "layout": "sections", "keys": "loss", "log": "1", "smoothing": "0.5",
                           "x": "wall"})
    (section,) = drawn["sections"]
    layers = section["charts"][0]["spec"]["layer"]
    assert any(layer["encoding"].get("y", {}).get("scale", {}).get("type") == "log" for layer in layers)
    assert any(layer["encoding"].get("y", {}).get("field") == "smoothed" for layer in layers)
    assert any(layer["encoding"].get("x", {}).get("type") == "temporal" for layer in layers)
    assert api("charts", {**one, "layout": "tiles"}, expect=400)["message"].startswith("layout must be")
    assert api("charts", {**one, "smoothing": "lots"}, expect=400)["message"].startswith("smoothing must be")


def test_a_sweeps_runs_get_parallel_coordinates(api, root):
    from nbtrack._run import Run

    store = root / "sw" / ".nbtrack"
    for trial, lr in enumerate([0.001, 0.3, 0.01, 0.1]):
        run = Run(f"trial-{trial}", project="search", sweep_id="sw-1", dir=str(store),
                  config={"lr": lr, "batch": [16, 32][trial % 2]})
        run.log({"val_loss": abs(lr - 0.05)}, step=0)
        run.finish()
    Run("loner", dir=str(store), config={"lr": 1.0}).finish()
    nbtrack._run.flush_all()
    answer = api("sweep", {"store": "sw/.nbtrack", "id": "sw-1", "width": "500"})
    assert (answer["sweep"], answer["metric"], answer["trials"]) == ("sw-1", "val_loss", 4)
    assert sorted(answer["params"]) == ["batch", "lr"]
    spec = answer["spec"]
    assert spec["title"] == "val_loss by hyperparameter" and spec["width"] == 500
    axes = {row["axis"] for data in _datasets(spec) for row in data if "axis" in row}
    assert axes == {"lr", "batch", "val_loss"}
    assert api("sweep", {"store": "sw/.nbtrack", "id": "nope"}, expect=404)["message"].startswith("no run")
    assert api("sweep", {"store": "sw/.nbtrack"}, expect=400)["message"].startswith("say which sweep")


def test_diff_of_two_runs_and_of_three(api, lab):
    base, high, xss = lab["ids"]["base"], lab["ids"]["high"], lab["ids"]["xss"]
    two = api("diff", {"store": lab["store"], "runs": f"{base},{high}"})
    assert [r["name"] for r in two["runs"]] == ["baseline", "high-lr"]
    assert two["config"] == [{"key": "lr", "values": [0.1, 0.5]}]
    assert [row["key"] for row in two["summary"]] == ["loss"]
    assert two["source"] == ""  # same (no) code
    three = api("diff", {"store": lab["store"], "runs": f"{base},{high},{xss}"})
    assert three["config"] == [{"key": "lr", "values": [0.1, 0.5, 0.2]},
                               {"key": "opt", "values": ["sgd", "sgd", "adam"]}]
    assert three["source"] is None
    assert api("diff", {"store": lab["store"], "runs": base}, expect=400)
    assert api("diff", {"store": lab["store"], "runs": f"{base},zzz"}, expect=404)


# ------------------------------------------------------------------------------ paths
@pytest.mark.parametrize(("store", "status"), [
    ("../outside/.nbtrack", 403),
    ("exp/../../outside/.nbtrack", 403),
    ("/etc", 400),
    ("~/x", 400),
    ("", 400),
])
def test_paths_outside_the_root_are_refused(api, lab, store, status):
    for path in ("runs", "projects"):
        assert "message" in api(path, {"store": store}, expect=status)
    assert api("stores", {"dir": store or "/"}, expect=status if store else 400)
    assert api("runs/delete", body={"store": store, "ids": [lab["ids"]["base"]]}, expect=status)
    assert api("report", body={"store": store}, expect=status)


def test_a_symlink_out_of_the_root_is_refused(api, root, tmp_path, lab):
    outside = tmp_path / "outside"
    _log(outside / ".nbtrack", "secret", {"lr": 1})
    (root / "link").symlink_to(outside, target_is_directory=True)
    assert "outside" in api("runs", {"store": "link/.nbtrack"}, expect=403)["message"]
    assert "link/.nbtrack" not in api("stores", {"dir": ""})["stores"]


def test_writes_need_an_existing_store(api, root, lab):
    (root / "empty").mkdir()
    assert api("runs/x/rename", body={"store": "empty/.nbtrack", "name": "y"}, expect=404)
    assert not (root / "empty" / ".nbtrack").exists()
    (root / "file.txt").write_text("x")
    assert "is a file" in api("runs", {"store": "file.txt"}, expect=400)["message"]


# ------------------------------------------------------------------------------ changes
def test_rename_tags_notes_delete_and_restore(api, lab):
    store, base = lab["store"], lab["ids"]["base"]
    assert api(f"runs/{base}/rename", body={"store": store, "name": "renamed <b>"}) == {
        "id": base, "name": "renamed <b>"}
    assert api(f"runs/{base}/tags", body={"store": store, "tags": ["a", "b", "a"]})["tags"] == ["a", "b"]
    assert api(f"runs/{base}/notes", body={"store": store, "notes": "note"})["notes"] == "note"
    run = api("run", {"store": store, "id": base})
    assert (run["name"], run["tags"], run["notes"]) == ("renamed <b>", ["a", "b"], "note")
    assert api(f"runs/{base}/rename", body={"store": store, "name": "  "}, expect=400)
    assert api(f"runs/{base}/tags", body={"store": store, "tags": "a"}, expect=400)
    assert api("runs/zzz/rename", body={"store": store, "name": "x"}, expect=404)
    assert api(f"runs/{base}/rename", body=["not", "an", "object"], expect=400)

    gone = api("runs/delete", body={"store": store, "ids": [base, lab["ids"]["high"]]})["ids"]
    assert sorted(gone) == sorted([base, lab["ids"]["high"]])
    assert [r["name"] for r in api("runs", {"store": store})["runs"]] == [XSS]
    assert sorted(api("runs/restore", body={"store": store, "ids": gone})["ids"]) == sorted(gone)
    assert api("runs", {"store": store})["total"] == 3
    assert api("runs/delete", body={"store": store, "ids": []}, expect=400)


def test_export_report_next_to_the_store(api, root, lab):
    answer = api("report", body={"store": lab["store"], "runs": [lab["ids"]["base"], lab["ids"]["xss"]],
                                 "title": "two runs"})
    path = root / answer["path"]
    assert answer["path"].startswith("exp/nbtrack-report-") and path.suffix == ".html"
    page = path.read_text()
    assert "two runs" in page and "baseline" in page
    assert XSS not in page  # escaped in the page
    everything = api("report", body={"store": lab["store"], "project": "mnist"})
    assert (root / everything["path"]).is_file()


def test_a_report_opens_in_a_new_tab_with_the_login_cookie_alone(
        http_server_client, jp_asyncio_loop, jp_serverapp, jp_base_url, api, lab):
    """The sidebar's "open in a new tab": a new tab sends the login cookie, no Referer and no
    _xsrf. Jupyter's /files/ refuses that; nbtrack's report/file serves the page."""
    answer = api("report", body={"store": lab["store"], "title": "a report for a tab"})
    fetch = http_server_client.fetch

    def go(path: str, **kwargs: Any) -> Any:
        try:
            return jp_asyncio_loop.run_until_complete(fetch(jp_base_url + path, **kwargs))
        except HTTPClientError as exc:
            return exc.response

    login = go("nbtrack/stores?" + urllib.parse.urlencode({"token": jp_serverapp.identity_provider.token}))
    cookie = "; ".join(c.split(";")[0] for c in login.headers.get_list("Set-Cookie"))
    tab = {"Cookie": cookie}
    files = go("files/" + urllib.parse.quote(answer["path"]), headers=tab)
    assert files.code == 403 and b"unknown origin" in files.body  # what the old link got
    page = go("nbtrack/report/file?" + urllib.parse.urlencode({"path": answer["path"]}), headers=tab)
    assert page.code == 200, page.body[:300]
    assert page.headers["Content-Type"].startswith("text/html")
    assert "sandbox allow-scripts" in page.headers["Content-Security-Policy"]
    assert "default-src 'none'" not in page.headers["Content-Security-Policy"]  # its charts may draw
    assert b"a report for a tab" in page.body and XSS.encode() not in page.body
    for path, code in ((lab["store"] + "/nbtrack.duckdb", 403), ("../outside.html", 403),
                       ("exp/missing.html", 404)):
        refused = go("nbtrack/report/file?" + urllib.parse.urlencode({"path": path}), headers=tab)
        assert refused.code == code, (path, refused.code)
    anonymous = go("nbtrack/report/file?" + urllib.parse.urlencode({"path": answer["path"]}),
                   follow_redirects=False)
    assert anonymous.code in (302, 403)


# ------------------------------------------------------------------------------ auth
def test_every_route_needs_authentication(jp_fetch, jp_asyncio_loop, lab):
    def status(*parts: str, **kwargs: Any) -> int:
        try:
            return jp_asyncio_loop.run_until_complete(jp_fetch(*parts, **kwargs)).code
        except HTTPClientError as exc:
            return exc.code

    anonymous = {"Authorization": ""}
    for path in ("stores", "projects", "runs", "run", "charts", "diff", "sweep", "media", "media/file",
                 "artifacts"):
        assert status("nbtrack", path, params={"store": lab["store"]}, headers=anonymous) == 403
    for path in ("runs/delete", "runs/restore", f"runs/{lab['ids']['base']}/rename", "report"):
        assert status("nbtrack", path, method="POST", body=json.dumps({"store": lab["store"]}),
                      headers=anonymous) == 403


def test_a_post_with_a_login_cookie_but_no_xsrf_token_is_refused(
        http_server_client, jp_asyncio_loop, jp_serverapp, jp_base_url, lab):
    token = jp_serverapp.identity_provider.token
    run = lab["ids"]["base"]
    fetch = http_server_client.fetch

    def go(path: str, **kwargs: Any) -> Any:
        try:
            return jp_asyncio_loop.run_until_complete(fetch(jp_base_url + path, **kwargs))
        except HTTPClientError as exc:
            return exc.response

    # Log in with the token once, as a browser does; then only the cookie goes along.
    login = go("nbtrack/stores?" + urllib.parse.urlencode({"token": token}))
    assert login.code == 200
    cookie = "; ".join(c.split(";")[0] for c in login.headers.get_list("Set-Cookie"))
    assert go("nbtrack/stores", headers={"Cookie": cookie}).code == 200  # cookie login works
    body = json.dumps({"store": lab["store"], "name": "hijacked"})
    refused = go(f"nbtrack/runs/{run}/rename", method="POST", body=body, headers={"Cookie": cookie})
    assert refused.code == 403 and b"_xsrf" in refused.body
    xsrf = "0123456789abcdef" * 2
    allowed = go(f"nbtrack/runs/{run}/rename", method="POST", body=body,
                 headers={"Cookie": f"{cookie}; _xsrf={xsrf}", "X-XSRFToken": xsrf})
    assert allowed.code == 200
    store = str(Path(jp_serverapp.root_dir) / lab["store"])
    assert nbtrack.run_record(run, store=store)["name"] == "hijacked"


# ------------------------------------------------------------------------------ concurrency
def test_reads_while_a_kernel_logs(api, root):
    """The list answers while another process writes; the run shows as running, then finished."""
    store = root / "live" / ".nbtrack"
    writer = start_python(
        f"""
        import time, nbtrack
        run = nbtrack.init(name="live", dir={str(store)!r})
        for step in range(60):
            run.log({{"loss": 1 / (step + 1)}}, step=step)
            time.sleep(0.05)
        run.finish()
        """
    )
    try:
        seen: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            answer = api("runs", {"store": "live/.nbtrack"})
            seen += [r["status"] for r in answer["runs"]]
            if "finished" in seen:
                break
            if answer["running"]:
                charts = api("charts", {"store": "live/.nbtrack", "runs": answer["runs"][0]["id"]})
                assert charts["shown"] == ["loss"]
            time.sleep(0.1)
        assert writer.wait(timeout=60) == 0, writer.stderr.read() if writer.stderr else ""
    finally:
        if writer.poll() is None:
            writer.kill()
    assert "running" in seen and seen[-1] == "finished", seen


def test_a_held_store_lock_does_not_stall_the_server(jp_fetch, jp_asyncio_loop, root, lab):
    """A read waiting for the store's lock waits in a worker thread; other requests go on."""
    import asyncio

    holder = start_python(
        f"""
        import time
        from nbtrack.store import lock
        fd = lock.acquire({str(root / "exp" / ".nbtrack" / "nbtrack.lock")!r}, shared=False, timeout=10)
        print("locked", flush=True)
        time.sleep(2.5)
        lock.release(fd)
        """
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"

        async def both() -> tuple[float, float, int]:
            started = time.monotonic()
            slow = asyncio.ensure_future(jp_fetch("nbtrack", "runs", params={"store": lab["store"]}))
            await asyncio.sleep(0.2)
            quick = await jp_fetch("nbtrack", "stores", params={"dir": ""})
            assert quick.code == 200
            quick_done = time.monotonic() - started
            response = await slow
            return quick_done, time.monotonic() - started, response.code

        quick_done, slow_done, code = jp_asyncio_loop.run_until_complete(both())
    finally:
        holder.wait(timeout=30)
    assert code == 200
    assert quick_done < 1.5 < slow_done, (quick_done, slow_done)


def test_the_extension_is_listed_for_jupyter_server(jp_serverapp):
    manager = jp_serverapp.extension_manager
    assert "nbtrack.server" in manager.extensions
    assert manager.extensions["nbtrack.server"].enabled


def test_handlers_do_not_touch_the_core_import_rule():
    """The core stays free of Jupyter: only nbtrack.server imports it."""
    import subprocess
    import sys

    code = ("import sys, nbtrack, nbtrack.query, nbtrack.manage, nbtrack.diffing; "
            "print(any(m.startswith(('jupyter_server', 'tornado')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ}, check=True).stdout.strip()
    assert out == "False"


# ------------------------------------------------------------------------------ media and artifacts
@pytest.fixture
def media_run(root: Path) -> dict[str, Any]:
    """A run in ``exp/.nbtrack`` with images at steps 0 and 2, a histogram, a table and texts."""
    import numpy as np

    store = root / "exp" / ".nbtrack"
    run = nbtrack.init(name="pics", dir=str(store))
    for step in range(3):
        values: dict[str, Any] = {"weights": nbtrack.Histogram(np_histogram=([step, 1], [0.0, 0.5, 1.0])),
                                  "note": nbtrack.Text(f"{XSS} {step}")}
        if step != 1:
            values["samples"] = [nbtrack.Image(np.full((4, 7, 3), 40 * step, dtype=np.uint8), caption=XSS),
                                 nbtrack.Image(np.zeros((5, 3), dtype=np.uint8))]
        run.log(values, step=step)
    run.log({"preds": nbtrack.Table(columns=["i", XSS], data=[[i, XSS] for i in range(30)])}, step=2)
    run.finish()
    return {"store": "exp/.nbtrack", "id": run.id, "dir": store}


def _fetch(jp_fetch: Any, loop: Any, params: dict[str, Any]) -> Any:
    try:
        return loop.run_until_complete(jp_fetch("nbtrack", "media", "file", params=params))
    except HTTPClientError as exc:
        return exc.response if exc.response is not None else exc


def test_media_lists_keys_kinds_steps_and_the_histogram_chart(api, media_run):
    answer = api("media", {"store": media_run["store"], "id": media_run["id"], "width": "200"})
    assert answer["run"] == media_run["id"]
    keys = {k["key"]: k for k in answer["keys"]}
    assert [(k["key"], k["kind"]) for k in answer["keys"]] == [
        ("samples", "image"), ("weights", "histogram"), ("preds", "table"), ("note", "text")]
    images = keys["samples"]
    assert images["steps"] == [0, 2] and images["count"] == 4
    assert images["images"]["2"] == [{"idx": 0, "caption": XSS, "width": 7, "height": 4},
                                     {"idx": 1, "caption": None, "width": 3, "height": 5}]
    hist = keys["weights"]
    assert hist["steps"] == [0, 1, 2]
    assert hist["spec"]["mark"]["type"] == "rect" and hist["spec"]["width"] == 200
    rows = [r for data in _datasets(hist["spec"]) for r in data]
    assert sorted((r["step"], r["lo"], r["count"]) for r in rows) == [
        (0, 0.0, 0.0), (0, 0.5, 1.0), (1, 0.0, 1.0), (1, 0.5, 1.0), (2, 0.0, 2.0), (2, 0.5, 1.0)]
    table = keys["preds"]
    assert (table["columns"], table["total"], len(table["rows"])) == (["i", XSS], 30, 20)
    assert table["rows"][3] == [3, XSS]
    assert [s["step"] for s in keys["note"]["samples"]] == [2, 1, 0]
    assert keys["note"]["samples"][0] == {"step": 2, "text": f"{XSS} 2", "cut": 0}
    missing = api("media", {"store": media_run["store"], "id": "nope"}, expect=404)
    assert missing["message"].startswith("no run")
    assert api("media", {"store": media_run["store"]}, expect=400)


def test_media_file_serves_the_logged_image_and_nothing_else(jp_fetch, jp_asyncio_loop, media_run):
    base = {"store": media_run["store"], "id": media_run["id"], "key": "samples"}
    response = _fetch(jp_fetch, jp_asyncio_loop, {**base, "step": "2", "idx": "0"})
    assert response.code == 200
    stored = nbtrack.media(media_run["id"], "samples", store=str(media_run["dir"]))
    expected = stored[(stored["step"] == 2) & (stored["idx"] == 0)]["path"].iloc[0]
    assert response.body == Path(expected).read_bytes()
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    for params, code in [({**base, "step": "1", "idx": "0"}, 404),     # no image at step 1
                         ({**base, "step": "2", "idx": "5"}, 404),
                         ({**base, "key": "weights", "step": "0"}, 404),  # a histogram is no file
                         ({**base, "key": "../../../etc/passwd", "step": "0"}, 404),
                         ({**base, "id": "nope", "step": "0"}, 404),
                         ({**base, "step": "x"}, 400), ({**base}, 400),
                         ({**base, "store": "../x", "step": "0"}, 403)]:
        assert _fetch(jp_fetch, jp_asyncio_loop, params).code == code, params


def test_media_file_refuses_a_row_whose_path_leaves_the_store(jp_fetch, jp_asyncio_loop, root, media_run):
    import duckdb

    secret = root / "secret.png"
    secret.write_bytes(b"\x89PNG not yours")
    nbtrack._run.flush_all()  # the run is in the file, not only in pending segments
    con = duckdb.connect(str(media_run["dir"] / "nbtrack.duckdb"))
    con.execute("UPDATE media_points SET path = '../../secret.png' WHERE key = 'samples' AND step = 0")
    con.close()
    params = {"store": media_run["store"], "id": media_run["id"], "key": "samples", "step": "0", "idx": "0"}
    response = _fetch(jp_fetch, jp_asyncio_loop, params)
    assert response.code == 403
    assert b"not yours" not in (response.body or b"")


def test_artifacts_with_producer_consumers_and_aliases(api, root, lab, tmp_path):
    store = root / "exp" / ".nbtrack"
    model = tmp_path / "model.bin"
    model.write_bytes(b"w" * 100)
    maker = nbtrack.init(name=XSS, dir=str(store))
    maker.log_artifact(model, type="model", aliases=["best"])
    maker.finish()
    user = nbtrack.init(name="eval", dir=str(store))
    user.use_artifact("model.bin:best")
    user.finish()
    other = nbtrack.init(name="data", dir=str(store))
    other.log_artifact(tmp_path / "model.bin", name="unrelated", type="dataset")
    other.finish()

    everything = api("artifacts", {"store": lab["store"]})["artifacts"]
    assert [a["ref"] for a in everything] == ["model.bin:v0", "unrelated:v0"]
    first = everything[0]
    assert (first["type"], first["size"], first["files"], first["aliases"]) == ("model", 100, 1, ["best"])
    assert first["producer"] == {"id": maker.id, "name": XSS}
    assert first["consumers"] == [{"id": user.id, "name": "eval", "status": "finished"}]
    mine = api("artifacts", {"store": lab["store"], "id": user.id})["artifacts"]
    assert [a["ref"] for a in mine] == ["model.bin:v0"]
    assert api("artifacts", {"store": lab["store"], "id": lab["ids"]["base"]})["artifacts"] == []
    assert api("artifacts", {"store": lab["store"], "id": "nope"}, expect=404)


# ------------------------------------------------------------------------------ first time
def test_the_readme_quick_start_puts_the_demo_runs_where_the_sidebar_looks(tmp_path):
    """The README runs ``nbtrack demo`` in a folder, then opens a notebook of that folder in
    JupyterLab (which makes the folder Lab's root): the sidebar shows the notebook's store,
    ``.nbtrack`` next to it, so the demo must have written its runs there."""
    import re
    import shlex
    import subprocess
    import sys

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    quick = re.search(r"```bash\n(.*?)\n```", readme, re.S)
    assert quick, "the README starts with a bash quick start"
    line = quick.group(1)
    demo = re.search(r"\(cd (\S+) && nbtrack demo\)", line)
    lab = re.search(r"jupyter lab (\S+\.ipynb)", line)
    assert demo and lab, line
    notebook = Path(shlex.split(lab.group(1))[0])
    assert notebook.parent == Path(demo.group(1)), "the demo runs where Lab's notebook lives"

    folder = tmp_path / notebook.parent  # Lab's root: the notebook's folder
    folder.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "NBTRACK_DIR"}
    done = subprocess.run([sys.executable, "-m", "nbtrack.cli", "demo", "--runs", "2", "--steps", "5"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    root = Root(folder)
    store = root.store(".nbtrack")  # the sidebar's store for notebook.name at the root
    listed = reads.list_runs(store, root, reads.RunQuery())
    assert listed["exists"] and sorted(r["name"] for r in listed["runs"]) == ["lr=0.01", "lr=1"]


# ------------------------------------------------------------------------------ team store
def test_the_team_store_the_kernels_log_to_is_offered_and_read(api, root, pg_url, monkeypatch):
    """With NBTRACK_STORE=postgresql://... in the server's environment (its kernels log there),
    the sidebar is offered that store first and reads, charts, edits and reports it; a page
    cannot name another database."""
    monkeypatch.delenv("NBTRACK_DIR", raising=False)
    monkeypatch.setenv("NBTRACK_STORE", pg_url.replace("postgres@", "postgres:hidden@"))
    shown = pg_url.replace("postgres@", "postgres:***@")
    first = _log(pg_url, "on the team store", {"lr": 0.1}, project="team")
    _log(pg_url, "second", {"lr": 0.3}, project="team")
    found = api("stores", {"dir": ""})
    assert found["team"] == shown and found["stores"][0] == shown
    assert all("hidden" not in text for text in found["stores"])
    listed = api("runs", {"store": shown})
    assert [r["name"] for r in listed["runs"]] == ["second", "on the team store"]
    charts = api("charts", {"store": shown, "runs": first, "keys": "loss"})
    assert charts["points"] == 20
    api(f"runs/{first}/tags", body={"store": shown, "tags": ["shared"]})
    assert nbtrack.runs(store=pg_url).set_index("name").loc["on the team store", "tags"] == ["shared"]
    report = api("report", body={"store": shown, "runs": [first]})
    assert (root / report["path"]).is_file() and "on the team store" in (root / report["path"]).read_text()
    other = pg_url.rsplit("/", 1)[0] + "/postgres"
    assert api("runs", {"store": other}, expect=403)["message"]  # a URL the server was not given


# ------------------------------------------------------------------------- picture helper
def test_a_kernel_of_a_notebook_that_uses_nbtrack_gets_its_picture_helper_warm(api, runtime_dir,
                                                                              jp_kernel_dir):
    """The sidebar asks as such a notebook gets its kernel: the server starts this user's
    shared picture helper with that kernel's Python (the one its live cells will connect to,
    vl-convert warming meanwhile), once; nothing for a kernel that does not exist."""
    from nbtrack.charts import _render

    path = _render.socket_path()
    assert path is not None and not os.path.exists(path)  # none yet: this test's own folder
    assert api("pictures/warm", body={"kernel": "python3"}) == {"started": True}
    pid = _helper_pid(path)
    assert "--socket" in psutil.Process(pid).cmdline()  # the shared helper, alive after the ask
    assert api("pictures/warm", body={"kernel": "python3"}) == {"started": True}
    assert _helper_pid(path) == pid  # one helper per user and environment: found, not doubled
    _render.start()  # as a kernel's first live cell: it finds that helper
    assert _render.draw("svg", {"mark": "point"}).startswith("<svg")
    assert _render.helper_pid() == pid
    _render.stop()
    assert "no kernel named" in api("pictures/warm", body={"kernel": "no-such"}, expect=404)["message"]
    # A kernelspec that is not `python -m ipykernel` (a wrapper script): nothing is run with it.
    spec = jp_kernel_dir / "wrapped"
    spec.mkdir(parents=True)
    marker = runtime_dir / "wrapper-ran"
    wrapper = spec / "run.sh"
    wrapper.write_text(f"#!/bin/sh\ntouch {marker}\n")
    wrapper.chmod(0o755)
    (spec / "kernel.json").write_text(json.dumps({"argv": [str(wrapper), "-f", "{connection_file}"],
                                                  "display_name": "wrapped", "language": "python"}))
    answer = api("pictures/warm", body={"kernel": "wrapped", "path": "nb.ipynb"})
    assert answer["started"] is False and "ipykernel" in answer["why"] and not marker.exists()
    # As `python -m ipykernel install` writes it (an interpreter option before -m), from a
    # notebook in a folder: the same helper (the same Python), found.
    (jp_kernel_dir / "venv").mkdir()
    argv = [sys.executable, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (jp_kernel_dir / "venv" / "kernel.json").write_text(json.dumps({
        "argv": argv, "display_name": "venv", "language": "python", "env": {"SOME_PATH": "${HOME}/x"}}))
    assert api("pictures/warm", body={"kernel": "venv", "path": "exp/nb.ipynb"}) == {"started": True}
    assert _helper_pid(path) == pid
    assert api("pictures/warm", body={"kernel": 3}, expect=400)["message"]


def test_only_a_plain_python_kernelspec_is_run_to_warm_pictures():
    from nbtrack.server.handlers import kernel_python

    launch = ["-m", "ipykernel_launcher", "-f", "{connection_file}"]
    assert kernel_python(["python", *launch]) == [sys.executable]  # as jupyter_client reads it
    assert kernel_python(["/env/bin/python", "-Xfrozen_modules=off", *launch]) == [
        "/env/bin/python", "-Xfrozen_modules=off"]
    assert kernel_python(["/env/bin/python", "-E", "-s", *launch]) == ["/env/bin/python", "-E", "-s"]
    for argv in (["/kernel.sh", "-f", "{connection_file}"], ["conda", "run", "-n", "env", "python", *launch],
                 ["python", "-c", "evil()", *launch], ["python", "-m", "other_kernel"], ["python", "-m"],
                 ["R", "--slave", "-e", "IRkernel::main()"]):
        assert kernel_python(argv) is None, argv


def _helper_pid(path: str) -> int:
    """The process id the helper listening at ``path`` gives in its ready answer."""
    from nbtrack.charts._render_worker import listening_pid

    pid = listening_pid(path, timeout=30)
    assert pid is not None, f"no helper answered at {path}"
    return pid
