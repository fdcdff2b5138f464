"""The grpotui dashboard: GRPO training live in a terminal.

Training runs in its own process (grpotui.worker); a Textual thread worker relays its snapshots here
as messages. Nothing on this side waits for training: key presses become commands on a queue.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.worker import get_current_worker
from textual.widgets import Footer

from grpotui.config import TrainConfig
from grpotui.tui.messages import SnapshotReceived, WorkerGone
from grpotui.tui.stats import LAG_TICK, STATS_EVERY, UiStats
from grpotui.tui.widgets.clip_plot import ClipPlot
from grpotui.tui.widgets.controls import Controls
from grpotui.tui.widgets.curves import Curves
from grpotui.tui.widgets.events import EventLog
from grpotui.tui.widgets.groups import GroupsView
from grpotui.tui.widgets.status import StatusLine
from grpotui.worker import GROUPS_HZ

CURVE_HZ = 10   # sparkline redraws per second, at most
PLOT_HZ = 4     # clip-plot redraws per second, at most (plotext rebuilds the whole plot)


def merge_snapshots(snaps: list[dict]) -> dict:
    """Fold several snapshots into one: the latest state with every point and event since."""
    merged = dict(snaps[-1])
    merged["points"] = [p for s in snaps for p in s["points"]]
    merged["events"] = [e for s in snaps for e in s["events"]]
    merged["groups"] = next((s["groups"] for s in reversed(snaps) if s["groups"]), None)
    merged["policy"] = next((s["policy"] for s in reversed(snaps) if s.get("policy")), None)
    return merged


class GrpoApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "grpotui"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    BINDINGS = [
        Binding("space", "toggle_pause", "Pause/Resume"),
        Binding("n", "step", "Step"),
        Binding("r", "reset", "Reset"),
        Binding("ctrl+s", "save_preset", "Save"),
        Binding("ctrl+o", "load_preset", "Load"),
        Binding("left_square_bracket", "page(-1)", "Previous groups", show=False),
        Binding("right_square_bracket", "page(1)", "Next groups", show=False),
        Binding("plus", "advantage(0.1)", "|A| up (clip plot)", show=False),
        Binding("minus", "advantage(-0.1)", "|A| down (clip plot)", show=False),
        Binding("x", "cycle_signs", "Clip plot: +A/-A/both", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        # after Quit: at 80 columns the footer runs out of room here, and Quit must stay readable
        Binding("l", "learn", "Learn"),
        # Keys type into a focused control; escape leaves it (applying its value) so they work again.
        Binding("escape", "leave_control", "Leave the control", show=False),
    ]

    def __init__(self, config: TrainConfig | None = None, *, preset_name: str = "default",
                 metrics_path: str | Path | None = None, paused: bool = False,
                 presets_dir: str | Path | None = None) -> None:
        super().__init__()
        self.config = config or TrainConfig()       # the live settings, as the trainer reports them
        self.config_dict = self.config.to_dict()
        self.start_config = self.config             # what the run started from (for save's diff)
        self.preset_name = preset_name
        self.metrics_path = metrics_path
        self.start_paused = paused
        self.presets_dir = presets_dir
        self.state = "starting"
        self.rollout = self.step = 0
        self.steps_per_second = 0.0
        self.train_seconds = 0.0
        self.speed = 0.0
        self.training = None
        self.stats: UiStats | None = None
        self.snapshots_seen = 0
        self.last_plot = 0.0
        self.pending_plot: dict | None = None
        self.last_groups = 0.0
        self.pending_groups: tuple[dict, int] | None = None
        self.policy_waiters: list = []   # callbacks waiting for a copy of the policy (learn rollout)

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        with Horizontal(id="top"):
            yield GroupsView(id="groups")
            with Vertical(id="right"):
                yield Curves(id="curves")
                yield ClipPlot(id="clip-plot")
        with Horizontal(id="bottom"):
            yield Controls(self.config.to_dict(), id="controls")
            yield EventLog(id="events")
        yield Footer()

    def on_resize(self, event) -> None:
        # Below 100 columns the footer's keys and the palette key fit only without padding.
        self.query_one(Footer).compact = event.size.width < 100

    def on_mount(self) -> None:
        self.query_one("#groups").border_title = "groups"
        self.query_one("#curves").border_title = "curves"
        self.query_one("#controls").border_title = "controls (apply at next rollout)"
        self.query_one("#events").border_title = "events"
        self.query_one("#clip-plot", ClipPlot).replot()
        self.query_one("#groups").focus()
        self._show_status()
        self.set_interval(1 / CURVE_HZ, self._redraw_tick)
        stats_path = os.environ.get("GRPOTUI_STATS")  # soak runs and the bench (see tui/stats.py)
        self.stats = UiStats(stats_path) if stats_path else None
        if self.stats:
            self.set_interval(LAG_TICK, self.stats.tick)
            self.set_interval(STATS_EVERY, self._flush_stats)
        self.start_training(self.config, paused=self.start_paused)

    # ------------------------------------------------------------------ the training process
    def start_training(self, config: TrainConfig, paused: bool) -> None:
        from grpotui.worker import TrainingWorker

        if self.training is not None:
            self.training.stop()
        self.training = TrainingWorker(config, paused=paused, metrics_path=self.metrics_path,
                                       preset_name=self.preset_name)
        self.training.start()
        self.relay(self.training)

    @work(thread=True, exclusive=True, group="relay")
    def relay(self, training) -> None:
        """Move snapshots from the training process to the UI as messages, merging bursts."""
        me = get_current_worker()
        while not me.is_cancelled:
            snap = training.get(timeout=0.1)
            if snap is None:
                if not training.alive and not me.is_cancelled:
                    self.post_message(WorkerGone(training.process.exitcode))
                    return
                continue
            snaps = [snap]
            while len(snaps) < 100 and (more := training.get(timeout=0)) is not None:
                snaps.append(more)
            self.post_message(SnapshotReceived(merge_snapshots(snaps)))

    def send(self, cmd: str, **kw) -> None:
        if self.training is not None:
            self.training.send(cmd, **kw)

    # ------------------------------------------------------------------ snapshots in
    @on(SnapshotReceived)
    def on_snapshot(self, message: SnapshotReceived) -> None:
        started = time.perf_counter()
        s = message.snapshot
        self.snapshots_seen += 1
        self.state, self.rollout, self.step = s["status"], s["rollout"], s["step"]
        self.train_seconds = s["train_seconds"]
        self.steps_per_second = s.get("steps_per_second", 0.0)
        if s["config"] != self.config_dict:  # rebuild (and re-check) only when something changed
            self.config_dict = s["config"]
            self.config = TrainConfig(**s["config"])
            self.query_one(Controls).sync(s["config"])
        with self.batch_update():
            self._show_status()
            self.query_one(Curves).add_points(s["points"])
            if s["events"]:
                self.query_one(EventLog).add(s["events"])
                if any(e.get("event") == "reset" for e in s["events"]):
                    self.query_one(Curves).clear()
            if s["groups"]:
                self.pending_groups = (s["groups"], s["rollout"])
                self.pending_plot = s["groups"]
                if self.state != "running":  # a single step or the end: show it at once
                    self._show_groups()
                    self._plot()
            if s.get("policy") and self.policy_waiters:
                waiters, self.policy_waiters = self.policy_waiters, []
                for callback in waiters:
                    callback(s["policy"])
            if s["error"] and self.state == "crashed":
                self.notify(s["error"] + " Press r to reset.", title="training failed",
                            severity="error", timeout=8)
        if self.stats:
            self.stats.handler(time.perf_counter() - started)

    @on(WorkerGone)
    def on_worker_gone(self, message: WorkerGone) -> None:
        self.state = "stopped"
        self._show_status()
        self.query_one(EventLog).add([{"event": "note", "message":
                                       f"the training process ended (exit code {message.exitcode}); "
                                       f"press r to start it again"}])

    def _redraw_tick(self) -> None:
        """Timer: redraw curves, and the clip plot a few times a second (not while a learn screen
        covers the dashboard: what arrives meanwhile is drawn on return)."""
        if self.learning:
            return
        if self.stats:
            ticked = time.perf_counter()
            self.call_after_refresh(lambda: self.stats.frame(time.perf_counter() - ticked))
        self.query_one(Curves).flush()
        if self.pending_groups and time.monotonic() - self.last_groups >= 1 / GROUPS_HZ:
            self._show_groups()
        if self.pending_plot and time.monotonic() - self.last_plot >= 1 / PLOT_HZ:
            self._plot()

    def _flush_stats(self) -> None:
        pid = self.training.process.pid if self.training is not None else None
        self.stats.flush(step=self.step, steps_per_second=self.steps_per_second, worker_pid=pid,
                         widgets=len(self.screen.query("*")))

    def _show_groups(self) -> None:
        if self.pending_groups:
            groups, rollout = self.pending_groups
            self.pending_groups, self.last_groups = None, time.monotonic()
            self.query_one(GroupsView).show(groups, rollout)

    def _plot(self) -> None:
        g, self.pending_plot = self.pending_plot, None
        if not g:
            return
        self.last_plot = time.monotonic()
        ratios, deltas, eps = g["token_ratios"], g["token_deltas"], self.config.clip_eps
        low = sum(1 for r, d in zip(ratios, deltas) if r < 1 - eps and d < 0)
        high = sum(1 for r, d in zip(ratios, deltas) if r > 1 + eps and d > 0)
        n = max(1, len(ratios))
        self.query_one(ClipPlot).set_batch(
            eps, ratios, deltas, f"PPO clip · clipped low {low / n:.0%} high {high / n:.0%}")

    def _show_status(self) -> None:
        self.query_one(StatusLine).show(
            state=self.state, preset=self.preset_name, rollout=self.rollout,
            rollouts=self.config.rollouts, step=self.step, steps_per_second=self.steps_per_second,
            seconds=self.train_seconds, speed=self.speed)

    # ------------------------------------------------------------------ controls out
    @on(Controls.SettingChanged)
    def on_setting_changed(self, message: Controls.SettingChanged) -> None:
        self.send("set", changes={message.key: message.value})

    @on(Controls.SpeedChanged)
    def on_speed_changed(self, message: Controls.SpeedChanged) -> None:
        self.speed = message.rollouts_per_second
        self.send("speed", rollouts_per_second=self.speed)
        self._show_status()

    # ------------------------------------------------------------------ actions
    def action_toggle_pause(self) -> None:
        if self.state in ("stopped", "crashed"):
            self.notify("Training is not running: press r to reset.", severity="warning")
        elif self.state == "running":
            self.send("pause")
        else:
            self.send("resume")

    def action_step(self) -> None:
        if self.state == "running":
            self.notify("n advances one rollout while paused: press space to pause first.")
        else:
            self.send("step")

    def action_reset(self) -> None:
        from grpotui.tui.screens.confirm import ConfirmScreen

        def done(yes: bool | None) -> None:
            if yes:
                self.reset_training(self.config)

        self.push_screen(ConfirmScreen("Reset training? The model, optimizer and curves start over "
                                       "with the current settings.", yes="Reset"), done)

    def reset_training(self, config: TrainConfig, preset_name: str | None = None) -> None:
        if preset_name:
            self.preset_name = preset_name
        self.query_one(Curves).clear()
        if self.training is None or not self.training.alive:
            self.config, self.config_dict = config, config.to_dict()
            self.query_one(Controls).sync(config.to_dict())
            self.start_training(config, paused=False)
        else:
            self.send("reset", config=config.to_dict(), preset_name=preset_name)

    # ------------------------------------------------------------------ learn (the lesson's canvases)
    @property
    def learning(self) -> bool:
        """A learn screen (the picker or a canvas) is on top; training goes on underneath."""
        return any(getattr(s, "LEARN", False) for s in self.screen_stack)

    def action_learn(self) -> None:
        from grpotui.tui.learn import open_canvas

        open_canvas(self, "picker")

    def request_policy(self, callback) -> None:
        """Ask the training process for a copy of its policy; `callback(dict)` gets it when the
        next snapshot brings it (see worker.py, the `policy` command)."""
        self.policy_waiters.append(callback)
        self.send("policy")

    def check_action(self, action: str, parameters) -> bool | None:
        # While a learn screen is up, the dashboard's own keys (pause, reset, save...) are off:
        # the canvas has its own, and training goes on as it was.
        if action in DASHBOARD_ACTIONS and self.learning:
            return False
        return True

    def action_leave_control(self) -> None:
        self.query_one(GroupsView).focus()

    def action_page(self, delta: int) -> None:
        self.query_one(GroupsView).turn_page(delta)

    def action_advantage(self, step: float) -> None:
        self.query_one(ClipPlot).change_magnitude(step)

    def action_cycle_signs(self) -> None:
        self.query_one(ClipPlot).cycle_signs()

    def action_help(self) -> None:
        from grpotui.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen(list(self.BINDINGS)))

    def action_save_preset(self) -> None:
        from grpotui.presets import PresetError, PresetExists, save_preset
        from grpotui.tui.screens.confirm import ConfirmScreen
        from grpotui.tui.screens.presets import SaveScreen, diff_text

        live = self.config
        default_name = self.preset_name if self.preset_name not in _shipped() else \
            f"my-{self.preset_name}"

        def write(name: str, description: str, overwrite: bool) -> bool:
            try:
                path = save_preset(name, description, live, self.presets_dir, overwrite=overwrite)
            except PresetExists:
                def answer(yes: bool | None) -> None:
                    if yes:
                        write(name, description, True)
                self.push_screen(ConfirmScreen(f"A user preset named '{name}' exists. Overwrite "
                                               f"it?", yes="Overwrite"), answer)
                return False
            except PresetError as e:
                self.notify(str(e), title="not saved", severity="error", timeout=8)
                return False
            self.notify(f"Saved preset '{name}' to {path}", title="saved")
            self.query_one(EventLog).add([{"event": "note", "message": f"saved preset '{name}'"}])
            return True

        def done(result: tuple[str, str] | None) -> None:
            if result:
                write(result[0], result[1], False)

        self.push_screen(SaveScreen(default_name, f"Saved from {self.preset_name}",
                                    diff_text(self.start_config, live, self.preset_name)), done)

    def action_load_preset(self) -> None:
        from grpotui.presets import PresetError, find_preset, list_presets
        from grpotui.tui.screens.presets import LoadScreen

        presets, problems = list_presets(self.presets_dir)

        def chosen(name: str | None) -> None:
            if not name:
                return
            try:
                preset = find_preset(name, self.presets_dir)
            except PresetError as e:
                self.notify(str(e), title="not loaded", severity="error", timeout=8)
                return
            self.load_preset(preset)

        self.push_screen(LoadScreen(presets, self.config, problems), chosen)

    def load_preset(self, preset) -> None:
        """Live settings apply at the next rollout; model or task changes ask to reset first."""
        from grpotui.tui.screens.confirm import ConfirmScreen

        changes = self.config.diff(preset.config)
        live = set(TrainConfig.live_keys())
        needs_reset = [k for k in changes if k not in live]
        if not needs_reset:
            self.preset_name = preset.name
            self.start_config = preset.config
            if changes:
                self.send("set", changes={k: new for k, (_, new) in changes.items()})
            self.query_one(EventLog).add([{"event": "note", "message":
                                           f"loaded preset '{preset.name}' (live settings apply "
                                           f"at the next rollout)"}])
            self._show_status()
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.start_config = preset.config
                self.reset_training(preset.config, preset.name)
            else:
                self.notify("Nothing changed.", title=f"preset '{preset.name}' not loaded")

        self.push_screen(ConfirmScreen(
            f"Preset '{preset.name}' changes {', '.join(needs_reset)}, which need a reset (a new "
            f"model and optimizer). Reset now with this preset?", yes="Reset"), answer)

    def get_system_commands(self, screen):
        from grpotui.tui.learn import learn_commands

        yield from super().get_system_commands(screen)
        yield from learn_commands(self)
        for b in self.BINDINGS:
            if b.action == "quit":
                continue
            yield SystemCommand(b.description, f"key: {b.key}",
                                lambda a=b.action: self.run_action(a))

    async def action_quit(self) -> None:
        self.workers.cancel_group(self, "relay")
        if self.training is not None:
            self.training.stop()
        self.exit()

    def on_unmount(self) -> None:
        if self.training is not None:
            self.training.stop()


def _shipped() -> list[str]:
    from grpotui.presets import shipped_names

    return shipped_names()


DASHBOARD_ACTIONS = {b.action.split("(")[0] for b in GrpoApp.BINDINGS} - {"quit"}
