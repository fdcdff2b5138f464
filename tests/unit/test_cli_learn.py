"""`grpotui learn [NAME]`: bad names and presets are refused in one paragraph; the right app opens
with the right settings (the apps' run methods are replaced here: no terminal in unit tests)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from grpotui import cli
from grpotui.tui.app import GrpoApp
from grpotui.tui.learn.app import LearnApp

from .test_cli import assert_bad_input


@pytest.fixture(autouse=True)
def _user_presets(monkeypatch, tmp_path):
    monkeypatch.setenv("GRPOTUI_PRESETS_DIR", str(tmp_path / "env-presets"))


@pytest.fixture
def opened(monkeypatch):
    seen: list[tuple[str, object]] = []

    def learn_run(self):
        seen.append(("learn", self))
        return self.next_result

    monkeypatch.setattr(LearnApp, "next_result", None, raising=False)
    monkeypatch.setattr(LearnApp, "run", learn_run)
    monkeypatch.setattr(GrpoApp, "run", lambda self: seen.append(("lab", self)))
    return seen


def invoke(*args: str):
    return CliRunner().invoke(cli.app, ["learn", *args])


def test_unknown_canvas_is_refused(opened):
    assert_bad_input(invoke("rollouts"), "unknown canvas 'rollouts'",
                     "rollout, variance, baseline, clip, length, lab")
    assert opened == []


def test_bad_preset_or_setting_is_refused(opened):
    assert_bad_input(invoke("rollout", "--preset", "nope"), "unknown preset 'nope'")
    assert_bad_input(invoke("clip", "--set", "group_size=0"), "group_size")
    assert opened == []


@pytest.mark.parametrize("name", [None, "rollout", "variance", "baseline", "clip", "length"])
def test_a_canvas_opens_the_learn_app(opened, name):
    result = invoke(*([name] if name else []))
    assert result.exit_code == 0, result.output
    (kind, app), = opened
    assert kind == "learn" and app.start_name == name
    assert app.rollout_config.policy == "autoregressive"       # sort4-ar without --preset
    assert app.config.policy == "lecture" and app.preset_name == "lab"   # the lab's preset


def test_preset_and_set_choose_the_rollout_policy(opened):
    result = invoke("rollout", "--preset", "lecture-centered", "--set", "group_size=4")
    assert result.exit_code == 0, result.output
    (_, app), = opened
    assert app.rollout_config.policy == "lecture" and app.rollout_config.group_size == 4


def test_lab_opens_the_dashboard_directly_or_from_the_picker(opened, monkeypatch):
    assert invoke("lab").exit_code == 0
    assert [k for k, _ in opened] == ["lab"]
    opened.clear()
    monkeypatch.setattr(LearnApp, "next_result", "lab", raising=False)   # lab chosen in the picker
    assert invoke().exit_code == 0
    assert [k for k, _ in opened] == ["learn", "lab"]
    assert opened[1][1].preset_name == "lab" and opened[1][1].lab       # the guided lab
    assert opened[1][1].config.prompts == [[1, 0, 2], [3, 2, 4], [1, 2, 3]]
