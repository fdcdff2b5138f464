"""A snapshot of `grpotui watch` over two runs: fixed files (no training), both finished, so every
number, line and colour on screen is fixed."""

from __future__ import annotations

import pytest

from grpotui.sources import FileSource
from grpotui.tui.app import GrpoApp
from grpotui.tui.widgets.charts import RunCharts
from grpotui.tui.widgets.groups import GroupsView

from .conftest import wait_for
from .test_watch import GROUPS, two_runs


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
def test_two_run_overlay(snap_compare, tmp_path, size):
    a, b = two_runs(tmp_path)
    app = GrpoApp(source=FileSource([a, b]), smoothing=0.6)

    async def run_before(pilot) -> None:
        await wait_for(pilot, lambda: len(app.runs) == 2 and all(app.runs)
                       and all(r["status"] == "finished" for r in app.runs), "both runs")
        await wait_for(pilot, lambda: app.query_one(GroupsView).groups == GROUPS, "the groups")
        app.query_one(RunCharts).flush()
        await pilot.pause()
        app.query_one("#events").scroll_end(animate=False)   # (the log's end, however timed)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_grid_of_charts_at_200x60(snap_compare, tmp_path):
    """Four runs of twelve metrics: a 4x3 grid, every chart titled, the legend counting the runs."""
    from .test_watch_grid import METRICS, write_runs

    app = GrpoApp(source=FileSource(write_runs(tmp_path, 4, 30, METRICS[:12])), smoothing=0.6)

    async def run_before(pilot) -> None:
        await wait_for(pilot, lambda: len(app.runs) == 4 and all(app.runs)
                       and all(r["status"] == "finished" for r in app.runs), "four runs")
        charts = app.query_one(RunCharts)
        for _ in range(2):
            await pilot.pause()
            charts.flush()
        await pilot.pause()
        app.query_one("#events").scroll_end(animate=False)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(200, 60), run_before=run_before)
