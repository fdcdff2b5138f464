"""Controls for the live settings. A change is checked against TrainConfig before it is sent; an
invalid value is refused with an inline message and the old value comes back.

The reward control offers the single functions, the mixes this run has had, and "mix…": a dialog
(MixScreen) that builds a weighted mix, one checkbox and weight per function.

In the guided lab (`grpotui learn lab`, lab=True) the lesson's three controls come first (delta mode,
group size G, learning rate), each with a line saying what to try and what to look for; the others
show on `a` (all controls). A panel with more controls than rows says "↓ more" in its border.
Dropdowns open inside the panel (PanelSelect), never over its border or the footer.

Beside the loss type, a note says which loss types coincide in this run: with fixed-length responses
mean, grpo, bnpo, dapo and dr_grpo give the same loss (every response has the task's n tokens, the
longest possible); with variable length they differ, and the note is empty."""

from __future__ import annotations

import math

from textual import on
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from grpotui.config import (AGGREGATIONS, CREDITS, DELTA_MODES, IMPORTANCE_LEVELS, LOSS_MODES,
                            LOSS_TYPES, LR_SCHEDULERS, REWARDS, VARIABLE_ONLY_REWARDS, ConfigError,
                            coerce, reward_label)
from grpotui.tui import text

# (widget id, TrainConfig key, label, choices)
SELECTS = [("delta-mode", "delta_mode", "delta mode", DELTA_MODES),
           ("loss-mode", "loss_mode", "loss mode", LOSS_MODES),
           ("loss-type", "loss_type", "loss type", LOSS_TYPES),
           ("reward-fn", "reward", "reward", REWARDS),
           ("aggregation", "reward_aggregation", "reward mix", AGGREGATIONS),
           ("credit", "credit", "credit", CREDITS),
           ("importance", "importance_sampling", "ratio per", IMPORTANCE_LEVELS),
           ("lr-schedule", "lr_scheduler_type", "lr schedule", LR_SCHEDULERS)]
INPUTS = [("group-size", "group_size", "group size G"),
          ("learning-rate", "learning_rate", "learning rate"),
          ("clip-eps", "clip_eps", "clip eps"),
          ("kl-beta", "kl_beta", "KL beta"),
          ("inner-steps", "inner_steps", "inner steps K"),
          ("temperature", "temperature", "temperature")]
SPEEDS = [("full speed", 0.0), ("20 rollouts/s", 20.0), ("5 rollouts/s", 5.0),
          ("2 rollouts/s", 2.0), ("1 rollout/s", 1.0), ("1 per 2 s", 0.5)]
KEY_OF = {wid: key for wid, key, *_ in SELECTS + INPUTS}
MIX = "mix…"    # the reward control's last option: opens the mix dialog
# The guided lab: the lesson's three controls, each with what to try and what to look for (the
# figures are the lab preset's, measured headless: see presets/lab.yaml and the README).
LAB = ("delta-mode", "group-size", "learning-rate")
LAB_SPEED = 5.0   # the lab starts at 5 rollouts/s: its climb (~40 rollouts) lasts ~8 s to watch
LAB_HINTS = {
    "delta-mode": "try raw, then r (start over): the reward stalls at 3.3 of 5, not 3.7",
    "group-size": "try 1, then r: every group \"all equal: no signal\"; no climb (1.7-2.7)",
    "learning-rate": "try 0.01, then r: 4.3 of 5 at rollout 18; 0.0001: 3.7 only at 114",
}
LAB_HINTS_NARROW = {   # the same, in one line of a narrow panel (80 columns)
    "delta-mode": "raw, then r: 3.3 of 5, not 3.7",
    "group-size": "1, then r: no signal, no climb",
    "learning-rate": "0.01, then r: 4.3 at rollout 18",
}
# on another preset (`grpotui learn lab --preset NAME`) the figures above are not its own: the same
# things to try, without them
LAB_HINTS_OTHER = {
    "delta-mode": "try raw, then r (start over): no baseline; compare the reward curve",
    "group-size": "try 1, then r: every group \"all equal: no signal\"; nothing learnt",
    "learning-rate": "try 10x higher or lower, then r: how fast, and how high, it climbs",
}
LAB_HINTS_OTHER_NARROW = {
    "delta-mode": "raw, then r: no baseline",
    "group-size": "1, then r: no signal at all",
    "learning-rate": "x10 or /10, then r: the climb",
}
NARROW_HINTS_BELOW = 60   # panel columns under which the narrow hints show
# the loss types that give one loss when every response has the same length (grpo.coinciding_loss_
# types: factor 1 at length n = max_completion_length); "mean", the lecture's, is bnpo then too
EQUAL_AT_FIXED_LENGTH = ("mean", "grpo", "bnpo", "dapo", "dr_grpo")


def loss_type_note(loss_type: str, variable: bool) -> str:
    """The note beside the loss type: the loss types it equals here ("" when none, and always with
    variable-length responses, where they differ)."""
    if variable or loss_type not in EQUAL_AT_FIXED_LENGTH:
        return ""
    others = [t for t in EQUAL_AT_FIXED_LENGTH[1:] if t != loss_type]
    if loss_type == "mean":
        return f"(= {', '.join(others)}: equal lengths)"
    return f"(= {', '.join(others)} here: equal lengths)"


def _text(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


class PanelSelect(Select):
    """A Select whose list opens inside its panel (the controls' content region): shifted up when
    there is no room below, and no taller than the panel, so it never covers the panel's border or
    the footer under it."""

    def _watch_expanded(self, expanded: bool) -> None:
        super()._watch_expanded(expanded)
        if not expanded:
            return
        panel = next((a for a in self.ancestors if isinstance(a, Controls)), None)
        if panel is None or not self.region.height:
            return
        inside = panel.scrollable_content_region
        overlay = self.query_one("SelectOverlay")
        height = min(len(self._options) + 2, inside.height)     # its options and tall border
        below = self.region.y + self.region.height              # where it opens by itself
        top = max(inside.y, min(below, inside.bottom - height))
        overlay.styles.max_height = height
        overlay.styles.offset = (0, top - below)


class MixScreen(ModalScreen[dict | None]):
    """Build a reward mix: a checkbox and a weight for each reward function. Apply checks the
    weights (numbers from 0 to 100, at least one above 0) and dismisses with the mix; esc
    cancels (None)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    DEFAULT_CSS = """
    MixScreen .mix-row { height: 1; margin-bottom: 1; }
    MixScreen .mix-row Checkbox { width: 28; }
    MixScreen .mix-weight { width: 12; }
    MixScreen #mix-error { height: auto; }
    """

    def __init__(self, reward, names: tuple[str, ...] = REWARDS) -> None:
        super().__init__()
        self.names = names
        self.current = reward if isinstance(reward, dict) else {reward: 1.0}

    def compose(self):
        with Vertical(classes="dialog", id="mix"):
            yield Static("[b]reward mix[/]: each response's reward is the weighted sum of the "
                         "functions ticked", classes="dialog-title")
            for name in self.names:
                with Horizontal(classes="mix-row"):
                    yield Checkbox(name, name in self.current, compact=True, id=f"mix-on-{name}")
                    yield Input(_text(self.current.get(name, 1.0)), compact=True,
                                id=f"mix-weight-{name}", classes="mix-weight")
            yield Static("", id="mix-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply", variant="primary", id="mix-apply")
                yield Button("Cancel", id="mix-cancel")

    def on_mount(self) -> None:
        self.query_one(Checkbox).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "mix-cancel":
            self.dismiss(None)
        else:
            self.apply()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.apply()

    def mix(self) -> dict[str, float]:
        """The mix ticked, checked; raises ConfigError with a one-line reason."""
        out: dict[str, float] = {}
        for name in self.names:
            if not self.query_one(f"#mix-on-{name}", Checkbox).value:
                continue
            typed = self.query_one(f"#mix-weight-{name}", Input).value.strip()
            shown = text.one_line(typed, 20)     # quoted in the message, cut if long
            try:
                weight = float(typed)
            except ValueError:
                raise ConfigError(f"the weight of {name} is {shown!r}, not a number; a weight is a "
                                  f"number from 0 to 100.") from None
            if not math.isfinite(weight) or not 0 <= weight <= 100:
                raise ConfigError(f"the weight of {name} is {shown}; a weight is a number from 0 "
                                  f"to 100.")
            out[name] = weight
        if not out:
            raise ConfigError("tick at least one reward function.")
        if not any(out.values()):
            raise ConfigError("every weight ticked is 0: at least one must be above 0.")
        return coerce("reward", out, source="reward mix")

    def apply(self) -> None:
        try:
            mix = self.mix()
        except ConfigError as e:
            self.query_one("#mix-error", Static).update(text.plain(str(e), "$error"))
            return
        self.dismiss(mix)


class Controls(Vertical):
    class SettingChanged(Message):
        def __init__(self, key: str, value) -> None:
            super().__init__()
            self.key, self.value = key, value

    class SpeedChanged(Message):
        def __init__(self, rollouts_per_second: float) -> None:
            super().__init__()
            self.rollouts_per_second = rollouts_per_second

    def __init__(self, config: dict, lab: bool = False, figures: bool = True, **kw) -> None:
        """lab: the guided lab's layout; figures: its hints give the lab preset's measured
        figures (False on another preset)."""
        super().__init__(**kw)
        self.config = dict(config)
        self.lab = lab            # the guided lab: three controls with hints first, the rest on `a`
        self.figures = figures
        # The reward control offers the single functions and the mix the run started with.
        self.mixes: dict[str, dict] = {}
        self._remember_mix(config["reward"])

    def _remember_mix(self, reward) -> None:
        if isinstance(reward, dict):
            self.mixes[reward_label(reward)] = reward

    def _options(self, key: str, choices) -> list[tuple[str, str]]:
        options = [(c, c) for c in choices]
        if key == "reward":
            options += [(label, label) for label in self.mixes] + [(MIX, MIX)]
        return options

    def _shown(self, key: str):
        """A setting's value as its control holds it (a reward mix by its label)."""
        value = self.config[key]
        return reward_label(value) if key == "reward" else value

    def _row(self, wid: str):
        """One control's row (label and field), by its widget id."""
        for w, key, label, *choices in SELECTS + INPUTS:
            if w != wid:
                continue
            with Horizontal(classes="control-row"):
                yield Label(label, classes="control-label", id=f"{wid}-label")
                if choices:
                    yield PanelSelect(self._options(key, choices[0]), value=self._shown(key),
                                      allow_blank=False, compact=True, id=wid)
                else:
                    yield Input(_text(self.config[key]), compact=True, id=wid)

    def _speed(self):
        with Horizontal(classes="control-row"):
            yield Label("speed", classes="control-label")
            yield PanelSelect(SPEEDS, value=LAB_SPEED if self.lab else 0.0, allow_blank=False,
                              compact=True, id="speed")

    def _rows(self, skip: tuple[str, ...] = ()):
        for wid, key, *_ in SELECTS:
            if wid in skip:
                continue
            if key == "loss_type":   # with its note: beside it on wide terminals, under it else
                with Horizontal(id="loss-type-box"):
                    yield from self._row(wid)
                    yield Static("", id="loss-type-note")
                continue
            yield from self._row(wid)
        for wid, *_ in INPUTS:
            if wid not in skip:
                yield from self._row(wid)
        if "speed" not in skip:
            yield from self._speed()

    def compose(self):
        if not self.lab:
            yield from self._rows()
            yield Static("", id="control-error")
            return
        self.add_class("lab")
        with Vertical(id="lab-box"):
            for wid in LAB:
                yield from self._row(wid)
                yield Static(text.plain(self._hints(wide=True)[wid]), classes="lab-hint",
                             id=f"{wid}-hint")
            yield from self._speed()
        yield Static("", id="control-error")
        with Vertical(id="more-box"):
            yield from self._rows(skip=(*LAB, "speed"))

    def toggle_all(self) -> bool:
        """The guided lab: show or hide the controls beyond the lesson's three; returns whether
        they show."""
        shown = not self.has_class("all")
        self.set_class(shown, "all")
        self.call_after_refresh(self._mark_more)
        return shown

    def sync(self, config: dict) -> None:
        """Show the live settings (after a change applies, a preset loads, or a reset)."""
        self.config = dict(config)
        with self.prevent(Select.Changed, Input.Changed):
            if isinstance(config["reward"], dict) and reward_label(config["reward"]) not in self.mixes:
                self._remember_mix(config["reward"])      # a preset with another mix was loaded
                self.query_one("#reward-fn", Select).set_options(self._options("reward", REWARDS))
            for wid, key, *_ in SELECTS:
                sel = self.query_one(f"#{wid}", Select)
                if sel.value != self._shown(key):
                    sel.value = self._shown(key)
            self._mark_delta_mode()
            self._mark_loss_type()
            for wid, key, _ in INPUTS:
                inp = self.query_one(f"#{wid}", Input)
                if not inp.has_focus and inp.value != _text(config[key]):
                    inp.value = _text(config[key])

    def on_mount(self) -> None:
        self._mark_delta_mode()
        self._mark_loss_type()
        self.watch(self, "scroll_y", lambda _: self._mark_more(), init=False)

    def on_resize(self) -> None:
        if self.lab:   # after this layout pass: an update made during it keeps the old heights
            self.call_after_refresh(self._fit_hints)
        self.call_after_refresh(self._mark_more)

    def _hints(self, wide: bool) -> dict[str, str]:
        if self.figures:
            return LAB_HINTS if wide else LAB_HINTS_NARROW
        return LAB_HINTS_OTHER if wide else LAB_HINTS_OTHER_NARROW

    def _fit_hints(self) -> None:
        """The lab's hints for the panel's width: a line each in a narrow panel."""
        hints = self._hints(wide=self.size.width >= NARROW_HINTS_BELOW)
        for wid, hint in hints.items():
            self.query_one(f"#{wid}-hint", Static).update(text.plain(hint))
        self.refresh(layout=True)
        self.call_after_refresh(self._mark_more)

    def _mark_more(self) -> None:
        """Say in the border when controls are out of sight below (the panel scrolls), and in the
        lab what `a` does."""
        parts = []
        if self.lab:
            parts.append("a: the three only" if self.has_class("all") else "a: all controls")
        if self.max_scroll_y - self.scroll_y >= 1:
            parts.append("↓ more")
        self.border_subtitle = text.plain("  ".join(parts))

    def _mark_loss_type(self) -> None:
        note = loss_type_note(self.config["loss_type"], self.config.get("min_n", 0) > 0)
        widget = self.query_one("#loss-type-note", Static)
        widget.update(text.plain(note, "$foreground-muted"))
        widget.display = bool(note)

    def _mark_delta_mode(self) -> None:
        """Under normalize_then_sum (GDPO) the deltas are its own normalisation: say the delta
        mode does not apply."""
        gdpo = self.config["reward_aggregation"] == "normalize_then_sum"
        self.query_one("#delta-mode", Select).disabled = gdpo
        self.query_one("#delta-mode-label", Label).update("delta mode n/a" if gdpo else "delta mode")

    def _error(self, message: Content | str) -> None:
        error = self.query_one("#control-error", Static)
        error.update(message)
        if message:  # the panel scrolls when it has more controls than rows: bring the message in view
            # (after the refresh that wraps it to its full height, then once more for that layout)
            self.call_after_refresh(lambda: self.call_after_refresh(error.scroll_visible,
                                                                    animate=False))

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.select.id == "speed":
            self.post_message(self.SpeedChanged(float(event.value)))
            return
        key = KEY_OF[event.select.id]
        if key == "reward" and event.value == MIX:
            self.open_mix()
            return
        value = self.mixes.get(event.value, event.value) if key == "reward" else event.value
        self.change(key, value)

    def change(self, key: str, value) -> None:
        if value != self.config.get(key):
            self._error("")
            self.config[key] = value
            self._mark_delta_mode()
            self._mark_loss_type()
            self.post_message(self.SettingChanged(key, value))

    def open_mix(self) -> None:
        """The mix dialog; a mix built there is sent as the reward setting (and offered in the
        control from then on). Cancelled, the control shows the reward in force again."""
        select = self.query_one("#reward-fn", Select)
        names = REWARDS if self.config.get("min_n", 0) > 0 else \
            tuple(r for r in REWARDS if r not in VARIABLE_ONLY_REWARDS)

        def done(mix: dict | None) -> None:
            with self.prevent(Select.Changed):
                if mix is not None:
                    self._remember_mix(mix)
                    select.set_options(self._options("reward", REWARDS))
                    select.value = reward_label(mix)
                else:
                    select.value = self._shown("reward")
            if mix is not None:
                self.change("reward", mix)

        self.app.push_screen(MixScreen(self.config["reward"], names), done)

    @on(Input.Submitted)
    def _input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.apply_input(event.input)

    @on(Input.Blurred)
    def _input_blurred(self, event: Input.Blurred) -> None:
        self.apply_input(event.input)

    def apply_input(self, inp: Input) -> None:
        key = KEY_OF[inp.id]
        try:
            value = coerce(key, inp.value, source="refused")
        except ConfigError as e:
            # short enough for two lines of the panel at 120x40: the key, what was wrong, what is
            # allowed (the label beside the field already says which control it is)
            why = str(e).removeprefix(f"refused: key '{key}': ")
            self._error(text.plain(f"{key} {why}", "$error"))   # it quotes what was typed
            with self.prevent(Input.Changed):
                inp.value = _text(self.config[key])
            return
        self._error("")
        if value != self.config.get(key):
            self.config[key] = value
            self.post_message(self.SettingChanged(key, value))
