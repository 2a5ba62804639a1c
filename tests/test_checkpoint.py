"""Checkpoints round-trip everything needed to score, and bad files fail with one line naming them."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

import monitor
from monitor.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from monitor.model import GradConAE
from monitor.scorer import Scorer

from .helpers import belgium_frames


def test_round_trip_scores_identically(tmp_path: Path) -> None:
    # The model that is saved, against the model that is loaded (not two loads of one file, which
    # would agree with each other even if saving dropped or mixed up weights or references).
    torch.manual_seed(3)
    module = GradConAE(3)
    x = monitor.to_model_input(belgium_frames(16))
    recon = torch.nn.functional.mse_loss(module(x), x)
    refs = [r.detach().clone() for r in torch.autograd.grad(recon, [layer.weight for layer in module.gradient_layers])]
    saved = Scorer(copy.deepcopy(module), refs, beta=0.12, device="cpu")
    path = tmp_path / "m.pt"
    mid = save_checkpoint(path, module, refs, alpha=0.03, beta=0.12)
    loaded = monitor.load_model(path, device="cpu")
    assert loaded.model_id == mid and len(mid) == 16
    assert loaded.beta == pytest.approx(0.12) and loaded.info["alpha"] == pytest.approx(0.03)
    want = module.state_dict()
    got = loaded.module.state_dict()
    assert list(got) == list(want)
    for k in want:
        assert torch.equal(got[k], want[k]), k
    assert len(loaded.reference_gradients) == 4
    for r_got, r_want in zip(loaded.reference_gradients, refs, strict=False):
        assert torch.equal(r_got, r_want)
    frames = belgium_frames(8)
    np.testing.assert_array_equal(loaded.score(frames).score, saved.score(frames).score)
    np.testing.assert_array_equal(loaded.score(frames).layer_cos, saved.score(frames).layer_cos)
    ck = read_checkpoint(path)
    assert ck["model_config"] == {"channels": 3, "size": 28}
    assert [tuple(r.shape) for r in ck["reference_gradients"]] == [
        tuple(layer.weight.shape) for layer in module.gradient_layers
    ]


def test_untrained_checkpoint_loads_the_same_twice(tmp_path: Path) -> None:
    path = tmp_path / "u.pt"
    mid = monitor.make_untrained_checkpoint(path, seed=3)
    a = monitor.load_model(path, device="cpu")
    b = monitor.load_model(path, device="cpu")
    assert a.model_id == b.model_id == mid
    frames = belgium_frames(4)
    np.testing.assert_array_equal(a.score(frames).score, b.score(frames).score)


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
