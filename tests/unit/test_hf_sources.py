"""Runs logged without grpotui (grpotui/hfsources.py, grpotui/tbfile.py): a Trainer's
trainer_state.json (newest checkpoint, followed, superseded, hostile), TensorBoard event files written
by torch's SummaryWriter (simple and tensor scalars, growth, a record cut mid-write, corrupt CRCs,
the sampled read of a big file), and the watch-source fixes (a deleted file, a step that goes back)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest

from grpotui import hfsources, tbfile
from grpotui.hfsources import TensorBoardFollower, TrainerStateFollower, find_runs
from grpotui.metricsfile import WatchError
from grpotui.sources import FileSource


def trainer_json(state: dict) -> str:
    """What the Trainer writes (TrainerState.save_to_json)."""
    return json.dumps(state, indent=2, sort_keys=True) + "\n"


def entry(step: int, **extra) -> dict:
    return {"step": step, "loss": 1 / step, "reward": step / 10, "learning_rate": 0.001,
            "epoch": step / 100, "step_time": 0.5, **extra}


def state(steps, **top) -> dict:
    return {"global_step": max(steps, default=0), "max_steps": 10, "logging_steps": 1,
            "train_batch_size": 8, "log_history": [entry(s) for s in steps], **top}


def checkpoint(out: Path, n: int, steps, mtime: int | None = None, text: str | None = None) -> Path:
    d = out / f"checkpoint-{n}"
    d.mkdir(parents=True, exist_ok=True)
    p = d / "trainer_state.json"
    p.write_text(text if text is not None else trainer_json(state(steps)))
    if mtime is not None:
        os.utime(p, ns=(mtime, mtime))
    return p


def steps_of(recs) -> list:
    return [r["step"] for r in recs if "event" not in r]


def snapshots(src: FileSource) -> list[dict]:
    src.poll()
    out, src.queue = src.queue, []
    return out


# ============================================================================ trainer_state.json
def test_a_log_entry_becomes_a_point_with_attach_names(tmp_path):
    checkpoint(tmp_path, 2, [1, 2], mtime=10**18)
    f = TrainerStateFollower(tmp_path)
    recs = f.poll()
    assert recs[0] == {"event": "start", "step": 0, "config": {
        "max_steps": 10, "logging_steps": 1, "train_batch_size": 8}}
    assert recs[1] == {"step": 1, "loss": 1.0, "reward": 0.1, "learning_rate": 0.001,
                       "lr": 0.001, "epoch": 0.01, "step_time": 0.5, "steps_per_second": 2.0}
    assert steps_of(recs) == [1, 2] and f.problem is None and f.records == 2
    assert f.poll() == []                       # nothing new


def test_a_new_checkpoint_adds_only_its_new_entries_and_deleted_ones_do_not_matter(tmp_path):
    checkpoint(tmp_path, 2, [1, 2], mtime=10**18)
    f = TrainerStateFollower(tmp_path)
    assert steps_of(f.poll()) == [1, 2]
    checkpoint(tmp_path, 4, [1, 2, 3, 4], mtime=10**18 + 1)
    shutil.rmtree(tmp_path / "checkpoint-2")     # save_total_limit=1
    assert steps_of(f.poll()) == [3, 4]
    checkpoint(tmp_path, 6, [1, 2, 3, 4, 5, 6], mtime=10**18 + 2)
    shutil.rmtree(tmp_path / "checkpoint-6")     # the newest deleted: the older one is not re-read
    assert f.poll() == [] and f.records == 4
    top = tmp_path / "trainer_state.json"        # the end of training: the top-level state
    st = state([1, 2, 3, 4, 5])
    st["log_history"].append({"step": 5, "epoch": 0.05, "train_runtime": 12.5, "train_loss": 0.4,
                              "total_flos": 0.0})
    top.write_text(trainer_json(st))
    os.utime(top, ns=(10**18 + 3, 10**18 + 3))
    recs = f.poll()
    assert steps_of(recs) == [5]
    assert recs[-1] == {"event": "stop", "step": 5, "reason": "training finished", "summary": {
        "epoch": 0.05, "train_runtime": 12.5, "train_loss": 0.4, "total_flos": 0.0}}


def test_the_trainers_layout_and_any_other_read_alike_and_big_ones_are_sampled(tmp_path, monkeypatch):
    a, b = tmp_path / "a" / "trainer_state.json", tmp_path / "b" / "trainer_state.json"
    a.parent.mkdir()
    b.parent.mkdir()
    st = state(range(1, 101))
    a.write_text(trainer_json(st))              # found by byte search, parsed entry by entry
    b.write_text(json.dumps(st))                # parsed whole
    ra, rb = TrainerStateFollower(a).poll(), TrainerStateFollower(b).poll()
    assert ra == rb and steps_of(ra) == list(range(1, 101))
    monkeypatch.setattr(hfsources, "SAMPLE_TARGET", 10)
    for p in (a, b):
        f = TrainerStateFollower(p)
        got = steps_of(f.poll())
        assert got == [1, 11, 21, 31, 41, 51, 61, 71, 81, 91, 100] and f.records == 100


def test_a_restart_from_an_earlier_checkpoint_starts_the_run_over_with_a_note(tmp_path):
    checkpoint(tmp_path, 4, [1, 2, 3, 4], mtime=10**18)
    src = FileSource([tmp_path])
    first = snapshots(src)[0]
    assert [p["step"] for p in first["points"]] == [1, 2, 3, 4] and not first["restarted"]
    assert first["status"] == "watching" and first["name"] == tmp_path.name
    checkpoint(tmp_path, 3, [1, 2, 3], mtime=10**18 + 1)   # resumed from checkpoint-2, saved at 3
    snap = snapshots(src)[0]
    assert snap["restarted"] and [p["step"] for p in snap["points"]] == [1, 2, 3]
    why = ("the step went back from 4 to 1 (a new run appended to the file, or training restarted "
           "from an earlier checkpoint); its curves start again at step 1")
    assert snap["restart_reason"] == why
    assert snap["events"][0] == {"event": "note", "step": 1, "message": f"{tmp_path}: {why}."}


def test_a_file_cut_mid_write_is_waited_for_then_reported_once_if_it_stays_cut(tmp_path):
    whole = trainer_json(state([1, 2]))
    p = checkpoint(tmp_path, 2, [], text=whole[:len(whole) // 2], mtime=10**18)
    f = TrainerStateFollower(tmp_path)
    assert f.poll() == [] and f.problem is None            # maybe the Trainer is still writing
    p.write_text(whole)
    os.utime(p, ns=(10**18 + 1, 10**18 + 1))
    assert steps_of(f.poll()) == [1, 2] and f.problem is None
    g = TrainerStateFollower(p)
    p.write_text(whole[:50])
    assert g.poll() == [] and g.problem is None
    assert g.poll() == [] and g.problem == (f"{p}: not a JSON file (Expecting property name "
                                            f"enclosed in double quotes). Nothing in it is shown.")
    assert g.poll() == []                                   # not re-read until it changes


HOSTILE = [
    ("[1, 2]", "a JSON list, not a trainer_state.json object."),
    ('{"log_history": 5}', "no 'log_history' list: not a Hugging Face trainer_state.json."),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply to be a trainer_state.json."),
    ("\xff\xfe", "not a JSON file"),
]


@pytest.mark.parametrize("text,why", HOSTILE, ids=["list", "history", "deep", "bytes"])
def test_a_file_that_is_no_trainer_state_gives_one_message(tmp_path, text, why):
    p = tmp_path / "trainer_state.json"
    p.write_text(text, encoding="latin-1")
    f = TrainerStateFollower(p)
    assert f.poll() == [] and f.poll() == []
    assert f.problem.startswith(f"{p}: {why}")


def test_hostile_entries_keep_the_valid_values_and_give_one_message(tmp_path):
    long_key = "k" * 10_001
    history = [
        {"step": 1, "reward": float("nan"), "loss": 0.5},          # NaN: dropped
        {"step": 2, "[b]markup[/b]": 1.5, long_key: 1.0, "k" * 10_000: 2.0},
        {"step": "three", "loss": 1.0},                             # not a step: skipped
        ["not", "an", "object"],
        {"step": 4, "note": "text only"},                           # nothing to chart: skipped
        {"step": 5, "event": "start", "loss": [1, 2], "kl": {"a": 1}, "reward": 1e300},
        {"step": 6, "deep": [[[[[[[[[[1]]]]]]]]]]},
        {"step": 7, "loss": True},
    ]
    p = tmp_path / "trainer_state.json"
    p.write_text(trainer_json({"log_history": history}))
    f = TrainerStateFollower(p)
    recs = f.poll()
    assert recs[1:] == [{"step": 1, "loss": 0.5}, {"step": 2, "[b]markup[/b]": 1.5,
                                                   "k" * 10_000: 2.0}]
    assert f.problem == (f"{p} log_history entry 1: 'reward' NaN is not a finite number within "
                         f"±1e100 (dropped) (7 log entries with something wrong in all); the valid "
                         f"log entries are shown.")


def test_a_huge_file_is_not_read(tmp_path, monkeypatch):
    monkeypatch.setattr(hfsources, "MAX_STATE", 1000)
    p = tmp_path / "trainer_state.json"
    p.write_text(trainer_json(state(range(1, 50))))
    f = TrainerStateFollower(p)
    assert f.poll() == []
    assert f.problem == (f"{p}: 0.0 MB, more than the 0.0 MB a trainer_state.json is read up to. "
                         f"Nothing in it is shown.")


# ============================================================================ TensorBoard
needs_tb = pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None,
                              reason="the [tb] extra: pip install -e '.[tb]'")


def summary_writer(folder: Path):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(folder))


@needs_tb
def test_summary_writer_scalars_simple_and_tensor_are_read_with_their_steps(tmp_path,
                                                                            monkeypatch):
    monkeypatch.setattr(hfsources, "SCAN_SECONDS", 0.0)     # new files looked for at every poll
    w = summary_writer(tmp_path / "runs" / "a")
    for s in range(3):
        w.add_scalar("train/loss", 1 / (s + 1), s)
        w.add_scalar("acc", 0.25 * s, s, new_style=True)       # a tensor-encoded scalar
    w.add_text("notes", "[b]not markup[/b]", 0)
    w.flush()
    src = FileSource([tmp_path])
    assert [(r.kind, r.name) for r in src.runs] == [("tensorboard", tmp_path.name)]
    snap = snapshots(src)[0]
    got = [{k: v for k, v in p.items() if k != "time"} for p in snap["points"]]
    assert got == [{"step": 0, "train/loss": 1.0, "acc": 0.0},
                   {"step": 1, "train/loss": 0.5, "acc": 0.25},
                   {"step": 2, "train/loss": 0.3333333432674408, "acc": 0.5}]  # float32
    got_times = [p["time"] for p in snap["points"]]
    assert got_times == sorted(got_times) and got_times[0] >= 0 and snap["problem"] is None
    for s in range(3, 5):                                          # growth while watched
        w.add_scalar("train/loss", 1 / (s + 1), s)
    w.flush()
    news = [p["step"] for s in snapshots(src) for p in s["points"]]
    assert news == [3, 4]
    w2 = summary_writer(tmp_path / "runs" / "b")                     # a later file: read after
    w2.add_scalar("train/loss", 9.0, 7)
    w2.close()
    w.close()
    late = [p for s in snapshots(src) for p in s["points"]]
    assert [p["step"] for p in late] == [7]
    assert late[0]["time"] > got_times[-1]          # one clock for the run: its first file's


@needs_tb
def test_a_record_cut_mid_write_waits_and_corrupt_records_are_skipped_and_reported(tmp_path):
    rows = [(s, {"loss": float(s)}) for s in range(10)]
    payloads = tbfile.scalar_payloads(rows)
    data = tbfile.frame(payloads)
    p = tmp_path / "events.out.tfevents.1.host.1.0"
    p.write_bytes(data[:-7])                        # the last record not yet whole
    f = TensorBoardFollower(p)
    assert steps_of(f.poll()) == list(range(9)) and f.problem is None
    assert f.readers[p].pending
    with open(p, "ab") as out:
        out.write(data[-7:])
    assert steps_of(f.poll()) == [9] and f.problem is None
    # a payload byte changed in the record of step 3, a length byte in the record of step 6
    at3 = sum(len(x) + 16 for x in payloads[:4])
    at6 = sum(len(x) + 16 for x in payloads[:7])
    bad = bytearray(data)
    bad[at3 + 14] ^= 0xFF
    bad[at6 + 1] ^= 0xFF
    q = tmp_path / "events.out.tfevents.2.host.1.0"
    q.write_bytes(bytes(bad))
    g = TensorBoardFollower(q)
    assert steps_of(g.poll()) == [0, 1, 2, 4, 5, 7, 8, 9]
    assert g.problem == (f"{q}: a record at byte {at6:,} fails its length check (CRC) (2 places "
                         f"in all); skipped, the rest is shown.")


@needs_tb
def test_framing_matches_tensorboards_own_crc_and_reader(tmp_path):
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    for data in (b"", b"a", b"123456789", bytes(range(256)) * 3):
        assert tbfile.masked_crc(data) == masked_crc32c(data)
    p = tmp_path / "events.out.tfevents.1.h"
    tbfile.write_scalars(p, [(s, {"a": s / 4, "b": 1.0}) for s in range(5)])
    events = list(EventFileLoader(str(p)).Load())
    assert [(e.step, [v.tag for v in e.summary.value]) for e in events[1:]] == [
        (s, [t]) for s in range(5) for t in ("a", "b")]


@needs_tb
def test_a_big_file_is_sampled_by_step_blocks_ending_on_the_latest(tmp_path, monkeypatch):
    monkeypatch.setattr(tbfile, "PARSE_ALL", 100)
    monkeypatch.setattr(tbfile, "SAMPLE_BLOCKS", 10)
    p = tmp_path / "events.out.tfevents.1.h"
    tbfile.write_scalars(p, [(s, {"train/loss": s / 2, "train/epoch": s / 100})
                             for s in range(1000)])
    f = TensorBoardFollower(p)
    recs = f.poll()
    # the first records (tbfile.FIRST), then a whole step at each tenth of the records, the last
    assert steps_of(recs) == [0, 1, 2, 3, 4, 5, 6, 7, 99, 199, 299, 399, 499, 599, 699, 799, 899,
                              999]
    assert recs[-1] == {"step": 999, "loss": 499.5, "epoch": 9.989999771118164,
                        "time": pytest.approx(10.0)}     # a Trainer's tags: train/ dropped
    assert f.readers[p].records == 2001 and f.readers[p].parsed < 400     # not every record


@needs_tb
def test_the_trainers_tags_take_its_log_names(tmp_path):
    p = tmp_path / "events.out.tfevents.1.h"
    tbfile.write_scalars(p, [(1, {"train/reward": 0.5, "train/epoch": 0.1, "eval/loss": 2.0,
                                  "train/learning_rate": 0.01, "train/step_time": 0.25,
                                  "train/clip_ratio/region_mean": 0.0})])
    rec = TensorBoardFollower(p).poll()[0]
    assert {k: v for k, v in rec.items() if k != "time"} == {
        "step": 1, "reward": 0.5, "epoch": 0.10000000149011612, "eval_loss": 2.0,
        "learning_rate": 0.009999999776482582, "lr": 0.009999999776482582, "step_time": 0.25,
        "steps_per_second": 4.0, "clip_ratio/region_mean": 0.0}


@needs_tb
def test_a_folder_with_both_is_one_run_read_from_its_event_files(tmp_path):
    checkpoint(tmp_path, 2, [1, 2])
    (tmp_path / "runs" / "x").mkdir(parents=True)
    tbfile.write_scalars(tmp_path / "runs" / "x" / "events.out.tfevents.1.h",
                         [(1, {"train/loss": 1.0})])
    (tmp_path / "other.jsonl").write_text('{"step": 1, "reward": 1}\n')
    assert find_runs([tmp_path]) == [(tmp_path, "tensorboard"), (tmp_path / "other.jsonl",
                                                                  "metrics")]
    assert find_runs([tmp_path / "checkpoint-2"]) == [(tmp_path / "checkpoint-2",
                                                       "trainer_state")]


@needs_tb
def test_without_the_tensorboard_package_watch_says_how_to_install_it(tmp_path, monkeypatch):
    import sys

    tbfile.write_scalars(tmp_path / "events.out.tfevents.1.h", [(1, {"a": 1.0})])
    monkeypatch.setitem(sys.modules, "tensorboard.compat.proto", None)
    with pytest.raises(WatchError) as e:
        find_runs([tmp_path])
    assert str(e.value) == (f"{tmp_path}: reading TensorBoard event files needs the tensorboard "
                            f"package: pip install 'grpotui[tb]' (or: pip install tensorboard)")
    checkpoint(tmp_path, 2, [1])                    # with a trainer state, that is read instead
    assert find_runs([tmp_path]) == [(tmp_path, "trainer_state")]


# ============================================================================ the watch fixes
def test_a_deleted_file_is_gone_with_a_note_and_read_again_when_it_comes_back(tmp_path):
    p = tmp_path / "run.jsonl"
    p.write_text('{"step": 1, "reward": 1}\n{"step": 2, "reward": 2}\n')
    src = FileSource([p])
    assert [x["step"] for x in snapshots(src)[0]["points"]] == [1, 2]
    p.unlink()
    snap = snapshots(src)[0]
    from grpotui.tui.widgets.status import overall_state, run_state

    assert run_state(snap) == "deleted" and overall_state([snap]) == "watching"   # for it to return
    assert snap["status"] == "gone" and snap["events"] == [{"event": "note", "message": (
        f"{p} was deleted; what was read stays on the charts, and the run is read again from the "
        f"start if it comes back.")}]
    p.write_text('{"step": 1, "reward": 5}\n')
    snap = snapshots(src)[0]
    assert snap["status"] == "watching" and snap["restarted"] and snap["events"] == []
    assert snap["restart_reason"] == "the file was replaced or truncated; reading it from the start"
    assert not snap["restart_noted"]                  # the app says so
    assert snap["points"] == [{"step": 1, "reward": 5}]


def test_a_step_going_back_in_one_file_starts_the_run_over_with_a_note(tmp_path):
    p = tmp_path / "run.jsonl"
    lines = [{"event": "start", "step": 0, "config": {"a": 1}}] + \
        [{"step": s, "reward": s} for s in (1, 2, 3)] + [{"event": "stop", "step": 3}] + \
        [{"event": "start", "step": 0, "config": {"a": 2}}] + \
        [{"step": s, "reward": 10 + s} for s in (1, 2)]
    p.write_text("".join(json.dumps(x) + "\n" for x in lines))
    snap = snapshots(FileSource([p]))[0]
    why = ("the step went back from 3 to 1 (a new run appended to the file, or training restarted "
           "from an earlier checkpoint); its curves start again at step 1")
    assert snap["restarted"] and snap["restart_reason"] == why and snap["restart_noted"]
    assert [x["step"] for x in snap["points"]] == [1, 2] and snap["config"] == {"a": 2}
    assert [e["event"] for e in snap["events"]] == ["note", "stop", "start"]
    assert snap["events"][0]["message"] == f"{p}: {why}." and snap["status"] == "watching"


@needs_tb
def test_the_bench_files_read_back(tmp_path):
    """`grpotui bench`'s trainer_state.json (in the Trainer's layout) and event file (the
    Trainer's tags) read as what was written (small here; the bench writes 100,000 and 1,000,000)."""
    from grpotui import bench

    assert bench.make_trainer_state(tmp_path / "s", 300) == 300
    text = (tmp_path / "s" / "checkpoint-300" / "trainer_state.json").read_text()
    st = json.loads(text)
    assert text == trainer_json(st)                       # the Trainer's own layout
    assert [e["step"] for e in st["log_history"]] == list(range(1, 301))
    recs = TrainerStateFollower(tmp_path / "s").poll()
    assert steps_of(recs) == list(range(1, 301))
    assert set(recs[-1]) == set(bench.TRL_KEYS) | {"step", "lr", "steps_per_second"}
    assert bench.make_event_file(tmp_path / "t", 250) == 10     # 25 metrics a step
    recs = TensorBoardFollower(tmp_path / "t").poll()
    assert steps_of(recs) == list(range(1, 11))
    assert set(recs[-1]) == set(bench.TRL_KEYS) | {"step", "lr", "steps_per_second", "time"}


def test_a_reset_event_starts_over_without_a_step_back_note(tmp_path):
    p = tmp_path / "run.jsonl"
    lines = [{"step": s, "reward": s} for s in (1, 2, 3)] + [{"event": "reset", "step": 3}] + \
        [{"step": s, "reward": s} for s in (1, 2)]
    p.write_text("".join(json.dumps(x) + "\n" for x in lines))
    snap = snapshots(FileSource([p]))[0]
    assert not snap["restarted"] and snap["restart_reason"] is None
    assert [x["step"] for x in snap["points"]] == [1, 2]     # the app clears the run at a reset
    assert [e["event"] for e in snap["events"]] == ["reset"]
