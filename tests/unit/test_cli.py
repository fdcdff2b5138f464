"""The command line: bad input exits 2 with a message (no traceback), `run`, `presets`, SIGINT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from grpotui import cli
from grpotui.engine import rewards

GRPOTUI = Path(sys.executable).with_name("grpotui")


@pytest.fixture(autouse=True)
def _user_presets(monkeypatch, tmp_path):
    # keep every test away from the real ~/.config/grpotui/presets
    monkeypatch.setenv("GRPOTUI_PRESETS_DIR", str(tmp_path / "env-presets"))


def invoke(*args: str):
    return CliRunner().invoke(cli.app, list(args))


def assert_bad_input(result, *needles: str) -> None:
    out = result.output
    assert result.exit_code == 2, out
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in out
    assert "grpotui: error:" in out
    for needle in needles:
        assert needle in out, (needle, out)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ============================================================================ bad input: exit 2
@pytest.mark.parametrize("args,needles", [
    (["run", "--preset", "no-such-preset"], ["unknown preset 'no-such-preset'", "sort4"]),
    (["run", "--set", "learnin_rate=0.1"], ["unknown key 'learnin_rate'", "learning_rate"]),
    (["run", "--set", "group_size=0"], ["group_size", "0 is out of range", "1 to 256"]),
    (["run", "--set", "learning_rate=99"], ["learning_rate", "99", "0 to 10"]),
    (["run", "--set", "group_size"], ["--set 'group_size'", "key=value"]),
    (["run", "--set", "delta_mode=bogus"], ["delta_mode", "bogus", "centered"]),
    (["run", "--steps", "-1"], ["--steps -1"]),
    (["run", "--steps", "0"], ["--steps 0"]),
    (["run", "--rollouts", "0"], ["--rollouts 0"]),
    (["run", "--target-heldout", "2"], ["--target-heldout 2"]),
    (["run", "--target-heldout", "-0.5"], ["--target-heldout -0.5"]),
    (["run", "--max-seconds", "0"], ["--max-seconds"]),
    (["run", "--seed", "-3"], ["--seed: -3 is out of range", "0 to 2147483647"]),
    (["run", "--device", "tpu"], ["--device: 'tpu' is not a choice", "cpu, cuda, auto"]),
    (["presets", "show", "no-such-preset"], ["unknown preset 'no-such-preset'"]),
])
def test_bad_input_exits_2_with_a_message(args, needles):
    assert_bad_input(invoke(*args), *needles)


def test_metrics_into_a_missing_folder_makes_it(tmp_path):
    target = tmp_path / "runs" / "deeper" / "m.jsonl"
    result = invoke("run", "--preset", "lecture-centered", "--rollouts", "1", "--quiet",
                    "--metrics", str(target))
    assert result.exit_code == 0, result.output
    records = [json.loads(x) for x in target.read_text().splitlines()]
    assert [r["event"] for r in records if "event" in r] == ["start", "stop"]


def test_metrics_where_no_folder_can_be_made_exits_2(tmp_path):
    (tmp_path / "a-file").write_text("")
    target = tmp_path / "a-file" / "m.jsonl"
    assert_bad_input(invoke("run", "--preset", "lecture-centered", "--rollouts", "1", "--quiet",
                            "--metrics", str(target)), "cannot write there", str(target))


def test_metrics_with_unknown_extension_exits_2(tmp_path):
    assert_bad_input(invoke("run", "--preset", "lecture-centered", "--rollouts", "1", "--quiet",
                            "--metrics", str(tmp_path / "m.txt")), "unknown extension")


def test_bad_preset_file_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("learnin_rate: 0.1\n")
    assert_bad_input(invoke("run", "--preset", str(bad), "--quiet"), str(bad), "learning_rate")


def test_cuda_without_a_gpu_exits_2(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert_bad_input(invoke("run", "--preset", "lecture-centered", "--rollouts", "1", "--quiet",
                            "--device", "cuda"), "cuda")


def test_bad_input_in_a_real_process_has_no_traceback():
    for args in (["run", "--set", "group_size=0"], ["run", "--steps", "-1"],
                 ["run", "--preset", "no-such-preset"], ["run", "--set", "oops"]):
        proc = subprocess.run([str(GRPOTUI), *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stdout + proc.stderr
        assert proc.stderr.startswith("grpotui: error: ")
    # what click itself refuses (a value of the wrong type, an unknown option, a missing argument)
    # gets the same one-paragraph form, with where to look
    for args, message, command in [
        (["run", "--steps", "abc"], "Invalid value for '--steps'", "run"),
        (["run", "--rollout", "3"], "No such option: --rollout (Possible options: --rollouts)",
         "run"),
        (["presets", "show"], "Missing argument 'name'.", "presets show"),
    ]:
        proc = subprocess.run([str(GRPOTUI), *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.startswith(f"grpotui: error: {message}"), proc.stderr
        assert proc.stderr.endswith(f". See 'grpotui {command} --help'.\n"), proc.stderr
        assert len(proc.stderr.splitlines()) == 1
    proc = subprocess.run([str(GRPOTUI), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Usage: grpotui" in proc.stdout


# ============================================================================ run
def test_run_lecture_preset_writes_metrics(tmp_path):
    path = tmp_path / "x.jsonl"
    result = invoke("run", "--preset", "lecture-centered", "--rollouts", "3", "--quiet",
                    "--metrics", str(path))
    assert result.exit_code == 0, result.output
    assert result.exception is None
    assert "steps" in result.output
    assert "30 steps (3 rollouts)" in result.output
    records = read_jsonl(path)
    assert len(records) == 32
    start, *steps, stop = records
    assert start["event"] == "start"
    assert start["preset"] == "lecture-centered"
    assert start["config"]["delta_mode"] == "centered"
    assert stop["event"] == "stop"
    assert (stop["step"], stop["rollout"], stop["reason"]) == (30, 3, "reached rollouts")
    assert all("event" not in s for s in steps)
    assert [s["step"] for s in steps] == list(range(1, 31))
    assert [s["rollout"] for s in steps] == [r for r in (1, 2, 3) for _ in range(10)]


def test_run_csv_metrics(tmp_path):
    path = tmp_path / "x.csv"
    result = invoke("run", "--preset", "lecture-centered", "--rollouts", "2", "--quiet",
                    "--metrics", str(path))
    assert result.exit_code == 0, result.output
    lines = path.read_text().splitlines()
    assert lines[0].startswith("step,rollout,reward,")
    assert len(lines) == 1 + 1 + 20 + 1     # header, start, 20 steps, stop


def test_run_stops_at_an_exact_step_count(tmp_path):
    path = tmp_path / "x.jsonl"
    result = invoke("run", "--preset", "lecture-centered", "--steps", "25", "--quiet",
                    "--metrics", str(path))
    assert result.exit_code == 0, result.output
    assert "25 steps (3 rollouts)" in result.output
    steps = [r for r in read_jsonl(path) if "event" not in r]
    assert [s["step"] for s in steps] == list(range(1, 26))


def test_run_set_overrides_reach_the_trainer(tmp_path):
    path = tmp_path / "x.jsonl"
    result = invoke("run", "--preset", "lecture-centered", "--rollouts", "1", "--quiet",
                    "--set", "group_size=4", "--set", "inner_steps=2", "--seed", "7",
                    "--metrics", str(path))
    assert result.exit_code == 0, result.output
    start, *steps, stop = read_jsonl(path)
    assert (start["config"]["group_size"], start["config"]["inner_steps"],
            start["config"]["seed"]) == (4, 2, 7)
    assert [s["group_size"] for s in steps] == [4, 4]


def test_run_that_diverges_exits_3(tmp_path, monkeypatch):
    monkeypatch.setitem(rewards.REWARD_FUNCTIONS, "inclusion_ordering",
                        lambda p, r: torch.full(r.shape[:2], float("nan")))
    path = tmp_path / "x.jsonl"
    result = invoke("run", "--preset", "lecture-centered", "--rollouts", "3", "--quiet",
                    "--metrics", str(path))
    assert result.exit_code == 3, result.output
    assert "diverged at step 1" in result.output
    assert "Traceback" not in result.output
    events = [r["event"] for r in read_jsonl(path)]
    assert events == ["start", "diverged", "stop"]


def test_run_whose_reward_function_raises_exits_1_with_whole_records(tmp_path, monkeypatch):
    real = rewards.REWARD_FUNCTIONS["inclusion_ordering"]
    calls = {"n": 0}

    def flaky(prompts, responses):
        calls["n"] += 1
        if calls["n"] == 3:
            raise MemoryError("cannot allocate 12 GB")
        return real(prompts, responses)

    monkeypatch.setitem(rewards.REWARD_FUNCTIONS, "inclusion_ordering", flaky)
    path = tmp_path / "x.jsonl"
    result = invoke("run", "--preset", "lecture-centered", "--rollouts", "5", "--quiet",
                    "--metrics", str(path))
    assert result.exit_code == 1, result.output
    assert ("grpotui: training failed in rollout 3, after step 20: MemoryError: cannot allocate "
            "12 GB (out of memory: lower prompts_per_rollout, group_size, d_model or n_layers). "
            f"Records up to step 20 are complete in {path}.") in result.output
    assert "failed: 20 steps (2 rollouts)" in result.output
    assert "Traceback" not in result.output
    records = read_jsonl(path)
    assert [r["step"] for r in records if "loss" in r] == list(range(1, 21))
    assert [r["event"] for r in records if "event" in r] == ["start", "error", "stop"]
    assert records[-1]["reason"] == "failed"


# ============================================================================ presets
def test_presets_lists_shipped(tmp_path):
    result = invoke("presets", "--presets-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    for name in ("sort4", "default", "lecture-centered"):
        assert name in result.output


def test_presets_show_prints_yaml():
    result = invoke("presets", "show", "sort4")
    assert result.exit_code == 0, result.output
    assert "name: sort4" in result.output
    import yaml
    data = yaml.safe_load(result.output)
    assert data["name"] == "sort4" and data["n"] == 4 and data["group_size"] == 8


def test_presets_save_show_delete(tmp_path):
    d = str(tmp_path / "user")
    result = invoke("presets", "save", "mine", "--from", "sort4", "--set", "group_size=4",
                    "--presets-dir", d)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "user" / "mine.yaml").is_file()

    shown = invoke("presets", "show", "mine", "--presets-dir", d)
    assert shown.exit_code == 0, shown.output
    assert "group_size: 4" in shown.output
    assert "name: mine" in shown.output
    assert "n: 4" in shown.output                 # the rest comes from sort4

    listed = invoke("presets", "--presets-dir", d)
    assert "mine" in listed.output

    # the root-level --presets-dir reaches the subcommands too
    root = invoke("--presets-dir", d, "presets", "show", "mine")
    assert root.exit_code == 0 and "group_size: 4" in root.output

    gone = invoke("presets", "delete", "mine", "--yes", "--presets-dir", d)
    assert gone.exit_code == 0, gone.output
    assert not (tmp_path / "user" / "mine.yaml").exists()
    assert_bad_input(invoke("presets", "show", "mine", "--presets-dir", d), "unknown preset 'mine'")


def test_presets_save_existing_needs_yes(tmp_path):
    d = str(tmp_path)
    assert invoke("presets", "save", "mine", "--presets-dir", d).exit_code == 0
    assert_bad_input(invoke("presets", "save", "mine", "--set", "group_size=2", "--presets-dir", d),
                     "already exists", "--yes")
    ok = invoke("presets", "save", "mine", "--set", "group_size=2", "--yes", "--presets-dir", d)
    assert ok.exit_code == 0, ok.output
    assert "group_size: 2" in invoke("presets", "show", "mine", "--presets-dir", d).output


@pytest.mark.parametrize("args,needles", [
    (["presets", "save", "sort4"], ["shipped"]),
    (["presets", "save", "a/b"], ["not a usable preset name"]),
    (["presets", "save", ".hidden"], ["not a usable preset name"]),
    (["presets", "save", "mine", "--set", "group_size=0"], ["group_size"]),
    (["presets", "save", "mine", "--from", "no-such-preset"], ["unknown preset"]),
    (["presets", "delete", "sort4", "--yes"], ["shipped"]),
    (["presets", "delete", "no-such-preset", "--yes"], ["no-such-preset"]),
])
def test_presets_bad_input_exits_2(tmp_path, args, needles):
    assert_bad_input(invoke(*args, "--presets-dir", str(tmp_path)), *needles)
    assert not (tmp_path / "mine.yaml").exists()


def test_deleting_a_shipped_preset_keeps_it():
    assert_bad_input(invoke("presets", "delete", "sort4", "--yes"), "shipped")
    assert invoke("presets", "show", "sort4").exit_code == 0


def test_presets_delete_without_yes_asks_and_refuses_without_a_terminal(tmp_path):
    d = str(tmp_path)
    assert invoke("presets", "save", "mine", "--presets-dir", d).exit_code == 0
    assert_bad_input(invoke("presets", "delete", "mine", "--presets-dir", d), "--yes")
    assert (tmp_path / "mine.yaml").exists()


def test_presets_delete_removes_a_broken_user_preset(tmp_path):
    # `grpotui presets` warns about a malformed user preset; deleting it must be the way out
    (tmp_path / "broken.yaml").write_text("group_size: [\n")
    listed = invoke("presets", "--presets-dir", str(tmp_path))
    assert listed.exit_code == 0
    assert "broken.yaml" in listed.output        # the warning names the file
    result = invoke("presets", "delete", "broken", "--yes", "--presets-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "broken.yaml").exists()


# ============================================================================ SIGINT
def test_sigint_stops_cleanly_with_summary_and_whole_records(tmp_path):
    metrics = tmp_path / "f.jsonl"
    env = {**os.environ, "GRPOTUI_PRESETS_DIR": str(tmp_path / "presets")}
    proc = subprocess.Popen(
        [str(GRPOTUI), "run", "--preset", "sort4", "--rollouts", "100000", "--quiet",
         "--metrics", str(metrics)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        # wait (bounded) until the start event and a few step records are on disk
        for _ in range(1200):
            try:
                proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass
            else:
                out, err = proc.communicate()
                pytest.fail(f"grpotui exited early ({proc.returncode}): {out} {err}")
            if metrics.exists() and metrics.read_text().count("\n") >= 5:
                break
        else:
            pytest.fail("no metrics records appeared")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in out + err
    assert "stopped by SIGINT" in out
    assert "steps" in out
    text = metrics.read_text()
    assert text.endswith("\n")
    records = [json.loads(line) for line in text.splitlines()]   # every line parses
    assert records[0]["event"] == "start"
    assert records[-1]["event"] == "stop"
    assert records[-1]["reason"] == "stopped by SIGINT"
    steps = [r for r in records if "event" not in r]
    assert len(steps) >= 4
    assert [s["step"] for s in steps] == list(range(1, len(steps) + 1))
    assert records[-1]["step"] == len(steps)
    assert len(steps) % 2 == 0          # sort4 takes 2 inner steps: only whole rollouts
