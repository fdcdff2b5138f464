"""The record boundary (grpotui.records, used by every metrics-file read): the cases found by trying
hostile files (issue 23), each as it reads now, through the real MetricsFollower."""

from __future__ import annotations

import json

import pytest

from grpotui import metricsfile, records
from grpotui.metricsfile import MetricsFollower

START = {"event": "start", "step": 0, "rollout": 0, "config": {"lr": 0.01}}
GROUPS = {"prompts": [[3, 1]], "responses": [[[1, 3], [3, 1]]], "rewards": [[2.0, 0.0]],
          "deltas": [[0.71, -0.71]]}


def read(tmp_path, *lines: str | dict, name: str = "m.jsonl") -> tuple[list[dict], MetricsFollower]:
    path = tmp_path / name
    path.write_text("".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines))
    f = MetricsFollower(path)
    return f.poll(), f


def test_a_set_event_whose_key_is_not_a_name_is_skipped(tmp_path):
    recs, f = read(tmp_path, START, {"event": "set", "step": 1, "key": ["lr"], "old": 1, "new": 2},
                   {"step": 1, "reward": 1})
    assert recs == [START, {"step": 1.0, "reward": 1.0}]
    assert f.problem == (f"{tmp_path / 'm.jsonl'} line 2: a 'set' event whose 'key' is not a "
                         f"setting name (skipped); the valid records are shown.")


def test_an_id_that_is_not_a_whole_number_reads_as_none(tmp_path):
    recs, _ = read(tmp_path, {"event": "set", "step": 1, "key": "lr", "old": 1, "new": 2,
                              "id": [1]},
                   {"event": "refused", "step": 1, "key": "x", "value": {"a": [1]},
                    "message": "no", "id": "7"})
    assert recs == [{"event": "set", "step": 1, "key": "lr", "old": 1.0, "new": 2.0, "id": None},
                    {"event": "refused", "step": 1, "message": "no", "key": "x",
                     "value": '{"a": [1]}', "id": None}]


@pytest.mark.parametrize("groups, why", [
    ({**GROUPS, "rewards": [["x", "y"]]}, "its groups' 'rewards' holds a value that is not a "
                                          "finite number"),
    ({**GROUPS, "prompts": []}, "its groups have no prompts"),
    ({k: v for k, v in GROUPS.items() if k != "responses"}, "its groups' 'responses' is not a "
                                                             "list of 1 groups"),
    ({**GROUPS, "rewards": [[]]}, "its groups' 'rewards' rows are not lists of 2 numbers"),
    ({**GROUPS, "responses": [[[1, "[/]"], [{"a": 1}]]]},
     "its groups' 'responses' holds a token {\"a\": 1} that is neither a whole number nor a "
     "short text"),
    ({**GROUPS, "token_probs": [[[0.5], [0.5, 0.5]]]},
     "its groups' 'token_probs' does not hold one number per response token"),
    (5, "a 'groups' event without a groups object"),
])
def test_malformed_groups_records_are_skipped_with_the_reason(tmp_path, groups, why):
    recs, f = read(tmp_path, {"event": "groups", "step": 1, "rollout": 1, "groups": groups},
                   {"step": 1, "reward": 1})
    assert recs == [{"step": 1.0, "reward": 1.0}]
    assert f.problem == f"{tmp_path / 'm.jsonl'} line 1: {why} (skipped); the valid records are shown."


def test_a_groups_record_with_a_text_rollout_is_skipped(tmp_path):
    recs, f = read(tmp_path, {"event": "groups", "step": 1, "rollout": "abc", "groups": GROUPS})
    assert recs == []
    assert "its 'rollout' \"abc\" is not a number from -1e15 to 1e15" in f.problem


def test_a_valid_groups_record_passes_whole_with_string_tokens_kept_as_text(tmp_path):
    g = {**GROUPS, "responses": [[[1, "[/]"], [3, 1]]], "targets": [[1, 3]],
         "ratios": [[1.0, 1.1]], "token_probs": [[[0.5, 0.25], [1.0, 1.0]]],
         "components": {"[b]pos": [[2, 0]]}, "token_ratios": [1.0, 1.2], "token_deltas": [0.7, -0.7]}
    recs, f = read(tmp_path, {"event": "groups", "step": 1, "rollout": 1, "groups": g})
    assert f.problem is None
    assert recs[0]["groups"] == {**g, "rewards": [[2.0, 0.0]], "components": {"[b]pos": [[2.0, 0.0]]},
                                 "token_probs": [[[0.5, 0.25], [1.0, 1.0]]]}


def test_reward_funcs_that_are_not_names_are_dropped_from_the_start_record(tmp_path):
    recs, f = read(tmp_path, {"event": "start", "step": 0,
                              "config": {"reward_funcs": 5, "reward_weights": ["a"], "lr": 0.1,
                                         "deep": {"a": {"b": 1}}}})
    assert recs == [{"event": "start", "step": 0,
                     "config": {"lr": 0.1, "deep": '{"a": {"b": 1}}'}}]
    assert "its config's 'reward_funcs' is not a list of names (dropped)" in f.problem


@pytest.mark.parametrize("bad", ["Infinity", "NaN", "-Infinity", "1e308", "1e16", '"abc"'])
def test_an_event_at_a_step_that_is_no_number_is_skipped(tmp_path, bad):
    recs, f = read(tmp_path, '{"event": "set", "step": %s, "key": "lr", "old": 1, "new": 2}' % bad,
                   {"step": 2, "reward": 1})
    assert recs == [{"step": 2.0, "reward": 1.0}]
    assert "is not a number from -1e15 to 1e15 (skipped)" in f.problem


@pytest.mark.parametrize("bad", ["Infinity", "NaN", "1e308"])
def test_a_step_record_at_a_step_that_is_no_number_is_skipped(tmp_path, bad):
    recs, f = read(tmp_path, '{"step": %s, "reward": 1}' % bad, {"step": 2, "reward": 1})
    assert recs == [{"step": 2.0, "reward": 1.0}]


def test_absurd_values_are_dropped_and_the_rest_of_the_record_kept(tmp_path):
    recs, f = read(tmp_path, '{"step": 1, "reward": 1e308, "loss": 0.5, "kl": NaN, "x": true}',
                   {"step": 2, "reward": 1})
    assert recs == [{"step": 1.0, "loss": 0.5}, {"step": 2.0, "reward": 1.0}]
    assert f.problem == (f"{tmp_path / 'm.jsonl'} line 1: 'reward' 1e+308 is not a finite number "
                         f"within ±1e100 (dropped); the valid records and values are shown.")


def test_a_line_nested_100000_deep_is_skipped(tmp_path):
    deep = '{"step": 1, "reward": ' + "[" * 100_000 + "]" * 100_000 + "}"
    recs, f = read(tmp_path, deep, {"step": 2, "reward": 1})
    assert recs == [{"step": 2.0, "reward": 1.0}]
    assert "line 1: nested deeper than 8 levels (skipped)" in f.problem


def test_a_line_longer_than_the_limit_is_skipped_unread_even_while_it_grows(tmp_path, monkeypatch):
    monkeypatch.setattr(metricsfile, "POLL_LIMIT", 64)
    monkeypatch.setattr(metricsfile, "MAX_LINE", 200)
    monkeypatch.setattr(metricsfile, "CHUNK", 50)
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({"step": 1, "reward": 1}) + "\n" + '{"step": 2, "x": "' + "a" * 300)
    f = MetricsFollower(path)
    assert f.poll() == [{"step": 1.0, "reward": 1.0}]
    assert f.poll() == []                                   # the long line: skipped, still growing
    assert "line 2: a line longer than 200 bytes (skipped unread)" in f.problem
    with path.open("a") as out:
        out.write("b" * 100 + '"}\n' + json.dumps({"step": 3, "reward": 3}) + "\n")
    assert f.poll() == [{"step": 3.0, "reward": 3.0}]       # past the rest of the long line
    assert f.bad_lines == 1


def test_a_long_line_under_the_limit_is_read_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(metricsfile, "POLL_LIMIT", 64)
    path = tmp_path / "m.jsonl"
    long = {"step": 1, **{f"metric_{i}": i for i in range(40)}}
    path.write_text(json.dumps(long) + "\n")
    assert MetricsFollower(path).poll() == [{k: float(v) for k, v in long.items()}]


def test_csv_event_details_pass_the_same_boundary(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text('step,reward,event,detail\n1,0.5,,\n2,,set,"{""key"": [""lr""]}"\n'
                    '3,,set,"{""key"": ""[/]"", ""old"": 1, ""new"": ""[@click=app.quit]q""}"\n')
    f = MetricsFollower(path)
    assert f.poll() == [{"step": 1.0, "reward": 0.5},
                        {"event": "set", "step": 3, "key": "[/]", "old": 1.0,
                         "new": "[@click=app.quit]q"}]
    assert "line 3: a 'set' event whose 'key' is not a setting name (skipped)" in f.problem


def test_simple_values_are_what_panels_can_show():
    assert records.simple([1, "a", None, True]) == [1.0, "a", None, True]
    assert records.simple(float("inf")) == "Infinity"
    assert records.simple({"a": 1}) == '{"a": 1}'
    assert records.simple("x" * 5000) == "x" * 3999 + "…"


def test_an_error_of_grpotuis_own_part_does_not_mark_the_run_failed(tmp_path):
    from grpotui.sources import FileSource
    from grpotui.tui.widgets.events import describe

    own = {"event": "error", "step": 3, "rollout": 3, "part": "steering", "fatal": False,
           "message": "the command file is a folder"}
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [START, {"step": 3, "reward": 1}, own]))
    source = FileSource([path])
    snap = source.get(0.0)
    assert snap["events"][-1] == own
    assert snap["status"] == "watching"
    assert describe(own).plain == ("step 3: grpotui stopped its steering part: the command file is "
                                   "a folder; training goes on.")
    with path.open("a") as f:
        f.write(json.dumps({"event": "error", "step": 4, "message": "CUDA out of memory"}) + "\n")
    source.next_poll = 0.0
    assert source.get(0.0)["status"] == "failed"
