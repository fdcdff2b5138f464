"""Run by tests/trl/test_two_process.py under torchrun: a GRPOTrainer on two CPU processes (gloo)
with grpotui attached and steering on. Rank 0's test callback appends a learning-rate change to the
command file after step 2; every rank records, per optimizer step, the learning rate its optimizer
runs with and what grpotui knows, into OUT/rank<r>.json.

With a second argument `hostile` (tests/trl/test_untrusted_commands.py), bad lines come before the
change (HOSTILE_LINES) and the command file is replaced by a folder after step 3."""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import TrainerCallback  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

from grpotui import steering  # noqa: E402
from grpotui.integrations.tiny import tiny_sorting_model  # noqa: E402
from grpotui.integrations.trl import attach, position_match_reward, sorting_dataset  # noqa: E402

out = Path(sys.argv[1])
hostile = sys.argv[2:] == ["hostile"]
HOSTILE_LINES = [
    '{"cmd": "set", "changes": {"reward_weights": [1e39]}, "id": 1}',
    '{"cmd": "set", "changes": {"scale_rewards": [1]}, "id": 2}',
    '{"cmd": "set", "changes": {"learning_rate": ' + "[" * 20_000 + "]" * 20_000 + '}, "id": 3}',
    '{"cmd": "set", "changes": {"learning_rate": 1e-4}, "id": [1]}',
]
rank = int(os.environ["RANK"])
torch.set_num_threads(1)
model, tokenizer = tiny_sorting_model(out / f"model{rank}")
args = GRPOConfig(output_dir=str(out / "trl"), per_device_train_batch_size=4, num_generations=4,
                  max_completion_length=6, max_steps=4, logging_steps=1, report_to=[],
                  learning_rate=1e-3, lr_scheduler_type="constant", use_cpu=True,
                  save_strategy="no", disable_tqdm=True, seed=0, ddp_backend="gloo",
                  log_completions=True, num_completions_to_print=0)
trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=[position_match_reward],
                      args=args, train_dataset=sorting_dataset(64))
metrics = out / "run.jsonl"
callback = attach(trainer, metrics, control=True)
seen = {"rank": rank, "world_size": trainer.args.world_size, "writes": callback.writer is not None,
        "reads": callback.reader is not None, "lr": {}, "backend": None}


class Probe(TrainerCallback):
    def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
        seen["lr"][state.global_step + 1] = optimizer.param_groups[0]["lr"]
        seen["backend"] = torch.distributed.get_backend() if torch.distributed.is_initialized() else None

    def on_step_end(self, args, state, control, **kwargs):
        if rank == 0 and state.global_step == 2:
            if hostile:
                with open(steering.control_path(metrics), "a") as f:
                    f.write("".join(line + "\n" for line in HOSTILE_LINES))
            steering.CommandWriter(metrics).set(learning_rate=2.5e-4)
        if rank == 0 and state.global_step == 3 and hostile:
            steering.control_path(metrics).unlink()
            steering.control_path(metrics).mkdir()


trainer.add_callback(Probe())
trainer.train()
(out / f"rank{rank}.json").write_text(json.dumps(seen))
# An orderly end: both ranks meet, then close the process group, so neither exits while the other
# still talks to it (left to interpreter shutdown, gloo's threads sometimes abort a rank with
# "terminate called without an active exception" after training has finished).
if torch.distributed.is_available() and torch.distributed.is_initialized():
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()
