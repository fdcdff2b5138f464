"""TensorBoard event files, read fast: the TFRecord framing is walked in Python (a few hundred
nanoseconds a record) and only the records kept are parsed, each with the `tensorboard` package's own
protobuf `Event` class (an optional extra: `pip install 'grpotui[tb]'`).

A TFRecord file is a run of records, each

    uint64 length (little-endian) | uint32 masked CRC-32C of those 8 bytes | payload | uint32 masked
    CRC-32C of the payload

(the framing TensorFlow's RecordWriter and tensorboard's own writer use). TensorBoard's
EventAccumulator parses every record; a file of a million scalars then takes tens of seconds
(DESIGN.md section 8). Here, as the JSONL reader samples a big metrics file's lines:

- every record's header is walked and its length CRC checked (vectorised with numpy);
- when more than PARSE_ALL records are new, an even sample of them is parsed: at each sample, the
  whole block of records that share its step (a Trainer logs all its metrics at one step in a row),
  plus the first records (the file version, the run's settings text) and the last block (the latest
  state); otherwise every new record is parsed;
- a parsed record's payload CRC is checked first; a record that fails either check is skipped, the
  framing is found again after it (the next offset whose 8 bytes match their CRC), and the first
  such place is reported once (`problem`), with a count;
- a last record not yet complete (the writer is mid-write) is waited for, not reported;
- the new bytes are read (not memory-mapped: a mapped page cut off by a writer that truncates the
  file would kill the process with SIGBUS), READ_CHUNK bytes at a time at most, and not kept after
  the poll; a file that shrinks while it is read just yields fewer bytes (its last record waits).

    reader = EventFileReader("runs/x/events.out.tfevents.1700000000.host.1.0")
    for block in reader.poll():          # every block of scalars appended since the last poll
        block.step, block.wall_time, block.values   # {tag: float}, texts: {tag: str}

Scalars are what `SummaryWriter.add_scalar` writes: a summary value's `simple_value`, or a tensor of
one number (new_style=True, TF2's summary ops), read with tensorboard's `make_ndarray`.
"""

from __future__ import annotations

import os
import struct
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

INSTALL = "pip install 'grpotui[tb]' (or: pip install tensorboard)"
PARSE_ALL = 20_000        # new records parsed one by one up to this many; more are sampled
SAMPLE_BLOCKS = 4000      # blocks (steps) parsed when a big file is sampled, at most
PARSE_BUDGET = 60_000     # records parsed around the samples (fewer samples for wide steps)
FIRST = 16                # records always parsed at a file's start (file version, settings text)
MAX_BLOCK = 2000          # records of one step looked at around a sample
MAX_PARSE = 1 << 20       # bytes: a bigger record (an image, a graph) is never a scalar: not parsed
RESYNC_WINDOW = 1 << 20   # bytes searched at a time for the next valid header after a bad one
READ_CHUNK = 1 << 28      # bytes read (and walked, parsed) at a time: a bigger file takes several
TEXT_TAGS = ("args/text_summary",)   # text kept: the Hugging Face Trainer's settings (JSON)
MAX_TEXT = 1 << 20        # characters of a kept text
_HEADER = 12
_U64 = struct.Struct("<Q").unpack_from
_U32 = struct.Struct("<I").unpack_from


class MissingTensorboard(ImportError):
    """The tensorboard package is not installed: the message says how to install it."""


def event_class():
    """tensorboard's protobuf Event class (raises MissingTensorboard with one line if absent)."""
    try:
        from tensorboard.compat.proto import event_pb2
    except ImportError:
        raise MissingTensorboard(f"reading TensorBoard event files needs the tensorboard package: "
                                 f"{INSTALL}") from None
    return event_pb2.Event


# ------------------------------------------------------------------------------- CRC-32C (masked)
def _table() -> np.ndarray:
    t = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        t = np.where(t & 1, (t >> np.uint32(1)) ^ np.uint32(0x82F63B78), t >> np.uint32(1))
    return t.astype(np.uint32)


_TABLE = _table()
_TABLE_LIST = [int(x) for x in _TABLE]


def _mask(crc):
    """TFRecord's masking of a CRC (numpy uint32 arrays or ints)."""
    if isinstance(crc, np.ndarray):
        crc = crc.astype(np.uint32)
        return ((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(0xA282EAD8)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def crc_rows(rows: np.ndarray) -> np.ndarray:
    """The masked CRC-32C of each row of a uint8 array [N, L] (one numpy pass per column)."""
    crc = np.full(rows.shape[0], 0xFFFFFFFF, dtype=np.uint32)
    for j in range(rows.shape[1]):
        crc = _TABLE[(crc ^ rows[:, j]) & np.uint32(0xFF)] ^ (crc >> np.uint32(8))
    return _mask(crc ^ np.uint32(0xFFFFFFFF))


def masked_crc(data: bytes) -> int:
    """The masked CRC-32C of one byte string (a Python loop: for single or long records)."""
    crc, table = 0xFFFFFFFF, _TABLE_LIST
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return _mask(crc ^ 0xFFFFFFFF)


def _u32_at(a: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Little-endian uint32 values at byte offsets `at` of a uint8 array."""
    return (a[at].astype(np.uint32) | (a[at + 1].astype(np.uint32) << np.uint32(8))
            | (a[at + 2].astype(np.uint32) << np.uint32(16))
            | (a[at + 3].astype(np.uint32) << np.uint32(24)))


def _headers_ok(a: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Whether each header at byte offsets `pos` (each with 12 bytes in `a`) matches its CRC."""
    out = np.empty(len(pos), dtype=bool)
    for s in range(0, len(pos), 1 << 18):          # bounded temporary memory
        p = pos[s:s + (1 << 18)]
        rows = a[p[:, None] + np.arange(8)]
        out[s:s + len(p)] = crc_rows(rows) == _u32_at(a, p + 8)
    return out


def frame(payloads: list[bytes]) -> bytes:
    """TFRecord framing of payloads (CRCs computed together for payloads of one length): what
    tensorboard's own RecordWriter writes, fast enough to make a file of a million records."""
    n = len(payloads)
    lengths = np.fromiter((len(p) for p in payloads), dtype=np.uint64, count=n)
    heads = lengths.astype("<u8").view(np.uint8).reshape(n, 8)
    head_crc = crc_rows(heads)
    data_crc = np.zeros(n, dtype=np.uint32)
    for length in np.unique(lengths):
        idx = np.nonzero(lengths == length)[0]
        rows = np.frombuffer(b"".join(payloads[i] for i in idx), dtype=np.uint8).reshape(
            len(idx), int(length))
        data_crc[idx] = crc_rows(rows)
    hc, dc = head_crc.astype("<u4").tobytes(), data_crc.astype("<u4").tobytes()
    hb = heads.tobytes()
    parts = []
    for i, p in enumerate(payloads):
        parts += (hb[8 * i:8 * i + 8], hc[4 * i:4 * i + 4], p, dc[4 * i:4 * i + 4])
    return b"".join(parts)


def scalar_payloads(rows, start_wall: float = 1.7e9, version: bool = True) -> list[bytes]:
    """Serialised Events as SummaryWriter.add_scalar writes them (one value per event), for rows of
    (step, {tag: value}); with `version`, the file-version event first. Protobuf messages merge when
    concatenated, so each step's wall time and step are serialised once and joined with each
    value's summary."""
    Event = event_class()
    from tensorboard.compat.proto import summary_pb2

    out = []
    if version:
        out.append(Event(wall_time=start_wall, file_version="brain.Event:2").SerializeToString())
    summaries: dict = {}
    for i, (step, values) in enumerate(rows):
        head = Event(wall_time=start_wall + 0.01 * (i + 1), step=step).SerializeToString()
        for tag, v in values.items():
            key = (tag, v)
            s = summaries.get(key)
            if s is None:
                s = summaries[key] = Event(summary=summary_pb2.Summary(value=[
                    summary_pb2.Summary.Value(tag=tag, simple_value=v)])).SerializeToString()
                if len(summaries) > 100_000:
                    summaries.clear()
            out.append(head + s)
    return out


def write_scalars(path: str | Path, rows, start_wall: float = 1.7e9) -> None:
    """An event file of scalars (see scalar_payloads), framed by frame()."""
    with open(path, "wb") as f:
        f.write(frame(scalar_payloads(rows, start_wall)))


# ------------------------------------------------------------------------------------ reading
@dataclass
class Block:
    """The scalars (and kept texts) of consecutive records at one step, each tag once (a tag seen
    again at the same step starts a new block: the Trainer logs its summary at the last step)."""
    step: int
    wall_time: float
    values: dict = field(default_factory=dict)
    texts: dict = field(default_factory=dict)


class EventFileReader:
    """One event file, followed as it grows. Read-only: opened "rb", only its new bytes read."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.Event = event_class()
        from google.protobuf.message import DecodeError

        self._decode_error = DecodeError
        self._ndarray = None
        self._base = 0               # the file offset of the buffer being read (for messages)
        self._reset()

    def _reset(self) -> None:
        self.offset = 0              # end of the last complete record read
        self.identity: tuple[int, int] | None = None
        self.gone = False            # it existed and was deleted
        self.records = 0             # complete records walked
        self.parsed = 0              # records parsed
        self.corrupt = 0             # places skipped for a failed CRC or an unreadable record
        self.first_corrupt: str | None = None
        self.pending = False         # a last record not yet complete
        self.grew = False
        self.restarted = False
        self.start_wall: float | None = None

    @property
    def exists(self) -> bool:
        return self.identity is not None and not self.gone

    @property
    def problem(self) -> str | None:
        if not self.first_corrupt:
            return None
        more = f" ({self.corrupt} places in all)" if self.corrupt > 1 else ""
        return f"{self.path}: {self.first_corrupt}{more}; skipped, the rest is shown."

    def _bad(self, why: str) -> None:
        self.corrupt += 1
        if self.first_corrupt is None:
            self.first_corrupt = why

    def poll(self) -> list[Block]:
        """Every block of scalars appended since the last poll (sampled if very many)."""
        self.grew = self.restarted = False
        try:
            st = os.stat(self.path)
        except OSError:
            if self.identity is not None:
                self.gone = True
            return []
        identity = (st.st_dev, st.st_ino)
        if self.gone or (self.identity is not None and (identity != self.identity
                                                        or st.st_size < self.offset)):
            self._reset()
            self.restarted = True
        self.identity = identity
        if st.st_size <= self.offset:
            self.pending = False
            return []
        out: list[Block] = []
        try:
            f = open(self.path, "rb")
        except OSError as e:
            self._unreadable(e)
            return out
        with f:
            chunk = READ_CHUNK
            while self.offset < st.st_size:
                base, saved = self.offset, (self.corrupt, self.first_corrupt)
                want = min(chunk, st.st_size - base)
                try:
                    f.seek(base)
                    data = f.read(want)         # fewer bytes if the file shrank meanwhile
                except OSError as e:
                    self._unreadable(e)
                    break
                if not data:
                    self.pending = True
                    break
                out += self._read(data, base)
                got = len(data)
                del data                        # the buffer is not kept after the poll
                if got < want or base + got >= st.st_size:
                    break
                if self.offset == base:         # nothing whole in a chunk: read a bigger one
                    self.corrupt, self.first_corrupt = saved
                    chunk *= 2
        return out

    def _unreadable(self, e: OSError) -> None:
        if self.first_corrupt is None:
            self.first_corrupt = f"unreadable ({e.strerror or e})"

    # ------------------------------------------------------------------ the framing
    def _walk(self, m, a: np.ndarray, base: int) -> tuple[np.ndarray, np.ndarray]:
        """Positions (in `m`, which holds the file's bytes from `base` on) and lengths of the
        complete, header-valid records from the offset on; moves the offset past them (and past
        corrupt stretches), sets `pending`."""
        all_pos, all_len = [], []
        size = len(m)
        pos = self.offset - base
        self.pending = False
        while pos + _HEADER <= size:
            found = array("q")
            ap = found.append
            p, last = pos, size - _HEADER
            while p <= last:
                ap(p)
                p += _U64(m, p)[0] + 16
            P = np.frombuffer(found, dtype=np.int64)
            ok = _headers_ok(a, P)
            bad = int(np.argmin(ok)) if not ok.all() else len(P)
            P = P[:bad]
            L = np.empty(len(P), dtype=np.int64)  # each length from the next position walked
            L[:-1] = np.diff(P) - 16
            L[-1:] = _lengths(a, P[-1:])
            complete = P + L + 16 <= size
            if not complete.all():               # the last valid record is not yet whole
                k = int(np.argmin(complete))
                all_pos.append(P[:k])
                all_len.append(L[:k])
                self.offset = base + int(P[k])
                self.pending = True
                break
            all_pos.append(P)
            all_len.append(L)
            if bad == len(ok):
                self.offset = base + (int(P[-1] + L[-1] + 16) if len(P) else pos)
                if p > last and p < size:        # a header of fewer than 12 bytes so far
                    self.pending = True
                break
            at = int(found[bad])                 # a header that fails its CRC
            self._bad(f"a record at byte {base + at:,} fails its length check (CRC)")
            nxt = self._resync(a, at + 1, size)
            if nxt is None:                      # nothing valid after it (yet): wait there
                self.offset = base + at
                self.pending = True
                break
            pos = nxt
            self.offset = base + nxt
        else:
            if pos < size:
                self.pending = True
        if not all_pos:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate(all_pos), np.concatenate(all_len)

    def _resync(self, a: np.ndarray, start: int, size: int) -> int | None:
        """The first offset at or after `start` whose 8 bytes match the CRC after them."""
        s = start
        while s + _HEADER <= size:
            e = min(size - _HEADER + 1, s + RESYNC_WINDOW)
            ok = _headers_ok(a, np.arange(s, e, dtype=np.int64))
            if ok.any():
                return s + int(np.argmax(ok))
            s = e
        return None

    # ------------------------------------------------------------------ choosing and parsing
    def _read(self, m: bytes, base: int) -> list[Block]:
        """The blocks of the whole records in `m`: the file's bytes from `base` (the offset) on."""
        a = np.frombuffer(m, dtype=np.uint8)
        self._base = base
        try:
            before = self.offset
            P, L = self._walk(m, a, base)
            if self.offset != before:
                self.grew = True
            n = len(P)
            first_read = self.records == 0
            self.records += n
            if not n:
                return []
            if n <= PARSE_ALL:
                return self._blocks(m, a, P, L, list(range(n)))
            return self._sampled(m, a, P, L, first_read)
        finally:
            del a

    def _sampled(self, m, a, P, L, first_read: bool) -> list[Block]:
        """Whole steps at evenly spaced records (as many as PARSE_BUDGET records allow, at most
        SAMPLE_BLOCKS), the first records, the last step. The records around each sample are
        checked and parsed together (a step's records are B in a row: B from the last step)."""
        n = len(P)
        keep: set[int] = set(range(min(FIRST, n))) if first_read else set()
        cache = self._parse_many(m, a, P, L, range(max(0, n - 256), n))

        def step_of(i: int):
            if i not in cache:
                cache[i] = self._parse_one(m, a, int(P[i]), int(L[i]))
            e = cache[i]
            return e.step if e is not None and _has_values(e) else None

        def block_at(i: int) -> tuple[int, int]:
            s = step_of(i)
            if s is None:
                keep.add(i)
                return i, i
            lo = i
            while lo > 0 and i - lo < MAX_BLOCK and step_of(lo - 1) == s:
                lo -= 1
            hi = i
            while hi < n - 1 and hi - i < MAX_BLOCK and step_of(hi + 1) == s:
                hi += 1
            keep.update(range(lo, hi + 1))
            return lo, hi

        lo, hi = block_at(n - 1)
        width = min(hi - lo + 1, 256) + 1
        blocks = max(1, min(SAMPLE_BLOCKS, PARSE_BUDGET // (2 * width + 1)))
        centres = [int(k * n / blocks) for k in range(blocks)]
        near = sorted({j for c in centres for j in range(max(0, c - width), min(n, c + width + 1))}
                      - cache.keys())
        cache.update(self._parse_many(m, a, P, L, near))
        for c in centres:
            block_at(c)
        return self._blocks(m, a, P, L, sorted(keep), cache)

    def _parse_one(self, m, a, pos: int, length: int):
        """One record's Event after its payload CRC, or None (counted and reported once)."""
        if length > MAX_PARSE:
            return None
        data = m[pos + _HEADER:pos + _HEADER + length]
        if masked_crc(data) != _U32(m, pos + _HEADER + length)[0]:
            self._bad(f"a record at byte {self._base + pos:,} fails its data check (CRC)")
            return None
        return self._decode(data, pos)

    def _decode(self, data: bytes, pos: int):
        try:
            e = self.Event.FromString(data)
        except (self._decode_error, ValueError, RuntimeError):
            self._bad(f"a record at byte {self._base + pos:,} is not a TensorBoard event")
            return None
        self.parsed += 1
        return e

    def _parse_many(self, m, a, P, L, idx) -> dict:
        """Records idx's Events (None: too big, or failing their CRC or parse), their payload
        CRCs checked together, one numpy pass per length."""
        todo = [i for i in idx if L[i] <= MAX_PARSE]
        events: dict = {i: None for i in idx}
        if not todo:
            return events
        ti = np.array(todo, dtype=np.int64)
        tl, tp = L[ti], P[ti]
        ok = np.zeros(len(ti), dtype=bool)
        for length in np.unique(tl):
            sel = np.nonzero(tl == length)[0]
            if length > 4096 or len(sel) == 1:
                for j in sel:
                    p = int(tp[j])
                    ok[j] = masked_crc(m[p + _HEADER:p + _HEADER + int(length)]) == \
                        _U32(m, p + _HEADER + int(length))[0]
                continue
            starts = tp[sel] + _HEADER
            rows = a[starts[:, None] + np.arange(int(length))]
            ok[sel] = crc_rows(rows) == _u32_at(a, starts + int(length))
        for j, i in enumerate(todo):
            p, length = int(tp[j]), int(tl[j])
            if not ok[j]:
                self._bad(f"a record at byte {self._base + p:,} fails its data check (CRC)")
                continue
            events[i] = self._decode(m[p + _HEADER:p + _HEADER + length], p)
        return events

    def _blocks(self, m, a, P, L, idx: list[int], cache: dict | None = None) -> list[Block]:
        events = dict(cache or {})
        events.update(self._parse_many(m, a, P, L, [i for i in idx if i not in events]))
        out: list[Block] = []
        for i in idx:
            e = events.get(i)
            if e is None:
                continue
            if self.start_wall is None and e.wall_time:
                self.start_wall = e.wall_time
            if not e.HasField("summary"):
                continue
            values, texts = self._values(e)
            if not values and not texts:
                continue
            if out and out[-1].step == e.step and not (values.keys() & out[-1].values.keys()):
                out[-1].values.update(values)
                out[-1].texts.update(texts)
                out[-1].wall_time = e.wall_time
            else:
                out.append(Block(e.step, e.wall_time, values, texts))
        return out

    def _values(self, e) -> tuple[dict, dict]:
        values, texts = {}, {}
        for v in e.summary.value:
            kind = v.WhichOneof("value")
            if kind == "simple_value":
                values[v.tag] = v.simple_value
            elif kind == "tensor":
                t = v.tensor
                if v.tag in TEXT_TAGS:
                    if len(t.string_val) == 1:
                        texts[v.tag] = t.string_val[0][:MAX_TEXT].decode("utf-8", "replace")
                    continue
                x = self._tensor_scalar(t)
                if x is not None:
                    values[v.tag] = x
        return values, texts

    def _tensor_scalar(self, t) -> float | None:
        """A tensor of exactly one number (new-style scalars), via tensorboard's make_ndarray."""
        count = 1
        for d in t.tensor_shape.dim:
            count *= d.size
        if count != 1 or t.dtype in (0, 7, 10):   # invalid, string, bool
            return None
        if self._ndarray is None:
            from tensorboard.util.tensor_util import make_ndarray

            self._ndarray = make_ndarray
        try:
            arr = self._ndarray(t)
            if arr.size != 1 or arr.dtype.kind not in "fiu":
                return None
            return float(arr.reshape(-1)[0])
        except Exception:                          # noqa: BLE001 - a hostile tensor: not a scalar
            return None


def _lengths(a: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Little-endian uint64 lengths at byte offsets P (vectorised)."""
    out = np.zeros(len(P), dtype=np.uint64)
    for k in range(8):
        out |= a[P + k].astype(np.uint64) << np.uint64(8 * k)
    return np.minimum(out, np.uint64(1 << 62)).astype(np.int64)


def _has_values(e) -> bool:
    return e.HasField("summary") and len(e.summary.value) > 0
