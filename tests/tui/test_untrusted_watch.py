"""`grpotui watch` on hostile files (issue 23): each case found by trying it, as a named regression
test. Before the fix each crashed the app (a MarkupError or a TypeError in a panel), ran an app action
on a click, or showed a name as something else; now each shows the text literally, runs no action
when clicked, and the app goes on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.cells import cell_len

from grpotui.sources import FileSource
from grpotui.tui.app import GrpoApp
from grpotui.tui.widgets.groups import render_groups

from .conftest import wait_for
from .screen import click_actions, find, screen_text

START = {"event": "start", "step": 0, "rollout": 0, "config": {"learning_rate": 0.01}}


def write(path: Path, *records) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def steps(n: int = 3) -> list[dict]:
    return [{"step": i, "rollout": i, "reward": i / n, "loss": 1 / i} for i in range(1, n + 1)]


def text_groups(prompt: str, responses: list[str]) -> dict:
    g = len(responses)
    return {"event": "groups", "step": 3, "rollout": 3,
            "groups": {"prompts": [prompt], "responses": [responses],
                       "rewards": [[float(i) for i in range(g)]],
                       "deltas": [[float(i) - (g - 1) / 2 for i in range(g)]]}}


async def watched(paths, *, names=None, control=False, size=(120, 40), literal=(), click=(),
                  status=()):
    """Open watch on `paths`, wait for every run's records, check each string in `literal` is on
    screen as typed (and each in `status` on the status line), click each string in `click` where
    it shows, and check that no click on the screen runs an action and that the app is still
    running. Returns the screen's text."""
    source = FileSource(paths, names=names, control=control)
    app = GrpoApp(source=source)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: len(app.runs) >= len(source.runs) and all(app.runs)
                       and all(r["status"] != "waiting" for r in app.runs), "the runs' records")
        await pilot.pause(0.3)   # the redraw timer draws the charts once
        for s in literal:
            await wait_for(pilot, lambda: s in screen_text(app), f"{s!r} on screen")
        for s in status:
            await wait_for(pilot, lambda: s in screen_text(app).split("\n")[0],
                           f"{s!r} on the status line")
        assert not any("quit" in a or "bell" in a for a in click_actions(app)), \
            click_actions(app)
        for s in click:
            at = find(app, s)
            assert at is not None, f"{s!r} not on screen"
            await pilot.click(offset=at)
            await pilot.pause()
            assert app.is_running, f"clicking {s!r} ran an action"
        shown = screen_text(app)
    assert app.return_code in (None, 0)
    return shown


# ============================================================================ markup in names
async def test_a_run_named_with_a_closing_tag(tmp_path):
    f = write(tmp_path / "a.jsonl", START, *steps())
    await watched([f], names=["[/]"], status=["[/]"])


@pytest.mark.parametrize("where", ["key", "old", "new"])
async def test_a_set_event_holding_a_closing_tag(tmp_path, where):
    event = {"event": "set", "step": 2, "rollout": 2, "key": "lr", "old": 0.1, "new": 0.2,
             where: "[/]"}
    f = write(tmp_path / "a.jsonl", START, *steps(), event)
    await watched([f], literal=["[/]"])


async def test_a_csv_set_event_holding_a_closing_tag_in_its_detail(tmp_path):
    f = tmp_path / "a.csv"
    f.write_text('step,reward,event,detail\n1,0.5,,\n2,0.7,,\n'
                 '2,,set,"{""key"": ""[/]"", ""old"": ""[b]"", ""new"": ""[/]""}"\n')
    await watched([f], literal=["[/]"])


async def test_a_completion_with_an_unmatched_bracket(tmp_path):
    f = write(tmp_path / "a.jsonl", START, *steps(),
              text_groups("Sort: [2, 0, 1]", ["Sorted: [0, 1, 2", "Sorted: [0, 1, 2]"]))
    await watched([f], literal=["Sorted: [0, 1, 2"])


async def test_balanced_brackets_cut_at_the_panel_width(tmp_path):
    long = "[" + ", ".join(str(i) for i in range(40)) + "]"
    f = write(tmp_path / "a.jsonl", START, *steps(), text_groups("Sort these", [long, long]))
    shown = await watched([f], literal=["[0, 1, 2, 3"])
    assert "…" in shown


async def test_a_token_group_holding_a_text_token(tmp_path):
    groups = {"prompts": [[2, 1]], "responses": [[[1, "[/]"], ["[b]", 2]]], "targets": [[1, 2]],
              "rewards": [[1.0, 0.0]], "deltas": [[0.7, -0.7]]}
    f = write(tmp_path / "a.jsonl", START, *steps(),
              {"event": "groups", "step": 3, "rollout": 3, "groups": groups})
    await watched([f], literal=["1 [/]", "[b] 2"])


async def test_a_folder_named_with_a_bracket_in_the_bad_line_warning(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)     # a short path: the warning shows on one line
    f = write(Path("[") / "a].jsonl", START, *steps(), "not json")
    await watched([f], literal=["[/a].jsonl line 5: not JSON"])


async def test_a_reward_function_and_a_setting_value_with_closing_tags_under_control(tmp_path):
    start = {"event": "start", "step": 0, "rollout": 0,
             "config": {"learning_rate": 0.01, "reward_funcs": ["[/]", "ok"],
                        "reward_weights": [1.0, 1.0], "scale_rewards": "[/]"},
             "control": {"file": "a.jsonl.control.jsonl",
                         "settings": {"learning_rate": 0.01, "reward_weights": [1.0, 1.0],
                                      "scale_rewards": "[/]"}}}
    f = write(tmp_path / "a.jsonl", start, *steps(),
              {"event": "set", "step": 3, "rollout": 3, "key": "learning_rate", "old": 0.01,
               "new": "[/]"})
    await watched([f], control=True, literal=["w [/]", "scale_rewards", "[/]"])


async def test_steering_answers_with_ids_that_are_not_whole_numbers(tmp_path):
    start = {"event": "start", "step": 0, "rollout": 0, "config": {"learning_rate": 0.01},
             "control": {"file": "a.jsonl.control.jsonl", "settings": {"learning_rate": 0.01}}}
    f = write(tmp_path / "a.jsonl", start, *steps(),
              {"event": "set", "step": 3, "key": "learning_rate", "old": 0.01, "new": 0.02,
               "id": [1]},
              {"event": "refused", "step": 3, "key": "beta", "message": "no", "id": {"a": 1}})
    await watched([f], control=True, literal=["learning_rate"])


# ============================================================================ markup that acts
async def test_a_file_named_like_a_click_action(tmp_path):
    f = write(tmp_path / "[@click=app.quit]q.jsonl", START, *steps())
    await watched([f], literal=["[@click=app.quit]q"], click=["[@click=app.quit]q"])


async def test_a_run_name_like_a_click_action(tmp_path):
    f = write(tmp_path / "a.jsonl", START, *steps())
    await watched([f], names=["[@click=app.quit]NAME"], literal=["[@click=app.quit]NAME"],
                  click=["[@click=app.quit]NAME"])


async def test_a_set_event_key_like_a_click_action(tmp_path):
    f = write(tmp_path / "a.jsonl", START, *steps(),
              {"event": "set", "step": 2, "rollout": 2, "key": "[@click=app.quit]QUIT", "old": 1,
               "new": 2})
    await watched([f], literal=["[@click=app.quit]QUIT"], click=["[@click=app.quit]QUIT"])


async def test_a_settings_value_like_a_click_action_with_a_leading_space(tmp_path):
    start = {**START, "config": {"note": "[ @click=app.quit]Q", "learning_rate": 0.01}}
    f = write(tmp_path / "a.jsonl", start, *steps())
    await watched([f], literal=["[ @click=app.quit]Q"], click=["[ @click=app.quit]Q"])


@pytest.mark.parametrize("name", ["[$error]red", "[B]x", "[ bold]x", "[@click=app.bell]ring"])
async def test_names_that_textual_markup_would_style_show_as_typed(tmp_path, name):
    f = write(tmp_path / f"{name}.jsonl", START, *steps())
    await watched([f, write(tmp_path / "b.jsonl", START, *steps())], status=[name], click=[name])


# ============================================================================ types and numbers
async def test_wrong_types_and_absurd_numbers_in_one_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)     # a short path: the warning shows on one line
    bad_groups = [{"rewards": [["x", "y"]]}, {"prompts": []}, {"prompts": [[1]]},
                  {"prompts": [[1]], "responses": [[[1]]], "rewards": [[]]}]
    f = write(Path("a.jsonl"),
              {**START, "config": {"reward_funcs": 5, "learning_rate": 0.01}},
              {"step": 1, "reward": 1e308}, {"step": 2, "reward": 1},
              '{"step": 1e308, "reward": 1}', '{"event": "set", "step": Infinity, "key": "x"}',
              '{"event": "set", "step": NaN, "key": "x"}',
              {"event": "set", "step": 2, "key": ["lr"], "old": 1, "new": 2},
              *[{"event": "groups", "step": 2, "rollout": 2, "groups": g} for g in bad_groups],
              {"event": "groups", "step": 2, "rollout": "abc", "groups": bad_groups[0]},
              '{"step": 3, "reward": ' + "[" * 100_000 + "]" * 100_000 + "}",
              {"step": 4, "reward": 2})
    shown = await watched([f], literal=["a.jsonl line 1: its config's 'reward_funcs' is not a list"])
    assert "step 4" in shown


# ============================================================================ wide characters
@pytest.mark.parametrize("completion", ["排序后的数字是零一二三四五六七八九" * 4,
                                        "🎉" * 60, "e\u0301" * 90])
def test_wide_and_combining_completions_are_cut_by_cells(completion):
    groups = {"prompts": ["排序"], "responses": [[completion, "ok"]], "rewards": [[1.0, 0.0]],
              "deltas": [[0.7, -0.7]]}
    lines = render_groups(groups, 0, 1, 50).split("\n")
    assert all(cell_len(line.plain) <= 50 for line in lines), [cell_len(x.plain) for x in lines]
    assert lines[2].plain.startswith("  " + completion[:4])
