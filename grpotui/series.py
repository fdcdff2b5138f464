"""Curve data for watched runs: bounded series and TensorBoard's smoothing. Plain Python, no UI.

A Series keeps at most `cap` points of (step, time, value): when it fills, neighbouring points are
averaged in pairs and later points are averaged `stride` at a time, so a run of a million steps costs
what a run of a thousand does. The last, lowest and highest value ever added are kept exactly
(`latest`, `low`, `high`): the averaged points can halve a lone spike.

Steps, times and values come from files: a point whose step or value is not a finite number is left
out (a time that is not one counts as no time), and means of huge numbers do not overflow.
"""

from __future__ import annotations

import math
import sys


def ema(values: list[float], weight: float) -> list[float]:
    """TensorBoard's smoothing (its scalar dashboard's slider, 0 <= weight < 1): an exponential
    moving average started at zero and debiased, so early points are not pulled towards zero:

        last = last * weight + (1 - weight) * y;   n += 1;   smoothed = last / (1 - weight ** n)

    Non-finite values pass through unsmoothed and do not enter the average; a constant series stays
    constant (as in TensorBoard)."""
    if not 0 <= weight < 1:
        raise ValueError(f"smoothing weight {weight}: must be from 0 to below 1")
    if weight == 0 or not values:
        return list(values)
    if all(v == values[0] for v in values):
        return list(values)
    out, last, n = [], 0.0, 0
    for y in values:
        if not math.isfinite(y):
            out.append(y)
            continue
        last = last * weight + (1 - weight) * y
        n += 1
        out.append(last / (1 - weight ** n))
    return out


class Series:
    """At most `cap` points (x by step and by time, y), downsampled by averaging as they come, and
    the exact last, lowest and highest of every finite value added since it was made or cleared."""

    def __init__(self, cap: int = 1024):
        self.cap = cap
        self.clear()

    def clear(self) -> None:
        self.steps: list[float] = []
        self.times: list[float] = []
        self.values: list[float] = []
        self.stride = 1
        self._acc: list[tuple[float, float, float]] = []
        self.latest: float | None = None
        self.latest_step: float | None = None
        self.low: float | None = None
        self.high: float | None = None

    def add(self, step: float, time: float | None, value: float) -> None:
        x, y = finite(step), finite(value)
        if x is None or y is None:
            return
        t = finite(time)
        self.latest, self.latest_step = y, step
        if self.low is None or y < self.low:
            self.low = y
        if self.high is None or y > self.high:
            self.high = y
        if self.stride == 1:      # not yet thinned: the point as it is (most points of a file)
            self.steps.append(x)
            self.times.append(t if t is not None else math.nan)
            self.values.append(y)
            if len(self.values) >= self.cap:
                self._halve()
            return
        self._acc.append((x, t if t is not None else math.nan, y))
        if len(self._acc) < self.stride:
            return
        self.steps.append(mean([a[0] for a in self._acc]))
        self.times.append(mean([a[1] for a in self._acc]))
        self.values.append(mean([a[2] for a in self._acc]))
        self._acc = []
        if len(self.values) >= self.cap:
            self._halve()

    def _halve(self) -> None:
        """Full: average neighbouring points in pairs; later points come `stride` at a time."""
        for name in ("steps", "times", "values"):
            v = getattr(self, name)
            setattr(self, name, [mean([a, b]) for a, b in zip(v[::2], v[1::2])])
        self.stride *= 2

    def xy(self, x: str = "step") -> tuple[list[float], list[float]]:
        """The points to draw (x is "step" or "time"; points without a time are left out)."""
        xs = self.steps if x == "step" else self.times
        pairs = [(a, b) for a, b in zip(xs, self.values) if math.isfinite(a)]
        return [a for a, _ in pairs], [b for _, b in pairs]


def finite(v) -> float | None:
    """`v` as a finite float, or None where it is not a finite int or float (bools are not)."""
    if type(v) is float:      # the common case, first
        return v if math.isfinite(v) else None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:   # an int too large for a float
        return None
    return f if math.isfinite(f) else None


def mean(values: list[float]) -> float:
    """The mean of finite floats, without overflowing where their sum would (nan if one is)."""
    n = len(values)
    m = sum(values) / n
    if math.isinf(m):
        m = sum(v / n for v in values)
        m = min(max(m, -sys.float_info.max), sys.float_info.max)
    return m


def thin(xs: list[float], ys: list[float], limit: int) -> tuple[list[float], list[float]]:
    """At most `limit` evenly spread points (the last one always kept): what a plot of that width
    can show."""
    if len(xs) <= limit or limit < 2:
        return xs, ys
    step = (len(xs) - 1) / (limit - 1)
    idx = sorted({round(i * step) for i in range(limit)})
    return [xs[i] for i in idx], [ys[i] for i in idx]
