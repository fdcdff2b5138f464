"""The event log: setting changes with the step they took effect, preset loads, warnings.

Events can come from a watched file, so every value in them (keys, values, messages, presets, run
names) is content, never markup: each line is a rich Text built from plain pieces with our styles.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from grpotui.tui.text import clean, one_line


def _v(x) -> str:
    """An event's value (a setting, a key) as one short line of text."""
    return one_line(f"{x:g}" if isinstance(x, float) else x, 200)


def describe(e: dict, watching: bool = False) -> Text | None:
    """One event as a line of the log (None for events not worth one). `watching`: the run is a
    file's, so there is nothing to reset."""
    kind = e.get("event")
    at = f"step {_v(e.get('step', 0))}"
    if kind == "set":
        return Text.assemble(f"{at}: ", (_v(e.get("key")), "b"), f" {_v(e.get('old'))} → ",
                             (_v(e.get("new")), "b"))
    if kind == "queued":
        changes = ", ".join(f"{_v(k)}={_v(v)}" for k, v in (e.get("changes") or {}).items())
        return Text(f"{at}: queued {changes} (applies at the next rollout)", style="dim")
    if kind == "refused":
        return Text(f"{at}: refused: {clean(e.get('message'))}", style="red")
    if kind == "start":
        return Text(f"{at}: started" + (f" preset {_v(e['preset'])}" if e.get("preset") else ""))
    if kind == "reset":
        return Text.assemble(("reset", "b"), f" to preset {_v(e['preset'])}" if e.get("preset")
                             else "")
    if kind == "diverged":
        return Text(clean(e.get("message")), style="b red")
    if kind == "error" and e.get("fatal") is False:   # grpotui's own part failed, not training
        part = f"its {_v(e['part'])} part" if e.get("part") else "a part of it"
        return Text(f"{at}: grpotui stopped {part}: {clean(e.get('message'))}; training goes on.",
                    style="b yellow")
    if kind == "error":
        then = "" if watching else " Press r to reset."
        return Text(f"{at}: training failed: {clean(e.get('message'))}.{then}", style="b red")
    if kind == "done":
        return Text(f"{at}: run length reached ({_v(e.get('rollout'))} rollouts); paused")
    if kind == "resume":
        past = isinstance(e.get("rollouts"), (int, float)) and \
            isinstance(e.get("rollout"), (int, float)) and e["rollout"] >= e["rollouts"]
        return Text(f"{at}: resumed" + (f" past the run length ({_v(e['rollouts'])} rollouts): "
                                        f"training goes on until you pause" if past else ""))
    if kind == "stop":
        reason = f" ({clean(e['reason'])})" if e.get("reason") else ""
        return Text(f"{at}: run ended{reason}")
    if kind == "note":
        return Text(clean(e.get("message"), keep_lines=True))
    return None


class EventLog(RichLog):
    def __init__(self, watching: bool = False, **kw) -> None:
        # min_width: RichLog renders at least 78 columns wide by default, which on a narrower panel
        # hides the end of every wrapped line; wrap at the panel's own width instead.
        # markup=False: nothing written here is parsed (lines are Text built from plain pieces).
        super().__init__(max_lines=500, markup=False, wrap=True, min_width=10, **kw)
        self.watching = watching

    def add(self, events: list[dict], prefix: Text | None = None) -> None:
        """Write each event worth a line (groups records and the like are not); `prefix` names the
        run when several are watched."""
        for e in events:
            line = describe(e, self.watching)
            if line is not None:
                self.write(Text.assemble(prefix, line) if prefix is not None else line)
