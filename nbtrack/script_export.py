"""``nbtrack export-script``: a ``%%track`` run as a standalone script (``python run.py``).

The script holds the earlier cells the run depended on and the cell itself, as Python (IPython
syntax turned into Python by IPython's own transformer, overrides applied), the run's config, and
a header with the Python and package versions it ran with and what cannot be reproduced.

Example
-------
>>> print(nbtrack.export_script("baseline"))  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Any

from .cellcode import apply_overrides, parse_cell
from .errors import NbtrackError
from .reproduce import problems, reproduce_record, untracked

__all__ = ["export_script"]

_SHIM = '''# This cell used IPython syntax (a magic or !cmd): run it through IPython, in this module.
from IPython.core.interactiveshell import InteractiveShell

_shell = InteractiveShell.instance(user_ns=globals())


def get_ipython():
    return _shell

'''


def export_script(run: Any, path: str | os.PathLike[str] | None = None, *, store: Any = None) -> str:
    """The script's text; written to ``path`` too when given.

    Example
    -------
    >>> nbtrack.export_script("baseline", "run.py")  # doctest: +SKIP
    """
    from .query import run_record

    record = run_record(getattr(run, "id", run), store=store)
    reproduce = reproduce_record(record)
    env = record.get("environment") or {}
    header = [
        "#!/usr/bin/env python",
        f"# Run {record['name']!r} ({record['id']}) of project {record.get('project')!r}, "
        "exported by `nbtrack export-script`.",
        "# Run it with: python run.py   (it records a new nbtrack run)",
        f"# Python {env.get('python') or '?'}; packages it had imported:",
        *(f"#   pip install {dist}=={version}" for dist, version in sorted(
            (env.get("packages") or {}).items())),
    ]
    for problem in problems(record):
        header.append(f"# NOTE: {problem}")
    body: list[str] = []
    setup = [f"import {module} as {name}" if module != name else f"import {module}"
             for name, module in sorted(reproduce.get("imports", {}).items())]
    setup += [f"{name} = {value!r}" for name, value in sorted(reproduce.get("restored", {}).items())]
    if setup:
        body += ["# Names no notebook cell defined, as recorded:", *setup, ""]
    for cell in reproduce.get("cells", []):
        body += [f"# --- notebook cell [{cell['execution_count']}]",
                 _python(untracked(cell["source"])).rstrip(), ""]
    code = parse_cell(_python(record["source"]))
    tags = [*record.get("tags", []), "exported"]
    body += [
        "# --- the tracked cell",
        "import nbtrack",
        "",
        f"run = nbtrack.init(name={record['name']!r}, project={record.get('project')!r}, "
        f"tags={tags!r},",
        f"                   config={record.get('config') or {}!r})",
        apply_overrides(code, reproduce.get("overrides") or {}).rstrip(),
        "run.finish()",
        "",
    ]
    text = "\n".join(header) + "\n\n"
    if any("get_ipython()" in line for line in body):
        text += _SHIM
    text += "\n".join(body)
    if path is not None:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    return text


def _python(source: str) -> str:
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        raise NbtrackError("nbtrack export-script needs IPython to read notebook cells: "
                           "pip install ipython") from None
    return str(TransformerManager().transform_cell(source))  # type: ignore[no-untyped-call]
