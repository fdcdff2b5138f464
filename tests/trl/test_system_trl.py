"""attach() logs system/* records (grpotui/sysmetrics.py): every few seconds at a step's end and
once at the end of training, from the main process; a sampler that fails is one error event and one
warning, and training goes on."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest

from grpotui import records
from grpotui.sysmetrics import SystemRecords

BASE = {"system/cpu_percent", "system/memory_mb", "system/memory_percent"}
GPU = {"system/gpu_utilization", "system/gpu_memory_mb"}


def test_the_run_ends_with_a_system_record_of_its_process(run):
    system = run.events("system")
    last = system[-1]
    assert run.records[-2] is last and run.records[-1]["event"] == "stop"
    assert (last["step"], last["rollout"]) == (4, run.callback._rollout(4))
    assert BASE <= set(last) <= {"event", "step", "rollout", "time"} | BASE | GPU
    assert last["time"] >= run.steps()[4]["time"]          # the same clock as the step records
    assert all(1 <= r["step"] <= 4 for r in system)          # earlier ones: at a step's end
    assert records.check(last) == (last, [])                 # the boundary keeps all of it


def test_a_failing_sampler_is_one_error_and_one_warning(run, warnings_logged):
    cb = copy.copy(run.callback)            # the finished run's callback, writing into a list
    written: list[dict] = []
    cb.writer = SimpleNamespace(write=lambda steps=(), events=(): written.extend(events))
    cb.failures, cb.failed_write = {}, False
    cb.system = SystemRecords(every=0)

    def read():
        raise RuntimeError("proc broke")

    cb.system.sampler.read = read
    state = SimpleNamespace(global_step=3, max_steps=4)
    cb.on_step_end(None, state, None)       # nothing raised into the trainer
    assert cb.system is None
    cb.on_step_end(None, state, None)       # sampling has stopped: nothing more
    cb.on_train_end(None, SimpleNamespace(global_step=4, max_steps=4), None)
    message = ("grpotui stopped sampling system metrics after an internal error (RuntimeError: "
               "proc broke); training goes on without it")
    assert [(e["event"], e["step"]) for e in written] == [("error", 3), ("stop", 4)]
    assert (written[0]["part"], written[0]["message"], written[0]["fatal"]) == \
        ("system", message, False)
    assert warnings_logged == [message + "."]
