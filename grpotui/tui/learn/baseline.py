"""The baseline canvas: the lecture's two-state example. For each (state, action), REINFORCE's weight
and the push it gives, without a baseline and with b(s); the spread of the weights; and Play, which
runs sampled policy-gradient steps on the toy for two learners side by side."""

from __future__ import annotations

import re

import torch
from rich.markup import escape
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from grpotui.engine.lessons import (BASELINE_REWARDS, TwoStateToy, mean_baselines, pushes,
                                    weight_stats, weights)
from grpotui.tui.learn.base import Canvas, Slider, keep_indent
from grpotui.tui.widgets.plot import SafePlot

STATES, ACTIONS = ("s1", "s2"), ("a1", "a2")
CELLS = [(s, a) for s in range(2) for a in range(2)]


def push_arrow(x: float, top: float, half: int) -> str:
    """The lesson's picture of a push: an arrow from a centre line, right and green for a push up
    (it raises π(a|s)), left and red for a push down, its length the push (the largest of the
    table's pushes fills `half` cells). 2·half + 1 cells, plain text (markup added by keep_markup)."""
    n = 0 if top == 0 or x == 0 else max(1, round(half * abs(x) / top))
    if x > 0:
        return " " * half + "┃" + "━" * (n - 1) + "▶" + " " * (half - n)
    if x < 0:
        return " " * (half - n) + "◀" + "━" * (n - 1) + "┃" + " " * half
    return " " * half + "┃" + " " * half


def keep_markup(line: str) -> str:
    """Colour a table line's arrows: up green, down red (the line has no other markup)."""
    line = re.sub(r"(━*▶)", r"[$success]\1[/]", line)
    return re.sub(r"(◀━*)", r"[$error]\1[/]", line)


def columns(rows: list[list[str]], left: set[int]) -> list[str]:
    """Rows of cells as lines, every column as wide as its widest cell (right-aligned numbers,
    left-aligned names and arrows), one space apart: the header sits over its column whatever the
    values are (a b of -10.5, a weight of +40.0)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [" ".join(c.ljust(w) if i in left else c.rjust(w)
                     for i, (c, w) in enumerate(zip(row, widths))).rstrip() for row in rows]


class BaselineCanvas(Canvas):
    NAME = "baseline"
    TITLE = "What a baseline does to each push"
    ABOUT = (
        "Two states, two actions: in s1 a1 pays 11 and a2 9; in s2 a1 pays 0 and a2 2.",
        "Without a baseline every weight is positive, so taking a2 in s1 pushes it up",
        "(9 is a big number) though a1 is better there. With b(s) = the mean reward in",
        "s, the weights say better or worse than usual here. Press space and watch.",
    )
    BINDINGS = [*Canvas.PLAY_BINDINGS,
                Binding("m", "mean_baselines", "b=mean"),
                Binding("c", "restart", "Restart")]
    PLAYABLE = True
    KEEP = ("follow_mean", "toy", "gen", "last")
    DEFAULT_CSS = """
    BaselineCanvas #bl-left { width: 1fr; }
    BaselineCanvas #bl-table { height: auto; padding: 0 1; }
    BaselineCanvas #bl-plot { height: 1fr; min-height: 5; }
    BaselineCanvas #bl-right { width: 46; padding: 0 1; border-left: solid $primary; }
    BaselineCanvas.-compact #bl-right { width: 30; }
    BaselineCanvas #bl-note { height: auto; color: $text-muted; margin-top: 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.follow_mean = True
        self.toy = TwoStateToy()
        self.gen = torch.Generator().manual_seed(0)
        self.last = None

    def body(self):
        with Vertical(id="bl-left"):
            yield Static(id="bl-table")
            yield SafePlot(id="bl-plot")
        with Vertical(id="bl-right"):
            for s, a in CELLS:
                yield Slider(f"R({STATES[s]},{ACTIONS[a]})", BASELINE_REWARDS[s][a], lo=-20, hi=20,
                             step=1, id=f"s-r{s}{a}", label_width=9)
            for s in range(2):
                yield Slider(f"b({STATES[s]})", float(sum(BASELINE_REWARDS[s]) / 2), lo=-20,
                             hi=20, step=0.5, id=f"s-b{s}", label_width=9)
            yield Slider("step size", 0.1, lo=0.01, hi=1.0, step=0.01, id="s-lr", label_width=9)
            yield Slider("steps/s", 4, lo=1, hi=20, step=1, integer=True, id="s-speed",
                         label_width=9)
            yield Static(id="bl-note")

    def extra_keys(self):
        return [("m", "baselines back to each state's mean reward"),
                ("c", "restart both learners from the uniform policy")]

    # ---------------------------------------------------------------- values
    def rewards(self) -> torch.Tensor:
        return torch.tensor([[self.query_one(f"#s-r{s}{a}", Slider).value for a in range(2)]
                             for s in range(2)], dtype=torch.float64)

    def baselines(self) -> torch.Tensor:
        return torch.tensor([self.query_one(f"#s-b{s}", Slider).value for s in range(2)],
                            dtype=torch.float64)

    def slider_changed(self, slider: Slider) -> None:
        if slider.id.startswith("s-b"):
            self.follow_mean = False
        elif slider.id.startswith("s-r") and self.follow_mean:
            self._set_mean_baselines()
        elif slider.id == "s-speed":
            self.restart_timer()

    def _set_mean_baselines(self) -> None:
        for s, b in enumerate(mean_baselines(self.rewards()).tolist()):
            self.query_one(f"#s-b{s}", Slider).set_value(b, announce=False)

    def action_mean_baselines(self) -> None:
        self.follow_mean = True
        self._set_mean_baselines()
        self.recompute()

    def action_restart(self) -> None:
        self.stop_playing()
        self.toy, self.last = TwoStateToy(), None
        self.gen = torch.Generator().manual_seed(0)
        self.recompute()

    def play_interval(self) -> float:
        return 1 / self.query_one("#s-speed", Slider).value

    def advance(self) -> bool:
        self.last = self.toy.step(self.rewards(), self.baselines(),
                                  self.query_one("#s-lr", Slider).value, self.gen)
        return True

    # ---------------------------------------------------------------- drawing
    def recompute(self) -> None:
        r, b = self.rewards(), self.baselines()
        w_raw, w_base = weights(r, None), weights(r, b)
        p_raw, p_base = pushes(self.toy.theta_raw, w_raw), pushes(self.toy.theta_base, w_base)
        pi_raw, pi_base = self.toy.probs("raw"), self.toy.probs("base")
        st_raw, st_base = weight_stats(w_raw), weight_stats(w_base)
        compact = self.compact
        # compact: R and b are on the sliders beside the table; each push is an arrow only
        top = max(float(p_raw.abs().max()), float(p_base.abs().max()))
        # the arrows take the room there is: 4 cells a side at 120 columns, longer on wider ones
        half = max(4, min(15, 4 + (self.query_one("#bl-table").size.width - 72) // 4))
        head = ["s", "a"] + ([] if compact else ["R", "b"])
        cell_head = ["w", "push".center(11)] if compact else ["w", "π", "push", "".center(9)]
        rows = [head + ["│"] + cell_head + ["│"] + cell_head]
        for s, a in CELLS:
            row = [STATES[s], ACTIONS[a]] + ([] if compact else [f"{float(r[s, a]):g}",
                                                                f"{float(b[s]):g}"])
            for k, (w, pi, push) in enumerate(((w_raw, pi_raw, p_raw), (w_base, pi_base, p_base))):
                x = float(push[s, a])
                row.append("│")
                row += ([f"{float(w[s, a]):+.1f}", push_arrow(x, top, 5)] if compact else
                        [f"{float(w[s, a]):+.1f}", f"{float(pi[s, a]):.2f}", f"{x:+.2f}",
                         push_arrow(x, top, half)])
            rows.append(row)
        table = columns(rows, left={0, 1} | ({4, 7} if compact else {8, 13}))
        if not compact:
            first = table[1].index("│")
            second = table[1].index("│", first + 1)
            table.insert(0, " " * first + "│ no baseline".ljust(second - first) + "│ baseline b(s)")
        lines = [keep_markup(line) for line in table]
        lesson = r.tolist() == [list(x) for x in BASELINE_REWARDS]
        if compact:
            lines.append(f"std (torch.std): [b]{st_raw.unbiased:.2f}[/] no b, "
                         f"[b]{st_base.unbiased:.2f}[/] with b")
            lines.append(f"4.74 (lesson): neither {st_raw.unbiased:.2f} (÷3) nor "
                         f"{st_raw.population:.2f} (÷4)" if lesson else
                         f"no b: ÷3 {st_raw.unbiased:.2f} (torch.std), ÷4 {st_raw.population:.2f}")
        else:
            lines.append(f"std of the weights (torch.std): [b]{st_raw.unbiased:.2f}[/] without, "
                         f"[b]{st_base.unbiased:.2f}[/] with b")
            lines += ([f"The lesson prints 4.74 there. The squared deviations from the mean"]
                      if lesson else ["Without b, the squared deviations from the mean"])
            lines += [f"add up to {st_raw.squares:g}: ÷3 then √ gives {st_raw.unbiased:.2f} "
                      f"(torch.std, unbiased),",
                      f"÷4 then √ gives {st_raw.population:.2f} (the population std)"
                      + (f"; 4.74² = {4.74 ** 2:.2f} is neither." if lesson else "."),
                      "push: how far that action's logit moves per unit step when it is",
                      "drawn, w·∂log π(a|s)/∂θ by autograd, and as an arrow (its length:",
                      "the push; ▶ raises π(a|s), ◀ lowers it); π: the learner's policy now."]
        self.query_one("#bl-table", Static).update(keep_indent("\n".join(lines)))
        where = "each state's mean reward" if self.follow_mean else "set by hand (m: the means)"
        note = f"b(s): {where}."
        if self.last is not None and self.compact:
            a1 = self.last.actions[0]
            note += (f"\nstep {self.toy.steps}: s1 drew {ACTIONS[a1]}: logit "
                     f"{float(self.last.push_raw[0, a1]):+.2f} / {float(self.last.push_base[0, a1]):+.2f}"
                     f" (no b / b)")
        elif self.last is not None:
            drawn = ", ".join(f"{STATES[s]}→{ACTIONS[a]}" for s, a in enumerate(self.last.actions))
            a1 = self.last.actions[0]
            note += (f"\nstep {self.toy.steps}: drew {drawn}. In s1, {ACTIONS[a1]}'s logit moved "
                     f"{float(self.last.push_raw[0, a1]):+.2f} without b, "
                     f"{float(self.last.push_base[0, a1]):+.2f} with b.")
        elif not self.compact:
            note += "\nspace plays sampled steps; n takes one."
        self.query_one("#bl-note", Static).update(escape(note))
        self._plot()

    def on_resize(self) -> None:
        super().on_resize()
        self.call_after_refresh(self.recompute)     # the arrows fit the table's new width

    def _plot(self) -> None:
        widget = self.query_one("#bl-plot", SafePlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        hist = self.toy.history[-400:]
        start = self.toy.steps - len(hist)
        xs = list(range(start, start + len(hist) + 1))
        first = (0.5, 0.5) if start == 0 else hist[0]
        raw = [first[0]] + [h[0] for h in hist] if start == 0 else [h[0] for h in hist]
        base = [first[1]] + [h[1] for h in hist] if start == 0 else [h[1] for h in hist]
        xs = xs[:len(raw)]
        plt.plot(xs, raw, color="red", label="no baseline", marker="braille")
        plt.plot(xs, base, color="cyan", label="baseline", marker="braille")
        plt.ylim(0, 1)
        plt.title(f"π(a2 | s1) over {self.toy.steps} sampled steps{'  ▶' if self.playing else ''}")
        widget.refresh()
