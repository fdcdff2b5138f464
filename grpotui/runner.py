"""Headless training: `grpotui run`. The same Trainer and metrics file as the dashboard."""

from __future__ import annotations

import math
import signal
import time
from dataclasses import dataclass

from grpotui.config import TrainConfig
from grpotui.metrics import MetricsWriter


@dataclass
class StopRules:
    steps: int | None = None
    rollouts: int | None = None
    max_seconds: float | None = None
    target_heldout: float | None = None


@dataclass
class RunSummary:
    steps: int
    rollouts: int
    seconds: float
    reward: float
    max_reward: float
    heldout_exact_match: float
    stopped: str
    diverged: str | None = None
    failed: str | None = None  # an exception inside training (a reward function, out of memory)

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        reward = (f"final reward {self.reward:.3f} of {self.max_reward:g}" if self.rollouts
                  else "no rollout completed")
        rollouts = f"{self.rollouts} rollout{'' if self.rollouts == 1 else 's'}"
        steps = f"{self.steps} step{'' if self.steps == 1 else 's'}"
        # the held-out figure is a fresh evaluation of the final policy, so it may differ from the
        # progress bar's, which is the last periodic evaluation (every eval_every rollouts)
        return (f"{self.stopped}: {steps} ({rollouts}) in "
                f"{self.seconds:.1f} s, {self.steps_per_second:.0f} steps/s; {reward}; "
                f"held-out exact match {self.heldout_exact_match:.3f} (final policy)")


class _StopFlag:
    """Turns SIGINT/SIGTERM into a flag checked between rollouts, so records are never cut short."""

    def __init__(self) -> None:
        self.signal: str | None = None
        self._old: dict[int, object] = {}

    def __enter__(self) -> _StopFlag:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum, frame) -> None:
        self.signal = signal.Signals(signum).name

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def run_headless(config: TrainConfig, rules: StopRules, *, preset_name: str = "",
                 metrics_path: str | None = None, quiet: bool = False,
                 metrics_groups: bool = False) -> RunSummary:
    from grpotui.engine.rewards import mix_max_reward
    from grpotui.engine.trainer import Trainer, describe_failure

    if rules.steps is None and rules.rollouts is None and rules.max_seconds is None \
            and rules.target_heldout is None:
        rules.rollouts = config.rollouts
    from grpotui.sysmetrics import SystemRecords
    from grpotui.worker import GroupsRecords

    writer = MetricsWriter(metrics_path) if metrics_path else None
    system_records = SystemRecords() if writer else None   # system/* records every few seconds
    trainer = Trainer(config, final_ratios=False)
    groups_records = GroupsRecords() if metrics_groups and writer else None
    last_groups = None   # groups of the latest rollout when they were not written
    if writer:
        writer.write(events=[{"event": "start", "step": 0, "rollout": 0, "preset": preset_name,
                              "config": config.to_dict()}])

    progress = None
    if not quiet:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                            TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                            transient=False)
    total, unit = _progress_total(rules, config)
    last = {"reward": math.nan}
    stopped, diverged, failed = "", None, None
    done_steps = 0  # steps of complete rollouts: what the metrics file holds
    t0 = time.perf_counter()
    with _StopFlag() as flag:
        if progress:
            progress.start()
            task = progress.add_task(preset_name or "grpotui", total=total, status="")
        try:
            while True:
                remaining = None if rules.steps is None else rules.steps - trainer.step
                try:
                    # groups records show the ratios after the update: one more forward pass, paid
                    # only by the rollouts whose groups are written (a few a second)
                    result = trainer.rollout(max_steps=remaining, final_ratios=(
                        True if groups_records and groups_records.due() else None))
                except Exception as e:  # a reward function that raised, out of memory, ...
                    stopped = "failed"
                    failed = (f"training failed in rollout {trainer.rollout_index + 1}, after step "
                              f"{done_steps}: {describe_failure(e)}")
                    break
                done_steps = trainer.step
                if writer:
                    writer.write(result.metrics, result.events)
                    if groups_records:
                        wrote = groups_records.maybe_write(writer, trainer, result.groups)
                        last_groups = None if wrote else result.groups
                    system_records.maybe_write(writer, trainer.step, trainer.rollout_index,
                                               trainer.train_seconds)
                if result.metrics:
                    last = result.metrics[-1]
                if result.diverged:
                    stopped, diverged = "diverged", result.diverged
                    break
                elapsed = time.perf_counter() - t0
                if progress:
                    done = {"rollouts": trainer.rollout_index, "steps": trainer.step,
                            "seconds": elapsed}.get(unit, trainer.rollout_index)
                    progress.update(task, completed=done, status=(
                        f"rollout {trainer.rollout_index}  step {trainer.step}  reward "
                        f"{last['reward']:.2f}  held-out {trainer.heldout_exact_match:.3f}"))
                stopped = _reached(rules, trainer, elapsed)
                if flag.signal and not stopped:
                    stopped = f"stopped by {flag.signal}"
                if stopped:
                    break
        finally:
            if progress:
                progress.stop()
    seconds = time.perf_counter() - t0
    heldout = trainer.heldout_exact_match if failed else trainer.evaluate()
    if writer:
        if groups_records and last_groups is not None:   # the run's final groups, always
            groups_records.maybe_write(writer, trainer, last_groups, force=True)
        if failed:
            writer.write(events=[{"event": "error", "step": done_steps,
                                  "rollout": trainer.rollout_index, "message": failed}])
        writer.write(events=[{"event": "stop", "step": trainer.step, "rollout": trainer.rollout_index,
                              "reason": stopped, "heldout_exact_match": heldout}])
        writer.close()
    return RunSummary(steps=done_steps, rollouts=trainer.rollout_index, seconds=seconds,
                      reward=last["reward"], max_reward=mix_max_reward(config.reward, config.n),
                      heldout_exact_match=heldout, stopped=stopped, diverged=diverged,
                      failed=failed)


def _progress_total(rules: StopRules, config: TrainConfig) -> tuple[float | None, str]:
    if rules.rollouts is not None:
        return rules.rollouts, "rollouts"
    if rules.steps is not None:
        return rules.steps, "steps"
    if rules.max_seconds is not None:
        return rules.max_seconds, "seconds"
    return None, "rollouts"


def _reached(rules: StopRules, trainer, elapsed: float) -> str:
    if rules.target_heldout is not None and trainer.heldout_exact_match >= rules.target_heldout:
        return f"reached held-out exact match {trainer.heldout_exact_match:.3f}"
    if rules.steps is not None and trainer.step >= rules.steps:
        return "reached steps"
    if rules.rollouts is not None and trainer.rollout_index >= rules.rollouts:
        return "reached rollouts"
    if rules.max_seconds is not None and elapsed >= rules.max_seconds:
        return "reached max seconds"
    return ""
