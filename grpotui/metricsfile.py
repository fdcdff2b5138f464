"""Reading metrics files (the ones grpotui.metrics.MetricsWriter and the TRL integration write), and
following them while they grow. Read-only: files are opened "rb" and never written.

    follower = MetricsFollower("runs/a.jsonl")
    records = follower.poll()      # every complete record appended since the last poll (dicts)

A record is a step record (numbers: "step", "reward", ... any keys) or an event record (an "event"
key: start, set, groups, stop, ...). A line without its newline yet is held back until it is whole.
A file that is big when first opened is not parsed line by line: every event line is read (so `set`
markers and the latest groups are all there), step lines are sampled evenly for the curves, and the
last step line always gives the latest state. Memory stays bounded: the file is read in chunks.
Garbage lines are skipped and counted; `problem` names the file and the first bad line.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

from grpotui import records

EXTENSIONS = (".jsonl", ".ndjson", ".json", ".csv")
FOLDER_EXTENSIONS = (".jsonl", ".ndjson", ".csv")   # in a folder, .json files are usually settings
CONTROL_SUFFIX = ".control.jsonl"   # issue 16's command file beside a metrics file: not a run
BIG_FILE = 4 * 2**20                # bytes: above this, the first read samples step lines
SAMPLE_TARGET = 4000                # step records parsed for the curves when a big file opens
CHUNK = 8 * 2**20                   # bytes read at a time
POLL_LIMIT = 4 * 2**20              # bytes read per poll while following
MAX_LINE = 64 * 2**20               # bytes in one line (a record); a longer one is skipped unread


_BAD = object()     # a JSON text that could not be read (already reported)


class WatchError(Exception):
    """A path that cannot be watched (wrong kind of file, unreadable folder): one clear message."""


def is_metrics_name(path: Path) -> bool:
    """Whether a file in a watched folder is taken for a metrics file (.json only when named)."""
    name = path.name.lower()
    return name.endswith(FOLDER_EXTENSIONS) and not name.endswith(CONTROL_SUFFIX)


def expand_paths(paths: list[str | Path]) -> list[Path]:
    """The metrics files to watch: files as given (they may not exist yet), folders as every
    metrics file in them (sorted). Raises WatchError naming the path and what is allowed."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            try:
                found = sorted(f for f in p.iterdir() if f.is_file() and is_metrics_name(f))
            except OSError as e:
                raise WatchError(f"{p}: cannot read this folder ({e.strerror or e}).") from None
            out.extend(found)
        elif p.suffix.lower() in EXTENSIONS:
            if p.name.lower().endswith(CONTROL_SUFFIX):
                raise WatchError(f"{p} is a steering command file, not a metrics file; watch the "
                                 f"metrics file beside it ({p.name[:-len(CONTROL_SUFFIX)]}).")
            out.append(p)
        elif p.exists():
            raise WatchError(f"{p}: not a metrics file (extension '{p.suffix or '(none)'}'); "
                             f"allowed: .jsonl, .ndjson, .json (one JSON object per line), .csv, "
                             f"or a folder of them.")
        else:
            raise WatchError(f"{p} does not exist and is not a metrics file name; give a .jsonl or "
                             f".csv file (it may be created later) or an existing folder.")
    seen: set[Path] = set()
    unique = []
    for p in out:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


class MetricsFollower:
    """One metrics file, read incrementally. Never blocks for long: each poll reads at most
    POLL_LIMIT bytes (the first poll of a big file scans it once, in chunks)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.csv = self.path.suffix.lower() == ".csv"
        self._reset_state()

    def _reset_state(self) -> None:
        self.offset = 0            # bytes consumed (always the end of a complete line)
        self.line_no = 0           # lines consumed
        self.identity: tuple[int, int] | None = None
        self.columns: list[str] | None = None
        self.records = 0           # valid records read
        self.bad_lines = 0
        self.flawed = 0            # records read with a value dropped
        self.skipping = False      # inside a line longer than MAX_LINE: skip to its end
        self.first_bad: tuple[int, str, bool] | None = None   # (line, why, skipped)
        self.size = 0
        self.grew = False          # whether the last poll found new bytes
        self.restarted = False     # whether the last poll found the file replaced or truncated
        self.gone = False          # it existed and was deleted (read again from the start if it
                                   # comes back)
        self.pending = False       # whether an incomplete last line is being held back
        self.sampled = 0           # step records skipped by sampling when a big file opened

    @property
    def exists(self) -> bool:
        return self.identity is not None and not self.gone

    @property
    def problem(self) -> str | None:
        """One message naming the file and its first bad line, or None."""
        if not self.first_bad:
            return None
        line, why, skipped = self.first_bad
        if not skipped:      # a record read with a value dropped (its reason says which)
            more = f" ({self.bad_lines + self.flawed} lines with something wrong in all)" \
                if self.bad_lines + self.flawed > 1 else ""
            return f"{self.path} line {line}: {why}{more}; the valid records and values are shown."
        more = f" ({self.bad_lines} bad lines in all, skipped)" if self.bad_lines > 1 else \
            " (skipped)"
        if self.records == 0:
            kind = "a CSV file with a header row and a 'step' column" if self.csv else \
                "one JSON object per line with a 'step' or 'event' key"
            lines = f"{self.bad_lines} bad line{'s' if self.bad_lines > 1 else ''}"
            return (f"{self.path} line {line}: {why}. This does not look like a metrics file: "
                    f"expected {kind}. Nothing in it can be shown ({lines}).")
        return f"{self.path} line {line}: {why}{more}; the valid records are shown."

    def _bad(self, line_no: int, why: str) -> None:
        self.bad_lines += 1
        if self.first_bad is None:
            self.first_bad = (line_no, why, True)

    # ------------------------------------------------------------------ parsing one line
    def _flaw(self, line_no: int, why: str) -> None:
        """A record read with something dropped (a value out of range): reported like a bad line."""
        self.flawed += 1
        if self.first_bad is None:
            self.first_bad = (line_no, why, False)

    def parse(self, raw: bytes, line_no: int) -> dict | None:
        """One line -> a clean record (grpotui.records.check), or None (blank, or bad: counted)."""
        text = raw.rstrip(b"\r")
        if not text.strip():
            return None
        if len(text) > MAX_LINE:
            self._bad(line_no, f"a line of {len(text):,} bytes (at most {MAX_LINE:,})")
            return None
        try:
            s = text.decode("utf-8")
        except UnicodeDecodeError:
            self._bad(line_no, "not UTF-8 text")
            return None
        if self.csv:
            rec = self._parse_csv(s, line_no)
            if rec is None:
                return None
        else:
            rec = self._json(s, line_no, "")
            if rec is _BAD:
                return None
        clean, flaws = records.check(rec)
        if clean is None:
            self._bad(line_no, flaws[0])
            return None
        if flaws:
            self._flaw(line_no, flaws[0])
        self.records += 1
        return clean

    def _json(self, s: str, line_no: int, what: str) -> Any:
        """json.loads(s), or _BAD after reporting the line (`what` names the part, "" the line)."""
        try:
            return json.loads(s)
        except json.JSONDecodeError as e:
            where = f" at column {e.colno}" if not what else ""
            self._bad(line_no, f"{what}{'is ' if what else ''}not JSON ({e.msg}{where})")
        except RecursionError:
            self._bad(line_no, f"{what}{'is ' if what else ''}nested deeper than "
                               f"{records.MAX_DEPTH} levels")
        return _BAD

    def _parse_csv(self, s: str, line_no: int) -> dict | None:
        try:
            row = next(csv.reader([s]))
        except (csv.Error, StopIteration) as e:
            self._bad(line_no, f"not a CSV row ({e})")
            return None
        if self.columns is None:
            if "step" not in row:
                self._bad(line_no, "the CSV header has no 'step' column")
                return None
            self.columns = row
            return None
        if len(row) != len(self.columns):
            self._bad(line_no, f"{len(row)} CSV fields where the header has {len(self.columns)}")
            return None
        rec = {k: v for k, v in zip(self.columns, row) if v != ""}
        event = rec.pop("event", None)
        detail = rec.pop("detail", None)
        if event:
            out: dict[str, Any] = {"event": event}
            for k in ("step", "rollout"):
                if k in rec:
                    out[k] = rec[k]
            if detail:
                extra = self._json(detail, line_no, "its 'detail' ")
                if extra is _BAD:
                    return None
                if isinstance(extra, dict):
                    out.update({k: v for k, v in extra.items() if k not in ("event", "step",
                                                                             "rollout")})
            return out
        if "step" not in rec:
            self._bad(line_no, "a CSV row without a 'step' number")
            return None
        return rec

    def _is_event_line(self, line: bytes) -> bool:
        if self.csv:  # step rows leave the last two columns (event, detail) empty
            return not line.rstrip(b"\r").endswith(b",,") and self.columns is not None \
                and self.columns[-2:] == ["event", "detail"]
        return b'"event"' in line

    # ------------------------------------------------------------------ reading
    def poll(self) -> list[dict]:
        """Every complete record appended since the last poll. Notices a file that appears, and one
        replaced or truncated (restarted = True: the caller starts the run over), and one deleted
        (gone = True; when it comes back it is read from the start, restarted)."""
        self.grew = self.restarted = False
        try:
            st = os.stat(self.path)
        except OSError:
            if self.identity is not None:   # it went away: keep what was read, wait for it
                self.gone = True
            return []
        identity = (st.st_dev, st.st_ino)
        if self.gone or (self.identity is not None and (identity != self.identity
                                                        or st.st_size < self.offset)):
            self._reset_state()
            self.restarted = True
        first = self.identity is None and self.offset == 0
        self.identity = identity
        self.size = st.st_size
        if st.st_size == self.offset:
            self.pending = False
            return []
        try:
            with open(self.path, "rb") as f:
                if first and st.st_size > BIG_FILE:
                    return self._open_big(f, st.st_size)
                data = self._read_lines(f, st.st_size)
        except OSError as e:
            self.first_bad = self.first_bad or (self.line_no + 1, f"unreadable ({e.strerror or e})",
                                                True)
            return []
        return self._consume(data) if data else []

    def _read_lines(self, f, size: int) -> bytes:
        """The next whole lines from the offset (at most POLL_LIMIT bytes of them, or one longer
        line of at most MAX_LINE). A longer line is skipped unread and counted as bad, also while
        it is still being written."""
        if self.skipping:                       # the rest of a line too long to read
            end = _next_newline(f, self.offset, size - self.offset)
            self.grew = True
            if end is None:
                self.offset = size
                return b""
            self.offset, self.skipping = end + 1, False
        f.seek(self.offset)
        data = f.read(POLL_LIMIT)
        if len(data) < POLL_LIMIT or b"\n" in data:
            return data
        end = _next_newline(f, self.offset + len(data), MAX_LINE + 1 - len(data))
        if end is not None and end - self.offset <= MAX_LINE:
            f.seek(self.offset)
            return f.read(end + 1 - self.offset)
        if end is None and size - self.offset <= MAX_LINE:
            return b""                          # a long line, not yet complete: wait for it
        self.line_no += 1
        self._bad(self.line_no, f"a line longer than {MAX_LINE:,} bytes (skipped unread)")
        self.grew = True
        if end is None:
            self.offset, self.skipping = size, True
        else:
            self.offset = end + 1
        return b""

    def _consume(self, data: bytes) -> list[dict]:
        cut = data.rfind(b"\n")
        self.pending = cut < len(data) - 1
        if cut < 0:
            return []   # only part of a line so far: wait for the rest
        self.grew = True
        self.offset += cut + 1
        out = []
        for raw in data[:cut].split(b"\n"):
            self.line_no += 1
            rec = self.parse(raw, self.line_no)
            if rec is not None:
                out.append(rec)
        return out

    def _open_big(self, f, size: int) -> list[dict]:
        """First read of a big file: every event line, an even sample of step lines (by byte
        position), the last step line; bounded memory (a chunk at a time). A clean JSONL chunk is
        scanned only by C-speed byte searches (counting newlines, finding '"event"'); a chunk with
        odd lines (garbage, blank, CRLF) or CSV events is split into lines and checked one by one."""
        self._big = {"out": [], "last_step": None, "last_groups": None,
                     "spacing": max(1, size // SAMPLE_TARGET), "next_sample": 0}
        buf = bytearray(CHUNK)                     # reused: no fresh memory for every chunk
        pos = 0                                    # file offset of data[0]
        tail = False
        while True:
            f.seek(pos)                            # a chunk starts at a line's start
            got = f.readinto(buf)
            if not got:
                break
            end = buf.rfind(b"\n", 0, got) + 1
            if end == 0:
                if got < len(buf):                 # the last line, not yet complete
                    tail = True
                    break
                if len(buf) <= MAX_LINE:
                    buf = bytearray(2 * len(buf))  # a line longer than the buffer
                    continue
                self.line_no += 1                  # longer than any record may be: skipped
                self._bad(self.line_no, f"a line longer than {MAX_LINE:,} bytes (skipped unread)")
                nl = _next_newline(f, pos + got, size - pos - got)
                if nl is None:
                    pos = self.offset = size
                    self.skipping = True
                    break
                self.offset += nl + 1 - pos
                pos = nl + 1
                continue
            data = buf                             # valid up to `end` (beyond: older bytes)
            if self.csv and self.columns is None:     # the header row
                nl = data.find(b"\n")
                self.line_no += 1
                self.parse(bytes(data[:nl]), self.line_no)
                data, end, pos = data[nl + 1:end], end - nl - 1, pos + nl + 1
                self.offset += nl + 1
            if not self._scan_clean(data, end, pos):
                self._scan_lines(data[:end - 1].split(b"\n") if end else [], pos)
            self.offset += end
            pos += end
        big = self._big
        self.pending = tail
        self.grew = True
        last_step, last_groups = big["last_step"], big["last_groups"]
        if last_step:   # the latest state, unless the sample already ended on it
            self.records -= 1
            self.sampled -= 1
        for held in (last_step, last_groups):
            if held:
                rec = self.parse(*held)
                if rec is not None:
                    big["out"].append((held[1], rec))
        out = sorted(big["out"], key=lambda pair: pair[0])
        del self._big
        return [rec for _, rec in out]

    def _keep(self, raw: bytes, line_no: int, event: bool) -> None:
        """An event line (parsed; of groups records only the latest is kept) or a sampled step."""
        big = self._big
        if event and _is_groups_line(raw):
            if big["last_groups"]:
                self.records += 1                  # an earlier one: counted, not read
            big["last_groups"] = (raw, line_no)
            return
        rec = self.parse(raw, line_no)
        if rec is not None:
            big["out"].append((line_no, rec))

    def _scan_clean(self, data: bytes, end: int, pos: int) -> bool:
        """The fast path for data[:end] (whole lines). False, having done nothing, if any line is
        odd (or a CSV chunk holds events): the caller then checks line by line. It makes three
        passes over the bytes (C-speed searches): finding '"event"', counting line ends of the
        right shape ('}\\n' in JSONL, ',,\\n' in CSV step rows), and counting newlines, once,
        on the way to each kept line (which also numbers them)."""
        if self.csv:
            shaped = data.count(b",,\n", 0, end)
        elif data.startswith(b"{"):
            shaped = data.count(b"}\n", 0, end)   # every line ends its object (none blank, CRLF
        else:                                     # or cut off); parsed lines are checked in full
            return False
        big = self._big
        # event lines: wherever '"event"' occurs (step records never hold that key)
        hits: list[tuple[int, int, bool]] = []           # (line start, line end, is event)
        if not self.csv:
            at = data.find(b'"event"', 0, end)
            while at >= 0:
                start = data.rfind(b"\n", 0, at) + 1
                stop = data.find(b"\n", at)
                hits.append((start, stop, True))
                at = data.find(b'"event"', stop, end)
        # sampled step lines: the line holding each sample position
        events = {h[0] for h in hits}
        sample = big["next_sample"]
        while sample < pos + end:
            at = sample - pos
            start = data.rfind(b"\n", 0, at) + 1 if at > 0 else 0
            if start not in events:
                hits.append((start, data.find(b"\n", start), False))
            sample += big["spacing"]
        hits.sort()
        # number the kept lines, counting newlines once from the chunk's start to its end
        kept: list[tuple[int, int, int, bool]] = []      # (start, stop, line number, is event)
        line, counted, prev = self.line_no, 0, -1
        for start, stop, event in hits:
            if start == prev:
                continue
            prev = start
            line += data.count(b"\n", counted, start)
            counted = start
            kept.append((start, stop, line + 1, event))
        n = line - self.line_no + data.count(b"\n", counted, end)
        if shaped != n:
            return False
        big["next_sample"] = sample
        for start, stop, line_no, event in kept:
            self._keep(data[start:stop].rstrip(b"\r"), line_no, event)
        # the last step line: the latest state
        base = self.line_no
        stop = end - 1
        while stop > 0:
            start = data.rfind(b"\n", 0, stop) + 1
            if start not in events:
                if not hits or hits[-1][0] != start:
                    big["last_step"] = (data[start:stop], base + n - (data.count(
                        b"\n", start, end) - 1))
                else:
                    big["last_step"] = None
                break
            stop = start - 1
        unread = n - len(kept)
        self.records += unread              # step lines counted, not parsed: sampled out
        self.sampled += unread
        self.line_no += n
        return True

    def _scan_lines(self, lines: list[bytes], pos: int) -> None:
        """The careful path: every line looked at (a chunk with odd lines, or CSV events)."""
        big = self._big
        base = self.line_no
        self.line_no += len(lines)
        if self.csv:
            has_events = self.columns is not None and self.columns[-2:] == ["event", "detail"]
            events = [i for i, raw in enumerate(lines)
                      if has_events and not raw.rstrip(b"\r").endswith(b",,")]
            odd: list[int] = []
        else:
            events = [i for i, raw in enumerate(lines) if b'"event"' in raw]
            odd = [i for i, raw in enumerate(lines) if raw[:1] != b"{" or raw[-1:] != b"}"]
        skip = set(events)
        for i in events:
            self._keep(lines[i], base + i + 1, True)
        for i in odd:              # blank, CRLF or garbage: the parser decides
            if i not in skip:
                skip.add(i)
                self._keep(lines[i], base + i + 1, False)
        # sample by line index at the same density as the fast path (about one per spacing bytes)
        per_line = max(1, (sum(len(x) for x in lines[:100]) + 100) // min(len(lines), 100) or 1)
        stride = max(1, big["spacing"] // per_line)
        sample = [i for i in range(0, len(lines), stride) if i not in skip]
        for i in sample:
            self._keep(lines[i], base + i + 1, False)
        unread = len(lines) - len(skip) - len(sample)
        self.records += unread
        self.sampled += unread
        last = next((i for i in range(len(lines) - 1, -1, -1) if i not in skip), None)
        if last is not None:
            big["last_step"] = None if sample and sample[-1] == last else \
                (lines[last], base + last + 1)


def _next_newline(f, start: int, limit: int) -> int | None:
    """The file offset of the first newline at or after `start`, looking at most `limit` bytes
    (a chunk at a time); None if there is none there."""
    pos, left = start, max(0, limit)
    f.seek(start)
    while left > 0:
        chunk = f.read(min(CHUNK, left))
        if not chunk:
            return None
        i = chunk.find(b"\n")
        if i >= 0:
            return pos + i
        pos += len(chunk)
        left -= len(chunk)
    return None


def _is_groups_line(raw: bytes) -> bool:
    return (b'"event": "groups"' in raw or b'"event":"groups"' in raw
            or raw.startswith(b"groups,") or b",groups," in raw)
