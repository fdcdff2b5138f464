"""Controls that steer a watched run (`grpotui watch PATH --control`) through its command file.

The controls come from the run's start record: its "control" block names what the run takes
(learning_rate, beta when the run started with beta > 0, epsilon, epsilon_high, scale_rewards, the
reward weights) and the settings hold their current values, kept current by the run's `set` events.
A change is checked here only for being a number; the run checks the rest, applies it at its next
optimizer step and answers with a `set` or `refused` event, which this panel shows next to the id it
sent.
"""

from __future__ import annotations

import math
from typing import Any

from textual import on
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Select, Static

from grpotui.tui import text

NUMBERS = [("learning_rate", "learning rate"), ("beta", "KL beta"), ("epsilon", "epsilon"),
           ("epsilon_high", "epsilon high")]
SCALE_REWARDS = ("group", "batch", "none")


def _text(v: Any) -> str:
    """A setting's value as text (values come from the run's file: cleaned, one line)."""
    return f"{v:g}" if isinstance(v, float) else text.one_line(v, 200)


def _number(typed: str) -> float | None:
    try:
        x = float(typed.strip())
    except ValueError:
        return None
    return x if math.isfinite(x) else None


class SteerPanel(Vertical):
    """One row per setting the run takes; reward weights one row per reward function."""

    class Steer(Message):
        def __init__(self, changes: dict[str, Any], wid: str, what: str) -> None:
            super().__init__()
            self.changes, self.wid, self.what = changes, wid, what

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.layout_key: tuple | None = None
        self.values: dict[str, Any] = {}        # input id -> the run's current value
        self.names: list[str] = []              # reward function names, in the run's order
        self.pending: dict[int, str] = {}       # command id -> the field it came from, until answered
        self.asked: dict[str, float] = {}       # field -> the value sent for it, until answered
        self.fields: dict[str, Input | Select] = {}   # field name -> its widget (no ids: rows are
                                                      # rebuilt while old ones may still be leaving)

    def compose(self):
        yield Vertical(id="steer-rows")
        yield Static(text.plain("waiting for the run's start record…", "dim"), id="steer-status")

    # ------------------------------------------------------------------ the run's news
    def show(self, control: dict | None, config: dict | None) -> None:
        """Build the rows for this run (once, or again when the run restarts with other
        settings) and show its current values."""
        status = self.query_one("#steer-status", Static)
        if config is None:
            self._build(None)
            status.update(text.plain("waiting for the run's start record…", "dim"))
            return
        if not control or not isinstance(control.get("settings"), dict):
            self._build(None)
            status.update(text.assemble(("This run takes no commands.", "$warning"),
                                        " Steering needs a TRL run attached with ",
                                        ("attach(trainer, path, control=True)", "b"), "."))
            return
        settings = control["settings"]
        current = {**settings, **{k: config[k] for k in settings if k in config}}
        names = [str(n) for n in config.get("reward_funcs") or []]
        weights = current.get("reward_weights")
        if not isinstance(weights, list) or len(weights) != len(names):
            names, weights = [], []
        key = (tuple(k for k, _ in NUMBERS if k in settings), "scale_rewards" in settings,
               tuple(names))
        self.names = names
        values = {k: current[k] for k, _ in NUMBERS if k in settings}
        if "scale_rewards" in settings:
            values["scale_rewards"] = current["scale_rewards"]
        values.update({f"w{i}": w for i, w in enumerate(weights)})
        self.values = values
        if key != self.layout_key:
            if self.layout_key is None and not self.pending:
                status.update(text.plain("enter a value to send it to the run", "dim"))
            self._build(key, names)                 # shows the values once its rows are mounted
        else:
            self._sync()

    def _sync(self) -> None:
        """Show the run's current values, except in a field being edited or asked to change."""
        with self.prevent(Input.Changed, Select.Changed):
            for wid, v in self.values.items():
                if wid in self.pending.values():     # asked for, not answered yet: keep it shown
                    continue
                widget = self.fields.get(wid)
                if widget is None or not widget.is_mounted:
                    continue
                if isinstance(widget, Select):
                    if v in SCALE_REWARDS and widget.value != v:
                        widget.value = v
                elif not widget.has_focus and widget.value != _text(v):
                    widget.value = _text(v)

    def _restore(self, wids: list[str]) -> None:
        """Put the run's value back in fields whose change it refused, focused or not."""
        with self.prevent(Input.Changed, Select.Changed):
            for wid in wids:
                widget, v = self.fields.get(wid), self.values.get(wid)
                if widget is None or v is None or not widget.is_mounted:
                    continue
                if isinstance(widget, Select):
                    if v in SCALE_REWARDS:
                        widget.value = v
                else:
                    widget.value = _text(v)
                    widget.cursor_position = len(widget.value)

    def answered(self, events: list[dict]) -> None:
        """Show what the run did with the commands this panel sent."""
        lines = []
        answers = [e for e in events if e.get("event") in ("set", "refused")
                   and isinstance(e.get("id"), int) and e["id"] in self.pending]
        for e in answers:
            if e["event"] == "set":
                lines.append(text.plain(f"✓ {text.one_line(e.get('key'), 60)} = "
                                        f"{_text(e.get('new'))} from step {e.get('step')}",
                                        "$success"))
            else:
                lines.append(text.plain(f"✗ {text.clean(e.get('message'))}", "$error"))
        refused = []
        for e in answers:
            if e["id"] in self.pending:
                wid = self.pending.pop(e["id"])
                self.asked.pop(wid, None)
                if e["event"] == "refused":
                    refused.append(wid)
        self._restore(refused)
        if lines:
            self.query_one("#steer-status", Static).update(text.lines(lines))

    # ------------------------------------------------------------------ rows
    def _build(self, key: tuple | None, names: list[str] = ()) -> None:
        rows = self.query_one("#steer-rows", Vertical)
        rows.remove_children()
        self.layout_key = key
        self.fields = {}
        if key is None:
            return
        numbers, scale, _ = key
        labels = [(k, label) for k, label in NUMBERS if k in numbers]
        if scale:
            labels.append(("scale_rewards", "scale rewards"))
        for i, n in enumerate(names):     # reward function names come from the run's file
            short = n[:-len("_reward")] if n.endswith("_reward") and len(n) > 7 else n
            labels.append((f"w{i}", "w " + text.one_line(short, 11)))
        new = []
        for wid, label in labels:
            if wid == "scale_rewards":
                field = Select([(c, c) for c in SCALE_REWARDS], value="group", allow_blank=False,
                               compact=True, name=wid)
            else:
                field = Input("", compact=True, name=wid)
            self.fields[wid] = field
            new.append(Horizontal(Label(text.plain(label), classes="control-label"), field,
                                  classes="control-row"))
        mounting = rows.mount_all(new)

        async def show_values() -> None:
            await mounting
            if self.layout_key == key:
                self._sync()

        self.call_later(show_values)

    def _status(self, message: str, style: str) -> None:
        self.query_one("#steer-status", Static).update(text.plain(message, style))

    def sent(self, cid: int, wid: str, what: str) -> None:
        self.pending[cid] = wid
        self._status(f"sent {what} (command {cid}); applies at the run's next optimizer step",
                     "dim")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.apply_input(event.input)

    @on(Input.Blurred)
    def _blurred(self, event: Input.Blurred) -> None:
        self.apply_input(event.input)

    @on(Select.Changed)
    def _selected(self, event: Select.Changed) -> None:
        event.stop()
        if event.select.name == "scale_rewards" and event.value != self.values.get("scale_rewards"):
            self.post_message(self.Steer({"scale_rewards": event.value}, "scale_rewards",
                                         f"scale_rewards = {event.value}"))

    def apply_input(self, inp: Input) -> None:
        wid = inp.name or ""
        if self.fields.get(wid) is not inp or wid not in self.values:
            return
        x = _number(inp.value)
        old = self.values[wid]
        if x is None:
            label = "a reward weight" if wid.startswith("w") else wid
            self._status(f"{text.one_line(repr(inp.value), 40)} is not a number; {label} takes "
                         f"a number such as {_text(old)}.", "$error")
            with self.prevent(Input.Changed):
                inp.value = _text(old)
                inp.cursor_position = len(inp.value)
            return
        if isinstance(old, (int, float)) and x == float(old) and wid not in self.asked:
            return
        if self.asked.get(wid) == x:     # sent already (enter, then leaving the field): once
            return
        self.asked[wid] = x
        if wid.startswith("w"):
            name = self.names[int(wid[1:])]
            self.post_message(self.Steer({"reward_weights": {name: x}}, wid,
                                         f"weight {name} = {x:g}"))
        else:
            self.post_message(self.Steer({wid: x}, wid, f"{wid} = {x:g}"))
