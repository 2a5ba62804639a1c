"""Shared test helpers: real images from ../shared/data, rendered signs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "belgiumtsc"


def belgium_paths(limit: int | None = None) -> list[Path]:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is not there (CI checks out shared/ beside the repo)")
    paths = sorted(SHARED_DATA.rglob("*.png"))
    return paths[:limit] if limit else paths


def belgium_frames(limit: int = 32) -> list[np.ndarray]:
    """Real sign crops of different sizes, uint8 BGR."""
    step = max(1, len(belgium_paths()) // limit)
    return [cv2.imread(str(p)) for p in belgium_paths()[::step][:limit]]


def render_sign(size: int = 64, seed: int = 0) -> np.ndarray:
    """A rendered round traffic sign (red ring, white field, black glyph) on a textured background."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), rng.integers(60, 140, 3), np.uint8)
    img = cv2.add(img, rng.integers(0, 30, (size, size, 3), dtype=np.uint8))
    c = size // 2
    cv2.circle(img, (c, c), int(size * 0.42), (30, 30, 200), -1)
    cv2.circle(img, (c, c), int(size * 0.32), (235, 235, 235), -1)
    cv2.putText(
        img,
        str(int(rng.integers(1, 9)) * 10),
        (int(size * 0.25), int(size * 0.6)),
        cv2.FONT_HERSHEY_SIMPLEX,
        size / 70,
        (20, 20, 20),
        max(1, size // 30),
    )
    return img


SIGN_VIDEO_ROI = (120, 80, 64, 64)  # x, y, w, h of the sign in write_sign_video's frames


def write_sign_video(path: str | Path, clear: int = 20, blurred: int = 20, fps: float = 10.0) -> Path:
    """A 320x240 MJPG video of one BelgiumTSC track's crops (64x64 at SIGN_VIDEO_ROI on a grey street
    texture): `clear` frames, `blurred` frames with gaussian blur level 5, `clear` frames again."""
    from monitor.challenges import apply_challenge
    from monitor.cure_tsr import track_of

    paths = belgium_paths()
    track = track_of(paths[0])
    crops = [cv2.imread(str(p)) for p in paths if track_of(p) == track]
    x, y, w, h = SIGN_VIDEO_ROI
    rng = np.random.default_rng(0)
    street = cv2.GaussianBlur(rng.integers(70, 150, (240, 320, 3), dtype=np.uint8), (9, 9), 0)
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (320, 240))
    for i in range(2 * clear + blurred):
        sign = cv2.resize(crops[i % len(crops)], (w, h), interpolation=cv2.INTER_AREA)
        if clear <= i < clear + blurred:
            sign = apply_challenge(sign, "gaussian_blur", 5, seed=i)
        frame = street.copy()
        frame[y : y + h, x : x + w] = sign
        out.write(frame)
    out.release()
    return Path(path)
