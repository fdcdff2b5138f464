"""Trainer: determinism, live updates, metrics, held-out split, the lecture's figures, divergence."""

from __future__ import annotations

import pytest
import torch

from grpotui.config import ConfigError, TrainConfig
from grpotui.engine import grpo, rewards, trainer as trainer_mod
from grpotui.engine.task import PromptSource, contains
from grpotui.engine.trainer import NeedsReset, Trainer
from grpotui.metrics import STEP_KEYS
from grpotui.presets import find_preset

REQUIRED_KEYS = [
    "step", "rollout", "reward", "reward_std", "exact_match", "heldout_exact_match", "loss", "kl",
    "approx_kl", "entropy", "grad_norm", "clip_ratio/low_mean", "clip_ratio/high_mean",
    "clip_ratio/region_mean", "ratio/min", "ratio/mean", "ratio/max", "frac_reward_zero_std",
    "group_size", "lr", "steps_per_second",
]


# Every setting the tests rely on is pinned, so changes to TrainConfig's defaults do not matter.
PINNED = dict(delta_mode="centered", loss_mode="clipped", reward="position_match", group_size=8,
              learning_rate=3e-3, clip_eps=0.2, kl_beta=0.0, inner_steps=2, ref_refresh=10,
              max_grad_norm=0.0, prompts_per_rollout=8, eval_every=5, seed=5, device="cpu")


def small(**changes) -> TrainConfig:
    """A small, fast transformer config (random prompts)."""
    base = dict(PINNED, policy="transformer", d_model=16, n_layers=1, n_heads=2,
                prompt_source="random", n=3, vocab_size=5, heldout_size=20)
    base.update(changes)
    return TrainConfig.from_dict(base, source="test")


def lecture(**changes) -> TrainConfig:
    """The lecture model on fixed prompts, small."""
    base = dict(PINNED, policy="lecture", d_model=10, prompt_source="fixed",
                prompts=[[1, 0, 2], [3, 2, 4], [1, 2, 3]], n=3, vocab_size=5, heldout_size=20,
                group_size=6)
    base.update(changes)
    return TrainConfig.from_dict(base, source="test")


def untimed(metrics: list[dict]) -> list[dict]:
    return [{k: v for k, v in m.items() if k not in trainer_mod.TIMING_METRICS} for m in metrics]


def run(tr: Trainer, rollouts: int) -> list[dict]:
    out: list[dict] = []
    for _ in range(rollouts):
        res = tr.rollout()
        assert res.diverged is None
        out.extend(res.metrics)
    return out


def params_of(tr: Trainer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in tr.policy.parameters()]


# ============================================================================ determinism
@pytest.mark.parametrize("make", [small, lecture, lambda: small(kl_beta=0.1, ref_refresh=2)])
def test_same_config_and_seed_give_identical_metrics(make):
    a, b = Trainer(make()), Trainer(make())
    ma, mb = untimed(run(a, 4)), untimed(run(b, 4))
    assert len(ma) == 8
    assert ma == mb
    for p, q in zip(a.policy.parameters(), b.policy.parameters()):
        assert torch.equal(p, q)


def test_timing_metrics_are_the_only_ones_left_out():
    assert set(trainer_mod.TIMING_METRICS) == {"steps_per_second", "time"}


def test_groups_are_identical_too():
    a, b = Trainer(small()), Trainer(small())
    for _ in range(2):
        ga, gb = a.rollout().groups, b.rollout().groups
        for name in ("prompts", "targets", "responses", "rewards", "deltas", "ratios", "token_ratios"):
            assert torch.equal(getattr(ga, name), getattr(gb, name)), name


def test_different_seed_gives_different_metrics():
    a, b = Trainer(small(seed=5)), Trainer(small(seed=6))
    assert untimed(run(a, 3)) != untimed(run(b, 3))


def test_global_rng_state_does_not_matter():
    torch.manual_seed(123)
    a = untimed(run(Trainer(small()), 2))
    torch.manual_seed(456)
    torch.rand(17)
    b = untimed(run(Trainer(small()), 2))
    assert a == b


def test_reset_starts_over_identically():
    tr = Trainer(small())
    first = untimed(run(tr, 3))
    tr.reset()
    assert tr.step == 0 and tr.rollout_index == 0
    assert untimed(run(tr, 3)) == first


# ============================================================================ metric records
def test_metric_dicts_have_every_key():
    tr = Trainer(small(kl_beta=0.05))
    metrics = run(tr, 3)
    assert len(metrics) == 6
    for m in metrics:
        missing = [k for k in REQUIRED_KEYS if k not in m]
        assert not missing, missing
        # every key the trainer writes has a column in the metrics file
        assert set(m) <= set(STEP_KEYS), set(m) - set(STEP_KEYS)


def test_step_and_rollout_counters():
    tr = Trainer(small(inner_steps=3))
    metrics = run(tr, 2)
    assert [m["step"] for m in metrics] == [1, 2, 3, 4, 5, 6]
    assert [m["rollout"] for m in metrics] == [1, 1, 1, 2, 2, 2]
    assert tr.step == 6 and tr.rollout_index == 2


def test_rollout_statistics_match_the_groups():
    tr = Trainer(small(group_size=5))
    res = tr.rollout()
    g = res.groups
    m = res.metrics[0]
    assert m["reward"] == pytest.approx(g.rewards.mean().item(), abs=1e-6)
    assert m["reward_std"] == pytest.approx(g.rewards.std(dim=-1).mean().item(), abs=1e-6)
    exact = (g.responses == g.targets.unsqueeze(1)).all(dim=-1).float().mean().item()
    assert m["exact_match"] == pytest.approx(exact, abs=1e-6)
    zero = (g.rewards.std(dim=-1) == 0).float().mean().item()
    assert m["frac_reward_zero_std"] == pytest.approx(zero, abs=1e-6)
    assert torch.equal(g.deltas, grpo.compute_deltas(g.rewards, "centered"))
    assert torch.equal(g.targets, g.prompts.sort(dim=-1).values)
    assert m["group_size"] == 5
    # the first inner step runs at ratio 1 exactly: logp_old is the sampling pass's own log-probs
    assert (m["ratio/min"], m["ratio/mean"], m["ratio/max"]) == (1.0, 1.0, 1.0)
    assert m["approx_kl"] == 0.0
    assert m["clip_ratio/region_mean"] == 0.0


def test_max_steps_cuts_a_rollout_short():
    tr = Trainer(small(inner_steps=10))
    res = tr.rollout(max_steps=3)
    assert len(res.metrics) == 3
    assert tr.step == 3
    assert [m["step"] for m in res.metrics] == [1, 2, 3]
    res = tr.rollout(max_steps=100)
    assert len(res.metrics) == 10
    assert tr.step == 13


def test_kl_metric_present_only_with_kl_beta():
    on = run(Trainer(small(kl_beta=0.1, ref_refresh=100)), 3)
    assert all(isinstance(m["kl"], float) and m["kl"] >= 0 for m in on)
    assert any(m["kl"] > 0 for m in on)   # the policy moves away from the frozen reference
    off = run(Trainer(small(kl_beta=0.0)), 2)
    assert all(m["kl"] is None for m in off)


def test_kl_beta_can_be_switched_on_live():
    tr = Trainer(small())
    assert all(m["kl"] is None for m in run(tr, 1))
    tr.update(kl_beta=0.2)
    assert all(isinstance(m["kl"], float) for m in run(tr, 2))


def test_evaluate_is_greedy_exact_match():
    tr = Trainer(small())
    prompts = tr.heldout
    greedy = tr.policy(prompts).argmax(dim=-1)
    expected = (greedy == prompts.sort(dim=-1).values).all(dim=-1).float().mean().item()
    assert tr.evaluate() == pytest.approx(expected)
    assert tr.heldout_exact_match == pytest.approx(expected)


# ============================================================================ live updates
def test_update_group_size_applies_at_next_rollout():
    tr = Trainer(small(group_size=8))
    first = tr.rollout()
    assert first.groups.responses.shape[1] == 8
    new = tr.update(group_size=4)
    assert new.group_size == 4
    assert tr.config.group_size == 8          # queued, not applied yet
    res = tr.rollout()
    assert res.groups.responses.shape[1] == 4
    assert res.groups.rewards.shape[1] == 4
    assert all(m["group_size"] == 4 for m in res.metrics)
    sets = [e for e in res.events if e["event"] == "set"]
    assert len(sets) == 1
    assert sets[0]["key"] == "group_size"
    assert (sets[0]["old"], sets[0]["new"]) == (8, 4)
    assert sets[0]["step"] == 2 and sets[0]["rollout"] == 1
    assert tr.rollout().events == []          # applied once


def test_update_several_keys_emits_one_event_each():
    tr = Trainer(small())
    tr.update(group_size=4)
    tr.update(delta_mode="normalized_rewards", learning_rate=0.01)   # accumulates on the queue
    res = tr.rollout()
    got = {e["key"]: (e["old"], e["new"]) for e in res.events if e["event"] == "set"}
    assert got == {"group_size": (8, 4), "delta_mode": ("centered", "normalized"),
                   "learning_rate": (3e-3, 0.01)}
    assert tr.config.delta_mode == "normalized"


@pytest.mark.parametrize("changes,keys", [({"n": 5}, ["n"]), ({"policy": "lecture"}, ["policy"]),
                                          ({"seed": 9}, ["seed"]),
                                          ({"learning_rate": 0.01, "vocab_size": 6},
                                           ["vocab_size"])])
def test_update_of_non_live_key_needs_reset_and_queues_nothing(changes, keys):
    tr = Trainer(small())
    before = tr.config
    with pytest.raises(NeedsReset) as err:
        tr.update(**changes)
    assert isinstance(err.value, ConfigError)
    assert err.value.keys == keys
    assert keys[0] in str(err.value)
    res = tr.rollout()
    assert res.events == []
    assert tr.config == before
    assert all(g["lr"] == before.learning_rate for g in tr.optimizer.param_groups)


def test_failed_update_keeps_an_earlier_queued_change():
    tr = Trainer(small())
    tr.update(group_size=4)
    with pytest.raises(NeedsReset):
        tr.update(n=5)
    with pytest.raises(ConfigError):
        tr.update(group_size=0)
    res = tr.rollout()
    assert res.groups.responses.shape[1] == 4
    assert [e["key"] for e in res.events] == ["group_size"]


@pytest.mark.parametrize("changes", [{"group_size": 0}, {"group_size": "many"},
                                     {"learning_rate": -1.0}, {"delta_mode": "bogus"},
                                     {"learnin_rate": 0.1}, {"clip_eps": float("nan")}])
def test_update_with_bad_value_raises_config_error(changes):
    tr = Trainer(small())
    with pytest.raises(ConfigError) as err:
        tr.update(**changes)
    assert not isinstance(err.value, NeedsReset)
    assert tr.rollout().events == []


def test_learning_rate_change_reaches_the_optimizer():
    tr = Trainer(small(learning_rate=3e-3))
    tr.rollout()
    tr.update(learning_rate=0.02)
    assert all(g["lr"] == 3e-3 for g in tr.optimizer.param_groups)
    res = tr.rollout()
    assert all(g["lr"] == 0.02 for g in tr.optimizer.param_groups)
    assert all(m["lr"] == 0.02 for m in res.metrics)


def test_learning_rate_zero_freezes_the_parameters():
    tr = Trainer(small())
    tr.update(learning_rate=0.0)
    before = params_of(tr)
    run(tr, 2)
    for p, q in zip(before, tr.policy.parameters()):
        assert torch.equal(p, q)


def test_needs_reset_change_applies_through_reset():
    tr = Trainer(small())
    tr.reset(tr.config.replace(n=4))
    res = tr.rollout()
    assert res.groups.responses.shape[2] == 4


# ============================================================================ held-out prompts
def test_heldout_prompts_never_trained_on():
    cfg = lecture(prompt_source="random", n=3, vocab_size=4, heldout_size=20,
                  prompts_per_rollout=64, inner_steps=1, group_size=2)
    tr = Trainer(cfg)
    heldout = tr.heldout
    assert heldout.shape == (20, 3)
    assert len(torch.unique(heldout, dim=0)) == 20
    seen = []
    for _ in range(30):
        prompts = tr.rollout().groups.prompts
        assert prompts.shape == (64, 3)
        assert not contains(heldout, prompts).any()
        seen.append(prompts)
    seen = torch.unique(torch.cat(seen), dim=0)
    # all 64 - 20 = 44 other prompts turn up: the draws really cover the space
    assert len(seen) == 44


def test_prompt_source_fixed_and_heldout_disjoint():
    src = PromptSource("fixed", 3, 5, 40, [[1, 0, 2], [3, 2, 4], [1, 2, 3]], seed=5)
    assert src.sample(99).tolist() == [[1, 0, 2], [3, 2, 4], [1, 2, 3]]
    assert src.heldout.shape == (40, 3)
    assert len(torch.unique(src.heldout, dim=0)) == 40
    assert not contains(src.heldout, src.fixed).any()
    assert int(src.heldout.max()) < 5


def test_prompt_source_is_seeded():
    a = PromptSource("random", 4, 6, 30, None, seed=1)
    b = PromptSource("random", 4, 6, 30, None, seed=1)
    c = PromptSource("random", 4, 6, 30, None, seed=2)
    assert torch.equal(a.heldout, b.heldout)
    assert torch.equal(a.sample(10), b.sample(10))
    assert not torch.equal(a.heldout, c.heldout)


# ============================================================================ the lecture's figures
@pytest.mark.parametrize("name,final", [("lecture-centered", 3.333), ("lecture-raw", 2.667)])
def test_lecture_presets_reach_the_lecture_figures(name, final):
    cfg = find_preset(name).config
    assert cfg.rollouts == 100 and cfg.inner_steps == 10 and cfg.seed == 5
    tr = Trainer(cfg, final_ratios=False)
    for _ in range(cfg.rollouts):
        res = tr.rollout()
        assert res.diverged is None
    assert tr.step == 1000
    assert res.metrics[-1]["reward"] == pytest.approx(final, abs=1e-3)


# ============================================================================ divergence
def nan_reward(prompts, responses):
    return torch.full(responses.shape[:2], float("nan"))


def test_non_finite_reward_stops_the_rollout(monkeypatch):
    tr = Trainer(small())
    run(tr, 1)
    before = params_of(tr)
    monkeypatch.setitem(rewards.REWARD_FUNCTIONS, "position_match", nan_reward)
    res = tr.rollout()
    assert res.diverged is not None
    assert "diverged at step 3" in res.diverged
    assert "position_match" in res.diverged
    assert res.metrics == []
    assert [e["event"] for e in res.events] == ["diverged"]
    assert tr.step == 2 and tr.rollout_index == 1
    for p, q in zip(before, tr.policy.parameters()):
        assert torch.equal(p, q)
    assert torch.isfinite(res.groups.rewards).all()


def test_non_finite_loss_stops_before_the_step(monkeypatch):
    tr = Trainer(small())
    run(tr, 1)
    before = params_of(tr)
    adam_steps = [tr.optimizer.state[p]["step"].clone() for p in tr.policy.parameters()]
    real = grpo.policy_loss
    monkeypatch.setattr(grpo, "policy_loss", lambda *a, **k: real(*a, **k) * float("nan"))
    res = tr.rollout()
    assert res.diverged is not None
    assert "diverged at step 3" in res.diverged
    assert "non-finite loss" in res.diverged
    assert res.metrics == []
    assert tr.step == 2
    for p, q in zip(before, tr.policy.parameters()):
        assert torch.isfinite(q).all()
        assert torch.equal(p, q)
    for s, p in zip(adam_steps, tr.policy.parameters()):
        assert torch.equal(tr.optimizer.state[p]["step"], s)


def nan_on_second_call(monkeypatch):
    real = grpo.policy_loss
    calls = {"n": 0}

    def loss(*a, **k):
        calls["n"] += 1
        out = real(*a, **k)
        return out * float("nan") if calls["n"] == 2 else out

    monkeypatch.setattr(grpo, "policy_loss", loss)


def test_non_finite_loss_mid_rollout_keeps_the_last_finite_parameters(monkeypatch):
    twin = Trainer(small(inner_steps=4))
    twin_metrics = twin.rollout(max_steps=1).metrics
    tr = Trainer(small(inner_steps=4))
    nan_on_second_call(monkeypatch)
    res = tr.rollout()
    assert res.diverged is not None and "diverged at step 2" in res.diverged
    assert len(res.metrics) == 1
    assert tr.step == 1
    # the step taken before the divergence is the twin's step, record and all
    assert untimed(res.metrics) == untimed(twin_metrics)
    for p, q in zip(twin.policy.parameters(), tr.policy.parameters()):
        assert torch.isfinite(q).all()
        assert torch.equal(p, q)


def test_diverged_rollout_step_records_have_every_key(monkeypatch):
    # the steps taken before the divergence are written to the metrics file like any others
    tr = Trainer(small(inner_steps=4))
    nan_on_second_call(monkeypatch)
    res = tr.rollout()
    assert res.diverged is not None
    assert len(res.metrics) == 1
    missing = [k for k in REQUIRED_KEYS if k not in res.metrics[0]]
    assert not missing, f"step records of a diverged rollout lack {missing}"

