"""Reward functions for the sorting task, vectorised over a whole rollout.

Every function takes `prompts: int[B, n]` and `responses: int[B, G, n]` and returns `float[B, G]`:
one reward per response, no Python loop over samples. The lecture's names are in brackets.
`per_position(name)` gives a reward's per-position scores, float[B, G, n], for per-token credit;
`weighted({name: weight, ...})` mixes rewards (TRL's reward_weights).

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


# ----------------------------------------------------------------------------- per-position scores
def position_match_per_position(prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    """1 where a response token is the sorted prompt's token at that position: float[B, G, n].
    Summed over positions it is position_match."""
    return (responses == targets(prompts).unsqueeze(1)).float()


def per_position(name: str):
    """The per-position scores of reward `name`, float[B, G, n]: position_match scores each
    position; a reward that judges only the whole response gives its score to every position."""
    if name == "position_match":
        return position_match_per_position
    whole = REWARD_FUNCTIONS[name]
    return lambda prompts, responses: whole(prompts, responses).unsqueeze(-1).expand(
        *responses.shape).float()


# ----------------------------------------------------------------------------- mixes
def as_weights(reward) -> dict[str, float]:
    """A reward setting (one name, or a mapping of names to weights) as {name: weight}."""
    return {reward: 1.0} if isinstance(reward, str) else dict(reward)


def components(reward, prompts: torch.Tensor, responses: torch.Tensor, per_token: bool = False
               ) -> torch.Tensor:
    """Each reward function's scores, stacked on a last axis in the setting's order:
    float[B, G, k], or float[B, G, n, k] per position."""
    fns = [per_position(name) if per_token else REWARD_FUNCTIONS[name] for name in as_weights(reward)]
    return torch.stack([fn(prompts, responses) for fn in fns], dim=-1)


def weighted(weights: dict[str, float]):
    """A reward function that returns the weighted sum of rewards, float[B, G]; for example
    weighted({"position_match": 1.0, "exact_match": 4.0})."""
    for name in weights:
        if name not in REWARD_FUNCTIONS:
            raise ValueError(f"unknown reward {name!r}; allowed: {', '.join(REWARD_FUNCTIONS)}")
    w = torch.tensor(list(weights.values()))

    def mix(prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
        return (components(weights, prompts, responses) * w).sum(dim=-1)

    return mix


def mix_max_reward(reward, n: int) -> float:
    """The best total a response can get under a reward setting (weights below 0 count 0)."""
    return sum(max(w, 0.0) * max_reward(name, n) for name, w in as_weights(reward).items())
