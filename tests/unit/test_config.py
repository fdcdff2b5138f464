"""TrainConfig: validation messages, coercion, aliases, cross-field checks and --set parsing."""

from __future__ import annotations

import pytest

from grpotui.config import (DELTA_ALIASES, LECTURE_PROMPTS, ConfigError, TrainConfig, allowed_text,
                            coerce, parse_set)


def error_of(data, source="my.yaml", **kw) -> str:
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict(data, source=source, **kw)
    return str(err.value)


# ============================================================================ defaults, round trip
def test_defaults_are_valid_and_round_trip():
    cfg = TrainConfig()
    cfg.check()
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig.from_dict({}) == cfg


def test_default_prompts_are_copies():
    a, b = TrainConfig(), TrainConfig()
    a.prompts[0][0] = 4
    assert b.prompts == LECTURE_PROMPTS == [[1, 0, 2], [3, 2, 4], [1, 2, 3]]


def test_every_field_has_help_and_live_flag():
    for f in TrainConfig.fields():
        assert f.metadata["help"], f.name
        assert isinstance(f.metadata["live"], bool), f.name
    live = TrainConfig.live_keys()
    for key in ("delta_mode", "loss_mode", "reward", "group_size", "learning_rate", "clip_eps",
                "kl_beta", "inner_steps"):
        assert key in live
    for key in ("n", "vocab_size", "policy", "seed", "d_model", "prompt_source"):
        assert key not in live


def test_from_dict_applies_overrides_on_a_base():
    base = TrainConfig.from_dict({"group_size": 4, "learning_rate": 3e-3})
    cfg = TrainConfig.from_dict({"learning_rate": 0.01}, base=base)
    assert (cfg.group_size, cfg.learning_rate) == (4, 0.01)
    assert base.learning_rate == 3e-3     # the base is not changed


def test_replace_and_diff():
    a = TrainConfig.from_dict({"group_size": 8, "delta_mode": "centered"})
    b = a.replace(group_size=4, delta_mode="max_rewards")
    assert a.diff(b) == {"group_size": (8, 4), "delta_mode": ("centered", "max")}
    assert a.diff(a) == {}


# ============================================================================ error messages
def test_unknown_key_names_source_key_and_suggestion():
    msg = error_of({"learnin_rate": 0.1})
    assert msg.startswith("my.yaml:")
    assert "'learnin_rate'" in msg
    assert "Did you mean 'learning_rate'?" in msg
    assert "Allowed keys:" in msg and "group_size" in msg


def test_unknown_key_without_close_match_has_no_suggestion():
    msg = error_of({"zzzzzz": 1})
    assert "'zzzzzz'" in msg
    assert "Did you mean" not in msg


@pytest.mark.parametrize("key,value,shown,allowed", [
    ("group_size", "abc", "'abc'", "an integer from 1 to 256"),
    ("group_size", True, "True", "an integer from 1 to 256"),
    ("group_size", 2.5, "2.5", "an integer from 1 to 256"),
    ("group_size", [1], "[1]", "an integer from 1 to 256"),
    ("learning_rate", "fast", "'fast'", "a number from 0 to 10"),
    ("learning_rate", None, "None", "a number from 0 to 10"),
    ("learning_rate", False, "False", "a number from 0 to 10"),
    ("delta_mode", 3, "3", "one of raw, centered, normalized, max"),
    ("prompts", "123", "'123'", "a list of prompts"),
    ("prompts", [[1, "a"]], "[[1, 'a']]", "a list of prompts"),
    ("prompts", [[1, -1, 0]], "[[1, -1, 0]]", "a list of prompts"),
    ("prompts", [], "[]", "a list of prompts"),
])
def test_wrong_type(key, value, shown, allowed):
    msg = error_of({key: value})
    assert msg.startswith("my.yaml: ")
    assert f"key '{key}'" in msg
    assert shown in msg
    assert f"allowed: {allowed}" in msg


@pytest.mark.parametrize("key,value,shown,allowed", [
    ("group_size", 0, "0", "an integer from 1 to 256"),
    ("group_size", 257, "257", "an integer from 1 to 256"),
    ("learning_rate", 20, "20", "a number from 0 to 10"),
    ("learning_rate", -0.001, "-0.001", "a number from 0 to 10"),
    ("clip_eps", 1.5, "1.5", "a number from 0 to 1"),
    ("n", 1, "1", "an integer from 2 to 16"),
    ("seed", -1, "-1", "an integer from 0 to 2147483647"),
    ("learning_rate", float("nan"), "nan", "a number from 0 to 10"),
    ("learning_rate", "inf", "inf", "a number from 0 to 10"),
    ("delta_mode", "bogus", "'bogus'", "one of raw, centered, normalized, max"),
    ("policy", "mlp", "'mlp'", "one of lecture, transformer"),
])
def test_out_of_range_or_not_a_choice(key, value, shown, allowed):
    msg = error_of({key: value}, source="--set")
    assert msg.startswith("--set: ")
    assert f"key '{key}'" in msg
    assert shown in msg
    assert f"allowed: {allowed}" in msg


def test_delta_mode_allowed_text_mentions_lecture_names():
    text = allowed_text("delta_mode")
    for alias in DELTA_ALIASES:
        assert alias in text


def test_non_mapping_is_rejected():
    msg = error_of([1, 2])
    assert msg.startswith("my.yaml:") and "mapping" in msg and "a list" in msg


def test_bounds_are_inclusive():
    cfg = TrainConfig.from_dict({"group_size": 1, "learning_rate": 0, "clip_eps": 1.0})
    assert (cfg.group_size, cfg.learning_rate, cfg.clip_eps) == (1, 0.0, 1.0)
    assert TrainConfig.from_dict({"group_size": 256}).group_size == 256


# ============================================================================ coercion, aliases
@pytest.mark.parametrize("alias,mode", sorted(DELTA_ALIASES.items()) + [
    ("Normalized-Rewards", "normalized"), (" MAX ", "max"), ("centered", "centered")])
def test_delta_mode_aliases_canonicalise(alias, mode):
    assert TrainConfig.from_dict({"delta_mode": alias}).delta_mode == mode
    assert coerce("delta_mode", alias) == mode


def test_reward_aliases_canonicalise():
    assert coerce("reward", "sort_distance_reward") == "position_match"
    assert coerce("reward", "sort_inclusion_ordering_reward") == "inclusion_ordering"
    assert coerce("reward", "Exact-Match") == "exact_match"


def test_numbers_from_text_and_integral_floats():
    assert coerce("group_size", "16") == 16
    assert coerce("group_size", 16.0) == 16
    assert type(coerce("group_size", 16.0)) is int
    assert coerce("rollouts", "1_000") == 1000
    assert coerce("learning_rate", "1e-3") == 0.001
    assert coerce("learning_rate", 1) == 1.0
    assert type(coerce("learning_rate", 1)) is float


def test_prompts_are_copied():
    src = [[1, 0, 2]]
    out = coerce("prompts", src)
    assert out == src and out is not src and out[0] is not src[0]


# ============================================================================ cross-field checks
def test_d_model_must_divide_by_heads_for_transformer():
    msg = error_of({"policy": "transformer", "d_model": 30, "n_heads": 4})
    assert "d_model 30" in msg and "n_heads 4" in msg
    # the lecture policy has no heads
    assert TrainConfig.from_dict({"policy": "lecture", "d_model": 30, "n_heads": 4}).d_model == 30


def test_fixed_prompts_must_fit_n_and_vocab():
    lec = {"prompt_source": "fixed", "prompts": LECTURE_PROMPTS, "heldout_size": 5}
    msg = error_of({**lec, "n": 3, "vocab_size": 3})
    assert "key 'prompts'" in msg and "[3, 2, 4]" in msg and "vocab_size=3" in msg
    msg = error_of({**lec, "n": 4, "vocab_size": 5})
    assert "key 'prompts'" in msg and "n=4" in msg


def test_heldout_must_leave_prompts_to_train_on():
    # random: at most half of vocab**n
    rnd = {"prompt_source": "random", "n": 3, "vocab_size": 4}
    ok = TrainConfig.from_dict({**rnd, "heldout_size": 32})
    assert ok.heldout_size == 32
    msg = error_of({**rnd, "heldout_size": 33})
    assert "key 'heldout_size'" in msg and "33" in msg and "at most half of them (32)" in msg
    # fixed: at most vocab**n minus the training prompts
    fixed = {"prompt_source": "fixed", "n": 3, "vocab_size": 5, "prompts": LECTURE_PROMPTS}
    assert TrainConfig.from_dict({**fixed, "heldout_size": 122}).heldout_size == 122
    msg = error_of({**fixed, "heldout_size": 123})
    assert "key 'heldout_size'" in msg and "at most 122" in msg


# ============================================================================ parse_set
def test_parse_set_values():
    got = parse_set(["learning_rate=1e-3", "group_size=4", "clip_eps=0.05",
                     "prompts=[[1, 0, 2], [3, 2, 4]]", "delta_mode=centered_rewards",
                     " kl_beta = 0.5 ", "max_grad_norm=2"])
    assert got == {"learning_rate": 0.001, "group_size": 4, "clip_eps": 0.05,
                   "prompts": [[1, 0, 2], [3, 2, 4]], "delta_mode": "centered",
                   "kl_beta": 0.5, "max_grad_norm": 2.0}
    assert type(got["group_size"]) is int
    assert type(got["max_grad_norm"]) is float


def test_parse_set_empty():
    assert parse_set(None) == {}
    assert parse_set([]) == {}


def test_parse_set_later_wins():
    assert parse_set(["group_size=4", "group_size=6"]) == {"group_size": 6}


def test_parse_set_rejects_missing_equals():
    with pytest.raises(ConfigError) as err:
        parse_set(["learning_rate"])
    msg = str(err.value)
    assert "--set 'learning_rate'" in msg and "key=value" in msg


def test_parse_set_names_the_key_in_errors():
    with pytest.raises(ConfigError) as err:
        parse_set(["group_size=0"])
    msg = str(err.value)
    assert msg.startswith("--set group_size: ") and "0 is out of range" in msg
    with pytest.raises(ConfigError, match="Did you mean 'group_size'"):
        parse_set(["group_sise=4"])
    with pytest.raises(ConfigError, match="'abc' is not a number"):
        parse_set(["learning_rate=abc"])
    with pytest.raises(ConfigError, match="^--set learning_rate: '' is not a number"):
        parse_set(["learning_rate="])     # the key once, not "--set learning_rate: key '...'"
    with pytest.raises(ConfigError, match="^--set group_size: "):
        parse_set(["group_size=yes"])     # YAML's true is not an integer
