"""Reading and following metrics files (grpotui watch): partial lines, garbage, missing files, CSV,
big files, folders; the smoothing; groups records written by `run --metrics-groups`."""

from __future__ import annotations

import json
import math
import os

import pytest

from grpotui import metricsfile
from grpotui.metrics import MetricsWriter
from grpotui.metricsfile import MetricsFollower, WatchError, expand_paths
from grpotui.presets import find_preset
from grpotui.series import Series, ema, thin
from grpotui.sources import FileSource


def line(rec: dict) -> str:
    return json.dumps(rec) + "\n"


START = {"event": "start", "step": 0, "rollout": 0, "preset": "p", "config": {"learning_rate": 0.01}}


def step(i: int, **extra) -> dict:
    return {"step": i, "rollout": (i + 1) // 2, "reward": i / 10, "loss": 1 - i / 10,
            "time": i * 0.5, **extra}


# ============================================================================ following a file
def test_a_half_written_line_is_held_back_until_it_is_complete(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_text(line(START) + line(step(1)))
    f = MetricsFollower(path)
    assert [r.get("step") for r in f.poll()] == [0, 1]
    whole = line(step(2, reward=0.25))
    with path.open("a") as out:
        out.write(whole[:15])
    assert f.poll() == [] and f.pending
    assert f.problem is None            # half a line is not garbage
    with path.open("a") as out:
        out.write(whole[15:])
    assert f.poll() == [step(2, reward=0.25)]
    assert not f.pending and f.records == 3 and f.problem is None


def test_a_missing_file_is_waited_for(tmp_path):
    path = tmp_path / "later.jsonl"
    f = MetricsFollower(path)
    assert f.poll() == [] and not f.exists
    path.write_text(line(START))
    assert f.poll() == [START] and f.exists


def test_a_replaced_file_starts_over(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_text(line(START) + line(step(1)) + line(step(2)))
    f = MetricsFollower(path)
    assert len(f.poll()) == 3
    path.write_text(line(START))     # a new run into the same path (MetricsWriter truncates)
    assert f.poll() == [START] and f.restarted


def test_nothing_is_written_to_a_watched_file(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_text(line(START) + line(step(1)) + '{"step": 2, "rew')
    os.chmod(path, 0o444)   # read-only: any attempt to write would fail
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    source = FileSource([path])
    source.poll()
    assert source.queue[0]["step"] == 1
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


# ============================================================================ bad files
def test_garbage_lines_are_skipped_and_named_once(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_text(line(START) + line(step(1)) + "this is not json\n" + "[1, 2]\n"
                    + '{"reward": 3}\n' + line(step(2)))
    f = MetricsFollower(path)
    assert [r.get("step") for r in f.poll()] == [0, 1, 2]
    assert f.bad_lines == 3
    assert f.problem == (f"{path} line 3: not JSON (Expecting value at column 1) (3 bad lines in "
                         f"all, skipped); the valid records are shown.")


def test_a_file_that_is_not_a_metrics_file_says_so(tmp_path):
    path = tmp_path / "notes.jsonl"
    path.write_text("hello\nworld\n")
    f = MetricsFollower(path)
    assert f.poll() == []
    assert f.problem.startswith(f"{path} line 1: not JSON")
    assert "does not look like a metrics file" in f.problem
    assert "one JSON object per line with a 'step' or 'event' key" in f.problem


def test_a_csv_without_a_step_column_is_not_a_metrics_file(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("a,b\n1,2\n")
    f = MetricsFollower(path)
    assert f.poll() == []
    assert f.problem.startswith(f"{path} line 1: the CSV header has no 'step' column")


# ============================================================================ CSV
def test_csv_files_written_by_metrics_writer_read_back(tmp_path):
    path = tmp_path / "run.csv"
    w = MetricsWriter(path)
    w.write(events=[START])
    w.write([{"step": 1, "rollout": 1, "reward": 0.5, "loss": 0.25}],
            [{"event": "set", "step": 0, "rollout": 1, "key": "learning_rate", "old": 0.01,
              "new": 0.02}])
    w.write(events=[{"event": "groups", "step": 1, "rollout": 1,
                     "groups": {"prompts": ["a b"], "responses": [["x", "y"]],
                                "rewards": [[1.0, 0.0]], "deltas": [[0.5, -0.5]]}}])
    w.close()
    recs = MetricsFollower(path).poll()
    assert recs[0] == START
    assert recs[1] == {"event": "set", "step": 0, "rollout": 1, "key": "learning_rate",
                       "old": 0.01, "new": 0.02}
    assert recs[2] == {"step": 1.0, "rollout": 1.0, "reward": 0.5,
                                               "loss": 0.25}
    assert recs[3]["event"] == "groups" and recs[3]["groups"]["responses"] == [["x", "y"]]


# ============================================================================ big files
def test_a_big_file_opens_sampled_with_every_event_and_the_latest_step(tmp_path, monkeypatch):
    monkeypatch.setattr(metricsfile, "BIG_FILE", 10_000)
    monkeypatch.setattr(metricsfile, "SAMPLE_TARGET", 50)
    monkeypatch.setattr(metricsfile, "CHUNK", 4096)   # many chunks: lines cut across chunk ends
    path = tmp_path / "big.jsonl"
    n = 2001
    with path.open("w") as out:
        out.write(line(START))
        for i in range(1, n + 1):
            out.write(line(step(i)))
            if i % 500 == 0:
                out.write(line({"event": "set", "step": i, "rollout": i, "key": "learning_rate",
                                "old": 0.01, "new": i}))
                out.write(line({"event": "groups", "step": i, "rollout": i,
                                "groups": {"prompts": [[i]], "responses": [[[i]]],
                                           "rewards": [[1.0]], "deltas": [[0.0]]}}))
    f = MetricsFollower(path)
    recs = f.poll()
    steps = [r for r in recs if "event" not in r]
    events = [r for r in recs if r.get("event") not in (None, "groups")]
    groups = [r for r in recs if r.get("event") == "groups"]
    assert [e.get("new") for e in events] == [None, 500, 1000, 1500, 2000]   # start + every set
    assert [g["groups"]["prompts"] for g in groups] == [[[2000]]]            # only the latest
    assert steps[-1]["step"] == n                                           # the latest state
    assert 40 <= len(steps) <= 70                                           # a sample
    assert [r["step"] for r in steps] == sorted(r["step"] for r in steps)   # in file order
    assert f.records == 1 + n + 4 + 4 and f.problem is None
    assert f.offset == path.stat().st_size and f.line_no == 1 + n + 8
    with path.open("a") as out:   # and it follows on from the end, line by line
        out.write(line(step(n + 1)))
    assert f.poll() == [step(n + 1)]


# ============================================================================ folders
def test_a_folder_means_every_metrics_file_in_it(tmp_path):
    for name in ("b.csv", "a.jsonl", "notes.txt", "a.jsonl.control.jsonl", "config.json"):
        (tmp_path / name).write_text("")
    assert expand_paths([tmp_path]) == [tmp_path / "a.jsonl", tmp_path / "b.csv"]
    assert expand_paths([tmp_path / "config.json"]) == [tmp_path / "config.json"]  # when named


@pytest.mark.parametrize("name, needles", [
    ("notes.txt", ["notes.txt: not a metrics file (extension '.txt')", ".jsonl", ".csv"]),
    ("nothing-here", ["does not exist", "a .jsonl or .csv file"]),
    ("run.jsonl.control.jsonl", ["steering command file", "run.jsonl"]),
])
def test_paths_that_cannot_be_watched_are_named(tmp_path, name, needles):
    path = tmp_path / name
    if name == "notes.txt":
        path.write_text("hi")
    with pytest.raises(WatchError) as e:
        expand_paths([path])
    for needle in needles:
        assert needle in str(e.value)


def test_runs_are_named_by_file_stem_or_by_name(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d in ("a", "b"):
        (tmp_path / d / "metrics.jsonl").write_text(line(START))
    assert [r.name for r in FileSource([tmp_path / "a", tmp_path / "b"]).runs] == \
        ["metrics", "b/metrics"]
    assert [r.name for r in FileSource([tmp_path / "a", tmp_path / "b"], ["raw"]).runs] == \
        ["raw", "metrics"]


# ============================================================================ the source
def test_file_source_snapshots_carry_state_settings_and_points(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_text(line(START) + line(step(1)) + line(
        {"event": "set", "step": 1, "rollout": 1, "key": "learning_rate", "old": 0.01, "new": 0.1})
        + line(step(2)) + line({"event": "stop", "step": 2, "rollout": 1, "reason": "done"}))
    source = FileSource([path])
    source.poll()
    (snap,) = source.queue
    assert snap["name"] == "run" and snap["run"] == 0 and snap["status"] == "finished"
    assert snap["step"] == 2 and snap["rollout"] == 1 and snap["train_seconds"] == 1.0
    assert snap["config"] == {"learning_rate": 0.1}          # start record plus the set event
    assert [p["step"] for p in snap["points"]] == [1.0, 2.0]
    assert [e["event"] for e in snap["events"]] == ["start", "set", "stop"]
    assert snap["groups"] is None and snap["problem"] is None


def test_file_source_waits_for_a_file_and_says_so(tmp_path):
    source = FileSource([tmp_path / "later.jsonl"])
    source.poll()
    assert source.queue[0]["status"] == "waiting" and source.queue[0]["config"] is None


# ============================================================================ smoothing
def plain_ema(values: list[float], w: float) -> list[float]:
    """The textbook recursion, started at zero; TensorBoard divides by 1 - w^n to debias it."""
    out, s = [], 0.0
    for v in values:
        s = w * s + (1 - w) * v
        out.append(s)
    return out


@pytest.mark.parametrize("w", [0.0, 0.3, 0.6, 0.9, 0.99])
def test_smoothing_is_the_debiased_plain_ema(w):
    values = [math.sin(i) * 3 + i / 7 for i in range(50)]
    expected = [s / (1 - w ** (n + 1)) for n, s in enumerate(plain_ema(values, w))] if w else values
    assert ema(values, w) == pytest.approx(expected, rel=1e-12)


def test_smoothing_worked_example_and_edge_cases():
    assert ema([1.0, 3.0], 0.5) == [1.0, pytest.approx(7 / 3)]   # 0.5 / 0.5; 1.75 / 0.75
    assert ema([2.0, 2.0, 2.0], 0.9) == [2.0, 2.0, 2.0]          # constant stays constant
    smoothed = ema([1.0, math.nan, 3.0], 0.5)
    assert smoothed[0] == 1.0 and math.isnan(smoothed[1]) and smoothed[2] == pytest.approx(7 / 3)
    with pytest.raises(ValueError):
        ema([1.0], 1.0)


def test_series_stays_bounded_and_keeps_the_mean():
    s = Series(cap=16)
    for i in range(1000):
        s.add(i, i / 2, float(i))
    assert len(s.values) < 16 and s.latest == 999.0 and s.latest_step == 999
    assert s.values[0] == pytest.approx(sum(range(s.stride)) / s.stride)
    xs, ys = s.xy("time")
    assert xs[0] == pytest.approx(ys[0] / 2)


def test_series_keeps_the_exact_last_min_and_max_of_every_value_after_thinning():
    s = Series(cap=16)
    assert (s.latest, s.low, s.high) == (None, None, None)
    for i in range(1000):
        s.add(i, None, {500: 100.0, 700: -50.0}.get(i, 1.0))   # a lone spike and a lone dip
    s.add(1000, None, math.nan)                                # not finite: left out
    s.add(1001, None, math.inf)
    s.add(math.inf, None, 1e9)                                 # a step that is not finite
    assert (s.stride, max(s.values), min(s.values)) == (64, 2.546875, 0.203125)   # averaged away
    assert (s.latest, s.low, s.high) == (1.0, -50.0, 100.0)
    s.clear()                                                  # a restarted run starts afresh
    assert (s.latest, s.low, s.high) == (None, None, None)
    s.add(1, None, 3.0)
    assert (s.latest, s.low, s.high) == (3.0, 3.0, 3.0)


def test_thin_keeps_the_ends():
    xs, ys = thin(list(range(100)), list(range(100)), 10)
    assert len(xs) == 10 and xs[0] == 0 and xs[-1] == 99


# ============================================================================ groups records
@pytest.fixture
def lecture_config():
    return find_preset("lecture-centered").config


def test_groups_records_are_rate_limited(monkeypatch):
    from grpotui import worker

    clock = [100.0]
    monkeypatch.setattr(worker.time, "monotonic", lambda: clock[0])
    written = []

    class Writer:
        def write(self, steps=(), events=()):
            written.extend(events)

    class Trainer:
        step, rollout_index = 10, 1

    class Groups:
        pass

    rec = worker.GroupsRecords(hz=2)
    monkeypatch.setattr(worker, "_groups_dict", lambda g: {"prompts": [[1]]})
    results = []
    for t in (100.0, 100.1, 100.4, 100.5, 100.6, 101.0):
        clock[0] = t
        results.append(rec.maybe_write(Writer(), Trainer(), Groups()))
    assert results == [True, False, False, True, False, True]     # 2 a second at most
    assert rec.maybe_write(Writer(), Trainer(), Groups(), force=True)  # the final one, always
    assert written[0] == {"event": "groups", "step": 10, "rollout": 1, "groups": {"prompts": [[1]]}}
    assert len(written) == 4


def test_run_metrics_groups_writes_a_few_groups_records_a_second(tmp_path, lecture_config):
    from grpotui.runner import StopRules, run_headless

    path = tmp_path / "run.jsonl"
    run_headless(lecture_config, StopRules(rollouts=6), metrics_path=str(path), quiet=True,
                 metrics_groups=True)
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    groups = [r for r in recs if r.get("event") == "groups"]
    assert groups[0]["rollout"] == 1          # the first rollout's, at once
    assert groups[-1]["rollout"] == 6         # and the final rollout's, always
    g = groups[-1]["groups"]
    assert g["prompts"] == [[1, 0, 2], [3, 2, 4], [1, 2, 3]]
    assert {"targets", "responses", "rewards", "deltas", "ratios", "token_ratios",
            "token_deltas"} <= set(g)
    assert len(g["responses"][0]) == lecture_config.group_size
    source = FileSource([path])
    source.poll()
    assert source.queue[0]["groups"] == g and source.queue[0]["groups_rollout"] == 6


def test_run_without_metrics_groups_writes_no_groups(tmp_path, lecture_config):
    from grpotui.runner import StopRules, run_headless

    path = tmp_path / "run.jsonl"
    run_headless(lecture_config, StopRules(rollouts=2), metrics_path=str(path), quiet=True)
    assert '"groups"' not in path.read_text()


def test_status_goes_idle_with_the_seconds_counted_then_finished(tmp_path, monkeypatch):
    from grpotui import sources
    from grpotui.tui.widgets.status import overall_state, run_state

    path = tmp_path / "run.jsonl"
    path.write_text(line(START) + line(step(1)))
    clock = [1000.0]
    monkeypatch.setattr(sources.time, "monotonic", lambda: clock[0])
    source = FileSource([path])
    source.poll()
    assert source.queue.pop()["status"] == "watching"
    clock[0] += 0.5
    source.poll()
    assert source.queue == []                  # no news, and no heartbeat due yet
    clock[0] += 12
    source.poll()
    snap = source.queue.pop()
    assert snap["status"] == "idle" and snap["idle_seconds"] == 12.5
    assert run_state(snap) == "idle for 12 s" and overall_state([snap]) == "idle"
    with path.open("a") as out:
        out.write(line(step(2)) + line({"event": "stop", "step": 2, "rollout": 1}))
    clock[0] += 1
    source.poll()
    snap = source.queue.pop()
    assert snap["status"] == "finished" and snap["step"] == 2 and snap["idle_seconds"] == 0


def test_a_big_file_with_garbage_names_the_line_and_keeps_the_rest(tmp_path, monkeypatch):
    monkeypatch.setattr(metricsfile, "BIG_FILE", 10_000)
    monkeypatch.setattr(metricsfile, "SAMPLE_TARGET", 50)
    monkeypatch.setattr(metricsfile, "CHUNK", 4096)
    path = tmp_path / "big.jsonl"
    with path.open("w") as out:
        out.write(line(START))
        for i in range(1, 1001):
            out.write(line(step(i)))
            if i == 700:
                out.write("Traceback (most recent call last):\n")   # line 702
    f = MetricsFollower(path)
    recs = f.poll()
    assert recs[-1] == step(1000) and recs[0] == START
    assert f.records == 1001 and f.bad_lines == 1
    assert f.problem == (f"{path} line 702: not JSON (Expecting value at column 1) (skipped); "
                         f"the valid records are shown.")


def test_a_big_csv_file_opens_sampled_with_its_events(tmp_path, monkeypatch):
    monkeypatch.setattr(metricsfile, "BIG_FILE", 10_000)
    monkeypatch.setattr(metricsfile, "SAMPLE_TARGET", 50)
    monkeypatch.setattr(metricsfile, "CHUNK", 4096)
    path = tmp_path / "big.csv"
    w = MetricsWriter(path)
    w.write(events=[START])
    for i in range(1, 1001):
        w.write([step(i)], [{"event": "set", "step": i, "rollout": i, "key": "kl_beta", "old": 0,
                             "new": 1}] if i == 500 else [])
    w.close()
    f = MetricsFollower(path)
    recs = f.poll()
    assert [r["event"] for r in recs if "event" in r] == ["start", "set"]
    steps = [r for r in recs if "event" not in r]
    assert float(steps[-1]["step"]) == 1000 and 20 <= len(steps) <= 80
    assert f.records == 1002 and f.problem is None
    assert f.offset == path.stat().st_size and not f.pending   # read to the end, header included
    with path.open("a") as out:   # and it follows on from there: the next row, nothing re-read
        out.write(path.read_text().splitlines()[-1].replace("1000", "1001", 1) + "\n")
    assert [float(r["step"]) for r in f.poll()] == [1001.0] and f.problem is None
