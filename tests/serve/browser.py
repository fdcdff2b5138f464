"""A `grpotui serve` server and headless Chromium (Debian's chromium and chromium-driver, driven by
Selenium), for the browser tests and scripts/serve_screenshots.py.

The page draws the terminal with xterm.js on a canvas, so its text is not in the DOM. A script run
before the page's own (CDP Page.addScriptToEvaluateOnNewDocument) notes every object that sets a
`_core` property, as xterm.js's Terminal does in its constructor; `screen_text` then reads the
terminal's buffer, the text xterm.js draws, row by row.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# The flags that headless Chromium needs on a machine without a network or a screen (see the
# README's "Serving to a browser"): no sandbox as root, no GPU, no background connections.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--window-size=1280,900"]

_HOOK = """
window.__grpotuiTerminals = [];
Object.defineProperty(Object.prototype, '_core', {configurable: true,
  set(value) {
    Object.defineProperty(this, '_core', {value, writable: true, configurable: true,
                                          enumerable: true});
    window.__grpotuiTerminals.push(this);
  },
  get() { return undefined; }});
"""
_READ = """
const t = (window.__grpotuiTerminals || []).find(
  t => t.buffer && t.buffer.active && t.buffer.active.getLine);
if (!t) return null;
const rows = [];
for (let y = 0; y < t.rows; y++) {
  const line = t.buffer.active.getLine(y);
  rows.push(line ? line.translateToString(true) : '');
}
return rows.join('\\n');
"""

# Each row's text and the background colour of its third cell (inside a panel's border): a
# highlighted list item is the row whose colour differs from its neighbours'.
_ROWS = """
const t = (window.__grpotuiTerminals || []).find(
  t => t.buffer && t.buffer.active && t.buffer.active.getLine);
if (!t) return [];
const rows = [];
for (let y = 0; y < t.rows; y++) {
  const line = t.buffer.active.getLine(y);
  const cell = line && line.getCell(2);
  rows.push([line ? line.translateToString(true) : '',
             cell ? cell.getBgColorMode() + ':' + cell.getBgColor() : '']);
}
return rows;
"""


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.path.exists(path):
            return (f"{path} is missing: install Debian's {package} package (as root: "
                    f"apt-get install -y chromium chromium-driver; .ci/run does)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -c constraints.txt \".[test]\""
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`python -m grpotui serve ...` in the background, its output in a file."""

    def __init__(self, *args: str, env: dict | None = None, limit: float = 60.0) -> None:
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile("w+", prefix="grpotui-serve-", suffix=".log")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "grpotui", "serve", *args, "--port", str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})})
        self.url = f"http://127.0.0.1:{self.port}/"
        deadline = time.monotonic() + limit
        while not self._accepts():
            if self.process.poll() is not None:
                raise AssertionError(f"grpotui serve exited ({self.process.returncode}):\n"
                                     f"{self.output()}")
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"grpotui serve did not listen within {limit:g} s:\n"
                                     f"{self.output()}")
            time.sleep(0.05)        # polling a condition with a deadline, not a sleep as sync

    def _accepts(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def sessions(self) -> list[int]:
        """The pids of the processes under the server: each session's app and what it started."""
        return descendants(self.pid)

    def stop(self, limit: float = 20.0) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)         # Ctrl+C: ends every session too
            try:
                self.process.wait(limit)
            except subprocess.TimeoutExpired:
                for pid in self.sessions():
                    _kill(pid)
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _parents() -> dict[int, int]:
    """pid -> parent pid of every live process (zombies left out: they have ended)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                parents[int(entry)] = int(fields[1])
    return parents


def descendants(root: int) -> list[int]:
    parents = _parents()
    found, todo = [], [root]
    while todo:
        parent = todo.pop()
        for pid, ppid in parents.items():
            if ppid == parent:
                found.append(pid)
                todo.append(pid)
    return sorted(found)


def alive(pid: int) -> bool:
    return pid in _parents()


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def rss_mib(pid: int) -> float:
    """Resident memory of one process, MiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pss_mib(pid: int) -> float:
    """Proportional set size of one process, MiB: its private pages plus its share of pages it
    shares (torch's libraries with other sessions): what one more session costs, roughly."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_until(condition, what: str, limit: float = 30.0, every: float = 0.05):
    """Poll `condition()` until it is truthy (returned) or `limit` seconds pass (AssertionError
    naming `what`). A deadline on a condition, not a sleep standing in for synchronisation."""
    deadline = time.monotonic() + limit
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit:g} s waiting for {what}")
        time.sleep(every)


class Browser:
    """Headless Chromium through Selenium, with Debian's chromedriver (never selenium-manager)."""

    def __init__(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="grpotui-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={self.profile}"]:
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)

    def open(self, url: str, new_tab: bool = True) -> str:
        """Load `url` (in a new tab), the terminal hook first; the tab's handle."""
        if new_tab:
            self.driver.switch_to.new_window("tab")
        # per tab: CDP commands go to the tab the driver is on
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _HOOK})
        self.driver.get(url)
        return self.driver.current_window_handle

    def screen_text(self) -> str:
        """The terminal's rows as text ('' before the terminal exists)."""
        return self.driver.execute_script(_READ) or ""

    def wait_for_text(self, text: str, limit: float = 30.0) -> str:
        return wait_until(lambda: (s := self.screen_text()) and text in s and s,
                          f"{text!r} on the terminal", limit)

    def highlighted(self, items: list[str]) -> str | None:
        """Which of the list's `items` (row texts) is highlighted: the one whose background
        differs from all the others'; None while not exactly one does."""
        rows = {}
        for text, colour in self.driver.execute_script(_ROWS):
            for item in items:
                if item in text:
                    rows[item] = colour
        if len(rows) != len(items):
            return None
        odd = [item for item in items if list(rows.values()).count(rows[item]) == 1]
        return odd[0] if len(odd) == 1 and len(items) > 2 else None

    def choose(self, item: str, items: list[str], limit: float = 30.0) -> None:
        """Move a list's highlight to `item` with the down key, one press at a time, each waited
        for on the screen (Textual takes an escape sequence's key after a plain key that follows
        it quickly, so down, down, enter typed at once can select the first item), then enter."""
        for _ in range(items.index(item)):
            before = wait_until(lambda: self.highlighted(items), "a highlighted item", limit)
            self.keys("\ue015")                                  # down
            wait_until(lambda: self.highlighted(items) not in (None, before),
                       "the highlight to move down", limit)
        assert self.highlighted(items) == item, (self.highlighted(items), item)
        self.keys("\ue007")                                      # enter

    def keys(self, *keys: str) -> None:
        """Type into the terminal, as a person would: into xterm.js's input element."""
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea").send_keys(*keys)

    def body_text(self) -> str:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.TAG_NAME, "body").text

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a TCP socket listening on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table, size in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if int(hex_port, 16) != port or fields[3] != "0A":      # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            # the kernel prints each 32-bit word in host (little-endian) order
            words = b"".join(raw[i:i + 4][::-1] for i in range(0, size, 4))
            found.add(socket.inet_ntop(socket.AF_INET if size == 4 else socket.AF_INET6, words))
    return found
