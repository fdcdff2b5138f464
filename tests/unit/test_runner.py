"""Headless runs: stop rules and the summary (the CLI's `run` without the CLI)."""

from __future__ import annotations

import json

import pytest

from grpotui.presets import find_preset
from grpotui.runner import RunSummary, StopRules, run_headless


def lecture(**changes):
    return find_preset("lecture-centered").config.replace(**changes)


def test_default_rule_is_the_configs_rollouts(tmp_path):
    path = tmp_path / "m.jsonl"
    s = run_headless(lecture(rollouts=2), StopRules(), metrics_path=str(path), quiet=True)
    assert (s.steps, s.rollouts, s.stopped, s.diverged) == (20, 2, "reached rollouts", None)
    assert s.max_reward == 5
    records = [json.loads(x) for x in path.read_text().splitlines()]
    steps = [r for r in records if "event" not in r]
    assert s.reward == steps[-1]["reward"]
    assert records[-1]["heldout_exact_match"] == s.heldout_exact_match


def test_steps_rule_is_exact():
    s = run_headless(lecture(), StopRules(steps=15), quiet=True)
    assert (s.steps, s.rollouts, s.stopped) == (15, 2, "reached steps")


def test_first_rule_reached_wins():
    s = run_headless(lecture(), StopRules(steps=100, rollouts=3), quiet=True)
    assert (s.steps, s.rollouts, s.stopped) == (30, 3, "reached rollouts")


def test_target_heldout_rule():
    s = run_headless(lecture(), StopRules(target_heldout=0.0, rollouts=50), quiet=True)
    assert s.rollouts == 1
    assert s.stopped.startswith("reached held-out exact match")


def test_same_config_same_summary():
    a = run_headless(lecture(), StopRules(rollouts=3), quiet=True)
    b = run_headless(lecture(), StopRules(rollouts=3), quiet=True)
    assert (a.steps, a.reward, a.heldout_exact_match) == (b.steps, b.reward, b.heldout_exact_match)


def test_progress_bar_mode_runs():
    s = run_headless(lecture(), StopRules(rollouts=1), preset_name="lecture-centered", quiet=False)
    assert s.rollouts == 1


def test_summary_line():
    s = RunSummary(steps=30, rollouts=3, seconds=2.0, reward=3.25, max_reward=5.0,
                   heldout_exact_match=0.5, stopped="reached rollouts")
    assert s.steps_per_second == 15.0
    assert s.line() == ("reached rollouts: 30 steps (3 rollouts) in 2.0 s, 15 steps/s; final reward "
                        "3.250 of 5; held-out exact match 0.500 (final policy)")
    assert RunSummary(steps=1, rollouts=1, seconds=1.0, reward=1.0, max_reward=5.0,
                      heldout_exact_match=0.5, stopped="x").line().startswith(
        "x: 1 step (1 rollout) in 1.0 s")
    assert RunSummary(0, 0, 0.0, 0.0, 1.0, 0.0, "x").steps_per_second == 0.0


@pytest.mark.parametrize("rules", [StopRules(rollouts=1), StopRules(steps=1)])
def test_metrics_file_is_closed_with_a_stop_event(tmp_path, rules):
    path = tmp_path / "m.csv"
    run_headless(lecture(), rules, metrics_path=str(path), quiet=True)
    last = path.read_text().splitlines()[-1]
    assert ",stop," in last
