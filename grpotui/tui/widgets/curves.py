"""Sparklines of the signals practitioners watch, each with its latest value and range.

A variable-length run (min_n > 0) adds its length view under them: the mean length of correct and of
incorrect responses and the truncated share over time, and a table of the latest held-out exact
match and truncation for each prompt length M, where one length class that never learns to stop
shows (EM 0.10, truncated 1.00 at M = 8). A fixed-length run has none of it (the rows are hidden).

Each history is bounded: when it fills, neighbouring points are averaged in pairs and later points are
averaged `stride` at a time, so an hour-long run costs the same memory and drawing time as a minute.
"""

from __future__ import annotations

import math
from statistics import fmean

from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Label, Sparkline

from grpotui.tui import text

CURVES = [  # (key in the snapshot points, label)
    ("reward", "reward"),
    ("exact_match", "exact (train)"),
    ("heldout_exact_match", "held-out EM"),
    ("loss", "loss"),
    ("kl", "KL to ref"),
    ("clip_ratio/region_mean", "clip frac"),
    ("entropy", "entropy"),
    ("grad_norm", "grad norm"),
    ("lr", "learning rate"),
]
# the rows a short terminal leaves out when the length view needs their room
MINOR = ("kl", "grad_norm", "lr")
LENGTH_CURVES = [  # variable length only
    ("completions/mean_length_correct", "length ✓"),
    ("completions/mean_length_incorrect", "length ✗"),
    ("completions/clipped_ratio", "truncated"),
]
EM_PREFIX, TRUNCATED_PREFIX = "heldout_exact_match/", "heldout_truncated/"


def _slug(key: str) -> str:
    return key.replace("/", "-").replace("_", "-")


def _share(v: float | None, cells: int) -> str:
    """A share from 0 to 1 in `cells` (4: 0.10, 1.00; 3: .10, 1.0); — when there is none."""
    if v is None:
        return "—"
    v = min(1.0, max(0.0, v))
    if cells >= 4:
        return f"{v:.2f}"
    return "1.0" if v >= 0.995 else f"{v:.2f}"[1:]


class LengthTable(Widget):
    """The latest held-out exact match and truncated share per prompt length M, one column each.
    Drawn to its width: long labels and 0.10 where they fit, then short ones and .10, then the
    longest prompt lengths only (a … says the shorter ones are left out)."""

    DEFAULT_CSS = "LengthTable { height: 3; }"
    LONG = ("prompt length", "held-out EM", "truncated")
    SHORT = ("M", "EM", "trunc")

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.lengths: list[int] = []
        self.exact: dict[int, float | None] = {}
        self.truncated: dict[int, float | None] = {}

    def columns(self) -> list[int]:
        return sorted(set(self.lengths) | set(self.exact) | set(self.truncated))

    def layout_for(self, width: int) -> tuple[tuple[str, ...], int, int, list[int], bool]:
        """(labels, label cells, cells per value, the lengths shown, whether some are left out)."""
        ms = self.columns()
        for labels, label_w, cell in ((self.LONG, 13, 4), (self.SHORT, 5, 4), (self.SHORT, 5, 3)):
            if label_w + len(ms) * (cell + 1) <= width:
                return labels, label_w, cell, ms, False
        fit = max(0, (width - 6) // 4)           # a cell of the label's side goes to the …
        return self.SHORT[:2] + ("cut",), 5, 3, ms[len(ms) - fit:] if fit else [], True

    def render(self) -> Content:
        labels, label_w, cell, ms, cut = self.layout_for(self.size.width)
        if not self.columns():
            return text.plain("held-out per prompt length: —", "$foreground-muted")

        def row(label: str, cells: list[Content]) -> Content:
            lead = text.plain(text.cut(label, label_w).ljust(label_w), "$foreground-muted")
            more = [text.plain("…", "$foreground-muted")] if cut else []
            return Content.assemble(lead, *more, *cells)

        def value(v: float | None, bad) -> Content:
            s = _share(v, cell).rjust(cell + 1)
            if v is None:
                return text.plain(s, "$foreground-muted")
            return text.plain(s, "$error" if bad(v) else "")

        header = row(labels[0], [text.plain(str(m).rjust(cell + 1), "b") for m in ms])
        exact = row(labels[1], [value(self.exact.get(m), lambda v: v < 0.5) for m in ms])
        trunc = row(labels[2], [value(self.truncated.get(m), lambda v: v >= 0.5) for m in ms])
        return text.lines([header, exact, trunc])


class History:
    """At most `cap` points, downsampled by averaging as they come."""

    def __init__(self, cap: int = 256):
        self.cap = cap
        self.values: list[float] = []
        self.stride = 1
        self._acc: list[float] = []
        self.latest: float | None = None
        self.lo = math.inf
        self.hi = -math.inf

    def add(self, v: float | None) -> None:
        if v is None or not math.isfinite(v):
            return
        self.latest = v
        self.lo, self.hi = min(self.lo, v), max(self.hi, v)
        self._acc.append(v)
        if len(self._acc) < self.stride:
            return
        self.values.append(sum(self._acc) / len(self._acc))
        self._acc = []
        if len(self.values) >= self.cap:
            self.values = [(a + b) / 2 for a, b in zip(self.values[::2], self.values[1::2])]
            self.stride *= 2

    def clear(self) -> None:
        self.__init__(self.cap)


def fmt_value(v: float | None, digits: int = 3) -> str:
    """A curve's value as the panels show it (also the watch charts' legend)."""
    if v is None:
        return "—"
    if v == 0:
        return "0"      # a loss of -0.0 (every delta zero) reads as 0, not "-0"
    return f"{v:.{digits}g}" if 1e-3 <= abs(v) < 1e4 else f"{v:.1e}"


class Curves(Vertical):
    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.histories = {key: History() for key, _ in CURVES + LENGTH_CURVES}
        self.dirty = False
        self.variable = False

    def compose(self):
        for key, label in CURVES:
            yield from self._row(key, label, "minor-row" if key in MINOR else "")
        for key, label in LENGTH_CURVES:
            yield from self._row(key, label, "length-row")
        yield LengthTable(id="length-table", classes="length-row")

    def _row(self, key: str, label: str, classes: str):
        slug = _slug(key)
        with Horizontal(classes=f"curve-row {classes}".strip()):
            yield Label(label, classes="curve-label")
            # a bar is its points' mean (Textual's default, the max, keeps a bar high after
            # the signal has dropped); the label beside it gives the extremes
            yield Sparkline([], id=f"spark-{slug}", classes="curve-spark",
                            summary_function=fmean)
            yield Label("—", id=f"value-{slug}", classes="curve-value")

    def set_task(self, config) -> None:
        """Show the length view for a variable-length run (min_n > 0), with a column for each
        prompt length min_n..n; hide it for a fixed-length one. `config`: a TrainConfig or its
        dict."""
        get = config.get if isinstance(config, dict) else lambda k, d=None: getattr(config, k, d)
        min_n, n = get("min_n", 0) or 0, get("n", 0) or 0
        self.variable = min_n > 0
        self.set_class(self.variable, "variable")
        table = self.query_one(LengthTable)
        table.lengths = list(range(min_n, n + 1)) if self.variable else []
        table.refresh()

    def add_points(self, points: list[dict]) -> None:
        table = self.query_one(LengthTable)
        for p in points:
            for key, _ in CURVES + LENGTH_CURVES:
                self.histories[key].add(p.get(key))
            for key, v in p.items():
                if not isinstance(key, str):
                    continue
                for prefix, into in ((EM_PREFIX, table.exact), (TRUNCATED_PREFIX, table.truncated)):
                    if key.startswith(prefix):
                        m = _length(key[len(prefix):])
                        if m is not None:
                            into[m] = v if _finite(v) else None
        self.dirty = self.dirty or bool(points)

    def clear(self) -> None:
        for h in self.histories.values():
            h.clear()
        table = self.query_one(LengthTable)
        table.exact, table.truncated = {}, {}
        self.dirty = True

    def flush(self) -> None:
        """Redraw the sparklines if new points came in (called a few times a second)."""
        if not self.dirty:
            return
        self.dirty = False
        for key, _ in CURVES + LENGTH_CURVES:
            h = self.histories[key]
            slug = _slug(key)
            self.query_one(f"#spark-{slug}", Sparkline).data = spark_data(h.values)
            rng = f" {fmt_value(h.lo, 2)}..{fmt_value(h.hi, 2)}" if h.latest is not None else ""
            # fixed-size cells (app.tcss): repaint, don't re-layout the screen
            self.query_one(f"#value-{slug}", Label).update(f"{fmt_value(h.latest)}{rng}", layout=False)
        self.query_one(LengthTable).refresh()


def spark_data(values: list[float]) -> list[float]:
    """What a sparkline draws for a history: Textual draws one point as full bars (as if at its
    maximum) but an all-equal series as the lowest bars, so a single point is doubled: the first
    rollout's 0 is a flat line at the bottom, not a full block."""
    return list(values) * 2 if len(values) == 1 else list(values)


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _length(s: str) -> int | None:
    """The prompt length M of a heldout_*/M key (None for anything else)."""
    return int(s) if s.isdigit() and len(s) <= 3 else None
