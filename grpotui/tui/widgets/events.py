"""The event log: setting changes with the step they took effect, preset loads, warnings."""

from __future__ import annotations

from rich.markup import escape
from textual.widgets import RichLog


def describe(e: dict) -> str | None:
    kind = e.get("event")
    at = f"step {e.get('step', 0)}"
    if kind == "set":
        return f"{at}: [b]{e['key']}[/] {e['old']} → [b]{e['new']}[/]"
    if kind == "queued":
        changes = ", ".join(f"{k}={v}" for k, v in e["changes"].items())
        return f"[dim]{at}: queued {escape(changes)} (applies at the next rollout)[/]"
    if kind == "refused":
        return f"[red]{at}: refused: {escape(e['message'])}[/]"
    if kind == "start":
        return f"{at}: started{' preset ' + escape(e['preset']) if e.get('preset') else ''}"
    if kind == "reset":
        return f"[b]reset[/]{' to preset ' + escape(e['preset']) if e.get('preset') else ''}"
    if kind == "diverged":
        return f"[b red]{escape(e['message'])}[/]"
    if kind == "error":
        return f"[b red]{at}: training failed: {escape(e['message'])}. Press r to reset.[/]"
    if kind == "done":
        return f"{at}: run length reached ({e['rollout']} rollouts); paused"
    if kind == "resume":
        past = e.get("rollouts") is not None and e.get("rollout", 0) >= e["rollouts"]
        return (f"{at}: resumed" + (f" past the run length ({e['rollouts']} rollouts): training goes "
                                    f"on until you pause" if past else ""))
    if kind == "stop":
        reason = f" ({escape(str(e['reason']))})" if e.get("reason") else ""
        return f"{at}: run ended{reason}"
    if kind == "note":
        return escape(e["message"])
    return None


class EventLog(RichLog):
    def __init__(self, **kw) -> None:
        # min_width: RichLog renders at least 78 columns wide by default, which on a narrower panel
        # hides the end of every wrapped line; wrap at the panel's own width instead.
        super().__init__(max_lines=500, markup=True, wrap=True, min_width=10, **kw)

    def add(self, events: list[dict], prefix: str = "") -> None:
        """Write each event worth a line (groups records and the like are not); `prefix` (markup)
        names the run when several are watched."""
        for e in events:
            try:
                text = describe(e)
            except (KeyError, TypeError, AttributeError):   # a watched file's odd event record
                text = escape(f"step {e.get('step', '?')}: {e.get('event')}")
            if text:
                self.write(prefix + text)
