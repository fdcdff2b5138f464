"""`grpotui learn`: the lesson's canvases, one screen per file, their math in grpotui.engine.lessons.

    picker.py    the list of canvases          rollout.py   a response written token by token
    variance.py  REINFORCE's variance          baseline.py  what a baseline does to each push
    clip.py      where PPO's clip stops the gradient
    length.py    the length bias of GRPO's loss types;  `lab` is the dashboard itself
"""

from __future__ import annotations

import importlib

# name -> (module, class, one line for the picker and the command palette)
CANVASES = {
    "rollout": ("rollout", "RolloutCanvas",
                "A policy writes a response token by token; then its group's rewards and deltas"),
    "variance": ("variance", "VarianceCanvas",
                 "REINFORCE's gradient estimates scatter around the true gradient; 1/N variance"),
    "baseline": ("baseline", "BaselineCanvas",
                 "The two-state example: what subtracting a baseline does to each push"),
    "clip": ("clip", "ClipCanvas",
             "PPO's clipped objective: where the clip flattens it and stops the gradient"),
    "length": ("length", "LengthCanvas",
               "GRPO's loss types: the push on each token of a short and a long response"),
}
ROLLOUT_PRESET = "sort4-ar"   # `grpotui learn` without --preset: the rollout canvas's policy and task
LAB = ("lab", "The guided lab: the lecture's 3-number sort, live; three controls to try")
LAB_PRESET = "lab"            # `grpotui learn lab` without --preset: the lecture's setup, guided
NAMES = (*CANVASES, LAB[0])


def kept(app) -> dict:
    """The canvases' kept state in this app, by canvas name (Canvas.remember): a canvas left with
    esc and opened again comes back as it was (within one app: `grpotui learn`, or the
    dashboard's `l`)."""
    store = getattr(app, "learn_kept", None)
    if store is None:
        store = app.learn_kept = {}
    return store


def make_canvas(name: str):
    module, cls, _ = CANVASES[name]
    return getattr(importlib.import_module(f"grpotui.tui.learn.{module}"), cls)()


def open_canvas(app, name: str) -> None:
    """Show canvas `name` with the picker under it (esc goes back to the picker)."""
    from grpotui.tui.learn.base import Canvas
    from grpotui.tui.learn.picker import PickerScreen

    while isinstance(app.screen, Canvas) or getattr(app.screen, "is_modal", False):
        if isinstance(app.screen, Canvas):
            app.screen.remember()
        app.pop_screen()
    if not isinstance(app.screen, PickerScreen):
        app.push_screen(PickerScreen())
    if name in CANVASES:
        app.push_screen(make_canvas(name))


def learn_commands(app):
    """Command palette entries: the picker and every canvas."""
    from textual.app import SystemCommand

    yield SystemCommand("Learn: list the canvases", "the lesson's canvases (key: l on the dashboard)",
                        lambda: open_canvas(app, "picker"))
    for name, (_, _, about) in CANVASES.items():
        yield SystemCommand(f"Learn: {name}", about, lambda n=name: open_canvas(app, n))
