"""`grpotui bench`: how fast grpotui trains on this machine, next to a loop written the lecture's way.

Every figure is the median of several repeats, with min and max, because shared machines are noisy.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from grpotui.config import TrainConfig
from grpotui.engine import grpo
from grpotui.engine.policies import LectureModel, build_policy
from grpotui.engine.task import PromptSource
from grpotui.presets import find_preset

LARGE = dict(policy="transformer", prompt_source="random", prompts_per_rollout=64, group_size=16,
             n=8, vocab_size=10, d_model=32, n_layers=2, n_heads=4, inner_steps=2,
             reward="position_match", delta_mode="normalized", loss_mode="clipped", heldout_size=256)


@dataclass
class Figure:
    name: str
    unit: str
    values: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    def row(self) -> dict:
        return {"name": self.name, "unit": self.unit, "median": self.median,
                "min": min(self.values, default=float("nan")),
                "max": max(self.values, default=float("nan")), "repeats": len(self.values),
                "note": self.note}


# ----------------------------------------------------------------------------- the reference loop
# A GRPO loop written the way the lecture's code writes it (CS336 Lecture 17, run_policy_gradient),
# with only its ratio fixed and its printing left out: the reward function is a Python function of one
# prompt and one response, called per response on the rows of the tensors (the lecture's
# compute_reward), old log-probs come from their own no-grad forward pass, every inner step recomputes
# the log-probs from a fresh forward pass, the optimizer is plain Adam, and each step records
# loss.item() and the mean reward as the lecture's `records` do.
def _lecture_position_match(prompt, response) -> float:
    target = sorted(prompt)
    return sum(1 for got, want in zip(response, target) if got == want)


def _lecture_inclusion_ordering(prompt, response) -> float:
    inclusion = sum(1 for token in prompt if token in response)
    ordering = sum(1 for a, b in zip(response, response[1:]) if a <= b)
    return inclusion + ordering


def _lecture_exact_match(prompt, response) -> float:
    return float(all(got == want for got, want in zip(response, sorted(prompt))))


LECTURE_REWARDS = {"position_match": _lecture_position_match,
                   "inclusion_ordering": _lecture_inclusion_ordering,
                   "exact_match": _lecture_exact_match}


def _lecture_rewards(prompts: torch.Tensor, responses: torch.Tensor, reward_fn) -> torch.Tensor:
    b, g, _ = responses.shape
    rewards = torch.empty(b, g, dtype=torch.float32)
    for i in range(b):
        for j in range(g):
            rewards[i, j] = reward_fn(prompts[i, :], responses[i, j, :])
    return rewards


def _lecture_log_probs(model, prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    log_probs = torch.log_softmax(model(prompts), dim=-1)                          # [B, n, V]
    g = responses.shape[1]
    log_probs = log_probs.unsqueeze(1).repeat(1, g, 1, 1)                          # [B, G, n, V]
    return log_probs.gather(dim=-1, index=responses.unsqueeze(-1)).squeeze(-1)     # [B, G, n]


class _LectureEinsumModel(LectureModel):
    """The lecture model with the lecture's own forward pass (three einsums)."""

    def forward(self, prompts: torch.Tensor) -> torch.Tensor:
        embeddings = self.embedding(prompts)
        encoded = torch.einsum("bpi,pij->bj", embeddings, self.encode_weights)
        decoded = torch.einsum("bj,pji->bpi", encoded, self.decode_weights)
        return torch.einsum("bpi,vi->bpv", decoded, self.embedding.weight)


def reference_steps_per_second(cfg: TrainConfig, seconds: float) -> float:
    model = build_policy(cfg, cfg.seed)
    if isinstance(model, LectureModel):  # same parameters, the lecture's forward pass
        einsum_model = _LectureEinsumModel(cfg.vocab_size, cfg.d_model, cfg.n, cfg.n)
        einsum_model.load_state_dict(model.state_dict())
        model = einsum_model
    model = model.to(cfg.device if cfg.device != "auto" else "cpu")
    device = next(model.parameters()).device
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    source = PromptSource(cfg.prompt_source, cfg.n, cfg.vocab_size, cfg.heldout_size, cfg.prompts,
                          cfg.seed)
    reward_fn = LECTURE_REWARDS[cfg.reward]
    records = []
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        prompts = source.sample(cfg.prompts_per_rollout).to(device)
        logits = model(prompts)                                                    # sample
        b, n, v = logits.shape
        flat = torch.multinomial(torch.softmax(logits.reshape(b * n, v), dim=-1), cfg.group_size,
                                 replacement=True)
        responses = flat.reshape(b, n, cfg.group_size).permute(0, 2, 1)            # [B, G, n]
        rewards = _lecture_rewards(prompts.cpu(), responses.cpu(), reward_fn).to(device)
        deltas = grpo.compute_deltas(rewards, cfg.delta_mode)
        old_log_probs = None
        if cfg.loss_mode != "naive":
            with torch.no_grad():
                old_log_probs = _lecture_log_probs(model, prompts, responses)
        for _ in range(cfg.inner_steps):
            log_probs = _lecture_log_probs(model, prompts, responses)
            loss = grpo.policy_loss(log_probs, old_log_probs, deltas, cfg.loss_mode, cfg.clip_eps)
            records.append({"step": steps, "loss": loss.item(), "mean_reward": rewards.mean().item()})
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps += 1
    return steps / (time.perf_counter() - t0)


def engine_steps_per_second(cfg: TrainConfig, seconds: float) -> float:
    from grpotui.engine.trainer import Trainer

    t = Trainer(cfg, final_ratios=False)
    t.rollout()  # warm-up
    start_step, t0 = t.step, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        t.rollout()
    return (t.step - start_step) / (time.perf_counter() - t0)


def bare_steps_per_second(cfg: TrainConfig, seconds: float) -> float:
    """The floor: optimizer steps on one fixed batch with nothing else (no sampling, rewards,
    metrics or checks): forward, log-softmax, gather, naive loss, backward, fused Adam. What any loop
    must pay per step for this model in eager PyTorch; the engine's distance to it is its overhead."""
    model = build_policy(cfg, cfg.seed).to(cfg.device if cfg.device != "auto" else "cpu")
    device = next(model.parameters()).device
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, fused=True)
    source = PromptSource(cfg.prompt_source, cfg.n, cfg.vocab_size, cfg.heldout_size, cfg.prompts,
                          cfg.seed)
    prompts = source.sample(cfg.prompts_per_rollout).to(device)
    with torch.no_grad():
        responses = grpo.sample_responses(model(prompts), cfg.group_size)
    deltas = torch.randn(responses.shape[:2], device=device)
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        logp = grpo.response_log_probs(model(prompts), responses)
        loss = grpo.policy_loss(logp, None, deltas, "naive")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        steps += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)


def autoregressive_rates(cfg: TrainConfig, seconds: float, use_cache: bool = True
                         ) -> tuple[float, float, float]:
    """(optimizer steps/s, sampled tokens/s, share of a rollout spent sampling) for an
    autoregressive preset, training as `grpotui run` does; sampling is timed inside the trainer."""
    import functools

    from grpotui.engine.trainer import Trainer

    t = Trainer(cfg, final_ratios=False)
    sample = functools.partial(type(t.policy).sample, t.policy, use_cache=use_cache)
    spent = [0.0]

    def timed_sample(*args, **kw):
        t0 = time.perf_counter()
        try:
            return sample(*args, **kw)
        finally:
            spent[0] += time.perf_counter() - t0

    t.policy.sample = timed_sample
    t.rollout()  # warm-up
    spent[0] = 0.0
    start_step, start_rollout, t0 = t.step, t.rollout_index, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        t.rollout()
    elapsed = time.perf_counter() - t0
    tokens = (t.rollout_index - start_rollout) * cfg.prompts_per_rollout * cfg.group_size * cfg.n
    return (t.step - start_step) / elapsed, tokens / spent[0], spent[0] / elapsed


def seconds_to_heldout(cfg: TrainConfig, target: float, limit: float) -> float:
    from grpotui.engine.trainer import Trainer

    t0 = time.perf_counter()
    t = Trainer(cfg, final_ratios=False)
    while t.heldout_exact_match < target:
        if time.perf_counter() - t0 > limit:
            return float("nan")
        t.rollout()
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------- the dashboard
def dashboard_rate(cfg: TrainConfig, seconds: float) -> tuple[float, float, float, float]:
    """(dashboard steps/s, headless steps/s, headless steps/s on one torch thread, UI updates per
    second) for the same preset and time. The dashboard's training process uses one thread (the
    screen has the other core), so the one-thread headless rate is what it could reach at best."""
    from grpotui.runner import StopRules, run_headless
    from grpotui.tui.app import GrpoApp

    headless = run_headless(cfg, StopRules(max_seconds=seconds), quiet=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one_thread = run_headless(cfg, StopRules(max_seconds=seconds), quiet=True)
    finally:
        torch.set_num_threads(threads)
    app = GrpoApp(cfg, preset_name="bench")
    result = {}

    async def drive() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            while app.step == 0:
                await pilot.pause(0.05)
            s0, n0, t0 = app.step, app.snapshots_seen, time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                await pilot.pause(0.1)
            dt = time.perf_counter() - t0
            result.update(steps=(app.step - s0) / dt, hz=(app.snapshots_seen - n0) / dt)
            await app.action_quit()

    asyncio.run(drive())
    return result["steps"], headless.steps_per_second, one_thread.steps_per_second, result["hz"]


def startup_seconds(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "grpotui.cli", *args], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t0


def first_frame_seconds() -> float:
    code = ("import time; t0 = time.perf_counter()\n"
            "import asyncio\n"
            "from grpotui.tui.app import GrpoApp\n"
            "async def main():\n"
            "    app = GrpoApp(paused=True)\n"
            "    async with app.run_test(size=(120, 40)) as pilot:\n"
            "        await pilot.pause()\n"
            "        print(time.perf_counter() - t0)\n"
            "        await app.action_quit()\n"
            "if __name__ == '__main__':\n"
            "    asyncio.run(main())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    try:
        return float(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return float("nan")


# ----------------------------------------------------------------------------- watching a big file
WATCH_RECORDS = 500_000


def make_metrics_file(path, records: int, seed: int = 0) -> None:
    """A metrics file shaped like `grpotui run --metrics --metrics-groups` writes: a start record,
    `records` step records with every step key, a set event every 50,000 steps and a groups record
    every 10,000."""
    import json
    import random

    from grpotui.metrics import STEP_KEYS

    rng = random.Random(seed)
    groups = {"prompts": [[3, 1, 2]] * 4, "targets": [[1, 2, 3]] * 4,
              "responses": [[[1, 2, 3]] * 8] * 4, "rewards": [[3.0] * 8] * 4,
              "deltas": [[0.0] * 8] * 4, "ratios": [[1.0] * 8] * 4,
              "token_ratios": [1.0] * 96, "token_deltas": [0.0] * 96}
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps({"event": "start", "step": 0, "rollout": 0, "preset": "bench",
                            "config": TrainConfig().to_dict()}) + "\n")
        for i in range(1, records + 1):
            rec = {k: round(rng.random(), 6) for k in STEP_KEYS}
            rec.update(step=i, rollout=(i + 9) // 10, time=i / 100)
            f.write(json.dumps(rec) + "\n")
            if i % 50_000 == 0:
                f.write(json.dumps({"event": "set", "step": i, "rollout": i // 10,
                                    "key": "learning_rate", "old": 0.01, "new": 0.005}) + "\n")
            if i % 10_000 == 0:
                f.write(json.dumps({"event": "groups", "step": i, "rollout": i // 10,
                                    "groups": groups}) + "\n")


def watch_open(path, records: int) -> tuple[float, float]:
    """(seconds, peak MB): a fresh process opens `grpotui watch` on the file until its latest step
    is on screen (imports included, interpreter start-up not), and its peak resident memory (Linux
    VmHWM, which unlike ru_maxrss is not carried over from the parent; nan without /proc)."""
    code = ("import time; t0 = time.perf_counter()\n"
            "import asyncio, sys\n"
            "from grpotui.sources import FileSource\n"
            "from grpotui.tui.app import GrpoApp\n"
            "async def main():\n"
            "    app = GrpoApp(source=FileSource([sys.argv[1]]))\n"
            "    async with app.run_test(size=(120, 40)) as pilot:\n"
            "        while not (app.runs and app.runs[0] and app.runs[0]['step'] == int(sys.argv[2])):\n"
            "            await pilot.pause(0.01)\n"
            "        await pilot.pause()\n"
            "        print(time.perf_counter() - t0)\n"
            "        status = open('/proc/self/status').read()\n"
            "        print(int(status.split('VmHWM:')[1].split()[0]) / 1024)\n"
            "        await app.action_quit()\n"
            "if __name__ == '__main__':\n"
            "    asyncio.run(main())\n")
    try:
        out = subprocess.run([sys.executable, "-c", code, str(path), str(records)],
                             capture_output=True, text=True, check=False, timeout=300)
        seconds, mb = out.stdout.strip().splitlines()[-2:]
        return float(seconds), float(mb)
    except (ValueError, IndexError, subprocess.TimeoutExpired):
        return float("nan"), float("nan")


LIVE_WRITER = r"""
import json, math, sys, time
paths, rate, keys = sys.argv[1:5], float(sys.argv[5]), int(sys.argv[6])
names = ["reward", "loss", "kl", "entropy", "grad_norm"] + [f"metric/{k:02d}" for k in range(keys - 5)]
def rec(i, r):
    return json.dumps({"step": i, "rollout": i, "time": i / rate,
                       **{m: math.sin(i / 50 + k + r) + r for k, m in enumerate(names)}}) + "\n"
files = [open(p, "a", encoding="utf-8") for p in paths]
for r, f in enumerate(files):          # some history, as a run being watched has
    f.write("".join(rec(i, r) for i in range(1, 201)))
    f.flush()
print("ready", flush=True)
i, t0 = 200, time.monotonic()
while True:
    i += 1
    for r, f in enumerate(files):
        f.write(rec(i, r))
        f.flush()
    time.sleep(max(0.0, t0 + (i - 200) / rate - time.monotonic()))
"""


def watch_live(seconds: float, runs: int = 4, rate: float = 10.0, keys: int = 30,
               grid: str = "3x3") -> tuple[float, float, float, float]:
    """(screen updates per second, redraws per second, the UI thread's p95 frame time in ms, and
    the p95 of how long the UI's event loop was blocked, in ms: a 20 ms probe timer's lateness,
    which counts every render and handler wherever Textual runs it):
    a fresh process watches `runs` files that another process appends to at `rate` steps a second
    each (`keys` metrics a step, like a TRL run), on a 200x60 screen showing a `grid` of charts;
    measured over `seconds` after the runs are on screen, with the GRPOTUI_STATS machinery
    (grpotui/tui/stats.py): snapshots taken in, redraw ticks that reached the screen and their
    frame time (tick to screen refresh)."""
    import json
    import os
    import tempfile

    code = ("import asyncio, json, sys, time\n"
            "from grpotui.sources import FileSource\n"
            "from grpotui.tui.app import GrpoApp\n"
            "from grpotui.tui.widgets.grid import parse_grid\n"
            "async def main():\n"
            "    paths, seconds = sys.argv[1].split(','), float(sys.argv[2])\n"
            "    app = GrpoApp(source=FileSource(paths), grid=parse_grid(sys.argv[3]))\n"
            "    async with app.run_test(size=(200, 60)) as pilot:\n"
            "        while not (len(app.runs) == len(paths) and all(app.runs)):\n"
            "            await pilot.pause(0.05)\n"
            "        await pilot.pause(1.0)\n"
            "        frames, timed = [], app.stats.frame\n"
            "        def frame(s):   # every frame of the window (the stats file splits it)\n"
            "            frames.append(s * 1000)\n"
            "            timed(s)\n"
            "        app.stats.frame = frame\n"
            "        lags = []\n"
            "        async def probe():   # the loop's lateness: whatever blocks the UI thread\n"
            "            while True:\n"
            "                t = time.perf_counter()\n"
            "                await asyncio.sleep(0.02)\n"
            "                lags.append((time.perf_counter() - t - 0.02) * 1000)\n"
            "        prober = asyncio.create_task(probe())\n"
            "        n0, t0 = app.snapshots_seen, time.perf_counter()\n"
            "        await pilot.pause(seconds)\n"
            "        dt = time.perf_counter() - t0\n"
            "        prober.cancel()\n"
            "        lags.sort()\n"
            "        lag = lags[min(len(lags) - 1, int(0.95 * len(lags)))] if lags else None\n"
            "        frames.sort()\n"
            "        p95 = frames[min(len(frames) - 1, int(0.95 * len(frames)))] if frames else None\n"
            "        print(json.dumps({'hz': (app.snapshots_seen - n0) / dt,\n"
            "                          'drawn': len(frames) / dt, 'p95': p95, 'lag': lag}))\n"
            "        await app.action_quit()\n"
            "asyncio.run(main())\n")
    with tempfile.TemporaryDirectory() as tmp:
        paths = [os.path.join(tmp, f"run{r}.jsonl") for r in range(runs)]
        stats = os.path.join(tmp, "stats.jsonl")
        writer = subprocess.Popen([sys.executable, "-c", LIVE_WRITER, *paths, str(rate),
                                   str(keys)], stdout=subprocess.PIPE, text=True)
        try:
            writer.stdout.readline()      # "ready": the history is written
            out = subprocess.run([sys.executable, "-c", code, ",".join(paths), str(seconds), grid],
                                 capture_output=True, text=True, check=False, timeout=300,
                                 env={**os.environ, "GRPOTUI_STATS": stats})
            got = json.loads(out.stdout.strip().splitlines()[-1])
            nan = float("nan")
            return (got["hz"], got["drawn"], nan if got["p95"] is None else got["p95"],
                    nan if got["lag"] is None else got["lag"])
        except (ValueError, IndexError, KeyError, OSError, subprocess.TimeoutExpired):
            return float("nan"), float("nan"), float("nan"), float("nan")
        finally:
            writer.kill()
            writer.wait()


# ------------------------------------------------------------------ runs logged without grpotui
HF_ENTRIES = 100_000      # log entries in the bench's trainer_state.json
TB_SCALARS = 1_000_000    # scalars in its TensorBoard event file
TRL_KEYS = ("loss", "grad_norm", "learning_rate", "num_tokens", "completions/mean_length",
            "completions/min_length", "completions/max_length", "completions/clipped_ratio",
            "completions/mean_terminated_length", "completions/min_terminated_length",
            "completions/max_terminated_length", "rewards/position_match_reward/mean",
            "rewards/position_match_reward/std", "reward", "reward_std", "frac_reward_zero_std",
            "kl", "entropy", "clip_ratio/low_mean", "clip_ratio/high_mean",
            "clip_ratio/region_mean", "clip_ratio/low_min", "clip_ratio/high_max", "step_time",
            "epoch")            # what a TRL GRPOTrainer logs at each step (DESIGN.md section 6)


def make_trainer_state(folder, entries: int, seed: int = 0) -> int:
    """A Trainer output folder whose checkpoint holds a trainer_state.json of `entries` log entries
    of TRL's 25 metrics, in the Trainer's own layout (json.dumps(indent=2, sort_keys=True)); returns
    the last step. 1,000 entries are encoded and repeated with their steps renumbered (the indenting
    encoder is pure Python: 100,000 entries would take seconds)."""
    import json
    import random

    rng = random.Random(seed)
    folder = Path(folder) / f"checkpoint-{entries}"
    folder.mkdir(parents=True, exist_ok=True)
    mark = 987654321987
    head, sep = json.dumps({"global_step": entries, "log_history": [{}], "max_steps": entries},
                           indent=2, sort_keys=True).split("    {}")
    pool = []
    for _ in range(1000):
        text = json.dumps({"log_history": [{**{k: round(rng.random(), 6) for k in TRL_KEYS},
                                            "step": mark}]}, indent=2, sort_keys=True)
        pool.append(text[text.index("    {"):text.rindex("    }") + 5])
    with open(folder / "trainer_state.json", "w", encoding="utf-8") as f:
        f.write(head)
        f.write(",\n".join(pool[i % 1000].replace(str(mark), str(i + 1)) for i in range(entries)))
        f.write(sep + "\n")
    return entries


def make_event_file(folder, scalars: int, seed: int = 0) -> int:
    """A folder with an event file of `scalars` scalars as the Trainer's TensorBoardCallback writes
    them (train/<TRL's 25 names>, one value per event, steps 1, 2, ...; values from a pool), framed
    by grpotui.tbfile.frame; returns the last step."""
    import random

    from grpotui import tbfile

    rng = random.Random(seed)
    pool = [round(rng.random(), 6) for _ in range(997)]
    tags = [f"train/{k}" for k in TRL_KEYS]
    steps = scalars // len(tags)
    rows = [(s, {t: pool[(s * 31 + j) % 997] for j, t in enumerate(tags)})
            for s in range(1, steps + 1)]
    run = Path(folder) / "runs" / "bench"
    run.mkdir(parents=True, exist_ok=True)
    tbfile.write_scalars(run / "events.out.tfevents.1700000000.bench.1.0", rows)
    return steps


# ----------------------------------------------------------------------------- the whole bench
def run_bench(repeats: int = 3, seconds: float = 3.0, device: str = "cpu",
              dashboard: bool = True, progress=None, watch: bool = True) -> list[Figure]:
    def say(text: str) -> None:
        if progress:
            progress(text)

    lecture = find_preset("lecture-centered").config.replace(device=device)
    large = TrainConfig(**LARGE, device=device)
    sort4 = find_preset("sort4").config.replace(device=device)
    sort8_ar = find_preset("sort8-ar").config.replace(device=device)
    shares: dict[str, list[float]] = {"ar_steps": [], "ar_steps_nc": []}
    figs = {k: Figure(*v) for k, v in {
        "lec_engine": ("lecture config: engine", "steps/s"),
        "lec_ref": ("lecture config: reference loop", "steps/s"),
        "lec_bare": ("lecture config: bare step (the floor)", "steps/s"),
        "large_engine": ("large config: engine", "steps/s"),
        "large_ref": ("large config: reference loop", "steps/s"),
        "large_bare": ("large config: bare step (the floor)", "steps/s"),
        "sort4": ("sort4: seconds to 99% held-out exact match", "s"),
        "ar_steps": ("sort8-ar: engine (KV cache)", "steps/s"),
        "ar_tokens": ("sort8-ar: sampled tokens/s (KV cache)", "tok/s"),
        "ar_steps_nc": ("sort8-ar: engine (no KV cache)", "steps/s"),
        "ar_tokens_nc": ("sort8-ar: sampled tokens/s (no KV cache)", "tok/s"),
        "dash": ("dashboard training rate (default preset)", "steps/s"),
        "dash_headless": ("headless training rate (default preset)", "steps/s"),
        "dash_headless1": ("headless, one torch thread (default preset)", "steps/s"),
        "dash_hz": ("dashboard updates per second", "Hz"),
        "help": ("grpotui --help", "s"),
        "frame": ("dashboard first frame", "s"),
        "watch_open": (f"watch: open a {WATCH_RECORDS:,}-record file", "s"),
        "watch_mb": ("watch: peak memory opening it", "MB"),
        "watch_small_mb": ("watch: peak memory, a 1,000-record file", "MB"),
        "watch_state": (f"watch: open a trainer_state.json of {HF_ENTRIES:,} entries", "s"),
        "watch_tb": (f"watch: open an event file of {TB_SCALARS:,} scalars", "s"),
        "live_hz": ("watch: 9 charts, 4 runs at 10 steps/s: updates", "Hz"),
        "live_drawn": ("watch: 9 charts, 4 runs at 10 steps/s: redraws", "Hz"),
        "live_p95": ("watch: 9 charts, 4 runs at 10 steps/s: UI frame p95", "ms"),
        "live_lag": ("watch: 9 charts, 4 runs at 10 steps/s: UI loop blocked p95", "ms"),
    }.items()}
    tmp = None
    if watch:
        import os
        import tempfile

        tmp = tempfile.TemporaryDirectory()
        big, small = Path(tmp.name) / "big.jsonl", Path(tmp.name) / "small.jsonl"
        say(f"writing a {WATCH_RECORDS:,}-record metrics file")
        make_metrics_file(big, WATCH_RECORDS)
        make_metrics_file(small, 1000)
        figs["watch_open"].note = f"{os.path.getsize(big) / 2**20:.0f} MB of JSONL"
        say(f"writing a trainer_state.json of {HF_ENTRIES:,} entries and an event file of "
            f"{TB_SCALARS:,} scalars")
        state_dir, tb_dir = Path(tmp.name) / "hf-state", Path(tmp.name) / "hf-tb"
        state_last = make_trainer_state(state_dir, HF_ENTRIES)
        tb_last = make_event_file(tb_dir, TB_SCALARS)
        figs["watch_state"].note = (f"{os.path.getsize(next(state_dir.glob('*/*.json'))) / 2**20:.0f}"
                                    f" MB, to its latest step on screen")
        figs["watch_tb"].note = (f"{os.path.getsize(next(tb_dir.glob('runs/*/*'))) / 2**20:.0f} MB, "
                                 f"to its latest step on screen")
    for i in range(repeats):
        say(f"repeat {i + 1}/{repeats}: lecture config")
        figs["lec_engine"].values.append(engine_steps_per_second(lecture, seconds))
        figs["lec_ref"].values.append(reference_steps_per_second(lecture, seconds))
        figs["lec_bare"].values.append(bare_steps_per_second(lecture, seconds))
        say(f"repeat {i + 1}/{repeats}: large config")
        figs["large_engine"].values.append(engine_steps_per_second(large, seconds))
        figs["large_ref"].values.append(reference_steps_per_second(large, seconds))
        figs["large_bare"].values.append(bare_steps_per_second(large, seconds))
        say(f"repeat {i + 1}/{repeats}: sort4 to 99%")
        figs["sort4"].values.append(seconds_to_heldout(sort4, 0.99, 120.0))
        say(f"repeat {i + 1}/{repeats}: autoregressive")
        for suffix, cache in (("", True), ("_nc", False)):
            steps, tokens, share = autoregressive_rates(sort8_ar, seconds, cache)
            figs["ar_steps" + suffix].values.append(steps)
            figs["ar_tokens" + suffix].values.append(tokens)
            shares["ar_steps" + suffix].append(share)
        say(f"repeat {i + 1}/{repeats}: start-up")
        figs["help"].values.append(startup_seconds(["--help"]))
        if dashboard and device == "cpu":
            figs["frame"].values.append(first_frame_seconds())
            say(f"repeat {i + 1}/{repeats}: dashboard vs headless")
            d, h, h1, hz = dashboard_rate(find_preset("default").config, 2 * seconds)
            figs["dash"].values.append(d)
            figs["dash_headless"].values.append(h)
            figs["dash_headless1"].values.append(h1)
            figs["dash_hz"].values.append(hz)
        if watch:
            say(f"repeat {i + 1}/{repeats}: watch a {WATCH_RECORDS:,}-record file")
            t, mb = watch_open(big, WATCH_RECORDS)
            figs["watch_open"].values.append(t)
            figs["watch_mb"].values.append(mb)
            figs["watch_small_mb"].values.append(watch_open(small, 1000)[1])
            say(f"repeat {i + 1}/{repeats}: watch a Trainer's trainer_state.json and event file")
            figs["watch_state"].values.append(watch_open(state_dir, state_last)[0])
            figs["watch_tb"].values.append(watch_open(tb_dir, tb_last)[0])
            say(f"repeat {i + 1}/{repeats}: watch 4 runs followed live on 9 charts")
            hz, drawn, p95, lag = watch_live(max(seconds, 5.0))
            figs["live_lag"].values.append(lag)
            figs["live_hz"].values.append(hz)
            figs["live_drawn"].values.append(drawn)
            figs["live_p95"].values.append(p95)
    if tmp is not None:
        tmp.cleanup()
    out = [f for f in figs.values() if f.values]
    for engine, ref, bare in (("lec_engine", "lec_ref", "lec_bare"),
                              ("large_engine", "large_ref", "large_bare")):
        figs[engine].note = (f"{figs[engine].median / figs[ref].median:.1f}x reference, "
                             f"{figs[engine].median / figs[bare].median:.0%} of floor")
    for key, values in shares.items():
        if values:
            figs[key].note = f"sampling {statistics.median(values):.0%} of a rollout"
    if figs["ar_tokens_nc"].values:
        figs["ar_tokens"].note = (f"{figs['ar_tokens'].median / figs['ar_tokens_nc'].median:.1f}x "
                                  f"without the cache")
    if figs["dash"].values:
        figs["dash"].note = (f"{figs['dash'].median / figs['dash_headless'].median:.0%} of headless, "
                             f"{figs['dash'].median / figs['dash_headless1'].median:.0%} of 1-thread")
    return out


def machine_description() -> str:
    """CPU model, architecture, cores, Python and torch versions: what the figures depend on."""
    import os
    import platform

    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f
                          if line.startswith("model name")), model)
    except OSError:
        pass
    parts = [model, platform.machine(), f"{os.cpu_count()} cores", f"Python {platform.python_version()}",
             f"torch {torch.__version__}"]
    return ", ".join(p for p in parts if p)


def bench_table(figs: list[Figure], machine: str, device: str, repeats: int):
    """The rich table `grpotui bench` prints (and the README shows)."""
    from rich.table import Table

    table = Table(title=f"grpotui bench ({machine}, {device}, median of {repeats})")
    # In a narrow terminal the measure and the comparison wrap; numbers and units never do, and the
    # comparison (the point of the table) keeps room of its own rather than being squeezed out.
    table.add_column("measure", min_width=16, ratio=3)
    for col in ("median", "min", "max"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("unit", no_wrap=True)
    table.add_column("compared", min_width=16, ratio=2)
    for f in figs:
        r = f.row()
        fmt = "{:.2f}" if f.unit == "s" else "{:.0f}"
        table.add_row(f.name, fmt.format(r["median"]), fmt.format(r["min"]), fmt.format(r["max"]),
                      f.unit, f.note)
    return table
