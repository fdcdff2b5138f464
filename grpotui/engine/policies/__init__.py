"""Policies: what writes a response to a prompt.

Every policy offers the same calls, so the trainer never asks which one it has:

    sample(prompts, group_size, generator=None, temperature=1.0) -> (responses, logp)
        int[B, G, n] responses and float[B, G, n] log-probs of the sampled tokens under the
        (temperature-scaled) distribution they were drawn from; no gradient.
    log_probs(prompts, responses, temperature=1.0) -> logp
        the same log-probs with gradient, float[B, G, n], from one teacher-forced pass.
    log_probs_all(prompts, responses, temperature=1.0) -> (logp, logp_all)
        the same, and every token's log-prob at every position (for the entropy): float[B, n, V]
        for a per-position policy, float[B, G, n, V] otherwise.
    sample_for_training(prompts, group_size, generator, temperature) -> (responses, old_logp, logp, logp_all)
        a rollout's start: the samples, the frozen old log-probs, and the first inner step's log-probs
        with gradient, in as few forward passes as the policy allows.
    greedy(prompts) -> int[B, n]: the most likely response (held-out evaluation).

per_position.py   the lecture's model and a small transformer: the n response positions are sampled
                  independently given the prompt (one forward pass serves a whole group)
autoregressive.py a causal transformer that writes its response one token at a time, as an LM does
"""

from __future__ import annotations

import torch
from torch import nn

from grpotui.engine.policies.autoregressive import AutoregressiveSorter
from grpotui.engine.policies.per_position import LectureModel, SortTransformer

__all__ = ["AutoregressiveSorter", "LectureModel", "SortTransformer", "build_policy"]


def build_policy(cfg, seed: int) -> nn.Module:
    """The policy named by cfg.policy, initialised from `seed` only (not the global RNG's state)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if cfg.policy == "lecture":
            return LectureModel(cfg.vocab_size, cfg.d_model, cfg.n, cfg.n)
        if cfg.policy == "autoregressive":
            return AutoregressiveSorter(cfg.vocab_size, cfg.d_model, cfg.n, cfg.n_layers, cfg.n_heads,
                                        cfg.completion_length if cfg.variable else None)
        return SortTransformer(cfg.vocab_size, cfg.d_model, cfg.n, cfg.n_layers, cfg.n_heads)
