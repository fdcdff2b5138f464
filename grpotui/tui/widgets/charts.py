"""Line charts of watched runs: every run overlaid on each metric's chart, one colour per run, with a
legend. Any metric a file holds can be shown, in a grid of charts (grpotui.tui.widgets.grid) as large
as the terminal allows (m picks the metrics; { and } page through them); EMA smoothing
(TensorBoard's) applies to every curve; `set` events are ticks on the step axis.

Each run's points are kept per metric in a bounded Series (grpotui.series), so memory and drawing
time do not grow with the run. Charts redraw at most a few times a second, and only the charts whose
metric changed (a page turn, a resize or a new setting redraws them all at once).

Colours: PALETTE holds 12 colours that stay apart on a dark background (checked by CIE76 distance,
at least 25, and contrast against #121212, at least 4.5:1). Runs beyond the 12th reuse them and are
marked: their number in the legend, and dots instead of braille lines on the charts. Another panel
may colour runs itself (`RunCharts.set_colours`, e.g. a family per group from `colour_family`).

Run names, metric keys and the values of `set` events come from files: the legend is Content built
with grpotui.tui.text (never markup), names are cut by terminal cells, and the charts are SafePlots
(any number, any size; the title cut to the chart's width, a long metric name with an ellipsis in its
middle so that its start and its end both show).
"""

from __future__ import annotations

import bisect
import colorsys
import fnmatch
import math
import time

from rich.cells import cell_len
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from grpotui.series import Series, ema, thin
from grpotui.tui import text
from grpotui.tui.widgets.curves import fmt_value
from grpotui.tui.widgets.grid import ChartGrid, MetricChart
from grpotui.tui.widgets.plot import SafePlot, number

RGB = tuple[int, int, int]
PALETTE: list[RGB] = [(0, 190, 255), (255, 95, 175), (120, 215, 80), (255, 190, 40),
                      (90, 120, 255), (255, 120, 50), (90, 230, 210), (230, 230, 230),
                      (255, 60, 60), (210, 245, 110), (205, 95, 255), (215, 165, 120)]
PREFERRED = ["reward", "loss", "heldout_exact_match", "exact_match", "kl", "clip_ratio/region_mean",
             "entropy", "grad_norm"]
NOT_METRICS = {"step", "rollout", "time", "epoch", "global_step"}
CHARTS = 2   # charts on screen before the grid has a size
NAME_CELLS = 32   # a run's name in the legend and in a chart's title, at most
TITLE_MARGIN = 12  # plotext centres a title over the canvas, right of the y labels: room it leaves
LEGEND_LINES = 2   # lines of run names in the legend; the rest are counted ("+27 more")
FRAME_BUDGET = 0.02  # seconds of chart renders a flush (10 a second) may cause for new points
FAMILY_STEPS = [0.4, 0.0, 0.8, 0.2, 0.6, 1.0]   # a member's lightness, 0 to 1
MOST_TICKS = 10    # round ticks on an x axis, at most


def colour(i: int) -> RGB:
    return PALETTE[i % len(PALETTE)]


def rich_colour(i: int, rgb: RGB | None = None) -> str:
    r, g, b = rgb or colour(i)
    return f"rgb({r},{g},{b})"


def colour_family(group_index: int, member_index: int) -> RGB:
    """A colour for member `member_index` of group `group_index`: one hue per group (the golden
    angle apart, so any number of groups stay apart, the first ones most), one lightness per member
    (six steps between the darkest that still reads, 3.5:1 on a dark background, and near
    white; then the hue shifts a little and they repeat)."""
    hue = (0.55 + 0.381966 * max(0, group_index)) % 1.0
    m = max(0, member_index)
    hue = (hue + 0.03 * (m // len(FAMILY_STEPS))) % 1.0
    floor = next((lo / 100 for lo in range(35, 80) if _contrast(_hls(hue, lo / 100)) >= 3.5), 0.8)
    return _hls(hue, floor + (0.8 - floor) * FAMILY_STEPS[m % len(FAMILY_STEPS)])


def _hls(hue: float, lightness: float) -> RGB:
    r, g, b = colorsys.hls_to_rgb(hue, lightness, 0.85)
    return round(r * 255), round(g * 255), round(b * 255)


def _contrast(rgb: RGB) -> float:
    """WCAG contrast of a colour against a dark background (#121212)."""
    def lum(c: RGB) -> float:
        v = [x / 255 for x in c]
        v = [x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in v]
        return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]

    return (lum(rgb) + 0.05) / (lum((18, 18, 18)) + 0.05)


def middle_cut(s: str, cells: int) -> str:
    """`s` (one line, cleaned) in at most `cells` terminal cells: its start and its end with an
    ellipsis between them where it is too long."""
    s = text.one_line(s, 10 ** 9)
    if cell_len(s) <= cells:
        return s
    if cells < 3:
        return text.cut(s, cells)
    tail_cells = (cells - 1) // 2
    head = text.cut(s, cells - tail_cells, ellipsis="…")
    tail, used = [], 0
    for ch in reversed(s):
        w = cell_len(ch)
        if used + w > tail_cells:
            break
        tail.append(ch)
        used += w
    return head + "".join(reversed(tail))


def fmt_x(v: float) -> str:
    """A step or a time on the x axis (a tick, the full-screen chart's title): a whole number as
    an integer with thousands separators (1000 → "1,000"), a huge one short (1,234,567 → "1.2M",
    then "G", then "1.0e+12"), else 3 significant digits ("12.5"; "1.2e-05" when tiny)."""
    a = abs(v)
    if not math.isfinite(v) or a >= 1e12:
        return fmt_value(v)
    if a >= 1e9:
        return f"{v / 1e9:.1f}G"
    if a >= 1e6:
        return f"{v / 1e6:.1f}M"
    if v.is_integer() or a >= 1000:
        return f"{v:,.0f}"
    return fmt_value(v)


def nice_ticks(lo: float, hi: float, most: int) -> list[float]:
    """Round values for an axis from lo to hi: multiples of 1, 2, 2.5 or 5 times a power of ten,
    at most `most` steps apart over the range ([] where there is no range, or an absurd one: an
    end beyond ±1e15, where plotext's own ticks are left)."""
    raw = (hi - lo) / most if most >= 1 else math.nan
    if not (math.isfinite(raw) and raw > 0 and max(abs(lo), abs(hi)) <= 1e15):
        return []
    exponent = math.floor(math.log10(raw))
    m = next(m for m in (1, 2, 2.5, 5, 10) if m * 10.0 ** exponent >= raw * (1 - 1e-9))
    step = m * 10.0 ** exponent
    if not (math.isfinite(step) and step > 0 and math.isfinite(lo / step)):
        return []
    digits = max(0, -math.floor(math.log10(step)) + (1 if m == 2.5 else 0))
    first = math.ceil(lo / step - 1e-9)
    ticks = []
    for k in range(first, first + most + 2):
        t = round(k * step, digits)
        if t > hi + step * 1e-9:
            break
        ticks.append(float(t))
    return ticks


class RunData:
    """One run's curves (a Series per metric) and the steps of its setting changes."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.series: dict[str, Series] = {}
        self.marks: list[tuple[float, str]] = []   # (step, "key old → new")
        self.visible = True

    def add(self, points: list[dict]) -> set[str]:
        """Add step records; the metrics they touched."""
        touched: set[str] = set()
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
                touched.add(k)
        return touched

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
    """The curves panel of `grpotui watch`: a legend over a grid of charts, one metric each."""

    def __init__(self, smoothing: float = 0.6, x: str = "step", patterns: list[str] | None = None,
                 grid: tuple[int, int] | None = None, **kw) -> None:
        super().__init__(**kw)
        self.runs: list[RunData] = []
        self.smoothing = smoothing
        self.x = x
        self.patterns = list(patterns or [])    # from --metric: names or globs
        self.chosen: list[str] | None = None    # from the picker (m); None = the default choice
        self.grid_shape = grid                  # (rows, cols) asked for; None = as many as fit
        self.page = 0
        self.selected = 0
        self.colours: dict[int, RGB] | None = None
        self.dirty = True          # everything redraws at the next flush
        self.view = 0              # bumped when what every chart shows changes
        self.versions: dict[str, int] = {}   # bumped per metric when its points change
        self.legend_dirty = True
        self.legend_lines = -1

    def compose(self):
        yield Static("", id="legend")
        rows, cols = self.grid_shape or (None, None)
        yield ChartGrid(rows, cols, id="chart-grid")

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
            known = len(self.all_metrics_set())
            touched = self.run(index, name).add(points)
            for k in touched:
                self.versions[k] = self.versions.get(k, 0) + 1
            if len(self.all_metrics_set()) != known:   # a new metric: the pages change
                self.dirty = True

    def all_metrics_set(self) -> set[str]:
        return {k for r in self.runs for k in r.series}

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

    # ------------------------------------------------------------------ colours
    def set_colours(self, mapping: dict[int, RGB] | None) -> None:
        """Colour runs by index (run index → RGB), e.g. a colour family per group of runs; None
        goes back to the palette. The legend and every chart (full screen too) follow; runs the
        mapping leaves out keep their palette colour."""
        self.colours = dict(mapping) if mapping is not None else None
        self.dirty = True

    def colour_of(self, i: int) -> RGB:
        if self.colours and i in self.colours:
            return self.colours[i]
        return colour(i)

    def marked(self, i: int) -> bool:
        """A run whose palette colour repeats an earlier run's (beyond the 12th): drawn in dots,
        numbered in the legend."""
        return i >= len(PALETTE) and not (self.colours and i in self.colours)

    # ------------------------------------------------------------------ what is shown
    def all_metrics(self) -> list[str]:
        """Every metric any run has, the familiar ones first."""
        names = self.all_metrics_set()
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

    def grid(self) -> ChartGrid | None:
        found = self.query_children(ChartGrid) if self.is_mounted else None
        return found.first() if found else None

    def per_page(self) -> int:
        """Charts on screen: the grid's rows times its columns."""
        grid = self.grid()
        return grid.rows * grid.cols if grid is not None else CHARTS

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

    def set_grid(self, rows: int | None, cols: int | None) -> tuple[int, int]:
        """Ask for rows x cols charts (None: as many as fit); the grid it got."""
        self.grid_shape = (rows, cols) if rows and cols else None
        grid = self.grid()
        if grid is not None:
            grid.ask(rows, cols)
            self.dirty = True
            return grid.rows, grid.cols
        return rows or 0, cols or 0

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

    def counts(self) -> tuple[int, int]:
        """(runs heard from, runs shown on the charts)."""
        named = [r for r in self.runs if r.name]
        return len(named), sum(1 for r in named if r.visible)

    # ------------------------------------------------------------------ drawing
    def legend(self, width: int | None = None, info: bool = True) -> Content:
        """Each run's colour and name (the selected one marked, in bold; a hidden one dim and
        "(hidden)") on at most LEGEND_LINES lines, and how many more there are; then (`info`) a
        line with how many runs there are and how many are shown, and the chart settings."""
        width = max(20, width or (self.size.width - 2 if self.size.width else 100))
        named = [(i, r) for i, r in enumerate(self.runs) if r.name]   # (not heard from yet: none)
        entries = []
        for i, r in named:
            name = text.one_line(r.name, NAME_CELLS)
            rgb = self.colour_of(i)
            line = ("━━" if not self.marked(i) else "••") if r.visible else "┄┄"
            entries.append((i, text.assemble(
                "▶" if i == self.selected else " ",
                (line, rich_colour(i, rgb)) if r.visible else (line, "dim"),
                (f"{i + 1}" if self.marked(i) else "", rich_colour(i, rgb)),
                " ", (name, "b") if i == self.selected else name,
                "" if r.visible else (" (hidden)", "dim"))))
        most_lines = LEGEND_LINES if (self.size.height or 30) >= 16 else 1   # short: one line
        lines: list[list[Content]] = [[]]
        used = 0
        listed = 0
        for n, (i, entry) in enumerate(entries):
            more = len(entries) - n - 1
            reserve = len(f"  +{more} more") if more else 0
            w = entry.cell_length + (2 if lines[-1] else 0)
            last = len(lines) == most_lines
            if used + w > width - (reserve if last else 0):
                if last or entry.cell_length > width:
                    break
                lines.append([])
                used, w = 0, entry.cell_length
            lines[-1].append(entry)
            used += w
            listed += 1
        left = len(entries) - listed
        if left and not any(i == self.selected for i, _ in entries[:listed]) and lines[-1]:
            sel = next((e for i, e in entries if i == self.selected), None)
            if sel is not None and lines[-1]:
                lines[-1][-1] = sel   # the selected run is always named
        if left:
            lines[-1].append(text.plain(f"+{left} more", "dim"))
        rows = [Content("  ").join(line) for line in lines if line]
        if not info:
            return Content("\n").join(rows)
        total, shown = self.counts()
        pages = self.pages()
        x = "step" if self.x == "step" else "training seconds"
        pieces = ([f"{total} runs, {shown} shown"] if total > 1 else []) + \
            ([f"page {self.page + 1}/{pages}"] if pages > 1 else []) + \
            [f"smoothing {self.smoothing:.2f}", f"x: {x}"]
        line = pieces[0]
        for piece in pieces[1:]:   # the most useful first, as many as fit
            if cell_len(line) + 3 + cell_len(piece) <= width:
                line += " · " + piece
        return text.assemble(Content("\n").join(rows), "\n" if rows else "",
                             (text.cut(line, width), "dim"))

    def flush(self) -> None:
        """Redraw what changed (called a few times a second): the legend, every chart when what
        they show changed (page, size, settings), else the charts whose metric has new points, the
        longest-waiting first, as many as FRAME_BUDGET has room for (by what each took to render
        last time; at least one)."""
        grid = self.grid()
        legend = self.query_children("#legend")
        if grid is None or not legend:   # shutting down: children are gone
            return
        if self.dirty:
            self.dirty, self.legend_dirty = False, True
            self.view += 1
        if self.legend_dirty:
            self.legend_dirty = False
            shown = legend.first(Static)
            content = self.legend()
            same_height = content.plain.count("\n") == self.legend_lines
            self.legend_lines = content.plain.count("\n")
            shown.update(content, layout=not same_height)   # (a new layout costs a whole frame)
        grid.show(len(self.shown_metrics()))
        metrics = self.on_page()
        due = []
        for i, chart in enumerate(grid.charts()):
            metric = metrics[i] if i < len(metrics) else None
            if chart.shown != (metric, self.view, chart.size):
                self.draw(chart, metric)
                chart.shown = (metric, self.view, chart.size)
                chart.version = self.versions.get(metric or "", 0)
            elif metric is not None and chart.version != self.versions.get(metric, 0):
                due.append(chart)
        due.sort(key=lambda c: c.drawn_at)
        spent = 0.0
        for chart in due:
            if spent and spent + chart.cost > FRAME_BUDGET:
                break
            spent += chart.cost
            chart.version = self.versions.get(chart.metric or "", 0)
            self.draw(chart, chart.metric)

    def on_resize(self) -> None:
        self.dirty = True   # the number of charts shown, and their widths, may have changed

    def curve(self, run: RunData, metric: str, limit: int,
              window: tuple[float, float] | None = None) -> tuple[list[float], list[float]]:
        """A run's curve for a metric as drawn: smoothed, cut to the x window, then thinned to
        what fits."""
        s = run.series.get(metric)
        if s is None:
            return [], []
        xs, ys = s.xy(self.x)
        ys = ema(ys, self.smoothing)
        if window is not None:
            lo, hi = window
            keep = [k for k, v in enumerate(xs) if lo <= v <= hi]
            xs, ys = [xs[k] for k in keep], [ys[k] for k in keep]
        return thin(xs, ys, limit)

    def x_range(self, metric: str) -> tuple[float, float] | None:
        """The x range of the metric's points over the runs shown (None: no points)."""
        lo = hi = None
        for r in self.runs:
            s = r.series.get(metric)
            if not r.visible or s is None:
                continue
            xs = [v for v in (s.steps if self.x == "step" else s.times) if math.isfinite(v)]
            if xs:
                lo = min(xs) if lo is None else min(lo, min(xs))
                hi = max(xs) if hi is None else max(hi, max(xs))
        return None if lo is None else (lo, hi)

    def draw(self, chart: SafePlot, metric: str | None, *, window: tuple[float, float] | None = None,
             log: bool = False, title: str | None = None) -> str:
        """Draw the metric's chart (every run shown, the selected one on top). `window` is the x
        range shown, `log` a log y axis, `title` replaces the grid's title (the metric and each
        run's latest value). Returns a note: why the log axis was refused, or ""."""
        plt = chart.plt
        plt.clear_data()
        plt.clear_figure()
        if isinstance(chart, MetricChart):
            chart.metric, chart.drawn_at = metric, time.monotonic()
        note = ""
        if metric is None:
            plt.title("waiting for records…" if not self.runs else "")
            chart.refresh()
            return note
        width = chart.size.width or 60
        limit = max(20, 2 * width)
        latest = {}
        order = [i for i in range(len(self.runs)) if i != self.selected] + \
            [i for i in range(len(self.runs)) if i == self.selected]   # the selected run on top
        positive = False
        x_lo, x_hi = math.inf, -math.inf   # the x range drawn, for round ticks
        for i in order:
            r = self.runs[i]
            if not r.visible:
                continue
            xs, ys = self.curve(r, metric, limit, window)
            rgb = self.colour_of(i)
            if xs:
                plt.plot(xs, ys, color=rgb, marker="dot" if self.marked(i) else "braille")
                x_lo, x_hi = min(x_lo, min(xs)), max(x_hi, max(xs))
                positive = positive or any(y > 0 for y in ys)
            s = r.series.get(metric)
            if s is not None and s.latest is not None:
                latest[i] = f"{text.one_line(r.name, NAME_CELLS)} {fmt_value(s.latest)}"
            for step, _ in r.marks:
                at = step if self.x == "step" else r.time_at(step)
                if at is not None and (window is None or window[0] <= at <= window[1]):
                    plt.vline(at, color=rgb)
        if window is not None:
            plt.xlim(*window)
            x_lo, x_hi = window
        # round ticks (250, 500, 750, not plotext's 250.8, 500.5), as many as the labels leave room
        # for (the canvas is about 8 cells narrower than the chart: the y labels)
        if x_lo < x_hi:
            label = len(fmt_x(max(abs(x_lo), abs(x_hi)))) + 1
            ticks = nice_ticks(x_lo, x_hi, min(MOST_TICKS, max(2, (width - 8) // label)))
        else:
            ticks = []
        labels = [fmt_x(t) for t in ticks]
        if len(ticks) >= 2 and len(set(labels)) == len(labels):   # (else plotext's own)
            plt.xticks(ticks, labels)
        if log:
            if positive:
                plt.yscale("log")
            else:
                note = "log y refused: no value > 0 here, linear shown"
        if title is None:
            # the metric first, cut in its middle to what surely fits, then the latest values
            # (plotext text, not markup: SafePlt cleans the title and cuts it to the chart's width)
            room = max(4, width - TITLE_MARGIN)   # (a title that fits is built once, not twice)
            title = middle_cut(metric, room)
            values = "  ".join(latest[i] for i in sorted(latest))
            if values and room - cell_len(title) >= 8:
                title += "   " + text.cut(values, room - cell_len(title) - 3)
        plt.title(f"{title}   ({note})" if note else title)
        chart.refresh()
        return note
