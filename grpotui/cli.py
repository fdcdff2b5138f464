"""The command line: bare `grpotui` opens the dashboard; `run` trains headless; `presets` manages presets;
`learn` opens the lesson's canvases.

torch and textual are imported inside the commands that need them, so `grpotui --help` answers fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from grpotui.config import ConfigError, TrainConfig, coerce, parse_set

app = typer.Typer(
    help="Watch GRPO learn to sort numbers (CS336 Lecture 17). With no command, opens the live "
         "dashboard.",
    add_completion=False, no_args_is_help=False, pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
presets_app = typer.Typer(help="List, show, save and delete presets.", no_args_is_help=False,
                          pretty_exceptions_enable=False)
app.add_typer(presets_app, name="presets")

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130

PresetOpt = typer.Option(None, "--preset", "-p", help="A preset name (`grpotui presets`) or the "
                         "path of a preset YAML file. Default: 'default'.")
SetOpt = typer.Option(None, "--set", "-s", help="Override a setting: key=value (repeatable), "
                      "e.g. --set learning_rate=0.01.")
MetricsOpt = typer.Option(None, "--metrics", help="Write one record per optimizer step (and events) "
                          "to this .jsonl or .csv file (its folder is made if missing).")
MetricsGroupsOpt = typer.Option(False, "--metrics-groups", help="Also write the shown rollout's "
                                "groups (prompts, responses, rewards, deltas, ratios) to the "
                                "--metrics file, a few a second at most, so `grpotui watch` shows "
                                "them.")
SeedOpt = typer.Option(None, "--seed", help="Override the preset's seed.")
DeviceOpt = typer.Option(None, "--device", help="cpu, cuda or auto.")
PresetsDirOpt = typer.Option(None, "--presets-dir", help="Folder of user presets (default: "
                             "$GRPOTUI_PRESETS_DIR, else $XDG_CONFIG_HOME/grpotui/presets, else "
                             "~/.config/grpotui/presets).")


def fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    typer.echo(f"grpotui: error: {message}", err=True)
    return typer.Exit(code)


def resolve_config(preset: str | None, sets: list[str] | None, seed: int | None = None,
                   device: str | None = None, presets_dir: str | None = None):
    """(preset, config) from a preset plus command-line overrides, or raise ConfigError."""
    from grpotui.presets import DEFAULT_PRESET, find_preset

    found = find_preset(preset or DEFAULT_PRESET, presets_dir)
    overrides = parse_set(sets)
    if seed is not None:    # checked here, so that a bad value's message names the option typed
        overrides["seed"] = coerce("seed", seed, source="--seed")
    if device is not None:
        overrides["device"] = coerce("device", device, source="--device")
    config = TrainConfig.from_dict(overrides, source="command line", base=found.config)
    return found, config


def _check_count(name: str, value, minimum: float = 1) -> None:
    if value is not None and value < minimum:
        raise ConfigError(f"{name} {value}: must be at least {minimum:g}.")


@app.callback(invoke_without_command=True)
def main_callback(
    ctx: typer.Context,
    preset: Optional[str] = PresetOpt,
    set_: Optional[List[str]] = SetOpt,
    metrics: Optional[Path] = MetricsOpt,
    paused: bool = typer.Option(False, "--paused", help="Open paused instead of training at once."),
    seed: Optional[int] = SeedOpt,
    presets_dir: Optional[Path] = PresetsDirOpt,
    metrics_groups: bool = MetricsGroupsOpt,
) -> None:
    """Open the live dashboard (the default command)."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"presets_dir": presets_dir}
        return
    try:
        found, config = resolve_config(preset, set_, seed, None, presets_dir)
        _check_metrics_groups(metrics_groups, metrics)
        if metrics is not None:
            from grpotui.metrics import MetricsWriter

            MetricsWriter(metrics).close()  # fail now, not inside the dashboard
        if config.device not in ("cpu", "auto"):  # only a GPU needs checking (and torch, here)
            from grpotui.engine.trainer import resolve_device

            resolve_device(config.device)
    except ConfigError as e:
        raise fail(str(e)) from None
    from grpotui.tui.app import GrpoApp

    run_app(GrpoApp(config=config, preset_name=found.name, metrics_path=metrics, paused=paused,
                    presets_dir=presets_dir, metrics_groups=metrics_groups), "the dashboard")


def _check_metrics_groups(metrics_groups: bool, metrics) -> None:
    if metrics_groups and metrics is None:
        raise ConfigError("--metrics-groups writes groups records into the metrics file: give "
                          "--metrics FILE.jsonl (or .csv) too.")


@app.command()
def run(
    preset: Optional[str] = PresetOpt,
    set_: Optional[List[str]] = SetOpt,
    steps: Optional[int] = typer.Option(None, "--steps", help="Stop after this many optimizer steps."),
    rollouts: Optional[int] = typer.Option(None, "--rollouts", help="Stop after this many rollouts "
                                           "(default: the preset's `rollouts`)."),
    max_seconds: Optional[float] = typer.Option(None, "--max-seconds", help="Stop after this long."),
    target_heldout: Optional[float] = typer.Option(None, "--target-heldout", help="Stop when held-out "
                                                   "exact match reaches this (0 to 1)."),
    metrics: Optional[Path] = MetricsOpt,
    metrics_groups: bool = MetricsGroupsOpt,
    seed: Optional[int] = SeedOpt,
    device: Optional[str] = DeviceOpt,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar; print the summary only."),
    presets_dir: Optional[Path] = PresetsDirOpt,
) -> None:
    """Train headless, with a progress bar and a one-line summary. Stops at the first limit reached."""
    from grpotui.runner import StopRules, run_headless

    try:
        _check_count("--steps", steps)
        _check_count("--rollouts", rollouts)
        if max_seconds is not None and not max_seconds > 0:
            raise ConfigError(f"--max-seconds {max_seconds}: must be a positive number of seconds.")
        if target_heldout is not None and not 0 <= target_heldout <= 1:
            raise ConfigError(f"--target-heldout {target_heldout}: must be from 0 to 1.")
        _check_metrics_groups(metrics_groups, metrics)
        found, config = resolve_config(preset, set_, seed, device, presets_dir)
        rules = StopRules(steps, rollouts, max_seconds, target_heldout)
        summary = run_headless(config, rules, preset_name=found.name,
                               metrics_path=str(metrics) if metrics else None, quiet=quiet,
                               metrics_groups=metrics_groups)
    except ConfigError as e:
        raise fail(str(e)) from None
    if summary.failed:
        typer.echo(f"grpotui: {summary.failed}. Records up to step {summary.steps} are "
                   f"complete{' in ' + str(metrics) if metrics else ''}.", err=True)
        typer.echo(summary.line())
        raise typer.Exit(EXIT_FAILED)
    if summary.diverged:
        typer.echo(f"grpotui: {summary.diverged}", err=True)
        typer.echo(summary.line())
        raise typer.Exit(EXIT_DIVERGED)
    typer.echo(summary.line())
    if summary.stopped.startswith("stopped by"):
        raise typer.Exit(EXIT_INTERRUPTED)


@app.command()
def learn(
    name: Optional[str] = typer.Argument(None, help="A canvas to open: rollout, variance, "
                                         "baseline, clip, length, or lab (the dashboard). "
                                         "Default: the list of canvases."),
    preset: Optional[str] = typer.Option(
        None, "--preset", "-p", help="A preset name (`grpotui presets`) or the path of a preset "
        "YAML file. Default: 'sort4-ar' for the rollout canvas, 'lab' (the lecture's 3-number "
        "sort) for the lab."),
    set_: Optional[List[str]] = SetOpt,
    presets_dir: Optional[Path] = PresetsDirOpt,
) -> None:
    """The lesson's canvases: a rollout token by token, REINFORCE's variance, baselines, PPO's clip,
    the length bias of GRPO's loss types.
    --preset and --set choose the task and model of the rollout canvas (default: sort4-ar, an
    autoregressive policy) and of the lab (default: lab). The lab is the dashboard, guided: the
    lesson's three controls first (delta mode, group size, learning rate), each with what to try
    and what to look for; `a` shows all the controls."""
    from grpotui.tui.learn import LAB_PRESET, NAMES, ROLLOUT_PRESET

    if name is not None and name not in NAMES:
        raise fail(f"unknown canvas '{name}'. Canvases: {', '.join(NAMES)}; or no name for the "
                   f"list of them.")
    try:
        found, config = resolve_config(preset or LAB_PRESET, set_, None, None, presets_dir)
        rollout_config = config if preset else \
            resolve_config(ROLLOUT_PRESET, set_, None, None, presets_dir)[1]
    except ConfigError as e:
        raise fail(str(e)) from None
    if name != "lab":
        from grpotui.tui.learn.app import LearnApp

        app = LearnApp(name, config, preset_name=found.name, rollout_config=rollout_config)
        if run_app(app, "grpotui learn") != "lab":
            return
        from grpotui.served import served

        if served():    # textual-serve closed the tab with the first app: a lab now would train unseen
            return
    from grpotui.tui.app import GrpoApp

    run_app(GrpoApp(config=config, preset_name=found.name, presets_dir=presets_dir, lab=True),
            "the lab")


@app.command()
def watch(
    paths: List[Path] = typer.Argument(..., help="Metrics files (.jsonl or .csv, from `grpotui "
                                       "run --metrics`, the dashboard's --metrics or the TRL "
                                       "integration) or folders of them. A file may not exist "
                                       "yet: it is waited for. Also a Hugging Face Trainer's "
                                       "output folder (its trainer_state.json and checkpoints, or "
                                       "TensorBoard event files: one run), a trainer_state.json or "
                                       "an event file (needs the tb extra)."),
    name: Optional[List[str]] = typer.Option(None, "--name", "-n", help="The legend name of each "
                                             "run, in order (repeatable; default: the file's name "
                                             "without extension)."),
    x: str = typer.Option("step", "--x", help="The curves' x axis: step or time (training "
                          "seconds)."),
    smoothing: float = typer.Option(0.6, "--smoothing", help="EMA smoothing of every curve, 0 "
                                    "(none) to 0.99 (TensorBoard's slider); , and . change it."),
    metric: Optional[List[str]] = typer.Option(None, "--metric", "-m", help="A metric to chart: a "
                                               "name or a glob such as 'rewards/*' (repeatable; "
                                               "default: all, the familiar ones first)."),
    control: bool = typer.Option(False, "--control", help="Steer the run (one metrics file of a "
                                 "TRL run attached with control=True): controls for the learning "
                                 "rate, beta, epsilon and reward weights write to its command file."),
    grid: str = typer.Option("auto", "--grid", help="Charts on screen: rows x columns such as 3x3 "
                             "(1 to 8 each; cut to what fits), or auto: as many as fit. ( ) and "
                             "< > change it; a opens as many as fit."),
) -> None:
    """Watch runs live from their metrics files, read-only: curves of every run overlaid, the
    selected run's groups and settings. Follows files as they grow. With --control, steer one run."""
    from grpotui.metricsfile import WatchError
    from grpotui.sources import FileSource
    from grpotui.tui.widgets.grid import GridError, parse_grid

    try:
        try:
            shape = parse_grid(grid)
        except GridError as e:
            raise ConfigError(str(e)) from None
        if x not in ("step", "time"):
            raise ConfigError(f"--x {x}: allowed: step or time.")
        if not 0 <= smoothing <= 0.99:
            raise ConfigError(f"--smoothing {smoothing}: must be from 0 to 0.99.")
        if control and (len(paths) != 1 or paths[0].is_dir()):
            raise ConfigError(f"--control steers one run: give exactly one metrics file (got "
                              f"{', '.join(str(p) for p in paths)}).")
        source = FileSource(paths, names=name, control=control)
        if control and source.runs and source.runs[0].kind != "metrics":
            raise ConfigError(f"--control steers a run through the metrics file attach() writes; "
                              f"{paths[0]} is a Trainer's file, which can be watched but not "
                              f"steered.")
        if name and len(name) > len(source.runs) and not any(p.is_dir() for p in paths):
            raise ConfigError(f"--name given {len(name)} times for {len(source.runs)} metrics "
                              f"file(s) ({', '.join(str(r.path) for r in source.runs) or 'none'}); "
                              f"give at most one name per file, in order.")
        if not source.runs and not any(p.is_dir() for p in paths):
            raise ConfigError("nothing to watch: give metrics files or folders.")
    except (ConfigError, WatchError) as e:
        raise fail(str(e)) from None
    from grpotui.tui.app import GrpoApp

    run_app(GrpoApp(source=source, smoothing=smoothing, x=x, metric_patterns=metric, grid=shape),
            "grpotui watch")


@app.command()
def serve(
    what: str = typer.Argument("learn", help="What each browser tab gets: learn (the canvases), "
                               "dashboard (training live) or watch (metrics files)."),
    args: Optional[List[str]] = typer.Argument(None, help="learn: a canvas name (optional); "
                                               "watch: the metrics files or folders."),
    host: str = typer.Option("127.0.0.1", "--host", help="The address to listen on: 127.0.0.1 "
                             "(this machine only) or 0.0.0.0 (every network interface: a room)."),
    port: int = typer.Option(8000, "--port", help="The port to listen on."),
    max_sessions: Optional[int] = typer.Option(None, "--max-sessions", help="At most this many "
                                               "sessions (browser tabs) at once; default: the "
                                               "number of cores, since each trains."),
    allow_save: bool = typer.Option(False, "--allow-save", help="Let sessions save presets "
                                    "(into the presets folder); off by default."),
    preset: Optional[str] = PresetOpt,
    set_: Optional[List[str]] = SetOpt,
    presets_dir: Optional[Path] = PresetsDirOpt,
) -> None:
    """Serve the canvases, the dashboard or `watch` to web browsers (textual-serve): one app
    process per browser tab, ended when the tab closes. Students open http://HOST:PORT."""
    try:
        import textual_serve  # noqa: F401
    except ImportError:
        raise fail("`grpotui serve` needs textual-serve, which is not installed: install grpotui "
                   "with its serve extra, e.g. `pip install -c constraints.txt \".[serve]\"`."
                   ) from None
    from grpotui.serve import make_plan, serve as serve_plan

    try:
        plan = make_plan(what, args, host=host, port=port, max_sessions=max_sessions,
                         allow_save=allow_save, preset=preset, sets=set_, presets_dir=presets_dir)
        serve_plan(plan)
    except ConfigError as e:
        raise fail(str(e)) from None


@app.command()
def bench(
    repeats: int = typer.Option(3, "--repeats", help="Repeats of each measurement (median, min, max)."),
    seconds: float = typer.Option(3.0, "--seconds", help="Seconds of training per rate measurement."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    no_dashboard: bool = typer.Option(False, "--no-dashboard", help="Skip the dashboard figures."),
    no_watch: bool = typer.Option(False, "--no-watch", help="Skip opening a 500,000-record metrics "
                                  "file with `grpotui watch` (writing the file takes a while)."),
) -> None:
    """Measure training speed on this machine: engine vs a lecture-style reference loop, sort4 to 99%
    held-out exact match, the dashboard's rate vs headless, start-up times, and `grpotui watch`
    opening a 500,000-record metrics file (time and peak memory)."""
    import json

    try:
        _check_count("--repeats", repeats)
        if not seconds > 0:
            raise ConfigError(f"--seconds {seconds}: must be a positive number of seconds.")
        from grpotui.engine.trainer import resolve_device

        resolve_device(TrainConfig(device=device).device)
    except ConfigError as e:
        raise fail(str(e)) from None
    from rich.console import Console

    from grpotui.bench import bench_table, machine_description, run_bench

    console = Console(stderr=True)
    figs = run_bench(repeats, seconds, device, dashboard=not no_dashboard,
                     progress=None if json_out else lambda t: console.print(f"[dim]{t}[/]"),
                     watch=not no_watch)
    machine = machine_description()
    if json_out:
        typer.echo(json.dumps({"machine": machine, "device": device,
                               "figures": [f.row() for f in figs]}, indent=2))
        return
    Console().print(bench_table(figs, machine, device, repeats))


@presets_app.callback(invoke_without_command=True)
def presets_list(ctx: typer.Context,
                 presets_dir: Optional[Path] = PresetsDirOpt) -> None:
    """List shipped and user presets with their descriptions."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    from grpotui.presets import list_presets, user_dir

    pdir = _presets_dir(ctx, presets_dir)
    found, problems = list_presets(pdir)
    table = Table(box=None, pad_edge=False)
    table.add_column("preset", style="bold")
    table.add_column("kind")
    table.add_column("description")
    for p in found:
        table.add_row(p.name, "shipped" if p.shipped else "user", p.description)
    console = Console()
    console.print(table)
    console.print(f"\nUser presets folder: {user_dir(pdir)}", highlight=False)
    for problem in problems:
        typer.echo(f"warning: {problem}", err=True)


def _presets_dir(ctx: typer.Context, given: Optional[Path]) -> Optional[Path]:
    if given:
        return given
    root = ctx.find_root()
    return (root.obj or {}).get("presets_dir") if root.obj else None


@presets_app.command("show")
def presets_show(ctx: typer.Context, name: str = typer.Argument(..., help="Preset name or path."),
                 presets_dir: Optional[Path] = PresetsDirOpt) -> None:
    """Print a preset's YAML (every setting, defaults filled in)."""
    from grpotui.presets import PresetError, find_preset, preset_yaml

    try:
        p = find_preset(name, _presets_dir(ctx, presets_dir))
    except PresetError as e:
        raise fail(str(e)) from None
    typer.echo(preset_yaml(p.name, p.description, p.config), nl=False)


@presets_app.command("save")
def presets_save(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Name of the new user preset."),
    from_: Optional[str] = typer.Option(None, "--from", help="Start from this preset (default: "
                                        "'default')."),
    set_: Optional[List[str]] = SetOpt,
    description: Optional[str] = typer.Option(None, "--description", "-d", help="One line saying "
                                              "what the preset shows."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Overwrite an existing user preset."),
    presets_dir: Optional[Path] = PresetsDirOpt,
) -> None:
    """Save a user preset: another preset plus --set overrides."""
    from grpotui.presets import PresetError, PresetExists, save_preset

    pdir = _presets_dir(ctx, presets_dir)
    try:
        base, config = resolve_config(from_, set_, presets_dir=pdir)
        desc = description if description is not None else f"{base.description} (modified)"
        try:
            path = save_preset(name, desc, config, pdir, overwrite=yes)
        except PresetExists as e:
            if not sys.stdin.isatty():
                raise PresetError(f"{e} Pass --yes to overwrite it.") from None
            typer.confirm(f"{e} Overwrite it?", abort=True)
            path = save_preset(name, desc, config, pdir, overwrite=True)
    except ConfigError as e:
        raise fail(str(e)) from None
    typer.echo(f"saved preset '{name}' to {path}")


@presets_app.command("delete")
def presets_delete(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Name of a user preset."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    presets_dir: Optional[Path] = PresetsDirOpt,
) -> None:
    """Delete a user preset (shipped presets cannot be deleted)."""
    from grpotui.presets import PresetError, check_name, delete_preset, shipped_names, user_dir

    pdir = _presets_dir(ctx, presets_dir)
    try:
        if name in shipped_names():
            raise PresetError(f"'{name}' is a shipped preset; only user presets can be deleted.")
        # Only the file's existence matters: a malformed preset must still be deletable.
        if not (user_dir(pdir) / f"{check_name(name)}.yaml").is_file():
            raise PresetError(f"no user preset named '{name}' in {user_dir(pdir)}.")
        if not yes:
            if not sys.stdin.isatty():
                raise PresetError(f"deleting '{name}' needs confirmation: pass --yes.")
            typer.confirm(f"Delete user preset '{name}'?", abort=True)
        path = delete_preset(name, pdir)
    except ConfigError as e:
        raise fail(str(e)) from None
    typer.echo(f"deleted {path}")


def run_app(the_app, what: str):
    """Run a Textual app to its end and return its result. An app that ended on an exception is not
    a success: Textual has printed the traceback; this ends the training process (if the app has
    one), says so in one line and exits with EXIT_FAILED."""
    try:
        result = the_app.run()
    finally:
        shutdown = getattr(the_app, "shutdown", None)
        if shutdown is not None:
            shutdown()
    if the_app.return_code:     # 1 after an unhandled exception inside the app
        typer.echo(f"grpotui: error: {what} stopped on an unexpected error (the traceback above "
                   f"says where); nothing is left running. This is a bug: please report it.",
                   err=True)
        raise typer.Exit(EXIT_FAILED)
    return result


def main() -> None:
    """The `grpotui` command. Usage errors that click finds itself (a value of the wrong type, an
    unknown option) get the same one-paragraph `grpotui: error:` form as every other bad input."""
    try:
        code = app(prog_name="grpotui", standalone_mode=False)
    except typer.Abort:
        typer.echo("grpotui: aborted.", err=True)
        sys.exit(EXIT_FAILED)
    except typer.TyperException as e:     # click's usage errors (typer carries its own click)
        ctx = getattr(e, "ctx", None)
        hint = f" See '{ctx.command_path} --help'." if ctx is not None else ""
        message = e.format_message().rstrip()
        message += "" if message.endswith((".", "?")) else "."
        typer.echo(f"grpotui: error: {message}{hint}", err=True)
        sys.exit(getattr(e, "exit_code", EXIT_BAD_INPUT))
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
