"""The picture helper process (nbtrack.charts._render): pictures drawn outside the kernel's
process, and never lost to a helper that fails."""

from __future__ import annotations

import os
import signal
import threading

import pytest

import nbtrack
from nbtrack.charts import _render
from nbtrack.charts._base import to_svg
from nbtrack.errors import reset_warnings

SPEC = {"mark": "line", "title": "loss",
        "data": {"values": [{"step": i, "loss": 1 / (i + 1)} for i in range(50)]},
        "encoding": {"x": {"field": "step", "type": "quantitative"},
                     "y": {"field": "loss", "type": "quantitative"}}}


@pytest.fixture
def helper():
    reset_warnings()
    _render.start()
    yield
    _render.stop()
    reset_warnings()


def test_pictures_are_drawn_in_the_helper_process_as_in_process(helper):
    drawn = to_svg(SPEC)
    pid = _render.helper_pid()
    assert pid is not None and pid != os.getpid()
    _render.stop()
    assert _render.helper_pid() is None
    assert to_svg(SPEC) == drawn  # in-process: the very same picture
    _render.start()
    png = _render.draw("png", SPEC, scale=2)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_bad_spec_is_the_callers_error_and_the_helper_stays(helper):
    to_svg(SPEC)
    pid = _render.helper_pid()
    with pytest.raises(ValueError, match="Vega-Lite"):
        _render.draw("svg", {"mark": "line", "encoding": {"x": {"field": "a", "type": "nosuchtype"}}})
    assert _render.helper_pid() == pid and to_svg(SPEC).startswith("<svg")


def test_a_helper_killed_mid_session_costs_one_warning_and_no_picture(helper):
    to_svg(SPEC)
    os.kill(_render.helper_pid(), signal.SIGKILL)
    with pytest.warns(nbtrack.NbtrackWarning, match="helper process failed"):
        assert "loss" in to_svg(SPEC)  # drawn in-process instead
    assert _render.helper_pid() is None
    assert "loss" in to_svg(SPEC)  # and from then on, with no more warnings


def test_pictures_asked_for_from_several_threads_each_get_their_own(helper):
    titles = [f"chart {n}" for n in range(6)]
    drawn: dict[str, str] = {}

    def draw(title: str) -> None:
        drawn[title] = to_svg({**SPEC, "title": title})

    threads = [threading.Thread(target=draw, args=(title,)) for title in titles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(f">{title}<" in drawn[title] for title in titles)
