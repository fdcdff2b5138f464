"""What a session served to a browser by `grpotui serve` may not do. No imports beyond os: the app
and grpotui.presets ask here.

`grpotui serve` sets SERVED_ENV in its own environment, which every session's process inherits:
"no-save" (the default) or "save" (`--allow-save`). A session's command is fixed by the server's
command line, so the browser chooses no file to write; the one write left to a session is saving a
preset into the presets folder, and that is off unless the teacher allowed it.
"""

from __future__ import annotations

import os

SERVED_ENV = "GRPOTUI_SERVED"
NO_SAVE, SAVE = "no-save", "save"

SAVE_REFUSED = ("Saving presets is off in this served session: the teacher started `grpotui serve` "
                "without --allow-save. The settings still apply here; write them down, or ask for a "
                "server started with --allow-save.")


def served() -> bool:
    """True inside a session started by `grpotui serve`."""
    return os.environ.get(SERVED_ENV) in (NO_SAVE, SAVE)


def save_refusal() -> str | None:
    """Why saving a preset is refused here, or None when it is allowed."""
    value = os.environ.get(SERVED_ENV)
    if value is None or value == SAVE:
        return None
    return SAVE_REFUSED      # "no-save" or anything unexpected: refuse
