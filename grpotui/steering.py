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

Anyone who can write the run's folder can write its command file, so the run trusts no line:
`parse_command` checks each one completely (length, JSON, nesting, shape, id, every known setting's
value against BOUNDS) before anything of it is applied, and never raises. A refused line is one
`refused` event with "key" null; a refused change within a good command is one `refused` event with
its setting's name as "key", and the command's other changes still apply. In every event "id" is an
int (0..MAX_ID) or null, never anything else; "message" is one sentence saying what was wrong and what
is allowed, quoting at most 80 characters of what was sent; "value" is the value as sent, or the
first 80 characters of its JSON (a string ending in "...") when that is longer.

In a multi-process run only the main process reads the file; `broadcast` hands what it read to every
other process (torch.distributed, when initialised), so each applies the same commands at the same step.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from grpotui.records import depth   # one nesting measure for records and commands

CONTROL_SUFFIX = ".control.jsonl"

# What a command may be. The command file is open to anyone who can write the run's folder, so
# every line is checked here, completely, before the run applies any of it (parse_command).
MAX_LINE_BYTES = 64 * 1024        # a longer line is refused without being parsed
MAX_DEPTH = 8                     # brackets: {"changes": {"reward_weights": {...}}} needs 3
MAX_CHANGES = 32                  # settings one command may change
MAX_KEY_CHARS = 256               # characters of a setting's (or a reward function's) name
MAX_WEIGHTS = 1024                # entries of a reward_weights list or mapping
MAX_ID = 2 ** 53 - 1              # ids are integers 0..MAX_ID (exact as a JSON reader's double)
MAX_COMMANDS_PER_POLL = 256       # lines answered per optimizer step; more wait for the next
READ_CHUNK = 1024 * 1024          # bytes read from the command file per poll, at most
SHOWN = 80                        # characters of a line or value a message quotes, at most

# The steerable settings' values: one table, used here and by the TRL integration (which adds what
# depends on the run: its reward functions, whether it started with beta > 0, its scheduler).
ALIASES = {"lr": "learning_rate", "kl_beta": "beta", "clip_eps": "epsilon"}
# name: (low, high), inclusive; finite JSON numbers only (true/false are not numbers)
BOUNDS = {"learning_rate": (0.0, 10.0), "beta": (0.0, 10.0), "epsilon": (0.0, 1.0),
          "epsilon_low": (0.0, 1.0), "epsilon_high": (0.0, 10.0)}
SCALE_REWARDS = ("group", "batch", "none")    # also true (= group) and false (= none), as GRPOConfig
# |weight| at most this: TRL keeps the weights in a float32 tensor and sums weight x reward; with
# rewards up to 1e12 in size the weighted sum, and the square the std takes of it, stay finite.
MAX_WEIGHT = 1e6

_TOO_DEEP = object()


class CommandError(ValueError):
    """A command, or one change in it, that is refused; the message says why and what is allowed."""


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
        self.next_id = 1 + max((c["id"] for c in _read_lines(self.path)
                                if type(c.get("id")) is int and 0 <= c["id"] < MAX_ID), default=0)

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
        if len(line) > MAX_LINE_BYTES:
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


class CommandReader:
    """The run's end: returns the commands appended since the last poll, each checked by
    `parse_command`.

    `fresh=True` (the run's start) empties the file, so commands left from an earlier run with the
    same metrics path are not replayed. A line that is not a command becomes {"cmd": "invalid",
    "message": ..., "id": None} so the run can refuse it in the metrics file instead of silently
    dropping it. `poll` never raises: a command file that is not a regular file (a folder, a pipe) or
    cannot be read is reported once, as such an invalid command, and read again from its beginning
    once it is a readable file; a removed file is read from its beginning when it comes back. A line
    longer than MAX_LINE_BYTES is refused unread (its start is quoted) and at most
    MAX_COMMANDS_PER_POLL lines are answered per poll (the rest wait for the next), so neither a huge
    line nor a flood of lines holds a training step for long or fills memory.
    """

    def __init__(self, metrics_path: str | os.PathLike, fresh: bool = True):
        self.path = control_path(metrics_path)
        self.offset = 0               # bytes of the file read so far
        self._buf = b""               # read, not yet split into lines
        self._skipping = False        # inside a line already refused for its length
        self._problem: str | None = None   # the reported reason the file cannot be read, until it can
        if fresh:
            try:
                self.path.write_bytes(b"")
            except OSError as e:
                raise OSError(f"command file {self.path}: cannot create it ({e.strerror or e}); "
                              f"steering needs a writable folder beside the metrics file.") from None

    def _restart(self) -> None:
        self.offset, self._buf, self._skipping = 0, b"", False

    def _trouble(self, what: str, until: str = "it can be read again") -> list[dict[str, Any]]:
        """Report `what` once (until the file is readable again); read it from its start then."""
        self._restart()
        if what == self._problem:
            return []
        self._problem = what
        return [{"cmd": "invalid", "id": None,
                 "message": f"command file {self.path.name} {what}; steering takes no commands "
                            f"until {until}."}]

    def poll(self) -> list[dict[str, Any]]:
        try:
            return self._poll()
        except Exception as e:            # noqa: BLE001 - a reader's fault must not stop training
            return self._trouble(f"cannot be read ({type(e).__name__}: {_short(str(e))})")

    def _poll(self) -> list[dict[str, Any]]:
        try:
            # O_NONBLOCK: a pipe put in the file's place must not hang the run; fstat on the open
            # file (not the path) so what is checked is what is read
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                         | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            self._restart()
            self._problem = None
            return []
        except IsADirectoryError:
            return self._trouble("is a folder, not a file", "it is a file again")
        except OSError as e:
            return self._trouble(f"cannot be read ({e.strerror or e})")
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                return self._trouble("is a folder, not a file", "it is a file again")
            if not stat.S_ISREG(st.st_mode):
                return self._trouble("is not a regular file (a pipe, a device or a socket)",
                                     "it is a regular file again")
            if self._problem is not None:   # readable again: a new file, read from its beginning
                self._problem = None
                self._restart()
            if st.st_size < self.offset:    # the file was emptied or replaced: start again
                self._restart()
            if len(self._buf) < READ_CHUNK and st.st_size > self.offset:
                os.lseek(fd, self.offset, os.SEEK_SET)
                data = os.read(fd, min(st.st_size - self.offset, READ_CHUNK))
                self.offset += len(data)
                self._buf += data
        except OSError as e:
            return self._trouble(f"cannot be read ({e.strerror or e})")
        finally:
            os.close(fd)
        return self._lines()

    def _lines(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        buf, pos, lines = self._buf, 0, 0
        while len(out) < MAX_COMMANDS_PER_POLL and lines < 16 * MAX_COMMANDS_PER_POLL:
            lines += 1
            end = buf.find(b"\n", pos)
            if end < 0:
                rest = len(buf) - pos
                if self._skipping:                     # still inside the refused line: drop it
                    pos = len(buf)
                elif rest > MAX_LINE_BYTES:            # too long already: refuse it now, unread
                    out.append(_too_long(buf[pos:pos + 100]))
                    self._skipping, pos = True, len(buf)
                break
            line, pos = buf[pos:end], end + 1
            if self._skipping:                         # the end of a line refused for its length
                self._skipping = False
            elif len(line) > MAX_LINE_BYTES:
                out.append(_too_long(line[:100]))
            elif line.strip():
                out.append(parse_command(line))
        self._buf = buf[pos:]
        return out


def _short(text: str, limit: int = SHOWN) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def quote(value: Any) -> str:
    """A value as a message shows it: its repr, at most SHOWN characters."""
    try:
        text = repr(value)
    except Exception:                     # noqa: BLE001 - e.g. an int past Python's digit limit
        text = f"<{type(value).__name__}>"
    return _short(text)


def _too_long(start: bytes) -> dict[str, Any]:
    shown = _short(start.decode("utf-8", errors="replace").strip() + "...")
    return {"cmd": "invalid", "id": None,
            "message": f"command line {shown!r} is longer than {MAX_LINE_BYTES} bytes, the most a "
                       f"command line may be; it was not read."}


def canonical(key: str) -> str:
    """A setting's name as the run knows it (aliases: lr, kl_beta, clip_eps)."""
    return ALIASES.get(key, key)


def check_value(key: str, value: Any) -> Any:
    """The value a change of `key` (its canonical name) may take, checked against BOUNDS, normalised
    (numbers as floats, scale_rewards as TRL's string); raises CommandError naming what is wrong and
    what is allowed. Settings this table does not know pass unchanged: the run decides on those."""
    if key in BOUNDS:
        lo, hi = BOUNDS[key]
        if not _is_number(value) or not lo <= value <= hi:
            raise CommandError(f"{key} {quote(value)}: allowed: a number from {lo:g} to {hi:g}.")
        return float(value)
    if key == "scale_rewards":
        if isinstance(value, bool):               # GRPOConfig's old spelling: True = group, False = none
            return "group" if value else "none"
        if isinstance(value, str) and value in SCALE_REWARDS:
            return value
        raise CommandError(f"scale_rewards {quote(value)}: allowed: group, batch, none (or true = "
                           f"group, false = none, as GRPOConfig reads them).")
    if key == "reward_weights":
        if isinstance(value, list) and 0 < len(value) <= MAX_WEIGHTS:
            items = list(enumerate(value))
        elif isinstance(value, dict) and 0 < len(value) <= MAX_WEIGHTS:
            for name in value:
                if len(name) > MAX_KEY_CHARS:
                    raise CommandError(f"reward_weights names a reward function of {len(name)} "
                                       f"characters ({quote(name)}); a name has at most "
                                       f"{MAX_KEY_CHARS}.")
            items = list(value.items())
        else:
            raise CommandError(f"reward_weights {quote(value)}: allowed: a list of numbers, one per "
                               f"reward function, or a mapping of reward function names to numbers "
                               f"(at most {MAX_WEIGHTS}).")
        for _, w in items:
            _check_weight(w, f"reward_weights {quote(value)}")
        out = [float(w) for _, w in items]
        return out if isinstance(value, list) else dict(zip(value, out))
    if key.startswith("reward_weights/"):
        _check_weight(value, _short(key))
        return float(value)
    return value


def _check_weight(w: Any, what: str) -> None:
    if not _is_number(w) or not -MAX_WEIGHT <= w <= MAX_WEIGHT:
        raise CommandError(f"{what}: weight {quote(w)} is not a number from {-MAX_WEIGHT:g} to "
                           f"{MAX_WEIGHT:g}; each reward weight must be one.")


def _is_number(x: Any) -> bool:
    """A finite JSON number (int or float; not bool). Comparing an int with a float bound is exact
    in Python, so a huge int is out of range without being converted."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    return isinstance(x, int) or math.isfinite(x)


def parse_command(line: bytes | str) -> dict[str, Any]:
    """One command line -> a checked command; never raises.

    A valid command: {"cmd": "set", "changes": {name: value, ...}, "id": int or None}, its values
    normalised by `check_value`, and, when some of its changes failed those checks,
    "refused": {name: message} for them (their values kept as sent); the run refuses those changes and
    applies the others. Anything else: {"cmd": "invalid", "id": int or None, "message": one sentence
    naming what is wrong and what is allowed, quoting at most 80 characters of the line}. Checked:
    the line's length (MAX_LINE_BYTES), that it is JSON (NaN and Infinity read as numbers, refused
    later as not finite) nested at most MAX_DEPTH deep, a JSON object with "cmd": "set", an "id" that
    is absent, null or an integer from 0 to MAX_ID (a bad id is refused, and never echoed: id None),
    "changes" a non-empty object of at most MAX_CHANGES settings with names of at most MAX_KEY_CHARS
    characters. Other keys of the object are ignored.
    """
    if isinstance(line, bytes):
        if len(line) > MAX_LINE_BYTES:
            return _too_long(line[:100])
        line = line.decode("utf-8", errors="replace")
    elif len(line) > MAX_LINE_BYTES:
        return _too_long(line[:100].encode("utf-8", errors="replace"))
    shown = _short(line.strip())

    def invalid(message: str, cid: int | None = None) -> dict[str, Any]:
        return {"cmd": "invalid", "id": cid, "message": message}

    try:
        obj = json.loads(line)
    except RecursionError:
        obj = _TOO_DEEP
    except ValueError:
        return invalid(f"command line {shown!r} is not JSON; each line must be one object such as "
                       f"{{\"cmd\": \"set\", \"changes\": {{\"learning_rate\": 1e-5}}}}.")
    if obj is _TOO_DEEP or depth(obj, MAX_DEPTH) > MAX_DEPTH:
        return invalid(f"command line {shown!r} nests deeper than {MAX_DEPTH} levels of brackets, "
                       f"the most a command may use.")
    if not isinstance(obj, dict):
        return invalid(f"command {shown!r} is not understood; the only command is "
                       f"{{\"cmd\": \"set\", \"changes\": {{setting: value, ...}}}}.")
    cid = obj.get("id")
    if cid is not None and (type(cid) is not int or not 0 <= cid <= MAX_ID):
        return invalid(f"command {shown!r} has id {quote(cid)}; an id must be an integer from 0 to "
                       f"{MAX_ID}.")
    if obj.get("cmd") != "set":
        return invalid(f"command {shown!r} is not understood; the only command is "
                       f"{{\"cmd\": \"set\", \"changes\": {{setting: value, ...}}}}.", cid)
    changes = obj.get("changes")
    if not isinstance(changes, dict) or not changes:
        return invalid(f"command {shown!r} has no changes; \"changes\" must be a non-empty "
                       f"mapping of setting names to values.", cid)
    if len(changes) > MAX_CHANGES:
        return invalid(f"command {shown!r} has {len(changes)} changes; a command may make at most "
                       f"{MAX_CHANGES}.", cid)
    for key in changes:
        if len(key) > MAX_KEY_CHARS:
            return invalid(f"command {shown!r} names a setting of {len(key)} characters; a setting's "
                           f"name has at most {MAX_KEY_CHARS}.", cid)
    checked: dict[str, Any] = {}
    refused: dict[str, str] = {}
    for key, value in changes.items():
        try:
            checked[key] = check_value(canonical(key), value)
        except CommandError as e:
            checked[key] = value
            refused[key] = str(e)
    out: dict[str, Any] = {"cmd": "set", "changes": checked, "id": cid}
    if refused:
        out["refused"] = refused
    return out


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


def _id(cid: Any) -> int | None:
    return cid if type(cid) is int and 0 <= cid <= MAX_ID else None


def _value(value: Any) -> Any:
    """A refused value as its event shows it: as sent when its JSON is at most SHOWN characters,
    else the start of that JSON as a string ending in "..."."""
    try:
        value = json_safe(value)
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return quote(value)
    return value if len(text) <= SHOWN else _short(text)


def set_event(step: int, rollout: int, key: str, old: Any, new: Any, cid: Any = None
              ) -> dict[str, Any]:
    return {"event": "set", "step": step, "rollout": rollout, "key": key, "old": old, "new": new,
            "id": _id(cid)}


def refused_event(step: int, rollout: int, key: str | None, value: Any, message: str,
                  cid: Any = None) -> dict[str, Any]:
    return {"event": "refused", "step": step, "rollout": rollout, "key": key,
            "value": _value(value), "message": str(message), "id": _id(cid)}
