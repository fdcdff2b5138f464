"""The sorting task as text, for language models (TRL's GRPOTrainer or any trainer that takes a
datasets.Dataset and reward functions of text completions).

    ds = sorting_dataset(1000, n=4, vocab_size=10)
    ds[0] == {"prompt": "Sort these numbers from smallest to largest: 3 1 0 2\\nSorted:",
              "target": "0 1 2 3"}

The reward functions take TRL's reward-function arguments (`prompts, completions, target, **kwargs`)
and score with grpotui's own reward math (grpotui/engine/rewards.py), so a number means the same here
as in the toy. A completion's answer is the integers it contains, in order (any text between them is
ignored): "0, 1, 2 and 3" reads as [0, 1, 2, 3]. Only the first n integers count, where n is the
target's length; missing ones match nothing. `exact_match_reward` also wants nothing more: exactly n
integers, equal to the target. Any completion (empty, garbage, megabytes long, a chat message) gets a
score; none raises.

Worked examples (target "0 1 2 3"):

    completion           position_match  inclusion_ordering  exact_match
    " 0 1 2 3"                  4                 7                 1
    " 0 1 2 3 4 5"              4                 7                 0
    " 3 2 1 0"                  0                 4                 0
    " 0 1"                      2                 3                 0
    "no idea" / ""              0                 0                 0
"""

from __future__ import annotations

import itertools
import re
from typing import Any, Sequence

PROMPT_TEMPLATE = "Sort these numbers from smallest to largest: {numbers}\nSorted:"
_INT = re.compile(r"\d+")
# Numbers a model writes can have any length; values past this never match a target and keep
# the tensors in int64.
_BIG = 2 ** 62


def sorting_dataset(size: int, n: int = 4, vocab_size: int = 10, seed: int = 0):
    """A datasets.Dataset of `size` random sorting prompts: columns `prompt` (text) and `target`
    (the sorted numbers as text, space-separated). Numbers are drawn from 0..vocab_size-1 with a
    torch generator seeded by `seed`, so the same arguments give the same rows."""
    import torch
    from datasets import Dataset

    for name, value, lo in (("size", size, 1), ("n", n, 2), ("vocab_size", vocab_size, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise ValueError(f"sorting_dataset: {name} must be an integer of at least {lo}, "
                             f"got {value!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"sorting_dataset: seed must be a non-negative integer, got {seed!r}.")
    gen = torch.Generator().manual_seed(seed)
    rows = torch.randint(0, vocab_size, (size, n), generator=gen).tolist()
    return Dataset.from_dict({
        "prompt": [PROMPT_TEMPLATE.format(numbers=" ".join(map(str, r))) for r in rows],
        "target": [" ".join(map(str, sorted(r))) for r in rows],
    })


def _text(x: Any) -> str:
    """A completion as text: a string as it is; a chat completion (list of messages) as the
    concatenation of its messages' contents; anything else as str()."""
    if isinstance(x, str):
        return x
    if isinstance(x, (list, tuple)):
        return "".join(m["content"] for m in x
                       if isinstance(m, dict) and isinstance(m.get("content"), str))
    if isinstance(x, dict):
        return x.get("content") if isinstance(x.get("content"), str) else ""
    return "" if x is None else str(x)


def parse_numbers(text: Any, limit: int | None = None) -> list[int]:
    """The integers in `text`, in order, at most `limit` of them (read lazily, so a huge text costs
    only what it takes to find them)."""
    found = (m.group() for m in _INT.finditer(_text(text)))
    if limit is not None:
        found = itertools.islice(found, limit)
    return [min(int(s), _BIG) if len(s) < 19 else _BIG for s in found]


def _target_numbers(target: Any) -> list[int]:
    if isinstance(target, str):
        return parse_numbers(target)
    if isinstance(target, (list, tuple)):
        return [int(t) for t in target]
    raise ValueError(f"target must be the sorted numbers as text ('0 1 2 3') or a list of integers, "
                     f"got {type(target).__name__}.")


def _score(reward: str, completions: Sequence[Any], target: Sequence[Any]) -> list[float]:
    """Score each completion against its target with grpotui's reward math.

    Each completion becomes a row of n numbers: its first n integers, then, for any missing, the
    distinct negatives -1, -2, ... which equal no target number and make no ordered pair, so a short
    answer scores exactly what its numbers earn."""
    import torch

    from grpotui.engine import rewards as R

    if len(completions) != len(target):
        raise ValueError(f"{len(completions)} completions but {len(target)} targets; TRL passes one "
                         f"target per completion (the dataset's `target` column).")
    rows: dict[int, list[tuple[int, list[int], list[int], bool]]] = {}   # n -> (index, want, got, extra)
    for i, (completion, tgt) in enumerate(zip(completions, target)):
        want = _target_numbers(tgt)
        n = len(want)
        got = parse_numbers(completion, limit=n + 1)
        padded = got[:n] + [-(k + 1) for k in range(n - min(len(got), n))]
        rows.setdefault(n, []).append((i, want, padded, len(got) > n))
    out = [0.0] * len(completions)
    for n, items in rows.items():
        if n == 0:
            continue                                   # an empty target: nothing to match, score 0
        want = torch.tensor([w for _, w, _, _ in items])           # [N, n]: the target is the sorted
        got = torch.tensor([g for _, _, g, _ in items])[:, None]   # [N, 1, n]  prompt, same numbers
        scores = R.REWARD_FUNCTIONS[reward](want, got)[:, 0].tolist()
        for (i, _, _, extra), value in zip(items, scores):
            out[i] = 0.0 if reward == "exact_match" and extra else float(value)
    return out


def position_match_reward(prompts: Sequence[Any] = (), completions: Sequence[Any] = (),
                          target: Sequence[Any] = (), **kwargs: Any) -> list[float]:
    """Positions where the answer's numbers equal the sorted prompt's (0..n)."""
    return _score("position_match", completions, target)


def inclusion_ordering_reward(prompts: Sequence[Any] = (), completions: Sequence[Any] = (),
                              target: Sequence[Any] = (), **kwargs: Any) -> list[float]:
    """One point per prompt number found in the answer, one per adjacent pair in order (0..2n-1)."""
    return _score("inclusion_ordering", completions, target)


def exact_match_reward(prompts: Sequence[Any] = (), completions: Sequence[Any] = (),
                       target: Sequence[Any] = (), **kwargs: Any) -> list[float]:
    """1 if the answer is exactly the sorted prompt (n numbers, nothing more), else 0."""
    return _score("exact_match", completions, target)


REWARD_FUNCTIONS = {
    "position_match_reward": position_match_reward,
    "inclusion_ordering_reward": inclusion_ordering_reward,
    "exact_match_reward": exact_match_reward,
}
