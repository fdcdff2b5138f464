"""Plots and chart labels take anything: any size, any numbers, any names.

Regression tests for what used to take the app down: the variance canvas's log axes on a resize,
huge and non-finite numbers in a watched file, markup in run names and metric keys (one hung the
metrics picker), and wide characters cut by characters instead of cells. And property tests: the
plotting functions take arbitrary floats and sizes."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from textual.app import App
from textual.content import Content
from textual.geometry import Size
from textual.widgets import SelectionList, Static

from grpotui.series import Series, ema, thin
from grpotui.sources import FileSource
from grpotui.tui import text
from grpotui.tui.app import GrpoApp
from grpotui.tui.learn import CANVASES, make_canvas
from grpotui.tui.learn.app import LearnApp
from grpotui.tui.screens.metrics import MetricsScreen
from grpotui.tui.widgets.charts import RunCharts
from grpotui.tui.widgets.clip_plot import ClipPlot
from grpotui.tui.widgets.plot import LIMIT, SafePlot, SafePlt, number, points, span

from .conftest import wait_for

MARKUP_NAMES = ["[/]", "[@click=app.quit]x", "[ @click=app.quit]x", "[$error]red", "[b]bold",
                "[ bold]x[/]"]
WIDE = "漢字テスト🙂" * 20           # 120 characters, 240 cells


def lines_of(drawn: str) -> list[str]:
    return SafePlt.uncolorize(drawn).split("\n")


def assert_fits(drawn: str, width: int) -> None:
    for line in lines_of(drawn):
        assert cell_len(line) <= width, (width, line)


def plots_fine(app) -> None:
    """No plot needed the last defence (a build that failed and was replaced by a note)."""
    failures = {p.id: p.failure for p in app.screen.query(SafePlot) if p.failure}
    failures.update({p.id: p.failure for p in app.query(SafePlot) if p.failure})
    assert not failures, failures


def build(plt: SafePlt, w: int, h: int) -> str:
    plt.plotsize(w, h)
    plt._set_size(w, h)
    return plt.build()


# ============================================================================ 1. the learn canvases
@pytest.mark.parametrize("size", [(200, 60), (130, 40), (120, 45)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_variance_canvas_survives_a_resize(size):
    """It used to fail with ValueError: math domain error (plotext took the log of its logs)."""
    app = LearnApp("variance")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.screen.NAME == "variance"
        await pilot.resize_terminal(*size)
        await pilot.pause()
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert app.is_running and app._exception is None
        plots_fine(app)
        drawn = app.screen.query_one("#var-loglog", SafePlot).plt.build()
        assert "variance of the mean of N" in SafePlt.uncolorize(drawn)


async def test_every_canvas_takes_tiny_and_huge_sizes():
    app = LearnApp()
    async with app.run_test(size=(120, 40)) as pilot:
        for name in CANVASES:
            await pilot.pause()
            app.push_screen(make_canvas(name))
            await pilot.pause()
            for w, h in ((10, 5), (3, 2), (300, 90), (120, 40)):
                await pilot.resize_terminal(w, h)
                await pilot.pause()
                assert app.is_running and app._exception is None, (name, w, h)
                plots_fine(app)
            app.pop_screen()


def test_a_log_axis_leaves_out_what_is_not_positive_and_builds_again():
    plt = SafePlt()
    plt.plot([1, 2, 4, 0, -3, 8], [0.5, 0.25, 0.125, 1, 1, -1])
    plt.vline(0)
    plt.xscale("log")
    plt.yscale("log")
    plt.title("variance")
    first = build(plt, 60, 15)
    assert "variance (3 points ≤ 0 left off the log scale)" in lines_of(first)[0]
    assert build(plt, 90, 30)             # again, at another size: the figure was not changed
    assert build(plt, 60, 15) == first
    nothing = SafePlt()
    nothing.scatter([0, -1], [1, 2])
    nothing.xscale("log")
    assert build(nothing, 40, 10)         # nothing positive: a linear axis, no error


# ============================================================================ 2. numbers from files
def absurd_records() -> list[dict]:
    inf, nan = math.inf, math.nan
    return [
        {"step": 1, "reward": 1e308, "loss": -1e308, "kl": 5e-324},
        {"step": 2, "reward": 1.0, "loss": 1e308, "kl": 0.0},
        {"step": 1e308, "reward": 2.0, "loss": 1.0},
        {"step": inf, "reward": 3.0},
        {"step": nan, "reward": 4.0},
        {"step": -inf, "reward": 4.0},
        {"step": 3, "reward": inf, "loss": nan, "kl": -inf},
        {"step": 4, "reward": "text", "loss": None, "kl": [1, 2], "entropy": True},
        {"step": "5", "reward": 5.0},
        {"step": 6, "time": inf, "reward": 1e-310},
        {"step": 7, "time": "soon", "reward": 10 ** 400},
    ]


def absurd_events() -> list[dict]:
    return [{"event": "set", "step": s, "key": "[/]lr", "old": "[b]", "new": "\x1b[31m"}
            for s in (1e308, math.inf, math.nan, -1e308, 2, True)]


class ChartsApp(App):
    def compose(self):
        yield RunCharts(smoothing=0.6, id="charts")


@pytest.mark.parametrize("x", ["step", "time"])
async def test_charts_take_absurd_numbers(x):
    app = ChartsApp()
    async with app.run_test(size=(100, 30)) as pilot:
        charts = app.query_one(RunCharts)
        charts.set_x(x)
        charts.add_points(0, "run", absurd_records())
        charts.add_marks(0, "run", absurd_events())
        charts.add_points(1, "other", [{"step": i, "reward": (-1) ** i * 1e308} for i in range(50)])
        for page in range(3):
            charts.flush()
            await pilot.pause()
            assert app.is_running and app._exception is None
            plots_fine(app)
            charts.turn_page(1)
        for smoothing in (0.0, 0.99):
            charts.set_smoothing(smoothing)
            charts.flush()
            await pilot.pause()
            plots_fine(app)


async def test_a_watched_file_with_absurd_numbers_is_charted(tmp_path):
    path = tmp_path / "absurd.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in
                            absurd_records() + absurd_events() + [{"step": 8, "reward": 1.0}]))
    app = GrpoApp(source=FileSource([path]), smoothing=0.6)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.runs and app.runs[0], "the run")
        charts = app.query_one(RunCharts)
        await wait_for(pilot, lambda: charts.runs and charts.runs[0].series, "its points")
        for _ in range(3):
            charts.flush()
            await pilot.pause()
            charts.turn_page(1)
        assert app.is_running and app._exception is None
        plots_fine(app)
        await app.action_quit()


def test_series_keeps_what_can_be_drawn_and_its_means_do_not_overflow():
    s = Series(cap=4)
    for step, value in ((1, 1e308), (2, 1e308), (math.inf, 1.0), (math.nan, 1.0), ("3", 1.0),
                        (3, "x"), (3, True), (4, 10 ** 400), (5, 1e308), (6, 1e308)):
        s.add(step, None, value)
    assert all(math.isfinite(v) for v in s.values + s.steps)
    assert s.values[0] == 1e308                     # the mean of two 1e308s, not inf
    assert s.latest == 1e308


# ============================================================================ 3. names as text
def legend(app) -> Content:
    content = app.query_one("#legend", Static).content
    assert isinstance(content, Content)
    return content


def no_actions(content: Content) -> None:
    for span_ in content.spans:
        assert "@click" not in repr(span_.style), span_


def file_with(path: Path, metric: str, n: int = 5) -> Path:
    path.write_text("".join(json.dumps({"step": i, "reward": i / n, metric: i * 2}) + "\n"
                            for i in range(1, n + 1)))
    return path


@pytest.mark.parametrize("name", MARKUP_NAMES)
async def test_markup_in_a_run_name_and_a_metric_key_is_shown_as_it_is(tmp_path, name):
    path = file_with(tmp_path / "run.jsonl", name)
    app = GrpoApp(source=FileSource([path], names=[name]), smoothing=0.0, metric_patterns=[name])

    async def interact(pilot) -> None:
        await wait_for(pilot, lambda: app.runs and app.runs[0] and app.runs[0]["step"] == 5,
                       "the run")
        charts = app.query_one(RunCharts)
        charts.flush()
        await pilot.pause()
        assert name in legend(app).plain
        no_actions(legend(app))
        assert charts.shown_metrics() == [name]
        title = lines_of(app.query_one("#chart-0", SafePlot).plt.build())[0]
        assert f"{name}   {name} 10" in title
        await pilot.press("m")                  # the picker: it used to hang on "[/]"
        await wait_for(pilot, lambda: isinstance(app.screen, MetricsScreen), "the picker")
        await pilot.pause()
        lst = app.screen.query_one(SelectionList)
        prompts = [lst.get_option_at_index(i).prompt for i in range(lst.option_count)]
        assert [p.plain for p in prompts] == ["reward", name]
        for p in prompts:
            no_actions(p)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, MetricsScreen), "the dashboard")
        plots_fine(app)

    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(interact(pilot), 30)   # fails, rather than hangs
        assert app.is_running and app._exception is None
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, "q to quit")


@pytest.mark.parametrize("name", ["[@click=app.quit]q", "[ @click=app.quit]q"])
async def test_clicking_a_name_that_looks_like_an_action_runs_nothing(tmp_path, name):
    path = file_with(tmp_path / "run.jsonl", name)
    app = GrpoApp(source=FileSource([path], names=[name]), smoothing=0.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.runs and app.runs[0] and app.runs[0]["step"] == 5,
                       "the run")
        charts = app.query_one(RunCharts)
        charts.choose([name])
        charts.flush()
        await pilot.pause()
        no_actions(legend(app))
        at = legend(app).plain.index(name)
        for offset in (at + 1, at + len(name) - 1):
            await pilot.click("#legend", offset=(1 + offset, 0))
            await pilot.pause()
        await pilot.click("#chart-0", offset=(40, 0))     # the chart's title
        await pilot.pause()
        assert app.is_running and app._exception is None
        await app.action_quit()


async def test_a_long_metric_name_keeps_its_chart_titled_at_any_width(tmp_path):
    name = "m" * 10_000
    path = file_with(tmp_path / "run.jsonl", name)
    app = GrpoApp(source=FileSource([path]), smoothing=0.0, metric_patterns=[name])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.runs and app.runs[0] and app.runs[0]["step"] == 5,
                       "the run")
        charts = app.query_one(RunCharts)
        for w, h in ((120, 40), (200, 50), (60, 24)):
            await pilot.resize_terminal(w, h)
            charts.dirty = True
            charts.flush()
            await pilot.pause()
            chart = app.query_one("#chart-0", SafePlot)
            drawn = chart.plt.build()
            first = lines_of(drawn)[0]
            assert "mmmm…mmmm" in first, first   # its start and its end, cut in the middle
            assert_fits(drawn, chart.size.width)
            plots_fine(app)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MetricsScreen), "the picker")
        await pilot.pause()
        lst = app.screen.query_one(SelectionList)
        prompt = lst.get_option_at_index(1).prompt.plain      # (reward first)
        assert prompt.startswith("mmm") and prompt.endswith("…") and cell_len(prompt) < 200
        await pilot.press("escape")
        await app.action_quit()


async def test_wide_names_are_cut_by_cells(tmp_path):
    path = file_with(tmp_path / "run.jsonl", WIDE)
    app = GrpoApp(source=FileSource([path], names=[WIDE]), smoothing=0.0, metric_patterns=[WIDE])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.runs and app.runs[0] and app.runs[0]["step"] == 5,
                       "the run")
        charts = app.query_one(RunCharts)
        charts.flush()
        await pilot.pause()
        shown = legend(app).plain
        assert WIDE not in shown and WIDE[:5] in shown    # cut, by cells: never half a character
        cut = next(w for w in shown.split() if w.startswith(WIDE[:5]))
        assert cut.endswith("…") and cell_len(cut) <= 40
        chart = app.query_one("#chart-0", SafePlot)
        drawn = chart.plt.build()
        assert_fits(drawn, chart.size.width)
        assert WIDE[:10] in lines_of(drawn)[0]
        plots_fine(app)
        await app.action_quit()


def test_plot_titles_are_cleaned_and_cut_by_cells():
    for title in ("a\x1b[31mb\tc\nd\u202ee", WIDE, "x" * 5000, "🙂", "[/] [b]x"):
        for w, h in ((1, 1), (2, 3), (7, 4), (10, 5), (41, 12), (160, 40)):
            plt = SafePlt()
            plt.plot([1, 2, 3], [3, 1, 2])
            plt.title(title)
            drawn = build(plt, w, h)
            assert_fits(drawn, w)
            assert "\x1b[31m" not in SafePlt.uncolorize(drawn) and "\u202e" not in drawn
            first = lines_of(drawn)[0]
            if w >= 2:   # a title is always there: at least its first character or an ellipsis
                clean = text.clean(title).lstrip()
                assert first.strip() and (first.strip()[0] == clean[0] or first.strip() == "…"), \
                    (title, w, h, first)


# ============================================================================ properties
FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1e308, -1e308, 1.7976931348623157e308,
                     LIMIT, -LIMIT, 1e-300, 1.0, -1.0]),
    st.integers(min_value=-(10 ** 400), max_value=10 ** 400),
)
SIZES = st.tuples(st.integers(0, 250), st.integers(0, 80))


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(xs=st.lists(FLOATS, max_size=30), ys=st.lists(FLOATS, max_size=30), size=SIZES,
       log=st.tuples(st.booleans(), st.booleans()),
       lims=st.tuples(FLOATS, FLOATS, FLOATS, FLOATS), scatter=st.booleans(),
       title=st.text(max_size=80))
def test_any_numbers_at_any_size_build(xs, ys, size, log, lims, scatter, title):
    plt = SafePlt()
    (plt.scatter if scatter else plt.plot)(xs, ys, marker="braille", color=(1, 2, 3))
    plt.plot(ys)
    plt.vline(xs[0] if xs else 0.0)
    plt.hline(ys[-1] if ys else 0.0)
    if lims[0] == lims[0]:   # (a nan left out: auto limits)
        plt.xlim(lims[0], lims[1])
        plt.ylim(lims[2], lims[3])
    if log[0]:
        plt.xscale("log")
    if log[1]:
        plt.yscale("log")
    plt.title(title)
    w, h = size
    drawn = build(plt, w, h)
    assert_fits(drawn, w)
    assert build(plt, w, h) == drawn    # built twice, the same


@settings(deadline=None, max_examples=60)
@given(v=FLOATS, a=FLOATS, b=FLOATS)
def test_numbers_and_spans_plotext_can_place(v, a, b):
    n = number(v)
    assert n is None or (math.isfinite(n) and abs(n) <= LIMIT)
    lim = span(a, b)
    if lim is not None:
        lo, hi = lim
        assert lo < hi and math.isfinite(hi - lo)
    px, py = points([v, a], [b, v])
    assert len(px) == len(py) and all(abs(p) <= LIMIT for p in px + py)


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(st.fixed_dictionaries({"step": FLOATS, "time": FLOATS, "reward": FLOATS}),
                        max_size=40),
       marks=st.lists(FLOATS, max_size=4), size=SIZES, smoothing=st.sampled_from([0.0, 0.6, 0.99]),
       x=st.sampled_from(["step", "time"]), name=st.text(max_size=30))
def test_the_watch_chart_draws_any_records(records, marks, size, smoothing, x, name):
    charts = RunCharts(smoothing=smoothing, x=x)
    charts.add_points(0, name, records)
    charts.add_marks(0, name, [{"event": "set", "step": m, "key": name} for m in marks])
    w, h = size
    chart = SimpleNamespace(plt=SafePlt(), size=Size(w, h), refresh=lambda: None)
    charts.draw(chart, "reward")
    drawn = build(chart.plt, w, h)
    assert_fits(drawn, w)


@settings(deadline=None, max_examples=40)
@given(values=st.lists(FLOATS, max_size=50), weight=st.sampled_from([0.0, 0.5, 0.99]),
       limit=st.integers(0, 30))
def test_series_smoothing_and_thinning_take_any_numbers(values, weight, limit):
    s = Series(cap=8)
    for i, v in enumerate(values):
        s.add(i, v, v)
    xs, ys = s.xy("time")
    xs, ys = thin(xs, ema(ys, weight), limit)
    assert len(xs) == len(ys)


@settings(deadline=None, max_examples=30)
@given(eps=FLOATS, ratios=st.lists(FLOATS, max_size=20), deltas=st.lists(FLOATS, max_size=20),
       size=SIZES)
def test_the_clip_plot_takes_any_batch(eps, ratios, deltas, size):
    plot = ClipPlot()
    plot.set_batch(eps, ratios, deltas, "PPO clip [/]")
    plot.change_magnitude(0.1)
    drawn = build(plot.plt, *size)
    assert_fits(drawn, size[0])
