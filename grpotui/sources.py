"""Where the dashboard's snapshots come from: one interface, two sources.

    source.start()
    snapshot = source.get(timeout=0.1)     # a dict, or None; called from a thread worker, never
                                           # from the UI thread, so it may wait and read files
    source.send("pause")                   # commands (ignored by a read-only source)
    source.alive                           # False once the source has ended by itself
    source.stop()

- grpotui.worker.TrainingWorker: the training process (read_only False). Its snapshots are described
  in worker.py.
- FileSource (here): metrics files written by `grpotui run --metrics`, the dashboard's --metrics, or
  the TRL integration, and runs logged without grpotui (a Hugging Face Trainer's output folder: its
  trainer_state.json or TensorBoard event files, grpotui/hfsources.py), followed as they grow
  (read_only True). Its snapshots carry the same keys, per run, plus:
    run, name, path      which run (an index into `names`), its legend name, its file (or folder)
    status               "watching" | "idle" | "finished" | "failed" | "waiting" (no file yet)
                         | "unreadable" (not a metrics file: no valid record, `problem` says why)
                         | "gone" (the file was deleted: waiting for it to come back)
    idle_seconds         since the file last grew
    config, preset       the settings from the run's latest start record (any dict: a TRL run's are
                         TRL's own), None before one is read
    control              the start record's "control" block ({"file", "settings"}) when the run
                         takes commands (the TRL integration with control=True), else None
    restarted            True when the run starts over: the file was replaced, truncated, or deleted
                         and written again, or its step went backwards (a new run appended to the
                         file, a trainer restarted from an earlier checkpoint): the snapshot then holds
                         only what came after, and `restart_reason` says why (else None);
                         `restart_noted` is True when `events` already hold a note saying so
    problem              one message naming the file and its first bad line, or None
  A run's snapshot comes when its file has news, and once a second anyway (idle time counts up).
  A step that goes backwards and a deleted file each also give a `note` event naming the file.

The panels never know which source they show; the app only hides the controls a read-only source
cannot obey.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Protocol

from grpotui.hfsources import find_runs, folder_kind, make_follower, run_name
from grpotui.metricsfile import WatchError, is_metrics_name

POLL_SECONDS = 0.2      # appended records show within a second
HEARTBEAT_SECONDS = 1.0
IDLE_AFTER = 5.0        # seconds without growth before a run counts as idle
RESCAN_SECONDS = 2.0    # folders are looked at again for new metrics files
MAX_POINTS = 5000       # step records per snapshot (a big first read is sampled below this)


class Source(Protocol):
    read_only: bool

    def start(self) -> None: ...

    def get(self, timeout: float) -> dict | None: ...

    def send(self, cmd: str, **kw: Any) -> None: ...

    @property
    def alive(self) -> bool: ...

    def stop(self) -> None: ...


class _Run:
    def __init__(self, index: int, path: Path, name: str, kind: str = "metrics"):
        self.index, self.path, self.name, self.kind = index, path, name, kind
        self.follower = make_follower(path, kind)
        self.last_point: float | None = None    # the step of the latest step record read
        self.gone_sent = False
        self.config: dict | None = None
        self.control: dict | None = None
        self.preset = ""
        self.step = 0
        self.rollout = 0
        self.train_seconds = 0.0
        self.steps_per_second = 0.0
        self.last_event = ""
        self.last_growth = time.monotonic()
        self.last_sent = 0.0
        self.problem_sent: str | None = None

    def status(self, now: float) -> str:
        if self.follower.gone:
            return "gone"
        if not self.follower.exists and self.follower.records == 0:
            return "waiting"
        if self.follower.records == 0 and self.follower.problem:
            return "unreadable"     # not a metrics file: the problem message says why
        if self.last_event == "stop":
            return "finished"
        if self.last_event == "error":
            return "failed"
        return "idle" if now - self.last_growth >= IDLE_AFTER else "watching"


class FileSource:
    """Metrics files as a source of snapshots. Reads happen inside get(), on the caller's thread
    (the dashboard's relay worker), a poll at most every POLL_SECONDS.

    With control=True (one file: `watch --control`), `steer(changes)` appends a command to the
    run's command file (grpotui/steering.py); the metrics file itself is still never written."""

    read_only = True

    def __init__(self, paths: list[str | Path], names: list[str] | None = None,
                 control: bool = False):
        self.control = control
        self.given = [Path(p) for p in paths]
        found = find_runs(self.given)
        self.runs: list[_Run] = []
        self.names = list(names or [])
        for f, kind in found:
            self._add(f, kind)
        self.queue: list[dict] = []
        self.stopped = threading.Event()
        self.next_poll = 0.0
        self.next_scan = time.monotonic() + RESCAN_SECONDS

    def _add(self, path: Path, kind: str = "metrics") -> _Run:
        i = len(self.runs)
        name = self.names[i] if i < len(self.names) else run_name(path, kind)
        taken = {r.name for r in self.runs}
        if name in taken:   # two runs called "metrics" in different folders: say which is which
            name = f"{path.parent.name}/{name}" if f"{path.parent.name}/{name}" not in taken \
                else f"{name}#{i + 1}"
        run = _Run(i, path, name, kind)
        self.runs.append(run)
        return run

    def start(self) -> None:
        pass

    @property
    def alive(self) -> bool:
        return not self.stopped.is_set()

    def send(self, cmd: str, **kw: Any) -> None:
        pass  # read-only: nothing is ever written to a watched file

    def steer(self, changes: dict[str, Any]) -> int:
        """Ask the (one) watched run to change settings; returns the command's id. Raises OSError
        with a message when the command file cannot be written."""
        from grpotui.steering import CommandWriter

        if not self.control or len(self.runs) != 1:
            raise OSError("this dashboard was not opened with --control on one metrics file")
        if self.runs[0].kind != "metrics":
            raise OSError(f"{self.runs[0].path} is not a metrics file written by attach(): a "
                          f"Trainer's files cannot be steered")
        return CommandWriter(self.runs[0].path).set(**changes)

    def stop(self) -> None:
        self.stopped.set()

    def get(self, timeout: float) -> dict | None:
        if self.queue:
            return self.queue.pop(0)
        wait = self.next_poll - time.monotonic()
        if wait > 0:
            if wait > timeout:
                self.stopped.wait(timeout)
                return None
            self.stopped.wait(wait)
        if self.stopped.is_set():
            return None
        self.next_poll = time.monotonic() + POLL_SECONDS
        self.poll()
        return self.queue.pop(0) if self.queue else None

    def poll(self) -> None:
        """Read what every file gained; queue a snapshot for each run with news (or due a beat)."""
        now = time.monotonic()
        if now >= self.next_scan:
            self.next_scan = now + RESCAN_SECONDS
            self._rescan()
        for run in self.runs:
            snap = self._read(run, now)
            if snap is not None:
                self.queue.append(snap)

    def _rescan(self) -> None:
        known = {r.path.resolve() for r in self.runs}
        for d in self.given:
            if not d.is_dir():
                continue
            if d.resolve() not in known:     # a Trainer's or TensorBoard's files appeared
                try:
                    kind = folder_kind(d)
                except WatchError:           # event files without the tensorboard package
                    kind = None
                if kind:
                    self._add(d, kind)
                    known.add(d.resolve())
            try:
                found = sorted(f for f in d.iterdir() if f.is_file() and is_metrics_name(f))
            except OSError:
                continue
            for f in found:
                if f.resolve() not in known:
                    self._add(f)
                    known.add(f.resolve())

    def _read(self, run: _Run, now: float) -> dict | None:
        records = run.follower.poll()
        restarted = run.follower.restarted
        reason = "the file was replaced or truncated; reading it from the start" if restarted \
            else None
        if restarted:
            run.config, run.preset, run.step, run.rollout, run.last_event = None, "", 0, 0, ""
            run.control = None
            run.last_point = None
        if run.follower.grew:
            run.last_growth = now
        problem = run.follower.problem
        gone = run.follower.gone
        news = bool(records) or restarted or problem != run.problem_sent or gone != run.gone_sent
        if not news and now - run.last_sent < HEARTBEAT_SECONDS:
            return None
        run.problem_sent = problem
        run.last_sent = now
        points, events, groups = [], [], None
        notes: list[dict] = []
        if gone and not run.gone_sent:
            files = "trainer_state.json" if run.kind == "trainer_state" else "event"
            what = f"{run.path} was deleted" if run.kind == "metrics" else \
                f"{run.path}: its {files} files were deleted"
            notes.append({"event": "note", "message": f"{what}; what was read stays on the charts, "
                                                      f"and the run is read again from the start "
                                                      f"if it comes back."})
        run.gone_sent = gone
        since_point = 0           # events[since_point:] came after the latest step record
        groups_after = False      # whether `groups` came after it
        for rec in records:
            kind = rec.get("event")
            if kind is None:       # a step record: numbers only (grpotui.records.check)
                p = rec
                if run.last_point is not None and p["step"] < run.last_point:
                    # the step went backwards: a new run in the same file, or a restart from an
                    # earlier checkpoint. Start the run over from here (what came before is gone).
                    reason = (f"the step went back from {run.last_point:g} to {p['step']:g} (a new "
                              f"run appended to the file, or training restarted from an earlier "
                              f"checkpoint); its curves start again at step {p['step']:g}")
                    notes.append({"event": "note", "step": p["step"],
                                  "message": f"{run.path}: {reason}."})
                    restarted = True
                    points, events = [], events[since_point:]
                    groups = groups if groups_after else None
                    run.step = run.rollout = 0
                    if run.last_event in ("stop", "error"):
                        run.last_event = ""
                run.last_point = p["step"]
                since_point, groups_after = len(events), False
                points.append(p)
                run.step = int(p["step"])
                run.rollout = int(p.get("rollout", run.rollout))
                run.train_seconds = p.get("time", run.train_seconds)
                run.steps_per_second = p.get("steps_per_second", run.steps_per_second)
                continue
            if kind == "groups":
                groups = rec["groups"]
                groups_at = int(rec.get("rollout") or 0)
                groups_after = True
                continue
            events.append(rec)
            if kind in ("stop", "start", "reset") or (kind == "error" and rec.get("fatal") is not
                                                       False):   # fatal: False: training goes on
                run.last_event = kind
            if kind == "start":
                run.config = dict(rec["config"])
                run.preset = rec.get("preset") or ""
                run.control = rec.get("control")
            elif kind == "reset":          # the training dashboard started over: the app clears
                run.step = run.rollout = 0     # the run's curves, so the points before go too
                run.last_point = None
                points = []
            elif kind == "set" and run.config is not None:
                run.config[rec["key"]] = rec["new"]
            if "step" in rec and kind not in ("reset",):
                run.step = max(run.step, int(rec["step"])) if kind != "start" else int(rec["step"])
        if len(points) > MAX_POINTS:   # a burst bigger than a plot can show: an even sample
            stride = len(points) / MAX_POINTS
            points = [points[int(i * stride)] for i in range(MAX_POINTS)] + [points[-1]]
        events = notes + events
        return {
            "run": run.index, "name": run.name, "path": str(run.path),
            "status": run.status(now), "idle_seconds": now - run.last_growth,
            "rollout": run.rollout, "step": run.step, "steps_per_second": run.steps_per_second,
            "train_seconds": run.train_seconds, "speed": 0.0,
            "config": dict(run.config) if run.config is not None else None, "preset": run.preset,
            "control": run.control,
            "points": points, "events": events, "groups": groups,
            "groups_rollout": groups_at if groups is not None else None,
            "error": None, "problem": problem, "restarted": restarted,
            "restart_reason": reason if restarted else None,
            "restart_noted": any(n.get("step") is not None for n in notes),  # a step-back note
        }
