"""Folds that keep whole tracks together: the one fold rule for the whole calibration.

A track is one physical sign in consecutive frames; its frames are near-duplicates, so a fold that
split one would let a model see the frames it is tested on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def group_folds(groups: Sequence[str], k: int, seed: int = 0) -> np.ndarray:
    """Fold index per row, whole groups (tracks) kept together; deterministic for a seed."""
    g = np.asarray(groups).astype(str)
    keys = np.unique(g)
    order = np.random.default_rng(seed).permutation(len(keys))
    fold_of_key = {keys[i]: j % k for j, i in enumerate(order)}
    return np.array([fold_of_key[v] for v in g], dtype=np.int64)
