"""Presets: shipped ones load, user presets round-trip, names and files are validated."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from grpotui import presets as P
from grpotui.config import ConfigError, TrainConfig


@pytest.fixture(autouse=True)
def _no_user_env(monkeypatch, tmp_path):
    # never touch the real ~/.config, whatever the environment says
    monkeypatch.setenv("GRPOTUI_PRESETS_DIR", str(tmp_path / "env-presets"))


# ============================================================================ shipped presets
def test_shipped_names():
    names = P.shipped_names()
    assert names == sorted(names)
    for expected in ("default", "sort4", "lecture-centered", "lecture-raw", "lecture-normalized",
                     "lecture-max", "lecture-clipped", "reward-hacking"):
        assert expected in names


@pytest.mark.parametrize("name", P.shipped_names())
def test_every_shipped_preset_loads(name, tmp_path):
    preset = P.find_preset(name, tmp_path)
    assert preset.name == name
    assert preset.shipped
    assert preset.description
    assert isinstance(preset.config, TrainConfig)
    preset.config.check()
    # the file's keys are all settings (plus name and description): nothing silently ignored
    data = yaml.safe_load((P.SHIPPED_DIR / f"{name}.yaml").read_text())
    assert set(data) - {"name", "description"} <= set(TrainConfig.field_names())


def test_lecture_presets_are_the_lecture_setup():
    for name, mode in (("lecture-centered", "centered"), ("lecture-raw", "raw"),
                       ("lecture-normalized", "normalized"), ("lecture-max", "max")):
        c = P.find_preset(name).config
        assert (c.policy, c.d_model, c.prompt_source, c.n, c.vocab_size) == ("lecture", 10, "fixed", 3, 5)
        assert c.prompts == [[1, 0, 2], [3, 2, 4], [1, 2, 3]]
        assert (c.reward, c.delta_mode, c.loss_mode) == ("inclusion_ordering", mode, "naive")
        assert (c.group_size, c.inner_steps, c.learning_rate, c.rollouts, c.seed) == (10, 10, 1e-3, 100, 5)


def test_list_presets_shipped_first_then_user(tmp_path):
    P.save_preset("mine", "d", TrainConfig(), tmp_path)
    found, problems = P.list_presets(tmp_path)
    names = [p.name for p in found]
    assert names[:len(P.shipped_names())] == P.shipped_names()
    assert names[-1] == "mine" and not found[-1].shipped
    assert problems == []


def test_list_presets_reports_broken_user_files(tmp_path):
    (tmp_path / "broken.yaml").write_text("group_size: [\n")
    found, problems = P.list_presets(tmp_path)
    assert "broken" not in [p.name for p in found]
    assert len(problems) == 1 and str(tmp_path / "broken.yaml") in problems[0]


# ============================================================================ save / read
def test_save_and_read_round_trip(tmp_path):
    cfg = TrainConfig.from_dict({"group_size": 4, "learning_rate": 1e-5, "clip_eps": 0.01,
                                 "delta_mode": "normalized", "prompt_source": "fixed", "n": 3,
                                 "vocab_size": 5, "heldout_size": 10,
                                 "prompts": [[1, 0, 2], [4, 4, 0]]})
    path = P.save_preset("mine", "My preset: with a colon", cfg, tmp_path)
    assert path == tmp_path / "mine.yaml"
    assert path.is_file()
    preset = P.find_preset("mine", tmp_path)
    assert preset.config == cfg
    assert preset.name == "mine"
    assert preset.description == "My preset: with a colon"
    assert not preset.shipped
    assert preset.path == path
    # also by path
    assert P.find_preset(str(path)).config == cfg
    # no temporary files left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.yaml"]


def test_preset_yaml_round_trips_for_every_shipped_preset():
    for name in P.shipped_names():
        p = P.find_preset(name)
        again = P.parse_preset(P.preset_yaml(p.name, p.description, p.config), source="x")
        assert (again.name, again.description, again.config) == (p.name, p.description, p.config)


def test_save_creates_the_folder(tmp_path):
    target = tmp_path / "a" / "b"
    P.save_preset("mine", "", TrainConfig(), target)
    assert (target / "mine.yaml").is_file()


def test_user_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GRPOTUI_PRESETS_DIR", str(tmp_path / "envdir"))
    P.save_preset("envsaved", "", TrainConfig())
    assert (tmp_path / "envdir" / "envsaved.yaml").is_file()
    assert P.user_dir() == tmp_path / "envdir"
    assert P.user_dir(tmp_path / "other") == tmp_path / "other"
    monkeypatch.delenv("GRPOTUI_PRESETS_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert P.user_dir() == tmp_path / "xdg" / "grpotui" / "presets"


@pytest.mark.parametrize("name", P.shipped_names())
def test_saving_a_shipped_name_is_refused(name, tmp_path):
    with pytest.raises(P.PresetError, match="shipped"):
        P.save_preset(name, "", TrainConfig(), tmp_path)
    assert not (tmp_path / f"{name}.yaml").exists()


@pytest.mark.parametrize("name", ["", "   ", "a/b", "../x", ".hidden", "a b", "-x", "x" * 65,
                                  "a\\b", "/abs"])
def test_bad_names_are_refused(name, tmp_path):
    with pytest.raises(P.PresetError, match="not a usable preset name"):
        P.save_preset(name, "", TrainConfig(), tmp_path)
    assert list(tmp_path.rglob("*")) == []
    assert not (tmp_path.parent / "x.yaml").exists()


def test_good_names_are_accepted(tmp_path):
    for name in ("a", "My_preset-2", "v1.2", "x" * 64):
        P.save_preset(name, "", TrainConfig(), tmp_path)
        assert (tmp_path / f"{name}.yaml").is_file()


def test_existing_user_preset_needs_overwrite(tmp_path):
    P.save_preset("mine", "first", TrainConfig(), tmp_path)
    with pytest.raises(P.PresetExists) as err:
        P.save_preset("mine", "second", TrainConfig.from_dict({"group_size": 2}), tmp_path)
    assert isinstance(err.value, P.PresetError)
    assert "mine" in str(err.value)
    assert P.find_preset("mine", tmp_path).description == "first"
    P.save_preset("mine", "second", TrainConfig.from_dict({"group_size": 2}), tmp_path,
                  overwrite=True)
    again = P.find_preset("mine", tmp_path)
    assert (again.description, again.config.group_size) == ("second", 2)


def test_save_into_an_unwritable_place_is_a_preset_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(P.PresetError, match="cannot save preset 'mine'"):
        P.save_preset("mine", "", TrainConfig(), blocker / "sub")


# ============================================================================ bad files
def write(tmp_path, name, text):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text,expect", [
    ("group_size: [1, 2\nlearning_rate: 0.1\n", "malformed YAML at line"),
    ("- 1\n- 2\n", "must be a YAML mapping"),
    ("just text\n", "must be a YAML mapping"),
    ("learnin_rate: 0.1\n", "Did you mean 'learning_rate'"),
    ("group_size: 0\n", "key 'group_size'"),
    ("name: [1]\n", "'name' and 'description' must be text"),
])
def test_bad_preset_files_name_the_path(tmp_path, text, expect):
    path = write(tmp_path, "bad", text)
    for load in (lambda: P.read_preset_file(path), lambda: P.find_preset("bad", tmp_path),
                 lambda: P.find_preset(str(path))):
        with pytest.raises(P.PresetError) as err:
            load()
        assert isinstance(err.value, ConfigError)
        assert str(path) in str(err.value)
        assert expect in str(err.value)


def test_empty_file_is_all_defaults(tmp_path):
    path = write(tmp_path, "empty", "")
    preset = P.read_preset_file(path)
    assert preset.config == TrainConfig()
    assert preset.name == "empty"


def test_missing_and_unknown_presets(tmp_path):
    with pytest.raises(P.PresetError, match="no such preset file"):
        P.find_preset(str(tmp_path / "nope.yaml"))
    with pytest.raises(P.PresetError) as err:
        P.find_preset("no-such-preset", tmp_path)
    assert "unknown preset 'no-such-preset'" in str(err.value)
    assert "sort4" in str(err.value)


# ============================================================================ delete
def test_delete_user_preset(tmp_path):
    path = P.save_preset("mine", "", TrainConfig(), tmp_path)
    assert P.delete_preset("mine", tmp_path) == path
    assert not path.exists()
    with pytest.raises(P.PresetError, match="no user preset named 'mine'"):
        P.delete_preset("mine", tmp_path)


def test_delete_shipped_is_refused(tmp_path):
    with pytest.raises(P.PresetError, match="shipped"):
        P.delete_preset("sort4", tmp_path)
    assert (P.SHIPPED_DIR / "sort4.yaml").is_file()


def test_delete_refuses_path_names(tmp_path):
    (tmp_path / "victim.yaml").write_text("group_size: 2\n")
    inner = tmp_path / "inner"
    inner.mkdir()
    with pytest.raises(P.PresetError):
        P.delete_preset("../victim", inner)
    assert (tmp_path / "victim.yaml").exists()


# ============================================================================ where shipped presets live
REPO = Path(__file__).resolve().parents[2]


def test_shipped_presets_are_the_top_level_folder_in_a_checkout():
    # a source checkout and an editable install read presets/ itself: the one copy
    assert P.SHIPPED_DIR == REPO / "presets"
    assert sorted(p.stem for p in (REPO / "presets").glob("*.yaml")) == P.shipped_names()
    assert not (REPO / "grpotui" / "presets").exists()


def test_a_regular_install_carries_the_shipped_presets(tmp_path):
    # build a wheel from a copy of the sources (so no build/ folder lands in the checkout) and check
    # it holds every preset as grpotui/_presets/NAME.yaml, byte for byte, where presets.py looks
    import shutil
    import subprocess
    import sys
    import zipfile

    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO / name, src / name)
    for folder in ("grpotui", "presets"):
        shutil.copytree(REPO / folder, src / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    wheel = next((tmp_path / "dist").glob("grpotui-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        inside = {n: z.read(n) for n in z.namelist() if n.startswith("grpotui/_presets/")}
        assert "grpotui/tui/app.tcss" in z.namelist()
    assert inside == {f"grpotui/_presets/{p.name}": p.read_bytes()
                      for p in (REPO / "presets").glob("*.yaml")}
