"""Sparklines of the signals practitioners watch, each with its latest value and range.

Each history is bounded: when it fills, neighbouring points are averaged in pairs and later points are
averaged `stride` at a time, so an hour-long run costs the same memory and drawing time as a minute.
"""

from __future__ import annotations

import math
from statistics import fmean

from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline

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
        self.histories = {key: History() for key, _ in CURVES}
        self.dirty = False

    def compose(self):
        for key, label in CURVES:
            slug = key.replace("/", "-").replace("_", "-")
            with Horizontal(classes="curve-row"):
                yield Label(label, classes="curve-label")
                # a bar is its points' mean (Textual's default, the max, keeps a bar high after
                # the signal has dropped); the label beside it gives the extremes
                yield Sparkline([], id=f"spark-{slug}", classes="curve-spark",
                                summary_function=fmean)
                yield Label("—", id=f"value-{slug}", classes="curve-value")

    def add_points(self, points: list[dict]) -> None:
        for p in points:
            for key, _ in CURVES:
                self.histories[key].add(p.get(key))
        self.dirty = self.dirty or bool(points)

    def clear(self) -> None:
        for h in self.histories.values():
            h.clear()
        self.dirty = True

    def flush(self) -> None:
        """Redraw the sparklines if new points came in (called a few times a second)."""
        if not self.dirty:
            return
        self.dirty = False
        for key, _ in CURVES:
            h = self.histories[key]
            slug = key.replace("/", "-").replace("_", "-")
            self.query_one(f"#spark-{slug}", Sparkline).data = list(h.values)
            rng = f" {fmt_value(h.lo, 2)}..{fmt_value(h.hi, 2)}" if h.latest is not None else ""
            # fixed-size cells (app.tcss): repaint, don't re-layout the screen
            self.query_one(f"#value-{slug}", Label).update(f"{fmt_value(h.latest)}{rng}", layout=False)
