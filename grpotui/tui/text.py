"""Text from outside is content, never markup.

Names, paths, metric keys, settings values, event values, prompts, completions, tokens and error
messages that quote input come from files, models and users. Textual parses markup in strings given to
Static.update, border titles, notify and RichLog.write, and neither rich's nor Textual's `escape` makes
a string safe for it (`[$error]x`, `[B]x`, `[ bold]x` and `[ @click=app.quit]Q` still parse; the last is
a clickable action). So outside text reaches a widget only as a Content object built here:

    label = text.assemble(("run ", "b"), text.clean(name), "  ", (value, "$success"))
    widget.update(label)            # a Content: shown as it is, nothing in it parsed

`assemble` takes plain strings (never parsed), Content objects, and (string, style) pairs where the
style is ours. Widths are terminal cells (wide CJK and emoji count two, combining marks none), never
characters: `cut(s, cells)` and `one_line(s, cells)` fit text to a column. `clean` removes what a
terminal would act on instead of showing: control characters (an ESC could start an escape sequence)
and the bidirectional overrides that reorder what follows them.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Union

from rich.cells import cell_len, get_character_cell_size
from textual.content import Content

Part = Union[str, Content, "tuple[str, str]"]

# C0 and C1 controls (tab and newline are handled by the callers that keep lines), DEL, and the
# bidirectional embeddings, overrides and isolates (they reorder the text after them on screen).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
REPLACEMENT = "\ufffd"


def clean(value: Any, keep_lines: bool = False) -> str:
    """Any value as text a terminal shows as it is: control characters become �, tabs spaces, and
    newlines spaces too unless keep_lines."""
    s = value if isinstance(value, str) else _str(value)
    s = s.replace("\t", " ").replace("\r\n", "\n").replace("\r", "\n")
    if not keep_lines:
        s = s.replace("\n", " ")
    return _UNSAFE.sub(REPLACEMENT, s)


def _str(value: Any) -> str:
    try:
        return str(value)
    except Exception:   # a value whose __str__ fails (or recurses) is shown by its type
        return f"<{type(value).__name__}>"


def width(s: str) -> int:
    """Terminal cells `s` takes."""
    return cell_len(s)


def cut(s: str, cells: int, ellipsis: str = "…") -> str:
    """`s` in at most `cells` terminal cells, ending in `ellipsis` where it was cut. Never splits a
    wide character; combining marks stay with their base character."""
    cells = max(0, int(cells))
    if cell_len(s) <= cells:
        return s
    room = cells - cell_len(ellipsis)
    if room < 0:
        return ellipsis[:cells] if cells else ""
    used, end = 0, 0
    for i, ch in enumerate(s):
        w = get_character_cell_size(ch)
        if used + w > room:
            break
        used += w
        end = i + 1
    while end < len(s) and unicodedata.combining(s[end]):   # a base character keeps its marks
        end += 1
    return s[:end] + ellipsis


def one_line(value: Any, cells: int) -> str:
    """Outside text on one line of at most `cells` cells: cleaned, whitespace runs collapsed."""
    return cut(" ".join(clean(value).split()), cells)


def plain(value: Any, style: str = "") -> Content:
    """Outside text as Content (cleaned; nothing in it is markup), in one style of ours."""
    c = Content(clean(value, keep_lines=True))
    return c.stylize(style) if style and c.plain else c


def assemble(*parts: Part) -> Content:
    """Join plain strings (shown as they are), Content objects, and (text, style) pairs into one
    Content. Strings are cleaned; styles are ours ("b", "$success", "b $warning", "rgb(1,2,3)")."""
    out = []
    for p in parts:
        if isinstance(p, Content):
            out.append(p)
        elif isinstance(p, tuple):
            s, style = p
            out.append(plain(s, style))
        else:
            out.append(plain(p))
    return Content.assemble(*out)


def lines(rows: list[Content]) -> Content:
    """Content objects as lines of one Content."""
    return Content("\n").join(rows)


class PlainNotifications:
    """An App mixin: every notification is plain text. Messages quote names, paths and values from
    outside (files, presets, runs, typed values), so nothing in them is parsed as markup, whoever
    calls notify (a widget's notify passes markup=True by default)."""

    def notify(self, message: str, *, title: str = "", severity="information",
               timeout: float | None = None, markup: bool = True) -> None:
        super().notify(clean(message, keep_lines=True), title=clean(title),   # type: ignore[misc]
                       severity=severity, timeout=timeout, markup=False)
