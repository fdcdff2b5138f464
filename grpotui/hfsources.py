"""Runs logged without grpotui: a Hugging Face Trainer's output folder (its `trainer_state.json`
log history, or its TensorBoard event files), read as a metrics file's records.

    follower = TrainerStateFollower("out/")     # or TensorBoardFollower("out/"), or a file of either
    records = follower.poll()                   # step records and events, like MetricsFollower's

Both followers have MetricsFollower's face (poll, exists, gone, records, problem, grew, restarted),
so grpotui.sources.FileSource treats them as one more run. Every record passes grpotui.records.check:
a hostile file never crashes or hangs the reader, and gives one message (`problem`).

Names: the Trainer's log entries carry TRL's own metric names (reward, loss, kl,
completions/mean_length, clip_ratio/region_mean, ...), exactly what `attach()` writes; like attach(),
learning_rate is also given as lr and step_time as steps_per_second. TensorBoard tags written by the
Trainer's TensorBoardCallback are "train/<name>", "eval/<name>", "test/<name>": in a Trainer's event
file (one whose settings text "args" or tag "train/epoch" says so) they become <name>, eval_<name>,
test_<name>, the names in trainer_state.json and attach()'s files. Other event files keep their tags.
The Trainer's summary at the end of training (train_runtime, train_loss, ...) becomes a `stop` event
with that summary, as attach() writes it.

What makes a folder a run (find_runs): a `trainer_state.json` in it or a `checkpoint-*` folder, or
TensorBoard event files in it or below it (up to 3 levels, not inside checkpoints). A folder with
both is one run read from its event files (written at every logging step, where trainer_state.json
is written only at each checkpoint), unless the tensorboard package is missing.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from grpotui import records
from grpotui.metricsfile import WatchError, expand_paths

STATE = "trainer_state.json"
SAMPLE_TARGET = 4000           # log entries parsed when many are new (an even sample and the last)
MAX_STATE = 512 * 2**20        # bytes: a bigger trainer_state.json is not read
MAX_SLOW = 64 * 2**20          # bytes read whole (json.loads): a file not in the Trainer's layout
MAX_DEPTH = 3                  # folder levels searched for event files
SCAN_SECONDS = 2.0             # a run folder is looked at again for new event files this often
CONFIG_KEYS = ("max_steps", "num_train_epochs", "logging_steps", "eval_steps", "save_steps",
               "train_batch_size")   # a trainer_state.json's settings, shown as the run's config
SUMMARY_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos",
                "train_loss")   # the Trainer's summary at the end of training
_CHECKPOINT = re.compile(r"checkpoint-(\d+)$")
_ARRAY = b'\n  "log_history": ['
_ENTRY = b"\n    {"
_CLOSE = b"\n  ]"


# ------------------------------------------------------------------------------------- names
def attached_names(values: dict[str, Any]) -> dict[str, Any]:
    """A Trainer log entry's values with the extra names attach() adds (see module doc)."""
    out = dict(values)
    if records.number(out.get("learning_rate")) is not None:
        out["lr"] = out["learning_rate"]
    t = records.number(out.get("step_time"))
    if t is not None and t > 0:
        out["steps_per_second"] = 1.0 / t
    if "rewards/exact_match_reward/mean" in out:
        out["exact_match"] = out["rewards/exact_match_reward/mean"]
    return out


def trainer_tag(tag: str) -> str:
    """A TensorBoardCallback tag as the Trainer's own log name."""
    if tag.startswith("train/"):
        return tag[6:]
    if tag.startswith("eval/"):
        return "eval_" + tag[5:]
    if tag.startswith("test/"):
        return "test_" + tag[5:]
    return tag


def log_record(entry: dict, step: Any = None) -> dict:
    """One log entry (a dict of anything) as a raw record for records.check: a step record, or the
    training summary as a `stop` event. Keys that would make it an event are dropped."""
    values = {k: v for k, v in entry.items() if k not in ("event", "step")}
    step = entry.get("step") if step is None else step
    if "train_runtime" in values:
        return {"event": "stop", "step": step, "reason": "training finished",
                "summary": {k: v for k, v in values.items() if isinstance(k, str)}}
    return {"step": step, **attached_names(values)}


class _Problems:
    """The first thing wrong, and how many, as one message."""

    def __init__(self, path: Path, what: str):
        self.path, self.what = path, what
        self.first: str | None = None
        self.count = 0
        self.fatal: str | None = None

    def add(self, where: str, why: str) -> None:
        self.count += 1
        if self.first is None:
            self.first = f"{where}: {why}"

    @property
    def message(self) -> str | None:
        if self.fatal:
            return f"{self.path}: {self.fatal} Nothing in it is shown."
        if self.first is None:
            return None
        more = f" ({self.count} {self.what} with something wrong in all)" if self.count > 1 else ""
        return f"{self.path} {self.first}{more}; the valid {self.what} are shown."


def _checked(raw: dict, problems: _Problems, where: str) -> dict | None:
    """records.check, with what it dropped counted; a step record with no number is skipped."""
    rec, flaws = records.check(raw)
    if rec is None:
        problems.add(where, flaws[0] if flaws else "unreadable")
        return None
    if flaws:
        problems.add(where, flaws[0])
    if "event" not in rec and len(rec) <= 1:
        return None             # an entry without numbers (or only text): nothing to chart
    return rec


# ------------------------------------------------------------------------ trainer_state.json
class TrainerStateFollower:
    """The newest trainer_state.json of an output folder (the top-level one, or a checkpoint's,
    whichever was written last), or one given file. A newer one supersedes: only entries past those
    already read are returned (all of them when its history is not a continuation: a run restarted
    from an earlier checkpoint). Checkpoints deleted meanwhile (save_total_limit) are not missed."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.folder = self.path.is_dir() or self.path.name != STATE
        self._reset()

    def _reset(self) -> None:
        self.current: tuple | None = None     # (mtime_ns, checkpoint, path, size, inode) read
        self.waiting_on: tuple | None = None  # a file that did not parse: reported if unchanged
        self.shown = 0                        # log entries read so far
        self.last_entry: Any = None           # the last of them, as parsed
        self.records = 0
        self.gone = False
        self.grew = self.restarted = False
        self.started = False
        self.problems = _Problems(self.path, "log entries")

    @property
    def exists(self) -> bool:
        return self.current is not None and not self.gone

    @property
    def problem(self) -> str | None:
        return self.problems.message

    def _candidates(self) -> list[tuple]:
        paths: list[tuple[int, Path]] = []
        if not self.folder:
            paths = [(-1, self.path)]
        else:
            paths = [(1 << 62, self.path / STATE)]
            try:
                with os.scandir(self.path) as it:
                    for e in it:
                        m = _CHECKPOINT.match(e.name)
                        if m and e.is_dir():
                            paths.append((int(m.group(1)), Path(e.path) / STATE))
            except OSError:
                pass
        out = []
        for n, p in paths:
            try:
                st = os.stat(p)
            except OSError:
                continue
            out.append((st.st_mtime_ns, n, p, st.st_size, st.st_ino))
        return out

    def poll(self) -> list[dict]:
        self.grew = self.restarted = False
        found = self._candidates()
        if not found:
            if self.current is not None:
                self.gone = True
            return []
        if self.gone:
            self._reset()
            self.restarted = True
        newest = max(found)
        if self.current is not None and (newest == self.current or newest[:2] < self.current[:2]):
            return []       # nothing newer (a newer one deleted leaves an older one: not re-read)
        return self._read(newest)

    def _read(self, key: tuple) -> list[dict]:
        path, size = key[2], key[3]
        self.problems.path = path
        if size > MAX_STATE:
            self.current = key
            self.problems.fatal = (f"{size / 2**20:,.1f} MB, more than the "
                                   f"{MAX_STATE / 2**20:,.1f} "
                                   f"MB a trainer_state.json is read up to.")
            return []
        try:            # read, not mapped: the Trainer rewrites the top-level file in place
            with open(path, "rb") as f:
                data = f.read(size)
        except OSError:
            return []            # deleted between the listing and the read: the next poll sees
        try:
            return self._take(key, self._parse(data, len(data)))
        except _Broken:          # an entry the byte search misread: read it all
            return self._take(key, self._parse(data, len(data), whole=True))

    def _take(self, key: tuple, got) -> list[dict]:
        if isinstance(got, str):  # not (yet) a whole JSON file
            if self.waiting_on != key:
                self.waiting_on = key   # maybe mid-write: wait for the next poll
                return []
            self.current = key
            self.problems.fatal = got
            return []
        self.current, self.waiting_on = key, None
        self.problems.fatal = None
        top, entries = got
        return self._news(top, entries)

    def _parse(self, data, size: int, whole: bool = False) -> tuple[dict, "_Entries"] | str:
        """(the state without its log history, the entries) or why it cannot be read."""
        layout = None if whole else _layout(data)
        if layout is not None:
            rest, entries = layout
        else:
            if size > MAX_SLOW:
                return (f"{size / 2**20:,.0f} MB not in the Trainer's own layout (json.dumps with "
                        f"indent=2); such a file is read up to {MAX_SLOW / 2**20:.0f} MB.")
            try:
                state = json.loads(bytes(data[:size]).decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                return f"not a JSON file ({getattr(e, 'msg', None) or 'not UTF-8 text'})."
            except RecursionError:
                return "nested too deeply to be a trainer_state.json."
            if not isinstance(state, dict):
                return f"a JSON {type(state).__name__}, not a trainer_state.json object."
            history = state.get("log_history")
            if not isinstance(history, list):
                return "no 'log_history' list: not a Hugging Face trainer_state.json."
            rest, entries = state, _Entries(history=history)
            return rest, entries
        try:
            top = json.loads(rest.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            return f"not a JSON file ({getattr(e, 'msg', None) or 'not UTF-8 text'})."
        except RecursionError:
            return "nested too deeply to be a trainer_state.json."
        if not isinstance(top, dict):
            return "not a trainer_state.json object."
        return top, entries

    def _news(self, top: dict, entries: "_Entries") -> list[dict]:
        n = len(entries)
        start = 0
        if self.shown and n >= self.shown and entries.raw(self.shown - 1) == self.last_entry:
            start = self.shown          # the same history, grown: only what is new
        count = n - start
        if count > SAMPLE_TARGET:
            stride = count / SAMPLE_TARGET
            picks = sorted({start + int(i * stride) for i in range(SAMPLE_TARGET)} | {n - 1})
        else:
            picks = list(range(start, n))
        got = [(i, entries.get(i)) for i in picks]     # raises _Broken before anything changes
        out: list[dict] = []
        if not self.started:
            self.started = True
            config = {k: top[k] for k in CONFIG_KEYS if k in top}
            rec, _ = records.check({"event": "start", "step": 0, "config": config})
            if rec is not None:
                out.append(rec)
        if start == n:
            self.shown = n
            return out
        self.grew = True
        for i, entry in got:
            if not isinstance(entry, dict):
                self.problems.add(f"log_history entry {i + 1}",
                                  f"a JSON {type(entry).__name__}, not an object (skipped)")
                continue
            rec = _checked(log_record(entry), self.problems, f"log_history entry {i + 1}")
            if rec is not None:
                out.append(rec)
        self.records += count
        self.shown = n
        self.last_entry = entries.raw(n - 1)
        return out


class _Broken(Exception):
    """An entry found by byte search is not one JSON object: the layout was misread."""


class _Entries:
    """A log history: parsed already (a list), or found in the file's bytes and parsed on demand."""

    def __init__(self, history: list | None = None, data=None, starts: list[int] | None = None,
                 end: int = 0):
        self.history, self.data, self.starts, self.end = history, data, starts, end
        self.cache: dict[int, Any] = {}

    def __len__(self) -> int:
        return len(self.history) if self.history is not None else len(self.starts)

    def raw(self, i: int) -> Any:
        """Entry i as text, to tell whether two files' histories are the same (NaN == NaN)."""
        if self.history is not None:
            try:
                return json.dumps(self.history[i], sort_keys=True)
            except (TypeError, ValueError, RecursionError):
                return None
        return self._slice(i)

    def _slice(self, i: int) -> bytes:
        a = self.starts[i] + 1
        b = self.starts[i + 1] if i + 1 < len(self.starts) else self.end
        return bytes(self.data[a:b]).rstrip().rstrip(b",")

    def get(self, i: int) -> Any:
        if self.history is not None:
            return self.history[i]
        if i in self.cache:
            return self.cache[i]
        raw = self._slice(i)
        try:
            v = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise _Broken from None
        if not isinstance(v, dict):
            raise _Broken
        self.cache[i] = v
        return v


def _layout(data) -> tuple[bytes, _Entries] | None:
    """The Trainer's own layout (json.dumps(indent=2, sort_keys=True)): its log history's entries
    found by byte search, without parsing them (JSON text holds no raw newline inside a string, so
    a newline and four spaces before '{' only ever starts an entry of the top-level list). Returns
    the file without its entries (to parse: small) and the entries, or None for any other layout."""
    i = data.find(_ARRAY)
    if i < 0:
        return None
    open_at = i + len(_ARRAY)
    if data[open_at:open_at + 1] == b"]":            # "log_history": []
        return bytes(data[:]) if len(data) < MAX_SLOW else None, _Entries(history=[])
    end = data.find(_CLOSE, open_at)
    if end < 0:
        return None
    starts, k = [], data.find(_ENTRY, open_at - 1, end)
    while k >= 0:
        starts.append(k)
        k = data.find(_ENTRY, k + 1, end)
    if not starts or starts[0] != open_at:
        return None
    rest = bytes(data[:open_at]) + bytes(data[end + 3:])
    return rest, _Entries(data=data, starts=starts, end=end)


# ------------------------------------------------------------------------------- TensorBoard
def _event_stamp(p: Path) -> tuple:
    """Event files in the order they were started: the time in their name, then the name."""
    parts = p.name.split(".")
    try:
        stamp = int(parts[3])
    except (IndexError, ValueError):
        stamp = 0
    return (stamp, str(p))


def is_event_file(path: Path) -> bool:
    """A TensorBoard event file's name (events.out.tfevents.<time>.<host>...)."""
    return ".tfevents." in path.name or path.name.startswith("events.out.tfevents")


def event_files(folder: Path, depth: int = MAX_DEPTH) -> list[Path]:
    """TensorBoard event files in a folder and below it (not inside checkpoints or hidden folders),
    oldest first."""
    out: list[Path] = []
    todo = [(folder, 0)]
    while todo:
        d, level = todo.pop()
        try:
            with os.scandir(d) as it:
                entries = list(it)
        except OSError:
            continue
        for e in entries:
            try:
                if e.is_file() and is_event_file(Path(e.name)):
                    out.append(Path(e.path))
                elif level < depth and e.is_dir(follow_symlinks=False) and not \
                        e.name.startswith(".") and not _CHECKPOINT.match(e.name):
                    todo.append((Path(e.path), level + 1))
            except OSError:
                continue
    return sorted(out, key=_event_stamp)


class TensorBoardFollower:
    """The event files of a folder (or one event file), read in the order they were started, each
    followed as it grows; new files are picked up. Needs the tensorboard package."""

    def __init__(self, path: str | Path):
        from grpotui.tbfile import event_class

        event_class()                      # MissingTensorboard (one line) if the package is absent
        self.path = Path(path)
        self.folder = self.path.is_dir()
        self._reset()

    def _reset(self) -> None:
        self.next_scan = 0.0
        self.start_wall: float | None = None
        self.readers: dict[Path, Any] = {}
        self.hf: dict[Path, bool] = {}
        self.records = 0
        self.grew = self.restarted = False
        self.gone = False
        self.problems = _Problems(self.path, "records")

    @property
    def exists(self) -> bool:
        return any(r.exists for r in self.readers.values())

    @property
    def problem(self) -> str | None:
        own = self.problems.message
        if own:
            return own
        return next((r.problem for r in self.readers.values() if r.problem), None)

    def poll(self) -> list[dict]:
        from grpotui.tbfile import EventFileReader

        self.grew = self.restarted = False
        now = time.monotonic()
        if now >= self.next_scan or not self.readers:     # new event files: looked for now and then
            self.next_scan = now + SCAN_SECONDS
            for f in (event_files(self.path) if self.folder else [self.path]):
                if f not in self.readers:
                    self.readers[f] = EventFileReader(f)
        out: list[dict] = []
        polled = [(f, r, r.poll()) for f, r in self.readers.items()]
        if any(r.restarted for _, r, _ in polled):     # a file rewritten: read everything again
            readers = list(self.readers)
            self._reset()
            self.readers = {f: EventFileReader(f) for f in readers}
            self.restarted = True
            polled = [(f, r, r.poll()) for f, r in self.readers.items()]
        seen = [r for _, r, _ in polled if r.identity is not None]
        self.gone = bool(seen) and all(r.gone for r in seen)
        for f, reader, blocks in polled:
            self.grew |= reader.grew
            for b in blocks:
                out += self._records(f, reader, b)
        return out

    def _records(self, f: Path, reader, block) -> list[dict]:
        out = []
        where = f"{f.name} at step {block.step}"
        args = block.texts.get("args/text_summary")
        if f not in self.hf:
            self.hf[f] = args is not None or "train/epoch" in block.values
        if args is not None:
            try:
                config = json.loads(args)
            except (json.JSONDecodeError, RecursionError):
                config = None
            if isinstance(config, dict):    # unset settings (None) are left out
                config = {k: v for k, v in config.items() if v is not None}
                rec = _checked({"event": "start", "step": block.step, "config": config},
                               self.problems, where)
                if rec is not None:
                    out.append(rec)
        if not block.values:
            return out
        hf = self.hf[f]
        values = {(trainer_tag(k) if hf else k): v for k, v in block.values.items()}
        if "step" in values:            # a tag named "step": kept under another name
            values["step (tag)"] = values.pop("step")
        raws = []
        if hf and "train_runtime" in values:   # the summary, logged at the last step's heels
            summary = {k: values.pop(k) for k in SUMMARY_KEYS if k in values}
            if set(values) - {"epoch"}:
                raws.append(log_record(values, block.step))
            raws.append(log_record(summary, block.step))
        else:
            raws.append(log_record(values, block.step) if hf else {"step": block.step, **values})
        if self.start_wall is None:      # the run's clock: its first file's first event
            self.start_wall = reader.start_wall
        for raw in raws:
            if self.start_wall is not None and "event" not in raw:
                raw["time"] = block.wall_time - self.start_wall
            self.records += 1
            rec = _checked(raw, self.problems, where)
            if rec is not None:
                out.append(rec)
        return out


# ------------------------------------------------------------------------------ finding runs
def has_state(folder: Path) -> bool:
    if (folder / STATE).is_file():
        return True
    try:
        with os.scandir(folder) as it:
            return any(_CHECKPOINT.match(e.name) and e.is_dir() for e in it)
    except OSError:
        return False


def folder_kind(folder: Path) -> str | None:
    """"tensorboard", "trainer_state" or None (not a Trainer's or TensorBoard's folder). Raises
    WatchError (one line) for event files without the tensorboard package and no trainer state."""
    from grpotui.tbfile import MissingTensorboard, event_class

    if event_files(folder):
        try:
            event_class()
            return "tensorboard"
        except MissingTensorboard as e:
            if has_state(folder):
                return "trainer_state"
            raise WatchError(f"{folder}: {e}") from None
    return "trainer_state" if has_state(folder) else None


def find_runs(paths: list[str | Path]) -> list[tuple[Path, str]]:
    """What to watch: (path, kind) with kind "metrics" (a metrics file, as expand_paths finds them),
    "trainer_state" or "tensorboard" (a folder that is a run, or such a file). Raises WatchError."""
    out: list[tuple[Path, str]] = []
    for p in map(Path, paths):
        if p.is_dir():
            kind = folder_kind(p)
            if kind:
                out.append((p, kind))
            out += [(f, "metrics") for f in expand_paths([p])]
        elif p.name == STATE:
            out.append((p, "trainer_state"))
        elif is_event_file(p):
            from grpotui.tbfile import MissingTensorboard, event_class

            try:
                event_class()
            except MissingTensorboard as e:
                raise WatchError(f"{p}: {e}") from None
            out.append((p, "tensorboard"))
        else:
            out += [(f, "metrics") for f in expand_paths([p])]
    seen: set[Path] = set()
    unique = []
    for p, kind in out:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((p, kind))
    return unique


def run_name(path: Path, kind: str) -> str:
    """A run's legend name: a folder's name; a trainer_state.json's folder (above a checkpoint);
    an event file's folder; a metrics file's name without extension."""
    if kind == "metrics":
        return path.stem
    if path.is_dir():
        return path.name or path.resolve().name
    parent = path.parent
    if kind == "trainer_state" and _CHECKPOINT.match(parent.name):
        parent = parent.parent
    return parent.name or parent.resolve().name


def make_follower(path: Path, kind: str):
    if kind == "trainer_state":
        return TrainerStateFollower(path)
    if kind == "tensorboard":
        return TensorBoardFollower(path)
    from grpotui.metricsfile import MetricsFollower

    return MetricsFollower(path)
