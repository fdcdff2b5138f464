"""`grpotui serve`: the canvases, the dashboard or `watch` in browser tabs, for a room.

textual-serve (an aiohttp server) runs a command once per browser connection: the page loads xterm.js
and opens the websocket /ws, and each websocket starts one app process, which ends when the tab
closes (textual-serve sends it "quit"; the app's shutdown then ends its training process). This
module adds what a room needs and textual-serve does not have, by subclassing its Server:

- a session limit: at most N app processes at once; a tab over the limit gets a page (or, if it
  raced past the page, a terminal screen) saying the room is full, and starts nothing;
- page URLs built from the address the browser asked for, so that a server bound to 0.0.0.0 hands
  students ws://TEACHER:PORT/ws rather than ws://0.0.0.0:PORT/ws (textual-serve's default public
  URL is its bind address, which no other machine can reach);
- a fixed command: every session runs `sys.executable -m grpotui ...` with the arguments the teacher
  gave, checked here before serving; nothing in the browser chooses a file. Saving presets is off
  unless --allow-save (grpotui.served).
"""

from __future__ import annotations

import asyncio
import copy
import html
import ipaddress
import logging
import os
import re
import shlex
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from textual_serve.server import Server

from grpotui.config import ConfigError
from grpotui.served import NO_SAVE, SAVE, SERVED_ENV, SERVER_PID_ENV

APPS = ("learn", "dashboard", "watch")
PACKAGE_ROOT = Path(__file__).resolve().parent.parent   # the folder holding this grpotui package
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
_HOST_HEADER = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.%a-z]+\](:[0-9]{1,5})?$")


class ServeError(ConfigError):
    """A bad `grpotui serve` argument, or a server that cannot listen; the message says which."""


def default_sessions() -> int:
    """One session per core this process may use: each session trains (or computes) on its own."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:          # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class Plan:
    """What to serve, checked: the session's command line and where to listen."""
    argv: list[str]                 # the session's command, [sys.executable, "-m", "grpotui", ...]
    title: str                      # what the page calls it, e.g. "grpotui learn"
    host: str
    port: int
    max_sessions: int
    allow_save: bool
    beyond: str | None = None       # where it listens beyond this machine, or None (loopback only)
    notes: list[str] = field(default_factory=list)

    @property
    def command(self) -> str:
        """The shell command textual-serve runs per tab: from the folder that holds the server's
        own grpotui package, so that `-m grpotui` (which looks in the current folder first) finds
        that one, whatever folder the server was started in; `exec` makes the app the tab's
        process. Every path in argv is absolute."""
        return f"cd {shlex.quote(str(PACKAGE_ROOT))} && exec {shlex.join(self.argv)}"

    @property
    def url(self) -> str:
        """The address to give students."""
        host = self.host
        if self.beyond is not None and _unspecified(host):
            host = socket.gethostname() or host      # 0.0.0.0 is not an address one can open
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def listens_beyond(host: str) -> str | None:
    """None when every address `host` stands for is loopback (this machine only); otherwise the
    addresses, or 'every network interface' for 0.0.0.0 and ::."""
    if not host:
        raise ServeError("--host is empty: give an address such as 127.0.0.1 (this machine only, "
                         "the default) or 0.0.0.0 (every network interface).")
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise ServeError(f"--host {host}: not an address or a name this machine can resolve "
                         f"({reason}). Give an address such as 127.0.0.1 (this machine only, the "
                         f"default) or 0.0.0.0 (every network interface).") from None
    addresses = sorted({ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos}, key=str)
    if any(a.is_unspecified for a in addresses):
        return "every network interface"
    outside = [str(a) for a in addresses if not a.is_loopback]
    return ", ".join(outside) if outside else None


def make_plan(what: str, args: list[str] | None, *, host: str = DEFAULT_HOST,
              port: int = DEFAULT_PORT, max_sessions: int | None = None, allow_save: bool = False,
              preset: str | None = None, sets: list[str] | None = None,
              presets_dir: str | os.PathLike | None = None) -> Plan:
    """Check every argument of `grpotui serve` and build the session's command; ServeError (or a
    ConfigError from the preset or --set) says what is wrong."""
    from grpotui.cli import resolve_config

    args = list(args or [])
    if what not in APPS:
        raise ServeError(f"unknown app '{what}': serve one of learn (the canvases), dashboard "
                         f"(training live) or watch PATH... (metrics files), e.g. `grpotui serve "
                         f"learn`.")
    if not 1 <= port <= 65535:
        raise ServeError(f"--port {port}: a port is a whole number from 1 to 65535 (default "
                         f"{DEFAULT_PORT}; ports below 1024 need root).")
    if max_sessions is None:
        max_sessions = default_sessions()
    if max_sessions < 1:
        raise ServeError(f"--max-sessions {max_sessions}: must be at least 1 (each browser tab is "
                         f"one session; default: the number of cores, {default_sessions()}).")
    beyond = listens_beyond(host)
    tail: list[str] = []
    if presets_dir is not None:
        tail += ["--presets-dir", str(Path(presets_dir).expanduser().resolve())]
    if what == "watch":
        if preset is not None or sets:
            raise ServeError("--preset and --set choose what a session trains; `serve watch` "
                             "trains nothing (it shows metrics files): leave them out.")
        if not args:
            raise ServeError("`grpotui serve watch` needs the metrics files (or folders) to show, "
                             "e.g. `grpotui serve watch runs/`.")
        paths = []
        for given in args:
            path = Path(given).expanduser()
            if not path.exists():
                raise ServeError(f"{given}: no such file or folder. `serve watch` shows files "
                                 f"that exist when it starts (or folders, whose new files it "
                                 f"picks up).")
            paths.append(str(path.resolve()))
        return Plan(_grpotui("watch", *paths), "grpotui watch", host, port, max_sessions,
                    allow_save, beyond)
    found, _ = resolve_config(preset, sets, None, None, presets_dir)
    options = list(tail)
    if preset is not None:
        # a file's path is made absolute; a name is passed on as the name
        options += ["--preset", str(found.path.resolve()) if found.path and not found.shipped
                    and not _is_name(preset) else preset]
    for item in sets or []:
        options += ["--set", item]
    if what == "dashboard":
        if args:
            raise ServeError(f"`grpotui serve dashboard` takes no paths (got {' '.join(args)}); "
                             f"to show metrics files, serve `watch PATH...`.")
        return Plan(_grpotui(*options), "grpotui", host, port, max_sessions, allow_save, beyond)
    from grpotui.tui.learn import NAMES

    if len(args) > 1 or (args and args[0] not in NAMES):
        raise ServeError(f"`grpotui serve learn` takes at most one canvas name (got "
                         f"{' '.join(args)}); canvases: {', '.join(NAMES)}, or none for the list.")
    return Plan(_grpotui("learn", *args, *options), "grpotui learn", host, port, max_sessions,
                allow_save, beyond)


def _is_name(preset: str) -> bool:
    return "/" not in preset and os.sep not in preset and not preset.endswith((".yaml", ".yml"))


def _grpotui(*args: str) -> list[str]:
    return [sys.executable, "-m", "grpotui", *args]


FULL_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}: full</title>
<style>body {{ background: #0c181f; color: #e8e8e8; font-family: "Roboto Mono", monospace;
display: flex; align-items: center; justify-content: center; height: 100vh; margin: 0; }}
main {{ max-width: 40em; background: #12232d; padding: 2em 3em; line-height: 1.5; }}</style>
</head><body><main id="full"><h1>{title}: the room is full</h1>
<p>This server runs at most {limit} session{s} at once (one per open browser tab), and {all} in
use. Close a tab you no longer use, or wait for someone to close theirs, then reload this
page.</p></main></body></html>
"""


class RoomServer(Server):
    """textual-serve's Server with a session limit, page URLs from the request, and plain logs."""

    def __init__(self, plan: Plan) -> None:
        super().__init__(plan.command, host=plan.host, port=plan.port, title=plan.title)
        self.plan = plan
        self.limit = plan.max_sessions
        self.in_use = 0                 # sessions running now
        self.opened = 0                 # sessions opened since start (numbers them in the log)
        self.handlers: set[asyncio.Task] = set()

    @property
    def full(self) -> bool:
        return self.in_use >= self.limit

    # ------------------------------------------------------------------ the page
    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        if self.full:
            return self.full_page()
        view = copy.copy(self)      # the same server, its URLs naming the host this browser used
        host = request.host
        if _HOST_HEADER.match(host or ""):
            view.public_url = f"{request.scheme}://{host}"
        return await Server.handle_index(view, request)

    def full_page(self) -> web.Response:
        text = FULL_PAGE.format(title=html.escape(self.title), limit=self.limit,
                                s="" if self.limit == 1 else "s",
                                all="it is" if self.limit == 1 else "all are")
        return web.Response(status=503, text=text, content_type="text/html",
                            headers={"Retry-After": "30"})

    # ------------------------------------------------------------------ the sessions
    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
        if self.full:                   # the page was open before the room filled: say so there
            return await self.refuse(request)
        self.in_use += 1                # counted before anything awaits: no two tabs race past
        self.opened += 1
        number = self.opened
        task = asyncio.current_task()
        if task is not None:
            self.handlers.add(task)
        self.say(f"session {number} opened ({self.in_use} of {self.limit} in use)")
        try:
            return await super().handle_websocket(request)
        finally:
            self.in_use -= 1
            self.handlers.discard(task)
            self.say(f"session {number} ended ({self.in_use} of {self.limit} in use)")

    async def refuse(self, request: web.Request) -> web.WebSocketResponse:
        websocket = web.WebSocketResponse(heartbeat=15)
        await websocket.prepare(request)
        lines = [f"{self.title}: the room is full ({self.limit} of {self.limit} "
                 f"session{'' if self.limit == 1 else 's'} in use).", "",
                 "Close a tab you no longer use, or wait for someone to close theirs,",
                 "then reload this page."]
        # The page shows the terminal once it has had some bytes; clear it and write the lines.
        await websocket.send_bytes(("\x1b[2J\x1b[H\r\n" + "".join(f"  {line}\r\n" for line in lines))
                                   .encode("utf-8"))
        async for _ in websocket:       # nothing starts: hold the screen until the tab goes
            pass
        return websocket

    async def on_shutdown(self, app: web.Application) -> None:
        """Ctrl+C or SIGTERM: end every session now (textual-serve's handler then tells its app to
        quit and waits for it), instead of aiohttp waiting for the tabs to close."""
        tasks = list(self.handlers)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------ what it prints
    def say(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def initialize_logging(self) -> None:
        super().initialize_logging()
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)   # not a line per request

    async def on_startup(self, app: web.Application) -> None:
        plan = self.plan
        where = " (this machine's name; its address on your network works too)" \
            if plan.beyond is not None and _unspecified(plan.host) else ""
        self.say(f"grpotui serve: {plan.title} at {plan.url}{where} (at most {plan.max_sessions} "
                 f"session{'s' if plan.max_sessions != 1 else ''}, one per browser tab; saving "
                 f"presets {'allowed' if plan.allow_save else 'off'}). Ctrl+C stops it and every "
                 f"session.")


def beyond_warning(plan: Plan) -> str:
    where = "0.0.0.0" if plan.beyond == "every network interface" else plan.host
    return (f"grpotui serve: warning: listening on {plan.beyond} ({where}), not only this machine: "
            f"anyone who can reach port {plan.port} here can open sessions (there is no password); "
            f"serve on a network you trust, or leave out --host to serve this machine only.")


def _check_free(host: str, port: int) -> None:
    """OSError if (host, port) cannot be listened on, as aiohttp would bind it."""
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                              flags=socket.AI_PASSIVE):
        with socket.socket(family, kind, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(address)


def serve(plan: Plan) -> None:
    """Serve until Ctrl+C or SIGTERM. ServeError if the address cannot be listened on."""
    os.environ[SERVED_ENV] = SAVE if plan.allow_save else NO_SAVE     # every session inherits it
    os.environ[SERVER_PID_ENV] = str(os.getpid())
    if os.environ.get("GRPOTUI_PRESETS_DIR"):    # sessions run in another folder (Plan.command)
        os.environ["GRPOTUI_PRESETS_DIR"] = str(Path(os.environ["GRPOTUI_PRESETS_DIR"])
                                                .expanduser().resolve())
    if plan.beyond is not None:
        print(beyond_warning(plan), file=sys.stderr, flush=True)
    server = RoomServer(plan)
    try:
        _check_free(plan.host, plan.port)    # aiohttp binds after it has run on_startup's lines
        server.serve()
    except OSError as e:
        raise ServeError(f"cannot listen on {plan.host} port {plan.port}: "
                         f"{e.strerror or e}. Choose another --port (or stop what uses it)."
                         ) from None
