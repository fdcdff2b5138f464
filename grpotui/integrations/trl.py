"""Watch and steer a TRL GRPOTrainer run with grpotui.

    trainer = GRPOTrainer(model=..., reward_funcs=[...], args=GRPOConfig(...), train_dataset=...)
    attach(trainer, "runs/trl.jsonl", control=True)     # one line
    trainer.train()                                      # meanwhile: grpotui watch runs/trl.jsonl --control

`attach` writes the run to a grpotui metrics file (FORMAT.md):
- a `start` record: the run's settings (model, num_generations, learning rate, beta, epsilons,
  scale_rewards, loss_type, temperature, reward functions and weights, ...) under "config";
- one step record per logged step with TRL's own metric names, plus grpotui's names where they mean
  the same (lr = learning_rate, group_size = num_generations, steps_per_second = 1 / step_time,
  exact_match = rewards/exact_match_reward/mean when that reward function is used);
- one `groups` record per generation batch: prompts, completions, each reward function's rewards, the
  weighted reward and the advantages. TRL passes no advantages to any public hook, so they are computed
  here from the rewards exactly as GRPOTrainer documents it for the run's settings (`trl_advantages`).
  The rewards come from wrapping the trainer's reward functions (same call, same result, recorded on the
  way out), which needs every reward function to be a Python callable; with a reward model among them
  the run is watched without groups records (the start record says so).
In a multi-process run every process calls `attach`; only the main process writes.

With control=True the run reads `<path>.control.jsonl` (grpotui/steering.py) at the start of every
optimizer step, on the main process, broadcasts what it read, and every process applies the same
changes before that step: learning_rate, beta (when the run started with beta > 0), epsilon (as in
GRPOConfig: the lower clip bound, and the upper one too unless the run set epsilon_high),
epsilon_high, reward_weights (a list, or {function name: weight} for some) and scale_rewards.
Everything else is refused with the reason. Each outcome is a `set` or `refused` event in the
metrics file, with the step it took effect at.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import time
from pathlib import Path
from typing import Any, Callable

import torch
from transformers import TrainerCallback

from grpotui import steering
from grpotui.config import ConfigError
from grpotui.integrations.sorting import (exact_match_reward, inclusion_ordering_reward,
                                          position_match_reward, sorting_dataset)
from grpotui.metrics import MetricsWriter

__all__ = ["attach", "GrpotuiCallback", "trl_advantages", "sorting_dataset", "position_match_reward",
           "inclusion_ordering_reward", "exact_match_reward"]

logger = logging.getLogger("grpotui")

ADV_EPS = 1e-4   # GRPOTrainer: (reward - group mean) / (std + 1e-4)

# Settings GRPOTrainer fixes when it is built or when training starts, with the reason a change is refused.
_GENERATION = ("GRPOTrainer builds its generation settings (or vLLM's sampling parameters) once, when it "
               "is constructed")
_BATCHES = ("GRPOTrainer checks batch sizes against num_generations and builds its sampler and dataloader "
            "when it is constructed")
FIXED = {
    "temperature": _GENERATION, "top_p": _GENERATION, "top_k": _GENERATION, "min_p": _GENERATION,
    "repetition_penalty": _GENERATION, "max_completion_length": _GENERATION,
    "max_prompt_length": _GENERATION,
    "num_generations": _BATCHES, "per_device_train_batch_size": _BATCHES,
    "gradient_accumulation_steps": _BATCHES, "steps_per_generation": _BATCHES,
    "generation_batch_size": _BATCHES, "num_iterations": _BATCHES,
    "loss_type": "GRPOTrainer checks loss_type against importance_sampling_level and the vLLM settings "
                 "when it is constructed",
    "importance_sampling_level": "GRPOTrainer checks importance_sampling_level against loss_type when "
                                 "it is constructed",
    "max_steps": "the Trainer computes the run's length when training starts",
    "num_train_epochs": "the Trainer computes the run's length when training starts",
    "model": "the model is loaded when GRPOTrainer is constructed",
}
ALIASES = {"lr": "learning_rate", "kl_beta": "beta", "clip_eps": "epsilon"}
# name: (low, high), inclusive; reward weights are any finite numbers.
BOUNDS = {"learning_rate": (0.0, 10.0), "beta": (0.0, 10.0), "epsilon": (0.0, 1.0),
          "epsilon_low": (0.0, 1.0), "epsilon_high": (0.0, 10.0)}
SCALE_REWARDS = ("group", "batch", "none")


# ----------------------------------------------------------------------------------------- the math
def _nanstd(x: torch.Tensor, dim: int | None = None, keepdim: bool = False) -> torch.Tensor:
    """Standard deviation ignoring NaNs, with Bessel's correction (as GRPOTrainer's nanstd)."""
    if dim is None:
        x, dim = x.reshape(-1), 0
    mean = torch.nanmean(x, dim=dim, keepdim=True)
    count = (~torch.isnan(x)).sum(dim=dim, keepdim=True)
    var = torch.nanmean((x - mean) ** 2, dim=dim, keepdim=True) * count / (count - 1)
    return var.sqrt() if keepdim else var.sqrt().squeeze(dim)


def trl_advantages(rewards_per_func: torch.Tensor, weights: torch.Tensor, num_generations: int,
                   scale_rewards: str | bool = "group",
                   aggregation: str = "sum_then_normalize") -> tuple[torch.Tensor, torch.Tensor]:
    """GRPOTrainer's advantages, as its documentation defines them: (rewards [N], advantages [N]).

    rewards_per_func: float[N, K], one column per reward function, NaN where a function returned None;
    rows come num_generations at a time per prompt. A row whose functions all returned None is
    unscorable: its reward is NaN, it is left out of its group's statistics and its advantage is 0.

    sum_then_normalize (default): r = sum_k w_k r_k (NaN-skipping); advantage = r - group mean, divided
        by (std + 1e-4) where std is the group's (scale_rewards="group") or the whole batch's ("batch");
        "none" leaves it centred only.
    normalize_then_sum (GDPO): each function's rewards are normalised within their group first,
        (r_k - group mean) / (group std + 1e-4), weighted and summed, then normalised over the batch.
    std always with Bessel's correction. `rewards` is the weighted sum of the raw rewards (TRL's logged
    "reward").
    """
    scale = {True: "group", False: "none"}.get(scale_rewards, scale_rewards)
    x = rewards_per_func.float()
    w = weights.float().to(x.device)[None, :]
    g = num_generations
    unscorable = torch.isnan(x).all(dim=1)
    raw = (x * w).nansum(dim=1)
    raw[unscorable] = torch.nan
    if aggregation == "sum_then_normalize":
        grouped = raw.view(-1, g)
        mean = torch.nanmean(grouped, dim=1).repeat_interleave(g)
        if scale in ("group", "none"):
            std = (_nanstd(grouped, dim=1).repeat_interleave(g) if g > 1 else torch.zeros_like(raw))
        elif scale == "batch":
            std = _nanstd(raw).expand_as(raw) if raw.numel() > 1 else torch.zeros_like(raw)
        else:
            raise ValueError(f"scale_rewards {scale_rewards!r}: allowed: group, batch, none.")
        adv = raw - mean
        if scale != "none":
            adv = adv / (std + ADV_EPS)
    elif aggregation == "normalize_then_sum":
        grouped = x.view(-1, g, x.shape[1])
        mean_k = torch.nanmean(grouped, dim=1, keepdim=True)
        std_k = _nanstd(grouped, dim=1, keepdim=True) if g > 1 else torch.zeros_like(mean_k)
        summed = (((grouped - mean_k) / (std_k + ADV_EPS)).view(-1, x.shape[1]) * w).nansum(dim=1)
        summed[unscorable] = torch.nan
        std = _nanstd(summed).expand_as(summed) if summed.numel() > 1 else torch.zeros_like(summed)
        adv = (summed - torch.nanmean(summed)) / (std + ADV_EPS)
    else:
        raise ValueError(f"multi_objective_aggregation {aggregation!r}: allowed: sum_then_normalize, "
                         f"normalize_then_sum.")
    return raw, torch.nan_to_num(adv, nan=0.0)


# ----------------------------------------------------------------------------------------- helpers
def _as_text(x: Any) -> str:
    """A prompt or completion as text: strings as they are, a conversation as its messages."""
    if isinstance(x, str):
        return x
    if isinstance(x, (list, tuple)):
        parts = []
        for m in x:
            if isinstance(m, dict):
                content = m.get("content")
                if not isinstance(content, str):   # multimodal content: keep the text parts
                    content = " ".join(c.get("text", "") for c in content or []
                                       if isinstance(c, dict) and c.get("type") == "text")
                parts.append(f"{m['role']}: {content}" if m.get("role") and len(x) > 1 else content)
            else:
                parts.append(str(m))
        return "\n".join(parts)
    return "" if x is None else str(x)


def _number(value: Any) -> float | None:
    """A finite float from a number or numeric text; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(float(value)):
        return float(value)
    return None


def _reward(column: list, j: int) -> float:
    """Row j of a reward function's result as TRL reads it (None -> NaN); NaN where it is missing
    (TRL raises for a result of the wrong length right after, on that process)."""
    try:
        r = column[j]
        return math.nan if r is None else float(r)
    except (IndexError, TypeError, ValueError):
        return math.nan


def _fmt(x: float) -> str:
    return f"{x:g}"


# ----------------------------------------------------------------------------------------- attach
def attach(trainer: Any, path: str | Path, control: bool = False) -> "GrpotuiCallback":
    """Write `trainer`'s run to the grpotui metrics file `path` (.jsonl or .csv); with control=True,
    also take setting changes from `<path>.control.jsonl` (`grpotui watch PATH --control`).

    Call it once, after constructing the GRPOTrainer and before `train()`, on every process. Returns
    the callback it added (its `close()` closes the file). Raises ConfigError for a path that cannot be
    written (wrong extension, missing folder) before anything starts."""
    for attr in ("reward_funcs", "num_generations", "args", "add_callback"):
        if not hasattr(trainer, attr):
            raise TypeError(f"attach: expected a trl GRPOTrainer, got {type(trainer).__name__} "
                            f"(it has no '{attr}').")
    callback = GrpotuiCallback(trainer, path, control=control)
    trainer.add_callback(callback)
    return callback


class GrpotuiCallback(TrainerCallback):
    """The TrainerCallback `attach` adds. Holds the writer (main process only), the command reader
    (main process only) and the live values of the steerable settings (every process)."""

    def __init__(self, trainer: Any, path: str | Path, control: bool = False):
        self.trainer = trainer
        self.path = Path(path)
        self.control = bool(control)
        self.main = bool(trainer.is_world_process_zero())
        suffix = self.path.suffix.lower()
        if suffix not in (".jsonl", ".json", ".ndjson", ".csv"):   # checked on every process alike
            raise ConfigError(f"metrics file {self.path}: unknown extension '{suffix or '(none)'}'; "
                              f"allowed: .jsonl (one JSON object per line) or .csv.")
        args = trainer.args
        self.names = list(trainer.reward_func_names)
        self.per_round = max(1, int(getattr(args, "steps_per_generation", None) or 1)
                             * int(getattr(args, "num_iterations", 1) or 1))
        self.started = time.monotonic()
        self.writer: MetricsWriter | None = MetricsWriter(self.path) if self.main else None
        self.reader = steering.CommandReader(self.path) if (self.control and self.main) else None
        self.failed_write = False
        self.summary: dict[str, Any] = {}
        self.values: dict[str, Any] = {
            "learning_rate": float(args.learning_rate),
            "beta": float(trainer.beta),
            "epsilon_low": float(trainer.epsilon_low),
            "epsilon_high": float(trainer.epsilon_high),
            "scale_rewards": trainer.scale_rewards,
        }
        self.started_beta = float(trainer.beta)
        # groups: wrap each callable reward function so its result is recorded on the way out
        self.groups_reason: str | None = None
        self._round: dict[int, list[float]] = {}
        self._round_inputs: tuple[list, list, dict] | None = None
        modules = [n for f, n in zip(trainer.reward_funcs, self.names) if isinstance(f, torch.nn.Module)]
        if modules:
            self.groups_reason = (f"no groups records: reward model(s) {', '.join(modules)} are not "
                                  f"Python functions, so their rewards cannot be recorded")
        else:
            trainer.reward_funcs[:] = [self._wrap(i, f) for i, f in enumerate(trainer.reward_funcs)]
        self._write(events=[self._start_record()])

    # ------------------------------------------------------------------ records
    def _model_name(self) -> str:
        model = self.trainer.model
        model = getattr(self.trainer, "accelerator", None).unwrap_model(model) \
            if getattr(self.trainer, "accelerator", None) else model
        config = getattr(model, "config", None)
        return str(getattr(config, "name_or_path", "") or getattr(config, "_name_or_path", "")
                   or type(model).__name__)

    def settings(self) -> dict[str, Any]:
        """The run's settings as the start record's "config" (TRL's names)."""
        t, a = self.trainer, self.trainer.args
        import trl

        return {
            "source": "trl", "trl_version": trl.__version__,
            "model": self._model_name(),
            "num_generations": t.num_generations,
            "learning_rate": self.values["learning_rate"],
            "lr_scheduler_type": str(getattr(a.lr_scheduler_type, "value", a.lr_scheduler_type)),
            "beta": self.values["beta"],
            "epsilon": self.values["epsilon_low"],
            "epsilon_high": self.values["epsilon_high"],
            "scale_rewards": self.values["scale_rewards"],
            "loss_type": t.loss_type,
            "importance_sampling_level": getattr(t, "importance_sampling_level", None),
            "multi_objective_aggregation": getattr(t, "multi_objective_aggregation", None),
            "temperature": t.temperature,
            "max_completion_length": getattr(a, "max_completion_length", None),
            "reward_funcs": list(self.names),
            "reward_weights": [float(w) for w in t.reward_weights.tolist()],
            "per_device_train_batch_size": a.per_device_train_batch_size,
            "gradient_accumulation_steps": a.gradient_accumulation_steps,
            "steps_per_generation": getattr(a, "steps_per_generation", None),
            "num_iterations": getattr(a, "num_iterations", None),
            "max_steps": a.max_steps,
            "num_processes": a.world_size,
            "use_vllm": bool(getattr(a, "use_vllm", False)),
            "seed": a.seed,
        }

    def steerable(self) -> dict[str, Any]:
        """The settings a command can change now, with their current values."""
        out: dict[str, Any] = {"learning_rate": self.values["learning_rate"]}
        if self.started_beta > 0:
            out["beta"] = self.values["beta"]
        out["epsilon"] = self.values["epsilon_low"]
        out["epsilon_high"] = self.values["epsilon_high"]
        out["scale_rewards"] = self.values["scale_rewards"]
        out["reward_weights"] = [float(w) for w in self.trainer.reward_weights.tolist()]
        return out

    def _start_record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {"event": "start", "step": int(self.trainer.state.global_step),
                               "rollout": 0, "config": self.settings()}
        if self.control:
            rec["control"] = {"file": steering.control_path(self.path).name,
                              "settings": self.steerable()}
        if self.groups_reason:
            rec["note"] = self.groups_reason
        return rec

    def _rollout(self, step: int) -> int:
        return 0 if step <= 0 else (step - 1) // self.per_round + 1

    def _write(self, steps: list[dict] = (), events: list[dict] = ()) -> None:
        if self.writer is None or self.failed_write:
            return
        try:
            self.writer.write(steps, events)
        except (OSError, ValueError) as e:
            # A full disk must not stop a long training run: say so once and stop writing.
            self.failed_write = True
            logger.warning("grpotui: cannot write the metrics file %s (%s); training goes on without "
                           "it.", self.path, e)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    # ------------------------------------------------------------------ groups
    def _wrap(self, index: int, func: Callable) -> Callable:
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def wrapped_async(*args: Any, **kwargs: Any) -> Any:
                out = await func(*args, **kwargs)
                self._record(index, kwargs, out)
                return out
            return wrapped_async

        @functools.wraps(func)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            out = func(*args, **kwargs)
            self._record(index, kwargs, out)
            return out
        return wrapped

    def _record(self, index: int, kwargs: dict, out: Any) -> None:
        """Keep one reward function's results; when every function of this generation batch has
        reported, build the groups record (on every process: gathering is collective)."""
        if index in self._round:     # a batch that never completed (a reward function raised): drop it
            self._round = {}
        self._round[index] = list(out) if isinstance(out, (list, tuple)) else []
        if index == 0 or self._round_inputs is None:
            self._round_inputs = (list(kwargs.get("prompts") or []),
                                  list(kwargs.get("completions") or []), kwargs)
        if len(self._round) < len(self.trainer.reward_funcs):
            return
        columns = [self._round[i] for i in range(len(self.trainer.reward_funcs))]
        prompts, completions, kw = self._round_inputs
        self._round, self._round_inputs = {}, None
        if not self.trainer.model.training:    # evaluation batches are not training groups
            return
        state = kw.get("trainer_state")
        step = int(state.global_step if state is not None else self.trainer.state.global_step) + 1
        targets = kw.get("target")
        rows = [(_as_text(p), _as_text(c), [_reward(col, j) for col in columns],
                 _as_text(targets[j]) if isinstance(targets, list) and j < len(targets) else None)
                for j, (p, c) in enumerate(zip(prompts, completions))]
        if self.trainer.args.world_size > 1:
            from accelerate.utils import gather_object
            rows = gather_object(rows)
        if self.writer is not None:
            self._write(events=[self._groups_record(step, rows)])

    def _groups_record(self, step: int, rows: list[tuple]) -> dict[str, Any]:
        t = self.trainer
        g = t.num_generations
        rpf = torch.tensor([r[2] for r in rows], dtype=torch.float32).view(len(rows), len(self.names))
        reward, adv = trl_advantages(rpf, t.reward_weights.detach().cpu(), g, t.scale_rewards,
                                     getattr(t, "multi_objective_aggregation", "sum_then_normalize"))
        b = len(rows) // g

        def grid(flat: list) -> list[list]:
            return [flat[i * g:(i + 1) * g] for i in range(b)]

        groups: dict[str, Any] = {
            "prompts": [rows[i * g][0] for i in range(b)],
            "responses": grid([r[1] for r in rows]),
            "rewards": grid(reward.tolist()),
            "deltas": grid(adv.tolist()),
            "components": {name: grid(rpf[:, k].tolist()) for k, name in enumerate(self.names)},
            "reward_weights": [float(w) for w in t.reward_weights.tolist()],
        }
        if all(r[3] is not None for r in rows):
            groups["targets"] = [rows[i * g][3] for i in range(b)]
        return {"event": "groups", "step": step, "rollout": self._rollout(step),
                "groups": steering.json_safe(groups)}

    # ------------------------------------------------------------------ callback hooks
    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.monotonic()

    def on_step_begin(self, args, state, control, optimizer=None, lr_scheduler=None, **kwargs):
        if not self.control:
            return
        commands = steering.broadcast(self.reader.poll() if self.reader is not None else None)
        if not commands:
            return
        step = int(state.global_step) + 1
        events: list[dict] = []
        for cmd in commands:
            events += self.apply(cmd, step, optimizer, lr_scheduler)
        self._write(events=events)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or self.writer is None:
            return
        if "train_runtime" in logs:          # the Trainer's summary at the end, not a step
            self.summary = {k: v for k, v in logs.items() if _number(v) is not None}
            return
        step = int(state.global_step)
        rec: dict[str, Any] = {"step": step, "rollout": self._rollout(step)}
        for k, v in logs.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) or v is None:
                rec[k] = v
        if isinstance(logs.get("learning_rate"), (int, float)):
            rec["lr"] = logs["learning_rate"]
        if isinstance(logs.get("step_time"), (int, float)) and logs["step_time"] > 0:
            rec["steps_per_second"] = 1.0 / logs["step_time"]
        if "rewards/exact_match_reward/mean" in logs and exact_match_reward in self._originals():
            rec["exact_match"] = logs["rewards/exact_match_reward/mean"]
        rec["group_size"] = self.trainer.num_generations
        rec["time"] = time.monotonic() - self.started
        self._write(steps=[rec])

    def on_train_end(self, args, state, control, **kwargs):
        step = int(state.global_step)
        reason = "training finished" if step >= state.max_steps else "training stopped"
        self._write(events=[{"event": "stop", "step": step, "rollout": self._rollout(step),
                             "reason": f"{reason} at step {step} of {state.max_steps}",
                             "summary": {k: float(v) for k, v in self.summary.items()
                                         if k != "total_flos"}}])

    def _originals(self) -> list[Callable]:
        return [getattr(f, "__wrapped__", f) for f in self.trainer.reward_funcs]

    # ------------------------------------------------------------------ steering
    def apply(self, cmd: dict, step: int, optimizer: Any = None, lr_scheduler: Any = None
              ) -> list[dict]:
        """Apply one command on this process; returns its set/refused events (the same on every
        process, since every process gets the same commands and settings)."""
        rollout = self._rollout(step)
        cid = cmd.get("id")
        if cmd.get("cmd") != "set":
            return [steering.refused_event(step, rollout, None, None, cmd.get("message")
                                           or "not a set command", cid)]
        events = []
        for raw_key, value in cmd["changes"].items():
            key = ALIASES.get(str(raw_key), str(raw_key))
            try:
                events += self._apply_one(key, value, step, rollout, cid, optimizer, lr_scheduler)
            except ConfigError as e:
                events.append(steering.refused_event(step, rollout, raw_key, value, str(e), cid))
        return events

    def _checked(self, key: str, value: Any) -> float:
        lo, hi = BOUNDS[key]
        x = _number(value)
        if x is None or not lo <= x <= hi:
            raise ConfigError(f"{key} {value!r}: allowed: a number from {_fmt(lo)} to {_fmt(hi)}.")
        return x

    def _apply_one(self, key: str, value: Any, step: int, rollout: int, cid: Any,
                   optimizer: Any, lr_scheduler: Any) -> list[dict]:
        t = self.trainer

        def ev(k: str, old: Any, new: Any) -> dict:
            return steering.set_event(step, rollout, k, old, new, cid)

        if key == "learning_rate":
            new = self._checked(key, value)
            optimizer = optimizer if optimizer is not None else t.optimizer
            sched = lr_scheduler if lr_scheduler is not None else t.lr_scheduler
            sched = sched if hasattr(sched, "base_lrs") else getattr(sched, "scheduler", None)
            if optimizer is None or sched is None or not hasattr(sched, "base_lrs"):
                raise ConfigError(f"learning_rate: this run's learning-rate scheduler "
                                  f"({type(sched).__name__}) keeps no base learning rates to change; "
                                  f"grpotui can steer torch's schedulers (the Trainer's default).")
            old = self.values["learning_rate"]
            # Scale the schedule: its base rates (so the change lasts), the optimizer's current rates
            # (so it applies to this step) and the scheduler's record of them (the logged rate).
            last = getattr(sched, "_last_lr", None)
            for i, group in enumerate(optimizer.param_groups):
                if old > 0:
                    ratio = new / old
                    group["lr"] = group["lr"] * ratio
                    sched.base_lrs[i] = sched.base_lrs[i] * ratio
                    if last is not None and i < len(last):
                        last[i] = last[i] * ratio
                else:
                    group["lr"] = sched.base_lrs[i] = new
                    if last is not None and i < len(last):
                        last[i] = new
            self.values["learning_rate"] = new
            return [ev("learning_rate", old, new)]
        if key == "beta":
            if self.started_beta <= 0:
                raise ConfigError("beta: the run started with beta = 0, so GRPOTrainer loaded no "
                                  "reference model and computes no KL; start the run with beta > 0 to "
                                  "steer it.")
            new = self._checked(key, value)
            old, t.beta = self.values["beta"], new
            self.values["beta"] = new
            return [ev("beta", old, new)]
        if key in ("epsilon", "epsilon_low", "epsilon_high"):
            # GRPOConfig's meaning: epsilon is the lower clip bound, and the upper one too when the
            # run did not set epsilon_high. Events use GRPOConfig's names (epsilon, epsilon_high).
            new = self._checked(key, value)
            if key == "epsilon_high":
                targets = ["epsilon_high"]
            elif key == "epsilon" and t.args.epsilon_high is None:
                targets = ["epsilon_low", "epsilon_high"]
            else:
                targets = ["epsilon_low"]
            out = []
            for k in targets:
                old = self.values[k]
                setattr(t, k, new)
                self.values[k] = new
                out.append(ev("epsilon" if k == "epsilon_low" else k, old, new))
            return out
        if key == "scale_rewards":
            new = {True: "group", False: "none"}.get(value, value)
            if new not in SCALE_REWARDS:
                raise ConfigError(f"scale_rewards {value!r}: allowed: group, batch, none.")
            old, t.scale_rewards = self.values["scale_rewards"], new
            self.values["scale_rewards"] = new
            return [ev("scale_rewards", old, new)]
        if key == "reward_weights" or key.startswith("reward_weights/"):
            old = [float(w) for w in t.reward_weights.tolist()]
            self._set_weights(key, value)
            return [ev("reward_weights", old, [float(w) for w in t.reward_weights.tolist()])]
        if key in FIXED:
            raise ConfigError(f"{key}: {FIXED[key]}; it cannot change mid-run.")
        steerable = ", ".join(["learning_rate", "beta", "epsilon", "epsilon_high", "scale_rewards",
                               "reward_weights"])
        raise ConfigError(f"'{key}' is not a setting grpotui can change in a TRL run; "
                          f"steerable: {steerable}.")

    def _set_weights(self, key: str, value: Any) -> None:
        """Change some or all reward weights in place (TRL reads them at every generation), all
        checked before any changes."""
        weights = self.trainer.reward_weights
        names = self.names
        if key.startswith("reward_weights/"):
            mapping = {key.split("/", 1)[1]: value}
        elif isinstance(value, dict):
            mapping = value
        elif isinstance(value, (list, tuple)):
            if len(value) != len(names):
                raise ConfigError(f"reward_weights: {len(value)} weights for {len(names)} "
                                  f"reward functions ({', '.join(names)}); give one per function.")
            mapping = dict(zip(names, value))
        else:
            raise ConfigError(f"reward_weights {value!r}: allowed: a list of {len(names)} "
                              f"numbers, or a mapping of reward function names to numbers.")
        new_values = {}
        for name, v in mapping.items():
            if name not in names:
                raise ConfigError(f"reward weight for '{name}': this run's reward functions "
                                  f"are {', '.join(names)}.")
            x = _number(v)
            if x is None:
                raise ConfigError(f"reward weight for '{name}': {v!r} is not a finite number.")
            new_values[names.index(name)] = x
        for i, x in new_values.items():
            weights[i] = x
