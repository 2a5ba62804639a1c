"""Fit the detector, its threshold and the condition classifier; read and write calibration files.

The protocol (every figure it reports is for tracks the fitted part did not see):
1. features of every clean frame (scorer outputs + image statistics);
2. the Gaussian of calibration.detector on all clean frames, and out-of-fold distances (folds are
   whole tracks) for the clean frames and for the challenge frames;
3. with a challenge set: the condition classifier (clean + conditions) and its out-of-fold
   logits; its "not clean" logit is the second, supervised detector;
4. each detector's out-of-fold clean values -> a TailMap; anomaly = max of the two surprises;
5. the threshold on the out-of-fold clean anomalies (calibration.threshold), so the false-alarm
   bound holds for unseen clean tracks, not just for the frames the Gaussian was fitted on.

The calibration file is plain YAML (numbers and strings only); `load_calibration` reads it with
yaml.safe_load and refuses, in one line naming the file, anything malformed, made with other
features, or made for another model.
"""
from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

from calibration.conditions import CONDITION_OF_CODE, UNKNOWN, ConditionClassifier
from calibration.detector import (
    FEATURE_COLUMNS,
    GaussianModel,
    TailMap,
    fit_gaussian,
    fit_tail_map,
    group_folds,
    tail_map_from_dict,
    tail_map_to_dict,
)
from calibration.metrics import auroc
from calibration.threshold import ThresholdResult, make_threshold

FORMAT = 1


class CalibrationError(ValueError):
    """A calibration file or calibration input is unusable; the message is one line."""


@dataclass
class Calibration:
    model_id: str
    created: str
    threshold: ThresholdResult
    gaussian: GaussianModel
    distance_tail: TailMap
    classifier: ConditionClassifier | None = None
    classifier_tail: TailMap | None = None
    features: tuple[str, ...] = FEATURE_COLUMNS
    data: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)  # figures measured at calibration (out of fold)


def _p_clean_logit(logits: np.ndarray) -> np.ndarray:
    """log((1 - p_clean) / p_clean) from class logits (clean = column 0), computed stably."""
    rest = logits[:, 1:]
    m = rest.max(axis=1)
    lse_rest = m + np.log(np.exp(rest - m[:, None]).sum(axis=1))
    return lse_rest - logits[:, 0]


def anomaly_values(cal: Calibration, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feature rows (N, D) -> (anomaly, standardised z, classifier logits or an empty (N, 0))."""
    z = cal.gaussian.standardise(x)
    a = cal.distance_tail(cal.gaussian.distance(x))
    logits = np.zeros((len(x), 0))
    if cal.classifier is not None and cal.classifier_tail is not None:
        logits = cal.classifier.logits(z)
        a = np.maximum(a, cal.classifier_tail(_p_clean_logit(logits)))
    return a, z, logits


def fit_calibration(
    clean_x: np.ndarray,
    clean_groups: Sequence[str],
    challenge_x: np.ndarray | None = None,
    challenge_codes: Sequence[int] | None = None,
    challenge_levels: Sequence[int] | None = None,
    challenge_groups: Sequence[str] | None = None,
    *,
    model_id: str,
    fpr: float = 0.01,
    confidence: float = 0.95,
    method: str = "binomial_bound",
    folds: int = 5,
    min_confidence: float = 0.5,
    min_level: int = 2,
    seed: int = 0,
    data: dict | None = None,
) -> Calibration:
    """Everything from feature rows; see the module docstring for the protocol.

    min_level: challenge frames below this level are left out. At level 1 most effects are
    invisible on a sign crop (20 % decolorization, one stop of darkening), so labelling them as a
    condition teaches the classifier to call ordinary clean frames anomalous (see the measurement
    in calibration.detector's docstring)."""
    clean_x = np.asarray(clean_x, dtype=np.float64)
    clean_groups = np.asarray(clean_groups).astype(str)
    if clean_x.ndim != 2 or clean_x.shape[1] != len(FEATURE_COLUMNS):
        raise CalibrationError(f"clean features have shape {clean_x.shape}, expected (N, {len(FEATURE_COLUMNS)})")
    if len(np.unique(clean_groups)) < folds:
        raise CalibrationError(f"need clean frames from at least {folds} tracks for out-of-fold calibration, got {len(np.unique(clean_groups))}")
    has_ch = challenge_x is not None and len(challenge_x) > 0
    if has_ch:
        levels = np.asarray(challenge_levels, dtype=np.int64)
        keep = levels >= min_level
        challenge_x = np.asarray(challenge_x, dtype=np.float64)[keep]
        codes = np.asarray(challenge_codes, dtype=np.int64)[keep]
        levels = levels[keep]
        ch_groups = np.asarray(challenge_groups).astype(str)[keep]
        has_ch = len(codes) > 0
    if has_ch:
        x_all = np.concatenate([clean_x, challenge_x])
        g_all = np.concatenate([clean_groups, ch_groups])
        codes_all = np.r_[np.zeros(len(clean_x), np.int64), codes]
        levels_all = np.r_[np.zeros(len(clean_x), np.int64), levels]
    else:
        x_all, g_all = clean_x, clean_groups
        codes_all = np.zeros(len(clean_x), np.int64)
        levels_all = codes_all
    is_clean = codes_all == 0

    # 2. Gaussian on clean frames; out-of-fold distances for every frame (same track folds).
    gaussian = fit_gaussian(clean_x)
    fold = group_folds(g_all, folds, seed)
    dist_oof = np.empty(len(x_all))
    for f in range(folds):
        test = fold == f
        train = is_clean & ~test
        if test.any():
            dist_oof[test] = fit_gaussian(x_all[train]).distance(x_all[test])
    distance_tail = fit_tail_map(dist_oof[is_clean])
    anomaly_oof = distance_tail(dist_oof)

    # 3. Classifier and supervised detector.
    classifier = classifier_tail = None
    oof_logits = None
    if has_ch:
        labels = np.array([CONDITION_OF_CODE[int(c)] for c in codes_all])
        z_all = gaussian.standardise(x_all)
        classifier, oof_logits = ConditionClassifier.fit(z_all, labels, g_all, folds=folds, min_confidence=min_confidence, seed=seed)
        sup_oof = _p_clean_logit(oof_logits)
        classifier_tail = fit_tail_map(sup_oof[is_clean])
        anomaly_oof = np.maximum(anomaly_oof, classifier_tail(sup_oof))

    # 5. Threshold on out-of-fold clean anomalies.
    # Trials are tracks (their largest value), not frames: a track's frames are near-duplicates.
    threshold = make_threshold(method, fpr, confidence).fit(anomaly_oof[is_clean], groups=g_all[is_clean])

    summary: dict[str, Any] = {
        "clean_frames": int(is_clean.sum()),
        "clean_tracks": int(len(np.unique(clean_groups))),
        "folds": folds,
        "clean_false_alarm_rate_out_of_fold": float(np.mean(anomaly_oof[is_clean] > threshold.threshold)),
    }
    if has_ch:
        summary["challenge_frames"] = int((~is_clean).sum())
        summary["challenge_levels_used"] = sorted(set(levels.tolist()))
        rows = []
        neg = anomaly_oof[is_clean]
        for code in sorted(set(codes_all[~is_clean].tolist())):
            for level in sorted(set(levels_all[codes_all == code].tolist())):
                sel = (codes_all == code) & (levels_all == level)
                pos = anomaly_oof[sel]
                rows.append({
                    "challenge": int(code), "condition": CONDITION_OF_CODE[int(code)], "level": int(level),
                    "frames": int(sel.sum()),
                    "detection_rate": round(float(np.mean(pos > threshold.threshold)), 4),
                    "auroc": round(auroc(neg, pos), 4),
                })
        summary["detection"] = rows
        # Naming accuracy, out of fold, on frames detected at levels 3-5 ("unknown" counts as wrong).
        assert classifier is not None and oof_logits is not None
        p = np.exp((oof_logits[:, 1:] - oof_logits[:, 1:].max(1, keepdims=True)) / classifier.temperature)
        p /= p.sum(1, keepdims=True)
        best = np.array(classifier.classes[1:], dtype=object)[p.argmax(1)]
        conf = p.max(1)
        named = np.where(conf >= classifier.min_confidence, best, UNKNOWN)
        truth = np.array([CONDITION_OF_CODE[int(c)] for c in codes_all], dtype=object)
        sel = (~is_clean) & (levels_all >= 3) & (anomaly_oof > threshold.threshold)
        summary["naming_accuracy_levels_3_5_out_of_fold"] = round(float(np.mean(named[sel] == truth[sel])), 4) if sel.any() else None
        summary["naming_frames_levels_3_5"] = int(sel.sum())
    return Calibration(
        model_id=model_id,
        created=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        threshold=threshold, gaussian=gaussian, distance_tail=distance_tail,
        classifier=classifier, classifier_tail=classifier_tail, data=dict(data or {}), summary=summary,
    )


# ---------------------------------------------------------------------------------------------
# The file


def _py(v: Any) -> Any:
    """numpy scalars/arrays -> plain Python, so yaml.safe_dump writes numbers, not tags."""
    if isinstance(v, np.ndarray):
        return _py(v.tolist())
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, dict):
        return {str(k): _py(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_py(x) for x in v]
    return v  # float inf/nan are fine: YAML has .inf and .nan


def calibration_to_dict(cal: Calibration) -> dict:
    t = cal.threshold
    g = cal.gaussian
    return _py({
        "signwatch_calibration": FORMAT,
        "model_id": cal.model_id,
        "created": cal.created,
        "threshold": {
            "value": t.threshold, "method": t.method, "target_fpr": t.target_fpr, "confidence": t.confidence,
            "n_clean": t.n_clean, "rank_from_top": t.rank_from_top, "exceedances": t.exceedances,
            "empirical_fpr": t.empirical_fpr, "fpr_upper_bound": t.fpr_upper_bound, "min_frames": t.min_frames,
            "supported": t.supported, "explanation": t.explanation,
        },
        "data": cal.data,
        "summary": cal.summary,
        "detector": {
            "anomaly": "max over detectors of -ln P(clean >= value); value > threshold is anomalous",
            "features": list(cal.features),
            "gaussian": {"center": g.center, "scale": g.scale, "mean": g.mean, "precision": g.precision,
                         "shrinkage": g.shrinkage, "clip": g.clip, "soft": g.soft},
            "distance_tail": tail_map_to_dict(cal.distance_tail),
            "classifier_tail": tail_map_to_dict(cal.classifier_tail) if cal.classifier_tail is not None else None,
        },
        "classifier": cal.classifier.to_dict() if cal.classifier is not None else None,
    })


def save_calibration(path: str | Path, cal: Calibration) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"# signwatch calibration for model {cal.model_id}, {cal.created}\n"
        f"# {cal.threshold.explanation}\n"
    )
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(header + yaml.safe_dump(calibration_to_dict(cal), sort_keys=False, width=120))
    tmp.replace(path)  # readers never see half a file


def _arr(d: dict, key: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    try:
        a = np.asarray(d[key], dtype=np.float64)
    except KeyError:
        raise CalibrationError(f"{where}.{key} is missing") from None
    except (TypeError, ValueError):
        raise CalibrationError(f"{where}.{key} is not a list of numbers") from None
    if a.shape != shape:
        raise CalibrationError(f"{where}.{key} has shape {a.shape}, expected {shape}")
    return a


def calibration_from_dict(d: Any) -> Calibration:
    if not isinstance(d, dict):
        raise CalibrationError("not a calibration file (top level is not a mapping)")
    if d.get("signwatch_calibration") != FORMAT:
        raise CalibrationError(f"not a signwatch calibration file of format {FORMAT} (signwatch_calibration: {d.get('signwatch_calibration')!r})")
    try:
        det = d["detector"]
        features = tuple(det["features"])
        if features != FEATURE_COLUMNS:
            raise CalibrationError("made with other features than this version computes; run calibrate again")
        n = len(features)
        gd = det["gaussian"]
        gaussian = GaussianModel(
            _arr(gd, "center", (n,), "detector.gaussian"), _arr(gd, "scale", (n,), "detector.gaussian"),
            _arr(gd, "mean", (n,), "detector.gaussian"), _arr(gd, "precision", (n, n), "detector.gaussian"),
            float(gd["shrinkage"]), float(gd["clip"]), float(gd["soft"]),
        )
        distance_tail = tail_map_from_dict(det["distance_tail"])
        classifier_tail = tail_map_from_dict(det["classifier_tail"]) if det.get("classifier_tail") else None
        classifier = ConditionClassifier.from_dict(d["classifier"]) if d.get("classifier") else None
        if classifier is not None and classifier.weights.shape != (2 * n, len(classifier.classes)):
            raise CalibrationError(f"classifier.weights has shape {classifier.weights.shape}, expected {(2 * n, len(classifier.classes))}")
        if (classifier is None) != (classifier_tail is None):
            raise CalibrationError("classifier and detector.classifier_tail must both be present or both be null")
        t = d["threshold"]
        value = t["value"]
        threshold = ThresholdResult(
            float("nan") if value is None else float(value), str(t["method"]), float(t["target_fpr"]), float(t["confidence"]),
            int(t["n_clean"]), int(t["rank_from_top"]), int(t["exceedances"]), float(t["empirical_fpr"]),
            float(t["fpr_upper_bound"]), int(t["min_frames"]), bool(t["supported"]), str(t["explanation"]),
        )
        model_id = d["model_id"]
        if not isinstance(model_id, str) or not model_id:
            raise CalibrationError("model_id is missing or not a string")
        return Calibration(
            model_id=model_id, created=str(d.get("created", "")), threshold=threshold, gaussian=gaussian,
            distance_tail=distance_tail, classifier=classifier, classifier_tail=classifier_tail,
            data=dict(d.get("data") or {}), summary=dict(d.get("summary") or {}),
        )
    except CalibrationError:
        raise
    except KeyError as e:
        raise CalibrationError(f"setting {e.args[0]!r} is missing") from None
    except (TypeError, ValueError, IndexError) as e:
        raise CalibrationError(f"malformed ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


def load_calibration(path: str | Path, model_id: str | None = None) -> Calibration:
    """Read a calibration file safely; model_id: refuse a file made for another model."""
    from monitor.config import read_yaml_file

    p = Path(path)
    data = read_yaml_file(p, "calibration", CalibrationError)
    try:
        cal = calibration_from_dict(data)
    except CalibrationError as e:
        raise CalibrationError(f"calibration file {p}: {e}") from None
    if model_id is not None and cal.model_id != model_id:
        raise CalibrationError(
            f"calibration file {p}: made for model {cal.model_id}, but the loaded model is {model_id}; run calibrate for this model"
        )
    if math.isnan(cal.threshold.threshold):
        raise CalibrationError(f"calibration file {p}: threshold is not calibrated (null)")
    return cal


# ---------------------------------------------------------------------------------------------
# From folders


def _load_all(paths: Sequence[Path]) -> list[np.ndarray]:
    from monitor.cure_tsr import load_image

    return [load_image(p) for p in paths]


def features_of_paths(scorer, paths: Sequence[Path], batch: int = 512, progress=None) -> np.ndarray:
    """Image files -> feature rows, reading one batch at a time (a challenge set can be large)."""
    from calibration.detector import compute_features

    rows = []
    for i in range(0, len(paths), batch):
        rows.append(compute_features(scorer, _load_all(paths[i : i + batch]))[0])
        if progress:
            progress(min(batch, len(paths) - i))
    return np.concatenate(rows) if rows else np.zeros((0, len(FEATURE_COLUMNS)))


def calibrate_folders(scorer, clean_root: str | Path, challenges_root: str | Path | None = None, *, fpr: float = 0.01,
                      confidence: float = 0.95, method: str = "binomial_bound", progress=None, **kw) -> Calibration:
    """Calibrate from a folder of clean frames (plain tracks or a CURE-TSR layout's ChallengeFree)
    and optionally a CURE-TSR-style challenge set (e.g. from monitor.challenges.build_challenge_set)."""
    from monitor.cure_tsr import read_cure_tsr, training_images

    try:
        clean = training_images(clean_root)
    except FileNotFoundError as e:
        raise CalibrationError(str(e)) from None
    if not clean:
        raise CalibrationError(f"{clean_root}: no clean images found")
    clean_x = features_of_paths(scorer, [p for p, _ in clean], progress=progress)
    data = {"clean_root": str(clean_root), "clean_frames": len(clean)}
    ch_args: tuple = (None, None, None, None)
    if challenges_root is not None:
        frames = [f for f in read_cure_tsr(challenges_root) if f.name.challenge_type != 0]
        if not frames:
            raise CalibrationError(f"{challenges_root}: no challenge frames (expected a CURE-TSR layout with <Challenge>-<level> folders)")
        ch_x = features_of_paths(scorer, [f.path for f in frames], progress=progress)
        ch_groups = [f"{f.split}/{f.sequence}" if f.split else f.sequence for f in frames]
        # Frames built from the clean folder carry the clean track as their sequence (manifest): use
        # the bare track so a clean frame and its challenged copies always share a fold.
        clean_tracks = {g for _, g in clean}
        ch_groups = [f.sequence if f.sequence in clean_tracks else g for f, g in zip(frames, ch_groups)]
        ch_args = (ch_x, [f.name.challenge_type for f in frames], [f.name.level for f in frames], ch_groups)
        data.update({"challenges_root": str(challenges_root), "challenge_frames": len(frames)})
    return fit_calibration(clean_x, [g for _, g in clean], *ch_args, model_id=scorer.model_id, fpr=fpr,
                           confidence=confidence, method=method, data=data, **kw)
