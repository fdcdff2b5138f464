"""Plots that take any size and any values: every plotext plot in grpotui is a SafePlot.

plotext fails on values it cannot place (nan, inf, a range max - min that overflows to inf, a log
of zero or a negative), and textual-plotext rebuilds a figure on every render from state plotext's
build changed in place (a log axis built twice takes the log of its logs: log10(1) = 0, then
log10(0): the variance canvas failed so on a resize). So:

- what is handed to plotext is sanitised: a point or line with a coordinate that is not a finite
  number within +-LIMIT is left out (two such numbers and their difference are finite floats); an
  axis range is ordered, and widened when too narrow for plotext's tick labels; with fixed limits,
  far points are pulled in (a line to one would take millions of steps); a log axis leaves out
  points <= 0 and says so in the title, keeps its limits within 10 ** LOG_DECADES, and goes linear
  when nothing positive is left;
- every build works on a copy of the figure, so a resize draws the same plot again;
- the title is outside text often enough (run names, metric keys): it is cleaned of control
  characters and cut by terminal cells to the plot's width, so it is always there, and wide
  characters never push a line past the plot's edge.

A build that fails all the same (a plotext bug not met yet) shows the title and a note instead of
taking the app down; `failure` says what went wrong.
"""

from __future__ import annotations

import math
import re

from plotext import _utility as plotext_utility
from rich.cells import cell_len
from rich.text import Text
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from grpotui.tui import text

LIMIT = 1e300          # larger magnitudes are not drawn
MIN_SPAN = 1e-200      # narrower axes are widened (plotext's tick labels need 10 ** digits < 1e308)
LOG_DECADES = (-290, 298)   # a log axis's limits are within 10 ** these
MARGIN = 8             # with fixed limits, points further out than this many spans are pulled in
PLACEHOLDER = "\ue000"  # (a private-use character) holds the title's cells while plotext lays out
_PLACED = re.compile(PLACEHOLDER + "(?:(?:\x1b\\[[0-9;]*m)*" + PLACEHOLDER + ")*")


def number(v) -> float | None:
    """`v` as a float plotext can place, or None: a finite int or float within +-LIMIT."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except (OverflowError, ValueError):   # an int too large for a float
        return None
    return f if math.isfinite(f) and abs(f) <= LIMIT else None


def points(xs, ys) -> tuple[list[float], list[float]]:
    """The pairs (x, y) that can both be placed (none where xs or ys is not a sequence)."""
    out_x, out_y = [], []
    if not all(isinstance(v, (list, tuple, range)) for v in (xs, ys)):
        xs, ys = _listed(xs), _listed(ys)
    for x, y in zip(xs, ys):
        fx, fy = number(x), number(y)
        if fx is not None and fy is not None:
            out_x.append(fx)
            out_y.append(fy)
    return out_x, out_y


def _listed(v) -> list:
    if isinstance(v, (str, bytes, dict)):
        return []
    try:
        return list(v)
    except TypeError:
        return []


def span(lo, hi) -> tuple[float, float] | None:
    """An axis range plotext can draw: ordered, finite and not empty (an empty one is padded
    around its value). None when either end is not a number that can be placed."""
    lo, hi = number(lo), number(hi)
    if lo is None or hi is None:
        return None
    lo, hi = min(lo, hi), max(lo, hi)
    if _narrow(lo, hi):   # ticks and points would land on one another; their labels overflow
        pad = max(abs(lo) * 0.5, 1.0)
        lo, hi = lo - pad, hi + pad
    return lo, hi


def _narrow(lo: float, hi: float) -> bool:
    return hi - lo < MIN_SPAN or hi - lo <= 1e-9 * max(abs(lo), abs(hi))


class SafePlt(Plot):
    """textual-plotext's Plot with the checks above (the calls grpotui makes: plot, scatter, vline,
    hline, xlim, ylim, title; the rest are plotext's own)."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)        # (clear_figure calls this again: a fresh figure)
        self._title: str | None = None

    # ---------------------------------------------------------------- what is drawn
    def _xy(self, args) -> tuple[list[float], list[float]]:
        if len(args) == 1:
            ys = _listed(args[0])
            return points(range(1, len(ys) + 1), ys)
        if len(args) >= 2:
            return points(args[0], args[1])
        return [], []

    def plot(self, *args, **kw) -> None:
        xs, ys = self._xy(args)
        if xs:
            super().plot(xs, ys, **kw)

    def scatter(self, *args, **kw) -> None:
        xs, ys = self._xy(args)
        if xs:
            super().scatter(xs, ys, **kw)

    def vertical_line(self, coordinate, color=None, xside=None) -> None:
        at = number(coordinate)
        if at is not None:
            super().vertical_line(at, color=color, xside=xside)

    def horizontal_line(self, coordinate, color=None, yside=None) -> None:
        at = number(coordinate)
        if at is not None:
            super().horizontal_line(at, color=color, yside=yside)

    vline, hline = vertical_line, horizontal_line

    def xlim(self, left=None, right=None, xside=None) -> None:
        lim = span(left, right)
        super().xlim(*(lim or (None, None)), xside=xside)

    def ylim(self, lower=None, upper=None, yside=None) -> None:
        lim = span(lower, upper)
        super().ylim(*(lim or (None, None)), yside=yside)

    def title(self, label=None) -> None:
        self._title = text.clean(label) if label is not None else None   # one line, no controls

    # ---------------------------------------------------------------- building
    def build(self) -> str:
        """The plot as plotext draws it, built from a copy of the figure (so it can be built again,
        at another size), with the title cut to fit."""
        width = max(0, self._width or 0)
        title, note = self._title or "", ""
        saved = self.monitor
        try:
            work = saved.copy()
            note = _prepare(work)
            if note:
                title = f"{title} ({note})" if title else note
            want = text.cut(title, width) if title else ""
            out = self._build_with(work, cell_len(want))
            if want and not _placed(out, cell_len(want)):
                room = _title_room(self.monitor, width)
                if 0 < room < cell_len(want):   # plotext centres it: cut to fit there
                    want = text.cut(title, room)
                    work = saved.copy()
                    _prepare(work)
                    out = self._build_with(work, cell_len(want))
            return _put_title(out, want, width)
        finally:
            self.monitor = saved

    def _build_with(self, work, cells: int) -> str:
        # (a title of "" keeps its row, as in plotext: a chart waiting for a title does not jump)
        work.title = PLACEHOLDER * cells if cells else ("" if self._title is not None else None)
        self.monitor = work
        return Plot.build(self)


def _prepare(m) -> str:
    """Make a (copied) plotext monitor safe to build; a note for the title, or ""."""
    linear, log = m.default.xscale
    axes = [(m.x, m.xscale, m.xside, m.default.xside, m.xlim, m.vcoord, m.vcolors),
            (m.y, m.yscale, m.yside, m.default.yside, m.ylim, m.hcoord, m.hcolors)]
    left_off = 0
    for data, scales, sides, default_sides, lims, coords, colours in axes:   # log: only > 0
        for pos in (0, 1):
            if scales[pos] != log:
                continue
            for s in _signals(sides, default_sides[pos]):
                keep = [i for i, v in enumerate(data[s]) if _positive(v)]
                if len(keep) < len(data[s]):
                    left_off += len(data[s]) - len(keep)
                    _keep(m, s, keep)
            keep = [i for i, c in enumerate(coords[pos]) if _positive(c)]
            coords[pos] = [coords[pos][i] for i in keep]
            colours[pos] = [colours[pos][i] for i in keep if i < len(colours[pos])]
    for data, scales, sides, default_sides, lims, coords, colours in axes:   # the limits
        for pos in (0, 1):
            signals = _signals(sides, default_sides[pos])
            values = [v for s in signals for v in data[s]] + list(coords[pos])
            lo, hi = lims[pos]
            if scales[pos] == log:             # (at most ~590 decades: nothing to pull in)
                lims[pos] = _log_limits(values, lo, hi)
                if lims[pos] == [None, None]:
                    scales[pos] = linear       # nothing to draw: plotext cannot draw a log axis
                continue
            if lo is None and hi is None:      # plotext's own, from the data, unless too narrow
                if not values or not _narrow(*plotext_utility.get_lim(values)):
                    continue
                lo, hi = min(values), max(values)
            if lo is None or hi is None:       # one end fixed: the other from the data
                lo = lo if lo is not None else min(values, default=hi - 1)
                hi = hi if hi is not None else max(values, default=lo + 1)
            lo, hi = span(lo, hi) or (-1.0, 1.0)
            lims[pos] = [lo, hi]
            room = MARGIN * (hi - lo)          # fixed limits: far points are pulled in, so a line
            for s in signals:                  # to one is drawn in a bounded number of steps
                data[s][:] = [min(max(v, lo - room), hi + room) for v in data[s]]
            coords[pos] = [min(max(c, lo - room), hi + room) for c in coords[pos]]
    return f"{left_off} point{'s' if left_off != 1 else ''} ≤ 0 left off the log scale" \
        if left_off else ""


def _signals(sides, side) -> list[int]:
    return [s for s in range(len(sides)) if sides[s] == side]


def _positive(v) -> bool:
    return isinstance(v, (int, float)) and v > 0


def _log_limits(values: list[float], lo, hi) -> list:
    """A log axis's limits as plotext uses them (log10 of the values), at least two decades apart
    (plotext's own padding, half to one and a half times, can reach 10 ** 460)."""
    if not values:
        return [None, None]
    least, most = LOG_DECADES
    lo = math.log10(lo if lo is not None and lo > 0 else min(values))
    hi = math.log10(hi if hi is not None and hi > 0 else max(values))
    lo, hi = (min(max(v, least), most) for v in (min(lo, hi), max(lo, hi)))
    if hi - lo < 2:
        lo, hi = lo - 1, hi + 1
    return [lo, hi]


def _keep(m, s: int, keep: list[int]) -> None:
    """Keep only the points `keep` of signal s (with their per-point markers, colours, styles)."""
    for name in ("x", "y", "marker", "color", "style"):
        rows = getattr(m, name)
        if s < len(rows) and isinstance(rows[s], list):
            rows[s] = [rows[s][i] for i in keep if i < len(rows[s])]


def _title_room(m, width: int) -> int:
    """The longest title plotext centres over this monitor's canvas (as _build.py places it)."""
    cols = m.matrix.Cols_canvas
    centre = cols.start + (cols.stop - cols.start) // 2
    room = 0
    for n in range(1, width + 1):
        start = centre - n // 2
        if start >= 0 and start + n <= width:
            room = n
    return room


def _placed(out: str, cells: int) -> bool:
    """plotext drew the title's placeholders, all of them, in one run (at a tiny size an axis can
    draw over some)."""
    run = _PLACED.search(out)
    return bool(run) and run.group().count(PLACEHOLDER) == cells == out.count(PLACEHOLDER)


def _put_title(out: str, want: str, width: int) -> str:
    if not want:
        return out
    if _placed(out, cell_len(want)):   # in plotext's place and style: as many cells as the title
        return _PLACED.sub(lambda _: want, out, count=1)
    lines = out.replace(PLACEHOLDER, " ").split("\n")  # no room there: the first line, unstyled
    lines[0] = want + " " * max(0, width - cell_len(want))
    return "\n".join(lines)


class SafePlot(PlotextPlot):
    """A PlotextPlot whose `plt` is a SafePlt, that draws at any size, and that shows a note where a
    build fails all the same."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._plot = SafePlt()
        self.failure: str | None = None

    def render(self) -> Text:
        w, h = max(0, self.size.width), max(0, self.size.height)
        plt = self._plot
        plt.plotsize(w, h)
        plt._set_size(w, h)
        try:
            plt.theme(self._get_plotext_theme_name(self.app.theme))
            drawn = plt.build()
        except Exception as error:   # the last defence: a plot never takes the app down
            self.failure = f"{type(error).__name__}: {error}"
            self.log.error("plot failed", self.id, self.failure)
            drawn = "\n".join([text.cut(plt._title or "", w),
                               text.cut("(cannot draw this plot)", w)])
        else:
            self.failure = None
        return Text.from_ansi(drawn, no_wrap=True, overflow="crop")
