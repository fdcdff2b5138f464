"""`grpotui watch` on runs logged without grpotui: a Trainer's output folder read from its
checkpoints' trainer_state.json and one read from SummaryWriter event files land on the same charts
(TRL's names), and a new checkpoint shows while the app runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from grpotui.sources import FileSource
from grpotui.tui.app import GrpoApp
from grpotui.tui.widgets.charts import RunCharts, colour

from .conftest import wait_for
from .test_watch import status_text

pytest.importorskip("tensorboard", reason="the [tb] extra: pip install -e '.[tb]'")


HOSTILE = "[@click=app.quit]q[/]"      # a metric key from a file: content, never markup


def entry(s: int) -> dict:
    return {"step": s, "reward": s / 4, "loss": 1 / s, "kl": 0.01 * s, "epoch": s / 100,
            "learning_rate": 0.001, HOSTILE: float(s)}


def write_checkpoint(out: Path, n: int, mtime: int) -> None:
    d = out / f"checkpoint-{n}"
    d.mkdir(parents=True)
    p = d / "trainer_state.json"
    p.write_text(json.dumps({"global_step": n, "max_steps": 8,
                             "log_history": [entry(s) for s in range(1, n + 1)]},
                            indent=2, sort_keys=True) + "\n")
    os.utime(p, ns=(mtime, mtime))


async def test_a_trainer_state_run_and_a_tensorboard_run_share_the_charts(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    state, board = tmp_path / "state-run", tmp_path / "tb-run"
    write_checkpoint(state, 4, 10**18)
    w = SummaryWriter(str(board / "runs" / "x"))
    for s in range(1, 7):          # the Trainer's TensorBoardCallback's tags
        for k, v in entry(s).items():
            if k != "step":
                w.add_scalar(f"train/{k}", v, s)
    w.close()
    app = GrpoApp(source=FileSource([state, board]), smoothing=0.0,
                  metric_patterns=["reward", "loss", "kl", HOSTILE])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(app.runs) == 2 and all(app.runs)
                       and app.runs[0]["step"] == 4 and app.runs[1]["step"] == 6, "both runs")
        charts = app.query_one(RunCharts)
        charts.flush()
        assert [r.name for r in charts.runs] == ["state-run", "tb-run"]
        assert charts.runs[0].series["reward"].values == [0.25, 0.5, 0.75, 1.0]
        assert charts.runs[1].series["reward"].values == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5]
        assert charts.shown_metrics() == ["reward", "loss", "kl", HOSTILE]
        assert HOSTILE in charts.on_page()                  # on screen, the app still running
        assert set(charts.all_metrics()) == {"reward", "loss", "kl", "learning_rate", "lr",
                                             HOSTILE}
        assert charts.runs[1].series[HOSTILE].values == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        drawn = app.query_one("#chart-0").plt.build()      # the reward chart: both runs' lines
        for i in (0, 1):
            r, g, b = colour(i)
            assert f"38;2;{r};{g};{b}" in drawn, f"run {i}'s line is not drawn"
        assert "state-run step 4" in status_text(app) and "tb-run step 6" in status_text(app)
        write_checkpoint(state, 6, 10**18 + 1)             # the next checkpoint, while watched
        await wait_for(pilot, lambda: app.runs[0]["step"] == 6, "the new checkpoint")
        charts.flush()
        assert charts.runs[0].series["reward"].values == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5]
        await app.action_quit()
