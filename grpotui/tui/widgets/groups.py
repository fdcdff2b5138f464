"""The sampled groups of the latest rollout: each prompt, its target, and its G responses.

Response tokens are coloured by whether they sit in the right position, or, with per-token credit, by
the sign and size of their own delta; deltas by sign; a group whose rewards are all equal is flagged,
because its deltas (centered or normalized) are all zero and it carries no learning signal. With a
reward mix each response shows its parts. With many prompts, `[` and `]` page through them.

An autoregressive policy's responses can be shown as they were written: token by token, each token with
its probability under the policy that sampled it (in small raised digits, a percentage: 13⁹² is token
13 drawn with probability 0.92, 13<¹ with less than 1%), and the rewards and the group's statistics
only once the responses are complete. A token whose delta is zero is grey (the theme's muted
foreground, dimmer than text).
"""

from __future__ import annotations

import math
import time

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from grpotui.tui import text
from grpotui.tui.text import assemble

RAISED = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
SHORT = {"position_match": "pos", "inclusion_ordering": "incl", "exact_match": "exact"}
# a mix's parts where the full names do not fit (120 columns or fewer): `(p3 e1)`
TINY = {"position_match": "p", "inclusion_ordering": "i", "exact_match": "e", "answer_slots": "a"}
END = ("∎", "$foreground-muted")    # the response wrote its EOS here
CUT = ("✂", "b $warning")     # no EOS by max_completion_length: truncated
TOKEN_CELLS = 12    # a token shown in at most this many cells (text tokens from a file can be long)

# Everything here is built as Content from plain pieces and our own styles: prompts, tokens, text
# completions and reward names can come from a watched file or a model, so none of it is markup.


def _token(t, width: int) -> str:
    """One token right-aligned in `width` cells (a text token cleaned and cut)."""
    s = text.one_line(t, TOKEN_CELLS) if isinstance(t, str) else str(t)
    return " " * max(0, width - text.width(s)) + s


def _tokens(tokens: list, target: list | None = None, width: int = 1) -> list:
    parts: list = []
    for j, t in enumerate(tokens):
        if j:
            parts.append(" ")
        if target is None:
            parts.append(_token(t, width))
        else:
            w = target[j] if j < len(target) else None
            parts.append((_token(t, width), "$success" if t == w else "$error"))
    return parts


def _delta_style(d: float) -> str:
    """A token's colour under per-token credit: its delta's sign, bold when |delta| >= 1."""
    if abs(d) < 1e-9:
        return "$foreground-muted"
    return ("b " if abs(d) >= 1 else "") + ("$success" if d > 0 else "$error")


BELOW_1 = "<¹"   # a probability under 0.5%: "less than 1 percent", never a 0 that reads "impossible"


def probability(p: float) -> str:
    """A probability as two raised digits of percent (99 stands for 99% or more; <¹ for under
    0.5%, which would round to 00)."""
    percent = min(99, round(p * 100))
    return BELOW_1 if percent < 1 else f"{percent:02d}".translate(RAISED)


def _response(groups: dict, b: int, i: int, width: int, reveal: int | None, probs: bool) -> list:
    """One response's tokens: the first `reveal` of them (all when None), the rest as dots."""
    tokens = groups["responses"][b][i]
    target = groups["targets"][b] if groups.get("targets") else None
    token_deltas = groups.get("position_deltas")
    token_probs = groups.get("token_probs")
    shown = len(tokens) if reveal is None else reveal
    parts: list = []
    for t, tok in enumerate(tokens):
        if t:
            parts.append(" ")
        if t >= shown:
            parts.append((f"{'·':>{width}}{'  ' if probs else ''}", "$foreground-muted"))
            continue
        style = (_delta_style(token_deltas[b][i][t]) if token_deltas
                 else "$foreground" if target is None
                 else "$success" if t < len(target) and tok == target[t] else "$error")
        parts.append((_token(tok, width), style))
        if probs and token_probs:
            parts.append((probability(token_probs[b][i][t]), "$foreground-muted"))
    stopped = groups.get("stopped")
    if stopped and shown >= len(tokens):   # variable length: where it ended
        parts += [" ", END if stopped[b][i] else CUT]
    return parts


def _short(name: str) -> str:
    return SHORT.get(name, text.one_line(name, 16))


def _tiny(name: str) -> str:
    """A reward's name in its letter (the help screen says which): p, i, e, a; others cut to 3."""
    return TINY.get(name, text.one_line(name, 3))


def _parts(groups: dict, b: int, i: int, style: str = "full") -> str:
    """A reward mix's parts for one response: `(pos 3 exact 1)` (full), `(p3 e1)` (short) or
    nothing (none)."""
    comps = groups.get("components")
    if not comps or style == "none":
        return ""
    if style == "short":
        return " (" + " ".join(f"{_tiny(k)}{v[b][i]:g}" for k, v in comps.items()) + ")"
    return " (" + " ".join(f"{_short(k)} {v[b][i]:g}" for k, v in comps.items()) + ")"


def _value_cells(table: list) -> int:
    """Cells the widest of a part's values takes as `:g` writes it (the longest, when some are
    not whole numbers)."""
    values = [v for row in table for v in row]
    if not values:
        return 1
    if all(float(v).is_integer() for v in values):
        return max(len(f"{min(values):g}"), len(f"{max(values):g}"))
    return max(len(f"{v:g}") for v in values)


def parts_width(groups: dict, style: str) -> int:
    """Columns a response line's mix parts take at most: ` (pos 3 exact 1)` or ` (p3 e1)`."""
    comps = groups.get("components") or {}
    if not comps or style == "none":
        return 0
    name = _tiny if style == "short" else (lambda k: _short(k) + " ")
    return 3 + sum(text.width(name(k)) + _value_cells(v) for k, v in comps.items()) + len(comps) - 1


def _signed(x: float) -> tuple[str, str]:
    style = "$success" if x > 1e-9 else "$error" if x < -1e-9 else "$foreground-muted"
    return (f"{x:+6.2f}", style)


def positions(groups: dict) -> int:
    """Token columns a response takes: the prompt's n, or with variable length (a "stopped"
    table) the longest response plus its end mark."""
    if "stopped" not in groups:
        return len(groups["prompts"][0])
    return max(len(r) for row in groups["responses"] for r in row) + 1


def token_cells(groups: dict, width: int, probs: bool) -> int:
    """Cells a response's tokens take at most, its end mark included: `positions` columns of
    `width` cells each (plus 2 for a probability), one apart."""
    return positions(groups) * (width + 1 + (2 if probs else 0)) - 1


def is_text(groups: dict) -> bool:
    """Whether the groups are a text model's (prompts and responses as strings, from TRL)."""
    return bool(groups["prompts"]) and isinstance(groups["prompts"][0], str)


def token_width(groups: dict) -> int:
    """Cells for one token: a scan of every prompt, so done once per rollout shown."""
    if is_text(groups):
        return 1
    return max((text.width(_token(t, 1)) for p in groups["prompts"] for t in p), default=1)


def _one_line(value, columns: int) -> str:
    """Text on one line of at most `columns` terminal cells (whitespace collapsed, … where cut)."""
    return text.one_line(value, max(1, columns))


def _render_text(groups: dict, first: int, count: int, columns: int) -> Content:
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
        flag = [("  all equal: no signal", "b $warning")] if g and max(rewards) == min(rewards) \
            else []
        lines.append(assemble((f"#{b + 1} " + _one_line(groups["prompts"][b],
                                                         columns - len(str(b + 1)) - 2), "b")))
        lines.append(assemble(f"   mean {mean:.2f} std {std:.2f}", *flag))
        for i, resp in enumerate(groups["responses"][b]):
            ratio = f"  ρ {ratios[b][i]:5.3f}" if ratios else ""
            lines.append(assemble(f"  {_one_line(resp, max(8, columns - tail))}  "
                                  f"r {rewards[i]:5.2f}  Δ", _signed(groups["deltas"][b][i]), ratio))
    return text.lines(lines)


RATIO_COLUMNS = 9   # "  ρ 1.000"


def header_cells(groups: dict, width: int) -> int:
    """Cells a wide header's prompt and target take at most: `#1 5 2 → 2 5 ∎` (the statistics go
    beside them where they fit, else below)."""
    prompt = max((len(p) for p in groups["prompts"]), default=0) * (width + 1) - 1
    targets = groups.get("targets")
    goal = (max((len(t) for t in targets), default=0) * (width + 1) - 1
            + (2 if "stopped" in groups else 0)) if targets else 1
    return 2 + len(str(len(groups["prompts"]))) + prompt + 3 + goal


def layout(groups: dict, width: int, columns: int, probs: bool) -> tuple[bool, bool, str]:
    """How a response line fits in `columns`: (compact, with its ratio, the mix's parts: full,
    short or none). The labels r and Δ stay as long as anything fits beside them: a mix's parts
    shorten first (`(p3 e1)`), then the ratio goes, then the parts; only then the line goes
    compact (no labels)."""
    n = positions(groups)
    # "  " and n token columns one apart (a variable length's end mark the last), then
    # "  r  1.00  Δ +0.50 ✓" (20 cells, and one spare for a 7-cell delta)
    base = 2 + n * (width + 1) - 1 + 21 + (2 * n if probs else 0)
    ratio = RATIO_COLUMNS if groups.get("ratios") else 0
    tries = [("full", True), ("short", True), ("short", False), ("none", False)] \
        if groups.get("components") else [("none", True), ("none", False)]
    if header_cells(groups, width) > columns:    # the header on one line would wrap
        return True, False, "none"
    for parts, with_ratio in tries:
        if base + parts_width(groups, parts) + (ratio if with_ratio else 0) <= columns:
            return False, with_ratio and bool(ratio), parts
    return True, False, "none"


NO_SIGNAL_BESIDE = len("   mean 0.00 std 0.00  no signal")   # compact: the flag fits beside


def lines_per_group(g: int, compact: bool, columns: int = NO_SIGNAL_BESIDE) -> int:
    """At most: G responses, plus the header (wide: 1 line, and 1 for a no-signal flag that does
    not fit beside it; compact: prompt, target and statistics, and such a flag below them in
    fewer than NO_SIGNAL_BESIDE columns)."""
    return g + (2 if not compact else 3 if columns >= NO_SIGNAL_BESIDE else 4)


def render_groups(groups: dict, first: int, count: int, columns: int = 200,
                  width: int | None = None, reveal: int | None = None, probs: bool = False
                  ) -> Content:
    """Content for prompts first..first+count-1 of a groups dict (see worker._groups_dict; a
    watched file's passes grpotui.records.check_groups first).

    Header: prompt → target, the group's mean and std. Each response: its tokens (right position in
    the success colour, wrong in the error colour), r = reward, Δ = delta, ρ = ratio after the last
    inner step, ✓ = exact match. When the full line would not fit in `columns`, a mix's parts
    shorten, then the ratio goes (see `layout`), and last the labels, with the group's statistics
    on a line of their own. `width`: token_width(groups),
    when the caller has it already. `reveal`: show only the first `reveal` tokens of each response
    (and no reward, no group statistics yet: a trajectory, then its reward), as while it is being
    written; `probs`: each token's probability."""
    if is_text(groups):
        return _render_text(groups, first, count, columns)
    lines: list[Content] = []
    width = width or token_width(groups)
    # the probabilities only where they keep a response on one line (at 120x40 sixteen tokens with
    # theirs would not): a row wider than the panel wraps, its padding dots on a line of their own
    probs = probs and "token_probs" in groups and 2 + token_cells(groups, width, True) <= columns
    n = positions(groups)
    compact, ratio, parts = layout(groups, width, columns, probs)
    targets = groups.get("targets")
    ratios = groups.get("ratios")
    written = reveal is None or reveal >= n
    no_signal = ("all equal: no signal", "b $warning")
    for b in range(first, min(first + count, len(groups["prompts"]))):
        rewards = groups["rewards"][b]
        g = len(rewards)
        mean = sum(rewards) / g
        std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / (g - 1)) if g > 1 else 0.0
        equal = max(rewards) == min(rewards)
        target = targets[b] if targets else None
        prompt = assemble(*_tokens(groups["prompts"][b], width=width))
        goal = assemble(*_tokens(target, width=width)) if target is not None else Content("?")
        if target is not None and "stopped" in groups:
            goal = assemble(goal, " ", END)
        # a trajectory, then its reward: the group's statistics only once every response is written
        stats = f"mean {mean:.2f} std {std:.2f}" if written else "writing…"
        equal = equal and written
        # The flag for a group with no signal goes where it fits whole, never split by wrapping:
        # after the statistics, else on a line of its own (wide) or shortened (compact).
        if compact:
            fits = len(f"   {stats}  all equal: no signal") <= columns
            flag = no_signal if fits else ("no signal", "b $warning")
            lines += [assemble((f"#{b + 1} ", "b"), prompt.stylize("b")),
                      assemble((" → ", "b"), goal.stylize("b"))]
            if equal and len(f"   {stats}  no signal") > columns:   # on a line of its own
                lines += [assemble(f"   {stats}"), assemble("   ", flag)]
            else:
                lines.append(assemble(f"   {stats}", *(["  ", flag] if equal else [])))
        else:
            head = assemble(f"#{b + 1} ", prompt, " → ", goal).stylize("b")
            header = assemble(head, f"  {stats}")
            if header.cell_length > columns:   # the statistics (and a flag) on a line below
                fits = len(f"   {stats}  all equal: no signal") <= columns
                lines += [head, assemble(f"   {stats}", *(
                    ["  ", no_signal if fits else ("no signal", "b $warning")] if equal else []))]
            elif not equal:
                lines.append(header)
            elif header.cell_length + len("  all equal: no signal") <= columns:
                lines.append(assemble(header, "  ", no_signal))
            else:
                lines += [header, assemble("  ", no_signal)]
        for i, resp in enumerate(groups["responses"][b]):
            tokens = _response(groups, b, i, width, reveal, probs)
            if not written:  # the reward comes only at the end of the trajectory; the padding
                # dots cut where even the bare tokens are wider than the panel
                lines.append(assemble(" " if compact else "  ", *tokens).truncate(columns))
                continue
            right = target is not None and resp == target and (
                "stopped" not in groups or groups["stopped"][b][i])
            mark = [("✓", "b $success")] if right else []
            delta = _signed(groups["deltas"][b][i])
            if compact:
                lines.append(assemble(" ", *tokens, f" {rewards[i]:5.2f}", delta, " ", *mark))
            else:
                rho = f"  ρ {ratios[b][i]:5.3f}" if ratio else ""
                lines.append(assemble("  ", *tokens, f"  r {rewards[i]:5.2f}"
                                      f"{_parts(groups, b, i, parts)}  Δ", delta, f"{rho} ", *mark))
    return text.lines(lines)


class GroupsView(VerticalScroll, can_focus=True):
    """Pages of groups; shows only what fits, so a rollout of 4,096 prompts costs what 4 do."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.groups: dict | None = None
        self.width = 1  # token_width(self.groups)
        self.page = 0
        self.rollout = 0
        self.reveal: int | None = None    # tokens written so far, while a rollout is written out
        self.probs = False                # show each token's probability
        self._writer = None               # the timer that writes the next token
        self.run = ""     # the watched run's name (empty when training)
        self._titles = ("", "")


    def compose(self):
        yield Static("waiting for the first rollout…", id="groups-body")

    def per_page(self) -> int:
        if not self.groups:
            return 1
        columns = self.scrollable_content_region.width
        compact = not is_text(self.groups) and layout(
            self.groups, self.width, columns, self.probs and "token_probs" in self.groups)[0]
        per_group = lines_per_group(len(self.groups["responses"][0]), compact, columns)
        return max(1, (self.size.height or 20) // per_group)

    def show(self, groups: dict, rollout: int, write_out: float | None = None, run: str = ""
             ) -> None:
        """Show a rollout's groups. write_out: seconds over which an autoregressive policy's
        responses appear token by token, with their probabilities (None: all at once).
        run: the watched run's name (empty when training)."""
        self.groups, self.rollout, self.width = groups, rollout, token_width(groups)
        self.run = run
        if self._writer is not None:
            self._writer.stop()
            self._writer = None
        self.probs = write_out is not None and "token_probs" in groups and not is_text(groups)
        self.reveal = None
        if self.probs:
            n = positions(groups)
            self.reveal = 0
            # how many tokens show is read off the clock, not counted in ticks: a busy event loop
            # skips late ticks (Textual's timers do), which left a write-out unfinished for good
            self._write_start, self._write_step = time.monotonic(), write_out / (n + 1)
            self._writer = self.set_interval(self._write_step, self._write_token)
        self.refresh_body()

    def _write_token(self) -> None:
        if self.reveal is None or not self.groups:
            return
        due = int((time.monotonic() - self._write_start) / self._write_step)
        if due <= self.reveal:
            return
        self.reveal = due
        if self.reveal >= positions(self.groups):
            self.finish_write_out()
            return
        self.refresh_body()

    def finish_write_out(self) -> None:
        """Write the rest of the responses at once, with their rewards and the groups' statistics
        (the end of a write-out; and on pause, so no partial responses stay frozen)."""
        if self._writer is not None:
            self._writer.stop()
        self._writer = None
        if self.reveal is None or not self.groups:
            return
        self.reveal = None
        # once written, the probabilities stay only where they cost nothing: the same layout (labels,
        # ratio, a mix's parts) as without them
        columns = self.scrollable_content_region.width
        self.probs = layout(self.groups, self.width, columns, True) == \
            layout(self.groups, self.width, columns, False)
        self.refresh_body()

    def show_message(self, message: str | Content, title: str = "groups") -> None:
        """No groups to show (a watched file without groups records): say why instead. A string is
        plain text; a Content is shown as built."""
        self.groups = None
        self.border_title, self.border_subtitle = text.plain(text.one_line(title, 200)), ""
        self._titles = ("", "")
        self.query_one("#groups-body", Static).update(
            message if isinstance(message, Content) else text.plain(message), layout=False)

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
        run = text.one_line(self.run, 60) if self.run else ""   # a file's run name: content
        title = text.plain(f"groups · {run + ' · ' if run else ''}rollout {self.rollout}")
        subtitle = text.plain(f"prompts {first + 1}-{min(first + per, n_prompts)} of {n_prompts}"
                              + ("  [ ] page" if pages > 1 else ""))
        if (title.plain, subtitle.plain) != self._titles:
            self._titles = (title.plain, subtitle.plain)
            self.border_title, self.border_subtitle = title, subtitle
        # The body fills the panel (height: 1fr in app.tcss) and a page holds only what fits, so a
        # new rollout repaints the body without re-laying-out the screen.
        self.query_one("#groups-body", Static).update(
            render_groups(self.groups, first, per, self.scrollable_content_region.width,
                          self.width, self.reveal, self.probs),
            layout=False)

    def on_resize(self) -> None:
        self.refresh_body()
