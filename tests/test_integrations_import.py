"""The integrations load their framework only when imported, and say how to install a missing one."""

from __future__ import annotations

import json

import pytest
from helpers import run_python

FRAMEWORKS = ["torch", "lightning", "pytorch_lightning", "keras", "transformers", "sklearn", "tqdm"]


def test_importing_the_package_loads_no_framework():
    proc = run_python(
        "import sys, json, nbtrack, nbtrack.integrations\n"
        f"print(json.dumps([m for m in {FRAMEWORKS!r} if m in sys.modules]))"
    )
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize("module, blocked, pip", [
    ("lightning", ["lightning", "pytorch_lightning"], "pip install lightning"),
    ("keras", ["keras"], "pip install keras"),
    ("huggingface", ["transformers"], "pip install transformers"),
])
def test_a_missing_framework_names_the_pip_command(module, blocked, pip):
    proc = run_python(
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None  # as if not installed\n"
        "import nbtrack\n"
        "try:\n"
        f"    import nbtrack.integrations.{module}\n"
        "except nbtrack.NbtrackError as exc:\n"
        "    print(exc)\n", check=True,
    )
    assert pip in proc.stdout, proc.stdout + proc.stderr


def test_sklearn_missing_fails_at_use_with_the_pip_command():
    proc = run_python(
        "import sys\nsys.modules['sklearn'] = None\nsys.modules['sklearn.base'] = None\n"
        "import nbtrack\nfrom nbtrack.integrations.sklearn import log_estimator\n"
        "try:\n    log_estimator(object())\nexcept nbtrack.NbtrackError as exc:\n    print(exc)\n"
    )
    assert "pip install scikit-learn" in proc.stdout, proc.stdout + proc.stderr


def test_the_lightning_logger_falls_back_to_pytorch_lightning():
    pytest.importorskip("pytorch_lightning", reason="pytorch_lightning is not installed")
    proc = run_python(
        "import sys\nsys.modules['lightning'] = None\n"
        "from nbtrack.integrations.lightning import NbtrackLogger\n"
        "import pytorch_lightning\n"
        "print(issubclass(NbtrackLogger, pytorch_lightning.loggers.Logger))\n"
    )
    assert proc.stdout.strip().splitlines()[-1] == "True"
