"""What every canvas shares: a slider you drive from the keyboard, a typed-value prompt, the key
help, and the Canvas screen (title, a few lines on what to look at, a body, sliders, Play/Step)."""

from __future__ import annotations

import math
from typing import Callable, Sequence

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Footer, Input, Static

from grpotui.tui import text

KEY_NAMES = {"space": "space", "question_mark": "?", "escape": "esc", "left": "←", "right": "→",
             "up": "↑", "down": "↓", "plus": "+", "minus": "−", "enter": "enter",
             "shift+tab": "shift+tab", "ctrl+p": "ctrl+p"}


def keep_indent(text: str) -> str:
    """Static drops a line's leading spaces when it wraps; no-break spaces keep tables aligned."""
    return "\n".join("\u00a0" * (len(line) - len(line.lstrip(" "))) + line.lstrip(" ")
                     for line in text.split("\n"))


def key_text(keys: str) -> str:
    return ", ".join(KEY_NAMES.get(k, k) for k in keys.split(","))


class Slider(Widget, can_focus=True):
    """One setting on a line: `label ◀━━━●━━━▶ value`. ←/→ or −/+ move it one notch; enter or a
    digit opens a prompt for a typed value. Values come from a list of allowed values (`values`,
    from lo to hi) or from lo..hi in steps of `step` (the notches reach both ends exactly); a typed
    value may be anything in [lo, hi] (a whole number on an integer slider)."""

    DEFAULT_CSS = """
    Slider { height: 1; width: 1fr; }
    Slider:focus { background: $accent 25%; text-style: bold; }
    """
    BINDINGS = [
        Binding("left,minus", "nudge(-1)", "−", show=False),
        Binding("right,plus", "nudge(1)", "+", show=False),
        Binding("enter", "type_value", "Type a value", show=False),
    ]

    class Changed(Message):
        def __init__(self, slider: "Slider", value: float) -> None:
            super().__init__()
            self.slider, self.value = slider, value

        @property
        def control(self) -> "Slider":
            return self.slider

    def __init__(self, label: str, value: float, *, lo: float, hi: float, step: float = 1.0,
                 values: Sequence[float] | None = None, integer: bool = False,
                 fmt: Callable[[float], str] | None = None, label_width: int = 14, **kw) -> None:
        super().__init__(**kw)
        self.label, self.lo, self.hi, self.step = label, lo, hi, step
        self.values = list(values) if values else None
        if self.values and (self.values[0] != lo or self.values[-1] != hi):
            raise ValueError(f"{label}: the notches {self.values[0]}..{self.values[-1]} must run "
                             f"from lo to hi ({lo}..{hi}), so arrows and typing agree")
        self.integer = integer
        self.typing: TypeValueScreen | None = None   # the typed-value prompt while it is open
        self.fmt = fmt or (lambda v: f"{v:g}")
        self.label_width = label_width
        self.value = self._clean(value)

    # ---------------------------------------------------------------- value
    def _clean(self, v: float) -> float:
        v = min(self.hi, max(self.lo, v))
        if self.integer:
            return int(round(v))
        return round(v, 10)

    def set_value(self, v: float, *, announce: bool = True) -> None:
        v = self._clean(v)
        if v != self.value:
            self.value = v
            self.refresh()
            if announce:
                self.post_message(self.Changed(self, v))

    def notch(self, direction: int) -> float | None:
        """The value one notch up (direction 1) or down (-1), or None at that end."""
        if self.values:
            if direction > 0:
                bigger = [x for x in self.values if x > self.value]
                return bigger[0] if bigger else None
            smaller = [x for x in self.values if x < self.value]
            return smaller[-1] if smaller else None
        # a multiple of step from lo, so nudging after a typed value lands back on the grid;
        # rounded like a typed value (0.1 + 29 * 0.1 is 3.0000000000000004, past hi = 3.0)
        k = (self.value - self.lo) / self.step
        k = math.floor(k + 1e-9) + 1 if direction > 0 else math.ceil(k - 1e-9) - 1
        target = round(self.lo + k * self.step, 10)
        if not self.lo <= target <= self.hi:
            return None
        return target

    def action_nudge(self, direction: int) -> None:
        target = self.notch(direction)
        if target is None or target == self.value:
            self.app.bell()
            return
        self.set_value(target)

    def action_type_value(self, first: str = "") -> None:
        if self.typing is not None:
            # keys typed fast (or pasted) reach the slider before its prompt is up: they go on
            # into that prompt (a second prompt would take the rest, and leave the first open)
            self.typing.early(first or "apply")
            return

        def done(value: float | None) -> None:
            self.typing = None
            if value is not None:
                self.set_value(value)

        self.typing = TypeValueScreen(self, first)
        self.app.push_screen(self.typing, done)

    def on_key(self, event) -> None:
        if event.character and (event.character.isdigit() or event.character == "."):
            event.stop()
            self.action_type_value(event.character)

    def parse(self, text: str) -> float:
        """A typed value, or ValueError with one sentence saying what is allowed."""
        allowed = (f"a whole number from {self.fmt(self.lo)} to {self.fmt(self.hi)}" if self.integer
                   else f"a number from {self.fmt(self.lo)} to {self.fmt(self.hi)}")
        try:
            v = float(text.strip())
        except ValueError:
            raise ValueError(f"'{text.strip()}' is not a number; {self.label} takes {allowed}.")
        if self.integer and math.isfinite(v) and v != int(v):
            raise ValueError(f"{text.strip()} is not a whole number; {self.label} takes {allowed}.")
        if not math.isfinite(v) or not self.lo <= v <= self.hi:
            raise ValueError(f"{text.strip()} is out of range; {self.label} takes {allowed}.")
        return v

    # ---------------------------------------------------------------- drawing
    def render(self) -> Text:
        value = self.fmt(self.value)
        marker = "▸ " if self.has_focus else "  "
        room = max(4, self.size.width - self.label_width - len(value) - 7)
        frac = 0.0 if self.hi == self.lo else (self.value - self.lo) / (self.hi - self.lo)
        if self.values:  # a list of allowed values: place by rank, not by size
            ranks = sorted(set(self.values) | {self.value})
            frac = ranks.index(self.value) / max(1, len(ranks) - 1)
        pos = round(frac * (room - 1))
        bar = "━" * pos + "●" + "━" * (room - 1 - pos)
        text = Text(marker + f"{self.label:<{self.label_width}}"[:self.label_width] + " ")
        text.append("◀", style="dim")
        text.append(bar, style="bold" if self.has_focus else "dim")
        text.append("▶ ", style="dim")
        text.append(value, style="bold")
        return text

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()


class TypeValueScreen(ModalScreen[float | None]):
    """Type a slider's value; a wrong one is refused here with what is allowed. esc cancels the
    typing and stays on the canvas (its own footer says so, over the canvas's `esc Canvases`)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel typing"),
                Binding("enter", "apply", "Apply", key_display="enter", priority=True)]

    def __init__(self, slider: Slider, first: str = "") -> None:
        super().__init__()
        self.slider, self.first = slider, first
        self.then: str | None = None     # enter ("apply") or esc ("cancel") typed before it was up

    def early(self, what: str) -> None:
        """A key that came before this prompt was up: more characters, "apply" or "cancel"."""
        if what in ("apply", "cancel"):
            self.then = what
            return
        found = self.query(Input)
        if found:
            found.first().insert_text_at_cursor(what)
        else:
            self.first += what

    def compose(self):
        s = self.slider
        with Vertical(classes="dialog", id="type-value"):
            yield Static(f"[b]{escape(s.label)}[/]: type a value from {s.fmt(s.lo)} to "
                         f"{s.fmt(s.hi)}, then enter (esc cancels).")
            yield Input(self.first or s.fmt(s.value), id="type-value-input")
            yield Static("", id="type-value-error")
        yield Footer()

    def on_mount(self) -> None:
        inp = self.query_one(Input)
        inp.value = self.first or self.slider.fmt(self.slider.value)   # with any early keys
        inp.focus()
        if not self.first:
            inp.action_select_all()
        else:
            inp.cursor_position = len(inp.value)
        if self.then == "apply":
            self.action_apply()
        elif self.then == "cancel":
            self.dismiss(None)

    def action_apply(self) -> None:          # enter (over the Input's own, so the footer shows it)
        self._apply(self.query_one(Input).value)

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._apply(event.value)

    def _apply(self, typed: str) -> None:
        try:
            value = self.slider.parse(typed)
        except ValueError as e:
            self.query_one("#type-value-error", Static).update(text.plain(e, "$error"))
            return
        self.dismiss(value)


class CanvasHelp(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, title: str, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text, self.rows = title, rows

    def compose(self):
        width = max(len(k) for k, _ in self.rows)
        lines = [f"[b]{escape(k):>{width}}[/]  {escape(d)}" for k, d in self.rows]
        with Vertical(classes="dialog", id="canvas-help"):
            yield Static(f"[b]{escape(self.title_text)}: keys[/]", classes="dialog-title")
            with VerticalScroll(classes="dialog-scroll"):
                yield Static("\n".join(lines + ["", "Press esc to close."]))


class Canvas(Screen):
    """A lesson canvas. Subclasses set NAME, TITLE, ABOUT, implement body() and sliders(), and
    redraw in recompute(); PLAYABLE ones implement advance() (one step of the animation)."""

    NAME = ""
    TITLE = ""
    ABOUT: tuple[str, ...] = ()
    PLAYABLE = False  # playable canvases add PLAY_BINDINGS to their BINDINGS
    LEARN = True    # the dashboard pauses its own keys while a learn screen is on top
    KEEP: tuple[str, ...] = ()   # attributes kept, with the sliders, when the canvas is left

    DEFAULT_CSS = """
    Canvas { layout: vertical; }
    Canvas #canvas-title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    Canvas #canvas-about { height: auto; padding: 0 1; color: $text-muted; }
    Canvas #canvas-body { height: 1fr; }
    Canvas #canvas-sliders { height: auto; padding: 0 1; border-top: solid $primary; }
    """

    BINDINGS = [
        Binding("escape", "back", "Canvases"),
        Binding("question_mark", "help", "Keys"),
        Binding("down", "app.focus_next", "Next slider", show=False),
        Binding("up", "app.focus_previous", "Previous slider", show=False),
    ]
    PLAY_BINDINGS = [
        Binding("space", "play", "Play"),
        Binding("n", "step", "Step"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.playing = False
        self._timer = None
        self.restored: bool | None = None    # None until restore() ran; then whether it found state

    # ---------------------------------------------------------------- to override
    def body(self):
        yield from ()

    def sliders(self) -> list[Slider]:
        return []

    def recompute(self) -> None:
        """Redo the numbers and redraw (after a slider moved)."""

    def advance(self) -> bool:
        """One Step of the animation; return False when there is nothing more to do."""
        return False

    def play_interval(self) -> float:
        return 0.5

    def extra_keys(self) -> list[tuple[str, str]]:
        return []

    # ---------------------------------------------------------------- shared
    def compose(self):
        yield Static(f"{self.TITLE}   [dim]grpotui learn {self.NAME}[/]", id="canvas-title")
        yield Static("\n".join(self.ABOUT), id="canvas-about", markup=False)
        with Horizontal(id="canvas-body"):
            yield from self.body()
        with Vertical(id="canvas-sliders"):
            yield from self.sliders()
        yield Footer()

    @property
    def compact(self) -> bool:
        """Small terminals (80x24): canvases show their numbers in fewer lines."""
        return self.size.height < 32 or self.size.width < 100

    def on_resize(self) -> None:
        small = self.compact
        self.query_one(Footer).compact = small
        if small != self.has_class("-compact"):
            self.set_class(small, "-compact")
            self.recompute()

    # ---------------------------------------------------------------- kept state
    def remember(self) -> None:
        """Keep the sliders' values and the KEEP attributes for the next time this canvas opens
        in this app (learn.kept)."""
        from grpotui.tui.learn import kept

        kept(self.app)[self.NAME] = {
            "sliders": {s.id: s.value for s in self.query(Slider)},
            "attrs": {k: getattr(self, k) for k in self.KEEP}}

    def restore(self) -> bool:
        """Put back what remember() kept (once, on mount); whether there was anything."""
        from grpotui.tui.learn import kept

        if self.restored is None:
            state = kept(self.app).get(self.NAME)
            self.restored = state is not None
            if state is not None:
                for sid, value in state["sliders"].items():
                    found = self.query(f"#{sid}")
                    if found and isinstance(found.first(), Slider):
                        found.first().set_value(value, announce=False)
                for k, v in state["attrs"].items():
                    setattr(self, k, v)
        return self.restored

    def on_mount(self) -> None:
        self.restore()
        self.set_class(self.compact, "-compact")
        self.query_one(Footer).compact = self.compact
        first = self.query(Slider).first() if self.query(Slider) else None
        if first is not None:
            first.focus()
        self.recompute()

    @on(Slider.Changed)
    def _slider_changed(self, event: Slider.Changed) -> None:
        self.slider_changed(event.slider)
        self.recompute()

    def slider_changed(self, slider: Slider) -> None:
        """Hook: a slider moved (before recompute)."""

    def action_back(self) -> None:
        typing = [s.typing for s in self.query(Slider) if s.typing is not None]
        if typing:     # esc right after a digit, before its prompt was up: cancel the typing only
            typing[0].early("cancel")
            return
        self.stop_playing()
        self.remember()
        self.app.pop_screen()

    def action_help(self) -> None:
        longer = dict(self.extra_keys())   # a key's longer description replaces its footer name
        rows = []
        for b in self.BINDINGS:
            keys = key_text(b.key)
            description = longer.pop(keys, b.description)
            if b.action != "back" and self.check_action(b.action, ()) is not False:
                rows.append((keys, description))
        rows += longer.items()                 # keys without a binding of their own (tab, enter)
        rows += [("←, →, −, +", "move the focused slider one notch"),
                 ("enter, 0-9", "type a slider's value"),
                 ("↑, ↓, tab", "move between sliders"),
                 ("esc", "back to the list of canvases (this one is kept as you left it)"),
                 ("q", "quit"), ("ctrl+p", "command palette (every canvas is there)")]
        self.app.push_screen(CanvasHelp(self.TITLE, rows))

    def action_play(self) -> None:
        if self.playing:
            self.stop_playing()
        else:
            self.playing = True
            self._timer = self.set_interval(self.play_interval(), self._tick)
            self._tick()
        self.recompute()

    def stop_playing(self) -> None:
        self.playing = False
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def restart_timer(self) -> None:
        if self.playing:
            if self._timer is not None:
                self._timer.stop()
            self._timer = self.set_interval(self.play_interval(), self._tick)

    def _tick(self) -> None:
        if not self.advance():
            self.stop_playing()
        self.recompute()

    def action_step(self) -> None:
        if self.playing:
            self.stop_playing()
        self.advance()
        self.recompute()

    def on_unmount(self) -> None:
        self.stop_playing()
