"""The picture helper process (nbtrack.charts._render): pictures drawn outside the kernel's
process, and never lost to a helper that fails."""

from __future__ import annotations

import os
import signal
import threading

import psutil
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


def test_a_picture_interrupted_while_drawn_never_shows_up_as_the_next_one(helper, monkeypatch):
    """Ctrl-C between sending a picture and reading it: the helper goes (its answer would be
    taken for the next picture's); the next picture is its own."""
    to_svg(SPEC)
    read = _render._Helper._exactly
    interrupted: list[bool] = []

    def interrupt_once(self, stdout, size, deadline):
        if not interrupted:
            interrupted.append(True)
            raise KeyboardInterrupt
        return read(self, stdout, size, deadline)

    monkeypatch.setattr(_render._Helper, "_exactly", interrupt_once)
    with pytest.raises(KeyboardInterrupt):
        to_svg({**SPEC, "title": "FIRST"})
    monkeypatch.setattr(_render._Helper, "_exactly", read)
    assert _render.helper_pid() is None
    second = to_svg({**SPEC, "title": "SECOND"})
    assert ">SECOND<" in second and ">FIRST<" not in second
    _render.start()
    third = to_svg({**SPEC, "title": "THIRD"})  # a new helper, in step
    assert ">THIRD<" in third and _render.helper_pid() is not None


def test_the_helper_answers_in_a_process_holding_thousands_of_files(tmp_path):
    """Its pipe then has a descriptor past select()'s 1,024: pictures still come."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 1200:
        pytest.skip(f"this machine allows {hard} open files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    opened = [open(tmp_path / "f", "a") for _ in range(1100)]  # noqa: SIM115
    try:
        _render.start()
        assert ">loss<" in to_svg(SPEC) and _render.helper_pid() is not None
    finally:
        _render.stop()
        for handle in opened:
            handle.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_child_forked_while_a_picture_is_drawn_draws_its_own_and_exits():
    """The parent's lock, held by its drawing thread at the fork, is not the child's."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import os, sys, threading, time
        from nbtrack.charts import _render
        from nbtrack.charts._base import to_svg
        spec = {SPEC!r}
        _render.start()
        to_svg(spec)
        holding = threading.Event()
        def hold():
            with _render._lock:
                holding.set()
                time.sleep(3)
        threading.Thread(target=hold).start()
        holding.wait()
        pid = os.fork()
        if pid == 0:
            svg = to_svg({{**spec, "title": "child"}})
            print("child drew", ">child<" in svg, flush=True)
            sys.exit(0)  # atexit: the helper's stop() must not wait for the parent's lock
        _, status = os.waitpid(pid, 0)
        print("child exit", status, flush=True)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "child drew True" in result.stdout and "child exit 0" in result.stdout, result.stderr


def test_the_helper_goes_with_a_killed_kernel_even_while_its_forked_child_lives():
    """A DataLoader-style child forked by the kernel holds no end of the helper's pipes: the
    helper sees its kernel gone (stdin closed) and exits, not when the child does."""
    import subprocess
    import sys
    import textwrap
    import time

    code = textwrap.dedent("""
        import os, signal, time
        from nbtrack.charts import _render
        _render.start()
        _render.draw("svg", {"mark": "point"})
        print(_render.helper_pid(), flush=True)
        if os.fork() == 0:
            time.sleep(15)
            os._exit(0)
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)  # no atexit: as a kernel killed from outside
    """)
    kernel = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    helper_pid = int(kernel.stdout.readline())
    kernel.wait(30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if psutil.Process(helper_pid).status() == psutil.STATUS_ZOMBIE:  # exited, not reaped
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the helper outlived its kernel")
