"""The status line: state, preset, rollout, step, speed, elapsed time."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from grpotui.tui import text

STATE_STYLE = {"running": "$success", "paused": "$warning", "starting": "$secondary",
               "done": "$accent", "diverged": "$error", "crashed": "$error", "stopped": "$error"}
HINT = {"done": "run length reached: space continues, r resets",
        "diverged": "change a setting, then space continues; r resets",
        "crashed": "r resets", "stopped": "training process ended: r restarts it"}


def format_seconds(s: float) -> str:
    s = int(min(max(s, 0.0), 1e9)) if s == s else 0    # a watched file's time: any number
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


RUN_STYLE = {"watching": "$success", "idle": "$warning", "finished": "$accent", "failed": "$error",
             "waiting": "$secondary", "unreadable": "$error"}


def run_state(run: dict) -> str:
    """A watched run's state in words: watching, idle for N s, finished, failed, waiting."""
    if run["status"] == "idle":
        return f"idle for {int(run.get('idle_seconds', 0))} s"
    if run["status"] == "waiting":
        return "waiting for the file"
    if run["status"] == "unreadable":
        return "not a metrics file"
    return run["status"]


def overall_state(runs: list[dict]) -> str:
    states = {r["status"] for r in runs}
    for state in ("watching", "waiting", "idle", "failed"):
        if state in states:
            return "watching" if state == "waiting" else state
    return "finished" if states - {"unreadable"} else "watching"


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
        parts = [text.assemble((f"● {state.upper()}", f"b {style}"))]
        if not runs:
            parts.append(text.plain("no metrics files yet"))
        for r in runs:   # run names come from files: content, never markup
            mark = "▶" if r["run"] == selected else ""
            rs = RUN_STYLE.get(r["status"], "$text")
            parts.append(text.assemble(mark, (text.one_line(r["name"], 60), "b"), " step ",
                                       (str(r["step"]), "b"), " ", (run_state(r), rs)))
        if wide:
            parts.append(text.plain(f"smoothing {smoothing:.2f}"))
        sep = text.plain(" │ " if not wide else "  │  ")
        self.update(sep.join(parts), layout=False)

    def _draw(self, *, state: str, preset: str, rollout: int, rollouts: int, step: int,
              steps_per_second: float, seconds: float, speed: float) -> None:
        style = STATE_STYLE.get(state, "$text")
        sps = f"[b]{steps_per_second:.0f}[/]" if state == "running" else "—"
        # the preset's name can come from any YAML file (--preset PATH): content, not markup; the
        # rest is ours (numbers and styles)
        name = text.assemble((text.one_line(preset or "-", 40), "b"))
        if (self.size.width or 120) >= 110:
            speed_text = "full speed" if not speed else \
                f"{speed:g} rollout{'' if speed == 1 else 's'}/s"
            where = (f"rollout [b]{rollout}[/]/{rollouts}" if rollout <= rollouts else
                     f"rollout [b]{rollout}[/] (past {rollouts}"
                     f"{', going on' if state == 'running' else ''})")
            parts = [f"[b {style}]● {state.upper()}[/]", text.assemble("preset ", name), where, f"step [b]{step}[/]",
                     f"{sps} steps/s", format_seconds(seconds), speed_text]
            sep = "  │  "
        else:  # narrow terminals: the same facts, fewer words
            parts = [f"[b {style}]● {state.upper()}[/]", name,
                     f"r [b]{rollout}[/]/{rollouts}" if rollout <= rollouts else
                     f"r [b]{rollout}[/] >{rollouts}", f"step [b]{step}[/]", f"{sps}/s",
                     format_seconds(seconds)] + ([f"{speed:g} r/s"] if speed else [])
            sep = " │ "
        if state in HINT:
            parts.append(f"[{style}]{HINT[state]}[/]")
        line = text.plain(sep).join(p if isinstance(p, Content) else Content.from_markup(p)
                                    for p in parts)
        self.update(line, layout=False)  # one line, always: no re-layout needed

