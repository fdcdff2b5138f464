"""Soak test: the real dashboard in a real terminal (tmux), training at full speed for a long time.

    python scripts/soak.py --minutes 60 [--preset default] [--size 120x40] [--out soak.jsonl]

The dashboard writes a line of its own measurements every 10 s (GRPOTUI_STATS; see
grpotui/tui/stats.py): frame time, time in our snapshot handler, event-loop lag, the screen's update
rate, the training rate, resident memory of both processes, and the number of widgets. At the end the
script quits the dashboard with q and prints a table comparing the first and the last few minutes, and
whether memory stayed flat (growth under 30 MB) and frame time stayed flat.

Needs tmux and Linux (/proc). Run it alone: on a 2-core machine anything else running skews it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

SESSION = "grpotui-soak"


def load(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summarize(records: list[dict], window_minutes: float = 5.0) -> dict:
    """First vs last `window_minutes` of a soak (skipping the first record: start-up)."""
    records = [r for r in records[1:] if r.get("frame_ms", {}).get("p50") is not None]
    if len(records) < 2:
        raise SystemExit("soak: too few records to summarise (did the dashboard start?)")
    span = window_minutes * 60
    t0, t1 = records[0]["t"], records[-1]["t"]
    first = [r for r in records if r["t"] <= t0 + span]
    last = [r for r in records if r["t"] >= t1 - span]

    def med(rows, get):
        values = [v for v in (get(r) for r in rows) if v is not None]
        return round(statistics.median(values), 1) if values else None

    rows = {
        "training rate (steps/s)": lambda r: r["steps_per_second"],
        "screen updates per second": lambda r: r["snapshots_per_second"],
        "frame time p50 (ms)": lambda r: r["frame_ms"]["p50"],
        "frame time p95 (ms)": lambda r: r["frame_ms"]["p95"],
        "snapshot handler p95 (ms)": lambda r: r["handler_ms"]["p95"],
        "event-loop lag p95 (ms)": lambda r: r["lag_ms"]["p95"],
        "UI resident memory (MB)": lambda r: r["rss_ui_mb"],
        "worker resident memory (MB)": lambda r: r["rss_worker_mb"],
        "widgets": lambda r: r["widgets"],
    }
    table = {name: (med(first, get), med(last, get)) for name, get in rows.items()}
    growth = {name: (table[name][1] or 0) - (table[name][0] or 0)
              for name in ("UI resident memory (MB)", "worker resident memory (MB)")}
    p95_first, p95_last = table["frame time p95 (ms)"]
    return {"minutes": round((t1 - t0) / 60, 1), "steps": records[-1]["step"], "table": table,
            "memory_growth_mb": growth,
            "memory_flat": all(g < 30 for g in growth.values()),
            "frame_time_flat": p95_last is not None and p95_first is not None
            and p95_last <= max(1.5 * p95_first, p95_first + 10)}


def print_summary(s: dict, minutes_window: float) -> None:
    print(f"soak: {s['minutes']} min, {s['steps']} steps")
    print(f"| measure | first {minutes_window:g} min | last {minutes_window:g} min |")
    print("| --- | --- | --- |")
    for name, (a, b) in s["table"].items():
        print(f"| {name} | {a} | {b} |")
    print(f"memory growth (MB): {s['memory_growth_mb']} -> flat: {s['memory_flat']}")
    print(f"frame time flat: {s['frame_time_flat']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--size", default="120x40")
    ap.add_argument("--out", type=Path, default=Path("soak.jsonl"))
    ap.add_argument("--window", type=float, default=5.0, help="minutes compared at each end")
    ap.add_argument("--summarize-only", action="store_true", help="only summarise an existing --out")
    args = ap.parse_args()
    if args.summarize_only:
        summary = summarize(load(args.out), args.window)
        print_summary(summary, args.window)
        return 0 if summary["memory_flat"] and summary["frame_time_flat"] else 1
    if not shutil.which("tmux"):
        raise SystemExit("soak: tmux is needed (apt-get install tmux)")
    width, height = args.size.split("x")
    args.out.unlink(missing_ok=True)
    grpotui = [sys.executable, "-m", "grpotui.cli", "--preset", args.preset,
               "--set", "rollouts=10000000"]
    subprocess.run(["tmux", "kill-session", "-t", SESSION], stderr=subprocess.DEVNULL, check=False)
    subprocess.run(["tmux", "new-session", "-d", "-s", SESSION, "-x", width, "-y", height,
                    "-e", f"GRPOTUI_STATS={args.out.resolve()}", *grpotui], check=True)
    try:
        deadline = time.monotonic() + args.minutes * 60
        while time.monotonic() < deadline:
            time.sleep(min(30.0, max(0.0, deadline - time.monotonic())))
            records = load(args.out)
            if records:
                r = records[-1]
                print(f"{r['t']:>7.0f}s step {r['step']:>9} {r['steps_per_second']:>6} steps/s "
                      f"frame p95 {r['frame_ms']['p95']} ms  rss ui {r['rss_ui_mb']} "
                      f"worker {r['rss_worker_mb']} MB", flush=True)
    finally:
        subprocess.run(["tmux", "send-keys", "-t", SESSION, "q"], check=False)
        time.sleep(3)
        subprocess.run(["tmux", "kill-session", "-t", SESSION], stderr=subprocess.DEVNULL,
                       check=False)
    summary = summarize(load(args.out), args.window)
    print_summary(summary, args.window)
    return 0 if summary["memory_flat"] and summary["frame_time_flat"] else 1


if __name__ == "__main__":
    sys.exit(main())
