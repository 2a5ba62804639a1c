"""Checkpoints round-trip everything needed to score, and bad files fail with one line naming them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import monitor
from monitor.checkpoint import CheckpointError, read_checkpoint

from .helpers import belgium_frames


def test_round_trip_scores_identically(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    mid = monitor.make_untrained_checkpoint(path, seed=3)
    a = monitor.load_model(path, device="cpu")
    b = monitor.load_model(path, device="cpu")
    assert a.model_id == b.model_id == mid and len(mid) == 16
    frames = belgium_frames(8)
    np.testing.assert_array_equal(a.score(frames).score, b.score(frames).score)
    ck = read_checkpoint(path)
    assert ck["model_config"] == {"channels": 3, "size": 28}
    assert [tuple(r.shape) for r in ck["reference_gradients"]] == [tuple(l.weight.shape) for l in a.module.gradient_layers]
    assert a.beta == pytest.approx(0.12)
    assert len(a.reference_gradients) == 4


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p, good: None, "not found"),
        (lambda p, good: p.write_bytes(good.read_bytes()[:500]), "not a readable PyTorch checkpoint"),
        (lambda p, good: p.write_bytes(b"hello, not a model"), "not a readable PyTorch checkpoint"),
        (lambda p, good: torch.save({"weights": torch.zeros(3)}, p), "not a signwatch GradCon checkpoint"),
        (lambda p, good: torch.save([1, 2, 3], p), "not a signwatch GradCon checkpoint"),
    ],
)
def test_bad_checkpoints_give_one_line_naming_the_file(tmp_path: Path, make, message: str) -> None:
    good = tmp_path / "good.pt"
    monitor.make_untrained_checkpoint(good)
    bad = tmp_path / "bad.pt"
    make(bad, good)
    with pytest.raises(CheckpointError) as e:
        monitor.load_model(bad)
    assert str(bad) in str(e.value) and message in str(e.value) and "\n" not in str(e.value)


def test_checkpoint_with_code_is_refused_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    p = tmp_path / "evil.pt"
    torch.save({"format": "signwatch-gradcon", "version": 1, "x": Evil()}, p)
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        monitor.load_model(p)
    assert not marker.exists()


def test_wrong_input_size_and_incomplete_checkpoint(tmp_path: Path) -> None:
    p = tmp_path / "m.pt"
    monitor.make_untrained_checkpoint(p)
    with pytest.raises(CheckpointError, match="trained for 28x28 input, expected 32x32"):
        monitor.load_model(p, expect_size=32)
    ck = read_checkpoint(p)
    ck["reference_gradients"] = ck["reference_gradients"][:3]
    torch.save(ck, p)
    with pytest.raises(CheckpointError, match="expected 4 reference gradient tensors"):
        monitor.load_model(p)
    ck["reference_gradients"] = [torch.zeros(2)] * 4
    torch.save(ck, p)
    with pytest.raises(CheckpointError, match="does not fit the GradCon model"):
        monitor.load_model(p)
