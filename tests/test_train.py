"""A short training run on real crops lowers the loss and writes a checkpoint the API loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import monitor
from monitor.train import split_groups, train_gradcon, train_model

from .helpers import belgium_paths


def test_split_groups_keeps_tracks_whole() -> None:
    groups = [f"t{i // 3}" for i in range(60)]
    tr, va = split_groups(groups, 0.2, seed=1)
    assert {groups[i] for i in tr}.isdisjoint({groups[i] for i in va})
    assert len(tr) + len(va) == 60 and len(va) == 12
    tr2, va2 = split_groups(groups, 0.2, seed=1)
    assert list(va) == list(va2)


def test_short_training_lowers_the_loss_and_is_deterministic(tmp_path: Path) -> None:
    paths = belgium_paths()[::6][:200]
    groups = [p.parent.name + "/" + p.name.split("_")[0] for p in paths]
    mid, res = train_model(paths, groups, tmp_path / "m.pt", epochs=8, seed=0)
    h = res.history
    assert h[-1].loss < h[0].loss and h[-1].recon < h[0].recon
    assert h[-1].val_loss < h[0].val_loss
    assert h[-1].grad_loss < -0.3  # the gradient constraint is being learned
    scorer = monitor.load_model(tmp_path / "m.pt", device="cpu")
    assert scorer.model_id == mid
    assert scorer.info["data"]["images"] == len(paths)
    # Same seed, same data -> the same weights on the CPU.
    x = monitor.to_model_input([__import__("cv2").imread(str(p)) for p in paths])
    a = train_gradcon(x, groups, epochs=2, seed=5)
    b = train_gradcon(x, groups, epochs=2, seed=5)
    for pa, pb in zip(a.module.parameters(), b.module.parameters(), strict=False):
        assert torch.equal(pa, pb)
    for ra, rb in zip(a.reference_gradients, b.reference_gradients, strict=False):
        assert torch.equal(ra, rb)
    assert np.isfinite([s.val_loss for s in a.history]).all()
