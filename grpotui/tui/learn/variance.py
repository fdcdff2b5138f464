"""The variance canvas: REINFORCE's per-sample gradient estimates on a 3-action softmax policy with a
0/1 reward, with and without a baseline; how the variance of their mean falls as 1/N; and how often
a batch's rewards are all equal, so that, centred on their mean, they push nothing."""

from __future__ import annotations

import torch
from textual.binding import Binding
from textual.color import Color
from textual.containers import Vertical
from textual.widgets import Static

from grpotui.engine.lessons import VARIANCE_EXPONENTS, VarianceToy
from grpotui.tui.learn.base import Canvas, Slider, keep_indent
from grpotui.tui.widgets.plot import SafePlot

BATCHES = 400   # batches of each size for the measured variance
N_VALUES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)


def vec(t: torch.Tensor, digits: int = 3) -> str:
    return "(" + " ".join(f"{float(x):+.{digits}f}" for x in t) + ")"


def distinct_points(grads: torch.Tensor) -> list[tuple[float, float, int]]:
    """The estimates' distinct (θ1, θ2) points, each with how many estimates lie there: with 3
    actions and a 0/1 reward there are at most 4 without a baseline (R = 0 gives 0) and 6 with one,
    so 16 estimates land on a few points."""
    counts: dict[tuple[float, float], int] = {}
    for x, y in grads[:, :2].tolist():
        key = (round(x, 9) + 0.0, round(y, 9) + 0.0)
        counts[key] = counts.get(key, 0) + 1
    return [(x, y, c) for (x, y), c in sorted(counts.items())]


class VarianceCanvas(Canvas):
    NAME = "variance"
    TITLE = "REINFORCE's variance, and what a baseline buys"
    ABOUT = (
        "Softmax policy over 3 actions; action a pays 1 with chance p^k, k = .5, 1, 2.",
        "Each dot is one rollout's gradient estimate R·∇log π(a): far from the true ◆.",
        "Only the mean of N gets close; its variance falls as 1/N (right). A baseline",
        "b = E[R] shrinks the spread. Near p = 0 or 1 most batches carry no signal.",
    )
    BINDINGS = [Binding("r", "redraw", "New draw")]
    KEEP = ("seed",)
    DEFAULT_CSS = """
    VarianceCanvas #var-left { width: 1fr; }
    VarianceCanvas #var-scatter { height: 1fr; }
    VarianceCanvas #var-right { width: 1fr; }
    VarianceCanvas #var-loglog { height: 1fr; min-height: 6; }
    VarianceCanvas .var-legend { height: 1; padding: 0 1; }
    VarianceCanvas #var-numbers { height: auto; padding: 0 1; }
    VarianceCanvas.-compact #var-body-right { width: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.seed = 0
        self.toy: VarianceToy | None = None
        self.drawn = None

    def body(self):
        # the legends are lines under the plots: plotext draws its legend over the top left, where
        # the variance lines start and some estimates lie
        with Vertical(id="var-left"):
            yield SafePlot(id="var-scatter")
            yield Static(id="var-scatter-legend", classes="var-legend")
        with Vertical(id="var-right"):
            yield SafePlot(id="var-loglog")
            yield Static(id="var-loglog-legend", classes="var-legend")
            yield Static(id="var-numbers")

    def sliders(self):
        return [Slider("reward rate p", 0.3, lo=0.0, hi=1.0, step=0.05, id="s-p",
                       fmt=lambda v: f"{v:.2f}"),
                Slider("rollouts N", 16, lo=1, hi=256, values=N_VALUES, integer=True, id="s-n")]

    def extra_keys(self):
        return [("r", "draw new rollouts (the next seed)")]

    def action_redraw(self) -> None:
        self.seed += 1
        self.recompute()

    @property
    def p(self) -> float:
        return self.query_one("#s-p", Slider).value

    @property
    def n(self) -> int:
        return int(self.query_one("#s-n", Slider).value)

    def recompute(self) -> None:
        p, n = self.p, self.n
        self.toy = toy = VarianceToy(p)
        self.drawn = d = toy.draw(n, torch.Generator().manual_seed(self.seed), BATCHES)
        exact = toy.exact_gradient()
        v_raw, v_base = toy.estimator_variance(n, False), toy.estimator_variance(n, True)
        i = d.sizes.index(n)
        no_signal = toy.no_signal_share(n)
        er = "E\\[R]"
        if self.compact:
            text = (f"J = {er} {toy.expected_reward:.3f}  ∇J {vec(exact, 2)}\n"
                    f"variance of the mean: exact (measured)\n"
                    f"  no b    {v_raw:.5f} ({d.empirical_raw[i]:.5f})\n"
                    f"  b = {er} {v_base:.5f} ({d.empirical_base[i]:.5f})\n"
                    + ("no signal always: N = 1 has no spread" if n == 1 else
                       f"no signal [b]{no_signal:.1%}[/] (measured {d.empirical_no_signal:.1%})"))
        else:
            text = (f"π {vec(toy.pi)}  q = p^k {vec(toy.q)}\n"
                    f"{er} = J = {toy.expected_reward:.3f}, the baseline b\n"
                    f"exact ∇J    {vec(exact)}  (autograd)\n"
                    f"mean of {n:<3} {vec(d.grads_raw.mean(0))}  no baseline\n"
                    f"{'':12}{vec(d.grads_base.mean(0))}  b = {er}\n"
                    f"variance of the mean  exact    measured\n"
                    f"  no baseline      {v_raw:9.5f}  {d.empirical_raw[i]:9.5f}\n"
                    f"  b = {er}         {v_base:9.5f}  {d.empirical_base[i]:9.5f}\n"
                    + ("no signal: [b]always[/] (N = 1: one reward has no spread;\n"
                       "  centred on its own mean it is 0, so it pushes nothing)" if n == 1 else
                       f"no signal (all {n} rewards equal): [b]{no_signal:.1%}[/]\n"
                       f"  = J^N + (1−J)^N; measured {d.empirical_no_signal:.1%} of {BATCHES}"))
        self.query_one("#var-numbers", Static).update(keep_indent(text))
        self._scatter(exact, d)
        self._loglog(toy, d)

    def _scatter(self, exact: torch.Tensor, d) -> None:
        widget = self.query_one("#var-scatter", SafePlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        raw, base = d.grads_raw, d.grads_base
        mr, mb = raw.mean(0), base.mean(0)
        plt.scatter([float(mr[0])], [float(mr[1])], marker="◯", color="red")
        plt.scatter([float(mb[0])], [float(mb[1])], marker="◯", color="cyan")
        plt.scatter([float(exact[0])], [float(exact[1])], marker="◆", color="yellow")
        # the estimates: one marker per distinct point, with its count beside it (several
        # estimates share a point: one marker would hide how many)
        shown = 0
        # the labels on the canvas's own colour (the theme's surface, as textual-plotext paints it):
        # plotext gives a text without a background the canvas colour at the time of the call,
        # its default theme's near-white, as the theme comes only when the plot is drawn
        canvas = Color.parse(self.app.theme_variables["surface"]).rgb
        for grads, marker, color in ((raw, "•", "red"), (base, "x", "cyan")):
            points = distinct_points(grads)
            shown += len(points)
            for x, y, count in points:
                plt.text(marker + (str(count) if count > 1 else ""), x, y, color=color,
                         background=canvas, alignment="left")
        plt.xlim(-1.0, 1.0)
        plt.ylim(-1.0, 1.0)
        plt.title(f"{len(raw)} estimates at {shown} points, seed {self.seed}"
                  if self.compact else
                  f"{len(raw)} per-rollout estimates (θ1, θ2) at {shown} points, seed {self.seed}")
        widget.refresh()
        self.query_one("#var-scatter-legend", Static).update(
            "[red]•[/] R·∇log π [cyan]x[/] with b [yellow]◆[/] ∇J ◯ means" if self.compact else
            "[red]•[/] R·∇log π  [cyan]x[/] (R−b)·∇log π  •5: 5 there  "
            "[red]◯[/] [cyan]◯[/] their means  [yellow]◆[/] exact ∇J")

    def _loglog(self, toy: VarianceToy, d) -> None:
        widget = self.query_one("#var-loglog", SafePlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        sizes = list(d.sizes)
        plotted = False
        for with_b, measured, color, name in ((False, d.empirical_raw, "red", "no b"),
                                              (True, d.empirical_base, "cyan", "b = E[R]")):
            exact = [toy.estimator_variance(s, with_b) for s in sizes]
            pts = [(s, v) for s, v in zip(sizes, exact) if v > 1e-15]
            if pts:
                plt.plot(*zip(*pts), color=color)
                plotted = True
            pts = [(s, v) for s, v in zip(sizes, measured) if v > 1e-15]
            if pts:
                plt.scatter(*zip(*pts), color=color, marker="•")
        if plotted:     # (plotext cannot draw log axes without data)
            plt.xscale("log")
            plt.yscale("log")
        plt.title("variance of the mean of N  (falls as 1/N)" if plotted else
                  "every reward is equal: no variance, and no gradient")
        plt.xlabel("N  (dots: measured)")
        widget.refresh()
        self.query_one("#var-loglog-legend", Static).update(
            "[red]—[/] no b  [cyan]—[/] b = E\\[R]: exact; • measured")
