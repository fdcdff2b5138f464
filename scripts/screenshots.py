"""Regenerate screenshots/*.svg from the real dashboard, training for real, and from the lesson's
canvases (`grpotui learn`).

    python scripts/screenshots.py               (all of them: a few minutes)
    python scripts/screenshots.py NAME [NAME]   (only those: the names below)

main: main.svg, the default preset mid-training (120x40); help: help.svg, its key help (taken with
main). groups-paused: the reward-hacking preset paused with its groups on show. lengths: the length
view, sortvar-ar-grpo paused after 150 rollouts. system: system.svg, the default preset at 200x60,
the system panel (y) beside the groups with its samples. lab: lab.svg, the guided lab (`grpotui
learn lab`) after 40 rollouts. watch: four finished headless runs of the lecture's setup (raw and
centered deltas, seeds 5 and 6, written with --metrics-groups), then watch.svg: `grpotui watch` on
the two seed-5 runs at 120x40 (a 2x2 grid); watch-grid.svg: the four at 200x60 (a 4x3 grid, the
groups panel shown); watch-runs.svg: their run table (R) grouped by delta_mode, sorted by the last
reward, best first; watch-chart.svg: the entropy chart full screen (tab to it, enter) on a log
axis (l). learn: learn-*.svg, the picker and each canvas. Everything is seeded; the
training shots differ from run to run only by where the pause lands.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from grpotui.presets import find_preset
from grpotui.tui.app import GrpoApp
from grpotui.tui.widgets.curves import Curves

OUT = Path(__file__).resolve().parent.parent / "screenshots"
SHOTS = ("main", "help", "groups-paused", "lengths", "system", "lab", "watch", "learn")


async def _until(pilot, condition, limit: float = 120.0) -> None:
    waited = 0.0
    while not condition() and waited < limit:
        await pilot.pause(0.1)
        waited += 0.1


async def shoot(preset: str, name: str, rollouts: int, *, pause: bool, help_too: bool = False,
                size: tuple[int, int] = (120, 40), lab: bool = False,
                system_samples: int = 0) -> None:
    p = find_preset(preset)
    app = GrpoApp(p.config, preset_name=p.name, lab=lab)
    async with app.run_test(size=size) as pilot:
        await _until(pilot, lambda: app.rollout >= rollouts)
        if system_samples:   # the panel samples every 2 s: a few for its sparklines
            from grpotui.tui.widgets.system import SystemPanel
            panel = app.query_one(SystemPanel)
            await _until(pilot, lambda: len(panel.query(".system-row.-has-data")) >= 2
                         and pilot.app.rollout >= rollouts, limit=30)
            await pilot.pause(2.0 * system_samples)
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


# (preset, seed, name): the lecture's raw against centered deltas, two seeds each
WATCH_RUNS = [("lecture-raw", 5, "raw s5"), ("lecture-centered", 5, "centered s5"),
              ("lecture-raw", 6, "raw s6"), ("lecture-centered", 6, "centered s6")]


def _write_runs(folder: Path) -> list[Path]:
    from grpotui.runner import StopRules, run_headless

    paths = []
    for preset, seed, name in WATCH_RUNS:
        p = find_preset(preset)
        path = folder / f"{name.replace(' ', '-')}.jsonl"
        run_headless(p.config.replace(seed=seed), StopRules(rollouts=100), preset_name=p.name,
                     metrics_path=str(path), quiet=True, metrics_groups=True)
        paths.append(path)
    return paths


def _watch_app(paths: list[Path], names: list[str]) -> GrpoApp:
    from grpotui.sources import FileSource

    return GrpoApp(source=FileSource(paths, names=names))


async def _all_read(pilot, app, n: int) -> None:
    await _until(pilot, lambda: len(app.runs) == n and all(app.runs) and all(
        r["status"] == "finished" and r["groups"] for r in app.runs))


async def _grid_flushed(pilot, app) -> None:
    for _ in range(2):   # a layout, then every chart drawn (as the redraw tick does, all at once)
        await pilot.pause(0.2)
        app.query_one("#charts").flush()
    await pilot.pause(0.3)


async def shoot_watch() -> None:
    from grpotui.tui.screens.chart import ChartScreen
    from grpotui.tui.screens.runs import RunTableScreen, column_key

    with tempfile.TemporaryDirectory() as tmp:
        paths = _write_runs(Path(tmp))
        names = [name for _, _, name in WATCH_RUNS]
        # watch.svg: the README's two runs, at 120x40
        app = _watch_app(paths[:2], ["raw deltas", "centered deltas"])
        async with app.run_test(size=(120, 40)) as pilot:
            await _all_read(pilot, app, 2)
            await pilot.press("c")   # the centered run's groups, on top in the charts
            await _grid_flushed(pilot, app)
            app.save_screenshot(filename="watch.svg", path=str(OUT))
            await app.action_quit()
        # the four runs at 200x60: the grid, the run table, a chart full screen
        app = _watch_app(paths, names)
        async with app.run_test(size=(200, 60)) as pilot:
            await _all_read(pilot, app, 4)
            await pilot.press("c")   # centered s5's groups
            await _grid_flushed(pilot, app)
            app.save_screenshot(filename="watch-grid.svg", path=str(OUT))
            # entropy full screen (tab to its chart, enter), on a log axis: its fall over the run
            for _ in range(20):
                if getattr(app.focused, "metric", None) == "entropy":
                    break
                await pilot.press("tab")
            await pilot.press("enter")
            await _until(pilot, lambda: isinstance(app.screen, ChartScreen))
            await pilot.press("l")
            await pilot.pause(0.8)
            app.save_screenshot(filename="watch-chart.svg", path=str(OUT))
            await pilot.press("escape")
            await _until(pilot, lambda: not isinstance(app.screen, ChartScreen))
            await pilot.press("R")
            await _until(pilot, lambda: isinstance(app.screen, RunTableScreen)
                         and app.screen.keys != [])
            table = app.screen
            for _ in range(len(table.keys) + 1):
                if table.group_by == "delta_mode":
                    break
                await pilot.press("g")
                await pilot.pause(0.2)
            for _ in range(200):
                if table.sort.column == column_key("reward", "last"):
                    break
                await pilot.press("s")
            if not table.sort.descending:
                await pilot.press("r")
            await pilot.pause(0.6)
            app.save_screenshot(filename="watch-runs.svg", path=str(OUT))
            await app.action_quit()


async def main(only: list[str]) -> None:
    unknown = sorted(set(only) - set(SHOTS))
    if unknown:
        sys.exit(f"screenshots.py: no shot called {', '.join(unknown)}; the shots: "
                 f"{', '.join(SHOTS)}.")
    OUT.mkdir(exist_ok=True)

    def wanted(*names: str) -> bool:
        return not only or any(n in only for n in names)

    if wanted("main", "help"):
        await shoot("default", "main", 400, pause=False, help_too=True)
    if wanted("groups-paused"):
        await shoot("reward-hacking", "groups-paused", 600, pause=True)
    if wanted("lengths"):
        await shoot("sortvar-ar-grpo", "lengths", 150, pause=True)
    if wanted("system"):
        await shoot("default", "system", 200, pause=False, size=(200, 60), system_samples=4)
    if wanted("lab"):
        await shoot("lab", "lab", 40, pause=False, lab=True)
    if wanted("watch"):
        await shoot_watch()
    if wanted("learn"):
        for name, keys in CANVAS_KEYS.items():
            await shoot_canvas(name, keys)
    print(f"wrote {', '.join(sorted(p.name for p in OUT.glob('*.svg')))} in {OUT}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
