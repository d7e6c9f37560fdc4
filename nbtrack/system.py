"""System metrics: CPU, RAM, the process's memory and every NVIDIA GPU, sampled for runs.

One daemon thread per process reads the machine every ``interval`` seconds (1 s by
default; ``nbtrack.settings(system_interval=...)``) and logs the reading
to every attached, unfinished run through :meth:`nbtrack.Run.log_system`, under keys
such as ``system/cpu_percent`` and ``system/gpu.0.util_percent``. Each run keeps the
peak and mean of each reading in its summary (``system/cpu_percent.peak``, ``.mean``).

psutil and NVML (``nvidia-ml-py``, imported as ``pynvml``) load on first use. No GPU,
no NVIDIA driver or no ``pynvml`` is a normal case: the GPU part says so in
:func:`gpu_note` and CPU and RAM are still sampled.

Example
-------
>>> import nbtrack
>>> from nbtrack import system
>>> run = nbtrack.init(name="train")  # doctest: +SKIP
>>> system.attach(run)                # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import _settings
from .errors import warn_once

if TYPE_CHECKING:
    from ._run import Run

__all__ = [
    "DEFAULT_INTERVAL",
    "Aggregate",
    "Sampler",
    "aggregates",
    "attach",
    "detach",
    "gauge_rows",
    "gpu_note",
    "read",
    "sampler",
]

#: Used when the setting holds something that is not a number.
DEFAULT_INTERVAL = 1.0
GB = 1e9
PREFIX = "system/"
#: Readings that never change during a run: logged, but no peak or mean is kept.
_CONSTANT_SUFFIXES = ("_total_gb",)


def interval() -> float:
    """The sampling interval in force, in seconds (at least 0.05)."""
    value = _settings.current().system_interval
    try:
        return max(float(value), 0.05)
    except (TypeError, ValueError):
        return DEFAULT_INTERVAL


# -- readings -----------------------------------------------------------------------
class _Nvml:
    """NVML opened once per process; every call that can fail is guarded one by one."""

    def __init__(self) -> None:
        self.module: Any = None
        self.handles: list[Any] = []
        self.names: list[str] = []
        self.power_limits_w: list[float | None] = []
        self.note = ""
        self._opened = False

    def open(self) -> None:
        if self._opened:
            return
        self._opened = True
        try:
            import pynvml
        except ImportError:
            self.note = "GPU metrics need NVML bindings: pip install nvidia-ml-py"
            return
        except Exception as exc:  # a broken install must not stop CPU sampling
            self.note = f"GPU metrics unavailable: importing pynvml failed ({exc})"
            return
        error = getattr(pynvml, "NVMLError", Exception)
        try:
            pynvml.nvmlInit()
            count = int(pynvml.nvmlDeviceGetCount())
        except error as exc:
            self.note = f"No NVIDIA GPU: NVML could not start ({exc})"
            return
        except Exception as exc:
            self.note = f"No NVIDIA GPU: NVML could not start ({exc!r})"
            return
        if count == 0:
            self.note = "No NVIDIA GPU: NVML found no device"
            return
        self.module = pynvml
        for index in range(count):
            try:
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            except error:
                continue
            self.handles.append(handle)
            self.names.append(_text(self._call("nvmlDeviceGetName", handle)) or f"GPU {index}")
            limit = self._call("nvmlDeviceGetEnforcedPowerLimit", handle)
            self.power_limits_w.append(limit / 1000 if isinstance(limit, (int, float)) else None)
        if not self.handles:
            self.note = "No NVIDIA GPU: NVML could open no device"
            self.module = None

    def _call(self, name: str, *args: Any) -> Any:
        """One NVML query; ``None`` when the device does not support it or it fails."""
        try:
            return getattr(self.module, name)(*args)
        except Exception:
            return None

    def read(self) -> dict[str, float]:
        if self.module is None:
            return {}
        out: dict[str, float] = {}
        temperature_sensor = getattr(self.module, "NVML_TEMPERATURE_GPU", 0)
        for index, handle in enumerate(self.handles):
            prefix = f"gpu.{index}."
            rates = self._call("nvmlDeviceGetUtilizationRates", handle)
            if rates is not None:
                out[prefix + "util_percent"] = float(rates.gpu)
            memory = self._call("nvmlDeviceGetMemoryInfo", handle)
            if memory is not None:
                out[prefix + "mem_used_gb"] = memory.used / GB
                out[prefix + "mem_total_gb"] = memory.total / GB
            temperature = self._call("nvmlDeviceGetTemperature", handle, temperature_sensor)
            if temperature is not None:
                out[prefix + "temp_c"] = float(temperature)
            power = self._call("nvmlDeviceGetPowerUsage", handle)
            if power is not None:
                out[prefix + "power_w"] = power / 1000
        return out


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value) if value is not None else ""


class _Machine:
    """psutil and NVML state shared by every reading in this process."""

    def __init__(self) -> None:
        import psutil

        self.psutil = psutil
        self.process = psutil.Process()
        if not _cpu_clock[0]:
            prime_cpu()  # the first call only starts the clock (unless a run start did)
        self.nvml = _Nvml()
        self.nvml.open()

    def read(self) -> dict[str, float]:
        psutil = self.psutil
        out: dict[str, float] = {"cpu_percent": _cpu_percent(psutil)}
        memory = psutil.virtual_memory()
        out["ram_used_gb"] = (memory.total - memory.available) / GB
        out["ram_total_gb"] = memory.total / GB
        with contextlib.suppress(Exception):
            out["proc_rss_gb"] = self.process.memory_info().rss / GB
        out.update(self.nvml.read())
        return out


#: psutil's CPU percentage covers the time since its previous call: a window this short
#: reads as 0 (or noise), so such a reading measures over this long instead.
MIN_CPU_WINDOW_S = 0.05
_cpu_clock: list[float] = [0.0]  # time.monotonic() of psutil's last cpu_percent call


def prime_cpu() -> None:
    """Start psutil's CPU clock now, so the next reading covers from here (a run's start),
    not from an idle gap before it or from nothing (psutil's first call says 0)."""
    import psutil

    psutil.cpu_percent(None)
    _cpu_clock[0] = time.monotonic()


def _cpu_percent(psutil: Any) -> float:
    since = time.monotonic() - _cpu_clock[0]
    if since < MIN_CPU_WINDOW_S:
        value = psutil.cpu_percent(MIN_CPU_WINDOW_S - since)  # blocks once, briefly
    else:
        value = psutil.cpu_percent(None)
    _cpu_clock[0] = time.monotonic()
    return float(value)


_machine: list[_Machine | None] = [None]
_machine_lock = threading.Lock()


def _get_machine() -> _Machine:
    with _machine_lock:
        machine = _machine[0]
        if machine is None:
            machine = _machine[0] = _Machine()
        return machine


def read() -> dict[str, float]:
    """One reading of the machine, keys without the ``system/`` prefix.

    Example
    -------
    >>> sorted(read())[:3]  # doctest: +SKIP
    ['cpu_percent', 'proc_rss_gb', 'ram_total_gb']
    """
    return _get_machine().read()


def gpu_note() -> str:
    """Why there are no GPU readings (empty when NVML reads at least one GPU)."""
    return _get_machine().nvml.note


def gpu_power_limits() -> list[float | None]:
    """Each GPU's enforced power limit in watts, where NVML reports one."""
    return list(_get_machine().nvml.power_limits_w)


# -- peak and mean per run ------------------------------------------------------------
@dataclass
class Aggregate:
    """Running peak and mean of one reading over a run."""

    count: int = 0
    total: float = 0.0
    peak: float = float("-inf")

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        if value > self.peak:
            self.peak = value

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else float("nan")


@dataclass
class _Attached:
    run: Run
    stats: dict[str, Aggregate] = field(default_factory=dict)


class Sampler:
    """The process's sampling thread and the runs it logs to."""

    def __init__(self, reader: Any = None, *, background: bool = True) -> None:
        self._read = reader or read
        self._background = background  # False: only explicit sample() calls (tests)
        self._runs: dict[str, _Attached] = {}
        #: Runs that finished, so a view can still show their peak and mean.
        self._finished: dict[str, _Attached] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def attach(self, run: Run) -> None:
        if self._read is read:
            with contextlib.suppress(Exception):  # no psutil: read() says so later
                prime_cpu()  # the run's first CPU reading covers the run, not the idle before
        with self._lock:
            if run.id not in self._runs:
                self._runs[run.id] = _Attached(run)
            if self._background and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._loop, name="nbtrack-system", daemon=True)
                self._thread.start()

    def detach(self, run: Run) -> None:
        with self._lock:
            self._runs.pop(run.id, None)

    def attached(self) -> list[Run]:
        with self._lock:
            return [entry.run for entry in self._runs.values()]

    def aggregates(self, run: Run) -> dict[str, Aggregate]:
        with self._lock:
            entry = self._runs.get(run.id) or self._finished.get(run.id)
            return dict(entry.stats) if entry else {}

    def sample(self) -> int:
        """Take one reading and log it to every attached run; returns how many got it."""
        with self._lock:
            entries = list(self._runs.values())
        for entry in [e for e in entries if e.run._finished]:
            self._retire(entry)  # a finished run gets no more readings
        entries = [e for e in entries if not e.run._finished]
        if not entries:
            return 0
        try:
            values = self._read()
        except Exception as exc:  # sampling must never disturb the runs
            warn_once("system-read", f"nbtrack could not read system metrics ({exc!r}); retrying")
            return 0
        logged = 0
        for entry in entries:
            run = entry.run
            run.log_system(values)
            _absorb(entry, values)
            logged += 1
        return logged

    def _retire(self, entry: _Attached) -> None:
        with self._lock:
            self._runs.pop(entry.run.id, None)
            self._finished[entry.run.id] = entry
            while len(self._finished) > 64:
                del self._finished[next(iter(self._finished))]

    def _loop(self) -> None:
        while True:
            self._wake.wait(interval())
            self._wake.clear()
            try:
                self.sample()
            except Exception as exc:  # the thread must survive anything
                warn_once("system-thread", f"nbtrack's system sampler hit {exc!r}; retrying")
            with self._lock:
                if not self._runs:
                    self._thread = None
                    return


def _absorb(entry: _Attached, values: Mapping[str, float]) -> None:
    summary: dict[str, float] = {}
    for key, value in values.items():
        if key.endswith(_CONSTANT_SUFFIXES) or value != value:
            continue
        stats = entry.stats.get(key)
        if stats is None:
            stats = entry.stats[key] = Aggregate()
        stats.add(value)
        summary[f"{PREFIX}{key}.peak"] = stats.peak
        summary[f"{PREFIX}{key}.mean"] = stats.mean
    for key, value in summary.items():
        entry.run.summary[key] = value


_sampler: list[Sampler | None] = [None]


def sampler() -> Sampler:
    """This process's sampler (created on first use)."""
    current = _sampler[0]
    if current is None:
        current = _sampler[0] = Sampler()
    return current


def attach(run: Run) -> None:
    """Sample the machine for ``run`` until it finishes (idempotent).

    Example
    -------
    >>> nbtrack.system.attach(nbtrack.init(name="train"))  # doctest: +SKIP
    """
    sampler().attach(run)


def detach(run: Run) -> None:
    """Stop sampling for ``run``."""
    sampler().detach(run)


def aggregates(run: Run) -> dict[str, Aggregate]:
    """Peak and mean of each reading for ``run`` so far (keys without ``system/``)."""
    return sampler().aggregates(run)


# -- gauges -----------------------------------------------------------------------------
def gauge_rows(
    latest: Mapping[str, float | None],
    peaks: Mapping[str, float] | None = None,
    power_limits_w: Iterable[float | None] = (),
) -> list[dict[str, Any]]:
    """Compute: one row per gauge from the latest readings (keys with or without ``system/``).

    Each row has ``gauge`` (label), ``order``, ``fraction`` of its full scale in [0, 1]
    (``None`` when there is no scale), ``peak`` as a fraction, and ``text``.

    Example
    -------
    >>> gauge_rows({"cpu_percent": 50.0})[0]["text"]
    '50 %'
    """
    values = {k.removeprefix(PREFIX): v for k, v in latest.items() if v is not None}
    peak_of = {k.removeprefix(PREFIX): v for k, v in (peaks or {}).items()}
    limits = list(power_limits_w)
    rows: list[dict[str, Any]] = []

    def add(label: str, key: str, scale: float | None, text: str) -> None:
        value = values.get(key)
        if value is None:
            return
        fraction = _fraction(value, scale)
        peak = peak_of.get(key)
        rows.append({"gauge": label, "order": len(rows), "fraction": fraction,
                     "peak": _fraction(peak, scale) if peak is not None else None, "text": text})

    ram_total = values.get("ram_total_gb")
    add("CPU", "cpu_percent", 100.0, f"{values.get('cpu_percent', 0):.0f} %")
    add("RAM", "ram_used_gb", ram_total, _of(values.get("ram_used_gb"), ram_total, "GB"))
    add("process RSS", "proc_rss_gb", ram_total, f"{values.get('proc_rss_gb', 0):.2f} GB")
    for index in _gpu_indices(values):
        p = f"gpu.{index}."
        limit = limits[index] if index < len(limits) else None
        add(f"GPU{index} util", p + "util_percent", 100.0, f"{values.get(p + 'util_percent', 0):.0f} %")
        add(f"GPU{index} memory", p + "mem_used_gb", values.get(p + "mem_total_gb"),
            _of(values.get(p + "mem_used_gb"), values.get(p + "mem_total_gb"), "GB"))
        add(f"GPU{index} temp", p + "temp_c", 100.0, f"{values.get(p + 'temp_c', 0):.0f} °C")
        power_text = f"{values.get(p + 'power_w', 0):.0f} W" + (f" / {limit:.0f} W" if limit else "")
        add(f"GPU{index} power", p + "power_w", limit, power_text)
    return rows


def _fraction(value: float | None, scale: float | None) -> float | None:
    if value is None or not scale or value != value:
        return None
    return min(max(value / scale, 0.0), 1.0)


def _of(used: float | None, total: float | None, unit: str) -> str:
    if used is None:
        return ""
    return f"{used:.1f} / {total:.1f} {unit}" if total else f"{used:.1f} {unit}"


def _gpu_indices(values: Mapping[str, Any]) -> list[int]:
    found = set()
    for key in values:
        if key.startswith("gpu."):
            head = key[4:].split(".", 1)[0]
            if head.isdigit():
                found.add(int(head))
    return sorted(found)


def _reset_after_fork() -> None:
    # The parent's sampling thread does not exist in a forked child.
    global _machine_lock
    _machine_lock = threading.Lock()
    _sampler[0] = None
    _machine[0] = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)

