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
SERVER_PID_ENV = "GRPOTUI_SERVER_PID"   # the server's pid, so a session can end with it
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


def end_with_the_server() -> None:
    """In a served session on Linux: ask the kernel for SIGTERM when the server dies, however it
    dies (kill -9 included), so that no session, and so no training, outlives it; Textual's web
    driver quits the app on SIGTERM, and the command line then ends its training process. A server
    already gone ends the session now. Elsewhere (or outside a session) this does nothing."""
    server = os.environ.get(SERVER_PID_ENV)
    if not served() or not server or not server.isdigit() or not hasattr(os, "getppid"):
        return
    import signal
    import sys

    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):
            return
    if os.getppid() != int(server):     # the server died before we asked
        sys.exit(1)
