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
    (41, ["#1 1 0 2 → 0 1 2  mean 3.00 std 0.00", "  all equal: no signal",
          "  0 1 2  r  3.00  Δ +0.00 ✓"]),
    (32, ["#1 1 0 2", " → 0 1 2", "   mean 3.00 std 0.00  no signal", " 0 1 2  3.00 +0.00 ✓"]),
])
def test_the_no_signal_flag_moves_or_shortens_rather_than_wrap(columns, expected):
    lines = plain(columns)
    assert lines[:len(expected)] == expected
    assert all(len(line) <= columns for line in lines[:len(expected)])
