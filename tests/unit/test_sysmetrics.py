"""System metrics (grpotui/sysmetrics.py): the sampler on this process, on a process that has ended,
with a GPU (NVML or torch's CUDA, faked: no GPU here), the records it writes into metrics files, and
those records at the records boundary (grpotui/records.py)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import types

import pytest

from grpotui import records, sysmetrics
from grpotui.metrics import MetricsWriter
from grpotui.metricsfile import MetricsFollower
from grpotui.sysmetrics import MIB, Sampler, SystemRecords

BASE = {"system/cpu_percent", "system/memory_mb", "system/memory_percent"}
GPU = {"system/gpu_utilization", "system/gpu_memory_mb"}


@pytest.fixture()
def no_nvml(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)     # import pynvml raises ImportError


def test_this_process_has_cpu_and_memory_figures(no_nvml):
    s = Sampler()
    assert s.pid == os.getpid()
    first = s.sample()
    second = s.sample()
    for sample in (first, second):
        assert set(sample) == BASE       # no GPU in use here (torch's CUDA is not initialised)
        assert all(type(v) is float for v in sample.values())
        assert sample["system/cpu_percent"] >= 0
        assert 10 < sample["system/memory_mb"] < 100_000      # a Python with torch: tens of MB up
        assert 0 < sample["system/memory_percent"] <= 100
    assert s.failed is None


def test_a_process_that_has_ended_is_one_warning_and_then_silence(caplog):
    child = subprocess.Popen(["true"])
    child.wait()                          # reaped: its pid names no process now
    s = Sampler(child.pid)
    with caplog.at_level(logging.WARNING, logger="grpotui"):
        assert s.sample() == {}
        assert s.sample() == {}
    assert s.failed == f"process {child.pid} has ended" and s.ended
    assert [r.getMessage() for r in caplog.records] == [
        f"grpotui stopped sampling system metrics: process {child.pid} has ended."]
    with pytest.raises(Exception):        # read() raises for callers with their own guard
        Sampler(child.pid).read()


class FakeNvml(types.ModuleType):
    """pynvml's calls used by the sampler: two GPUs, this process on the first."""

    def __init__(self, pid: int, fail_init: bool = False):
        super().__init__("pynvml")
        self.pid, self.fail_init = pid, fail_init
        self.devices = [[(pid, 512 * MIB), (pid + 1, 64 * MIB)], [(pid + 1, 128 * MIB)]]

    def nvmlInit(self):
        if self.fail_init:
            raise RuntimeError("NVML Shared Library Not Found")

    def nvmlDeviceGetCount(self):
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        return [types.SimpleNamespace(pid=p, usedGpuMemory=m) for p, m in self.devices[handle]]

    def nvmlDeviceGetUtilizationRates(self, handle):
        return types.SimpleNamespace(gpu=[40, 90][handle])


def test_nvml_gives_the_processs_gpu_memory_and_its_gpus_utilisation(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(os.getpid()))
    sample = Sampler().sample()
    assert (sample["system/gpu_utilization"], sample["system/gpu_memory_mb"]) == (40.0, 512.0)
    other = Sampler(os.getpid() + 1)._gpu()             # on both GPUs: the mean, the sum
    assert other == {"system/gpu_utilization": 65.0, "system/gpu_memory_mb": 192.0}
    assert Sampler(os.getpid() + 2)._gpu() == {}        # on no GPU: no GPU keys


def test_a_gpu_query_that_breaks_stops_only_the_gpu_keys(monkeypatch, caplog):
    nvml = FakeNvml(os.getpid())

    def broken(handle):
        raise RuntimeError("Not Supported")

    nvml.nvmlDeviceGetUtilizationRates = broken
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    s = Sampler()
    with caplog.at_level(logging.WARNING, logger="grpotui"):
        assert set(s.sample()) == BASE
        assert set(s.sample()) == BASE
    assert s.failed is None
    assert [r.getMessage() for r in caplog.records] == [
        "grpotui stopped sampling GPU metrics: RuntimeError: Not Supported."]


def test_torch_cuda_in_this_process_gives_its_reserved_memory(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(os.getpid(), fail_init=True))
    cuda = types.SimpleNamespace(is_available=lambda: True, is_initialized=lambda: True,
                                 memory_reserved=lambda: 3 * 1024 * MIB)
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    sample = Sampler().sample()
    assert set(sample) == BASE | {"system/gpu_memory_mb"}
    assert sample["system/gpu_memory_mb"] == 3072.0
    cuda.is_initialized = lambda: False               # CUDA there but unused: no GPU keys
    assert set(Sampler().sample()) == BASE


def test_system_records_are_due_every_interval_and_carry_the_position(no_nvml):
    assert not SystemRecords().due()      # the first one after LOG_SECONDS: a real CPU interval
    system = SystemRecords(every=0)
    assert system.due()
    rec = system.record(12, 3, 4.5)
    assert list(rec)[:4] == ["event", "step", "rollout", "time"]
    assert (rec["event"], rec["step"], rec["rollout"], rec["time"]) == ("system", 12, 3, 4.5)
    assert set(rec) - {"event", "step", "rollout", "time"} == BASE
    gone = subprocess.Popen(["true"])
    gone.wait()
    broken = SystemRecords(every=0, pid=gone.pid)
    assert broken.record(1, 1) is None and not broken.due()


def test_headless_run_writes_system_records_after_its_rollouts(tmp_path, monkeypatch, no_nvml):
    from grpotui.presets import find_preset
    from grpotui.runner import StopRules, run_headless

    monkeypatch.setattr(sysmetrics, "LOG_SECONDS", 0.0)     # one after every rollout
    path = tmp_path / "m.jsonl"
    run_headless(find_preset("lecture-centered").config.replace(inner_steps=1),
                 StopRules(rollouts=2), metrics_path=str(path), quiet=True)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [r.get("event", r["step"]) for r in lines] == ["start", 1, "system", 2, "system", "stop"]
    system = [r for r in lines if r.get("event") == "system"]
    assert [(r["step"], r["rollout"]) for r in system] == [(1, 1), (2, 2)]
    assert [r["time"] for r in system] == [lines[1]["time"], lines[3]["time"]]  # training seconds
    assert all(set(r) == {"event", "step", "rollout", "time"} | BASE for r in system)


def test_system_records_at_the_boundary():
    rec, flaws = records.check({
        "event": "system", "step": 7, "rollout": 2, "time": "3.5",
        "system/cpu_percent": "45", "system/memory_mb": 812.5, "system/memory_percent": 63,
        "system/gpu_utilization": True, "system/gpu_memory_mb": float("nan"),
        "system/" + "x" * 300: 1, "other": 5})
    assert rec == {"event": "system", "step": 7, "rollout": 2, "time": 3.5,
                   "system/cpu_percent": 45.0, "system/memory_mb": 812.5,
                   "system/memory_percent": 63.0}
    assert flaws == ["'system/gpu_utilization' true is not a finite number within ±1e100 (dropped)",
                     "'system/gpu_memory_mb' NaN is not a finite number within ±1e100 (dropped)",
                     "a system metric name of 307 characters (at most 200) was dropped"]
    many, flaws = records.check({"event": "system", "time": [1],
                                 **{f"system/m{i}": i for i in range(70)}})
    assert [k for k in many if k.startswith("system/")] == [f"system/m{i}" for i in range(64)]
    assert flaws == ["its 'time' [1] is not a number (dropped)",
                     "more than 64 system metrics (the rest dropped)"]
    assert records.check({"event": "system", "step": "soon", "system/cpu_percent": 1}) == \
        (None, ["its 'step' \"soon\" is not a number from -1e15 to 1e15"])


def test_a_csv_metrics_file_carries_system_records(tmp_path):
    path = tmp_path / "m.csv"
    writer = MetricsWriter(path)
    writer.write(steps=[{"step": 1, "reward": 0.5}],
                 events=[{"event": "system", "step": 1, "rollout": 1, "time": 2.0,
                          "system/cpu_percent": 99.5, "system/memory_mb": 300.25}])
    writer.close()
    assert MetricsFollower(path).poll() == [
        {"event": "system", "step": 1, "rollout": 1, "time": 2.0, "system/cpu_percent": 99.5,
         "system/memory_mb": 300.25},
        {"step": 1.0, "reward": 0.5}]
