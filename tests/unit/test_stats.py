"""The soak measurements: percentiles, and the verdicts scripts/soak.py draws from a stats log."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from grpotui.tui.stats import UiStats, _percentiles

ROOT = Path(__file__).resolve().parents[2]


def load_soak():
    spec = importlib.util.spec_from_file_location("soak", ROOT / "scripts" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_percentiles_pick_order_statistics():
    assert _percentiles([float(x) for x in range(100, 0, -1)]) == {"p50": 51.0, "p95": 96.0,
                                                                  "max": 100.0}
    assert _percentiles([]) == {"p50": None, "p95": None, "max": None}


def test_flush_writes_a_line_and_starts_a_new_window(tmp_path):
    stats = UiStats(tmp_path / "s.jsonl")
    for ms in (10, 20, 30):
        stats.frame(ms / 1000)
        stats.handler(ms / 2000)
    rec = stats.flush(step=7, steps_per_second=12.345, worker_pid=None, widgets=3)
    assert rec["frame_ms"] == {"p50": 20.0, "p95": 30.0, "max": 30.0}
    assert rec["handler_ms"]["max"] == 15.0
    assert rec["rss_worker_mb"] is None and rec["steps_per_second"] == 12.3
    assert stats.frames == [] and stats.handlers == []
    assert json.loads((tmp_path / "s.jsonl").read_text()) == rec


def record(t, rss_ui, rss_worker, frame_p95):
    return {"t": t, "step": int(t * 100), "steps_per_second": 100.0, "snapshots_per_second": 15.0,
            "frame_ms": {"p50": frame_p95 / 2, "p95": frame_p95, "max": frame_p95},
            "handler_ms": {"p50": 1.0, "p95": 1.0, "max": 1.0}, "lag_ms": {"p95": 5.0, "max": 9.0},
            "rss_ui_mb": rss_ui, "rss_worker_mb": rss_worker, "widgets": 99}


def test_soak_summary_flags_memory_growth_and_slower_frames():
    soak = load_soak()
    flat = [record(t, 60.0, 320.0, 50.0) for t in range(0, 3600, 10)]
    s = soak.summarize(flat, window_minutes=5)
    assert s["memory_flat"] and s["frame_time_flat"]
    assert s["table"]["UI resident memory (MB)"] == (60.0, 60.0)

    leaking = [record(t, 60.0 + t / 60, 320.0, 50.0) for t in range(0, 3600, 10)]
    assert not soak.summarize(leaking, window_minutes=5)["memory_flat"]   # grows ~55 MB

    slowing = [record(t, 60.0, 320.0, 50.0 + t / 30) for t in range(0, 3600, 10)]
    assert not soak.summarize(slowing, window_minutes=5)["frame_time_flat"]
