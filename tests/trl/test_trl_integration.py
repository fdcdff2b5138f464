"""grpotui.integrations.trl on real GRPOTrainer runs (CPU, offline, a tiny random model).

One run with beta > 0 carries most checks (records, groups, advantages, steering); two shorter runs
check the advantages under the other settings TRL documents (batch scaling and its change mid-run,
GDPO's normalize_then_sum with a reward function that returns None) and the CSV format."""

from __future__ import annotations

import math
import re

import pytest
import torch

from grpotui.config import ConfigError
from grpotui.integrations.sorting import exact_match_reward, position_match_reward
from grpotui.integrations.trl import attach, trl_advantages
from tests.trl.runs import grpo_run

TRL_METRICS = ["reward", "reward_std", "kl", "entropy", "clip_ratio/low_mean", "clip_ratio/high_mean",
               "clip_ratio/region_mean", "frac_reward_zero_std", "completions/mean_length",
               "completions/clipped_ratio", "rewards/position_match_reward/mean",
               "rewards/exact_match_reward/mean", "learning_rate", "loss", "grad_norm"]


def flat(grid):
    return [x for row in grid for x in row]


def test_start_record_holds_the_runs_settings(run):
    start = run.records[0]
    assert start["event"] == "start" and start["step"] == 0
    c = start["config"]
    assert c["source"] == "trl" and c["model"] == str(run.path.parent / "model")
    assert (c["num_generations"], c["learning_rate"], c["beta"], c["epsilon"], c["epsilon_high"]) == \
        (4, 1e-3, 0.04, 0.2, 0.2)
    assert (c["scale_rewards"], c["loss_type"], c["temperature"]) == ("group", "dapo", 1.0)
    assert c["reward_funcs"] == ["position_match_reward", "exact_match_reward"]
    assert c["reward_weights"] == [1.0, 0.5]
    assert start["control"] == {
        "file": "run.jsonl.control.jsonl",
        "settings": {"learning_rate": 1e-3, "beta": 0.04, "epsilon": 0.2, "epsilon_high": 0.2,
                     "scale_rewards": "group", "reward_weights": [1.0, 0.5]}}
    assert run.records[-1]["event"] == "stop" and run.records[-1]["step"] == 4
    assert run.records[-1]["reason"] == "training finished at step 4 of 4"


def test_step_records_carry_trls_metrics_and_grpotuis_names(run):
    steps = run.steps()
    assert sorted(steps) == [1, 2, 3, 4]
    logged = {h["step"]: h for h in run.log_history if "loss" in h}
    for s, rec in steps.items():
        for key in TRL_METRICS:
            assert key in rec, (s, key)
        for key, value in logged[s].items():
            assert rec[key] == value, (s, key)           # TRL's values, exactly
        assert rec["lr"] == rec["learning_rate"]
        assert rec["exact_match"] == rec["rewards/exact_match_reward/mean"]
        assert rec["group_size"] == 4 and rec["rollout"] == s
        assert rec["steps_per_second"] == pytest.approx(1 / rec["step_time"])


def test_groups_rewards_are_the_reward_functions(run):
    groups = run.groups()
    assert sorted(groups) == [1, 2, 3, 4]
    for s, g in groups.items():
        assert len(g["prompts"]) == 2 and all(len(r) == 4 for r in g["responses"])
        completions = flat(g["responses"])
        targets = [t for t in g["targets"] for _ in range(4)]
        for i, prompt in enumerate(g["prompts"]):
            numbers = sorted(int(x) for x in re.findall(r"\d+", prompt))
            assert g["targets"][i] == " ".join(map(str, numbers))
        assert flat(g["components"]["position_match_reward"]) == \
            position_match_reward([], completions, targets)
        assert flat(g["components"]["exact_match_reward"]) == exact_match_reward([], completions, targets)
        w = [1.0, 0.5] if s < 3 else [2.0, 1.0]           # the weights change at step 3
        assert g["reward_weights"] == w
        expect = [w[0] * a + w[1] * b for a, b in zip(flat(g["components"]["position_match_reward"]),
                                                     flat(g["components"]["exact_match_reward"]))]
        assert flat(g["rewards"]) == pytest.approx(expect)
        # TRL's logged mean reward is the mean of these weighted rewards, at every step
        assert run.steps()[s]["reward"] == pytest.approx(sum(expect) / len(expect), abs=1e-6)


def test_groups_match_trls_logged_completions_and_advantages(run):
    groups = run.groups()
    assert sorted(run.parquet) == sorted(groups)
    for s, table in run.parquet.items():
        g = groups[s]
        assert list(table["completion"]) == flat(g["responses"])
        assert list(table["prompt"])[::4] == g["prompts"]
        assert list(table["position_match_reward"]) == flat(g["components"]["position_match_reward"])
        assert list(table["advantage"]) == pytest.approx(flat(g["deltas"]), abs=1e-5)


def test_a_command_applies_at_the_next_optimizer_step(run):
    lr = run.optimizer_lr
    # linear decay over 4 steps from 1e-3; from step 3 the schedule runs from 5e-4 instead
    assert lr[1] == pytest.approx(1e-3) and lr[2] == pytest.approx(7.5e-4)
    assert lr[3] == pytest.approx(5e-4 * 0.5) and lr[4] == pytest.approx(5e-4 * 0.25)
    steps = run.steps()
    assert [steps[s]["learning_rate"] for s in (1, 2, 3, 4)] == pytest.approx(
        [1e-3, 7.5e-4, 2.5e-4, 1.25e-4])
    sets = {e["key"]: e for e in run.events("set")}
    assert set(sets) == {"learning_rate", "beta", "reward_weights", "epsilon", "epsilon_high"}
    assert all(e["step"] == 3 and e["id"] == 1 for e in sets.values())
    assert (sets["learning_rate"]["old"], sets["learning_rate"]["new"]) == (1e-3, 5e-4)
    assert (sets["beta"]["old"], sets["beta"]["new"]) == (0.04, 0.1)
    assert (sets["epsilon_high"]["old"], sets["epsilon_high"]["new"]) == (0.2, 0.3)
    assert (sets["reward_weights"]["old"], sets["reward_weights"]["new"]) == ([1.0, 0.5], [2.0, 1.0])
    t = run.trainer
    assert (t.beta, t.epsilon_low, t.epsilon_high) == (0.1, 0.3, 0.3)
    assert t.reward_weights.tolist() == [2.0, 1.0]
    assert t.lr_scheduler.base_lrs == pytest.approx([5e-4] * len(t.lr_scheduler.base_lrs))


def test_what_trl_cannot_change_is_refused_with_the_reason(run):
    refused = {e["key"]: e for e in run.events("refused")}
    assert set(refused) == {"temperature", "epsilon_high", "warmup"}
    assert all(e["step"] == 3 for e in refused.values())
    assert "generation settings" in refused["temperature"]["message"]
    assert "cannot change mid-run" in refused["temperature"]["message"]
    assert refused["epsilon_high"]["message"] == \
        "epsilon_high -1: allowed: a number from 0 to 10."
    assert "not a setting grpotui can change" in refused["warmup"]["message"]
    assert run.trainer.temperature == 1.0


def digits_or_none(prompts, completions, **kwargs):
    """A reward function that abstains (None) on completions without a digit."""
    return [float(len(re.findall(r"\d", c))) if re.search(r"\d", c) else None for c in completions]


@pytest.mark.parametrize("kind", ["batch-then-none-csv", "gdpo-with-none"])
def test_advantages_match_trl_under_other_settings(tmp_path, kind):
    if kind == "batch-then-none-csv":
        r = grpo_run(tmp_path, reward_funcs=[position_match_reward], scale_rewards="batch",
                     max_steps=2, metrics_name="run.csv",
                     commands={2: {"scale_rewards": "none", "beta": 0.2,
                                   "reward_weights": {"position_match_reward": 3}}})
        assert [(e["key"], e["step"], e["new"]) for e in r.events("set")] == \
            [("scale_rewards", 2, "none"), ("reward_weights", 2, [3.0])]
        assert r.groups()[2]["reward_weights"] == [3.0]
        (beta,) = r.events("refused")
        assert "started with beta = 0" in beta["message"] and r.trainer.beta == 0.0
        assert "beta" not in r.records[0]["control"]["settings"]
    else:
        r = grpo_run(tmp_path, reward_funcs=[position_match_reward, digits_or_none],
                     reward_weights=[1.0, 0.25], multi_objective_aggregation="normalize_then_sum",
                     max_steps=2, temperature=2.0, epsilon_high=0.28, commands={2: {"epsilon": 0.1}})
        # the run set epsilon_high, so epsilon is the lower bound only (GRPOConfig's meaning)
        assert [(e["key"], e["old"], e["new"]) for e in r.events("set")] == [("epsilon", 0.2, 0.1)]
        assert (r.trainer.epsilon_low, r.trainer.epsilon_high) == (0.1, 0.28)
        nones = [x for s in r.groups().values() for x in flat(s["components"]["digits_or_none"])]
        assert None in nones                       # the None path was exercised
    groups = r.groups()
    assert sorted(groups) == sorted(r.parquet) == [1, 2]
    for s, table in r.parquet.items():
        assert list(table["completion"]) == flat(groups[s]["responses"])
        assert list(table["advantage"]) == pytest.approx(flat(groups[s]["deltas"]), abs=1e-5)


def test_trl_advantages_by_hand():
    # two groups of 2, weights (1, 2); the second group's first row is unscorable (all None)
    x = torch.tensor([[1.0, 0.0], [3.0, 1.0], [math.nan, math.nan], [2.0, math.nan]])
    w = torch.tensor([1.0, 2.0])
    reward, adv = trl_advantages(x, w, 2, "none")
    assert reward[:2].tolist() == [1.0, 5.0] and math.isnan(reward[2]) and reward[3] == 2.0
    assert adv.tolist() == [-2.0, 2.0, 0.0, 0.0]
    _, adv = trl_advantages(x, w, 2, "group")
    s = math.sqrt(8)                                 # std of (1, 5), Bessel-corrected
    assert adv[:2].tolist() == pytest.approx([-2 / (s + 1e-4), 2 / (s + 1e-4)])
    with pytest.raises(ValueError, match="allowed: group, batch, none"):
        trl_advantages(x, w, 2, "rank")


def test_attach_refuses_a_bad_path_or_object(tmp_path, run):
    with pytest.raises(ConfigError, match=r"unknown extension '\.txt'; allowed: \.jsonl"):
        attach(run.trainer, tmp_path / "run.txt")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ConfigError, match="cannot write there"):
        attach(run.trainer, tmp_path / "a-file" / "run.jsonl")
    with pytest.raises(TypeError, match="expected a trl GRPOTrainer, got int"):
        attach(3, tmp_path / "run.jsonl")
