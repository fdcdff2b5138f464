"""The run table's model (grpotui/tui/screens/runs.py) and the metrics picker's glob, as pure
functions: sorting by each kind of column (missing values last either way), filtering by a name part
or a glob, grouping by a setting (missing keys, odd values), collapsing, colour families."""

from __future__ import annotations

from grpotui.series import Series
from grpotui.tui.screens.metrics import glob_ticks, matches as metric_matches
from grpotui.tui.screens.runs import (NOT_SET, Row, RunSummary, Sort, clicked_sort, column_keys,
                                      column_widths, config_keys, default_metrics, group_colours,
                                      group_value, heading_cell, matches, next_sort, summarise,
                                      table_rows)

METRICS = ["reward", "loss"]
RUNS = [
    RunSummary(0, "centered-a", {"delta_mode": "centered", "lr": 0.01}, 60,
               {"reward": (3.0, 1.0, 3.5), "loss": (0.1, 0.1, 1.0)}),
    RunSummary(1, "raw-b", {"delta_mode": "raw", "lr": 0.003}, 40, {"reward": (2.0, 0.5, 2.5)}),
    RunSummary(2, "Centered-c", {"delta_mode": "centered", "lr": 1}, 50,
               {"reward": (4.0, 2.0, 4.0), "loss": (0.2, 0.05, 2.0)}),
    RunSummary(3, "nocfg", {}, None, {}),
    RunSummary(4, "[b]x[/]", {"delta_mode": 1.0, "lr": True}, 10,
               {"reward": (-1.0, -2.0, 0.0), "loss": (5e-5, 1e-5, 12000.0)}),
    RunSummary(5, "list", {"delta_mode": ["a", 1], "lr": 1.0}, 5, {"reward": (0.0, 0.0, 0.0)}),
]
BLANK = ("",) * 7   # step and three columns per metric
CELLS = {
    0: ("centered-a", "60", "3", "1", "3.5", "0.1", "0.1", "1"),
    1: ("raw-b", "40", "2", "0.5", "2.5", "—", "—", "—"),
    2: ("Centered-c", "50", "4", "2", "4", "0.2", "0.05", "2"),
    3: ("nocfg", "—", "—", "—", "—", "—", "—", "—"),
    4: ("[b]x[/]", "10", "-1", "-2", "0", "5.0e-05", "1.0e-05", "1.2e+04"),
    5: ("list", "5", "0", "0", "0", "—", "—", "—"),
}


def order(rows: list[Row]) -> list[int | str]:
    return [r.run if r.run is not None else r.key for r in rows]


def test_ungrouped_rows_exactly():
    assert column_keys(METRICS) == ["name", "step", "reward:last", "reward:min", "reward:max",
                                    "loss:last", "loss:min", "loss:max"]
    rows = table_rows(RUNS, METRICS)
    assert rows == [Row(f"run:{i}", CELLS[i], run=i, member=i) for i in (4, 0, 2, 5, 3, 1)]


def test_column_widths_fit_the_widest_header_line_or_cell():
    rows = table_rows(RUNS, ["loss"], group_by="delta_mode")
    assert column_widths(["\nrun ▲", "\nstep", "loss\nlast", "\nmin", "\nmax"], rows) == [
        len("▼ (not set) · 1 run"), 4, 7, 7, 7]   # (the key left out: it did not fit in 20)
    wide = [Row("run:0", ("漢字漢字", "1"), run=0)]       # cells, not characters
    assert column_widths(["\nrun", "\nstep"], wide) == [8, 4]


def test_sorting_by_each_kind_of_column_keeps_missing_values_last():
    def by(column, descending=False):
        return order(table_rows(RUNS, METRICS, Sort(column, descending)))

    assert by("name") == [4, 0, 2, 5, 3, 1]            # case-insensitive: [ < c, Centered by c
    assert by("name", True) == [1, 3, 5, 2, 0, 4]
    assert by("step") == [5, 4, 1, 2, 0, 3]             # nocfg has no step yet: last
    assert by("step", True) == [0, 2, 1, 4, 5, 3]
    assert by("reward:last") == [4, 5, 1, 0, 2, 3]
    assert by("reward:last", True) == [2, 0, 1, 5, 4, 3]
    assert by("loss:max") == [0, 2, 4, 1, 3, 5]         # three runs without loss: by index
    assert by("loss:max", True) == [4, 2, 0, 1, 3, 5]
    assert by("loss:min") == [4, 2, 0, 1, 3, 5]
    assert by("no-such:last", True) == by("name")       # a column not in the table: by name
    ties = [RunSummary(i, n, {}, 1, {"kl": (0.5, 0.5, 0.5)}) for i, n in enumerate("cab")]
    assert order(table_rows(ties, ["kl"], Sort("kl:last", True))) == [0, 1, 2]   # ties: by index
    assert order(table_rows(ties, ["kl"], Sort("kl:last"))) == [0, 1, 2]


def test_filter_by_name_part_or_glob():
    def names(pattern):
        return order(table_rows(RUNS, METRICS, filter=pattern))

    assert names("") == names("   ") == [4, 0, 2, 5, 3, 1]
    assert names("CENTER") == [0, 2]                     # a name part, any case
    assert names("c*") == [0, 2]                         # a glob: the whole name, any case
    assert names("*-?") == [0, 2, 1]
    assert names("c") == [0, 2, 3]                       # a part may be anywhere
    assert names("x[/]") == []                           # [ makes a glob: [/] is a class
    assert names("[[]b*") == [4]
    assert names("zzz") == []
    assert matches("Centered-c", "centered-?") and not matches("centered-ab", "centered-?")


def test_grouped_by_a_setting_with_missing_keys_and_odd_values():
    rows = table_rows(RUNS, METRICS, group_by="delta_mode")
    assert rows == [
        Row("group:n:1", ("▼ 1 · 1 run", *BLANK), group=0),
        Row("run:4", ("  [b]x[/]", *CELLS[4][1:]), run=4, group=0, member=0),
        Row("group:s:centered", ("▼ centered · 2 runs", *BLANK), group=1),
        Row("run:0", ("  centered-a", *CELLS[0][1:]), run=0, group=1, member=0),
        Row("run:2", ("  Centered-c", *CELLS[2][1:]), run=2, group=1, member=1),
        Row("group:s:raw", ("▼ raw · 1 run", *BLANK), group=2),
        Row("run:1", ("  raw-b", *CELLS[1][1:]), run=1, group=2, member=0),
        Row('group:j:["a", 1]', ('▼ ["a", 1] · 1 run', *BLANK), group=3),
        Row("run:5", ("  list", *CELLS[5][1:]), run=5, group=3, member=0),
        Row("group:-", (f"▼ {NOT_SET} · 1 run", *BLANK), group=4),
        Row("run:3", ("  nocfg", *CELLS[3][1:]), run=3, group=4, member=0),
    ]
    # numbers in numeric order, 1 and 1.0 one group, true apart from 1, the missing key last
    lr = table_rows(RUNS, METRICS, group_by="lr")
    assert [r.cells[0] for r in lr if r.run is None] == [
        "▼ 0.003 · 1 run", "▼ 0.01 · 1 run", "▼ 1 · 2 runs", "▼ true · 1 run",
        f"▼ {NOT_SET} · 1 run"]
    assert order(lr) == ["group:n:0.003", 1, "group:n:0.01", 0, "group:n:1", 2, 5,
                         "group:b:true", 4, "group:-", 3]
    assert group_value({"k": None}, "k") == ("group:j:null", "null", (3, 0.0, "null"))
    assert group_value({"k": float("nan")}, "k") == ("group:n:nan", "nan", (0, float("inf"), "nan"))
    assert group_value(None, "k")[1] == NOT_SET
    assert group_value({"k": 10 ** 400}, "k")[2][0] == 0            # a huge int still sorts


def test_grouped_rows_sort_within_groups_filter_and_collapse():
    rows = table_rows(RUNS, METRICS, Sort("reward:last", True), group_by="delta_mode")
    assert order(rows) == ["group:n:1", 4, "group:s:centered", 2, 0, "group:s:raw", 1,
                           'group:j:["a", 1]', 5, "group:-", 3]
    rows = table_rows(RUNS, METRICS, filter="c*", group_by="delta_mode")   # groups with no match go
    assert order(rows) == ["group:s:centered", 0, 2]
    rows = table_rows(RUNS, METRICS, filter="c", group_by="delta_mode")
    assert [r.cells[0] for r in rows if r.run is None] == ["▼ centered · 2 runs",
                                                         f"▼ {NOT_SET} · 1 run"]
    rows = table_rows(RUNS, METRICS, group_by="delta_mode",
                      collapsed={"group:s:centered", "group:-", "group:not-there"})
    assert order(rows) == ["group:n:1", 4, "group:s:centered", "group:s:raw", 1,
                           'group:j:["a", 1]', 5, "group:-"]
    folded = [r for r in rows if r.collapsed]
    assert [r.cells[0] for r in folded] == ["▶ centered · 2 runs",
                                            f"▶ {NOT_SET} · 1 run"]
    assert table_rows(RUNS, METRICS, group_by="") == table_rows(RUNS, METRICS)


def test_colour_families_follow_the_groups_not_the_filter():
    def family(g, m):
        return (g, m, 0)

    assert group_colours(RUNS, None, family) is None
    assert group_colours(RUNS, "delta_mode", family) == {
        4: (0, 0, 0), 0: (1, 0, 0), 2: (1, 1, 0), 1: (2, 0, 0), 5: (3, 0, 0), 3: (4, 0, 0)}


def test_names_and_values_from_files_are_cleaned_and_cut():
    odd = [RunSummary(0, "a\x1b[31mred\nline " + "n" * 80, {"k": "v\x07" + "w" * 90}, 2.5,
                      {"m": (1e9, -0.0, 1234.5)})]
    rows = table_rows(odd, ["m"], group_by="k")
    assert rows[0].cells[0] == "▼ v�" + "w" * 21 + "… · 1 run"   # as wide as the name: 34 cells
    assert rows[1].cells == ("  a�[31mred line " + "n" * 16 + "…",   # 2 + 32 cells
                             "2.5", "1.0e+09", "0", "1.23e+03")


def test_settings_offered_for_grouping_and_the_sort_keys():
    assert config_keys(RUNS) == ["delta_mode", "lr"]
    same = [RunSummary(0, "a", {"g": 2, "b": 1}), RunSummary(1, "b", {"g": 2, "b": 2})]
    assert config_keys(same) == ["b", "g"]          # the varying one first
    columns = column_keys(["kl"])
    assert next_sort(Sort("name"), columns, 1) == Sort("step")
    assert next_sort(Sort("kl:max", True), columns, 1) == Sort("name", True)
    assert next_sort(Sort("name"), columns, -1) == Sort("kl:max")
    assert clicked_sort(Sort("name"), "kl:min") == Sort("kl:min")
    assert clicked_sort(Sort("kl:min"), "kl:min") == Sort("kl:min", True)
    assert default_metrics(["reward", "kl", "a", "b", "c", "d"], None, ["kl", "loss"]) == ["kl"]
    assert default_metrics(["a", "b", "c", "d", "e"], None, ["kl"]) == ["a", "b", "c", "d"]
    assert default_metrics(["a", "b"], ["b", "gone"], ["a"]) == ["b"]


def test_summary_of_a_series():
    s = Series()
    assert summarise(s) == (None, None, None) == summarise(None)
    for step, v in enumerate([3.0, 1.0, 4.0, 1.0, 5.0, 2.0]):
        s.add(step, None, v)
    assert summarise(s) == (2.0, 1.0, 5.0)
    t = Series(cap=8)                      # thinned: its points average the spike away
    for step in range(100):
        t.add(step, None, 9.0 if step == 37 else 0.5)
    assert max(t.values) == 1.03125 and summarise(t) == (0.5, 0.5, 9.0)


def test_the_pickers_glob_ticks_exactly_its_matches():
    every = ["reward", "rewards/format", "rewards/Correct", "loss", "kl", "clip_ratio/low"]
    assert glob_ticks(every, "rewards/*") == ["rewards/format", "rewards/Correct"]
    assert glob_ticks(every, " REWARDS/c* ") == ["rewards/Correct"]
    assert glob_ticks(every, "*l*") == ["loss", "kl", "clip_ratio/low"]
    assert glob_ticks(every, "nothing*") == []
    assert glob_ticks(every, "reward") is None       # a name part only filters
    assert glob_ticks(every, "") is None
    assert [m for m in every if metric_matches(m, "REW")] == ["reward", "rewards/format",
                                                             "rewards/Correct"]


def test_group_headings_fit_the_run_names_not_the_other_way():
    assert heading_cell("delta_mode", "centered", 2, False, 40) == \
        "▼ delta_mode = centered · 2 runs"
    assert heading_cell(None, "centered", 1, True, 40) == "▶ centered · 1 run"
    assert heading_cell(None, "centered", 2, False, 16) == "▼ cent… · 2 runs"
    assert heading_cell(None, "centered", 2, False, 10) == "▼ centere…"
    long_names = [RunSummary(i, f"lecture-{mode}-lr0.001-seed{i}", {"delta_mode": mode}, 5, {})
                  for i, mode in enumerate(["centered", "raw", "centered"])]
    rows = table_rows(long_names, METRICS, group_by="delta_mode")
    assert [r.cells[0] for r in rows] == [
        "▼ delta_mode = centered · 2 runs", "  lecture-centered-lr0.001-seed0",
        "  lecture-centered-lr0.001-seed2",
        "▼ delta_mode = raw · 1 run", "  lecture-raw-lr0.001-seed1"]   # (names: 32 cells)
    short = [RunSummary(i, f"r{i}", {"delta_mode": m}, 5, {}) for i, m in enumerate(["a", "b"])]
    rows = table_rows(short, METRICS, group_by="delta_mode")
    assert [r.cells[0] for r in rows] == ["▼ a · 1 run", "  r0", "▼ b · 1 run", "  r1"]
    assert column_widths(["\nrun", "\nstep"] + [""] * 6, rows)[0] == 11   # not 24
