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


MIN_VALUE_CELLS = 10   # a value narrower than this wraps under the key, indented 2, instead


def settings_content(name: str, config: dict | None, preset: str = "",
                     changed: dict | None = None, width: int | None = None) -> Content:
    """Key/value lines; keys changed by a `set` event show their first value too. Names, keys and
    values come from the file: content, never markup. With `width` (the panel's, in cells), a
    value too long for its line wraps under the value column (a hanging indent), never into the
    key column."""
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
    keys = min(24, max((text.width(text.one_line(k, 24)) for k in config), default=0))
    for k, v in config.items():
        key = text.one_line(k, 40)
        key += " " * max(0, keys - text.width(key))
        if k in changed:
            value = text.assemble((_value(v), "b $warning"), " ",
                                  (f"(was {_value(changed[k])})", "dim"))
        else:
            value = text.assemble(_value(v))
        indent = text.width(key) + 1
        if width is None or indent + value.cell_length <= width:
            lines.append(text.assemble((key, "$foreground-muted"), " ", value))
            continue
        if width - indent < MIN_VALUE_CELLS:   # a narrow panel: the value on lines of its own
            lines.append(text.assemble((key, "$foreground-muted")))
            indent = min(2, width - 1)
            parts = value.wrap(max(1, width - indent))
        else:
            parts = value.wrap(width - indent)
            lines.append(text.assemble((key, "$foreground-muted"), " ", parts.pop(0)))
        for part in parts:   # (a wrapped line's leading space dropped: the indent lines it up)
            lines.append(text.assemble(" " * indent,
                                       part[len(part.plain) - len(part.plain.lstrip(" ")):]))
    return text.lines(lines)


class SettingsView(VerticalScroll):
    shown: tuple | None = None

    def compose(self):
        yield Static("", id="settings-body")

    def show(self, name: str, config: dict | None, preset: str = "",
             changed: dict | None = None) -> None:
        self.shown = (name, config, preset, changed)
        self._render_body()

    def on_resize(self) -> None:
        if self.shown is not None:
            self._render_body()

    def _render_body(self) -> None:
        # room for a vertical scrollbar always, so that one appearing never rewraps the lines
        width = self.size.width - self.styles.gutter.width - self.styles.scrollbar_size_vertical
        self.query_one("#settings-body", Static).update(
            settings_content(*self.shown, width=width if width > 0 else None))
