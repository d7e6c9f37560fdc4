"""The command line ``nbtrack agent`` runs for a trial: W&B's ``command`` and its macros.

A sweep config's ``command`` is a list of strings; an entry that is exactly a macro
becomes zero, one or several arguments, as in W&B's agent:

``${env}``
    ``/usr/bin/env`` (nothing on Windows).
``${interpreter}``
    The Python that runs the agent (``sys.executable``; W&B writes ``python``, which
    may be another Python than the one nbtrack is installed in).
``${program}``
    The config's ``program``.
``${args}``
    ``--name=value`` for each of the trial's parameters (top-level keys of its
    config; a nested parameter's value is its dict), values written as Python prints them.
``${args_no_hyphens}``
    ``name=value`` for each.
``${args_no_boolean_flags}``
    Like ``${args}``, but a boolean is ``--name`` when true and left out when false.
``${args_json}``
    One argument: the parameters as a JSON object.
``${args_json_file}``
    The path of a file holding that JSON object (removed when the trial ends).
``${envvar:NAME}``
    The value of environment variable ``NAME``, anywhere in an entry (``NAME`` itself
    when it is not set, as W&B does).

The default command is W&B's: ``${env} ${interpreter} ${program} ${args}``.

Example
-------
>>> build(("${interpreter}", "${program}", "${args}"), "train.py", {"lr": 0.01, "opt": "adam"},
...       json_file="/tmp/a.json", interpreter="python")
['python', 'train.py', '--lr=0.01', '--opt=adam']
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from ..errors import NbtrackError

__all__ = ["DEFAULT_COMMAND", "build", "check", "uses"]

DEFAULT_COMMAND = ("${env}", "${interpreter}", "${program}", "${args}")
_ENVVAR = re.compile(r"\$\{envvar:([^}]*)\}")


def uses(command: Sequence[str], macro: str) -> bool:
    """Whether ``command`` has the macro ``macro`` (e.g. ``"program"``) anywhere."""
    return any("${" + macro + "}" in part for part in command)


def build(command: Sequence[str], program: str | None, config: dict[str, Any], *,
          json_file: str | None = None, interpreter: str | None = None) -> list[str]:
    """The argument list for one trial (see the module docstring for each macro)."""
    macros = _macros(program, config, json_file, interpreter or sys.executable)
    out: list[str] = []
    for part in command:
        part = _ENVVAR.sub(lambda m: os.environ.get(m.group(1), m.group(1)), part)
        if part.startswith("${") and part.endswith("}") and part[2:-1] in macros:
            out.extend(macros[part[2:-1]])
            continue
        for name, values in macros.items():  # a one-value macro inside a longer entry
            if "${" + name + "}" in part and len(values) == 1:
                part = part.replace("${" + name + "}", values[0])
        out.append(part)
    return out


def _macros(program: str | None, config: dict[str, Any], json_file: str | None,
            interpreter: str) -> dict[str, list[str]]:
    pairs = [(str(key), _text(value)) for key, value in config.items()]
    macros: dict[str, list[str]] = {
        "env": [] if os.name == "nt" else ["/usr/bin/env"],
        "interpreter": [interpreter],
        "args": [f"--{key}={value}" for key, value in pairs],
        "args_no_hyphens": [f"{key}={value}" for key, value in pairs],
        "args_no_boolean_flags": [
            f"--{key}" if value is True else f"--{key}={_text(value)}"
            for key, value in config.items() if value is not False],
        "args_json": [json.dumps(config)],
    }
    if program is not None:
        macros["program"] = [program]
    if json_file is not None:
        macros["args_json_file"] = [json_file]
    return macros


def _text(value: Any) -> str:
    # As W&B's agent writes a value (f"{key}={value}"): Python's str().
    return str(value)


def check(command: Sequence[str], program: str | None) -> None:
    """Refuse a command that needs a ``program`` the config does not give."""
    if program is None and uses(command, "program"):
        raise NbtrackError("the sweep config has no program: add `program: train.py` (the script each "
                           "trial runs), or a `command` without ${program}")
