"""Trainer: the GRPO loop of CS336 Lecture 17, one rollout at a time, with settings that change mid-run.

One rollout (the lecture's "epoch"):
    1. draw prompts; set this rollout's learning rate (the schedule)
    2. sample G responses per prompt (a seeded generator): all positions at once from one forward
       pass (per-position policies), or one token at a time (the autoregressive policy)
    3. reward them and turn rewards (or, with per-token credit, per-position scores) into deltas,
       per group
    4. freeze logp_old: the log-probs under the policy that sampled (no gradient), and the reference
       policy's log-probs if the KL penalty is on
    5. K inner steps of Adam on the same batch: loss = policy loss (+ beta * KL)

Usage:
    trainer = Trainer(TrainConfig())
    result = trainer.rollout()          # RolloutResult: per-step metrics, the groups, events
    trainer.update(learning_rate=0.01)  # applied at the next rollout
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from grpotui.config import ConfigError, TrainConfig, reward_label
from grpotui.engine import grpo, rewards as reward_fns, schedules, varlen
from grpotui.engine.policies import build_policy
from grpotui.engine.rewards import REWARD_FUNCTIONS, targets
from grpotui.engine.task import PromptSource

# Metrics whose value depends on the machine's speed, not on the math (left out of determinism checks).
TIMING_METRICS = ("steps_per_second", "time")


class NeedsReset(ConfigError):
    """A change of a setting that only a reset can apply (the model, n, vocab_size, seed, ...)."""

    def __init__(self, keys: list[str]):
        self.keys = keys
        super().__init__(
            f"changing {', '.join(keys)} needs a reset: these settings shape the model or the task, "
            f"so they cannot change mid-run. Reset to apply them (settings that change live: "
            f"{', '.join(TrainConfig.live_keys())}).")


@dataclass
class Groups:
    """The latest rollout's sampled groups, for display. Tensors on the CPU.

    ratios: per response, pi(response) / pi_old(response) after the last inner step.
    token_ratios: the ratio the clipped loss clipped at the last inner step, as that step saw it
    (before its update), per token (with importance_sampling "sequence"
    the response's one ratio at each of its tokens), float[B, G, n].
    deltas: per response; with per-token credit the mean of its tokens' deltas, which are in
    token_deltas (with sequence credit, the response's delta at each token).
    """

    prompts: torch.Tensor      # int[B, n]
    targets: torch.Tensor      # int[B, n]
    responses: torch.Tensor    # int[B, G, n]
    rewards: torch.Tensor      # float[B, G]
    deltas: torch.Tensor       # float[B, G]
    ratios: torch.Tensor       # float[B, G]
    token_ratios: torch.Tensor  # float[B, G, n]
    token_deltas: torch.Tensor  # float[B, G, n]
    credit: str = "sequence"
    token_probs: torch.Tensor | None = None     # float[B, G, n]: pi_old of each sampled token
    components: dict[str, torch.Tensor] | None = None   # a reward mix's parts, float[B, G] each
    # variable length (grpotui.engine.varlen): prompts left-padded, responses [B, G, L] with PAD
    # after EOS, targets [B, L] the answers (EOS included); lengths int[B, G] tokens up to and
    # including EOS; truncated bool[B, G] no EOS by L; vocab_size to tell numbers from EOS and PAD
    lengths: torch.Tensor | None = None
    truncated: torch.Tensor | None = None
    vocab_size: int | None = None


@dataclass
class StepTensors:
    """What one inner step leaves for its metrics record (all detached)."""

    loss: torch.Tensor
    kl: torch.Tensor | None
    logp: torch.Tensor          # float[B, G, n] before the step's update
    logp_all: torch.Tensor      # float[B, n, V] (per position) or float[B, G, n, V]
    grad_norm: torch.Tensor


@dataclass
class RolloutResult:
    metrics: list[dict[str, Any]]              # one dict per optimizer step
    groups: Groups
    events: list[dict[str, Any]] = field(default_factory=list)
    diverged: str | None = None                # a message when a non-finite loss/gradient stopped it


def describe_failure(e: BaseException) -> str:
    """One line for an exception raised inside training, with a hint when it is out of memory."""
    text = f"{e.__class__.__name__}: {e}"
    if isinstance(e, (MemoryError, torch.OutOfMemoryError)) or "can't allocate memory" in str(e):
        text += " (out of memory: lower prompts_per_rollout, group_size, d_model or n_layers)"
    return text


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for, but torch sees no CUDA GPU on this machine; "
                          "allowed here: cpu or auto.")
    return torch.device(name)


def masked(x: torch.Tensor, m: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """The mean of x over `dims` where m holds (0 where it never does)."""
    return torch.where(m, x, torch.zeros_like(x)).sum(dim=dims) / m.sum(dim=dims).clamp(min=1)


def token_entropy(logp_all: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Each sampled position's entropy in nats, float[B, G, n] (a per-position policy's
    [B, n, V] distributions serve all G responses)."""
    ent = -(logp_all.exp() * logp_all).sum(dim=-1)
    return ent if ent.dim() == len(shape) else ent.unsqueeze(1).expand(shape)


def by_length(lengths: torch.Tensor, exact: torch.Tensor, truncated: torch.Tensor
              ) -> dict[str, float]:
    """Held-out exact match and truncation per prompt length m (issue 24's length view):
    {"heldout_exact_match/m": share, "heldout_truncated/m": share} for each length present."""
    out: dict[str, float] = {}
    for m in sorted(set(lengths.tolist())):
        rows = lengths == m
        out[f"heldout_exact_match/{m}"] = exact[rows].float().mean().item()
        out[f"heldout_truncated/{m}"] = truncated[rows].float().mean().item()
    return out


def completion_metrics(lengths: torch.Tensor, truncated: torch.Tensor, correct: torch.Tensor,
                       prompts: torch.Tensor, vocab_size: int) -> dict[str, float]:
    """TRL's completion-length metrics (tokens up to and including EOS), and ours: the mean length
    of correct and of incorrect responses, and how far incorrect ones run past the answer's length
    (the length bias shows there). NaN where there is nothing to average."""
    lengths = lengths.float()
    answer = (varlen.prompt_lengths(prompts, vocab_size) + 1).float().unsqueeze(-1)  # m + EOS
    done = ~truncated
    right = correct.bool()
    nan = float("nan")

    def mean(x: torch.Tensor, where: torch.Tensor) -> float:
        return x[where].mean().item() if where.any() else nan

    return {
        "completions/mean_length": lengths.mean().item(),
        "completions/min_length": lengths.min().item(),
        "completions/max_length": lengths.max().item(),
        "completions/clipped_ratio": truncated.float().mean().item(),
        "completions/mean_terminated_length": mean(lengths, done),
        "completions/min_terminated_length": lengths[done].min().item() if done.any() else nan,
        "completions/max_terminated_length": lengths[done].max().item() if done.any() else nan,
        "completions/mean_length_correct": mean(lengths, right),
        "completions/mean_length_incorrect": mean(lengths, ~right),
        "completions/excess_length_incorrect": mean(lengths - answer, ~right),
    }


class Trainer:
    def __init__(self, config: TrainConfig | None = None, *, final_ratios: bool = True):
        self.final_ratios = final_ratios
        self.reset(config or TrainConfig())

    # ------------------------------------------------------------------ set-up
    def reset(self, config: TrainConfig | None = None) -> None:
        """Start over: a fresh model, optimizer and prompt source from `config` (or the current one)."""
        cfg = config or self.config
        cfg.check()
        self.config = cfg
        self._pending: TrainConfig | None = None
        self.device = resolve_device(cfg.device)
        self.policy = build_policy(cfg, cfg.seed).to(self.device)
        # fused Adam: one kernel for all parameters instead of a loop of small ops (same math)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=cfg.learning_rate,
                                          betas=(0.9, cfg.adam_beta2), fused=True)
        self.prompts = PromptSource(cfg.prompt_source, cfg.n, cfg.vocab_size, cfg.heldout_size,
                                    cfg.prompts, cfg.seed, cfg.min_n)
        self.heldout_by_length: dict[str, float] = {}
        self.heldout = self.prompts.heldout.to(self.device)
        self.gen = torch.Generator(self.device).manual_seed(cfg.seed)
        self.ref_policy: torch.nn.Module | None = None
        self.step = 0            # optimizer steps taken
        self.rollout_index = 0   # rollouts completed
        self.train_seconds = 0.0
        self.heldout_exact_match = self.evaluate()

    # ------------------------------------------------------------------ mid-run changes
    def update(self, **changes: Any) -> TrainConfig:
        """Queue setting changes for the next rollout. Raises ConfigError for a bad value and
        NeedsReset for a setting that cannot change mid-run; nothing is queued then."""
        base = self._pending or self.config
        new = base.replace(**changes)
        needs_reset = [k for k in new.diff(self.config) if k not in TrainConfig.live_keys()]
        if needs_reset:
            raise NeedsReset(needs_reset)
        self._pending = new
        return new

    @property
    def next_config(self) -> TrainConfig:
        """The settings the next rollout will use: the live ones plus any queued changes."""
        return self._pending or self.config

    def _apply_pending(self) -> list[dict[str, Any]]:
        if self._pending is None:
            return []
        events = [{"event": "set", "step": self.step, "rollout": self.rollout_index, "key": k,
                   "old": old, "new": new}
                  for k, (old, new) in self.config.diff(self._pending).items()]
        self.config, self._pending = self._pending, None
        return events

    def _set_optimizer(self) -> float:
        """This rollout's learning rate (the schedule at the current rollout) and Adam's beta2."""
        lr = schedules.learning_rate(self.config, self.rollout_index)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
            group["betas"] = (0.9, self.config.adam_beta2)
        return lr

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, prompts: torch.Tensor | None = None) -> float:
        """Exact match of greedy decoding on the held-out prompts (argmax per position, or token by
        token for the autoregressive policy)."""
        p = self.heldout if prompts is None else prompts.to(self.device)
        if len(p) == 0:
            return float("nan")
        # eval mode + inference mode let nn.TransformerEncoder take its fused inference path
        # (a third faster; there is no dropout, so the numbers are the same)
        self.policy.eval()
        try:
            with torch.inference_mode():
                greedy = self.policy.greedy(p)
                if not self.config.variable:
                    return (greedy == targets(p)).all(dim=-1).float().mean().item()
                v = self.config.vocab_size
                exact = varlen.exact_match(p, greedy.unsqueeze(1), v)[:, 0]
                truncated = varlen.completion_mask(greedy.unsqueeze(1), v)[2][:, 0]
                if prompts is None:     # the held-out set: also per prompt length
                    self.heldout_by_length = by_length(varlen.prompt_lengths(p, v), exact,
                                                       truncated)
                return exact.mean().item()
        finally:
            self.policy.train()

    # ------------------------------------------------------------------ one rollout
    def rollout(self, max_steps: int | None = None, final_ratios: bool | None = None
                ) -> RolloutResult:
        """Sample, reward, and take K optimizer steps on one batch (at most `max_steps` of them,
        so a run can stop at an exact step count). Returns the per-step metrics.

        final_ratios (default: the constructor's): give the groups' ratios after the last update,
        which costs one more forward pass; without it they are the last inner step's ratios
        before its update."""
        events = self._apply_pending()
        cfg = self.config
        t0 = time.perf_counter()
        lr = self._set_optimizer()

        # 1-2. prompts and G samples per prompt; for a per-position policy one forward pass serves
        #      the sampling and the first inner step (logp_old is its detached copy: same parameters);
        #      the autoregressive policy records logp_old while it writes, then one teacher-forced
        #      pass gives the first step's log-probs with their gradient.
        prompts = self.prompts.sample(cfg.prompts_per_rollout).to(self.device)       # [B, n]
        narrowed = {"top_p": cfg.top_p, "top_k": cfg.top_k} if (cfg.top_p < 1 or cfg.top_k) else {}
        responses, old_logp, logp, logp_all = self.policy.sample_for_training(
            prompts, cfg.group_size, self.gen, cfg.temperature, **narrowed)            # [B, G, n]
        # variable length: the completion mask (up to and including EOS) and the truncated ones
        mask = lengths = truncated = None
        if cfg.variable:
            mask, lengths, truncated = varlen.completion_mask(responses, cfg.vocab_size)

        # 3. rewards and deltas
        rewards, parts, deltas = self._score(prompts, responses)                      # [B, G]
        if not torch.isfinite(rewards).all():
            return self._stop(events, prompts, responses, rewards,
                              f"the reward function '{reward_label(cfg.reward)}' returned a "
                              f"non-finite value", t0=t0)

        # 4. the frozen old policy is the policy that just sampled (old_logp above)
        ref_logp = self._reference_log_probs(prompts, responses)

        # rollout-level statistics, shared by the K steps' metric records
        with torch.no_grad():
            group_std = rewards.std(dim=-1) if cfg.group_size > 1 else torch.zeros_like(rewards[:, 0])
            if cfg.variable:
                correct = varlen.exact_match(prompts, responses, cfg.vocab_size)
            else:
                correct = (responses == targets(prompts).unsqueeze(1)).all(dim=-1).float()
            stats = [rewards.mean(), group_std.mean(), correct.mean(),
                     (group_std == 0).float().mean()]
            if parts is not None:
                stats += list(parts.mean(dim=(0, 1)))
            rollout_stats = torch.stack(stats).tolist()
            length_stats = (completion_metrics(lengths, truncated, correct, prompts, cfg.vocab_size)
                            if cfg.variable else {})
        loss_mask = mask
        if mask is not None and cfg.mask_truncated_completions:
            loss_mask = mask * (~truncated).unsqueeze(-1).float()

        # Each step keeps its (detached) tensors; the metrics of all K steps are reduced together
        # after the loop, so the per-step cost is the step itself plus one finiteness check.
        history: list[StepTensors] = []
        params = list(self.policy.parameters())
        inner_steps = cfg.inner_steps if max_steps is None else max(1, min(cfg.inner_steps, max_steps))
        for k in range(inner_steps):
            if k > 0:  # 5. recompute log-probs under the current parameters
                logp, logp_all = self.policy.log_probs_all(prompts, responses, cfg.temperature)
            loss, kl = self._loss(logp, old_logp, deltas, ref_logp, logp_all, mask, loss_mask)
            for p in params:  # = optimizer.zero_grad(set_to_none=True), minus its profiler hook
                p.grad = None
            loss.backward()
            grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
            if not torch.isfinite(loss.detach() + grad_norm):  # NaN/inf in either survives the sum
                # The step is not taken, so parameters and Adam's state stay at their last finite values.
                what = "loss" if not torch.isfinite(loss) else "gradient"
                self.optimizer.zero_grad(set_to_none=True)
                metrics = self._step_metrics(history, old_logp, deltas, rollout_stats, lr, mask,
                                             length_stats)
                return self._stop(events, prompts, responses, rewards,
                                  f"non-finite {what} at step {self.step + 1}", deltas, metrics, t0)
            if cfg.max_grad_norm > 0:
                torch.nn.utils.clip_grads_with_norm_(params, cfg.max_grad_norm, grad_norm)
            self.optimizer.step()
            self.step += 1
            history.append(StepTensors(loss.detach(), None if kl is None else kl.detach(),
                                       logp.detach(), logp_all.detach(), grad_norm))
        metrics = self._step_metrics(history, old_logp, deltas, rollout_stats, lr, mask,
                                     length_stats)

        # groups for display: each token's ratio as the last inner step's loss saw it (before
        # that step's update: what the clip plot shows), and each response's ratio after the
        # last update (the groups panel's ρ)
        with torch.no_grad():
            seen = history[-1].logp
            if self.final_ratios if final_ratios is None else final_ratios:
                logp = self.policy.log_probs(prompts, responses, cfg.temperature)
            groups = self._groups(prompts, responses, rewards, deltas, logp.detach(), old_logp,
                                  parts, lengths, truncated, seen=seen)

        self.rollout_index += 1
        if self.rollout_index % cfg.eval_every == 0:
            self.heldout_exact_match = self.evaluate()
            for m in metrics:
                m["heldout_exact_match"] = self.heldout_exact_match
                m.update(self.heldout_by_length)
        self._stamp_time(metrics, t0)
        return RolloutResult(metrics, groups, events)

    # ------------------------------------------------------------------ helpers
    def _loss(self, logp, old_logp, deltas, ref_logp, logp_all, mask, loss_mask):
        """This inner step's loss and KL. The lecture's loss (loss_type mean, fixed length, no
        TRL extras) is computed as it always was, so every fixed-length preset keeps its results;
        otherwise TRL's order: per-token policy loss + beta x per-token KL - entropy_coef x
        per-token entropy, then the loss type's aggregation over the completion mask."""
        cfg = self.config
        if (cfg.loss_type == "mean" and mask is None and not cfg.epsilon_high and not cfg.delta
                and cfg.entropy_coef == 0 and cfg.top_entropy_quantile >= 1):
            loss = grpo.policy_loss(logp, old_logp, deltas, cfg.loss_mode, cfg.clip_eps,
                                    cfg.importance_sampling)
            kl = grpo.kl_k3(logp, ref_logp) if ref_logp is not None else None
            return (loss if kl is None else loss + cfg.kl_beta * kl), kl
        loss_type = None if cfg.loss_type == "mean" else cfg.loss_type
        clipped = cfg.loss_mode == "clipped"
        own = loss_type in grpo.OWN_OBJECTIVE_LOSS_TYPES
        per_token = grpo.per_token_policy_loss(
            logp, old_logp, deltas, cfg.loss_mode, cfg.clip_eps, cfg.importance_sampling,
            loss_type=loss_type, mask=loss_mask,
            epsilon_high=(cfg.epsilon_high or None) if clipped and loss_type not in ("sapo", "vespo")
            else None,
            delta=(cfg.delta or None) if clipped and not own else None)
        if cfg.top_entropy_quantile < 1 or cfg.entropy_coef:
            ent = token_entropy(logp_all, logp.shape)
        if cfg.top_entropy_quantile < 1:
            keep = grpo.top_entropy_mask(ent.detach(), loss_mask, cfg.top_entropy_quantile)
            per_token = torch.where(keep, per_token, torch.zeros_like(per_token))
        kl = None
        if ref_logp is not None:
            per_kl = grpo.kl_k3_per_token(logp, ref_logp, loss_mask)
            per_token = per_token + cfg.kl_beta * per_kl
            kl = grpo.masked_mean(per_kl, loss_mask)
        if cfg.entropy_coef:
            per_token = per_token - cfg.entropy_coef * ent
        loss = grpo.aggregate(per_token, loss_mask, loss_type,
                              cfg.completion_length if loss_type == "dr_grpo" else None)
        return loss, kl

    def _score(self, prompts, responses):
        """Rewards float[B, G]; a mix's parts float[B, G, k] (None for one reward function); and
        the deltas: float[B, G] with sequence credit, float[B, G, n] with per-token credit."""
        cfg = self.config
        if cfg.variable:     # the variable-length task's rewards see the tokens before EOS
            parts = varlen.components(cfg.reward, prompts, responses, cfg.vocab_size)
            if isinstance(cfg.reward, str):
                rewards, parts, weights = parts[..., 0], None, None
            else:
                weights = torch.tensor(list(cfg.reward.values()), device=self.device)
                rewards = (parts * weights).sum(dim=-1)
        elif isinstance(cfg.reward, str):
            rewards, parts, weights = REWARD_FUNCTIONS[cfg.reward](prompts, responses), None, None
        else:
            weights = torch.tensor(list(cfg.reward.values()), device=self.device)
            parts = reward_fns.components(cfg.reward, prompts, responses)               # [B, G, k]
            rewards = (parts * weights).sum(dim=-1)
        if cfg.credit == "token":
            scores = reward_fns.components(cfg.reward, prompts, responses, per_token=True)
        elif parts is None:
            scores = rewards.unsqueeze(-1)
        else:
            scores = parts
        # scores: float[B, G, k] or float[B, G, n, k], one column per reward function
        if cfg.reward_aggregation == "normalize_then_sum":
            w = weights if weights is not None else torch.ones(1, device=self.device)
            deltas = grpo.decoupled_deltas(scores, w)
        elif cfg.credit == "sequence" and parts is None:
            deltas = grpo.compute_deltas(rewards, cfg.delta_mode)
        else:
            summed = scores.squeeze(-1) if weights is None else (scores * weights).sum(dim=-1)
            deltas = grpo.compute_deltas(summed, cfg.delta_mode)
        return rewards, parts, deltas

    def _reference_log_probs(self, prompts: torch.Tensor, responses: torch.Tensor
                             ) -> torch.Tensor | None:
        """log-probs under the KL reference policy, refreshed every ref_refresh rollouts.
        With kl_beta = 0 there is no reference at all."""
        cfg = self.config
        if cfg.kl_beta == 0:
            self.ref_policy = None
            return None
        if self.ref_policy is None or self.rollout_index % cfg.ref_refresh == 0:
            self.ref_policy = copy.deepcopy(self.policy).requires_grad_(False)
        with torch.no_grad():
            return self.ref_policy.log_probs(prompts, responses, cfg.temperature)

    def _step_metrics(self, history: list[StepTensors], old_logp, deltas, rollout_stats, lr,
                      mask=None, length_stats=None) -> list[dict[str, Any]]:
        """One record per optimizer step of this rollout, TRL's names. The K steps' tensors are
        stacked and reduced at once: every statistic below is per step (averaged over dims 1..)."""
        if not history:
            return []
        cfg = self.config
        k = len(history)
        with torch.no_grad():
            logp = torch.stack([h.logp for h in history])                         # [K, B, G, n]
            log_ratio = logp - old_logp
            token_ratio = log_ratio.exp()
            dims = tuple(range(1, token_ratio.dim()))
            # the clip fractions count the ratio the loss clips (per token, or per response)
            logp_all = torch.stack([h.logp_all for h in history])
            has_kl = history[0].kl is not None
            if mask is None:
                ratio = (token_ratio if cfg.importance_sampling == "token"
                         else grpo.importance_ratio(logp, old_logp, "sequence"))
                high_eps = cfg.epsilon_high if cfg.epsilon_high and cfg.loss_mode == "clipped" \
                    else None
                low, high, region = grpo.clip_fractions(ratio, deltas, cfg.clip_eps, dim=dims,
                                                        epsilon_high=high_eps)
                approx_kl = ((token_ratio - 1) - log_ratio).mean(dim=dims)  # CleanRL's
                entropy = grpo.entropy(logp_all, dim=tuple(range(1, logp_all.dim() - 1)))
                spread = [ratio.amin(dim=dims), ratio.mean(dim=dims), ratio.amax(dim=dims)]
            else:   # variable length: only the completion tokens count
                m = mask.bool().expand_as(token_ratio)
                ratio = (token_ratio if cfg.importance_sampling == "token"
                         else grpo.importance_ratio(logp, old_logp, "sequence", mask=mask))
                high_eps = cfg.epsilon_high if cfg.epsilon_high and cfg.loss_mode == "clipped" \
                    else None
                low, high, region = grpo.clip_fractions(ratio, deltas, cfg.clip_eps, dim=dims,
                                                        mask=m, epsilon_high=high_eps)
                approx_kl = masked(((token_ratio - 1) - log_ratio), m, dims)
                entropy = masked(-(logp_all.exp() * logp_all).sum(dim=-1), m, dims)
                inf = torch.tensor(float("inf"), device=ratio.device)
                spread = [torch.where(m, ratio, inf).amin(dim=dims), masked(ratio, m, dims),
                          torch.where(m, ratio, -inf).amax(dim=dims)]
            kl = torch.stack([h.kl for h in history]) if has_kl else torch.zeros(k, device=ratio.device)
            columns = torch.stack([
                torch.stack([h.loss for h in history]), approx_kl, entropy,
                torch.stack([h.grad_norm for h in history]), low, high, region, *spread, kl,
            ]).T.tolist()                                                         # K rows
        reward, reward_std, exact, frac_zero, *part_means = rollout_stats
        names = list(reward_fns.as_weights(cfg.reward))
        per_function = {f"rewards/{name}/mean": v
                        for name, v in zip(names, part_means if part_means else [reward])}
        first = self.step - k + 1
        return [{
            "step": first + i,
            "rollout": self.rollout_index + 1,
            "reward": reward,
            "reward_std": reward_std,
            "exact_match": exact,
            "heldout_exact_match": self.heldout_exact_match,
            "loss": row[0],
            "kl": row[10] if has_kl else None,
            "approx_kl": row[1],
            "entropy": row[2],
            "grad_norm": row[3],
            "clip_ratio/low_mean": row[4],
            "clip_ratio/high_mean": row[5],
            "clip_ratio/region_mean": row[6],
            "ratio/min": row[7],
            "ratio/mean": row[8],
            "ratio/max": row[9],
            "frac_reward_zero_std": frac_zero,
            "group_size": cfg.group_size,
            "lr": lr,
            "temperature": cfg.temperature,
            **per_function,
            **(length_stats or {}),
        } for i, row in enumerate(columns)]

    def _groups(self, prompts, responses, rewards, deltas, logp, old_logp, parts=None,
                lengths=None, truncated=None, seen=None) -> Groups:
        """seen: the log-probs the last inner step's loss used (default: logp)."""
        cfg = self.config
        seen = logp if seen is None else seen
        log_ratio, seen_ratio = logp - old_logp, seen - old_logp
        mask = None
        if cfg.variable and lengths is None:
            _, lengths, truncated = varlen.completion_mask(responses, cfg.vocab_size)
        if lengths is not None:     # variable length: nothing after EOS counts
            mask = varlen.completion_mask(responses, cfg.vocab_size)[0]
            log_ratio, seen_ratio = log_ratio * mask, seen_ratio * mask
        token_ratios = (seen_ratio.exp() if cfg.importance_sampling == "token"
                        else grpo.importance_ratio(seen, old_logp, "sequence", mask=mask))
        token_deltas = grpo.per_token(deltas, responses).expand(responses.shape)
        cpu = torch.device("cpu")
        names = list(reward_fns.as_weights(cfg.reward))
        answers = (varlen.answers(prompts, cfg.vocab_size, responses.shape[-1]) if lengths is not None
                   else targets(prompts))
        return Groups(
            prompts=prompts.to(cpu), targets=answers.to(cpu), responses=responses.to(cpu),
            rewards=rewards.to(cpu),
            deltas=(deltas if deltas.dim() == 2 else deltas.mean(dim=-1)).to(cpu),
            ratios=log_ratio.sum(dim=-1).exp().to(cpu), token_ratios=token_ratios.to(cpu),
            token_deltas=token_deltas.to(cpu), credit=cfg.credit,
            token_probs=old_logp.exp().to(cpu) if self.policy.autoregressive else None,
            components=None if parts is None else {n: parts[..., i].to(cpu)
                                                   for i, n in enumerate(names)},
            lengths=None if lengths is None else lengths.to(cpu),
            truncated=None if truncated is None else truncated.to(cpu),
            vocab_size=cfg.vocab_size if lengths is not None else None)

    def _stamp_time(self, metrics: list[dict[str, Any]], t0: float) -> None:
        elapsed = time.perf_counter() - t0
        self.train_seconds += elapsed
        sps = len(metrics) / elapsed if elapsed > 0 else 0.0
        for m in metrics:
            m["steps_per_second"] = sps
            m["time"] = self.train_seconds

    def _stop(self, events, prompts, responses, rewards, why: str, deltas=None, metrics=None,
              t0: float | None = None) -> RolloutResult:
        """End a rollout early because something became non-finite; nothing bad was applied."""
        cfg = self.config
        metrics = metrics or []
        if t0 is not None:
            self._stamp_time(metrics, t0)
        if deltas is None:
            deltas = torch.zeros_like(rewards)
        safe = torch.nan_to_num(rewards, nan=0.0, posinf=0.0, neginf=0.0)
        zeros = torch.zeros(responses.shape, dtype=torch.float32, device=responses.device)
        groups = self._groups(prompts, responses, safe, torch.nan_to_num(deltas), zeros, zeros)
        message = (f"diverged at step {self.step + 1} (rollout {self.rollout_index + 1}): {why}. "
                   f"Live settings: learning_rate={cfg.learning_rate:g}, delta_mode={cfg.delta_mode}, "
                   f"loss_mode={cfg.loss_mode}, reward={reward_label(cfg.reward)}, group_size={cfg.group_size}, "
                   f"clip_eps={cfg.clip_eps:g}, kl_beta={cfg.kl_beta:g}, "
                   f"inner_steps={cfg.inner_steps}. The last finite parameters were kept.")
        events = events + [{"event": "diverged", "step": self.step, "rollout": self.rollout_index,
                            "message": message}]
        return RolloutResult(metrics, groups, events, diverged=message)

