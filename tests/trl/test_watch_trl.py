"""`grpotui watch` on a real TRL run's metrics file, and `--control` steering it: the panel writes
commands to the run's command file and shows the run's answers."""

from __future__ import annotations

import json
import shutil

from textual.widgets import Input, Static
from typer.testing import CliRunner

from grpotui import cli
from grpotui.sources import FileSource
from grpotui.tui.app import GrpoApp
from grpotui.tui.widgets.groups import GroupsView
from grpotui.tui.widgets.steer import SteerPanel
from tests.tui.conftest import wait_for


def settings_text(app) -> str:
    return " ".join(str(app.query_one("#settings-body", Static).render()).split())


def steer_status(app) -> str:
    return " ".join(str(app.query_one("#steer-status", Static).render()).split())


def append(path, record) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


async def test_watch_shows_a_trl_run_and_control_steers_it(run, tmp_path):
    path = tmp_path / "trl.jsonl"
    shutil.copy(run.path, path)       # the run is over: this test plays the run's side by hand
    app = GrpoApp(source=FileSource([path], control=True), smoothing=0.0)
    async with app.run_test(size=(120, 40)) as pilot:
        panel = app.query_one(SteerPanel)
        await wait_for(pilot, lambda: len(panel.fields) == 7 and all(
            f.is_mounted for f in panel.fields.values()), "the controls")
        await wait_for(pilot, lambda: panel.fields["learning_rate"].value == "0.0005",
                       "the run's current values")
        # what the run wrote: its last groups (text), its settings with the changes, its end
        last_groups = [r for r in run.records if r.get("event") == "groups"][-1]["groups"]
        groups = app.query_one(GroupsView)
        await wait_for(pilot, lambda: groups.groups is not None, "the groups")
        assert groups.groups["responses"] == last_groups["responses"]
        assert groups.groups["prompts"][0].startswith("Sort these numbers")
        assert app.runs[0]["step"] == 4 and app.runs[0]["status"] == "finished"
        text = settings_text(app)
        assert "source trl" in text and "learning_rate 0.0005 (was 0.001)" in text
        assert "beta 0.1 (was 0.04)" in text
        # the controls show the values the run has now (after its set events)
        values = {k: getattr(f, "value") for k, f in panel.fields.items()}
        assert values == {"learning_rate": "0.0005", "beta": "0.1", "epsilon": "0.3",
                          "epsilon_high": "0.3", "scale_rewards": "group", "w0": "2", "w1": "1"}

        # a change goes to the command file, and waits for the run's answer
        lr = panel.fields["learning_rate"]
        lr.focus()
        lr.value = "2e-4"
        await pilot.press("enter")
        control = path.parent / "trl.jsonl.control.jsonl"
        await wait_for(pilot, control.exists, "the command file")
        assert json.loads(control.read_text()) == {"cmd": "set",
                                                   "changes": {"learning_rate": 0.0002}, "id": 1}
        assert "sent learning_rate = 0.0002 (command 1)" in steer_status(app)
        append(path, {"event": "set", "step": 5, "rollout": 5, "key": "learning_rate",
                      "old": 0.0005, "new": 0.0002, "id": 1})
        await wait_for(pilot, lambda: "✓ learning_rate = 0.0002 from step 5" in steer_status(app),
                       "the run's answer")
        assert "learning_rate 0.0002 (was 0.001)" in settings_text(app)

        # a reward weight is sent by its function's name; a refusal is shown with its reason
        w = panel.fields["w1"]
        w.focus()
        w.value = "4"
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(control.read_text().splitlines()) == 2, "command 2")
        assert json.loads(control.read_text().splitlines()[1])["changes"] == \
            {"reward_weights": {"exact_match_reward": 4.0}}
        append(path, {"event": "refused", "step": 6, "rollout": 6, "key": "reward_weights",
                      "value": {"exact_match_reward": 4}, "message": "weights are frozen", "id": 2})
        await wait_for(pilot, lambda: "✗ weights are frozen" in steer_status(app), "the refusal")
        await wait_for(pilot, lambda: w.value == "1", "the run's weight back in the field")

        # not a number: nothing is sent, the field gets the run's value back
        eps = panel.fields["epsilon"]
        eps.focus()
        eps.value = "abc"
        await pilot.press("enter")
        assert "'abc' is not a number; epsilon takes a number such as 0.3." in steer_status(app)
        assert eps.value == "0.3" and len(control.read_text().splitlines()) == 2


async def test_control_on_a_run_that_takes_no_commands_says_so(run, tmp_path):
    path = tmp_path / "plain.jsonl"
    records = [dict(r) for r in run.records]
    records[0].pop("control")
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    app = GrpoApp(source=FileSource([path], control=True), smoothing=0.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "takes no commands" in steer_status(app), "the note")
        assert "attach(trainer, path, control=True)" in steer_status(app)
        assert app.query_one(SteerPanel).fields == {}


def test_control_needs_exactly_one_metrics_file(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    result = CliRunner().invoke(cli.app, ["watch", str(a), str(b), "--control"])
    assert result.exit_code == 2
    assert "--control steers one run: give exactly one metrics file" in result.output
    result = CliRunner().invoke(cli.app, ["watch", str(tmp_path), "--control"])
    assert result.exit_code == 2 and "exactly one metrics file" in result.output
