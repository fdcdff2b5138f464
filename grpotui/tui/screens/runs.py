"""The run table of `grpotui watch`: every run against chosen metrics (each metric's last, min and
max value), sorted by any column, filtered by a name part or a glob, and grouped by any setting of
the runs' start records (delta_mode, loss_type, ...), each group in one colour family, groups
collapsible.

The model is plain data and pure functions, testable without Textual:

    runs = [RunSummary(index, name, config, step, {metric: (last, low, high)}), ...]
    rows = table_rows(runs, metrics, Sort("reward:last", descending=True), "lr-*", "delta_mode",
                      collapsed={"group:s:raw"})

and RunTableScreen draws those rows in a DataTable, rebuilt (at most REFRESH_HZ times a second) when
the runs grow. Names, setting values and metric keys come from files: every cell and header is a
rich Text (a DataTable parses a plain string as markup), cleaned and cut to its column by cells.
"""

from __future__ import annotations

import fnmatch
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Select, Static

from grpotui.series import Series
from grpotui.tui import text
from grpotui.tui.widgets.charts import PREFERRED, RunCharts, colour, colour_family
from grpotui.tui.widgets.curves import fmt_value

NAME_CELLS = 32          # a run's name in its column, at most
GROUP_CELLS = 48         # a group row's key, and its value, at most
HEADING_CELLS = 20       # a group row's heading may use this many cells where names are shorter
METRIC_CELLS = 20        # a metric's name over its columns, at most
STATS = ("last", "min", "max")
NOT_SET = "(not set)"
NONE = ""                # the group-by choice that groups nothing
REFRESH_HZ = 2
DEFAULT_METRICS = 4      # metrics shown when neither the charts nor PREFERRED name any

Rgb = tuple[int, int, int]
Summary = tuple["float | None", "float | None", "float | None"]   # (last, min, max)


# ============================================================================ the model (pure)
@dataclass(frozen=True)
class RunSummary:
    """What the table knows of one run: its index in the watch app (its chart colour), its name,
    the settings of its start record ({} before one), its latest step, and per metric
    (last, min, max)."""
    index: int
    name: str
    config: dict = field(default_factory=dict)
    step: float | None = None
    metrics: dict[str, Summary] = field(default_factory=dict)


@dataclass(frozen=True)
class Sort:
    """The sort column ("name", "step", or "METRIC:STAT" as `column_key` makes) and direction."""
    column: str = "name"
    descending: bool = False


@dataclass(frozen=True)
class Row:
    """One table row: a group's heading (run None) or a run (run = its index). `cells` are plain
    strings, one per column, already cut to fit; group and member name the colour family (group
    None when the table is not grouped)."""
    key: str
    cells: tuple[str, ...]
    run: int | None = None
    group: int | None = None
    member: int = 0
    collapsed: bool = False


def column_key(metric: str, stat: str) -> str:
    return f"{metric}:{stat}"


def column_keys(metrics: list[str]) -> list[str]:
    """Every column's key, in order: name, step, then each metric's last, min and max."""
    return ["name", "step"] + [column_key(m, s) for m in metrics for s in STATS]


def summarise(series: Series | None) -> Summary:
    """(last, min, max) of a curve: exact, of every value the Series was given (not of the points
    it keeps, which average a lone spike away)."""
    if series is None or series.latest is None:
        return (None, None, None)
    return (series.latest, series.low, series.high)


def matches(name: str, pattern: str) -> bool:
    """A name part (case-insensitive), or a glob when the pattern has * ? or [ (case-insensitive
    too, and the whole name must match). An empty pattern matches everything."""
    pattern = pattern.strip()
    if not pattern:
        return True
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(name.casefold(), pattern.casefold())
    return pattern.casefold() in name.casefold()


def group_value(config: dict | None, key: str) -> tuple[str, str, tuple]:
    """A run's group for a setting: (its row key, its label, its place among groups). Numbers go
    first in numeric order (1 and 1.0 are one group), then strings, then true/false, null, lists
    and objects, then runs whose start record lacks the setting, under NOT_SET."""
    if not isinstance(config, dict) or key not in config:
        return "group:-", NOT_SET, (4, 0.0, "")
    v = config[key]
    if isinstance(v, bool):
        label = "true" if v else "false"
        return f"group:b:{label}", label, (2, 0.0, label)
    if isinstance(v, (int, float)):
        label = number_label(v)
        try:
            order = float(v)
        except OverflowError:   # an int too large for a float
            order = math.inf if v > 0 else -math.inf
        if math.isnan(order):
            return "group:n:nan", "nan", (0, math.inf, "nan")   # after every number
        return f"group:n:{label}", label, (0, order, label)
    if isinstance(v, str):
        return f"group:s:{v}", v, (1, 0.0, v.casefold() + "\0" + v)
    try:
        label = json.dumps(v, sort_keys=True, ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):
        label = text.clean(v)
    return f"group:j:{label}", label, (3, 0.0, label)


def number_label(v: int | float) -> str:
    """A setting's number as the group's label: 1.0 reads 1, 0.001 stays 0.001."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def groups_of(runs: list[RunSummary], key: str) -> list[tuple[str, str, list[RunSummary]]]:
    """The runs grouped by a setting: (row key, label, members by index), groups in value order."""
    found: dict[str, tuple[str, tuple, list[RunSummary]]] = {}
    for r in sorted(runs, key=lambda r: r.index):
        gkey, label, order = group_value(r.config, key)
        found.setdefault(gkey, (label, order, []))[2].append(r)
    ordered = sorted(found.items(), key=lambda kv: kv[1][1])
    return [(gkey, label, members) for gkey, (label, _, members) in ordered]


def group_colours(runs: list[RunSummary], key: str | None,
                  family: Callable[[int, int], Rgb]) -> dict[int, Rgb] | None:
    """Each run's colour (by run index) when grouped by `key`: family(group, member), groups and
    members counted over every run (the filter does not change colours); None when not grouped."""
    if not key:
        return None
    return {r.index: family(g, m) for g, (_, _, members) in enumerate(groups_of(runs, key))
            for m, r in enumerate(members)}


def sort_value(run: RunSummary, column: str) -> Any:
    """The value a column sorts by (None where the run has none)."""
    if column == "name":
        return (run.name.casefold(), run.name)
    if column == "step":
        return run.step
    metric, _, stat = column.rpartition(":")
    summary = run.metrics.get(metric)
    if summary is None or stat not in STATS:
        return None
    return summary[STATS.index(stat)]


def sort_runs(runs: Iterable[RunSummary], sort: Sort) -> list[RunSummary]:
    """Runs by the sort column, either way; runs without a value always last; ties by index."""
    by_index = sorted(runs, key=lambda r: r.index)
    have = [r for r in by_index if sort_value(r, sort.column) is not None]
    missing = [r for r in by_index if sort_value(r, sort.column) is None]
    return sorted(have, key=lambda r: sort_value(r, sort.column), reverse=sort.descending) + \
        missing


def run_cells(run: RunSummary, metrics: list[str], indent: bool) -> tuple[str, ...]:
    step = "—" if run.step is None else (str(int(run.step)) if float(run.step).is_integer()
                                         else fmt_value(run.step))
    name = ("  " if indent else "") + text.one_line(run.name, NAME_CELLS)
    values = [fmt_value(v) for m in metrics
              for v in run.metrics.get(m, (None, None, None))]
    return (name, step, *values)


def heading_cell(key: str | None, label: str, runs: int, folded: bool, cells: int) -> str:
    """A group's heading row in the run column, in at most `cells` cells: "▼ key = value · n runs"
    ("▶" when folded), or "▼ value · n runs" with no key (None; the title names it), the value cut
    with … where it is too long."""
    mark = "▶" if folded else "▼"
    label = text.one_line(label, GROUP_CELLS)
    if key is not None:
        label = f"{text.one_line(key, GROUP_CELLS)} = {label}"
    count = f" · {runs} run{'s' if runs != 1 else ''}"
    if text.width(f"{mark} {label}{count}") <= cells:
        return f"{mark} {label}{count}"
    if cells - text.width(count) >= 4:
        return text.cut(f"{mark} {label}", cells - text.width(count)) + count
    return text.cut(f"{mark} {label}{count}", cells)


def table_rows(runs: list[RunSummary], metrics: list[str], sort: Sort = Sort(),
               filter: str = "", group_by: str | None = None,
               collapsed: Iterable[str] = ()) -> list[Row]:
    """The table's rows: runs whose name matches `filter` (see `matches`), sorted; grouped by the
    setting `group_by` (None or "" for none) under a heading row per group that has a matching
    run ("▼ key = value · n runs", "▶" when its row key is in `collapsed`: its runs are not
    listed; "▼ value · n runs" in every heading where one would be wider than the run names, and
    cut with … to their width, HEADING_CELLS at least). A sort column that is not in the table
    sorts by name, A to Z."""
    if sort.column not in column_keys(metrics):
        sort = Sort()
    blank = ("",) * (1 + 3 * len(metrics))
    if not group_by:
        shown = [r for r in runs if matches(r.name, filter)]
        return [Row(f"run:{r.index}", run_cells(r, metrics, False), run=r.index, member=r.index)
                for r in sort_runs(shown, sort)]
    closed = set(collapsed)
    rows = []
    # the run column is as wide as the names of the runs shown (folded or not) need: a group's
    # heading is fitted to it, so that the metric columns keep the room
    room = max([HEADING_CELLS] + [text.width(run_cells(r, [], True)[0]) for r in runs
                                  if matches(r.name, filter)])
    groups = [(g, gkey, label, members, [r for r in members if matches(r.name, filter)])
              for g, (gkey, label, members) in enumerate(groups_of(runs, group_by))]
    groups = [group for group in groups if group[4]]   # (a group with no run shown: no heading)
    # "key = value" in every heading where each fits, else the value alone in every one
    key = group_by if all(text.width(heading_cell(group_by, label, len(shown), False, 10 ** 6))
                          <= room for _, _, label, _, shown in groups) else None
    for g, gkey, label, members, shown in groups:
        member_of = {r.index: m for m, r in enumerate(members)}
        fold = gkey in closed
        rows.append(Row(gkey, (heading_cell(key, label, len(shown), fold, room), *blank),
                        group=g, collapsed=fold))
        if not fold:
            rows.extend(Row(f"run:{r.index}", run_cells(r, metrics, True), run=r.index, group=g,
                            member=member_of[r.index]) for r in sort_runs(shown, sort))
    return rows


def column_widths(labels: list[str], rows: list[Row]) -> list[int]:
    """Each column's width in cells: its widest header line or cell."""
    return [max([text.width(line) for line in label.split("\n")]
                + [text.width(r.cells[j]) for r in rows])
            for j, label in enumerate(labels)]


def config_keys(runs: list[RunSummary]) -> list[str]:
    """Settings to group by: those whose value differs between runs first, then the rest, each
    part in name order."""
    keys = sorted({k for r in runs for k in (r.config or {})})
    varied = [k for k in keys if len({group_value(r.config, k)[0] for r in runs}) > 1]
    return varied + [k for k in keys if k not in varied]


def next_sort(sort: Sort, columns: list[str], delta: int) -> Sort:
    """The sort on the next (delta 1) or previous (-1) column, same direction."""
    i = columns.index(sort.column) if sort.column in columns else 0
    return Sort(columns[(i + delta) % len(columns)], sort.descending)


def clicked_sort(sort: Sort, column: str) -> Sort:
    """A header clicked: that column ascending, or the other way when it was already the sort."""
    if column == sort.column:
        return Sort(column, not sort.descending)
    return Sort(column, False)


def default_metrics(every: list[str], charted: list[str] | None, preferred: list[str]) -> list[str]:
    """The table's metrics before any are chosen: what the charts were told to show (--metric or
    the picker), else the familiar ones the runs have, else the first few."""
    if charted:
        return [m for m in charted if m in every]
    return [m for m in preferred if m in every] or every[:DEFAULT_METRICS]


# ============================================================================ reading the watch app
def watch_charts(app):
    """The watch dashboard's charts (on its own screen, the first on the stack), or None."""
    found = app.screen_stack[0].query(RunCharts) if app.screen_stack else None
    return found.first() if found else None


def watch_runs(app, charts, metrics: list[str], cache: dict | None = None) -> list[RunSummary]:
    """Every run the watch app has heard from, with its charts' curves of `metrics` summarised
    (through `cache`, where given: a curve is summarised again only when it has changed)."""
    out = []
    for i, run in enumerate(app.runs):
        if not run:
            continue
        data = charts.runs[i] if i < len(charts.runs) else None
        series = data.series if data is not None else {}
        summaries = {}
        for m in metrics:
            s = series.get(m)
            if s is None:
                continue
            stamp = (id(s), len(s.values), s.stride, s.latest_step, s.latest)
            known = cache.get((i, m)) if cache is not None else None
            if known is None or known[0] != stamp:
                known = (stamp, summarise(s))
                if cache is not None:
                    cache[(i, m)] = known
            summaries[m] = known[1]
        out.append(RunSummary(i, run.get("name") or "", run.get("config") or {}, run.get("step"),
                              summaries))
    return out


def rgb(c: Rgb) -> str:
    return f"rgb({c[0]},{c[1]},{c[2]})"


# ============================================================================ the screen
class RunTableScreen(ModalScreen[None]):
    """The run table over the watch dashboard (esc goes back). Modal, so only its own keys are
    live (and in its footer): the dashboard's c, space, m ... act on what it covers."""

    DEFAULT_CSS = """
    RunTableScreen { layout: vertical; background: $background; }
    RunTableScreen #runs-title { height: 1; padding: 0 1; }
    RunTableScreen #runs-bar { height: 3; }
    RunTableScreen #runs-filter { width: 1fr; }
    RunTableScreen #runs-group { width: 36; }
    RunTableScreen #runs-table { height: 1fr; }
    """
    BINDINGS = [   # (short: the footer shows them all at 80 columns)
        Binding("escape,R", "close", "Back"),
        Binding("s", "sort(1)", "Sort"),
        Binding("S", "sort(-1)", "Sort: previous column", show=False),
        Binding("r", "reverse", "Reverse"),
        Binding("slash", "filter", "Filter"),
        Binding("g", "group(1)", "Group by"),
        Binding("G", "group(-1)", "Group by: previous setting", show=False),
        Binding("space", "toggle", "Fold group"),
        Binding("m", "metrics", "Metrics"),
    ]

    def __init__(self, family: Callable[[int, int], Rgb] | None = None,
                 runs: Callable[[], list[RunSummary]] | None = None) -> None:
        """`family(group, member)` colours grouped runs (charts.colour_family by default);
        `runs()` reads the runs (the watch app's, by default)."""
        super().__init__()
        self.family = family or colour_family
        self.read_runs = runs
        self.sort = Sort()
        self.filter = ""
        self.group_by: str | None = None
        self.collapsed: set[str] = set()
        self.metrics: list[str] | None = None     # None: default_metrics
        self.runs: list[RunSummary] = []
        self.every: list[str] = []                # every metric the runs have
        self.summaries: dict = {}                 # watch_runs' cache
        self.rows: list[Row] = []
        self.keys: list[str] = []                 # the group-by choices offered
        self.shown: tuple | None = None           # what the table was last built from
        self.colours: dict[int, Rgb] | None | str = "unset"   # set on the charts at once
        self.drawn: tuple | None = None           # (columns, rows with styles) on screen
        self.charts = None                        # the dashboard's RunCharts (None: none)

    def compose(self):
        yield Static("", id="runs-title")
        with Horizontal(id="runs-bar"):
            yield Input(placeholder="filter runs: a name part or a glob (lr-*)", id="runs-filter")
            yield Select([(Text("group by: none"), NONE)], value=NONE, allow_blank=False,
                         id="runs-group")
        yield DataTable(id="runs-table", header_height=2, cursor_type="row", zebra_stripes=True,
                        fixed_columns=1)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.call_after_refresh(self.refresh_table)   # (the bar's Input and Select mount later)
        self.set_interval(1 / REFRESH_HZ, self.refresh_table)

    # ------------------------------------------------------------------ data
    def _read(self) -> tuple[list[RunSummary], list[str]]:
        """The runs (each with the table's metrics summarised) and every metric they have, the
        familiar ones first."""
        if self.read_runs is not None:
            runs = self.read_runs()
            names = {m for r in runs for m in r.metrics}
            return runs, [m for m in PREFERRED if m in names] + sorted(names - set(PREFERRED))
        if self.charts is None:   # the app is shutting down
            return [], []
        every = self.charts.all_metrics()
        runs = watch_runs(self.app, self.charts, self.table_metrics(every), self.summaries)
        return runs, every

    def table_metrics(self, every: list[str] | None = None) -> list[str]:
        """The metrics the table shows: those chosen with m, else default_metrics."""
        every = self.every if every is None else every
        if self.metrics is not None:
            return [m for m in self.metrics if m in every]
        return default_metrics(every, self._charted(), PREFERRED)

    def _charted(self) -> list[str] | None:
        """The metrics the charts were told to show (the picker's choice, or --metric), if any."""
        charts = self.charts
        if charts is None or (charts.chosen is None and not charts.patterns):
            return None
        return charts.shown_metrics()

    def _charts(self):
        return None if self.read_runs is not None else watch_charts(self.app)

    # ------------------------------------------------------------------ drawing
    def refresh_table(self) -> None:
        """Rebuild the rows from the runs as they are now; redraw only if anything changed."""
        if self.charts is None or not self.charts.is_attached:   # (a query walks the dashboard)
            self.charts = self._charts()
        if not self.is_current and self.shown is not None:
            # out of sight (closed, or the picker on top): only a new run's colour family
            if self.group_by and self.charts is not None:
                self.runs = watch_runs(self.app, self.charts, [])
                self._colour()
            return
        self.runs, self.every = self._read()
        self._offer_keys()
        metrics = self.table_metrics()
        if self.sort.column not in column_keys(metrics):   # its metric went: by name
            self.sort = Sort()
        self.rows = table_rows(self.runs, metrics, self.sort, self.filter, self.group_by,
                               self.collapsed)
        self._colour()
        state = (tuple(metrics), self.sort, tuple(self.rows), tuple(sorted(
            (self.colours or {}).items())))   # (colours: never "unset" after _colour)
        if state == self.shown:
            return
        self.shown = state
        self._draw(metrics)

    def _offer_keys(self) -> None:
        keys = config_keys(self.runs)
        found = self.query("#runs-group")
        if keys == self.keys or not found:   # (not mounted yet: the next refresh offers them)
            return
        self.keys = keys
        select = found.first(Select)
        with self.prevent(Select.Changed):
            select.set_options([(Text("group by: none"), NONE)] + [
                (Text("group by: " + text.one_line(k, 24)), k) for k in keys])
            select.value = self.group_by if self.group_by in keys else NONE

    def _colour(self) -> None:
        colours = group_colours(self.runs, self.group_by, self.family)
        if colours != self.colours:
            self.colours = colours
            if self.charts is not None:
                self.charts.set_colours(colours)

    def _draw(self, metrics: list[str]) -> None:
        """Update the cells that changed where the columns (and their widths) and rows are the
        same (the cursor and scroll stay put as runs grow); rebuild the table otherwise, the cursor
        kept on its row."""
        table = self.query_one(DataTable)
        keys = column_keys(metrics)
        labels = [self._label(key) for key in keys]
        # Widths are set, not measured by the table: it measures new rows only when idle, and a
        # frame drawn before that (as a Select's list closes) stayed cached at the headers' widths.
        columns = list(zip(keys, labels, column_widths([label.plain for label in labels],
                                                       self.rows)))
        rows = [(row, self._row_style(row)) for row in self.rows]
        if self.drawn is not None and self.drawn[0] == columns and \
                [r.key for r, _ in self.drawn[1]] == [r.key for r, _ in rows]:
            for (old, old_style), (row, style) in zip(self.drawn[1], rows):
                if (old, old_style) == (row, style):
                    continue
                cells = self._cells(row, style)
                for j, (key, _, _) in enumerate(columns):
                    if old.cells[j] != row.cells[j] or (j == 0 and old_style != style):
                        table.update_cell(row.key, key, cells[j])
        else:
            at, scroll_x = table.cursor_row, table.scroll_x
            old_key = self._row_key(at)
            table.clear(columns=True)
            for key, label, width in columns:
                table.add_column(label, width=width, key=key)
            for row, style in rows:
                table.add_row(*self._cells(row, style), key=row.key)
            keys = [r.key for r in self.rows]
            if keys:
                table.move_cursor(row=keys.index(old_key) if old_key in keys
                                  else min(at, len(keys) - 1))
            table.call_after_refresh(table.scroll_to, x=scroll_x, animate=False)
        self.drawn = (columns, rows)
        self._title(metrics)

    @staticmethod
    def _cells(row: Row, style: str) -> list[Text]:
        cells = [Text(c, no_wrap=True) for c in row.cells]
        if style:
            cells[0].stylize(style)
        return cells

    def _row_style(self, row: Row) -> str:
        if row.run is None:
            return f"b {rgb(self.family(row.group or 0, 0))}"
        if isinstance(self.colours, dict) and row.run in self.colours:
            return rgb(self.colours[row.run])
        # the run's colour on the charts, as their legend shows it
        return rgb(self.charts.colour_of(row.run) if self.charts is not None else colour(row.run))

    def _label(self, key: str) -> Text:
        arrow = (" ▼" if self.sort.descending else " ▲") if key == self.sort.column else ""
        if key in ("name", "step"):
            return Text("\n" + ("run" if key == "name" else "step") + arrow)
        metric, _, stat = key.rpartition(":")
        top = text.one_line(metric, METRIC_CELLS) if stat == "last" else ""
        return Text(f"{top}\n{stat}{arrow}", style="b" if stat == "last" else "")

    def _title(self, metrics: list[str]) -> None:
        shown = sum(1 for r in self.runs if matches(r.name, self.filter))
        arrow = "▼" if self.sort.descending else "▲"
        metric, _, stat = self.sort.column.rpartition(":")
        sort = {"name": "run", "step": "step"}.get(self.sort.column, f"{metric} {stat}")
        parts: list = [("runs", "b"), f" · {len(self.runs)} runs"]
        if self.filter.strip():
            parts.append(f" · {shown} match")
        parts.append(f" · {len(metrics)} metrics · sorted by {text.one_line(sort, 60)} {arrow}")
        if self.group_by:
            parts.append(f" · grouped by {text.one_line(self.group_by, 40)}")
        self.query_one("#runs-title", Static).update(text.assemble(*parts))

    def _row_key(self, index: int) -> str | None:
        table = self.query_one(DataTable)
        if not 0 <= index < table.row_count:
            return None
        return table.coordinate_to_cell_key((index, 0)).row_key.value

    def _cursor_row(self) -> Row | None:
        key = self._row_key(self.query_one(DataTable).cursor_row)
        return next((r for r in self.rows if r.key == key), None)

    # ------------------------------------------------------------------ keys and events
    def action_close(self) -> None:
        self.dismiss()

    def action_sort(self, delta: int) -> None:
        self.sort = next_sort(self.sort, column_keys(self.table_metrics()), delta)
        self.refresh_table()

    def action_reverse(self) -> None:
        self.sort = Sort(self.sort.column, not self.sort.descending)
        self.refresh_table()

    def action_group(self, delta: int) -> None:
        choices = [NONE] + self.keys
        i = choices.index(self.group_by) if self.group_by in choices else 0
        self.group(choices[(i + delta) % len(choices)])

    def group(self, key: str | None) -> None:
        """Group the runs by a setting (None or "": ungroup); at once, so that keys pressed
        quickly each move on from the last (the list's Changed message comes later)."""
        self.group_by, self.collapsed = key or None, set()
        select = self.query_one("#runs-group", Select)
        with self.prevent(Select.Changed):
            select.value = key or NONE
        self.refresh_table()

    def action_filter(self) -> None:
        self.query_one("#runs-filter", Input).focus()

    def action_toggle(self) -> None:
        row = self._cursor_row()
        if row is not None and row.run is None:
            self.collapsed ^= {row.key}
            self.refresh_table()

    def action_metrics(self) -> None:
        from grpotui.tui.screens.metrics import MetricsScreen

        every = self.every
        if not every:
            self.notify("No metrics read yet.")
            return

        def chosen(result: list[str] | None) -> None:
            if result:
                self.metrics = result
                self.refresh_table()

        self.app.push_screen(MetricsScreen(every, self.table_metrics(), "Metrics in the run table"),
                             chosen)

    @on(Input.Changed, "#runs-filter")
    def _filtered(self, event: Input.Changed) -> None:
        self.filter = event.value
        self.refresh_table()

    @on(Input.Submitted, "#runs-filter")
    def _to_table(self) -> None:
        self.query_one(DataTable).focus()

    @on(Select.Changed, "#runs-group")
    def _grouped(self, event: Select.Changed) -> None:
        key = event.value if isinstance(event.value, str) and event.value else None
        if key != self.group_by:
            self.group(key)
        self.query_one(DataTable).focus()   # (from the list: back to the rows)

    @on(DataTable.HeaderSelected)
    def _header(self, event: DataTable.HeaderSelected) -> None:
        self.sort = clicked_sort(self.sort, str(event.column_key.value))
        self.refresh_table()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        row = next((r for r in self.rows if r.key == event.row_key.value), None)
        if row is None:
            return
        if row.run is None:
            self.action_toggle()
            return
        if self.read_runs is None:   # the watch app's runs (not a table given its own)
            self.app.select_run(row.run)
            self.notify(f"{self.runs_by_index()[row.run].name}: selected (its groups and settings "
                        f"show on the dashboard)")

    def runs_by_index(self) -> dict[int, RunSummary]:
        return {r.index: r for r in self.runs}
