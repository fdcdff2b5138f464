"""The `--device cuda` paths, checked on a machine with an NVIDIA GPU (CI has none).

    python scripts/cuda_check.py

For every policy (lecture, transformer, autoregressive), with the settings that change the math
(per-token credit, sequence-level ratios, a GDPO reward mix, a KL penalty, a cosine schedule,
temperature): a few rollouts on the GPU give finite metrics and keep everything on the GPU; the
autoregressive policy's teacher-forced log-probs equal the ones recorded while sampling, with and
without the KV cache; the same seed gives the same metrics twice; sort4-ar is trained to 99%
held-out exact match; the variable-length task (sortvar-ar) under each of TRL's loss types and
knobs, its log-probs up to EOS with and without the cache, and a training run of up to 120 s.
Prints one line per check and exits 1 if any fails.
"""

from __future__ import annotations

import math
import sys
import time

import torch

from grpotui.config import TrainConfig
from grpotui.engine.trainer import Trainer
from grpotui.presets import find_preset

FAILED: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        FAILED.append(name)


def run(cfg: TrainConfig, rollouts: int) -> tuple[Trainer, dict]:
    tr = Trainer(cfg)
    metrics: dict = {}
    for _ in range(rollouts):
        result = tr.rollout()
        assert result.diverged is None, result.diverged
        metrics = result.metrics[-1]
    return tr, metrics


def finite(metrics: dict) -> bool:
    return all(math.isfinite(v) for v in metrics.values() if isinstance(v, float))


def main() -> None:
    if not torch.cuda.is_available():
        print("no CUDA GPU here: nothing to check")
        sys.exit(2)
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}", flush=True)
    base = TrainConfig(device="cuda", rollouts=1000, prompts_per_rollout=16, eval_every=2)
    variants = {
        "defaults": {},
        "token credit": {"credit": "token"},
        "sequence ratios": {"importance_sampling": "sequence"},
        "GDPO mix": {"reward": {"position_match": 1.0, "exact_match": 4.0},
                     "reward_aggregation": "normalize_then_sum"},
        "KL, cosine, T=1.3": {"kl_beta": 0.05, "lr_scheduler_type": "cosine", "temperature": 1.3,
                              "warmup_rollouts": 2},
    }
    for policy in ("lecture", "transformer", "autoregressive"):
        for label, overrides in variants.items():
            cfg = base.replace(policy=policy, **overrides)
            tr, m = run(cfg, 4)
            on_gpu = all(p.device.type == "cuda" for p in tr.policy.parameters())
            check(f"{policy} / {label}", finite(m) and on_gpu,
                  f"reward {m['reward']:.3f} loss {m['loss']:.4f} held-out "
                  f"{tr.heldout_exact_match:.3f}")

    cfg = base.replace(policy="autoregressive", n=8, vocab_size=16)
    tr, _ = run(cfg, 3)
    prompts = tr.heldout[:8]
    for cache in (True, False):
        with torch.no_grad():
            gen = torch.Generator("cuda").manual_seed(0)
            responses, logp = tr.policy.sample(prompts, 4, generator=gen, temperature=1.2,
                                               use_cache=cache)
            forced = tr.policy.log_probs(prompts, responses, temperature=1.2)   # [B, G, n]
        gap = (forced - logp).abs().max().item()
        check(f"autoregressive teacher-forced = sampled log-probs (cache {cache})", gap < 1e-4,
              f"max gap {gap:.1e}")

    a = run(base.replace(policy="autoregressive"), 3)[1]
    b = run(base.replace(policy="autoregressive"), 3)[1]
    same = all(a[k] == b[k] for k in ("reward", "loss", "entropy"))
    check("same seed, same metrics", same, f"loss {a['loss']:.6f} / {b['loss']:.6f}")

    # variable length with EOS (issue 24): TRL's loss types and knobs on the GPU, the completion
    # mask, and sampling against teacher forcing on the completion tokens
    var = find_preset("sortvar-ar").config.replace(device="cuda", eval_every=2)
    var_variants = {
        "dr_grpo": {}, "grpo": {"loss_type": "grpo"}, "dapo, clip-higher": {
            "loss_type": "dapo", "epsilon_high": 0.28, "inner_steps": 2},
        "cispo": {"loss_type": "cispo", "epsilon_high": 5.0, "inner_steps": 2},
        "sapo": {"loss_type": "sapo", "inner_steps": 2},
        "bnpo, delta, KL, sequence ratios": {"loss_type": "bnpo", "delta": 1.5, "kl_beta": 0.04,
                                             "importance_sampling": "sequence", "inner_steps": 2},
        "top_p, top_k, entropy knobs, masked truncation": {
            "top_p": 0.9, "top_k": 5, "entropy_coef": 0.01, "top_entropy_quantile": 0.2,
            "mask_truncated_completions": True, "scale_rewards": "batch"},
    }
    for label, overrides in var_variants.items():
        tr, m = run(var.replace(**overrides), 4)
        on_gpu = all(p.device.type == "cuda" for p in tr.policy.parameters())
        check(f"variable length / {label}", finite({k: v for k, v in m.items()
                                                    if not k.startswith("completions/")})
              and on_gpu, f"reward {m['reward']:.3f} loss {m['loss']:.4f} mean length "
                          f"{m['completions/mean_length']:.2f}")
    from grpotui.engine import varlen
    tr, _ = run(var, 3)
    prompts = tr.heldout[::37][:8]
    for cache in (True, False):
        with torch.no_grad():
            gen = torch.Generator("cuda").manual_seed(0)
            responses, logp = tr.policy.sample(prompts, 4, generator=gen, use_cache=cache)
            forced = tr.policy.log_probs(prompts, responses)
            mask = varlen.completion_mask(responses, var.vocab_size)[0]
        gap = ((forced - logp) * mask).abs().max().item()
        check(f"variable length: teacher-forced = sampled log-probs up to EOS (cache {cache})",
              gap < 1e-4, f"max gap {gap:.1e}")
    tr = Trainer(var.replace(eval_every=25))
    start = time.perf_counter()
    while tr.heldout_exact_match < 0.99 and time.perf_counter() - start < 120:
        tr.rollout()
    seconds = time.perf_counter() - start
    check("sortvar-ar trains on the GPU", tr.heldout_exact_match > 0.5,
          f"{tr.heldout_exact_match:.3f} after {tr.rollout_index} rollouts, {seconds:.1f} s "
          f"({tr.rollout_index / seconds:.1f} rollouts/s); by length "
          f"{ {k: round(v, 2) for k, v in tr.heldout_by_length.items()} }")

    cfg = find_preset("sort4-ar").config.replace(device="cuda")
    tr = Trainer(cfg)
    start = time.perf_counter()
    while tr.heldout_exact_match < 0.99 and tr.rollout_index < 3000:
        tr.rollout()
    seconds = time.perf_counter() - start
    check("sort4-ar to 99% held-out", tr.heldout_exact_match >= 0.99,
          f"{tr.heldout_exact_match:.3f} after {tr.rollout_index} rollouts, {seconds:.1f} s "
          f"({tr.rollout_index / seconds:.1f} rollouts/s)")
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
