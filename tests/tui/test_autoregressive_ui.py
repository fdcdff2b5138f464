"""The dashboard on the autoregressive policy: token-by-token write-out with probabilities, per-token
credit, a reward mix in the controls, the learning-rate curve."""

from __future__ import annotations

import re

from textual.content import Content
from textual.widgets import Select

from grpotui.config import TrainConfig
from grpotui.tui.app import GrpoApp
from grpotui.tui.widgets.curves import Curves, fmt_value
from grpotui.tui.widgets.groups import GroupsView, probability, render_groups
from textual.content import Span

from .conftest import wait_for


def ar_config(**changes) -> TrainConfig:
    base = dict(policy="autoregressive", n=4, vocab_size=10, d_model=16, n_layers=1, n_heads=2,
                heldout_size=20, prompts_per_rollout=4, group_size=3, inner_steps=1, seed=1,
                reward={"position_match": 1.0, "exact_match": 4.0})
    base.update(changes)
    return TrainConfig(**base)


GROUPS = {  # one prompt, G=2, written by an autoregressive policy under per-token credit
    "prompts": [[2, 0, 1]], "targets": [[0, 1, 2]],
    "responses": [[[0, 1, 2], [0, 2, 2]]], "rewards": [[7.0, 2.0]], "deltas": [[0.5, -0.5]],
    "ratios": [[1.0, 1.0]], "token_probs": [[[0.92, 0.5, 0.999], [0.92, 0.25, 0.6]]],
    "position_deltas": [[[0.0, 1.2, 0.0], [0.0, -1.2, 0.0]]],
    "components": {"position_match": [[3.0, 2.0]], "exact_match": [[1.0, 0.0]]},
}


def plain(**kw) -> list[str]:
    return Content.from_markup(render_groups(GROUPS, 0, 1, 120, **kw)).plain.split("\n")


def test_probabilities_are_two_raised_digits():
    assert probability(0.92) == "⁹²" and probability(0.05) == "⁰⁵" and probability(0.999) == "⁹⁹"


def test_a_response_is_written_token_by_token_and_rewarded_at_the_end():
    assert plain(reveal=0, probs=True)[1:] == ["  ·   ·   ·  ", "  ·   ·   ·  "]
    assert plain(reveal=2, probs=True)[1:] == ["  0⁹² 1⁵⁰ ·  ", "  0⁹² 2²⁵ ·  "]
    done = plain(probs=True)
    assert done[1] == "  0⁹² 1⁵⁰ 2⁹⁹  r  7.00 (pos 3 exact 1)  Δ +0.50  ρ 1.000 ✓"


def test_per_token_credit_colours_each_token_by_its_own_delta():
    line = render_groups(GROUPS, 0, 1, 120).split("\n")[2]   # the second response: 0 2 2, deltas
    assert line.plain.startswith("  0 2 2")                   # 0, -1.2, 0
    assert line.spans[:3] == [Span(2, 3, "$foreground-muted"), Span(4, 5, "b $error"),
                              Span(6, 7, "$foreground-muted")]


async def test_a_single_step_is_written_out_and_a_mix_is_in_the_reward_control():
    app = GrpoApp(ar_config(), preset_name="test", paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        reward = app.query_one("#reward-fn", Select)
        assert reward.value == "position_match×1 + exact_match×4"
        await pilot.press("n")
        view = app.query_one(GroupsView)
        await wait_for(pilot, lambda: view.groups is not None and view.reveal is not None,
                       "the write-out to start")
        assert view.probs and "token_probs" in view.groups and "components" in view.groups
        await wait_for(pilot, lambda: view.reveal is None, "the write-out to finish")
        body = str(view.query_one("#groups-body").render())
        # 56 columns: just room for the mix's parts in full, the labels and the ratio (54 cells)
        assert re.search(r"  r +\d\.\d\d \(pos \d exact \d\)  Δ [+-]\d\.\d\d  ρ \d\.\d{3}", body), body
        # the single functions are offered too, and choosing one sends it
        reward.value = "exact_match"
        await wait_for(pilot, lambda: app.config.reward == "exact_match", "the queued change")
        reward.value = "position_match×1 + exact_match×4"
        await wait_for(pilot, lambda: isinstance(app.config.reward, dict), "the mix again")
        assert app.config.reward == {"position_match": 1.0, "exact_match": 4.0}
        await app.action_quit()


async def test_gdpo_marks_the_delta_mode_as_not_applying():
    app = GrpoApp(ar_config(), preset_name="test", paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        assert not app.query_one("#delta-mode", Select).disabled
        app.query_one("#aggregation", Select).value = "normalize_then_sum"
        await wait_for(pilot, lambda: app.config.reward_aggregation == "normalize_then_sum",
                       "the queued change")
        assert app.query_one("#delta-mode", Select).disabled
        assert "n/a" in str(app.query_one("#delta-mode-label").render())
        await app.action_quit()


async def test_the_learning_rate_curve_follows_the_schedule():
    cfg = ar_config(learning_rate=1e-3, lr_scheduler_type="linear", rollouts=4,
                    reward="position_match")
    app = GrpoApp(cfg, preset_name="test", paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        for i in range(3):
            await pilot.press("n")
            await wait_for(pilot, lambda: app.rollout == i + 1, "a rollout")
        curves = app.query_one(Curves)
        await wait_for(pilot, lambda: len(curves.histories["lr"].values) >= 3, "lr points")
        assert curves.histories["lr"].values[:3] == [1e-3, 7.5e-4, 5e-4]
        await app.action_quit()


def test_curve_values_read_plainly():
    assert [fmt_value(v) for v in (None, -0.0, 0.0, 0.000123, 0.3249, -0.00199, 12345.0)] == [
        "—", "0", "0", "1.2e-04", "0.325", "-0.00199", "1.2e+04"]


async def test_a_write_out_finishes_even_when_the_loop_skips_its_ticks():
    """Textual skips a timer's late ticks; a write-out counted in ticks stopped short for good
    under load (reveal stuck below n, no rewards shown). It is read off the clock instead."""
    from textual.app import App

    class One(App):
        def compose(self):
            yield GroupsView()

    app = One()
    async with app.run_test(size=(120, 20)) as pilot:
        view = app.query_one(GroupsView)
        view.show(GROUPS, 1, write_out=3600.0)          # an hour: no tick is due on its own
        assert view.reveal == 0
        view._write_token()
        assert view.reveal == 0                          # nothing due yet
        view._write_start -= 3600.0 * 2 / 4              # the clock at half way: 2 of 3 tokens
        view._write_token()
        assert view.reveal == 2
        view._write_start -= 3600.0                      # one late tick after the whole time
        view._write_token()
        assert view.reveal is None and view._writer is None
        await pilot.pause()
        assert "r  7.00" in str(view.query_one("#groups-body").render())
