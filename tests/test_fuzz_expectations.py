"""The fuzz cases' declared outcomes (tests/fuzz_cases.py) hold for the OpenCV in use, checked against
`cv2.imdecode` itself, not the product's decoder: every case declared "score" decodes (and goes
through the test's own normalisation), every case declared "payload could not be decoded" does not.

The rules are about the library (OpenCV 5 refuses a JPEG cut inside its entropy-coded data instead
of returning a partial image; it ignores IEND's CRC). If an OpenCV upgrade changes one, this fast
test names the rule that broke, instead of the Kafka fuzz test reporting a product failure.
"""

from __future__ import annotations

from collections import Counter

import cv2
import numpy as np

from tests.fuzz_cases import (
    JPEG_MAGIC,
    PNG_SIGNATURE,
    fuzz_cases,
    jpeg_scan,
    offline_decode,
    png_chunks,
    png_crc_broken,
)
from tests.helpers import SHARED_DATA, belgium_frames, render_sign
from tests.test_reliability_fuzz import MAX_FRAME_BYTES, SEED, VALID


def library_decodes(value: bytes) -> bool:
    try:
        return cv2.imdecode(np.frombuffer(value, np.uint8), cv2.IMREAD_UNCHANGED) is not None
    except cv2.error:
        return False


def test_declared_outcomes_hold_for_opencv():
    images = belgium_frames(16) if SHARED_DATA.is_dir() else [render_sign(40 + 4 * i, seed=i) for i in range(16)]
    cases = fuzz_cases(SEED, images, VALID, max_frame_bytes=MAX_FRAME_BYTES, bomb_burst=False)
    seen: dict[bytes, bool] = {}
    checked = Counter()
    for c in cases:
        assert (
            c.expect == "score" or c.expect.split(":")[0] == "dlq" and c.expect.split(":")[1] in ("validate", "decode")
        ), c
        if c.value is None or not c.headers or c.expect.startswith("dlq:validate"):
            continue
        if c.value not in seen:
            seen[c.value] = library_decodes(c.value)
        if c.expect == "score":
            assert seen[c.value], f"case {c.case} ({c.kind}) is declared 'score' but OpenCV cannot decode it"
            img = offline_decode(c.value)
            assert img.dtype == np.uint8 and img.size > 0
            checked["score"] += 1
        elif "payload could not be decoded" in c.expect:
            assert not seen[c.value], f"case {c.case} ({c.kind}) is declared undecodable but OpenCV decodes it"
            checked["undecodable"] += 1
        elif c.expect == "dlq:decode:not an image":
            assert not c.value.startswith((PNG_SIGNATURE, JPEG_MAGIC)), c.kind
    assert checked["score"] >= 450 and checked["undecodable"] >= 350, checked  # the rules were exercised


def test_the_mutations_are_what_the_rules_assume():
    """Truncations cut where their kind says, PNG flips break a CRC, JPEG flips leave every 0xFF alone."""
    images = [render_sign(40 + 4 * i, seed=i) for i in range(4)]
    pngs = [cv2.imencode(".png", im)[1].tobytes() for im in images]
    jpegs = [cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes() for im in images]
    cases = fuzz_cases(7, images, 0, max_frame_bytes=MAX_FRAME_BYTES)
    kinds = Counter()
    for c in cases:
        if c.kind.startswith("truncated"):
            src = next(s for s in pngs + jpegs if s.startswith(c.value) and len(s) > len(c.value))
            region = c.kind.split(": ", 1)[1]
            if src.startswith(PNG_SIGNATURE):
                idat = [ch for ch in png_chunks(src) if ch[2] == b"IDAT"]
                first, end = idat[0][0] + 8, idat[-1][0] + 8 + idat[-1][1]
                assert {
                    "in the signature": len(c.value) < 8,
                    "before the IDAT data": 8 <= len(c.value) < first,
                    "in the IDAT data": first <= len(c.value) < end,
                    "after the IDAT data": end <= len(c.value),
                }[region]
            else:
                sos, start = jpeg_scan(src)
                n = len(c.value)
                assert {
                    "in the magic": n < 3,
                    "before the SOS marker": 3 <= n < sos,
                    "in the SOS header": sos <= n < start,
                    "in the entropy-coded data": start <= n < len(src) - 2,
                    "in the EOI marker": len(src) - 2 <= n,
                }[region]
        elif c.kind.startswith("bit-flipped png"):
            assert png_crc_broken(c.value) and c.value[-4:] == pngs[0][-4:]  # IEND's CRC is the same in every PNG
        elif c.kind.startswith("bit-flipped jpeg"):
            src = next(s for s in jpegs if len(s) == len(c.value) and s[:600] == c.value[:600])
            _, start = jpeg_scan(src)
            diff = [i for i in range(len(src)) if src[i] != c.value[i]]
            assert diff and all(start <= i < len(src) - 2 for i in diff)
            assert all(src[i] != 0xFF and src[i - 1] != 0xFF and c.value[i] != 0xFF for i in diff)
        else:
            continue
        kinds[c.kind] += 1
    assert len(kinds) == 4 + 5 + 3, kinds  # every truncation region and flip kind was built
