"""The math of GRPO as plain functions of tensors, in the order the lecture introduces it.

Shapes: B prompts, G responses per prompt (a group), n positions, V tokens.
    logits     float[B, n, V]     the policy's output for each prompt
    responses  int[B, G, n]       sampled responses
    rewards    float[B, G]        one reward per response (credit "sequence", GRPO as published),
               float[B, G, n]     or one score per response position (credit "token")
    deltas     float[B, G]        rewards turned into per-response weights (advantages),
               float[B, G, n]     or per-token weights; always computed within each group (dim 1)
    logp       float[B, G, n]     log pi(token | prompt, tokens before) of each sampled token
"""

from __future__ import annotations

import math

import torch

STD_EPS = 1e-5  # the lecture's constant in (reward - mean) / (std + eps)
GDPO_EPS = 1e-4  # TRL's constant, used by its normalize_then_sum (GDPO)


# ----------------------------------------------------------------------------- sampling, log-probs
def sample_responses(logits: torch.Tensor, group_size: int, gen: torch.Generator | None = None
                     ) -> torch.Tensor:
    """G independent samples per prompt and position, as the lecture's generate_responses does."""
    b, n, v = logits.shape
    probs = torch.softmax(logits.detach().float(), dim=-1).reshape(b * n, v)
    flat = torch.multinomial(probs, group_size, replacement=True, generator=gen)   # [B*n, G]
    return flat.view(b, n, group_size).transpose(1, 2)                             # [B, G, n]


def response_log_probs(logits: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    """log pi(response token | prompt) per position: float[B, G, n]."""
    logp_all = torch.log_softmax(logits, dim=-1)                                   # [B, n, V]
    return gathered_log_probs(logp_all, responses)


def gathered_log_probs(logp_all: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    """Pick each sampled token's log-prob out of log_softmax output [B, n, V] -> [B, G, n]."""
    b, g, n = responses.shape
    expanded = logp_all.unsqueeze(1).expand(b, g, n, logp_all.shape[-1])
    return expanded.gather(-1, responses.unsqueeze(-1)).squeeze(-1)


# ----------------------------------------------------------------------------- deltas
def compute_deltas(rewards: torch.Tensor, mode: str) -> torch.Tensor:
    """Turn rewards float[B, G] (or per-position scores float[B, G, n]) into deltas of the same
    shape, per prompt over its group of G (dim 1; with scores, position by position).

    raw:        delta = reward
    centered:   delta = reward - group mean
    normalized: delta = (reward - group mean) / (group std + 1e-5), std unbiased as torch.std.
                A group of one has no std; its centered reward is 0, so its delta is 0 (not NaN).
    max:        delta = reward where it equals the group's max, else 0
    batch:      delta = (reward - group mean) / (the whole batch's std + 1e-5) (TRL's
                scale_rewards="batch")
    The lecture's names (rewards, centered_rewards, normalized_rewards, max_rewards) work too.
    """
    mode = {"rewards": "raw", "centered_rewards": "centered", "normalized_rewards": "normalized",
            "max_rewards": "max"}.get(mode, mode)
    if mode == "raw":
        return rewards
    if mode == "centered":
        return rewards - rewards.mean(dim=1, keepdim=True)
    if mode == "normalized":
        centered = rewards - rewards.mean(dim=1, keepdim=True)
        if rewards.shape[1] < 2:
            return centered
        return centered / (rewards.std(dim=1, keepdim=True) + STD_EPS)
    if mode == "max":
        best = rewards.max(dim=1, keepdim=True).values
        return torch.where(rewards == best, rewards, torch.zeros_like(rewards))
    if mode == "batch":     # TRL's scale_rewards="batch"
        centered = rewards - rewards.mean(dim=1, keepdim=True)
        if rewards.numel() < 2:
            return centered
        return centered / (rewards.std() + STD_EPS)
    raise ValueError(f"unknown delta mode {mode!r}; allowed: raw, centered, normalized, max, batch")


deltas = compute_deltas   # the short name: grpo.deltas(rewards or per-position scores, mode)


def decoupled_deltas(components: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """GDPO (arXiv 2601.05242; TRL's multi_objective_aggregation="normalize_then_sum").

    components float[B, G, k] (or float[B, G, n, k] per position): k reward functions' scores.
    Each component is normalised within its group, (r - mean) / (std + 1e-4); their weighted sum is
    normalised once more over the whole batch; that is the delta, float[B, G] (or [B, G, n]).

    Why: summing first can give different combinations the same delta. Groups {(0,0), (1,1)} and
    {(0,0), (0,1)} sum to [0, 2] and [0, 1], both +-0.7071 once normalised; decoupled, they get
    +-1.414 and +-0.707 before the batch step, so getting both rewards counts for more.
    """
    mean = components.mean(dim=1, keepdim=True)
    std = components.std(dim=1, keepdim=True) if components.shape[1] > 1 else torch.zeros_like(mean)
    summed = ((components - mean) / (std + GDPO_EPS) * weights).sum(dim=-1)
    if summed.numel() < 2:
        return summed - summed.mean()
    return (summed - summed.mean()) / (summed.std() + GDPO_EPS)


# ----------------------------------------------------------------------------- masks
# Variable length is a mask: mask bool or float[B, G, n] (nonzero = a completion token, up to and
# including EOS; n = the padded length). A fixed-length run is the all-ones mask, or mask=None.
def mask_from_lengths(lengths: torch.Tensor, n: int) -> torch.Tensor:
    """bool[..., n], True at the first `lengths` positions:
    lengths [1, 3], n 3 -> [[T, F, F], [T, T, T]]."""
    return torch.arange(n, device=lengths.device) < lengths.unsqueeze(-1)


def _bool_mask(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return (mask if mask.dtype == torch.bool else mask != 0).to(like.device).expand_as(like)


def _zero_outside(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x where the mask is set, 0 elsewhere, with no gradient at all reaching the masked positions
    (what lies after EOS may be anything, inf included; it must not change the loss or gradients)."""
    return torch.where(_bool_mask(mask, x), x, torch.zeros((), dtype=x.dtype, device=x.device))


def masked_mean(x: torch.Tensor, mask: torch.Tensor | None = None,
                dim: tuple[int, ...] | None = None) -> torch.Tensor:
    """Mean of x over the masked positions (TRL's masked means): sum(x M) / max(sum(M), 1), over
    everything or over `dim` only; the mask broadcasts to x (a [B, G, n] mask for x [K, B, G, n])."""
    if mask is None:
        return x.mean(dim=dim) if dim else x.mean()
    m = _bool_mask(mask, x)
    total = torch.where(m, x, torch.zeros((), dtype=x.dtype, device=x.device))
    if dim:
        return total.sum(dim=dim) / m.sum(dim=dim).clamp(min=1)
    return total.sum() / m.sum().clamp(min=1)


# ----------------------------------------------------------------------------- losses
# TRL 1.16's loss types (GRPOConfig.loss_type). The first five share one per-token objective (the
# clipped one) and differ only in how they aggregate it; the last three bring their own.
AGGREGATING_LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo", "luspo")
OWN_OBJECTIVE_LOSS_TYPES = ("cispo", "sapo", "vespo")
LOSS_TYPES = AGGREGATING_LOSS_TYPES + OWN_OBJECTIVE_LOSS_TYPES
LOSS_MODES = ("naive", "unclipped", "clipped")
VESPO_LOG_W_MIN = math.log(1e-8)   # TRL clamps VESPO's sequence log-weight to [log 1e-8, 20]


def clipped_objective(ratio: torch.Tensor, delta: torch.Tensor, eps: float, *,
                      epsilon_high: float | None = None, two_sided: float | None = None
                      ) -> torch.Tensor:
    """PPO's per-element objective min(ratio * delta, clip(ratio, 1-eps, 1+eps) * delta).

    Examples (eps 0.2): delta 0.5, ratio 1.35 gives 0.60; delta -0.5, ratio 0.65 gives -0.40.
    epsilon_high (DAPO's clip-higher; TRL's epsilon_high): the clip range is [1-eps, 1+epsilon_high].
    two_sided (INTELLECT-2's two-sided clipping; TRL's `delta`): the unclipped term uses
    min(ratio, two_sided), so a negative delta's ratio is capped too: delta -0.5, ratio 4,
    two_sided 2 gives min(-1.0, -0.6) = -1.0 instead of -2.0.
    """
    high = eps if epsilon_high is None else epsilon_high
    clipped = ratio.clamp(1 - eps, 1 + high)
    unclipped = ratio if two_sided is None else ratio.clamp(max=two_sided)
    return torch.minimum(unclipped * delta, clipped * delta)


def per_token(deltas: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    """Deltas as one weight per token: a response's delta float[B, G] goes to each of its tokens
    (GRPO), per-token deltas float[B, G, n] stay as they are."""
    return deltas if deltas.dim() == logp.dim() else deltas.unsqueeze(-1)


def importance_ratio(logp: torch.Tensor, old_logp: torch.Tensor, level: str = "token", *,
                     mask: torch.Tensor | None = None) -> torch.Tensor:
    """pi / pi_old, with old_logp frozen (no gradient).

    token:    one ratio per token, exp(logp_t - old_logp_t): float[..., n]
    sequence: one ratio per response, exp of the mean per-token log-ratio (GSPO; TRL's
              importance_sampling_level="sequence"), given to each of its tokens: float[..., n]
    With a mask the sequence mean runs over the completion tokens only (sum(log-ratio M) /
    max(sum(M), 1), as TRL's), and the ratio after EOS is 1 whatever lies there.
    """
    log_ratio = logp - old_logp.detach()
    if mask is not None:
        log_ratio = _zero_outside(log_ratio, mask)
    if level == "sequence":
        if mask is None:
            return log_ratio.mean(dim=-1, keepdim=True).exp().expand_as(log_ratio)
        count = _bool_mask(mask, log_ratio).sum(dim=-1, keepdim=True).clamp(min=1)
        return (log_ratio.sum(dim=-1, keepdim=True) / count).exp().expand_as(log_ratio)
    if level == "token":
        return torch.exp(log_ratio)
    raise ValueError(f"unknown importance_sampling {level!r}; allowed: token, sequence")


def _check_loss_settings(mode: str, loss_type: str | None, epsilon_high: float | None,
                         delta: float | None, importance_sampling: str) -> None:
    if mode not in LOSS_MODES:
        raise ValueError(f"unknown loss mode {mode!r}; allowed: naive, unclipped, clipped")
    if loss_type is not None and loss_type not in LOSS_TYPES:
        raise ValueError(f"unknown loss_type {loss_type!r}; allowed: None (the lecture's mean), "
                         + ", ".join(LOSS_TYPES))
    if loss_type in OWN_OBJECTIVE_LOSS_TYPES and mode != "clipped":
        raise ValueError(f"loss_type {loss_type!r} brings its own per-token objective (TRL's); it "
                         f"runs with mode 'clipped' only, not {mode!r}. With mode naive or unclipped "
                         "use loss_type None, " + ", ".join(AGGREGATING_LOSS_TYPES))
    if epsilon_high is not None and (mode != "clipped" or loss_type in ("sapo", "vespo")):
        raise ValueError("epsilon_high is the clip's high side: it applies to mode 'clipped' with "
                         "loss_type None, " + ", ".join(AGGREGATING_LOSS_TYPES)
                         + " (or cispo's cap on the ratio)"
                         + f", not to mode {mode!r} with loss_type {loss_type!r}")
    if delta is not None and (mode != "clipped" or loss_type in OWN_OBJECTIVE_LOSS_TYPES):
        raise ValueError("delta (two-sided clipping) applies to mode 'clipped' with loss_type None, "
                         + ", ".join(AGGREGATING_LOSS_TYPES)
                         + f", not to mode {mode!r} with loss_type {loss_type!r}")
    if loss_type == "vespo" and importance_sampling != "token":
        raise ValueError("loss_type 'vespo' makes its own sequence-level weight from the summed "
                         "token log-ratios; use it with importance_sampling 'token'")


def per_token_policy_loss(logp: torch.Tensor, old_logp: torch.Tensor | None, deltas: torch.Tensor,
                          mode: str, eps: float = 0.2, importance_sampling: str = "token", *,
                          loss_type: str | None = None, mask: torch.Tensor | None = None,
                          epsilon_high: float | None = None, delta: float | None = None,
                          sapo_temperature_pos: float = 1.0, sapo_temperature_neg: float = 1.05,
                          vespo_k_pos: float = 2.0, vespo_lambda_pos: float = 3.0,
                          vespo_k_neg: float = 3.0, vespo_lambda_neg: float = 2.0) -> torch.Tensor:
    """The policy loss of each token, float[B, G, n] (0 after EOS when a mask is given), before
    aggregation: TRL's per_token_loss. A trainer adds beta * per-token KL (kl_k3_per_token) to it and
    then calls aggregate(); policy_loss() does both steps without the KL. Arguments as policy_loss's.

    Per-token objectives (r the ratio, A the delta, eps_h = epsilon_high or eps):
      mode naive:      -A logp                          (loss_type None or an aggregating one)
      mode unclipped:  -r A                             (loss_type None or an aggregating one)
      mode clipped:    -min(r' A, clip(r, 1-eps, 1+eps_h) A), r' = min(r, delta) if delta is set
                       (loss_type None, grpo, bnpo, dr_grpo, dapo, luspo: TRL's objective)
        loss_type cispo:  -min(r, eps_h).detach() A logp   (eps_h is an absolute cap on r, TRL's)
        loss_type sapo:   -(4 / tau) sigmoid(tau (r - 1)) A, tau = sapo_temperature_pos where A > 0,
                          sapo_temperature_neg elsewhere
        loss_type vespo:  -phi(w) A logp, phi(w) = exp(lam + k log w - lam w) detached, w =
                          exp(sum_t M clamp(logp - old, -20, 20)) clamped to [1e-8, e^20], (k, lam)
                          = (vespo_k_pos, vespo_lambda_pos) where A >= 0, else the _neg pair
    """
    _check_loss_settings(mode, loss_type, epsilon_high, delta, importance_sampling)
    d = per_token(deltas, logp)                                                   # [B, G, 1 or n]
    if mask is not None:   # nothing after EOS may reach the loss or the gradients
        logp = _zero_outside(logp, mask)
        old_logp = None if old_logp is None else _zero_outside(old_logp, mask)
        d = _zero_outside(d, mask) if d.shape[-1] == logp.shape[-1] else d
    high = eps if epsilon_high is None else epsilon_high
    if mode == "naive":
        loss = -(d * logp)
    elif loss_type == "vespo":
        loss = -_vespo_weights(logp, old_logp, d, mask, vespo_k_pos, vespo_lambda_pos,
                               vespo_k_neg, vespo_lambda_neg) * d * logp
    else:
        ratio = importance_ratio(logp, old_logp, importance_sampling, mask=mask)
        if mode == "unclipped":
            loss = -(ratio * d)
        elif loss_type == "cispo":
            loss = -ratio.clamp(max=high).detach() * d * logp
        elif loss_type == "sapo":
            tau = torch.where(d > 0, sapo_temperature_pos, sapo_temperature_neg)
            loss = -(torch.sigmoid(tau * (ratio - 1)) * 4 / tau) * d
        else:
            loss = -clipped_objective(ratio, d, eps, epsilon_high=epsilon_high, two_sided=delta)
    loss = loss.expand(torch.broadcast_shapes(loss.shape, logp.shape))
    return loss if mask is None else _zero_outside(loss, mask)


@torch.no_grad()
def _vespo_weights(logp, old_logp, d, mask, k_pos, lambda_pos, k_neg, lambda_neg) -> torch.Tensor:
    """VESPO's gamma weight phi(w) = e^lam w^k e^(-lam w) (phi(1) = 1) of the sequence ratio w, in
    log space, as TRL's get_gamma_weights (without its vLLM correction)."""
    log_ratio = (logp - old_logp).clamp(-20.0, 20.0)
    if mask is not None:
        log_ratio = _zero_outside(log_ratio, mask)
    log_w = log_ratio.sum(dim=-1, keepdim=True).clamp(VESPO_LOG_W_MIN, 20.0)
    nonneg = d >= 0
    k = torch.where(nonneg, k_pos, k_neg)
    lam = torch.where(nonneg, lambda_pos, lambda_neg).clamp(min=1e-4)
    log_phi = lam + k * log_w - lam * log_w.exp()
    return log_phi.exp().nan_to_num(nan=0.0, posinf=0.0, neginf=0.0)


def aggregate(per_token_loss: torch.Tensor, mask: torch.Tensor | None = None,
              loss_type: str | None = None, max_completion_length: int | None = None
              ) -> torch.Tensor:
    """Per-token losses float[B, G, n] to the scalar to minimise, as TRL 1.16 aggregates them.

    With M the mask, T = sum(M) its tokens, N = B * G responses, L = max_completion_length (default n):
      None:                the lecture's mean over every position; with a mask sum(loss M) / T
      grpo, sapo:          mean over responses of sum_t(loss M) / max(sum_t M, 1)
      bnpo, dapo, cispo, vespo:  sum(loss M) / max(T, 1) (dapo's and cispo's normaliser is the
                           generation batch's token count; one batch, one process: the same T)
      dr_grpo:             sum(loss M) / (N L)
      luspo:               mean over responses of sum_t(loss M)
    """
    if loss_type is not None and loss_type not in LOSS_TYPES:
        raise ValueError(f"unknown loss_type {loss_type!r}; allowed: None (the lecture's mean), "
                         + ", ".join(LOSS_TYPES))
    if loss_type is None and mask is None:
        return per_token_loss.mean()
    n = per_token_loss.shape[-1]
    if max_completion_length is None:
        max_completion_length = n
    elif loss_type == "dr_grpo" and not (isinstance(max_completion_length, int)
                                         and max_completion_length >= n):
        raise ValueError(f"max_completion_length must be an int >= the {n} positions given, "
                         f"not {max_completion_length!r}")
    if mask is None:
        m = torch.ones_like(per_token_loss, dtype=torch.bool)
    else:
        per_token_loss, m = torch.broadcast_tensors(per_token_loss, mask)
        m = _bool_mask(m, per_token_loss)
    x = torch.where(m, per_token_loss, torch.zeros((), dtype=per_token_loss.dtype,
                                                   device=per_token_loss.device))
    if loss_type in ("grpo", "sapo"):
        return (x.sum(dim=-1) / m.sum(dim=-1).clamp(min=1)).mean()
    if loss_type == "dr_grpo":
        return x.sum() / (x.numel() // n * max_completion_length)
    if loss_type == "luspo":
        return x.sum(dim=-1).mean()
    return x.sum() / m.sum().clamp(min=1)     # None with a mask, bnpo, dapo, cispo, vespo


def policy_loss(logp: torch.Tensor, old_logp: torch.Tensor | None, deltas: torch.Tensor,
                mode: str, eps: float = 0.2, importance_sampling: str = "token", *,
                loss_type: str | None = None, mask: torch.Tensor | None = None,
                epsilon_high: float | None = None, delta: float | None = None,
                max_completion_length: int | None = None,
                sapo_temperature_pos: float = 1.0, sapo_temperature_neg: float = 1.05,
                vespo_k_pos: float = 2.0, vespo_lambda_pos: float = 3.0,
                vespo_k_neg: float = 3.0, vespo_lambda_neg: float = 2.0,
                entropy_mask: torch.Tensor | None = None) -> torch.Tensor:
    """The policy loss to minimise (a scalar), averaged over prompts, responses and positions.

    Each response's delta is broadcast to all its positions (or deltas are per token already).
    naive:     -mean(delta * logp)
    unclipped: -mean(ratio * delta)
    clipped:   -mean(min(ratio * delta, clip(ratio, 1-eps, 1+eps) * delta))
    with ratio = exp(logp - old_logp) per token, or one ratio per response (importance_sampling
    "sequence"), old_logp frozen. The lecture computes log_probs / old_log_probs here, which is not a
    probability ratio and flips the update's direction for positive deltas (both are negative).

    TRL 1.16's loss family (keyword-only; the defaults give the lines above exactly):
    `mode` chooses the per-token objective and `loss_type` how the per-token losses are summed up:
      loss_type None (default): the lecture's mean over every position (over the mask's tokens
        when a mask is given: the same number as bnpo).
      grpo, bnpo, dr_grpo, dapo, luspo: aggregations of whichever objective `mode` names; with mode
        "clipped" they are TRL's losses of those names (see aggregate()).
      cispo, sapo, vespo: TRL's own per-token objectives (see per_token_policy_loss()); they replace
        the clipped one, so they need mode "clipped" (what TRL runs) and refuse naive/unclipped.
    So a TRL user who sets mode "clipped" and TRL's loss_type gets exactly TRL's policy term.
    mask: bool or float[B, G, n], the completion tokens (up to and including EOS); what lies after
      them changes neither the loss nor any gradient.
    eps: the clip's low side (TRL's epsilon = epsilon_low); epsilon_high its high side (default
      eps; for cispo the absolute cap on the ratio, TRL's epsilon_high, which also defaults to eps).
    delta: TRL's two-sided clipping: the unclipped term uses min(ratio, delta) (mode clipped only).
    max_completion_length: dr_grpo's constant L (default: the n positions given).
    importance_sampling "sequence" with a mask: exp of the masked mean log-ratio (TRL's).
    entropy_mask: bool[B, G, n] from top_entropy_mask(): tokens outside it give 0 but still count
      in the denominators, as TRL's top_entropy_quantile.
    Combinations that mean nothing (cispo with mode naive, delta with sapo, epsilon_high with
    unclipped, vespo with sequence ratios, ...) raise ValueError naming what is allowed.
    """
    loss = per_token_policy_loss(
        logp, old_logp, deltas, mode, eps, importance_sampling, loss_type=loss_type, mask=mask,
        epsilon_high=epsilon_high, delta=delta, sapo_temperature_pos=sapo_temperature_pos,
        sapo_temperature_neg=sapo_temperature_neg, vespo_k_pos=vespo_k_pos,
        vespo_lambda_pos=vespo_lambda_pos, vespo_k_neg=vespo_k_neg,
        vespo_lambda_neg=vespo_lambda_neg)
    if entropy_mask is not None:
        loss = _zero_outside(loss, entropy_mask)
    return aggregate(loss, mask, loss_type, max_completion_length)


def coinciding_loss_types(mask: torch.Tensor | None, max_completion_length: int | None = None,
                          shape: tuple[int, ...] | None = None) -> dict[str, float]:
    """Which of the clipped-objective loss types (grpo, bnpo, dr_grpo, dapo, luspo) give the same
    loss up to a constant factor for this mask, each with its factor against bnpo's
    (loss = factor x bnpo loss, for any per-token losses).

    bnpo, dapo, dr_grpo and luspo all divide one masked sum by a number the mask fixes, so they
    always coincide: dapo 1, dr_grpo T / (N L), luspo T / N (T tokens, N responses, L =
    max_completion_length, default the mask's n). grpo divides each response by its own length, so it
    joins them only when every non-empty response has the same length l: factor T / (N l).
    Example: lengths [3, 3], L 3 -> all five with factor 1 ("grpo = bnpo here: equal lengths");
    lengths [1, 3] -> bnpo 1, dapo 1, dr_grpo 4/6, luspo 2, and no grpo.
    (cispo aggregates as dapo and sapo as grpo, but their per-token objectives differ.)
    mask None means every position of `shape` (B, G, n) counts.
    """
    if mask is None:
        if shape is None:
            raise ValueError("coinciding_loss_types needs a mask or a shape")
        mask = torch.ones(shape, dtype=torch.bool)
    m = mask if mask.dtype == torch.bool else mask != 0
    n = m.shape[-1]
    length = max_completion_length if max_completion_length is not None else n
    lengths = m.reshape(-1, n).sum(dim=-1)
    responses, tokens = lengths.numel(), int(lengths.sum())
    if tokens == 0:   # every loss is 0
        return {t: 1.0 for t in ("grpo", "bnpo", "dapo", "dr_grpo", "luspo")}
    out = {"bnpo": 1.0, "dapo": 1.0, "dr_grpo": tokens / (responses * length),
           "luspo": tokens / responses}
    nonempty = lengths[lengths > 0]
    if bool((nonempty == nonempty[0]).all()):
        out = {"grpo": tokens / (responses * int(nonempty[0])), **out}
    return out


def kl_k3_per_token(logp: torch.Tensor, ref_logp: torch.Tensor,
                    mask: torch.Tensor | None = None) -> torch.Tensor:
    """k3 of each token, exp(ref - logp) - (ref - logp) - 1: float[B, G, n] (TRL's per_token_kl;
    0 after EOS when a mask is given)."""
    log_ratio = ref_logp - logp
    if mask is not None:
        log_ratio = _zero_outside(log_ratio, mask)
    return torch.exp(log_ratio) - log_ratio - 1


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor, *, mask: torch.Tensor | None = None
          ) -> torch.Tensor:
    """k3 estimate of KL(pi || pi_ref): mean(exp(ref - logp) - (ref - logp) - 1).

    Zero when the policies agree on the sampled tokens, positive otherwise (x - 1 - log x >= 0).
    With a mask: the mean over the completion tokens (TRL's logged `kl`).
    """
    if mask is None:
        log_ratio = ref_logp - logp
        return (torch.exp(log_ratio) - log_ratio - 1).mean()
    return masked_mean(kl_k3_per_token(logp, ref_logp, mask), mask)


# ----------------------------------------------------------------------------- diagnostics
def clip_fractions(ratio: torch.Tensor, deltas: torch.Tensor, eps: float,
                   dim: tuple[int, ...] | None = None, *, mask: torch.Tensor | None = None,
                   epsilon_high: float | None = None, importance_sampling: str = "token"
                   ) -> tuple[torch.Tensor, ...]:
    """TRL's clip ratios: the fraction of tokens whose clip binds.

    low:    ratio < 1-eps with delta < 0 (the clip stops pushing a bad response further down)
    high:   ratio > 1+eps with delta > 0 (the clip stops pushing a good response further up)
    region: either of them
    Averaged over everything, or over `dim` only (the trainer passes ratios of K steps at once,
    float[K, B, G, n], and averages over all but the first).
    epsilon_high: the high side's eps (default eps). mask: average over the completion tokens only
    (TRL's clip_ratio/low_mean, high_mean, region_mean). importance_sampling "sequence" (ratios one
    per response, as importance_ratio gives them) with per-response deltas: each response counts
    once, whatever its length, as TRL logs them at that level.
    """
    if importance_sampling not in ("token", "sequence"):
        raise ValueError(f"unknown importance_sampling {importance_sampling!r}; "
                         "allowed: token, sequence")
    d = deltas if deltas.dim() >= 3 else deltas.unsqueeze(-1)
    high_eps = eps if epsilon_high is None else epsilon_high
    low = (ratio < 1 - eps) & (d < 0)
    high = (ratio > 1 + high_eps) & (d > 0)
    parts = (low, high, low | high)
    if importance_sampling == "sequence" and deltas.dim() < 3:
        parts = tuple(x[..., :1] for x in parts)
        mask = None
    if mask is None:
        return tuple(x.float().mean(dim=dim) if dim else x.float().mean() for x in parts)
    return tuple(masked_mean(x.float(), mask, dim) for x in parts)


def entropy(logp_all: torch.Tensor, dim: tuple[int, ...] | None = None, *,
            mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean entropy (nats) of the per-position token distributions, from log_softmax output
    [..., V] ([B, n, V] per position, [B, G, n, V] autoregressive); averaged over everything, or
    over `dim` only. With a mask (shaped like the positions, [..., n]): over the completion tokens
    only (TRL's logged `entropy`)."""
    per_position = -(logp_all.exp() * logp_all).sum(dim=-1)
    if mask is not None:
        return masked_mean(per_position, mask, dim)
    return per_position.mean(dim=dim) if dim else per_position.mean()


def top_entropy_mask(entropies: torch.Tensor, mask: torch.Tensor | None, quantile: float
                     ) -> torch.Tensor:
    """TRL's top_entropy_quantile rho ("Beyond the 80/20 rule"): bool[B, G, n], True on the
    completion tokens whose entropy is at least the (1 - rho) quantile of all completion tokens'
    entropies (torch.quantile, linear interpolation), as TRL's get_high_entropy_mask. rho 1 keeps
    every completion token, rho 0 only the highest (and its ties). No completion tokens: all False.
    Example: entropies 0.1, 0.5, 0.3, 0.9 (a padding token's 5.0 ignored), rho 0.5: the 0.5 quantile
    is 0.4, so 0.5 and 0.9 stay."""
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"top_entropy_quantile must lie in [0, 1], not {quantile!r}")
    m = (torch.ones_like(entropies, dtype=torch.bool) if mask is None
         else _bool_mask(mask, entropies))
    kept = entropies[m].float()
    if kept.numel() == 0:
        return torch.zeros_like(entropies, dtype=torch.bool)
    threshold = torch.quantile(kept, 1 - quantile)
    return ((entropies * m) >= threshold) & m
