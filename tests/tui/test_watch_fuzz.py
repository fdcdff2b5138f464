"""Property: hostile metrics files (tests/fuzz_strategies.py) read by the real FileSource into the
real `grpotui watch` app under Pilot, at several terminal sizes, with keys pressed while it follows
the file: the app never raises and never hangs (each example is bounded), every run's name shows on
the status line as typed (whitespace collapsed, cut at most), and no click on the screen would run
an action. CI replays a small fixed set; GRPOTUI_FUZZ_EXAMPLES=N runs more by hand."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grpotui.sources import FileSource
from grpotui.tui.app import GrpoApp
from grpotui.tui.text import clean
from tests.fuzz_strategies import examples, line, names, record

from .screen import click_actions, screen_lines

SIZES = [(80, 24), (120, 40), (200, 60)]
KEYS = ["c", "space", "{", "}", ",", ".", "tab", "]", "["]
LIMIT = 60.0   # seconds an example may take before it counts as a hang


async def _session(paths, run_names, size, keys) -> None:
    source = FileSource(paths, names=run_names)
    app = GrpoApp(source=source)
    async with app.run_test(size=size) as pilot:
        for _ in range(200):        # until every run's first snapshot is in (a bounded wait)
            if len(app.runs) >= len(paths) and all(app.runs):
                break
            await pilot.pause(0.05)
        assert len(app.runs) >= len(paths) and all(app.runs), "the runs never showed"
        await pilot.pause(0.3)      # the redraw timer draws curves and groups
        for key in keys:
            await pilot.press(key)
        await pilot.pause(0.1)
        status = screen_lines(app)[0]
        for name in run_names:
            shown = " ".join(clean(name).split())
            # the whole name, unless the line is full: then at least its start, as typed
            assert shown in status or shown[:1] in status, (name, status)
            if size[0] >= 120 and len(run_names) == 1:
                assert shown in status, (name, status)
        assert not any("quit" in a or "bell" in a for a in click_actions(app))
        assert app.is_running
    assert app.return_code in (None, 0)


@settings(max_examples=examples(12), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(run_names=st.lists(names, min_size=1, max_size=2, unique=True), data=st.data(),
       size=st.sampled_from(SIZES), keys=st.lists(st.sampled_from(KEYS), max_size=4))
def test_hostile_files_never_crash_or_hang_watch_and_names_show_as_typed(
        tmp_path_factory, run_names, data, size, keys):
    folder = tmp_path_factory.mktemp("w")
    paths = []
    for i, _ in enumerate(run_names):
        recs = data.draw(st.lists(record(run_names), min_size=1, max_size=10))
        path = folder / f"run{i}.jsonl"
        path.write_text("\n".join(line(r) for r in recs) + "\n", encoding="utf-8",
                        errors="surrogatepass")
        paths.append(path)
    asyncio.run(asyncio.wait_for(_session(paths, run_names, size, keys), LIMIT))
