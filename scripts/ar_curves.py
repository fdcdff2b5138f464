"""Held-out exact match against training time for a preset, on several seeds: the figures of the
README's autoregressive results.

    python scripts/ar_curves.py sort8-ar --seeds 0 1 --seconds 180 [--set key=value ...]

Training time is the trainer's own clock (sampling, updates and held-out evaluations; not start-up).
Held-out exact match is greedy decoding on the preset's held-out prompts, evaluated every
eval_every rollouts. Prints the value at 10, 30, 60, 120 and 180 s, the first times at 95% / 99%,
the time from which it stays at or above 95% / 99% to the end of the window (held_*_from), and the
lowest value after first touching 99%.
"""

from __future__ import annotations

import argparse
import json

import torch

from grpotui.config import TrainConfig, parse_set
from grpotui.engine.trainer import Trainer
from grpotui.presets import find_preset

MARKS = (10, 30, 60, 120, 180)


def curve(config: TrainConfig, seconds: float, rollouts: int | None = None) -> dict:
    tr = Trainer(config, final_ratios=False)
    points, by_rollout = [], []
    while tr.train_seconds < seconds and (rollouts is None or tr.rollout_index < rollouts):
        tr.rollout()
        if tr.rollout_index % config.eval_every == 0:
            points.append((tr.train_seconds, tr.heldout_exact_match))
            by_rollout.append((tr.rollout_index, tr.heldout_exact_match))
    at = {m: max((h for t, h in points if t <= m), default=0.0) if m <= seconds else None
          for m in MARKS}
    last = {m: next((h for t, h in reversed(points) if t <= m), 0.0) for m in MARKS if m <= seconds}
    first = {x: next((round(t, 1) for t, h in points if h >= x), None) for x in (0.95, 0.99)}
    first_r = {x: next((r for r, h in by_rollout if h >= x), None) for x in (0.9, 0.95, 0.99)}
    # "and staying there": the first evaluation from which every later one (to the end of the
    # window) is at or above the mark, and the lowest value after first touching it
    held = {}
    for x in (0.95, 0.99):
        i = len(points)
        while i > 0 and points[i - 1][1] >= x:
            i -= 1
        held[x] = round(points[i][0], 1) if i < len(points) else None
    touched = next((i for i, (_, h) in enumerate(points) if h >= 0.99), None)
    low_after = min(h for _, h in points[touched:]) if touched is not None else None
    every = max(1, len(by_rollout) // 12)
    return {"seed": config.seed, "rollouts": tr.rollout_index, "final": points[-1][1],
            "first_rollout": first_r, "trace": [(r, round(h, 3)) for r, h in by_rollout[::every]],
            "at": last, "best_by": at, "first_95": first[0.95], "first_99": first[0.99],
            "held_95_from": held[0.95], "held_99_from": held[0.99],
            "lowest_after_first_99": None if low_after is None else round(low_after, 3),
            "rollouts_per_s": tr.rollout_index / tr.train_seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("preset")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rollouts", type=int, default=None, help="stop after this many rollouts")
    ap.add_argument("--set", action="append", default=[])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    base = find_preset(args.preset).config.replace(**parse_set(args.set))
    for seed in args.seeds:
        print(json.dumps(curve(base.replace(seed=seed), args.seconds, args.rollouts)), flush=True)


if __name__ == "__main__":
    main()
