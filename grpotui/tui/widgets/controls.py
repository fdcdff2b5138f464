"""Controls for the live settings. A change is checked against TrainConfig before it is sent; an
invalid value is refused with an inline message and the old value comes back.

Beside the loss type, a note says which loss types coincide in this run: with fixed-length responses
mean, grpo, bnpo, dapo and dr_grpo give the same loss (every response has the task's n tokens, the
longest possible); with variable length they differ, and the note is empty."""

from __future__ import annotations

from textual import on
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.content import Content
from textual.widgets import Input, Label, Select, Static

from grpotui.config import (AGGREGATIONS, CREDITS, DELTA_MODES, IMPORTANCE_LEVELS, LOSS_MODES,
                            LOSS_TYPES, LR_SCHEDULERS, REWARDS, ConfigError, coerce, reward_label)
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


class Controls(Vertical):
    class SettingChanged(Message):
        def __init__(self, key: str, value) -> None:
            super().__init__()
            self.key, self.value = key, value

    class SpeedChanged(Message):
        def __init__(self, rollouts_per_second: float) -> None:
            super().__init__()
            self.rollouts_per_second = rollouts_per_second

    def __init__(self, config: dict, **kw) -> None:
        super().__init__(**kw)
        self.config = dict(config)
        # The reward control offers the single functions and the mix the run started with.
        self.mixes: dict[str, dict] = {}
        self._remember_mix(config["reward"])

    def _remember_mix(self, reward) -> None:
        if isinstance(reward, dict):
            self.mixes[reward_label(reward)] = reward

    def _options(self, key: str, choices) -> list[tuple[str, str]]:
        options = [(c, c) for c in choices]
        if key == "reward":
            options += [(label, label) for label in self.mixes]
        return options

    def _shown(self, key: str):
        """A setting's value as its control holds it (a reward mix by its label)."""
        value = self.config[key]
        return reward_label(value) if key == "reward" else value

    def compose(self):
        for wid, key, label, choices in SELECTS:
            select = Select(self._options(key, choices), value=self._shown(key),
                            allow_blank=False, compact=True, id=wid)
            if key == "loss_type":   # with its note: beside it on wide terminals, under it else
                with Horizontal(id="loss-type-box"):
                    with Horizontal(classes="control-row"):
                        yield Label(label, classes="control-label", id=f"{wid}-label")
                        yield select
                    yield Static("", id="loss-type-note")
                continue
            with Horizontal(classes="control-row"):
                yield Label(label, classes="control-label", id=f"{wid}-label")
                yield select
        for wid, key, label in INPUTS:
            with Horizontal(classes="control-row"):
                yield Label(label, classes="control-label")
                yield Input(_text(self.config[key]), compact=True, id=wid)
        with Horizontal(classes="control-row"):
            yield Label("speed", classes="control-label")
            yield Select(SPEEDS, value=0.0, allow_blank=False, compact=True, id="speed")
        yield Static("", id="control-error")

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

    def _mark_loss_type(self) -> None:
        note = loss_type_note(self.config["loss_type"], self.config.get("min_n", 0) > 0)
        widget = self.query_one("#loss-type-note", Static)
        widget.update(text.plain(note, "$text-muted"))
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
        value = self.mixes.get(event.value, event.value) if key == "reward" else event.value
        if value != self.config.get(key):
            self._error("")
            self.config[key] = value
            self._mark_delta_mode()
            self._mark_loss_type()
            self.post_message(self.SettingChanged(key, value))

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
