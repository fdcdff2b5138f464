"""Hypothesis strategies for hostile metrics files (issue 23): names over an alphabet rich in what
markup is made of, wide, combining and right-to-left characters; valid, mutated and adversarial
records; huge, tiny and non-finite numbers; wrong types; deep nesting; truncated lines.

GRPOTUI_FUZZ_EXAMPLES=N raises the examples per property for a long run by hand (CI replays a fixed,
small set: tests/conftest.py)."""

from __future__ import annotations

import json
import os

from hypothesis import strategies as st

FUZZ_EXAMPLES = int(os.environ.get("GRPOTUI_FUZZ_EXAMPLES", "0"))


def examples(ci: int) -> int:
    """Examples per property: `ci` unless GRPOTUI_FUZZ_EXAMPLES says more."""
    return max(ci, FUZZ_EXAMPLES)


MARKUP = ["[", "]", "/", "@", "=", "$", ":", " ", "[/]", "[b]", "[@click=app.quit]", "[ bold]",
          "[$error]", "[B]", "[ @click=app.bell]", "\\", "#", "on", "red", "link"]
WIDE = ["中", "文", "🎉", "👍🏽", "ｗ"]
COMBINING = ["e\u0301", "a\u0308"]
RTL = ["א", "ב", "ع", "ر"]
PLAIN = list("abcxyz019_-.")

pieces = st.sampled_from(MARKUP + WIDE + COMBINING + RTL + PLAIN)
names = st.lists(pieces, min_size=1, max_size=8).map("".join).filter(lambda s: s.strip())

huge = st.sampled_from([1e308, -1e308, 1e300, 5e-324, -0.0, 1e100, 1e101, 2**63, 10**400])
nonfinite = st.sampled_from([float("nan"), float("inf"), float("-inf")])
numbers = st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=32),
                    st.integers(-10**6, 10**6), huge, nonfinite)
wrong = st.one_of(st.none(), st.booleans(), names, st.lists(st.integers(), max_size=3),
                  st.dictionaries(names, st.integers(), max_size=2))
values = st.one_of(numbers, wrong)


def nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


@st.composite
def groups(draw) -> dict:
    b = draw(st.integers(1, 3))
    g = draw(st.integers(1, 4))
    if draw(st.booleans()):    # a text model's
        prompts = draw(st.lists(names, min_size=b, max_size=b))
        responses = [draw(st.lists(names, min_size=g, max_size=g)) for _ in range(b)]
        n = None
    else:
        n = draw(st.integers(1, 5))
        token = st.one_of(st.integers(0, 99), names)
        prompts = [draw(st.lists(st.integers(0, 99), min_size=n, max_size=n)) for _ in range(b)]
        responses = [[draw(st.lists(token, min_size=n, max_size=n)) for _ in range(g)]
                     for _ in range(b)]
    table = st.lists(st.lists(numbers, min_size=g, max_size=g), min_size=b, max_size=b)
    out = {"prompts": prompts, "responses": responses, "rewards": draw(table),
           "deltas": draw(table)}
    if n is not None and draw(st.booleans()):
        out["targets"] = [sorted(p) for p in prompts]
    if draw(st.booleans()):
        out["components"] = {draw(names): draw(table)}
    return out


@st.composite
def record(draw, name_pool: list[str]) -> object:
    """One record: valid, mutated or adversarial (a dict, or a raw line as a string)."""
    step = draw(st.one_of(st.integers(0, 1000), numbers))
    key = draw(st.one_of(st.sampled_from(name_pool), names))
    kind = draw(st.sampled_from(["step", "step", "set", "start", "groups", "stop", "error",
                                 "refused", "raw", "deep", "cut"]))
    if kind == "step":
        return {"step": step, "reward": draw(numbers), key: draw(values)}
    if kind == "set":
        return {"event": "set", "step": step, "key": draw(st.one_of(st.just(key), values)),
                "old": draw(values), "new": draw(values), "id": draw(values)}
    if kind == "start":
        return {"event": "start", "step": 0, "preset": draw(names),
                "config": draw(st.dictionaries(names, values, max_size=4)),
                "control": {"file": "x", "settings": draw(st.dictionaries(names, values,
                                                                          max_size=3))}}
    if kind == "groups":
        return {"event": "groups", "step": step, "rollout": draw(values), "groups": draw(groups())}
    if kind == "stop":
        return {"event": "stop", "step": step, "reason": draw(values)}
    if kind == "error":
        return {"event": "error", "step": step, "message": draw(values)}
    if kind == "refused":
        return {"event": "refused", "step": step, "key": draw(values), "value": draw(values),
                "message": draw(values), "id": draw(values)}
    if kind == "deep":
        return '{"step": 1, "x": ' + nested(draw(st.integers(5, 3000))) + "}"
    if kind == "cut":
        line = json.dumps({"step": step if isinstance(step, int) else 1, key: 1.5})
        return line[:draw(st.integers(0, len(line)))]
    return draw(st.one_of(names, st.binary(max_size=20).map(lambda b: b.decode("latin-1"))))


def line(rec: object) -> str:
    if isinstance(rec, str):
        return rec.replace("\n", " ")
    return json.dumps(rec, allow_nan=True, default=str)
