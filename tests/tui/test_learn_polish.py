"""Issue 26's canvas fixes: sliders whose arrows reach both ends and agree with typing, esc while
typing, canvases kept when left, the picker's keys and layout, explanations right at the edge
values (A = 0, N = 1, rewards off the lesson's), the baseline's arrows and columns, the variance
scatter's counts, the rollout's text tokens and small probabilities (the lab's esc: in
test_length_canvas.py's dashboard session)."""

from __future__ import annotations

import math

import pytest
import torch
from textual.widgets import Footer, Input, OptionList, Static

from grpotui.presets import find_preset
from grpotui.tui import text as T
from grpotui.tui.learn import CANVASES
from grpotui.tui.learn.app import LearnApp
from grpotui.tui.learn.base import Slider, TypeValueScreen
from grpotui.tui.learn.baseline import columns, push_arrow
from grpotui.tui.learn.clip import example_text
from grpotui.tui.learn.picker import Entry, PickerScreen
from grpotui.tui.learn.rollout import TRAIN_VALUES, prob_exact, prob_text, rollouts_text
from grpotui.tui.learn.variance import distinct_points

from .conftest import wait_for


def shown(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def flat(screen, selector: str) -> str:
    return " ".join(shown(screen, selector).split())


# ============================================================================ pure
# every stepped slider on the canvases: (lo, hi, step, notches from lo to hi)
STEPPED = [(0.1, 3.0, 0.1, 29),       # rollout temperature
           (-2, 2, 0.1, 40),          # clip and length A
           (0.01, 0.5, 0.01, 49),     # clip epsilon
           (0.0, 2.0, 0.05, 40),      # clip ratio
           (0.0, 1.0, 0.05, 20),      # variance p
           (-20, 20, 0.5, 80),        # baseline b(s)
           (0.01, 1.0, 0.01, 99)]     # baseline step size


@pytest.mark.parametrize("lo, hi, step, notches", STEPPED)
def test_arrows_reach_both_ends_exactly(lo, hi, step, notches):
    s = Slider("x", lo, lo=lo, hi=hi, step=step)
    ups = 0
    while (v := s.notch(1)) is not None:
        s.value, ups = v, ups + 1
    assert (s.value, ups) == (hi, notches)
    downs = 0
    while (v := s.notch(-1)) is not None:
        s.value, downs = v, downs + 1
    assert (s.value, downs) == (lo, notches)


def test_one_range_for_arrows_and_typing_and_whole_numbers_said():
    train = Slider("train rollouts", 200, lo=1, hi=5000, values=TRAIN_VALUES, integer=True)
    assert (TRAIN_VALUES[0], TRAIN_VALUES[-1]) == (1, 5000)
    train.value = 2000
    assert train.notch(1) == 5000
    train.value = 10
    assert train.notch(-1) == 1 and train.parse("1") == 1 and train.parse("5000") == 5000
    with pytest.raises(ValueError) as e:
        train.parse("2.5")
    assert str(e.value) == ("2.5 is not a whole number; train rollouts takes a whole number from "
                            "1 to 5000.")
    with pytest.raises(ValueError) as e:
        train.parse("5001")
    assert str(e.value).startswith("5001 is out of range; ")
    with pytest.raises(ValueError, match="must run from lo to hi"):
        Slider("x", 20, lo=1, hi=5000, values=(10, 2000), integer=True)


def test_small_probabilities_plurals_arrows_columns_counts_examples_entries():
    assert [prob_text(p) for p in (0.0123, 0.0005, 0.0004, 0.0)] == \
        ["0.012", "0.001", "<.001", "0.000"]
    assert [prob_exact(p) for p in (0.0123, 0.00042, 2.1e-05)] == ["0.012", "0.00042", "2.1e-05"]
    assert (rollouts_text(1), rollouts_text(2)) == ("1 rollout", "2 rollouts")
    # arrows: the centre line, right for up, left for down, the longest push fills `half` cells
    assert push_arrow(5.5, 5.5, 4) == "    ┃━━━▶"
    assert push_arrow(-5.5, 5.5, 4) == "◀━━━┃    "
    assert push_arrow(0.1, 5.5, 4) == "    ┃▶   "        # any push shows: at least one cell
    assert push_arrow(0.0, 5.5, 4) == "    ┃    "
    lines = columns([["b", "│", "w"], ["-10.5", "│", "+40.0"], ["1", "│", "+1.0"]], left=set())
    assert lines == ["    b │     w", "-10.5 │ +40.0", "    1 │  +1.0"]
    grads = torch.tensor([[0.0, 0.0, 0.0]] * 9 + [[0.5, -0.25, -0.25]] * 5 + [[-0.5, 0.5, 0.0]] * 2)
    assert distinct_points(grads) == [(-0.5, 0.5, 2), (0.0, 0.0, 9), (0.5, -0.25, 5)]
    for a, r, eps in ((0.5, 1.35, 0.2), (-0.5, 0.65, 0.2)):
        compact = example_text(a, r, eps, compact=True).replace("[b]", "").replace("[/]", "")
        assert all(T.width(line) <= 36 for line in compact.splitlines())
        assert len(compact.splitlines()) == 2
    assert str(Entry("clip", "PPO's clipped objective")) == "clip PPO's clipped objective"


# ============================================================================ picker and clip
async def test_picker_keys_wrapping_esc_while_typing_clip_at_zero_and_kept_state():
    app = LearnApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        keys = {(k, b.binding.description) for k, b in app.active_bindings.items()
                if b.binding.show}
        assert ("enter", "Open") in keys and ("question_mark", "Keys") in keys
        # a wrapped description sits under the descriptions, not under the names
        options = picker.query_one(OptionList)
        lines = [options.render_line(y).text for y in range(2)]
        assert lines[0].startswith("rollout   A policy writes")
        assert lines[1].startswith(" " * 10 + "rewards and deltas")
        await pilot.press("question_mark")
        await pilot.pause()
        helped = "\n".join(str(w.render()) for w in app.screen.query(Static))
        assert "enter  open it" in helped and "esc  nothing: this is the first screen" in helped
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is picker
        options.highlighted = list(CANVASES).index("clip")
        await pilot.press("enter")                         # the footer's enter opens it
        await pilot.pause()
        clip = app.screen
        assert clip.NAME == "clip"
        # esc while typing cancels the typing and stays on the canvas
        await pilot.press("1")
        await pilot.pause()
        assert isinstance(app.screen, TypeValueScreen)
        footer = {b.binding.description for b in app.active_bindings.values() if b.binding.show}
        assert {"Cancel typing", "Apply"} <= footer and app.screen.query(Footer)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is clip and clip.query_one("#s-a", Slider).value == 0.8
        # keys that come before the prompt is up (typed fast, pasted) go into that one prompt;
        # esc among them cancels the typing, not the canvas
        a = clip.query_one("#s-a", Slider)
        a.action_type_value("1")
        clip.action_back()
        await pilot.pause()
        assert app.screen is clip and a.value == 0.8 and a.typing is None
        for key in ("1", ".", "5", ""):                    # "": the enter key's action
            a.action_type_value(key)
        await pilot.pause()
        assert app.screen is clip and a.value == 1.5 and a.typing is None
        # A = 0: no push at all, not "the clip stops it"
        await pilot.press("0", "enter")
        await pilot.pause()
        said = flat(clip, "#clip-numbers")
        assert "dL/dr 0: A = 0, so L = 0 for every r: no push at all" in said
        assert "clip stops" not in said
        # the worked examples fit at 80x24: two lines each, none cut off
        await pilot.press("e")
        await pilot.pause()
        examples = clip.query_one("#clip-examples", OptionList)
        assert examples.virtual_size.height == 4 and examples.content_size.height >= 4
        assert examples.region.bottom <= clip.query_one("#canvas-body").region.bottom
        said = flat(clip, "#clip-numbers")
        assert "r > 1+ε and A > 0: the clip stops it" in said
        clip.query_one("#s-eps", Slider).focus()
        await pilot.press("right")                         # epsilon 0.2 -> 0.21
        await pilot.press("escape")                        # back to the list ...
        await pilot.pause()
        assert app.screen is picker
        await pilot.press("enter")                         # ... and the clip canvas again
        await pilot.pause()
        again = app.screen
        assert again is not clip and again.NAME == "clip"
        assert [again.query_one(f"#s-{k}", Slider).value for k in ("a", "eps", "r")] == \
            [0.5, 0.21, 1.35] and again.example == 0       # as it was left
        assert "ε = 0.21" in flat(again, "#clip-numbers")


# ============================================================================ variance
async def test_variance_counts_its_estimates_says_n_1_right_and_legends_sit_below():
    app = LearnApp("variance")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        s = app.screen
        points = distinct_points(s.drawn.grads_raw) + distinct_points(s.drawn.grads_base)
        assert sum(c for _, _, c in distinct_points(s.drawn.grads_raw)) == 16
        plot = s.query_one("#var-scatter").plt
        assert plot._title == f"16 per-rollout estimates (θ1, θ2) at {len(points)} points, seed 0"
        assert len(points) < 16                            # why the counts are needed
        assert "•5: 5 there" in shown(s, "#var-scatter-legend")
        assert shown(s, "#var-loglog-legend") == "— no b  — b = E[R]: exact; • measured"
        # the count labels (•4, x7) on the canvas's colour, not in plotext's near-white boxes
        drawn = s.query_one("#var-scatter").render()
        labels = [span for span in drawn.spans if drawn.plain[span.start:span.end] in ("•4", "x7")]
        assert len(labels) == 2
        assert {span.style.bgcolor.triplet.hex for span in drawn.spans} == {
            app.theme_variables["surface"].lower()}
        s.query_one("#s-n", Slider).set_value(1)
        await pilot.pause()
        said = flat(s, "#var-numbers")
        assert ("no signal: always (N = 1: one reward has no spread; centred on its own mean it "
                "is 0, so it pushes nothing)") in said
        assert "all 1 rewards equal" not in said
        s.query_one("#s-n", Slider).set_value(16)
        await pilot.pause()
        assert "no signal (all 16 rewards equal)" in flat(s, "#var-numbers")


# ============================================================================ baseline
def bars(table: str) -> set[tuple[int, int]]:
    """Where the table lines' first and second │ are: one place for every line if they line up."""
    return {(line.index("│"), line.index("│", line.index("│") + 1))
            for line in table.splitlines() if line.count("│") >= 2}


async def test_baseline_arrows_lesson_number_only_at_its_values_and_columns_line_up():
    app = LearnApp("baseline")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        s = app.screen
        table = shown(s, "#bl-table")
        # the uniform start: pushes w·(1 − 0.5), raw 5.5 4.5 0 1, with b ±0.5; 5.5 fills 4 cells
        rows = {line.split("│")[0].split()[0] + line.split("│")[0].split()[1]: line
                for line in table.splitlines() if line.startswith(("s1", "s2"))}
        assert rows["s1a1"].split("│")[1].endswith("+5.50     ┃━━━▶ ")
        assert rows["s1a2"].split("│")[1].endswith("+4.50     ┃━━▶  ")
        assert rows["s2a1"].split("│")[1].endswith("+0.00     ┃     ")
        assert rows["s1a2"].split("│")[2].rstrip().endswith("-0.50    ◀┃")
        assert "The lesson prints 4.74 there." in flat(s, "#bl-table")
        assert len(bars(table)) == 1 and len(table.splitlines()[0].split("│")) == 3
        await pilot.press("1", "2", "enter")               # R(s1,a1) typed: 12, off the lesson's
        await pilot.pause()
        said = flat(s, "#bl-table")
        assert "4.74" not in said and "Without b, the squared deviations" in said
        s.query_one("#s-b0", Slider).set_value(-10.5)      # a wide b
        await pilot.pause()
        assert len(bars(shown(s, "#bl-table"))) == 1
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: s.compact and "no b" in shown(s, "#bl-table"), "compact")
        table = shown(s, "#bl-table")
        assert len(bars(table)) == 1 and "4.74" not in table
        widget = s.query_one("#bl-table", Static)
        assert max(T.width(line) for line in table.splitlines()) <= widget.size.width
        # left and opened again: the rewards, the hand-set baseline and the learners as they were
        await pilot.press("n")
        theta = s.toy.theta_base.clone()
        await pilot.press("escape")
        await pilot.pause()
        app.screen.query_one(OptionList).highlighted = list(CANVASES).index("baseline")
        await pilot.press("enter")
        await pilot.pause()
        again = app.screen
        assert again is not s and again.NAME == "baseline" and again.toy.steps == 1
        assert torch.equal(again.toy.theta_base, theta) and not again.follow_mean
        assert [again.query_one(f"#s-{k}", Slider).value for k in ("r00", "b0")] == [12, -10.5]
        assert "step 1: s1 drew" in flat(again, "#bl-note")


# ============================================================================ rollout
async def test_rollout_temperature_ends_text_tokens_and_kept_group():
    app = LearnApp(rollout_config=find_preset("sort4-ar").config)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.screen.query_one(OptionList).highlighted = 0
        await pilot.press("enter")
        await pilot.pause()
        s = app.screen
        temp = s.query_one("#s-temp", Slider)
        temp.set_value(2.5)
        temp.focus()
        await pilot.press(*["right"] * 6)                  # 5 notches to 3.0, then the end
        assert temp.value == 3.0 and s.policy.temperature == 3.0
        temp.set_value(0.3)
        await pilot.press("left", "left", "left")
        assert temp.value == 0.1
        await pilot.press("n", "n")
        written = s.responses[0]
        assert len(written) == 2
        state = flat(s, "#ro-state")
        prompt = ", ".join(map(str, s.prompt))
        assert f"prompt [{prompt}] → " in state
        assert f's2 = prompt + "[{written[0]}, {written[1]}" → a3 ~ π' in state
        token, p = s.last[3], float(s.last[2][s.last[3]])
        assert f"drew {token}, p {prob_exact(p)}" in flat(s, "#ro-bars")
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("enter")                         # the rollout canvas again, as it was
        await pilot.pause()
        again = app.screen
        assert again is not s and again.responses[0] == written and again.prompt == s.prompt
        assert again.query_one("#s-temp", Slider).value == 0.1
        assert f'"[{written[0]}, {written[1]}"' in flat(again, "#ro-state")
