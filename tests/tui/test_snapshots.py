"""Snapshots of the main screen, made deterministic: the lecture preset, opened paused, stepped by
hand through exactly two rollouts (seed 5), so every number on screen is fixed."""

from __future__ import annotations

import pytest

from grpotui.presets import find_preset
from grpotui.tui.app import GrpoApp
from grpotui.tui.widgets.curves import Curves

from .conftest import wait_for


def stepped_app() -> tuple[GrpoApp, object]:
    app = GrpoApp(find_preset("lecture-centered").config, preset_name="lecture-centered",
                  paused=True)

    async def run_before(pilot) -> None:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        for target in (1, 2):
            await pilot.press("n")
            await wait_for(pilot, lambda: app.rollout == target, f"rollout {target}")
        app.query_one(Curves).flush()
        await pilot.pause()

    return app, run_before


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
def test_main_screen(snap_compare, size):
    app, run_before = stepped_app()
    try:
        assert snap_compare(app, terminal_size=size, run_before=run_before)
    finally:
        if app.training is not None:
            app.training.stop()


# The lesson's canvases: seeded draws and fixed key presses, so every number is fixed.
CANVAS_KEYS = {"picker": [], "rollout": ["n"] * 6, "variance": [], "baseline": ["n"] * 4,
               "clip": ["e"], "length": []}


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
@pytest.mark.parametrize("name", list(CANVAS_KEYS))
def test_learn_canvas(snap_compare, name, size):
    from grpotui.tui.learn.app import LearnApp

    app = LearnApp(None if name == "picker" else name,
                   rollout_config=find_preset("sort4-ar").config)
    assert snap_compare(app, terminal_size=size, press=CANVAS_KEYS[name])
