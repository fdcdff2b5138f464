"""The app behind `grpotui learn [NAME]`: the picker, and a canvas over it when named."""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding

from grpotui.config import TrainConfig
from grpotui.tui.learn import learn_commands, open_canvas
from grpotui.tui.text import PlainNotifications


class LearnApp(PlainNotifications, App):
    TITLE = "grpotui learn"
    LEARN_HOME = True          # the picker is the first screen: esc there does not leave
    BINDINGS = [Binding("q", "quit", "Quit")]
    CSS = """
    ModalScreen { align: center middle; }
    .dialog { width: 80%; max-width: 90; height: auto; max-height: 90%; border: thick $primary;
              background: $surface; padding: 1 2; }
    .dialog-title { margin-bottom: 1; }
    .dialog-scroll { height: auto; max-height: 1fr; }
    """

    def __init__(self, name: str | None = None, config: TrainConfig | None = None,
                 preset_name: str = "default", rollout_config: TrainConfig | None = None) -> None:
        super().__init__()
        self.start_name = name
        self.config = config or TrainConfig()     # the lab's settings
        self.preset_name = preset_name
        self.rollout_config = rollout_config or self.config   # the rollout canvas's model and task

    def on_mount(self) -> None:
        open_canvas(self, self.start_name or "picker")

    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        yield from learn_commands(self)
