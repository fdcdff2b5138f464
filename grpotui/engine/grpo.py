"""The math of GRPO as plain functions of tensors, in the order the lecture introduces it.

Shapes: B prompts, G responses per prompt (a group), n positions, V tokens.
    logits     float[B, n, V]     the policy's output for each prompt
    responses  int[B, G, n]       sampled responses
    rewards    float[B, G]        one reward per response
    deltas     float[B, G]        rewards turned into per-response weights (advantages)
    logp       float[B, G, n]     log pi(token | prompt) of each sampled token
"""

from __future__ import annotations

import torch

STD_EPS = 1e-5  # the lecture's constant in (reward - mean) / (std + eps)


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
    """Turn rewards float[B, G] into deltas float[B, G], per prompt over its group.

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
        return rewards - rewards.mean(dim=-1, keepdim=True)
    if mode == "normalized":
        centered = rewards - rewards.mean(dim=-1, keepdim=True)
        if rewards.shape[-1] < 2:
            return centered
        return centered / (rewards.std(dim=-1, keepdim=True) + STD_EPS)
    if mode == "max":
        best = rewards.max(dim=-1, keepdim=True).values
        return torch.where(rewards == best, rewards, torch.zeros_like(rewards))
    raise ValueError(f"unknown delta mode {mode!r}; allowed: raw, centered, normalized, max")


# ----------------------------------------------------------------------------- losses
def clipped_objective(ratio: torch.Tensor, delta: torch.Tensor, eps: float) -> torch.Tensor:
    """PPO's per-element objective min(ratio * delta, clip(ratio, 1-eps, 1+eps) * delta).

    Examples (eps 0.2): delta 0.5, ratio 1.35 gives 0.60; delta -0.5, ratio 0.65 gives -0.40.
    """
    return torch.minimum(ratio * delta, ratio.clamp(1 - eps, 1 + eps) * delta)


def policy_loss(logp: torch.Tensor, old_logp: torch.Tensor | None, deltas: torch.Tensor,
                mode: str, eps: float = 0.2) -> torch.Tensor:
    """The policy loss to minimise (a scalar), averaged over prompts, responses and positions.

    Each response's delta is broadcast to all its positions.
    naive:     -mean(delta * logp)
    unclipped: -mean(ratio * delta)
    clipped:   -mean(min(ratio * delta, clip(ratio, 1-eps, 1+eps) * delta))
    with ratio = exp(logp - old_logp), old_logp frozen (no gradient). The lecture computes
    log_probs / old_log_probs here, which is not a probability ratio and flips the update's
    direction for positive deltas (both log-probs are negative).
    """
    d = deltas.unsqueeze(-1)                                                      # [B, G, 1]
    if mode == "naive":
        return -(d * logp).mean()
    ratio = torch.exp(logp - old_logp.detach())
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
    d = deltas.unsqueeze(-1)
    low = (ratio < 1 - eps) & (d < 0)
    high = (ratio > 1 + eps) & (d > 0)
    return tuple(x.float().mean(dim=dim) if dim else x.float().mean() for x in (low, high, low | high))


def entropy(logp_all: torch.Tensor, dim: tuple[int, ...] | None = None) -> torch.Tensor:
    """Mean entropy (nats) of the per-position token distributions, from log_softmax output
    [..., V]; averaged over everything, or over `dim` only."""
    per_position = -(logp_all.exp() * logp_all).sum(dim=-1)
    return per_position.mean(dim=dim) if dim else per_position.mean()
