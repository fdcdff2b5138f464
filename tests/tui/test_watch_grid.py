"""`grpotui watch`'s chart grid, full-screen chart and many runs, driven as a user would: the grid at
three terminal sizes, the grid and groups-panel keys, a chart opened full screen (log axis, zoom,
pan, follow, live points, esc), thirty runs in the legend, the status line and the charts' colours,
a 10,000-character metric name, and `--grid` on the command line."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.cells import cell_len
from textual.geometry import Size
from textual.widgets._footer import FooterKey

from grpotui.sources import FileSource
from grpotui.tui.app import GrpoApp
from grpotui.tui.screens.chart import ChartScreen
from grpotui.tui.widgets.charts import (PALETTE, RunCharts, colour, colour_family, fmt_x,
                                        middle_cut, nice_ticks, rich_colour)
from grpotui.tui.widgets.grid import GridError, MetricChart, fit, parse_grid
from grpotui.tui.widgets.plot import SafePlt

from ..unit.test_cli import assert_bad_input, invoke
from .conftest import wait_for
from .test_watch import body, status_text

METRICS = [f"m{k:02d}/value" for k in range(30)]   # a TRL run logs about thirty


def write_runs(folder: Path, runs: int, steps: int, metrics: list[str] = METRICS) -> list[Path]:
    """Finished runs with fixed numbers: run r's metric k at step i is r + k / 10 + sin(i / 5)."""
    paths = []
    for r in range(runs):
        path = folder / f"run{r:02d}.jsonl"
        recs = [{"event": "start", "step": 0, "rollout": 0, "config": {"seed": r}}]
        recs += [{"step": i, "rollout": i, **{m: r + k / 10 + math.sin(i / 5)
                                              for k, m in enumerate(metrics)}}
                 for i in range(1, steps + 1)]
        recs.append({"event": "stop", "step": steps, "rollout": steps, "reason": "done"})
        path.write_text("".join(json.dumps(x) + "\n" for x in recs))
        paths.append(path)
    return paths


def titles(app) -> list[str]:
    """Each chart's title line, as drawn, in grid order."""
    return [SafePlt.uncolorize(c.plt.build()).split("\n")[0] for c in app.query(MetricChart)]


def footer_keys(app) -> dict[str, FooterKey]:
    return {k.key: k for k in app.screen.query(FooterKey)}


def finished(app, n: int):
    return lambda: len(app.runs) == n and all(app.runs) and \
        all(r["status"] == "finished" for r in app.runs)


async def settle(pilot, app) -> None:
    """Let a resize or a key lay the grid out, then draw what changed (as the redraw tick does)."""
    charts = app.query_one(RunCharts)
    for _ in range(2):
        await pilot.pause()
        charts.flush()
    await pilot.pause()


# ============================================================================ the grid
async def test_the_grid_fills_the_terminal_at_each_size_with_every_chart_titled(tmp_path):
    app = GrpoApp(source=FileSource(write_runs(tmp_path, 2, 10)), smoothing=0.0)
    async with app.run_test(size=(200, 60)) as pilot:
        await wait_for(pilot, finished(app, 2), "two runs")
        charts = app.query_one(RunCharts)
        for size, shape, pages in (((200, 60), (4, 3), 3), ((120, 40), (2, 2), 8),
                                   ((80, 24), (1, 1), 30)):
            await pilot.resize_terminal(*size)
            await settle(pilot, app)
            grid = charts.grid()
            assert (grid.rows, grid.cols) == shape, size
            assert len(app.query(MetricChart)) == shape[0] * shape[1]
            assert charts.pages() == pages
            on_page = charts.on_page()
            assert on_page == METRICS[:shape[0] * shape[1]]
            for metric, title in zip(on_page, titles(app)):
                assert title.strip().startswith(metric), (size, title)
            assert "q" in footer_keys(app)
            quit_key = footer_keys(app)["q"]
            assert quit_key.description == "Quit"
            assert 0 < quit_key.region.width and quit_key.region.right <= size[0], size

        # 80x24: g narrows, then hides the groups panel, and the grid takes the room
        await pilot.press("g")
        assert app.query_one("#top").has_class("groups-narrow")
        await pilot.press("g")
        await settle(pilot, app)
        assert not app.query_one("#left").display
        assert (charts.grid().rows, charts.grid().cols) == (1, 2)
        await pilot.press("g")
        assert not app.query_one("#top").has_class("groups-hidden")

        # keys: one row more, one column more; more than fits is cut, with a note; a: auto
        await pilot.resize_terminal(120, 40)
        await settle(pilot, app)
        await pilot.press("right_parenthesis")
        await settle(pilot, app)
        assert (charts.grid().rows, charts.grid().cols) == (3, 2)
        await pilot.press("less_than_sign")
        await settle(pilot, app)
        assert (charts.grid().rows, charts.grid().cols) == (3, 1)
        assert charts.on_page() == METRICS[:3]
        assert [t.strip().split()[0] for t in titles(app)] == METRICS[:3]
        for _ in range(2):   # 4x1, then 5x1 asked for
            await pilot.press("right_parenthesis")
        await settle(pilot, app)
        assert (charts.grid().rows, charts.grid().cols) == (4, 1)   # 4 rows of 5 fit in 21
        assert any("does not fit here: 4x1" in str(n.message) for n in app._notifications)
        await pilot.press("a")
        await settle(pilot, app)
        assert (charts.grid().rows, charts.grid().cols) == (2, 2) and charts.grid_shape is None

        # pages: } turns to the next page of four charts
        await pilot.press("right_curly_bracket")
        await settle(pilot, app)
        assert charts.on_page() == METRICS[4:8]
        assert "page 2/8" in body(app, "#legend")
        await app.action_quit()


async def test_a_grid_asked_for_on_the_command_line_and_fewer_metrics_than_it_holds(tmp_path):
    paths = write_runs(tmp_path, 2, 10, METRICS[:3])
    app = GrpoApp(source=FileSource(paths), smoothing=0.0, grid=(2, 3))
    async with app.run_test(size=(200, 60)) as pilot:
        await wait_for(pilot, finished(app, 2), "two runs")
        await settle(pilot, app)
        grid = app.query_one(RunCharts).grid()
        assert (grid.rows, grid.cols) == (2, 3)       # a page of six...
        assert grid.shape == (1, 3)                   # ... but three metrics: three larger charts
        assert [t.strip().split()[0] for t in titles(app)] == METRICS[:3]
        await app.action_quit()


def test_grid_shapes_and_the_grid_option():
    assert fit(131, 41) == (4, 3) and fit(78, 21) == (2, 2) and fit(42, 10) == (1, 1)
    assert fit(78, 21, 3, 3) == (3, 3) and fit(78, 21, 8, 8) == (4, 4) and fit(5, 2) == (1, 1)
    assert parse_grid("3x3") == (3, 3) and parse_grid(" 2X4 ") == (2, 4)
    assert parse_grid("auto") is None
    for bad, needle in (("0x3", "from 1 to 8"), ("100x100", "from 1 to 8"), ("3", "such as 3x3"),
                        ("axb", "such as 3x3"), ("", "such as 3x3")):
        with pytest.raises(GridError, match=needle):
            parse_grid(bad)


@pytest.mark.parametrize("value, needle", [("0x3", "--grid 0x3: rows and columns must each be "
                                            "from 1 to 8"),
                                           ("3", "--grid '3': expected rows x columns"),
                                           ("axb", "--grid 'axb': expected rows x columns"),
                                           ("100x100", "--grid 100x100: rows and columns")])
def test_a_bad_grid_on_the_command_line_is_one_message(tmp_path, value, needle):
    (tmp_path / "run.jsonl").write_text('{"step": 1, "reward": 1.0}\n')
    assert_bad_input(invoke("watch", str(tmp_path / "run.jsonl"), "--grid", value), needle)


# ============================================================================ full screen
async def test_a_chart_full_screen_log_zoom_pan_follow_and_live_points(tmp_path):
    long_name = "start/" + "x" * 9_990 + "/end"    # 10,000 characters (the most a file may use)
    path = tmp_path / "live.jsonl"
    recs = [{"step": i, "reward": math.sin(i / 10), "neg": -1.0 - i, long_name: float(i)}
            for i in range(1, 101)]
    path.write_text("".join(json.dumps(x) + "\n" for x in recs))
    app = GrpoApp(source=FileSource([path]), smoothing=0.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.runs and app.runs[0] and app.runs[0]["step"] == 100,
                       "the run")
        charts = app.query_one(RunCharts)
        await settle(pilot, app)
        assert charts.on_page() == ["reward", "neg", long_name]
        first = SafePlt.uncolorize(app.query_one("#chart-0").plt.build()).split("\n")[-2]
        assert first.split() == ["20", "40", "60", "80", "100"]   # round ticks on the step axis
        long_title = titles(app)[2]   # the 10,000-character name: its start and its end show
        assert "start/xxx" in long_title and "xxx/end" in long_title and "…" in long_title

        await pilot.press("enter")                  # nothing focused: the first chart
        await wait_for(pilot, lambda: isinstance(app.screen, ChartScreen), "the chart screen")
        screen = app.screen
        assert screen.metric == "reward"

        def heading() -> str:
            return SafePlt.uncolorize(screen.query_one("#full-chart").plt.build()).split("\n")[0]

        assert "linear y · x 1–100 step (whole run) · following" in heading()
        legend = app.screen.query_one("#chart-legend")
        assert legend.content.plain == "▶━━ live"   # which colour is which run
        ticks = SafePlt.uncolorize(screen.query_one("#full-chart").plt.build()).split("\n")[-2]
        assert ticks.split() == ["10", "20", "30", "40", "50", "60", "70", "80", "90", "100"]
        await pilot.press("plus")
        assert screen.window() == (50.5, 100.0)
        assert "x 50.5–100 of 100 step · following" in heading()
        await pilot.press("left")                   # a pan away stops following
        assert screen.window() == (38.125, 87.625) and not screen.follow
        assert "not following (0 or End follows)" in heading()
        await pilot.press("end")
        assert screen.window() == (50.5, 100.0) and screen.follow
        await pilot.press("left", "right")          # back at the latest point: following again
        assert screen.follow
        with path.open("a") as f:                   # live: the new points come into view
            f.write("".join(json.dumps({"step": i, "reward": 0.5, "neg": -1.0, long_name: 1.0})
                            + "\n" for i in range(101, 121)))
        await wait_for(pilot, lambda: screen.window() == (70.5, 120.0), "the window to follow")
        await wait_for(pilot, lambda: "of 120 step" in heading(), "the redraw")
        await pilot.press("minus", "minus")
        assert screen.window() is None
        await pilot.press("left")
        assert any("zoom in (+) first" in str(n.message) for n in app._notifications)
        await pilot.press("plus", "plus", "0")
        assert screen.window() is None and screen.follow
        wheel = SimpleNamespace(stop=lambda: None)
        screen.on_mouse_scroll_up(wheel)            # the mouse wheel zooms too
        assert screen.window() == (60.5, 120.0)
        screen.on_mouse_scroll_down(wheel)
        assert screen.window() is None

        await pilot.press("l")                      # log y: values <= 0 left off, said so
        assert "log y" in heading()
        drawn = heading()
        assert "points ≤ 0 left off the log scale" in drawn
        await pilot.press("l")
        assert "linear y" in heading()

        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ChartScreen), "the grid")
        await pilot.click("#chart-1")               # a click opens a chart
        await wait_for(pilot, lambda: isinstance(app.screen, ChartScreen), "the chart screen")
        assert app.screen.metric == "neg"
        await pilot.press("l")                      # nothing > 0: log refused, linear shown
        assert "log y refused: no value > 0 here, linear shown" in \
            app.screen.query_one("#full-chart").plt.build()
        await pilot.press("escape")
        await pilot.pause()

        app.query(MetricChart)[2].focus()           # the focused chart, by enter
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ChartScreen), "the chart screen")
        assert app.screen.metric == long_name
        assert app.screen.query_one("#chart-name-text").content.plain == long_name   # in full
        await pilot.press("escape")
        await app.action_quit()


def test_a_huge_metric_name_keeps_its_start_and_end_at_any_width():
    name = "rewards/" + "é" * 10_000 + "🙂/mean"
    for w in (12, 30, 60, 200):
        cut = middle_cut(name, w)
        assert cell_len(cut) <= w and "…" in cut
        assert cut.startswith("rewa") and cut.endswith("an")
    assert middle_cut("short", 10) == "short"
    charts = RunCharts(smoothing=0.0)
    charts.add_points(0, "run", [{"step": i, name: float(i)} for i in range(1, 20)])
    for w in (40, 80):
        chart = SimpleNamespace(plt=SafePlt(), size=Size(w, 12), refresh=lambda: None)
        charts.draw(chart, name)
        chart.plt.plotsize(w, 12)
        chart.plt._set_size(w, 12)
        first = SafePlt.uncolorize(chart.plt.build()).split("\n")[0]
        assert "rewards/éé" in first and "🙂/mean" in first, first


# ============================================================================ many runs
async def test_thirty_runs_legend_status_titles_and_colours(tmp_path):
    app = GrpoApp(source=FileSource(write_runs(tmp_path, 30, 5, METRICS[:2])), smoothing=0.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, finished(app, 30), "thirty runs")
        charts = app.query_one(RunCharts)
        await settle(pilot, app)
        legend = body(app, "#legend")
        listed = sum(1 for r in range(30) if f" run{r:02d}" in legend)
        assert f"+{30 - listed} more" in legend and "30 runs, 30 shown" in legend
        assert "▶━━ run00" in legend
        status = status_text(app)
        assert "30 runs, 30 shown" in status and "▶run00 step 5 finished" in status
        named = status.count(" step 5 ")         # (the last one's name may be cut)
        assert f"+{30 - named} more" in status
        assert [t.strip().split()[0] for t in titles(app)] == METRICS[:2]   # titles stay
        spans = app.query_one("#legend").content.spans   # each listed run in its colour
        drawn_in = {str(s.style) for s in spans if str(s.style).startswith("rgb(")}
        assert drawn_in == {rich_colour(i) for i in range(min(listed, 12))}

        await pilot.press("space")               # hide the selected run: counted
        await settle(pilot, app)
        assert "30 runs, 29 shown" in status_text(app)
        assert "30 runs, 29 shown" in body(app, "#legend")
        await pilot.press("enter")               # full screen: the same legend, less the settings
        await wait_for(pilot, lambda: isinstance(app.screen, ChartScreen), "the chart screen")
        legend = app.screen.query_one("#chart-legend")
        await wait_for(pilot, lambda: "run01" in legend.content.plain, "the chart's legend")
        full = legend.content.plain
        assert full.startswith("▶┄┄ run00 (hidden)   ━━ run01   ━━ run02")
        assert full.count("\n") == 1 and "+" in full and "more" in full and "smoothing" not in full
        listed = sum(f" run{r:02d}" in full for r in range(30))
        assert {str(s.style) for s in legend.content.spans
                if str(s.style).startswith("rgb(") and s.end > s.start
                } == {rich_colour(i) for i in range(1, listed)}   # (the hidden run0: dim)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ChartScreen), "the grid")
        await pilot.press("space")

        app.selected = 11
        await pilot.press("c")                   # select run 13: its entry is numbered and dotted
        await settle(pilot, app)
        assert app.selected == 12 and "▶••13 run12" in body(app, "#legend")
        assert "▶run12 step 5 finished" in status_text(app)

        charts.set_colours({0: (1, 2, 3), 12: (4, 5, 6)})   # another panel's colours
        await settle(pilot, app)
        drawn = app.query_one("#chart-0").plt.build()
        assert "38;2;4;5;6" in drawn                         # (the selected run, on top)
        assert "▶━━ run12" in body(app, "#legend")          # coloured: no longer marked
        spans = app.query_one("#legend").content.spans
        assert {"rgb(1,2,3)", "rgb(4,5,6)"} <= {str(s.style) for s in spans}
        charts.set_colours(None)
        await settle(pilot, app)
        assert "38;2;1;2;3" not in app.query_one("#chart-0").plt.build()
        await app.action_quit()


def lab(rgb) -> tuple[float, float, float]:
    def lin(c):
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = map(lin, rgb)
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t):
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def contrast_on_dark(rgb) -> float:
    def lum(c):
        r, g, b = (v / 255 for v in c)
        r, g, b = (v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in (r, g, b))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    return (lum(rgb) + 0.05) / (lum((18, 18, 18)) + 0.05)


def test_twelve_runs_in_twelve_colours_and_the_thirteenth_dotted():
    charts = RunCharts(smoothing=0.0)
    for r in range(13):                         # one level line per run, far apart
        charts.add_points(r, f"run{r}", [{"step": i, "reward": 10.0 * r} for i in range(1, 30)])
    chart = SimpleNamespace(plt=SafePlt(), size=Size(60, 60), refresh=lambda: None)
    charts.draw(chart, "reward")
    chart.plt.plotsize(60, 60)
    chart.plt._set_size(60, 60)
    drawn = chart.plt.build()
    for i in range(12):
        r, g, b = colour(i)
        assert f"38;2;{r};{g};{b}m⣀" in drawn or f"38;2;{r};{g};{b}m⠉" in drawn or \
            f"38;2;{r};{g};{b}m⠒" in drawn or f"38;2;{r};{g};{b}m⠤" in drawn, i   # braille
    r, g, b = colour(12)
    assert f"38;2;{r};{g};{b}m•" in drawn or f"38;2;{r};{g};{b}m·" in drawn   # the 13th: dots


def test_twelve_distinct_readable_colours_and_colour_families():
    assert len(PALETTE) == 12 and len(set(PALETTE)) == 12
    distances = [math.dist(lab(a), lab(b)) for a, b in itertools.combinations(PALETTE, 2)]
    assert min(distances) > 25                          # CIE76: clearly apart
    assert min(contrast_on_dark(c) for c in PALETTE) >= 4.5     # WCAG AA on #121212
    assert colour(12) == colour(0) and rich_colour(1) == "rgb(255,95,175)"
    families = [[colour_family(g, m) for m in range(4)] for g in range(6)]
    for fam in families:
        assert len(set(fam)) == 4                       # members differ in lightness
        assert all(contrast_on_dark(c) >= 3.4 for c in fam)   # readable on a dark background
    for a, b in itertools.combinations(range(6), 2):    # families differ in hue
        assert math.dist(lab(families[a][0]), lab(families[b][0])) > 20


def test_x_axis_numbers_read_as_whole_steps_and_ticks_are_round():
    assert [fmt_x(v) for v in (1.0, 1000.0, 12_345.0, 999_999.0, 1_234_567.0, 3.2e9)] == [
        "1", "1,000", "12,345", "999,999", "1.2M", "3.2G"]
    assert [fmt_x(v) for v in (50.5, 0.25, 1234.5, 0.0, -3.0)] == ["50.5", "0.25", "1,234", "0",
                                                                     "-3"]
    assert nice_ticks(1, 1000, 5) == [200, 400, 600, 800, 1000]
    assert nice_ticks(1, 1000, 4) == [250, 500, 750, 1000] and nice_ticks(0, 1, 4) == [
        0, 0.25, 0.5, 0.75, 1]
    assert nice_ticks(1, 1000, 3) == [500, 1000] and nice_ticks(0, 10, 4) == [0, 2.5, 5, 7.5, 10]
    assert nice_ticks(50.5, 100, 5) == [60, 70, 80, 90, 100]
    assert nice_ticks(0, 0.37, 4) == [0, 0.1, 0.2, 0.3]          # (0.30000000000000004: rounded)
    assert nice_ticks(5, 5, 3) == [] and nice_ticks(0, math.inf, 3) == [] == nice_ticks(1, 1e308, 4)
