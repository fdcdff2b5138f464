"""Prompts for the sorting task: a fixed list (the lecture's) or random draws with a held-out split.

Held-out prompts are set aside once, from the seed, and never drawn for training; `heldout_exact_match`
(greedy decoding on them) is the honest measure of whether the policy learned to sort.
"""

from __future__ import annotations

import torch


def _draw_unique(count: int, n: int, vocab: int, gen: torch.Generator,
                 exclude: torch.Tensor | None = None) -> torch.Tensor:
    """`count` distinct random prompts of length n over 0..vocab-1, none of them in `exclude`."""
    found = torch.empty(0, n, dtype=torch.long)
    while len(found) < count:
        draw = torch.randint(0, vocab, (2 * (count - len(found)) + 8, n), generator=gen)
        pool = torch.cat([found, draw]) if len(found) else draw
        # keep the first occurrence of each row, in draw order, so the result depends only on the seed
        uniq, inverse = torch.unique(pool, dim=0, return_inverse=True)
        first = torch.full((len(uniq),), len(pool), dtype=torch.long)
        first.scatter_reduce_(0, inverse, torch.arange(len(pool)), reduce="amin")
        rows = pool[first.sort().values]
        if exclude is not None and len(exclude):
            rows = rows[~contains(exclude, rows)]
        found = rows[:count]
    return found


def contains(table: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """bool[len(rows)]: whether each row of `rows` is one of the rows of `table`."""
    if len(table) == 0:
        return torch.zeros(len(rows), dtype=torch.bool)
    return (rows[:, None, :] == table[None, :, :]).all(dim=-1).any(dim=-1)


class PromptSource:
    """Gives the prompts of each rollout and the held-out prompts, from one seeded generator."""

    def __init__(self, source: str, n: int, vocab_size: int, heldout_size: int,
                 fixed: list[list[int]] | None, seed: int):
        self.source, self.n, self.vocab_size = source, n, vocab_size
        self.gen = torch.Generator().manual_seed(seed + 1)
        if source == "fixed":
            self.fixed = torch.tensor(fixed, dtype=torch.long)
            self.heldout = _draw_unique(heldout_size, n, vocab_size, self.gen, exclude=self.fixed)
        else:
            self.fixed = None
            self.heldout = _draw_unique(heldout_size, n, vocab_size, self.gen)

    def sample(self, count: int) -> torch.Tensor:
        """int[B, n]: the fixed prompts, or `count` random prompts none of which is held out."""
        if self.fixed is not None:
            return self.fixed
        prompts = torch.randint(0, self.vocab_size, (count, self.n), generator=self.gen)
        bad = contains(self.heldout, prompts)
        while bad.any():  # redraw the few that hit the held-out set
            prompts[bad] = torch.randint(0, self.vocab_size, (int(bad.sum()), self.n),
                                         generator=self.gen)
            bad = contains(self.heldout, prompts)
        return prompts
