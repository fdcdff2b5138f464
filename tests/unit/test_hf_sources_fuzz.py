"""Property: any trainer_state.json and any TensorBoard event file, however hostile (mutated entries,
cut anywhere, bytes flipped, inserted or dropped), read by the real followers and FileSource, never
raises, and only checked values come out. (tests/fuzz_strategies.py: example counts)"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grpotui.hfsources import TensorBoardFollower, TrainerStateFollower
from grpotui.records import MAX_STEP, MAX_VALUE
from grpotui.sources import FileSource
from tests.fuzz_strategies import examples, names, record

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                      HealthCheck.too_slow])


def _checked(recs: list[dict]) -> None:
    for r in recs:
        if "event" in r:
            assert isinstance(r["event"], str) and r["event"]
            continue
        assert all(isinstance(k, str) and len(k) <= 10_000 for k in r)
        assert all(isinstance(v, float) and math.isfinite(v) and abs(v) <= MAX_VALUE
                   for v in r.values()), r
        assert abs(r["step"]) <= MAX_STEP


def _snapshots_checked(source: FileSource) -> None:
    source.poll()
    for snap in source.queue:
        _checked(snap["points"])
        assert snap["problem"] is None or isinstance(snap["problem"], str)
    source.queue.clear()


@settings(max_examples=examples(60), **SETTINGS)
@given(pool=st.lists(names, min_size=1, max_size=3), data=st.data(), trainer=st.booleans())
def test_any_trainer_state_reads_without_raising(tmp_path_factory, pool, data, trainer):
    folder = tmp_path_factory.mktemp("out")
    history = data.draw(st.lists(st.one_of(record(pool), st.integers(), st.none()), max_size=8))
    top = data.draw(st.one_of(st.just({}), st.dictionaries(names, st.integers(), max_size=2)))
    doc = {**top, "log_history": history} if data.draw(st.booleans()) else history
    text = json.dumps(doc, indent=2 if trainer else None, sort_keys=trainer) + "\n"
    cut = data.draw(st.one_of(st.just(len(text)), st.integers(0, len(text))))
    path = folder / "trainer_state.json"
    path.write_text(text[:cut], encoding="utf-8", errors="surrogatepass")
    f = TrainerStateFollower(path)
    for _ in range(2):                      # the second poll reports a file that stays cut
        _checked(f.poll())
        assert f.problem is None or isinstance(f.problem, str)
    _snapshots_checked(FileSource([folder]))


@pytest.fixture(scope="module")
def tb():
    return pytest.importorskip("tensorboard", reason="the [tb] extra: pip install -e '.[tb]'")


rows = st.lists(st.tuples(st.integers(-2**63, 2**63 - 1),
                          st.dictionaries(names, st.floats(width=32), min_size=1, max_size=3)),
                min_size=1, max_size=8)


@settings(max_examples=examples(60), **SETTINGS)
@given(rows=rows, data=st.data())
def test_any_event_file_reads_without_raising(tb, tmp_path_factory, rows, data):
    from grpotui import tbfile

    folder = tmp_path_factory.mktemp("tb")
    body = bytearray(tbfile.frame(tbfile.scalar_payloads(rows)))
    for _ in range(data.draw(st.integers(0, 3))):          # damage: flip, insert, drop bytes
        at = data.draw(st.integers(0, max(0, len(body) - 1)))
        how = data.draw(st.sampled_from(["flip", "insert", "drop"]))
        if how == "flip" and body:
            body[at] ^= data.draw(st.integers(1, 255))
        elif how == "insert":
            body[at:at] = data.draw(st.binary(min_size=1, max_size=20))
        elif body:
            del body[at:at + data.draw(st.integers(1, 20))]
    cut = data.draw(st.one_of(st.just(len(body)), st.integers(0, len(body))))
    path = folder / "events.out.tfevents.1.host.1.0"
    path.write_bytes(bytes(body[:cut]))
    f = TensorBoardFollower(path)
    _checked(f.poll())
    with path.open("ab") as out:                            # the rest arrives
        out.write(bytes(body[cut:]))
    _checked(f.poll())
    assert f.problem is None or isinstance(f.problem, str)
    _snapshots_checked(FileSource([folder]))
