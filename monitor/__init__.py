"""signwatch: GradCon traffic-sign condition monitoring."""
from __future__ import annotations

from .checkpoint import CheckpointError, load_model, make_untrained_checkpoint, save_checkpoint
from .preprocess import ImageError, decode_image, to_model_input
from .scorer import Scorer, ScoreResult

__all__ = [
    "CheckpointError", "ImageError", "Scorer", "ScoreResult", "decode_image", "load_detector",
    "load_model", "make_untrained_checkpoint", "save_checkpoint", "to_model_input",
]


def load_detector(model_path, calibration_path, device="auto"):
    """A calibrated detector: `detect(frames)` -> anomaly, is_anomalous, condition, confidence."""
    from calibration.detector import load_detector as _load

    return _load(model_path, calibration_path, device=device)
