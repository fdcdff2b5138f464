"""Fault injection for robustness tests: GRPOTUI_FAULT=KIND@ROLLOUT makes the training process fail
on purpose from that rollout on (1-based), so tests can check what the dashboard does about it.

    reward-raises@3   the reward function raises an exception
    reward-nan@3      the reward function returns NaN
    loss-nan@3        the policy loss becomes NaN (as a blown-up update would)

Nothing happens unless the variable is set.
"""

from __future__ import annotations

import os

KINDS = ("reward-raises", "reward-nan", "loss-nan")


def install_from_env() -> str | None:
    spec = os.environ.get("GRPOTUI_FAULT")
    if not spec:
        return None
    kind, _, at = spec.partition("@")
    if kind not in KINDS or not at.isdigit():
        raise ValueError(f"GRPOTUI_FAULT={spec!r}: expected KIND@ROLLOUT, KIND one of "
                         f"{', '.join(KINDS)}")
    install(kind, int(at))
    return kind


def install(kind: str, at_rollout: int) -> None:
    """Wrap the reward functions (called once per rollout, so they count rollouts) and, for
    loss-nan, the policy loss."""
    from grpotui.engine import grpo, rewards

    rollouts = {"n": 0}

    def wrap(fn):
        def reward(prompts, responses):
            rollouts["n"] += 1
            out = fn(prompts, responses)
            if rollouts["n"] >= at_rollout and kind == "reward-raises":
                raise RuntimeError("injected fault: the reward function raised")
            if rollouts["n"] >= at_rollout and kind == "reward-nan":
                out = out.clone()
                out[0, 0] = float("nan")
            return out
        return reward

    for name, fn in list(rewards.REWARD_FUNCTIONS.items()):
        rewards.REWARD_FUNCTIONS[name] = wrap(fn)

    if kind == "loss-nan":
        real_loss = grpo.policy_loss

        def loss(*args, **kw):
            value = real_loss(*args, **kw)
            return value * float("nan") if rollouts["n"] >= at_rollout else value

        grpo.policy_loss = loss
