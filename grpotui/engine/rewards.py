"""Reward functions for the sorting task, vectorised over a whole rollout.

Every function takes `prompts: int[B, n]` and `responses: int[B, G, n]` and returns `float[B, G]`:
one reward per response, no Python loop over samples. The lecture's names are in brackets.

Worked examples (prompt [3, 1, 0, 2], target [0, 1, 2, 3]):

    response       position_match  inclusion_ordering  exact_match
    [0, 1, 2, 3]         4                 7                 1
    [7, 2, 2, 5]         1                 3                 0
    [0, 3, 1, 2]         1                 6                 0
"""

from __future__ import annotations

import torch


def targets(prompts: torch.Tensor) -> torch.Tensor:
    """The correct response to each prompt: the prompt sorted. int[B, n]."""
    return prompts.sort(dim=-1).values


def position_match(prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    """[sort_distance_reward] Number of positions where the response equals the sorted prompt."""
    return (responses == targets(prompts).unsqueeze(1)).sum(dim=-1).float()


def inclusion_ordering(prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    """[sort_inclusion_ordering_reward] Inclusion plus ordering.

    Inclusion: one point for each prompt token (each occurrence counts) found anywhere in the response.
    Ordering: one point for each adjacent response pair x, y with x <= y.
    """
    # found[b, g, i] = prompt token i of prompt b occurs somewhere in response (b, g)
    found = (prompts[:, None, :, None] == responses[:, :, None, :]).any(dim=-1)
    inclusion = found.sum(dim=-1)
    ordering = (responses[..., :-1] <= responses[..., 1:]).sum(dim=-1)
    return (inclusion + ordering).float()


def exact_match(prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    """1 if the response is exactly the sorted prompt, else 0 (the true objective; not in the lecture)."""
    return (responses == targets(prompts).unsqueeze(1)).all(dim=-1).float()


REWARD_FUNCTIONS = {
    "position_match": position_match,
    "inclusion_ordering": inclusion_ordering,
    "exact_match": exact_match,
}


def max_reward(name: str, n: int) -> float:
    """The best score a response can get under reward `name` for prompts of length n."""
    return {"position_match": n, "inclusion_ordering": 2 * n - 1, "exact_match": 1}[name]
