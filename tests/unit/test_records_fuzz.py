"""Property: any metrics file, however hostile, read by the real MetricsFollower and FileSource,
never raises, and only checked values come out: step records hold finite numbers within ±1e100,
events have a name and whole-number ids, groups are rectangular. (tests/fuzz_strategies.py)"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grpotui.metricsfile import MetricsFollower
from grpotui.records import MAX_STEP, MAX_VALUE
from grpotui.sources import FileSource
from tests.fuzz_strategies import examples, line, names, record


def _check_snapshot(snap: dict) -> None:
    for p in snap["points"]:
        assert all(isinstance(v, float) and math.isfinite(v) and abs(v) <= MAX_VALUE
                   for v in p.values()), p
        assert abs(p["step"]) <= MAX_STEP
    for e in snap["events"]:
        assert isinstance(e["event"], str) and e["event"]
        assert e.get("id") is None or isinstance(e["id"], int)
        if e["event"] == "set":
            assert isinstance(e["key"], str)
    g = snap["groups"]
    if g is not None:
        b, gsize = len(g["prompts"]), len(g["responses"][0])
        assert len(g["responses"]) == len(g["rewards"]) == len(g["deltas"]) == b
        assert all(len(r) == gsize for r in g["rewards"] + g["deltas"] + g["responses"])
    assert isinstance(snap["step"], int)
    cfg = snap["config"]
    if cfg is not None and "reward_funcs" in cfg:
        assert all(isinstance(n, str) for n in cfg["reward_funcs"])


@settings(max_examples=examples(150), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(pool=st.lists(names, min_size=1, max_size=3), data=st.data(),
       csv=st.booleans(), chunks=st.integers(1, 3))
def test_any_file_reads_without_raising_and_only_checked_values_come_out(tmp_path_factory, pool,
                                                                         data, csv, chunks):
    path = tmp_path_factory.mktemp("f") / ("m.csv" if csv else "m.jsonl")
    recs = data.draw(st.lists(record(pool), max_size=12))
    lines = [line(r) for r in recs]
    if csv:   # a header, then each line as a CSV event detail or a raw row
        lines = ["step,reward,event,detail"] + [
            f'{i},,set,"{x.replace(chr(34), chr(34) * 2)}"' if i % 2 else x
            for i, x in enumerate(lines)]
    body = "\n".join(lines) + "\n"
    source = FileSource([path])
    # the file grows in pieces, cut anywhere (a line held back until it is whole)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), min_size=chunks - 1,
                                     max_size=chunks - 1)))
    written = 0
    for end in cuts + [len(body)]:
        with path.open("a", encoding="utf-8", errors="surrogatepass") as f:
            f.write(body[written:end])
        written = end
        source.next_poll = 0.0
        snap = source.get(0.0)
        if snap is not None:
            _check_snapshot(snap)
    follower = MetricsFollower(path)
    follower.poll()
    assert follower.problem is None or isinstance(follower.problem, str)
