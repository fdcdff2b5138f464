"""Messages that carry the training process's news to the dashboard."""

from __future__ import annotations

from textual.message import Message


class SnapshotReceived(Message):
    """One or more worker snapshots, merged: the latest state plus every point and event since."""

    def __init__(self, snapshot: dict) -> None:
        super().__init__()
        self.snapshot = snapshot


class WorkerGone(Message):
    """The training process ended without being asked to (killed, crashed hard)."""

    def __init__(self, exitcode: int | None) -> None:
        super().__init__()
        self.exitcode = exitcode
