"""lessons.length_weights (the length canvas's math): each loss type's d loss / d logp_t for a short
and a long response with the same advantage, checked against hand-worked values."""

from __future__ import annotations

import itertools
import math

import pytest

from grpotui.engine import grpo
from grpotui.engine import lessons as L


def test_hand_case_lengths_2_and_6_wrong_answers():
    # N = 2 responses, lengths 2 and 6, T = 8 tokens, L = 8, A = -1. At ratio 1 each token's
    # clipped objective has slope A in its log-prob, so d loss / d logp_t = -A x (the weight the
    # aggregation gives that token) = 1 x weight:
    #   grpo:    mean over responses of sum_t / len_i -> 1 / (N len_i): 1/4 (short), 1/12 (long)
    #   bnpo:    sum / T                              -> 1/8 for every token
    #   dapo:    the same as bnpo (one batch, one process)
    #   dr_grpo: sum / (N L) = sum / 16               -> 1/16 for every token
    #   luspo:   mean over responses of sum_t         -> 1/N = 1/2 for every token
    # Totals (sum over a response's tokens): grpo 2/4 = 6/12 = 1/2 for both; bnpo 2/8, 6/8;
    # dr_grpo 2/16, 6/16; luspo 2/2, 6/2.
    w = L.length_weights(2, 6, -1.0, 8)
    assert w.lengths == (2, 6) and w.tokens == 8 and w.max_completion_length == 8
    expected = {"grpo": (1 / 4, 1 / 12), "bnpo": (1 / 8, 1 / 8), "dapo": (1 / 8, 1 / 8),
                "dr_grpo": (1 / 16, 1 / 16), "luspo": (1 / 2, 1 / 2)}
    totals = {"grpo": (1 / 2, 1 / 2), "bnpo": (1 / 4, 3 / 4), "dapo": (1 / 4, 3 / 4),
              "dr_grpo": (1 / 8, 3 / 8), "luspo": (1.0, 3.0)}
    assert list(w.weights) == list(L.LENGTH_LOSS_TYPES)
    for t in L.LENGTH_LOSS_TYPES:
        assert w.weights[t] == pytest.approx(expected[t], rel=1e-15, abs=0), t
        assert w.totals[t] == pytest.approx(totals[t], rel=1e-15, abs=0), t
    # grpo's long tokens get short/long = 1/3 of a short token's push; dr_grpo's long total is 3x
    assert w.weights["grpo"][1] / w.weights["grpo"][0] == pytest.approx(1 / 3, rel=1e-15)
    assert w.totals["dr_grpo"][1] / w.totals["dr_grpo"][0] == pytest.approx(3, rel=1e-15)
    # lengths 2 and 6: bnpo, dapo, dr_grpo (T/(N L) = 8/16) and luspo (T/N = 4) coincide; grpo not
    assert w.coinciding == {"bnpo": 1.0, "dapo": 1.0, "dr_grpo": 0.5, "luspo": 4.0}


def test_hand_case_right_answers_pull_up():
    # lengths 3 and 5, A = +1.5, L = 10, T = 8: negative gradients (a descent step raises logp)
    #   grpo -1.5/(2*3) = -0.25 and -1.5/(2*5) = -0.15; bnpo, dapo -1.5/8 = -0.1875;
    #   dr_grpo -1.5/(2*10) = -0.075; luspo -1.5/2 = -0.75
    w = L.length_weights(3, 5, 1.5, 10)
    assert w.weights["grpo"] == pytest.approx((-0.25, -0.15), rel=1e-15)
    assert w.weights["bnpo"] == w.weights["dapo"] == pytest.approx((-0.1875, -0.1875), rel=1e-15)
    assert w.weights["dr_grpo"] == pytest.approx((-0.075, -0.075), rel=1e-15)
    assert w.weights["luspo"] == pytest.approx((-0.75, -0.75), rel=1e-15)
    assert w.totals["grpo"] == pytest.approx((-0.75, -0.75), rel=1e-15)    # 3 x -0.25 = 5 x -0.15
    assert w.totals["dr_grpo"] == pytest.approx((-0.225, -0.375), rel=1e-15)


@pytest.mark.parametrize("short, long, cap", [(1, 1, 1), (2, 6, 8), (16, 16, 32), (0, 4, 4)])
def test_zero_advantage_pushes_nothing(short, long, cap):
    w = L.length_weights(short, long, 0.0, cap)
    for t in L.LENGTH_LOSS_TYPES:
        for x in (*w.weights[t], *w.totals[t]):
            assert x == 0.0 and math.copysign(1.0, x) == 1.0, t    # 0.0, never -0.0


def test_equal_lengths_every_aggregating_type_coincides_up_to_its_factor():
    # lengths 4 and 4, L = 8, A = -0.5, T = 8, N = 2: grpo = bnpo = dapo: 0.5/8 = 1/16 per token;
    # dr_grpo 0.5/16 = 1/32; luspo 0.5/2 = 1/4. coinciding_loss_types: grpo T/(N l) = 1,
    # dr_grpo T/(N L) = 1/2, luspo T/N = 4, and each type's gradient is its factor x bnpo's.
    w = L.length_weights(4, 4, -0.5, 8)
    assert w.coinciding == {"grpo": 1.0, "bnpo": 1.0, "dapo": 1.0, "dr_grpo": 0.5, "luspo": 4.0}
    assert w.weights["grpo"] == w.weights["bnpo"] == w.weights["dapo"] == (1 / 16, 1 / 16)
    assert w.weights["dr_grpo"] == (1 / 32, 1 / 32) and w.weights["luspo"] == (1 / 4, 1 / 4)
    for t, factor in w.coinciding.items():
        assert w.weights[t] == pytest.approx(tuple(factor * x for x in w.weights["bnpo"]),
                                             rel=1e-15)


@pytest.mark.parametrize("short, long, cap, a", [
    (s, l, c, a) for s, l, c, a in itertools.product((1, 2, 7, 16), (1, 5, 16), (16, 32),
                                                     (-2.0, -0.3, 0.1, 1.7)) if s <= l])
def test_every_type_is_its_formula(short, long, cap, a):
    # -A/(N len) for grpo, -A/T for bnpo and dapo, -A/(N L) for dr_grpo, -A/N for luspo (N = 2)
    w = L.length_weights(short, long, a, cap)
    t = short + long
    formulas = {"grpo": (-a / (2 * short), -a / (2 * long)), "bnpo": (-a / t,) * 2,
                "dapo": (-a / t,) * 2, "dr_grpo": (-a / (2 * cap),) * 2, "luspo": (-a / 2,) * 2}
    for name, (ws, wl) in formulas.items():
        assert w.weights[name] == pytest.approx((ws, wl), rel=1e-12), name
        assert w.totals[name] == pytest.approx((ws * short, wl * long), rel=1e-12), name
    # where the lengths differ grpo is no multiple of bnpo; the others always are
    factors = w.coinciding
    assert ("grpo" in factors) == (short == long)
    for name, factor in factors.items():
        assert w.weights[name] == pytest.approx(tuple(factor * x for x in w.weights["bnpo"]),
                                                rel=1e-12)


def test_it_uses_the_engines_aggregation(monkeypatch):
    # the weights come from grpo.policy_loss -> grpo.aggregate by autograd, not from a formula here:
    # an aggregation that doubles every loss doubles every weight
    before = L.length_weights(2, 6, -1.0, 8)
    real = grpo.aggregate
    monkeypatch.setattr(grpo, "aggregate", lambda *args, **kw: 2 * real(*args, **kw))
    after = L.length_weights(2, 6, -1.0, 8)
    for t in L.LENGTH_LOSS_TYPES:
        assert after.weights[t] == tuple(2 * x for x in before.weights[t])
    # and grpo's per-response mean is what makes the long tokens lighter: aggregate them as bnpo
    # instead and grpo's weights become bnpo's
    monkeypatch.setattr(grpo, "aggregate", lambda loss, mask, loss_type, length:
                        real(loss, mask, "bnpo", length))
    assert L.length_weights(2, 6, -1.0, 8).weights["grpo"] == (1 / 8, 1 / 8)


def test_sapo_at_ratio_one_pushes_as_grpo():
    # sapo's objective (4/tau) sigmoid(tau (r - 1)) A has slope A at r = 1 and aggregates as grpo
    w = L.length_weights(2, 6, -1.0, 8, ("grpo", "sapo"))
    assert w.weights["sapo"] == pytest.approx(w.weights["grpo"], rel=1e-15)


def test_lengths_must_fit_the_max_completion_length():
    with pytest.raises(ValueError, match="0..L = 4"):
        L.length_weights(2, 6, -1.0, 4)
    with pytest.raises(ValueError, match="unknown loss_type"):
        L.length_weights(2, 6, -1.0, 8, ("nope",))
