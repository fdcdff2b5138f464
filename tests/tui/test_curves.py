"""The curves panel's sparklines: a bar is the mean of its points."""

from __future__ import annotations

from rich.console import Console
from textual.app import App
from textual.widgets import Sparkline

from grpotui.tui.widgets.curves import Curves, fmt_value


class CurvesApp(App):
    def compose(self):
        yield Curves()


def bars(spark: Sparkline, width: int) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(spark.render(), end="")
    return console.export_text().strip()


async def test_a_bar_is_its_points_mean_so_a_drop_shows_at_once():
    app = CurvesApp()
    async with app.run_test(size=(60, 20)) as pilot:
        curves = app.query_one(Curves)
        spark = app.query_one("#spark-reward", Sparkline)
        width = spark.size.width
        assert width >= 5
        # two points a bar: the last bar holds a 10 and a 0 (the reward has just dropped)
        curves.add_points([{"reward": 10.0}] * (2 * width - 1) + [{"reward": 0.0}])
        curves.flush()
        await pilot.pause()
        assert bars(spark, width) == "█" * (width - 1) + "▄"   # mean 5 of 0..10; max: █
        assert str(app.query_one("#value-reward").render()) == "0 0..10"
        assert fmt_value(-0.0) == "0" and fmt_value(0.000123) == "1.2e-04"
