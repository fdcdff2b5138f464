"""Regenerate screenshots/*.svg from the real dashboard, training for real, and from the lesson's
canvases (`grpotui learn`).

    python scripts/screenshots.py          (about half a minute)
    python scripts/screenshots.py learn    (the canvases only: a few seconds)
    python scripts/screenshots.py watch    (only watch.svg)

main.svg: the default preset mid-training; groups-paused.svg: the reward-hacking preset paused with
its groups on show; help.svg: the key help; watch.svg: `grpotui watch` comparing two finished
headless runs (the lecture's raw against centered deltas, written with --metrics-groups). The numbers
differ from run to run only by where the pause lands. learn-*.svg: the picker and each canvas,
seeded, so the same every time.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from grpotui.presets import find_preset
from grpotui.tui.app import GrpoApp
from grpotui.tui.widgets.curves import Curves

OUT = Path(__file__).resolve().parent.parent / "screenshots"


async def _until(pilot, condition, limit: float = 120.0) -> None:
    waited = 0.0
    while not condition() and waited < limit:
        await pilot.pause(0.1)
        waited += 0.1


async def shoot(preset: str, name: str, rollouts: int, *, pause: bool, help_too: bool = False) -> None:
    p = find_preset(preset)
    app = GrpoApp(p.config, preset_name=p.name)
    async with app.run_test(size=(120, 40)) as pilot:
        await _until(pilot, lambda: app.rollout >= rollouts)
        if pause:
            await pilot.press("space")
            await _until(pilot, lambda: app.state == "paused")
        app.query_one(Curves).flush()
        await pilot.pause(0.3)
        app.save_screenshot(filename=f"{name}.svg", path=str(OUT))
        if help_too:
            await pilot.press("question_mark")
            await pilot.pause(0.3)
            app.save_screenshot(filename="help.svg", path=str(OUT))
        await app.action_quit()


# canvas -> keys pressed before the picture (seeded draws: the same picture every time)
CANVAS_KEYS = {"picker": [], "rollout": ["f"], "variance": [], "baseline": ["n"] * 12,
               "clip": ["e"], "length": []}


async def shoot_canvas(name: str, keys: list[str]) -> None:
    from grpotui.tui.learn import ROLLOUT_PRESET
    from grpotui.tui.learn.app import LearnApp

    app = LearnApp(None if name == "picker" else name,
                   rollout_config=find_preset(ROLLOUT_PRESET).config)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
        await pilot.pause(0.3)
        app.save_screenshot(filename=f"learn-{name}.svg", path=str(OUT))
        app.exit()


async def shoot_watch() -> None:
    import tempfile

    from grpotui.runner import StopRules, run_headless
    from grpotui.sources import FileSource

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for preset in ("lecture-raw", "lecture-centered"):
            p = find_preset(preset)
            path = Path(tmp) / f"{preset}.jsonl"
            run_headless(p.config, StopRules(rollouts=100), preset_name=p.name,
                         metrics_path=str(path), quiet=True, metrics_groups=True)
            paths.append(path)
        app = GrpoApp(source=FileSource(paths, names=["raw deltas", "centered deltas"]))
        async with app.run_test(size=(120, 40)) as pilot:
            await _until(pilot, lambda: len(app.runs) == 2 and all(app.runs) and all(
                r["status"] == "finished" and r["groups"] for r in app.runs))
            await pilot.press("c")   # the centered run's groups, on top in the curves
            app.query_one("#charts").flush()
            await pilot.pause(0.3)
            app.save_screenshot(filename="watch.svg", path=str(OUT))
            await app.action_quit()


async def main(only: list[str]) -> None:
    OUT.mkdir(exist_ok=True)
    if not only or "main" in only or "help" in only:
        await shoot("default", "main", 400, pause=False, help_too=True)
    if not only or "groups-paused" in only:
        await shoot("reward-hacking", "groups-paused", 600, pause=True)
    if not only or "watch" in only:
        await shoot_watch()
    if not only or "learn" in only:
        for name, keys in CANVAS_KEYS.items():
            await shoot_canvas(name, keys)
    print(f"wrote {', '.join(sorted(p.name for p in OUT.glob('*.svg')))} in {OUT}")


if __name__ == "__main__":
    import sys

    asyncio.run(main(sys.argv[1:]))   # names (main, groups-paused, watch, learn) make only those
