"""Pick the metrics `grpotui watch` charts: every metric the files hold, filtered by typing (a
substring or a glob such as rewards/*), ticked on or off.

Metric keys come from files: each is shown as Content (an option's prompt given as a string is
parsed as markup, and a key such as "[/]" used to crash the screen as it opened, which left the app
hung), on one line cut to PROMPT_CELLS terminal cells."""

from __future__ import annotations

import fnmatch

from textual import on
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, SelectionList, Static
from textual.widgets.selection_list import Selection

from grpotui.tui import text

PROMPT_CELLS = 120


def prompt(name: str) -> Content:
    """A metric key as an option shows it: text, never markup."""
    return text.plain(text.one_line(name, PROMPT_CELLS))


def matches(name: str, pattern: str) -> bool:
    pattern = pattern.strip()
    if not pattern:
        return True
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(name, pattern)
    return pattern.lower() in name.lower()


class MetricsScreen(ModalScreen[list[str] | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "apply", "Apply")]

    def __init__(self, every: list[str], shown: list[str]) -> None:
        super().__init__()
        self.every = every
        self.ticked = set(shown)

    def compose(self):
        with Vertical(classes="dialog", id="metrics-dialog"):
            yield Static(text.assemble(
                ("Metrics to chart", "b"), f" ({len(self.every)} in the files): type to filter, "
                "enter moves to the list, space or enter ticks, tab then enter applies (ctrl+s "
                "from anywhere), esc cancels"), classes="dialog-title")
            yield Input(placeholder="filter: a name part or a glob (rewards/*)", id="metrics-filter")
            yield SelectionList(*self._options(self.every), id="metrics-list")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply", variant="primary", id="metrics-apply")  # next after the list
                yield Button("All", id="metrics-all")
                yield Button("Cancel", id="metrics-cancel")

    @on(Input.Changed, "#metrics-filter")
    def _filter(self, event: Input.Changed) -> None:
        lst = self.query_one(SelectionList)
        self.ticked = set(lst.selected) | (self.ticked - {m for m in self.every
                                                         if matches(m, self._last_filter)})
        self._last_filter = event.value
        lst.clear_options()
        lst.add_options(self._options([m for m in self.every if matches(m, event.value)]))
        if lst.option_count:
            lst.highlighted = 0   # so space ticks at once, after tab or enter

    _last_filter = ""

    def _options(self, names: list[str]) -> list[Selection]:
        return [Selection(prompt(m), m, m in self.ticked) for m in names]

    @on(Input.Submitted, "#metrics-filter")
    def _submitted(self) -> None:
        self.query_one(SelectionList).focus()

    def _result(self) -> list[str]:
        lst = self.query_one(SelectionList)
        hidden = self.ticked - {m for m in self.every if matches(m, self._last_filter)}
        chosen = set(lst.selected) | hidden
        return [m for m in self.every if m in chosen]

    @on(Button.Pressed, "#metrics-apply")
    def action_apply(self) -> None:
        self.dismiss(self._result())

    @on(Button.Pressed, "#metrics-all")
    def _all(self) -> None:
        self.dismiss([])

    @on(Button.Pressed, "#metrics-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
