"""`grpotui watch` driven as a user would: files followed while another process writes them, runs
overlaid, the run-cycling, hiding and smoothing keys, the metrics picker, bad and missing files."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from textual.content import Content
from textual.widgets import Input, SelectionList, Static

from grpotui.series import ema
from grpotui.sources import FileSource
from grpotui.tui.app import GrpoApp
from grpotui.tui.widgets.charts import RunCharts, colour
from grpotui.tui.widgets.groups import GroupsView
from grpotui.tui.widgets.status import StatusLine

from .conftest import wait_for
from .test_app import log_text

GROUPS = {"prompts": [[1, 0, 2], [3, 2, 4]], "targets": [[0, 1, 2], [2, 3, 4]],
          "responses": [[[0, 1, 2], [0, 2, 1]], [[2, 3, 4], [4, 3, 2]]],
          "rewards": [[5.0, 3.0], [5.0, 1.0]], "deltas": [[1.0, -1.0], [2.0, -2.0]],
          "ratios": [[1.1, 0.9], [1.3, 0.7]],
          "token_ratios": [1.1, 1.1, 1.1, 0.9, 0.9, 0.9, 1.3, 1.3, 1.3, 0.7, 0.7, 0.7],
          "token_deltas": [1.0, 1.0, 1.0, -1.0, -1.0, -1.0, 2.0, 2.0, 2.0, -2.0, -2.0, -2.0]}


def write_run(path: Path, *, steps: int, slope: float, lr: float, groups: bool,
              set_at: int | None = None, stop: bool = True) -> None:
    """A finished run's metrics file with fixed numbers (no training: deterministic)."""
    recs: list[dict] = [{"event": "start", "step": 0, "rollout": 0, "preset": path.stem,
                         "config": {"delta_mode": "centered", "learning_rate": lr,
                                    "group_size": 2, "clip_eps": 0.2}}]
    for i in range(1, steps + 1):
        if set_at == i:
            recs.append({"event": "set", "step": i - 1, "rollout": i, "key": "learning_rate",
                         "old": lr, "new": lr / 10})
        recs.append({"step": i, "rollout": i, "reward": 1 + slope * i + 0.3 * math.sin(i),
                     "loss": 1 / i, "kl": 0.01 * i, "time": i * 0.25,
                     "completions/mean_length": 10 + i % 3})
    if groups:
        recs.append({"event": "groups", "step": steps, "rollout": steps, "groups": GROUPS})
    if stop:
        recs.append({"event": "stop", "step": steps, "rollout": steps, "reason": "reached rollouts"})
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))


def two_runs(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "centered.jsonl", tmp_path / "raw.jsonl"
    write_run(a, steps=60, slope=0.05, lr=0.01, groups=True, set_at=30)
    write_run(b, steps=40, slope=0.02, lr=0.003, groups=False)
    return a, b


def status_text(app) -> str:
    return app.query_one(StatusLine).render().plain if hasattr(
        app.query_one(StatusLine).render(), "plain") else str(app.query_one(StatusLine).render())


def body(app, selector: str) -> str:
    return Content.from_markup(str(app.query_one(selector, Static).content)).plain \
        if not isinstance(app.query_one(selector, Static).content, Content) \
        else app.query_one(selector, Static).content.plain


def loaded(app, n: int, step: int | None = None):
    return lambda: len(app.runs) >= n and all(app.runs[:n]) and (
        step is None or app.runs[0]["step"] == step)


# ============================================================================ following
WRITER = r"""
import json, sys
path = sys.argv[1]
def rec(i):
    return json.dumps({"step": i, "rollout": i, "reward": i / 10, "loss": 1.0}) + "\n"
third = rec(3)
for cmd in sys.stdin:
    with open(path, "a") as f:
        cmd = cmd.strip()
        if cmd == "start":
            f.write(json.dumps({"event": "start", "step": 0, "rollout": 0,
                                "config": {"learning_rate": 0.01}}) + "\n" + rec(1) + rec(2))
        elif cmd == "half":
            f.write(third[:14])
        elif cmd == "rest":
            f.write(third[14:] + json.dumps({"event": "stop", "step": 3, "rollout": 3,
                                             "reason": "done"}) + "\n")
    print("ok", flush=True)
"""


async def test_follows_a_file_another_process_appends_to_with_a_half_written_line(tmp_path):
    path = tmp_path / "live.jsonl"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)

    def tell(cmd: str) -> None:
        writer.stdin.write(cmd + "\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "ok"   # the bytes are in the file now

    source = FileSource([path])
    app = GrpoApp(source=source, smoothing=0.0)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, loaded(app, 1), "the first snapshot")
            assert app.runs[0]["status"] == "waiting"        # the file does not exist yet
            assert "waiting for the file" in status_text(app)
            tell("start")
            await wait_for(pilot, loaded(app, 1, step=2), "the first two records")
            assert app.runs[0]["config"] == {"learning_rate": 0.01}
            tell("half")
            follower = source.runs[0].follower
            await wait_for(pilot, lambda: follower.pending, "the half line to be seen")
            polls = follower.line_no
            await wait_for(pilot, lambda: app.runs[0]["idle_seconds"] > 0.5, "more polls")
            assert app.runs[0]["step"] == 2 and follower.line_no == polls   # held back
            assert follower.bad_lines == 0 and app.runs[0]["problem"] is None
            tell("rest")
            await wait_for(pilot, lambda: app.runs[0]["status"] == "finished", "the stop record")
            assert app.runs[0]["step"] == 3
            charts = app.query_one(RunCharts)
            assert charts.runs[0].series["reward"].values == [0.1, 0.2, 0.3]
            assert "step 3 finished" in status_text(app)
            assert "run ended (done)" in log_text(app)
            await app.action_quit()
    finally:
        writer.stdin.close()
        writer.wait(5)


async def test_a_file_in_a_folder_that_does_not_exist_says_so(tmp_path):
    app = GrpoApp(source=FileSource([tmp_path / "no-such-dir" / "x.jsonl"]))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "does not exist yet" in body(app, "#groups-body"),
                       "the groups panel's message")
        assert app.runs[0]["status"] == "waiting"
        assert f"x: waiting for its file to appear (its folder {tmp_path / 'no-such-dir'} " \
               f"does not exist yet" in body(app, "#groups-body").replace("\n", " ")
        await app.action_quit()


# ============================================================================ several runs
async def test_two_runs_overlay_with_a_legend_and_both_series(tmp_path):
    a, b = two_runs(tmp_path)
    app = GrpoApp(source=FileSource([a, b]), smoothing=0.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, loaded(app, 2), "both runs")
        charts = app.query_one(RunCharts)
        charts.flush()
        legend = body(app, "#legend")
        assert "centered" in legend and "raw" in legend
        assert [len(r.series["reward"].values) for r in charts.runs] == [60, 40]
        assert charts.shown_metrics()[:3] == ["reward", "loss", "kl"]   # familiar ones first
        assert "completions/mean_length" in charts.all_metrics()         # and any other key
        drawn = app.query_one("#chart-0").plt.build()   # the reward chart, with its colours
        for i in (0, 1):
            r, g, bl = colour(i)
            assert f"38;2;{r};{g};{bl}" in drawn, f"run {i}'s line is not drawn"
        assert charts.runs[0].marks == [(29, "learning_rate 0.01 → 0.001")]
        assert "centered step 60 finished" in status_text(app)
        assert "raw step 40 finished" in status_text(app)
        await app.action_quit()


async def test_keys_cycle_runs_hide_them_and_change_the_smoothing(tmp_path):
    a, b = two_runs(tmp_path)
    app = GrpoApp(source=FileSource([a, b], names=["lr 0.01", "lr 0.003"]), smoothing=0.6)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, loaded(app, 2), "both runs")
        charts = app.query_one(RunCharts)
        groups = app.query_one(GroupsView)
        await wait_for(pilot, lambda: groups.groups is not None, "the first run's groups")
        assert groups.border_title == "groups · lr 0.01 · rollout 60"
        assert "learning_rate" in body(app, "#settings-body")
        assert body(app, "#settings-body").startswith("lr 0.01  preset centered")
        assert "0.001 (was 0.01)" in body(app, "#settings-body")   # the set event, applied

        await pilot.press("c")
        assert app.selected == 1 and charts.selected == 1
        assert "▶lr 0.003" in status_text(app)
        assert body(app, "#settings-body").startswith("lr 0.003  preset raw")
        assert "no groups records in this file" in body(app, "#groups-body")
        assert not app.query_one("#clip-plot").display
        await pilot.press("c")
        assert app.selected == 0 and groups.groups == GROUPS
        assert app.query_one("#clip-plot").display

        await pilot.press("space")
        assert not charts.runs[0].visible
        charts.flush()
        assert "(hidden)" in body(app, "#legend")
        await pilot.press("space")
        assert charts.runs[0].visible

        values = charts.runs[0].series["reward"].values
        for key, expected in (("full_stop", 0.7), ("full_stop", 0.8), ("comma", 0.7),
                              ("comma", 0.6), ("comma", 0.5)):
            await pilot.press(key)
            assert charts.smoothing == expected
            assert charts.curve(charts.runs[0], "reward", 10_000)[1] == ema(values, expected)
        assert "smoothing 0.50" in status_text(app)
        for _ in range(12):
            await pilot.press("full_stop")
        assert charts.smoothing == 0.99
        for _ in range(12):
            await pilot.press("comma")
        assert charts.smoothing == 0.0
        assert charts.curve(charts.runs[0], "reward", 10_000)[1] == values
        await app.action_quit()


async def test_time_axis_and_metric_choice(tmp_path):
    a, b = two_runs(tmp_path)
    app = GrpoApp(source=FileSource([a, b]), smoothing=0.0, x="time",
                  metric_patterns=["completions/*", "kl"])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, loaded(app, 2), "both runs")
        charts = app.query_one(RunCharts)
        assert charts.shown_metrics() == ["kl", "completions/mean_length"]
        xs, _ = charts.curve(charts.runs[1], "kl", 10_000)
        assert xs[0] == 0.25 and xs[-1] == 10.0          # training seconds, not steps
        await pilot.press("t")
        assert charts.curve(charts.runs[1], "kl", 10_000)[0][-1] == 40

        await pilot.press("m")                           # the picker: filter, untick, apply
        await pilot.pause()
        app.screen.query_one(Input).value = "kl"
        await pilot.pause()
        lst = app.screen.query_one(SelectionList)
        assert [lst.get_option_at_index(i).value for i in range(lst.option_count)] == ["kl"]
        app.screen.query_one(Input).focus()
        await pilot.press("enter")                       # from the filter to the list
        assert lst.has_focus
        await pilot.press("space")                       # untick kl
        assert lst.selected == [], (lst.highlighted, lst.selected)
        await pilot.press("tab", "enter")                # the next control is Apply
        await pilot.pause()
        assert charts.shown_metrics() == ["completions/mean_length"]
        await pilot.press("m")                           # ctrl+s applies from the filter too
        await pilot.pause()
        app.screen.query_one(Input).value = "kl"
        await pilot.pause()
        app.screen.query_one(SelectionList).select("kl")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert charts.shown_metrics() == ["kl", "completions/mean_length"]
        await app.action_quit()


# ============================================================================ bad and missing
async def test_garbage_lines_get_one_message_and_the_valid_records_show(tmp_path):
    path = tmp_path / "messy.jsonl"
    write_run(path, steps=5, slope=0.1, lr=0.01, groups=False)
    lines = path.read_text().splitlines()
    lines.insert(3, "garbage {{{")
    lines.insert(5, "more garbage")
    path.write_text("\n".join(lines) + "\n")
    app = GrpoApp(source=FileSource([path]), smoothing=0.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, loaded(app, 1), "the run")
        assert app.runs[0]["step"] == 5
        assert len(app.query_one(RunCharts).runs[0].series["reward"].values) == 5
        message = (f"{path} line 4: not JSON (Expecting value at column 1) (2 bad lines in all, "
                   f"skipped); the valid records are shown.")
        assert app.runs[0]["problem"] == message
        assert "".join(log_text(app).split()).count("line4:notJSON") == 1
        assert any(message in str(n.message) for n in app._notifications)
        await app.action_quit()


async def test_a_file_that_is_not_a_metrics_file_is_named(tmp_path):
    path = tmp_path / "notes.jsonl"
    path.write_text("dear diary\n")
    app = GrpoApp(source=FileSource([path]))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, loaded(app, 1), "the run")
        message = (f"{path} line 1: not JSON (Expecting value at column 1). This does not look "
                   f"like a metrics file: expected one JSON object per line with a 'step' or "
                   f"'event' key. Nothing in it can be shown (1 bad line).")
        assert app.runs[0]["problem"] == message
        assert "".join(message.split()) in "".join(log_text(app).split())
        assert "notes step 0 not a metrics file" in status_text(app)
        await app.action_quit()


async def test_text_groups_from_a_language_model_run(tmp_path):
    path = tmp_path / "trl.jsonl"
    groups = {"prompts": ["What is 2 + 2?"], "responses": [["4", "five"]],
              "rewards": [[1.0, 0.0]], "deltas": [[0.71, -0.71]]}
    recs = [{"event": "start", "step": 0, "rollout": 0,
             "config": {"learning_rate": 1e-6, "num_generations": 2, "beta": 0.0}},
            {"step": 1, "rollout": 1, "reward": 0.5, "rewards/correct/mean": 0.5,
             "learning_rate": 1e-6},
            {"event": "groups", "step": 1, "rollout": 1, "groups": groups}]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    app = GrpoApp(source=FileSource([path]))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.query_one(GroupsView).groups == groups, "the groups")
        text = body(app, "#groups-body")
        assert "#1 What is 2 + 2?" in text and "five  r  0.00  Δ -0.71" in text
        assert "num_generations" in body(app, "#settings-body")
        assert "rewards/correct/mean" in app.query_one(RunCharts).all_metrics()
        assert not app.query_one("#clip-plot").display     # no token ratios in text groups
        await app.action_quit()


# ============================================================================ the dashboard's groups
async def test_dashboard_metrics_groups_show_up_when_the_file_is_watched(tmp_path):
    from grpotui.presets import find_preset

    config = find_preset("lecture-centered").config
    path = tmp_path / "dash.jsonl"
    app = GrpoApp(config, preset_name="lecture-centered", paused=True, metrics_path=path,
                  metrics_groups=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "paused", "the paused worker")
        await pilot.press("n")
        await wait_for(pilot, lambda: app.rollout == 1, "one rollout")
        await wait_for(pilot, lambda: app.query_one(GroupsView).groups is not None, "groups")
        shown = app.query_one(GroupsView).groups
        await app.action_quit()
    records = [json.loads(x) for x in path.read_text().splitlines()]
    written = [r for r in records if r.get("event") == "groups"]
    assert [(r["step"], r["rollout"]) for r in written] == [(10, 1)]
    assert written[0]["groups"] == shown            # exactly what the dashboard showed

    watch = GrpoApp(source=FileSource([path]))
    async with watch.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: watch.query_one(GroupsView).groups == shown, "the groups")
        assert watch.query_one(GroupsView).border_title == "groups · dash · rollout 1"
        assert watch.runs[0]["status"] == "finished" and watch.runs[0]["step"] == 10
        assert "preset lecture-centered" in body(watch, "#settings-body")
        assert watch.query_one("#clip-plot").display   # token ratios: the clip plot shows
        await watch.action_quit()


async def test_the_help_scrolls_where_the_terminal_is_too_short_for_it(tmp_path):
    """The watching help is longer than 24 rows: it stays inside the screen and scrolls to its end."""
    a, b = two_runs(tmp_path)
    app = GrpoApp(source=FileSource([a, b]))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, loaded(app, 2), "both runs")
        await pilot.press("question_mark")
        await pilot.pause()
        dialog = app.screen.query_one("#help")
        scroll = app.screen.query_one(".dialog-scroll")
        assert dialog.region.y >= 0 and dialog.region.bottom <= 24
        assert scroll.max_scroll_y > 0                  # more rows than fit: it scrolls
        scroll.scroll_end(animate=False)
        await pilot.pause()
        assert "Press esc to close" in str(scroll.query_one(Static).render())
        assert scroll.region.bottom <= dialog.region.bottom
        await pilot.press("escape")
        await pilot.pause()
        assert not app.screen.query(".dialog-scroll")
        await app.action_quit()


def test_a_long_setting_wraps_under_its_value_never_into_the_key_column():
    from grpotui.tui.widgets.settings import settings_content
    config = {"lr": 0.01, "reward": "exact_match,inclusion_ordering", "delta_mode": "centered"}
    shown = settings_content("run", config, changed={"delta_mode": "raw"}, width=30)
    assert shown.plain.split("\n") == [
        "run",
        "lr         0.01",
        "reward     exact_match,inclusi",
        "           on_ordering",
        "delta_mode centered (was raw)"]
    warned = [shown.plain[s.start:s.end] for s in shown.spans if str(s.style) == "b $warning"]
    assert warned == ["centered"]                              # the changed value, highlighted
    shown = settings_content("run", config, changed={"reward": "x"}, width=26)
    assert shown.plain.split("\n")[2:6] == [
        "reward     exact_match,inc", "           lusion_ordering", "           (was x)",
        "delta_mode centered"]
    warned = [shown.plain[s.start:s.end] for s in shown.spans if str(s.style) == "b $warning"]
    assert warned == ["exact_match,inc", "lusion_ordering"]
    narrow = settings_content("run", {"a_long_setting_name": "a value"}, width=20).plain
    assert narrow.split("\n")[1:] == ["a_long_setting_name", "  a value"]   # no room: below it
    assert settings_content("run", config).plain.split("\n")[2] == \
        "reward     exact_match,inclusion_ordering"   # no width: one line, as before
