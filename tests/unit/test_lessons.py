"""The canvases' toy math (grpotui.engine.lessons) against independent computations."""

from __future__ import annotations

import itertools
import math
import statistics

import pytest
import torch

from grpotui.engine import lessons as L
from grpotui.engine.rewards import position_match
from grpotui.presets import find_preset


# ============================================================================ variance
@pytest.mark.parametrize("p", [0.0, 0.05, 0.3, 0.77, 1.0])
def test_exact_gradient_is_the_softmax_formula(p):
    # dJ/dtheta_k = pi_k (q_k - J) for J = sum_a pi_a q_a, pi = softmax(theta)
    toy = L.VarianceToy(p)
    theta = torch.tensor(L.VARIANCE_LOGITS, dtype=torch.float64)
    pi = torch.exp(theta) / torch.exp(theta).sum()
    q = torch.tensor([p ** k for k in L.VARIANCE_EXPONENTS], dtype=torch.float64)
    j = float((pi * q).sum())
    assert toy.expected_reward == pytest.approx(j, abs=1e-12)
    assert toy.exact_gradient().tolist() == pytest.approx((pi * (q - j)).tolist(), abs=1e-12)


@pytest.mark.parametrize("p", [0.1, 0.3, 0.9])
@pytest.mark.parametrize("with_baseline", [False, True])
def test_estimator_variance_by_enumerating_every_outcome(p, with_baseline):
    # one estimate is (R - b)(onehot(a) - pi) with probability pi_a * P(R | a): enumerate all six
    toy = L.VarianceToy(p)
    pi, q = toy.pi, toy.q
    b = toy.expected_reward if with_baseline else 0.0
    mean = torch.zeros(3, dtype=torch.float64)
    second = 0.0
    for a, r in itertools.product(range(3), (0.0, 1.0)):
        prob = float(pi[a]) * (float(q[a]) if r else 1 - float(q[a]))
        g = (r - b) * (torch.eye(3, dtype=torch.float64)[a] - pi)
        mean += prob * g
        second += prob * float((g ** 2).sum())
    variance = second - float((mean ** 2).sum())
    assert mean.tolist() == pytest.approx(toy.exact_gradient().tolist(), abs=1e-12)  # unbiased
    assert toy.per_sample_variance(with_baseline) == pytest.approx(variance, abs=1e-12)
    assert toy.estimator_variance(16, with_baseline) == pytest.approx(variance / 16, abs=1e-12)


def test_baseline_lowers_the_variance_and_the_measured_variance_follows_1_over_n():
    toy = L.VarianceToy(0.3)
    assert toy.per_sample_variance(True) < toy.per_sample_variance(False)
    d = toy.draw(16, torch.Generator().manual_seed(0), batches=2000)
    for size, raw, base in zip(d.sizes, d.empirical_raw, d.empirical_base):
        assert raw == pytest.approx(toy.estimator_variance(size, False), rel=0.15)
        assert base == pytest.approx(toy.estimator_variance(size, True), rel=0.15)


def test_per_sample_estimates_are_reward_times_score():
    toy = L.VarianceToy(0.5)
    d = toy.draw(64, torch.Generator().manual_seed(1))
    score = torch.eye(3, dtype=torch.float64)[d.actions] - toy.pi
    assert torch.allclose(d.grads_raw, d.rewards[:, None] * score)
    assert torch.allclose(d.grads_base, (d.rewards - toy.expected_reward)[:, None] * score)
    assert set(d.rewards.tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("p,n", [(0.3, 1), (0.3, 8), (0.02, 16), (1.0, 4), (0.0, 4)])
def test_no_signal_share_is_all_zero_or_all_one(p, n):
    toy = L.VarianceToy(p)
    j = toy.expected_reward
    assert toy.no_signal_share(n) == pytest.approx(j ** n + (1 - j) ** n, abs=1e-12)
    if p in (0.0, 1.0):
        assert toy.no_signal_share(n) == 1.0


def test_variance_rejects_a_rate_outside_0_to_1():
    with pytest.raises(ValueError, match="from 0 to 1"):
        L.VarianceToy(1.5)


# ============================================================================ baseline
def test_two_state_weight_stds_are_torch_std_not_the_lessons_4_74():
    r = torch.tensor(L.BASELINE_REWARDS, dtype=torch.float64)
    b = L.mean_baselines(r)
    assert b.tolist() == [10.0, 1.0]
    raw, base = L.weight_stats(L.weights(r, None)), L.weight_stats(L.weights(r, b))
    assert round(raw.unbiased, 2) == 5.32 and round(base.unbiased, 2) == 1.15
    assert raw.unbiased == pytest.approx(statistics.stdev([11, 9, 0, 2]))
    assert base.unbiased == pytest.approx(statistics.stdev([1, -1, -1, 1]))
    assert raw.population == pytest.approx(statistics.pstdev([11, 9, 0, 2]))
    assert raw.squares == 85.0
    assert round(raw.population, 2) != 4.74 and round(raw.unbiased, 2) != 4.74
    assert L.weights(r, b).tolist() == [[1.0, -1.0], [-1.0, 1.0]]


def test_pushes_are_weight_times_one_minus_pi():
    theta = torch.tensor([[0.3, -0.2], [1.0, 0.0]], dtype=torch.float64)
    w = torch.tensor([[11.0, 9.0], [0.0, 2.0]], dtype=torch.float64)
    pi = torch.softmax(theta, dim=1)
    assert torch.allclose(L.pushes(theta, w), w * (1 - pi))


def test_a_drawn_a2_in_s1_is_pushed_up_raw_and_down_with_the_baseline():
    r = torch.tensor(L.BASELINE_REWARDS, dtype=torch.float64)
    b = L.mean_baselines(r)
    gen = torch.Generator().manual_seed(0)
    toy = L.TwoStateToy()
    seen = False
    for _ in range(20):
        before_raw, before_base = toy.probs("raw")[0, 1], toy.probs("base")[0, 1]
        step = toy.step(r, b, 0.1, gen)
        if step.actions[0] == 1:
            seen = True
            assert step.push_raw[0, 1] > 0 and step.push_base[0, 1] < 0
            assert toy.probs("raw")[0, 1] > before_raw and toy.probs("base")[0, 1] < before_base
    assert seen and toy.steps == 20 and len(toy.history) == 20


# ============================================================================ clip
@pytest.mark.parametrize("a,r,eps,expected,unclipped", [(0.5, 1.35, 0.2, 0.60, 0.675),
                                                         (-0.5, 0.65, 0.2, -0.40, -0.325)])
def test_the_lessons_worked_examples(a, r, eps, expected, unclipped):
    p = L.clip_point(r, a, eps)
    assert p.value == pytest.approx(expected)
    assert p.unclipped == pytest.approx(unclipped)
    assert p.clipped == pytest.approx(expected)
    assert p.flat and p.grad == 0.0
    assert (a, r, eps) in L.CLIP_EXAMPLES


def test_clip_slope_is_a_inside_the_band_and_zero_past_it():
    assert L.clip_point(1.1, 0.8, 0.2).grad == pytest.approx(0.8)
    assert L.clip_point(0.9, -0.8, 0.2).grad == pytest.approx(-0.8)
    assert L.clip_point(0.5, 0.8, 0.2).grad == pytest.approx(0.8)     # A > 0 below the band: free
    assert L.clip_point(1.5, -0.8, 0.2).grad == pytest.approx(-0.8)   # A < 0 above: free


def test_clip_curve_flat_ranges():
    pos, neg = L.clip_curve(0.8, 0.2), L.clip_curve(-0.8, 0.2)
    assert pos.flat_ranges == [(pytest.approx(1.21), pytest.approx(2.0))]
    assert neg.flat_ranges == [(pytest.approx(0.0), pytest.approx(0.79))]
    for x, y in zip(pos.ratios, pos.values):
        assert y == pytest.approx(min(x * 0.8, min(max(x, 0.8), 1.2) * 0.8))


# ============================================================================ rollout
def test_autoregressive_bars_are_what_sampling_draws_from_and_depend_on_the_prefix():
    cfg = find_preset("sort4-ar").config
    module = L.untrained_policy(cfg)
    sp = L.StepwisePolicy(module, cfg.n)
    assert sp.autoregressive
    prompt = [3, 1, 4, 1]
    responses, logp = module.sample(torch.tensor([prompt]), 3, torch.Generator().manual_seed(0))
    for g in range(3):
        resp = responses[0, g].tolist()
        for t in range(cfg.n):
            probs = sp.next_distribution(prompt, resp[:t])
            assert float(probs.sum()) == pytest.approx(1.0, abs=1e-12)
            assert math.log(float(probs[resp[t]])) == pytest.approx(float(logp[0, g, t]), abs=1e-5)
    assert not torch.allclose(sp.next_distribution(prompt, [0]), sp.next_distribution(prompt, [9]))


def test_per_position_bars_ignore_the_tokens_so_far():
    cfg = find_preset("lecture-centered").config
    sp = L.StepwisePolicy(L.untrained_policy(cfg), cfg.n)
    assert not sp.autoregressive
    prompt = cfg.prompts[0]
    assert torch.equal(sp.next_distribution(prompt, [0]), sp.next_distribution(prompt, [2]))
    with pytest.raises(ValueError, match="past its end"):
        sp.next_distribution(prompt, [0] * cfg.n)


def test_group_stats_against_the_reward_function():
    prompt = [3, 1, 2]
    responses = [[1, 2, 3], [1, 1, 1], [3, 2, 1], [1, 2, 2]]
    s = L.group_stats(prompt, responses, "position_match", "centered")
    rewards = position_match(torch.tensor([prompt]), torch.tensor([responses]))[0].tolist()
    assert s["rewards"] == rewards == [3.0, 1.0, 1.0, 2.0]
    assert s["mean"] == pytest.approx(statistics.mean(rewards))
    assert s["std"] == pytest.approx(statistics.stdev(rewards))
    assert s["deltas"] == pytest.approx([x - statistics.mean(rewards) for x in rewards])
    assert L.response_reward(prompt, [1, 2, 3], "position_match") == 3.0


def test_trained_policy_runs_the_trainer():
    cfg = find_preset("sort4-ar").config.replace(prompts_per_rollout=4, group_size=2)
    seen = []
    module, summary = L.trained_policy(cfg, 3, progress=lambda i, t: seen.append(i))
    assert seen == [1, 2, 3] and summary["rollouts"] == 3
    assert 0.0 <= summary["heldout"] <= 1.0
    stopped, s2 = L.trained_policy(cfg, 50, cancelled=lambda: True)
    assert s2["rollouts"] == 0


def test_policy_from_state_copies_the_weights():
    import io

    cfg = find_preset("sort4-ar").config
    module = L.untrained_policy(cfg.replace(seed=7))
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    copy, cfg2 = L.policy_from_state(cfg.to_dict(), buf.getvalue())
    for k, v in module.state_dict().items():
        assert torch.equal(copy.state_dict()[k], v)
    assert cfg2 == cfg
