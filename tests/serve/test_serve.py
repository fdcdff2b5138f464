"""`grpotui serve` without a browser: its arguments, the page it hands out, the full room, and a
served session's refusal to save presets."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grpotui import cli
from grpotui.served import NO_SAVE, SAVE, SAVE_REFUSED, SERVED_ENV

if os.environ.get("CI") != "true":      # CI installs the serve extra (.ci/run): there it must import
    pytest.importorskip("textual_serve", reason="the serve extra is not installed: pip install "
                        "-c constraints.txt \".[serve]\"")

from grpotui.serve import (Plan, RoomServer, ServeError, beyond_warning, listens_beyond,  # noqa: E402
                           make_plan)

GRPOTUI = [sys.executable, "-m", "grpotui"]


@pytest.fixture(autouse=True)
def _user_presets(monkeypatch, tmp_path):
    monkeypatch.setenv("GRPOTUI_PRESETS_DIR", str(tmp_path / "presets"))
    monkeypatch.delenv(SERVED_ENV, raising=False)


# ============================================================================ arguments
@pytest.mark.parametrize("args, message", [
    (["serve", "--port", "0"], "--port 0: a port is a whole number from 1 to 65535 (default 8000; "
                               "ports below 1024 need root)."),
    (["serve", "--port", "65536"], "--port 65536: a port is a whole number from 1 to 65535"),
    (["serve", "--max-sessions", "0"], "--max-sessions 0: must be at least 1 (each browser tab is "
                                       "one session; default: the number of cores"),
    (["serve", "notebook"], "unknown app 'notebook': serve one of learn (the canvases), dashboard "
                            "(training live) or watch PATH... (metrics files)"),
    (["serve", "watch"], "`grpotui serve watch` needs the metrics files (or folders) to show"),
    (["serve", "watch", "no/such/run.jsonl"], "no/such/run.jsonl: no such file or folder."),
    (["serve", "learn", "nope"], "`grpotui serve learn` takes at most one canvas name (got nope); "
                                 "canvases: rollout, variance, baseline, clip, length, lab"),
    (["serve", "dashboard", "x"], "`grpotui serve dashboard` takes no paths (got x)"),
    (["serve", "--host", "no-such-host.invalid"], "--host no-such-host.invalid: not an address or "
                                                  "a name this machine can resolve"),
    (["serve", "--preset", "no-such-preset"], "unknown preset 'no-such-preset'"),
    (["serve", "--set", "group_size=0"], "--set group_size: 0 is out of range"),
])
def test_bad_arguments_exit_2_with_one_paragraph(args, message):
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"grpotui: error: {message}"), result.output
    assert "Traceback" not in result.output and len(result.output.splitlines()) == 1


def test_watch_takes_no_preset(tmp_path):
    run = tmp_path / "run.jsonl"
    run.write_text("")
    with pytest.raises(ServeError, match="`serve watch` trains nothing"):
        make_plan("watch", [str(run)], preset="sort4")


def test_a_port_in_use_is_one_line_not_a_traceback():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([*GRPOTUI, "serve", "--port", str(port)], capture_output=True,
                              text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (f"grpotui: error: cannot listen on 127.0.0.1 port {port}: Address "
                           f"already in use. Choose another --port (or stop what uses it).\n")


def test_the_session_command_is_this_python_and_grpotui_with_the_teachers_arguments(tmp_path):
    preset = tmp_path / "mine.yaml"
    preset.write_text("group_size: 4\n")
    plan = make_plan("learn", ["baseline"], preset=str(preset), sets=["learning_rate=0.01"],
                     presets_dir=tmp_path / "p")
    assert plan.argv == [sys.executable, "-m", "grpotui", "learn", "baseline",
                         "--presets-dir", str((tmp_path / "p").resolve()),
                         "--preset", str(preset.resolve()), "--set", "learning_rate=0.01"]
    root = Path(cli.__file__).resolve().parents[1]        # the folder holding this grpotui
    assert plan.command == f"cd {root} && exec {' '.join(plan.argv)}"
    assert plan.title == "grpotui learn"
    assert (plan.host, plan.port, plan.allow_save, plan.beyond) == ("127.0.0.1", 8000, False, None)
    assert make_plan("dashboard", [], preset="sort4").argv == [sys.executable, "-m", "grpotui",
                                                              "--preset", "sort4"]
    run = tmp_path / "run.jsonl"
    run.write_text("")
    assert make_plan("watch", [str(run)]).argv[3:] == ["watch", str(run.resolve())]
    assert make_plan("learn", []).max_sessions >= 1


def test_where_it_listens_and_the_warning():
    assert listens_beyond("127.0.0.1") is None
    assert listens_beyond("localhost") is None
    assert listens_beyond("0.0.0.0") == "every network interface"
    plan = make_plan("learn", [], host="0.0.0.0", port=8123, max_sessions=3)
    assert beyond_warning(plan) == (
        "grpotui serve: warning: listening on every network interface (0.0.0.0), not only this "
        "machine: anyone who can reach port 8123 here can open sessions (there is no password); "
        "serve on a network you trust, or leave out --host to serve this machine only.")
    assert plan.url == f"http://{socket.gethostname()}:8123"      # not http://0.0.0.0:8123


# ============================================================================ the page
async def test_the_page_names_the_host_the_browser_asked_for_and_a_full_room_says_so(
        aiohttp_client_factory):
    plan = Plan(["true"], "grpotui learn", "0.0.0.0", 8000, 2, False, "every network interface")
    server = RoomServer(plan)
    client = await aiohttp_client_factory(await server._make_app())
    page = await (await client.get("/", headers={"Host": "classroom-pc:8000"})).text()
    assert 'data-session-websocket-url="ws://classroom-pc:8000/ws"' in page   # not ws://0.0.0.0
    assert 'href="http://classroom-pc:8000/static/css/xterm.css"' in page
    odd = await (await client.get("/", headers={"Host": 'x"><script>'})).text()
    assert "<script>\"" not in odd and 'data-session-websocket-url="ws://0.0.0.0:8000/ws"' in odd
    server.in_use = 2
    full = await client.get("/")
    assert full.status == 503
    assert "grpotui learn: the room is full" in await full.text()
    assert "at most 2 sessions at once (one per open browser tab), and all are in use" in \
        " ".join((await full.text()).split())


@pytest.fixture
async def aiohttp_client_factory():
    from aiohttp.test_utils import TestClient, TestServer

    clients = []

    async def make(app):
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


# ============================================================================ saving
def test_save_preset_is_refused_in_a_served_session_unless_allowed(monkeypatch, tmp_path):
    from grpotui.config import TrainConfig
    from grpotui.presets import PresetError, save_preset

    monkeypatch.setenv(SERVED_ENV, NO_SAVE)
    with pytest.raises(PresetError) as refused:
        save_preset("mine", "", TrainConfig(), tmp_path)
    assert str(refused.value) == SAVE_REFUSED
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv(SERVED_ENV, SAVE)                 # grpotui serve --allow-save
    assert save_preset("mine", "", TrainConfig(), tmp_path) == tmp_path / "mine.yaml"


async def test_ctrl_s_in_a_served_session_says_saving_is_off(monkeypatch, tmp_path):
    from grpotui.presets import find_preset
    from grpotui.tui.app import GrpoApp

    monkeypatch.setenv(SERVED_ENV, NO_SAVE)
    # the refusal comes before anything reads the training: no training process is needed
    monkeypatch.setattr(GrpoApp, "start_training", lambda self, config, paused: None)
    app = GrpoApp(find_preset("lecture-centered").config, preset_name="lecture-centered",
                  paused=True, presets_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert type(app.screen).__name__ != "SaveScreen"
        assert [n.message for n in app._notifications] == [SAVE_REFUSED]
        assert "Saving presets is off in this served session" in SAVE_REFUSED
        await app.action_quit()
    assert list(tmp_path.iterdir()) == []


def test_a_served_learn_does_not_open_the_lab_after_the_tab_has_closed(monkeypatch):
    """textual-serve ends the tab when `grpotui learn`'s first app ends, so choosing `lab` there
    must end the session's process rather than train in a second app nobody sees."""
    ran = []

    def fake_run_app(the_app, what):
        ran.append(type(the_app).__name__)
        return "lab"                                    # the picker's `lab` was chosen

    monkeypatch.setattr(cli, "run_app", fake_run_app)
    monkeypatch.setenv(SERVED_ENV, NO_SAVE)
    assert CliRunner().invoke(cli.app, ["learn"]).exit_code == 0
    assert ran == ["LearnApp"]
    monkeypatch.delenv(SERVED_ENV)
    ran.clear()
    assert CliRunner().invoke(cli.app, ["learn"]).exit_code == 0
    assert ran == ["LearnApp", "GrpoApp"]                 # in a terminal the lab follows


# ============================================================================ the server's end
PARENT = """
import os, subprocess, sys
env = {**os.environ, "GRPOTUI_SERVED": "no-save", "GRPOTUI_SERVER_PID": str(os.getpid())}
child = subprocess.Popen([sys.executable, "-c", "from grpotui.served import end_with_the_server; "
                          "end_with_the_server(); print('armed', flush=True); "
                          "import time; time.sleep(600)"], env=env, stdout=subprocess.PIPE,
                         text=True)
assert child.stdout.readline() == "armed\\n"
print(child.pid, flush=True)
child.wait()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_session_ends_when_its_server_is_killed():
    """kill -9 of the server: each session gets SIGTERM from the kernel (the app then quits and
    ends its training; tests/serve/test_serve_browser.py shows a closed tab doing the same)."""
    from tests.serve.browser import alive, wait_until

    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert alive(child)
        parent.kill()
        parent.wait(30)
        wait_until(lambda: not alive(child), "the session to end with its server", limit=15)
    finally:
        parent.kill()


async def test_the_served_picker_keeps_the_tab_when_lab_is_chosen(monkeypatch):
    """In a served `grpotui learn` the picker's `lab` says where the lab is instead of ending the
    app (which would close the student's tab)."""
    from textual.widgets import OptionList

    from grpotui.tui.learn.app import LearnApp
    from grpotui.tui.learn.picker import LAB_SERVED, PickerScreen

    monkeypatch.setenv(SERVED_ENV, NO_SAVE)
    app = LearnApp(None)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        options.highlighted = options.option_count - 1          # lab: the last entry
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen)
        assert app.return_value is None
        assert [n.message for n in app._notifications] == [LAB_SERVED]
        app.exit()
