"""`grpotui serve` in a real browser: headless Chromium (Debian's chromium and chromium-driver,
driven by Selenium) opens the served page, reads the terminal xterm.js draws, types into it, and
closes tabs; the processes under the server are read from /proc.

One `grpotui serve learn --max-sessions 1` server and one browser serve the module. These tests
skip only where Chromium is missing outside CI; in CI (CI=true) a missing browser fails them.
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.error
import urllib.request

import pytest

from tests.serve.browser import (Browser, ServerProcess, command_line, descendants,
                                 listening_addresses, missing_browser, wait_until)

PICKER = "grpotui learn: GRPO, one canvas at a time"
BASELINE_STDS = "5.32 without, 1.15 with b"      # the baseline canvas's stds (tests/tui/test_learn.py)
FULL = "grpotui learn: the room is full"
ITEMS = [f"│ {name} " for name in ("rollout", "variance", "baseline", "clip", "length", "lab")]


def _need(reason: str | None) -> None:
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser tests cannot run in CI: {reason}")
        pytest.skip(f"no browser here: {reason}")


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    return tmp_path_factory.mktemp("presets")


@pytest.fixture(scope="module")
def server(presets):
    try:
        import textual_serve  # noqa: F401
    except ImportError:
        _need("textual-serve is not installed: pip install -c constraints.txt \".[serve]\"")
    s = ServerProcess("learn", "--max-sessions", "1",
                      env={"GRPOTUI_PRESETS_DIR": str(presets)})
    yield s
    code = s.stop()
    assert code == 0, s.output()
    assert s.sessions() == []


@pytest.fixture(scope="module")
def browser():
    _need(missing_browser())
    b = Browser()
    b.driver.get("about:blank")       # a tab that stays open, so closing the others ends no session
    b.home = b.driver.current_window_handle
    yield b
    b.quit()


def open_tab(browser, url: str) -> str:
    return browser.open(url)


def close_tab(browser, handle: str) -> None:
    browser.driver.switch_to.window(handle)
    browser.driver.close()
    browser.driver.switch_to.window(browser.home)


def session_apps(server, what: str) -> list[int]:
    return [pid for pid in server.sessions() if f"-m grpotui {what}" in command_line(pid)]


def test_the_server_listens_on_this_machine_only(server):
    assert listening_addresses(server.port) == {"127.0.0.1"}
    assert f"at http://127.0.0.1:{server.port} (at most 1 session, one per browser tab; saving " \
           f"presets off)" in server.output()


def test_a_tab_runs_the_canvases_refuses_a_second_and_ends_its_process_when_closed(server,
                                                                                      browser):
    opened = time.monotonic()
    tab = open_tab(browser, server.url)
    shown = browser.wait_for_text(PICKER)
    print(f"\npage opened to the picker on screen: {time.monotonic() - opened:.2f} s")
    for item in ITEMS:
        assert item in shown
    apps = wait_until(lambda: session_apps(server, "learn"), "the session's app process")
    assert len(apps) == 1

    # the baseline canvas: down, down, enter; its numbers as the browser shows them
    browser.choose(ITEMS[2], ITEMS)
    shown = browser.wait_for_text(BASELINE_STDS)
    assert "4.74" in shown

    # a second tab while the one session runs: the room is full, and nothing starts
    second = open_tab(browser, server.url)
    assert FULL in browser.body_text()
    assert "at most 1 session at once" in browser.body_text()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(server.url, timeout=10)
    assert refused.value.code == 503
    # a page opened before the room filled gets the refusal on its terminal instead
    assert FULL in asyncio.run(_websocket_first_text(server.port))
    close_tab(browser, second)
    assert session_apps(server, "learn") == apps

    # closing the tab ends the session's process (and everything under it)
    close_tab(browser, tab)
    wait_until(lambda: server.sessions() == [], "no process left under the server", limit=15)
    wait_until(lambda: "session 1 ended (0 of 1 in use)" in server.output(), "the server's log")
    assert urllib.request.urlopen(server.url, timeout=10).status == 200      # room for a tab again


async def _websocket_first_text(port: int) -> str:
    import aiohttp

    async with aiohttp.ClientSession() as client:
        async with client.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
            message = await asyncio.wait_for(ws.receive(), 10)
            return message.data.decode() if isinstance(message.data, bytes) else str(message.data)


def test_closing_a_dashboard_tab_ends_its_training(browser, presets):
    dashboard = ServerProcess("dashboard", "--preset", "lecture-centered",
                              env={"GRPOTUI_PRESETS_DIR": str(presets)})
    try:
        assert "saving presets off" in dashboard.output()
        tab = open_tab(browser, dashboard.url)
        browser.wait_for_text("lecture-centered")
        trainer = wait_until(lambda: [pid for pid in dashboard.sessions()
                                      if "spawn_main" in command_line(pid)],
                             "the session's training process")
        app = session_apps(dashboard, "")
        assert len(trainer) == 1 and len(app) == 1
        assert trainer[0] in descendants(app[0])
        close_tab(browser, tab)
        wait_until(lambda: dashboard.sessions() == [], "no process left under the server",
                   limit=15)
    finally:
        code = dashboard.stop()
    assert code == 0
