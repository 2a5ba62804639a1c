"""calibration/features.py's statistics against a stored reference (issue 13): the speed work on the
hot path must give the statistics the code gave when tests/data/features_golden.npz was written
(scripts/features_golden.py: 48 prepared 64x64 frames of real BelgiumTSC crops, half of them
degraded in both renderings, a grey-scale crop, a uniform grey and a black frame).

Tolerance 1e-5 absolute: the statistics are float32 logs, fractions and ratios of size O(1) (the
largest magnitude stored is about 16, log of a 1e-7 floor), so 1e-5 is about float32 rounding of
sums taken in another order, far below any statistic's spread between clean frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from calibration.features import FEATURE_NAMES, features_from_resized

GOLDEN = Path(__file__).resolve().parent / "data" / "features_golden.npz"
ATOL = 1e-5


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN) as z:
        return {k: z[k] for k in z.files}


def _by_name(feats: np.ndarray, names: np.ndarray) -> dict[str, np.ndarray]:
    """The columns of `feats` whose names were stored (statistics appended later are not in the file)."""
    return {str(k): feats[:, FEATURE_NAMES.index(str(k))] for k in names}


def _assert_close(got: np.ndarray, golden: dict[str, np.ndarray], rows: np.ndarray) -> None:
    want = golden["features"][rows]
    bad = []
    for j, name in enumerate(golden["names"]):
        diff = np.abs(_by_name(got, golden["names"])[str(name)] - want[:, j])
        if not diff.max() <= ATOL:  # also catches NaN
            bad.append(f"{name}: max |diff| {diff.max():.3g} at frame {int(rows[np.nanargmax(diff)])}")
    assert not bad, "statistics moved from tests/data/features_golden.npz:\n" + "\n".join(bad)


def test_every_stored_statistic_is_still_computed(golden) -> None:
    missing = [str(k) for k in golden["names"] if str(k) not in FEATURE_NAMES]
    assert not missing, f"statistics in the golden file but not in FEATURE_NAMES: {missing}"


def test_statistics_equal_the_stored_ones(golden) -> None:
    got = features_from_resized(golden["batch"], golden["log_side"])
    _assert_close(got, golden, np.arange(len(golden["batch"])))


@pytest.mark.parametrize("size", [1, 5, 16])
def test_small_batches_give_the_same_statistics(golden, size: int) -> None:
    # Each frame's statistics are its own: the batch it arrives in must not move them.
    rows = np.arange(len(golden["batch"]))[3 : 3 + size]
    got = features_from_resized(golden["batch"][rows], golden["log_side"][rows])
    _assert_close(got, golden, rows)


def test_a_batch_larger_than_the_consumers_gives_the_same_statistics(golden) -> None:
    # 6 copies (288 frames, over consumer.max_batch 256): any chunking of a large batch is exercised.
    rows = np.tile(np.arange(len(golden["batch"])), 6)
    got = features_from_resized(golden["batch"][rows], golden["log_side"][rows])
    _assert_close(got, golden, rows)
