"""System and GPU metrics: NVML through a stand-in module (and the real one on a GPU
machine, marked ``gpu``), psutil readings, the sampler thread, peak and mean per run."""

from __future__ import annotations

import sys
import time
import types
from collections import namedtuple

import pytest

import nbtrack
from nbtrack import system

GPU_KEYS = {"util_percent", "mem_used_gb", "mem_total_gb", "temp_c", "power_w"}


class FakeNVMLError(Exception):
    pass


def fake_pynvml(devices: int = 2, init_error: bool = False, unsupported: tuple[str, ...] = ()):
    """A stand-in for nvidia-ml-py with every call nbtrack makes; records the calls."""
    module = types.ModuleType("pynvml")
    module.calls = []  # type: ignore[attr-defined]
    module.NVMLError = FakeNVMLError  # type: ignore[attr-defined]
    module.NVML_TEMPERATURE_GPU = 0  # type: ignore[attr-defined]
    rates = namedtuple("rates", "gpu memory")
    memory = namedtuple("memory", "total free used")

    def call(name, result):
        def function(*args):
            module.calls.append(name)  # type: ignore[attr-defined]
            handle = args[0] if args else None
            if name in unsupported and handle == "h1":
                raise FakeNVMLError("Not Supported")
            return result(*args) if callable(result) else result
        setattr(module, name, function)

    def init():
        if init_error:
            raise FakeNVMLError("Driver Not Loaded")

    call("nvmlInit", lambda: init())
    call("nvmlDeviceGetCount", devices)
    call("nvmlDeviceGetHandleByIndex", lambda i: f"h{i}")
    call("nvmlDeviceGetName", lambda h: b"NVIDIA Fake 80GB")
    call("nvmlDeviceGetUtilizationRates", lambda h: rates(gpu=57, memory=30))
    call("nvmlDeviceGetMemoryInfo", lambda h: memory(total=80e9, free=60e9, used=20e9))
    call("nvmlDeviceGetTemperature", lambda h, sensor: 65)
    call("nvmlDeviceGetPowerUsage", lambda h: 250_000)
    call("nvmlDeviceGetEnforcedPowerLimit", lambda h: 700_000)
    return module


@pytest.fixture
def machine(monkeypatch):
    """Install a pynvml stand-in (or none) and a fresh machine reader; undone afterwards."""

    def install(module):
        monkeypatch.setitem(sys.modules, "pynvml", module)
        monkeypatch.setattr(system, "_machine", [None])
        return module

    yield install
    system._machine[0] = None


def test_nvml_readings_for_every_gpu(machine):
    nvml = machine(fake_pynvml(devices=2, unsupported=("nvmlDeviceGetPowerUsage",)))
    reading = system.read()
    assert {k.split(".", 2)[2] for k in reading if k.startswith("gpu.0.")} == GPU_KEYS
    assert reading["gpu.0.util_percent"] == 57.0
    assert reading["gpu.0.mem_used_gb"] == 20.0 and reading["gpu.0.mem_total_gb"] == 80.0
    assert reading["gpu.0.temp_c"] == 65.0 and reading["gpu.0.power_w"] == 250.0
    # The second GPU does not report power: its other readings are still there.
    assert {k.split(".", 2)[2] for k in reading if k.startswith("gpu.1.")} == GPU_KEYS - {"power_w"}
    assert {"cpu_percent", "ram_used_gb", "ram_total_gb", "proc_rss_gb"} <= set(reading)
    assert system.gpu_note() == ""
    assert system.gpu_power_limits() == [700.0, 700.0]
    assert nvml.calls.count("nvmlInit") == 1
    system.read()
    assert nvml.calls.count("nvmlInit") == 1  # opened once per process
    assert set(nvml.calls) == {
        "nvmlInit", "nvmlDeviceGetCount", "nvmlDeviceGetHandleByIndex", "nvmlDeviceGetName",
        "nvmlDeviceGetUtilizationRates", "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetTemperature",
        "nvmlDeviceGetPowerUsage", "nvmlDeviceGetEnforcedPowerLimit"}


def test_gauges_for_cpu_ram_and_each_gpu(machine):
    machine(fake_pynvml(devices=1))
    rows = system.gauge_rows(system.read(), {"gpu.0.util_percent": 90.0}, system.gpu_power_limits())
    by_label = {row["gauge"]: row for row in rows}
    assert list(by_label) == ["CPU", "RAM", "process RSS", "GPU0 util", "GPU0 memory",
                              "GPU0 temp", "GPU0 power"]
    assert by_label["GPU0 util"]["fraction"] == 0.57 and by_label["GPU0 util"]["peak"] == 0.9
    assert by_label["GPU0 memory"]["text"] == "20.0 / 80.0 GB"
    assert by_label["GPU0 power"]["text"] == "250 W / 700 W"
    assert by_label["GPU0 power"]["fraction"] == pytest.approx(250 / 700)


def test_without_pynvml_the_gpu_part_says_so_and_cpu_still_works(machine):
    machine(None)  # import pynvml raises ImportError
    reading = system.read()
    assert not any(k.startswith("gpu.") for k in reading)
    assert reading["ram_total_gb"] > 0 and 0 <= reading["cpu_percent"] <= 100
    assert system.gpu_note() == "GPU metrics need NVML bindings: pip install nvidia-ml-py"


def test_without_a_driver_the_gpu_part_says_so(machine):
    machine(fake_pynvml(init_error=True))
    reading = system.read()
    assert not any(k.startswith("gpu.") for k in reading)
    assert system.gpu_note() == "No NVIDIA GPU: NVML could not start (Driver Not Loaded)"


def test_with_no_device_the_gpu_part_says_so(machine):
    machine(fake_pynvml(devices=0))
    assert not any(k.startswith("gpu.") for k in system.read())
    assert system.gpu_note() == "No NVIDIA GPU: NVML found no device"


def test_samples_go_to_every_attached_run_with_peak_and_mean(store_dir):
    readings = iter([{"cpu_percent": 10.0, "ram_total_gb": 8.0}, {"cpu_percent": 30.0, "ram_total_gb": 8.0},
                     {"cpu_percent": 20.0, "ram_total_gb": 8.0}])
    sampler = system.Sampler(reader=lambda: next(readings), background=False)
    one = nbtrack.Run("one")
    two = nbtrack.Run("two")
    sampler.attach(one)
    sampler.attach(two)
    one.log({"loss": 1.0})
    assert sampler.sample() == 2
    one.finish()
    assert sampler.sample() == 1  # a finished run gets no more readings
    assert sampler.attached() == [two]
    assert sampler.sample() == 1
    two.finish()
    history = nbtrack.history(two.id, "system/cpu_percent")
    assert list(history["value"]) == [10.0, 30.0, 20.0]
    assert two.summary["system/cpu_percent.peak"] == 30.0
    assert two.summary["system/cpu_percent.mean"] == 20.0
    assert "system/ram_total_gb.peak" not in two.summary  # constants keep no peak or mean
    assert list(nbtrack.history(one.id, "system/cpu_percent")["value"]) == [10.0]
    assert one.step == 1  # system readings did not move the training step
    assert system.aggregates(one) == {} and sampler.aggregates(one)["cpu_percent"].peak == 10.0


def test_the_sampler_thread_samples_about_every_interval_and_stops(store_dir, monkeypatch):
    nbtrack.settings(system_interval=0.05)
    sampler = system.Sampler(reader=lambda: {"cpu_percent": 1.0})
    run = nbtrack.Run("timed")
    sampler.attach(run)
    time.sleep(0.6)
    run.finish()
    deadline = time.time() + 2
    while sampler._thread is not None and time.time() < deadline:
        time.sleep(0.02)
    assert sampler._thread is None  # no run left: the thread ended
    points = len(nbtrack.history(run.id, "system/cpu_percent"))
    assert 4 <= points <= 13


def test_a_failing_reader_warns_once_and_logs_nothing(store_dir):
    def broken():
        raise OSError("no /proc")

    sampler = system.Sampler(reader=broken, background=False)
    run = nbtrack.Run("broken")
    sampler.attach(run)
    with pytest.warns(nbtrack.NbtrackWarning, match="could not read system metrics"):
        assert sampler.sample() == 0
    assert sampler.sample() == 0  # warned once
    run.finish()
    assert sampler.sample() == 0 and sampler.attached() == []


def test_importing_the_sampler_loads_neither_psutil_nor_pynvml():
    from helpers import run_python

    proc = run_python("import sys, nbtrack.system\n"
                      "print([m for m in ('psutil', 'pynvml') if m in sys.modules])")
    assert proc.stdout.strip() == "[]"


@pytest.mark.gpu
def test_real_nvml_reads_this_machines_gpus(monkeypatch):
    """On a GPU machine: pip install nvidia-ml-py && pytest -m gpu tests/test_system.py"""
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
    except pynvml.NVMLError as exc:
        pytest.skip(f"no NVIDIA GPU here: {exc}")
    if count == 0:
        pytest.skip("NVML found no GPU")
    monkeypatch.setattr(system, "_machine", [None])
    reading = system.read()
    assert system.gpu_note() == ""
    for index in range(count):
        assert 0 <= reading[f"gpu.{index}.util_percent"] <= 100
        assert 0 < reading[f"gpu.{index}.mem_used_gb"] <= reading[f"gpu.{index}.mem_total_gb"]
        assert 0 < reading[f"gpu.{index}.mem_total_gb"] < 1000
        if f"gpu.{index}.temp_c" in reading:
            assert 0 < reading[f"gpu.{index}.temp_c"] < 120
        if f"gpu.{index}.power_w" in reading:
            assert 0 < reading[f"gpu.{index}.power_w"] < 2000
    rows = system.gauge_rows(reading, None, system.gpu_power_limits())
    assert any(row["gauge"] == "GPU0 memory" for row in rows)


def test_the_system_metrics_setting_samples_every_run(store_dir):
    nbtrack.settings(system_metrics=True, system_interval=0.05)
    run = nbtrack.init(name="sampled script")
    for step in range(5):
        run.log({"loss": 1.0 / (step + 1)})
        time.sleep(0.1)
    run.finish()
    keys = set(nbtrack.history(run.id)["key"])
    assert {"loss", "system/cpu_percent", "system/ram_used_gb"} <= keys
    assert run.step == 5  # sampling never moved the training step
    assert "system/cpu_percent.peak" in nbtrack.run_record(run.id)["summary"]
