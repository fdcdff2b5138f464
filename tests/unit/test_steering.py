"""The steering protocol: the command file beside a metrics file (grpotui/steering.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grpotui import steering


def test_command_file_round_trip(tmp_path):
    metrics = tmp_path / "run.jsonl"
    reader = steering.CommandReader(metrics)
    assert steering.control_path(metrics) == tmp_path / "run.jsonl.control.jsonl"
    assert reader.poll() == []
    writer = steering.CommandWriter(metrics)
    assert writer.set(learning_rate=1e-5) == 1
    assert writer.set(beta=0.1, reward_weights=[1, 2]) == 2
    assert reader.poll() == [{"cmd": "set", "changes": {"learning_rate": 1e-5}, "id": 1},
                             {"cmd": "set", "changes": {"beta": 0.1, "reward_weights": [1, 2]},
                              "id": 2}]
    assert reader.poll() == []
    # a second viewer (or a restarted one) continues the ids
    assert steering.CommandWriter(metrics).set(epsilon=0.3) == 3
    assert [c["id"] for c in reader.poll()] == [3]


def test_a_line_being_written_waits_for_its_end(tmp_path):
    metrics = tmp_path / "run.jsonl"
    reader = steering.CommandReader(metrics)
    path = steering.control_path(metrics)
    with open(path, "a") as f:
        f.write('{"cmd": "set", "changes": {"beta"')
    assert reader.poll() == []
    with open(path, "a") as f:
        f.write(': 0.5}, "id": 7}\n')
    assert reader.poll() == [{"cmd": "set", "changes": {"beta": 0.5}, "id": 7}]


def test_malformed_lines_become_invalid_commands_with_a_message(tmp_path):
    metrics = tmp_path / "run.jsonl"
    reader = steering.CommandReader(metrics)
    steering.control_path(metrics).write_text(
        'not json\n[1, 2]\n{"cmd": "stop", "id": 4}\n{"cmd": "set", "changes": {}, "id": 5}\n\n')
    out = reader.poll()
    assert [c["cmd"] for c in out] == ["invalid"] * 4
    assert out[0]["message"].startswith("command line 'not json' is not JSON")
    assert "the only command is" in out[1]["message"] and out[2]["id"] == 4
    assert "has no changes" in out[3]["message"] and out[3]["id"] == 5


def test_a_fresh_reader_forgets_an_earlier_runs_commands(tmp_path):
    metrics = tmp_path / "run.jsonl"
    steering.CommandWriter(metrics).set(learning_rate=0.5)
    reader = steering.CommandReader(metrics)          # the run starts: the old command is gone
    assert reader.poll() == [] and steering.control_path(metrics).read_text() == ""
    assert steering.CommandWriter(metrics).set(beta=1) == 1


def test_events_and_broadcast_without_distributed():
    assert steering.set_event(3, 2, "beta", 0.1, 0.2, 9) == {
        "event": "set", "step": 3, "rollout": 2, "key": "beta", "old": 0.1, "new": 0.2, "id": 9}
    ev = steering.refused_event(3, 2, "lr", float("nan"), "why", 1)
    assert json.loads(json.dumps(ev))["value"] is None
    cmds = [{"cmd": "set", "changes": {"beta": 1}, "id": 1}]
    assert steering.broadcast(cmds) == cmds and steering.broadcast(None) == []


def test_importing_grpotui_never_imports_trl():
    code = ("import sys, grpotui, grpotui.cli, grpotui.steering, grpotui.metrics, "
            "grpotui.integrations, grpotui.integrations.sorting, grpotui.sources, "
            "grpotui.tui.app, grpotui.tui.widgets.steer; "
            "print(sorted(m for m in ('trl', 'transformers', 'datasets', 'accelerate') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- untrusted command lines
def invalid(line):
    out = steering.parse_command(line)
    assert out["cmd"] == "invalid", out
    return out["id"], out["message"]


LINE = '{"cmd": "set", "changes": {"learning_rate": 5e-4}, "id": %s}'


@pytest.mark.parametrize("cid", ["[1]", '"1"', "1.0", "true", "-1", "9007199254740992", "1e400",
                                 "NaN", "{}"])
def test_a_command_whose_id_is_not_a_sane_integer_is_refused_without_its_id(cid):
    line = LINE % cid
    assert invalid(line) == (None, f"command {line!r} has id "
                                   f"{steering.quote(json.loads(cid))}; an id must be an integer "
                                   f"from 0 to 9007199254740991.")


@pytest.mark.parametrize("cid", ["0", "7", "9007199254740991", "null"])
def test_ids_from_0_to_2_53_minus_1_or_none_are_kept(cid):
    assert steering.parse_command(LINE % cid) == {
        "cmd": "set", "changes": {"learning_rate": 5e-4}, "id": json.loads(cid)}


def test_lines_that_are_too_long_or_too_deep_are_refused_unparsed():
    long = '{"cmd": "set", "changes": {"warmup": "' + "x" * 70_000 + '"}}'
    assert invalid(long) == (None, f"command line {long[:77] + '...'!r} is longer than 65536 "
                                   f"bytes, the most a command line may be; it was not read.")
    assert invalid(long.encode())[1] == invalid(long)[1]
    for depth in (7, 30_000):      # 7 more under "changes": 9 in all; 30,000: json.loads gives up
        line = '{"changes": {"lr": ' + "[" * depth + "]" * depth + "}}"
        assert invalid(line) == (None, f"command line {line[:77] + '...' if len(line) > 80 else line!r}"
                                       f" nests deeper than 8 levels of brackets, the most a "
                                       f"command may use.")
    # 8 levels is allowed: the change itself is refused by its setting's check
    line = '{"cmd": "set", "changes": {"lr": ' + "[" * 6 + "]" * 6 + "}}"
    assert steering.parse_command(line)["refused"] == {
        "lr": "learning_rate [[[[[[]]]]]]: allowed: a number from 0 to 10."}


def test_a_command_with_too_many_or_too_long_setting_names_is_refused():
    many = json.dumps({"cmd": "set", "changes": {f"k{i}": 1 for i in range(33)}, "id": 4})
    assert invalid(many) == (4, f"command {many[:77] + '...'!r} has 33 changes; a command may make "
                                f"at most 32.")
    name = json.dumps({"cmd": "set", "changes": {"x" * 257: 1}})
    assert invalid(name) == (None, f"command {name[:77] + '...'!r} names a setting of 257 "
                                   f"characters; a setting's name has at most 256.")


@pytest.mark.parametrize("key, value, normalised", [
    ("learning_rate", 0, 0.0), ("lr", 10, 10.0), ("beta", 0.5, 0.5), ("epsilon", 1, 1.0),
    ("epsilon_high", 2.5, 2.5), ("clip_eps", 0.1, 0.1), ("kl_beta", 3, 3.0),
    ("scale_rewards", "batch", "batch"), ("scale_rewards", True, "group"),
    ("scale_rewards", False, "none"), ("reward_weights", [1, -2.5], [1.0, -2.5]),
    ("reward_weights", {"f": 1e6, "g": -1e6}, {"f": 1e6, "g": -1e6}),
    ("reward_weights/f", 0, 0.0), ("temperature", [1, {"a": None}], [1, {"a": None}]),
])
def test_check_value_accepts_values_in_bounds_and_normalises_them(key, value, normalised):
    out = steering.check_value(steering.canonical(key), value)
    assert out == normalised and type(out) is type(normalised)
    if isinstance(out, list) and key != "temperature":
        assert all(type(x) is float for x in out)


@pytest.mark.parametrize("key, value, message", [
    ("learning_rate", True, "learning_rate True: allowed: a number from 0 to 10."),
    ("learning_rate", "1e-5", "learning_rate '1e-5': allowed: a number from 0 to 10."),
    ("learning_rate", float("inf"), "learning_rate inf: allowed: a number from 0 to 10."),
    ("learning_rate", float("nan"), "learning_rate nan: allowed: a number from 0 to 10."),
    ("learning_rate", 10 ** 400, "learning_rate " + str(10 ** 400)[:77] + "...: allowed: a number "
                                 "from 0 to 10."),
    ("beta", -1e-300, "beta -1e-300: allowed: a number from 0 to 10."),
    ("epsilon", 1.5, "epsilon 1.5: allowed: a number from 0 to 1."),
    ("scale_rewards", 1, "scale_rewards 1: allowed: group, batch, none (or true = group, false = "
                         "none, as GRPOConfig reads them)."),
    ("scale_rewards", "Group", "scale_rewards 'Group': allowed: group, batch, none (or true = "
                               "group, false = none, as GRPOConfig reads them)."),
    ("reward_weights", [], "reward_weights []: allowed: a list of numbers, one per reward "
                           "function, or a mapping of reward function names to numbers (at most "
                           "1024)."),
    ("reward_weights", 2, "reward_weights 2: allowed: a list of numbers, one per reward function, "
                          "or a mapping of reward function names to numbers (at most 1024)."),
    ("reward_weights", [1, None], "reward_weights [1, None]: weight None is not a number from "
                                  "-1e+06 to 1e+06; each reward weight must be one."),
    ("reward_weights", [1e6, -1000001], "reward_weights [1000000.0, -1000001]: weight -1000001 is "
                                        "not a number from -1e+06 to 1e+06; each reward weight "
                                        "must be one."),
    ("reward_weights/f", False, "reward_weights/f: weight False is not a number from -1e+06 to "
                                "1e+06; each reward weight must be one."),
])
def test_check_value_refuses_with_what_is_allowed(key, value, message):
    with pytest.raises(steering.CommandError) as e:
        steering.check_value(steering.canonical(key), value)
    assert str(e.value) == message


def test_a_command_keeps_its_good_changes_and_names_its_bad_ones():
    line = ('{"cmd": "set", "changes": {"lr": 1, "scale_rewards": [1], "epsilon_high": Infinity, '
            '"warmup": 3}, "id": 2}')
    assert steering.parse_command(line) == {
        "cmd": "set", "id": 2,
        "changes": {"lr": 1.0, "scale_rewards": [1], "epsilon_high": float("inf"), "warmup": 3},
        "refused": {"scale_rewards": "scale_rewards [1]: allowed: group, batch, none (or true = "
                                     "group, false = none, as GRPOConfig reads them).",
                    "epsilon_high": "epsilon_high inf: allowed: a number from 0 to 10."}}


def test_refused_events_carry_a_short_value_and_an_int_or_no_id():
    ev = steering.refused_event(1, 1, "lr", list(range(100)), "why", [1])
    assert ev["id"] is None and ev["value"] == json.dumps(list(range(100)))[:77] + "..."
    assert steering.refused_event(1, 1, "lr", [1, 2], "why", True)["id"] is None
    assert steering.refused_event(1, 1, "lr", [1, 2], "why", 3)["value"] == [1, 2]
    assert steering.set_event(1, 1, "lr", 1, 2, 2 ** 60)["id"] is None


# ---------------------------------------------------------------- the reader never raises
def test_a_long_line_is_refused_unread_and_the_next_line_is_read(tmp_path):
    metrics = tmp_path / "run.jsonl"
    reader = steering.CommandReader(metrics)
    path = steering.control_path(metrics)
    with open(path, "ab") as f:
        f.write(b'{"cmd": "set", "changes": {"x": "' + b"y" * 70_000)   # still being written
    (e,) = reader.poll()
    assert e["cmd"] == "invalid" and "is longer than 65536 bytes" in e["message"]
    with open(path, "ab") as f:
        f.write(b"y" * 10 + b'"}}\n{"cmd": "set", "changes": {"beta": 0.5}, "id": 3}\n')
    assert reader.poll() == [{"cmd": "set", "changes": {"beta": 0.5}, "id": 3}]
    assert reader._buf == b"" and not reader._skipping


def test_a_flood_of_lines_is_answered_256_lines_a_poll(tmp_path):
    metrics = tmp_path / "run.jsonl"
    reader = steering.CommandReader(metrics)
    steering.control_path(metrics).write_text("x\n" * 600)
    assert [len(reader.poll()) for _ in range(4)] == [256, 256, 88, 0]


def test_a_command_file_replaced_by_a_folder_is_reported_once_then_read_again(tmp_path):
    metrics = tmp_path / "run.jsonl"
    reader = steering.CommandReader(metrics)
    path = steering.control_path(metrics)
    path.write_text('{"cmd": "set", "changes": {"beta": 0.5}, "id": 1}\n')
    assert [c["id"] for c in reader.poll()] == [1]
    path.unlink()
    path.mkdir()
    assert reader.poll() == [{"cmd": "invalid", "id": None, "message": (
        "command file run.jsonl.control.jsonl is a folder, not a file; steering takes no commands "
        "until it is a file again.")}]
    assert reader.poll() == [] and reader.poll() == []          # once
    path.rmdir()
    path.write_text('{"cmd": "set", "changes": {"beta": 0.25}, "id": 2}\n')   # a new file: all of it
    assert reader.poll() == [{"cmd": "set", "changes": {"beta": 0.25}, "id": 2}]


def test_a_pipe_in_place_of_the_command_file_never_blocks(tmp_path):
    metrics = tmp_path / "run.jsonl"
    reader = steering.CommandReader(metrics)
    path = steering.control_path(metrics)
    path.unlink()
    os.mkfifo(path)
    (e,) = reader.poll()
    assert e["message"] == ("command file run.jsonl.control.jsonl is not a regular file (a pipe, a "
                            "device or a socket); steering takes no commands until it is a regular "
                            "file again.")
    assert reader.poll() == []


def test_a_removed_command_file_is_read_from_its_start_when_it_comes_back(tmp_path):
    metrics = tmp_path / "run.jsonl"
    reader = steering.CommandReader(metrics)
    writer = steering.CommandWriter(metrics)
    writer.set(beta=0.1)
    writer.set(beta=0.2)
    assert len(reader.poll()) == 2
    steering.control_path(metrics).unlink()
    assert reader.poll() == []
    assert steering.CommandWriter(metrics).set(beta=0.3) == 1      # the viewer starts it again
    assert reader.poll() == [{"cmd": "set", "changes": {"beta": 0.3}, "id": 1}]


def test_a_viewer_ignores_deep_lines_and_bad_ids_in_the_command_file(tmp_path):
    metrics = tmp_path / "run.jsonl"
    steering.control_path(metrics).write_text(
        "[" * 30_000 + "]" * 30_000 + "\n" + '{"id": 9007199254740991}\n{"id": true}\n'
        '{"id": -5}\n{"id": 41}\n')
    assert steering.CommandWriter(metrics).next_id == 42


fuzz_examples = int(os.environ.get("GRPOTUI_FUZZ_EXAMPLES", "0")) or None


@settings(max_examples=fuzz_examples or 300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300),
                 st.text(alphabet='[]{}/@=$:"\\,0123456789.eE+-NaInfity tuelsf', max_size=300)))
def test_parse_command_never_raises_and_answers_in_the_protocols_shape(line):
    """Run longer by hand: GRPOTUI_FUZZ_EXAMPLES=5000 pytest tests/unit/test_steering.py -k never."""
    out = steering.parse_command(line)
    assert out["cmd"] in ("set", "invalid")
    assert out["id"] is None or (type(out["id"]) is int and 0 <= out["id"] <= steering.MAX_ID)
    if out["cmd"] == "invalid":
        assert isinstance(out["message"], str) and len(out["message"]) < 400
        assert set(out) == {"cmd", "id", "message"}
    else:
        assert isinstance(out["changes"], dict) and 0 < len(out["changes"]) <= 32
    json.dumps(steering.refused_event(1, 1, None, out.get("changes"), out.get("message", ""),
                                      out["id"]))
