"""Issue 18's GRPO variants on hand-computed examples: sequence-level importance ratios (GSPO),
per-token credit, reward mixes and decoupled normalization (GDPO), learning-rate schedules."""

from __future__ import annotations

import math

import pytest
import torch

from grpotui import presets as P
from grpotui.config import ConfigError, TrainConfig
from grpotui.engine import grpo, rewards, schedules
from grpotui.engine.trainer import Trainer


def close(a, b, tol=1e-4):
    torch.testing.assert_close(torch.as_tensor(a, dtype=torch.float32),
                               torch.as_tensor(b, dtype=torch.float32), atol=tol, rtol=0)


# ============================================================================ importance sampling
# One prompt, two responses of two tokens. log-ratios: response 0 (+0.1, +0.5), response 1 (-0.4, 0.0)
OLD = torch.log(torch.tensor([[[0.5, 0.4], [0.3, 0.6]]]))
NEW = OLD + torch.tensor([[[0.1, 0.5], [-0.4, 0.0]]])
DELTAS = torch.tensor([[1.0, -1.0]])


def test_sequence_ratio_is_exp_of_the_mean_log_ratio():
    r = grpo.importance_ratio(NEW, OLD, "sequence")
    close(r, [[[math.exp(0.3)] * 2, [math.exp(-0.2)] * 2]])
    close(grpo.importance_ratio(NEW, OLD, "token"), NEW.sub(OLD).exp())


def test_sequence_clipped_loss_by_hand():
    # response 0: ratio e^0.3 = 1.3499 > 1.2 with delta +1 -> clipped to 1.2
    # response 1: ratio e^-0.2 = 0.8187 >= 0.8 with delta -1 -> min(-0.8187, -0.8187) = -0.8187
    # the loss is minus the mean over the 4 tokens
    expected = -(2 * 1.2 + 2 * -math.exp(-0.2)) / 4
    close(grpo.policy_loss(NEW, OLD, DELTAS, "clipped", 0.2, "sequence"), expected)
    # per token: 1.1052, 1.2 (clipped from 1.6487); -0.8 (clip binds: 0.6703 < 0.8), -1.0
    expected_token = -(math.exp(0.1) + 1.2 - 0.8 - 1.0) / 4
    close(grpo.policy_loss(NEW, OLD, DELTAS, "clipped", 0.2, "token"), expected_token)
    close(grpo.policy_loss(NEW, OLD, DELTAS, "clipped", 0.2), expected_token)   # token is the default


def test_sequence_level_gradient_flows_through_every_token():
    new = NEW.clone().requires_grad_(True)
    grpo.policy_loss(new, OLD, DELTAS, "unclipped", 0.2, "sequence").backward()
    # d/dlogp_t of -(1/4) * sum over tokens of ratio_seq * delta, ratio_seq = exp(mean log-ratio):
    # each token of response i gets -(2/4) * delta_i * ratio_i / 2
    r0, r1 = math.exp(0.3), math.exp(-0.2)
    close(new.grad, [[[-r0 / 4] * 2, [r1 / 4] * 2]])
    with pytest.raises(ValueError, match="allowed: token, sequence"):
        grpo.importance_ratio(NEW, OLD, "bogus")


# ============================================================================ per-token credit
# One prompt [2, 0, 1] (target [0, 1, 2]), a group of three responses
PROMPT = torch.tensor([[2, 0, 1]])
GROUP = torch.tensor([[[0, 1, 2], [0, 2, 2], [1, 1, 2]]])


def test_position_scores_and_their_sum():
    s = rewards.position_match_per_position(PROMPT, GROUP)
    assert s.tolist() == [[[1, 1, 1], [1, 0, 1], [0, 1, 1]]]
    assert torch.equal(s.sum(-1), rewards.position_match(PROMPT, GROUP))


def test_per_token_deltas_under_each_delta_mode():
    s = rewards.position_match_per_position(PROMPT, GROUP)
    # position 0 scores (1, 1, 0): mean 2/3, std 0.5774; position 1 (1, 0, 1); position 2 (1, 1, 1)
    assert grpo.compute_deltas(s, "raw").tolist() == s.tolist()
    close(grpo.compute_deltas(s, "centered"),
          [[[1 / 3, 1 / 3, 0], [1 / 3, -2 / 3, 0], [-2 / 3, 1 / 3, 0]]])
    z = (1 / 3) / (math.sqrt(1 / 3) + 1e-5)
    close(grpo.compute_deltas(s, "normalized"), [[[z, z, 0], [z, -2 * z, 0], [-2 * z, z, 0]]])
    assert grpo.compute_deltas(s, "max").tolist() == [[[1, 1, 1], [1, 0, 1], [0, 1, 1]]]


@pytest.mark.parametrize("name", ["exact_match", "inclusion_ordering"])
@pytest.mark.parametrize("mode", ["raw", "centered", "normalized", "max"])
def test_a_whole_response_reward_gives_every_token_the_sequence_delta(name, mode):
    whole = rewards.REWARD_FUNCTIONS[name](PROMPT, GROUP)
    per_pos = rewards.per_position(name)(PROMPT, GROUP)
    token = grpo.compute_deltas(per_pos, mode)
    sequence = grpo.compute_deltas(whole, mode)
    close(token, sequence.unsqueeze(-1).expand(1, 3, 3))


def test_trainer_token_credit_with_a_whole_response_reward_equals_sequence_credit():
    cfg = dict(policy="autoregressive", n=3, vocab_size=5, d_model=16, n_layers=1, n_heads=2,
               heldout_size=10, prompts_per_rollout=4, group_size=4, reward="inclusion_ordering",
               delta_mode="normalized", seed=2)
    a = Trainer(TrainConfig(**cfg, credit="sequence")).rollout()
    b = Trainer(TrainConfig(**cfg, credit="token")).rollout()
    close(a.groups.token_deltas, b.groups.token_deltas, 1e-6)
    assert a.metrics[0]["loss"] == pytest.approx(b.metrics[0]["loss"], abs=1e-6)


# ============================================================================ reward mixes, GDPO
def test_a_mix_is_the_weighted_sum_of_its_parts():
    mix = rewards.weighted({"position_match": 1.0, "exact_match": 4.0})
    assert mix(PROMPT, GROUP).tolist() == [[3 + 4, 2, 2]]
    parts = rewards.components({"position_match": 1.0, "exact_match": 4.0}, PROMPT, GROUP)
    assert parts.tolist() == [[[3, 1], [2, 0], [2, 0]]]
    with pytest.raises(ValueError, match="unknown reward"):
        rewards.weighted({"nope": 1.0})


def test_a_mix_round_trips_through_a_preset(tmp_path):
    cfg = TrainConfig(reward={"position_match": 1, "exact_match": 4},
                      reward_aggregation="normalize_then_sum")
    P.save_preset("mix", "a mix", cfg, tmp_path)
    again = P.find_preset("mix", tmp_path).config
    assert again == cfg and again.reward == {"position_match": 1.0, "exact_match": 4.0}


def test_the_gdpo_collapse_case():
    # two groups of two responses, two rewards each: {(0,0), (1,1)} and {(0,0), (0,1)}
    comps = torch.tensor([[[0.0, 0.0], [1.0, 1.0]], [[0.0, 0.0], [0.0, 1.0]]])
    w = torch.tensor([1.0, 1.0])
    summed = grpo.compute_deltas((comps * w).sum(-1), "normalized")
    close(summed, [[-0.7071, 0.7071], [-0.7071, 0.7071]])            # the collapse: one delta
    # decoupled, before the batch step: +-1.414 and +-0.707
    per_group = (comps - comps.mean(1, keepdim=True)) / (comps.std(1, keepdim=True) + 1e-4)
    before = (per_group * w).sum(-1)
    close(before, [[-1.4141, 1.4141], [-0.7070, 0.7070]])
    # then normalised over the batch: std of (-1.414, 1.414, -0.707, 0.707) is sqrt(5/3) * 0.7070
    d = grpo.decoupled_deltas(comps, w)
    scale = before.std() + 1e-4
    close(d, before / scale)
    close(d, [[-1.0954, 1.0954], [-0.5477, 0.5477]])
    assert abs(d[0, 1]) > abs(d[1, 1])          # both rewards count for more than one


def test_trainer_logs_each_component_and_gdpo_deltas():
    cfg = TrainConfig(policy="transformer", n=3, vocab_size=5, d_model=16, n_layers=1, n_heads=2,
                      heldout_size=10, prompts_per_rollout=6, group_size=4, seed=1,
                      reward={"position_match": 1, "exact_match": 4},
                      reward_aggregation="normalize_then_sum")
    res = Trainer(cfg).rollout()
    g, m = res.groups, res.metrics[0]
    close(m["rewards/position_match/mean"], g.components["position_match"].mean(), 1e-6)
    close(m["rewards/exact_match/mean"], g.components["exact_match"].mean(), 1e-6)
    close(g.rewards, g.components["position_match"] + 4 * g.components["exact_match"])
    parts = torch.stack([g.components["position_match"], g.components["exact_match"]], -1)
    close(g.deltas, grpo.decoupled_deltas(parts, torch.tensor([1.0, 4.0])))


def test_mix_settings_are_checked():
    with pytest.raises(ConfigError, match="not a reward function"):
        TrainConfig(reward={"position_match": 1, "speed": 2})
    with pytest.raises(ConfigError, match="every weight is 0"):
        TrainConfig(reward={"exact_match": 0})


# ============================================================================ schedules
def cfg_lr(**kw) -> TrainConfig:
    return TrainConfig(learning_rate=1e-3, rollouts=100, **kw)


def test_constant_linear_and_cosine_at_chosen_rollouts():
    assert schedules.learning_rate(cfg_lr(), 0) == 1e-3
    assert schedules.learning_rate(cfg_lr(), 99) == 1e-3
    lin = cfg_lr(lr_scheduler_type="linear")
    assert [schedules.learning_rate(lin, r) for r in (0, 25, 50, 100, 150)] == pytest.approx(
        [1e-3, 7.5e-4, 5e-4, 0.0, 0.0])
    cos = cfg_lr(lr_scheduler_type="cosine", min_lr_rate=0.1)
    # 1e-4 + 9e-4 * (1 + cos(pi * r / 100)) / 2
    assert [schedules.learning_rate(cos, r) for r in (0, 25, 50, 100, 400)] == pytest.approx(
        [1e-3, 1e-4 + 9e-4 * (1 + math.cos(math.pi / 4)) / 2, 5.5e-4, 1e-4, 1e-4])


def test_warmup_then_decay():
    c = cfg_lr(lr_scheduler_type="linear", warmup_rollouts=20)
    # warm-up r/20; then 1 - (r - 20) / 80
    assert [schedules.learning_rate(c, r) for r in (0, 5, 20, 60, 100)] == pytest.approx(
        [0.0, 2.5e-4, 1e-3, 5e-4, 0.0])
    const = cfg_lr(warmup_rollouts=10)
    assert schedules.learning_rate(const, 5) == pytest.approx(5e-4)


def test_trainer_uses_the_schedule_and_a_live_change_continues_from_the_current_rollout():
    cfg = TrainConfig(policy="lecture", prompt_source="fixed", n=3, vocab_size=5, d_model=10,
                      heldout_size=10, inner_steps=2, learning_rate=1e-3, rollouts=10,
                      lr_scheduler_type="linear")
    tr = Trainer(cfg)
    lrs = [tr.rollout().metrics[0]["lr"] for _ in range(4)]
    assert lrs == pytest.approx([1e-3, 9e-4, 8e-4, 7e-4])
    assert tr.optimizer.param_groups[0]["lr"] == pytest.approx(7e-4)
    tr.update(learning_rate=2e-3, lr_scheduler_type="cosine", adam_beta2=0.99)
    m = tr.rollout().metrics
    # rollout index 4 of 10 under the new schedule: 2e-3 * (1 + cos(0.4 pi)) / 2
    assert m[0]["lr"] == m[1]["lr"] == pytest.approx(2e-3 * (1 + math.cos(0.4 * math.pi)) / 2)
    assert tr.optimizer.param_groups[0]["betas"] == (0.9, 0.99)


def test_grpo_deltas_is_compute_deltas_for_either_shape():
    s = rewards.position_match_per_position(PROMPT, GROUP)
    assert torch.equal(grpo.deltas(s, "centered"), grpo.compute_deltas(s, "centered"))
    assert torch.equal(grpo.deltas(s.sum(-1), "max"), grpo.compute_deltas(s.sum(-1), "max"))
