"""The 13 CURE-TSR challenge types (ChallengeFree and the 12 challenges), in one table.

Every spelling of a challenge the project uses is a column of `CHALLENGE_TABLE`; the per-use
dictionaries below are views of it, and the modules that need a spelling take it from here:

| column | used by | example (code 2) |
| --- | --- | --- |
| code | CURE-TSR file names (`01_06_02_03_0001.bmp`), calibration summaries | 2 |
| folder | CURE-TSR folders (`LensBlur-3`), monitor.cure_tsr, reports | LensBlur |
| wire | frame headers and score records (pipelines.wire, docs/WIRE.md) | lens_blur |
| condition | the condition classifier, calibration files, alert records | blur |

The condition column merges LensBlur and GaussianBlur into "blur" (calibration.conditions says why).
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np


class Challenge(NamedTuple):
    code: int  # CURE-TSR challenge type, 0 = challenge-free
    folder: str  # as CURE-TSR spells it in folder names
    wire: str  # in frame headers and score records
    condition: str  # the condition the classifier names


CHALLENGE_TABLE: tuple[Challenge, ...] = (
    Challenge(0, "ChallengeFree", "none", "clean"),
    Challenge(1, "Decolorization", "decolorization", "decolorization"),
    Challenge(2, "LensBlur", "lens_blur", "blur"),
    Challenge(3, "CodecError", "codec_error", "codec_error"),
    Challenge(4, "Darkening", "darkening", "darkening"),
    Challenge(5, "DirtyLens", "dirty_lens", "dirty_lens"),
    Challenge(6, "Exposure", "exposure", "exposure"),
    Challenge(7, "GaussianBlur", "gaussian_blur", "blur"),
    Challenge(8, "Noise", "noise", "noise"),
    Challenge(9, "Rain", "rain", "rain"),
    Challenge(10, "Shadow", "shadow", "shadow"),
    Challenge(11, "Snow", "snow", "snow"),
    Challenge(12, "Haze", "haze", "haze"),
)

BY_CODE: dict[int, Challenge] = {c.code: c for c in CHALLENGE_TABLE}
# Views of the table, code -> one spelling.
FOLDER_NAMES: dict[int, str] = {c.code: c.folder for c in CHALLENGE_TABLE}
WIRE_NAMES: dict[int, str] = {c.code: c.wire for c in CHALLENGE_TABLE}
CONDITION_NAMES: dict[int, str] = {c.code: c.condition for c in CHALLENGE_TABLE}
# The 12 challenges proper (codes 1-12), in code order.
CHALLENGE_CODES: tuple[int, ...] = tuple(c.code for c in CHALLENGE_TABLE if c.code)


def squash(name: str) -> str:
    """'Lens_Blur', 'lens-blur', 'LensBlur' -> 'lensblur'."""
    return re.sub(r"[\s_\-]", "", name).lower()


# Names `challenge_code` accepts: the folder spelling in any case and separators (so the wire
# names too), and three words for challenge-free.
_CODE_BY_KEY = {squash(c.folder): c.code for c in CHALLENGE_TABLE}
_CODE_BY_KEY.update({"none": 0, "clean": 0, "free": 0})


def challenge_code(challenge: str | int) -> int:
    """Challenge name (case-insensitive; 'rain', 'lens_blur', 'LensBlur', 'none') or code -> code 0..12."""
    if isinstance(challenge, (int, np.integer)) and not isinstance(challenge, bool):
        if int(challenge) in BY_CODE:
            return int(challenge)
        raise ValueError(f"challenge type {challenge} is not a CURE-TSR challenge (0-12)")
    if isinstance(challenge, str):
        key = squash(challenge)
        if key.isdigit() and int(key) in BY_CODE:
            return int(key)
        if key in _CODE_BY_KEY:
            return _CODE_BY_KEY[key]
        names = ", ".join(FOLDER_NAMES.values())
        raise ValueError(f"unknown challenge {challenge!r}; expected one of {names} or a code 0-12")
    raise ValueError(f"challenge must be a name or a code, not {type(challenge).__name__}")


def challenge_of(challenge: str | int) -> Challenge:
    """The table row of a challenge name or code (see `challenge_code`)."""
    return BY_CODE[challenge_code(challenge)]
