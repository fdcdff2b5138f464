"""The GRPO engine: pure PyTorch, no UI imports. Read it next to CS336 Lecture 17.

    task.py     prompts (fixed or random with a held-out split)
    rewards.py  vectorised reward functions
    policy.py   the lecture model and a small transformer
    grpo.py     deltas, log-probs, losses, KL: plain functions of tensors
    trainer.py  Trainer: rollout + K inner steps, mid-run changes, metrics
"""

from grpotui.engine import grpo, rewards

__all__ = ["grpo", "rewards"]
