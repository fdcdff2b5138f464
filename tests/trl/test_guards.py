"""grpotui's own failures never reach the trainer (grpotui/integrations/trl.py: GrpotuiCallback).

Each part of grpotui's callback is made to fail on a real GRPOTrainer run (monkeypatched): the run
completes every step, the failure is reported once (an `error` event while the metrics file can be
written, one warning on the "grpotui" logger) and that part stops. The reward functions' own
exceptions still reach TRL unchanged, and their results are returned as they are."""

from __future__ import annotations

import asyncio
import logging

import pytest

from grpotui import steering
from grpotui.integrations.sorting import exact_match_reward, position_match_reward
from grpotui.integrations.trl import GrpotuiCallback
from grpotui.metrics import MetricsWriter
from tests.trl import conftest
from tests.trl.runs import grpo_run


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """4 steps with the groups record, the step-2 record and every command's application failing;
    a learning-rate change is due at step 2 and a beta change at step 3."""
    mp = pytest.MonkeyPatch()
    handler = conftest.Collect()
    logging.getLogger("grpotui").addHandler(handler)
    step_record = GrpotuiCallback._step_record

    def groups_record(self, step, rows):
        raise RuntimeError("groups broke")

    def flaky_step_record(self, step, logs):
        if step == 2:
            raise KeyError("step 2 broke")
        return step_record(self, step, logs)

    def apply_one(self, *args, **kwargs):
        raise ZeroDivisionError("apply broke")

    mp.setattr(GrpotuiCallback, "_groups_record", groups_record)
    mp.setattr(GrpotuiCallback, "_step_record", flaky_step_record)
    mp.setattr(GrpotuiCallback, "_apply_one", apply_one)
    try:
        run = grpo_run(tmp_path_factory.mktemp("broken"),
                       reward_funcs=[position_match_reward, exact_match_reward],
                       reward_weights=[1.0, 0.5], beta=0.04,
                       commands={2: {"learning_rate": 5e-4}, 3: {"beta": 0.1}})
    finally:
        mp.undo()
        logging.getLogger("grpotui").removeHandler(handler)
    run.extra["warnings"] = handler.messages
    return run


def test_training_completes_when_grpotuis_own_parts_fail(broken):
    assert broken.trainer.state.global_step == 4
    assert broken.records[-1]["event"] == "stop"
    assert broken.records[-1]["reason"] == "training finished at step 4 of 4"
    assert sorted(broken.steps()) == [1, 3, 4]          # the failed record is lost, not the others
    assert broken.groups() == {}


def test_each_failure_is_one_error_event_and_one_warning(broken):
    errors = broken.events("error")
    assert [(e["part"], e["step"], e["fatal"]) for e in errors] == \
        [("groups", 1, False), ("steering", 2, False), ("steps", 2, False)]
    assert errors[0]["message"] == ("grpotui stopped recording the groups of completions after an "
                                    "internal error (RuntimeError: groups broke); training goes on "
                                    "without it")
    assert errors[1]["message"] == ("grpotui stopped applying a command after an internal error "
                                    "(ZeroDivisionError: apply broke); training goes on without it")
    assert errors[2]["message"] == ("grpotui stopped writing a step record after an internal error "
                                    "(KeyError: 'step 2 broke'); training goes on without it")
    assert broken.extra["warnings"] == [e["message"] + "." for e in errors]


def test_a_command_that_failed_and_the_ones_after_are_refused_and_change_nothing(broken):
    refused = broken.events("refused")
    assert [(e["step"], e["id"], e["key"]) for e in refused] == [(2, 1, None), (3, 2, None)]
    assert refused[0]["message"] == ("grpotui failed applying this command (ZeroDivisionError: "
                                     "apply broke); steering stopped, training goes on.")
    assert refused[1]["message"] == ("steering stopped after an internal error (ZeroDivisionError: "
                                     "apply broke); this run takes no more commands.")
    assert broken.events("set") == []
    assert broken.trainer.beta == 0.04
    assert [broken.optimizer_lr[s] for s in (1, 2, 3, 4)] == pytest.approx(
        [1e-3, 7.5e-4, 5e-4, 2.5e-4])


def test_a_failing_reader_and_a_failing_writer_never_stop_training(tmp_path, warnings_logged,
                                                                   monkeypatch):
    def poll(self):
        raise MemoryError("poll broke")

    write = MetricsWriter.write

    def flaky_write(self, steps=(), events=()):
        if any(s.get("step") == 2 for s in steps):
            raise OSError(28, "No space left on device")
        write(self, steps, events)

    monkeypatch.setattr(steering.CommandReader, "poll", poll)
    monkeypatch.setattr(MetricsWriter, "write", flaky_write)
    run = grpo_run(tmp_path, reward_funcs=[position_match_reward], max_steps=3,
                   commands={2: {"learning_rate": 5e-4}})
    assert run.trainer.state.global_step == 3
    assert run.callback.reader is None and run.callback.failed_write
    # the file holds what was written before the disk "filled": the reading failure among it
    # (and a system record, if the first steps took longer than its interval)
    assert [r.get("event", "step") for r in run.records if r.get("event") != "system"] == \
        ["start", "error", "groups", "step", "groups"]
    (e,) = run.events("error")
    assert (e["part"], e["step"]) == ("reading", 1)
    assert e["message"] == ("grpotui stopped reading the command file after an internal error "
                            "(MemoryError: poll broke); training goes on without it")
    assert warnings_logged == [
        e["message"] + ".",
        f"grpotui: cannot write the metrics file {run.path} (OSError: [Errno 28] No space left on "
        f"device); training goes on without it."]
    assert run.optimizer_lr[3] == pytest.approx(1e-3 / 3)      # the command was never read


def test_reward_functions_raise_and_return_exactly_as_they_would_unwrapped(broken):
    callback = broken.callback
    result = [0.5, None]
    problem = ValueError("the user's reward function failed")

    def fine(prompts, completions, **kwargs):
        return result

    def failing(prompts, completions, **kwargs):
        raise problem

    async def fine_async(prompts, completions, **kwargs):
        return result

    assert callback._wrap(0, fine)(prompts=["p"], completions=["c"]) is result
    assert asyncio.run(callback._wrap(0, fine_async)(prompts=["p"], completions=["c"])) is result
    with pytest.raises(ValueError) as raised:
        callback._wrap(1, failing)(prompts=["p"], completions=["c"])
    assert raised.value is problem


def test_recording_odd_reward_results_never_raises(broken, monkeypatch):
    """Whatever a reward function returns (TRL checks it after), the recording passes it through."""
    callback = broken.callback
    monkeypatch.setattr(callback, "failures", {})
    monkeypatch.setattr(callback, "writer", None)
    odd = [object(), "x", 3, None, {"a": 1}, [1, "2", float("nan")], (1,)]
    for out in odd:
        for index in (0, 1):
            wrapped = callback._wrap(index, lambda prompts, completions, out=out, **kw: out)
            assert wrapped(prompts=[{"content": 5}], completions=[[1, {"role": None}]],
                           target=3) is out
    assert callback.failures == {}
