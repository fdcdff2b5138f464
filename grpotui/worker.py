"""Runs a Trainer in its own process, away from the UI's GIL: commands in, snapshots out.

The dashboard talks to it through `TrainingWorker` (in the UI process):

    worker = TrainingWorker(config, paused=False, metrics_path=None)
    worker.start()
    worker.send("set", changes={"group_size": 4})
    snapshot = worker.get(timeout=0.1)   # a dict, or None
    worker.stop()                        # ends the process within a second, always

Commands: pause, resume, step (one rollout while paused), set (changes), reset (config), speed
(rollouts per second, 0 = full speed), policy (send a copy of the policy's weights), quit.

Snapshots are small dicts sent at most `SNAPSHOT_HZ` times a second however fast training runs:
    status      "starting" | "running" | "paused" | "done" | "diverged" | "crashed"
    rollout, step, steps_per_second, train_seconds, heldout_exact_match, speed
    config      the live settings (a dict)
    points      curve points since the last snapshot: {"step", "reward", "loss", ...}
    groups      the latest rollout's groups as lists (prompts, targets, responses, rewards, ...),
                at most GROUPS_HZ times a second (None in between)
    events      events since the last snapshot ("set", "reset", "diverged", "done", "error", ...)
    error       a message when the trainer raised; the dashboard offers a reset
    policy      after a `policy` command: {"config", "state" (torch.save bytes), "rollout", "step"}
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import sys
import time
from typing import Any

SNAPSHOT_HZ = 20
GROUPS_HZ = 5      # groups travel (and are shown) at most this often: the biggest panel; more is a blur
METRICS_GROUPS_HZ = 2  # groups records written to a metrics file (--metrics-groups), at most
CURVE_KEYS = ("reward", "loss", "heldout_exact_match", "exact_match", "kl", "clip_ratio/region_mean",
              "entropy", "grad_norm", "lr")
# a variable-length run's points carry its lengths too (the curves panel's length view), and after a
# held-out evaluation its exact match and truncation per prompt length (heldout_exact_match/M, ...)
LENGTH_KEYS = ("completions/mean_length", "completions/clipped_ratio",
               "completions/mean_length_correct", "completions/mean_length_incorrect",
               "completions/excess_length_incorrect")
BY_LENGTH_PREFIXES = ("heldout_exact_match/", "heldout_truncated/")
MAX_PLOT_TOKENS = 400  # (ratio, delta) pairs sent for the clip plot


class TrainingWorker:
    """The UI side of the training process: a source of snapshots (grpotui.sources)."""

    read_only = False

    def __init__(self, config, *, paused: bool = False, metrics_path: str | None = None,
                 preset_name: str = "", metrics_groups: bool = False):
        ctx = mp.get_context("spawn")
        with _real_stderr():
            self.commands: mp.Queue = ctx.Queue()
            self.snapshots: mp.Queue = ctx.Queue(maxsize=64)
        self.process = ctx.Process(
            target=worker_main, name="grpotui-trainer", daemon=True,
            args=(config.to_dict(), paused, str(metrics_path) if metrics_path else None,
                  preset_name, self.commands, self.snapshots, metrics_groups))

    def start(self) -> None:
        with _real_stderr():
            self.process.start()

    def send(self, cmd: str, **kw: Any) -> None:
        if self.process.is_alive():
            self.commands.put({"cmd": cmd, **kw})

    def get(self, timeout: float) -> dict | None:
        try:
            return self.snapshots.get(timeout=timeout)
        except queue.Empty:
            return None

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self, timeout: float = 0.5) -> None:
        """Ask the process to quit, then make sure it has: no orphan survives the dashboard."""
        if self.process.pid is None:
            return
        if self.process.is_alive():
            try:
                self.commands.put({"cmd": "quit"})
            except (ValueError, OSError):
                pass
            self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(0.3)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(0.3)
        for q in (self.commands, self.snapshots):
            q.cancel_join_thread()
            q.close()


class _real_stderr:
    """Textual swaps sys.stderr for an object without a real file descriptor, which multiprocessing's
    resource tracker cannot pass on; use the process's real stderr while starting processes."""

    def __enter__(self) -> None:
        self.saved = sys.stderr
        sys.stderr = sys.__stderr__ or self.saved

    def __exit__(self, *exc) -> None:
        sys.stderr = self.saved


# ----------------------------------------------------------------------------- the training process
def worker_main(config_dict: dict, paused: bool, metrics_path: str | None, preset_name: str,
                commands: mp.Queue, snapshots: mp.Queue, metrics_groups: bool = False) -> None:
    # The terminal belongs to the dashboard: anything this process prints (a library warning, say)
    # would scribble over it. Errors travel to the dashboard in snapshots instead.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    import signal

    import torch

    from grpotui import faults

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ctrl+c belongs to the dashboard, which quits us
    faults.install_from_env()
    # One intra-op thread: the dashboard needs the other core. Measured on 2 cores in tmux (default
    # preset): 1 thread 134 steps/s; 2 threads 91; 2 threads with OMP_WAIT_POLICY=PASSIVE 88.
    torch.set_num_threads(1)
    try:
        _WorkerLoop(config_dict, paused, metrics_path, preset_name, commands, snapshots,
                    metrics_groups).run()
    except KeyboardInterrupt:
        pass


class _WorkerLoop:
    def __init__(self, config_dict, paused, metrics_path, preset_name, commands, snapshots,
                 metrics_groups=False):
        from grpotui.config import TrainConfig
        from grpotui.metrics import MetricsWriter
        from grpotui.sysmetrics import SystemRecords

        self.commands, self.snapshots = commands, snapshots
        self.config = TrainConfig.from_dict(config_dict)
        self.preset_name = preset_name
        self.writer = MetricsWriter(metrics_path) if metrics_path else None
        self.groups_writer = GroupsRecords() if metrics_groups and self.writer else None
        self.system_records = SystemRecords() if self.writer else None   # system/* every few s
        self.status = "paused" if paused else "running"
        self.speed = 0.0            # rollouts per second; 0 = full speed
        self.steps_requested = 0
        self.points: list[dict] = []
        self.events: list[dict] = []
        self.groups = None            # the latest rollout's Groups, made into lists only when sent
        self.error: str | None = None
        self.policy_copy: dict | None = None   # the policy's weights, when asked for (rollout canvas)
        self.last_sent = 0.0
        self.last_groups_sent = 0.0
        self.next_rollout_at = 0.0
        self.rollout_seconds = 0.0    # running average: which rollout ends before groups are due?
        self.rate = 0.0               # steps per wall-clock second, smoothed (the status line's)
        self.rate_mark = (time.monotonic(), 0)
        self.quit = False
        self.trainer = None
        self.send(force=True, status="starting")
        self._build()

    def _build(self) -> None:
        from grpotui.engine.trainer import Trainer

        try:
            self.trainer = Trainer(self.config)
        except Exception as e:  # a bad device or similar: report, stay up, wait for a reset
            self._crash(e)
            return
        self.error = None
        self._log({"event": "start", "step": 0, "rollout": 0, "preset": self.preset_name,
                   "config": self.config.to_dict()})

    # ------------------------------------------------------------------ plumbing
    def _log(self, event: dict) -> None:
        self.events.append(event)
        if self.writer:
            self.writer.write(events=[event])

    def _crash(self, e: BaseException) -> None:
        from grpotui.engine.trainer import describe_failure  # the training process has torch

        self.status = "crashed"
        self.error = describe_failure(e)
        self._log({"event": "error", "step": getattr(self.trainer, "step", 0),
                   "rollout": getattr(self.trainer, "rollout_index", 0), "message": self.error})

    def send(self, force: bool = False, status: str | None = None) -> None:
        now = time.monotonic()
        if not force and now - self.last_sent < 1 / SNAPSHOT_HZ:
            return
        t = self.trainer
        self._update_rate(now)
        with_groups = self.groups is not None and (
            force or now - self.last_groups_sent >= 1 / GROUPS_HZ)
        snap = {
            "status": status or self.status,
            "rollout": t.rollout_index if t else 0,
            "step": t.step if t else 0,
            "steps_per_second": self.rate,
            "train_seconds": t.train_seconds if t else 0.0,
            "heldout_exact_match": t.heldout_exact_match if t else None,
            "speed": self.speed,
            "config": (t.next_config if t else self.config).to_dict(),
            "points": self.points,
            "groups": _groups_dict(self.groups) if with_groups else None,
            "events": self.events,
            "error": self.error,
            "policy": self.policy_copy,
        }
        try:
            self.snapshots.put(snap, timeout=0.5)
        except queue.Full:  # the UI is gone or stuck: keep the data for the next snapshot
            return
        self.points, self.events, self.policy_copy = [], [], None
        self.last_sent = now
        if with_groups:
            self.groups, self.last_groups_sent = None, now

    def _update_rate(self, now: float) -> None:
        """Throughput over wall time, including everything between rollouts; a rollout's own
        steps_per_second would overstate it, and sampling the last one before each snapshot is
        biased towards slow rollouts (the ones with an evaluation)."""
        step = self.trainer.step if self.trainer else 0
        then, then_step = self.rate_mark
        if step < then_step or not self.trainer:   # a reset
            self.rate, self.rate_mark = 0.0, (now, step)
            return
        if now - then >= 0.25:
            instant = (step - then_step) / (now - then)
            self.rate = instant if self.rate == 0 else 0.7 * self.rate + 0.3 * instant
            self.rate_mark = (now, step)

    # ------------------------------------------------------------------ commands
    def handle(self, msg: dict) -> None:
        from grpotui.config import ConfigError, TrainConfig

        cmd = msg.get("cmd")
        if cmd == "quit":
            self.quit = True
        elif cmd == "pause" and self.status == "running":
            self.status = "paused"
        elif cmd == "resume" and self.status in ("paused", "done", "diverged") and self.trainer:
            t = self.trainer
            self._log({"event": "resume", "step": t.step, "rollout": t.rollout_index,
                       "rollouts": t.config.rollouts})
            self.status = "running"
        elif cmd == "step" and self.status in ("paused", "done", "diverged") and self.trainer:
            self.steps_requested += 1
        elif cmd == "policy" and not self.trainer:
            self.policy_copy = {"error": "the training process has no policy right now (it failed "
                                         "or is starting over); try again after a reset"}
        elif cmd == "policy":
            # a copy of the live policy's weights, for the rollout canvas (bytes: the dashboard's
            # relay thread never has to import torch to pass them on)
            import io

            import torch

            buf = io.BytesIO()
            torch.save({k: v.detach().cpu() for k, v in self.trainer.policy.state_dict().items()},
                       buf)
            self.policy_copy = {"config": self.trainer.config.to_dict(), "state": buf.getvalue(),
                                "rollout": self.trainer.rollout_index, "step": self.trainer.step}
        elif cmd == "speed":
            self.speed = float(msg.get("rollouts_per_second") or 0.0)
        elif cmd == "set" and self.trainer:
            try:
                self.trainer.update(**msg["changes"])
                self._log({"event": "queued", "step": self.trainer.step,
                           "rollout": self.trainer.rollout_index, "changes": msg["changes"]})
            except ConfigError as e:
                self._log({"event": "refused", "step": self.trainer.step,
                           "rollout": self.trainer.rollout_index, "message": str(e)})
        elif cmd == "reset":
            was_running = self.status == "running"
            if msg.get("config"):
                self.config = TrainConfig.from_dict(msg["config"])
            elif self.trainer:
                self.config = self.trainer.next_config
            if msg.get("preset_name"):
                self.preset_name = msg["preset_name"]
            self.trainer = None
            self.status = "running" if was_running and not msg.get("paused") else "paused"
            self._log({"event": "reset", "step": 0, "rollout": 0, "preset": self.preset_name})
            self._build()
        self.send(force=True)

    # ------------------------------------------------------------------ the loop
    def _can_train(self) -> bool:
        return self.trainer is not None and (self.status == "running" or self.steps_requested > 0)

    def run(self) -> None:
        parent, checked = mp.parent_process(), time.monotonic()
        try:
            while not self.quit:
                if parent is not None and time.monotonic() - checked > 1.0:
                    # the dashboard was killed without a chance to say quit: don't train on alone
                    if not parent.is_alive():
                        # nobody will read what is queued: don't wait at exit to flush it
                        self.snapshots.cancel_join_thread()
                        break
                    checked = time.monotonic()
                throttled = self.status == "running" and self.speed > 0
                if not self._can_train():
                    wait = 0.05                      # idle: just listen for commands
                elif throttled:
                    wait = max(0.0, self.next_rollout_at - time.monotonic())
                else:
                    wait = 0.0                       # full speed: only look for commands
                self._drain(wait)
                if self.quit:
                    break
                if self._can_train() and not (throttled and time.monotonic() < self.next_rollout_at):
                    self._one_rollout()
                    self.send(force=self.status != "running")
                elif self.points or self.events:
                    self.send()
        finally:
            if self.writer:
                t = self.trainer
                self.writer.write(events=[{"event": "stop", "step": t.step if t else 0,
                                           "rollout": t.rollout_index if t else 0,
                                           "reason": "dashboard closed"}])
                self.writer.close()

    def _drain(self, wait: float) -> None:
        try:
            msg = self.commands.get(timeout=wait) if wait > 0 else self.commands.get_nowait()
        except queue.Empty:
            return
        self.handle(msg)
        while True:
            try:
                self.handle(self.commands.get_nowait())
            except queue.Empty:
                return

    def _one_rollout(self) -> None:
        t = self.trainer
        if self.steps_requested > 0:
            self.steps_requested -= 1
        self.next_rollout_at = time.monotonic() + (1 / self.speed if self.speed > 0 else 0)
        # The groups' after-update ratios cost one more forward pass; only the rollout that ends
        # just before groups are due to travel needs them (at most GROUPS_HZ a second).
        started = time.monotonic()
        due = (self.status != "running"
               or started + self.rollout_seconds - self.last_groups_sent >= 1 / GROUPS_HZ)
        try:
            result = t.rollout(final_ratios=due)
        except Exception as e:  # a reward function that raised, out of memory, ...
            self._crash(e)
            return
        self.rollout_seconds = 0.8 * self.rollout_seconds + 0.2 * (time.monotonic() - started)
        if self.writer:
            self.writer.write(result.metrics, result.events)
            if self.groups_writer:
                self.groups_writer.maybe_write(self.writer, t, result.groups)
            if self.system_records:
                self.system_records.maybe_write(self.writer, t.step, t.rollout_index,
                                                t.train_seconds)
        self.events.extend(result.events)
        for m in result.metrics:
            self.points.append({"step": m["step"], "steps_per_second": m["steps_per_second"],
                                **{k: m[k] for k in CURVE_KEYS},
                                **{k: v for k, v in m.items()
                                   if k in LENGTH_KEYS or k.startswith(BY_LENGTH_PREFIXES)}})
        if due or self.groups is None:
            self.groups = result.groups
        if result.diverged:
            self.status = "diverged"
            self.error = result.diverged
        elif t.rollout_index == t.config.rollouts and self.status == "running":
            self.status = "done"
            self._log({"event": "done", "step": t.step, "rollout": t.rollout_index})


class GroupsRecords:
    """--metrics-groups: the shown rollout's groups as `groups` records in the metrics file
    ({"event": "groups", "step", "rollout", "groups": the groups panel's dict}), at most
    METRICS_GROUPS_HZ a second however fast training runs."""

    def __init__(self, hz: float = METRICS_GROUPS_HZ):
        self.every = 1 / hz
        self.last = -1e9

    def due(self) -> bool:
        return time.monotonic() - self.last >= self.every

    def maybe_write(self, writer, trainer, groups, force: bool = False) -> bool:
        if groups is None or not (force or self.due()):
            return False
        self.last = time.monotonic()
        writer.write(events=[{"event": "groups", "step": trainer.step,
                              "rollout": trainer.rollout_index, "groups": _groups_dict(groups)}])
        return True


def _groups_dict(g) -> dict:
    import torch

    if g.lengths is not None:
        return _variable_groups_dict(g)
    ratios = g.token_ratios.flatten()
    deltas = g.token_deltas.flatten()
    if len(ratios) > MAX_PLOT_TOKENS:  # an even spread of tokens for the clip plot
        idx = torch.linspace(0, len(ratios) - 1, MAX_PLOT_TOKENS).long()
        ratios, deltas = ratios[idx], deltas[idx]
    out = {
        "prompts": g.prompts.tolist(),
        "targets": g.targets.tolist(),
        "responses": g.responses.tolist(),
        "rewards": g.rewards.tolist(),
        "deltas": g.deltas.tolist(),
        "ratios": g.ratios.tolist(),
        "token_ratios": ratios.tolist(),
        "token_deltas": deltas.tolist(),
    }
    if g.credit == "token":
        out["position_deltas"] = g.token_deltas.tolist()
    if g.token_probs is not None:
        out["token_probs"] = g.token_probs.tolist()
    if g.components:
        out["components"] = {name: c.tolist() for name, c in g.components.items()}
    return out


def _variable_groups_dict(g) -> dict:
    """Variable length: prompts and targets as their numbers (no PAD; the target's EOS is implied),
    each response as its tokens before EOS (all of them when truncated), "stopped" whether it wrote
    its EOS; per-token values for those tokens; the clip plot's tokens are the completion tokens."""
    import torch

    v = g.vocab_size
    lengths, truncated = g.lengths.tolist(), g.truncated.tolist()

    def numbers(rows):
        return [[t for t in row if t < v] for row in rows]

    def cut(table):
        return [[row[:n if cut_off else n - 1] for row, n, cut_off in zip(rows, ns, ts)]
                for rows, ns, ts in zip(table, lengths, truncated)]

    steps = torch.arange(g.responses.shape[-1])
    mask = steps < g.lengths.unsqueeze(-1)
    ratios, deltas = g.token_ratios[mask], g.token_deltas[mask]
    if len(ratios) > MAX_PLOT_TOKENS:
        idx = torch.linspace(0, len(ratios) - 1, MAX_PLOT_TOKENS).long()
        ratios, deltas = ratios[idx], deltas[idx]
    out = {
        "prompts": numbers(g.prompts.tolist()),
        "targets": numbers(g.targets.tolist()),
        "responses": cut(g.responses.tolist()),
        "stopped": [[not t for t in row] for row in truncated],
        "rewards": g.rewards.tolist(),
        "deltas": g.deltas.tolist(),
        "ratios": g.ratios.tolist(),
        "token_ratios": ratios.tolist(),
        "token_deltas": deltas.tolist(),
    }
    if g.token_probs is not None:
        out["token_probs"] = cut(g.token_probs.tolist())
    if g.components:
        out["components"] = {name: c.tolist() for name, c in g.components.items()}
    return out
