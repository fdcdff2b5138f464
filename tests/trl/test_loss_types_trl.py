"""grpo.policy_loss against TRL 1.16's own GRPOTrainer._compute_loss, on the same random tensors:
unequal lengths, garbage after EOS, ratios away from 1 (old_per_token_logps given, as with
num_iterations > 1), for every loss type, with epsilon_high, delta and top_entropy_quantile; values,
gradients and the logged clip ratios and entropy.

TRL's method is called unbound on a stand-in `self` that holds what the method reads (the attributes
GRPOTrainer.__init__ copies from a real GRPOConfig) and whose _get_per_token_logps_and_entropies
returns our tensors; the accelerator is one process (pad, gather and reduce are the identity)."""

from __future__ import annotations

import copy
import functools
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

from grpotui.engine import grpo

B, G, L = 2, 3, 5
LENGTHS = torch.tensor([[1, 5, 3], [2, 4, 5]])      # unequal, one response of a single token
MASK = grpo.mask_from_lengths(LENGTHS, L)


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    from trl import GRPOConfig
    return GRPOConfig(output_dir=str(tmp_path_factory.mktemp("cfg")), use_cpu=True, report_to=[],
                      num_iterations=2, max_completion_length=7, per_device_train_batch_size=6,
                      num_generations=3)


class OneProcess:
    num_processes = 1

    @staticmethod
    def pad_across_processes(t, dim=0, pad_index=0):
        return t

    @staticmethod
    def gather(t):
        return t

    @staticmethod
    def reduce(t, reduction="sum"):
        return t


def trl_loss(config, tensors, **settings):
    """TRL's loss (and its logged metrics) for our tensors; settings are GRPOConfig fields."""
    from trl import GRPOTrainer

    args = copy.copy(config)
    for key, value in settings.items():
        setattr(args, key, value)
    logp, entropies = tensors["logp"], tensors["entropies"]
    rows = B * G
    me = SimpleNamespace(
        args=args, loss_type=args.loss_type, beta=args.beta, epsilon_low=args.epsilon,
        epsilon_high=args.epsilon_high if args.epsilon_high is not None else args.epsilon,
        importance_sampling_level=args.importance_sampling_level,
        top_entropy_quantile=args.top_entropy_quantile,
        off_policy_mask_threshold=args.off_policy_mask_threshold,
        max_completion_length=args.max_completion_length, use_vllm=False,
        vllm_importance_sampling_correction=False, aux_loss_enabled=False,
        _entropy_bonus_enabled=False, current_gradient_accumulation_steps=1,
        model=SimpleNamespace(training=True), accelerator=OneProcess(),
        _metrics={"train": defaultdict(list)},
        get_gamma_weights=GRPOTrainer.get_gamma_weights,
        get_off_policy_mask=GRPOTrainer.get_off_policy_mask,
        _get_per_token_logps_and_entropies=lambda *a, **k: (logp.reshape(rows, L),
                                                            entropies.reshape(rows, L), None))
    me.get_high_entropy_mask = functools.partial(GRPOTrainer.get_high_entropy_mask, me)
    mask = MASK.reshape(rows, L).long()
    inputs = {"prompt_ids": torch.zeros(rows, 2, dtype=torch.long),
              "prompt_mask": torch.ones(rows, 2, dtype=torch.long),
              "completion_ids": torch.zeros(rows, L, dtype=torch.long), "completion_mask": mask,
              "advantages": tensors["deltas"].reshape(rows),
              "old_per_token_logps": tensors["old"].reshape(rows, L),
              "num_items_in_batch": mask.sum()}
    if "ref" in tensors:
        inputs["ref_per_token_logps"] = tensors["ref"].reshape(rows, L)
    loss = GRPOTrainer._compute_loss(me, None, inputs)
    return loss, {k: v[-1] for k, v in me._metrics["train"].items()}


def random_tensors(seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    logp = -torch.rand(B, G, L, generator=gen) * 3
    garbage = torch.randn(B, G, L, generator=gen) * 50           # after EOS: anything finite
    logp = torch.where(MASK, logp, garbage)
    return {"logp": logp,
            "old": logp + 0.4 * torch.randn(B, G, L, generator=gen),
            "ref": logp + 0.3 * torch.randn(B, G, L, generator=gen),
            "deltas": torch.randn(B, G, generator=gen),
            "entropies": torch.rand(B, G, L, generator=gen) * 2}


def both(config, tensors, loss_type, level="token", *, epsilon_high=None, delta=None, rho=1.0,
         beta=0.0):
    """(TRL's loss, its metrics, its gradient), (ours, our gradient)."""
    trl_t = dict(tensors, logp=tensors["logp"].clone().requires_grad_(True))
    loss, metrics = trl_loss(config, trl_t, loss_type=loss_type, importance_sampling_level=level,
                             epsilon_high=epsilon_high, delta=delta, top_entropy_quantile=rho,
                             beta=beta, use_bias_correction_kl=False)
    loss.backward()
    logp = tensors["logp"].clone().requires_grad_(True)
    args = (logp, tensors["old"], tensors["deltas"], "clipped", config.epsilon, level)
    kw = dict(loss_type=loss_type, mask=MASK, epsilon_high=epsilon_high, delta=delta)
    if beta:   # the trainer's way: per-token policy loss + beta * per-token KL, then aggregate
        per = grpo.per_token_policy_loss(*args, **kw)
        per = per + beta * grpo.kl_k3_per_token(logp, tensors["ref"], MASK)
        ours = grpo.aggregate(per, MASK, loss_type, config.max_completion_length)
    else:
        entropy_mask = grpo.top_entropy_mask(tensors["entropies"], MASK, rho) if rho < 1 else None
        ours = grpo.policy_loss(*args, **kw, entropy_mask=entropy_mask,
                                max_completion_length=config.max_completion_length)
    ours.backward()
    return (loss.detach(), metrics, trl_t["logp"].grad), (ours.detach(), logp.grad)


def assert_same(a, b):
    torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


CASES = [(t, lvl) for t in grpo.LOSS_TYPES for lvl in ("token", "sequence")
         if not (t == "vespo" and lvl == "sequence")]


@pytest.mark.parametrize("loss_type, level", CASES)
def test_policy_term_equals_trl(config, loss_type, level):
    for seed in range(3):
        tensors = random_tensors(seed)
        (theirs, metrics, their_grad), (ours, our_grad) = both(config, tensors, loss_type, level)
        assert_same(ours, theirs)
        assert_same(our_grad.reshape(-1, L), their_grad.reshape(-1, L))
        assert torch.all(our_grad[~MASK] == 0)
        ratio = grpo.importance_ratio(tensors["logp"], tensors["old"], level, mask=MASK)
        entropy = grpo.masked_mean(tensors["entropies"], MASK)
        assert metrics["entropy"] == pytest.approx(entropy.item(), rel=1e-6)
        if loss_type in grpo.AGGREGATING_LOSS_TYPES:
            low, high, region = grpo.clip_fractions(ratio, tensors["deltas"], config.epsilon,
                                                    mask=MASK, importance_sampling=level)
            assert metrics["clip_ratio/low_mean"] == pytest.approx(low.item(), abs=1e-7)
            assert metrics["clip_ratio/high_mean"] == pytest.approx(high.item(), abs=1e-7)
            assert metrics["clip_ratio/region_mean"] == pytest.approx(region.item(), abs=1e-7)


@pytest.mark.parametrize("loss_type", ["grpo", "dapo", "dr_grpo", "cispo"])
def test_epsilon_high_and_delta_equal_trl(config, loss_type):
    tensors = random_tensors(7)
    settings = [dict(epsilon_high=0.28), dict(epsilon_high=5.0)] if loss_type == "cispo" else \
        [dict(epsilon_high=0.28), dict(delta=1.3), dict(epsilon_high=0.05, delta=1.1)]
    for kw in settings:
        (theirs, metrics, their_grad), (ours, our_grad) = both(config, tensors, loss_type, **kw)
        assert_same(ours, theirs)
        assert_same(our_grad.reshape(-1, L), their_grad.reshape(-1, L))
        if loss_type != "cispo":
            ratio = grpo.importance_ratio(tensors["logp"], tensors["old"], mask=MASK)
            _, high, _ = grpo.clip_fractions(ratio, tensors["deltas"], config.epsilon, mask=MASK,
                                             epsilon_high=kw.get("epsilon_high"))
            assert metrics["clip_ratio/high_mean"] == pytest.approx(high.item(), abs=1e-7)


@pytest.mark.parametrize("rho", [0.0, 0.2, 0.5, 0.999])
def test_top_entropy_quantile_equals_trl(config, rho):
    from trl import GRPOTrainer
    tensors = random_tensors(11)
    for loss_type in ("grpo", "dapo", "sapo"):
        (theirs, _, their_grad), (ours, our_grad) = both(config, tensors, loss_type, rho=rho)
        assert_same(ours, theirs)
        assert_same(our_grad.reshape(-1, L), their_grad.reshape(-1, L))
    me = SimpleNamespace(accelerator=OneProcess())
    theirs = GRPOTrainer.get_high_entropy_mask(me, tensors["entropies"], MASK.long(), 1 - rho)
    assert torch.equal(grpo.top_entropy_mask(tensors["entropies"], MASK, rho), theirs)


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "luspo"])
def test_per_token_kl_then_aggregate_equals_trl(config, loss_type):
    # beta > 0 (use_bias_correction_kl off): TRL adds beta * k3 per token, then aggregates
    tensors = random_tensors(5)
    (theirs, metrics, their_grad), (ours, our_grad) = both(config, tensors, loss_type, beta=0.04)
    assert_same(ours, theirs)
    assert_same(our_grad.reshape(-1, L), their_grad.reshape(-1, L))
    kl = grpo.kl_k3(tensors["logp"], tensors["ref"], mask=MASK)
    assert metrics["kl"] == pytest.approx(kl.item(), rel=1e-6)
