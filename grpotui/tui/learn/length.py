"""The length canvas: GRPO's length bias (Dr. GRPO, "Understanding R1-Zero-Like Training", Liu et al.
2025). A short and a long response with the same advantage A; for each of TRL's aggregating loss
types, the gradient of the loss with respect to each token's log-prob and its sum over each response,
by autograd through grpo.policy_loss (lessons.length_weights). Every line is built as Content."""

from __future__ import annotations

from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from grpotui.engine.lessons import LENGTH_LOSS_TYPES, LengthWeights, length_weights
from grpotui.tui import text
from grpotui.tui.learn.base import Canvas, Slider

# what each type divides by (labels only: the numbers come from autograd); N responses, T tokens
FORMULAS = {"grpo": "−A/(N·len)", "bnpo": "−A/T", "dapo": "−A/T", "dr_grpo": "−A/(N·L)",
            "luspo": "−A/N"}
LIVE = ("Live: run the presets sortvar-ar-grpo (loss_type grpo: wrong answers run long)",
        "and sortvar-ar (dr_grpo); switch loss_type live in the dashboard's controls.")
EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(frac: float, cells: int) -> str:
    """A bar `frac` (0..1) of `cells` cells, in eighths of a cell, padded with spaces."""
    eighths = round(max(0.0, min(1.0, frac)) * cells * 8)
    full, part = divmod(eighths, 8)
    out = "█" * full + (EIGHTHS[part] if part else "")
    return out + " " * (cells - len(out))


def times(x: float) -> str:
    return f"{x:.3g}×"


def table(w: LengthWeights, compact: bool) -> list[Content]:
    """One row per loss type: each response's per-token gradient as a bar and a number (bars scaled
    to the row's larger one: the types differ by constant factors, short against long is what
    matters), then each response's sum over its tokens."""
    short, long = w.lengths
    cells = 10 if compact else 20
    name_w = 8
    col = cells + 8                               # bar, a space, a number of 7 cells
    head_short = f"short: {short} token{'s' if short != 1 else ''}"
    head_long = f"long: {long} token{'s' if long != 1 else ''}"
    formula = "" if compact else f"{'per token':<12}"
    rows = []
    if not compact:
        rows.append(text.assemble(("∂loss/∂logp_t", "b"), " of each token, by autograd through "
                                  "grpo.policy_loss at ratio 1: ",
                                  (f"A = {w.advantage:+g}, N = 2, L = {w.max_completion_length}",
                                   "b")))
        rows.append(Content(""))
    rows.append(text.assemble((f"{'type':<{name_w}}{formula}{head_short:<{col}}  "
                               f"{head_long:<{col}}  {'total: short':>14} {'long':>7}", "b")))
    for loss_type in LENGTH_LOSS_TYPES:
        weights, totals = w.weights[loss_type], w.totals[loss_type]
        top = max(abs(x) for x in weights)
        parts: list = [(f"{loss_type:<{name_w}}", "b")]
        if not compact:
            parts.append((f"{FORMULAS[loss_type]:<12}", "dim"))
        for i, x in enumerate(weights):
            style = "$error" if x > 0 else "$success"
            parts += [(bar(abs(x) / top if top else 0.0, cells), style), " ", (f"{x:+.4f}", "b"),
                      "  " if i == 0 else ""]
        parts.append(f"  {totals[0]:>+14.3f} {totals[1]:>+7.3f}")
        rows.append(text.assemble(*parts))
    if not compact:
        rows += [Content(""),
                 text.assemble("N = 2 responses, T = ", str(w.tokens), " tokens, L = "
                               "max_completion_length; total: the sum over a response's tokens."),
                 text.assemble(("Red, +", "$error"), ": a descent step lowers logp_t (the token "
                               "is pushed down); ", ("green, -", "$success"), ": it raises it.")]
    return rows


def notes(w: LengthWeights, compact: bool) -> list[Content]:
    """What the numbers mean, for these values: no push at A = 0, no bias at equal lengths, else
    the bias in a line or two; which types coincide; then the presets that show it live."""
    short, long = w.lengths
    a = w.advantage
    rows: list[Content] = []
    if a == 0:
        rows.append(text.assemble(("A = 0: no push at all.", "b"), " Every gradient is 0, any "
                                  "loss type, any lengths."))
    elif short == long:
        rows.append(text.assemble((f"Equal lengths ({short} and {long}):", "b"),
                                  " no length bias; the types differ only by a factor."))
    else:
        g_short, g_long = w.weights["grpo"]
        total = w.totals["grpo"][0]
        per_token = g_short / g_long               # grpo: long/short
        spread = w.totals["dr_grpo"][1] / w.totals["dr_grpo"][0]
        rows.append(text.assemble(("grpo", "b"), f": both totals {total:+.3f}, so a long token "
                                  f"gets {short}/{long} of a short one's push."))
        if a < 0:
            rows.append(text.assemble(("Wrong (A < 0):", "b $error"), " a long one is penalised "
                                      f"{times(per_token)} less per token: they drift long."))
        else:
            rows.append(text.assemble(("Right (A > 0):", "b $success"), " a short one's tokens "
                                      f"get {times(per_token)} more: grpo favours short."))
        rows.append(text.assemble(("dr_grpo, bnpo, dapo, luspo", "b"), ": every token alike, the "
                                  f"long total {times(spread)} the short."))
        if not compact:
            rows.append(Content("Dr. GRPO (Liu et al. 2025): divide by a constant, N·L, not by "
                                "each response's length, and the bias is gone."))
    factors = w.coinciding
    same = ", ".join(f"{t} {times(f)}" for t, f in factors.items() if t != "bnpo")
    rows.append(text.assemble(("Up to a factor", "b"), ": ", same, " bnpo's loss",
                              "." if "grpo" in factors else "; grpo not."))
    if not compact:
        rows.append(Content(""))
    rows += [text.assemble((LIVE[0][:5], "b"), LIVE[0][5:]), Content(LIVE[1])]
    return rows


class LengthCanvas(Canvas):
    NAME = "length"
    TITLE = "The length bias of GRPO's loss types"
    ABOUT = (
        "A batch of two responses, one short, one long, both with advantage A. Rows:",
        "TRL's loss types; each number: ∂loss/∂logp_t of one token (autograd, ratio 1).",
        "grpo averages each response over its own length, so a long one's tokens each",
        "get less push: a long wrong answer is penalised less per token (Dr. GRPO).",
    )
    DEFAULT_CSS = """
    LengthCanvas #len-main { width: 1fr; padding: 0 1; }
    LengthCanvas #len-table { height: auto; }
    LengthCanvas #len-notes { height: auto; color: $text-muted; margin-top: 1; }
    LengthCanvas.-compact #len-notes { margin-top: 0; }
    """

    def body(self):
        with Vertical(id="len-main"):
            yield Static(id="len-table")
            yield Static(id="len-notes")

    def sliders(self):
        return [Slider("short length", 2, lo=1, hi=16, integer=True, id="s-short"),
                Slider("long length", 6, lo=1, hi=16, integer=True, id="s-long"),
                Slider("advantage A", -1.0, lo=-2, hi=2, step=0.1, id="s-a",
                       fmt=lambda v: f"{v:+.2f}"),
                Slider("max length L", 8, lo=1, hi=32, integer=True, id="s-L")]

    def extra_keys(self):
        return [("sliders", "short ≤ long ≤ L: one moved past another carries it along")]

    def slider(self, key: str) -> Slider:
        return self.query_one(f"#s-{key}", Slider)

    @property
    def values(self) -> tuple[int, int, float, int]:
        return (int(self.slider("short").value), int(self.slider("long").value),
                float(self.slider("a").value), int(self.slider("L").value))

    def slider_changed(self, slider: Slider) -> None:
        """Keep short ≤ long ≤ L: the moved slider carries the others along."""
        short, long, _, cap = self.values
        if slider.id == "s-short" and short > long:
            long = short
        elif slider.id == "s-long":
            short = min(short, long)
        elif slider.id == "s-L":
            long, short = min(long, cap), min(short, cap)
        cap = max(cap, long)
        for key, v in (("short", short), ("long", long), ("L", cap)):
            self.slider(key).set_value(v, announce=False)

    def recompute(self) -> None:
        short, long, a, cap = self.values
        w = length_weights(short, long, a, cap)
        compact = self.compact
        self.query_one("#len-table", Static).update(text.lines(table(w, compact)))
        self.query_one("#len-notes", Static).update(text.lines(notes(w, compact)))
