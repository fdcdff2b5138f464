"""The math of GRPO as plain functions of tensors, in the order the lecture introduces it.

Shapes: B prompts, G responses per prompt (a group), n positions, V tokens.
    logits     float[B, n, V]     the policy's output for each prompt
    responses  int[B, G, n]       sampled responses
    rewards    float[B, G]        one reward per response (credit "sequence", GRPO as published),
               float[B, G, n]     or one score per response position (credit "token")
    deltas     float[B, G]        rewards turned into per-response weights (advantages),
               float[B, G, n]     or per-token weights; always computed within each group (dim 1)
    logp       float[B, G, n]     log pi(token | prompt, tokens before) of each sampled token
"""

from __future__ import annotations

import torch

STD_EPS = 1e-5  # the lecture's constant in (reward - mean) / (std + eps)
GDPO_EPS = 1e-4  # TRL's constant, used by its normalize_then_sum (GDPO)


# ----------------------------------------------------------------------------- sampling, log-probs
def sample_responses(logits: torch.Tensor, group_size: int, gen: torch.Generator | None = None
                     ) -> torch.Tensor:
    """G independent samples per prompt and position, as the lecture's generate_responses does."""
    b, n, v = logits.shape
    probs = torch.softmax(logits.detach().float(), dim=-1).reshape(b * n, v)
    flat = torch.multinomial(probs, group_size, replacement=True, generator=gen)   # [B*n, G]
    return flat.view(b, n, group_size).transpose(1, 2)                             # [B, G, n]


def response_log_probs(logits: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    """log pi(response token | prompt) per position: float[B, G, n]."""
    logp_all = torch.log_softmax(logits, dim=-1)                                   # [B, n, V]
    return gathered_log_probs(logp_all, responses)


def gathered_log_probs(logp_all: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    """Pick each sampled token's log-prob out of log_softmax output [B, n, V] -> [B, G, n]."""
    b, g, n = responses.shape
    expanded = logp_all.unsqueeze(1).expand(b, g, n, logp_all.shape[-1])
    return expanded.gather(-1, responses.unsqueeze(-1)).squeeze(-1)


# ----------------------------------------------------------------------------- deltas
def compute_deltas(rewards: torch.Tensor, mode: str) -> torch.Tensor:
    """Turn rewards float[B, G] (or per-position scores float[B, G, n]) into deltas of the same
    shape, per prompt over its group of G (dim 1; with scores, position by position).

    raw:        delta = reward
    centered:   delta = reward - group mean
    normalized: delta = (reward - group mean) / (group std + 1e-5), std unbiased as torch.std.
                A group of one has no std; its centered reward is 0, so its delta is 0 (not NaN).
    max:        delta = reward where it equals the group's max, else 0
    The lecture's names (rewards, centered_rewards, normalized_rewards, max_rewards) work too.
    """
    mode = {"rewards": "raw", "centered_rewards": "centered", "normalized_rewards": "normalized",
            "max_rewards": "max"}.get(mode, mode)
    if mode == "raw":
        return rewards
    if mode == "centered":
        return rewards - rewards.mean(dim=1, keepdim=True)
    if mode == "normalized":
        centered = rewards - rewards.mean(dim=1, keepdim=True)
        if rewards.shape[1] < 2:
            return centered
        return centered / (rewards.std(dim=1, keepdim=True) + STD_EPS)
    if mode == "max":
        best = rewards.max(dim=1, keepdim=True).values
        return torch.where(rewards == best, rewards, torch.zeros_like(rewards))
    raise ValueError(f"unknown delta mode {mode!r}; allowed: raw, centered, normalized, max")


deltas = compute_deltas   # the short name: grpo.deltas(rewards or per-position scores, mode)


def decoupled_deltas(components: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """GDPO (arXiv 2601.05242; TRL's multi_objective_aggregation="normalize_then_sum").

    components float[B, G, k] (or float[B, G, n, k] per position): k reward functions' scores.
    Each component is normalised within its group, (r - mean) / (std + 1e-4); their weighted sum is
    normalised once more over the whole batch; that is the delta, float[B, G] (or [B, G, n]).

    Why: summing first can give different combinations the same delta. Groups {(0,0), (1,1)} and
    {(0,0), (0,1)} sum to [0, 2] and [0, 1], both +-0.7071 once normalised; decoupled, they get
    +-1.414 and +-0.707 before the batch step, so getting both rewards counts for more.
    """
    mean = components.mean(dim=1, keepdim=True)
    std = components.std(dim=1, keepdim=True) if components.shape[1] > 1 else torch.zeros_like(mean)
    summed = ((components - mean) / (std + GDPO_EPS) * weights).sum(dim=-1)
    if summed.numel() < 2:
        return summed - summed.mean()
    return (summed - summed.mean()) / (summed.std() + GDPO_EPS)


# ----------------------------------------------------------------------------- losses
def clipped_objective(ratio: torch.Tensor, delta: torch.Tensor, eps: float) -> torch.Tensor:
    """PPO's per-element objective min(ratio * delta, clip(ratio, 1-eps, 1+eps) * delta).

    Examples (eps 0.2): delta 0.5, ratio 1.35 gives 0.60; delta -0.5, ratio 0.65 gives -0.40.
    """
    return torch.minimum(ratio * delta, ratio.clamp(1 - eps, 1 + eps) * delta)


def per_token(deltas: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    """Deltas as one weight per token: a response's delta float[B, G] goes to each of its tokens
    (GRPO), per-token deltas float[B, G, n] stay as they are."""
    return deltas if deltas.dim() == logp.dim() else deltas.unsqueeze(-1)


def importance_ratio(logp: torch.Tensor, old_logp: torch.Tensor, level: str = "token"
                     ) -> torch.Tensor:
    """pi / pi_old, with old_logp frozen (no gradient).

    token:    one ratio per token, exp(logp_t - old_logp_t): float[..., n]
    sequence: one ratio per response, exp of the mean per-token log-ratio (GSPO; TRL's
              importance_sampling_level="sequence"), given to each of its tokens: float[..., n]
    """
    log_ratio = logp - old_logp.detach()
    if level == "sequence":
        return log_ratio.mean(dim=-1, keepdim=True).exp().expand_as(log_ratio)
    if level == "token":
        return torch.exp(log_ratio)
    raise ValueError(f"unknown importance_sampling {level!r}; allowed: token, sequence")


def policy_loss(logp: torch.Tensor, old_logp: torch.Tensor | None, deltas: torch.Tensor,
                mode: str, eps: float = 0.2, importance_sampling: str = "token") -> torch.Tensor:
    """The policy loss to minimise (a scalar), averaged over prompts, responses and positions.

    Each response's delta is broadcast to all its positions (or deltas are per token already).
    naive:     -mean(delta * logp)
    unclipped: -mean(ratio * delta)
    clipped:   -mean(min(ratio * delta, clip(ratio, 1-eps, 1+eps) * delta))
    with ratio = exp(logp - old_logp) per token, or one ratio per response (importance_sampling
    "sequence"), old_logp frozen. The lecture computes log_probs / old_log_probs here, which is not a
    probability ratio and flips the update's direction for positive deltas (both are negative).
    """
    d = per_token(deltas, logp)                                                   # [B, G, 1 or n]
    if mode == "naive":
        return -(d * logp).mean()
    ratio = importance_ratio(logp, old_logp, importance_sampling)
    if mode == "unclipped":
        return -(ratio * d).mean()
    if mode == "clipped":
        return -clipped_objective(ratio, d, eps).mean()
    raise ValueError(f"unknown loss mode {mode!r}; allowed: naive, unclipped, clipped")


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """k3 estimate of KL(pi || pi_ref): mean(exp(ref - logp) - (ref - logp) - 1).

    Zero when the policies agree on the sampled tokens, positive otherwise (x - 1 - log x >= 0).
    """
    log_ratio = ref_logp - logp
    return (torch.exp(log_ratio) - log_ratio - 1).mean()


# ----------------------------------------------------------------------------- diagnostics
def clip_fractions(ratio: torch.Tensor, deltas: torch.Tensor, eps: float,
                   dim: tuple[int, ...] | None = None) -> tuple[torch.Tensor, ...]:
    """TRL's clip ratios: the fraction of tokens whose clip binds.

    low:    ratio < 1-eps with delta < 0 (the clip stops pushing a bad response further down)
    high:   ratio > 1+eps with delta > 0 (the clip stops pushing a good response further up)
    region: either of them
    Averaged over everything, or over `dim` only (the trainer passes ratios of K steps at once,
    float[K, B, G, n], and averages over all but the first).
    """
    d = deltas if deltas.dim() >= 3 else deltas.unsqueeze(-1)
    low = (ratio < 1 - eps) & (d < 0)
    high = (ratio > 1 + eps) & (d > 0)
    return tuple(x.float().mean(dim=dim) if dim else x.float().mean() for x in (low, high, low | high))


def entropy(logp_all: torch.Tensor, dim: tuple[int, ...] | None = None) -> torch.Tensor:
    """Mean entropy (nats) of the per-position token distributions, from log_softmax output
    [..., V] ([B, n, V] per position, [B, G, n, V] autoregressive); averaged over everything, or
    over `dim` only."""
    per_position = -(logp_all.exp() * logp_all).sum(dim=-1)
    return per_position.mean(dim=dim) if dim else per_position.mean()
