"""The anomaly value: a two-sided distance of a frame's feature vector from clean frames.

Why two-sided (docs/DESIGN.md §5): GradCon's score is one-sided, and blur, darkening and rain make a
frame EASIER to reconstruct, so they look more normal by that score. Any departure from the
clean distribution, in either direction, is what a condition monitor must flag.

Feature vector per frame: [log recon, the 4 layer cosines, score] from the scorer, and the image
statistics of calibration.features. Fit on clean frames only:
0. size correction (SizeCorrection): the statistics of detail per pixel (features.SCALE_DEPENDENT)
   follow the crop's native size, because every crop is resized to 64x64 first (correlation with
   log short side up to +0.83 on clean BelgiumTSC crops through JPEG q90); their linear dependence
   on log_side, fitted by least squares on the clean frames, is removed, and log_side itself gets
   z = 0 (a crop's size is not a condition). Sizes outside the clean frames' range are corrected as
   the nearest one seen. Measured in calibration.features' docstring and docs/DESIGN.md §5;
1. robust standardisation: z = (x - median) / max(1.4826 MAD, std) (see robust_scale), then
   softly compressed, z <- soft * asinh(z / soft): linear near 0, logarithmic far out. Measured on
   unseen clean tracks, single heavy-tailed statistics (crop artefacts: a black bar gives z = 10
   in clip_low) made most false alarms; real conditions move many statistics at once, which the
   compression does not hide. Together with leaving level-1 frames out of the classifier
   (calibrate.fit_calibration) it cut held-out false alarms from 2.7 % to 1.9 % and raised the
   mean AUROC from 0.961 to 0.971 (seed-1 split of scripts/calibration_experiment.py). z is also
   clipped at +-`clip` for the covariance so a few odd clean frames do not inflate it;
2. Ledoit-Wolf shrinkage covariance of z (35 correlated features, the covariate left out, from a few hundred frames:
   the sample covariance is ill-conditioned, shrinkage towards a scaled identity is the
   analytically optimal fix and needs no tuning);
3. anomaly = Mahalanobis distance sqrt((z - mean)' P (z - mean)).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from calibration.conditions import CLEAN, UNKNOWN, ConditionClassifier
from calibration.features import FEATURE_NAMES, SCALE_DEPENDENT, SIDE_FEATURE, image_features
from calibration.folds import group_folds
from calibration.threshold import ThresholdResult
from monitor.codec import WireEncoding
from monitor.scorer import ScoreResult

SCORER_COLUMNS: tuple[str, ...] = ("log_recon", "cos_1", "cos_2", "cos_3", "cos_4", "score")
FEATURE_COLUMNS: tuple[str, ...] = SCORER_COLUMNS + FEATURE_NAMES
SIDE_COLUMN = FEATURE_COLUMNS.index(SIDE_FEATURE)
# The columns whose dependence on the crop's size the clean model removes (SizeCorrection).
SIZE_COLUMNS: tuple[int, ...] = tuple(FEATURE_COLUMNS.index(k) for k in SCALE_DEPENDENT)


def feature_matrix(score_result, stats: np.ndarray) -> np.ndarray:
    """Scorer outputs (ScoreResult-like: .score, .recon, .layer_cos) + image statistics -> (N, D)."""
    recon = np.asarray(score_result.recon, dtype=np.float64).reshape(-1)
    cos = np.asarray(score_result.layer_cos, dtype=np.float64).reshape(len(recon), 4)
    score = np.asarray(score_result.score, dtype=np.float64).reshape(-1)
    stats = np.asarray(stats, dtype=np.float64)
    if stats.shape != (len(recon), len(FEATURE_NAMES)):
        raise ValueError(f"image statistics have shape {stats.shape}, expected ({len(recon)}, {len(FEATURE_NAMES)})")
    # log: recon is a positive, right-skewed error; its log is close to symmetric on clean frames.
    return np.column_stack([np.log(np.maximum(recon, 1e-12)), cos, score, stats])


class SizeCorrection(NamedTuple):
    """The size-dependent part of each feature, removed: x_j <- x_j - slope_j * (u - ref), with u the
    covariate column (log native short side) clamped to the range [lo, hi] the clean frames had
    (no extrapolation to sizes never seen). Fitted on clean frames by fit_size_correction."""

    column: int
    ref: float  # the clean frames' median covariate: features are corrected to a crop of this size
    lo: float
    hi: float
    slope: np.ndarray  # (D,); 0 for the covariate itself

    def apply(self, x: np.ndarray) -> np.ndarray:
        x = np.array(x, dtype=np.float64)  # a copy
        u = np.clip(x[..., self.column], self.lo, self.hi) - self.ref
        return x - u[..., None] * self.slope


def fit_size_correction(
    x: np.ndarray, column: int = SIDE_COLUMN, columns: Sequence[int] | None = None, tail: float = 0.01
) -> SizeCorrection:
    """Least-squares slope of the `columns` of clean rows x (N, D) on the covariate column (the
    others keep slope 0; None: every column), each first clipped to its [tail, 1 - tail] quantiles
    so a few odd clean frames do not tilt it."""
    x = np.asarray(x, dtype=np.float64)
    u = x[:, column]
    lo_q, hi_q = np.quantile(x, [tail, 1 - tail], axis=0)
    xc = np.clip(x, lo_q, hi_q)
    uc = u - u.mean()
    var = float(uc @ uc)
    slope = (uc @ (xc - xc.mean(axis=0))) / var if var > 0 else np.zeros(x.shape[1])
    if columns is not None:
        slope = np.where(np.isin(np.arange(x.shape[1]), list(columns)), slope, 0.0)
    slope[column] = 0.0
    return SizeCorrection(column, float(np.median(u)), float(u.min()), float(u.max()), slope)


def size_correction_to_dict(s: SizeCorrection | None) -> dict | None:
    if s is None:
        return None
    return {"column": s.column, "ref": s.ref, "lo": s.lo, "hi": s.hi, "slope": s.slope.tolist()}


def size_correction_from_dict(d: dict | None) -> SizeCorrection | None:
    if d is None:
        return None
    return SizeCorrection(
        int(d["column"]), float(d["ref"]), float(d["lo"]), float(d["hi"]), np.array(d["slope"], float)
    )


def fleet_units(x: np.ndarray, center: np.ndarray, scale: np.ndarray, size: SizeCorrection | None) -> np.ndarray:
    """Feature rows in fleet units u = (size-corrected x - centre) / scale, the size column 0: linear,
    so a difference of two frames' u is the difference of their features."""
    x = np.asarray(x, dtype=np.float64)
    u = ((x if size is None else size.apply(x)) - center) / scale
    if size is not None:
        u[..., size.column] = 0.0
    return u


class GaussianModel(NamedTuple):
    """A robustly standardised Gaussian: all plain arrays, so it stores as YAML numbers."""

    center: np.ndarray  # (D,) per-feature median on clean frames
    scale: np.ndarray  # (D,) per-feature robust spread
    mean: np.ndarray  # (D,) mean of the clipped standardised features
    precision: np.ndarray  # (D, D) inverse of the shrunk covariance
    shrinkage: float  # Ledoit-Wolf intensity in [0, 1]
    clip: float
    soft: float = 1.5  # z <- soft * asinh(z / soft); 0 = off
    # The size correction applied before standardising; its covariate's z is 0 (a crop's size is
    # not a condition). None: no covariate.
    size: SizeCorrection | None = None

    def fleet_units(self, x: np.ndarray) -> np.ndarray:
        """Feature rows in fleet units (fleet_units below; calibration.baseline's units)."""
        return fleet_units(x, self.center, self.scale, self.size)

    def standardise(self, x: np.ndarray) -> np.ndarray:
        z = self.fleet_units(x)
        return self.soft * np.arcsinh(z / self.soft) if self.soft > 0 else z

    def distance(self, x: np.ndarray) -> np.ndarray:
        """(N, D) -> (N,) Mahalanobis distance (unclipped z: a far-out frame must look far out)."""
        d = np.atleast_2d(self.standardise(x)) - self.mean
        return np.sqrt(np.maximum(np.einsum("nd,de,ne->n", d, self.precision, d), 0.0))


def robust_scale(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and max(1.4826 MAD, std) per column. The MAD alone fails on zero-inflated features
    (most clean frames have no clipped pixels, so MAD = 0 and one frame with a few gets z = 50:
    measured, it set the threshold); the std floor keeps the median's robustness for the centre."""
    center = np.median(x, axis=0)
    mad = 1.4826 * np.median(np.abs(x - center), axis=0)
    return center, np.maximum(np.maximum(mad, x.std(axis=0)), 1e-6)


def ledoit_wolf(z: np.ndarray) -> tuple[np.ndarray, float]:
    """Shrunk covariance of centred rows z (N, D) towards mu*I, with the Ledoit-Wolf (2004) intensity."""
    n, p = z.shape
    s = z.T @ z / n
    mu = np.trace(s) / p
    d2 = float(((s - mu * np.eye(p)) ** 2).sum())
    # sum_k ||z_k z_k' - S||_F^2 = sum_k ||z_k||^4 - n ||S||_F^2
    b2_bar = (float((np.einsum("nd,nd->n", z, z) ** 2).sum()) - n * float((s**2).sum())) / n**2
    shrink = 0.0 if d2 <= 0 else float(np.clip(b2_bar / d2, 0.0, 1.0))
    return shrink * mu * np.eye(p) + (1 - shrink) * s, shrink


def fit_gaussian(x: np.ndarray, clip: float = 6.0, soft: float = 1.5, covariate: int | None = None) -> GaussianModel:
    """Fit on clean feature rows (N, D). covariate: the column of the crop's log native short side
    (SIDE_COLUMN for FEATURE_COLUMNS rows): every column's linear dependence on it is removed
    first (fit_size_correction), and it is left out of the distance; None: no covariate."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need at least 2 clean frames to fit, got {x.shape[0] if x.ndim == 2 else x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("clean features contain NaN or infinite values")
    size = None if covariate is None else fit_size_correction(x, covariate, SIZE_COLUMNS)
    if size is not None:
        x = size.apply(x)
    center, scale = robust_scale(x)
    z = (x - center) / scale
    if soft > 0:
        z = soft * np.arcsinh(z / soft)
    z = np.clip(z, -clip, clip)
    if size is not None:
        z[:, covariate] = 0.0
    mean = z.mean(axis=0)
    # The covariate's z is always 0: the covariance (and its shrinkage) is of the other columns,
    # with a unit variance for the covariate so the precision exists and ignores it.
    keep = np.arange(x.shape[1]) != (-1 if covariate is None else covariate)
    cov = np.eye(x.shape[1])
    cov[np.ix_(keep, keep)], shrink = ledoit_wolf(z[:, keep] - mean[keep])
    return GaussianModel(center, scale, mean, np.linalg.inv(cov), shrink, clip, soft, size)


def out_of_fold_distances(
    x: np.ndarray, groups: Sequence[str], k: int = 5, clip: float = 6.0, seed: int = 0
) -> np.ndarray:
    """Each clean frame's distance under a model fitted WITHOUT its track: an honest sample of
    what unseen clean frames will score (in-sample distances are too small, and a threshold fitted
    on them would raise too many false alarms)."""
    x = np.asarray(x, dtype=np.float64)
    folds = group_folds(groups, k, seed)
    out = np.empty(len(x))
    for f in range(k):
        test = folds == f
        if not test.any():
            continue
        out[test] = fit_gaussian(x[~test], clip).distance(x[test])
    return out


# ---------------------------------------------------------------------------------------------
# Putting two detectors on one scale


class TailMap(NamedTuple):
    """Maps a raw detector value to its surprise on clean frames, -ln P(clean value >= v), learnt
    from out-of-fold clean values. Within the clean range it interpolates the empirical tail;
    beyond the largest clean values it extends an exponential tail (peaks over threshold: the
    mean excess of the top values sets the slope), so it keeps ranking far-out frames.
    Two detectors mapped this way are comparable, and their max is a union test."""

    x: np.ndarray  # (K,) increasing raw values
    s: np.ndarray  # (K,) surprise at those values (non-decreasing)
    slope: float  # surprise per unit raw value beyond x[-1]

    def __call__(self, v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=np.float64)
        out = np.interp(v, self.x, self.s)
        return np.where(v > self.x[-1], self.s[-1] + (v - self.x[-1]) * self.slope, out)


def fit_tail_map(clean_values: np.ndarray, knots: int = 200) -> TailMap:
    v = np.sort(np.asarray(clean_values, dtype=np.float64).reshape(-1))
    n = len(v)
    if n < 10:
        raise ValueError(f"need at least 10 clean values for a tail map, got {n}")
    # Surprise of the i-th smallest (0-based): -ln((n - i) / (n + 1)); ties share the largest i.
    idx = np.searchsorted(v, v, side="right") - 1
    s = -np.log((n - idx) / (n + 1.0))
    xu, first = np.unique(v, return_index=True)
    su = np.maximum.reduceat(s, first)
    if len(xu) > knots:  # keep every value of the top tail, subsample the body
        keep = np.unique(
            np.r_[np.linspace(0, len(xu) - 1, knots // 2).round().astype(int), np.arange(len(xu) - knots // 2, len(xu))]
        )
        xu, su = xu[keep], su[keep]
    top = v[-max(5, n // 20) :]
    excess = float(np.mean(top - top[0]))
    scale = excess if excess > 0 else float(np.std(v)) or 1.0
    return TailMap(xu, su, 1.0 / scale)


def tail_map_to_dict(t: TailMap) -> dict:
    return {"x": t.x.tolist(), "s": t.s.tolist(), "slope": float(t.slope)}


def tail_map_from_dict(d: dict) -> TailMap:
    return TailMap(np.array(d["x"], dtype=np.float64), np.array(d["s"], dtype=np.float64), float(d["slope"]))


# ---------------------------------------------------------------------------------------------
# The runtime detector


@dataclass
class Calibration:
    model_id: str
    created: str
    threshold: ThresholdResult
    gaussian: GaussianModel
    distance_tail: TailMap
    classifier: ConditionClassifier | None = None
    classifier_tail: TailMap | None = None
    # Names a change against a stream's own normal: the condition classifier fit on the paired
    # differences of calibration.conditions.track_changes, in fleet units (GaussianModel.fleet_units).
    # None: a file made before it existed; changes are then named by `classifier` on the frame's z.
    change_classifier: ConditionClassifier | None = None
    features: tuple[str, ...] = FEATURE_COLUMNS
    data: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)  # figures measured at calibration (out of fold)
    # The wire encoding the frames went through before their features were computed; None: unknown
    # (a file written before it was recorded). Thresholds hold only for frames sent the same way.
    wire: WireEncoding | None = None


def not_clean_logit(logits: np.ndarray) -> np.ndarray:
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
        a = np.maximum(a, cal.classifier_tail(not_clean_logit(logits)))
    return a, z, logits


class DetectionResult(NamedTuple):
    anomaly: np.ndarray  # (N,) surprise relative to clean frames (nats); higher = more anomalous
    is_anomalous: np.ndarray  # (N,) bool: anomaly > threshold
    condition: np.ndarray  # (N,) str: "clean", a condition name, or "unknown" (named: anomalous, or above evidence_ref)
    confidence: np.ndarray  # (N,) probability of that condition (p_clean for "clean"; 0 = no estimate)
    scores: Any  # the ScoreResult the values were computed from


def compute_features(
    scorer, frames: Sequence[np.ndarray], batch: int = 512, native_sizes: Sequence | None = None
) -> tuple[np.ndarray, Any]:
    """Frames -> (feature rows (N, D), ScoreResult), in batches so memory stays bounded.
    native_sizes: (h, w) of each frame as sent, when `frames` were decoded at a reduced scale
    (WireEncoding.roundtrip decodes a large JPEG as the consumer does); None: their own shapes."""
    rows, parts = [], []
    for i in range(0, len(frames), batch):
        chunk = frames[i : i + batch]
        r = scorer.score(chunk)
        sizes = None if native_sizes is None else native_sizes[i : i + batch]
        rows.append(feature_matrix(r, image_features(chunk, sizes)))
        parts.append(r)
    if not parts:
        return np.zeros((0, len(FEATURE_COLUMNS))), ScoreResult(np.zeros(0), np.zeros(0), np.zeros((0, 4)))
    r = ScoreResult(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("score", "recon", "layer_cos")))
    return np.concatenate(rows), r


class Detector:
    """A scorer plus its calibration: `detect(frames)`, or `detect_scored(...)` after scoring."""

    def __init__(self, scorer, calibration) -> None:
        self.scorer = scorer
        self.calibration = calibration

    @property
    def threshold(self) -> float:
        return self.calibration.threshold.threshold

    @property
    def model_id(self) -> str:
        return self.calibration.model_id

    def detect(self, frames: Sequence[np.ndarray]) -> DetectionResult:
        if self.scorer is None:
            raise ValueError("this detector has no scorer; use detect_scored with a ScoreResult")
        return self.detect_scored(frames, self.scorer.score(frames))

    def detect_scored(self, frames_or_features, score_result, evidence_ref: float | None = None) -> DetectionResult:
        """Decisions for frames that were already scored (the consumer scores once).

        frames_or_features: the frames (image statistics are computed here), or the image
        statistics (N, len(FEATURE_NAMES)) computed by `calibration.features.image_features`.
        evidence_ref: see detect_features."""
        n = len(score_result.score)
        if (
            isinstance(frames_or_features, np.ndarray)
            and frames_or_features.ndim == 2
            and frames_or_features.shape == (n, len(FEATURE_NAMES))
            and frames_or_features.dtype != np.uint8
        ):
            stats = frames_or_features
        else:
            stats = image_features(frames_or_features)
        return self.detect_features(feature_matrix(score_result, stats), score_result, evidence_ref)

    def detect_features(self, x: np.ndarray, score_result=None, evidence_ref: float | None = None) -> DetectionResult:
        """evidence_ref: None (default, the alert rule's evidence off): a condition is named for
        anomalous frames only, "clean" for the others. The alert rule's alerts.evidence_ref: also
        for frames whose anomaly exceeds it while staying at or below the threshold (is_anomalous
        stays False): the per-stream alert path accumulates such suspect frames as evidence
        (calibration.alerts) and needs to know what they look like."""
        anomaly, z, _ = anomaly_values(self.calibration, x)
        flagged = anomaly > self.threshold
        named = flagged if evidence_ref is None else flagged | (anomaly > evidence_ref)
        n = len(anomaly)
        clf = self.calibration.classifier
        if clf is not None:
            c = clf.predict(z)
            condition = np.where(named, c.condition, CLEAN).astype(object)
            confidence = np.where(named, c.confidence, c.p_clean)
        else:
            condition = np.where(named, UNKNOWN, CLEAN).astype(object)
            confidence = np.zeros(n)
        return DetectionResult(anomaly, flagged, condition, confidence.astype(np.float64), score_result)
