"""Learning-rate schedules as plain functions of the rollout index (transformers' names and math).

    factor(r) = r / warmup                        while r < warmup (linear warm-up from 0)
    then, with progress p = (r - warmup) / (rollouts - warmup), held at 1 past the run's end:
        constant   1
        linear     m + (1 - m) * (1 - p)
        cosine     m + (1 - m) * (1 + cos(pi * p)) / 2
    lr(r) = learning_rate * factor(r), m = min_lr_rate (transformers' linear and cosine decay to 0,
    which is m = 0; its cosine_with_min_lr is m > 0).

Every rollout's K inner steps use its rollout's learning rate. The schedule depends only on the
settings and the rollout index, so a live change of learning rate or schedule continues from the
current rollout rather than starting over.
"""

from __future__ import annotations

import math


def lr_factor(kind: str, rollout: int, rollouts: int, warmup: int = 0, min_lr_rate: float = 0.0
              ) -> float:
    if rollout < warmup:
        return rollout / warmup
    if kind == "constant":
        return 1.0
    progress = min(1.0, (rollout - warmup) / max(1, rollouts - warmup))
    if kind == "linear":
        decay = 1.0 - progress
    elif kind == "cosine":
        decay = 0.5 * (1.0 + math.cos(math.pi * progress))
    else:
        raise ValueError(f"unknown lr_scheduler_type {kind!r}; allowed: constant, linear, cosine")
    return min_lr_rate + (1.0 - min_lr_rate) * decay


def learning_rate(cfg, rollout: int) -> float:
    """The learning rate of rollout `rollout` (0-based) under the settings `cfg`."""
    return cfg.learning_rate * lr_factor(cfg.lr_scheduler_type, rollout, cfg.rollouts,
                                         cfg.warmup_rollouts, cfg.min_lr_rate)
