"""The dashboard's length view (a variable-length run's curves: lengths of correct and incorrect
responses, the truncated share, held-out exact match and truncation per prompt length), the
loss_type control with its note on coinciding loss types, and the clip plot's title."""

from __future__ import annotations

import json
import math

import pytest
from textual.widgets import Select, Static

from grpotui.config import TrainConfig
from grpotui.presets import find_preset
from grpotui.tui.app import GrpoApp, clip_title
from grpotui.tui.widgets.clip_plot import ClipPlot
from grpotui.tui.widgets.controls import loss_type_note
from grpotui.tui.widgets.curves import Curves, LengthTable
from grpotui.tui.widgets.groups import GroupsView

from .conftest import wait_for
from .screen import screen_lines, screen_text
from .test_app import log_text


def var_config(**changes) -> TrainConfig:
    """sortvar-ar made small: prompts of 2 to 4 numbers, evaluated every rollout."""
    base = find_preset("sortvar-ar").config.to_dict()
    base.update(n=4, min_n=2, d_model=16, n_heads=2, n_layers=1, prompts_per_rollout=8,
                group_size=4, heldout_size=64, eval_every=1)
    base.update(changes)
    return TrainConfig(**base)


POINTS = [  # two records as the worker sends them: the table keeps the latest evaluation's values
    {"step": 1, "reward": 0.1, "completions/mean_length_correct": 3.0,
     "completions/mean_length_incorrect": 7.0, "completions/clipped_ratio": 0.5,
     "heldout_exact_match/2": 0.25, "heldout_truncated/2": 0.5,
     "heldout_exact_match/3": 0.0, "heldout_truncated/3": 1.0,
     "heldout_exact_match/4": 0.0, "heldout_truncated/4": 1.0},
    {"step": 2, "reward": 0.2, "completions/mean_length_correct": 4.0,
     "completions/mean_length_incorrect": 8.0, "completions/clipped_ratio": 0.25,
     "heldout_exact_match/2": 0.9, "heldout_truncated/2": 0.0,
     "heldout_exact_match/3": float("nan"), "heldout_truncated/3": float("nan"),
     "heldout_exact_match/4": 0.1, "heldout_truncated/4": 1.0},
]


def value(app, key: str) -> str:
    """What the curves panel shows beside a curve: its latest value and range."""
    slug = key.replace("/", "-").replace("_", "-")
    return str(app.query_one(f"#value-{slug}").render())


def table_lines(app) -> list[str]:
    """The per-length table as drawn, a line per row, runs of spaces as one."""
    return [" ".join(line.split()) for line in
            app.query_one(LengthTable).render().plain.split("\n")]


def line_with(app, label: str) -> str:
    """The screen line holding `label`, from the label on, runs of spaces as one."""
    line = next(line for line in screen_lines(app) if label in line)
    return " ".join(line[line.index(label):].split())


def on_screen(app, *lines: str) -> bool:
    shown = [" ".join(line.split()) for line in screen_lines(app)]
    return all(any(want in line for line in shown) for want in lines)


async def fed(app, pilot, points=POINTS) -> Curves:
    await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
    curves = app.query_one(Curves)
    curves.add_points(points)
    curves.flush()
    await pilot.pause()
    return curves


# ------------------------------------------------------------------ the length view
async def test_the_length_view_shows_the_points_it_is_given():
    app = GrpoApp(var_config(), preset_name="test", paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        curves = await fed(app, pilot)
        assert curves.has_class("variable")
        # latest value and range of each length curve
        assert value(app, "completions/mean_length_correct") == "4 3..4"
        assert value(app, "completions/mean_length_incorrect") == "8 7..8"
        assert value(app, "completions/clipped_ratio") == "0.25 0.25..0.5"
        assert curves.histories["completions/mean_length_incorrect"].values == [7.0, 8.0]
        # one column per prompt length 2..4; the latest evaluation's values; — where it had none
        assert table_lines(app) == ["prompt length 2 3 4", "held-out EM 0.90 — 0.10",
                              "truncated 0.00 — 1.00"]
        assert "4 3..4" in line_with(app, "length ✓") and "8 7..8" in line_with(app, "length ✗")
        assert on_screen(app, "prompt length 2 3 4", "held-out EM 0.90 — 0.10",
                         "truncated 0.00 — 1.00")
        table = app.query_one(LengthTable)
        assert table.exact == {2: 0.9, 3: None, 4: 0.1}
        assert table.truncated == {2: 0.0, 3: None, 4: 1.0}
        # KL, grad norm and learning rate give their rows to the length view; nothing else moves
        for key in ("kl", "grad_norm", "lr"):
            assert not app.query_one(f"#spark-{key.replace('_', '-')}").parent.display
        assert "KL to ref" not in screen_text(app) and "grad norm" not in screen_text(app)
        assert on_screen(app, "reward ", "exact (train)", "loss ", "clip frac ", "entropy ")
        # it fits: the curves panel ends above the clip plot, which keeps room to draw
        assert curves.region.bottom <= app.query_one(ClipPlot).region.y
        assert app.query_one(ClipPlot).region.height >= 10
        await app.action_quit()


async def test_the_length_view_degrades_at_80x24():
    app = GrpoApp(var_config(n=8, heldout_size=256), preset_name="test", paused=True)
    async with app.run_test(size=(80, 24)) as pilot:
        points = [{"step": 1, "completions/mean_length_correct": 5.0,
                   "completions/mean_length_incorrect": 16.0, "completions/clipped_ratio": 1.0,
                   **{f"heldout_exact_match/{m}": (0.1 if m == 8 else 1.0) for m in range(2, 9)},
                   **{f"heldout_truncated/{m}": (1.0 if m == 8 else 0.0) for m in range(2, 9)}}]
        curves = await fed(app, pilot, points)
        table = app.query_one(LengthTable)
        # seven prompt lengths do not fit 30 cells: the longest six show, a … for the rest
        assert table_lines(app) == ["M … 3 4 5 6 7 8", "EM … 1.0 1.0 1.0 1.0 1.0 .10",
                              "cut … .00 .00 .00 .00 .00 1.0"]
        assert on_screen(app, *table_lines(app), "length ✓", "length ✗", "truncated")
        # every row of the panel is inside it, the table too
        inner = curves.content_region
        assert table.region.bottom <= inner.bottom and table.region.right <= inner.right
        assert table.region.height == 3
        await app.action_quit()


def test_the_table_fits_its_width():
    table = LengthTable()
    table.lengths = list(range(1, 17))
    for width in (56, 30, 10, 3, 0):
        labels, label_w, cell, shown, cut = table.layout_for(width)
        used = label_w + (1 if cut else 0) + len(shown) * (cell + 1)
        assert used <= max(width, label_w + 1), (width, used)
        assert shown == table.lengths[len(table.lengths) - len(shown):]   # the longest ones
    table.lengths = [2, 3, 4]
    assert table.layout_for(56) == (LengthTable.LONG, 13, 4, [2, 3, 4], False)


async def test_a_fixed_length_run_has_no_length_view(lecture_config):
    app = GrpoApp(lecture_config, preset_name="lecture-centered", paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        curves = await fed(app, pilot)
        assert not curves.has_class("variable")
        text = screen_text(app)
        for label in ("length ✓", "length ✗", "prompt length", "truncated"):
            assert label not in text
        assert "KL to ref" in text and "grad norm" in text and "learning rate" in text
        await app.action_quit()


async def test_the_real_run_fills_the_length_view(tmp_path):
    metrics = tmp_path / "m.jsonl"
    app = GrpoApp(var_config(), preset_name="test", paused=True, metrics_path=metrics)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        for target in (1, 2):
            await pilot.press("n")
            await wait_for(pilot, lambda: app.rollout == target, f"rollout {target}")
        curves, table = app.query_one(Curves), app.query_one(LengthTable)
        await wait_for(pilot, lambda: len(curves.histories["completions/clipped_ratio"].values)
                       == 2 and table.exact, "the second rollout's points")
        records = [json.loads(line) for line in metrics.read_text().splitlines()]
        last = [r for r in records if "event" not in r][-1]
        assert curves.histories["completions/clipped_ratio"].latest == \
            last["completions/clipped_ratio"]
        for m in (2, 3, 4):
            for into, key in ((table.exact, "heldout_exact_match"),
                              (table.truncated, "heldout_truncated")):
                assert into.get(m) == last[f"{key}/{m}"]   # null in the file: None here
        curves.flush()
        await pilot.pause()
        shown = table_lines(app)[1].split()[2:]
        assert shown == [("—" if table.exact[m] is None else f"{table.exact[m]:.2f}")
                         for m in (2, 3, 4)]
        await app.action_quit()


async def test_a_reset_to_another_preset_switches_the_layout(lecture_config):
    app = GrpoApp(lecture_config, preset_name="lecture-centered", paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        curves = app.query_one(Curves)
        assert not curves.has_class("variable")
        app.reset_training(var_config(), "small-sortvar")
        await wait_for(pilot, lambda: curves.has_class("variable"), "the length view")
        await wait_for(pilot, lambda: app.state == "paused" and "reset" in log_text(app),
                       "the new run")
        app.query_one(GroupsView).focus()
        await pilot.press("n")
        await wait_for(pilot, lambda: app.query_one(LengthTable).exact, "its first evaluation")
        await pilot.pause(0.2)
        assert "length ✓" in screen_text(app) and "prompt length" in screen_text(app)
        assert app.query_one(LengthTable).lengths == [2, 3, 4]
        app.reset_training(lecture_config, "lecture-centered")
        await wait_for(pilot, lambda: not curves.has_class("variable"), "the fixed layout")
        await pilot.pause(0.2)
        assert "length ✓" not in screen_text(app) and "KL to ref" in screen_text(app)
        assert app.query_one(LengthTable).exact == {}     # the old run's table went with it
        await app.action_quit()


# ------------------------------------------------------------------ loss_type
def test_the_note_names_the_loss_types_that_coincide():
    assert loss_type_note("grpo", False) == "(= bnpo, dapo, dr_grpo here: equal lengths)"
    assert loss_type_note("bnpo", False) == "(= grpo, dapo, dr_grpo here: equal lengths)"
    assert loss_type_note("dr_grpo", False) == "(= grpo, bnpo, dapo here: equal lengths)"
    assert loss_type_note("mean", False) == "(= grpo, bnpo, dapo, dr_grpo: equal lengths)"
    for t in ("luspo", "cispo", "sapo", "vespo"):
        assert loss_type_note(t, False) == ""
    for t in ("mean", "grpo", "bnpo", "dapo", "dr_grpo", "luspo"):
        assert loss_type_note(t, True) == ""


def note(app) -> str:
    widget = app.query_one("#loss-type-note", Static)
    return str(widget.render()) if widget.display else ""


async def test_loss_type_reaches_the_trainer_and_the_note_follows(lecture_config):
    app = GrpoApp(lecture_config, preset_name="lecture-centered", paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        select = app.query_one("#loss-type", Select)
        assert select.value == "mean"
        assert note(app) == "(= grpo, bnpo, dapo, dr_grpo: equal lengths)"
        assert "(= grpo, bnpo, dapo, dr_grpo: equal lengths)" in screen_text(app)
        select.value = "grpo"
        await wait_for(pilot, lambda: app.config.loss_type == "grpo", "the queued change")
        assert note(app) == "(= bnpo, dapo, dr_grpo here: equal lengths)"
        app.query_one(GroupsView).focus()
        await pilot.press("n")
        await wait_for(pilot, lambda: "loss_type mean → grpo" in log_text(app), "the set event")
        select.value = "luspo"
        await wait_for(pilot, lambda: app.config.loss_type == "luspo", "the second change")
        assert note(app) == ""
        assert "equal lengths" not in screen_text(app)
        # cispo needs loss_mode clipped (the lecture's is naive): refused, and the control goes back
        select.value = "cispo"
        await wait_for(pilot, lambda: "refused" in log_text(app), "the refusal")
        await wait_for(pilot, lambda: select.value == "luspo", "the old value back")
        assert app.config.loss_type == "luspo"
        await app.action_quit()


async def test_a_variable_length_run_has_no_note():
    app = GrpoApp(var_config(loss_type="grpo"), preset_name="test", paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        assert note(app) == ""
        app.query_one("#loss-type", Select).value = "dr_grpo"
        await wait_for(pilot, lambda: app.config.loss_type == "dr_grpo", "the queued change")
        assert note(app) == "" and "equal lengths" not in screen_text(app)
        await app.action_quit()


async def test_the_loss_type_control_fits_at_80x24(lecture_config):
    app = GrpoApp(lecture_config, preset_name="lecture-centered", paused=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        controls = app.query_one("#controls")
        app.query_one("#loss-type", Select).focus()
        await pilot.pause(0.2)
        box, inner = app.query_one("#loss-type-box"), controls.content_region
        assert box.region.y >= inner.y and box.region.bottom <= inner.bottom   # scrolled to it
        widget = app.query_one("#loss-type-note", Static)
        assert widget.region.right <= inner.right and widget.region.height == 2   # it wraps
        text = " ".join(screen_text(app).split())
        assert "loss type" in text and "(= grpo, bnpo, dapo," in text
        await app.action_quit()


# ------------------------------------------------------------------ the clip plot
def test_the_clip_title_says_which_ratios_it_shows():
    ratios, deltas = [0.5, 1.0, 1.25, 1.5], [-1.0, 1.0, 1.0, 1.0]
    assert clip_title(ratios, deltas, 0.2, None, 2) == \
        "ratios the loss saw · clipped low 25% high 50%"
    # clip-higher: the high side is 1 + epsilon_high
    assert clip_title(ratios, deltas, 0.2, 0.28, 2) == \
        "ratios the loss saw · clipped low 25% high 25%"
    assert clip_title([1.0, 1.0], [1.0, -1.0], 0.2, None, 1) == \
        "ratios the loss saw · K=1: all 1 (on-policy)"
    # a watched run whose K is 1 but whose ratios are not (its sampler differs): the counts
    assert clip_title(ratios, deltas, 0.2, None, 1).startswith("ratios the loss saw · clipped")


@pytest.mark.parametrize("changes, expected", [
    ({}, "ratios the loss saw · clipped low"),
    ({"inner_steps": 1}, "ratios the loss saw · K=1: all 1 (on-policy)"),
])
async def test_the_clip_plot_is_titled_from_the_run(lecture_config, changes, expected):
    cfg = lecture_config.replace(**changes)
    app = GrpoApp(cfg, preset_name="lecture-centered", paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        plot = app.query_one(ClipPlot)
        assert plot.border_title == "PPO clip"
        await pilot.press("n")
        await wait_for(pilot, lambda: plot.title.startswith("ratios"), "the first batch")
        assert plot.title.startswith(expected)
        assert expected[:30] in screen_text(app)
        await app.action_quit()


async def test_epsilon_high_sets_the_clip_plots_high_side(lecture_config):
    cfg = lecture_config.replace(loss_mode="clipped", epsilon_high=0.5)
    app = GrpoApp(cfg, preset_name="lecture-centered", paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        assert app._clip_settings() == (0.2, 0.5, 10)
        await pilot.press("n")
        plot = app.query_one(ClipPlot)
        await wait_for(pilot, lambda: plot.eps_high == 0.5, "the first batch")
        assert "eps 0.2/0.5" in screen_text(app)
        await app.action_quit()


async def test_the_help_says_the_groups_ratio_is_after_the_update(lecture_config):
    app = GrpoApp(lecture_config, preset_name="lecture-centered", paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        text = " ".join(str(w.render()) for w in app.screen.query(Static))
        assert "ρ after update" in text and "the ratios the loss saw" in text
        await app.action_quit()


def test_nan_points_leave_the_curves_as_they_were():
    from grpotui.tui.widgets.curves import History

    h = History()
    for v in (1.0, math.nan, None, 2.0):
        h.add(v)
    assert h.values == [1.0, 2.0] and h.latest == 2.0
