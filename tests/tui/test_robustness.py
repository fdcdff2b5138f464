"""Failures inside training: the dashboard stays up, says what happened, and offers a reset."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual.widgets import Input, Select, Static

from grpotui.config import ConfigError, coerce
from grpotui.presets import find_preset
from grpotui.tui.app import GrpoApp
from grpotui.tui.widgets.controls import INPUTS, KEY_OF, SELECTS, SPEEDS, Controls
from grpotui.tui.widgets.status import StatusLine

from ..fuzz_strategies import examples
from .conftest import wait_for
from .test_app import log_text


def status_text(app) -> str:
    return str(app.query_one(StatusLine).render())


@pytest.mark.parametrize("fault, message", [
    ("reward-nan@2", "the reward function 'inclusion_ordering' returned a non-finite value"),
    ("loss-nan@2", "non-finite loss at step 11"),
])
async def test_non_finite_values_pause_as_diverged(lecture_config, monkeypatch, fault, message):
    monkeypatch.setenv("GRPOTUI_FAULT", fault)
    app = GrpoApp(lecture_config, preset_name="lecture-centered")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "diverged", "the divergence")
        assert app.rollout == 1 and app.step == 10  # the bad step was not taken
        assert "DIVERGED" in status_text(app)
        log = log_text(app)
        assert "diverged at step 11" in log and message in log
        assert "learning_rate=0.001" in log  # the live settings are reported
        await app.action_quit()


async def test_a_reward_function_that_raises_leaves_the_dashboard_up(lecture_config, monkeypatch):
    monkeypatch.setenv("GRPOTUI_FAULT", "reward-raises@2")
    app = GrpoApp(lecture_config, preset_name="lecture-centered")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "crashed", "the failure")
        assert "injected fault: the reward function raised" in log_text(app)
        assert "CRASHED" in status_text(app) and "r resets" in status_text(app)
        await pilot.press("space")  # nothing to resume: says so, does not hang
        await pilot.press("r")
        await pilot.pause()
        await pilot.click("#yes")
        # the reset builds a new trainer; its first rollout fails again (the fault stays installed)
        await wait_for(pilot, lambda: "reset" in log_text(app), "the reset")
        assert app.training.alive
        await app.action_quit()


async def test_a_killed_training_process_is_reported_and_restarted(lecture_config):
    app = GrpoApp(lecture_config.replace(rollouts=100_000), preset_name="lecture-centered")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.step > 0, "training")
        old = app.training.process
        old.kill()
        await wait_for(pilot, lambda: app.state == "stopped", "the dashboard to notice")
        assert "the training process ended" in log_text(app)
        await pilot.press("r")
        await pilot.pause()
        await pilot.click("#yes")
        await wait_for(pilot, lambda: app.training.process is not old and app.step > 0
                       and app.state == "running", "a new training process")
        new = app.training.process
        await pilot.press("q")
    assert not old.is_alive() and not new.is_alive()


async def test_stats_log_reports_frames_memory_and_a_steady_widget_count(lecture_config, monkeypatch,
                                                                        tmp_path):
    """GRPOTUI_STATS (what scripts/soak.py reads): one JSON line per flush, with real measurements."""
    import json

    path = tmp_path / "stats.jsonl"
    monkeypatch.setenv("GRPOTUI_STATS", str(path))
    # only the two flushes below: the periodic one would add a line on a slow machine
    monkeypatch.setattr("grpotui.tui.app.STATS_EVERY", 1e6)
    app = GrpoApp(lecture_config.replace(rollouts=1_000_000), preset_name="lecture-centered")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.step >= 200 and app.stats.frames and app.stats.handlers,
                       "training, frames and snapshots")
        app._flush_stats()
        start = app.step
        await wait_for(pilot, lambda: app.step >= start + 200 and app.stats.frames, "more training")
        app._flush_stats()
        await app.action_quit()
    first, second = [json.loads(line) for line in path.read_text().splitlines()]
    for rec in (first, second):
        assert set(rec) == {"t", "step", "steps_per_second", "snapshots_per_second", "frame_ms",
                            "handler_ms", "lag_ms", "rss_ui_mb", "rss_worker_mb", "widgets"}
        assert rec["frame_ms"]["p50"] > 0 and rec["handler_ms"]["max"] >= rec["handler_ms"]["p50"]
        assert rec["rss_ui_mb"] > 0 and rec["rss_worker_mb"] > 0
    assert second["step"] > first["step"] >= 200
    assert second["widgets"] == first["widgets"] > 20   # updates happen in place


# ---------------------------------------------------------------- random use of the controls mid-run
TYPED = ["1", "2", "4", "0", "-1", "0.5", "1e-3", "3e-2", "nan", "inf", "abc", "", "1e9", "12", " 3 "]
OPS = st.one_of(
    st.tuples(st.just("select"), st.sampled_from([(wid, c) for wid, _, _, cs in SELECTS for c in cs]
                                                 + [("speed", v) for _, v in SPEEDS])),
    st.tuples(st.just("type"), st.tuples(st.sampled_from([wid for wid, _, _ in INPUTS]),
                                         st.sampled_from(TYPED))),
    st.tuples(st.just("key"), st.sampled_from(["space", "n", "left_square_bracket",
                                               "right_square_bracket", "plus", "minus", "x"])),
    st.tuples(st.just("reset"), st.sampled_from(["y", "escape"])),
    st.tuples(st.just("resize"), st.sampled_from([(40, 12), (80, 24), (120, 40), (61, 17)])),
)


async def _drive(ops) -> None:
    config = find_preset("lecture-centered").config.replace(rollouts=100_000)
    app = GrpoApp(config, preset_name="lecture-centered")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.step > 0, "training")
        controls = app.query_one(Controls)
        for op, arg in ops:
            if op == "select":
                wid, value = arg
                app.query_one(f"#{wid}", Select).value = value
            elif op == "type":
                wid, text = arg
                key, inp = KEY_OF[wid], app.query_one(f"#{wid}", Input)
                inp.focus()
                inp.value = text
                await pilot.press("enter")
                error = str(app.query_one("#control-error", Static).render())
                try:
                    value = coerce(key, text)
                except ConfigError:
                    assert key in error  # refused, naming the setting; the live value is back
                    assert inp.value in (str(controls.config[key]), f"{controls.config[key]:g}")
                else:
                    assert error == "" and controls.config[key] == value
            elif op == "key":
                app.screen.set_focus(None)
                await pilot.press(arg)
            elif op == "reset":
                app.screen.set_focus(None)
                await pilot.press("r")
                await pilot.pause()
                await pilot.press(arg)  # y confirms, escape cancels
            else:
                await pilot.resize_terminal(*arg)
            await pilot.pause()
        # Whatever happened, the dashboard is up, training is alive, and the trainer's settings are
        # the ones the controls show.
        assert app.state in ("running", "paused", "done", "diverged")
        assert app.training.alive
        live = [key for _, key, *_ in SELECTS + INPUTS]
        await wait_for(pilot, lambda: all(app.config_dict[k] == controls.config[k] for k in live),
                       "the trainer to take the controls' settings")
        await app.action_quit()


@settings(max_examples=examples(4), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, min_size=1, max_size=12))
def test_random_use_of_the_controls_mid_run_never_breaks_the_dashboard(ops):
    """Random sequences of control changes, typed values good and bad, keys, resets and resizes,
    while training runs: nothing raises, bad values are refused inline, and the trainer ends up
    with exactly the settings the controls show."""
    asyncio.run(_drive(ops))
