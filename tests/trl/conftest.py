"""tests/trl need the TRL extra; say so plainly instead of failing on an import deep inside a test."""

import os

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"      # no model hub here: every model is built in the test
try:
    import trl  # noqa: F401
except ImportError:  # pragma: no cover - a set-up mistake
    raise pytest.UsageError("tests/trl need the TRL extra: pip install -c constraints.txt -e "
                            "'.[test,trl]'") from None
