"""Steering a running job through a command file beside its metrics file.

The protocol (FORMAT.md), shared by `grpotui watch --control` (the viewer) and the TRL integration
(the run); neither imports the other, and this module imports neither torch nor textual at load time.

    metrics file   runs/x.jsonl                 written by the run (step, event and groups records)
    command file   runs/x.jsonl.control.jsonl   appended by the viewer, read by the run

One command per line: {"cmd": "set", "changes": {"learning_rate": 5e-5}, "id": 3}. The viewer appends
whole lines (one write each); the run reads only complete lines (a line still being written waits for
the next poll), applies each command at its next optimizer step and answers in the metrics file: one
`set` event per changed setting ({"event": "set", "step", "rollout", "key", "old", "new", "id"}) or one
`refused` event ({"event": "refused", "step", "rollout", "key", "value", "message", "id"}). The step of
an event is the first optimizer step that runs with the change, so it lines up with the step record
that first shows its effect.

In a multi-process run only the main process reads the file; `broadcast` hands what it read to every
other process (torch.distributed, when initialised), so each applies the same commands at the same step.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

CONTROL_SUFFIX = ".control.jsonl"


def control_path(metrics_path: str | os.PathLike) -> Path:
    """The command file that belongs to a metrics file: the metrics path plus `.control.jsonl`."""
    return Path(str(metrics_path) + CONTROL_SUFFIX)


def json_safe(value: Any) -> Any:
    # Commands and events are JSON: no NaN or inf (json.dumps would write invalid JSON for them).
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


class CommandWriter:
    """The viewer's end: appends commands to the command file of a metrics file.

    Ids continue from the largest id already in the file, so two viewers (or a restarted one) never
    reuse an id; each command is one `write` of one whole line in append mode.
    """

    def __init__(self, metrics_path: str | os.PathLike):
        self.path = control_path(metrics_path)
        self.next_id = 1 + max((c.get("id", 0) for c in _read_lines(self.path)
                                if isinstance(c.get("id"), int)), default=0)

    def send(self, command: dict[str, Any]) -> int:
        """Append one command (a dict with "cmd"); returns the id it was given."""
        cid = self.next_id
        self.next_id += 1
        line = json.dumps(json_safe({**command, "id": cid})) + "\n"
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
        except OSError as e:
            raise OSError(f"command file {self.path}: cannot append to it ({e.strerror or e}); the "
                          f"run's folder must be writable by the viewer.") from None
        return cid

    def set(self, **changes: Any) -> int:
        """Ask the run to change settings: set(learning_rate=5e-5). Returns the command's id."""
        return self.send({"cmd": "set", "changes": changes})


def _read_lines(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


class CommandReader:
    """The run's end: returns the commands appended since the last poll.

    `fresh=True` (the run's start) empties the file, so commands left from an earlier run with the
    same metrics path are not replayed. A line that is not a command becomes {"cmd": "invalid",
    "message": ...} so the run can refuse it in the metrics file instead of silently dropping it.
    """

    def __init__(self, metrics_path: str | os.PathLike, fresh: bool = True):
        self.path = control_path(metrics_path)
        self.offset = 0
        self._partial = b""
        if fresh:
            try:
                self.path.write_bytes(b"")
            except OSError as e:
                raise OSError(f"command file {self.path}: cannot create it ({e.strerror or e}); "
                              f"steering needs a writable folder beside the metrics file.") from None

    def poll(self) -> list[dict[str, Any]]:
        try:
            size = self.path.stat().st_size
        except OSError:
            return []
        if size < self.offset:  # the file was emptied or replaced: start again from its beginning
            self.offset, self._partial = 0, b""
        if size == self.offset:
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read(size - self.offset)
        self.offset += len(data)
        data = self._partial + data
        *lines, self._partial = data.split(b"\n")
        return [parse_command(line) for line in lines if line.strip()]


def parse_command(line: bytes | str) -> dict[str, Any]:
    """One command line -> a command dict; anything malformed -> {"cmd": "invalid", "message"}."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    shown = line.strip()
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    try:
        obj = json.loads(line)
    except ValueError:
        return {"cmd": "invalid", "message": f"command line {shown!r} is not JSON; each line must be "
                f"one object such as {{\"cmd\": \"set\", \"changes\": {{\"learning_rate\": 1e-5}}}}."}
    if not isinstance(obj, dict) or obj.get("cmd") != "set":
        return {"cmd": "invalid", "id": obj.get("id") if isinstance(obj, dict) else None,
                "message": f"command {shown!r} is not understood; the only command is "
                           f"{{\"cmd\": \"set\", \"changes\": {{setting: value, ...}}}}."}
    changes = obj.get("changes")
    if not isinstance(changes, dict) or not changes:
        return {"cmd": "invalid", "id": obj.get("id"),
                "message": f"command {shown!r} has no changes; \"changes\" must be a non-empty "
                           f"mapping of setting names to values."}
    return {"cmd": "set", "changes": changes, "id": obj.get("id")}


def broadcast(commands: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The main process's commands, on every process.

    Without torch.distributed (or with one process) this returns `commands` as given. Otherwise every
    process must call it at the same point (it is a collective): rank 0 passes what it read, the others
    pass anything (it is ignored), and all get rank 0's list.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return list(commands or [])
    box = [list(commands or []) if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def set_event(step: int, rollout: int, key: str, old: Any, new: Any, cid: Any = None
              ) -> dict[str, Any]:
    return {"event": "set", "step": step, "rollout": rollout, "key": key, "old": old, "new": new,
            "id": cid}


def refused_event(step: int, rollout: int, key: str | None, value: Any, message: str,
                  cid: Any = None) -> dict[str, Any]:
    return {"event": "refused", "step": step, "rollout": rollout, "key": key,
            "value": json_safe(value), "message": message, "id": cid}
