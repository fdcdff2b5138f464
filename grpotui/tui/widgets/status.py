"""The status line: state, preset, rollout, step, speed, elapsed time."""

from __future__ import annotations

import itertools

from rich.cells import cell_len
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
             "waiting": "$secondary", "unreadable": "$error", "gone": "$error"}


def run_state(run: dict) -> str:
    """A watched run's state in words: watching, idle for N s, finished, failed, waiting."""
    if run["status"] == "idle":
        return f"idle for {int(run.get('idle_seconds', 0))} s"
    if run["status"] == "waiting":
        return "waiting for the file"
    if run["status"] == "unreadable":
        return "not a metrics file"
    if run["status"] == "gone":         # deleted: waited for, read again if it comes back
        return "deleted"
    return run["status"]


def overall_state(runs: list[dict]) -> str:
    states = {r["status"] for r in runs}
    for state in ("watching", "waiting", "gone", "idle", "failed"):
        if state in states:
            return "watching" if state in ("waiting", "gone") else state
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

    def _draw_watch(self, *, runs: list[dict], selected: int, smoothing: float, x: str,
                    hidden: set[int] | frozenset = frozenset()) -> None:
        """The overall state, then each run's latest step and state: every run where they fit
        (their names cut shorter first), else how many runs there are and are shown on the charts
        (not `hidden`), as many runs as fit (the selected one always) and how many more."""
        state = overall_state(runs)
        style = RUN_STYLE.get(state, "$text")
        width = self.size.width or 120
        wide = width >= 110
        sep = text.plain(" │ " if not wide else "  │  ")
        head = [text.assemble((f"● {state.upper()}", f"b {style}"))]
        if not runs:
            head.append(text.plain("no metrics files yet"))
        shown = sum(1 for r in runs if r["run"] not in hidden)
        count = text.plain(f"{len(runs)} runs, {shown} shown")
        tail = [text.plain(f"smoothing {smoothing:.2f}")] if wide else []

        def entry(r: dict, cells: int) -> Content:   # run names come from files: content
            return text.assemble("▶" if r["run"] == selected else "",
                                 (text.one_line(r["name"], cells), "b"), " step ",
                                 (str(r["step"]), "b"), " ",
                                 (run_state(r), RUN_STYLE.get(r["status"], "$text")))

        def cells(parts: list[Content]) -> int:
            return sum(p.cell_length for p in parts) + sep.cell_length * (len(parts) - 1)

        room = width - 2
        ways = [head + [count]] * (len(runs) > 1) + [head] * (shown == len(runs))
        for name_cells, fixed in itertools.product((60, 40, 24, 16, 10), ways):
            listed = [entry(r, name_cells) for r in runs]   # every run, names as long as fit;
            if cells(fixed + listed + tail) <= room:        # the count where it fits (and where
                break                                       # runs are hidden, always)
        else:   # too many: the count, the selected run, as many others as fit, how many more
            fixed = head + [count] if len(runs) > 1 else head
            first = [r for r in runs if r["run"] == selected][:1] or runs[:1]
            chosen = {id(r): entry(r, 24) for r in first}
            for r in runs:
                if id(r) in chosen:
                    continue
                more = [text.plain(f"+{len(runs) - len(chosen) - 1} more")] \
                    if len(runs) - len(chosen) > 1 else []
                left = room - cells(fixed + list(chosen.values()) + more + tail) - sep.cell_length
                e = entry(r, 16)
                if e.cell_length > left:   # the last that shows: its name cut to the room left
                    name_cells = left - (e.cell_length - cell_len(text.one_line(r["name"], 16)))
                    if name_cells >= 8:
                        chosen[id(r)] = entry(r, name_cells)
                    break
                chosen[id(r)] = e
            listed = [chosen[id(r)] for r in runs if id(r) in chosen]   # in the files' order
            if len(listed) < len(runs):
                listed.append(text.plain(f"+{len(runs) - len(listed)} more"))
        self.update(sep.join(fixed + listed + tail), layout=False)

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

