"""The system panel (grpotui/tui/widgets/system.py): in `grpotui watch`, the selected run's system
records; on the dashboard, samples of its own training process; `y` hides and shows it."""

from __future__ import annotations

import json
import os
import subprocess
from types import SimpleNamespace

from textual.widgets import Label, Sparkline, Static

from grpotui.sources import FileSource
from grpotui.tui.app import GrpoApp
from grpotui.tui.widgets import system
from grpotui.tui.widgets.system import SystemPanel

from .conftest import wait_for


def rows(app) -> dict[str, str]:
    """The panel's shown rows: label -> value."""
    out = {}
    for row in app.query(".system-row.-has-data"):
        label, value = row.query(Label)
        out[str(label.render())] = str(value.render())
    return out


def message(app) -> str | None:
    label = app.query_one("#system-message", Label)
    return str(label.render()) if label.display else None


def write(path, recs) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))


async def test_watch_shows_the_selected_runs_system_records_and_y_hides_them(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write(a, [{"event": "start", "step": 0, "rollout": 0, "config": {}},
              {"step": 1, "rollout": 1, "reward": 0.5},
              {"event": "system", "step": 1, "rollout": 1, "time": 5.0, "system/cpu_percent": 20,
               "system/memory_mb": 700, "system/memory_percent": 50},
              {"event": "system", "step": 1, "rollout": 1, "time": 10.0,
               "system/cpu_percent": "[b]x", "system/memory_mb": 1260.5,     # a flaw: dropped
               "system/memory_percent": 63.2, "system/gpu_utilization": 87,
               "system/gpu_memory_mb": 2048},
              {"event": "system", "step": 2, "rollout": 2, "system/cpu_percent": 145.4}])
    write(b, [{"event": "start", "step": 0, "rollout": 0, "config": {}},
              {"step": 1, "rollout": 1, "reward": 0.1}])
    app = GrpoApp(source=FileSource([a, b]), smoothing=0.0)
    async with app.run_test(size=(140, 40)) as pilot:
        panel = app.query_one(SystemPanel)
        assert panel.display                        # room for it: shown from 140x32
        await wait_for(pilot, lambda: len(rows(app)) == 5, "the first run's system rows")
        assert rows(app) == {"CPU": "145%", "RSS": "1.23 GB", "RAM": "63%", "GPU": "87%",
                             "VRAM": "2 GB"}
        assert message(app) is None
        assert app.query_one("#system-spark-cpu-percent", Sparkline).data == [20.0, 145.4]
        assert app.query_one("#system-spark-memory-mb", Sparkline).data == [700.0, 1260.5]
        assert (panel.border_title, panel.border_subtitle) == ("system", "y hide")
        # they are no metrics to chart, and no lines in the event log
        assert not any(k.startswith("system/") for k in app.query_one("#charts").all_metrics())

        await pilot.press("y")
        assert not panel.display
        await pilot.press("y")
        assert panel.display

        await pilot.press("c")                      # the second run has none: shown at once
        assert message(app) == "no system records yet" and rows(app) == {}
        await pilot.press("c")                      # and back to the first
        assert len(rows(app)) == 5 and message(app) is None
        # a new run written into the same file starts its system history over
        panel.add_run(0, [{"event": "start", "step": 0}, {"event": "system", "step": 1,
                                                          "system/cpu_percent": 3.0}], 0)
        assert rows(app) == {"CPU": "3%"}
        assert app.query_one("#system-spark-cpu-percent", Sparkline).data == [3.0]

        await pilot.press("question_mark")
        help_text = "\n".join(str(s.render()) for s in app.screen.query(Static))
        assert "System metrics" in help_text and "y shows or hides the system panel" in help_text
        await pilot.press("escape")


class Training:
    """A stand-in for the training process (grpotui.worker.TrainingWorker): the panel samples
    whichever process `process.pid` names, here this test's own (no process to start)."""

    def __init__(self, pid: int):
        self.process = SimpleNamespace(pid=pid)
        self.alive = True

    def send(self, cmd, **kw):
        pass

    def stop(self):
        pass


async def test_dashboard_samples_its_training_process_hidden_at_80x24(lecture_config,
                                                                      monkeypatch):
    monkeypatch.setattr(system, "SAMPLE_SECONDS", 0.05)     # no 2 s wait for the first samples
    monkeypatch.setattr(GrpoApp, "start_training",
                        lambda app, config, paused: setattr(app, "training", Training(os.getpid())))
    app = GrpoApp(lecture_config, preset_name="lecture-centered", paused=True)
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(SystemPanel)
        assert not panel.display                    # no room at 80x24: hidden until y
        assert message(app) == "sampling every 0.05 s…"
        await pilot.press("y")
        assert panel.display
        await wait_for(pilot, lambda: set(rows(app)) == {"CPU", "RSS", "RAM"},
                       "samples of the training process")
        assert panel.sampler.pid == os.getpid()
        assert rows(app)["RSS"].endswith((" MB", " GB")) and rows(app)["CPU"].endswith("%")
        assert message(app) is None

        ended = subprocess.Popen(["true"])         # a new training process, which has ended
        ended.wait()
        app.training = Training(ended.pid)
        await wait_for(pilot, lambda: message(app) is not None, "the ended note")
        assert message(app) == "stopped: the training process has ended"
        assert panel.sampler.pid == ended.pid
        assert set(rows(app)) == {"CPU", "RSS", "RAM"}      # the history stays
