"""The decision threshold for a target per-frame false-alarm rate, chosen from clean frames only.

Each method is a small class (anomalib style): `value` is NaN until `fit` has seen clean values,
and `fit` returns a ThresholdResult that explains itself, in particular when there are too few
clean frames to support the target.

The default, BinomialBoundThreshold, picks an order statistic of the clean values so that the
TRUE false-alarm rate is at most the target with the configured confidence. Why an order
statistic works without assuming any distribution: for continuous values, the fraction of the
clean population above the m-th largest of n clean samples is Beta(m, n-m+1) distributed, and
P(true FPR <= a) = P(Binomial(n, a) >= m). We take the largest m (lowest threshold, most
detections) for which that probability is at least the confidence. Even m = 1 (the largest clean
value) needs 1 - (1-a)^n >= confidence, i.e. n >= ln(1-confidence) / ln(1-a): 299 frames for
a = 1 % at 95 %.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np


class ThresholdError(ValueError):
    """The clean values cannot support a threshold as asked; the message says why in one line."""


class ThresholdResult(NamedTuple):
    threshold: float  # flag when value > threshold; NaN when not fitted
    method: str
    target_fpr: float
    confidence: float
    n_clean: int
    rank_from_top: int  # the threshold is the rank_from_top-th largest clean value
    exceedances: int  # clean values strictly above the threshold
    empirical_fpr: float  # exceedances / n_clean
    fpr_upper_bound: float  # Clopper-Pearson upper bound on the true FPR at `confidence`
    min_frames: int  # fewest clean frames that can support target_fpr at confidence
    supported: bool  # fpr_upper_bound <= target_fpr
    explanation: str


def _log_binom_pmf(k: np.ndarray, n: int, p: float) -> np.ndarray:
    k = np.asarray(k, dtype=np.float64)
    if p <= 0.0:
        return np.where(k == 0, 0.0, -np.inf)
    if p >= 1.0:
        return np.where(k == n, 0.0, -np.inf)
    lg = np.vectorize(math.lgamma, otypes=[np.float64])
    return lg(n + 1.0) - lg(k + 1.0) - lg(n - k + 1.0) + k * math.log(p) + (n - k) * math.log1p(-p)


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(Binomial(n, p) <= k), summed in log space so n can be large."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    logs = _log_binom_pmf(np.arange(k + 1), n, p)
    top = logs.max()
    if not np.isfinite(top):
        return 0.0
    return float(min(1.0, math.exp(top) * np.exp(logs - top).sum()))


def fpr_upper_bound(exceedances: int, n: int, confidence: float) -> float:
    """Clopper-Pearson upper bound u on a rate after `exceedances` hits in n trials:
    the u with P(Binomial(n, u) <= exceedances) = 1 - confidence (bisection; monotone in u)."""
    if n <= 0:
        return 1.0
    if exceedances >= n:
        return 1.0
    if exceedances == 0:  # closed form: (1-u)^n = 1 - confidence
        return 1.0 - (1.0 - confidence) ** (1.0 / n)
    lo, hi = exceedances / n, 1.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if binom_cdf(exceedances, n, mid) > 1.0 - confidence:
            lo = mid
        else:
            hi = mid
    return hi


def min_clean_frames(target_fpr: float, confidence: float) -> int:
    """Fewest clean frames for which even the largest clean value bounds the FPR at the target."""
    return int(math.ceil(math.log(1.0 - confidence) / math.log1p(-target_fpr) - 1e-9))


def supported_fpr(n_tracks: int, confidence: float) -> float:
    """The lowest target false-alarm rate that n independent clean trials (tracks: their maxima are
    the trials, group_maxima) can support at `confidence`: even the largest clean value only bounds
    the rate at 1 - (1 - confidence)^(1/n), the inverse of min_clean_frames. 1.0 for no tracks."""
    return fpr_upper_bound(0, n_tracks, confidence)


def support_check(n_tracks: int, target_fpr: float, confidence: float) -> str | None:
    """None when n clean tracks can support target_fpr at confidence; else one line saying how many
    tracks it needs and the rate these tracks can support. Decidable from the count alone, before
    anything is scored (every threshold method is judged by the same binomial bound)."""
    _check(target_fpr, confidence)
    need = min_clean_frames(target_fpr, confidence)
    if n_tracks >= need:
        return None
    return (
        f"{n_tracks} clean tracks cannot support a {target_fpr:.2%} false-alarm rate at {confidence:.0%} "
        f"confidence (it needs {need}); they can support {supported_fpr(n_tracks, confidence):.2%}"
    )


def _check(target_fpr: float, confidence: float) -> None:
    if not 0.0 < target_fpr < 1.0:
        raise ThresholdError(f"target false-alarm rate must be in (0, 1), got {target_fpr}")
    if not 0.0 < confidence < 1.0:
        raise ThresholdError(f"confidence must be in (0, 1), got {confidence}")


def _clean_values(values: object) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(v) == 0:
        raise ThresholdError("no clean frames to calibrate on")
    if not np.isfinite(v).all():
        raise ThresholdError(f"{int((~np.isfinite(v)).sum())} clean values are NaN or infinite")
    return v


def group_maxima(values: object, groups: object) -> np.ndarray:
    """The largest value of each group. Frames of one track are near-duplicates, so they are not
    independent trials; a group exceeds the threshold when any of its frames does, which makes the
    group maxima independent trials whose exceedance rate bounds the per-frame rate from above."""
    v = _clean_values(values)
    g = np.asarray(groups).reshape(-1).astype(str)
    if len(g) != len(v):
        raise ThresholdError(f"{len(v)} values but {len(g)} group ids")
    keys, inv = np.unique(g, return_inverse=True)
    out = np.full(len(keys), -np.inf)
    np.maximum.at(out, inv, v)
    return out


def _result(
    method: str,
    v: np.ndarray,
    m: int,
    target_fpr: float,
    confidence: float,
    why: str | None,
    unit: str = "clean frames",
) -> ThresholdResult:
    n = len(v)
    thr = float(np.sort(v)[n - m])
    exc = int((v > thr).sum())
    bound = fpr_upper_bound(exc, n, confidence)
    need = min_clean_frames(target_fpr, confidence)
    supported = bound <= target_fpr + 1e-12
    if why is None:
        if supported:
            why = (
                f"{method}: threshold {thr:.6g} is the {_ordinal(m)}largest value of {n} {unit}; "
                f"{exc} {unit} above it ({exc / n:.2%}); true false-alarm rate <= {bound:.2%} "
                f"with {confidence:.0%} confidence (target {target_fpr:.2%})"
            )
        else:
            why = (
                f"{method}: threshold {thr:.6g} has {exc} of {n} {unit} above it ({exc / n:.2%}), "
                f"but that only bounds the true false-alarm rate at {bound:.2%} with {confidence:.0%} "
                f"confidence, above the target {target_fpr:.2%}"
            )
    return ThresholdResult(thr, method, target_fpr, confidence, n, m, exc, exc / n, bound, need, supported, why)


def _ordinal(m: int) -> str:
    if m == 1:
        return ""
    suffix = "th" if 10 <= m % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(m % 10, "th")
    return f"{m}{suffix} "


class _Threshold:
    """What the threshold methods share: the target, the fit's bookkeeping and strictness, explain()."""

    name = ""

    def __init__(self, target_fpr: float = 0.01, confidence: float = 0.95) -> None:
        _check(target_fpr, confidence)
        self.target_fpr = target_fpr
        self.confidence = confidence
        self.value = float("nan")
        self.result: ThresholdResult | None = None

    def fit(self, clean_values: object, strict: bool = False, groups: object = None) -> ThresholdResult:
        """Choose the threshold; strict=True raises ThresholdError when the target cannot be supported.

        groups: the track (or stream) of each value. Near-duplicate frames of one track are not
        independent, so with groups the trials are the groups' largest values ("frames" in the
        explanation then means tracks): fewer trials, an honest bound."""
        v = group_maxima(clean_values, groups) if groups is not None else _clean_values(clean_values)
        res = self._choose(v, "clean tracks" if groups is not None else "clean frames")
        if strict and not res.supported:
            raise ThresholdError(res.explanation)
        self.value, self.result = res.threshold, res
        return res

    def _choose(self, v: np.ndarray, unit: str) -> ThresholdResult:
        raise NotImplementedError

    def explain(self) -> str:
        return self.result.explanation if self.result else f"{self.name}: not calibrated (threshold NaN)"


class BinomialBoundThreshold(_Threshold):
    """Lowest order statistic whose exceedance probability is <= target with the given confidence."""

    name = "binomial_bound"

    def _choose(self, v: np.ndarray, unit: str) -> ThresholdResult:
        n, a, c = len(v), self.target_fpr, self.confidence
        need = min_clean_frames(a, c)
        if n < need:
            # Even the largest clean value cannot guarantee the target: use it (the most
            # conservative threshold the data offer) and say what it does guarantee.
            bound = fpr_upper_bound(0, n, c)
            why = (
                f"{self.name}: only {n} {unit}; a false-alarm rate of {a:.2%} can be guaranteed "
                f"with {c:.0%} confidence only from {need} {unit} on (ln(1-{c:g})/ln(1-{a:g})). "
                f"Using the largest clean value, which bounds the rate at {bound:.2%}: add {unit}, "
                f"raise the target rate or lower the confidence"
            )
            return _result(self.name, v, 1, a, c, why, unit)
        # P(Binomial(n, a) >= m) = 1 - cdf(m-1) decreases in m; find the largest m with it >= c.
        lo, hi = 1, n
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if 1.0 - binom_cdf(mid - 1, n, a) >= c:
                lo = mid
            else:
                hi = mid - 1
        return _result(self.name, v, lo, a, c, None, unit)


class EmpiricalQuantileThreshold(_Threshold):
    """The plain (1 - target) quantile of the clean values: no guarantee, about half the time the
    true rate is above target. Kept to show what the bound costs in detections (confidence is only
    used to report the bound of the chosen value)."""

    name = "empirical_quantile"

    def _choose(self, v: np.ndarray, unit: str) -> ThresholdResult:
        # The m-th largest with m = floor(n * target) + 1 leaves at most floor(n * target) above it.
        m = min(len(v), int(math.floor(len(v) * self.target_fpr)) + 1)
        return _result(self.name, v, m, self.target_fpr, self.confidence, None, unit)


METHODS = {cls.name: cls for cls in (BinomialBoundThreshold, EmpiricalQuantileThreshold)}


def make_threshold(method: str, target_fpr: float, confidence: float):
    try:
        return METHODS[method](target_fpr, confidence)
    except KeyError:
        raise ThresholdError(f"unknown threshold method {method!r} (expected one of: {', '.join(METHODS)})") from None


class PerStreamThresholds:
    """One threshold per stream where that stream has enough clean frames to support the target
    on its own; other streams use the global threshold. Streams differ (lighting, optics), so a
    per-stream threshold can be both tighter and safer, but only once the stream has earned it."""

    def __init__(self, target_fpr: float = 0.01, confidence: float = 0.95, method: str = "binomial_bound") -> None:
        self.target_fpr, self.confidence, self.method = target_fpr, confidence, method
        self.global_result: ThresholdResult | None = None
        self.per_stream: dict[str, ThresholdResult] = {}

    def fit(self, clean_values: object, streams: object) -> dict[str, ThresholdResult]:
        v = _clean_values(clean_values)
        s = np.asarray(streams).reshape(-1).astype(str)
        if len(s) != len(v):
            raise ThresholdError(f"{len(v)} values but {len(s)} stream ids")
        self.global_result = make_threshold(self.method, self.target_fpr, self.confidence).fit(v)
        self.per_stream = {}
        for stream in np.unique(s):
            res = make_threshold(self.method, self.target_fpr, self.confidence).fit(v[s == stream])
            if res.supported:
                self.per_stream[str(stream)] = res
        return dict(self.per_stream)

    def threshold_for(self, stream: str) -> float:
        if stream in self.per_stream:
            return self.per_stream[stream].threshold
        return self.global_result.threshold if self.global_result else float("nan")
