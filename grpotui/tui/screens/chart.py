"""One metric's chart full screen (enter or a click on a chart of `grpotui watch`'s grid).

Every run shown in the grid is drawn, live. The y axis is linear or log (l); a log axis leaves out
values <= 0 and says so in the title, and is refused (the title says why) where nothing is > 0.
The x range zooms (+ -, the mouse wheel) and pans (← →); while following, the range's right edge is
the latest point, so new points stay in view; a pan to the left stops following, and 0 (the whole
run) or End (the same zoom at the latest point) follows again, as does a pan back to the end.
The metric's full name (it may be long: it comes from a file) heads the screen, as content, over a
legend: each run's name in its colour, as the grid's legend shows them (a hidden run dim,
"(hidden)").
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from grpotui.tui import text
from grpotui.tui.widgets.charts import fmt_x
from grpotui.tui.widgets.plot import SafePlot

ZOOM = 2.0      # each + halves the x range shown, each - doubles it
PAN = 0.25      # each arrow moves the range by this share of its width
REDRAW_HZ = 4   # live redraws per second, at most
MIN_SPAN = 1e-9


class ChartScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("q", "app.quit", "Quit"),   # (early: at 80 columns the footer shows few keys)
        Binding("l", "log", "Log/linear y"),
        Binding("plus,equals_sign", "zoom(1)", "Zoom in"),
        Binding("minus", "zoom(-1)", "Zoom out"),
        Binding("left", "pan(-1)", "Pan", key_display="← →"),
        Binding("right", "pan(1)", "Pan right", show=False),
        Binding("0", "reset", "Whole run"),
        Binding("end", "follow", "Follow"),
    ]
    DEFAULT_CSS = """
    ChartScreen #chart-name {
        height: auto;
        max-height: 3;
        padding: 0 1;
        background: $panel;
    }
    ChartScreen #chart-legend {
        height: auto;
        padding: 0 1;
    }
    ChartScreen #full-chart {
        height: 1fr;
    }
    """

    def __init__(self, charts, metric: str) -> None:
        super().__init__()
        self.charts = charts      # the grid's RunCharts: its runs, colours, smoothing and x
        self.metric = metric
        self.log_y = False
        self.follow = True
        self.span: float | None = None   # the x range's width; None = the whole run
        self.right: float | None = None  # its right edge when not following
        self.drawn: tuple | None = None
        self.legend_key: tuple | None = None
        self.note = ""

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="chart-name", can_focus=False):   # a long name scrolls: never lost
            yield Static(text.assemble((text.clean(self.metric), "b")), id="chart-name-text")
        yield Static("", id="chart-legend")
        yield SafePlot(id="full-chart")
        yield Footer()

    def on_mount(self) -> None:
        self.redraw()
        self.set_interval(1 / REDRAW_HZ, self.redraw)

    def on_resize(self) -> None:
        self.drawn = None

    # ------------------------------------------------------------------ the x range
    def window(self) -> tuple[float, float] | None:
        """The x range shown (None: the whole run)."""
        full = self.charts.x_range(self.metric)
        if full is None or self.span is None:
            return None
        lo, hi = full
        if self.span >= hi - lo:
            return None
        right = hi if self.follow or self.right is None else min(max(self.right, lo + self.span),
                                                                 hi)
        return right - self.span, right

    def action_zoom(self, direction: int) -> None:
        full = self.charts.x_range(self.metric)
        if full is None:
            return
        lo, hi = full
        whole = max(hi - lo, MIN_SPAN)
        now = self.window()
        span = whole if now is None else now[1] - now[0]
        centre = hi if now is None else (now[0] + now[1]) / 2
        new = span / ZOOM if direction > 0 else span * ZOOM
        if new >= whole:
            self.span, self.right = None, None
        else:
            self.span = max(new, MIN_SPAN)
            if not self.follow:
                self.right = centre + self.span / 2
        self.redraw()

    def action_pan(self, direction: int) -> None:
        now, full = self.window(), self.charts.x_range(self.metric)
        if now is None or full is None:
            self.notify("The whole run is in view: zoom in (+) first, then pan.")
            return
        right = now[1] + direction * PAN * (now[1] - now[0])
        if right >= full[1]:
            self.follow, self.right = True, None   # back at the latest point: follow it
        else:
            self.follow, self.right = False, max(right, full[0] + now[1] - now[0])
        self.redraw()

    def action_reset(self) -> None:
        self.span, self.right, self.follow = None, None, True
        self.redraw()

    def action_follow(self) -> None:
        self.follow, self.right = True, None
        self.redraw()

    def action_log(self) -> None:
        self.log_y = not self.log_y
        self.redraw()

    def action_back(self) -> None:
        self.dismiss(None)

    def on_mouse_scroll_up(self, event) -> None:
        event.stop()
        self.action_zoom(1)

    def on_mouse_scroll_down(self, event) -> None:
        event.stop()
        self.action_zoom(-1)

    # ------------------------------------------------------------------ drawing
    def heading(self, window: tuple[float, float] | None) -> str:
        full = self.charts.x_range(self.metric)
        y = "log y" if self.log_y else "linear y"
        unit = "step" if self.charts.x == "step" else "s"
        if full is None:
            where = "no points yet"
        elif window is None:
            where = f"x {fmt_x(full[0])}–{fmt_x(full[1])} {unit} (whole run)"
        else:
            where = f"x {fmt_x(window[0])}–{fmt_x(window[1])} of {fmt_x(full[1])} {unit}"
        state = "following" if self.follow else "not following (0 or End follows)"
        return f"{y} · {where} · {state}"

    def redraw(self) -> None:
        """Draw when something changed: the metric's points, the grid's settings or this view."""
        charts = self.charts
        plot = self.query_one("#full-chart", SafePlot)
        window = self.window()
        key = (charts.versions.get(self.metric, 0), charts.view, charts.dirty, self.log_y, window,
               plot.size)
        if key == self.drawn:
            return
        self.drawn = key
        legend_key = (charts.view, charts.dirty, len(charts.runs), self.size.width)
        if legend_key != self.legend_key:   # (run names, colours and visibility change the view)
            self.legend_key = legend_key
            self.query_one("#chart-legend", Static).update(
                charts.legend(max(20, self.size.width - 2), info=False))
        self.note = charts.draw(plot, self.metric, window=window, log=self.log_y,
                                title=self.heading(window))
