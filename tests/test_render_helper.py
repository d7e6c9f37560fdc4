"""The picture helper process (nbtrack.charts._render): pictures drawn outside the kernel's
process, and never lost to a helper that fails."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

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
def helper(runtime_dir):
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


def test_a_shared_helper_killed_mid_session_is_replaced_without_a_word(helper, recwarn):
    assert _render._helper is not None and _render._helper.shared
    to_svg(SPEC)
    killed = _render.helper_pid()
    os.kill(killed, signal.SIGKILL)
    assert ">loss<" in to_svg(SPEC)  # drawn by a new helper
    assert _render.helper_pid() not in (None, killed, os.getpid())
    assert not [w for w in recwarn if "helper" in str(w.message)]


def test_a_kernels_own_helper_killed_mid_session_costs_one_warning_and_no_picture(runtime_dir,
                                                                                  monkeypatch):
    monkeypatch.setenv("NBTRACK_RENDER_SHARED", "0")
    reset_warnings()
    _render.start()
    try:
        to_svg(SPEC)
        assert not _render._helper.shared
        os.kill(_render.helper_pid(), signal.SIGKILL)
        with pytest.warns(nbtrack.NbtrackWarning, match="helper process failed") as said:
            assert "loss" in to_svg(SPEC)  # drawn in-process instead
        # Not a kernel: no live cell will start another, and the warning does not say one will.
        assert "drawn in this process from now on" in str(said[0].message)
        assert _render.helper_pid() is None
        assert "loss" in to_svg(SPEC)  # and until a live cell starts one, with no more warnings
    finally:
        _render.stop()


@pytest.mark.parametrize("shared", ["1", "0"])
def test_a_helper_that_stops_reading_costs_one_warning_and_no_picture(runtime_dir, monkeypatch, shared):
    """Stopped (SIGSTOP) while a picture bigger than any pipe or socket buffer goes to it: the
    kernel waits out the time-out, writing included, then draws the picture itself."""
    monkeypatch.setenv("NBTRACK_RENDER_SHARED", shared)
    reset_warnings()
    _render.start()
    pid = None
    try:
        to_svg(SPEC)  # warm, under the usual time-out (a loaded machine takes seconds)
        pid = _render.helper_pid()
        assert pid is not None
        monkeypatch.setattr(_render, "TIMEOUT_S", 2.0)
        os.kill(pid, signal.SIGSTOP)
        big = {**SPEC, "title": "BIG", "data": {"values": [{"step": i, "loss": 1 / (i + 1)}
                                                            for i in range(60_000)]}}
        with pytest.warns(nbtrack.NbtrackWarning, match="helper process failed"):
            assert ">BIG<" in to_svg(big)
    finally:
        _render.stop()
        if pid is not None:  # a kernel's own helper went with stop()
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                os.kill(pid, signal.SIGCONT)


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


def test_the_helper_answers_in_a_process_holding_thousands_of_files(tmp_path, runtime_dir):
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


KERNEL = """
    import os, signal, sys, time
    from nbtrack.charts import _render
    _render.start()
    svg = _render.draw("svg", {"mark": "point", "title": sys.argv[1]})
    print(_render.helper_pid(), ">" + sys.argv[1] + "<" in svg, flush=True)
"""


def _kernel(title: str, then: str = "") -> subprocess.Popen:
    """A process that draws through the shared helper as a kernel does, prints the helper's
    pid and whether its picture came back, then runs ``then``."""
    code = textwrap.dedent(KERNEL) + textwrap.dedent(then)
    return subprocess.Popen([sys.executable, "-c", code, title], stdout=subprocess.PIPE, text=True)


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:  # exited, not reaped
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.2)
    return False


def test_a_restarted_kernel_finds_the_helper_warm_and_it_leaves_once_idle(runtime_dir, monkeypatch):
    """Kernels of one user share one helper (a restart's first cell skips vl-convert's
    warm-up); killing a kernel leaves it; with no kernel left it exits after its idle time."""
    monkeypatch.setenv("NBTRACK_RENDER_IDLE_S", "8")  # room for the next kernel to start, under load
    first = _kernel("one", "os.kill(os.getpid(), signal.SIGKILL)")  # killed, as by a restart
    pid, drawn = first.stdout.readline().split()
    first.wait(30)
    assert drawn == "True" and not _gone(int(pid), 0.5)  # still there for the next kernel
    assert psutil.Process(int(pid)).cwd() == str(runtime_dir / "nbtrack")  # none of the kernel's
    second = _kernel("two")
    assert second.stdout.readline().split() == [pid, "True"]  # the same helper drew it
    second.wait(30)
    assert _gone(int(pid), 30), "the helper outlived its idle time"
    assert not list(runtime_dir.glob("nbtrack/*.sock"))  # and took its socket with it


def test_the_helper_leaves_even_while_a_child_forked_by_a_killed_kernel_lives(runtime_dir, monkeypatch):
    """A DataLoader-style child forked by the kernel holds no end of the kernel's line to the
    helper: the helper sees no kernel left and exits, not when the child does."""
    monkeypatch.setenv("NBTRACK_RENDER_IDLE_S", "1")
    kernel = _kernel("forked", """
        if os.fork() == 0:
            time.sleep(20)
            os._exit(0)
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)  # no atexit: as a kernel killed from outside
    """)
    pid, drawn = kernel.stdout.readline().split()
    kernel.wait(30)
    assert drawn == "True" and _gone(int(pid), 12), "the helper outlived its kernel"


def test_a_socket_folder_others_can_enter_is_not_used(runtime_dir):
    """Another user could answer there in the helper's place: the kernel starts its own."""
    (runtime_dir / "nbtrack").mkdir(mode=0o755)
    os.chmod(runtime_dir / "nbtrack", 0o755)
    assert _render.socket_path() is None
    reset_warnings()
    _render.start()
    try:
        assert ">loss<" in to_svg(SPEC)
        helper = _render._helper
        assert helper is not None and not helper.shared
        assert psutil.Process(_render.helper_pid()).ppid() == os.getpid()  # its own, with it
    finally:
        _render.stop()


def test_a_helper_leaving_as_a_kernel_comes_is_replaced_without_a_word(runtime_dir, recwarn):
    """The shared helper quits on its idle time just as a kernel connects: that kernel's
    pictures come from a new helper, with no warning and nothing drawn in the kernel."""
    path = _render.socket_path()
    assert path is not None
    leaving = socket.socket(socket.AF_UNIX)
    leaving.bind(path)
    leaving.listen(1)

    def leave() -> None:  # takes the connection, then goes before it says ready
        conn, _ = leaving.accept()
        os.unlink(path)
        leaving.close()
        conn.close()

    thread = threading.Thread(target=leave)
    thread.start()
    reset_warnings()
    _render.start()
    try:
        assert ">loss<" in to_svg(SPEC)
        thread.join(10)
        pid = _render.helper_pid()
        assert pid is not None and pid != os.getpid() and _render._helper.shared
        assert not [w for w in recwarn if "helper" in str(w.message)]
    finally:
        _render.stop()


def test_a_helper_stopped_with_kill_takes_its_socket_along(helper, runtime_dir):
    to_svg(SPEC)
    pid = _render.helper_pid()
    assert list(runtime_dir.glob("nbtrack/*.sock"))
    os.kill(pid, signal.SIGTERM)
    assert _gone(pid, 10)
    assert not list(runtime_dir.glob("nbtrack/*.sock"))  # the next kernel starts one at once


def test_a_socket_path_too_long_in_bytes_means_a_helper_of_the_kernels_own(monkeypatch):
    folder = tempfile.mkdtemp(prefix="nbr-" + "é" * 40, dir="/tmp")  # < 100 characters, > 107 bytes
    monkeypatch.setenv("XDG_RUNTIME_DIR", folder)
    try:
        assert _render.socket_path() is None
        reset_warnings()
        _render.start()
        assert ">loss<" in to_svg(SPEC) and not _render._helper.shared
    finally:
        _render.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_a_child_forked_after_its_parent_drew_in_process_draws_through_a_helper(runtime_dir):
    """vl-convert hangs in a fork of a process that used it: the child asks a helper (its
    own: the parent is a script), even though its parent draws in-process."""
    code = textwrap.dedent(f"""
        import os, sys
        from nbtrack.charts import _render
        from nbtrack.charts._base import to_svg
        spec = {SPEC!r}
        _render.stop()
        to_svg(spec)  # in-process
        pid = os.fork()
        if pid == 0:
            svg = to_svg({{**spec, "title": "child"}})
            print("child drew", ">child<" in svg, _render.helper_pid() not in (None, os.getpid()),
                  _render._helper.shared, flush=True)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print("child exit", status, flush=True)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=90)
    assert "child drew True True False" in result.stdout and "child exit 0" in result.stdout, result.stderr


def test_a_helper_stopped_while_it_warms_takes_its_socket_along(runtime_dir):
    folder = runtime_dir / "nbtrack"
    folder.mkdir(mode=0o700)
    path = folder / "w.sock"
    worker = subprocess.Popen([sys.executable, str(_render._WORKER), "--socket", str(path)])
    deadline = time.monotonic() + 10
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.terminate()  # bound, most likely still warming vl-convert
    worker.wait(30)
    assert not path.exists()


def test_a_script_draws_in_a_helper_of_its_own_while_its_threads_run_on():
    """Not a kernel, no live cell: the first picture starts a helper that is the script's own
    (gone with it), and a thread of the script keeps running while a picture is drawn
    (vl-convert in the script's process would hold the GIL for the whole drawing)."""
    code = textwrap.dedent(f"""
        import os, threading, time
        import psutil
        from nbtrack.charts import _render
        from nbtrack.charts._base import to_svg
        spec = {SPEC!r}
        assert ">loss<" in to_svg(spec)
        pid = _render.helper_pid()
        big = {{**spec, "data": {{"values": [{{"step": i, "loss": 1 / (i + 1)}} for i in range(60_000)]}}}}
        ticks, done = [0], threading.Event()
        def tick():
            while not done.is_set():
                ticks[0] += 1
                time.sleep(0.001)
        ticker = threading.Thread(target=tick)
        ticker.start()
        started = time.monotonic()
        png = _render.draw("png", big, scale=2)
        took = time.monotonic() - started
        done.set()
        ticker.join()
        print(pid, psutil.Process(pid).ppid() == os.getpid(), png[:4] == b"\\x89PNG", ticks[0], took)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "NBTRACK_RENDER_SHARED": "1"})
    assert result.returncode == 0, result.stderr
    pid, own, png, ticks, took = result.stdout.split()
    assert own == "True" and png == "True"
    # ~1 ms a tick with the GIL free; vl-convert in-process let 1 tick through in 1.9 s.
    assert float(took) > 0.2 and int(ticks) >= 50, (ticks, took)
    assert _gone(int(pid), 10), "the script's helper outlived it"


def test_ctrl_c_in_a_terminal_leaves_a_scripts_helper_drawing():
    """Ctrl-C signals the terminal's whole process group, the script's own helper too: a
    script that catches KeyboardInterrupt (to end training early) still gets its pictures
    from the same helper, with no warning."""
    code = textwrap.dedent(f"""
        import os, signal, time, warnings
        from nbtrack.charts import _render
        from nbtrack.charts._base import to_svg
        spec = {SPEC!r}
        to_svg(spec)
        pid = _render.helper_pid()
        try:
            os.killpg(0, signal.SIGINT)  # as a terminal's Ctrl-C
            time.sleep(5)
        except KeyboardInterrupt:
            pass
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            svg = to_svg({{**spec, "title": "after"}})
        print(">after<" in svg, _render.helper_pid() == pid, len(caught), flush=True)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=90,
                            start_new_session=True)  # its own process group: the signal stays there
    assert result.stdout.split() == ["True", "True", "0"], result.stderr
