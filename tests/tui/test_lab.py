"""Issue 26's dashboard items: the guided lab (`grpotui learn lab`), the reward mix dialog, the groups
panel's write-out, colours and narrow layouts, the sparklines' first point, the status line's speed,
and dropdowns that stay inside their panel."""

from __future__ import annotations

from textual.app import App
from textual.content import Content
from textual.widgets import Checkbox, Input, Select, Sparkline, Static

from grpotui.presets import find_preset
from grpotui.tui.app import GrpoApp
from grpotui.tui.messages import SnapshotReceived
from grpotui.tui.widgets.controls import (LAB, LAB_HINTS, LAB_HINTS_NARROW, LAB_HINTS_OTHER, MIX,
                                          Controls, MixScreen)
from grpotui.tui.widgets.curves import Curves, spark_data
from grpotui.tui.widgets.groups import GroupsView, probability, render_groups
from grpotui.tui.widgets.status import StatusLine

from .conftest import wait_for
from .test_autoregressive_ui import GROUPS as AR_GROUPS

MIX_GROUPS = {  # one prompt, G=2, rewarded by the mix position_match x1 + exact_match x4
    "prompts": [[1, 0, 2]], "targets": [[0, 1, 2]], "responses": [[[0, 1, 2], [0, 2, 1]]],
    "rewards": [[7.0, 1.0]], "deltas": [[3.0, -3.0]], "ratios": [[1.0, 0.875]],
    "components": {"position_match": [[3.0, 1.0]], "exact_match": [[1.0, 0.0]]},
}


def test_a_probability_under_half_a_percent_reads_below_1_not_0():
    assert [probability(p) for p in (0.0, 0.0049, 0.006, 0.05, 0.92, 0.999)] == [
        "<¹", "<¹", "⁰¹", "⁰⁵", "⁹²", "⁹⁹"]


def test_a_mix_keeps_its_labels_in_narrow_panels_its_parts_abbreviated():
    def lines(columns: int) -> list[str]:
        out = Content.from_markup(render_groups(MIX_GROUPS, 0, 1, columns)).plain.split("\n")
        assert all(len(line) <= columns for line in out)
        return out[1:]

    assert lines(120) == ["  0 1 2  r  7.00 (pos 3 exact 1)  Δ +3.00  ρ 1.000 ✓",
                          "  0 2 1  r  1.00 (pos 1 exact 0)  Δ -3.00  ρ 0.875 "]
    # 56 columns (the groups panel at 120) fit it all; at 52 the parts shorten, labels and ratio stay
    assert lines(56) == lines(53) == lines(120)
    assert lines(52) == ["  0 1 2  r  7.00 (p3 e1)  Δ +3.00  ρ 1.000 ✓",
                         "  0 2 1  r  1.00 (p1 e0)  Δ -3.00  ρ 0.875 "]
    assert lines(44) == ["  0 1 2  r  7.00 (p3 e1)  Δ +3.00 ✓", "  0 2 1  r  1.00 (p1 e0)  Δ -3.00 "]
    assert lines(36) == ["  0 1 2  r  7.00 (p3 e1)  Δ +3.00 ✓", "  0 2 1  r  1.00 (p1 e0)  Δ -3.00 "]
    # narrower than the header (36 cells): its statistics go below it, and the parts go
    assert lines(35) == ["   mean 4.00 std 4.24", "  0 1 2  r  7.00  Δ +3.00 ✓",
                         "  0 2 1  r  1.00  Δ -3.00 "]


def test_one_point_is_a_flat_sparkline_not_full_bars():
    assert spark_data([]) == [] and spark_data([0.0]) == [0.0, 0.0]
    assert spark_data([1.0, 2.0]) == [1.0, 2.0]


class Panels(App):
    """The groups, curves and status panels on their own: no training process."""

    def compose(self):
        yield StatusLine()
        yield GroupsView()
        yield Curves()


async def test_groups_write_out_colours_sparkline_and_speed_without_training():
    app = Panels()
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.query_one(GroupsView)
        body = view.query_one("#groups-body", Static)

        # a trajectory, then its reward: no statistics and no flag until every token is written
        view.show(AR_GROUPS, 3, write_out=3600.0)
        await pilot.pause()
        text = str(body.render())
        assert text.split("\n")[0] == "#1 2 0 1 → 0 1 2  writing…"
        assert "mean" not in text and "no signal" not in text and " r " not in text
        view.finish_write_out()             # what a pause does mid write-out
        await pilot.pause()
        text = str(body.render())
        assert view.reveal is None and view._writer is None
        assert text.split("\n")[0] == "#1 2 0 1 → 0 1 2  mean 4.50 std 3.54"
        assert "r  7.00" in text and "r  2.00" in text

        # a zero-delta token is grey: the theme's muted foreground, dimmer than text (not the
        # bright white that $text-muted gave inside Content)
        segments = list(body.render_line(1))
        zero = next(s for s in segments if s.text == "0")        # position delta 0.0
        plain = next(s for s in segments if s.text.startswith("  r"))
        assert zero.style.color.triplet.hex == "#8d8d8d"
        assert plain.style.color.triplet.hex == "#e0e0e0"

        # the first point of a curve is a flat line at the bottom
        curves = app.query_one(Curves)
        curves.add_points([{"reward": 0.0}])
        curves.flush()
        await pilot.pause()
        spark = app.query_one("#spark-reward", Sparkline)
        assert set("".join(s.text for s in spark.render_line(0))) == {"▁"}

        # the status line: 1 rollout/s, 2 rollouts/s
        status = app.query_one(StatusLine)
        facts = dict(state="running", preset="lab", rollout=3, rollouts=200, step=30,
                     steps_per_second=10.0, seconds=3.0)
        for speed, words in ((1.0, "│  1 rollout/s"), (2.0, "│  2 rollouts/s"), (0.5, "0.5 rollouts/s")):
            status.show(**facts, speed=speed)
            assert str(status.render()).endswith(words)


async def test_the_guided_lab_its_controls_hints_mix_dialog_and_dropdowns():
    preset = find_preset("lab")
    app = GrpoApp(preset.config, preset_name="lab", paused=True, lab=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        controls = app.query_one(Controls)
        # the lesson's three controls first, each with its hint; the lab starts at 5 rollouts/s
        box = controls.query_one("#lab-box")
        fields = [w.id for w in box.query("Select, Input")]
        assert fields == ["delta-mode", "group-size", "learning-rate", "speed"]
        for wid, hint in LAB_HINTS.items():
            shown = controls.query_one(f"#{wid}-hint", Static)
            assert str(shown.render()) == hint and shown.region.area > 0
        assert app.speed == 5.0 and "5 rollouts/s" in str(app.query_one(StatusLine).render())
        assert app.query_one("#learning-rate", Input).value == "0.0003"
        # the rest are one key away
        more = controls.query_one("#more-box")
        assert more.region.area == 0 and str(controls.border_subtitle) == "a: all controls"
        await pilot.press("a")
        await wait_for(pilot, lambda: more.region.area > 0, "all the controls")
        assert str(controls.border_subtitle) == "a: the three only  ↓ more"
        assert [w.id for w in more.query("Select, Input")][:2] == ["loss-mode", "loss-type"]

        # a dropdown opens inside the panel: not over its border, nor over the footer
        reward = app.query_one("#reward-fn", Select)
        reward.scroll_visible(animate=False)
        await pilot.pause()
        reward.expanded = True
        await pilot.pause()
        overlay = reward.query_one("SelectOverlay")
        inside = controls.scrollable_content_region
        assert overlay.region.area > 0
        assert inside.y <= overlay.region.y and overlay.region.bottom <= inside.bottom
        reward.expanded = False
        await pilot.pause()

        # the reward control builds a mix in a dialog, which refuses bad weights
        reward.value = MIX
        await wait_for(pilot, lambda: isinstance(app.screen, MixScreen), "the mix dialog")
        await pilot.pause()
        dialog = app.screen
        error = dialog.query_one("#mix-error", Static)
        assert dialog.query_one("#mix-on-inclusion_ordering", Checkbox).value   # the reward now
        assert "mix-on-answer_slots" not in {w.id for w in dialog.query(Checkbox)}   # fixed length

        async def apply(ticked: dict[str, str]) -> None:
            for name in ("inclusion_ordering", "position_match", "exact_match"):
                dialog.query_one(f"#mix-on-{name}", Checkbox).value = name in ticked
                dialog.query_one(f"#mix-weight-{name}", Input).value = ticked.get(name, "1")
            # enter in a weight applies, as the Apply button does (clicked in quick succession,
            # Textual reads a second click as a double click)
            dialog.query_one("#mix-weight-exact_match", Input).focus()
            await pilot.press("enter")
            await pilot.pause()

        for ticked, why in (
                ({}, "tick at least one reward function."),
                ({"position_match": "-1"}, "the weight of position_match is -1; a weight is a "
                                           "number from 0 to 100."),
                ({"position_match": "two"}, "the weight of position_match is 'two', not a number; "
                                            "a weight is a number from 0 to 100."),
                ({"position_match": "0", "exact_match": "0"},
                 "every weight ticked is 0: at least one must be above 0.")):
            await apply(ticked)
            assert app.screen is dialog and str(error.render()) == why
        assert app.config.reward == "inclusion_ordering"        # nothing sent
        await apply({"position_match": "1", "exact_match": "4"})
        await wait_for(pilot, lambda: app.config.reward == {"position_match": 1.0,
                                                            "exact_match": 4.0}, "the mix")
        assert reward.value == "position_match×1 + exact_match×4"
        # cancelled, the control shows the reward in force again
        reward.value = MIX
        await wait_for(pilot, lambda: isinstance(app.screen, MixScreen), "the dialog again")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, MixScreen), "the cancel")
        assert reward.value == "position_match×1 + exact_match×4"

        # pausing mid write-out finishes it: the responses get their rewards and the statistics
        view = app.query_one(GroupsView)
        app.state = "running"
        view.show(AR_GROUPS, 9, write_out=3600.0)
        assert view.reveal == 0
        snapshot = {"status": "paused", "rollout": app.rollout, "step": app.step,
                    "train_seconds": 0.0, "config": app.config_dict, "points": [], "events": [],
                    "groups": None, "error": None}
        app.post_message(SnapshotReceived(snapshot))
        await wait_for(pilot, lambda: app.state == "paused", "the pause")
        assert view.reveal is None
        assert "mean 4.50 std 3.54" in str(view.query_one("#groups-body").render())

        # at 80x24 the three controls and their hints, one line each, fill the panel's 6 rows
        await pilot.press("a")                      # the lesson's three only again
        await wait_for(pilot, lambda: more.region.area == 0, "the others hidden")
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: str(controls.query_one("#learning-rate-hint").render())
                       == LAB_HINTS_NARROW["learning-rate"], "the narrow hints")
        await wait_for(pilot, lambda: controls.query_one("#delta-mode-hint").region.height == 1,
                       "the layout for the narrow hints")
        controls.scroll_home(animate=False)
        await wait_for(pilot, lambda: controls.scroll_y == 0, "the panel's top")
        await pilot.pause()
        inside = controls.scrollable_content_region
        for wid in LAB:
            for part in (controls.query_one(f"#{wid}"), controls.query_one(f"#{wid}-hint")):
                assert part.region.height == 1 and inside.contains_region(part.region), wid
        assert str(controls.border_subtitle) == "a: all controls  ↓ more"   # the speed below
        await app.action_quit()


async def test_the_lab_on_another_preset_keeps_its_hints_but_not_the_lab_presets_figures():
    class Lab(App):
        def compose(self):
            yield Controls(find_preset("sort4").config.to_dict(), lab=True, figures=False)

    app = Lab()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        controls = app.query_one(Controls)
        await wait_for(pilot, lambda: all(
            str(controls.query_one(f"#{wid}-hint").render()) == hint
            for wid, hint in LAB_HINTS_OTHER.items()), "the hints without figures")
