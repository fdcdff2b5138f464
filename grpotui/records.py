"""The one boundary for records read from metrics files: what a step, event, groups and start record
may hold. Anything from outside passes through `check(record)` before any panel, plot or run sees it.

    rec, flaws = check(json.loads(line))   # rec: a clean record, or None (skipped; flaws[0] says why)

What comes out (everything else is dropped, and `flaws` names what was):
- a step record (no "event"): {"step": number, KEY: number, ...}; every value a finite number within
  ±MAX_VALUE (numeric text, as in CSV files, is read as its number); text and nulls are left out
  silently (they are allowed, just not plotted), bools, lists, objects and absurd or non-finite numbers
  are dropped with a flaw; keys are text of at most MAX_NAME characters.
- an event record: {"event": name, ...}: "step" and "rollout" (when present) are numbers within
  ±MAX_STEP, else the record is skipped; then per kind:
    start     config (settings: text keys, values simple()), preset (text), control ({"file": text,
              "settings": {name: number | text | list of numbers}}), note (text)
    set       key (text, required), old, new (simple()), id (a whole number or None)
    refused   key (text or None), value (simple()), message (text), id (a whole number or None)
    queued    changes ({name: simple()})
    groups    groups (the groups panel's dict, checked shape by shape: see check_groups), else the
              record is skipped
    stop      reason (text), summary ({name: number})
    system    time (a number) and system/* metrics ({name: number}, at most MAX_SYSTEM of them;
              grpotui/sysmetrics.py): anything else under system/ is dropped with a flaw
    any kind  message, reason, preset, note, part (text); rollouts (a number); fatal (a bool:
              an error event of the TRL integration's own part, with training going on, is
              "fatal": false)
- simple(): None, a bool, a finite number within ±MAX_VALUE, text (cut at MAX_TEXT characters), or a
  list of at most MAX_LIST of those; anything else becomes its short JSON text.
Records nested deeper than MAX_DEPTH are skipped (json.loads itself raises RecursionError on very deep
ones; the reader turns that into a skipped line too).
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_VALUE = 1e100      # beyond this a number is no metric: it would overflow a plot's arithmetic
MAX_STEP = 1e15        # steps and rollouts (exact as floats, and int() of them is cheap)
MAX_NAME = 10_000      # characters in a metric or setting name
MAX_TEXT = 4_000       # characters kept of a text value (messages, settings)
MAX_LIST = 1_000       # items in a settings or event value list
MAX_KEYS = 2_000       # keys in a step record or a config
MAX_DEPTH = 8          # nesting of a record (groups: record, groups, B, G, n is 5)
MAX_TOKEN = 10**12     # a token id's magnitude
MAX_EVENT = 64         # characters in an event's name
MAX_SYSTEM = 64        # system/* metrics in a system record
MAX_SYSTEM_NAME = 200  # characters in a system metric's name


class Skip(Exception):
    """The whole record is unusable: the message says why."""


def number(v: Any) -> float | None:
    """A finite number within ±MAX_VALUE (numbers and numeric text); None for anything else."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, str):
        if len(v) > 64:
            return None
        try:
            v = float(v)
        except ValueError:
            return None
    if isinstance(v, int):
        return float(v) if abs(v) <= MAX_VALUE else None
    if isinstance(v, float) and math.isfinite(v) and abs(v) <= MAX_VALUE:
        return v
    return None


def _describe(v: Any) -> str:
    """A value quoted in a flaw message: short, one line."""
    try:
        s = json.dumps(v, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        s = type(v).__name__
    return s if len(s) <= 40 else s[:37] + "..."


def _name(k: Any) -> str:
    return k if len(k) <= 40 else k[:37] + "..."


def depth(v: Any, limit: int = MAX_DEPTH) -> int:
    """How deeply `v` nests lists and dicts, counting at most to limit + 1 (no recursion)."""
    deepest, stack = 0, [(v, 1)]
    while stack:
        x, d = stack.pop()
        if isinstance(x, (list, dict)):
            deepest = max(deepest, d)
            if d > limit:
                return d
            stack.extend((y, d + 1) for y in (x.values() if isinstance(x, dict) else x))
    return deepest


def text(v: Any, limit: int = MAX_TEXT) -> str | None:
    if not isinstance(v, str):
        return None
    return v if len(v) <= limit else v[:limit - 1] + "…"


def simple(v: Any) -> Any:
    """A settings or event value as something every panel can show (see the module's doc)."""
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return number(v) if number(v) is not None else _describe(v)
    if isinstance(v, str):
        return text(v)
    if isinstance(v, list) and len(v) <= MAX_LIST and all(
            x is None or isinstance(x, (bool, str)) or number(x) is not None for x in v):
        return [text(x) if isinstance(x, str) else x for x in v]
    s = _describe(v)
    return s


def _id(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and abs(v) <= MAX_STEP else None


def _position(rec: dict, out: dict) -> None:
    for k in ("step", "rollout"):
        if k in rec and rec[k] is not None:
            x = number(rec[k])
            if x is None or abs(x) > MAX_STEP:
                raise Skip(f"its '{k}' {_describe(rec[k])} is not a number from -1e15 to 1e15")
            out[k] = int(x) if x == int(x) else x


def check(rec: Any) -> tuple[dict | None, list[str]]:
    """A record as read (any JSON value) -> (the clean record, or None; what was wrong)."""
    if not isinstance(rec, dict):
        return None, [f"a JSON {type(rec).__name__}, not an object"]
    if depth(rec) > MAX_DEPTH:
        return None, [f"nested deeper than {MAX_DEPTH} levels"]
    flaws: list[str] = []
    try:
        if "event" in rec:
            return _event(rec, flaws), flaws
        return _step(rec, flaws), flaws
    except Skip as e:
        return None, [str(e)]


def _step(rec: dict, flaws: list[str]) -> dict:
    step = number(rec.get("step"))
    if step is None or abs(step) > MAX_STEP:
        if "step" not in rec:
            raise Skip("a JSON object with neither 'step' nor 'event'")
        raise Skip(f"its 'step' {_describe(rec.get('step'))} is not a number from -1e15 to 1e15")
    if len(rec) > MAX_KEYS:
        raise Skip(f"{len(rec)} keys (at most {MAX_KEYS})")
    out: dict[str, float] = {}
    for k, v in rec.items():
        if v is None or (isinstance(v, str) and number(v) is None):
            continue        # text and nulls: allowed, not plotted
        if len(k) > MAX_NAME:
            flaws.append(f"a key of {len(k)} characters (at most {MAX_NAME}) was dropped")
            continue
        x = number(v)
        if x is None:
            flaws.append(f"'{_name(k)}' {_describe(v)} is not a finite number within ±1e100 "
                         f"(dropped)")
            continue
        out[k] = x
    return out


def _event(rec: dict, flaws: list[str]) -> dict:
    kind = rec["event"]
    if not isinstance(kind, str) or not kind or len(kind) > MAX_EVENT:
        raise Skip("its 'event' is not a name")
    out: dict[str, Any] = {"event": kind}
    _position(rec, out)
    if "id" in rec:
        out["id"] = _id(rec["id"])
    if isinstance(rec.get("fatal"), bool):     # an error event: False when training goes on
        out["fatal"] = rec["fatal"]
    for k in ("message", "reason", "preset", "note", "part"):
        if k in rec and rec[k] is not None:
            t = text(rec[k])
            if t is None:
                flaws.append(f"its '{k}' is not text (dropped)")
            else:
                out[k] = t
    if number(rec.get("rollouts")) is not None:
        out["rollouts"] = number(rec["rollouts"])
    if kind == "start":
        _start(rec, out, flaws)
    elif kind == "set":
        if not isinstance(rec.get("key"), str) or len(rec["key"]) > MAX_NAME:
            raise Skip("a 'set' event whose 'key' is not a setting name")
        out.update(key=rec["key"], old=simple(rec.get("old")), new=simple(rec.get("new")))
    elif kind == "refused":
        key = rec.get("key")
        out.update(key=key if isinstance(key, str) and len(key) <= MAX_NAME else None,
                   value=simple(rec.get("value")))
        out.setdefault("message", "refused")
    elif kind == "queued":
        changes = rec.get("changes")
        out["changes"] = ({str(k)[:MAX_NAME]: simple(v) for k, v in list(changes.items())[:MAX_LIST]}
                          if isinstance(changes, dict) else {})
    elif kind == "groups":
        out["groups"] = check_groups(rec.get("groups"))
    elif kind == "stop":
        summary = rec.get("summary")
        if isinstance(summary, dict):
            out["summary"] = {k: number(v) for k, v in list(summary.items())[:MAX_KEYS]
                              if len(k) <= MAX_NAME and number(v) is not None}
    elif kind == "system":
        _system(rec, out, flaws)
    return out


def _system(rec: dict, out: dict, flaws: list[str]) -> None:
    """A system record's time and system/* metrics (finite numbers, short names)."""
    if "time" in rec:
        if number(rec["time"]) is None:
            flaws.append(f"its 'time' {_describe(rec['time'])} is not a number (dropped)")
        else:
            out["time"] = number(rec["time"])
    kept = 0
    for k, v in rec.items():
        if not k.startswith("system/"):
            continue
        if len(k) > MAX_SYSTEM_NAME:
            flaws.append(f"a system metric name of {len(k)} characters (at most "
                         f"{MAX_SYSTEM_NAME}) was dropped")
        elif number(v) is None:
            flaws.append(f"'{_name(k)}' {_describe(v)} is not a finite number within ±1e100 "
                         f"(dropped)")
        elif kept >= MAX_SYSTEM:
            flaws.append(f"more than {MAX_SYSTEM} system metrics (the rest dropped)")
            break
        else:
            out[k] = number(v)
            kept += 1


def _start(rec: dict, out: dict, flaws: list[str]) -> None:
    cfg = rec.get("config")
    if cfg is not None and not isinstance(cfg, dict):
        flaws.append("its 'config' is not an object (dropped)")
    config: dict[str, Any] = {}
    for k, v in list((cfg or {}).items())[:MAX_KEYS]:
        if len(k) <= MAX_NAME:
            config[k] = simple(v)
    for k in ("reward_funcs",):          # names the panels list: text only
        if k in config and not (isinstance(config[k], list)
                                and all(isinstance(x, str) for x in config[k])):
            flaws.append(f"its config's '{k}' is not a list of names (dropped)")
            del config[k]
    for k in ("reward_weights",):
        if k in config and not (isinstance(config[k], list)
                                and all(number(x) is not None for x in config[k])):
            flaws.append(f"its config's '{k}' is not a list of numbers (dropped)")
            del config[k]
    out["config"] = config
    ctl = rec.get("control")
    if isinstance(ctl, dict):
        settings = {}
        raw = ctl.get("settings")
        for k, v in (list(raw.items())[:MAX_LIST] if isinstance(raw, dict) else []):
            if len(k) > MAX_NAME:
                continue
            if number(v) is not None:
                settings[k] = number(v)
            elif isinstance(v, str):
                settings[k] = text(v)
            elif isinstance(v, list) and len(v) <= MAX_LIST and all(number(x) is not None for x in v):
                settings[k] = [number(x) for x in v]
            else:
                flaws.append(f"its steerable setting '{_name(k)}' {_describe(v)} is not a number, "
                             f"text or list of numbers (dropped)")
        out["control"] = {"file": text(ctl.get("file")) or "", "settings": settings}
    elif ctl is not None:
        flaws.append("its 'control' is not an object (dropped)")


# ----------------------------------------------------------------------------------------- groups
def _matrix(v: Any, b: int, g: int, what: str) -> list[list[float]]:
    """A B x G table of finite numbers."""
    if not isinstance(v, list) or len(v) != b:
        raise Skip(f"its groups' '{what}' is not a list of {b} rows")
    out = []
    for row in v:
        if not isinstance(row, list) or len(row) != g:
            raise Skip(f"its groups' '{what}' rows are not lists of {g} numbers")
        out.append(_finite(row, what))
    return out


def _finite(values: list, what: str) -> list[float]:
    """Every value as a finite number, or Skip naming the table."""
    xs = [number(x) for x in values]
    if any(x is None for x in xs):
        raise Skip(f"its groups' '{what}' holds a value that is not a finite number")
    return xs


def _tokens(v: Any, what: str) -> list:
    if not isinstance(v, list) or len(v) > MAX_LIST:
        raise Skip(f"its groups' '{what}' holds a response that is not a list of tokens")
    for t in v:
        if isinstance(t, bool) or not (isinstance(t, int) and abs(t) <= MAX_TOKEN
                                       or isinstance(t, str) and len(t) <= 100):
            raise Skip(f"its groups' '{what}' holds a token {_describe(t)} that is neither a "
                       f"whole number nor a short text")
    return list(v)


def check_groups(g: Any) -> dict:
    """A groups dict (worker._groups_dict's, or the TRL integration's), checked: prompts and targets
    (B), responses, rewards and deltas (B x G), and the optional ratios (B x G), components ({name:
    B x G}), position_deltas and token_probs (B x G x the response's length), token_ratios and
    token_deltas (two lists of numbers of one length), reward_weights (numbers), stopped (B x G
    bools: variable length, whether each response wrote its EOS). Raises Skip."""
    if not isinstance(g, dict):
        raise Skip("a 'groups' event without a groups object")
    prompts, responses = g.get("prompts"), g.get("responses")
    if not isinstance(prompts, list) or not prompts:
        raise Skip("its groups have no prompts")
    b = len(prompts)
    if not isinstance(responses, list) or len(responses) != b:
        raise Skip(f"its groups' 'responses' is not a list of {b} groups")
    if not isinstance(responses[0], list) or not responses[0]:
        raise Skip("its groups' 'responses' holds an empty group")
    gsize = len(responses[0])
    text_mode = isinstance(prompts[0], str)
    out: dict[str, Any] = {}
    if text_mode:
        if not all(isinstance(p, str) for p in prompts):
            raise Skip("its groups' prompts mix text and tokens")
        out["prompts"] = [text(p) for p in prompts]
    else:
        out["prompts"] = [_tokens(p, "prompts") for p in prompts]
    rows = []
    for row in responses:
        if not isinstance(row, list) or len(row) != gsize:
            raise Skip(f"its groups' 'responses' rows are not lists of {gsize} responses")
        if text_mode:
            if not all(isinstance(r, str) for r in row):
                raise Skip("its groups' text responses are not all text")
            rows.append([text(r) for r in row])
        else:
            rows.append([_tokens(r, "responses") for r in row])
    out["responses"] = rows
    out["rewards"] = _matrix(g.get("rewards"), b, gsize, "rewards")
    out["deltas"] = _matrix(g.get("deltas"), b, gsize, "deltas")
    targets = g.get("targets")
    if targets is not None:
        if not isinstance(targets, list) or len(targets) != b:
            raise Skip(f"its groups' 'targets' is not a list of {b}")
        out["targets"] = ([text(t) if isinstance(t, str) else "" for t in targets] if text_mode
                          else [_tokens(t, "targets") for t in targets])
    if g.get("ratios") is not None:
        out["ratios"] = _matrix(g["ratios"], b, gsize, "ratios")
    comps = g.get("components")
    if comps is not None:
        if not isinstance(comps, dict) or len(comps) > 64:
            raise Skip("its groups' 'components' is not an object of reward parts")
        out["components"] = {k[:200]: _matrix(v, b, gsize, f"components/{_name(k)}")
                             for k, v in comps.items()}
    for key in ("position_deltas", "token_probs"):
        v = g.get(key)
        if v is None:
            continue
        if text_mode or not isinstance(v, list) or len(v) != b:
            raise Skip(f"its groups' '{key}' is not one list per prompt")
        table = []
        for bi, row in enumerate(v):
            if not isinstance(row, list) or len(row) != gsize:
                raise Skip(f"its groups' '{key}' rows are not lists of {gsize}")
            cells = []
            for gi, per_token in enumerate(row):
                n = len(rows[bi][gi])
                if not isinstance(per_token, list) or len(per_token) != n:
                    raise Skip(f"its groups' '{key}' does not hold one number per response token")
                cells.append(_finite(per_token, key))
            table.append(cells)
        out[key] = table
    tr, td = g.get("token_ratios"), g.get("token_deltas")
    if tr is not None or td is not None:
        if not (isinstance(tr, list) and isinstance(td, list) and len(tr) == len(td)):
            raise Skip("its groups' 'token_ratios' and 'token_deltas' are not two lists of one "
                       "length")
        xs, ds = [number(x) for x in tr], [number(x) for x in td]
        if any(x is None for x in xs + ds):
            raise Skip("its groups' token ratios or deltas hold a value that is not a finite number")
        out["token_ratios"], out["token_deltas"] = xs, ds
    stopped = g.get("stopped")
    if stopped is not None:     # variable length: whether each response wrote its EOS
        if text_mode or not (isinstance(stopped, list) and len(stopped) == b and all(
                isinstance(row, list) and len(row) == gsize and all(isinstance(x, bool) for x in row)
                for row in stopped)):
            raise Skip(f"its groups' 'stopped' is not {b} rows of {gsize} true/false values")
        out["stopped"] = [list(row) for row in stopped]
    w = g.get("reward_weights")
    if isinstance(w, list) and all(number(x) is not None for x in w):
        out["reward_weights"] = [number(x) for x in w]
    return out
