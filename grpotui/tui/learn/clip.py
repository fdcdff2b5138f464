"""The clip canvas: PPO's L_clip(r) = min(r*A, clip(r, 1-eps, 1+eps)*A), where it goes flat (the
gradient is zero there: the clip stops the update), and the lesson's two worked examples."""

from __future__ import annotations

from textual import on
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from grpotui.engine.lessons import CLIP_EXAMPLES, clip_curve, clip_point
from grpotui.tui.learn.base import Canvas, Slider
from grpotui.tui.widgets.plot import SafePlot


def example_text(a: float, r: float, eps: float, compact: bool = False) -> str:
    """A worked example with its arithmetic; compact: two lines of at most 36 cells."""
    p = clip_point(r, a, eps)
    if compact:
        return (f"A={a:+g}, r={r:g}, ε={eps:g}:\n"
                f" min({p.unclipped:.3f}, {p.clipped:.2f}) = [b]{p.value:.2f}[/]")
    return (f"A={a:+g}, r={r:g}, ε={eps:g}: min({r:g}×{a:g}, {p.clipped_ratio:g}×{a:g}) = "
            f"min({p.unclipped:.3f}, {p.clipped:.2f}) = [b]{p.value:.2f}[/]")


def slope_text(p, compact: bool) -> str:
    """dL/dr and what it means here: A = 0 pushes nothing at all (the clip plays no part); a flat
    stretch is the clip's doing; else r·A still pushes."""
    if p.a == 0:
        return ("[b]0[/]: A = 0, so L = 0 for\n           every r: no push at all" if compact
                else "[b]0[/] (autograd): A = 0, so L = 0\n           for every r: no push at all")
    if p.flat:
        why = "r > 1+ε and A > 0" if p.a > 0 else "r < 1−ε and A < 0"
        return f"[b $error]0[/] (autograd): flat, as\n           {why}: the clip stops it"
    return (f"[b $success]{p.grad:+.3f}[/] (= A): it pushes" if compact else
            f"[b $success]{p.grad:+.3f}[/] (autograd, = A): it still pushes")


class ClipCanvas(Canvas):
    NAME = "clip"
    TITLE = "Where PPO's clip stops the gradient"
    ABOUT = (
        "Per token L = min(r·A, clip(r, 1−ε, 1+ε)·A), r the new/old probability ratio.",
        "Past 1+ε with A > 0, or below 1−ε with A < 0, L goes flat: slope zero, so the",
        "token stops pushing. Inside the band L is plain r·A. Move r across the lines,",
        "flip A's sign to move the flat side, or pick a worked example (tab, enter).",
    )
    BINDINGS = [Binding("e", "next_example", "Next example")]
    KEEP = ("example",)
    DEFAULT_CSS = """
    ClipCanvas #clip-plot { width: 1fr; }
    ClipCanvas #clip-side { width: 46; padding: 0 1; }
    ClipCanvas.-compact #clip-side { width: 42; }
    ClipCanvas #clip-numbers { height: auto; }
    ClipCanvas #clip-examples { height: auto; max-height: 8; margin-top: 1; border: round $primary; }
    ClipCanvas.-compact #clip-examples { margin-top: 0; }
    ClipCanvas #clip-examples:focus { border: round $accent; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.example = -1
        self.examples_compact: bool | None = None   # how the examples' list is written now

    def body(self):
        yield SafePlot(id="clip-plot")
        with Vertical(id="clip-side"):
            yield Static(id="clip-numbers")
            yield OptionList(*[Option(example_text(a, r, e), id=str(i))
                               for i, (a, r, e) in enumerate(CLIP_EXAMPLES)], id="clip-examples")

    def sliders(self):
        return [Slider("advantage A", 0.8, lo=-2, hi=2, step=0.1, id="s-a",
                       fmt=lambda v: f"{v:+.2f}"),
                Slider("clip ε", 0.2, lo=0.01, hi=0.5, step=0.01, id="s-eps",
                       fmt=lambda v: f"{v:.2f}"),
                Slider("ratio r", 1.0, lo=0.0, hi=2.0, step=0.05, id="s-r",
                       fmt=lambda v: f"{v:.2f}")]

    def extra_keys(self):
        return [("e", "jump to the next worked example"),
                ("tab, enter", "pick a worked example from the list")]

    @property
    def values(self) -> tuple[float, float, float]:
        return tuple(self.query_one(f"#s-{k}", Slider).value for k in ("a", "eps", "r"))

    def select_example(self, i: int) -> None:
        a, r, eps = CLIP_EXAMPLES[i]
        self.example = i
        for key, v in (("a", a), ("eps", eps), ("r", r)):
            self.query_one(f"#s-{key}", Slider).set_value(v, announce=False)
        self.recompute()

    def action_next_example(self) -> None:
        self.select_example((self.example + 1) % len(CLIP_EXAMPLES))

    @on(OptionList.OptionSelected, "#clip-examples")
    def _example_chosen(self, event: OptionList.OptionSelected) -> None:
        self.select_example(int(event.option.id))

    def recompute(self) -> None:
        a, eps, r = self.values
        p = clip_point(r, a, eps)
        lo, hi = 1 - eps, 1 + eps
        slope = slope_text(p, self.compact)
        self._examples()
        self.query_one("#clip-numbers", Static).update(
            f"[b]r = {r:.2f}   A = {a:+.2f}   ε = {eps:.2f}[/]\n"
            f"unclipped  r·A = {r:.2f} × {a:+.2f} = {p.unclipped:+.3f}\n"
            f"clipped    clip(r, {lo:.2f}, {hi:.2f})·A\n"
            f"           = {p.clipped_ratio:.2f} × {a:+.2f} = {p.clipped:+.3f}\n"
            f"L_clip     min of the two = [b]{p.value:+.3f}[/]\n"
            f"dL/dr      {slope}")
        self._plot(a, eps, p)

    def _examples(self) -> None:
        """The worked examples, on one line each, or two at 80 columns (where one would wrap
        and the list would cut the second off)."""
        compact = self.compact
        if compact == self.examples_compact:
            return
        self.examples_compact = compact
        examples = self.query_one("#clip-examples", OptionList)
        highlighted = examples.highlighted
        examples.clear_options()
        examples.add_options([Option(example_text(a, r, e, compact), id=str(i))
                              for i, (a, r, e) in enumerate(CLIP_EXAMPLES)])
        examples.highlighted = highlighted

    def _plot(self, a: float, eps: float, p) -> None:
        widget = self.query_one("#clip-plot", SafePlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        curve = clip_curve(a, eps)
        free = [(x, y) for x, y, f in zip(curve.ratios, curve.values, curve.flat) if not f]
        flat = [(x, y) for x, y, f in zip(curve.ratios, curve.values, curve.flat) if f]
        if free:
            plt.scatter(*zip(*free), marker="braille", label="slope A", color="cyan")
        if flat and a == 0:
            plt.scatter(*zip(*flat), marker="braille", label="A = 0: L = 0, no push", color="red")
        elif flat:
            plt.scatter(*zip(*flat), marker="braille", label="flat: gradient 0", color="red")
        plt.vline(1 - eps)
        plt.vline(1 + eps)
        plt.scatter([p.r], [p.value], marker="●", color="yellow", label=f"r={p.r:.2f}")
        span = max(0.1, 2.2 * abs(a))
        plt.xlim(0, 2)
        plt.ylim(-span, span)
        plt.title(f"L_clip(r), A={a:+.2f}, ε={eps:.2f}")
        plt.xlabel("ratio r  (lines at 1−ε and 1+ε)")
        widget.refresh()
