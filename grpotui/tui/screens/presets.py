"""Save the live settings as a user preset (ctrl+s) and load a preset (ctrl+o)."""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from grpotui.config import TrainConfig
from grpotui.presets import Preset
from grpotui.tui import text


def _changes(changes: dict) -> list:
    return [text.assemble(f"  {k}: {text.one_line(old, 60)} → ", (text.one_line(new, 60), "b"))
            for k, (old, new) in changes.items()]


def diff_text(base: TrainConfig, live: TrainConfig, base_name: str):
    """The live settings against a preset's (preset names and values are content, not markup)."""
    changes = base.diff(live)
    if not changes:
        return text.plain(f"Same settings as preset '{text.one_line(base_name, 80)}'.")
    return text.lines([text.plain(f"Differs from preset '{text.one_line(base_name, 80)}':")]
                      + _changes(changes))


class SaveScreen(ModalScreen[tuple[str, str] | None]):
    """Asks for a name and description; dismisses with (name, description) or None."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, name: str, description: str, diff: str) -> None:
        super().__init__()
        self.preset_name, self.description, self.diff = name, description, diff

    def compose(self):
        with Vertical(classes="dialog", id="save-dialog"):
            yield Static("[b]Save preset[/]", classes="dialog-title")
            yield Label("name")
            yield Input(self.preset_name, id="save-name")
            yield Label("description")
            yield Input(self.description, id="save-description")
            yield Static(self.diff, id="save-diff")
            yield Static("", id="save-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def show_error(self, message: str) -> None:
        self.query_one("#save-error", Static).update(text.plain(message, "$error"))

    def on_input_submitted(self) -> None:
        self._save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self._save()
        else:
            self.dismiss(None)

    def _save(self) -> None:
        """A name that cannot be saved is refused here, with why, and the dialog stays open with
        what was typed; a good one closes it."""
        from grpotui.presets import PresetError, check_savable_name

        name = self.query_one("#save-name", Input).value.strip()
        try:
            check_savable_name(name)
        except PresetError as e:
            self.show_error(str(e))
            self.query_one("#save-name", Input).focus()
            return
        self.dismiss((name, self.query_one("#save-description", Input).value.strip()))


class LoadScreen(ModalScreen[str | None]):
    """Lists shipped and user presets with a preview; dismisses with a preset name or None."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, presets: list[Preset], live: TrainConfig, problems: list[str]) -> None:
        super().__init__()
        self.presets = {p.name: p for p in presets}
        self.live = live
        self.problems = problems

    def compose(self):
        with Vertical(classes="dialog", id="load-dialog"):
            yield Static("[b]Load preset[/]  (enter loads, esc cancels)", classes="dialog-title")
            with Horizontal(id="load-body"):
                yield OptionList(*[Option(text.assemble(text.one_line(p.name, 60), "  ",
                                                        ("shipped" if p.shipped else "user", "dim")),
                                          id=p.name) for p in self.presets.values()],
                                 id="load-list")
                yield Static("", id="load-preview")
            if self.problems:
                yield Static(text.plain("\n".join(self.problems), "$warning"), id="load-problems")

    def on_mount(self) -> None:
        self.query_one(OptionList).highlighted = 0

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        p = self.presets[event.option.id]
        changes = self.live.diff(p.config)
        rows = _changes(changes)
        self.query_one("#load-preview", Static).update(text.lines(
            [text.plain(p.name, "b"), text.plain(p.description), text.plain("")]
            + ([text.plain("Changes from the live settings:")] + rows if rows
               else [text.plain("Same as the live settings.")])))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
