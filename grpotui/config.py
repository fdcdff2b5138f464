"""TrainConfig: the one source of truth for every grpotui setting.

Each field carries its default, its bounds (or choices) and a one-line description in its metadata.
The same table drives validation, YAML presets, `--set key=value`, the dashboard's controls and the
README's preset reference, so none of them can drift from the others.

No torch import here: the CLI imports this module to answer `--help` fast.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from typing import Any

LECTURE_PROMPTS = [[1, 0, 2], [3, 2, 4], [1, 2, 3]]

DELTA_MODES = ("raw", "centered", "normalized", "max", "batch")
# The lecture's own names for the delta modes, accepted everywhere a delta mode is.
DELTA_ALIASES = {
    "rewards": "raw",
    "centered_rewards": "centered",
    "normalized_rewards": "normalized",
    "max_rewards": "max",
}
LOSS_MODES = ("naive", "unclipped", "clipped")
# TRL 1.16's loss types (grpotui.engine.grpo.aggregate), and "mean": the lecture's mean over every
# position (the default: every fixed-length preset keeps its results).
LOSS_TYPES = ("mean", "grpo", "bnpo", "dr_grpo", "dapo", "luspo", "cispo", "sapo", "vespo")
# TRL's scale_rewards, accepted as a key: each value is one of our delta modes.
SCALE_REWARDS = {"group": "normalized", "batch": "batch", "none": "centered"}
REWARDS = ("inclusion_ordering", "position_match", "exact_match", "answer_slots")
VARIABLE_ONLY_REWARDS = ("answer_slots",)
REWARD_ALIASES = {
    "sort_inclusion_ordering_reward": "inclusion_ordering",
    "sort_distance_reward": "position_match",
}
POLICIES = ("lecture", "transformer", "autoregressive")
IMPORTANCE_LEVELS = ("token", "sequence")
CREDITS = ("sequence", "token")
AGGREGATIONS = ("sum_then_normalize", "normalize_then_sum")
LR_SCHEDULERS = ("constant", "linear", "cosine")
PROMPT_SOURCES = ("fixed", "random")
DEVICES = ("cpu", "cuda", "auto")


class ConfigError(ValueError):
    """A setting was wrong. The message is one paragraph fit to show a user as it is."""


def _f(default: Any, help: str, *, lo: float | None = None, hi: float | None = None,
       choices: tuple[str, ...] | None = None, live: bool = False, group: str = "training") -> Any:
    meta = {"help": help, "min": lo, "max": hi, "choices": choices, "live": live, "group": group}
    if isinstance(default, list):
        return field(default_factory=lambda: [list(p) for p in default], metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    """Every setting of a grpotui run. `live` fields change mid-run; the rest need a reset."""

    # --- the GRPO update (all live: they take effect at the next rollout) ---
    delta_mode: str = _f("centered", "How rewards become deltas within a group: raw, centered, "
                         "normalized (by group std), max (keep only the group's best) or batch "
                         "(centered in the group, divided by the whole batch's std). TRL's "
                         "scale_rewards is accepted too: group = normalized, batch, none = "
                         "centered.",
                         choices=DELTA_MODES, live=True, group="grpo")
    loss_mode: str = _f("clipped", "Policy loss: naive (-delta*logp), unclipped (-ratio*delta) or "
                        "clipped (PPO's min of ratio*delta and clip(ratio)*delta).",
                        choices=LOSS_MODES, live=True, group="grpo")
    reward: str | dict = _f("position_match", "Reward function: inclusion_ordering, position_match or "
                            "exact_match; or a weighted mix such as {position_match: 1, "
                            "exact_match: 4}.", choices=REWARDS, live=True, group="grpo")
    reward_aggregation: str = _f("sum_then_normalize", "With a reward mix: sum_then_normalize (the "
                                 "weighted sum, then the delta mode) or normalize_then_sum (GDPO: "
                                 "each reward normalised in its group, summed, normalised over the "
                                 "batch; the delta mode does not apply).", choices=AGGREGATIONS,
                                 live=True, group="grpo")
    loss_type: str = _f("mean", "How token losses add up (TRL's loss_type): mean (the lecture's "
                        "mean over every token), grpo (each response's mean, then the mean over "
                        "responses: the length bias), bnpo or dapo (sum over tokens / tokens), "
                        "dr_grpo (sum / (responses x max_completion_length)), luspo (each "
                        "response's sum, averaged), or the objectives cispo, sapo, vespo (with "
                        "loss_mode clipped).", choices=LOSS_TYPES, live=True, group="grpo")
    epsilon_high: float = _f(0.0, "The clip's upper side, 1 + epsilon_high (clip-higher, DAPO; for "
                             "cispo the cap on the ratio itself); 0: the same as clip_eps.",
                             lo=0.0, hi=10.0, live=True, group="grpo")
    delta: float = _f(0.0, "Two-sided clipping (TRL's delta): the unclipped ratio is capped at "
                      "delta too; 0: off (else above 1 + clip_eps).", lo=0.0, hi=100.0, live=True,
                      group="grpo")
    entropy_coef: float = _f(0.0, "Entropy bonus: the loss subtracts entropy_coef x the mean "
                             "token entropy.", lo=0.0, hi=10.0, live=True, group="grpo")
    top_entropy_quantile: float = _f(1.0, "Only the completion tokens in this top share of entropy "
                                     "count in the policy loss (TRL's top_entropy_quantile; 1: "
                                     "all).", lo=0.0, hi=1.0, live=True, group="grpo")
    mask_truncated_completions: bool = _f(False, "Leave responses cut at max_completion_length "
                                          "(no EOS) out of the loss (variable length).", live=True,
                                          group="grpo")
    top_p: float = _f(1.0, "Nucleus sampling: draw only from the smallest set of tokens whose "
                      "probability reaches top_p (1: all). Log-probs are the full distribution's, "
                      "as in TRL.", lo=0.01, hi=1.0, live=True, group="grpo")
    top_k: int = _f(0, "Draw only from the top_k likeliest tokens (0: all).", lo=0, hi=1000,
                    live=True, group="grpo")
    credit: str = _f("sequence", "sequence: one delta per response, given to each of its tokens "
                     "(GRPO as published); token: each position's score becomes a delta within the "
                     "group, position by position.", choices=CREDITS, live=True, group="grpo")
    importance_sampling: str = _f("token", "The ratio the loss clips: token (one per token) or "
                                  "sequence (one per response: exp of the mean per-token "
                                  "log-ratio, GSPO).", choices=IMPORTANCE_LEVELS, live=True,
                                  group="grpo")
    temperature: float = _f(1.0, "Sampling temperature: responses are drawn from softmax(logits / "
                            "temperature); log-probs use the same distribution.", lo=0.05, hi=10.0,
                            live=True, group="grpo")
    group_size: int = _f(8, "Responses sampled per prompt (G).", lo=1, hi=256, live=True, group="grpo")
    learning_rate: float = _f(5e-4, "Adam learning rate (the peak, under a schedule).", lo=0.0,
                              hi=10.0, live=True, group="grpo")
    lr_scheduler_type: str = _f("constant", "Learning-rate schedule over the run's rollouts: "
                                "constant, linear or cosine (decaying to min_lr_rate x "
                                "learning_rate).", choices=LR_SCHEDULERS, live=True, group="grpo")
    min_lr_rate: float = _f(0.0, "The schedule's floor, as a fraction of learning_rate.", lo=0.0,
                            hi=1.0, live=True, group="grpo")
    warmup_rollouts: int = _f(0, "Rollouts of linear warm-up from 0 to learning_rate.", lo=0,
                              hi=10_000_000, live=True, group="grpo")
    adam_beta2: float = _f(0.999, "Adam's beta2 (decay of its squared-gradient average).", lo=0.0,
                           hi=0.99999, live=True, group="grpo")
    clip_eps: float = _f(0.2, "PPO clip epsilon: ratios are clipped to [1-eps, 1+eps] "
                         "(the lecture hard-codes 0.01).", lo=0.0, hi=1.0, live=True, group="grpo")
    kl_beta: float = _f(0.0, "Weight of the k3 KL penalty against the reference policy "
                        "(0 turns the reference off).", lo=0.0, hi=10.0, live=True, group="grpo")
    inner_steps: int = _f(2, "Optimizer steps on each rollout's batch (K).", lo=1, hi=100,
                          live=True, group="grpo")
    ref_refresh: int = _f(10, "Rollouts between refreshes of the KL reference policy.", lo=1,
                          hi=100_000, live=True, group="grpo")
    max_grad_norm: float = _f(0.0, "Clip the gradient's L2 norm to this (0: no clipping).",
                              lo=0.0, hi=1e6, live=True, group="grpo")
    prompts_per_rollout: int = _f(16, "Random prompts drawn per rollout (random prompt source "
                                  "only).", lo=1, hi=4096, live=True, group="task")
    # --- the task (reset to change) ---
    prompt_source: str = _f("random", "fixed: train on `prompts` only (the lecture); random: draw "
                            "prompts every rollout, never from the held-out set.",
                            choices=PROMPT_SOURCES, group="task")
    prompts: list = _f(LECTURE_PROMPTS, "The fixed training prompts (each of length n, tokens "
                       "below vocab_size).", group="task")
    n: int = _f(8, "Numbers per prompt (and per response); with min_n, the longest prompt.",
                lo=2, hi=16, group="task")
    min_n: int = _f(0, "Variable length (the autoregressive policy): prompts have min_n to n "
                    "numbers, left-padded, and the answer is the prompt sorted, then an EOS token. "
                    "0: every prompt has n numbers (the fixed task, no EOS).", lo=0, hi=16,
                    group="task")
    max_completion_length: int = _f(0, "Variable length: the longest response in tokens, EOS "
                                    "included (TRL's name); one without EOS by then is "
                                    "truncated. 0: 2 x n.", lo=0, hi=64, group="task")
    vocab_size: int = _f(16, "Numbers are drawn from 0..vocab_size-1.", lo=2, hi=64, group="task")
    heldout_size: int = _f(256, "Prompts set aside for held-out evaluation, never trained on.",
                           lo=1, hi=100_000, group="task")
    # --- the policy (reset to change) ---
    policy: str = _f("transformer", "lecture (the lecture's position-matrix model), transformer "
                     "(a small transformer that samples every position at once) or autoregressive "
                     "(a causal transformer that writes one token at a time, as an LM does).",
                     choices=POLICIES, group="model")
    d_model: int = _f(32, "Embedding width (the lecture uses 10).", lo=2, hi=1024, group="model")
    n_layers: int = _f(2, "Transformer layers (transformer and autoregressive).", lo=1, hi=12,
                       group="model")
    n_heads: int = _f(4, "Attention heads; must divide d_model (transformer and autoregressive).",
                      lo=1, hi=32, group="model")
    # --- the run ---
    rollouts: int = _f(3000, "Run length in rollouts; the dashboard pauses there, `run` stops.",
                       lo=1, hi=10_000_000, live=True, group="run")
    eval_every: int = _f(5, "Rollouts between held-out evaluations.", lo=1, hi=100_000, live=True,
                         group="run")
    seed: int = _f(5, "Seed for the model's initialisation, prompts and sampling (the lecture "
                   "uses 5).", lo=0, hi=2**31 - 1, group="run")
    device: str = _f("cpu", "cpu, cuda or auto (cuda when available).", choices=DEVICES,
                     group="run")

    def __post_init__(self) -> None:
        # Every way of making a config is checked, not only from_dict: canonicalise each value
        # (aliases, ints given as floats) and refuse bad ones, then the cross-field rules.
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, coerce(f.name, getattr(self, f.name),
                                                    source="TrainConfig"))
        self.check(source="TrainConfig")

    # ------------------------------------------------------------------ helpers
    @classmethod
    def fields(cls) -> list[dataclasses.Field]:
        return list(dataclasses.fields(cls))

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def live_keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.metadata["live"]]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "settings", base: TrainConfig | None = None
                  ) -> TrainConfig:
        """Build a validated config from a mapping of overrides on top of `base` (or defaults)."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping of setting names to values, got "
                              f"{_kind(data)}. Allowed keys: {', '.join(cls.field_names())}.")
        values = (base or cls()).to_dict()
        for key, raw in data.items():
            key, raw = canonical(key, raw, source=source)
            values[key] = coerce(key, raw, source=source)
        try:
            return cls(**values)
        except ConfigError as e:  # a cross-field rule: name where the settings came from
            raise ConfigError(str(e).replace("TrainConfig:", f"{source}:", 1)) from None

    def replace(self, source: str = "settings", **changes: Any) -> TrainConfig:
        return TrainConfig.from_dict(changes, source=source, base=self)

    @property
    def variable(self) -> bool:
        """Whether prompts vary in length and answers end with EOS (min_n > 0)."""
        return self.min_n > 0

    @property
    def completion_length(self) -> int:
        """Tokens a response may have: n (fixed task), or max_completion_length (2 n when 0)."""
        if not self.variable:
            return self.n
        return self.max_completion_length or 2 * self.n

    def check(self, source: str = "settings") -> None:
        """Cross-field checks; single fields are checked by `coerce`."""
        if self.variable:
            if self.policy != "autoregressive":
                raise ConfigError(f"{source}: key 'min_n': variable-length prompts need a policy "
                                  f"that writes an EOS token: policy autoregressive (the "
                                  f"{self.policy} policy writes exactly n numbers); or min_n 0.")
            if self.min_n > self.n:
                raise ConfigError(f"{source}: key 'min_n': {self.min_n} is more than n "
                                  f"{self.n}; allowed: 0 (fixed length) or 1 to n.")
            if self.completion_length < self.n + 1:
                raise ConfigError(f"{source}: key 'max_completion_length': "
                                  f"{self.completion_length} tokens cannot hold the longest "
                                  f"answer ({self.n} numbers and EOS); allowed: 0 (2 x n) or "
                                  f"{self.n + 1} to 64.")
            if self.credit == "token":
                raise ConfigError(f"{source}: key 'credit': per-token credit scores the n "
                                  f"positions of a fixed-length answer; with variable length "
                                  f"(min_n > 0) use credit sequence.")
            if self.prompt_source == "fixed":
                raise ConfigError(f"{source}: key 'prompt_source': fixed prompts are the "
                                  f"fixed-length task's; with min_n > 0 use random.")
        else:
            for r in (self.reward if isinstance(self.reward, dict) else [self.reward]):
                if r in VARIABLE_ONLY_REWARDS:
                    raise ConfigError(f"{source}: key 'reward': {r} scores the answer's EOS "
                                      f"slot, which only the variable-length task has (min_n > "
                                      f"0); allowed here: position_match, inclusion_ordering, "
                                      f"exact_match.")
            if self.mask_truncated_completions:
                raise ConfigError(f"{source}: key 'mask_truncated_completions': fixed-length "
                                  f"responses are never truncated; it needs min_n > 0.")
        if (self.top_p < 1 or self.top_k) and self.policy != "autoregressive":
            raise ConfigError(f"{source}: key '{'top_p' if self.top_p < 1 else 'top_k'}': "
                              f"narrowed sampling is for a policy that writes token by token "
                              f"(policy autoregressive); the {self.policy} policy samples every "
                              f"position at once: keep top_p 1 and top_k 0.")
        if self.delta and self.delta <= 1 + self.clip_eps:
            raise ConfigError(f"{source}: key 'delta': {self.delta:g} would cap the ratio below "
                              f"the clip's upper side 1 + clip_eps = {1 + self.clip_eps:g}; "
                              f"allowed: 0 (off) or above that.")
        if self.loss_type in ("cispo", "sapo", "vespo") and self.loss_mode != "clipped":
            raise ConfigError(f"{source}: key 'loss_type': {self.loss_type} brings its own "
                              f"per-token objective in place of PPO's clip; it needs loss_mode "
                              f"clipped (got {self.loss_mode}).")
        if self.policy != "lecture" and self.d_model % self.n_heads:
            raise ConfigError(f"{source}: d_model {self.d_model} is not divisible by n_heads "
                              f"{self.n_heads}; choose n_heads that divides d_model.")
        space = self.vocab_size ** self.n
        if self.prompt_source == "fixed":
            for p in self.prompts:
                if len(p) != self.n or any(t >= self.vocab_size for t in p):
                    raise ConfigError(
                        f"{source}: key 'prompts': prompt {p} does not fit n={self.n} and "
                        f"vocab_size={self.vocab_size}; every prompt must have n numbers, each from "
                        f"0 to {self.vocab_size - 1}.")
            if self.heldout_size > space - len(self.prompts):
                raise ConfigError(
                    f"{source}: key 'heldout_size': {self.heldout_size} held-out prompts do not fit "
                    f"beside the {len(self.prompts)} training prompts among the {space} possible "
                    f"ones; allowed: at most {space - len(self.prompts)}.")
        elif self.heldout_size > space // 2:
            raise ConfigError(
                f"{source}: key 'heldout_size': {self.heldout_size} held-out prompts would leave too "
                f"few to train on: n={self.n} and vocab_size={self.vocab_size} give only {space} "
                f"prompts; allowed: at most half of them ({space // 2}).")

    def diff(self, other: TrainConfig) -> dict[str, tuple[Any, Any]]:
        """Settings whose value differs: {key: (self's, other's)}."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a[k], b[k]) for k in a if a[k] != b[k]}


_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def canonical(key: Any, value: Any, *, source: str = "settings") -> tuple[Any, Any]:
    """TRL's names for our settings: epsilon is clip_eps; scale_rewards (group, batch, none) sets
    delta_mode (normalized, batch, centered)."""
    if key == "epsilon":
        return "clip_eps", value
    if key == "scale_rewards":
        if isinstance(value, str) and value.strip().lower() in SCALE_REWARDS:
            return "delta_mode", SCALE_REWARDS[value.strip().lower()]
        raise ConfigError(f"{source}: key 'scale_rewards': {value!r} is not a choice; allowed: "
                          f"group (delta_mode normalized), batch (delta_mode batch) or none "
                          f"(delta_mode centered).")
    return key, value


def allowed_text(key: str) -> str:
    """What a setting accepts, in words (for error messages, the README and the dashboard)."""
    f = _FIELDS[key]
    m = f.metadata
    if f.type in ("bool", bool):
        return "true or false"
    if key == "reward":
        return ("one of " + ", ".join(REWARDS) + ", or a mapping of those names to weights (numbers "
                "from -100 to 100, not all 0), such as {position_match: 1, exact_match: 4}")
    if m["choices"]:
        extra = ""
        if key == "delta_mode":
            extra = " (or the lecture's names " + ", ".join(DELTA_ALIASES) + ")"
        return "one of " + ", ".join(m["choices"]) + extra
    if key == "prompts":
        return "a list of prompts, each a list of n integers from 0 to vocab_size-1"
    kind = "an integer" if f.type in ("int", int) else "a number"
    return f"{kind} from {_num(m['min'])} to {_num(m['max'])}"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


def _kind(v: Any) -> str:
    if v is None:
        return "nothing (null)"
    return {bool: "a true/false value", int: "an integer", float: "a number", str: "text",
            list: "a list", dict: "a mapping"}.get(type(v), type(v).__name__)


def suggest_key(key: str) -> str:
    close = difflib.get_close_matches(str(key), TrainConfig.field_names(), n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


def coerce(key: Any, value: Any, *, source: str = "settings") -> Any:
    """Check one setting and return it in canonical form, or raise ConfigError saying why."""
    if key not in _FIELDS:
        raise ConfigError(f"{source}: unknown key {key!r}.{suggest_key(key)} Allowed keys: "
                          f"{', '.join(TrainConfig.field_names())}.")
    f = _FIELDS[key]
    m = f.metadata

    def bad(why: str) -> ConfigError:
        # the option typed names the key already (--seed, --set seed): don't name it twice
        where = source if source in (f"--{key}", f"--set {key}") else f"{source}: key '{key}'"
        return ConfigError(f"{where}: {why}; allowed: {allowed_text(key)}.")

    if key == "reward" and isinstance(value, dict):
        return _coerce_mix(value, bad)
    if m["choices"]:
        if not isinstance(value, str):
            raise bad(f"got {_kind(value)} {value!r}")
        v = value.strip().lower().replace("-", "_")
        v = DELTA_ALIASES.get(v, v) if key == "delta_mode" else v
        v = REWARD_ALIASES.get(v, v) if key == "reward" else v
        if v not in m["choices"]:
            raise bad(f"{value!r} is not a choice")
        return v
    if f.type in ("bool", bool):
        if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("false", "no", "off", "0"):
            return False
        if type(value) is int and value in (0, 1):
            return bool(value)
        if type(value) is not bool:
            raise bad(f"got {_kind(value)} {value!r}")
        return value
    if key == "prompts":
        if (not isinstance(value, list) or not value
                or not all(isinstance(p, list) and p for p in value)
                or not all(type(t) is int and t >= 0 for p in value for t in p)):
            raise bad(f"got {value!r}")
        return [list(p) for p in value]
    if f.type in ("int", int):
        if isinstance(value, str):
            try:
                value = int(value.strip().replace("_", ""))
            except ValueError:
                raise bad(f"{value!r} is not an integer") from None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if type(value) is not int:
            raise bad(f"got {_kind(value)} {value!r}")
    else:
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise bad(f"{value!r} is not a number") from None
        if type(value) not in (int, float):
            raise bad(f"got {_kind(value)} {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise bad(f"{value} is not a finite number")
    if (m["min"] is not None and value < m["min"]) or (m["max"] is not None and value > m["max"]):
        raise bad(f"{value} is out of range")
    return value


def _coerce_mix(value: dict, bad) -> dict[str, float]:
    """A reward mix {name: weight}: known names (aliases allowed), finite weights, not all zero."""
    if not value:
        raise bad("got an empty mapping")
    out: dict[str, float] = {}
    for name, weight in value.items():
        if not isinstance(name, str):
            raise bad(f"the mix names {_kind(name)} {name!r}")
        canon = name.strip().lower().replace("-", "_")
        canon = REWARD_ALIASES.get(canon, canon)
        if canon not in REWARDS:
            raise bad(f"the mix names {name!r}, which is not a reward function")
        if canon in out:
            raise bad(f"the mix names {canon!r} twice")
        if isinstance(weight, str):
            try:
                weight = float(weight)
            except ValueError:
                raise bad(f"the weight of {name!r} is {weight!r}, not a number") from None
        if type(weight) not in (int, float) or not math.isfinite(weight) or abs(weight) > 100:
            raise bad(f"the weight of {name!r} is {weight!r}")
        out[canon] = float(weight)
    if not any(out.values()):
        raise bad("every weight is 0")
    return out


def reward_label(reward) -> str:
    """A reward setting in words: its name, or its mix as `position_match×1 + exact_match×4`."""
    if isinstance(reward, str):
        return reward
    return " + ".join(f"{name}×{w:g}" for name, w in reward.items())


def parse_set(items: list[str] | None, *, source: str = "--set") -> dict[str, Any]:
    """Parse `key=value` strings (values read as YAML, so lists work) into raw overrides."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"{source} {item!r}: expected key=value, for example "
                              f"--set learning_rate=0.01. Allowed keys: "
                              f"{', '.join(TrainConfig.field_names())}.")
        key, _, text = item.partition("=")
        key = key.strip()
        if key in ("epsilon", "scale_rewards"):      # TRL's names
            key, text = canonical(key, text.strip(), source=f"{source} {key}")
        try:
            value = yaml.safe_load(text) if text.strip() else text
        except yaml.YAMLError:
            value = text
        # Validate now, so the message names --set rather than a later stage.
        out[key] = coerce(key, value, source=f"{source} {key}")
    return out
