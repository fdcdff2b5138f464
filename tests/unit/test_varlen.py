"""Variable-length responses with EOS (issue 24): the task's rewards and masks on worked examples,
the policy's sampling and teacher forcing, what the trainer does with the mask, TRL's knobs, the new
metrics, and the settings that go with them."""

from __future__ import annotations

import math

import pytest
import torch

from grpotui.config import ConfigError, TrainConfig, parse_set
from grpotui.engine import grpo, varlen
from grpotui.engine.policies import build_policy
from grpotui.engine.policies.autoregressive import _nucleus
from grpotui.engine.trainer import Trainer, by_length, completion_metrics

V, EOS, PAD = 10, 10, 11
PROMPT = torch.tensor([[PAD, 3, 1]])                         # the numbers 3 and 1: answer 1 3 EOS
RESPONSES = torch.tensor([[[1, 3, EOS, PAD], [1, 3, 3, EOS], [1, EOS, PAD, PAD], [3, 1, 2, 2]]])


def small(**kw) -> TrainConfig:
    base = dict(policy="autoregressive", n=4, min_n=2, max_completion_length=8, vocab_size=V,
                d_model=16, n_layers=1, n_heads=2, group_size=4, prompts_per_rollout=4,
                heldout_size=12, reward="answer_slots", delta_mode="normalized", eval_every=1,
                seed=3)
    return TrainConfig.from_dict({**base, **kw})


# ============================================================================ the task
def test_rewards_on_the_worked_examples():
    assert varlen.answers(PROMPT, V, 4).tolist() == [[1, 3, EOS, PAD]]
    assert varlen.position_match(PROMPT, RESPONSES, V).tolist() == [[2, 2, 1, 0]]
    assert varlen.exact_match(PROMPT, RESPONSES, V).tolist() == [[1, 0, 0, 0]]
    assert varlen.answer_slots(PROMPT, RESPONSES, V)[0].tolist() == pytest.approx(
        [1, 2 / 3, 1 / 3, 0])
    # inclusion (3 and 1 found before EOS) + ordering (adjacent pairs before EOS in order)
    assert varlen.inclusion_ordering(PROMPT, RESPONSES, V).tolist() == [[3, 4, 1, 4]]


def test_the_completion_mask_ends_at_the_first_eos_and_flags_the_truncated():
    mask, lengths, truncated = varlen.completion_mask(RESPONSES, V)
    assert mask.tolist() == [[[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 1]]]
    assert lengths.tolist() == [[3, 4, 2, 4]]
    assert truncated.tolist() == [[False, False, False, True]]


def test_extra_tokens_after_the_answers_eos_slot_cost_nothing_in_answer_slots():
    right_then_more = torch.tensor([[[1, 3, EOS, PAD]], [[1, 3, EOS, PAD]]])
    assert varlen.answer_slots(torch.cat([PROMPT, PROMPT]), right_then_more, V).tolist() == [[1], [1]]


def test_prompts_vary_in_length_and_the_heldout_set_covers_every_length():
    from grpotui.engine.task import PromptSource

    source = PromptSource("random", 6, V, 40, None, seed=0, min_n=2)
    lengths = varlen.prompt_lengths(source.heldout, V)
    assert sorted(set(lengths.tolist())) == [2, 3, 4, 5, 6]
    assert [int((lengths == m).sum()) for m in range(2, 7)] == [8, 8, 8, 8, 8]
    drawn = source.sample(500)
    assert set(varlen.prompt_lengths(drawn, V).tolist()) == {2, 3, 4, 5, 6}
    assert ((drawn == PAD).long().diff(dim=1) <= 0).all()     # PADs only on the left
    held = {tuple(r) for r in source.heldout.tolist()}
    assert not any(tuple(r) in held for r in drawn.tolist())


# ============================================================================ the policy
def test_sampling_stops_at_eos_and_pads_after_it():
    policy = build_policy(small(), 0)
    with torch.no_grad():
        policy.head_bias[EOS] = 50.0           # EOS is all but certain at every step
    responses, logp = policy.sample(PROMPT, 3, torch.Generator().manual_seed(0))
    assert responses.tolist() == [[[EOS] + [PAD] * 7] * 3]
    assert (logp[..., 1:] == 0).all() and (logp[..., 0] > -1e-6).all()


def test_a_response_without_eos_by_max_completion_length_is_truncated():
    policy = build_policy(small(), 0)
    with torch.no_grad():
        policy.head_bias[EOS] = -1e9           # never EOS
    responses, _ = policy.sample(PROMPT, 2, torch.Generator().manual_seed(0))
    assert responses.shape == (1, 2, 8) and (responses < V).all()
    assert varlen.completion_mask(responses, V)[2].tolist() == [[True, True]]


def test_sampling_records_the_log_probs_teacher_forcing_gives():
    policy = build_policy(small(), 0)
    prompts = torch.tensor([[PAD, PAD, 4, 2], [7, 1, 1, 0]])
    responses, old = policy.sample(prompts, 3, torch.Generator().manual_seed(1))
    mask = varlen.completion_mask(responses, V)[0]
    logp = policy.log_probs(prompts, responses)
    torch.testing.assert_close(logp * mask, old * mask, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(policy(prompts, responses), policy.forward_full(prompts, responses),
                               rtol=1e-5, atol=1e-5)


def test_tokens_after_eos_change_no_log_prob_loss_or_gradient():
    cfg = small(loss_type="grpo", kl_beta=0.0)
    policy = build_policy(cfg, 0)
    prompts = torch.tensor([[PAD, PAD, 4, 2]])
    a = torch.tensor([[[2, 4, EOS, PAD, PAD, PAD, PAD, PAD], [4, EOS, PAD, PAD, PAD, PAD, PAD, PAD]]])
    b = a.clone()
    b[0, 0, 3:] = torch.tensor([5, 5, 1, 9, 0])
    b[0, 1, 2:] = torch.tensor([EOS, 3, 3, 3, 3, 3])
    mask = varlen.completion_mask(a, V)[0]
    assert torch.equal(mask, varlen.completion_mask(b, V)[0])
    deltas = torch.tensor([[1.0, -1.0]])
    grads, losses = [], []
    for r in (a, b):
        policy.zero_grad()
        logp = policy.log_probs(prompts, r)
        loss = grpo.policy_loss(logp, logp.detach(), deltas, "clipped", loss_type="grpo", mask=mask)
        loss.backward()
        losses.append(loss.item())
        grads.append([p.grad.clone() for p in policy.parameters()])
        assert torch.equal(logp * mask, logp * mask)
    assert losses[0] == losses[1]
    for ga, gb in zip(*grads):
        torch.testing.assert_close(ga, gb, rtol=0, atol=0)


def test_nucleus_keeps_the_smallest_set_reaching_top_p_and_the_top_k():
    logp = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    kept = lambda x: torch.isfinite(x).tolist()[0]            # noqa: E731
    assert kept(_nucleus(logp, 0.7, 0)) == [True, True, False, False]
    assert kept(_nucleus(logp, 0.8, 0)) == [True, True, False, False]   # 0.5 + 0.3 reaches 0.8
    assert kept(_nucleus(logp, 0.81, 0)) == [True, True, True, False]
    assert kept(_nucleus(logp, 0.1, 0)) == [True, False, False, False]  # the likeliest stays
    assert kept(_nucleus(logp, 1.0, 3)) == [True, True, True, False]
    assert kept(_nucleus(logp, 0.7, 1)) == [True, False, False, False]


# ============================================================================ the trainer
def test_seeded_variable_length_runs_are_identical():
    def run():
        t = Trainer(small(loss_type="dr_grpo"))
        out = [t.rollout().metrics for _ in range(3)]
        return [{k: ("nan" if isinstance(v, float) and math.isnan(v) else v)
                 for k, v in m.items() if k not in ("time", "steps_per_second")}
                for ms in out for m in ms]
    first, second = run(), run()
    assert first == second
    assert set(first[-1]) >= {"completions/mean_length", "completions/min_length",
                              "completions/max_length", "completions/clipped_ratio",
                              "completions/mean_terminated_length",
                              "completions/min_terminated_length",
                              "completions/max_terminated_length",
                              "completions/mean_length_correct", "completions/mean_length_incorrect",
                              "completions/excess_length_incorrect", "heldout_exact_match/2",
                              "heldout_truncated/4", "clip_ratio/low_mean", "clip_ratio/high_mean",
                              "clip_ratio/region_mean"}


def test_the_trainer_loss_is_the_engines_with_trls_order():
    t = Trainer(small(loss_type="grpo", epsilon_high=0.28, kl_beta=0.1, entropy_coef=0.01,
                      top_entropy_quantile=0.5))
    prompts = t.prompts.sample(4)
    responses, old, logp, logp_all = t.policy.sample_for_training(prompts, 4, t.gen)
    mask = varlen.completion_mask(responses, V)[0]
    ref = old - 0.1
    deltas = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))
    loss, kl = t._loss(logp, old, deltas, ref, logp_all, mask, mask)
    ent = -(logp_all.exp() * logp_all).sum(-1)
    keep = grpo.top_entropy_mask(ent.detach(), mask, 0.5)
    per = grpo.per_token_policy_loss(logp, old, deltas, "clipped", 0.2, loss_type="grpo",
                                     mask=mask, epsilon_high=0.28)
    per = torch.where(keep, per, torch.zeros_like(per))
    per_kl = grpo.kl_k3_per_token(logp, ref, mask)
    expected = grpo.aggregate(per + 0.1 * per_kl - 0.01 * ent, mask, "grpo")
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(kl, grpo.masked_mean(per_kl, mask))


def test_mask_truncated_completions_removes_exactly_the_truncated_from_the_loss():
    t = Trainer(small(loss_type="bnpo", mask_truncated_completions=True))
    logp = torch.zeros(1, 4, 4, requires_grad=True)
    mask, _, truncated = varlen.completion_mask(RESPONSES, V)
    loss_mask = mask * (~truncated).unsqueeze(-1).float()
    deltas = torch.tensor([[1.0, 2.0, 3.0, 100.0]])             # the truncated one: 100
    loss, _ = t._loss(logp, logp.detach(), deltas, None, torch.zeros(1, 4, 4, 12), mask, loss_mask)
    # bnpo: -(sum of delta x ratio over the kept tokens) / kept tokens = -(3*1 + 4*2 + 2*3) / 9
    assert loss.item() == pytest.approx(-17 / 9)


def test_the_lectures_loss_is_untouched_by_the_new_settings_at_their_defaults():
    cfg = TrainConfig.from_dict({"policy": "autoregressive", "n": 4, "vocab_size": 8,
                                 "d_model": 16, "n_heads": 2, "kl_beta": 0.05, "seed": 1})
    t = Trainer(cfg)
    prompts = t.prompts.sample(3)
    responses, old, logp, logp_all = t.policy.sample_for_training(prompts, 8, t.gen)
    deltas = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
    ref = old + 0.05
    loss, kl = t._loss(logp, old, deltas, ref, logp_all, None, None)
    expected = grpo.policy_loss(logp, old, deltas, "clipped", 0.2) + 0.05 * grpo.kl_k3(logp, ref)
    assert torch.equal(loss, expected)


def test_batch_scaled_deltas_divide_by_the_whole_batchs_std():
    rewards = torch.tensor([[1.0, 3.0], [0.0, 0.0]])
    # centered within groups: [-1, 1], [0, 0]; the batch's std of [1, 3, 0, 0] (unbiased) = 1.4142
    expected = torch.tensor([[-1.0, 1.0], [0.0, 0.0]]) / (math.sqrt(2.0) + grpo.STD_EPS)
    torch.testing.assert_close(grpo.compute_deltas(rewards, "batch"), expected)


def test_completion_metrics_on_a_hand_built_batch():
    _, lengths, truncated = varlen.completion_mask(RESPONSES, V)
    correct = varlen.exact_match(PROMPT, RESPONSES, V)
    m = completion_metrics(lengths, truncated, correct, PROMPT, V)
    assert m == pytest.approx({
        "completions/mean_length": 13 / 4, "completions/min_length": 2.0,
        "completions/max_length": 4.0, "completions/clipped_ratio": 0.25,
        "completions/mean_terminated_length": 3.0, "completions/min_terminated_length": 2.0,
        "completions/max_terminated_length": 4.0, "completions/mean_length_correct": 3.0,
        "completions/mean_length_incorrect": 10 / 3,
        # incorrect lengths 4, 2, 4 against the answer's 3 tokens: +1, -1, +1
        "completions/excess_length_incorrect": 1 / 3,
    })
    assert by_length(torch.tensor([2, 2, 3]), torch.tensor([1.0, 0.0, 1.0]),
                     torch.tensor([False, True, False])) == {
        "heldout_exact_match/2": 0.5, "heldout_truncated/2": 0.5,
        "heldout_exact_match/3": 1.0, "heldout_truncated/3": 0.0}


# ============================================================================ settings
@pytest.mark.parametrize("changes, needle", [
    ({"policy": "transformer", "min_n": 2}, "key 'min_n': variable-length prompts need a policy"),
    ({"min_n": 0, "reward": "answer_slots"}, "key 'reward': answer_slots scores the answer's EOS"),
    ({"max_completion_length": 4}, "key 'max_completion_length': 4 tokens cannot hold"),
    ({"delta": 1.1}, "key 'delta': 1.1 would cap the ratio below"),
    ({"loss_type": "cispo", "loss_mode": "naive"}, "key 'loss_type': cispo brings its own"),
    ({"policy": "transformer", "min_n": 0, "reward": "exact_match", "top_p": 0.9},
     "key 'top_p': narrowed sampling is for a policy that writes token by token"),
    ({"min_n": 0, "reward": "exact_match", "mask_truncated_completions": True},
     "fixed-length responses are never"),
])
def test_settings_that_do_not_fit_are_refused_with_why(changes, needle):
    with pytest.raises(ConfigError) as e:
        small(**changes)
    assert needle in str(e.value)


def test_trls_names_are_accepted():
    assert small(scale_rewards="batch").delta_mode == "batch"
    assert small(scale_rewards="group").delta_mode == "normalized"
    assert small(scale_rewards="none").delta_mode == "centered"
    assert small(epsilon=0.28).clip_eps == 0.28
    assert parse_set(["scale_rewards=none", "epsilon=0.3", "mask_truncated_completions=true"]) == {
        "delta_mode": "centered", "clip_eps": 0.3, "mask_truncated_completions": True}
    with pytest.raises(ConfigError, match="allowed: group"):
        small(scale_rewards=1)
    with pytest.raises(ConfigError, match="allowed: true or false"):
        small(mask_truncated_completions="maybe")
    assert small().completion_length == 8 and small(max_completion_length=0).completion_length == 8


def test_entropy_coef_subtracts_the_mean_token_entropy_on_a_hand_example():
    t = Trainer(small(loss_type="bnpo", entropy_coef=0.5))
    logp = torch.zeros(1, 4, 4, requires_grad=True)
    uniform = torch.full((1, 4, 4, 11), -math.log(11.0))      # 10 numbers and EOS, all alike
    mask = varlen.completion_mask(RESPONSES, V)[0]
    loss, _ = t._loss(logp, logp.detach(), torch.zeros(1, 4), None, uniform, mask, mask)
    # every delta 0: no policy term; the bonus is -0.5 x ln 11 per completion token, averaged
    assert loss.item() == pytest.approx(-0.5 * math.log(11.0))


def test_tokens_after_eos_change_no_reward_loss_or_metric_of_a_rollout(monkeypatch):
    def run(garbage: bool):
        t = Trainer(small(loss_type="grpo", kl_beta=0.02, inner_steps=2))
        original = t.policy.sample_for_training

        def sample(prompts, g, gen, temperature=1.0, **kw):
            responses, old, logp, logp_all = original(prompts, g, gen, temperature, **kw)
            if garbage:     # numbers where the PADs after EOS were, and their teacher-forced logp
                fill = torch.randint(0, V, responses.shape, generator=torch.Generator().manual_seed(9))
                responses = torch.where(responses == PAD, fill, responses)
                logp, logp_all = t.policy.log_probs_all(prompts, responses, temperature)
            return responses, old, logp, logp_all

        t.policy.sample_for_training = sample
        out = []
        for _ in range(2):
            for m in t.rollout().metrics:
                out.append({k: ("nan" if isinstance(v, float) and math.isnan(v) else v)
                            for k, v in m.items() if k not in ("time", "steps_per_second")})
        return out

    clean, dirty = run(False), run(True)
    assert clean[0]["completions/mean_length"] < 8       # some responses did stop early
    assert [{k: v for k, v in m.items()} for m in clean] == dirty


def test_rewards_never_read_past_the_responses_own_eos():
    # [1, EOS, 3, EOS]: the numbers after the first EOS would fit the answer's slots 1 and 2
    after = torch.tensor([[[1, EOS, 3, EOS]]])
    assert varlen.answer_slots(PROMPT, after, V).tolist() == [[pytest.approx(1 / 3)]]
    assert varlen.position_match(PROMPT, after, V).tolist() == [[1.0]]
    assert varlen.exact_match(PROMPT, after, V).tolist() == [[0.0]]
    assert varlen.inclusion_ordering(PROMPT, after, V).tolist() == [[1.0]]
