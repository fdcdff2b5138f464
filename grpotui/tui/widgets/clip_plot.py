"""The PPO clip curve: L_clip(r) = min(r*A, clip(r, 1-eps, 1+eps_high)*A) for r in [0, 2].

Drawn for a positive and a negative advantage of magnitude |A| (keys + and - change it, x cycles
which signs are shown), with the lines at 1 - eps and 1 + eps_high (eps_high: TRL's epsilon_high,
clip-higher; eps when not set). The latest batch's tokens are drawn over it at the ratio the last
inner step's loss used (before that step's update): tokens with a positive delta on the positive
curve, negative on the negative one. A token in a flat part of its curve is one the clip stopped:
its gradient is zero. With one inner step (K = 1) every such ratio is 1: the loss is on-policy.

The batch comes from a run or a watched file: a ratio or delta that is not a number is left out, and
an eps that is not a number from 0 up is drawn as the default 0.2.
"""

from __future__ import annotations

from grpotui.tui.widgets.plot import SafePlot, number, points

SIGNS = ("both", "positive", "negative")


def l_clip(r: float, a: float, eps: float, eps_high: float | None = None) -> float:
    high = eps if eps_high is None else eps_high
    return min(r * a, min(max(r, 1 - eps), 1 + high) * a)


class ClipPlot(SafePlot):
    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.eps = 0.2
        self.eps_high: float | None = None
        self.magnitude = 0.8
        self.signs = "both"
        self.ratios: list[float] = []
        self.deltas: list[float] = []
        self.title = "the latest batch's tokens show here"

    def set_batch(self, eps: float, ratios: list[float], deltas: list[float], title: str,
                  eps_high: float | None = None) -> None:
        """eps_high: the clip's upper side when it differs from eps (None: eps)."""
        e = number(eps)
        self.eps = e if e is not None and e >= 0 else 0.2
        h = number(eps_high)
        self.eps_high = h if h is not None and h > 0 else None
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
        high = eps if self.eps_high is None else self.eps_high
        xs = [i / 50 for i in range(101)]
        wanted = [s for s in (1, -1) if self.signs == "both" or (s > 0) == (self.signs == "positive")]
        for sign in wanted:
            a = sign * mag
            plt.plot(xs, [l_clip(x, a, eps, high) for x in xs], label=f"A={a:+.1f}",
                     marker="braille")
            points = [(r, l_clip(r, a, eps, high)) for r, d in zip(self.ratios, self.deltas)
                      if (d > 0 if sign > 0 else d < 0) and 0 <= r <= 2]
            if points:
                clipped = [(r, y) for r, y in points
                           if (sign > 0 and r > 1 + high) or (sign < 0 and r < 1 - eps)]
                free = [p for p in points if p not in clipped]
                if free:
                    plt.scatter(*zip(*free), marker="•")
                if clipped:
                    plt.scatter(*zip(*clipped), marker="x")
        plt.vline(1 - eps)
        plt.vline(1 + high)
        plt.xlim(0, 2)
        plt.ylim(-2.2 * mag, 2.2 * mag)
        plt.title(self.title)
        eps_text = f"eps {eps:g}" if high == eps else f"eps {eps:g}/{high:g}"
        plt.xlabel(f"ratio r   ({eps_text}, |A| {mag:g}; x = clipped)")
        self.refresh()
