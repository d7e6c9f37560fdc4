"""nbtrack.formatting: what every view writes for numbers, missing values, times and durations.

The cases come from tests/formatting_cases.json, which labextension/test/format.test.ts
reads too, so the sidebar and the widgets show what the report and the CLI show.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from nbtrack import formatting

CASES = json.loads((Path(__file__).parent / "formatting_cases.json").read_text(encoding="utf-8"))
_WIRE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _decode(item: Any) -> Any:
    """A case's input as Python: the non-finite texts as floats."""
    return _WIRE.get(item, item) if isinstance(item, str) else item


@pytest.mark.parametrize("case", CASES["number"], ids=lambda c: repr(c["in"]))
def test_number_matches_the_shared_cases(case: dict[str, Any]) -> None:
    assert formatting.number(_decode(case["in"]), case.get("digits", 4)) == case["out"]


@pytest.mark.parametrize("case", CASES["value"], ids=lambda c: repr(c["in"]))
def test_value_matches_the_shared_cases(case: dict[str, Any]) -> None:
    assert formatting.value(_decode(case["in"])) == case["out"]


@pytest.mark.parametrize("case", CASES["duration"], ids=lambda c: repr(c["in"]))
def test_duration_matches_the_shared_cases(case: dict[str, Any]) -> None:
    assert formatting.duration(_decode(case["in"])) == case["out"]


@pytest.mark.parametrize("case", CASES["size"], ids=lambda c: repr(c["in"]))
def test_size_matches_the_shared_cases(case: dict[str, Any]) -> None:
    assert formatting.size(_decode(case["in"])) == case["out"]


@pytest.mark.parametrize("case", CASES["time_utc"], ids=lambda c: repr(c["in"]))
def test_utc_time_matches_the_shared_cases(case: dict[str, Any]) -> None:
    assert formatting.timestamp(case["in"], utc=True) == case["out"]


def test_numpy_and_pandas_values_read_like_python_ones() -> None:
    assert formatting.number(np.float32(0.1)) == "0.1"
    assert formatting.number(np.int64(7)) == "7"
    assert formatting.value(np.array([0.5, 2])) == "[0.5, 2]"
    assert formatting.value(pd.NA) == formatting.value(pd.NaT) == formatting.MISSING
    assert formatting.duration(timedelta(seconds=65)) == "1m 05s"
    assert formatting.duration(np.float64(2.34)) == "2.3 s"


def test_a_frame_cell_that_is_nan_reads_as_missing_only_when_asked() -> None:
    assert formatting.value(math.nan) == "NaN"
    assert formatting.value(math.nan, nan_missing=True) == formatting.MISSING


def test_times_from_the_store_are_utc_and_shown_to_the_second() -> None:
    naive = datetime(2026, 5, 1, 14, 3, 7, 123456)  # the store keeps naive UTC
    assert formatting.timestamp(naive, utc=True) == "2026-05-01 14:03:07 UTC"
    assert formatting.timestamp(pd.Timestamp(naive), utc=True) == "2026-05-01 14:03:07 UTC"
    local = naive.replace(tzinfo=timezone.utc).astimezone()
    assert formatting.timestamp(naive) == local.strftime("%Y-%m-%d %H:%M:%S")
    assert "." not in formatting.timestamp(naive)


def test_json_safe_has_one_nan_rule_that_javascript_reads_back() -> None:
    frame_time = pd.Timestamp("2026-05-01 14:03:07.5")
    safe = formatting.json_safe({"nan": math.nan, "inf": np.float64(math.inf), "neg": -math.inf,
                                 "missing": None, "na": pd.NA, "nat": pd.NaT, "when": frame_time,
                                 "steps": np.array([1, 2]), "n": np.int64(3), "tags": ("a", "b")})
    assert safe == {"nan": "NaN", "inf": "Infinity", "neg": "-Infinity", "missing": None, "na": None,
                    "nat": None, "when": "2026-05-01T14:03:07.500Z", "steps": [1, 2], "n": 3,
                    "tags": ["a", "b"]}
    text = formatting.json_text(safe)
    json.loads(text, parse_constant=lambda name: pytest.fail(f"bare {name} in JSON"))
    # Python reads the texts back as the same floats.
    assert math.isnan(float(safe["nan"])) and float(safe["neg"]) == -math.inf


def test_json_text_refuses_nothing_a_run_can_hold() -> None:
    class Odd:
        def __str__(self) -> str:
            return "odd"

    assert formatting.json_text([Odd(), {1: float("nan")}]) == '["odd", {"1": "NaN"}]'
