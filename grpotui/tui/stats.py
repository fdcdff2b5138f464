"""What the dashboard costs, measured from inside: for soak runs and the benchmark, not for users.

Set GRPOTUI_STATS=FILE before starting the dashboard and every STATS_EVERY seconds it appends one
JSON line to FILE:

    t               seconds since the dashboard started
    step, steps_per_second
    snapshots_per_second   training snapshots the screen took in (the screen's update rate)
    frame_ms        p50/p95/max over the window: from a redraw tick to the end of the screen refresh
                    that shows it (Textual's call_after_refresh), the time a frame takes
    handler_ms      p50/p95/max: time spent in our own code applying a snapshot to the widgets
    lag_ms          p95/max: how late a 10 Hz timer fires (an event loop kept busy shows here first)
    rss_ui_mb, rss_worker_mb   resident memory of the two processes (Linux /proc; null elsewhere)
    widgets         the number of widgets on the screen (it must not grow)

scripts/soak.py runs the dashboard in a real terminal (tmux) for as long as you like and sums this up.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

STATS_EVERY = 10.0
LAG_TICK = 0.1


def rss_mb(pid: int | None) -> float | None:
    """Resident set size of process `pid` in MB, from /proc (None where there is no /proc)."""
    if pid is None:
        return None
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    v = sorted(values)
    pick = lambda q: round(v[min(len(v) - 1, int(q * len(v)))], 2)  # noqa: E731
    return {"p50": pick(0.5), "p95": pick(0.95), "max": round(v[-1], 2)}


class UiStats:
    """Collects timings between flushes; `flush` writes one line and starts a new window."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.start = time.monotonic()
        self.window_start = self.start
        self.frames: list[float] = []
        self.handlers: list[float] = []
        self.lags: list[float] = []
        self.snapshots = 0
        self.last_tick = time.monotonic()

    def handler(self, seconds: float) -> None:
        self.handlers.append(seconds * 1000)
        self.snapshots += 1

    def frame(self, seconds: float) -> None:
        self.frames.append(seconds * 1000)

    def tick(self) -> None:
        """Called by a LAG_TICK timer: how much later than asked did it fire?"""
        now = time.monotonic()
        self.lags.append(max(0.0, (now - self.last_tick - LAG_TICK) * 1000))
        self.last_tick = now

    def flush(self, *, step: int, steps_per_second: float, worker_pid: int | None,
              widgets: int) -> dict:
        now = time.monotonic()
        lag = _percentiles(self.lags)
        record = {
            "t": round(now - self.start, 1),
            "step": step,
            "steps_per_second": round(steps_per_second, 1),
            "snapshots_per_second": round(self.snapshots / max(1e-9, now - self.window_start), 1),
            "frame_ms": _percentiles(self.frames),
            "handler_ms": _percentiles(self.handlers),
            "lag_ms": {"p95": lag["p95"], "max": lag["max"]},
            "rss_ui_mb": rss_mb(os.getpid()),
            "rss_worker_mb": rss_mb(worker_pid),
            "widgets": widgets,
        }
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        self.window_start = now
        self.frames, self.handlers, self.lags, self.snapshots = [], [], [], 0
        return record
