"""`grpotui watch`'s room in the dashboard: its layout, its runs' news, and its keys.

GrpoApp (grpotui.tui.app) trains, or, given a read-only source (a FileSource), watches: this mixin
holds the watching half. The curves panel is a grid of charts (grpotui.tui.widgets.grid), as many as
fit or the rows and columns asked for (`--grid RxC`, the keys ( ) < > a); a chart opens full screen
(grpotui.tui.screens.chart); the groups panel can be narrowed or hidden (g) to give the grid the
screen.

Panels are found on the dashboard's own screen (the first on the stack), not the screen on top: a
run's news keeps arriving while the full-screen chart or the metrics picker covers the dashboard,
and is applied underneath.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.binding import Binding
from textual.containers import Vertical
from textual.css.query import NoMatches

from grpotui.tui import text
from grpotui.tui.widgets.charts import RunCharts, rich_colour
from grpotui.tui.widgets.clip_plot import ClipPlot
from grpotui.tui.widgets.events import EventLog
from grpotui.tui.widgets.grid import MAX_SIDE, ChartGrid
from grpotui.tui.widgets.groups import GroupsView
from grpotui.tui.widgets.settings import SettingsView
from grpotui.tui.widgets.steer import SteerPanel
from grpotui.tui.widgets.status import StatusLine

SMOOTHING_STEPS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]
GROUPS_PANEL = ["wide", "narrow", "hidden"]   # g cycles through these

# watching files (grpotui watch): these replace the training keys
WATCH_BINDINGS = [
    Binding("c", "next_run", "Next run"),
    Binding("space", "toggle_run", "Show/hide run"),
    Binding("m", "pick_metrics", "Metrics"),
    # one entry in the footer for both (at 80 columns the footer has room for few)
    Binding("full_stop", "smoothing(1)", "Smoothing", key_display=", ."),
    Binding("comma", "smoothing(-1)", "Smoothing down", show=False),
    Binding("right_curly_bracket", "chart_page(1)", "Next metrics", show=False),
    Binding("left_curly_bracket", "chart_page(-1)", "Previous metrics", show=False),
    Binding("t", "toggle_x", "x: step/time", show=False),
    Binding("enter", "open_chart", "Chart full screen (the focused one, or the first)",
            show=False),
    Binding("right_parenthesis", "grid(1,0)", "Grid: one row more", show=False),
    Binding("left_parenthesis", "grid(-1,0)", "Grid: one row fewer", show=False),
    Binding("greater_than_sign", "grid(0,1)", "Grid: one column more", show=False),
    Binding("less_than_sign", "grid(0,-1)", "Grid: one column fewer", show=False),
    Binding("a", "grid_auto", "Grid: as many charts as fit", show=False),
    Binding("g", "groups_panel", "Groups panel: wide, narrow, hidden", show=False),
    Binding("R", "run_table", "Run table", show=False),   # (the footer keeps q at 80 columns)
]
WATCH_ACTIONS = {b.action.split("(")[0] for b in WATCH_BINDINGS}


class Watching:
    """The watching half of GrpoApp (a mixin: GrpoApp's state and helpers are used as they are)."""

    grid_shape: tuple[int, int] | None = None   # --grid RxC; None = as many as fit
    groups_panel = "wide"

    # ------------------------------------------------------------------ layout
    def compose_watch_top(self):
        """The top row: groups (and the clip plot under them) on the left, the chart grid right."""
        with Vertical(id="left", classes="no-clip"):
            yield GroupsView(id="groups")
            yield ClipPlot(id="clip-plot")
        with Vertical(id="right", classes="watching"):
            self.run_charts = RunCharts(self.smoothing, self.x, self.metric_patterns,
                                        grid=self.grid_shape, id="charts")
            yield self.run_charts

    def mount_watch(self) -> None:
        self.query_one("#charts").border_title = "curves"
        self.query_one("#charts").border_subtitle = "enter full screen  m metrics  { } page  " \
                                                    "( ) < > grid  g groups"
        self.query_one("#settings").border_title = \
            "settings" if self.steering else "settings (read-only)"
        if self.steering:
            self.query_one("#steer").border_title = "controls (apply at next step)"
        self.query_one(GroupsView).show_message("waiting for the first records…")
        self.call_after_refresh(self._laid_out)

    ready = False              # the first layout is done
    _early: tuple = ()         # runs' news from before it, applied after it

    def _laid_out(self) -> None:
        """The first layout is done: apply the news that came before it (the files are read from
        the start, in a thread; the event log wraps what it is given at its width then)."""
        self.ready = True
        early, self._early = self._early, ()
        for s in early:
            self.on_run_snapshot(s)

    def _base(self, what):
        """A panel of the dashboard's own screen, whatever screen is on top (NoMatches when the app
        is shutting down)."""
        if not self.screen_stack:
            raise NoMatches("no screens")
        return self.screen_stack[0].query_one(what)

    run_charts: RunCharts | None = None

    def _charts(self) -> RunCharts | None:
        """The chart grid's panel (None once the app is shutting down). Kept, not queried: a query
        walks the whole screen, and this is asked for every snapshot."""
        charts = self.run_charts
        return charts if charts is not None and charts.is_attached and self.screen_stack else None

    def _covered(self) -> bool:
        """Another screen (the full-screen chart, a dialog) is on top of the dashboard."""
        return len(self.screen_stack) > 1

    # ------------------------------------------------------------------ news
    def on_run_snapshot(self, s: dict) -> None:
        """A watched run's news: its curves, events and settings; the panels show the selected run."""
        if not self.ready:
            self._early += (s,)
            return
        charts = self._charts()
        if charts is None:   # the app is shutting down: a late snapshot has no panels
            return
        try:
            self._take_run_snapshot(s, charts)
        except NoMatches:
            base = self.screen_stack[0] if self.screen_stack else None
            if base is not None and base.query("#status") and base.query("#events") and \
                    base.query("#groups-body"):
                raise            # the panels are all there: a real bug, not a shutdown
            self.closing = True  # a late snapshot while the app shuts down: panels going

    def _take_run_snapshot(self, s: dict, charts: RunCharts) -> None:
        i = s["run"]
        while len(self.runs) <= i:
            self.runs.append(None)
        prev = self.runs[i] or {}
        restarted = s.get("restarted", False)
        changed = {} if restarted else dict(prev.get("changed", {}))
        events = s["events"]
        if any(e.get("event") in ("start", "reset") for e in events):
            changed = {}
        for e in events:
            if e.get("event") == "set" and "key" in e:
                changed.setdefault(e["key"], e.get("old"))
        groups = s["groups"] or (None if restarted else prev.get("groups"))
        groups_rollout = s.get("groups_rollout") if s["groups"] else prev.get("groups_rollout")
        self.runs[i] = {**s, "groups": groups, "groups_rollout": groups_rollout,
                        "changed": changed, "points": [], "events": []}
        log = self._base(EventLog)
        several = len(getattr(self.source, "runs", ())) > 1
        prefix = Text(text.one_line(s["name"], 40) + " ",
                      style=rich_colour(i, charts.colour_of(i))) if several else None
        with self.batch_update():
            if restarted:
                charts.clear_run(i)
                if not s.get("restart_noted"):   # the source's own note says why, naming the steps
                    log.add([{"event": "note", "message": f"{s['name']}: the file was replaced or "
                                                          f"truncated; reading it from the start"}])
            charts.run(i, s["name"])
            if any(e.get("event") == "reset" for e in events):
                charts.clear_run(i)
            charts.add_points(i, s["name"], s["points"])
            charts.add_marks(i, s["name"], events)
            if events:
                log.add(events, prefix=prefix)
                if self.steering:
                    self._base(SteerPanel).answered(events)
            if s.get("problem") and s["problem"] != prev.get("problem"):
                log.add([{"event": "note", "message": s["problem"]}], prefix=prefix)
                self.notify(s["problem"], title="bad lines skipped" if s.get("points") or
                            prev else "not a metrics file", severity="warning", timeout=10)
            if i == self.selected:
                self._show_run(news=bool(s["groups"]) or restarted or not prev
                               or bool(events) or not prev.get("config") == s.get("config"))
            self.show_watch_status()

    def _show_run(self, news: bool = True) -> None:
        """Point the groups, clip plot and settings panels at the selected run."""
        if not self.runs or self.selected >= len(self.runs) or self.runs[self.selected] is None:
            return
        run = self.runs[self.selected]
        if news:
            self._base(SettingsView).show(run["name"], run.get("config"), run.get("preset", ""),
                                          run.get("changed"))
            if self.steering:
                self._base(SteerPanel).show(run.get("control"), run.get("config"))
        groups = run.get("groups")
        left = self._base("#left")
        if groups:
            if news:
                self.pending_groups = (groups, run.get("groups_rollout") or run["rollout"],
                                       run["name"])
                self.pending_plot = groups if groups.get("token_ratios") else None
            left.set_class(not groups.get("token_ratios"), "no-clip")
        elif news:
            self.pending_groups = self.pending_plot = None
            left.set_class(True, "no-clip")
            what = "waiting for its file to appear" if run["status"] == "waiting" else \
                "no groups records in this file (yet)"
            folder = Path(run.get("path") or ".").parent
            if run["status"] == "waiting" and not folder.is_dir():
                what += f" (its folder {text.clean(folder)} does not exist yet: is the path right?)"
            self._base(GroupsView).show_message(text.assemble(
                (text.clean(run["name"]), "b"), f": {what}.\n\nThe curves and settings come from its "
                f"step and start records. A run shows its groups here when it writes them: ",
                ("grpotui run --metrics FILE --metrics-groups", "b"), " (or the dashboard's "
                "--metrics-groups, or the TRL integration)."), title=f"groups · {run['name']}")

    def show_watch_status(self) -> None:
        charts = self._charts()
        if charts is None:
            return
        self._base(StatusLine).show_watch(
            runs=[r for r in self.runs if r], selected=self.selected,
            smoothing=charts.smoothing, x=charts.x,
            hidden={i for i, r in enumerate(charts.runs) if not r.visible})

    def watched_clip_settings(self) -> tuple[float, float | None, int | None]:
        """(eps, eps_high or None, K or None) of the selected run, from its settings (grpotui's
        names, or TRL's)."""
        run = self.runs[self.selected] if self.selected < len(self.runs) else None
        config = (run or {}).get("config") or {}

        def setting(keys, ok):
            for key in keys:
                v = config.get(key)
                if isinstance(v, (int, float)) and not isinstance(v, bool) and ok(v):
                    return v
            return None

        eps = setting(("clip_eps", "epsilon"), lambda v: 0 <= v <= 1)   # grpotui's, TRL's name
        high = setting(("epsilon_high",), lambda v: 0 < v <= 10)
        if config.get("loss_mode", "clipped") != "clipped":
            high = None
        k = setting(("inner_steps", "num_iterations"),
                    lambda v: 1 <= v <= 1e6 and v == int(v))
        return (0.2 if eps is None else float(eps), None if high is None else float(high),
                None if k is None else int(k))

    # ------------------------------------------------------------------ keys
    def action_next_run(self) -> None:
        known = [i for i, r in enumerate(self.runs) if r]
        if len(known) < 2:
            self.notify("Only one run is being watched: give watch more files or a folder.")
            return
        later = [i for i in known if i > self.selected]
        self.select_run(later[0] if later else known[0])

    def action_toggle_run(self) -> None:
        charts = self._charts()
        if self.selected < len(charts.runs):
            shown = charts.toggle(self.selected)
            self.notify(f"{charts.runs[self.selected].name} {'shown' if shown else 'hidden'} on the "
                        f"curves")
            self.show_watch_status()

    def action_smoothing(self, direction: int) -> None:
        charts = self._charts()
        now = charts.smoothing
        if direction > 0:
            new = next((v for v in SMOOTHING_STEPS if v > now + 1e-9), SMOOTHING_STEPS[-1])
        else:
            new = next((v for v in reversed(SMOOTHING_STEPS) if v < now - 1e-9), 0.0)
        self.smoothing = new
        charts.set_smoothing(new)
        self.show_watch_status()

    def action_chart_page(self, delta: int) -> None:
        self._charts().turn_page(delta)

    def action_toggle_x(self) -> None:
        charts = self._charts()
        charts.set_x("time" if charts.x == "step" else "step")
        self.x = charts.x
        self.show_watch_status()

    def action_pick_metrics(self) -> None:
        from grpotui.tui.screens.metrics import MetricsScreen

        charts = self._charts()
        every = charts.all_metrics()
        if not every:
            self.notify("No metrics read yet.")
            return

        def chosen(result: list[str] | None) -> None:
            if result is not None:
                charts.choose(result or None)

        self.push_screen(MetricsScreen(every, charts.shown_metrics()), chosen)

    def action_grid(self, rows: int, cols: int) -> None:
        """One row or column more or fewer (from the grid on screen)."""
        charts = self._charts()
        grid = charts.grid()
        if grid is None:
            return
        want_r = min(MAX_SIDE, max(1, grid.rows + rows))
        want_c = min(MAX_SIDE, max(1, grid.cols + cols))
        got = charts.set_grid(want_r, want_c)
        if got != (want_r, want_c):
            self.notify(f"A {want_r}x{want_c} grid does not fit here: {got[0]}x{got[1]} charts "
                        f"(g narrows or hides the groups panel; a larger terminal fits more).")
        self.grid_shape = charts.grid_shape

    def action_grid_auto(self) -> None:
        charts = self._charts()
        charts.set_grid(None, None)
        self.grid_shape = None
        grid = charts.grid()
        if grid is not None:
            self.notify(f"As many charts as fit: {grid.rows}x{grid.cols}.")

    def action_groups_panel(self) -> None:
        """The groups panel wide, narrow or hidden (the grid takes the room)."""
        self.groups_panel = GROUPS_PANEL[(GROUPS_PANEL.index(self.groups_panel) + 1)
                                         % len(GROUPS_PANEL)]
        top = self._base("#top")
        for mode in GROUPS_PANEL[1:]:
            top.set_class(self.groups_panel == mode, f"groups-{mode}")

    def action_open_chart(self) -> None:
        """The focused chart full screen, or the first on the page."""
        from grpotui.tui.widgets.grid import MetricChart

        charts = self._charts()
        focused = self.focused
        metric = focused.metric if isinstance(focused, MetricChart) else None
        if metric is None:
            page = charts.on_page()
            metric = page[0] if page else None
        if metric is None:
            self.notify("No metrics read yet.")
            return
        self.open_chart(metric)

    def on_chart_grid_open(self, message: ChartGrid.Open) -> None:
        self.open_chart(message.metric)

    def open_chart(self, metric: str) -> None:
        from grpotui.tui.screens.chart import ChartScreen

        if self._covered():
            return
        self.push_screen(ChartScreen(self._charts(), metric))

    def action_run_table(self) -> None:
        """The run table: one screen for the session, so its sort, filter, groups and metrics
        (and the groups' colours on the charts) stay between visits."""
        from grpotui.tui.screens.runs import RunTableScreen

        if not self.is_screen_installed("runs"):
            self.install_screen(RunTableScreen(), "runs")
        if self.get_screen("runs") not in self.screen_stack:
            self.push_screen("runs")

    def select_run(self, index: int) -> None:
        """Make a run the selected one: c (the next run), and enter on the run table's row."""
        if index < len(self.runs) and self.runs[index]:
            self.selected = index
            self._charts().select(index)
            panel = self._system_panel()
            if panel is not None:    # the system panel follows the selected run at once
                panel.select(index)
            self._show_run()
            if not self._covered():   # (else the redraw tick shows them on return)
                self._show_groups()
                self._plot()
            self.show_watch_status()
