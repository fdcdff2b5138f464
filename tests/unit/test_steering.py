"""The steering protocol: the command file beside a metrics file (grpotui/steering.py)."""

from __future__ import annotations

import json
import subprocess
import sys

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
            "grpotui.integrations, grpotui.integrations.sorting; "
            "print(sorted(m for m in ('trl', 'transformers', 'datasets', 'accelerate') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
