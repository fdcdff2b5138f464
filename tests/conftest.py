"""Hypothesis explores new examples on every local run; under CI (CI=true) it replays a fixed set,
so a red build always means a change broke something, never that a new example turned up. Examples
found locally are kept in .hypothesis/ and replayed first."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
