"""The image codec of the wire: how a producer encodes a frame, and what the consumer then decodes.

One home for the encoding, so that everything that fits or measures the detector (calibrate,
evaluate, synth, the demo's quick calibration) can see frames exactly as a deployment's consumer
sees them: JPEG at quality 90 by default moves the fine statistics the detector reads (noise,
sharpness, blocking), so figures measured on lossless files are not what a deployment gets.
pipelines.wire puts these bytes in a Kafka record; this module knows nothing of Kafka.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

import cv2
import numpy as np

from monitor.preprocess import REDUCED_MIN_SIDE, decode_frame

ENCODINGS = ("jpeg", "png")


class CodecError(ValueError):
    """An image or encoding the codec cannot handle; the message is one line."""


class WireEncoding(NamedTuple):
    """How frames travel: `encoding` (jpeg | png, or none for frames used as they lie) and JPEG quality."""

    encoding: str = "jpeg"
    quality: int = 90

    def describe(self) -> str:
        return f"jpeg q{self.quality}" if self.encoding == "jpeg" else self.encoding

    def roundtrip(self, images: Sequence[np.ndarray], full_size: bool = False) -> list[np.ndarray]:
        """Each image as the consumer decodes it after this encoding (unchanged for "none").

        Like the consumer, a large JPEG is decoded at a reduced scale (monitor.preprocess.decode_frame):
        its statistics differ a little from a full-size decode's, and a calibration must see what the
        consumer scores. full_size: decode at full size (a data set written to disk, not scored here).
        """
        if self.encoding == "none":
            return list(images)
        min_side = 0 if full_size else REDUCED_MIN_SIDE
        return [decode_frame(encode_image(im, self.encoding, self.quality), min_side=min_side).image for im in images]

    @staticmethod
    def parse(text: str) -> WireEncoding:
        """The inverse of describe(): "jpeg q90", "png" or "none" (as a manifest records it)."""
        t = text.strip().lower()
        if t in ("none", "png"):
            return NO_ENCODING if t == "none" else WireEncoding("png", 0)
        m = re.fullmatch(r"jpeg q(\d{1,3})", t)
        if m is None or not 1 <= int(m.group(1)) <= 100:
            raise CodecError(f"wire encoding {text!r} is not 'jpeg q<1-100>', 'png' or 'none'")
        return WireEncoding("jpeg", int(m.group(1)))

    def same_as(self, other: WireEncoding) -> bool:
        """The same frames result (PNG's quality setting means nothing)."""
        return self.describe() == other.describe()


NO_ENCODING = WireEncoding("none", 0)


def resolve_wire(wanted: WireEncoding, recorded: WireEncoding | None, where: str) -> tuple[WireEncoding, WireEncoding]:
    """(encoding still to apply when reading a set, encoding its frames will then have been through).

    recorded: what the set's manifest says its frames were written through (synth applies the
    wire before writing lossless files), None for plain folders. A set already through the wanted
    encoding is not encoded twice; one through another lossy encoding cannot be undone, so that is
    refused rather than measured wrongly."""
    if recorded is None or recorded.encoding == "none":
        return wanted, wanted
    if wanted.encoding == "none" or wanted.same_as(recorded):
        return NO_ENCODING, recorded
    raise CodecError(
        f"{where}: frames were written through {recorded.describe()} (its manifest), not {wanted.describe()}; "
        f"build the set again with synth for {wanted.describe()}, or ask for {recorded.describe()}"
    )


def encode_image(img: np.ndarray, encoding: str = "jpeg", quality: int = 90) -> bytes:
    """uint8 BGR (H, W, 3) or grey (H, W) image -> JPEG (default) or lossless PNG bytes."""
    if encoding not in ENCODINGS:
        raise CodecError(f"encoding must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim not in (2, 3) or img.size == 0:
        raise CodecError(f"encoding needs a non-empty uint8 HxW or HxWx3 image, got {getattr(img, 'shape', type(img))}")
    if encoding == "jpeg":
        if not 1 <= quality <= 100:
            raise CodecError(f"jpeg quality must be 1..100, got {quality}")
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    else:
        # Level 1: PNG's size barely improves beyond it and encoding gets several times slower.
        ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise CodecError(f"OpenCV could not encode a {img.shape} image as {encoding}")
    return buf.tobytes()
