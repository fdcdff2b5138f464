"""A watched run's settings, read from its `start` record (any settings dict: a grpotui TrainConfig or
TRL's own), with the changes its `set` events made since marked. Read-only: where the dashboard's
controls would be when it trains."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from grpotui.tui import text


def _value(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return text.one_line(v, 60)


def settings_content(name: str, config: dict | None, preset: str = "",
                     changed: dict | None = None) -> Content:
    """Key/value lines; keys changed by a `set` event show their first value too. Names, keys and
    values come from the file: content, never markup."""
    if config is None:
        return text.assemble((f"{text.one_line(name, 200)}: no start record read yet, so no settings "
                              f"to show", "dim"))
    changed = changed or {}
    head = [(text.one_line(name, 200), "b")]
    if preset:
        head += ["  preset ", (text.one_line(preset, 100), "b")]
    lines = [text.assemble(*head)]
    if not config:
        lines.append(text.assemble(("(the start record holds no settings)", "dim")))
    width = min(24, max((text.width(text.one_line(k, 24)) for k in config), default=0))
    for k, v in config.items():
        key = text.one_line(k, 40)
        key += " " * max(0, width - text.width(key))
        if k in changed:
            lines.append(text.assemble((key, "$foreground-muted"), " ", (_value(v), "b $warning"), " ",
                                       (f"(was {_value(changed[k])})", "dim")))
        else:
            lines.append(text.assemble((key, "$foreground-muted"), " ", _value(v)))
    return text.lines(lines)


class SettingsView(VerticalScroll):
    def compose(self):
        yield Static("", id="settings-body")

    def show(self, name: str, config: dict | None, preset: str = "",
             changed: dict | None = None) -> None:
        self.query_one("#settings-body", Static).update(
            settings_content(name, config, preset, changed))
