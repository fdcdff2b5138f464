"""What is on a Pilot app's screen, as a person would see it: the text of every row (the top screen,
with its toasts and modal dialogs), where a string is, and the actions a click would run."""

from __future__ import annotations

from rich.cells import cell_len


def _rows(app) -> list[list]:
    comp = app.screen._compositor
    rows = []
    for chop in comp._render_chops(comp.size.region, lambda y: True):
        rows.append([seg for strip in chop.values() for seg in strip])
    return rows


def screen_lines(app) -> list[str]:
    """Each row of the screen as text (wide characters once, as typed)."""
    return ["".join(seg.text for seg in row) for row in _rows(app)]


def screen_text(app) -> str:
    return "\n".join(screen_lines(app))


def find(app, needle: str) -> tuple[int, int] | None:
    """The (x, y) cell where `needle` starts on screen, or None."""
    for y, line in enumerate(screen_lines(app)):
        x = line.find(needle)
        if x >= 0:
            return cell_len(line[:x]), y
    return None


def click_actions(app) -> set[str]:
    """Every action that clicking some cell of the screen would run through markup (@click meta)."""
    out = set()
    for row in _rows(app):
        for seg in row:
            meta = seg.style.meta if seg.style is not None else {}
            if meta and "@click" in meta:
                out.add(str(meta["@click"]))
    return out
