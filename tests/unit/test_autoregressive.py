"""The autoregressive policy: log-probs agree between sampling and teacher forcing, causality, greedy
decoding, the KV cache, and GRPO on it (determinism, learning)."""

from __future__ import annotations

import torch

from grpotui.config import TrainConfig
from grpotui.engine import rewards
from grpotui.engine.policies import AutoregressiveSorter, build_policy
from grpotui.engine.trainer import TIMING_METRICS, Trainer


def model(n=5, vocab=7, d=32, layers=2, heads=4, seed=0) -> AutoregressiveSorter:
    torch.manual_seed(seed)
    return AutoregressiveSorter(vocab, d, n, layers, heads)


def prompts(b=6, n=5, vocab=7, seed=1) -> torch.Tensor:
    return torch.randint(0, vocab, (b, n), generator=torch.Generator().manual_seed(seed))


def test_sample_shapes_ranges_and_log_probs_are_log_probabilities():
    m, p = model(), prompts()
    responses, logp = m.sample(p, 4, torch.Generator().manual_seed(0))
    assert responses.shape == (6, 4, 5) and logp.shape == (6, 4, 5)
    assert responses.dtype == torch.long and responses.min() >= 0 and responses.max() < 7
    assert (logp <= 0).all() and torch.isfinite(logp).all()


def test_teacher_forced_log_probs_equal_the_sampled_ones():
    m, p = model(), prompts()
    for temperature in (1.0, 0.5, 2.0):
        responses, sampled = m.sample(p, 4, torch.Generator().manual_seed(3), temperature)
        forced, logp_all = m.log_probs_all(p, responses, temperature)
        torch.testing.assert_close(forced, sampled, atol=1e-4, rtol=0)
        assert logp_all.shape == (6, 4, 5, 7)
        torch.testing.assert_close(logp_all.exp().sum(-1), torch.ones(6, 4, 5))


def test_every_policy_has_the_issues_log_probs_signature():
    """log_probs(prompts, responses, temperature) -> float[B, G, n], as the sampled logp; the entropy's
    full distributions come from log_probs_all."""
    for policy in ("lecture", "transformer", "autoregressive"):
        cfg = TrainConfig(policy=policy, n=5, vocab_size=7, d_model=32, n_heads=4)
        m, p = build_policy(cfg, seed=0), prompts()
        responses, sampled = m.sample(p, 4, torch.Generator().manual_seed(2), temperature=0.8)
        forced = m.log_probs(p, responses, temperature=0.8)
        assert isinstance(forced, torch.Tensor) and forced.shape == (6, 4, 5), policy
        torch.testing.assert_close(forced, sampled, atol=1e-4, rtol=0)
        logp, logp_all = m.log_probs_all(p, responses, temperature=0.8)
        torch.testing.assert_close(logp, forced)
        assert logp_all.shape == ((6, 4, 5, 7) if policy == "autoregressive" else (6, 5, 7)), policy


def test_prompt_sharing_forward_equals_the_whole_sequences():
    m, p = model(), prompts()
    responses, _ = m.sample(p, 3, torch.Generator().manual_seed(0))
    torch.testing.assert_close(m(p, responses), m.forward_full(p, responses), atol=1e-5, rtol=0)
    # and the gradients agree
    w = torch.randn(6, 3, 5, 7)
    (m(p, responses) * w).sum().backward()
    shared = [q.grad.clone() for q in m.parameters()]
    m.zero_grad()
    (m.forward_full(p, responses) * w).sum().backward()
    for a, q in zip(shared, m.parameters()):
        torch.testing.assert_close(a, q.grad, atol=1e-4, rtol=1e-4)


def test_kv_cache_samples_the_same_tokens_as_recomputing():
    m, p = model(), prompts()
    a, la = m.sample(p, 4, torch.Generator().manual_seed(9), use_cache=True)
    b, lb = m.sample(p, 4, torch.Generator().manual_seed(9), use_cache=False)
    assert torch.equal(a, b)
    torch.testing.assert_close(la, lb, atol=1e-5, rtol=0)
    assert torch.equal(m.greedy(p, use_cache=True), m.greedy(p, use_cache=False))


def test_causality():
    m, p = model(), prompts(b=1)
    responses = torch.tensor([[[3, 1, 4, 1, 5]]])
    base = m.log_probs(p, responses)
    for t in range(5):
        changed = responses.clone()
        changed[0, 0, t] = (changed[0, 0, t] + 2) % 7
        logp = m.log_probs(p, changed)
        # positions before t cannot see token t
        torch.testing.assert_close(logp[..., :t], base[..., :t], atol=0, rtol=0)
        assert not torch.allclose(logp[..., t], base[..., t])      # token t itself changed
    # changing token 0 changes what comes after it
    changed = responses.clone()
    changed[0, 0, 0] = 6
    logp = m.log_probs(p, changed)
    assert (logp[..., 1:] - base[..., 1:]).abs().min() > 0


def test_greedy_follows_the_forced_logits():
    m, p = model(), prompts()
    # whatever greedy writes is the argmax of the teacher-forced logits at every position
    g = m.greedy(p)
    assert torch.equal(m(p, g.unsqueeze(1)).argmax(-1).squeeze(1), g)
    # logits forced by the output bias (token 0 far ahead): greedy writes 0 everywhere
    with torch.no_grad():
        m.head_bias.copy_(torch.tensor([100.0, 0, 0, 0, 0, 0, 0]))
    assert torch.equal(m.greedy(p), torch.zeros(6, 5, dtype=torch.long))


def test_per_position_policies_keep_their_api():
    cfg = TrainConfig(policy="transformer", n=4, vocab_size=6, d_model=16, n_layers=1, n_heads=2,
                      heldout_size=10)
    m, p = build_policy(cfg, 0), prompts(b=3, n=4, vocab=6)
    responses, sampled = m.sample(p, 5, torch.Generator().manual_seed(0), temperature=0.7)
    forced, logp_all = m.log_probs_all(p, responses, temperature=0.7)
    torch.testing.assert_close(forced, sampled)
    assert logp_all.shape == (3, 4, 6)
    assert torch.equal(m.greedy(p), m(p).argmax(-1))


# ============================================================================ GRPO on it
def ar_config(**changes) -> TrainConfig:
    base = dict(policy="autoregressive", n=4, vocab_size=6, d_model=32, n_layers=1, n_heads=2,
                prompt_source="random", heldout_size=100, prompts_per_rollout=16, group_size=8,
                inner_steps=1, learning_rate=3e-3, delta_mode="normalized", reward="position_match",
                max_grad_norm=1.0, eval_every=10, seed=3)
    base.update(changes)
    return TrainConfig.from_dict(base, source="test")


def untimed(metrics):
    return [{k: v for k, v in m.items() if k not in TIMING_METRICS} for m in metrics]


def test_two_runs_with_the_same_seed_are_identical():
    a, b = Trainer(ar_config()), Trainer(ar_config())
    for _ in range(3):
        ra, rb = a.rollout(), b.rollout()
        assert untimed(ra.metrics) == untimed(rb.metrics)
        assert torch.equal(ra.groups.responses, rb.groups.responses)
    assert torch.equal(ra.groups.token_probs, rb.groups.token_probs)


def test_the_first_inner_step_sees_ratio_one():
    tr = Trainer(ar_config(inner_steps=3))
    metrics = tr.rollout().metrics
    # before the first update the policy is the one that sampled: every ratio is 1 (to 1e-4)
    assert abs(metrics[0]["ratio/min"] - 1) < 1e-4 and abs(metrics[0]["ratio/max"] - 1) < 1e-4
    assert metrics[1]["ratio/max"] > metrics[0]["ratio/max"]


def test_a_short_run_learns_to_sort():
    tr = Trainer(ar_config())
    start = tr.heldout_exact_match
    for _ in range(150):
        tr.rollout()
    chance = 1 / 6 ** 4
    assert start < 0.05 and chance < 0.01
    assert tr.evaluate() > 0.5, tr.evaluate()


def test_token_probs_and_per_token_deltas_reach_the_groups():
    tr = Trainer(ar_config(credit="token"))
    g = tr.rollout().groups
    assert g.credit == "token" and g.token_deltas.shape == (16, 8, 4)
    assert torch.all((g.token_probs > 0) & (g.token_probs <= 1))
    scores = rewards.position_match_per_position(g.prompts, g.responses)
    expected = (scores - scores.mean(1, keepdim=True)) / (scores.std(1, keepdim=True) + 1e-5)
    torch.testing.assert_close(g.token_deltas, expected)
