"""`grpotui watch` and --metrics-groups on the command line: bad input exits 2 with one message."""

from __future__ import annotations

import json

import pytest

from .test_cli import assert_bad_input, invoke


@pytest.mark.parametrize("args, needles", [
    (["watch", "run.jsonl", "--x", "epoch"], ["--x epoch", "step or time"]),
    (["watch", "run.jsonl", "--smoothing", "1"], ["--smoothing 1.0", "0 to 0.99"]),
    (["watch", "run.jsonl", "--smoothing", "-0.1"], ["--smoothing -0.1", "0 to 0.99"]),
    (["watch", "no-such-thing"], ["no-such-thing does not exist", ".jsonl or .csv"]),
    (["watch", "a.jsonl", "--name", "x", "--name", "y"], ["--name given 2 times for 1",
                                                          "one name per file"]),
    (["run", "--metrics-groups"], ["--metrics-groups", "--metrics FILE"]),
    (["--metrics-groups"], ["--metrics-groups", "--metrics FILE"]),
])
def test_bad_watch_input_exits_2_with_a_message(tmp_path, monkeypatch, args, needles):
    monkeypatch.chdir(tmp_path)
    assert_bad_input(invoke(*args), *needles)


def test_watch_a_file_that_is_not_a_metrics_file_by_name(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    assert_bad_input(invoke("watch", str(tmp_path / "notes.txt")), "not a metrics file",
                     "extension '.txt'", ".jsonl")


def test_run_with_metrics_groups_writes_groups_records(tmp_path):
    path = tmp_path / "run.jsonl"
    result = invoke("run", "--preset", "lecture-centered", "--rollouts", "3", "--quiet",
                    "--metrics", str(path), "--metrics-groups")
    assert result.exit_code == 0, result.output
    kinds = [json.loads(x).get("event") for x in path.read_text().splitlines()]
    assert kinds[0] == "start" and kinds[-1] == "stop" and "groups" in kinds
