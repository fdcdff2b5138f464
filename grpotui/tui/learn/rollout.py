"""The rollout canvas: a policy writes a response one token at a time (state, next-token bars, the
token drawn, the reward only at the end), then the G responses of one prompt side by side with
the group's mean, std and deltas. The policy is untrained, trained here for a chosen number of
rollouts (the real Trainer, in a thread), or, over the dashboard, a copy of the live one."""

from __future__ import annotations

import math

from rich.markup import escape
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static
from textual.worker import get_current_worker

from grpotui.tui.learn.base import Canvas, Slider, keep_indent

TRAIN_VALUES = (1, 10, 25, 50, 100, 200, 300, 500, 1000, 2000, 5000)   # arrows; typing: 1..5000
PER_POSITION_NOTE = ("This policy is per-position: its tokens do not depend on each other. Each "
                     "position's bars come from the prompt alone; the tokens drawn so far change "
                     "nothing (the lecture's model works this way).")


def as_text(tokens: list[int], whole: bool) -> str:
    """Number tokens read as the lesson's text: "[1, 2, 3]", or "[1, 2" while being written;
    its brackets escaped for markup (they are text, not tags)."""
    return "\\[" + ", ".join(str(int(t)) for t in tokens) + ("]" if whole else "")


def prob_text(p: float) -> str:
    """A probability in 5 cells: 0.123, or <.001 for a small one that is not zero (0.000 would
    read as 'drawn with probability 0')."""
    return f"{p:.3f}" if p >= 0.0005 or p == 0 else "<.001"


def prob_exact(p: float) -> str:
    """A probability in words' precision: 0.123, or two significant digits below 0.001."""
    return f"{p:.3f}" if p >= 0.0005 or p == 0 else f"{p:.2g}"


def rollouts_text(n: int) -> str:
    return f"{n} rollout{'' if n == 1 else 's'}"


class RolloutCanvas(Canvas):
    NAME = "rollout"
    TITLE = "A response is a trajectory, one token at a time"
    ABOUT = (
        "State: the prompt plus the tokens so far. Action: the next token, drawn from",
        "the bars; it extends the state, and an autoregressive policy's bars move with",
        "it. No reward until the response is whole. Then the group's G responses are",
        "scored side by side, and each reward becomes a delta against the group's mean.",
    )
    PLAYABLE = True
    KEEP = ("cfg", "policy", "source", "prompt", "prompt_index", "responses", "rewards", "stats",
            "last", "gen")
    BINDINGS = [*Canvas.PLAY_BINDINGS,
                Binding("t", "train", "Train"),
                Binding("f", "finish", "Finish group", show=False),
                Binding("p", "new_prompt", "New prompt", show=False),
                Binding("u", "untrained", "Untrained", show=False),
                Binding("v", "live", "Live policy")]
    DEFAULT_CSS = """
    RolloutCanvas #ro-left { width: 1fr; padding: 0 1; }
    RolloutCanvas #ro-right { width: 1fr; padding: 0 1; border-left: solid $primary; }
    RolloutCanvas #ro-state { height: auto; }
    RolloutCanvas #ro-bars { height: 1fr; margin-top: 1; }
    RolloutCanvas #ro-group { height: 1fr; }
    RolloutCanvas #ro-source { height: auto; color: $text-muted; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.cfg = None
        self.policy = None            # a StepwisePolicy
        self.source = "no policy yet"
        self.busy: str | None = None  # what a worker is doing (training, loading), shown instead
        self.prompt: list[int] = []
        self.prompt_index = 0
        self.responses: list[list[int]] = []
        self.rewards: list[float | None] = []
        self.stats: dict | None = None
        self.last = None              # (g, t, probs, token) of the last draw
        self.gen = None

    # ---------------------------------------------------------------- layout
    def body(self):
        with Vertical(id="ro-left"):
            yield Static(id="ro-state")
            yield Static(id="ro-bars")
        with Vertical(id="ro-right"):
            yield Static(id="ro-group")
            yield Static(id="ro-source")

    def sliders(self):
        import torch  # noqa: F401  (the canvas runs the policy here; load torch before drawing)

        cfg = self._config()
        return [Slider("group size G", min(16, max(2, cfg.group_size)), lo=2, hi=16, integer=True,
                       id="s-g"),
                Slider("tokens/s", 4, lo=1, hi=30, integer=True, id="s-speed"),
                Slider("temperature", cfg.temperature, lo=0.1, hi=3.0, step=0.1, id="s-temp",
                       fmt=lambda v: f"{v:.1f}"),
                Slider("train rollouts", 200, lo=TRAIN_VALUES[0], hi=TRAIN_VALUES[-1],
                       values=TRAIN_VALUES, integer=True,
                       id="s-train")]

    def extra_keys(self):
        return [("f", "finish the group at once"), ("p", "a new prompt (and a new group)"),
                ("t", "train a fresh policy for 'train rollouts' rollouts (GRPO, the Trainer)"),
                ("u", "back to the untrained policy"),
                ("v", "a copy of the dashboard's live policy")]   # shown only where v works

    # ---------------------------------------------------------------- the policy
    def _config(self):
        from grpotui.config import TrainConfig

        return getattr(self.app, "rollout_config", None) or getattr(self.app, "config", None) \
            or TrainConfig()

    def _live_available(self) -> bool:
        return hasattr(self.app, "request_policy")

    def check_action(self, action: str, parameters) -> bool | None:
        if action == "live" and not self._live_available():
            return False          # only over the dashboard: hide the key
        return True

    def on_mount(self) -> None:
        if self.restore() and self.policy is not None:   # opened before: as it was left
            super().on_mount()
            return
        self.cfg = self._config()
        if self._live_available():
            self.action_live()
        else:
            self.action_untrained()
        super().on_mount()

    def _use(self, module, cfg, source: str) -> None:
        import torch

        from grpotui.engine.lessons import StepwisePolicy

        self.cfg, self.source, self.busy = cfg, source, None
        self.policy = StepwisePolicy(module, cfg.n, self.query_one("#s-temp", Slider).value)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.prompt_index = 0
        self._new_prompt()

    def action_untrained(self) -> None:
        from grpotui.engine.lessons import untrained_policy

        cfg = self._config()
        self._use(untrained_policy(cfg), cfg, f"{cfg.policy} policy, untrained (seed {cfg.seed})")
        self.recompute()

    def action_live(self) -> None:
        if not self._live_available():
            self.notify("The live policy is the dashboard's: open this canvas from the dashboard "
                        "(press l there).", severity="warning")
            return
        self.stop_playing()
        self.busy = "asking the training process for a copy of its policy…"
        self.recompute()
        self.app.request_policy(self._got_live)

    def _got_live(self, copy: dict) -> None:
        if copy.get("error"):
            self.busy = None
            self.notify(copy["error"], severity="error")
            self.recompute()
            return
        self.run_worker(lambda: self._load_live(copy), thread=True, exclusive=True, group="policy")

    def _load_live(self, copy: dict) -> None:
        from grpotui.engine.lessons import policy_from_state

        module, cfg = policy_from_state(copy["config"], copy["state"])
        source = (f"{cfg.policy} policy: a copy of the dashboard's at rollout {copy['rollout']} "
                  f"(training goes on; v takes a newer copy)")
        self.app.call_from_thread(self._loaded, module, cfg, source)

    def _loaded(self, module, cfg, source: str) -> None:
        self._use(module, cfg, source)
        self.recompute()

    def action_train(self) -> None:
        self.stop_playing()
        rollouts = int(self.query_one("#s-train", Slider).value)
        cfg = self._config()
        self.busy = f"training a fresh {cfg.policy} policy: 0/{rollouts_text(rollouts)}…"
        self.recompute()
        self.run_worker(lambda: self._train(cfg, rollouts), thread=True, exclusive=True,
                        group="policy")

    def _train(self, cfg, rollouts: int) -> None:
        import torch

        from grpotui.engine.lessons import trained_policy

        me = get_current_worker()
        torch.set_num_threads(1)     # leave a core to the screen

        def progress(i, trainer) -> None:
            if i % 5 == 0 or i == rollouts:
                self.app.call_from_thread(self._progress, i, rollouts, trainer.config.policy)

        module, summary = trained_policy(cfg, rollouts, progress, lambda: me.is_cancelled)
        if me.is_cancelled:
            return
        source = (f"{cfg.policy} policy, trained here for {rollouts_text(summary['rollouts'])}: "
                  f"last mean reward {summary['reward']:.2f}, held-out exact match "
                  f"{summary['heldout']:.0%}")
        self.app.call_from_thread(self._loaded, module, cfg, source)

    def _progress(self, i: int, total: int, policy: str) -> None:
        self.busy = f"training a fresh {policy} policy: {i}/{rollouts_text(total)}…"
        self.recompute()

    # ---------------------------------------------------------------- the rollout
    def _new_prompt(self) -> None:
        import torch

        cfg = self.cfg
        if cfg.prompt_source == "fixed" and cfg.prompts:
            self.prompt = list(cfg.prompts[self.prompt_index % len(cfg.prompts)])
        else:
            self.prompt = torch.randint(0, cfg.vocab_size, (cfg.n,), generator=self.gen).tolist()
        self.prompt_index += 1
        self._new_group()

    def _new_group(self) -> None:
        g = int(self.query_one("#s-g", Slider).value)
        self.responses = [[] for _ in range(g)]
        self.rewards = [None] * g
        self.stats, self.last = None, None

    @property
    def group_done(self) -> bool:
        return all(r is not None for r in self.rewards)

    def advance(self) -> bool:
        from grpotui.engine.lessons import draw_token, group_stats, response_reward

        if self.policy is None or self.busy:
            return False
        if self.group_done:
            self._new_group()
            return True
        g = next(i for i, r in enumerate(self.rewards) if r is None)
        prefix = self.responses[g]
        probs = self.policy.next_distribution(self.prompt, prefix)
        token = draw_token(probs, self.gen)
        self.last = (g, len(prefix), probs, token)
        prefix.append(token)
        if len(prefix) == self.cfg.n:
            self.rewards[g] = response_reward(self.prompt, prefix, self.cfg.reward)
        if self.group_done:
            self.stats = group_stats(self.prompt, self.responses, self.cfg.reward,
                                     self.cfg.delta_mode)
            return False          # stop playing at the end of a group: time to read it
        return True

    def action_finish(self) -> None:
        self.stop_playing()
        if self.group_done:
            self._new_group()
        while self.advance():
            pass
        self.recompute()

    def action_new_prompt(self) -> None:
        self.stop_playing()
        if self.cfg is not None and self.gen is not None:
            self._new_prompt()
        self.recompute()

    def slider_changed(self, slider: Slider) -> None:
        if slider.id == "s-speed":
            self.restart_timer()
        elif slider.id == "s-g" and self.policy is not None:
            self.stop_playing()
            self._new_group()
        elif slider.id == "s-temp" and self.policy is not None:
            self.policy.temperature = slider.value

    def play_interval(self) -> float:
        return 1 / self.query_one("#s-speed", Slider).value

    # ---------------------------------------------------------------- drawing
    def on_resize(self) -> None:
        super().on_resize()
        self.call_after_refresh(self.recompute)   # the bars fit the panel's new height

    def recompute(self) -> None:
        state, bars, group = self.query_one("#ro-state", Static), self.query_one("#ro-bars", Static), \
            self.query_one("#ro-group", Static)
        source = self.busy or ("policy: " + self.source)
        if self.compact and not self.busy:
            source = "policy: " + self.source.split(":")[0].split(",")[0] + \
                (", trained" if "trained here" in self.source else
                 ", live copy" if "dashboard" in self.source else ", untrained")
        self.query_one("#ro-source", Static).update(escape(source))
        if self.policy is None:
            state.update(escape(self.busy or "no policy yet"))
            bars.update("")
            group.update("")
            return
        cfg, w = self.cfg, len(str(self.cfg.vocab_size - 1))
        from grpotui.engine.rewards import targets

        import torch

        target = targets(torch.tensor([self.prompt]))[0].tolist()
        # the trajectory being written (or the last one finished)
        if self.last is not None:
            g = self.last[0]
        else:
            g = 0
        written = self.responses[g]
        t_next = len(written)
        whole = t_next == cfg.n
        so_far = f' + [b]"{as_text(written, whole)}"[/]' if written else ""
        compact = self.compact
        # the tokens are numbers; as the lesson writes them they read as text: "[4, 8, 0"
        lines = [(f"prompt {as_text(self.prompt, True)} → {as_text(target, True)}" if compact else
                  f'prompt "Sort {as_text(self.prompt, True)}"   '
                  f"(sorted: {as_text(target, True)})"),
                 ("" if compact else f"response {g + 1} of {len(self.responses)}: ")
                 + f"s{t_next} = prompt{so_far}"
                 + ("  [dim](whole)[/]" if whole else
                    f" → a{t_next + 1} ~ π" if compact else
                    f"  → a{t_next + 1} ~ π(· | s{t_next})")]
        reward = self.rewards[g]
        if compact:
            lines.append(f"response {g + 1}/{len(self.responses)}, reward "
                         + (f"[b]{reward:g}[/]" if reward is not None else "only at the end"))
        else:
            lines.append(f"reward: [b]{reward:g}[/] (the response is whole)" if reward is not None
                         else f"reward: none yet, {cfg.n - t_next} token(s) to go: it comes only "
                              f"at the end")
        if not self.policy.autoregressive:
            lines.append(f"[$warning]{escape(PER_POSITION_NOTE)}[/]")
        state.update(keep_indent("\n".join(lines)))
        bars.update(keep_indent(self._bars(written, target, w)))
        group.update(keep_indent(self._group(target, w)))

    def _bars(self, written: list[int], target: list[int], w: int) -> str:
        if self.last is not None:
            g, t, probs, token = self.last
            prefix = self.responses[g][:t]
            p = prob_exact(float(probs[token]))
            head = (f"position {t + 1}: drew [b]{token}[/], p {p}" if self.compact else
                    f"position {t + 1}: drew [b]{token}[/] with probability {p}")
        else:
            t, token, prefix = 0, None, []
            probs = self.policy.next_distribution(self.prompt, prefix)
            head = "position 1 (space plays, n steps)" if self.compact else \
                "position 1: the first draw's bars (space plays, n steps)"
        given = " ".join(str(x) for x in prefix) or "nothing yet"
        lines = [head, f"π(next | prompt, {given}):"]
        order = list(range(len(probs)))
        # as many bars as the panel has rows for (after the two lines above and the note below):
        # the most likely tokens, and always the one drawn and the sorted answer's
        rows = self.query_one("#ro-bars", Static).size.height or (8 if self.compact else 99)
        room = max(3, rows - 3)
        if len(order) > rows - 2:
            must = [v for v in (token, target[t] if t < len(target) else None) if v is not None]
            likely = [v for v in sorted(order, key=lambda v: -float(probs[v])) if v not in must]
            order = sorted(set(must) | set(likely[:max(0, room - len(set(must)))]))
        top = float(probs.max())
        width = 18 if self.compact else 26
        for v in order:
            p = float(probs[v])
            bar = "█" * max(0, round(width * p / top)) if top > 0 else ""
            mark = []
            if v == token:
                mark.append("[b $success]← drawn[/]")
            if t < len(target) and v == target[t]:
                mark.append("[dim]◂ sorted[/]")
            style = "b" if v == token else "dim" if p < 0.02 else ""
            text = f"{v:>{w}} {prob_text(p)} {bar}"
            lines.append((f"[{style}]{text}[/]" if style else text) + " " + " ".join(mark))
        if len(probs) > len(order):
            lines.append(f"[dim]({len(order)} of {len(probs)}: likeliest, drawn, answer)[/]")
        return "\n".join(lines)

    def _group(self, target: list[int], w: int) -> str:
        cfg = self.cfg
        compact = self.compact
        lines = [] if compact else [f"the group: G = {len(self.responses)} responses to this prompt"]
        lines.append(f"{'':2} {'response':<{cfg.n * (w + 1)}} reward  delta")
        for i, (resp, r) in enumerate(zip(self.responses, self.rewards)):
            shown = " ".join(
                (f"[$success]{x:>{w}}[/]" if j < len(target) and x == target[j] else f"{x:>{w}}")
                for j, x in enumerate(resp))
            shown += " " * ((w + 1) * (cfg.n - len(resp)))
            delta = ""
            if self.stats is not None:
                delta = f"{self.stats['deltas'][i]:+6.2f}"
            lines.append(f"{i + 1:>2} {shown} {'' if r is None else f'{r:6g}':>6} {delta}")
        if self.stats is not None:
            s = self.stats
            std = "—" if math.isnan(s["std"]) else f"{s['std']:.3f}"
            lines.append(f"mean {s['mean']:.3f}  std {std}" + ("" if compact else
                         f" (torch.std)  delta mode [b]{cfg.delta_mode}[/]"))
            if s["std"] == 0:
                lines.append("[$warning]every reward is equal: no signal, this group pushes "
                             "nothing[/]" if cfg.delta_mode in ("centered", "normalized") else
                             "[$warning]every reward is equal[/]")
        elif not compact:
            lines.append("[dim]mean, std and deltas once every response is whole (f finishes)[/]")
        if not compact:
            lines.append("[dim]green: the token the sorted prompt has there[/]")
        return "\n".join(lines)
