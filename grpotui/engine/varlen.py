"""The variable-length sorting task: prompts of min_n..n numbers, answers that end with EOS.

    token ids   0..V-1 the numbers; V = EOS (ends an answer); V+1 = PAD (left of a short prompt,
                and after a response's EOS); V+2 = the policy's separator between prompt and answer
    prompts     int[B, n]: a prompt of m numbers is n - m PADs, then its numbers (left-padded)
    responses   int[B, G, L]: the tokens up to the first EOS, then PAD; L = max_completion_length
    answer      the prompt's m numbers sorted, then EOS: m + 1 tokens

A response that reaches L tokens without an EOS is truncated. The completion mask (TRL's) marks the
tokens up to and including the EOS (all L of a truncated response): log-probs, the loss, the KL, the
entropy and the metrics count only those. Rewards see the tokens before the EOS.

Worked examples (V = 10, EOS = 10, PAD = 11; prompt [11, 3, 1] = the numbers 3 and 1, answer
[1, 3, EOS]; L = 4):

    response            position_match  exact_match  answer_slots  length  truncated
    [1, 3, 10, 11]            2             1           3/3          3       no
    [1, 3, 3, 10]             2             0           2/3          4       no
    [1, 10, 11, 11]           1             0           1/3          2       no
    [3, 1, 2, 2]              0             0           0/3          4       yes
"""

from __future__ import annotations

import torch


def eos_id(vocab_size: int) -> int:
    return vocab_size


def pad_id(vocab_size: int) -> int:
    return vocab_size + 1


def prompt_lengths(prompts: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Numbers in each prompt: int[B]."""
    return (prompts < vocab_size).sum(dim=-1)


def answers(prompts: torch.Tensor, vocab_size: int, length: int) -> torch.Tensor:
    """The right response to each prompt, padded to `length`: its numbers sorted, EOS, PAD...:
    int[B, length]."""
    b, n = prompts.shape
    pad, eos = pad_id(vocab_size), eos_id(vocab_size)
    ordered = prompts.sort(dim=-1).values          # numbers first (PAD is above every number)
    m = prompt_lengths(prompts, vocab_size)
    out = torch.full((b, length), pad, dtype=prompts.dtype, device=prompts.device)
    out[:, :n] = ordered
    out[torch.arange(b, device=prompts.device), m] = eos
    return out


def completion_mask(responses: torch.Tensor, vocab_size: int
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mask float[B, G, L], lengths int[B, G], truncated bool[B, G]): the tokens up to and
    including each response's first EOS, how many, and whether it had none."""
    hit = responses == eos_id(vocab_size)
    stopped = hit.any(dim=-1)
    first = hit.float().argmax(dim=-1)             # the first EOS (0 when there is none)
    length = responses.shape[-1]
    lengths = torch.where(stopped, first + 1, torch.full_like(first, length))
    steps = torch.arange(length, device=responses.device)
    mask = (steps < lengths.unsqueeze(-1)).float()
    return mask, lengths, ~stopped


def _slots(prompts: torch.Tensor, responses: torch.Tensor, vocab_size: int
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """(right bool[B, G, L]: the response's token is the answer's there, and comes no later than
    the response's own first EOS (what follows an EOS is never read); m int[B, 1])."""
    target = answers(prompts, vocab_size, responses.shape[-1])
    hit = (responses == eos_id(vocab_size)).long()
    read = (hit.cumsum(dim=-1) - hit) == 0                         # up to and including EOS
    return (responses == target.unsqueeze(1)) & read, \
        prompt_lengths(prompts, vocab_size).unsqueeze(-1)


def position_match(prompts, responses, vocab_size: int) -> torch.Tensor:
    """The positions before the answer's EOS where the response has the answer's number:
    float[B, G] (a response's EOS or anything after it matches no number)."""
    right, m = _slots(prompts, responses, vocab_size)
    steps = torch.arange(responses.shape[-1], device=responses.device)
    return (right & (steps < m.unsqueeze(-1))).sum(dim=-1).float()


def exact_match(prompts, responses, vocab_size: int) -> torch.Tensor:
    """1 if the response is the sorted numbers and then EOS, else 0: float[B, G]."""
    right, m = _slots(prompts, responses, vocab_size)
    steps = torch.arange(responses.shape[-1], device=responses.device)
    return (right | (steps > m.unsqueeze(-1))).all(dim=-1).float()


def answer_slots(prompts, responses, vocab_size: int) -> torch.Tensor:
    """The share of the answer's m + 1 slots (the sorted numbers, then EOS) the response has right:
    float[B, G] from 0 to 1. It credits stopping in the right place; tokens after that slot
    cost nothing (the prototype's reward: without the EOS slot every response runs to L)."""
    right, m = _slots(prompts, responses, vocab_size)
    steps = torch.arange(responses.shape[-1], device=responses.device)
    return (right & (steps <= m.unsqueeze(-1))).sum(dim=-1).float() / (m + 1).float()


def inclusion_ordering(prompts, responses, vocab_size: int) -> torch.Tensor:
    """Inclusion plus ordering over the tokens before EOS: a point for each of the prompt's numbers
    found among them, and for each adjacent pair of them in order: float[B, G]."""
    number = responses < vocab_size
    before = torch.cumprod(number.long(), dim=-1).bool()           # tokens before the first stop
    seen = torch.where(before, responses, torch.full_like(responses, -1))
    real = prompts < vocab_size                                    # [B, n]
    found = (prompts[:, None, :, None] == seen[:, :, None, :]).any(dim=-1) & real[:, None, :]
    pairs = before[..., 1:] & (responses[..., :-1] <= responses[..., 1:])
    return (found.sum(dim=-1) + pairs.sum(dim=-1)).float()


REWARD_FUNCTIONS = {"position_match": position_match, "exact_match": exact_match,
                    "answer_slots": answer_slots, "inclusion_ordering": inclusion_ordering}


def components(reward, prompts, responses, vocab_size: int) -> torch.Tensor:
    """Each reward function's scores on a last axis, in the setting's order: float[B, G, k]."""
    names = [reward] if isinstance(reward, str) else list(reward)
    return torch.stack([REWARD_FUNCTIONS[name](prompts, responses, vocab_size) for name in names],
                       dim=-1)
