"""Rewards: the vectorised functions against plain-Python loops, and the lecture's worked examples."""

from __future__ import annotations

import pytest
import torch

from grpotui.engine import rewards as R


# ------------------------------------------------------------------ plain-Python reference versions
def ref_position_match(prompt: list[int], response: list[int]) -> float:
    target = sorted(prompt)
    return float(sum(1 for t, r in zip(target, response) if t == r))


def ref_inclusion_ordering(prompt: list[int], response: list[int]) -> float:
    inclusion = sum(1 for x in prompt if x in response)          # per occurrence in the prompt
    ordering = sum(1 for x, y in zip(response, response[1:]) if x <= y)
    return float(inclusion + ordering)


def ref_exact_match(prompt: list[int], response: list[int]) -> float:
    return 1.0 if list(response) == sorted(prompt) else 0.0


REFERENCES = {
    "position_match": ref_position_match,
    "inclusion_ordering": ref_inclusion_ordering,
    "exact_match": ref_exact_match,
}


def reference(name: str, prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    fn = REFERENCES[name]
    b, g, _ = responses.shape
    out = [[fn(prompts[i].tolist(), responses[i, j].tolist()) for j in range(g)] for i in range(b)]
    return torch.tensor(out, dtype=torch.float32)


# ------------------------------------------------------------------ worked examples
PROMPT = torch.tensor([[3, 1, 0, 2]])
EXAMPLES = torch.tensor([[[0, 1, 2, 3], [7, 2, 2, 5], [0, 3, 1, 2]]])   # [1, 3, 4]


def test_worked_examples_position_match():
    assert R.position_match(PROMPT, EXAMPLES).tolist() == [[4.0, 1.0, 1.0]]


def test_worked_examples_inclusion_ordering():
    assert R.inclusion_ordering(PROMPT, EXAMPLES).tolist() == [[7.0, 3.0, 6.0]]


def test_worked_examples_exact_match():
    assert R.exact_match(PROMPT, EXAMPLES).tolist() == [[1.0, 0.0, 0.0]]


def test_worked_examples_match_reference():
    for name, fn in REFERENCES.items():
        assert torch.equal(getattr(R, name)(PROMPT, EXAMPLES), reference(name, PROMPT, EXAMPLES)), name


def test_inclusion_counts_prompt_duplicates_per_occurrence():
    # prompt has two 2s; a response holding one 2 includes both occurrences (2 points)
    prompt = torch.tensor([[2, 2, 0]])
    responses = torch.tensor([[[2, 1, 1], [0, 0, 0], [1, 1, 1], [2, 0, 2]]])
    # [2,1,1]: inclusion 2 (both 2s), ordering (2<=1 no, 1<=1 yes) 1 -> 3
    # [0,0,0]: inclusion 1, ordering 2 -> 3
    # [1,1,1]: inclusion 0, ordering 2 -> 2
    # [2,0,2]: inclusion 3, ordering (2<=0 no, 0<=2 yes) 1 -> 4
    assert R.inclusion_ordering(prompt, responses).tolist() == [[3.0, 3.0, 2.0, 4.0]]


def test_position_match_with_duplicates():
    prompt = torch.tensor([[1, 0, 1]])                 # target [0, 1, 1]
    responses = torch.tensor([[[0, 1, 1], [1, 1, 1], [1, 0, 1], [0, 0, 0]]])
    assert R.position_match(prompt, responses).tolist() == [[3.0, 2.0, 1.0, 1.0]]
    assert R.exact_match(prompt, responses).tolist() == [[1.0, 0.0, 0.0, 0.0]]


def test_targets_sorts_each_prompt():
    prompts = torch.tensor([[3, 1, 0, 2], [2, 2, 1, 0]])
    assert R.targets(prompts).tolist() == [[0, 1, 2, 3], [0, 1, 2, 2]]


# ------------------------------------------------------------------ random inputs, many duplicates
@pytest.mark.parametrize("name", sorted(REFERENCES))
@pytest.mark.parametrize("seed,vocab,b,g,n", [
    (0, 3, 16, 8, 4),
    (1, 3, 7, 5, 6),
    (2, 2, 9, 4, 3),
    (3, 4, 5, 3, 8),
    (4, 3, 1, 1, 2),
])
def test_matches_reference_on_random_inputs(name, seed, vocab, b, g, n):
    gen = torch.Generator().manual_seed(seed)
    prompts = torch.randint(0, vocab, (b, n), generator=gen)
    responses = torch.randint(0, vocab, (b, g, n), generator=gen)
    # with a vocab this small, make sure some responses are exact sorts so exact_match sees 1s
    responses[:, 0] = R.targets(prompts)
    got = getattr(R, name)(prompts, responses)
    assert got.shape == (b, g)
    assert got.dtype == torch.float32
    assert torch.equal(got, reference(name, prompts, responses))


def test_random_inputs_really_have_duplicates():
    # guard for the test above: with vocab 3 and n 4, every prompt repeats a token
    gen = torch.Generator().manual_seed(0)
    prompts = torch.randint(0, 3, (16, 4), generator=gen)
    assert all(len(set(p)) < len(p) for p in prompts.tolist())


def test_reward_functions_table_and_max_reward():
    assert set(R.REWARD_FUNCTIONS) == {"position_match", "inclusion_ordering", "exact_match"}
    assert R.max_reward("position_match", 4) == 4
    assert R.max_reward("inclusion_ordering", 4) == 7
    assert R.max_reward("exact_match", 4) == 1
    # the best response (the sorted prompt) gets the max reward under every function
    gen = torch.Generator().manual_seed(11)
    prompts = torch.randint(0, 5, (6, 5), generator=gen)
    best = R.targets(prompts).unsqueeze(1)
    for name, fn in R.REWARD_FUNCTIONS.items():
        assert fn(prompts, best).tolist() == [[float(R.max_reward(name, 5))]] * 6, name
