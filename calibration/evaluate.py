"""The paper's protocol on a CURE-TSR layout: challenge-free frames are the inliers, the same
frames under one challenge type and level are the outliers; AUROC per type and level for the
reconstruction error, the gradient loss and the combined score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from calibration.calibrate import wire_to_apply
from calibration.metrics import auroc
from monitor.challenge_types import FOLDER_NAMES, challenge_code
from monitor.codec import NO_ENCODING, WireEncoding
from monitor.cure_tsr import CureFrame, load_image, read_cure_tsr
from monitor.scorer import Scorer, ScoreResult

SCORE_KINDS = ("recon", "gradient", "combined")


class FrameScores(NamedTuple):
    frames: list[CureFrame]
    result: ScoreResult

    def kind(self, name: str) -> np.ndarray:
        """recon, gradient (= -mean layer cosine, the gradient loss) or combined score."""
        if name == "recon":
            return self.result.recon
        if name == "gradient":
            return -self.result.layer_cos.mean(axis=1)
        if name == "combined":
            return self.result.score
        raise ValueError(f"unknown score kind {name!r}")


class EvalTable(NamedTuple):
    auroc: dict[tuple[str, str, int], float]  # (kind, challenge name, level) -> AUROC
    n_clean: int
    n_challenged: dict[tuple[str, int], int]
    levels: tuple[int, ...]
    challenges: tuple[str, ...]
    wire: str = "none"  # the encoding the frames were seen through (WireEncoding.describe())

    def mean(self, kind: str, levels: Sequence[int] | None = None, challenge: str | None = None) -> float:
        vals = [
            v
            for (k, c, lv), v in self.auroc.items()
            if k == kind and (levels is None or lv in levels) and (challenge is None or c == challenge)
        ]
        return float(np.mean(vals)) if vals else float("nan")

    def flat(self) -> dict[str, float | int | str]:
        """Flat JSON keys named for what they measure."""
        out: dict[str, float | int | str] = {"clean_frames": self.n_clean, "wire": self.wire}
        for (c, lv), n in sorted(self.n_challenged.items()):
            out[f"frames.{c}.{lv}"] = n
        for (k, c, lv), v in sorted(self.auroc.items()):
            out[f"auroc.{k}.{c}.{lv}"] = round(v, 6)
        for k in SCORE_KINDS:
            out[f"auroc.{k}.mean"] = round(self.mean(k), 6)
            out[f"auroc.{k}.mean_levels_3_5"] = round(self.mean(k, (3, 4, 5)), 6)
            for c in self.challenges:
                out[f"auroc.{k}.{c}.mean"] = round(self.mean(k, challenge=c), 6)
        return out


def score_frames(
    scorer: Scorer,
    frames: Sequence[CureFrame],
    batch_size: int = 512,
    progress: Callable[[int], None] | None = None,
    wire: WireEncoding = NO_ENCODING,
) -> FrameScores:
    """Score image files in batches (reading is the slow part for big sets), each first passed
    through `wire` as the consumer would decode it."""
    parts: list[ScoreResult] = []
    for i in range(0, len(frames), batch_size):
        chunk = frames[i : i + batch_size]
        parts.append(scorer.score(wire.roundtrip([load_image(f.path) for f in chunk])))
        if progress:
            progress(len(chunk))
    if not parts:
        return FrameScores([], ScoreResult(np.zeros(0), np.zeros(0), np.zeros((0, 4))))
    res = ScoreResult(*(np.concatenate([getattr(p, k) for p in parts]) for k in ScoreResult._fields))
    return FrameScores(list(frames), res)


def auroc_table(scores: FrameScores) -> EvalTable:
    """AUROC per (score kind, challenge, level): clean frames vs the frames under that challenge."""
    types = np.array([f.name.challenge_type for f in scores.frames])
    lvls = np.array([f.name.level for f in scores.frames])
    clean = types == 0
    if not clean.any():
        raise ValueError("the data set has no ChallengeFree frames: they are the inliers of the protocol")
    table: dict[tuple[str, str, int], float] = {}
    counts: dict[tuple[str, int], int] = {}
    present = sorted({(int(t), int(lv)) for t, lv in zip(types, lvls, strict=False) if t != 0})
    for t, lv in present:
        sel = (types == t) & (lvls == lv)
        name = FOLDER_NAMES[t]
        counts[(name, lv)] = int(sel.sum())
        for k in SCORE_KINDS:
            v = scores.kind(k)
            table[(k, name, lv)] = auroc(v[clean], v[sel])
    challenges = tuple(dict.fromkeys(FOLDER_NAMES[t] for t, _ in present))
    levels = tuple(sorted({lv for _, lv in present}))
    return EvalTable(table, int(clean.sum()), counts, levels, challenges)


def evaluate_dir(
    scorer: Scorer,
    root: str | Path,
    challenges: Sequence[str] | None = None,
    levels: Sequence[int] | None = None,
    progress: Callable[[int], None] | None = None,
    wire: WireEncoding = NO_ENCODING,
) -> EvalTable:
    """AUROC table of a CURE-TSR folder, its frames seen through `wire` (not twice: wire_to_apply)."""
    apply, seen = wire_to_apply(wire, root)
    frames = read_cure_tsr(root)
    if challenges is not None or levels is not None:
        want_c = None if challenges is None else {challenge_code(c) for c in challenges}
        frames = [
            f
            for f in frames
            if f.name.challenge_type == 0
            or ((want_c is None or f.name.challenge_type in want_c) and (levels is None or f.name.level in levels))
        ]
    if not frames:
        raise ValueError(
            f"{root}: no CURE-TSR frames found (expected <split>/<Challenge>-<level>/NN_NN_NN_NN_NNNN.bmp)"
        )
    return auroc_table(score_frames(scorer, frames, progress=progress, wire=apply))._replace(wire=seen.describe())
