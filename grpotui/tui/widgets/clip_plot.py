"""The PPO clip curve: L_clip(r) = min(r*A, clip(r, 1-eps, 1+eps)*A) for r in [0, 2].

Drawn for a positive and a negative advantage of magnitude |A| (keys + and - change it, x cycles
which signs are shown), with the lines at 1 +/- eps. The latest batch's tokens are drawn over it at
their actual ratio: tokens with a positive delta on the positive curve, negative on the negative one.
A token in a flat part of its curve is one the clip stopped: its gradient is zero.

The batch comes from a run or a watched file: a ratio or delta that is not a number is left out, and
an eps that is not a number from 0 up is drawn as the default 0.2.
"""

from __future__ import annotations

from grpotui.tui.widgets.plot import SafePlot, number, points

SIGNS = ("both", "positive", "negative")


def l_clip(r: float, a: float, eps: float) -> float:
    return min(r * a, min(max(r, 1 - eps), 1 + eps) * a)


class ClipPlot(SafePlot):
    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.eps = 0.2
        self.magnitude = 0.8
        self.signs = "both"
        self.ratios: list[float] = []
        self.deltas: list[float] = []
        self.title = "PPO clip"

    def set_batch(self, eps: float, ratios: list[float], deltas: list[float], title: str) -> None:
        e = number(eps)
        self.eps = e if e is not None and e >= 0 else 0.2
        self.ratios, self.deltas = points(ratios, deltas)
        self.title = title
        self.replot()

    def change_magnitude(self, step: float) -> None:
        self.magnitude = round(min(2.0, max(0.1, self.magnitude + step)), 2)
        self.replot()

    def cycle_signs(self) -> None:
        self.signs = SIGNS[(SIGNS.index(self.signs) + 1) % len(SIGNS)]
        self.replot()

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        eps, mag = self.eps, self.magnitude
        xs = [i / 50 for i in range(101)]
        wanted = [s for s in (1, -1) if self.signs == "both" or (s > 0) == (self.signs == "positive")]
        for sign in wanted:
            a = sign * mag
            plt.plot(xs, [l_clip(x, a, eps) for x in xs], label=f"A={a:+.1f}", marker="braille")
            points = [(r, l_clip(r, a, eps)) for r, d in zip(self.ratios, self.deltas)
                      if (d > 0 if sign > 0 else d < 0) and 0 <= r <= 2]
            if points:
                clipped = [(r, y) for r, y in points
                           if (sign > 0 and r > 1 + eps) or (sign < 0 and r < 1 - eps)]
                free = [p for p in points if p not in clipped]
                if free:
                    plt.scatter(*zip(*free), marker="•")
                if clipped:
                    plt.scatter(*zip(*clipped), marker="x")
        plt.vline(1 - eps)
        plt.vline(1 + eps)
        plt.xlim(0, 2)
        plt.ylim(-2.2 * mag, 2.2 * mag)
        plt.title(self.title)
        plt.xlabel(f"ratio r   (eps {eps:g}, |A| {mag:g}; x = clipped)")
        self.refresh()
