"""A GRPOTrainer on two CPU processes (torchrun, gloo) with grpotui attached and steering on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.trl.runs import read_records

SCRIPT = Path(__file__).with_name("two_process_run.py")


def test_a_change_applies_at_the_same_step_on_both_ranks_and_only_rank_0_writes(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(SCRIPT.parents[2]) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node", "2", str(SCRIPT), str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for r, seen in enumerate(ranks):
        assert (seen["rank"], seen["world_size"], seen["backend"]) == (r, 2, "gloo")
        # the change was sent after step 2 (constant schedule): both ranks run step 3 with it
        assert seen["lr"] == {"1": 1e-3, "2": 1e-3, "3": 2.5e-4, "4": 2.5e-4}
    assert (ranks[0]["writes"], ranks[0]["reads"]) == (True, True)
    assert (ranks[1]["writes"], ranks[1]["reads"]) == (False, False)

    records = read_records(tmp_path / "run.jsonl")
    assert [r["event"] for r in records if "event" in r and r["event"] not in ("groups", "system")] \
        == ["start", "set", "stop"]                   # one writer: one start, one set, one stop
    assert records[-2]["event"] == "system"           # rank 0's last figures, before its stop
    (s,) = [r for r in records if r.get("event") == "set"]
    assert (s["key"], s["step"], s["old"], s["new"]) == ("learning_rate", 3, 1e-3, 2.5e-4)
    assert records[0]["config"]["num_processes"] == 2
    steps = {r["step"]: r for r in records if "event" not in r}
    assert [steps[k]["learning_rate"] for k in (1, 2, 3, 4)] == pytest.approx([1e-3, 1e-3, 2.5e-4,
                                                                              2.5e-4])
    # each groups record holds both ranks' completions (gathered), with TRL's advantages
    groups = {r["step"]: r["groups"] for r in records if r.get("event") == "groups"}
    assert sorted(groups) == [1, 2, 3, 4]
    for step, g in groups.items():
        table = pd.read_parquet(tmp_path / "trl" / "completions" / f"completions_{step:05d}.parquet")
        assert len(g["prompts"]) == 2 and len(table) == 8
        assert list(table["completion"]) == [c for row in g["responses"] for c in row]
        assert list(table["advantage"]) == pytest.approx([d for row in g["deltas"] for d in row],
                                                         abs=1e-5)
