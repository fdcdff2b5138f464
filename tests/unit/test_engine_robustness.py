"""Degenerate settings and random mid-run changes: defined behaviour, never NaN from our arithmetic,
never an exception other than a clear ConfigError."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grpotui.config import ConfigError, TrainConfig
from grpotui.engine import grpo
from grpotui.engine.trainer import Trainer

SMALL = dict(policy="lecture", d_model=8, n=3, vocab_size=5, prompt_source="random",
             prompts_per_rollout=4, heldout_size=10, group_size=4, inner_steps=2, eval_every=1)


def finite_metrics(result) -> None:
    for m in result.metrics:
        for k, v in m.items():
            if isinstance(v, float):
                assert math.isfinite(v), (k, v)


@pytest.mark.parametrize("delta_mode", ["raw", "centered", "normalized", "max"])
@pytest.mark.parametrize("loss_mode", ["naive", "unclipped", "clipped"])
def test_group_size_one_is_defined_for_every_mode(delta_mode, loss_mode):
    t = Trainer(TrainConfig(**SMALL).replace(group_size=1, delta_mode=delta_mode,
                                             loss_mode=loss_mode))
    for _ in range(3):
        r = t.rollout()
        assert r.diverged is None
        finite_metrics(r)
        assert r.metrics[-1]["reward_std"] == 0.0
        assert r.metrics[-1]["frac_reward_zero_std"] == 1.0
        if delta_mode in ("centered", "normalized"):
            assert torch.equal(r.groups.deltas, torch.zeros_like(r.groups.deltas))


def test_all_equal_rewards_give_zero_deltas_not_nan():
    rewards = torch.full((3, 5), 2.0)
    for mode in ("centered", "normalized"):
        assert torch.equal(grpo.compute_deltas(rewards, mode), torch.zeros(3, 5))
    assert torch.equal(grpo.compute_deltas(rewards, "max"), rewards)


def test_learning_rate_zero_changes_nothing():
    t = Trainer(TrainConfig(**SMALL).replace(learning_rate=0.0))
    before = [p.detach().clone() for p in t.policy.parameters()]
    r = t.rollout()
    finite_metrics(r)
    assert all(torch.equal(a, b) for a, b in zip(before, t.policy.parameters()))


def test_kl_beta_turned_on_mid_run_makes_a_reference_then():
    t = Trainer(TrainConfig(**SMALL))
    t.rollout()
    assert t.ref_policy is None
    t.update(kl_beta=0.5)
    r = t.rollout()
    assert t.ref_policy is not None
    assert r.metrics[0]["kl"] == 0.0  # the reference is a copy of the policy at this rollout
    assert r.metrics[-1]["kl"] > 0.0
    t.update(kl_beta=0.0)
    r = t.rollout()
    assert t.ref_policy is None and r.metrics[-1]["kl"] is None


@pytest.mark.parametrize("n, vocab", [(2, 2), (16, 64), (2, 64), (16, 2)])
@pytest.mark.parametrize("policy", ["lecture", "transformer"])
def test_n_and_vocab_at_their_bounds(n, vocab, policy):
    cfg = TrainConfig(**{**SMALL, "n": n, "vocab_size": vocab, "policy": policy, "heldout_size": 1})
    r = Trainer(cfg).rollout()
    finite_metrics(r)
    assert r.groups.responses.shape == (4, 4, n)


def test_a_heldout_set_too_big_for_the_prompt_space_is_refused():
    with pytest.raises(ConfigError, match="heldout_size.*at most half of them \\(2\\)"):
        TrainConfig(**{**SMALL, "n": 2, "vocab_size": 2, "heldout_size": 3})


LIVE_VALUES = {
    "delta_mode": st.sampled_from(["raw", "centered", "normalized", "max", "rewards", "bogus"]),
    "loss_mode": st.sampled_from(["naive", "unclipped", "clipped", "nope"]),
    "reward": st.sampled_from(["inclusion_ordering", "position_match", "exact_match", "x"]),
    "group_size": st.integers(-2, 12),
    "learning_rate": st.one_of(st.floats(-1, 12), st.sampled_from([math.nan, math.inf, "1e-3", "x"])),
    "clip_eps": st.floats(-0.5, 1.5),
    "kl_beta": st.floats(-1, 11),
    "inner_steps": st.integers(-1, 4),
    "prompts_per_rollout": st.integers(0, 6),
    "n": st.integers(2, 5),
}
change = st.one_of(*[st.tuples(st.just(k), v) for k, v in LIVE_VALUES.items()])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(change, max_size=3), min_size=1, max_size=5))
def test_random_mid_run_changes_never_raise_anything_but_config_errors(batches):
    t = Trainer(TrainConfig(**SMALL))
    for batch in batches:
        for key, value in batch:
            try:
                t.update(**{key: value})
            except ConfigError as e:  # refused with a message naming the key; nothing queued
                assert key in str(e)
        r = t.rollout()
        if r.diverged is None:
            finite_metrics(r)
            assert r.groups.responses.shape[1] == t.config.group_size
