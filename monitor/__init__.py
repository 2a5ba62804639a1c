"""signwatch: GradCon traffic-sign condition monitoring."""

from __future__ import annotations

from .checkpoint import CheckpointError, load_model, make_untrained_checkpoint, save_checkpoint
from .preprocess import ImageError, decode_image, to_model_input
from .scorer import Scorer, ScoreResult

__all__ = [
    "CheckpointError",
    "ImageError",
    "Scorer",
    "ScoreResult",
    "decode_image",
    "load_model",
    "make_untrained_checkpoint",
    "save_checkpoint",
    "to_model_input",
]
