"""The sorting task as text: the dataset and the reward functions on text completions."""

from __future__ import annotations

import pytest

from grpotui.integrations.sorting import (PROMPT_TEMPLATE, exact_match_reward,
                                          inclusion_ordering_reward, parse_numbers,
                                          position_match_reward, sorting_dataset)

REWARDS = [position_match_reward, inclusion_ordering_reward, exact_match_reward]


def test_sorting_dataset_rows_are_prompts_with_their_sorted_targets():
    ds = sorting_dataset(50, n=5, vocab_size=7, seed=3)
    assert ds.column_names == ["prompt", "target"] and len(ds) == 50
    for row in ds:
        numbers = row["prompt"].split(": ", 1)[1].split("\n")[0].split()
        assert len(numbers) == 5 and all(0 <= int(x) < 7 for x in numbers)
        assert row["prompt"] == PROMPT_TEMPLATE.format(numbers=" ".join(numbers))
        assert row["target"] == " ".join(sorted(numbers, key=int))
    assert sorting_dataset(50, n=5, vocab_size=7, seed=3)["prompt"] == ds["prompt"]
    assert sorting_dataset(50, n=5, vocab_size=7, seed=4)["prompt"] != ds["prompt"]


@pytest.mark.parametrize("kwargs, message", [
    ({"size": 0}, "size must be an integer of at least 1, got 0"),
    ({"size": 10, "n": 1}, "n must be an integer of at least 2, got 1"),
    ({"size": 10, "vocab_size": 2.5}, "vocab_size must be an integer of at least 2, got 2.5"),
    ({"size": 10, "seed": -1}, "seed must be a non-negative integer, got -1"),
])
def test_sorting_dataset_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sorting_dataset(**kwargs)


def test_rewards_worked_examples():
    completions = [" 0 1 2 3", " 0 1 2 3 4 5", " 3 2 1 0", " 0 1", "no idea", "",
                   "Sorted: 0, 1, 2 and 3.", " 0 1 2 3\n0 1 2 3"]
    target = ["0 1 2 3"] * len(completions)
    assert position_match_reward([], completions, target) == [4, 4, 0, 2, 0, 0, 4, 4]
    assert inclusion_ordering_reward([], completions, target) == [7, 7, 4, 3, 0, 0, 7, 7]
    assert exact_match_reward([], completions, target) == [1, 0, 0, 0, 0, 0, 1, 0]


def test_rewards_agree_with_the_engine_on_token_responses():
    import torch

    from grpotui.engine import rewards as R

    gen = torch.Generator().manual_seed(0)
    prompts = torch.randint(0, 10, (40, 4), generator=gen)
    responses = torch.randint(0, 10, (40, 1, 4), generator=gen)
    texts = [" ".join(map(str, r[0].tolist())) for r in responses]
    targets = [" ".join(map(str, sorted(p.tolist()))) for p in prompts]
    for name, f in [("position_match", position_match_reward),
                    ("inclusion_ordering", inclusion_ordering_reward),
                    ("exact_match", exact_match_reward)]:
        assert f([], texts, targets) == R.REWARD_FUNCTIONS[name](prompts, responses)[:, 0].tolist()


GARBAGE = ["", " ", "\n\n", "<eos><pad>", "-1 -2 -3 -4", "9" * 400 + " 0 1 2 3", "💥 ünïcode 3 ½ ³",
           "1e9 0x10 3.5", "0" * 10_000, " ".join(["7"] * 200_000), "\x00\x01 2", "NaN inf -inf",
           [{"role": "assistant", "content": "0 1 2 3"}], [{"role": "assistant"}], None, 12, 2.5]


@pytest.mark.parametrize("reward", REWARDS)
def test_rewards_take_any_garbage_without_raising(reward):
    scores = reward(["p"] * len(GARBAGE), GARBAGE, ["0 1 2 3"] * len(GARBAGE))
    assert len(scores) == len(GARBAGE) and all(isinstance(s, float) for s in scores)
    assert scores[GARBAGE.index("")] == 0.0 and scores[GARBAGE.index(" ")] == 0.0
    chat = scores[12]
    assert chat == {"position_match_reward": 4, "inclusion_ordering_reward": 7,
                    "exact_match_reward": 1}[reward.__name__]


def test_overlong_completions_are_read_only_as_far_as_needed():
    huge = " 0 1 2 3" + " x" * 5_000_000
    assert position_match_reward([], [huge], ["0 1 2 3"]) == [4.0]
    assert parse_numbers("5 " * 1_000_000, limit=3) == [5, 5, 5]


def test_targets_as_lists_and_a_length_mismatch():
    assert position_match_reward([], ["2 1"], [[1, 2]]) == [0.0]
    with pytest.raises(ValueError, match="2 completions but 1 targets"):
        position_match_reward([], ["a", "b"], ["0 1"])
