"""Browser screenshots of `grpotui serve`, and what a served session costs.

    .venv/bin/python scripts/serve_screenshots.py [--out screenshots] [--tabs 3]

Needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver) and the
serve and test extras. It starts `grpotui serve learn` on a free port and opens it in headless
Chromium, as the browser tests do (tests/serve/browser.py), and writes:

    serve-picker.png    a tab's first screen, the canvas picker
    serve-baseline.png  the baseline canvas, opened with the keys down, down, enter
    serve-full.png      the page a tab gets when every session is in use
    serve-dashboard.png `grpotui serve dashboard`, training

and prints, for each of --tabs tabs opened one after another (each left on the baseline canvas):
seconds from asking for the page to the picker's text on the terminal, and the memory of the
session's app process on the picker and on the canvas (RSS, and PSS: its share of the pages it
shares with the other sessions, torch's libraries above all); the server's own memory; the
dashboard session's app and training processes. Run it alone for figures that mean something.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.serve.browser import (Browser, ServerProcess, command_line, missing_browser,  # noqa: E402
                                 pss_mib, rss_mib, wait_until)

PICKER = "grpotui learn: GRPO, one canvas at a time"
ITEMS = [f"│ {name} " for name in ("rollout", "variance", "baseline", "clip", "length", "lab")]


def memory(pid: int) -> str:
    return f"RSS {rss_mib(pid):6.1f} MiB, PSS {pss_mib(pid):6.1f} MiB"


def apps(server: ServerProcess, what: str) -> list[int]:
    return [pid for pid in server.sessions() if f"-m grpotui {what}" in command_line(pid)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--tabs", type=int, default=3, help="sessions to open and measure")
    args = parser.parse_args()
    if (why := missing_browser()) is not None:
        print(f"serve_screenshots: {why}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    browser = Browser()
    learn = ServerProcess("learn", "--max-sessions", str(args.tabs))
    try:
        print(f"server (grpotui serve learn, no session yet): {memory(learn.pid)}")
        tabs = []
        for n in range(1, args.tabs + 1):
            started = time.monotonic()
            tabs.append(browser.open(learn.url, new_tab=n > 1))
            browser.wait_for_text(PICKER)
            seconds = time.monotonic() - started
            pid = wait_until(lambda: len(apps(learn, "learn")) == n and apps(learn, "learn"),
                             "the session's process")[-1]
            print(f"tab {n}: page to picker {seconds:.2f} s; session process {pid}: "
                  f"{memory(pid)}")
            if n == 1:
                browser.driver.save_screenshot(str(args.out / "serve-picker.png"))
            browser.choose(ITEMS[2], ITEMS)                      # down, down, enter: baseline
            browser.wait_for_text("5.32 without, 1.15 with b")
            if n == 1:
                browser.driver.save_screenshot(str(args.out / "serve-baseline.png"))
            print(f"tab {n} on the baseline canvas: {memory(pid)}")
        print(f"server with {args.tabs} sessions: {memory(learn.pid)}")
        browser.open(learn.url)                          # one tab more than the room holds
        wait_until(lambda: "the room is full" in browser.body_text(), "the full page")
        browser.driver.save_screenshot(str(args.out / "serve-full.png"))
    finally:
        learn.stop()
    dashboard = ServerProcess("dashboard", "--preset", "lecture-centered")
    try:
        browser.open(dashboard.url)
        browser.wait_for_text("lecture-centered")
        trainer = wait_until(lambda: [p for p in dashboard.sessions()
                                      if "spawn_main" in command_line(p)], "training")[0]
        wait_until(lambda: "waiting for the first rollout" not in browser.screen_text(),
                   "the first rollout on screen")
        app = apps(dashboard, "")[0]
        browser.driver.save_screenshot(str(args.out / "serve-dashboard.png"))
        print(f"dashboard session: app {memory(app)}; training process {memory(trainer)}")
    finally:
        dashboard.stop()
        browser.quit()
    print(f"screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
