"""Pick the metrics `grpotui watch` charts (and its run table shows): every metric the files hold,
filtered by typing, ticked on or off.

Typing a name part only narrows the list. Typing a glob (with * ? or [, such as rewards/*) ticks
exactly the metrics it matches and unticks the rest, so applying it shows just those; "all" and
"none" tick or untick every metric, and the title counts the ticked ones. Apply needs at least one.

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


def is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def matches(name: str, pattern: str) -> bool:
    """A name part, or a glob when the pattern has * ? or [ (the whole name must match); both
    case-insensitive. An empty pattern matches everything."""
    pattern = pattern.strip()
    if not pattern:
        return True
    if is_glob(pattern):
        return fnmatch.fnmatchcase(name.casefold(), pattern.casefold())
    return pattern.casefold() in name.casefold()


def glob_ticks(every: list[str], pattern: str) -> list[str] | None:
    """What typing `pattern` ticks: for a glob, exactly the metrics it matches (in order; none may
    match); for a name part or nothing, None (the ticks stay as they are)."""
    pattern = pattern.strip()
    if not is_glob(pattern):
        return None
    return [m for m in every if matches(m, pattern)]


class MetricsScreen(ModalScreen[list[str] | None]):
    """Dismisses with the ticked metrics (in `every`'s order, at least one), or None (cancelled)."""

    DEFAULT_CSS = """
    MetricsScreen #metrics-count { width: 1fr; height: 3; content-align: left middle; }
    MetricsScreen .dialog-buttons Button { min-width: 8; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "apply", "Apply"),
                Binding("ctrl+t", "all", "Tick all"), Binding("ctrl+n", "none", "Tick none")]

    def __init__(self, every: list[str], shown: list[str], title: str = "Metrics to chart") -> None:
        super().__init__()
        self.every, self.heading = every, title
        self.ticked = set(shown) & set(every)
        self.filter = ""

    def compose(self):
        with Vertical(classes="dialog", id="metrics-dialog"):
            yield Static(text.assemble(
                (self.heading, "b"), f" ({len(self.every)} in the files): a name part filters the "
                "list; a glob (rewards/*) ticks exactly its matches. enter: to the list · space: "
                "tick · ctrl+t: all · ctrl+n: none · ctrl+s: apply · esc: cancel"),
                classes="dialog-title")
            yield Input(placeholder="filter: a name part, or a glob that ticks (rewards/*)",
                        id="metrics-filter")
            yield SelectionList(*self._options(self.every), id="metrics-list")
            with Horizontal(classes="dialog-buttons"):
                yield Static("", id="metrics-count")
                yield Button("Apply", variant="primary", id="metrics-apply")  # next after the list
                yield Button("All", id="metrics-all")
                yield Button("None", id="metrics-none")
                yield Button("Cancel", id="metrics-cancel")

    def on_mount(self) -> None:
        self._count()

    def on_resize(self) -> None:
        # the list gives up rows on a short terminal, so the buttons under it stay on screen
        self.query_one(SelectionList).styles.height = max(3, min(16, self.size.height * 9 // 10
                                                                 - 17))

    def _options(self, names: list[str]) -> list[Selection]:
        return [Selection(prompt(m), m, m in self.ticked) for m in names]

    def _visible(self) -> list[str]:
        return [m for m in self.every if matches(m, self.filter)]

    def _sync(self) -> None:
        """The ticks of the options on show into self.ticked (the hidden ones keep theirs)."""
        lst = self.query_one(SelectionList)
        shown = {lst.get_option_at_index(i).value for i in range(lst.option_count)}
        self.ticked = (self.ticked - shown) | set(lst.selected)

    def _relist(self) -> None:
        lst = self.query_one(SelectionList)
        with self.prevent(SelectionList.SelectedChanged):
            lst.clear_options()
            lst.add_options(self._options(self._visible()))
        if lst.option_count:
            lst.highlighted = 0   # so space ticks at once, after tab or enter
        self._count()

    def _count(self) -> None:
        self.query_one("#metrics-count", Static).update(text.assemble(
            (f"{len(self.ticked)} of {len(self.every)} ticked", "b")))

    @on(Input.Changed, "#metrics-filter")
    def _filter(self, event: Input.Changed) -> None:
        self._sync()
        self.filter = event.value
        ticks = glob_ticks(self.every, event.value)
        if ticks is not None:
            self.ticked = set(ticks)
        self._relist()

    @on(SelectionList.SelectedChanged, "#metrics-list")
    def _ticked(self) -> None:
        self._sync()
        self._count()

    @on(Input.Submitted, "#metrics-filter")
    def _submitted(self) -> None:
        self.query_one(SelectionList).focus()

    def _result(self) -> list[str]:
        self._sync()
        return [m for m in self.every if m in self.ticked]

    @on(Button.Pressed, "#metrics-apply")
    def action_apply(self) -> None:
        chosen = self._result()
        if not chosen:
            self.notify("Tick at least one metric (ctrl+t ticks all).", severity="warning")
            return
        self.dismiss(chosen)

    @on(Button.Pressed, "#metrics-all")
    def action_all(self) -> None:
        self.ticked = set(self.every)
        self._relist()

    @on(Button.Pressed, "#metrics-none")
    def action_none(self) -> None:
        self.ticked = set()
        self._relist()

    @on(Button.Pressed, "#metrics-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
