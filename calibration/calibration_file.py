"""The calibration file: plain YAML (numbers and strings only), written atomically, read safely.

`load_calibration` reads it with yaml.safe_load and refuses, in one line naming the file, anything
malformed, made with other features, or made for another model; `load_detector` is the one place
that loads a model together with its calibration.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from calibration.conditions import ConditionClassifier
from calibration.detector import (
    FEATURE_COLUMNS,
    Calibration,
    Detector,
    GaussianModel,
    SizeCorrection,
    TailMap,
    size_correction_from_dict,
    size_correction_to_dict,
    tail_map_from_dict,
    tail_map_to_dict,
)
from calibration.threshold import ThresholdResult
from monitor.checkpoint import load_model
from monitor.codec import WireEncoding
from monitor.settings import read_yaml_file

FORMAT = 1


class CalibrationError(ValueError):
    """A calibration file or calibration input is unusable; the message is one line."""


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
    return _py(
        {
            "signwatch_calibration": FORMAT,
            "model_id": cal.model_id,
            "created": cal.created,
            "threshold": {
                "value": t.threshold,
                "method": t.method,
                "target_fpr": t.target_fpr,
                "confidence": t.confidence,
                "n_clean": t.n_clean,
                "rank_from_top": t.rank_from_top,
                "exceedances": t.exceedances,
                "empirical_fpr": t.empirical_fpr,
                "fpr_upper_bound": t.fpr_upper_bound,
                "min_frames": t.min_frames,
                "supported": t.supported,
                "explanation": t.explanation,
            },
            "wire": None if cal.wire is None else {"encoding": cal.wire.encoding, "quality": cal.wire.quality},
            "data": cal.data,
            "summary": cal.summary,
            "detector": {
                "anomaly": "max over detectors of -ln P(clean >= value); value > threshold is anomalous",
                "features": list(cal.features),
                "gaussian": {
                    "center": g.center,
                    "scale": g.scale,
                    "mean": g.mean,
                    "precision": g.precision,
                    "shrinkage": g.shrinkage,
                    "clip": g.clip,
                    "soft": g.soft,
                    "size_correction": size_correction_to_dict(g.size),
                },
                "distance_tail": tail_map_to_dict(cal.distance_tail),
                "classifier_tail": tail_map_to_dict(cal.classifier_tail) if cal.classifier_tail is not None else None,
            },
            "classifier": cal.classifier.to_dict() if cal.classifier is not None else None,
            "change_classifier": cal.change_classifier.to_dict() if cal.change_classifier is not None else None,
        }
    )


def save_calibration(path: str | Path, cal: Calibration) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"# signwatch calibration for model {cal.model_id}, {cal.created}\n# {cal.threshold.explanation}\n"
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


def _wire_from(w: Any) -> WireEncoding | None:
    """The `wire` entry; missing or null (files written before it existed): unknown (None)."""
    if w is None:
        return None
    if not isinstance(w, dict) or w.get("encoding") not in ("jpeg", "png", "none"):
        raise CalibrationError(f"wire must be a mapping with encoding jpeg, png or none, got {w!r}"[:200])
    quality = int(w.get("quality", 0))
    if w["encoding"] == "jpeg" and not 1 <= quality <= 100:
        raise CalibrationError(f"wire.quality must be 1..100 for jpeg, got {quality}")
    return WireEncoding(str(w["encoding"]), quality)


def wire_label(wire: WireEncoding | None) -> str:
    """How a calibration's wire encoding is named to people: "jpeg q90", "png", "none" or "unknown"."""
    return "unknown" if wire is None else wire.describe()


def _check_format(d: Any) -> None:
    if not isinstance(d, dict):
        raise CalibrationError("not a calibration file (top level is not a mapping)")
    if d.get("signwatch_calibration") != FORMAT:
        raise CalibrationError(
            f"not a signwatch calibration file of format {FORMAT} (signwatch_calibration: {d.get('signwatch_calibration')!r})"
        )


def _size_from_dict(sd: Any, n: int) -> SizeCorrection | None:
    """detector.gaussian.size_correction: null (no covariate), or its column, range and n slopes."""
    if sd is None:
        return None
    if not isinstance(sd, dict):
        raise CalibrationError(f"detector.gaussian.size_correction must be a mapping or null, got {sd!r}"[:200])
    where = "detector.gaussian.size_correction"
    _arr(sd, "slope", (n,), where)
    size = size_correction_from_dict(sd)
    if not 0 <= size.column < n:
        raise CalibrationError(f"{where}.column must be in 0..{n - 1}, got {size.column}")
    return size


def _gaussian_from_dict(gd: dict, n: int) -> GaussianModel:
    """detector.gaussian for n features: the clean frames' robust centre, scale and precision."""
    return GaussianModel(
        _arr(gd, "center", (n,), "detector.gaussian"),
        _arr(gd, "scale", (n,), "detector.gaussian"),
        _arr(gd, "mean", (n,), "detector.gaussian"),
        _arr(gd, "precision", (n, n), "detector.gaussian"),
        float(gd["shrinkage"]),
        float(gd["clip"]),
        float(gd["soft"]),
        _size_from_dict(gd.get("size_correction"), n),
    )


def _checked_classifier(d: dict, key: str, n: int) -> ConditionClassifier:
    """The ConditionClassifier stored under `key`, its shapes checked for n features."""
    clf = ConditionClassifier.from_dict(d[key])
    if clf.weights.shape != (2 * n, len(clf.classes)):
        raise CalibrationError(f"{key}.weights has shape {clf.weights.shape}, expected {(2 * n, len(clf.classes))}")
    for e in clf.pair_experts:
        if e.weights.shape != e.columns.shape or not ((e.columns >= 0) & (e.columns < n)).all():
            raise CalibrationError(
                f"{key}.pair_experts {'/'.join(e.pair)}: columns must be {len(e.weights)} indices in 0..{n - 1}, "
                f"got {e.columns.tolist()}"
            )
    return clf


def _classifier_from_dict(d: dict, det: dict, n: int) -> tuple[ConditionClassifier | None, TailMap | None]:
    """(classifier, its tail map): both present, sized for n features, or both absent."""
    classifier_tail = tail_map_from_dict(det["classifier_tail"]) if det.get("classifier_tail") else None
    classifier = _checked_classifier(d, "classifier", n) if d.get("classifier") else None
    if (classifier is None) != (classifier_tail is None):
        raise CalibrationError("classifier and detector.classifier_tail must both be present or both be null")
    return classifier, classifier_tail


def _threshold_from_dict(t: dict) -> ThresholdResult:
    value = t["value"]
    return ThresholdResult(
        float("nan") if value is None else float(value),
        str(t["method"]),
        float(t["target_fpr"]),
        float(t["confidence"]),
        int(t["n_clean"]),
        int(t["rank_from_top"]),
        int(t["exceedances"]),
        float(t["empirical_fpr"]),
        float(t["fpr_upper_bound"]),
        int(t["min_frames"]),
        bool(t["supported"]),
        str(t["explanation"]),
    )


def _build_calibration(d: dict) -> Calibration:
    det = d["detector"]
    features = tuple(det["features"])
    if features != FEATURE_COLUMNS:
        raise CalibrationError("made with other features than this version computes; run calibrate again")
    gaussian = _gaussian_from_dict(det["gaussian"], len(features))
    distance_tail = tail_map_from_dict(det["distance_tail"])
    classifier, classifier_tail = _classifier_from_dict(d, det, len(features))
    threshold = _threshold_from_dict(d["threshold"])
    model_id = d["model_id"]
    if not isinstance(model_id, str) or not model_id:
        raise CalibrationError("model_id is missing or not a string")
    return Calibration(
        model_id=model_id,
        created=str(d.get("created", "")),
        threshold=threshold,
        gaussian=gaussian,
        distance_tail=distance_tail,
        classifier=classifier,
        classifier_tail=classifier_tail,
        # Files made before the classifier of changes have none: changes are then named as before.
        change_classifier=_checked_classifier(d, "change_classifier", len(features))
        if d.get("change_classifier")
        else None,
        data=dict(d.get("data") or {}),
        summary=dict(d.get("summary") or {}),
        wire=_wire_from(d.get("wire")),
    )


def calibration_from_dict(d: Any) -> Calibration:
    """A Calibration from the file's parsed YAML; anything malformed is one CalibrationError line."""
    _check_format(d)
    try:
        return _build_calibration(d)
    except CalibrationError:
        raise
    except KeyError as e:
        raise CalibrationError(f"setting {e.args[0]!r} is missing") from None
    except (TypeError, ValueError, IndexError) as e:
        raise CalibrationError(f"malformed ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


def load_calibration(path: str | Path, model_id: str | None = None) -> Calibration:
    """Read a calibration file safely; model_id: refuse a file made for another model."""
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


def load_detector(model_path, calibration_path, device: str = "auto") -> Detector:
    """The model and its calibration; refuses (CalibrationError, one line) a calibration made for another model."""
    scorer = load_model(model_path, device=device)
    return Detector(scorer, load_calibration(calibration_path, model_id=scorer.model_id))
