"""Presets against random input: valid configs round-trip exactly; any YAML document either loads or
gives a PresetError (never a traceback); an interrupted save leaves the old file whole."""

from __future__ import annotations

import os

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from grpotui.config import (DELTA_MODES, LOSS_MODES, LOSS_TYPES, REWARDS, VARIABLE_ONLY_REWARDS,
                            TrainConfig)
from grpotui.presets import PresetError, parse_preset, read_preset_file, save_preset


@st.composite
def valid_configs(draw) -> TrainConfig:
    policy = draw(st.sampled_from(["lecture", "transformer"]))
    n_heads = draw(st.sampled_from([1, 2, 4]))
    n = draw(st.integers(2, 6))
    vocab = draw(st.integers(2, 12))
    source = draw(st.sampled_from(["fixed", "random"]))
    space = vocab ** n
    prompts = draw(st.lists(st.lists(st.integers(0, vocab - 1), min_size=n, max_size=n),
                            min_size=1, max_size=min(4, space - 1)))  # leave room for a held-out one
    variable = draw(st.booleans())      # issue 24's task: the autoregressive policy, EOS
    extra = {}
    if variable:
        policy, source = "autoregressive", "random"
        extra = dict(min_n=draw(st.integers(1, n)),
                     max_completion_length=draw(st.sampled_from([0, n + 1, 2 * n + 3])),
                     mask_truncated_completions=draw(st.booleans()),
                     loss_type=draw(st.sampled_from(LOSS_TYPES)),
                     epsilon_high=draw(st.floats(0, 10)), top_p=draw(st.floats(0.01, 1)),
                     top_k=draw(st.integers(0, 1000)),
                     top_entropy_quantile=draw(st.floats(0, 1)),
                     entropy_coef=draw(st.floats(0, 10)))
    heldout_max = space - len(prompts) if source == "fixed" else space // 2
    rewards = REWARDS if variable else [r for r in REWARDS if r not in VARIABLE_ONLY_REWARDS]
    loss_modes = ["clipped"] if extra.get("loss_type") in ("cispo", "sapo", "vespo") else LOSS_MODES
    return TrainConfig(
        **extra,
        delta_mode=draw(st.sampled_from(DELTA_MODES)), loss_mode=draw(st.sampled_from(loss_modes)),
        reward=draw(st.sampled_from(rewards)), group_size=draw(st.integers(1, 256)),
        learning_rate=draw(st.floats(0, 10)), clip_eps=draw(st.floats(0, 1)),
        kl_beta=draw(st.floats(0, 10)), inner_steps=draw(st.integers(1, 100)),
        prompt_source=source, prompts=prompts, n=n, vocab_size=vocab,
        heldout_size=draw(st.integers(1, max(1, min(heldout_max, 1000)))),
        policy=policy, d_model=n_heads * draw(st.integers(2, 16)), n_heads=n_heads,
        seed=draw(st.integers(0, 2**31 - 1)), rollouts=draw(st.integers(1, 10**6)))


@settings(max_examples=60, deadline=None)
@given(valid_configs(), st.text(max_size=60))
def test_save_then_load_gives_back_the_same_config(tmp_path_factory, config, description):
    d = tmp_path_factory.mktemp("p")
    path = save_preset("p", description, config, d, overwrite=True)
    loaded = read_preset_file(path)
    assert loaded.config == config
    assert loaded.description == description and loaded.name == "p"


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=12)
keys = st.sampled_from(TrainConfig.field_names() + ["name", "description", "learnin_rate", "x"])


@settings(max_examples=300, deadline=None)
@given(st.one_of(yaml_values, st.dictionaries(keys, yaml_values, max_size=6)))
def test_random_yaml_documents_load_or_give_a_clear_error(doc):
    text = yaml.safe_dump(doc)
    try:
        preset = parse_preset(text, source="fuzz.yaml")
    except PresetError as e:
        assert str(e).startswith("fuzz.yaml") and "\n" not in str(e).strip()
    else:
        assert isinstance(preset.config, TrainConfig)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text_loads_or_gives_a_clear_error(text):
    try:
        parse_preset(text, source="fuzz.yaml")
    except PresetError as e:
        assert str(e).startswith("fuzz.yaml")


@pytest.mark.parametrize("fail_at", ["write", "fsync", "replace"])
def test_an_interrupted_save_leaves_the_old_file_intact(tmp_path, monkeypatch, fail_at):
    old = TrainConfig(delta_mode="raw")
    path = save_preset("mine", "the old one", old, tmp_path)
    before = path.read_bytes()

    def interrupt(*a, **k):
        raise KeyboardInterrupt  # as if the terminal closed mid-save

    if fail_at == "write":
        real_fdopen = os.fdopen

        def fdopen(fd, *a, **k):
            f = real_fdopen(fd, *a, **k)
            real_write = f.write

            def write(text):
                real_write(text[: len(text) // 2])  # half the file reaches the disk...
                interrupt()
            f.write = write
            return f
        monkeypatch.setattr(os, "fdopen", fdopen)
    else:
        monkeypatch.setattr(os, fail_at, interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_preset("mine", "the new one", TrainConfig(delta_mode="max"), tmp_path, overwrite=True)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert read_preset_file(path).config == old
    assert [p.name for p in tmp_path.iterdir()] == ["mine.yaml"]  # no temporary file left behind
