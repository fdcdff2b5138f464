"""The status line: state, preset, rollout, step, speed, elapsed time."""

from __future__ import annotations

from textual.widgets import Static

STATE_STYLE = {"running": "$success", "paused": "$warning", "starting": "$secondary",
               "done": "$accent", "diverged": "$error", "crashed": "$error", "stopped": "$error"}
HINT = {"done": "run length reached: space continues, r resets",
        "diverged": "change a setting, then space continues; r resets",
        "crashed": "r resets", "stopped": "training process ended: r restarts it"}


def format_seconds(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class StatusLine(Static):
    shown: dict | None = None

    def show(self, **facts) -> None:
        self.shown = facts
        self._draw(**facts)

    def on_resize(self) -> None:
        if self.shown:
            self._draw(**self.shown)

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

