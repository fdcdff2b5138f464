"""The status line: state, preset, rollout, step, speed, elapsed time."""

from __future__ import annotations

from rich.markup import escape
from textual.widgets import Static

STATE_STYLE = {"running": "$success", "paused": "$warning", "starting": "$secondary",
               "done": "$accent", "diverged": "$error", "crashed": "$error", "stopped": "$error"}
HINT = {"done": "run length reached: space continues, r resets",
        "diverged": "change a setting, then space continues; r resets",
        "crashed": "r resets", "stopped": "training process ended: r restarts it"}


def format_seconds(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


RUN_STYLE = {"watching": "$success", "idle": "$warning", "finished": "$accent", "failed": "$error",
             "waiting": "$secondary"}


def run_state(run: dict) -> str:
    """A watched run's state in words: watching, idle for N s, finished, failed, waiting."""
    if run["status"] == "idle":
        return f"idle for {int(run.get('idle_seconds', 0))} s"
    if run["status"] == "waiting":
        return "waiting for the file"
    return run["status"]


def overall_state(runs: list[dict]) -> str:
    states = {r["status"] for r in runs}
    for state in ("watching", "waiting", "idle", "failed"):
        if state in states:
            return "watching" if state == "waiting" else state
    return "finished" if runs else "watching"


class StatusLine(Static):
    shown: dict | None = None
    watched: dict | None = None

    def show(self, **facts) -> None:
        self.shown = facts
        self._draw(**facts)

    def show_watch(self, **facts) -> None:
        """Watching files: the overall state, then each run's latest step and state."""
        self.watched = facts
        self._draw_watch(**facts)

    def on_resize(self) -> None:
        if self.watched:
            self._draw_watch(**self.watched)
        elif self.shown:
            self._draw(**self.shown)

    def _draw_watch(self, *, runs: list[dict], selected: int, smoothing: float, x: str) -> None:
        state = overall_state(runs)
        style = RUN_STYLE.get(state, "$text")
        wide = (self.size.width or 120) >= 110
        parts = [f"[b {style}]● {state.upper()}[/]"]
        if not runs:
            parts.append("no metrics files yet")
        for r in runs:
            mark = "▶" if r["run"] == selected else ""
            rs = RUN_STYLE.get(r["status"], "$text")
            parts.append(f"{mark}[b]{escape(r['name'])}[/] step [b]{r['step']}[/] [{rs}]{run_state(r)}[/]")
        if wide:
            parts.append(f"smoothing {smoothing:.2f}")
        self.update((" │ " if not wide else "  │  ").join(parts), layout=False)

    def _draw(self, *, state: str, preset: str, rollout: int, rollouts: int, step: int,
              steps_per_second: float, seconds: float, speed: float) -> None:
        style = STATE_STYLE.get(state, "$text")
        sps = f"[b]{steps_per_second:.0f}[/]" if state == "running" else "—"
        if (self.size.width or 120) >= 110:
            speed_text = "full speed" if not speed else f"{speed:g} rollouts/s"
            where = (f"rollout [b]{rollout}[/]/{rollouts}" if rollout <= rollouts else
                     f"rollout [b]{rollout}[/] (past {rollouts}"
                     f"{', going on' if state == 'running' else ''})")
            parts = [f"[b {style}]● {state.upper()}[/]", f"preset [b]{preset or '-'}[/]",
                     where, f"step [b]{step}[/]",
                     f"{sps} steps/s", format_seconds(seconds), speed_text]
            sep = "  │  "
        else:  # narrow terminals: the same facts, fewer words
            parts = [f"[b {style}]● {state.upper()}[/]", f"[b]{preset or '-'}[/]",
                     f"r [b]{rollout}[/]/{rollouts}" if rollout <= rollouts else
                     f"r [b]{rollout}[/] >{rollouts}", f"step [b]{step}[/]", f"{sps}/s",
                     format_seconds(seconds)] + ([f"{speed:g} r/s"] if speed else [])
            sep = " │ "
        if state in HINT:
            parts.append(f"[{style}]{HINT[state]}[/]")
        self.update(sep.join(parts), layout=False)  # one line, always: no re-layout needed

