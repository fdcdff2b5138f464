"""The grid of charts `grpotui watch` shows: as many charts as fit, or the rows and columns asked for
(`--grid RxC`, the grid keys), cut to what fits at the smallest size a chart can be read at.

The grid only lays charts out; what each shows is RunCharts' business (grpotui.tui.widgets.charts).
A chart opens full screen on enter (when focused) or a click: the grid posts `ChartGrid.Open`.
"""

from __future__ import annotations

import re
import time

from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget

from grpotui.tui.widgets.plot import SafePlot

AUTO_WIDTH, AUTO_HEIGHT = 34, 9   # as many charts as fit: each at least this many cells
MIN_WIDTH, MIN_HEIGHT = 16, 5     # a grid asked for is cut to what fits at this size
MAX_SIDE = 8                      # rows or columns, at most
GUTTER = 1                        # a blank column between charts


class GridError(ValueError):
    """A grid that cannot be: the message says why and what is allowed."""


def parse_grid(value: str) -> tuple[int, int] | None:
    """`--grid` as (rows, cols): "RxC" with 1 to MAX_SIDE each (e.g. 3x3), or "auto" (None)."""
    v = value.strip().lower()
    if v == "auto":
        return None
    m = re.fullmatch(r"(\d{1,4})\s*[x×*]\s*(\d{1,4})", v)
    if not m:
        raise GridError(f"--grid {value!r}: expected rows x columns such as 3x3 or 2x4 (or "
                        f"'auto': as many charts as fit the terminal).")
    rows, cols = int(m.group(1)), int(m.group(2))
    if not (1 <= rows <= MAX_SIDE and 1 <= cols <= MAX_SIDE):
        raise GridError(f"--grid {value}: rows and columns must each be from 1 to {MAX_SIDE} "
                        f"(a grid larger than the terminal allows is cut to what fits).")
    return rows, cols


def fit(width: int, height: int, rows: int | None = None,
        cols: int | None = None) -> tuple[int, int]:
    """(rows, cols) for a grid of width x height cells: as many charts of at least AUTO_WIDTH x
    AUTO_HEIGHT as fit, or rows x cols cut to what fits at MIN_WIDTH x MIN_HEIGHT; at least 1x1."""
    most_cols = max(1, min(MAX_SIDE, (width + GUTTER) // (MIN_WIDTH + GUTTER)))
    most_rows = max(1, min(MAX_SIDE, height // MIN_HEIGHT))
    if rows and cols:
        return min(rows, most_rows), min(cols, most_cols)
    return (max(1, min(MAX_SIDE, height // AUTO_HEIGHT)),
            max(1, min(MAX_SIDE, (width + GUTTER) // (AUTO_WIDTH + GUTTER))))


class MetricChart(SafePlot, can_focus=True):
    """One chart of the grid. `metric` is what it shows; RunCharts keeps `shown` (what it drew for:
    metric, view, size), `version` (of the metric's points) and `drawn_at` to redraw only what
    changed, and `cost` (seconds its last renders took: plotext builds the whole plot) to redraw no
    more charts at a time than a frame has room for."""

    BINDINGS = [Binding("enter", "open", "Full screen", show=False)]

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.metric: str | None = None
        self.shown: tuple | None = None
        self.version = -1
        self.drawn_at = 0.0
        self.cost = 0.01

    def render(self):
        started = time.perf_counter()
        try:
            return super().render()
        finally:
            self.cost = 0.5 * self.cost + 0.5 * (time.perf_counter() - started)

    def action_open(self) -> None:
        if self.metric is not None:
            self.post_message(ChartGrid.Open(self.metric))

    def on_click(self) -> None:
        self.action_open()


class ChartGrid(Widget):
    """rows x cols MetricCharts (`rows`, `cols`: a page's worth), re-laid out when the size or the
    grid asked for changes. Fewer metrics than a page holds get fewer, larger charts (`shape`)."""

    DEFAULT_CSS = """
    ChartGrid {
        layout: grid;
        height: 1fr;
        grid-gutter: 0 1;
    }
    ChartGrid > MetricChart {
        height: 1fr;
        width: 1fr;
    }
    ChartGrid > MetricChart:focus {
        background: $boost;
    }
    """

    class Open(Message):
        """Open a metric's chart full screen."""

        def __init__(self, metric: str) -> None:
            super().__init__()
            self.metric = metric

    def __init__(self, rows: int | None = None, cols: int | None = None, **kw) -> None:
        super().__init__(**kw)
        self.asked = (rows, cols) if rows and cols else None
        self.rows, self.cols = rows or 1, cols or 2
        self.metrics: int | None = None   # metrics to show (None: not known yet)
        self.shape = (self.rows, self.cols)

    def compose(self):
        for i in range(self.shape[0] * self.shape[1]):
            yield MetricChart(id=f"chart-{i}", classes="chart")

    def on_mount(self) -> None:
        self._apply_styles()

    def charts(self) -> list[MetricChart]:
        return [c for c in self.children if isinstance(c, MetricChart)]

    def ask(self, rows: int | None, cols: int | None) -> None:
        """Rows x cols (None: as many as fit), cut to what fits."""
        self.asked = (rows, cols) if rows and cols else None
        self._relayout()

    def show(self, metrics: int) -> None:
        """How many metrics there are to show (fewer than a page: fewer, larger charts)."""
        if metrics != self.metrics:
            self.metrics = metrics
            self._relayout()

    def on_resize(self) -> None:
        self._relayout()

    def _relayout(self) -> None:
        w, h = self.size.width, self.size.height
        if not w or not h:
            return
        capacity = (self.rows, self.cols)
        self.rows, self.cols = fit(w, h, *(self.asked or (None, None)))
        rows, cols = self.rows, self.cols
        if (rows, cols) != capacity:
            self._pages_changed()
        n = self.metrics
        if n is not None and 0 < n < rows * cols:
            cols = min(cols, n)
            rows = -(-n // cols)
        if (rows, cols) == self.shape and len(self.charts()) == rows * cols:
            return
        self.shape = (rows, cols)
        self._apply_styles()
        have = self.charts()
        want = rows * cols
        if len(have) > want:
            for chart in have[want:]:
                chart.remove()
        elif len(have) < want:
            self.mount_all(MetricChart(id=None if self.query(f"#chart-{i}") else f"chart-{i}",
                                       classes="chart") for i in range(len(have), want))
        self._pages_changed()

    def _pages_changed(self) -> None:
        parent = self.parent
        if parent is not None and hasattr(parent, "dirty"):
            parent.dirty = True   # the pages or the charts changed: RunCharts redraws them all

    def _apply_styles(self) -> None:
        self.styles.grid_size_columns, self.styles.grid_size_rows = self.shape[1], self.shape[0]
