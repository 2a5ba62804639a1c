"""Fit the detector, its threshold and the condition classifier (the file: calibration.calibration_file).

The protocol (every figure it reports is for tracks the fitted part did not see):
1. features of every clean frame (scorer outputs + image statistics);
2. the Gaussian of calibration.detector on all clean frames, and out-of-fold distances (folds are
   whole tracks) for the clean frames and for the challenge frames;
3. with a challenge set: the condition classifier (clean + conditions) and its out-of-fold
   logits; its "not clean" logit is the second, supervised detector;
4. each detector's out-of-fold clean values -> a TailMap; anomaly = max of the two surprises;
5. the threshold on the out-of-fold clean anomalies (calibration.threshold), so the false-alarm
   bound holds for unseen clean tracks, not just for the frames the Gaussian was fitted on.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from calibration.calibration_file import CalibrationError
from calibration.conditions import CLEAN, CONDITION_OF_CODE, UNKNOWN, ConditionClassifier, track_changes
from calibration.detector import (
    FEATURE_COLUMNS,
    SIDE_COLUMN,
    Calibration,
    GaussianModel,
    TailMap,
    compute_features,
    fit_gaussian,
    fit_tail_map,
    not_clean_logit,
)
from calibration.folds import group_folds
from calibration.metrics import auroc
from calibration.threshold import make_threshold
from monitor.codec import NO_ENCODING, WireEncoding, resolve_wire
from monitor.cure_tsr import load_image, read_cure_tsr, recorded_wire, training_images


class _Frames(NamedTuple):
    """Clean and challenge frames pooled: clean first, challenge code and level 0 for clean."""

    x: np.ndarray
    groups: np.ndarray
    codes: np.ndarray
    levels: np.ndarray

    @property
    def is_clean(self) -> np.ndarray:
        return self.codes == 0


def _pool_frames(
    clean_x, clean_groups, challenge_x, challenge_codes, challenge_levels, challenge_groups, folds: int, min_level: int
) -> _Frames:
    """Step 1: check the clean rows, drop challenge frames below min_level, pool the rest after them."""
    clean_x = np.asarray(clean_x, dtype=np.float64)
    clean_groups = np.asarray(clean_groups).astype(str)
    if clean_x.ndim != 2 or clean_x.shape[1] != len(FEATURE_COLUMNS):
        raise CalibrationError(f"clean features have shape {clean_x.shape}, expected (N, {len(FEATURE_COLUMNS)})")
    if len(np.unique(clean_groups)) < folds:
        raise CalibrationError(
            f"need clean frames from at least {folds} tracks for out-of-fold calibration, got {len(np.unique(clean_groups))}"
        )
    no_codes = np.zeros(len(clean_x), np.int64)
    if challenge_x is None or len(challenge_x) == 0:
        return _Frames(clean_x, clean_groups, no_codes, no_codes)
    levels = np.asarray(challenge_levels, dtype=np.int64)
    keep = levels >= min_level
    if not keep.any():
        return _Frames(clean_x, clean_groups, no_codes, no_codes)
    return _Frames(
        np.concatenate([clean_x, np.asarray(challenge_x, dtype=np.float64)[keep]]),
        np.concatenate([clean_groups, np.asarray(challenge_groups).astype(str)[keep]]),
        np.r_[no_codes, np.asarray(challenge_codes, dtype=np.int64)[keep]],
        np.r_[no_codes, levels[keep]],
    )


def _distance_detector(frames: _Frames, folds: int, seed: int) -> tuple[GaussianModel, TailMap, np.ndarray]:
    """Step 2: the Gaussian on all clean frames; out-of-fold distances for every frame (folds are
    whole tracks), mapped to surprise by the clean ones' tail -> (gaussian, tail, anomaly_oof)."""
    is_clean = frames.is_clean
    gaussian = fit_gaussian(frames.x[is_clean], covariate=SIDE_COLUMN)
    fold = group_folds(frames.groups, folds, seed)
    dist_oof = np.empty(len(frames.x))
    for f in range(folds):
        test = fold == f
        train = is_clean & ~test
        if test.any():
            dist_oof[test] = fit_gaussian(frames.x[train], covariate=SIDE_COLUMN).distance(frames.x[test])
    distance_tail = fit_tail_map(dist_oof[is_clean])
    return gaussian, distance_tail, distance_tail(dist_oof)


def _condition_detector(
    frames: _Frames, gaussian: GaussianModel, folds: int, min_confidence: float, seed: int
) -> tuple[ConditionClassifier, TailMap, np.ndarray, np.ndarray]:
    """Steps 3-4: the condition classifier, its out-of-fold logits, and the supervised detector
    (its "not clean" logit) mapped by the clean frames' tail -> (classifier, tail, logits, anomaly_oof)."""
    labels = np.array([CONDITION_OF_CODE[int(c)] for c in frames.codes])
    z_all = gaussian.standardise(frames.x)
    classifier, oof_logits = ConditionClassifier.fit(
        z_all, labels, frames.groups, folds=folds, min_confidence=min_confidence, seed=seed, columns=FEATURE_COLUMNS
    )
    sup_oof = not_clean_logit(oof_logits)
    classifier_tail = fit_tail_map(sup_oof[frames.is_clean])
    return classifier, classifier_tail, oof_logits, classifier_tail(sup_oof)


def _change_classifier(
    frames: _Frames, gaussian: GaussianModel, folds: int, min_confidence: float, seed: int
) -> ConditionClassifier | None:
    """The classifier of CHANGES: the condition classifier's fit on each frame's difference from its
    track's clean mean in fleet units (calibration.conditions.track_changes), the leave-one-out clean
    differences its "clean" class. None when no track has both clean and challenge frames."""
    labels = np.array([CONDITION_OF_CODE[int(c)] for c in frames.codes])
    d, d_labels, d_groups = track_changes(gaussian.fleet_units(frames.x), labels, frames.groups)
    if not (d_labels == CLEAN).any() or (d_labels == CLEAN).all():
        return None
    clf, _ = ConditionClassifier.fit(
        d, d_labels, d_groups, folds=folds, min_confidence=min_confidence, seed=seed, columns=FEATURE_COLUMNS
    )
    return clf


def _detection_rows(frames: _Frames, anomaly_oof: np.ndarray, threshold: float) -> list[dict]:
    """Out-of-fold detection rate and AUROC per challenge type and level."""
    rows = []
    neg = anomaly_oof[frames.is_clean]
    codes, levels = frames.codes, frames.levels
    for code in sorted(set(codes[~frames.is_clean].tolist())):
        for level in sorted(set(levels[codes == code].tolist())):
            sel = (codes == code) & (levels == level)
            pos = anomaly_oof[sel]
            rows.append(
                {
                    "challenge": int(code),
                    "condition": CONDITION_OF_CODE[int(code)],
                    "level": int(level),
                    "frames": int(sel.sum()),
                    "detection_rate": round(float(np.mean(pos > threshold)), 4),
                    "auroc": round(auroc(neg, pos), 4),
                }
            )
    return rows


def _naming_figures(
    frames: _Frames, anomaly_oof: np.ndarray, threshold: float, classifier: ConditionClassifier, oof_logits: np.ndarray
) -> dict[str, Any]:
    """Naming accuracy, out of fold, on frames detected at levels 3-5 ("unknown" counts as wrong): the full
    model's names (the pair experts are fitted on all frames, so have no out-of-fold opinion)."""
    p = np.exp((oof_logits[:, 1:] - oof_logits[:, 1:].max(1, keepdims=True)) / classifier.temperature)
    p /= p.sum(1, keepdims=True)
    best = np.array(classifier.classes[1:], dtype=object)[p.argmax(1)]
    conf = p.max(1)
    named = np.where(conf >= classifier.min_confidence, best, UNKNOWN)
    truth = np.array([CONDITION_OF_CODE[int(c)] for c in frames.codes], dtype=object)
    sel = (~frames.is_clean) & (frames.levels >= 3) & (anomaly_oof > threshold)
    return {
        "naming_accuracy_levels_3_5_out_of_fold": round(float(np.mean(named[sel] == truth[sel])), 4)
        if sel.any()
        else None,
        "naming_frames_levels_3_5": int(sel.sum()),
    }


def _summary(
    frames: _Frames,
    anomaly_oof: np.ndarray,
    threshold: float,
    folds: int,
    classifier: ConditionClassifier | None,
    oof_logits: np.ndarray | None,
) -> dict[str, Any]:
    """The out-of-fold figures a calibration file carries."""
    is_clean = frames.is_clean
    summary: dict[str, Any] = {
        "clean_frames": int(is_clean.sum()),
        "clean_tracks": int(len(np.unique(frames.groups[is_clean]))),
        "folds": folds,
        "clean_false_alarm_rate_out_of_fold": float(np.mean(anomaly_oof[is_clean] > threshold)),
    }
    if classifier is not None and oof_logits is not None:
        summary["challenge_frames"] = int((~is_clean).sum())
        summary["challenge_levels_used"] = sorted(set(frames.levels[~is_clean].tolist()))
        summary["detection"] = _detection_rows(frames, anomaly_oof, threshold)
        summary.update(_naming_figures(frames, anomaly_oof, threshold, classifier, oof_logits))
    return summary


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
    wire: WireEncoding | None = None,
) -> Calibration:
    """Everything from feature rows; see the module docstring for the protocol.
    wire: the encoding the rows' frames went through (recorded in the file; None: unknown).

    min_level: challenge frames below this level are left out. At level 1 most effects are
    invisible on a sign crop (20 % decolorization, one stop of darkening), so labelling them as a
    condition teaches the classifier to call ordinary clean frames anomalous (see the measurement
    in calibration.detector's docstring)."""
    frames = _pool_frames(
        clean_x, clean_groups, challenge_x, challenge_codes, challenge_levels, challenge_groups, folds, min_level
    )
    gaussian, distance_tail, anomaly_oof = _distance_detector(frames, folds, seed)
    classifier = classifier_tail = oof_logits = change_classifier = None
    if not frames.is_clean.all():
        classifier, classifier_tail, oof_logits, sup_anomaly = _condition_detector(
            frames, gaussian, folds, min_confidence, seed
        )
        change_classifier = _change_classifier(frames, gaussian, folds, min_confidence, seed)
        anomaly_oof = np.maximum(anomaly_oof, sup_anomaly)
    # Step 5: the threshold on out-of-fold clean anomalies. Trials are tracks (their largest
    # value), not frames: a track's frames are near-duplicates.
    is_clean = frames.is_clean
    threshold = make_threshold(method, fpr, confidence).fit(anomaly_oof[is_clean], groups=frames.groups[is_clean])
    return Calibration(
        model_id=model_id,
        created=_dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        threshold=threshold,
        gaussian=gaussian,
        distance_tail=distance_tail,
        classifier=classifier,
        classifier_tail=classifier_tail,
        change_classifier=change_classifier,
        data=dict(data or {}),
        summary=_summary(frames, anomaly_oof, threshold.threshold, folds, classifier, oof_logits),
        wire=wire,
    )


# ---------------------------------------------------------------------------------------------
# From folders


def _load_all(paths: Sequence[Path]) -> list[np.ndarray]:
    return [load_image(p) for p in paths]


def features_of_paths(
    scorer, paths: Sequence[Path], batch: int = 512, progress=None, wire: WireEncoding = NO_ENCODING
) -> np.ndarray:
    """Image files -> feature rows, reading one batch at a time (a challenge set can be large).
    wire: each image is first passed through this encoding, as the consumer would decode it."""
    rows = []
    for i in range(0, len(paths), batch):
        imgs = _load_all(paths[i : i + batch])
        sizes = [im.shape[:2] for im in imgs]  # as sent: the round trip may decode at a reduced scale
        rows.append(compute_features(scorer, wire.roundtrip(imgs), native_sizes=sizes)[0])
        if progress:
            progress(min(batch, len(paths) - i))
    return np.concatenate(rows) if rows else np.zeros((0, len(FEATURE_COLUMNS)))


def wire_to_apply(wanted: WireEncoding, root: str | Path) -> tuple[WireEncoding, WireEncoding]:
    """(encoding to apply when reading root, encoding its frames are then seen through): a set
    synth wrote through the wire already (its manifest says so) is not encoded twice."""
    try:
        return resolve_wire(wanted, recorded_wire(root), str(root))
    except ValueError as e:  # CodecError, or a manifest naming several encodings
        raise CalibrationError(str(e)) from None


def _challenge_features(
    scorer, challenges_root: str | Path, clean: list[tuple[Path, str]], wire: WireEncoding, seen: WireEncoding, progress
) -> tuple:
    """A challenge set's (features, challenge codes, levels, track groups), seen through the same wire
    as the clean frames (refused in one line otherwise)."""
    frames = [f for f in read_cure_tsr(challenges_root) if f.name.challenge_type != 0]
    if not frames:
        raise CalibrationError(
            f"{challenges_root}: no challenge frames (expected a CURE-TSR layout with <Challenge>-<level> folders)"
        )
    ch_apply, ch_seen = wire_to_apply(wire, challenges_root)
    if not ch_seen.same_as(seen):
        raise CalibrationError(
            f"{challenges_root}: frames seen through {ch_seen.describe()}, but the clean frames through {seen.describe()}"
        )
    ch_x = features_of_paths(scorer, [f.path for f in frames], progress=progress, wire=ch_apply)
    ch_groups = [f"{f.split}/{f.sequence}" if f.split else f.sequence for f in frames]
    # Frames built from the clean folder carry the clean track as their sequence (manifest): use
    # the bare track so a clean frame and its challenged copies always share a fold.
    clean_tracks = {g for _, g in clean}
    ch_groups = [f.sequence if f.sequence in clean_tracks else g for f, g in zip(frames, ch_groups, strict=False)]
    return ch_x, [f.name.challenge_type for f in frames], [f.name.level for f in frames], ch_groups


def calibrate_folders(
    scorer,
    clean_root: str | Path,
    challenges_root: str | Path | None = None,
    *,
    fpr: float = 0.01,
    confidence: float = 0.95,
    method: str = "binomial_bound",
    progress=None,
    wire: WireEncoding = NO_ENCODING,
    clean: list[tuple[Path, str]] | None = None,
    **kw,
) -> Calibration:
    """Calibrate from a folder of clean frames (plain tracks or a CURE-TSR layout's ChallengeFree)
    and optionally a CURE-TSR-style challenge set (e.g. from monitor.challenges.build_challenge_set).

    `clean`: the (path, track) pairs of clean_root to use (default: all; `calibrate --subset` passes one
    side of a track-wise split).
    wire: the encoding the producers send; frames are seen through it (wire_to_apply) and the
    calibration records it."""
    if clean is None:
        try:
            clean = training_images(clean_root)
        except FileNotFoundError as e:
            raise CalibrationError(str(e)) from None
    if not clean:
        raise CalibrationError(f"{clean_root}: no clean images found")
    apply, seen = wire_to_apply(wire, clean_root)
    clean_x = features_of_paths(scorer, [p for p, _ in clean], progress=progress, wire=apply)
    data = {"clean_root": str(clean_root), "clean_frames": len(clean)}
    ch_args: tuple = (None, None, None, None)
    if challenges_root is not None:
        ch_args = _challenge_features(scorer, challenges_root, clean, wire, seen, progress)
        data.update({"challenges_root": str(challenges_root), "challenge_frames": len(ch_args[0])})
    return fit_calibration(
        clean_x,
        [g for _, g in clean],
        *ch_args,
        model_id=scorer.model_id,
        fpr=fpr,
        confidence=confidence,
        method=method,
        data=data,
        wire=seen,
        **kw,
    )
