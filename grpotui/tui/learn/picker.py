"""The list of canvases: enter opens one; `lab` is the dashboard."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from grpotui.served import served
from grpotui.tui.learn import CANVASES, LAB, make_canvas
from grpotui.tui.learn.base import CanvasHelp

INTRO = ("The lesson's canvases: small computations you can poke at, one idea each. Every number "
         "on them is computed (autograd or an exact formula) as you move the sliders.")


LAB_SERVED = ("In a browser the lab is a session of its own: this page shows the canvases. Ask "
              "for the lab's address (the teacher serves it with `grpotui serve learn lab`).")


class PickerScreen(Screen):
    LEARN = True
    DEFAULT_CSS = """
    PickerScreen #picker-title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    PickerScreen #picker-intro { height: auto; padding: 0 1 1 1; color: $text-muted; }
    PickerScreen OptionList { height: 1fr; border: round $primary; }
    PickerScreen OptionList:focus { border: round $accent; }
    """
    BINDINGS = [Binding("enter", "open", "Open", key_display="enter", priority=True),
                Binding("question_mark", "help", "Keys"),
                Binding("escape", "back", "Back")]


    def compose(self):
        yield Static("grpotui learn: GRPO, one canvas at a time", id="picker-title")
        yield Static(INTRO, id="picker-intro")
        options = [Option(entry(name, about), id=name)
                   for name, (_, _, about) in CANVASES.items()]
        options.append(Option(entry(*LAB), id=LAB[0]))
        yield OptionList(*options, id="picker")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        # The canvases compute with torch, which the dashboard's UI process does not load; load it
        # (a second or two) in a thread while the list is read, not when a canvas opens.
        self.run_worker(_preload, thread=True, group="preload")

    @property
    def over_dashboard(self) -> bool:
        return not getattr(self.app, "LEARN_HOME", False)

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        name = event.option.id
        if name == LAB[0]:
            if self.over_dashboard:
                self.app.pop_screen()          # the dashboard is right under the picker
            elif served():
                # textual-serve ends the tab with this app, so the lab cannot follow it here
                self.notify(LAB_SERVED, title="the lab", timeout=10)
            else:
                self.app.exit(LAB[0])          # `grpotui learn` opens the dashboard next
            return
        self.app.push_screen(make_canvas(name))

    def action_open(self) -> None:
        """enter: open the highlighted canvas (the footer's `enter Open`; the list's own enter
        does the same when it has the focus)."""
        self.query_one(OptionList).action_select()

    def action_help(self) -> None:
        rows = [("↑, ↓", "choose a canvas"), ("enter", "open it"),
                ("esc", "back to the dashboard" if self.over_dashboard else
                 "nothing: this is the first screen"),
                ("?", "these keys"), ("q", "quit"),
                ("ctrl+p", "command palette (every canvas is there)"),
                ("on a canvas", "? lists its keys; esc comes back here, and the canvas is kept "
                                "as you left it when you open it again")]
        self.app.push_screen(CanvasHelp("The canvases", rows))

    def action_back(self) -> None:
        if self.over_dashboard:
            self.app.pop_screen()
        else:
            self.notify("This is the first screen: q quits.", timeout=3)


class Entry(Table):
    """A canvas's line in the list: its name, then its description, wrapped under itself (not
    under the name) on a narrow terminal. str() is the plain text."""

    def __init__(self, name: str, about: str) -> None:
        super().__init__(box=None, padding=(0, 1, 0, 0), show_header=False, show_edge=False,
                         expand=True, pad_edge=False)
        self.add_column(width=9, no_wrap=True)
        self.add_column(ratio=1)
        self.add_row(Text(name, style="bold"), Text(about))
        self.plain = f"{name} {about}"

    def __str__(self) -> str:
        return self.plain


entry = Entry


def _preload() -> None:
    import grpotui.engine.lessons  # noqa: F401  (imports torch)
