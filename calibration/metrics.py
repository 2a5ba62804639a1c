"""Detection metrics, pure numpy: AUROC, ROC curves, detection and false-alarm rates.

Convention used everywhere in signwatch: higher value = more anomalous, and a frame is flagged
when its value is STRICTLY above the threshold (so a threshold equal to the largest clean value
flags no clean frame).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class RocCurve(NamedTuple):
    fpr: np.ndarray  # (T,) false-alarm rate for each threshold, ascending from 0 to 1
    tpr: np.ndarray  # (T,) detection rate for each threshold
    thresholds: np.ndarray  # (T,) flag when value > threshold; first entry is +inf (nothing flagged)


def _as_1d(x: object, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    if np.isnan(a).any():
        raise ValueError(f"{name} contains NaN")
    return a


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank (what Mann-Whitney needs)."""
    values = np.asarray(values)
    order = np.argsort(values, kind="mergesort")
    sorted_v = values[order]
    # Boundaries of runs of equal values; each run gets the mean of the positions it spans.
    starts = np.flatnonzero(np.r_[True, sorted_v[1:] != sorted_v[:-1]])
    ends = np.r_[starts[1:], len(values)]
    run_rank = (starts + 1 + ends) / 2.0  # mean of (start+1 .. end)
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(run_rank, ends - starts)
    return ranks


def auroc(negatives: object, positives: object) -> float:
    """Area under the ROC curve = P(positive > negative) + 0.5 P(tie), from ranks (Mann-Whitney U).

    negatives: values of normal (clean) frames; positives: values of anomalous frames.
    """
    neg = _as_1d(negatives, "negatives")
    pos = _as_1d(positives, "positives")
    if len(neg) == 0 or len(pos) == 0:
        raise ValueError(f"AUROC needs both classes (got {len(neg)} negatives, {len(pos)} positives)")
    ranks = average_ranks(np.concatenate([neg, pos]))
    u = ranks[len(neg) :].sum() - len(pos) * (len(pos) + 1) / 2.0
    return float(u / (len(neg) * len(pos)))


def roc_curve(negatives: object, positives: object) -> RocCurve:
    """Every distinct threshold's (FPR, TPR), tied values stepping together (a diagonal segment)."""
    neg = _as_1d(negatives, "negatives")
    pos = _as_1d(positives, "positives")
    if len(neg) == 0 or len(pos) == 0:
        raise ValueError(f"ROC needs both classes (got {len(neg)} negatives, {len(pos)} positives)")
    values = np.concatenate([neg, pos])
    is_pos = np.r_[np.zeros(len(neg)), np.ones(len(pos))]
    order = np.argsort(-values, kind="mergesort")
    v = values[order]
    tp = np.cumsum(is_pos[order])
    fp = np.cumsum(1.0 - is_pos[order])
    # Keep only the last index of each run of equal values: a threshold cannot split ties.
    last = np.r_[v[1:] != v[:-1], True]
    tp, fp, v = tp[last], fp[last], v[last]
    # Point i flags every value >= v[i-1]; with `value > threshold` that threshold is the next
    # smaller distinct value v[i] (or -inf after the smallest). Point 0 flags nothing (+inf).
    thresholds = np.r_[np.inf, v[1:], -np.inf]
    fpr = np.r_[0.0, fp / len(neg)]
    tpr = np.r_[0.0, tp / len(pos)]
    return RocCurve(fpr=fpr, tpr=tpr, thresholds=thresholds)


def detection_rate(positives: object, threshold: float) -> float:
    """Fraction of anomalous frames flagged (value > threshold); NaN if there are none."""
    pos = _as_1d(positives, "positives")
    return float(np.mean(pos > threshold)) if len(pos) else float("nan")


def false_alarm_rate(negatives: object, threshold: float) -> float:
    """Fraction of clean frames flagged (value > threshold); NaN if there are none."""
    neg = _as_1d(negatives, "negatives")
    return float(np.mean(neg > threshold)) if len(neg) else float("nan")


def tpr_at_fpr(curve: RocCurve, fpr: float) -> float:
    """Best detection rate among thresholds whose false-alarm rate is at most `fpr`."""
    ok = curve.fpr <= fpr + 1e-12
    return float(curve.tpr[ok].max()) if ok.any() else 0.0
