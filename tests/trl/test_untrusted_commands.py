"""Command lines from outside never stop a TRL run: each bad one is refused with the reason, in the
metrics file, and changes nothing (grpotui/steering.py: parse_command, CommandReader;
grpotui/integrations/trl.py: GrpotuiCallback.apply).

One real GRPOTrainer run (6 steps) carries every regression case from the issue: the lines of
BAD_LINES are appended after step 1 (due at step 2), the command file is replaced by a folder after
step 2 (due at step 3) and by a file again after step 4, with one good command (due at step 5).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from grpotui.integrations.sorting import exact_match_reward, position_match_reward
from tests.trl.runs import grpo_run, read_records

DEEP = 50_000            # the case: refused for its length before it is parsed
DEEP_SHORT = 20_000      # under the line limit: json.loads itself gives up (RecursionError)

BAD_LINES = {            # id -> the line, as a viewer (or anyone) could append it
    1: '{"cmd": "set", "changes": {"reward_weights": [1e39, 1]}, "id": 1}',
    2: '{"cmd": "set", "changes": {"reward_weights": {"exact_match_reward": 1e39}}, "id": 2}',
    3: '{"cmd": "set", "changes": {"reward_weights": [3e38, 3e38]}, "id": 3}',
    4: '{"cmd": "set", "changes": {"scale_rewards": [1]}, "id": 4}',
    5: '{"cmd": "set", "changes": {"scale_rewards": 1}, "id": 5}',
    6: '{"cmd": "set", "changes": {"learning_rate": ' + "[" * DEEP + "1e-4" + "]" * DEEP + '}, "id": 6}',
    7: ('{"cmd": "set", "changes": {"learning_rate": ' + "[" * DEEP_SHORT + "1e-4" + "]" * DEEP_SHORT
        + '}, "id": 7}'),
    8: '{"cmd": "set", "changes": {"learning_rate": 5e-4}, "id": [1]}',
}


def append_bad_lines(path):
    with open(path, "a", encoding="utf-8") as f:
        for line in BAD_LINES.values():
            f.write(line + "\n")


def replace_by_a_folder(path):
    path.unlink()
    path.mkdir()


def a_file_again(path):
    shutil.rmtree(path)
    path.write_text('{"cmd": "set", "changes": {"beta": 0.2}, "id": 9}\n')


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return grpo_run(tmp_path_factory.mktemp("hostile"),
                    reward_funcs=[position_match_reward, exact_match_reward],
                    reward_weights=[1.0, 0.5], beta=0.04, max_steps=6,
                    actions={2: append_bad_lines, 3: replace_by_a_folder, 5: a_file_again})


def refused(run) -> list[dict]:
    return run.events("refused")


def by_value(run, fragment: str) -> dict:
    (e,) = [e for e in refused(run) if fragment in e["message"]]
    return e


def test_the_run_completes_every_step_and_changes_nothing_it_refused(hostile):
    assert sorted(hostile.steps()) == [1, 2, 3, 4, 5, 6]
    assert hostile.records[-1]["event"] == "stop"
    assert hostile.records[-1]["reason"] == "training finished at step 6 of 6"
    assert hostile.events("error") == []
    # the one change it took: beta, from the file that came back after the folder
    assert [(e["key"], e["step"], e["old"], e["new"], e["id"]) for e in hostile.events("set")] == \
        [("beta", 5, 0.04, 0.2, 9)]
    t = hostile.trainer
    assert t.reward_weights.tolist() == [1.0, 0.5]
    assert (t.scale_rewards, t.beta, t.epsilon_low, t.epsilon_high) == ("group", 0.2, 0.2, 0.2)
    # the learning rate kept its schedule: linear decay from 1e-3 over 6 steps
    assert [hostile.optimizer_lr[s] for s in range(1, 7)] == pytest.approx(
        [1e-3 * (6 - s) / 6 for s in range(6)])
    # every step logged a finite reward and its groups kept the weights
    for s, rec in hostile.steps().items():
        assert isinstance(rec["reward"], float), s
        assert hostile.groups()[s]["reward_weights"] == [1.0, 0.5]
    # one answer per bad line, all at the step they were due, plus one for the folder
    assert [(e["step"], e["id"]) for e in refused(hostile)] == \
        [(2, 1), (2, 2), (2, 3), (2, 4), (2, 5), (2, None), (2, None), (2, None), (3, None)]


def test_a_reward_weight_of_1e39_is_refused(hostile):
    first, second = refused(hostile)[:2]
    assert (first["key"], first["value"], first["id"]) == ("reward_weights", [1e39, 1], 1)
    assert first["message"] == ("reward_weights [1e+39, 1]: weight 1e+39 is not a number from "
                                "-1e+06 to 1e+06; each reward weight must be one.")
    assert (second["key"], second["value"], second["id"]) == \
        ("reward_weights", {"exact_match_reward": 1e39}, 2)
    assert second["message"] == ("reward_weights {'exact_match_reward': 1e+39}: weight 1e+39 is "
                                 "not a number from -1e+06 to 1e+06; each reward weight must be "
                                 "one.")


def test_reward_weights_3e38_are_refused_so_the_reward_never_overflows(hostile):
    e = refused(hostile)[2]
    assert (e["key"], e["value"], e["id"]) == ("reward_weights", [3e38, 3e38], 3)
    assert e["message"] == ("reward_weights [3e+38, 3e+38]: weight 3e+38 is not a number from "
                            "-1e+06 to 1e+06; each reward weight must be one.")


def test_scale_rewards_list_and_integer_1_are_refused(hostile):
    as_list, as_int = refused(hostile)[3:5]
    assert (as_list["key"], as_list["value"], as_list["id"]) == ("scale_rewards", [1], 4)
    assert (as_int["key"], as_int["value"], as_int["id"]) == ("scale_rewards", 1, 5)
    for e, shown in ((as_list, "[1]"), (as_int, "1")):
        assert e["message"] == (f"scale_rewards {shown}: allowed: group, batch, none (or true = "
                                f"group, false = none, as GRPOConfig reads them).")
    assert all(s["config"]["scale_rewards"] == "group" for s in hostile.events("start"))


def test_a_learning_rate_nested_50000_deep_is_refused(hostile):
    too_long, too_deep = refused(hostile)[5:7]
    assert (too_long["key"], too_long["value"], too_long["id"]) == (None, None, None)
    assert too_long["message"] == (f"command line {BAD_LINES[6][:77] + '...'!r} is longer than "
                                   f"65536 bytes, the most a command line may be; it was not read.")
    assert (too_deep["key"], too_deep["value"], too_deep["id"]) == (None, None, None)
    assert too_deep["message"] == (f"command line {BAD_LINES[7][:77] + '...'!r} nests deeper than "
                                   f"8 levels of brackets, the most a command may use.")


def test_a_command_with_a_non_integer_id_is_refused_and_its_id_is_not_echoed(hostile):
    e = refused(hostile)[7]
    assert (e["key"], e["value"], e["id"]) == (None, None, None)
    assert e["message"] == ("command '{\"cmd\": \"set\", \"changes\": {\"learning_rate\": 5e-4}, "
                            "\"id\": [1]}' has id [1]; an id must be an integer from 0 to "
                            "9007199254740991.")
    ids = [r.get("id") for r in hostile.records if r.get("event") in ("set", "refused")]
    assert all(i is None or type(i) is int for i in ids)


def test_a_command_file_replaced_by_a_folder_is_reported_once_and_read_again_later(hostile):
    e = refused(hostile)[8]
    assert (e["step"], e["key"], e["value"], e["id"]) == (3, None, None, None)
    assert e["message"] == ("command file run.jsonl.control.jsonl is a folder, not a file; steering "
                            "takes no commands until it is a file again.")
    # the file came back after step 4: its command applied at step 5
    assert [(s["key"], s["step"]) for s in hostile.events("set")] == [("beta", 5)]


def test_every_record_is_json_with_int_or_null_ids(hostile):
    text = hostile.path.read_text()
    assert max(len(line) for line in text.splitlines()) < 20_000
    for line in text.splitlines():
        rec = json.loads(line)
        if rec.get("event") in ("set", "refused", "error"):
            assert rec["id"] is None or type(rec["id"]) is int


def test_two_processes_refuse_bad_lines_alike_and_neither_waits_for_the_other(tmp_path):
    """Rank 0 reads (and never raises), both ranks get the same checked commands by broadcast and
    answer them alike; a folder in place of the command file stops neither."""
    from tests.trl.test_two_process import SCRIPT

    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(SCRIPT.parents[2]) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node", "2", str(SCRIPT), str(tmp_path), "hostile"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for r in (0, 1):
        seen = json.loads((tmp_path / f"rank{r}.json").read_text())
        assert seen["lr"] == {"1": 1e-3, "2": 1e-3, "3": 2.5e-4, "4": 2.5e-4}
    records = read_records(tmp_path / "run.jsonl")
    answers = [(r["event"], r["step"], r["key"], r["id"]) for r in records
               if r.get("event") in ("set", "refused", "error")]
    assert answers == [("refused", 3, "reward_weights", 1), ("refused", 3, "scale_rewards", 2),
                       ("refused", 3, None, None), ("refused", 3, None, None),
                       ("set", 3, "learning_rate", 3), ("refused", 4, None, None)]
    assert records[-1]["event"] == "stop" and records[-1]["step"] == 4
    (folder,) = [r for r in records if r.get("event") == "refused" and r["step"] == 4]
    assert folder["message"] == ("command file run.jsonl.control.jsonl is a folder, not a file; "
                                 "steering takes no commands until it is a file again.")
