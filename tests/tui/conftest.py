"""Helpers for driving the real dashboard (with its real training process) under Pilot."""

from __future__ import annotations

import pytest

from grpotui.presets import find_preset


async def wait_for(pilot, condition, what: str, limit: float = 30.0) -> None:
    """Let the app run until `condition()` holds; fail (naming `what`) if it never does.
    This waits on a condition, polling; it is not a sleep standing in for synchronisation."""
    waited = 0.0
    while not condition():
        if waited >= limit:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)
        waited += 0.05


@pytest.fixture
def lecture_config():
    return find_preset("lecture-centered").config


@pytest.fixture
def presets_dir(tmp_path, monkeypatch):
    d = tmp_path / "presets"
    monkeypatch.setenv("GRPOTUI_PRESETS_DIR", str(d))
    return d
