"""tests/trl need the TRL extra; say so plainly instead of failing on an import deep inside a test.
The main TRL run (a few real GRPOTrainer steps) is made once and shared by the modules that read it."""

import logging
import os

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"      # no model hub here: every model is built in the test
try:
    import trl  # noqa: F401
except ImportError:  # pragma: no cover - a set-up mistake
    raise pytest.UsageError("tests/trl need the TRL extra: pip install -c constraints.txt -e "
                            "'.[test,trl]'") from None

# Sent by the "viewer" after step 2, due at step 3.
COMMAND = {"learning_rate": 5e-4, "temperature": 0.3, "beta": 0.1, "reward_weights": [2, 1],
           "epsilon": 0.3, "epsilon_high": -1, "warmup": 3}


@pytest.fixture(scope="session")
def run(tmp_path_factory):
    """4 steps, beta 0.04, two weighted reward functions, log_completions on, steering on, and
    COMMAND sent after step 2."""
    from grpotui.integrations.sorting import exact_match_reward, position_match_reward
    from tests.trl.runs import grpo_run

    return grpo_run(tmp_path_factory.mktemp("main"),
                    reward_funcs=[position_match_reward, exact_match_reward],
                    reward_weights=[1.0, 0.5], beta=0.04, commands={3: COMMAND})


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture()
def warnings_logged():
    """The messages of the warnings grpotui logs during a test."""
    handler = Collect()
    logger = logging.getLogger("grpotui")
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)
