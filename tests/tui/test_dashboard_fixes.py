"""What a new user found on the dashboard (issue 14): focus, a refused value's message, resuming
past the run length, the events panel's scrollbar."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Label, Static

from grpotui.tui.app import GrpoApp
from grpotui.tui.widgets.events import EventLog
from grpotui.tui.widgets.groups import GroupsView
from grpotui.tui.widgets.status import StatusLine

from .conftest import wait_for
from .test_app import log_text


def row_label(app, control_id: str) -> Label:
    return app.query_one(f"#{control_id}").parent.query_one(Label)


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
async def test_the_focused_control_stands_out(lecture_config, theme):
    app = GrpoApp(lecture_config, preset_name="lecture-centered", paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        app.theme = theme
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        plain = row_label(app, "learning-rate").styles.background
        app.query_one("#learning-rate", Input).focus()
        await pilot.pause()
        label = row_label(app, "learning-rate")
        # the focused row's label takes the theme's cursor colours: a solid block, not a shade
        assert label.styles.background != plain and label.styles.background.a == 1.0
        assert label.styles.color != label.styles.background and label.styles.text_style.bold
        assert row_label(app, "clip-eps").styles.background == plain   # the others stay plain
        await app.action_quit()


@pytest.mark.parametrize("control,typed", [("learning-rate", "-3"), ("group-size", "abc"),
                                           ("inner-steps", "0.5"), ("kl-beta", "nan")])
async def test_a_refused_value_fits_the_controls_panel(lecture_config, control, typed):
    app = GrpoApp(lecture_config, preset_name="lecture-centered", paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        field = app.query_one(f"#{control}", Input)
        field.focus()
        field.value = typed
        await pilot.press("enter")
        error = app.query_one("#control-error", Static)
        controls = app.query_one("#controls")
        await wait_for(pilot, lambda: error.region.bottom <= controls.scrollable_content_region.bottom
                       and error.region.height > 0, "the message scrolled into view")
        assert "allowed" in str(error.render())
        # two lines at most, as wide as the panel, and scrolled into view (the panel holds more
        # controls than rows, so it scrolls anyway; the message must not be below its edge)
        assert error.size.height <= 2 and error.size.width <= controls.scrollable_content_region.width
        assert controls.scrollable_content_region.y <= error.region.y
        assert error.region.bottom <= controls.scrollable_content_region.bottom
        await app.action_quit()


async def test_resuming_past_the_run_length_is_logged_and_the_status_says_it_goes_on(lecture_config):
    app = GrpoApp(lecture_config.replace(rollouts=2), preset_name="lecture-centered")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "done", "the run length")
        assert "run length reached (2 rollouts); paused" in log_text(app)
        app.query_one(GroupsView).focus()
        await pilot.press("space")
        await wait_for(pilot, lambda: app.state == "running" and app.rollout > 2, "more rollouts")
        assert "resumed past the run length (2 rollouts): training goes on until you pause" in \
            log_text(app)
        status = " ".join(str(app.query_one(StatusLine).render()).split())
        assert f"rollout {app.rollout} (past 2, going on)" in status
        await pilot.press("space")
        await wait_for(pilot, lambda: app.state == "paused", "the pause")
        status = " ".join(str(app.query_one(StatusLine).render()).split())
        assert f"(past 2)" in status and "going on" not in status
        await app.action_quit()


async def test_events_panel_has_no_scrollbar_until_it_scrolls(lecture_config):
    app = GrpoApp(lecture_config, preset_name="lecture-centered", paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        events = app.query_one(EventLog)
        await pilot.pause()
        assert not events.show_vertical_scrollbar and not events.show_horizontal_scrollbar
        events.add([{"event": "note", "message": f"line {i}"} for i in range(40)])
        await pilot.pause()
        assert events.show_vertical_scrollbar
        await app.action_quit()
