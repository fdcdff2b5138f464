"""A real GRPOTrainer run watched without attach(): its checkpoints' trainer_state.json and the event
files of its TensorBoardCallback, followed while it trains, land on the same metric names as the
metrics file attach() writes for the same run."""

from __future__ import annotations

import pytest

from grpotui.hfsources import TensorBoardFollower, TrainerStateFollower
from grpotui.sources import FileSource

pytest.importorskip("tensorboard", reason="the [tb] extra: pip install -e '.[tb]'")


def points(recs) -> dict:
    """Step -> the values logged at it (the Trainer logs its summary's epoch at the last step)."""
    out: dict = {}
    for r in recs:
        if "event" not in r:
            out.setdefault(r["step"], {}).update(r)
    return out


@pytest.fixture(scope="module")
def hf_run(tmp_path_factory):
    """4 steps, beta 0.04, a checkpoint every 2 steps (only the newest kept), TensorBoard logging,
    attach() writing its metrics file too. The output folder is polled at the end of step 3 (each
    step's checkpoint and log come after its on_step_end) and after training."""
    from grpotui.integrations.sorting import exact_match_reward, position_match_reward
    from tests.trl.runs import grpo_run

    tmp = tmp_path_factory.mktemp("hf")
    out = tmp / "trl"
    seen: dict = {}

    def probe(after: int):
        def act(_command_path):
            ts = seen.setdefault("ts", TrainerStateFollower(out))
            tb = seen.setdefault("tb", TensorBoardFollower(out))
            seen[after] = (ts.poll(), tb.poll())
        return act

    run = grpo_run(tmp, reward_funcs=[position_match_reward, exact_match_reward], control=False,
                   beta=0.04, max_steps=4, save_strategy="steps", save_steps=2,
                   save_total_limit=1, report_to=["tensorboard"],
                   actions={4: probe(2)})
    seen["end"] = (seen["ts"].poll(), seen["tb"].poll())
    return run, out, seen


def test_the_checkpoints_are_followed_as_they_appear(hf_run):
    run, out, seen = hf_run
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-4"]   # limit 1
    ts2, tb2 = seen[2]
    assert list(points(ts2)) == [1, 2]              # checkpoint-2
    assert ts2[0]["event"] == "start" and ts2[0]["config"]["max_steps"] == 4
    assert list(points(tb2)) == [1, 2]              # logged at each step
    ts4, tb4 = seen["end"]
    assert list(points(ts4)) == [3, 4]              # checkpoint-4 (checkpoint-2 deleted): only
    assert list(points(tb4)) == [3, 4]              # what is new
    stop = [r for r in tb4 if r.get("event") == "stop"]
    assert len(stop) == 1 and stop[0]["step"] == 4
    assert set(stop[0]["summary"]) == {"train_runtime", "train_loss", "train_samples_per_second",
                                       "train_steps_per_second", "total_flos"}
    assert seen["ts"].problem is None and seen["tb"].problem is None


def test_the_values_are_the_trainers_own(hf_run):
    run, out, seen = hf_run
    history = {e["step"]: e for e in run.log_history if "loss" in e}
    ts = points(TrainerStateFollower(out).poll())
    tb = points(TensorBoardFollower(out).poll())
    assert list(ts) == list(tb) == [1, 2, 3, 4]
    for s, e in history.items():
        for k in ("reward", "loss", "kl", "completions/mean_length", "clip_ratio/region_mean"):
            assert ts[s][k] == e[k]
            assert tb[s][k] == pytest.approx(e[k], rel=1e-6)   # float32 in an event file


def test_the_metric_names_are_attachs(hf_run):
    run, out, seen = hf_run
    attached = set().union(*(r.keys() for r in run.steps().values()))
    ts = set().union(*(r.keys() for r in points(TrainerStateFollower(out).poll()).values()))
    tb = set().union(*(r.keys() for r in points(TensorBoardFollower(out).poll()).values()))
    only_attach = {"rollout", "group_size", "time"}          # grpotui's own bookkeeping
    assert attached - only_attach == ts
    assert tb == ts | {"time"}                              # seconds since the file began
    assert {"reward", "loss", "kl", "completions/mean_length", "clip_ratio/region_mean", "lr",
            "steps_per_second", "exact_match"} <= ts


def test_the_folder_is_one_run_read_from_its_event_files_with_the_runs_settings(hf_run):
    run, out, seen = hf_run
    src = FileSource([out])
    assert [(r.kind, r.name) for r in src.runs] == [("tensorboard", "trl")]
    src.poll()
    snap = src.queue[0]
    assert [p["step"] for p in snap["points"]] == [1, 2, 3, 4, 4]   # then the summary's epoch
    assert snap["status"] == "finished" and snap["step"] == 4 and snap["problem"] is None
    assert snap["config"]["loss_type"] == "dapo" and snap["config"]["beta"] == 0.04
    assert snap["config"]["num_generations"] == 4
