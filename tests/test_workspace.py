"""``nbtrack.workspace()``: the output that asks JupyterLab to open the runs workspace.

What the tab shows is tested in a real JupyterLab (``ui-tests/tests/workspace.spec.ts``,
run by ``tests/test_sidebar_ui.py``); here, what the kernel sends: the MIME bundle, the
store it names, and the errors for a store JupyterLab could not find.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import nbtrack
from nbtrack.errors import NbtrackError

MIME = "application/vnd.nbtrack.workspace+json"


def test_shown_in_ipython_it_sends_the_workspace_request_with_text_fallbacks(tmp_path, monkeypatch):
    from IPython.core.formatters import DisplayFormatter

    monkeypatch.chdir(tmp_path)
    shown, _ = DisplayFormatter().format(nbtrack.workspace(project="mnist"))
    request = shown[MIME]
    assert request["store"] is None and request["near"] == ".nbtrack" and request["project"] == "mnist"
    assert isinstance(request["at"], int) and len(request["id"]) == 32
    json.dumps(request)  # goes over the wire as JSON
    # Classic Notebook, nbconvert and terminals get text saying where the workspace is.
    assert "nbtrack runs workspace" in shown["text/plain"]
    assert shown["text/html"].startswith("<p><code>") and "&lt;" in shown["text/html"]
    # Each call is its own request: a re-rendered output does not open the tab twice.
    assert nbtrack.workspace()._repr_mimebundle_()[MIME]["id"] != request["id"]


def test_the_kernels_store_is_named_relative_to_its_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NBTRACK_DIR", str(tmp_path / "runs" / "store"))
    assert nbtrack.workspace().request["near"] == "runs/store"
    monkeypatch.setenv("NBTRACK_DIR", str(tmp_path.parent / "elsewhere"))
    assert nbtrack.workspace().request["near"] is None  # outside: the sidebar's store
    given = nbtrack.workspace("exp/.nbtrack").request
    assert (given["store"], given["near"]) == ("exp/.nbtrack", None)


@pytest.mark.parametrize("store", ["/abs/.nbtrack", "../up/.nbtrack", "~/x", "postgresql://h/db", " ", 3])
def test_a_store_jupyterlab_cannot_find_is_refused_with_what_to_pass(store):
    with pytest.raises(NbtrackError, match="store="):
        nbtrack.workspace(store)


def test_importing_the_module_first_leaves_nbtrack_workspace_callable():
    code = ("import nbtrack.workspace, nbtrack; from nbtrack.workspace import WORKSPACE_MIME; "
            "print(WORKSPACE_MIME in nbtrack.workspace(project='p')._repr_mimebundle_())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent)
    assert out.stdout.strip() == "True"
