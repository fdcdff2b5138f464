"""Curve data for watched runs: bounded series and TensorBoard's smoothing. Plain Python, no UI.

A Series keeps at most `cap` points of (step, time, value): when it fills, neighbouring points are
averaged in pairs and later points are averaged `stride` at a time, so a run of a million steps costs
what a run of a thousand does.
"""

from __future__ import annotations

import math


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
    """At most `cap` points (x by step and by time, y), downsampled by averaging as they come."""

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

    def add(self, step: float, time: float | None, value: float) -> None:
        if not math.isfinite(value):
            return
        self.latest, self.latest_step = value, step
        self._acc.append((step, time if time is not None else math.nan, value))
        if len(self._acc) < self.stride:
            return
        n = len(self._acc)
        self.steps.append(sum(a[0] for a in self._acc) / n)
        self.times.append(sum(a[1] for a in self._acc) / n)
        self.values.append(sum(a[2] for a in self._acc) / n)
        self._acc = []
        if len(self.values) >= self.cap:
            for name in ("steps", "times", "values"):
                v = getattr(self, name)
                setattr(self, name, [(a + b) / 2 for a, b in zip(v[::2], v[1::2])])
            self.stride *= 2

    def xy(self, x: str = "step") -> tuple[list[float], list[float]]:
        """The points to draw (x is "step" or "time"; points without a time are left out)."""
        xs = self.steps if x == "step" else self.times
        pairs = [(a, b) for a, b in zip(xs, self.values) if math.isfinite(a)]
        return [a for a, _ in pairs], [b for _, b in pairs]


def thin(xs: list[float], ys: list[float], limit: int) -> tuple[list[float], list[float]]:
    """At most `limit` evenly spread points (the last one always kept): what a plot of that width
    can show."""
    if len(xs) <= limit or limit < 2:
        return xs, ys
    step = (len(xs) - 1) / (limit - 1)
    idx = sorted({round(i * step) for i in range(limit)})
    return [xs[i] for i in idx], [ys[i] for i in idx]
