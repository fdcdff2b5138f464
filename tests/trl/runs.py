"""Real GRPOTrainer runs on CPU, offline, with a tiny random Qwen2 and a word-level tokenizer.

`grpo_run(...)` trains for a few steps with grpotui attached and returns what a test needs: the
metrics records, TRL's own log history and log_completions parquet tables, the learning rate the
optimizer ran each step with, and the trainer."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

os.environ["HF_HUB_OFFLINE"] = "1"

import torch


@dataclass
class Run:
    path: Path
    records: list[dict[str, Any]]
    log_history: list[dict[str, Any]]
    parquet: dict[int, Any]                      # step -> pandas DataFrame
    optimizer_lr: dict[int, float]               # optimizer step -> lr it ran with
    trainer: Any
    callback: Any
    extra: dict[str, Any] = field(default_factory=dict)

    def steps(self) -> dict[int, dict]:
        return {r["step"]: r for r in self.records if "event" not in r}

    def events(self, name: str) -> list[dict]:
        return [r for r in self.records if r.get("event") == name]

    def groups(self) -> dict[int, dict]:
        return {r["step"]: r["groups"] for r in self.events("groups")}


def read_records(path: Path) -> list[dict[str, Any]]:
    """The metrics file as records, JSONL or CSV (events' detail JSON merged back in)."""
    if path.suffix == ".csv":
        out = []
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["event"]:
                    rec = {"event": row["event"], "step": int(row["step"]),
                           "rollout": int(row["rollout"]), **json.loads(row["detail"])}
                else:
                    rec = {k: float(v) for k, v in row.items() if v not in ("", None)}
                    rec["step"] = int(rec["step"])
                out.append(rec)
        return out
    return [json.loads(line) for line in path.read_text().splitlines()]


def grpo_run(tmp: Path, *, reward_funcs, commands: dict[int, dict] | None = None,
             metrics_name: str = "run.jsonl", control: bool = True,
             actions: dict[int, Callable[[Path], None]] | None = None, **config: Any) -> Run:
    """`commands[s]` is sent (as the viewer would) at the end of step s - 1, due at step s;
    `actions[s](command_path)` runs at the same moment, after it (write raw lines, replace the file)."""
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from grpotui import steering
    from grpotui.integrations.tiny import tiny_sorting_model
    from grpotui.integrations.trl import attach, sorting_dataset

    torch.set_num_threads(1)
    model, tokenizer = tiny_sorting_model(tmp / "model")
    settings = dict(output_dir=str(tmp / "trl"), per_device_train_batch_size=8, num_generations=4,
                    max_completion_length=8, max_steps=4, logging_steps=1, report_to=[],
                    learning_rate=1e-3, use_cpu=True, save_strategy="no", disable_tqdm=True,
                    log_completions=True, num_completions_to_print=0, seed=0)
    settings.update(config)
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=reward_funcs,
                          args=GRPOConfig(**settings), train_dataset=sorting_dataset(64))
    path = tmp / metrics_name
    callback = attach(trainer, path, control=control)
    optimizer_lr: dict[int, float] = {}

    class Probe(TrainerCallback):
        """Added after grpotui's callback: sees each step as it will run; sends commands as a
        viewer would, at the end of the step before they are due."""

        def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
            optimizer_lr[state.global_step + 1] = optimizer.param_groups[0]["lr"]

        def on_step_end(self, args, state, control, **kwargs):
            changes = (commands or {}).get(state.global_step + 1)
            if changes:
                steering.CommandWriter(path).set(**changes)
            action = (actions or {}).get(state.global_step + 1)
            if action is not None:
                action(steering.control_path(path))

    trainer.add_callback(Probe())
    trainer.train()
    callback.close()
    import pandas as pd

    parquet = {int(p.stem.split("_")[1]): pd.read_parquet(p)
               for p in sorted((tmp / "trl" / "completions").glob("*.parquet"))}
    return Run(path, read_records(path), list(trainer.state.log_history), parquet, optimizer_lr,
               trainer, callback)
