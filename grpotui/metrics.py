"""The metrics file: one record per optimizer step, plus event records, as JSONL or CSV by extension.

Records are written a rollout at a time and flushed, so a run stopped at any moment leaves a file of
complete records. JSONL step records are the trainer's metric dicts; event records carry an "event"
key ("start", "set", "reset", "diverged", "stop"). In CSV, events are rows with the "event" and
"detail" columns filled.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from grpotui.config import ConfigError

STEP_KEYS = [
    "step", "rollout", "reward", "reward_std", "exact_match", "heldout_exact_match", "loss", "kl",
    "approx_kl", "entropy", "grad_norm", "clip_ratio/low_mean", "clip_ratio/high_mean",
    "clip_ratio/region_mean", "ratio/min", "ratio/mean", "ratio/max", "frac_reward_zero_std",
    "group_size", "lr", "temperature", "rewards/position_match/mean",
    "rewards/inclusion_ordering/mean", "rewards/exact_match/mean", "steps_per_second", "time",
]
CSV_COLUMNS = STEP_KEYS + ["event", "detail"]


def _clean(v: Any) -> Any:
    # JSON has no NaN/inf: write null so every line stays parseable by any JSON reader.
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class MetricsWriter:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in (".jsonl", ".json", ".csv", ".ndjson"):
            raise ConfigError(f"metrics file {self.path}: unknown extension '{suffix or '(none)'}'; "
                              f"allowed: .jsonl, .ndjson or .json (one JSON object per line) "
                              f"or .csv.")
        self.csv = suffix == ".csv"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)   # runs/a.jsonl makes runs/
            self.file = open(self.path, "w", encoding="utf-8", newline="")
        except OSError as e:
            raise ConfigError(f"metrics file {self.path}: cannot write there "
                              f"({e.strerror or e}); give a path in a writable folder.") from None
        if self.csv:
            self.writer = csv.DictWriter(self.file, CSV_COLUMNS, extrasaction="ignore")
            self.writer.writeheader()
            self.file.flush()

    def write(self, steps: list[dict[str, Any]] = (), events: list[dict[str, Any]] = ()) -> None:
        """Append events, then step records, as whole lines, and flush."""
        if self.file.closed:
            return
        buf = io.StringIO()
        if self.csv:
            w = csv.DictWriter(buf, CSV_COLUMNS, extrasaction="ignore")
            for e in events:
                detail = {k: v for k, v in e.items() if k not in ("event", "step", "rollout")}
                w.writerow({"step": e.get("step"), "rollout": e.get("rollout"),
                            "event": e["event"], "detail": json.dumps(detail, default=str)})
            for m in steps:
                w.writerow({k: _clean(v) for k, v in m.items()})
        else:
            for rec in list(events) + list(steps):
                buf.write(json.dumps({k: _clean(v) for k, v in rec.items()}, default=str) + "\n")
        self.file.write(buf.getvalue())
        self.file.flush()

    def close(self) -> None:
        if not self.file.closed:
            self.file.close()
