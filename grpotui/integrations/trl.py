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
- a `system` record every few seconds and one at the end: this process's CPU share, resident
  memory and, on a GPU, its utilisation and memory (grpotui/sysmetrics.py; `system/*` keys);
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
metrics file, with the step it took effect at. Every line of the command file is checked completely
(grpotui/steering.py: parse_command, BOUNDS) and every change of a command against this run before
any of it applies; a refused change changes nothing.

grpotui never stops the training it watches: each callback hook, the recording half of the reward
function wrapper, the writer and the command reader are guarded. A failure in one of grpotui's own
parts is reported once (an `error` event with "part" and "fatal": false while the metrics file can
be written, and one warning on the "grpotui" logger) and that part stops; the reward functions' own
exceptions and results reach TRL exactly as without grpotui.
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
from grpotui.sysmetrics import SystemRecords

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
# The steerable settings' bounds: one table, in grpotui/steering.py (the command file's checks).
ALIASES = steering.ALIASES
BOUNDS = steering.BOUNDS
SCALE_REWARDS = steering.SCALE_REWARDS
STEERABLE = ("learning_rate", "beta", "epsilon", "epsilon_high", "scale_rewards", "reward_weights")

# grpotui's own parts of a run, each guarded: a failure in one is reported once and that part stops
# (step records: that record is lost, later ones are still written); training goes on.
PARTS = {"start": "writing the start record", "steps": "writing a step record",
         "groups": "recording the groups of completions", "reading": "reading the command file",
         "steering": "applying a command", "stop": "writing the stop record",
         "system": "sampling system metrics"}


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


def _text(x: Any) -> str:
    """_as_text that never raises (the recording of a batch must reach its gather on every
    process)."""
    try:
        return _as_text(x)
    except Exception:                       # noqa: BLE001 - an odd prompt or completion
        try:
            return str(x)
        except Exception:                   # noqa: BLE001
            return f"<{type(x).__name__}>"


def _list(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple)) else []


def _number(value: Any) -> float | None:
    """A finite float from a number or numeric text; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int):
        return float(value) if abs(value) <= 1e300 else None
    if isinstance(value, float) and math.isfinite(value):
        return value
    return None


def _reward(column: list, j: int) -> float:
    """Row j of a reward function's result as TRL reads it (None -> NaN); NaN where it is missing
    (TRL raises for a result of the wrong length right after, on that process)."""
    try:
        r = column[j]
        return math.nan if r is None else float(r)
    except (IndexError, TypeError, ValueError):
        return math.nan


def _cut(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


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
        self.failures: dict[str, str] = {}      # part (PARTS) -> what went wrong, once each
        self._step = int(trainer.state.global_step)
        # system/* records (CPU, memory, GPU of this process) every few seconds and at the end
        self.system: SystemRecords | None = None
        if self.main:
            try:
                self.system = SystemRecords()
            except Exception as e:              # noqa: BLE001
                self._failed("system", e)
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
        try:
            start = self._start_record()
        except Exception as e:                  # noqa: BLE001
            self._failed("start", e)
        else:
            self._write(events=[start])

    # ------------------------------------------------------------------ records
    def _model_name(self) -> str:
        model = self.trainer.model
        accelerator = getattr(self.trainer, "accelerator", None)
        if accelerator is not None:
            model = accelerator.unwrap_model(model)
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
        except Exception as e:                  # noqa: BLE001
            # A full disk must not stop a long training run: say so once and stop writing.
            self.failed_write = True
            logger.warning("grpotui: cannot write the metrics file %s (%s: %s); training goes on "
                           "without it.", self.path, type(e).__name__, _cut(str(e)))

    def _failed(self, part: str, e: BaseException, step: int | None = None) -> None:
        """grpotui's own `part` failed: say so once, on stderr (the "grpotui" logger) and as an
        `error` event while the metrics file can be written; the caller stops that part. Training
        goes on."""
        if part in self.failures:
            return
        self.failures[part] = f"{type(e).__name__}: {_cut(str(e))}"
        message = (f"grpotui stopped {PARTS.get(part, part)} after an internal error "
                   f"({self.failures[part]}); training goes on without it")
        logger.warning("%s.", message)
        step = self._step if step is None else step
        self._write(events=[{"event": "error", "step": step, "rollout": self._rollout(step),
                             "part": part, "message": message, "fatal": False}])

    def close(self) -> None:
        if self.writer is not None:
            try:
                self.writer.close()
            except Exception as e:              # noqa: BLE001
                logger.warning("grpotui: cannot close the metrics file %s (%s).", self.path, e)

    # ------------------------------------------------------------------ groups
    def _wrap(self, index: int, func: Callable) -> Callable:
        """The reward function, same call and same result; its result is recorded on the way out.
        The function's own exceptions propagate as they are (TRL's to handle); the recording never
        raises."""
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
        reported, build the groups record. Never raises. In a multi-process run the rows are
        gathered (a collective) for every completed training batch on every process, even after the
        groups part failed on one of them, so no process waits for another."""
        multi = self.trainer.args.world_size > 1
        if "groups" in self.failures and not multi:
            return
        try:
            ready = self._collect(index, kwargs, out)
        except Exception as e:                  # noqa: BLE001
            self._failed("groups", e)
            return
        if ready is None:
            return
        step, rows = ready
        try:
            if multi:
                from accelerate.utils import gather_object
                rows = gather_object(rows)
            if self.writer is not None and "groups" not in self.failures:
                self._write(events=[self._groups_record(step, rows)])
        except Exception as e:                  # noqa: BLE001
            self._failed("groups", e)

    def _collect(self, index: int, kwargs: dict, out: Any) -> tuple[int, list[tuple]] | None:
        """(step, this process's rows) when `out` completes a training batch, else None. Whether a
        batch is complete depends only on which functions reported (the same on every process);
        the rows are built so that nothing in them raises."""
        if index in self._round:     # a batch that never completed (a reward function raised): drop it
            self._round = {}
        self._round[index] = _list(out)
        if index == 0 or self._round_inputs is None:
            self._round_inputs = (kwargs.get("prompts"), kwargs.get("completions"), kwargs)
        if len(self._round) < len(self.trainer.reward_funcs):
            return None
        columns = [self._round.get(i, []) for i in range(len(self.trainer.reward_funcs))]
        prompts, completions, kw = self._round_inputs
        self._round, self._round_inputs = {}, None
        if not self.trainer.model.training:    # evaluation batches are not training groups
            return None
        step = self._step
        rows: list[tuple] = []
        if "groups" not in self.failures:
            try:
                state = kw.get("trainer_state")
                step = int(state.global_step if state is not None
                           else self.trainer.state.global_step) + 1
                targets = kw.get("target")
                rows = [(_text(p), _text(c), [_reward(col, j) for col in columns],
                         _text(targets[j]) if isinstance(targets, list) and j < len(targets)
                         else None)
                        for j, (p, c) in enumerate(zip(_list(prompts), _list(completions)))]
            except Exception as e:              # noqa: BLE001
                self._failed("groups", e)
                rows = []
        return step, rows

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
    # Every hook is guarded: grpotui's own failures are reported once (_failed) and never reach the
    # trainer.
    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.monotonic()

    def on_step_begin(self, args, state, control, optimizer=None, lr_scheduler=None, **kwargs):
        if not self.control:
            return
        step = self._step = int(state.global_step) + 1
        # The main process's reading never raises, so every process reaches the broadcast (a
        # collective) at every step while steering is on; a failed command is refused on every
        # process alike (the same commands, the same settings), so they never diverge.
        commands = self._read()
        try:
            commands = steering.broadcast(commands)
        except Exception as e:                  # noqa: BLE001 - a broken process group
            self._failed("reading", e, step)
            self.control = False
            return
        if not commands:
            return
        events: list[dict] = []
        for cmd in commands:
            events += self._apply_guarded(cmd, step, optimizer, lr_scheduler)
        self._write(events=events)

    def _read(self) -> list[dict] | None:
        if self.reader is None:
            return None
        try:
            return self.reader.poll()
        except Exception as e:                  # noqa: BLE001 - poll itself catches; this is a bug
            self._failed("reading", e)
            self.reader = None
            return None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or self.writer is None:
            return
        try:
            self._step = int(state.global_step)
            if "train_runtime" in logs:          # the Trainer's summary at the end, not a step
                self.summary = {k: v for k, v in logs.items() if _number(v) is not None}
                return
            rec = self._step_record(int(state.global_step), logs)
        except Exception as e:                  # noqa: BLE001
            self._failed("steps", e)
            return
        self._write(steps=[rec])

    def _step_record(self, step: int, logs: dict) -> dict[str, Any]:
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
        return rec

    def on_step_end(self, args, state, control, **kwargs):
        if self.system is not None:
            self._system(state, when_due=True)

    def _system(self, state, when_due: bool = False) -> None:
        """A system record (see grpotui/sysmetrics.py) now, or only when one is due; guarded: a
        failure stops the sampling."""
        step = None
        try:
            if when_due and not self.system.due():
                return
            step = int(state.global_step)
            sample = self.system.sampler.read()
            rec = self.system.record(step, self._rollout(step), time.monotonic() - self.started,
                                     sample=sample)
        except Exception as e:                  # noqa: BLE001
            self.system = None
            self._failed("system", e, step)
            return
        if rec is not None:
            self._write(events=[rec])

    def on_train_end(self, args, state, control, **kwargs):
        if self.system is not None:             # the last stretch's figures, before the stop
            self._system(state)
        try:
            step = self._step = int(state.global_step)
            reason = "training finished" if step >= state.max_steps else "training stopped"
            rec = {"event": "stop", "step": step, "rollout": self._rollout(step),
                   "reason": f"{reason} at step {step} of {state.max_steps}",
                   "summary": {k: float(v) for k, v in self.summary.items() if k != "total_flos"}}
        except Exception as e:                  # noqa: BLE001
            self._failed("stop", e)
            return
        self._write(events=[rec])

    def _originals(self) -> list[Callable]:
        return [getattr(f, "__wrapped__", f) for f in self.trainer.reward_funcs]

    # ------------------------------------------------------------------ steering
    def _apply_guarded(self, cmd: dict, step: int, optimizer: Any, lr_scheduler: Any
                       ) -> list[dict]:
        """apply, guarded: after an internal error steering stops (every later command is refused
        with the reason) and training goes on."""
        cid = cmd.get("id") if isinstance(cmd, dict) else None
        if "steering" in self.failures:
            return [steering.refused_event(
                step, self._rollout(step), None, None,
                f"steering stopped after an internal error ({self.failures['steering']}); this run "
                f"takes no more commands.", cid)]
        try:
            return self.apply(cmd, step, optimizer, lr_scheduler)
        except Exception as e:                  # noqa: BLE001
            self._failed("steering", e, step)
            return [steering.refused_event(
                step, self._rollout(step), None, None,
                f"grpotui failed applying this command ({self.failures['steering']}); steering "
                f"stopped, training goes on.", cid)]

    def apply(self, cmd: dict, step: int, optimizer: Any = None, lr_scheduler: Any = None
              ) -> list[dict]:
        """Apply one command (as parse_command returns it) on this process; returns its set/refused
        events (the same on every process, since every process gets the same commands and settings).

        Every change is checked first, against steering.BOUNDS and this run (its reward functions,
        its beta, its scheduler, what TRL fixes at construction); then the ones that passed apply, in
        the command's order, each one whole. A refused change changes nothing."""
        rollout = self._rollout(step)
        cid = cmd.get("id")
        if cmd.get("cmd") != "set":
            return [steering.refused_event(step, rollout, None, None, cmd.get("message")
                                           or "not a set command", cid)]
        changes = cmd.get("changes")
        if not isinstance(changes, dict) or not changes:
            return [steering.refused_event(step, rollout, None, None, "a set command needs a "
                                           "non-empty mapping of changes.", cid)]
        refused = dict(cmd.get("refused") or {})
        checked: dict[str, Any] = {}
        for raw_key, value in changes.items():
            if raw_key in refused:
                continue
            key = steering.canonical(str(raw_key))
            try:
                checked[raw_key] = self._check(key, steering.check_value(key, value), optimizer,
                                               lr_scheduler)
            except (ConfigError, steering.CommandError) as e:
                refused[raw_key] = str(e)
        events: list[dict] = []
        for raw_key, value in changes.items():
            if raw_key in refused:
                events.append(steering.refused_event(step, rollout, raw_key, value, refused[raw_key],
                                                     cid))
            else:
                events += self._apply_one(steering.canonical(str(raw_key)), checked[raw_key], step,
                                          rollout, cid, optimizer, lr_scheduler)
        return events

    def _scheduler(self, optimizer: Any, lr_scheduler: Any) -> tuple[Any, Any]:
        t = self.trainer
        optimizer = optimizer if optimizer is not None else t.optimizer
        sched = lr_scheduler if lr_scheduler is not None else t.lr_scheduler
        sched = sched if hasattr(sched, "base_lrs") else getattr(sched, "scheduler", None)
        if optimizer is None or sched is None or not hasattr(sched, "base_lrs"):
            raise ConfigError(f"learning_rate: this run's learning-rate scheduler "
                              f"({type(sched).__name__}) keeps no base learning rates to change; "
                              f"grpotui can steer torch's schedulers (the Trainer's default).")
        return optimizer, sched

    def _check(self, key: str, value: Any, optimizer: Any, lr_scheduler: Any) -> Any:
        """What this run allows of a change whose value steering.check_value passed; returns the
        value to apply (reward weights as {index: weight}). Changes nothing."""
        if key == "learning_rate":
            self._scheduler(optimizer, lr_scheduler)
            return value
        if key == "beta":
            if self.started_beta <= 0:
                raise ConfigError("beta: the run started with beta = 0, so GRPOTrainer loaded no "
                                  "reference model and computes no KL; start the run with beta > 0 to "
                                  "steer it.")
            return value
        if key in ("epsilon", "epsilon_low", "epsilon_high", "scale_rewards"):
            return value
        if key == "reward_weights" or key.startswith("reward_weights/"):
            return self._weights(key, value)
        if key in FIXED:
            raise ConfigError(f"{key}: {FIXED[key]}; it cannot change mid-run.")
        raise ConfigError(f"{steering.quote(key)} is not a setting grpotui can change in a TRL run; "
                          f"steerable: {', '.join(STEERABLE)}.")

    def _apply_one(self, key: str, value: Any, step: int, rollout: int, cid: Any,
                   optimizer: Any, lr_scheduler: Any) -> list[dict]:
        """Apply one change that _check passed (value as it returned it)."""
        t = self.trainer

        def ev(k: str, old: Any, new: Any) -> dict:
            return steering.set_event(step, rollout, k, old, new, cid)

        if key == "learning_rate":
            new = float(value)
            optimizer, sched = self._scheduler(optimizer, lr_scheduler)
            old = self.values["learning_rate"]
            # Scale the schedule: its base rates (so the change lasts), the optimizer's current rates
            # (so it applies to this step) and the scheduler's record of them (the logged rate).
            # From 0, or where scaling overflows or underflows (rates near the ends of float's
            # range), the rates are set instead.
            ratio = new / old if old > 0 else math.inf
            last = getattr(sched, "_last_lr", None)
            for i, group in enumerate(optimizer.param_groups):
                scaled = (group["lr"] * ratio, sched.base_lrs[i] * ratio)
                if (math.isfinite(ratio) and all(math.isfinite(x) for x in scaled)
                        and (scaled[1] > 0 or new == 0)):
                    group["lr"], sched.base_lrs[i] = scaled
                    if last is not None and i < len(last):
                        last[i] = last[i] * ratio
                else:
                    group["lr"] = sched.base_lrs[i] = new
                    if last is not None and i < len(last):
                        last[i] = new
            self.values["learning_rate"] = new
            return [ev("learning_rate", old, new)]
        if key == "beta":
            old, t.beta = self.values["beta"], value
            self.values["beta"] = value
            return [ev("beta", old, value)]
        if key in ("epsilon", "epsilon_low", "epsilon_high"):
            # GRPOConfig's meaning: epsilon is the lower clip bound, and the upper one too when the
            # run did not set epsilon_high. Events use GRPOConfig's names (epsilon, epsilon_high).
            if key == "epsilon_high":
                targets = ["epsilon_high"]
            elif key == "epsilon" and t.args.epsilon_high is None:
                targets = ["epsilon_low", "epsilon_high"]
            else:
                targets = ["epsilon_low"]
            out = []
            for k in targets:
                old = self.values[k]
                setattr(t, k, value)
                self.values[k] = value
                out.append(ev("epsilon" if k == "epsilon_low" else k, old, value))
            return out
        if key == "scale_rewards":
            old, t.scale_rewards = self.values["scale_rewards"], value
            self.values["scale_rewards"] = value
            return [ev("scale_rewards", old, value)]
        # reward weights, in place (TRL reads them at every generation)
        old = [float(w) for w in t.reward_weights.tolist()]
        for i, w in value.items():
            t.reward_weights[i] = w
        return [ev("reward_weights", old, [float(w) for w in t.reward_weights.tolist()])]

    def _weights(self, key: str, value: Any) -> dict[int, float]:
        """{index: weight} for a reward_weights change (value as steering.check_value returned it:
        floats in bounds), checked against this run's reward functions."""
        names = self.names
        if key.startswith("reward_weights/"):
            mapping = {key.split("/", 1)[1]: value}
        elif isinstance(value, dict):
            mapping = value
        else:
            if len(value) != len(names):
                raise ConfigError(f"reward_weights: {len(value)} weights for {len(names)} "
                                  f"reward functions ({_cut(', '.join(names), 120)}); give one per "
                                  f"function.")
            return dict(enumerate(value))
        out = {}
        for name, w in mapping.items():
            if name not in names:
                raise ConfigError(f"reward weight for {steering.quote(name)}: this run's reward "
                                  f"functions are {_cut(', '.join(names), 120)}.")
            out[names.index(name)] = w
        return out
