"""Every key of the dashboard, from its bindings (so the list cannot drift)."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEY_NAMES = {"space": "space", "question_mark": "?", "left_square_bracket": "[",
             "right_square_bracket": "]", "plus": "+", "minus": "-", "ctrl+s": "ctrl+s",
             "ctrl+o": "ctrl+o", "ctrl+p": "ctrl+p", "escape": "esc", "full_stop": ".", "comma": ",",
             "left_curly_bracket": "{", "right_curly_bracket": "}", "left_parenthesis": "(",
             "right_parenthesis": ")", "less_than_sign": "<", "greater_than_sign": ">"}


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, bindings: list[Binding], watching: bool = False) -> None:
        super().__init__()
        self.bindings = bindings
        self.watching = watching

    def compose(self):
        text = Text()
        for b in self.bindings:
            keys = ", ".join(KEY_NAMES.get(k, k) for k in b.key.split(","))
            text.append(f"{keys:>10}", "bold").append(f"  {b.description}\n")
        text.append("\n").append(f"{'ctrl+p':>10}", "bold").append(
            "  command palette (every action is there too)\n")
        if not self.watching:
            text.append(f"{'tab':>10}", "bold").append(
                "  move between controls; enter applies a typed value; esc leaves a field\n")
        text.append("\nGroups: ", "bold").append(
            "r reward, Δ delta, ρ after update (the response's ratio once the last inner step has "
            "changed the policy; the clip plot shows the ratios the loss saw, before it), ✓ exact "
            "match, ∎ stopped at EOS, ✂ truncated; a mix's parts, abbreviated where narrow: p "
            "position_match, i inclusion_ordering, e exact_match, a answer_slots; raised digits: "
            "a token's probability in percent (<¹ under 1%).\n")
        text.append("\nSystem: ", "bold").append(
            "y shows or hides the system panel: the training process's CPU, resident memory (RSS), "
            "the machine's memory in use (RAM) and, on a GPU, its utilisation and memory"
            + (" (from the selected run's system records)" if self.watching else "") + ".\n")
        if self.watching:
            text.append("\nWatching metrics files (read-only): c selects the run whose groups and "
                        "settings show; space hides or shows it on the curves; , and . change the "
                        "smoothing (0 to 0.99); m picks the metrics charted (a glob such as "
                        "rewards/* ticks exactly its matches). The charts are a grid, as many as "
                        "fit (--grid RxC asks for a size): ( ) and < > take a row or a column "
                        "away or add one, a fits the terminal again, { } page, g narrows or hides "
                        "the groups panel. Enter (or a click) opens a chart full screen: l log or "
                        "linear y, + - zoom, ← → pan, 0 the whole run, End follows the latest "
                        "point, esc back. R opens the run table: every run's "
                        "last, min and max of chosen metrics; s sorts (or click a header), r "
                        "reverses, / filters by a name part or a glob, g groups the runs by a "
                        "setting (each group in one colour, on the charts too), space folds a "
                        "group, enter selects a run, m picks its metrics. Press esc to close.")
        else:
            text.append("\nChanges apply at the next rollout. Press esc to close.")
        with Vertical(classes="dialog", id="help"):
            yield Static("[b]grpotui keys[/]", classes="dialog-title")
            with VerticalScroll(classes="dialog-scroll"):  # scrolls where the terminal is short
                yield Static(text)   # a Text, not markup: keys such as [ are shown as they are
