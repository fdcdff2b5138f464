"""The length bias, measured: variable-length presets on several seeds, read at marks of training
time (the README's figures for sortvar-ar, sortvar-ar-grpo and trl-defaults).

    python scripts/length_curves.py sortvar-ar sortvar-ar-grpo --seeds 0 1 --seconds 120

For each preset and seed, at 10, 30, 60 and 120 s of training (the trainer's own clock): held-out
exact match (greedy, the last evaluation before the mark), "xs" = the mean length of incorrect
responses minus their answer's length (n + 1, EOS included) and "trunc" = the truncated share of
the rollout's responses (both averaged over the rollouts since the previous mark), and the held-out
exact match and truncation per prompt length at the mark. Then the first time at 99% and the
rollouts per second. Run it alone: two processes on two cores slow each other down.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics

import torch

from grpotui.config import parse_set
from grpotui.engine.trainer import Trainer
from grpotui.presets import find_preset

MARKS = (10, 30, 60, 120, 180, 240)


def curve(config, seconds: float) -> dict:
    tr = Trainer(config, final_ratios=False)
    marks = [m for m in MARKS if m <= seconds]
    out, window, first_99 = {}, [], None
    heldout = {"em": tr.heldout_exact_match, "by_length": dict(tr.heldout_by_length)}
    while tr.train_seconds < seconds:
        result = tr.rollout()
        last = result.metrics[-1]
        window.append((last.get("completions/excess_length_incorrect", math.nan),
                       last.get("completions/clipped_ratio", math.nan)))
        if tr.rollout_index % config.eval_every == 0:
            heldout = {"em": tr.heldout_exact_match, "by_length": dict(tr.heldout_by_length)}
            if first_99 is None and tr.heldout_exact_match >= 0.99:
                first_99 = round(tr.train_seconds, 1)
        while marks and tr.train_seconds >= marks[0]:
            xs = [x for x, _ in window if not math.isnan(x)]
            out[marks.pop(0)] = {
                "em": round(heldout["em"], 3),
                "xs": round(statistics.fmean(xs), 2) if xs else None,
                "trunc": round(statistics.fmean(t for _, t in window), 3),
                "em_by_n": {k.split("/")[1]: round(v, 2) for k, v in heldout["by_length"].items()
                            if k.startswith("heldout_exact_match/")},
                "trunc_by_n": {k.split("/")[1]: round(v, 2) for k, v in
                               heldout["by_length"].items() if k.startswith("heldout_truncated/")},
                "rollout": tr.rollout_index,
            }
            window = []
    return {"seed": config.seed, "marks": out, "first_99_s": first_99,
            "rollouts_per_s": round(tr.rollout_index / tr.train_seconds, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("presets", nargs="+")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--set", dest="set_", action="append", default=[])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    for name in args.presets:
        base = find_preset(name).config.replace(**parse_set(args.set_))
        for seed in args.seeds:
            r = {"preset": name, **curve(base.replace(seed=seed), args.seconds)}
            results.append(r)
            if not args.json:
                print(f"{name} seed {seed}: {r['rollouts_per_s']} rollouts/s, 99% at "
                      f"{r['first_99_s']} s", flush=True)
                for m, v in r["marks"].items():
                    print(f"  {m:>4} s (rollout {v['rollout']}): EM {v['em']:.3f}  xs {v['xs']}  "
                          f"trunc {v['trunc']:.3f}  EM by n {v['em_by_n']}  trunc by n "
                          f"{v['trunc_by_n']}", flush=True)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
