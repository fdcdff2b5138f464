"""The sampled groups of the latest rollout: each prompt, its target, and its G responses.

Response tokens are coloured by whether they sit in the right position; deltas by sign; a group whose
rewards are all equal is flagged, because its deltas (centered or normalized) are all zero and it
carries no learning signal. With many prompts, `[` and `]` page through them.
"""

from __future__ import annotations

import math

from rich.markup import escape
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static


def _tokens(tokens: list[int], target: list[int] | None = None, width: int = 1) -> str:
    if target is None:
        return " ".join(f"{t:>{width}}" for t in tokens)
    return " ".join(f"[$success]{t:>{width}}[/]" if t == w else f"[$error]{t:>{width}}[/]"
                    for t, w in zip(tokens, target))


def _signed(x: float) -> str:
    style = "$success" if x > 1e-9 else "$error" if x < -1e-9 else "$text-muted"
    return f"[{style}]{x:+6.2f}[/]"


def is_text(groups: dict) -> bool:
    """Whether the groups are a text model's (prompts and responses as strings, from TRL)."""
    return bool(groups["prompts"]) and isinstance(groups["prompts"][0], str)


def token_width(groups: dict) -> int:
    """Columns for one token: a scan of every prompt, so done once per rollout shown."""
    if is_text(groups):
        return 1
    return max((len(str(t)) for p in groups["prompts"] for t in p), default=1)


def _one_line(text: str, columns: int) -> str:
    """Text on one line of at most `columns` characters (whitespace collapsed, … where cut)."""
    flat = " ".join(str(text).split())
    if len(flat) > columns:
        flat = flat[:max(1, columns - 1)] + "…"
    return escape(flat)


def _render_text(groups: dict, first: int, count: int, columns: int) -> str:
    """Text groups (a language model's): each prompt on one line, then its statistics, then each
    response cut to fit beside its reward, delta and ratio."""
    lines = []
    ratios = groups.get("ratios")
    tail = 23 + (9 if ratios else 0)   # "  r  1.00  Δ +0.50" and "  ρ 1.000"
    for b in range(first, min(first + count, len(groups["prompts"]))):
        rewards = groups["rewards"][b]
        g = len(rewards)
        mean = sum(rewards) / g if g else 0.0
        std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / (g - 1)) if g > 1 else 0.0
        flag = "  [b $warning]all equal: no signal[/]" if g and max(rewards) == min(rewards) else ""
        lines.append(f"[b]#{b + 1} {_one_line(groups['prompts'][b], columns - len(str(b + 1)) - 2)}[/]")
        lines.append(f"   mean {mean:.2f} std {std:.2f}{flag}")
        for i, resp in enumerate(groups["responses"][b]):
            ratio = f"  ρ {ratios[b][i]:5.3f}" if ratios else ""
            lines.append(f"  {_one_line(resp, max(8, columns - tail))}  r {rewards[i]:5.2f}  "
                         f"Δ{_signed(groups['deltas'][b][i])}{ratio}")
    return "\n".join(lines)


def is_compact(n: int, width: int, columns: int) -> bool:
    """Whether a response line of n tokens with its labels and ratio would not fit in `columns`."""
    return columns < 2 + n * (width + 1) + 34


def lines_per_group(g: int, compact: bool) -> int:
    """At most: G responses, plus the header (wide: 1 line, and 1 for a no-signal flag that does
    not fit beside it; compact: prompt, target and statistics)."""
    return g + (3 if compact else 2)


def render_groups(groups: dict, first: int, count: int, columns: int = 200,
                  width: int | None = None) -> str:
    """Markup for prompts first..first+count-1 of a groups dict (see worker._groups_dict).

    Header: prompt → target, the group's mean and std. Each response: its tokens (right position in
    the success colour, wrong in the error colour), r = reward, Δ = delta, ρ = ratio after the last
    inner step, ✓ = exact match. When the full line would not fit in `columns`, the labels and the
    ratio go, and the group's statistics move to a line of their own. `width`: token_width(groups),
    when the caller has it already."""
    if is_text(groups):
        return _render_text(groups, first, count, columns)
    lines = []
    width = width or token_width(groups)
    compact = is_compact(len(groups["prompts"][0]), width, columns)
    targets = groups.get("targets")
    ratios = groups.get("ratios")
    for b in range(first, min(first + count, len(groups["prompts"]))):
        rewards = groups["rewards"][b]
        g = len(rewards)
        mean = sum(rewards) / g
        std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / (g - 1)) if g > 1 else 0.0
        equal = max(rewards) == min(rewards)
        target = targets[b] if targets else None
        prompt = _tokens(groups["prompts"][b], width=width)
        goal = _tokens(target, width=width) if target is not None else "?"
        stats = f"mean {mean:.2f} std {std:.2f}"
        # The flag for a group with no signal goes where it fits whole, never split by wrapping:
        # after the statistics, else on a line of its own (wide) or shortened (compact).
        if compact:
            fits = len(f"   {stats}  all equal: no signal") <= columns
            flag = "all equal: no signal" if fits else "no signal"
            lines += [f"[b]#{b + 1} {prompt}[/]", f"[b] → {goal}[/]",
                      f"   {stats}" + (f"  [b $warning]{flag}[/]" if equal else "")]
        else:
            plain = f"#{b + 1} {prompt} → {goal}  {stats}"
            header = f"[b]#{b + 1} {prompt} → {goal}[/]  {stats}"
            if not equal:
                lines.append(header)
            elif len(plain) + len("  all equal: no signal") <= columns:
                lines.append(f"{header}  [b $warning]all equal: no signal[/]")
            else:
                lines += [header, "  [b $warning]all equal: no signal[/]"]
        for i, resp in enumerate(groups["responses"][b]):
            mark = "[b $success]✓[/]" if target is not None and resp == target else ""
            delta = _signed(groups["deltas"][b][i])
            if compact:
                lines.append(f" {_tokens(resp, target, width)} {rewards[i]:5.2f}{delta} {mark}")
            else:
                lines.append(f"  {_tokens(resp, target, width)}  r {rewards[i]:5.2f}  "
                             f"Δ{delta}" + (f"  ρ {ratios[b][i]:5.3f}" if ratios else "")
                             + f" {mark}")
    return "\n".join(lines)


class GroupsView(VerticalScroll, can_focus=True):
    """Pages of groups; shows only what fits, so a rollout of 4,096 prompts costs what 4 do."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.groups: dict | None = None
        self.width = 1  # token_width(self.groups)
        self.page = 0
        self.rollout = 0
        self.run = ""     # the watched run's name (empty when training)

    def compose(self):
        yield Static("waiting for the first rollout…", id="groups-body")

    def per_page(self) -> int:
        if not self.groups:
            return 1
        compact = not is_text(self.groups) and is_compact(
            len(self.groups["prompts"][0]), self.width, self.scrollable_content_region.width)
        per_group = lines_per_group(len(self.groups["responses"][0]), compact)
        return max(1, (self.size.height or 20) // per_group)

    def show(self, groups: dict, rollout: int, run: str = "") -> None:
        self.groups, self.rollout, self.width = groups, rollout, token_width(groups)
        self.run = run
        self.refresh_body()

    def show_message(self, text: str, title: str = "groups") -> None:
        """No groups to show (a watched file without groups records): say why instead."""
        self.groups = None
        self.border_title, self.border_subtitle = title, ""
        self.query_one("#groups-body", Static).update(Content.from_markup(text), layout=False)

    def turn_page(self, delta: int) -> None:
        if not self.groups:
            return
        pages = max(1, math.ceil(len(self.groups["prompts"]) / self.per_page()))
        self.page = (self.page + delta) % pages
        self.refresh_body()

    def refresh_body(self) -> None:
        if not self.groups:
            return
        n_prompts = len(self.groups["prompts"])
        per = self.per_page()
        pages = max(1, math.ceil(n_prompts / per))
        self.page = min(self.page, pages - 1)
        first = self.page * per
        title = f"groups · {self.run + ' · ' if self.run else ''}rollout {self.rollout}"
        subtitle = (f"prompts {first + 1}-{min(first + per, n_prompts)} of {n_prompts}"
                    + ("  [ ] page" if pages > 1 else ""))
        if title != self.border_title:
            self.border_title = title
        if subtitle != self.border_subtitle:
            self.border_subtitle = subtitle
        # The body fills the panel (height: 1fr in app.tcss) and a page holds only what fits, so a
        # new rollout repaints the body without re-laying-out the screen.
        self.query_one("#groups-body", Static).update(Content.from_markup(
            render_groups(self.groups, first, per, self.scrollable_content_region.width,
                          self.width)),
            layout=False)

    def on_resize(self) -> None:
        self.refresh_body()
