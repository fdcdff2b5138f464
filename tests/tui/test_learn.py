"""`grpotui learn`: the picker and every canvas driven by keys under Pilot, their numbers checked
against independent computations; and the canvases over the running dashboard."""

from __future__ import annotations

import statistics

import pytest
import torch
from textual.widgets import Input, OptionList, Static

from grpotui.engine.lessons import CLIP_EXAMPLES, VARIANCE_EXPONENTS, VARIANCE_LOGITS
from grpotui.engine.rewards import position_match
from grpotui.presets import find_preset
from grpotui.tui.app import GrpoApp
from grpotui.tui.learn import CANVASES, NAMES
from grpotui.tui.learn.app import LearnApp
from grpotui.tui.learn.base import Canvas, Slider, TypeValueScreen
from grpotui.tui.learn.picker import PickerScreen

from .conftest import wait_for


def text(screen, selector: str) -> str:
    return " ".join(str(screen.query_one(selector, Static).render()).split())


def slider(screen, sid: str) -> Slider:
    return screen.query_one(f"#{sid}", Slider)


async def focus(pilot, screen, sid: str) -> None:
    slider(screen, sid).focus()
    await pilot.pause()


# ============================================================================ picker and navigation
async def test_picker_lists_every_canvas_and_esc_comes_back():
    app = LearnApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen)
        options = app.screen.query_one(OptionList)
        assert [options.get_option_at_index(i).id for i in range(options.option_count)] == list(NAMES)
        for i, name in enumerate(CANVASES):
            options.highlighted = i
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, Canvas) and app.screen.NAME == name
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, PickerScreen)
        await pilot.press("escape")          # the first screen: esc stays (q quits)
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen)
        await pilot.press("q")
    assert app.return_value is None


async def test_choosing_lab_asks_for_the_dashboard():
    app = LearnApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.screen.query_one(OptionList).highlighted = len(NAMES) - 1
        await pilot.press("enter")
        await pilot.pause()
    assert app.return_value == "lab"


async def test_learn_name_opens_the_canvas_over_the_picker_and_q_quits():
    app = LearnApp("clip")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert [type(s).__name__ for s in app.screen_stack][-2:] == ["PickerScreen", "ClipCanvas"]
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value is None and not app.is_running


async def test_every_canvas_is_in_the_command_palette():
    app = LearnApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for name in CANVASES:
            assert f"Learn: {name}" in titles
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "Learn: baseline")
        command.callback()
        await pilot.pause()
        assert app.screen.NAME == "baseline"
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "Learn: clip")
        command.callback()                   # from one canvas to another: the picker stays under
        await pilot.pause()
        assert [type(s).__name__ for s in app.screen_stack][-2:] == ["PickerScreen", "ClipCanvas"]


async def test_help_lists_the_canvas_keys():
    app = LearnApp("baseline")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        shown = " ".join(str(s.render()) for s in app.screen.query(Static))
        for words in ("Play", "Step", "mean reward", "type a slider's value", "esc"):
            assert words in shown
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.NAME == "baseline"


@pytest.mark.parametrize("name, keys, absent", [
    ("rollout", ["space", "n", "t", "f", "p", "u"], ["v"]),   # v: only over the dashboard
    ("variance", ["r"], []),
])
async def test_help_lists_each_key_once_with_its_longer_description(name, keys, absent):
    app = LearnApp(name)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        lines = "\n".join(str(s.render()) for s in app.screen.query(Static)).splitlines()
        firsts = [line.split()[0] for line in lines if line.strip()]
        for key in keys:
            assert firsts.count(key) == 1, (key, lines)
        for key in absent:
            assert key not in firsts
        if name == "variance":
            assert any("r  draw new rollouts (the next seed)" in line for line in lines)
        await app.action_quit()


# ============================================================================ sliders
async def test_slider_keys_and_typed_values():
    app = LearnApp("clip")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        s = app.screen
        await focus(pilot, s, "s-eps")
        await pilot.press("right", "right", "plus")
        assert slider(s, "s-eps").value == pytest.approx(0.23)
        await pilot.press("left", "minus")
        assert slider(s, "s-eps").value == pytest.approx(0.21)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TypeValueScreen)
        app.screen.query_one(Input).value = "0.9"
        await pilot.press("enter")
        await pilot.pause()
        error = str(app.screen.query_one("#type-value-error", Static).render())
        assert "out of range" in error and "from 0.01 to 0.5" in error
        app.screen.query_one(Input).value = "0.35"
        await pilot.press("enter")
        await pilot.pause()
        assert slider(s, "s-eps").value == pytest.approx(0.35)
        assert "ε = 0.35" in text(s, "#clip-numbers")
        await pilot.press("3")                # a digit opens the prompt with it typed
        await pilot.pause()
        assert app.screen.query_one(Input).value == "3"
        await pilot.press("escape")
        await pilot.pause()
        assert slider(s, "s-eps").value == pytest.approx(0.35)


# ============================================================================ clip
async def test_clip_examples_move_the_sliders_and_show_their_arithmetic():
    app = LearnApp("clip")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        s = app.screen
        examples = s.query_one("#clip-examples", OptionList)
        listed = [str(examples.get_option_at_index(i).prompt).replace("[b]", "").replace("[/]", "")
                  for i in range(2)]
        assert "min(0.675, 0.60) = 0.60" in listed[0]
        assert "min(-0.325, -0.40) = -0.40" in listed[1]
        for i, (a, r, eps) in enumerate(CLIP_EXAMPLES):
            examples.focus()
            examples.highlighted = i
            await pilot.press("enter")
            await pilot.pause()
            assert (slider(s, "s-a").value, slider(s, "s-r").value, slider(s, "s-eps").value) == \
                (a, r, eps)
            shown = text(s, "#clip-numbers")
            expected = min(r * a, min(max(r, 1 - eps), 1 + eps) * a)
            assert f"min of the two = {expected:+.3f}" in shown
            assert f"= {r * a:+.3f}" in shown
            assert "flat" in shown                              # both examples are clipped
        await focus(pilot, s, "s-r")
        await pilot.press(*["right"] * 6)                       # r 0.65 -> 0.95: inside the band
        shown = text(s, "#clip-numbers")
        assert "r = 0.95" in shown and f"{0.95 * -0.5:+.3f}" in shown and "still pushes" in shown


# ============================================================================ variance
async def test_variance_numbers_follow_the_sliders_and_the_exact_gradient_is_the_formula():
    app = LearnApp("variance")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        s = app.screen
        before = text(s, "#var-numbers")
        for p in (0.3, 0.35, 0.4):
            theta = torch.tensor(VARIANCE_LOGITS, dtype=torch.float64)
            pi = torch.softmax(theta, 0)
            q = torch.tensor([p ** k for k in VARIANCE_EXPONENTS], dtype=torch.float64)
            j = float(pi @ q)
            grad = pi * (q - j)
            shown = text(s, "#var-numbers")
            assert "(" + " ".join(f"{float(x):+.3f}" for x in grad) + ")" in shown
            assert f"= J = {j:.3f}" in shown
            n = int(slider(s, "s-n").value)
            assert f"{(j ** n + (1 - j) ** n):.1%}" in shown
            await focus(pilot, s, "s-p")
            await pilot.press("right")
        assert text(s, "#var-numbers") != before
        await focus(pilot, s, "s-n")
        await pilot.press("left", "left")                   # N 16 -> 12 -> 8
        assert slider(s, "s-n").value == 8
        assert "mean of 8" in text(s, "#var-numbers")
        assert len(s.drawn.actions) == 8
        await pilot.press("r")                              # a new draw, the next seed
        assert s.seed == 1


async def test_variance_at_p_zero_has_no_signal():
    app = LearnApp("variance")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        s = app.screen
        slider(s, "s-p").set_value(0.0)
        await pilot.pause()
        assert "no signal (all 16 rewards equal): 100.0%" in text(s, "#var-numbers")


# ============================================================================ baseline
async def test_baseline_stds_and_edits():
    app = LearnApp("baseline")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        s = app.screen
        shown = text(s, "#bl-table")
        assert "5.32 without, 1.15 with b" in shown
        assert "4.74" in shown and f"{statistics.pstdev([11, 9, 0, 2]):.2f}" in shown
        await focus(pilot, s, "s-r00")
        await pilot.press("right")                          # R(s1,a1) 11 -> 12; b(s1) follows
        assert slider(s, "s-b0").value == 10.5
        raw = statistics.stdev([12, 9, 0, 2])
        base = statistics.stdev([1.5, -1.5, -1, 1])
        assert f"{raw:.2f} without, {base:.2f} with b" in text(s, "#bl-table")
        await focus(pilot, s, "s-b0")
        await pilot.press("left", "left")                   # b(s1) by hand: 9.5
        assert not s.follow_mean
        base = statistics.stdev([2.5, -0.5, -1, 1])
        assert f"{base:.2f} with b" in text(s, "#bl-table")
        await pilot.press("m")
        assert slider(s, "s-b0").value == 10.5 and s.follow_mean


async def test_baseline_play_and_step_run_policy_gradient_steps():
    app = LearnApp("baseline")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        s = app.screen
        await pilot.press("n", "n", "n")
        assert s.toy.steps == 3 and "step 3: drew" in text(s, "#bl-note")
        await pilot.press("space")
        assert s.playing
        await wait_for(pilot, lambda: s.toy.steps >= 6, "steps while playing")
        await pilot.press("space")
        assert not s.playing
        await pilot.press("c")
        assert s.toy.steps == 0


# ============================================================================ rollout
def rollout_app(preset: str = "sort4-ar") -> LearnApp:
    cfg = find_preset(preset).config
    return LearnApp("rollout", rollout_config=cfg)


async def test_rollout_steps_token_by_token_and_scores_the_group():
    app = rollout_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        s = app.screen
        cfg = s.cfg
        assert s.policy.autoregressive and "does not depend" not in text(s, "#ro-state")
        await pilot.press("n")
        assert s.responses[0] and len(s.responses[0]) == 1
        assert "reward: none yet" in text(s, "#ro-state")
        assert "drew" in text(s, "#ro-bars")
        await pilot.press(*["n"] * (cfg.n - 1))
        assert len(s.responses[0]) == cfg.n and s.rewards[0] is not None
        await pilot.press("f")
        assert s.stats is not None
        rewards = position_match(torch.tensor([s.prompt]), torch.tensor([s.responses]))[0]
        assert s.stats["rewards"] == rewards.tolist()
        shown = text(s, "#ro-group")
        assert f"mean {rewards.mean():.3f} std {rewards.std():.3f}" in shown
        centered = rewards - rewards.mean()
        deltas = centered / (rewards.std() + 1e-5)          # normalized deltas (sort4-ar)
        assert s.stats["deltas"] == pytest.approx(deltas.tolist(), abs=1e-6)
        await focus(pilot, s, "s-g")
        await pilot.press("left", "left")                   # G 8 -> 6: a new group
        assert len(s.responses) == 6 and s.stats is None
        old = s.prompt
        await pilot.press("p")
        assert s.prompt != old or s.prompt_index == 2


async def test_rollout_with_a_per_position_policy_says_tokens_are_independent():
    app = rollout_app("default")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        s = app.screen
        assert not s.policy.autoregressive
        assert "its tokens do not depend on each other" in text(s, "#ro-state")


async def test_rollout_trains_a_policy_with_the_trainer():
    cfg = find_preset("sort4-ar").config.replace(prompts_per_rollout=4, group_size=4)
    app = LearnApp("rollout", rollout_config=cfg)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        s = app.screen
        slider(s, "s-train").set_value(10)
        await pilot.press("t")
        await wait_for(pilot, lambda: "trained here for 10 rollouts" in s.source, "training")
        assert s.busy is None and s.responses and not any(s.responses)


# ============================================================================ over the dashboard
async def test_l_opens_the_picker_over_training_which_goes_on(lecture_config):
    app = GrpoApp(lecture_config.replace(rollouts=100000), preset_name="lecture-centered")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "running" and app.rollout > 0, "training")
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen)
        app.screen.query_one(OptionList).highlighted = list(CANVASES).index("clip")
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.NAME == "clip"
        at = app.rollout
        await wait_for(pilot, lambda: app.rollout > at + 2, "training under the canvas")
        await pilot.press("space", "r")                     # the canvas's keys, not the dashboard's
        await pilot.pause()
        assert app.screen.NAME == "clip" and app.state == "running"
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert app.screen is app.default_screen and app.state == "running"
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert all(f"Learn: {n}" in titles for n in CANVASES)
        await app.action_quit()


async def test_rollout_over_the_dashboard_uses_a_copy_of_the_live_policy():
    cfg = find_preset("sort4-ar").config
    app = GrpoApp(cfg, preset_name="sort4-ar", paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        await pilot.press("n")
        await wait_for(pilot, lambda: app.rollout == 1, "one rollout")
        await pilot.press("l")
        await pilot.pause()
        app.screen.query_one(OptionList).highlighted = 0
        await pilot.press("enter")
        await pilot.pause()
        s = app.screen
        await wait_for(pilot, lambda: "copy of the dashboard's at rollout 1" in s.source,
                       "the live policy")
        # the copy is the trainer's policy after one rollout: rebuild it the same way here
        from grpotui.engine.trainer import Trainer

        threads = torch.get_num_threads()
        torch.set_num_threads(1)            # as the training process runs (same sums, same order)
        try:
            trainer = Trainer(cfg)
            trainer.rollout()
        finally:
            torch.set_num_threads(threads)
        for k, v in trainer.policy.state_dict().items():
            assert torch.allclose(s.policy.module.state_dict()[k], v, atol=1e-6), k
        await app.action_quit()


async def test_rollout_bars_fit_a_small_terminal_and_keep_the_answer():
    app = LearnApp("rollout", rollout_config=find_preset("sort4-ar").config)
    async with app.run_test(size=(80, 24)) as pilot:
        bars = app.screen.query_one("#ro-bars", Static)
        await wait_for(pilot, lambda: bars.size.height > 0 and "answer)" in str(bars.render()),
                       "the bars, sized to the panel")
        lines = str(bars.render()).splitlines()
        assert len(lines) <= bars.size.height                 # nothing cut off at the bottom
        shown = len(lines) - 3                                # two lines above, the note below
        assert lines[-1].strip() == f"({shown} of 10: likeliest, drawn, answer)"
        assert any("◂ sorted" in line for line in lines)      # the sorted answer's token is there
        await pilot.press("n", "n")                           # two tokens drawn
        await wait_for(pilot, lambda: "drew" in str(bars.render()), "a drawn token")
        lines = str(bars.render()).splitlines()
        assert len(lines) <= bars.size.height and any("← drawn" in line for line in lines)
        await app.action_quit()
