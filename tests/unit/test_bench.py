"""The benchmark's reference loop computes what the engine computes, the lecture's way."""

from __future__ import annotations

import torch

from grpotui import bench
from grpotui.config import TrainConfig
from grpotui.engine.rewards import REWARD_FUNCTIONS


def test_lecture_style_rewards_on_the_worked_examples():
    prompt = torch.tensor([3, 1, 0, 2])
    cases = {(0, 1, 2, 3): (4, 7, 1.0), (7, 2, 2, 5): (1, 3, 0.0), (0, 3, 1, 2): (1, 6, 0.0)}
    for response, (position, inclusion, exact) in cases.items():
        r = torch.tensor(response)
        assert bench._lecture_position_match(prompt, r) == position
        assert bench._lecture_inclusion_ordering(prompt, r) == inclusion
        assert bench._lecture_exact_match(prompt, r) == exact


def test_per_response_reward_calls_agree_with_the_vectorised_rewards():
    gen = torch.Generator().manual_seed(0)
    prompts = torch.randint(0, 6, (5, 4), generator=gen)
    responses = torch.randint(0, 6, (5, 7, 4), generator=gen)
    for name, fn in bench.LECTURE_REWARDS.items():
        slow = bench._lecture_rewards(prompts, responses, fn)
        assert torch.equal(slow, REWARD_FUNCTIONS[name](prompts, responses)), name


def test_reference_einsum_model_matches_the_engine_model():
    cfg = TrainConfig(policy="lecture", n=3, vocab_size=5, heldout_size=10)
    from grpotui.engine.policies import build_policy

    ours = build_policy(cfg, 5)
    theirs = bench._LectureEinsumModel(5, cfg.d_model, 3, 3)
    theirs.load_state_dict(ours.state_dict())
    prompts = torch.tensor([[1, 0, 2], [3, 2, 4], [1, 2, 3]])
    torch.testing.assert_close(ours(prompts), theirs(prompts), rtol=1e-4, atol=1e-5)  # float32 sums


def test_the_loops_run_and_count_steps():
    cfg = TrainConfig(policy="lecture", n=3, vocab_size=5, heldout_size=10, group_size=4,
                      inner_steps=2, prompt_source="fixed", prompts=[[1, 0, 2], [3, 2, 4]],
                      loss_mode="clipped")
    for measure in (bench.reference_steps_per_second, bench.bare_steps_per_second,
                    bench.engine_steps_per_second):
        assert measure(cfg, 0.05) > 0


def test_bench_table_prints_median_min_max_and_notes():
    from rich.console import Console

    figs = [bench.Figure("lecture config: engine", "steps/s", [1309.4, 1321.2, 1332.0],
                         "1.5x reference, 82% of floor"),
            bench.Figure("grpotui --help", "s", [0.171, 0.168, 0.183])]
    console = Console(width=118, record=True)
    console.print(bench.bench_table(figs, "Some CPU, x86_64, 2 cores", "cpu", 3))
    text = console.export_text()
    assert "grpotui bench (Some CPU, x86_64, 2 cores, cpu, median of 3)" in text
    engine = next(line for line in text.splitlines() if "lecture config: engine" in line)
    assert [c.strip() for c in engine.split("│")[2:7]] == [
        "1321", "1309", "1332", "steps/s", "1.5x reference, 82% of floor"]
    help_row = next(line for line in text.splitlines() if "grpotui --help" in line)
    assert [c.strip() for c in help_row.split("│")[2:6]] == ["0.17", "0.17", "0.18", "s"]


def test_machine_description_names_cores_python_and_torch():
    import os
    import platform

    text = bench.machine_description()
    assert f"{os.cpu_count()} cores" in text
    assert f"Python {platform.python_version()}" in text
    assert text.endswith(f"torch {torch.__version__}")


def test_bench_table_keeps_the_comparison_in_an_80_column_terminal():
    from rich.console import Console

    figs = [bench.Figure("dashboard training rate (default preset)", "steps/s", [266.0],
                         "76% of headless, 91% of 1-thread")]
    console = Console(width=80, record=True)
    console.print(bench.bench_table(figs, "AMD EPYC 7B13, x86_64, 2 cores, Python 3.11.7, "
                                          "torch 2.13.0+cpu", "cpu", 5))
    lines = console.export_text().splitlines()
    assert all(len(line) <= 80 for line in lines)
    # the comparison column is there, whole, in the wrapped cells of its rows
    cells = " ".join(line.split("│")[6].strip() for line in lines if line.count("│") == 7)
    assert cells == "76% of headless, 91% of 1-thread"
    assert "compared" in lines[3]


def test_autoregressive_rates_measure_steps_tokens_and_the_sampling_share():
    cfg = TrainConfig(policy="autoregressive", n=3, vocab_size=5, d_model=16, n_layers=1,
                      n_heads=2, heldout_size=10, prompts_per_rollout=4, group_size=4,
                      inner_steps=2)
    steps, tokens, share = bench.autoregressive_rates(cfg, 0.1)
    assert steps > 0 and tokens > 0 and 0 < share < 1
    steps_nc, tokens_nc, _ = bench.autoregressive_rates(cfg, 0.1, use_cache=False)
    assert steps_nc > 0 and tokens_nc > 0


def test_watch_bench_file_and_measurement(tmp_path):
    """The bench's watch row reads what it writes (a small file here; the bench uses 500,000)."""
    import json

    path = tmp_path / "m.jsonl"
    bench.make_metrics_file(path, 20_000)
    records = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(records) == 1 + 20_000 + 0 + 2        # start, steps, no set yet, 2 groups
    assert records[-1]["event"] == "groups" and records[-2]["step"] == 20_000
    seconds, mb = bench.watch_open(path, 20_000)     # the latest step reached the screen
    assert seconds > 0 and mb > 0
