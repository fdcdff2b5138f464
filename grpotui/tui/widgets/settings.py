"""A watched run's settings, read from its `start` record (any settings dict: a grpotui TrainConfig or
TRL's own), with the changes its `set` events made since marked. Read-only: where the dashboard's
controls would be when it trains."""

from __future__ import annotations

from rich.markup import escape
from textual.containers import VerticalScroll
from textual.widgets import Static


def _value(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    text = str(v)
    return text if len(text) <= 60 else text[:57] + "…"


def settings_markup(name: str, config: dict | None, preset: str = "",
                    changed: dict | None = None) -> str:
    """Key/value lines; keys changed by a `set` event show their first value too."""
    if config is None:
        return f"[dim]{escape(name)}: no start record read yet, so no settings to show[/]"
    changed = changed or {}
    lines = [f"[b]{escape(name)}[/]" + (f"  preset [b]{escape(preset)}[/]" if preset else "")]
    if not config:
        lines.append("[dim](the start record holds no settings)[/]")
    width = min(24, max((len(str(k)) for k in config), default=0))
    for k, v in config.items():
        key = escape(f"{str(k):<{width}}")
        if k in changed:
            lines.append(f"[$text-muted]{key}[/] [b $warning]{escape(_value(v))}[/] "
                         f"[dim](was {escape(_value(changed[k]))})[/]")
        else:
            lines.append(f"[$text-muted]{key}[/] {escape(_value(v))}")
    return "\n".join(lines)


class SettingsView(VerticalScroll):
    def compose(self):
        yield Static("", id="settings-body")

    def show(self, name: str, config: dict | None, preset: str = "",
             changed: dict | None = None) -> None:
        self.query_one("#settings-body", Static).update(
            settings_markup(name, config, preset, changed))
