"""The dashboard, driven as a user would: keys and controls, checked against the trainer's state."""

from __future__ import annotations

import pytest
import yaml
from textual.widgets import Input, Select, Static

from grpotui.tui.app import GrpoApp
from grpotui.tui.widgets.events import EventLog
from grpotui.tui.widgets.groups import GroupsView

from .conftest import wait_for


def log_text(app) -> str:
    """The event log as one string, with wrapped lines joined and whitespace collapsed."""
    return " ".join(" ".join(line.text for line in app.query_one(EventLog).lines).split())


async def test_step_key_advances_exactly_one_rollout(lecture_config):
    app = GrpoApp(lecture_config, preset_name="lecture-centered", paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        assert app.rollout == 0 and app.step == 0
        await pilot.press("n")
        await wait_for(pilot, lambda: app.rollout == 1, "one rollout")
        assert app.step == lecture_config.inner_steps == 10
        assert app.state == "paused"
        groups = app.query_one(GroupsView).groups
        assert groups["prompts"] == [[1, 0, 2], [3, 2, 4], [1, 2, 3]]
        assert groups["targets"] == [[0, 1, 2], [2, 3, 4], [1, 2, 3]]
        assert all(len(r) == 10 for r in groups["responses"])
        await pilot.press("n")
        await wait_for(pilot, lambda: app.rollout == 2, "a second rollout")
        assert app.step == 20
        await app.action_quit()


async def test_group_size_control_changes_the_next_rollout(lecture_config):
    app = GrpoApp(lecture_config, preset_name="lecture-centered", paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        await pilot.click("#group-size")
        app.query_one("#group-size", Input).value = "4"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.config.group_size == 4, "the queued change")
        app.query_one(GroupsView).focus()
        await pilot.press("n")
        await wait_for(pilot, lambda: app.rollout == 1, "one rollout")
        groups = app.query_one(GroupsView).groups
        assert [len(r) for r in groups["responses"]] == [4, 4, 4]
        assert "group_size 10 → 4" in log_text(app)
        await app.action_quit()


async def test_invalid_value_is_refused_inline_and_the_old_value_stays(lecture_config):
    app = GrpoApp(lecture_config, preset_name="lecture-centered", paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        await pilot.click("#learning-rate")
        app.query_one("#learning-rate", Input).value = "-3"
        await pilot.press("enter")
        error = str(app.query_one("#control-error", Static).render())
        assert "learning_rate" in error and "out of range" in error and "0 to 10" in error
        assert app.query_one("#learning-rate", Input).value == "0.001"
        assert app.config.learning_rate == 0.001
        await app.action_quit()


async def test_delta_mode_select_is_applied_and_logged(lecture_config):
    app = GrpoApp(lecture_config, preset_name="lecture-centered", paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        app.query_one("#delta-mode", Select).value = "max"
        await wait_for(pilot, lambda: app.config.delta_mode == "max", "the queued change")
        app.query_one(GroupsView).focus()
        await pilot.press("n")
        await wait_for(pilot, lambda: app.rollout == 1, "one rollout")
        assert "delta_mode centered → max" in log_text(app)
        groups = app.query_one(GroupsView).groups
        for rewards, deltas in zip(groups["rewards"], groups["deltas"]):
            best = max(rewards)  # max-only deltas: the reward where it is the group's best, else 0
            assert deltas == [r if r == best else 0.0 for r in rewards]
        await app.action_quit()


async def test_pause_stops_the_step_counter(lecture_config):
    app = GrpoApp(lecture_config.replace(rollouts=100_000), preset_name="lecture-centered")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.step > 0 and app.state == "running", "training")
        await pilot.press("space")
        await wait_for(pilot, lambda: app.state == "paused", "the pause")
        paused_at = app.step
        # The next thing the trainer does is the one rollout we ask for: nothing ran in between.
        await pilot.press("n")
        await wait_for(pilot, lambda: app.step > paused_at, "the single step")
        assert app.step == paused_at + lecture_config.inner_steps
        assert app.state == "paused"
        await app.action_quit()


async def test_run_length_reached_pauses_in_done_state(lecture_config):
    app = GrpoApp(lecture_config.replace(rollouts=3), preset_name="lecture-centered")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "done", "the done state")
        assert app.rollout == 3 and app.step == 30
        await pilot.press("space")  # continue past the run length
        await wait_for(pilot, lambda: app.rollout > 3, "training to continue")
        await app.action_quit()


async def test_quit_while_training_ends_the_app_and_the_worker(lecture_config):
    app = GrpoApp(lecture_config.replace(rollouts=100_000), preset_name="lecture-centered")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "running" and app.step > 0, "training")
        process = app.training.process
        await pilot.press("q")
    assert app.return_code == 0
    assert not process.is_alive()
    assert process.exitcode is not None


async def test_reset_asks_first_then_starts_over(lecture_config):
    app = GrpoApp(lecture_config, preset_name="lecture-centered", paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        await pilot.press("n")
        await wait_for(pilot, lambda: app.rollout == 1, "one rollout")
        groups = app.query_one(GroupsView)
        await wait_for(pilot, lambda: groups.groups is not None, "its groups on show")
        await pilot.press("r")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "ConfirmScreen"
        await pilot.press("n")  # no: nothing happens
        await pilot.pause()
        assert app.rollout == 1
        await pilot.press("r")
        await pilot.pause()
        await pilot.click("#yes")
        await wait_for(pilot, lambda: app.rollout == 0 and groups.groups is None, "the reset")
        assert groups.border_title == "groups"         # the old run's groups are gone
        assert "reset: the new run's groups show" in str(groups.query_one(Static).render())
        await app.action_quit()


async def test_help_lists_every_key(lecture_config):
    app = GrpoApp(lecture_config, preset_name="lecture-centered", paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        text = "\n".join(str(w.render()) for w in app.screen.query(Static))
        for key in ("space", "n", "r", "ctrl+s", "ctrl+o", "?", "q", "[", "]", "+", "-", "x"):
            assert f"{key:>10}" in text, key
        assert "         [  Previous groups" in text       # shown as typed, not read as markup
        await pilot.press("escape")
        await app.action_quit()


async def test_small_terminals_do_not_crash(lecture_config):
    app = GrpoApp(lecture_config.replace(rollouts=100_000), preset_name="lecture-centered")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.step > 0, "training")
        for size in [(40, 12), (200, 60), (80, 24), (40, 12), (120, 40)]:
            await pilot.resize_terminal(*size)
            await pilot.pause(0.1)
        assert app.query_one(GroupsView).groups is not None
        await app.action_quit()


async def test_save_preset_records_mid_run_changes(lecture_config, presets_dir):
    app = GrpoApp(lecture_config, preset_name="lecture-centered", paused=True,
                  presets_dir=presets_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        app.query_one("#delta-mode", Select).value = "normalized"
        await wait_for(pilot, lambda: app.config.delta_mode == "normalized", "the change")
        await pilot.press("ctrl+s")
        await pilot.pause()
        diff = str(app.screen.query_one("#save-diff", Static).render())
        assert "delta_mode: centered → normalized" in diff
        app.screen.query_one("#save-name", Input).value = "mine"
        await pilot.click("#save")
        await wait_for(pilot, lambda: (presets_dir / "mine.yaml").exists(), "the saved file")
        saved = yaml.safe_load((presets_dir / "mine.yaml").read_text())
        assert saved["delta_mode"] == "normalized" and saved["name"] == "mine"

        # a shipped name or a bad one is refused in the dialog, which keeps what was typed
        await pilot.press("ctrl+s")
        await pilot.pause()
        dialog = app.screen
        dialog.query_one("#save-description", Input).value = "my notes"
        for name, why in [("sort4", "'sort4' is a shipped preset and cannot be overwritten"),
                          ("bad/name", "'bad/name' is not a usable preset name")]:
            dialog.query_one("#save-name", Input).value = name
            dialog.query_one("#save-name", Input).focus()
            await pilot.press("enter")          # as typed: enter in the name field saves
            await pilot.pause()
            assert app.screen is dialog and why in str(dialog.query_one("#save-error").render())
            assert dialog.query_one("#save-description", Input).value == "my notes"
        await pilot.press("escape")
        await pilot.pause()
        assert not (presets_dir / "sort4.yaml").exists() and not (presets_dir / "bad").exists()

        # an existing user preset is overwritten only after confirmation
        app.query_one("#delta-mode", Select).value = "raw"
        await wait_for(pilot, lambda: app.config.delta_mode == "raw", "the change")
        await pilot.press("ctrl+s")
        await pilot.pause()
        app.screen.query_one("#save-name", Input).value = "mine"
        await pilot.click("#save")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "ConfirmScreen"
        await pilot.click("#no")
        await pilot.pause()
        assert yaml.safe_load((presets_dir / "mine.yaml").read_text())["delta_mode"] == "normalized"
        await pilot.press("ctrl+s")
        await pilot.pause()
        app.screen.query_one("#save-name", Input).value = "mine"
        await pilot.click("#save")
        await pilot.pause()
        await pilot.click("#yes")
        await wait_for(pilot, lambda: yaml.safe_load((presets_dir / "mine.yaml").read_text())[
            "delta_mode"] == "raw", "the overwrite")
        await app.action_quit()


async def test_load_preset_applies_live_settings_or_asks_to_reset(lecture_config, presets_dir):
    from textual.widgets import OptionList

    app = GrpoApp(lecture_config, preset_name="lecture-centered", paused=True,
                  presets_dir=presets_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")

        async def choose(name: str) -> None:
            await pilot.press("ctrl+o")
            await pilot.pause()
            options = app.screen.query_one(OptionList)
            ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
            options.highlighted = ids.index(name)
            await pilot.pause()
            preview = str(app.screen.query_one("#load-preview", Static).render())
            assert name in preview
            await pilot.press("enter")
            await pilot.pause()

        # lecture-raw differs only in a live setting: applied at the next rollout, no reset
        await choose("lecture-raw")
        await wait_for(pilot, lambda: app.config.delta_mode == "raw", "the live change")
        assert app.preset_name == "lecture-raw"
        assert "loaded preset 'lecture-raw'" in log_text(app)

        # sort4 changes the model and the task: the user is asked; "no" changes nothing
        await choose("sort4")
        assert app.screen.__class__.__name__ == "ConfirmScreen"
        assert "which need a reset" in str(app.screen.query_one(Static).render())
        await pilot.click("#no")
        await pilot.pause()
        assert app.config.policy == "lecture" and app.preset_name == "lecture-raw"

        await choose("sort4")
        await pilot.click("#yes")
        await wait_for(pilot, lambda: app.config.policy == "transformer" and app.config.n == 4,
                       "the reset to sort4")
        assert app.preset_name == "sort4"
        await app.action_quit()


async def test_metrics_file_from_the_dashboard_matches_a_headless_run(lecture_config, tmp_path):
    import json

    path = tmp_path / "m.jsonl"
    app = GrpoApp(lecture_config, preset_name="lecture-centered", paused=True, metrics_path=path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        await pilot.press("n")
        await wait_for(pilot, lambda: app.rollout == 1, "one rollout")
        await app.action_quit()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["event"] for r in records if "event" in r] == ["start", "stop"]
    steps = [r for r in records if "event" not in r]
    assert [r["step"] for r in steps] == list(range(1, 11))
    # the same math as headless: the first rollout's reward equals a fresh trainer's
    from grpotui.engine.trainer import Trainer

    assert steps[0]["reward"] == Trainer(lecture_config).rollout().metrics[0]["reward"]


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_long_events_wrap_inside_the_event_panel(lecture_config, size):
    app = GrpoApp(lecture_config, preset_name="lecture-centered", paused=True)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        log = app.query_one(EventLog)
        message = "RuntimeError: " + " ".join(f"word{i}" for i in range(60))
        log.add([{"event": "error", "step": 7, "message": message}])
        await pilot.pause()
        width = log.scrollable_content_region.width
        assert all(len(line.text) <= width for line in log.lines)
        assert "word59. Press r to reset." in log_text(app)  # nothing cut off at the edge
        await app.action_quit()


async def test_escape_leaves_a_control_applying_it_and_keys_work_again(lecture_config):
    app = GrpoApp(lecture_config, preset_name="lecture-centered", paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        await pilot.click("#group-size")
        app.query_one("#group-size", Input).value = "4"
        await pilot.press("escape")
        assert app.focused is app.query_one(GroupsView)
        await wait_for(pilot, lambda: app.config.group_size == 4, "the change, applied on leaving")
        await pilot.press("n")  # a key again, not a letter typed into the control
        await wait_for(pilot, lambda: app.rollout == 1, "one rollout")
        assert [len(r) for r in app.query_one(GroupsView).groups["responses"]] == [4, 4, 4]
        await app.action_quit()


async def test_the_footer_names_what_space_does_and_fits_80_columns(lecture_config):
    app = GrpoApp(lecture_config.replace(rollouts=100_000), preset_name="lecture-centered")

    def footer() -> dict[str, object]:
        return {k.description: k for k in app.query("FooterKey")}

    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.state == "running" and "Pause" in footer()
                       and footer()["Learn"].region.width > 0, "running, the footer laid out")
        assert "Resume" not in footer()
        learn, palette = footer()["Learn"].region, footer()["palette"].region
        assert learn.width >= len("l Learn") and learn.right <= palette.x   # not cut off
        await pilot.press("space")
        await wait_for(pilot, lambda: app.state == "paused" and "Resume" in footer(), "paused")
        assert "Pause" not in footer()
        await pilot.press("space")
        await wait_for(pilot, lambda: app.state == "running" and "Pause" in footer(), "resumed")
        await app.action_quit()


async def test_clip_plot_keys_say_when_the_plot_is_hidden(lecture_config):
    app = GrpoApp(lecture_config, preset_name="lecture-centered", paused=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        plot = app.query_one("ClipPlot")
        await pilot.press("plus")
        await pilot.pause()
        assert any("The clip plot is hidden (the terminal is short: it shows from 32 rows)"
                   in str(n.message) for n in app._notifications)
        assert plot.magnitude == 0.8                  # nothing changed out of sight
        # help says so too, beside those keys
        await pilot.press("question_mark")
        await pilot.pause()
        text = "\n".join(str(w.render()) for w in app.screen.query(Static))
        assert "         +  |A| up (clip plot) (hidden now: it shows from 32 rows)" in text
        assert "         x  Clip plot: +A/-A/both (hidden now: it shows from 32 rows)" in text
        await pilot.press("escape")
        # the controls panel shows 6 rows of its 14 controls: its border says there are more
        controls = app.query_one("#controls")
        assert str(controls.border_subtitle) == "↓ more"
        controls.scroll_end(animate=False)
        await wait_for(pilot, lambda: str(controls.border_subtitle) == "", "the end of the list")
        await pilot.resize_terminal(120, 40)
        await wait_for(pilot, lambda: plot.region.area > 0, "the plot on a tall terminal")
        await pilot.press("plus")
        assert plot.magnitude == 0.9
        await app.action_quit()
