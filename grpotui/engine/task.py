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


def left_pad(rows: torch.Tensor, n: int, pad: int) -> torch.Tensor:
    """Prompts of one length [B, m] as [B, n]: n - m PAD tokens, then the numbers."""
    out = torch.full((len(rows), n), pad, dtype=torch.long)
    out[:, n - rows.shape[1]:] = rows
    return out


class PromptSource:
    """Gives the prompts of each rollout and the held-out prompts, from one seeded generator.

    min_n > 0: variable length (grpotui.engine.varlen): each prompt has min_n..n numbers (a length
    drawn uniformly), left-padded with PAD = vocab_size + 1; the held-out prompts are split evenly
    over the lengths, so held-out exact match can be read per length."""

    def __init__(self, source: str, n: int, vocab_size: int, heldout_size: int,
                 fixed: list[list[int]] | None, seed: int, min_n: int = 0):
        self.source, self.n, self.vocab_size, self.min_n = source, n, vocab_size, min_n
        self.gen = torch.Generator().manual_seed(seed + 1)
        if min_n > 0:
            self.fixed = None
            self.pad = vocab_size + 1
            lengths = list(range(min_n, n + 1))
            share = [heldout_size // len(lengths) + (i < heldout_size % len(lengths))
                     for i in range(len(lengths))]
            parts = [left_pad(_draw_unique(min(c, vocab_size ** m // 2), m, vocab_size, self.gen),
                              n, self.pad) for m, c in zip(lengths, share)]
            self.heldout = torch.cat(parts)
        elif source == "fixed":
            self.fixed = torch.tensor(fixed, dtype=torch.long)
            self.heldout = _draw_unique(heldout_size, n, vocab_size, self.gen, exclude=self.fixed)
        else:
            self.fixed = None
            self.heldout = _draw_unique(heldout_size, n, vocab_size, self.gen)

    def sample(self, count: int) -> torch.Tensor:
        """int[B, n]: the fixed prompts, or `count` random prompts none of which is held out."""
        if self.fixed is not None:
            return self.fixed
        if self.min_n > 0:
            return self._sample_variable(count)
        prompts = torch.randint(0, self.vocab_size, (count, self.n), generator=self.gen)
        bad = contains(self.heldout, prompts)
        while bad.any():  # redraw the few that hit the held-out set
            prompts[bad] = torch.randint(0, self.vocab_size, (int(bad.sum()), self.n),
                                         generator=self.gen)
            bad = contains(self.heldout, prompts)
        return prompts

    def _sample_variable(self, count: int) -> torch.Tensor:
        lengths = torch.randint(self.min_n, self.n + 1, (count,), generator=self.gen)
        numbers = torch.randint(0, self.vocab_size, (count, self.n), generator=self.gen)
        steps = torch.arange(self.n)
        prompts = torch.where(steps >= self.n - lengths.unsqueeze(-1), numbers,
                              torch.full_like(numbers, self.pad))
        bad = contains(self.heldout, prompts)
        while bad.any():  # redraw the numbers of the few that hit the held-out set
            fresh = torch.randint(0, self.vocab_size, (int(bad.sum()), self.n), generator=self.gen)
            prompts[bad] = torch.where(prompts[bad] == self.pad, prompts[bad], fresh)
            bad = contains(self.heldout, prompts)
        return prompts
