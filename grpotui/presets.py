"""Presets: a TrainConfig with a name and a one-line description, as a YAML file.

Shipped presets are the YAML files in the repository's top-level `presets/` folder, the one copy:
a regular install ships them inside the package as `grpotui/_presets/` (pyproject.toml maps the
folder there), and a source checkout or an editable install reads `presets/` itself. User presets
live in $GRPOTUI_PRESETS_DIR, else $XDG_CONFIG_HOME/grpotui/presets, else ~/.config/grpotui/presets.
`--preset` takes a shipped or user preset's name, or the path of any YAML file.

A preset file:

    name: lecture-centered
    description: The lecture's setup with centered deltas.
    delta_mode: centered
    ...                      # any TrainConfig key; missing keys take their defaults
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from grpotui.config import ConfigError, TrainConfig


def _shipped_dir() -> Path:
    """Where the shipped presets are: inside the installed package, else the checkout's presets/."""
    here = Path(__file__).resolve().parent
    installed = here / "_presets"           # a regular (wheel) install
    return installed if installed.is_dir() else here.parent / "presets"


SHIPPED_DIR = _shipped_dir()
DEFAULT_PRESET = "default"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class PresetError(ConfigError):
    """A preset could not be found, read, validated or written. The message says which and why."""


class PresetExists(PresetError):
    """Saving would overwrite an existing user preset; ask first, then save with overwrite=True."""


@dataclass
class Preset:
    name: str
    description: str
    config: TrainConfig
    path: Path | None = None
    shipped: bool = False


def user_dir(override: str | os.PathLike | None = None) -> Path:
    if override:
        return Path(override).expanduser()
    if os.environ.get("GRPOTUI_PRESETS_DIR"):
        return Path(os.environ["GRPOTUI_PRESETS_DIR"]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "grpotui" / "presets"


def shipped_names() -> list[str]:
    return sorted(p.stem for p in SHIPPED_DIR.glob("*.yaml"))


def check_name(name: str) -> str:
    """A preset name must be usable as a file name everywhere: no path separators, no leading dot."""
    name = (name or "").strip()
    if not _NAME_RE.match(name):
        raise PresetError(
            f"'{name}' is not a usable preset name: a name is 1 to 64 characters of letters, digits, "
            f"'-', '_' and '.', starting with a letter or digit (no spaces or path separators).")
    return name


def check_savable_name(name: str) -> str:
    """A name a user preset can be saved under: a usable name that is not a shipped preset's."""
    name = check_name(name)
    if name in shipped_names():
        raise PresetError(f"'{name}' is a shipped preset and cannot be overwritten; save under "
                          f"another name.")
    return name


# ---------------------------------------------------------------------------------------- reading
def parse_preset(text: str, *, source: str, default_name: str = "") -> Preset:
    """Parse and validate preset YAML text; every problem raises PresetError naming `source`."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        where = ""
        mark = getattr(e, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(e, "problem", None) or "it is not valid YAML"
        raise PresetError(f"{source}: malformed YAML{where}: {problem}. A preset is a YAML mapping "
                          f"of setting names to values, for example 'learning_rate: 0.001'.") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PresetError(f"{source}: a preset must be a YAML mapping of setting names to values, "
                          f"but this file holds {type(data).__name__}. Allowed keys: name, "
                          f"description, {', '.join(TrainConfig.field_names())}.")
    data = dict(data)
    name = data.pop("name", default_name)
    description = data.pop("description", "")
    if not isinstance(name, str) or not isinstance(description, str):
        raise PresetError(f"{source}: 'name' and 'description' must be text.")
    try:
        config = TrainConfig.from_dict(data, source=source)
    except PresetError:
        raise
    except ConfigError as e:
        raise PresetError(str(e)) from None
    return Preset(name=name or default_name, description=description, config=config)


def read_preset_file(path: str | os.PathLike, *, shipped: bool = False) -> Preset:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PresetError(f"{path}: no such preset file.") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PresetError(f"{path}: cannot read this preset file ({e.__class__.__name__}: "
                          f"{getattr(e, 'strerror', None) or e}).") from None
    preset = parse_preset(text, source=str(path), default_name=path.stem)
    preset.path, preset.shipped = path, shipped
    return preset


def find_preset(name_or_path: str, presets_dir: str | os.PathLike | None = None) -> Preset:
    """A shipped preset, then a user preset, by name; or any YAML file by path."""
    text = str(name_or_path)
    if text in shipped_names():
        return read_preset_file(SHIPPED_DIR / f"{text}.yaml", shipped=True)
    udir = user_dir(presets_dir)
    if _NAME_RE.match(text) and (udir / f"{text}.yaml").is_file():
        return read_preset_file(udir / f"{text}.yaml")
    looks_like_path = os.sep in text or "/" in text or text.endswith((".yaml", ".yml"))
    if looks_like_path or Path(text).is_file():
        return read_preset_file(Path(text).expanduser())
    known = [p.name for p in list_presets(presets_dir)[0]]
    raise PresetError(f"unknown preset '{text}'. Known presets: {', '.join(known)}; or give the path "
                      f"of a preset YAML file. `grpotui presets` lists them with descriptions.")


def list_presets(presets_dir: str | os.PathLike | None = None
                 ) -> tuple[list[Preset], list[str]]:
    """(shipped then user presets, problems with unreadable user preset files)."""
    found = [read_preset_file(SHIPPED_DIR / f"{n}.yaml", shipped=True) for n in shipped_names()]
    problems: list[str] = []
    udir = user_dir(presets_dir)
    if udir.is_dir():
        for path in sorted(udir.glob("*.yaml")):
            if path.stem in shipped_names():
                continue
            try:
                found.append(read_preset_file(path))
            except PresetError as e:
                problems.append(str(e))
    return found, problems


# ---------------------------------------------------------------------------------------- writing
def preset_yaml(name: str, description: str, config: TrainConfig) -> str:
    data: dict[str, Any] = {"name": name, "description": description}
    data.update(config.to_dict())
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)
    return "# grpotui preset: every key is a TrainConfig setting (`grpotui presets show NAME`).\n" + body


def save_preset(name: str, description: str, config: TrainConfig,
                presets_dir: str | os.PathLike | None = None, *, overwrite: bool = False) -> Path:
    """Write a user preset atomically: a temporary file in the same folder, then a rename, so an
    interrupted save leaves the old file (or none), never a half-written one."""
    from grpotui.served import save_refusal

    if refused := save_refusal():       # a `grpotui serve` session without --allow-save
        raise PresetError(refused)
    name = check_savable_name(name)
    udir = user_dir(presets_dir)
    path = udir / f"{name}.yaml"
    if path.exists() and not overwrite:
        raise PresetExists(f"a user preset named '{name}' already exists at {path}.")
    text = preset_yaml(name, description, config)
    try:
        udir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=udir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        raise PresetError(f"cannot save preset '{name}' to {udir}: {e.strerror or e}. Choose a "
                          f"writable folder with --presets-dir or GRPOTUI_PRESETS_DIR.") from None
    return path


def delete_preset(name: str, presets_dir: str | os.PathLike | None = None) -> Path:
    if name in shipped_names():
        raise PresetError(f"'{name}' is a shipped preset; only user presets can be deleted.")
    name = check_name(name)
    path = user_dir(presets_dir) / f"{name}.yaml"
    if not path.is_file():
        raise PresetError(f"no user preset named '{name}' in {path.parent}.")
    path.unlink()
    return path
