"""`grpotui learn length` under Pilot: the numbers on screen follow the sliders (checked against the
formulas), the sliders keep short <= long <= L, the text fits for every slider value, the picker,
the command palette and the dashboard's `l` open it, and esc goes back."""

from __future__ import annotations

import itertools

import pytest
from textual.widgets import OptionList, Static

from grpotui.engine.lessons import length_weights
from grpotui.presets import find_preset
from grpotui.tui import text as T
from grpotui.tui.app import GrpoApp
from grpotui.tui.learn import CANVASES, NAMES
from grpotui.tui.learn.app import LearnApp
from grpotui.tui.learn.base import Canvas, Slider
from grpotui.tui.learn.length import LengthCanvas, notes, table
from grpotui.tui.learn.picker import PickerScreen

from .conftest import wait_for


def shown(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def row(screen, loss_type: str) -> list[str]:
    """The numbers on a loss type's line of the table: short, long, total short, total long."""
    line = next(line for line in shown(screen, "#len-table").splitlines()
                if line.startswith(loss_type + " "))
    return [word for word in line.split() if word[0] in "+-" and word[1:2].isdigit()]


def values(screen) -> tuple:
    return tuple(screen.query_one(f"#s-{k}", Slider).value for k in ("short", "long", "a", "L"))


async def focus(pilot, screen, key: str) -> None:
    screen.query_one(f"#s-{key}", Slider).focus()
    await pilot.pause()


async def test_defaults_show_the_hand_case_and_the_sliders_move_the_numbers():
    app = LearnApp("length")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        s = app.screen
        assert isinstance(s, LengthCanvas) and values(s) == (2, 6, -1.0, 8)
        # lengths 2 and 6, A = -1, L = 8, N = 2, T = 8 (see tests/unit/test_length_lesson.py)
        assert row(s, "grpo") == ["+0.2500", "+0.0833", "+0.500", "+0.500"]
        assert row(s, "bnpo") == row(s, "dapo") == ["+0.1250", "+0.1250", "+0.250", "+0.750"]
        assert row(s, "dr_grpo") == ["+0.0625", "+0.0625", "+0.125", "+0.375"]
        assert row(s, "luspo") == ["+0.5000", "+0.5000", "+1.000", "+3.000"]
        said = " ".join(shown(s, "#len-notes").split())
        assert "grpo: both totals +0.500, so a long token gets 2/6 of a short one's push." in said
        assert "Wrong (A < 0): a long one is penalised 3× less per token" in said
        assert "the long total 3× the short" in said
        assert "dapo 1×, dr_grpo 0.5×, luspo 4× bnpo's loss; grpo not." in said
        assert "sortvar-ar-grpo" in said and "sortvar-ar (dr_grpo)" in said
        assert "switch loss_type live in the dashboard's controls" in said

        await focus(pilot, s, "short")
        await pilot.press("right")                          # short 2 -> 3: grpo 1/6, T = 9
        assert "short: 3 tokens" in shown(s, "#len-table")
        assert row(s, "grpo")[:2] == ["+0.1667", "+0.0833"]
        assert row(s, "bnpo")[:2] == [f"{1 / 9:+.4f}"] * 2
        await focus(pilot, s, "a")
        await pilot.press(*["right"] * 25)                  # A -1 -> +1.5 (25 notches of 0.1)
        assert values(s)[2] == pytest.approx(1.5)
        assert row(s, "grpo") == [f"{-1.5 / 6:+.4f}", f"{-1.5 / 12:+.4f}", "-0.750", "-0.750"]
        assert row(s, "dr_grpo")[:2] == [f"{-1.5 / 16:+.4f}"] * 2
        assert "Right (A > 0): a short one's tokens get 2×" in " ".join(
            shown(s, "#len-notes").split())
        await focus(pilot, s, "L")
        await pilot.press("9", "enter")                     # a typed value: L = 9 (not a notch)
        await pilot.pause()
        assert values(s)[3] == 9 and row(s, "dr_grpo")[:2] == [f"{-1.5 / 18:+.4f}"] * 2


async def test_zero_advantage_and_equal_lengths_say_so():
    app = LearnApp("length")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        s = app.screen
        s.query_one("#s-a", Slider).set_value(0.0)
        await pilot.pause()
        for t in ("grpo", "bnpo", "dapo", "dr_grpo", "luspo"):
            assert row(s, t) == ["+0.0000", "+0.0000", "+0.000", "+0.000"]
        assert "A = 0: no push at all." in shown(s, "#len-notes")
        assert "Wrong" not in shown(s, "#len-notes")
        s.query_one("#s-a", Slider).set_value(-0.5)
        s.query_one("#s-short", Slider).set_value(6)
        await pilot.pause()
        said = " ".join(shown(s, "#len-notes").split())
        assert "Equal lengths (6 and 6): no length bias" in said
        # coinciding_loss_types for lengths 6 and 6, L 8: grpo 1, dapo 1, dr_grpo 12/16, luspo 6
        assert "grpo 1×, dapo 1×, dr_grpo 0.75×, luspo 6× bnpo's loss." in said
        assert row(s, "grpo") == row(s, "bnpo") == [f"{0.5 / 12:+.4f}"] * 2 + ["+0.250"] * 2


async def test_sliders_keep_short_at_most_long_at_most_L():
    app = LearnApp("length")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        s = app.screen
        await focus(pilot, s, "short")
        await pilot.press(*["right"] * 8)                   # short 2 -> 10 carries long and L up
        assert values(s) == (10, 10, -1.0, 10)
        await focus(pilot, s, "L")
        await pilot.press("left", "left")                   # L 10 -> 8 carries both lengths down
        assert values(s) == (8, 8, -1.0, 8)
        await focus(pilot, s, "long")
        await pilot.press("left", "left", "left")           # long 8 -> 5 carries short down
        assert values(s) == (5, 5, -1.0, 8)
        await pilot.press(*["right"] * 20)                  # long up to its 16, L follows
        assert values(s) == (5, 16, -1.0, 16)
        assert "long: 16 tokens" in shown(s, "#len-table")
        assert row(s, "dr_grpo")[:2] == [f"{1 / 32:+.4f}"] * 2


@pytest.mark.parametrize("compact, cells", [(True, 78), (False, 118)])
def test_every_line_fits_for_every_slider_value(compact, cells):
    # 80 and 120 columns less the padding; every pair of lengths, A on a coarse grid (the widest
    # numbers: both ends, a small one, 0), L at its floor and its top
    for short, long, a, cap in itertools.product(range(1, 17), range(1, 17),
                                                 (-2.0, -0.1, 0.0, 2.0), (16, 32)):
        if short > long:
            continue
        w = length_weights(short, long, a, cap)
        rows = table(w, compact) + notes(w, compact)
        assert max(T.width(r.plain) for r in rows) <= cells, (short, long, a, cap)
        assert len(rows) <= (12 if compact else 24)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_it_fits_80x24_and_120x40(size):
    app = LearnApp("length")
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        s = app.screen
        for a in (-1.0, 0.0, 2.0):            # the longest notes: unequal lengths, A != 0
            s.query_one("#s-a", Slider).set_value(a)
            await pilot.pause()
            about = s.query_one("#canvas-about", Static)
            assert about.size.height == len(LengthCanvas.ABOUT)          # no line wrapped
            body = s.query_one("#canvas-body").region
            for sid in ("#len-table", "#len-notes"):
                widget = s.query_one(sid, Static)
                lines = shown(s, sid).splitlines()
                assert widget.size.height == len(lines), sid             # no line wrapped
                assert widget.region.bottom <= body.bottom, sid          # nothing cut off
                assert max(T.width(line) for line in lines) <= widget.size.width
            assert "dashboard's controls" in shown(s, "#len-notes")
            sliders = list(s.query(Slider))
            assert len(sliders) == 4 and all(x.region.bottom <= size[1] - 1 for x in sliders)


async def test_picker_help_palette_and_esc():
    app = LearnApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert ids == list(NAMES) and "length" in ids and ids[-1] == "lab"
        assert "short and a long response" in str(options.get_option_at_index(
            ids.index("length")).prompt)
        options.highlighted = ids.index("length")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, LengthCanvas)
        await pilot.press("question_mark")
        await pilot.pause()
        helped = " ".join(str(w.render()) for w in app.screen.query(Static))
        assert "short ≤ long ≤ L" in helped and "type a slider's value" in helped
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, LengthCanvas)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen)
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "Learn: length")
        assert command.help == CANVASES["length"][2]
        command.callback()
        await pilot.pause()
        assert [type(s).__name__ for s in app.screen_stack][-2:] == ["PickerScreen",
                                                                      "LengthCanvas"]


async def test_l_on_the_dashboard_offers_it_and_esc_in_the_lab_opens_the_list():
    app = GrpoApp(find_preset("lecture-centered").config, preset_name="lecture-centered",
                  paused=True, lab=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen)
        app.screen.query_one(OptionList).highlighted = list(CANVASES).index("length")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, Canvas) and app.screen.NAME == "length"
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert app.screen is app.default_screen
        # the lab (`grpotui learn lab`): esc outside a control goes back to the list of canvases
        app.screen.query_one("#groups").focus()
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.default_screen
        await app.action_quit()
