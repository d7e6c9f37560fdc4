"""`import nbtrack` and `%load_ext nbtrack` stay light: heavy dependencies load on use."""

from __future__ import annotations

import json

from helpers import run_python

HEAVY = ["duckdb", "pandas", "numpy", "pyarrow", "IPython", "ipywidgets", "anywidget",
         "pynvml", "optuna", "dask", "altair", "psutil"]


def loaded_after(code: str) -> list[str]:
    probe = f"\nimport sys, json\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    proc = run_python(code + probe)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_nbtrack_loads_no_heavy_dependency():
    assert loaded_after("import nbtrack") == []


def test_load_ext_loads_only_ipython():
    code = (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        "ip.run_cell('%load_ext nbtrack')\n"
        "assert 'track' in ip.magics_manager.magics['cell']\n"
    )
    assert loaded_after(code) == ["IPython"]


def test_store_libraries_load_when_first_used(tmp_path):
    code = (
        "import nbtrack, nbtrack.writer\n"
        "nbtrack.writer.FOLD_EVERY = 3600  # no background fold before the probe\n"
        f"run = nbtrack.init(name='x', dir={str(tmp_path)!r})\n"
        "run.log({'a': 1.0})\n"
        "run.finish()\n"
    )
    # A short run is saved without DuckDB or pandas (a quick script, a sweep trial; numpy
    # loads in the writer's thread, beside the caller) ...
    assert not {"duckdb", "pandas"} & set(loaded_after(code))
    # ... and a read loads them.
    assert {"duckdb", "numpy"} <= set(loaded_after(code + f"nbtrack.runs(store={str(tmp_path)!r})\n"))
