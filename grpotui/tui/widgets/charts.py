"""Line charts of watched runs: every run overlaid on each metric's chart, one colour per run, with a
legend. Any metric a file holds can be shown (m picks them; { and } page through them); EMA
smoothing (TensorBoard's) applies to every curve; `set` events are ticks on the step axis.

Each run's points are kept per metric in a bounded Series (grpotui.series), so memory and drawing
time do not grow with the run. Charts redraw at most a few times a second, and only when something
changed.

Run names, metric keys and the values of `set` events come from files: the legend is Content built
with grpotui.tui.text (never markup), names are cut by terminal cells, and the charts are SafePlots
(any number, any size; the title cut to the chart's width).
"""

from __future__ import annotations

import bisect
import fnmatch
import math

from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from grpotui.series import Series, ema, thin
from grpotui.tui import text
from grpotui.tui.widgets.curves import fmt_value
from grpotui.tui.widgets.plot import SafePlot, number

PALETTE = [(0, 190, 255), (255, 95, 175), (120, 215, 80), (255, 190, 40), (175, 135, 255),
           (255, 120, 50), (90, 230, 210), (230, 230, 230)]
PREFERRED = ["reward", "loss", "heldout_exact_match", "exact_match", "kl", "clip_ratio/region_mean",
             "entropy", "grad_norm"]
NOT_METRICS = {"step", "rollout", "time", "epoch", "global_step"}
CHARTS = 2   # charts on screen at once
NAME_CELLS = 32   # a run's name in the legend and in a chart's title, at most


def colour(i: int) -> tuple[int, int, int]:
    return PALETTE[i % len(PALETTE)]


def rich_colour(i: int) -> str:
    r, g, b = colour(i)
    return f"rgb({r},{g},{b})"


class RunData:
    """One run's curves (a Series per metric) and the steps of its setting changes."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.series: dict[str, Series] = {}
        self.marks: list[tuple[float, str]] = []   # (step, "key old → new")
        self.visible = True

    def add(self, points: list[dict]) -> None:
        for p in points:
            step = p.get("step")
            if step is None:
                continue
            t = p.get("time")
            for k, v in p.items():
                if k in NOT_METRICS:
                    continue
                s = self.series.get(k)
                if s is None:
                    s = self.series[k] = Series()
                s.add(step, t, v)

    def time_at(self, step: float) -> float | None:
        """The run's training time at a step (for set marks when x is time)."""
        for s in self.series.values():
            if s.steps:
                i = min(bisect.bisect_left(s.steps, step), len(s.steps) - 1)
                t = s.times[i]
                return t if math.isfinite(t) else None
        return None

    def clear(self) -> None:
        self.series, self.marks = {}, []


class RunCharts(Vertical):
    """The curves panel of `grpotui watch`."""

    def __init__(self, smoothing: float = 0.6, x: str = "step", patterns: list[str] | None = None,
                 **kw) -> None:
        super().__init__(**kw)
        self.runs: list[RunData] = []
        self.smoothing = smoothing
        self.x = x
        self.patterns = list(patterns or [])    # from --metric: names or globs
        self.chosen: list[str] | None = None    # from the picker (m); None = the default choice
        self.page = 0
        self.selected = 0
        self.dirty = True

    def compose(self):
        yield Static("", id="legend")
        for i in range(CHARTS):
            yield SafePlot(id=f"chart-{i}", classes="chart")

    # ------------------------------------------------------------------ data in
    def run(self, index: int, name: str) -> RunData:
        while len(self.runs) <= index:
            self.runs.append(RunData(name if len(self.runs) == index else ""))
            self.dirty = True
        if self.runs[index].name != name:
            self.runs[index].name, self.dirty = name, True
        return self.runs[index]

    def add_points(self, index: int, name: str, points: list[dict]) -> None:
        if points:
            self.run(index, name).add(points)
            self.dirty = True

    def add_marks(self, index: int, name: str, events: list[dict]) -> None:
        for e in events:
            step = number(e.get("step")) if e.get("event") == "set" else None
            if step is not None:   # (a step that is not a number cannot be placed on the axis)
                self.run(index, name).marks.append(
                    (step, text.one_line(f"{e.get('key')} {e.get('old')} → {e.get('new')}",
                                              200)))
                self.dirty = True

    def clear_run(self, index: int) -> None:
        if index < len(self.runs):
            self.runs[index].clear()
            self.dirty = True

    # ------------------------------------------------------------------ what is shown
    def all_metrics(self) -> list[str]:
        """Every metric any run has, the familiar ones first."""
        names = {k for r in self.runs for k in r.series}
        return [k for k in PREFERRED if k in names] + sorted(names - set(PREFERRED))

    def shown_metrics(self) -> list[str]:
        every = self.all_metrics()
        if self.chosen is not None:
            return [k for k in self.chosen if k in every] or every
        if self.patterns:
            picked = [k for k in every if any(fnmatch.fnmatchcase(k, p) or p == k
                                              for p in self.patterns)]
            return picked or every
        return every

    def per_page(self) -> int:
        """Charts on screen (a short terminal hides the second)."""
        if not self.is_mounted:
            return CHARTS
        return max(1, sum(1 for c in self.query(".chart") if c.styles.display != "none"))

    def pages(self) -> int:
        return max(1, math.ceil(len(self.shown_metrics()) / self.per_page()))

    def on_page(self) -> list[str]:
        shown = self.shown_metrics()
        per = self.per_page()
        self.page = min(self.page, self.pages() - 1)
        return shown[self.page * per:(self.page + 1) * per]

    def choose(self, metrics: list[str] | None) -> None:
        self.chosen, self.page, self.dirty = metrics, 0, True

    def turn_page(self, delta: int) -> None:
        self.page = (self.page + delta) % self.pages()
        self.dirty = True

    def set_smoothing(self, weight: float) -> None:
        self.smoothing, self.dirty = weight, True

    def set_x(self, x: str) -> None:
        self.x, self.dirty = x, True

    def select(self, index: int) -> None:
        self.selected, self.dirty = index, True

    def toggle(self, index: int) -> bool:
        if index < len(self.runs):
            self.runs[index].visible = not self.runs[index].visible
            self.dirty = True
            return self.runs[index].visible
        return False

    # ------------------------------------------------------------------ drawing
    def legend(self) -> Content:
        """Each run's colour and name (the selected one marked, in bold), then the chart settings."""
        parts = []
        for i, r in enumerate(self.runs):
            if not r.name:   # a run not heard from yet
                continue
            name = text.one_line(r.name, NAME_CELLS)
            parts.append(text.assemble(
                "▶" if i == self.selected else " ",
                ("━━", rich_colour(i)) if r.visible else ("┄┄", "dim"),
                " ", (name, "b") if i == self.selected else name,
                "" if r.visible else (" (hidden)", "dim")))
        pages = self.pages()
        x = "step" if self.x == "step" else "training seconds"
        info = f"smoothing {self.smoothing:.2f} · x: {x}" + (
            f" · page {self.page + 1}/{pages}" if pages > 1 else "")
        runs = Content("  ").join(parts)
        return text.assemble(runs, "\n" if parts else "", (info, "dim"))

    def flush(self) -> None:
        """Redraw if anything changed (called a few times a second)."""
        if not self.dirty:
            return
        legend = self.query("#legend")
        if not legend or len(self.query(SafePlot)) < CHARTS:   # shutting down: children are gone
            return
        self.dirty = False
        legend.first(Static).update(self.legend())
        metrics = self.on_page()
        for i in range(len(metrics)):
            self.draw(self.query_one(f"#chart-{i}", SafePlot), metrics[i])
        for i in range(len(metrics), CHARTS):
            self.draw(self.query_one(f"#chart-{i}", SafePlot), None)

    def on_resize(self) -> None:
        self.dirty = True   # the number of charts shown, and their widths, may have changed

    def curve(self, run: RunData, metric: str, limit: int) -> tuple[list[float], list[float]]:
        """A run's curve for a metric as drawn: smoothed, then thinned to what fits."""
        s = run.series.get(metric)
        if s is None:
            return [], []
        xs, ys = s.xy(self.x)
        return thin(xs, ema(ys, self.smoothing), limit)

    def draw(self, chart: SafePlot, metric: str | None) -> None:
        plt = chart.plt
        plt.clear_data()
        plt.clear_figure()
        if metric is None:
            plt.title("waiting for records…" if not self.runs else "")
            chart.refresh()
            return
        limit = max(20, 2 * (chart.size.width or 60))
        latest = {}
        order = [i for i in range(len(self.runs)) if i != self.selected] + \
            [i for i in range(len(self.runs)) if i == self.selected]   # the selected run on top
        for i in order:
            r = self.runs[i]
            if not r.visible:
                continue
            xs, ys = self.curve(r, metric, limit)
            if xs:
                plt.plot(xs, ys, color=colour(i), marker="braille")
                s = r.series[metric]
                latest[i] = f"{text.one_line(r.name, NAME_CELLS)} {fmt_value(s.latest)}"
            for step, _ in r.marks:
                at = step if self.x == "step" else r.time_at(step)
                if at is not None:
                    plt.vline(at, color=colour(i))
        # (plotext text, not markup: SafePlt cleans it and cuts it to the chart's width)
        plt.title(f"{metric}   " + "  ".join(latest[i] for i in sorted(latest)))
        chart.refresh()
