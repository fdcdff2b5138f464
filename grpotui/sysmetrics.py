"""System metrics of one process: CPU, resident memory and, where it uses a GPU, the GPU's.

    sampler = Sampler(pid)            # pid None: this process
    sampler.sample()                  # {"system/cpu_percent": 12.5, "system/memory_mb": 812.3, ...}

Keys (every value a finite float):
    system/cpu_percent       the process's CPU use since the previous sample, in percent of one core
                             (above 100 when it keeps several cores busy, as `top` shows it)
    system/memory_mb         its resident memory (RSS), in MiB
    system/memory_percent    the machine's memory in use, in percent
    system/gpu_utilization   the GPU's utilisation in percent (the mean over the GPUs the process
                             uses): only with NVML (the nvidia-ml-py package, imported as pynvml)
    system/gpu_memory_mb     the process's GPU memory in MiB: NVML's figure for the process, or, for
                             this process with torch's CUDA initialised, torch's reserved memory
The GPU keys are there only where a GPU is in use; nothing GPU-related is a hard dependency.

`sample()` never raises: on the first failure (the process has ended, /proc unreadable) it logs one
warning on the "grpotui" logger, keeps the reason in `failed`, and returns {} from then on. A GPU
query that breaks is one warning too, and only the GPU keys stop. `read()` is the same sampling that raises, for callers with a guard of their own (the
TRL integration reports its parts' failures itself).

`SystemRecords` turns samples into `system` records of a metrics file, at most one every few seconds:
    {"event": "system", "step": 120, "rollout": 15, "time": 31.2, "system/cpu_percent": 98.0, ...}
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from typing import Any

logger = logging.getLogger("grpotui")

PREFIX = "system/"
KEYS = ("system/cpu_percent", "system/memory_mb", "system/memory_percent",
        "system/gpu_utilization", "system/gpu_memory_mb")
SAMPLE_SECONDS = 2.0    # the dashboard samples its training process this often
LOG_SECONDS = 5.0       # system records in a metrics file, at most this often
MIB = 2 ** 20


class Sampler:
    """CPU, memory and GPU figures of one process (see the module's doc)."""

    def __init__(self, pid: int | None = None, gpu: bool = True):
        self.pid = os.getpid() if pid is None else int(pid)
        self.gpu = gpu
        self.failed: str | None = None
        self.ended = False              # it failed because the process has ended
        self._process = None
        self._nvml: Any = None          # the pynvml module once initialised; False: none here

    def sample(self) -> dict[str, float]:
        """The latest figures, or {} once sampling has failed (one warning, then silence)."""
        if self.failed:
            return {}
        try:
            return self.read()
        except Exception as e:          # noqa: BLE001 - a sampler never stops what it watches
            self.failed = _describe(e, self.pid)
            self.ended = type(e).__name__ in ("NoSuchProcess", "ZombieProcess")
            logger.warning("grpotui stopped sampling system metrics: %s.", self.failed)
            return {}

    def read(self) -> dict[str, float]:
        """The latest figures; raises what psutil or a GPU query raised."""
        import psutil

        if self._process is None:
            self._process = psutil.Process(self.pid)
            self._process.cpu_percent(None)     # the first call only starts the count (0.0)
        p = self._process
        with p.oneshot():
            cpu = p.cpu_percent(None)
            rss = p.memory_info().rss
        out = {"system/cpu_percent": float(cpu), "system/memory_mb": rss / MIB,
               "system/memory_percent": float(psutil.virtual_memory().percent)}
        if self.gpu:
            try:
                out.update(self._gpu())
            except Exception as e:      # noqa: BLE001 - a GPU query that broke: CPU and memory go on
                self.gpu = False
                logger.warning("grpotui stopped sampling GPU metrics: %s.", _describe(e, self.pid))
        return {k: v for k, v in out.items() if isinstance(v, float) and math.isfinite(v)}

    # ------------------------------------------------------------------ GPU
    def _gpu(self) -> dict[str, float]:
        out: dict[str, float] = {}
        nvml = self._nvml_module()
        if nvml:
            used, utils = 0, []
            for i in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(i)
                mine = [p for p in nvml.nvmlDeviceGetComputeRunningProcesses(handle)
                        if p.pid == self.pid]
                if mine:
                    used += sum(p.usedGpuMemory or 0 for p in mine)
                    utils.append(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            if utils:
                out["system/gpu_utilization"] = float(sum(utils) / len(utils))
                if used:
                    out["system/gpu_memory_mb"] = used / MIB
        if "system/gpu_memory_mb" not in out and self.pid == os.getpid():
            torch = sys.modules.get("torch")     # never imported here: only if the process has it
            cuda = getattr(torch, "cuda", None)
            if cuda is not None and cuda.is_available() and cuda.is_initialized():
                out["system/gpu_memory_mb"] = cuda.memory_reserved() / MIB
        return out

    def _nvml_module(self) -> Any:
        """pynvml, initialised once; False where it is not installed or finds no driver."""
        if self._nvml is None:
            try:
                import pynvml

                pynvml.nvmlInit()
                self._nvml = pynvml
            except Exception:           # noqa: BLE001 - not installed, no driver, no GPU: no NVML
                self._nvml = False
        return self._nvml


def _describe(e: BaseException, pid: int) -> str:
    try:
        import psutil

        if isinstance(e, psutil.NoSuchProcess):
            return f"process {pid} has ended"
        if isinstance(e, psutil.AccessDenied):
            return f"not allowed to read process {pid}"
    except ImportError:
        return "the psutil package is not installed (pip install psutil)"
    text = str(e)
    text = text if len(text) <= 200 else text[:197] + "..."
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


class SystemRecords:
    """`system` records for a metrics file, one every `every` seconds (LOG_SECONDS by default): the
    first when `every` seconds have passed, so a CPU share always covers a real interval (a run
    shorter than that writes none unless it asks for a last one: `record`)."""

    def __init__(self, every: float | None = None, pid: int | None = None):
        self.every = LOG_SECONDS if every is None else every
        self.sampler = Sampler(pid)
        try:
            self.sampler.read()         # starts the CPU count (its first share is always 0)
        except Exception:               # noqa: BLE001 - it fails again, and says so, when sampled
            pass
        self.last = time.monotonic()

    def due(self) -> bool:
        return not self.sampler.failed and time.monotonic() - self.last >= self.every

    def record(self, step: int, rollout: int, seconds: float | None = None,
               sample: dict[str, float] | None = None) -> dict[str, Any] | None:
        """A system record (sampled now unless `sample` is given), or None once sampling failed."""
        self.last = time.monotonic()
        sample = self.sampler.sample() if sample is None else sample
        if not sample:
            return None
        rec: dict[str, Any] = {"event": "system", "step": step, "rollout": rollout}
        if seconds is not None:
            rec["time"] = seconds
        rec.update(sample)
        return rec

    def maybe_write(self, writer, step: int, rollout: int, seconds: float | None = None) -> bool:
        """Write a record to `writer` (a MetricsWriter) if one is due; whether one was written."""
        if not self.due():
            return False
        rec = self.record(step, rollout, seconds)
        if rec is None:
            return False
        writer.write(events=[rec])
        return True
