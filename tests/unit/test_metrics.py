"""MetricsWriter: JSONL and CSV files of step records and events."""

from __future__ import annotations

import csv
import json

import pytest

from grpotui.config import ConfigError
from grpotui.metrics import CSV_COLUMNS, STEP_KEYS, MetricsWriter

STEPS = [
    {"step": 1, "rollout": 1, "reward": 1.5, "loss": -0.25, "kl": None, "ratio/max": 1.0},
    {"step": 2, "rollout": 1, "reward": float("nan"), "loss": float("inf"), "kl": 0.5,
     "ratio/max": 1.25},
]
EVENTS = [{"event": "set", "step": 2, "rollout": 1, "key": "group_size", "old": 8, "new": 4}]


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".ndjson", ".JSONL"])
def test_jsonl_one_object_per_line(tmp_path, suffix):
    path = tmp_path / f"m{suffix}"
    w = MetricsWriter(path)
    w.write(events=[{"event": "start", "step": 0, "rollout": 0, "config": {"n": 4}}])
    w.write(STEPS, EVENTS)
    w.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 4
    records = [json.loads(line) for line in lines]
    assert records[0] == {"event": "start", "step": 0, "rollout": 0, "config": {"n": 4}}
    assert records[1] == EVENTS[0]                       # events come before the steps
    assert records[2] == STEPS[0]
    # JSON has no NaN or inf: they are written as null
    assert records[3] == {"step": 2, "rollout": 1, "reward": None, "loss": None, "kl": 0.5,
                          "ratio/max": 1.25}
    for line in lines:
        assert "NaN" not in line and "Infinity" not in line


def test_records_are_on_disk_after_each_write(tmp_path):
    path = tmp_path / "m.jsonl"
    w = MetricsWriter(path)
    w.write(STEPS[:1])
    # flushed: another reader sees the complete line before close
    assert [json.loads(x) for x in path.read_text().splitlines()] == STEPS[:1]
    w.close()
    w.close()                       # closing twice is harmless
    w.write(STEPS[:1])              # writing after close is a no-op
    assert len(path.read_text().splitlines()) == 1


def test_csv_has_header_and_rows(tmp_path):
    path = tmp_path / "m.csv"
    w = MetricsWriter(path)
    assert path.read_text().splitlines() == [",".join(CSV_COLUMNS)]   # header at once
    w.write(STEPS, EVENTS)
    w.close()
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == CSV_COLUMNS
    assert len(rows) == 3
    event, s1, s2 = rows
    assert (event["event"], event["step"], event["rollout"]) == ("set", "2", "1")
    assert json.loads(event["detail"]) == {"key": "group_size", "old": 8, "new": 4}
    assert (s1["step"], s1["reward"], s1["loss"], s1["kl"], s1["event"]) == ("1", "1.5", "-0.25", "", "")
    assert (s2["reward"], s2["loss"], s2["kl"]) == ("", "", "0.5")


def test_csv_columns_cover_step_keys():
    assert CSV_COLUMNS[:len(STEP_KEYS)] == STEP_KEYS
    assert CSV_COLUMNS[-2:] == ["event", "detail"]


@pytest.mark.parametrize("name", ["m.txt", "m", "m.yaml", "m.jsonl.bak"])
def test_unknown_extension_is_a_config_error(tmp_path, name):
    with pytest.raises(ConfigError) as err:
        MetricsWriter(tmp_path / name)
    assert str(tmp_path / name) in str(err.value)
    assert ".jsonl" in str(err.value) and ".csv" in str(err.value)
    assert not (tmp_path / name).exists()


def test_unwritable_path_is_a_config_error(tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ConfigError, match="cannot write there"):
        MetricsWriter(tmp_path / "a-file" / "m.jsonl")     # no folder can be made there
    MetricsWriter(tmp_path / "runs" / "m.jsonl").close()   # a missing folder is made
    assert (tmp_path / "runs" / "m.jsonl").read_text() == ""
    folder = tmp_path / "folder.jsonl"
    folder.mkdir()
    with pytest.raises(ConfigError, match="cannot write there"):
        MetricsWriter(folder)

