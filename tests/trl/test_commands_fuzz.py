"""Generated command lines against a real GRPOTrainer with grpotui attached (control=True).

Lines are drawn with what the run must answer: valid changes (a `set` event each, with the old and
new values), changes the run must refuse (wrong types, out of bounds, non-finite numbers written as
1e999, NaN or Infinity, huge integers, unknown or fixed settings, the wrong reward functions) and
whole lines it must refuse (not JSON, binary garbage, truncated, nested too deep, too long, bad ids,
no changes). Two properties:

- every batch of lines written to the command file and read at an optimizer step (the callback's
  own on_step_begin: CommandReader.poll, parse_command, broadcast, apply, the metrics writer) of a
  trainer built once yields exactly the expected `set` and `refused` records, and no `error`;
- a real run (`trainer.train()`) given such batches at several steps completes every step with the
  same records.

CI runs 100 and 6 examples (about 11 s in all). For a longer run by hand set
GRPOTUI_FUZZ_EXAMPLES, e.g.
    GRPOTUI_FUZZ_EXAMPLES=500 .venv/bin/python -m pytest tests/trl/test_commands_fuzz.py -q
(the end-to-end property runs a tenth as many examples, each a training run of about 0.6 s).
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grpotui import steering
from grpotui.integrations.sorting import exact_match_reward, position_match_reward
from grpotui.integrations.trl import FIXED
from tests.trl.runs import grpo_run

NAMES = ["position_match_reward", "exact_match_reward"]
FUZZ = int(os.environ.get("GRPOTUI_FUZZ_EXAMPLES", "0"))
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                     HealthCheck.function_scoped_fixture,
                                                     HealthCheck.data_too_large])


# ---------------------------------------------------------------- what a line should get
@dataclass
class Change:
    key: str                 # as sent
    text: str                # the value as JSON text
    ok: bool                 # the run applies it
    value: Any = None        # normalised, when ok


@dataclass
class Line:
    raw: bytes
    whole: bool = False                       # refused as a whole line (key None)
    cid: int | None = None                    # the id the answer carries
    changes: list[Change] = field(default_factory=list)
    blank: bool = False                       # no answer at all


def f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def expected(lines: list[Line], state: dict, step: int) -> list[tuple]:
    """The set/refused records for `lines` at `step`, updating `state` (the run's live values) as
    the run does."""
    out: list[tuple] = []
    for line in lines:
        if line.blank:
            continue
        if line.whole:
            out.append(("refused", step, None, line.cid))
            continue
        for c in line.changes:
            if not c.ok:
                out.append(("refused", step, c.key, line.cid))
                continue
            key = steering.canonical(c.key)
            if key in ("learning_rate", "beta", "epsilon_high", "scale_rewards"):
                out.append(("set", step, key, state[key], c.value, line.cid))
                state[key] = c.value
            elif key == "epsilon":           # the run did not set epsilon_high: both bounds
                out.append(("set", step, "epsilon", state["epsilon"], c.value, line.cid))
                out.append(("set", step, "epsilon_high", state["epsilon_high"], c.value, line.cid))
                state["epsilon"] = state["epsilon_high"] = c.value
            elif key == "epsilon_low":
                out.append(("set", step, "epsilon", state["epsilon"], c.value, line.cid))
                state["epsilon"] = c.value
            else:                            # reward weights: {index: weight}
                old = list(state["reward_weights"])
                for i, w in c.value.items():
                    state["reward_weights"][i] = f32(w)
                out.append(("set", step, "reward_weights", old, list(state["reward_weights"]),
                            line.cid))
    return out


def answered(records: list[dict]) -> list[tuple]:
    out = []
    for r in records:
        assert type(r.get("id")) is int or r.get("id") is None, r
        if r.get("event") == "set":
            out.append(("set", r["step"], r["key"], r["old"], r["new"], r["id"]))
        elif r.get("event") == "refused":
            assert isinstance(r["message"], str) and 20 < len(r["message"]) < 500, r
            assert r["key"] is None or isinstance(r["key"], str)
            if isinstance(r["value"], str):
                assert len(r["value"]) <= 80
            out.append(("refused", r["step"], r["key"], r["id"]))
    return out


# ---------------------------------------------------------------- values as JSON text
NON_FINITE = st.sampled_from(["1e999", "-1e999", "NaN", "Infinity", "-Infinity", "1E400"])
HUGE_INT = st.integers(10, 4000).map(lambda n: "9" * n)
ODD = st.one_of(
    st.sampled_from(["true", "false", "null", '"0.1"', '"group"', "[]", "{}", "[0.1]",
                     '{"a": 1}', '"$[@]=:/"', "[[[1]]]", '"\\u0000"', '"\\ud800"', "-0"]),
    st.text(alphabet="[]/@=$:{}\\ ,.'x", max_size=20).map(json.dumps))


def number_text(x: float | int) -> str:
    return json.dumps(x)


@st.composite
def in_bounds(draw, lo: float, hi: float) -> tuple[str, float]:
    x = draw(st.one_of(st.floats(lo, hi, allow_subnormal=True), st.integers(int(lo), int(hi)),
                       st.sampled_from([lo, hi, 5e-324, 1e-310, hi / 2])))
    return number_text(x), float(x)


@st.composite
def out_of_bounds(draw, lo: float, hi: float) -> str:
    return draw(st.one_of(
        st.floats(hi, 1e308, exclude_min=True).map(number_text),
        st.floats(-1e308, lo, exclude_max=True).map(number_text),
        st.sampled_from(["1e39", "3e38", "-1e-300", "11", "-1"]).filter(
            lambda t: not lo <= float(t) <= hi),
        NON_FINITE, HUGE_INT, ODD))


@st.composite
def number_change(draw, key: str, lo: float, hi: float, good_lr: float = 10.0) -> Change:
    if draw(st.booleans()):
        text, x = draw(in_bounds(lo, min(hi, good_lr) if key in ("learning_rate", "lr") else hi))
        return Change(key, text, True, x)
    text = draw(out_of_bounds(lo, hi))
    if text == "-0":        # -0 is a number in bounds
        return Change(key, text, True, 0.0)
    return Change(key, text, False)


@st.composite
def scale_change(draw) -> Change:
    good = {'"group"': "group", '"batch"': "batch", '"none"': "none", "true": "group",
            "false": "none"}
    text = draw(st.one_of(st.sampled_from(sorted(good)),
                          st.sampled_from(["1", "0", "[1]", '"Group"', '"none "', "1.0", "null",
                                           '{"group": 1}']), ODD))
    return Change("scale_rewards", text, text in good, good.get(text))


WEIGHT = st.one_of(st.floats(-1e6, 1e6), st.integers(-10**6, 10**6), st.sampled_from([1e6, -1e6]))
BAD_WEIGHT = st.one_of(st.floats(1e6, 1e308, exclude_min=True), st.sampled_from([1e39, 3e38, -1e7]))


@st.composite
def weights_change(draw) -> Change:
    kind = draw(st.sampled_from(["list", "dict", "one", "bad-number", "bad-length", "bad-name",
                                 "bad-shape"]))
    if kind == "list":
        ws = draw(st.lists(WEIGHT, min_size=2, max_size=2))
        return Change("reward_weights", json.dumps(ws), True, dict(enumerate(map(float, ws))))
    if kind == "dict":
        names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=2, unique=True))
        ws = {n: draw(WEIGHT) for n in names}
        return Change("reward_weights", json.dumps(ws), True,
                      {NAMES.index(n): float(w) for n, w in ws.items()})
    if kind == "one":
        name, w = draw(st.sampled_from(NAMES)), draw(WEIGHT)
        return Change(f"reward_weights/{name}", json.dumps(w), True, {NAMES.index(name): float(w)})
    if kind == "bad-number":
        ws = [draw(WEIGHT), draw(BAD_WEIGHT)]
        text = json.dumps(draw(st.permutations(ws)))
        if draw(st.booleans()):
            text = "[" + draw(st.sampled_from(["1e999", "NaN", "-Infinity", "true", '"1"', "null",
                                                "9" * 400])) + ", 1]"
        return Change("reward_weights", text, False)
    if kind == "bad-length":
        return Change("reward_weights", json.dumps(draw(st.lists(WEIGHT, min_size=1, max_size=5)
                                                        .filter(lambda w: len(w) != 2))), False)
    if kind == "bad-name":
        name = draw(st.text(max_size=30).filter(lambda n: n not in NAMES))
        if draw(st.booleans()):
            return Change(f"reward_weights/{name}", json.dumps(draw(WEIGHT)), False)
        return Change("reward_weights", json.dumps({name: draw(WEIGHT)}), False)
    return Change("reward_weights", draw(st.sampled_from(["[]", "{}", "1", '"1, 2"', "null",
                                                          "[[1, 2]]", '{"a": [1]}'])), False)


KNOWN = set(steering.BOUNDS) | set(steering.ALIASES) | {"scale_rewards", "reward_weights"}
UNKNOWN_KEY = st.one_of(
    st.sampled_from(sorted(FIXED)),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40).filter(
        lambda k: k not in KNOWN and not k.startswith("reward_weights/")),
    st.text(alphabet="[]/@=$:", min_size=1, max_size=10))


@st.composite
def change(draw, good_lr: float = 10.0) -> Change:
    kind = draw(st.sampled_from(["lr", "learning_rate", "beta", "kl_beta", "epsilon", "clip_eps",
                                 "epsilon_low", "epsilon_high", "scale_rewards", "weights",
                                 "weights", "other"]))
    if kind in ("lr", "learning_rate"):
        return draw(number_change(kind, 0.0, 10.0, good_lr=good_lr))
    if kind in ("beta", "kl_beta"):
        return draw(number_change(kind, 0.0, 10.0))
    if kind in ("epsilon", "clip_eps", "epsilon_low"):
        return draw(number_change(kind, 0.0, 1.0))
    if kind == "epsilon_high":
        return draw(number_change(kind, 0.0, 10.0))
    if kind == "scale_rewards":
        return draw(scale_change())
    if kind == "weights":
        return draw(weights_change())
    key = draw(UNKNOWN_KEY)
    return Change(key, draw(st.one_of(ODD, NON_FINITE, st.floats().map(number_text))), False)


IDS = st.one_of(st.none(), st.integers(0, steering.MAX_ID))


def command_text(changes: list[Change], cid: int | None, id_text: str | None = None) -> str:
    body = ", ".join(f"{json.dumps(c.key)}: {c.text}" for c in changes)
    id_part = ("" if cid is None and id_text is None
               else f', "id": {id_text if id_text is not None else json.dumps(cid)}')
    return '{"cmd": "set", "changes": {' + body + "}" + id_part + "}"


@st.composite
def set_line(draw, good_lr: float = 10.0) -> Line:
    """A set command; in-bounds learning rates drawn up to good_lr (a real run's model must not
    blow up: that would be the learning rate's doing, not grpotui's)."""
    changes = draw(st.lists(change(good_lr), min_size=1, max_size=5,
                            unique_by=lambda c: c.key))
    cid = draw(IDS)
    return Line(command_text(changes, cid).encode(), cid=cid, changes=changes)


def not_a_command(raw: bytes) -> bool:
    """Garbage is drawn to be refused as a whole: JSON that happens to be a set command is not."""
    try:
        obj = json.loads(raw.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        return True
    return not isinstance(obj, dict)


@st.composite
def whole_line(draw) -> Line:
    kind = draw(st.sampled_from(["text", "binary", "truncated", "deep", "long", "bad-id", "bad-cmd",
                                 "bad-changes", "too-many", "long-key"]))
    if kind == "text":
        raw = draw(st.text(alphabet=st.one_of(st.sampled_from("[]/@=$:{}\"\\,. 0123456789eE+-"),
                                               st.characters(codec="utf-8")), max_size=200)
                   .map(lambda t: t.replace("\n", "").encode("utf-8", "surrogatepass"))
                   .filter(not_a_command))
        return Line(raw, whole=True, blank=not raw.strip())
    if kind == "binary":
        raw = draw(st.binary(max_size=200).map(lambda b: b.replace(b"\n", b"")).filter(not_a_command))
        return Line(raw, whole=True, blank=not raw.strip())
    if kind == "truncated":
        full = draw(set_line()).raw
        return Line(full[:draw(st.integers(1, len(full) - 1))], whole=True)
    if kind == "deep":
        n = draw(st.one_of(st.integers(7, 40), st.integers(40, 60_000)))
        raw = ('{"cmd": "set", "changes": {"learning_rate": ' + "[" * n + "1e-4" + "]" * n
               + '}, "id": 1}').encode()
        return Line(raw, whole=True)
    if kind == "long":
        pad = draw(st.integers(65_537, 80_000))
        raw = ('{"cmd": "set", "changes": {"warmup": "' + "x" * pad + '"}, "id": 1}').encode()
        return Line(raw, whole=True)
    if kind == "bad-id":
        id_text = draw(st.sampled_from(["[1]", '"1"', "1.0", "true", "-1", str(2 ** 53), "1e400",
                                        "NaN", "{}", "9" * 300, "-0.0"]))
        return Line(command_text([Change("beta", "0.1", True, 0.1)], None, id_text).encode(),
                    whole=True)
    cid = draw(IDS)
    id_part = "" if cid is None else f', "id": {cid}'
    if kind == "bad-cmd":
        cmd = draw(st.one_of(st.sampled_from(['"stop"', '"SET"', "null", "[]", '"set "', "1"]),
                             st.text(max_size=10).filter(lambda t: t != "set").map(json.dumps)))
        raw = '{"cmd": ' + cmd + ', "changes": {"beta": 0.1}' + id_part + "}"
    elif kind == "bad-changes":
        changes = draw(st.sampled_from(["{}", "[]", "null", '"beta=0.1"', "1", '[["beta", 0.1]]']))
        raw = '{"cmd": "set", "changes": ' + changes + id_part + "}"
    elif kind == "too-many":
        n = draw(st.integers(33, 60))
        raw = ('{"cmd": "set", "changes": {' + ", ".join(f'"k{i}": {i}' for i in range(n)) + "}"
               + id_part + "}")
    else:
        key = draw(st.text(alphabet="ab[]/", min_size=257, max_size=400))
        raw = '{"cmd": "set", "changes": {' + json.dumps(key) + ": 1}" + id_part + "}"
    return Line(raw.encode(), whole=True, cid=cid)


def fits(lines: list[Line]) -> bool:
    """A batch that one poll reads whole (CommandReader reads READ_CHUNK bytes a poll)."""
    return sum(len(line.raw) + 1 for line in lines) <= steering.READ_CHUNK


LINES = st.lists(st.one_of(set_line(), set_line(), whole_line()), min_size=1,
                 max_size=12).filter(fits)


def write_lines(path, lines: list[Line]) -> None:
    with open(path, "ab") as f:
        f.write(b"".join(line.raw + b"\n" for line in lines))


# ---------------------------------------------------------------- property 1: one trainer, many steps
@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A GRPOTrainer (beta 0.04, two weighted reward functions) with grpotui attached, its optimizer
    and scheduler made as train() makes them; not trained: each example plays optimizer steps."""
    from trl import GRPOConfig, GRPOTrainer

    from grpotui.integrations.tiny import tiny_sorting_model
    from grpotui.integrations.trl import attach, sorting_dataset

    tmp = tmp_path_factory.mktemp("live")
    model, tokenizer = tiny_sorting_model(tmp / "model")
    trainer = GRPOTrainer(
        model=model, processing_class=tokenizer,
        reward_funcs=[position_match_reward, exact_match_reward],
        args=GRPOConfig(output_dir=str(tmp / "trl"), per_device_train_batch_size=8,
                        num_generations=4, max_completion_length=8, max_steps=4, report_to=[],
                        learning_rate=1e-3, use_cpu=True, reward_weights=[1.0, 0.5], beta=0.04),
        train_dataset=sorting_dataset(16))
    callback = attach(trainer, tmp / "run.jsonl", control=True)
    trainer.create_optimizer_and_scheduler(num_training_steps=4)
    return trainer, callback


def state_of(callback) -> dict:
    v = callback.values
    return {"learning_rate": v["learning_rate"], "beta": v["beta"], "epsilon": v["epsilon_low"],
            "epsilon_high": v["epsilon_high"], "scale_rewards": v["scale_rewards"],
            "reward_weights": [float(w) for w in callback.trainer.reward_weights.tolist()]}


@settings(max_examples=FUZZ or 100, **SETTINGS)
@given(batches=st.lists(LINES, min_size=1, max_size=3))
def test_every_command_line_gets_exactly_its_answer(live, batches):
    trainer, callback = live
    metrics = callback.path
    for lines in batches:
        state = state_of(callback)
        step = trainer.state.global_step + 1
        want = expected(lines, state, step)
        write_lines(steering.control_path(metrics), lines)
        start = metrics.stat().st_size
        callback.on_step_begin(trainer.args, trainer.state, None, optimizer=trainer.optimizer,
                               lr_scheduler=trainer.lr_scheduler)
        with open(metrics, "rb") as f:
            f.seek(start)
            records = [json.loads(line) for line in f.read().splitlines()]
        assert answered(records) == want
        assert state_of(callback) == state
        assert callback.failures == {} and not callback.failed_write
        # what TRL reads is what the run says it set
        assert (trainer.beta, trainer.epsilon_low, trainer.epsilon_high, trainer.scale_rewards) == \
            (state["beta"], state["epsilon"], state["epsilon_high"], state["scale_rewards"])
        assert trainer.reward_weights.tolist() == state["reward_weights"]
        lrs = [g["lr"] for g in trainer.optimizer.param_groups] + trainer.lr_scheduler.base_lrs
        assert all(math.isfinite(x) and x >= 0 for x in lrs)
        # the schedule runs from the rate the run says it has (it started at base = rate)
        assert trainer.lr_scheduler.base_lrs == pytest.approx(
            [state["learning_rate"]] * len(trainer.lr_scheduler.base_lrs), rel=1e-9, abs=1e-320)
        trainer.state.global_step += 1


# ---------------------------------------------------------------- property 2: real training runs
E2E_LINES = st.lists(st.one_of(set_line(good_lr=1e-2), whole_line()), min_size=1,
                     max_size=8).filter(fits)


@settings(max_examples=max(FUZZ // 10, 6), **SETTINGS)
@given(batches=st.lists(E2E_LINES, min_size=3, max_size=3))
def test_a_real_run_given_generated_lines_completes_with_exactly_their_answers(tmp_path_factory,
                                                                               batches):
    due = {2: batches[0], 3: batches[1], 4: batches[2]}
    actions = {s: (lambda path, lines=lines: write_lines(path, lines)) for s, lines in due.items()}
    run = grpo_run(tmp_path_factory.mktemp("e2e"),
                   reward_funcs=[position_match_reward, exact_match_reward],
                   reward_weights=[1.0, 0.5], beta=0.04, max_steps=4, log_completions=False,
                   actions=actions)
    state = {"learning_rate": 1e-3, "beta": 0.04, "epsilon": 0.2, "epsilon_high": 0.2,
             "scale_rewards": "group", "reward_weights": [1.0, 0.5]}
    want = [e for s in (2, 3, 4) for e in expected(due[s], state, s)]
    assert sorted(run.steps()) == [1, 2, 3, 4]
    assert run.records[-1]["event"] == "stop" and run.events("error") == []
    assert answered(run.records) == want
    assert run.trainer.reward_weights.tolist() == state["reward_weights"]


def test_learning_rates_at_the_ends_of_floats_range_keep_the_schedule(live):
    """Scaling the schedule by new / old underflowed to a base rate of 0 (from 10 to 5e-324), so a
    later change scaled 0 and the run never learned again (found reading the code for the property
    above, which checks the base rates since)."""
    trainer, callback = live
    for lr in (10, 5e-324, 1e-310, 1e-3, 0, 2.5e-4):
        line = json.dumps({"cmd": "set", "changes": {"learning_rate": lr}})
        (event,) = callback.apply(steering.parse_command(line), 1)
        assert (event["event"], event["new"]) == ("set", lr)
        assert trainer.lr_scheduler.base_lrs == pytest.approx(
            [lr] * len(trainer.lr_scheduler.base_lrs), rel=1e-9, abs=0)
