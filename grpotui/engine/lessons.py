"""The toy math behind `grpotui learn`'s canvases: pure PyTorch, no UI imports.

Every number a canvas shows comes from here, computed with autograd or an exact formula:

    VarianceToy     a softmax policy over 3 actions with a 0/1 reward: REINFORCE's per-sample
                    gradients, with and without a baseline, the exact gradient, the estimator's
                    variance against the batch size N, and the share of batches with no signal
    TwoStateToy     the lecture's two-state example: per-(state, action) weights with and without a
                    baseline, their standard deviations, and sampled policy-gradient steps
    clip_point      PPO's L_clip(r) = min(r*A, clip(r, 1-eps, 1+eps)*A) at one ratio, with dL/dr
    clip_curve      the same on a grid of ratios, with the flat (zero-gradient) parts found by autograd
    length_weights  two responses of different lengths with one advantage: each loss type's
                    d loss / d logp_t per token and per response, by autograd through grpo's losses
    StepwisePolicy  the next-token distribution of a policy given the prompt and the tokens so far,
                    for the rollout canvas (per-position policies ignore the tokens so far)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from grpotui.engine import grpo

# ============================================================================ variance
VARIANCE_LOGITS = (0.5, 0.0, -0.5)     # the toy policy's logits: pi = softmax(theta)
VARIANCE_EXPONENTS = (0.5, 1.0, 2.0)   # action a earns reward 1 with probability p ** k_a
VARIANCE_SIZES = tuple(2 ** i for i in range(9))   # N = 1, 2, 4, ..., 256 for the log-log plot


@dataclass
class VarianceDraw:
    """One batch of N rollouts of the toy, and M batches for the empirical variance."""

    actions: torch.Tensor       # int[N]
    rewards: torch.Tensor       # float[N], 0 or 1
    grads_raw: torch.Tensor     # float[N, K]: R * grad log pi(a)
    grads_base: torch.Tensor    # float[N, K]: (R - b) * grad log pi(a)
    sizes: tuple[int, ...]      # the batch sizes of the empirical variance
    empirical_raw: list[float]  # trace of the covariance of the batch mean, over M batches, per size
    empirical_base: list[float]
    empirical_no_signal: float  # share of the M batches of size N whose rewards are all equal


class VarianceToy:
    """pi = softmax(theta) over K actions; action a earns R = 1 with probability q_a = p ** k_a.

    J(theta) = sum_a pi_a q_a. REINFORCE's per-sample estimate is g = (R - b) * grad log pi(a), with
    b = 0 (no baseline) or b = J (the expected reward, a baseline that does not depend on the action).
    """

    def __init__(self, p: float, logits=VARIANCE_LOGITS, exponents=VARIANCE_EXPONENTS):
        if not 0 <= p <= 1:
            raise ValueError(f"reward rate p={p}: must be from 0 to 1")
        self.p = float(p)
        self.theta = torch.tensor(logits, dtype=torch.float64)
        self.exponents = torch.tensor(exponents, dtype=torch.float64)
        self.q = self.p ** self.exponents                       # success probability per action
        self.pi = torch.softmax(self.theta, dim=0)
        self.k = len(self.theta)
        # scores[a] = grad_theta log pi(a), by autograd, one row per action
        rows = []
        for a in range(self.k):
            theta = self.theta.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(torch.log_softmax(theta, dim=0)[a], theta)
            rows.append(g)
        self.scores = torch.stack(rows)                         # float[K, K]

    @property
    def expected_reward(self) -> float:
        return float(self.pi @ self.q)

    def exact_gradient(self) -> torch.Tensor:
        """grad_theta J by autograd: the direction every estimate is aiming at."""
        theta = self.theta.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(torch.softmax(theta, dim=0) @ self.q, theta)
        return g

    def baseline(self, with_baseline: bool) -> float:
        return self.expected_reward if with_baseline else 0.0

    def per_sample_variance(self, with_baseline: bool) -> float:
        """Exact trace of the covariance of one per-sample estimate: E|g|^2 - |grad J|^2, with
        E[(R - b)^2 | a] = q_a (1 - b)^2 + (1 - q_a) b^2 (R is 0 or 1)."""
        b = self.baseline(with_baseline)
        second = self.q * (1 - b) ** 2 + (1 - self.q) * b ** 2             # E[(R-b)^2 | a]
        moment = (self.pi * second * (self.scores ** 2).sum(dim=1)).sum()
        return float(moment - (self.exact_gradient() ** 2).sum())

    def estimator_variance(self, n: int, with_baseline: bool) -> float:
        """The variance (trace of the covariance) of the mean of n independent estimates: 1/n of
        one estimate's."""
        return self.per_sample_variance(with_baseline) / n

    def no_signal_share(self, n: int) -> float:
        """The chance that n rewards are all equal (all 0 or all 1): rewards are independent 0/1
        draws with mean J, so it is J^n + (1 - J)^n. Centred on their own mean (GRPO's group
        baseline) such rewards are all zero: the batch pushes nothing."""
        j = self.expected_reward
        return j ** n + (1 - j) ** n

    def draw(self, n: int, gen: torch.Generator, batches: int = 400) -> VarianceDraw:
        """N rollouts for the scatter, and `batches` batches of each size in VARIANCE_SIZES (and n)
        for the empirical variance of the batch-mean estimate and the no-signal share."""
        actions, rewards = self._rollouts(n, gen)
        b = self.expected_reward
        grads_raw = rewards[:, None] * self.scores[actions]
        grads_base = (rewards - b)[:, None] * self.scores[actions]
        sizes = tuple(sorted(set(VARIANCE_SIZES) | {n}))
        emp_raw, emp_base = [], []
        no_signal = 0.0
        for size in sizes:
            a, r = self._rollouts(batches * size, gen)
            a, r = a.view(batches, size), r.view(batches, size)
            s = self.scores[a]                                            # [M, size, K]
            for base, out in ((0.0, emp_raw), (b, emp_base)):
                means = ((r - base)[..., None] * s).mean(dim=1)           # [M, K]
                out.append(float(means.var(dim=0).sum()))
            if size == n:
                no_signal = float((r == r[:, :1]).all(dim=1).double().mean())
        return VarianceDraw(actions, rewards, grads_raw, grads_base, sizes, emp_raw, emp_base,
                            no_signal)

    def _rollouts(self, count: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        actions = torch.multinomial(self.pi, count, replacement=True, generator=gen)
        rewards = (torch.rand(count, generator=gen, dtype=torch.float64) < self.q[actions]).double()
        return actions, rewards


# ============================================================================ baseline
BASELINE_REWARDS = ((11.0, 9.0), (0.0, 2.0))   # the lecture's example: R(s, a)


def weights(rewards: torch.Tensor, baselines: torch.Tensor | None) -> torch.Tensor:
    """REINFORCE's weight for each (state, action): R(s, a), or R(s, a) - b(s) with a baseline."""
    return rewards if baselines is None else rewards - baselines[:, None]


def mean_baselines(rewards: torch.Tensor) -> torch.Tensor:
    """b(s) = the mean reward over the actions in s (the lecture's 10 and 1)."""
    return rewards.mean(dim=1)


@dataclass
class WeightStats:
    unbiased: float      # torch.std: divides by (count - 1)
    population: float    # divides by count
    squares: float       # the sum of squared deviations from the mean
    count: int


def weight_stats(w: torch.Tensor) -> WeightStats:
    flat = w.flatten().double()
    return WeightStats(float(torch.std(flat)), float(torch.std(flat, correction=0)),
                       float(((flat - flat.mean()) ** 2).sum()), flat.numel())


def pushes(theta: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """For each (state, action): the gradient-ascent push on that action's logit if it is the one
    sampled in its state, d/dtheta[s, a] of w(s, a) * log pi(a | s), by autograd. Its sign is the
    direction: positive raises pi(a | s), negative lowers it."""
    out = torch.zeros_like(theta)
    for s in range(theta.shape[0]):
        for a in range(theta.shape[1]):
            t = theta.detach().clone().requires_grad_(True)
            (g,) = torch.autograd.grad(w[s, a] * torch.log_softmax(t[s], dim=0)[a], t)
            out[s, a] = g[s, a]
    return out


@dataclass
class TwoStateStep:
    actions: list[int]             # the action sampled in each state (shared by both learners)
    push_raw: torch.Tensor         # float[S, A]: the logit change this step, without a baseline
    push_base: torch.Tensor        # the same with the baseline


@dataclass
class TwoStateToy:
    """Two learners on the two-state example, each a softmax policy per state, starting uniform.
    Each step samples one action per state (the same uniform draws for both learners, so they differ
    only in their weights) and takes a gradient-ascent step on sum_s w(s, a_s) log pi(a_s | s)."""

    theta_raw: torch.Tensor = field(default_factory=lambda: torch.zeros(2, 2, dtype=torch.float64))
    theta_base: torch.Tensor = field(default_factory=lambda: torch.zeros(2, 2, dtype=torch.float64))
    steps: int = 0
    history: list[tuple[float, float]] = field(default_factory=list)  # pi(a2|s1): raw, with baseline

    def probs(self, which: str) -> torch.Tensor:
        return torch.softmax(self.theta_raw if which == "raw" else self.theta_base, dim=1)

    def step(self, rewards: torch.Tensor, baselines: torch.Tensor, lr: float,
             gen: torch.Generator) -> TwoStateStep:
        u = torch.rand(rewards.shape[0], generator=gen, dtype=torch.float64)
        actions: list[int] = []
        new, moved = {}, {}
        for name, theta, base in (("raw", self.theta_raw, None), ("base", self.theta_base, baselines)):
            w = weights(rewards, base)
            t = theta.clone().requires_grad_(True)
            pi = torch.softmax(t.detach(), dim=1)
            acts = [int(u[s] >= pi[s, 0]) for s in range(t.shape[0])]   # inverse-CDF sampling
            objective = sum(w[s, a] * torch.log_softmax(t[s], dim=0)[a] for s, a in enumerate(acts))
            (g,) = torch.autograd.grad(objective, t)
            new[name], moved[name] = theta + lr * g, lr * g
            if name == "raw":
                actions = acts
        self.theta_raw, self.theta_base = new["raw"], new["base"]
        self.steps += 1
        self.history.append((float(self.probs("raw")[0, 1]), float(self.probs("base")[0, 1])))
        return TwoStateStep(actions, moved["raw"], moved["base"])


# ============================================================================ clip
@dataclass
class ClipPoint:
    r: float
    a: float
    eps: float
    unclipped: float         # r * A
    clipped_ratio: float     # clip(r, 1 - eps, 1 + eps)
    clipped: float           # clip(r, 1 - eps, 1 + eps) * A
    value: float             # min of the two
    grad: float              # dL/dr by autograd: 0 where the clip binds

    @property
    def flat(self) -> bool:
        return self.grad == 0.0


def clip_point(r: float, a: float, eps: float) -> ClipPoint:
    rt = torch.tensor(float(r), dtype=torch.float64, requires_grad=True)
    at = torch.tensor(float(a), dtype=torch.float64)
    value = grpo.clipped_objective(rt, at, eps)
    (g,) = torch.autograd.grad(value, rt)
    clipped_ratio = rt.detach().clamp(1 - eps, 1 + eps)
    return ClipPoint(float(r), float(a), float(eps), float(rt.detach() * at),
                     float(clipped_ratio), float(clipped_ratio * at), float(value.detach()), float(g))


@dataclass
class ClipCurve:
    ratios: list[float]
    values: list[float]
    flat: list[bool]                          # dL/dr == 0 at this ratio (autograd)
    flat_ranges: list[tuple[float, float]]    # maximal runs of flat grid points, as (from, to)


def clip_curve(a: float, eps: float, lo: float = 0.0, hi: float = 2.0, points: int = 201) -> ClipCurve:
    r = torch.linspace(lo, hi, points, dtype=torch.float64).requires_grad_(True)
    values = grpo.clipped_objective(r, torch.tensor(float(a), dtype=torch.float64), eps)
    (g,) = torch.autograd.grad(values.sum(), r)
    flat = (g == 0).tolist()
    ratios = r.detach().tolist()
    ranges: list[tuple[float, float]] = []
    for i, (x, f) in enumerate(zip(ratios, flat)):
        if f and i and flat[i - 1]:
            ranges[-1] = (ranges[-1][0], x)
        elif f:
            ranges.append((x, x))
    return ClipCurve(ratios, values.detach().tolist(), flat, ranges)


# The lesson's two worked examples (A, r, eps): the canvas lists them with their arithmetic.
CLIP_EXAMPLES = ((0.5, 1.35, 0.2), (-0.5, 0.65, 0.2))


# ============================================================================ length
LENGTH_LOSS_TYPES = ("grpo", "bnpo", "dapo", "dr_grpo", "luspo")   # the clipped objective's types
LENGTH_GROUP_SIZE = 2                  # the two responses are the whole batch: B = 1, G = 2


@dataclass
class LengthWeights:
    """Each loss type's gradient for a short and a long response with the same advantage."""

    lengths: tuple[int, int]                   # (short, long) completion tokens
    advantage: float
    max_completion_length: int                 # L: dr_grpo's constant, the padded length
    weights: dict[str, tuple[float, float]]    # d loss / d logp_t of one token of each response
    totals: dict[str, tuple[float, float]]     # the same summed over each response's tokens
    coinciding: dict[str, float]               # grpo.coinciding_loss_types: type -> factor vs bnpo

    @property
    def tokens(self) -> int:
        return sum(self.lengths)


def length_weights(short: int, long: int, advantage: float, max_completion_length: int,
                   loss_types: tuple[str, ...] = LENGTH_LOSS_TYPES) -> LengthWeights:
    """One prompt, two responses (B = 1, G = 2) of `short` and `long` tokens padded to L =
    max_completion_length, both with advantage A. For each loss type: d loss / d logp_t of every
    completion token, by autograd through grpo.policy_loss (mode "clipped", TRL's loss of that
    name, the completion mask from the lengths) at ratio 1 (on-policy: old_logp = logp), where the
    clipped objective's slope in the ratio is A. So the gradient is -A times the aggregation's
    weight of that token: grpo -A / (G len_i), bnpo and dapo -A / T (T = short + long), dr_grpo
    -A / (G L), luspo -A / G. A gradient-descent step moves logp_t by -lr times it.
    Lengths may be 0 (an empty response gets no gradient); loss types are any of grpo.LOSS_TYPES
    (cispo, sapo and vespo use their own per-token objectives at their default settings)."""
    lengths = (int(short), int(long))
    n = int(max_completion_length)
    if min(lengths) < 0 or max(lengths) > n:
        raise ValueError(f"lengths {lengths[0]} and {lengths[1]} must lie in 0..L = {n}")
    mask = grpo.mask_from_lengths(torch.tensor([lengths]), n)                  # bool[1, 2, n]
    deltas = torch.full((1, LENGTH_GROUP_SIZE), float(advantage), dtype=torch.float64)
    # the log-probs' values do not matter at ratio 1; these are those of p = 0.5
    base = torch.full((1, LENGTH_GROUP_SIZE, n), math.log(0.5), dtype=torch.float64)
    weights, totals = {}, {}
    for loss_type in loss_types:
        logp = base.clone().requires_grad_(True)
        loss = grpo.policy_loss(logp, logp.detach(), deltas, "clipped", loss_type=loss_type,
                                mask=mask, max_completion_length=n)
        (g,) = torch.autograd.grad(loss, logp)
        g = g[0]                                                               # [2, n]
        # every token of a response gets the same gradient; 0.0 + x turns -0.0 into 0.0
        weights[loss_type] = tuple(float(g[i, 0]) + 0.0 if lengths[i] else 0.0 for i in range(2))
        totals[loss_type] = tuple(math.fsum(g[i].tolist()) + 0.0 for i in range(2))   # exact sum
    return LengthWeights(lengths, float(advantage), n, weights, totals,
                         grpo.coinciding_loss_types(mask, n))


# ============================================================================ rollout
class StepwisePolicy:
    """The next-token distribution of a policy, for showing a response written one token at a time.

    Any policy of grpotui.engine.policies will do (they share `log_probs_all(prompts, responses,
    temperature) -> (logp, logp_all)`). An autoregressive one conditions position t on the tokens
    before it: teacher forcing on the tokens so far gives exactly the distribution sampling would
    draw from. A per-position policy gives each position's distribution from the prompt alone: the
    tokens drawn so far change nothing (`autoregressive` is False).
    """

    def __init__(self, module: torch.nn.Module, n: int, temperature: float = 1.0):
        self.module = module.eval()
        self.n, self.temperature = n, temperature
        self.autoregressive = bool(getattr(module, "autoregressive", False))

    @torch.no_grad()
    def next_distribution(self, prompt: list[int], prefix: list[int]) -> torch.Tensor:
        """float[V]: pi(next token | prompt, prefix), summing to 1."""
        t = len(prefix)
        if not 0 <= t < self.n:
            raise ValueError(f"a response has {self.n} tokens; position {t} is past its end")
        prompts = torch.tensor([prompt], dtype=torch.long)
        response = torch.zeros(1, 1, self.n, dtype=torch.long)   # tokens after t do not matter
        if t:
            response[0, 0, :t] = torch.tensor(prefix, dtype=torch.long)
        _, logp_all = self.module.log_probs_all(prompts, response, temperature=self.temperature)
        row = logp_all[0, 0, t] if logp_all.dim() == 4 else logp_all[0, t]
        probs = row.double().exp()
        return probs / probs.sum()    # float32 rounding: sum exactly 1 for the bars


def untrained_policy(cfg) -> torch.nn.Module:
    from grpotui.engine.policies import build_policy

    return build_policy(cfg, cfg.seed)


def trained_policy(cfg, rollouts: int, progress=None, cancelled=None) -> tuple[torch.nn.Module, dict]:
    """Train a fresh policy with GRPO (the Trainer, as `grpotui run` would) for `rollouts` rollouts;
    progress(i, trainer) after each, and stop early when cancelled() says so.
    Returns the policy and a summary (rollouts done, mean reward of the last, held-out exact match)."""
    from grpotui.engine.trainer import Trainer

    trainer = Trainer(cfg.replace(device="cpu"))
    reward = float("nan")
    for i in range(1, rollouts + 1):
        if cancelled is not None and cancelled():
            break
        result = trainer.rollout()
        reward = result.metrics[-1]["reward"]
        if progress is not None:
            progress(i, trainer)
    return trainer.policy, {"rollouts": trainer.rollout_index, "reward": reward,
                            "heldout": trainer.evaluate()}


def policy_from_state(config: dict, state: bytes) -> tuple[torch.nn.Module, object]:
    """Rebuild a policy from a copy of its weights (the dashboard's live policy): (module, config)."""
    import io

    from grpotui.config import TrainConfig
    from grpotui.engine.policies import build_policy

    cfg = TrainConfig.from_dict(config)
    module = build_policy(cfg, cfg.seed)
    module.load_state_dict(torch.load(io.BytesIO(state), weights_only=True))
    return module, cfg


def draw_token(probs: torch.Tensor, gen: torch.Generator) -> int:
    return int(torch.multinomial(probs.float(), 1, generator=gen))


def response_reward(prompt: list[int], response: list[int], reward) -> float:
    """The reward of one whole response (a reward name or a weighted mix, as TrainConfig.reward)."""
    from grpotui.engine.rewards import as_weights, weighted

    p = torch.tensor([prompt], dtype=torch.long)
    return float(weighted(as_weights(reward))(p, torch.tensor([[response]], dtype=torch.long))[0, 0])


def group_stats(prompt: list[int], responses: list[list[int]], reward, delta_mode: str) -> dict:
    """One prompt's group: each response's reward, the group's mean and std (torch.std, unbiased),
    and the deltas GRPO makes of them (grpo.compute_deltas, one per response)."""
    from grpotui.engine.rewards import as_weights, weighted

    p = torch.tensor([prompt], dtype=torch.long)
    r = torch.tensor([responses], dtype=torch.long)
    rewards = weighted(as_weights(reward))(p, r)                     # [1, G]
    deltas = grpo.compute_deltas(rewards, delta_mode)
    std = float(rewards.std()) if rewards.shape[1] > 1 else math.nan
    return {"rewards": rewards[0].tolist(), "mean": float(rewards.mean()), "std": std,
            "deltas": deltas[0].tolist()}
