"""Failures inside training: the dashboard stays up, says what happened, and offers a reset."""

from __future__ import annotations

import pytest

from grpotui.tui.app import GrpoApp
from grpotui.tui.widgets.status import StatusLine

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
