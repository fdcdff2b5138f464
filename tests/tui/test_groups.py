"""The groups panel's text: what each line says, and that the no-signal flag is never split."""

from __future__ import annotations

import pytest
from textual.content import Content

from grpotui.tui.widgets.groups import render_groups

GROUPS = {  # one prompt of 3 numbers, G=2: an all-equal group (no signal)
    "prompts": [[1, 0, 2]], "targets": [[0, 1, 2]],
    "responses": [[[0, 1, 2], [0, 2, 1]]], "rewards": [[3.0, 3.0]], "deltas": [[0.0, 0.0]],
    "ratios": [[1.0, 1.25]],
}


def plain(columns: int) -> list[str]:
    return Content.from_markup(render_groups(GROUPS, 0, 1, columns)).plain.split("\n")


def test_wide_layout_puts_everything_on_one_header_line():
    assert plain(120) == [
        "#1 1 0 2 → 0 1 2  mean 3.00 std 0.00  all equal: no signal",
        "  0 1 2  r  3.00  Δ +0.00  ρ 1.000 ✓",
        "  0 2 1  r  3.00  Δ +0.00  ρ 1.250 ",
    ]


@pytest.mark.parametrize("columns, expected", [
    (50, ["#1 1 0 2 → 0 1 2  mean 3.00 std 0.00", "  all equal: no signal"]),
    (42, ["#1 1 0 2 → 0 1 2  mean 3.00 std 0.00", "  all equal: no signal"]),
    # too narrow for the ratio: it goes first, the labels stay
    (36, ["#1 1 0 2 → 0 1 2  mean 3.00 std 0.00", "  all equal: no signal",
          "  0 1 2  r  3.00  Δ +0.00 ✓"]),
    # too narrow for the labels: the line goes compact; the flag on a line of its own
    (27, ["#1 1 0 2", " → 0 1 2", "   mean 3.00 std 0.00", "   no signal", " 0 1 2  3.00 +0.00 ✓"]),
])
def test_the_no_signal_flag_moves_or_shortens_rather_than_wrap(columns, expected):
    lines = plain(columns)
    assert lines[:len(expected)] == expected
    assert all(len(line) <= columns for line in lines[:len(expected)])


TEXT_GROUPS = {  # a language model's groups (the TRL integration): strings, no targets, no ratios
    "prompts": ["What is 2 + 2?\nAnswer briefly.", "Sort: 3 1 2"],
    "responses": [["4", "It is [b]five[/b], clearly, because I said so at great length"],
                  ["1 2 3", "3 2 1"]],
    "rewards": [[1.0, 0.0], [1.0, 1.0]], "deltas": [[0.5, -0.5], [0.0, 0.0]],
}


def test_text_groups_render_prompts_and_responses_as_text():
    lines = Content.from_markup(render_groups(TEXT_GROUPS, 0, 2, 60)).plain.split("\n")
    assert lines == [
        "#1 What is 2 + 2? Answer briefly.",
        "   mean 0.50 std 0.71",
        "  4  r  1.00  Δ +0.50",
        "  It is [b]five[/b], clearly, because …  r  0.00  Δ -0.50",
        "#2 Sort: 3 1 2",
        "   mean 1.00 std 0.00  all equal: no signal",
        "  1 2 3  r  1.00  Δ +0.00",
        "  3 2 1  r  1.00  Δ +0.00",
    ]
    assert all(len(line) <= 60 for line in lines)


def test_text_groups_show_ratios_when_present():
    groups = dict(TEXT_GROUPS, ratios=[[1.0, 0.875], [1.0, 1.0]])
    lines = Content.from_markup(render_groups(groups, 0, 1, 80)).plain.split("\n")
    assert lines[2] == "  4  r  1.00  Δ +0.50  ρ 1.000"


def test_token_groups_without_targets_or_ratios():
    groups = {k: v for k, v in GROUPS.items() if k not in ("targets", "ratios")}
    assert Content.from_markup(render_groups(groups, 0, 1, 120)).plain.split("\n") == [
        "#1 1 0 2 → ?  mean 3.00 std 0.00  all equal: no signal",
        "  0 1 2  r  3.00  Δ +0.00 ",
        "  0 2 1  r  3.00  Δ +0.00 ",
    ]


# sortvar-ar-grpo's case: variable length (a "stopped" table), 16 tokens at most, probabilities
VARIABLE = {
    "prompts": [[5, 1, 9, 9, 9, 6]], "targets": [[1, 5, 6, 9, 9, 9]],
    "responses": [[[1, 5, 6, 9, 9, 9], [1] * 16]], "rewards": [[1.0, 0.0]],
    "deltas": [[0.71, -0.71]], "stopped": [[True, False]],
    "token_probs": [[[0.95] * 6, [0.5] * 16]],
}


@pytest.mark.parametrize("columns", [56, 40, 20])
def test_a_variable_length_response_stays_on_one_line_while_written(columns):
    written = render_groups(VARIABLE, 0, 1, columns, reveal=7, probs=True).split("\n")
    assert all(line.cell_length <= columns for line in written[-2:])
    # 17 token columns with their probabilities would take 2 + 67 cells: the probabilities go,
    # and the padding dots stop at the panel's edge (never on a line of their own)
    assert [line.plain for line in written[-2:]] == {
        56: ["  1 5 6 9 9 9 ∎", "  1 1 1 1 1 1 1 · · · · · · · · ·"],
        40: [" 1 5 6 9 9 9 ∎", " 1 1 1 1 1 1 1 · · · · · · · · ·"],
        20: [" 1 5 6 9 9 9 ∎", " 1 1 1 1 1 1 1 · · ·"]}[columns]
    assert len(written) == (3 if columns == 56 else 5)   # the header on 1 line, or 3 (compact)
    done = render_groups(VARIABLE, 0, 1, 56, probs=True).split("\n")
    assert [line.plain for line in done] == [   # at 56 (the panel at 120x40) the labels stay
        "#1 5 1 9 9 9 6 → 1 5 6 9 9 9 ∎  mean 0.50 std 0.71",
        "  1 5 6 9 9 9 ∎  r  1.00  Δ +0.71 ✓",
        "  1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 ✂  r  0.00  Δ -0.71 "]
    assert render_groups(VARIABLE, 0, 1, 55).split("\n")[-1].plain == \
        " 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 ✂  0.00 -0.71 "     # one column less: compact


def test_probabilities_stay_where_the_row_fits():
    assert render_groups(VARIABLE, 0, 1, 80, reveal=7, probs=True).split("\n")[-1].plain == \
        " 1⁵⁰ 1⁵⁰ 1⁵⁰ 1⁵⁰ 1⁵⁰ 1⁵⁰ 1⁵⁰ ·   ·   ·   ·   ·   ·   ·   ·   ·  "


async def test_the_right_column_shares_wide_screens():
    """The dashboard's top row in app.tcss (no training process): the right column is 60 at
    120 columns, half the width at 200, 34 below 110."""
    from pathlib import Path

    from textual.app import App
    from textual.containers import Horizontal, Vertical

    import grpotui.tui.app as dashboard
    from grpotui.tui.widgets.groups import GroupsView

    class Top(App):
        CSS_PATH = Path(dashboard.__file__).with_name("app.tcss")
        HORIZONTAL_BREAKPOINTS = dashboard.GrpoApp.HORIZONTAL_BREAKPOINTS

        def compose(self):
            with Horizontal(id="top"):
                yield GroupsView(id="groups")
                yield Vertical(id="right")

    app = Top()
    async with app.run_test(size=(200, 60)) as pilot:
        widths = {}
        for size in ((200, 60), (120, 40), (80, 24)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            widths[size] = (app.query_one("#groups").outer_size.width,
                           app.query_one("#right").outer_size.width)
        assert widths == {(200, 60): (100, 100), (120, 40): (60, 60), (80, 24): (46, 34)}


def test_a_long_prompt_keeps_the_labels_its_statistics_below():
    # sortvar-ar-grpo at 120x40 (56 columns): an 8-number prompt of 32, its header 59 cells wide
    groups = {k: v * 32 for k, v in VARIABLE.items()}
    groups.update(prompts=[[6, 5, 9, 4, 5, 6, 5, 9]] * 32, targets=[[4, 5, 5, 5, 6, 6, 9, 9]] * 32)
    assert [line.plain for line in render_groups(groups, 31, 1, 56).split("\n")] == [
        "#32 6 5 9 4 5 6 5 9 → 4 5 5 5 6 6 9 9 ∎",
        "   mean 0.50 std 0.71",
        "  1 5 6 9 9 9 ∎  r  1.00  Δ +0.71 ",
        "  1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 ✂  r  0.00  Δ -0.71 "]
