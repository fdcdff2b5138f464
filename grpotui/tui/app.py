"""The grpotui dashboard: GRPO training live in a terminal, or metrics files watched (`grpotui watch`).

Snapshots come from a source (grpotui.sources): the training process (grpotui.worker), or metrics
files followed as they grow. A Textual thread worker relays them here as messages, so nothing on this
side waits for training or for a file. Key presses become commands on a queue; a read-only source
(files) hides the controls it cannot obey and shows its runs' settings instead.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.worker import get_current_worker
from textual.widgets import Footer

from grpotui.config import TrainConfig
from grpotui.tui import text
from grpotui.tui.messages import SnapshotReceived, WorkerGone
from grpotui.tui.stats import LAG_TICK, STATS_EVERY, UiStats
from grpotui.tui.watching import WATCH_ACTIONS, WATCH_BINDINGS, Watching
from grpotui.tui.widgets.clip_plot import ClipPlot
from grpotui.tui.widgets.controls import Controls
from grpotui.tui.widgets.curves import Curves
from grpotui.tui.widgets.events import EventLog
from grpotui.tui.widgets.groups import GroupsView
from grpotui.tui.widgets.settings import SettingsView
from grpotui.tui.widgets.steer import SteerPanel
from grpotui.tui.widgets.status import StatusLine
from grpotui.tui.widgets.system import SystemPanel
from grpotui.worker import GROUPS_HZ

CURVE_HZ = 10   # sparkline redraws per second, at most
PLOT_HZ = 4     # clip-plot redraws per second, at most (plotext rebuilds the whole plot)
WRITE_OUT_STEP = 1.2  # seconds over which a single step's responses are written out, token by token


TRAINING_ACTIONS = {"pause", "resume", "step", "reset", "save_preset", "load_preset", "learn"}


def merge_snapshots(snaps: list[dict]) -> dict:
    """Fold several snapshots (of one run) into one: the latest state with every point and event
    since (since the last restart, when a watched file was replaced)."""
    restarts = [i for i, s in enumerate(snaps) if s.get("restarted")]
    if restarts:
        snaps = snaps[restarts[-1]:]
    merged = dict(snaps[-1])
    merged["points"] = [p for s in snaps for p in s["points"]]
    merged["events"] = [e for s in snaps for e in s["events"]]
    with_groups = next((s for s in reversed(snaps) if s["groups"]), None)
    merged["groups"] = with_groups["groups"] if with_groups else None
    if with_groups and "groups_rollout" in with_groups:
        merged["groups_rollout"] = with_groups["groups_rollout"]
    if restarts:
        merged["restarted"] = True
    merged["policy"] = next((s["policy"] for s in reversed(snaps) if s.get("policy")), None)
    return merged


def merge_by_run(snaps: list[dict]) -> list[dict]:
    """merge_snapshots for each run in a burst (a training source has one run)."""
    by_run: dict = {}
    for s in snaps:
        by_run.setdefault(s.get("run"), []).append(s)
    return [merge_snapshots(group) for group in by_run.values()]


class GrpoApp(Watching, text.PlainNotifications, App):
    CSS_PATH = "app.tcss"
    TITLE = "grpotui"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    BINDINGS = [
        # one key, two names: the footer says what space will do now (and stays short at 80 columns)
        Binding("space", "pause", "Pause"),
        Binding("space", "resume", "Resume"),
        Binding("n", "step", "Step"),
        Binding("r", "reset", "Reset"),
        Binding("ctrl+s", "save_preset", "Save"),
        Binding("ctrl+o", "load_preset", "Load"),
        Binding("left_square_bracket", "page(-1)", "Previous groups", show=False),
        Binding("right_square_bracket", "page(1)", "Next groups", show=False),
        Binding("plus", "advantage(0.1)", "|A| up (clip plot)", show=False),
        Binding("minus", "advantage(-0.1)", "|A| down (clip plot)", show=False),
        Binding("x", "cycle_signs", "Clip plot: +A/-A/both", show=False),
        Binding("a", "all_controls", "All controls (the guided lab)", show=False),
        *WATCH_BINDINGS,   # watching files (grpotui watch; tui/watching.py): replace training's
        Binding("y", "toggle_system", "System metrics", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        # after Quit: at 80 columns the footer runs out of room here, and Quit must stay readable
        Binding("l", "learn", "Learn"),
        # Keys type into a focused control; escape leaves it (applying its value) so they work again.
        Binding("escape", "leave_control", "Leave the control", show=False),
    ]

    def __init__(self, config: TrainConfig | None = None, *, preset_name: str = "default",
                 metrics_path: str | Path | None = None, paused: bool = False,
                 presets_dir: str | Path | None = None, metrics_groups: bool = False,
                 source=None, smoothing: float = 0.6, x: str = "step",
                 metric_patterns: list[str] | None = None,
                 grid: tuple[int, int] | None = None, lab: bool = False) -> None:
        """Trains (config, preset_name, ...) or, given a read-only `source` (a FileSource), watches
        its runs: smoothing (0 to 0.99), x ("step" or "time"), metric_patterns (names or globs
        of the metrics to chart) and grid (rows, cols; None: as many as fit) apply to watching.
        lab: the guided lab (`grpotui learn lab`): the lesson's three controls first, with hints."""
        self.grid_shape = grid
        super().__init__()
        self.source = source
        self.watching = source is not None and getattr(source, "read_only", False)
        self.steering = self.watching and bool(getattr(source, "control", False))
        self.metrics_groups = metrics_groups
        self.smoothing, self.x, self.metric_patterns = smoothing, x, metric_patterns
        self.runs: list[dict | None] = []   # watching: each run's latest facts
        self.selected = 0
        self.config = config or TrainConfig()       # the live settings, as the trainer reports them
        self.config_dict = self.config.to_dict()
        self.start_config = self.config             # what the run started from (for save's diff)
        self.preset_name = preset_name
        self.metrics_path = metrics_path
        self.start_paused = paused
        self.presets_dir = presets_dir
        self.state = "starting"
        self.closing = False
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
        self.lab = lab and not self.watching

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        with Horizontal(id="top"):
            if self.watching:  # the chart grid gets the right; the clip plot goes under groups
                yield from self.compose_watch_top()
            else:
                yield GroupsView(id="groups")
                with Vertical(id="right"):
                    yield Curves(id="curves")
                    yield ClipPlot(id="clip-plot")
        with Horizontal(id="bottom"):
            if self.steering:
                yield SteerPanel(id="steer")
            if self.watching:
                yield SettingsView(id="settings", classes="beside-steer" if self.steering else "")
            else:
                yield Controls(self.config.to_dict(), lab=self.lab,
                               figures=self.preset_name == "lab", id="controls")
            yield SystemPanel(pid=None if self.watching else self._training_pid, id="system")
            yield EventLog(watching=self.watching, id="events")
        yield Footer()

    def check_action(self, action: str, parameters) -> bool | None:
        """Training keys while training, watching keys while watching (space is both); while a
        learn screen is up, the dashboard's own keys are off: the canvas has its own, and training
        goes on as it was."""
        if action in DASHBOARD_ACTIONS and self.learning:
            return False
        if action in TRAINING_ACTIONS:
            if action in ("pause", "resume") and not self.watching:
                running = self.state == "running" or (self.state == "starting"
                                                       and not self.start_paused)
                return running == (action == "pause")
            return not self.watching
        if action in WATCH_ACTIONS:
            return self.watching
        if action == "all_controls":
            return self.lab
        return True

    def on_resize(self, event) -> None:
        # Below 100 columns the footer's keys and the palette key fit only without padding.
        self.query_one(Footer).compact = event.size.width < 100

    def on_mount(self) -> None:
        self.query_one("#groups").border_title = "groups"
        self.query_one("#events").border_title = "events"
        if self.watching:
            self.mount_watch()
        else:
            self.query_one("#curves").border_title = "curves"
            self.query_one(Curves).set_task(self.config)
            self.query_one("#controls").border_title = \
                "the lab: try these" if self.lab else \
                "controls (apply at next rollout)"
        self.query_one("#clip-plot", ClipPlot).border_title = "PPO clip"
        self.query_one("#clip-plot", ClipPlot).replot()
        self.query_one("#groups").focus()
        self._show_status()
        self.set_interval(1 / CURVE_HZ, self._redraw_tick)
        stats_path = os.environ.get("GRPOTUI_STATS")  # soak runs and the bench (see tui/stats.py)
        self.stats = UiStats(stats_path) if stats_path else None
        if self.stats:
            self.set_interval(LAG_TICK, self.stats.tick)
            self.set_interval(STATS_EVERY, self._flush_stats)
        if self.watching:
            self.source.start()
            self.relay(self.source)
        else:
            self.start_training(self.config, paused=self.start_paused)
            if self.lab:   # the guided lab starts slow enough to watch (its speed control says so)
                from grpotui.tui.widgets.controls import LAB_SPEED

                self.speed = LAB_SPEED
                self.send("speed", rollouts_per_second=LAB_SPEED)
                self._show_status()

    # ------------------------------------------------------------------ the sources
    def start_training(self, config: TrainConfig, paused: bool) -> None:
        from grpotui.worker import TrainingWorker

        if self.training is not None:
            self.training.stop()
        self.training = TrainingWorker(config, paused=paused, metrics_path=self.metrics_path,
                                       preset_name=self.preset_name,
                                       metrics_groups=self.metrics_groups)
        self.training.start()
        self.relay(self.training)

    @work(thread=True, exclusive=True, group="relay")
    def relay(self, source) -> None:
        """Move snapshots from the source (training process or files) to the UI as messages,
        merging bursts. Runs in a thread: a source may wait, or read files, here."""
        me = get_current_worker()
        while not me.is_cancelled:
            snap = source.get(timeout=0.1)
            if snap is None:
                if not source.alive and not me.is_cancelled:
                    process = getattr(source, "process", None)
                    self.post_message(WorkerGone(process.exitcode if process else None))
                    return
                continue
            snaps = [snap]
            while len(snaps) < 100 and (more := source.get(timeout=0)) is not None:
                snaps.append(more)
            for merged in merge_by_run(snaps):
                self.post_message(SnapshotReceived(merged))

    def send(self, cmd: str, **kw) -> None:
        if self.training is not None:
            self.training.send(cmd, **kw)

    # ------------------------------------------------------------------ snapshots in
    def _system_panel(self) -> SystemPanel | None:
        """The system panel, found once (a query per snapshot walks the whole screen); None while
        the app shuts down."""
        panel = getattr(self, "_system", None)
        if panel is None or not panel.is_attached:
            found = self.query(SystemPanel)
            panel = self._system = found.first() if found else None
        return panel

    @on(SnapshotReceived)
    def on_snapshot(self, message: SnapshotReceived) -> None:
        started = time.perf_counter()
        if self.closing or not self.screen_stack:
            return
        s = message.snapshot
        self.snapshots_seen += 1
        if "run" in s:
            self.on_run_snapshot(s)
            panel = self._system_panel()
            if panel is not None:   # the selected run's system records
                panel.add_run(s["run"], s["events"], self.selected)
            if self.stats:
                self.stats.handler(time.perf_counter() - started)
            return
        if s["status"] != self.state:
            self.refresh_bindings()   # space's name in the footer: Pause or Resume
            if self.state == "running":   # paused mid write-out: the responses finish, rewarded
                self.query_one(GroupsView).finish_write_out()
        self.state, self.rollout, self.step = s["status"], s["rollout"], s["step"]
        self.train_seconds = s["train_seconds"]
        self.steps_per_second = s.get("steps_per_second", 0.0)
        if s["config"] != self.config_dict:  # rebuild (and re-check) only when something changed
            self.config_dict = s["config"]
            self.config = TrainConfig(**s["config"])
            self.query_one(Controls).sync(s["config"])
            self.query_one(Curves).set_task(s["config"])   # a reset may switch the length view
        with self.batch_update():
            self._show_status()
            self.query_one(Curves).add_points(s["points"])
            if s["events"]:
                self.query_one(EventLog).add(s["events"])
                if any(e.get("event") == "refused" for e in s["events"]):
                    self.query_one(Controls).sync(self.config_dict)  # the old value comes back
                if any(e.get("event") == "reset" for e in s["events"]):
                    self.query_one(Curves).clear()
                    self.pending_groups = self.pending_plot = None   # the old run's groups go
                    self.query_one(GroupsView).show_message(
                        "reset: the new run's groups show from its first rollout (space or n).")
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
        if self.watching:   # a file source ends only when the app stops it
            return
        self.state = "stopped"
        self.refresh_bindings()
        self._show_status()
        self.query_one(EventLog).add([{"event": "note", "message":
                                       f"the training process ended (exit code {message.exitcode}); "
                                       f"press r to start it again"}])

    def _redraw_tick(self) -> None:
        """Timer: redraw curves, and the clip plot a few times a second (not while a learn screen
        covers the dashboard: what arrives meanwhile is drawn on return)."""
        if self.learning or self.closing or (self.watching and self._covered()):
            return   # (watching: the full-screen chart draws itself; the grid catches up on return)
        try:
            self._redraw()
        except NoMatches:
            if self.query("#groups-body"):   # the panels are all there: a real bug, not a shutdown
                raise
            self.closing = True              # a tick while the app shuts down: panels going

    def _redraw(self) -> None:
        if self.stats:
            ticked = time.perf_counter()
            self.call_after_refresh(lambda: self.stats.frame(time.perf_counter() - ticked))
        if self.watching:
            charts = self._charts()    # none while the app is shutting down
            if charts is not None:
                charts.flush()
        else:
            self.query_one(Curves).flush()
        if self.pending_groups and time.monotonic() - self.last_groups >= 1 / GROUPS_HZ:
            self._show_groups()
        if self.pending_plot and time.monotonic() - self.last_plot >= 1 / PLOT_HZ:
            self._plot()

    def _flush_stats(self) -> None:
        pid = self.training.process.pid if self.training is not None else None
        step = max((r["step"] for r in self.runs if r), default=0) if self.watching else self.step
        self.stats.flush(step=step, steps_per_second=self.steps_per_second, worker_pid=pid,
                         widgets=len(self.screen.query("*")))

    def _show_groups(self) -> None:
        if self.pending_groups:
            groups, rollout, *run = self.pending_groups
            self.pending_groups, self.last_groups = None, time.monotonic()
            write_out = None if self.watching else self._write_out_seconds()
            self.query_one(GroupsView).show(groups, rollout, write_out, *run)

    def _write_out_seconds(self) -> float | None:
        """At 2 rollouts/s or slower, and for a single step, an autoregressive policy's responses
        appear token by token over most of the time until the next rollout."""
        if self.state != "running":
            return WRITE_OUT_STEP
        if 0 < self.speed <= 2:
            return 0.8 / self.speed
        return None

    def _plot(self) -> None:
        g, self.pending_plot = self.pending_plot, None
        if not g:
            return
        self.last_plot = time.monotonic()
        ratios, deltas = g["token_ratios"], g.get("token_deltas") or []
        eps, eps_high, inner_steps = self._clip_settings()
        self.query_one(ClipPlot).set_batch(eps, ratios, deltas,
                                           clip_title(ratios, deltas, eps, eps_high, inner_steps),
                                           eps_high=eps_high)

    def _clip_settings(self) -> tuple[float, float | None, int | None]:
        """(eps, the upper side's eps when clip-higher is on, the inner steps K) of the run whose
        groups show: the live settings, or a watched run's (grpotui's names, or TRL's)."""
        if not self.watching:
            cfg = self.config
            high = cfg.epsilon_high if cfg.epsilon_high > 0 and cfg.loss_mode == "clipped" else None
            return cfg.clip_eps, high, cfg.inner_steps
        return self.watched_clip_settings()

    def _show_status(self) -> None:
        if self.watching:
            self.show_watch_status()
            return
        self.query_one(StatusLine).show(
            state=self.state, preset=self.preset_name, rollout=self.rollout,
            rollouts=self.config.rollouts, step=self.step, steps_per_second=self.steps_per_second,
            seconds=self.train_seconds, speed=self.speed)

    # ------------------------------------------------------------------ controls out
    @on(Controls.SettingChanged)
    def on_setting_changed(self, message: Controls.SettingChanged) -> None:
        self.send("set", changes={message.key: message.value})

    @on(SteerPanel.Steer)
    def on_steer(self, message: SteerPanel.Steer) -> None:
        """Append the change to the watched run's command file; the run answers in its metrics."""
        try:
            cid = self.source.steer(message.changes)
        except OSError as e:
            self.notify(str(e), title="cannot steer", severity="error", timeout=8)
            return
        self.query_one(SteerPanel).sent(cid, message.wid, message.what)

    @on(Controls.SpeedChanged)
    def on_speed_changed(self, message: Controls.SpeedChanged) -> None:
        self.speed = message.rollouts_per_second
        self.send("speed", rollouts_per_second=self.speed)
        self._show_status()

    # ------------------------------------------------------------------ actions
    def action_pause(self) -> None:
        self.send("pause")

    def action_resume(self) -> None:
        if self.state in ("stopped", "crashed"):
            self.notify("Training is not running: press r to reset.", severity="warning")
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
            self.query_one(Curves).set_task(config)
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

    # ------------------------------------------------------------------ other keys (watching's: tui/watching.py)
    def action_leave_control(self) -> None:
        if self.lab and not self.query_one(Controls).has_focus_within:
            self.action_learn()     # the lab: esc outside a control goes back to the canvases
            return
        self.query_one(GroupsView).focus()

    def action_page(self, delta: int) -> None:
        self.query_one(GroupsView).turn_page(delta)

    def _clip_plot_shown(self) -> bool:
        if self.query_one(ClipPlot).region.area:
            return True
        why = "this run's groups carry no token ratios" if self.watching and self.size.height >= 32 \
            else "the terminal is short: it shows from 32 rows"
        self.notify(f"The clip plot is hidden ({why}); + - x change it when it shows.")
        return False

    def action_advantage(self, step: float) -> None:
        if self._clip_plot_shown():
            self.query_one(ClipPlot).change_magnitude(step)

    def action_cycle_signs(self) -> None:
        if self._clip_plot_shown():
            self.query_one(ClipPlot).cycle_signs()

    def action_all_controls(self) -> None:
        self.query_one(Controls).toggle_all()

    def action_toggle_system(self) -> None:
        self.query_one(SystemPanel).toggle()

    def _training_pid(self) -> int | None:
        return self.training.process.pid if self.training is not None else None

    def action_help(self) -> None:
        from grpotui.tui.screens.help import HelpScreen

        # the clip plot's keys say so when it is hidden (a short terminal: it shows from 32 rows)
        hidden = not self.query_one(ClipPlot).region.area
        why = "hidden now" if self.watching else "hidden now: it shows from 32 rows"
        self.push_screen(HelpScreen([
            replace(b, description=f"{b.description} ({why})")
            if hidden and b.action.startswith(("advantage", "cycle_signs")) else b
            for b in self.BINDINGS if self.check_action(b.action.split("(")[0], ())],
            watching=self.watching))

    def action_save_preset(self) -> None:
        from grpotui.served import save_refusal

        if refused := save_refusal():     # a `grpotui serve` session without --allow-save
            self.notify(refused, title="not saved", severity="warning", timeout=8)
            return
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
            if b.action == "quit" or not self.check_action(b.action.split("(")[0], ()):
                continue
            yield SystemCommand(b.description, f"key: {b.key}",
                                lambda a=b.action: self.run_action(a))

    async def action_quit(self) -> None:
        self.closing = True   # snapshots already queued are dropped: the screens are going away
        self.workers.cancel_group(self, "relay")
        if self.training is not None:
            self.training.stop()
        if self.source is not None:
            self.source.stop()
        self.exit()

    def on_unmount(self) -> None:
        self.shutdown()

    def shutdown(self) -> None:
        """End the training process (or stop reading files); safe to call again, and called by the
        command line after the app has ended, however it ended."""
        if self.training is not None:
            self.training.stop()
        if self.source is not None:
            self.source.stop()


def clip_title(ratios: list, deltas: list, eps: float, eps_high: float | None,
               inner_steps: int | None) -> str:
    """The clip plot's title (under its border's "PPO clip"): its tokens are at the ratios the last
    inner step's loss used (before that step's update), with the share clipped on each side (the
    high side at 1 + eps_high when clip-higher is on). With one inner step every such ratio is 1
    (on-policy), and the title says so instead (when the ratios agree: a watched run's sampler may
    differ from its trainer)."""
    high_eps = eps if eps_high is None else eps_high
    low = sum(1 for r, d in zip(ratios, deltas) if r < 1 - eps and d < 0)
    high = sum(1 for r, d in zip(ratios, deltas) if r > 1 + high_eps and d > 0)
    n = max(1, len(ratios))
    if inner_steps == 1 and all(abs(r - 1) < 1e-3 for r in ratios):
        return "ratios the loss saw · K=1: all 1 (on-policy)"
    return f"ratios the loss saw · clipped low {low / n:.0%} high {high / n:.0%}"


def _shipped() -> list[str]:
    from grpotui.presets import shipped_names

    return shipped_names()


DASHBOARD_ACTIONS = {b.action.split("(")[0] for b in GrpoApp.BINDINGS} - {"quit"}
