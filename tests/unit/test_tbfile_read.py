"""grpotui/tbfile.py reads an event file's new bytes (no memory map: a mapped page cut off by a
writer that truncates the file would kill the process with SIGBUS): a file cut between polls, or
between the stat and the read, restarts or waits without raising; a file read in chunks gives what
one read gives, with each problem's byte offset counted from the file's start."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("tensorboard", reason="the [tb] extra: pip install -e '.[tb]'")

from grpotui import tbfile  # noqa: E402


def steps(blocks) -> list[int]:
    return [b.step for b in blocks]


def payloads(first: int, last: int, version: bool = True) -> list[bytes]:
    return tbfile.scalar_payloads([(s, {"loss": float(s)}) for s in range(first, last + 1)],
                                  version=version)


def test_a_file_cut_between_polls_or_between_stat_and_read_restarts_or_waits(tmp_path,
                                                                             monkeypatch):
    recs = payloads(0, 9)
    data = tbfile.frame(recs)
    ends = [sum(len(p) + 16 for p in recs[:k + 1]) for k in range(len(recs))]   # record k's end
    p = tmp_path / "events.out.tfevents.1.host.1.0"
    p.write_bytes(data)
    r = tbfile.EventFileReader(p)
    assert steps(r.poll()) == list(range(10)) and r.offset == len(data) and not r.pending

    # cut between polls, in place (same inode), mid-record: read again from the start
    with open(p, "r+b") as f:
        f.truncate(ends[4] + 5)                    # steps 0-3 whole, step 4's record cut
    assert steps(r.poll()) == [0, 1, 2, 3] and r.restarted and r.pending
    assert r.offset == ends[4] and r.problem is None

    # cut after the stat, before the read: the read yields fewer bytes, nothing raises
    with open(p, "r+b") as f:
        f.truncate(0)
        f.write(data)
    real_stat = os.stat

    def stat_then_cut(path, *a, **k):
        st = real_stat(path, *a, **k)
        with open(p, "r+b") as f:
            f.truncate(ends[6] + 3)                # steps 0-5 whole
        return st

    monkeypatch.setattr(tbfile.os, "stat", stat_then_cut)
    assert steps(r.poll()) == [4, 5] and r.pending and r.offset == ends[6]
    monkeypatch.setattr(tbfile.os, "stat", real_stat)
    with open(p, "ab") as f:                       # the writer finishes the file
        f.write(data[ends[6] + 3:])
    assert steps(r.poll()) == [6, 7, 8, 9] and not r.pending and r.offset == len(data)

    # cut below the offset after the stat: the read yields nothing; it waits, then restarts
    with open(p, "ab") as f:
        f.write(tbfile.frame(payloads(10, 11, version=False)))

    def stat_then_empty(path, *a, **k):
        st = real_stat(path, *a, **k)
        open(p, "wb").close()
        return st

    monkeypatch.setattr(tbfile.os, "stat", stat_then_empty)
    assert r.poll() == [] and r.pending and r.offset == len(data) and not r.restarted
    monkeypatch.setattr(tbfile.os, "stat", real_stat)
    p.write_bytes(tbfile.frame(payloads(0, 2)))
    assert steps(r.poll()) == [0, 1, 2] and r.restarted and not r.pending
    assert r.problem is None and r.corrupt == 0


def test_a_file_read_in_chunks_gives_what_one_read_gives_with_offsets_from_the_start(
        tmp_path, monkeypatch):
    from tensorboard.compat.proto import event_pb2, summary_pb2

    recs = payloads(0, 39)
    big = event_pb2.Event(step=40, wall_time=1.7e9 + 1, summary=summary_pb2.Summary(value=[
        summary_pb2.Summary.Value(tag="x" * 2000, simple_value=1.0)])).SerializeToString()
    recs += [big] + payloads(41, 49, version=False)
    data = bytearray(tbfile.frame(recs))
    at = sum(len(x) + 16 for x in recs[:31])       # step 30's record: a payload byte changed
    data[at + 14] ^= 0xFF
    p = tmp_path / "events.out.tfevents.1.host.1.0"
    p.write_bytes(bytes(data))
    whole = tbfile.EventFileReader(p)
    expected = [s for s in range(50) if s != 30]
    assert steps(whole.poll()) == expected
    monkeypatch.setattr(tbfile, "READ_CHUNK", 200)   # a few records a chunk; the big one, more
    r = tbfile.EventFileReader(p)
    assert steps(r.poll()) == expected
    assert (r.records, r.offset, r.pending, r.corrupt) == (51, len(data), False, 1)
    assert r.problem == f"{p}: a record at byte {at:,} fails its data check (CRC); skipped, the " \
                        f"rest is shown."
    assert r.problem == whole.problem
