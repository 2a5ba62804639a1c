"""AUROC and ROC against hand-computed cases; threshold maths on known distributions."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from calibration.metrics import auroc, average_ranks, detection_rate, false_alarm_rate, roc_curve, tpr_at_fpr
from calibration.threshold import (
    BinomialBoundThreshold,
    EmpiricalQuantileThreshold,
    PerStreamThresholds,
    ThresholdError,
    binom_cdf,
    fpr_upper_bound,
    make_threshold,
    min_clean_frames,
)


def test_auroc_hand_computed_with_ties():
    # pairs (neg, pos): (0,1)>, (0,3)>, (1,1) tie, (1,3)>, (2,1)<, (2,3)> -> 4.5 / 6
    assert auroc([0, 1, 2], [1, 3]) == pytest.approx(0.75)
    assert auroc([0, 0], [1, 1]) == 1.0
    assert auroc([1, 1], [0, 0]) == 0.0
    assert auroc([5, 5, 5], [5, 5]) == 0.5


def test_auroc_matches_pairwise_count():
    rng = np.random.default_rng(0)
    neg = rng.integers(0, 10, 200).astype(float)
    pos = rng.integers(3, 13, 150).astype(float)
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert auroc(neg, pos) == pytest.approx(pairs)


def test_average_ranks():
    assert average_ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_roc_curve_points_and_area():
    curve = roc_curve([0, 1, 2], [1, 3])
    assert curve.fpr.tolist() == pytest.approx([0, 0, 1 / 3, 2 / 3, 1])
    assert curve.tpr.tolist() == pytest.approx([0, 0.5, 0.5, 1, 1])
    # each threshold reproduces its point under the `value > threshold` rule
    for f, t, thr in zip(curve.fpr, curve.tpr, curve.thresholds, strict=False):
        assert false_alarm_rate([0, 1, 2], thr) == pytest.approx(f)
        assert detection_rate([1, 3], thr) == pytest.approx(t)
    assert np.trapezoid(curve.tpr, curve.fpr) == pytest.approx(0.75)
    assert tpr_at_fpr(curve, 0.0) == 0.5


def test_auroc_refuses_one_class_and_nan():
    with pytest.raises(ValueError):
        auroc([], [1.0])
    with pytest.raises(ValueError):
        auroc([float("nan")], [1.0])


def test_binomial_helpers():
    assert binom_cdf(0, 10, 0.1) == pytest.approx(0.9**10)
    assert binom_cdf(2, 5, 0.5) == pytest.approx(0.5)
    # zero hits: closed form (1-u)^n = 1-conf
    assert fpr_upper_bound(0, 299, 0.95) == pytest.approx(1 - 0.05 ** (1 / 299))
    u = fpr_upper_bound(4, 1000, 0.95)
    assert binom_cdf(4, 1000, u) == pytest.approx(0.05, abs=1e-6)
    assert min_clean_frames(0.01, 0.95) == math.ceil(math.log(0.05) / math.log(0.99)) == 299


def test_threshold_nan_until_fitted_and_explains():
    t = BinomialBoundThreshold(0.01, 0.95)
    assert math.isnan(t.value)
    assert "not calibrated" in t.explain()


@pytest.mark.parametrize("dist", ["uniform", "normal"])
def test_binomial_bound_keeps_true_fpr_under_target(dist):
    rng = np.random.default_rng(1)
    draw = (lambda n: rng.random(n)) if dist == "uniform" else (lambda n: rng.normal(size=n))
    true_fpr = (lambda t: 1 - t) if dist == "uniform" else (lambda t: 0.5 * math.erfc(t / math.sqrt(2)))
    over, trials = 0, 400
    for _ in range(trials):
        res = BinomialBoundThreshold(0.01, 0.95).fit(draw(1000))
        assert res.supported and res.fpr_upper_bound <= 0.01
        over += true_fpr(res.threshold) > 0.01
    # the guarantee is 5 % at most; allow sampling slack on 400 trials
    assert over / trials <= 0.08
    # and it is not absurdly conservative: on a large sample the empirical rate sits below target
    big = draw(200_000)
    res = BinomialBoundThreshold(0.01, 0.95).fit(big)
    assert 0.008 < true_fpr(res.threshold) <= 0.0105
    assert res.empirical_fpr == pytest.approx((big > res.threshold).mean())


def test_empirical_quantile_is_unbounded_half_the_time():
    rng = np.random.default_rng(2)
    over = sum((1 - EmpiricalQuantileThreshold(0.01).fit(rng.random(1000)).threshold) > 0.01 for _ in range(300))
    assert 0.25 < over / 300 < 0.75


def test_too_few_frames_explains_and_uses_max():
    v = np.random.default_rng(3).random(100)
    res = BinomialBoundThreshold(0.01, 0.95).fit(v)
    assert not res.supported
    assert res.threshold == v.max() and res.exceedances == 0
    assert res.min_frames == 299
    assert "only 100 clean frames" in res.explanation and "299" in res.explanation
    assert res.fpr_upper_bound == pytest.approx(1 - 0.05 ** (1 / 100))
    with pytest.raises(ThresholdError, match="only 100 clean frames"):
        BinomialBoundThreshold(0.01, 0.95).fit(v, strict=True)
    # exactly enough frames: the max is supported
    assert BinomialBoundThreshold(0.01, 0.95).fit(np.arange(299.0)).supported


def test_threshold_input_errors():
    with pytest.raises(ThresholdError):
        BinomialBoundThreshold(0.0, 0.95)
    with pytest.raises(ThresholdError):
        BinomialBoundThreshold(0.01, 0.95).fit([])
    with pytest.raises(ThresholdError, match="NaN"):
        BinomialBoundThreshold(0.01, 0.95).fit([1.0, float("nan")])
    with pytest.raises(ThresholdError, match="unknown threshold method"):
        make_threshold("nope", 0.01, 0.95)


def test_ties_never_flag_more_than_allowed():
    v = np.r_[np.zeros(990), np.ones(10)]  # 1 % of clean values tied at the top
    res = BinomialBoundThreshold(0.01, 0.95).fit(v)
    assert res.exceedances == (v > res.threshold).sum() <= res.rank_from_top - 1


def test_per_stream_thresholds_fall_back_to_global():
    rng = np.random.default_rng(4)
    values = np.r_[rng.random(2000), rng.random(50) + 5]
    streams = np.r_[["a"] * 2000, ["b"] * 50]
    pst = PerStreamThresholds(0.01, 0.95)
    fitted = pst.fit(values, streams)
    assert set(fitted) == {"a"}
    assert pst.threshold_for("a") < 1.0
    assert pst.threshold_for("b") == pst.global_result.threshold
    assert pst.threshold_for("unseen") == pst.global_result.threshold


def test_groups_count_tracks_not_frames():
    rng = np.random.default_rng(5)
    track_values = rng.random(200)
    values = np.repeat(track_values, 3) + rng.normal(0, 1e-3, 600)  # 3 near-duplicate frames per track
    groups = np.repeat(np.arange(200), 3)
    as_frames = BinomialBoundThreshold(0.01, 0.95).fit(values)
    as_tracks = BinomialBoundThreshold(0.01, 0.95).fit(values, groups=groups)
    assert as_frames.supported and not as_tracks.supported
    assert as_tracks.n_clean == 200 and "only 200 clean tracks" in as_tracks.explanation
    assert as_tracks.threshold == pytest.approx(values.max())


def exact_rank(n: int, a: Fraction, c: Fraction) -> tuple[int | None, Fraction, Fraction]:
    """The largest m in 1..n with P(Binomial(n, a) >= m) >= c, by exact integer arithmetic (None if
    even m = 1 falls short), and the exact tails at m and m + 1 (to skip cases within float rounding).

    P(X >= m) = 1 - sum_{k < m} C(n, k) a^k (1-a)^(n-k); with a = A/D that is an integer sum over D^n.
    """
    A, D = a.numerator, a.denominator
    total = D**n
    cdf = 0  # sum_{k < m} C(n, k) A^k (D-A)^(n-k), for the current m
    best, tail_best, tail_next = None, Fraction(0), Fraction(1)
    for m in range(1, n + 1):
        cdf += math.comb(n, m - 1) * A ** (m - 1) * (D - A) ** (n - m + 1)
        tail = Fraction(total - cdf, total)
        if tail >= c:
            best, tail_best = m, tail
        else:
            tail_next = tail
            break
    else:
        tail_next = Fraction(0)
    return best, tail_best, tail_next


@pytest.mark.parametrize("target", ["0.001", "0.01", "0.05", "0.1", "0.3"])
@pytest.mark.parametrize("confidence", ["0.5", "0.9", "0.95", "0.99"])
def test_binomial_rank_is_the_exact_largest_order_statistic(target, confidence):
    a, c = Fraction(target), Fraction(confidence)
    for n in (1, 2, 3, 5, 10, 29, 30, 50, 100, 298, 299, 300, 459, 1000, 2500):
        m, tail_m, tail_next = exact_rank(n, a, c)
        # the product sums in floating point: a tail within 1e-9 of the confidence could go either way
        if (m is not None and tail_m - c < Fraction(1, 10**9)) or c - tail_next < Fraction(1, 10**9):
            continue
        v = np.random.default_rng(n).permutation(n).astype(np.float64)  # distinct values 0..n-1
        res = BinomialBoundThreshold(float(a), float(c)).fit(v)
        if m is None:  # too few frames: the largest value, not supported
            assert res.rank_from_top == 1 and not res.supported, (n, target, confidence)
            continue
        assert res.rank_from_top == m, (n, target, confidence, res.rank_from_top, m)
        assert res.threshold == n - m and res.exceedances == m - 1
        assert res.supported
