"""TRL 1.16's loss family in grpo.py on hand-computed examples with unequal lengths: the loss
types, epsilon_high, two-sided clipping (delta), sequence ratios under a mask, masked clip fractions,
KL and entropy, the top-entropy mask, which loss types coincide, and the old defaults unchanged."""

from __future__ import annotations

import math

import pytest
import torch

from grpotui.engine import grpo

# ============================================================================ the hand example
# B=1 prompt, G=2 responses, L=3 positions. Response 0 (delta +1) has 1 token, response 1
# (delta -1) has 3. What lies after response 0's EOS (positions 1, 2) is garbage.
#   ratios r = exp(logp - old):  response 0: 1.5 | garbage     response 1: 0.5, 2.0, 0.9
#   logp:                        response 0: -1.0 | garbage    response 1: -2.0, -0.5, -1.0
# Clipped per-token loss -min(r A, clip(r, 0.8, 1.2) A), eps 0.2:
#   r0 = 1.5, A +1: min(1.5, 1.2) = 1.2              -> -1.2
#   r  = 0.5, A -1: min(-0.5, -0.8) = -0.8            ->  0.8
#   r  = 2.0, A -1: min(-2.0, -1.2) = -2.0            ->  2.0
#   r  = 0.9, A -1: in range                          ->  0.9
# Response sums: -1.2 and 3.7 (over 3 tokens); all tokens: 2.5 over T = 4; N = 2 responses.
MASK = torch.tensor([[[1, 0, 0], [1, 1, 1]]], dtype=torch.bool)
LOGP = [[[-1.0, -0.3, -4.0], [-2.0, -0.5, -1.0]]]
RATIOS = [[[1.5, 7.0, 0.01], [0.5, 2.0, 0.9]]]       # 7.0 and 0.01 sit after EOS
DELTAS = [[1.0, -1.0]]


def example(requires_grad: bool = False, dtype=torch.float64):
    logp = torch.tensor(LOGP, dtype=dtype, requires_grad=requires_grad)
    old = torch.tensor(LOGP, dtype=dtype) - torch.tensor(RATIOS, dtype=dtype).log()
    return logp, old, torch.tensor(DELTAS, dtype=dtype)


def loss(loss_type, mode="clipped", **kw):
    logp, old, d = example()
    return grpo.policy_loss(logp, old, d, mode, 0.2, loss_type=loss_type, mask=MASK, **kw).item()


@pytest.mark.parametrize("loss_type, expected", [
    ("grpo", (-1.2 + 3.7 / 3) / 2),      # mean over responses of each one's token mean = 1/60
    ("bnpo", 2.5 / 4),                   # masked sum / tokens = 0.625
    ("dapo", 2.5 / 4),                   # one batch, one process: bnpo's number
    ("dr_grpo", 2.5 / (2 * 3)),          # masked sum / (responses x L) = 0.41667
    ("luspo", 2.5 / 2),                  # mean over responses of each one's sum = 1.25
    (None, 2.5 / 4),                     # the lecture's mean, over the mask's tokens
])
def test_aggregations_of_the_clipped_objective(loss_type, expected):
    assert loss(loss_type) == pytest.approx(expected, abs=1e-12)


def test_dr_grpo_divides_by_max_completion_length():
    # TRL pads to the longest completion in the batch, so L (4) may exceed the positions (3)
    assert loss("dr_grpo", max_completion_length=4) == pytest.approx(2.5 / 8, abs=1e-12)
    with pytest.raises(ValueError, match="max_completion_length"):
        loss("dr_grpo", max_completion_length=2)


def test_mode_chooses_the_objective_loss_type_the_aggregation():
    # unclipped, -r A: -1.5 | 0.5, 2.0, 0.9 -> grpo (-1.5 + 3.4/3) / 2 = -0.18333
    assert loss("grpo", "unclipped") == pytest.approx((-1.5 + 3.4 / 3) / 2, abs=1e-12)
    # naive, -A logp: 1.0 | -2.0, -0.5, -1.0 -> dr_grpo (1 - 3.5) / 6 = -0.41667
    assert loss("dr_grpo", "naive") == pytest.approx(-2.5 / 6, abs=1e-12)
    # bnpo of naive: -2.5 / 4
    assert loss("bnpo", "naive") == pytest.approx(-2.5 / 4, abs=1e-12)


def test_epsilon_high_and_two_sided_delta():
    # epsilon_high 0.6: range [0.8, 1.6]; r0 = 1.5 is no longer clipped: -1.5; the low side still
    # clips 0.5 to 0.8 -> bnpo (-1.5 + 3.7) / 4 = 0.55
    assert loss("bnpo", epsilon_high=0.6) == pytest.approx(2.2 / 4, abs=1e-12)
    # delta 1.5: r = 2.0 with A -1 gives min(min(2.0, 1.5) * -1, 1.2 * -1) = -1.5 -> 1.5 (was 2.0)
    # -> bnpo (-1.2 + 0.8 + 1.5 + 0.9) / 4 = 0.5
    assert loss("bnpo", delta=1.5) == pytest.approx(2.0 / 4, abs=1e-12)
    # clipped_objective by hand: delta -0.5, ratio 4, two_sided 2: min(-1.0, -0.6) = -1.0
    got = grpo.clipped_objective(torch.tensor(4.0), torch.tensor(-0.5), 0.2, two_sided=2.0)
    assert got.item() == pytest.approx(-1.0)
    got = grpo.clipped_objective(torch.tensor(1.5), torch.tensor(0.5), 0.2, epsilon_high=0.28)
    assert got.item() == pytest.approx(0.64)       # 1.28 * 0.5


def test_cispo():
    # -min(r, epsilon_high).detach() A logp, aggregated as dapo (/ 4 tokens); epsilon_high 1.2 caps r:
    #   weights 1.2 | 0.5, 1.2, 0.9; losses -1.2*1*-1 = 1.2 | -0.5*-1*-2 = -1.0, -0.6, -0.9 -> -1.3 / 4
    assert loss("cispo", epsilon_high=1.2) == pytest.approx(-1.3 / 4, abs=1e-12)
    # TRL's default epsilon_high is epsilon (0.2), an absolute cap on r: every weight is 0.2
    #   0.2 | -0.4, -0.1, -0.2 -> -0.5 / 4
    assert loss("cispo") == pytest.approx(-0.5 / 4, abs=1e-12)
    logp, old, d = example(requires_grad=True)
    grpo.policy_loss(logp, old, d, "clipped", loss_type="cispo", mask=MASK,
                     epsilon_high=1.2).backward()
    # d/dlogp = -w A / 4 (the weight is detached): -0.3 | 0.125, 0.3, 0.225; nothing after EOS
    torch.testing.assert_close(logp.grad, torch.tensor([[[-0.3, 0, 0], [0.125, 0.3, 0.225]]],
                                                       dtype=torch.float64))


def test_sapo():
    # -(4 / tau) sigmoid(tau (r - 1)) A; tau 1.0 where A > 0, 1.05 elsewhere; aggregated as grpo
    def sig(x):
        return 1 / (1 + math.exp(-x))
    r0 = -4 * sig(0.5)                                          # A +1, r 1.5
    r1 = [4 / 1.05 * sig(1.05 * (r - 1)) for r in (0.5, 2.0, 0.9)]  # A -1
    assert loss("sapo") == pytest.approx((r0 + sum(r1) / 3) / 2, abs=1e-7)  # float32 temperatures
    # the temperatures are TRL's sapo_temperature_pos / _neg
    r0 = -4 / 2 * sig(2 * 0.5)
    r1 = [4 / 0.5 * sig(0.5 * (r - 1)) for r in (0.5, 2.0, 0.9)]
    got = loss("sapo", sapo_temperature_pos=2.0, sapo_temperature_neg=0.5)
    assert got == pytest.approx((r0 + sum(r1) / 3) / 2, abs=1e-6)


def test_vespo():
    # phi(w) = exp(lam + k log w - lam w), w = prod of the response's token ratios (masked):
    #   response 0: w = 1.5, A >= 0: k 2, lam 3 -> e^(3 - 4.5) 1.5^2
    #   response 1: w = 0.5 * 2.0 * 0.9 = 0.9, A < 0: k 3, lam 2 -> e^(2 - 1.8) 0.9^3
    # loss -phi A logp, aggregated as dapo: (phi0 * 1.0 + phi1 * (-3.5)) / 4
    phi0 = math.exp(3 - 4.5) * 1.5 ** 2
    phi1 = math.exp(2 - 1.8) * 0.9 ** 3
    assert loss("vespo") == pytest.approx((phi0 - 3.5 * phi1) / 4, abs=1e-12)


def test_sequence_ratio_uses_the_masked_mean_log_ratio():
    logp, old, d = example()
    r = grpo.importance_ratio(logp, old, "sequence", mask=MASK)
    # response 0: exp(log 1.5 / 1) = 1.5; response 1: exp((log 0.5 + log 2 + log 0.9) / 3) = 0.9^(1/3)
    want = torch.tensor([[[1.5] * 3, [0.9 ** (1 / 3)] * 3]], dtype=torch.float64)
    torch.testing.assert_close(r, want)
    # clipped, grpo: response 0 clipped to 1.2 -> -1.2; response 1 in range -> 0.9^(1/3) per token
    got = grpo.policy_loss(logp, old, d, "clipped", 0.2, "sequence", loss_type="grpo", mask=MASK)
    assert got.item() == pytest.approx((-1.2 + 0.9 ** (1 / 3)) / 2, abs=1e-12)
    # luspo: each response's sum: (-1.2 + 3 * 0.9^(1/3)) / 2
    got = grpo.policy_loss(logp, old, d, "clipped", 0.2, "sequence", loss_type="luspo", mask=MASK)
    assert got.item() == pytest.approx((-1.2 + 3 * 0.9 ** (1 / 3)) / 2, abs=1e-12)


GARBAGE = [math.inf, -math.inf, math.nan, 1e30, -1e30, 123.0]


@pytest.mark.parametrize("importance_sampling", ["token", "sequence"])
@pytest.mark.parametrize("loss_type", [None, *grpo.LOSS_TYPES])
@pytest.mark.parametrize("mode", ["naive", "unclipped", "clipped"])
def test_tokens_after_eos_change_nothing(mode, loss_type, importance_sampling):
    if loss_type in grpo.OWN_OBJECTIVE_LOSS_TYPES and mode != "clipped":
        return
    if loss_type == "vespo" and importance_sampling == "sequence":
        return
    gen = torch.Generator().manual_seed(0)
    mask = torch.tensor([[[1, 0, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]], dtype=torch.float32)
    base = torch.randn(1, 3, 4, generator=gen) - 1
    old = base + 0.3 * torch.randn(1, 3, 4, generator=gen)
    deltas = torch.randn(1, 3, 4, generator=gen)           # per-token deltas: garbage there too
    results = []
    for fill in [0.0, *GARBAGE]:
        def dirty(x):
            return torch.where(mask.bool(), x, torch.full_like(x, fill))
        logp = dirty(base).requires_grad_(True)
        value = grpo.policy_loss(logp, dirty(old), dirty(deltas), mode, 0.2, importance_sampling,
                                 loss_type=loss_type, mask=mask)
        value.backward()
        results.append((value.detach(), logp.grad))
    for value, grad in results[1:]:
        assert torch.equal(value, results[0][0])
        assert torch.equal(grad, results[0][1])
    assert torch.isfinite(results[0][0]) and torch.all(results[0][1][~mask.bool()] == 0)


# ============================================================================ aggregation, KL
def test_aggregate_adds_a_per_token_kl_before_aggregating():
    logp, old, d = example()
    ref = logp - 0.5                                   # k3 per token: e^-0.5 + 0.5 - 1 = 0.10653
    per = grpo.per_token_policy_loss(logp, old, d, "clipped", 0.2, loss_type="grpo", mask=MASK)
    kl = grpo.kl_k3_per_token(logp, ref, MASK)
    k3 = math.exp(-0.5) - 0.5
    torch.testing.assert_close(kl, torch.tensor([[[k3, 0, 0], [k3] * 3]], dtype=torch.float64))
    got = grpo.aggregate(per + 0.1 * kl, MASK, "grpo")
    assert got.item() == pytest.approx((-1.2 + 3.7 / 3) / 2 + 0.1 * k3, abs=1e-12)
    assert grpo.kl_k3(logp, ref, mask=MASK).item() == pytest.approx(k3, abs=1e-12)


def test_entropy_mask_zeroes_tokens_but_keeps_the_denominators():
    # entropies 0.1 | 0.5, 0.3, 0.9 (5.0 after EOS, ignored); rho 0.5: the 0.5 quantile of
    # 0.1, 0.3, 0.5, 0.9 is 0.3 + 0.5 (0.5 - 0.3) = 0.4 -> keep 0.5 and 0.9
    ent = torch.tensor([[[0.1, 5.0, 5.0], [0.5, 0.3, 0.9]]], dtype=torch.float64)
    keep = grpo.top_entropy_mask(ent, MASK, 0.5)
    assert keep.tolist() == [[[False, False, False], [True, False, True]]]
    # bnpo of the kept tokens (0.8, 0.9) over all 4 completion tokens: 1.7 / 4
    assert loss("bnpo", entropy_mask=keep) == pytest.approx(1.7 / 4, abs=1e-12)


def test_top_entropy_mask_quantiles():
    ent = torch.tensor([[[0.1, 5.0, 5.0], [0.5, 0.3, 0.9]]])
    # rho 0.25: the 0.75 quantile is 0.5 + 0.25 (0.9 - 0.5) = 0.6 -> only 0.9
    assert grpo.top_entropy_mask(ent, MASK, 0.25).tolist() == [[[False] * 3, [False, False, True]]]
    assert grpo.top_entropy_mask(ent, MASK, 0.0).tolist() == [[[False] * 3, [False, False, True]]]
    assert torch.equal(grpo.top_entropy_mask(ent, MASK, 1.0), MASK)   # rho 1 keeps every token
    assert not grpo.top_entropy_mask(ent, torch.zeros_like(MASK), 0.2).any()
    ties = torch.tensor([[[0.5, 0.5, 0.5]]])
    assert grpo.top_entropy_mask(ties, None, 0.2).all()                # ties at the threshold stay
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        grpo.top_entropy_mask(ent, MASK, 1.5)


# ============================================================================ diagnostics
def test_clip_fractions_with_mask_and_epsilon_high():
    _, _, d = example()
    r = torch.tensor(RATIOS)
    # low binds at r 0.5 (A < 0), high at r0 = 1.5 (A > 0); the 7.0 after EOS must not count
    low, high, region = grpo.clip_fractions(r, d, 0.2, mask=MASK)
    assert (low.item(), high.item(), region.item()) == (0.25, 0.25, 0.5)
    low, high, region = grpo.clip_fractions(r, d, 0.2, mask=MASK, epsilon_high=0.6)
    assert (low.item(), high.item(), region.item()) == (0.25, 0.0, 0.25)
    # no mask: 6 positions, the garbage 7.0 counts as high -> 2/6
    assert grpo.clip_fractions(r, d, 0.2)[1].item() == pytest.approx(2 / 6)
    # K steps at once: [K, B, G, n] with the [B, G, n] mask, averaged per step
    low, high, _ = grpo.clip_fractions(torch.stack([r, torch.ones_like(r)]), d, 0.2,
                                       dim=(1, 2, 3), mask=MASK)
    assert low.tolist() == [0.25, 0.0] and high.tolist() == [0.25, 0.0]


def test_clip_fractions_sequence_level_count_responses():
    logp, old, d = example()
    r = grpo.importance_ratio(logp, old, "sequence", mask=MASK)   # 1.5 and 0.9655
    low, high, region = grpo.clip_fractions(r, d, 0.2, mask=MASK, importance_sampling="sequence")
    assert (low.item(), high.item(), region.item()) == (0.0, 0.5, 0.5)   # 1 of 2 responses
    # per token the long response would weigh 3 times: 1/4
    assert grpo.clip_fractions(r, d, 0.2, mask=MASK)[1].item() == 0.25


def test_entropy_and_kl_with_mask():
    # position entropies: uniform over 5 (log 5) on the completion tokens, garbage after
    logits = torch.zeros(1, 2, 3, 5)
    logits[0, 0, 1:] = torch.tensor([30.0, 0, 0, 0, 0])      # after EOS: near 0 entropy
    logp_all = torch.log_softmax(logits, dim=-1)
    assert grpo.entropy(logp_all, mask=MASK).item() == pytest.approx(math.log(5), abs=1e-6)
    assert grpo.entropy(logp_all).item() < math.log(5) - 0.5
    per_step = grpo.entropy(torch.stack([logp_all] * 2), dim=(1, 2, 3), mask=MASK)
    torch.testing.assert_close(per_step, torch.full((2,), math.log(5)))


# ============================================================================ coinciding loss types
def test_coinciding_loss_types():
    # lengths 1 and 3, L 3: T 4, N 2 -> dr_grpo 4 / 6 x bnpo, luspo 4 / 2; grpo is not among them
    assert grpo.coinciding_loss_types(MASK) == pytest.approx(
        {"bnpo": 1.0, "dapo": 1.0, "dr_grpo": 4 / 6, "luspo": 2.0})
    # equal lengths 3 and 3: all five, grpo = bnpo = dapo = dr_grpo, luspo 3x
    full = torch.ones(1, 2, 3, dtype=torch.bool)
    assert grpo.coinciding_loss_types(full) == pytest.approx(
        {"grpo": 1.0, "bnpo": 1.0, "dapo": 1.0, "dr_grpo": 1.0, "luspo": 3.0})
    assert grpo.coinciding_loss_types(None, shape=(1, 2, 3)) == grpo.coinciding_loss_types(full)
    # equal lengths 2 and 2 with L 3 (and an empty response): grpo = bnpo still
    two = torch.tensor([[[1, 1, 0], [1, 1, 0], [0, 0, 0]]])
    got = grpo.coinciding_loss_types(two, max_completion_length=3)
    assert got == pytest.approx({"grpo": 4 / 6, "bnpo": 1.0, "dapo": 1.0, "dr_grpo": 4 / 9,
                                 "luspo": 4 / 3})


@pytest.mark.parametrize("mask", [MASK, torch.ones(1, 2, 3, dtype=torch.bool),
                                  torch.tensor([[[1, 1, 0], [1, 1, 0], [0, 0, 0]]])])
def test_coinciding_factors_hold_for_any_per_token_losses(mask):
    x = torch.randn(mask.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    bnpo = grpo.aggregate(x, mask, "bnpo", 4)
    for loss_type, factor in grpo.coinciding_loss_types(mask, 4).items():
        assert grpo.aggregate(x, mask, loss_type, 4).item() == pytest.approx(factor * bnpo.item())


# ============================================================================ refusals
@pytest.mark.parametrize("mode, kw, match", [
    ("naive", {"loss_type": "cispo"}, "mode 'clipped' only"),
    ("unclipped", {"loss_type": "sapo"}, "mode 'clipped' only"),
    ("clipped", {"loss_type": "sapo", "delta": 2.0}, "delta"),
    ("unclipped", {"delta": 2.0}, "delta"),
    ("naive", {"epsilon_high": 0.28}, "epsilon_high"),
    ("clipped", {"loss_type": "sapo", "epsilon_high": 0.28}, "epsilon_high"),
    ("clipped", {"loss_type": "bogus"}, "allowed: None"),
    ("bogus", {}, "allowed: naive, unclipped, clipped"),
])
def test_senseless_combinations_raise(mode, kw, match):
    logp, old, d = example()
    with pytest.raises(ValueError, match=match):
        grpo.policy_loss(logp, old, d, mode, mask=MASK, **kw)


def test_vespo_refuses_sequence_ratios():
    logp, old, d = example()
    with pytest.raises(ValueError, match="importance_sampling 'token'"):
        grpo.policy_loss(logp, old, d, "clipped", 0.2, "sequence", loss_type="vespo")


# ============================================================================ defaults unchanged
def old_policy_loss(logp, old_logp, deltas, mode, eps=0.2, importance_sampling="token"):
    """grpo.policy_loss as it was before the loss types (verbatim)."""
    d = deltas if deltas.dim() == logp.dim() else deltas.unsqueeze(-1)
    if mode == "naive":
        return -(d * logp).mean()
    log_ratio = logp - old_logp.detach()
    ratio = (log_ratio.mean(dim=-1, keepdim=True).exp().expand_as(log_ratio)
             if importance_sampling == "sequence" else torch.exp(log_ratio))
    if mode == "unclipped":
        return -(ratio * d).mean()
    return -torch.minimum(ratio * d, ratio.clamp(1 - eps, 1 + eps) * d).mean()


@pytest.mark.parametrize("per_token_deltas", [False, True])
@pytest.mark.parametrize("importance_sampling", ["token", "sequence"])
@pytest.mark.parametrize("mode", ["naive", "unclipped", "clipped"])
def test_defaults_are_the_old_formulas_exactly(mode, importance_sampling, per_token_deltas):
    gen = torch.Generator().manual_seed(2)
    base = torch.randn(3, 4, 5, generator=gen) - 1
    old = base + 0.3 * torch.randn(3, 4, 5, generator=gen)
    d = torch.randn((3, 4, 5) if per_token_deltas else (3, 4), generator=gen)
    grads = []
    values = []
    for fn in (grpo.policy_loss, old_policy_loss):
        logp = base.clone().requires_grad_(True)
        value = fn(logp, old, d, mode, 0.3, importance_sampling)
        value.backward()
        values.append(value.detach())
        grads.append(logp.grad)
    assert torch.equal(values[0], values[1]) and torch.equal(grads[0], grads[1])
    # an all-ones mask with loss_type None gives the same loss (to rounding)
    masked = grpo.policy_loss(base, old, d, mode, 0.3, importance_sampling,
                              mask=torch.ones(3, 4, 5))
    torch.testing.assert_close(masked, values[0])


def test_diagnostics_defaults_unchanged():
    gen = torch.Generator().manual_seed(3)
    ratio = (0.4 * torch.randn(2, 3, 4, 5, generator=gen)).exp()
    d = torch.randn(3, 4, generator=gen)
    low = (ratio < 0.8) & (d.unsqueeze(-1) < 0)
    high = (ratio > 1.2) & (d.unsqueeze(-1) > 0)
    got = grpo.clip_fractions(ratio, d, 0.2, dim=(1, 2, 3))
    for g, want in zip(got, (low, high, low | high)):
        assert torch.equal(g, want.float().mean(dim=(1, 2, 3)))
    logp, ref = torch.randn(3, 4, 5, generator=gen), torch.randn(3, 4, 5, generator=gen)
    assert torch.equal(grpo.kl_k3(logp, ref), (torch.exp(ref - logp) - (ref - logp) - 1).mean())
    logp_all = torch.log_softmax(torch.randn(3, 4, 5, 6, generator=gen), dim=-1)
    assert torch.equal(grpo.entropy(logp_all, dim=(1, 2)),
                       (-(logp_all.exp() * logp_all).sum(-1)).mean(dim=(1, 2)))


def test_mask_from_lengths():
    assert grpo.mask_from_lengths(torch.tensor([[1, 3]]), 3).tolist() == MASK.tolist()
