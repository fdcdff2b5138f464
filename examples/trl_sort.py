"""Train a language model to sort numbers with TRL's GRPOTrainer while grpotui watches and steers it.

    pip install -c constraints.txt -e ".[trl]"
    python examples/trl_sort.py --tiny                      # offline: a tiny random model, seconds a step
    python examples/trl_sort.py --model Qwen/Qwen2.5-0.5B-Instruct   # a real model (downloads it)

and, in another terminal, while it trains:

    grpotui watch runs/trl_sort.jsonl --control

The grpotui part is one line, `attach(trainer, path, control=True)`; the rest is a plain TRL script.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def fail(message: str) -> typer.Exit:
    typer.echo(f"trl_sort: error: {message}", err=True)
    return typer.Exit(2)


@app.command()
def main(
    model: str = typer.Option("Qwen/Qwen2.5-0.5B-Instruct", help="A Hugging Face model name or a "
                              "local folder (ignored with --tiny)."),
    tiny: bool = typer.Option(False, "--tiny", help="Train a tiny randomly initialised model built "
                              "on the spot (offline; it learns little, but every part runs)."),
    metrics: Path = typer.Option(Path("runs/trl_sort.jsonl"), help="The grpotui metrics file "
                                 "(.jsonl or .csv) to write; watch it with `grpotui watch`."),
    steps: int = typer.Option(200, min=1, help="Optimizer steps."),
    n: int = typer.Option(4, min=2, max=16, help="Numbers per prompt."),
    vocab_size: int = typer.Option(10, min=2, max=1000, help="Numbers are drawn from 0..vocab_size-1."),
    num_generations: int = typer.Option(8, min=2, help="Completions per prompt (the group size)."),
    prompts_per_step: int = typer.Option(4, min=1, help="Prompts per optimizer step."),
    learning_rate: float = typer.Option(None, help="Default: 1e-5 (a real model), 1e-3 (--tiny)."),
    beta: float = typer.Option(0.04, min=0.0, help="KL weight; > 0 loads a reference model and "
                               "makes beta steerable."),
    max_completion_length: int = typer.Option(16, min=1, help="Tokens per completion."),
    control: bool = typer.Option(True, "--control/--no-control", help="Take changes from "
                                 "`grpotui watch --control`."),
    seed: int = typer.Option(0, min=0, help="Seed for the dataset and training."),
) -> None:
    if metrics.suffix.lower() not in (".jsonl", ".csv"):
        raise fail(f"--metrics {metrics}: the file must end in .jsonl or .csv.")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    from trl import GRPOConfig, GRPOTrainer

    from grpotui.integrations.trl import (attach, exact_match_reward, position_match_reward,
                                          sorting_dataset)

    metrics.parent.mkdir(parents=True, exist_ok=True)
    out = metrics.with_suffix("")
    out = out.parent / (out.name + "_trainer")
    if tiny:
        from grpotui.integrations.tiny import tiny_sorting_model

        policy, tokenizer = tiny_sorting_model(out / "tiny_model", vocab_size=vocab_size, seed=seed)
        lr = 1e-3 if learning_rate is None else learning_rate
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(model, padding_side="left")
            policy = AutoModelForCausalLM.from_pretrained(model)
        except (OSError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise fail(f"cannot load model '{model}': {first} Give a model name the Hugging Face "
                       f"hub has (and network access), a local folder, or --tiny to try offline.")
        lr = 1e-5 if learning_rate is None else learning_rate
    args = GRPOConfig(
        output_dir=str(out), max_steps=steps, learning_rate=lr, beta=beta,
        per_device_train_batch_size=prompts_per_step * num_generations,
        num_generations=num_generations, max_completion_length=max_completion_length,
        reward_weights=[1.0, 2.0], logging_steps=1, save_strategy="no", report_to=[],
        disable_tqdm=True, seed=seed, use_cpu=not torch.cuda.is_available(),
    )
    trainer = GRPOTrainer(model=policy, processing_class=tokenizer, args=args,
                          reward_funcs=[position_match_reward, exact_match_reward],
                          train_dataset=sorting_dataset(steps * prompts_per_step, n=n,
                                                        vocab_size=vocab_size, seed=seed))
    attach(trainer, metrics, control=control)            # <- grpotui
    typer.echo(f"Training; watch it with:  grpotui watch {metrics}" + (" --control" if control else ""),
               err=True)
    trainer.train()


if __name__ == "__main__":
    sys.exit(app())
