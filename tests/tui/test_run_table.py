"""The run table of `grpotui watch`, driven as a user would in one session: six runs with different
delta_mode settings, sorted by key and by clicking headers, filtered, grouped (the charts take the
groups' colour families), a group folded, the metrics changed with the picker's glob, a run growing
while the table is open; a name with markup in it is shown as it is."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import DataTable, Input, SelectionList, Static

from grpotui.sources import FileSource
from grpotui.tui.app import GrpoApp
from grpotui.tui.screens.metrics import MetricsScreen
from grpotui.tui.screens.runs import RunTableScreen, Sort, group_colours
from grpotui.tui.widgets.charts import RunCharts, colour, colour_family

from .conftest import wait_for
from .screen import screen_lines

# name, delta_mode (None: not in the start record), steps, reward slope
RUNS = [("alpha", "centered", 6, 0.5), ("[b]x[/]", "raw", 4, 1.0), ("beta", "centered", 8, 0.25),
        ("gamma", "rank", 3, 2.0), ("delta", None, 5, -1.0), ("Raw-2", "raw", 7, 0.1)]


def records(mode, steps, slope, start=1):
    config = {"learning_rate": 0.01, "group_size": 4}
    if mode is not None:
        config["delta_mode"] = mode
    recs = [{"event": "start", "step": 0, "rollout": 0, "config": config}] if start == 1 else []
    recs += [{"step": i, "rollout": i, "reward": slope * i, "loss": 1.0 / i}
             for i in range(start, steps + 1)]
    return "".join(json.dumps(r) + "\n" for r in recs)


def write_runs(folder: Path) -> list[Path]:
    paths = []
    for k, (_, mode, steps, slope) in enumerate(RUNS):
        paths.append(folder / f"run{k}.jsonl")
        paths[-1].write_text(records(mode, steps, slope))
    return paths


def names(table: DataTable) -> list[str]:
    return [table.get_row_at(i)[0].plain for i in range(table.row_count)]


def header_x(table: DataTable, key: str) -> int:
    """The screen column where a header starts (the table's columns side by side)."""
    x = 0
    for column in table.ordered_columns:
        if column.key.value == key:
            return x + 1
        x += column.get_render_width(table)
    raise KeyError(key)


async def test_the_run_table_sorts_filters_groups_and_follows_the_runs(tmp_path):
    paths = write_runs(tmp_path)
    app = GrpoApp(source=FileSource(paths, names=[r[0] for r in RUNS]), smoothing=0.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(app.runs) == 6 and all(app.runs)
                       and app.runs[2]["step"] == 8, "the six runs")
        await pilot.press("R")                                 # the run table
        await wait_for(pilot, lambda: isinstance(app.screen, RunTableScreen)
                       and app.screen.query(DataTable), "the run table")
        screen = app.screen
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 6, "the rows")
        # the charts' familiar metrics, each as last, min, max; names in name order, any case
        assert [c.key.value for c in table.ordered_columns] == [
            "name", "step", "reward:last", "reward:min", "reward:max", "loss:last", "loss:min",
            "loss:max"]
        assert names(table) == ["[b]x[/]", "alpha", "beta", "delta", "gamma", "Raw-2"]
        assert [c.plain for c in table.get_row_at(0)] == ["[b]x[/]", "4", "4", "1", "4", "0.25",
                                                          "0.25", "1"]
        lines = screen_lines(app)
        assert any(line.startswith(" [b]x[/] ") for line in lines), lines   # as it is, on screen

        await pilot.press("s")                                 # sort by the next column: step
        assert names(table) == ["gamma", "[b]x[/]", "delta", "alpha", "Raw-2", "beta"]
        await pilot.press("r")                                 # the other way
        assert names(table) == ["beta", "Raw-2", "alpha", "delta", "[b]x[/]", "gamma"]
        await pilot.click(DataTable, offset=(header_x(table, "reward:last"), 1))   # a header
        assert screen.sort.column == "reward:last" and not screen.sort.descending
        assert names(table) == ["delta", "Raw-2", "beta", "alpha", "[b]x[/]", "gamma"]
        await pilot.click(DataTable, offset=(header_x(table, "reward:last"), 1))   # again: down
        assert names(table) == ["gamma", "[b]x[/]", "alpha", "beta", "Raw-2", "delta"]

        await pilot.press("slash", "r", "a", "w")              # a name part, any case
        assert screen.query_one(Input).has_focus
        assert names(table) == ["Raw-2"]
        await pilot.press("ctrl+u", "*", "a", "*", "enter")   # a glob; enter back to the table
        assert table.has_focus
        assert names(table) == ["gamma", "alpha", "beta", "Raw-2", "delta"]
        await pilot.press("slash", "ctrl+u", "enter")

        await pilot.press("g")        # group by the first setting that differs between runs
        assert screen.group_by == "delta_mode"
        assert names(table) == [
            "▼ centered · 2 runs", "  alpha", "  beta",
            "▼ rank · 1 run", "  gamma",
            "▼ raw · 2 runs", "  [b]x[/]", "  Raw-2",
            "▼ (not set) · 1 run", "  delta"]   # (the key, in the title, left out: no room)
        assert table.columns["name"].width == len("▼ (not set) · 1 run")   # not the key's width
        assert "grouped by delta_mode" in str(screen.query_one("#runs-title").render())
        charts = app.screen_stack[0].query_one(RunCharts)
        family = colour_family        # the charts draw each group in its colour family
        assert charts.colours == group_colours(screen.runs, "delta_mode", family) == {
            0: family(0, 0), 2: family(0, 1), 3: family(1, 0), 1: family(2, 0),
            5: family(2, 1), 4: family(3, 0)}
        assert charts.colour_of(2) == family(0, 1)
        table.move_cursor(row=5)
        await pilot.press("space")                             # fold the raw group
        assert names(table)[5:] == ["▶ raw · 2 runs",
                                    "▼ (not set) · 1 run", "  delta"]
        assert table.cursor_row == 5
        await pilot.press("enter")                             # and open it again
        assert names(table)[5:8] == ["▼ raw · 2 runs", "  [b]x[/]", "  Raw-2"]
        for key in ("shift+tab", "enter", "up", "enter"):      # "none" in the group-by list
            await pilot.press(key)
            await pilot.pause()
        assert screen.group_by is None and len(names(table)) == 6 and table.has_focus
        await pilot.pause()
        assert any(line.startswith(" [b]x[/] ") for line in screen_lines(app))   # full width
        assert charts.colours is None and charts.colour_of(2) == colour(2)   # the palette again

        with paths[3].open("a") as f:                          # gamma grows while the table is open
            f.write(records("rank", 12, 2.0, start=4))
        await wait_for(pilot, lambda: table.get_row_at(0)[1].plain == "12", "gamma's new step")
        assert [c.plain for c in table.get_row_at(0)] == ["gamma", "12", "24", "2", "24",
                                                          "0.0833", "0.0833", "1"]

        await pilot.press("m")                                 # the picker: none, all, a glob
        await wait_for(pilot, lambda: isinstance(app.screen, MetricsScreen), "the picker")
        picker = app.screen
        count = picker.query_one("#metrics-count", Static)
        assert count.content.plain == "2 of 2 ticked"
        await pilot.press("ctrl+n")
        assert count.content.plain == "0 of 2 ticked"
        assert picker.query_one(SelectionList).selected == []
        await pilot.press("ctrl+s")                            # nothing ticked: not applied
        assert app.screen is picker
        await pilot.press("ctrl+t")
        assert picker.query_one(SelectionList).selected == ["reward", "loss"]
        await pilot.press("l", "*")                            # ticks exactly loss
        assert count.content.plain == "1 of 2 ticked"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is screen, "the table again")
        await wait_for(pilot, lambda: len(table.columns) == 5, "the loss columns")
        assert [c.key.value for c in table.ordered_columns] == [
            "name", "step", "loss:last", "loss:min", "loss:max"]
        assert screen.sort == Sort()                           # its sort column went: by name
        assert names(table) == ["[b]x[/]", "alpha", "beta", "delta", "gamma", "Raw-2"]
        table.move_cursor(row=names(table).index("beta"))
        await pilot.press("enter")                             # beta: the selected run
        assert app.selected == 2
        await pilot.press("escape")
        assert app.screen is app.screen_stack[0]
        await pilot.press("R")                                 # the same table again
        await wait_for(pilot, lambda: app.screen is screen, "the table again")
        assert screen.metrics == ["loss"] and names(table)[table.cursor_row] == "beta"
        await app.action_quit()
