"""A crash is not a success: an app that ends on an exception makes the command exit 1 with one line
saying so, after its training process is ended (grpotui.cli.run_app)."""

from __future__ import annotations

import pytest
import typer
from textual.app import App

from grpotui.cli import EXIT_FAILED, run_app


class Headless(App):
    def __init__(self) -> None:
        super().__init__()
        self.shut_down = 0

    def run(self, **kw):
        return super().run(headless=True, **kw)

    def shutdown(self) -> None:
        self.shut_down += 1


class Crashing(Headless):
    """A real Textual app whose handler raises, as a panel did on a hostile file."""

    def on_mount(self) -> None:
        raise ValueError("math domain error")


class Quitting(Headless):
    def on_mount(self) -> None:
        self.exit("lab")


def test_an_app_that_ends_on_an_exception_exits_1_after_shutting_down(capsys):
    app = Crashing()
    with pytest.raises(typer.Exit) as e:
        run_app(app, "grpotui learn")
    assert e.value.exit_code == EXIT_FAILED
    assert app.shut_down == 1
    assert ("grpotui: error: grpotui learn stopped on an unexpected error (the traceback above says "
            "where); nothing is left running. This is a bug: please report it.\n"
            in capsys.readouterr().err)


def test_an_app_that_ends_normally_returns_its_result():
    app = Quitting()
    assert run_app(app, "grpotui learn") == "lab"
    assert app.shut_down == 1
