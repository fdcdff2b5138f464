"""The system panel: CPU, memory and GPU of the training process, each as its latest value and a
sparkline of its history (like the system panel of W&B's LEET).

Two ways in:
- training (the dashboard): `SystemPanel(pid=callable)` samples the training process itself, every
  SAMPLE_SECONDS, in a thread (grpotui/sysmetrics.py); the callable gives the process's id now (a
  reset may start a new process) or None.
- watching files: `panel.add_run(run, events, selected)` with each run's snapshot events; it keeps
  every run's `system` records (already checked by grpotui/records.py) and shows the selected run's.

It starts shown where the terminal has room (SHOW_FROM columns and rows), else hidden; `toggle()`
(the dashboard's key) shows and hides it.
"""

from __future__ import annotations

import math
from statistics import fmean

from textual import work
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Label, Sparkline

from grpotui.sysmetrics import SAMPLE_SECONDS, Sampler
from grpotui.tui import text
from grpotui.tui.widgets.curves import History

ROWS = [  # (key, label)
    ("system/cpu_percent", "CPU"),
    ("system/memory_mb", "RSS"),
    ("system/memory_percent", "RAM"),
    ("system/gpu_utilization", "GPU"),
    ("system/gpu_memory_mb", "VRAM"),
]
SHOW_FROM = (140, 32)   # (columns, rows): it starts shown from this size, hidden below


def fmt(key: str, v: float | None) -> str:
    """A system metric's value: percents as 45%, memory as 812 MB or 1.23 GB."""
    if v is None:
        return "—"
    if key.endswith("_mb"):
        if abs(v) >= 1024 * 1000:
            return f"{v / 1024 ** 2:.3g} TB"
        return f"{v / 1024:.3g} GB" if abs(v) >= 1000 else f"{v:.0f} MB"
    return f"{v:.0f}%" if abs(v) < 1e5 else f"{v:.1e}%"


def _slug(key: str) -> str:
    return key.split("/", 1)[1].replace("_", "-")


class SystemPanel(Vertical):
    DEFAULT_CSS = """
    SystemPanel {
        width: 30;
        height: 1fr;
        border: round $primary;
        padding: 0 1;
    }
    SystemPanel .system-row { height: 1; display: none; }
    SystemPanel .system-row.-has-data { display: block; }
    SystemPanel .system-label { width: 5; color: $text-muted; }
    SystemPanel .system-spark { width: 1fr; height: 1; }
    SystemPanel .system-value { width: 9; padding-left: 1; }
    SystemPanel #system-message { width: 100%; height: auto; color: $text-muted; }
    """

    class Sampled(Message):
        """A sample of the training process (posted from the sampling thread)."""

        def __init__(self, pid: int, sample: dict[str, float], failed: str | None) -> None:
            super().__init__()
            self.pid, self.sample, self.failed = pid, sample, failed

    def __init__(self, pid=None, **kw) -> None:
        super().__init__(**kw)
        self.pid_of = pid                     # training: the training process's id, now
        self.runs: dict[int, dict[str, History]] = {}
        self.shown = 0                        # the run whose metrics show
        self.sampler: Sampler | None = None
        self.failed: str | None = None

    def compose(self):
        yield Label(self._waiting(), id="system-message")
        for key, label in ROWS:
            with Horizontal(id=f"system-row-{_slug(key)}", classes="system-row"):
                yield Label(label, classes="system-label")
                yield Sparkline([], id=f"system-spark-{_slug(key)}", classes="system-spark",
                                summary_function=fmean)
                yield Label("—", id=f"system-value-{_slug(key)}", classes="system-value")

    def on_mount(self) -> None:
        self.border_title = "system"
        self.border_subtitle = "y hide"
        width, height = self.app.size
        self.display = width >= SHOW_FROM[0] and height >= SHOW_FROM[1]
        if self.pid_of is not None:
            self.set_interval(SAMPLE_SECONDS, self._tick)

    # ------------------------------------------------------------------ in
    def add(self, samples: list[dict], run: int = 0) -> None:
        """Samples (dicts of system/* -> number; other keys are ignored) of `run`."""
        histories = self.runs.setdefault(run, {key: History(128) for key, _ in ROWS})
        for s in samples:
            for key, _ in ROWS:
                v = s.get(key)
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                    histories[key].add(float(v))
        if run == self.shown and samples:
            self._draw()

    def add_run(self, run: int, events: list[dict], selected: int) -> None:
        """A watched run's snapshot events: its system records are kept (a start record, as in a
        file replaced by a new run, starts them over); the panel shows the selected run's."""
        samples: list[dict] = []
        for e in events:
            kind = e.get("event")
            if kind == "system":
                samples.append(e)
            elif kind == "start" and run in self.runs:
                samples = []
                del self.runs[run]
                if run == self.shown:
                    self._draw()
        if samples:
            self.add(samples, run)
        self.select(selected)

    def select(self, run: int) -> None:
        """Show `run`'s metrics (watching: the selected run)."""
        if run != self.shown:
            self.shown = run
            self._draw()

    def toggle(self) -> bool:
        """Show or hide the panel; whether it shows now."""
        self.display = not self.display
        return self.display

    # ------------------------------------------------------------------ training: sampling
    def _tick(self) -> None:
        try:
            pid = self.pid_of()
        except Exception:                       # noqa: BLE001 - no process right now
            pid = None
        if pid is None:
            return
        if self.sampler is None or self.sampler.pid != pid:   # a new training process
            self.sampler, self.failed = Sampler(pid), None
            self._draw()
            self._sample(self.sampler, first=True)
        elif not self.sampler.failed:
            self._sample(self.sampler)

    @work(thread=True, exclusive=True, group="system-sample")
    def _sample(self, sampler: Sampler, first: bool = False) -> None:
        """psutil reads /proc (and NVML asks the driver): off the UI thread. The first sample only
        starts the CPU count (its share is always 0): the figures come from the next tick."""
        sample = sampler.sample()
        if first and not sampler.failed:
            return
        failed = "the training process has ended" if sampler.ended else sampler.failed
        self.post_message(self.Sampled(sampler.pid, sample, failed))

    def on_system_panel_sampled(self, message: Sampled) -> None:
        message.stop()
        if self.sampler is None or message.pid != self.sampler.pid:
            return                              # an old process's late sample
        if message.failed:
            self.failed = message.failed
            self._draw()
        elif message.sample:
            self.add([message.sample])

    # ------------------------------------------------------------------ out
    def _waiting(self) -> str:
        if self.pid_of is None:
            return "no system records yet"
        return f"sampling every {SAMPLE_SECONDS:g} s…"

    def _draw(self) -> None:
        histories = self.runs.get(self.shown) or {}
        any_data = False
        for key, _ in ROWS:
            h = histories.get(key)
            has = h is not None and h.latest is not None
            any_data = any_data or has
            slug = _slug(key)
            self.query_one(f"#system-row-{slug}").set_class(has, "-has-data")
            if has:
                self.query_one(f"#system-spark-{slug}", Sparkline).data = list(h.values)
                self.query_one(f"#system-value-{slug}", Label).update(fmt(key, h.latest))
        message = self.query_one("#system-message", Label)
        if self.failed:
            message.update(text.plain(f"stopped: {text.one_line(self.failed, 200)}"))
        else:
            message.update(self._waiting())
        message.display = bool(self.failed) or not any_data
