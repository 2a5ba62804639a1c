"""The fast batched scorer against the authors' batch-size-1 loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import monitor
from monitor.model import GradConAE
from monitor.scorer import LAYER_COS_METHODS, Scorer, _auto_method, batched_scores, reference_loop_scores

from .helpers import belgium_frames, render_sign


@pytest.fixture(scope="module")
def trained_like_scorer() -> Scorer:
    """A model after a few real optimisation steps, so cosines are far from zero."""
    torch.manual_seed(1)
    m = GradConAE(3)
    x = monitor.to_model_input(belgium_frames(64))
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    for _ in range(20):
        opt.zero_grad()
        torch.nn.functional.mse_loss(m(x), x).backward()
        opt.step()
    recon = torch.nn.functional.mse_loss(m(x), x)
    refs = torch.autograd.grad(recon, [layer.weight for layer in m.gradient_layers])
    return Scorer(m, refs, beta=0.12, device="cpu")


def test_architecture_matches_the_authors() -> None:
    assert sum(p.numel() for p in GradConAE(1).parameters()) == 230_721
    assert sum(p.numel() for p in GradConAE(3).parameters()) == 232_771
    with pytest.raises(ValueError, match="28x28"):
        GradConAE(3, size=32)


@pytest.mark.parametrize("channels", [3, 1])
def test_fast_scorer_equals_the_loop(channels: int) -> None:
    torch.manual_seed(0)
    m = GradConAE(channels)
    refs = [torch.randn_like(layer.weight) for layer in m.gradient_layers]
    frames = belgium_frames(40)
    x = monitor.to_model_input(frames, channels)
    fast = [t.detach().numpy() for t in batched_scores(m, refs, x, 0.12)]
    slow = reference_loop_scores(m, refs, x, 0.12)
    np.testing.assert_allclose(fast[0], slow.score, atol=1e-5)
    np.testing.assert_allclose(fast[1], slow.recon, atol=1e-6)
    np.testing.assert_allclose(fast[2], slow.layer_cos, atol=1e-5)


@pytest.fixture(scope="module", params=[3, 1], ids=["colour", "grey"])
def loop_case(request, trained_like_scorer: Scorer):
    """(model, references, batch, the authors' loop on it), computed once per channel count."""
    channels = request.param
    if channels == 3:
        m, refs = trained_like_scorer.module, trained_like_scorer.reference_gradients
    else:  # a grey model; references are a real gradient, so the cosines are far from zero
        torch.manual_seed(2)
        m = GradConAE(1)
        xr = monitor.to_model_input(belgium_frames(32), 1)
        recon = torch.nn.functional.mse_loss(m(xr), xr)
        refs = list(torch.autograd.grad(recon, [layer.weight for layer in m.gradient_layers]))
    frames = belgium_frames(16) + [render_sign(s, seed=s) for s in (21, 64)]
    x = monitor.to_model_input(frames, channels)
    slow = reference_loop_scores(m, refs, x, 0.12)
    assert np.abs(slow.layer_cos).max() > 0.05  # a meaningful comparison, not zeros against zeros
    return m, refs, x, slow


@pytest.mark.parametrize("method", ("auto",) + LAYER_COS_METHODS)
def test_every_layer_cosine_formula_equals_the_loop_on_the_cpu(loop_case, method: str) -> None:
    # "direct" is what CUDA runs on the two layers far from the latent: forced here, so the CPU checks it too.
    m, refs, x, slow = loop_case
    fast = [t.detach().numpy() for t in batched_scores(m, refs, x, 0.12, method=method)]
    np.testing.assert_allclose(fast[2], slow.layer_cos, rtol=0, atol=1e-5)
    np.testing.assert_allclose(fast[0], slow.score, rtol=0, atol=1e-5)
    np.testing.assert_allclose(fast[1], slow.recon, rtol=0, atol=1e-6)


def test_auto_picks_the_formula_by_layer_shape_and_device() -> None:
    from types import SimpleNamespace

    m = GradConAE(3)
    x = monitor.to_model_input(belgium_frames(2))
    acts, outs = [], []
    h = m.encoder(x)
    for layer in m.decoder:
        if isinstance(layer, torch.nn.ConvTranspose2d):
            acts.append(h)
            h = layer(h)
            outs.append(h)
        else:
            h = layer(h)
    refs = [layer.weight for layer in m.gradient_layers]
    assert [_auto_method(a, d, r) for a, d, r in zip(acts, outs, refs, strict=False)] == [
        "gram",
        "gram",
        "offset",
        "grouped",
    ]
    on_cuda = [SimpleNamespace(shape=a.shape, is_cuda=True) for a in acts]
    assert [_auto_method(a, d, r) for a, d, r in zip(on_cuda, outs, refs, strict=False)] == [
        "gram",
        "gram",
        "direct",
        "direct",
    ]
    with pytest.raises(ValueError, match="layer cosine method 'fast'"):
        batched_scores(m, refs, x, 0.12, method="fast")


def test_trained_scorer_equals_the_loop_on_real_and_rendered_frames(trained_like_scorer: Scorer) -> None:
    frames = belgium_frames(24) + [render_sign(s, seed=s) for s in (21, 28, 64, 300)]
    frames.append(cv2_grey(frames[0]))
    fast = trained_like_scorer.score(frames)
    slow = trained_like_scorer.reference_scores(frames)
    assert np.abs(fast.layer_cos).max() > 0.05  # a meaningful comparison, not zeros against zeros
    np.testing.assert_allclose(fast.score, slow.score, atol=1e-5)
    np.testing.assert_allclose(fast.layer_cos, slow.layer_cos, atol=1e-5)
    assert fast.score.shape == (len(frames),) and fast.layer_cos.shape == (len(frames), 4)
    np.testing.assert_allclose(fast.score, fast.recon - 0.12 * fast.layer_cos.mean(1), atol=1e-6)


def cv2_grey(img: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def test_a_frames_score_does_not_depend_on_its_batch(trained_like_scorer: Scorer) -> None:
    frames = belgium_frames(64)
    alone = trained_like_scorer.score(frames[:1]).score[0]
    together = trained_like_scorer.score(frames).score
    shuffled = trained_like_scorer.score(frames[::-1]).score[::-1]
    assert abs(together[0] - alone) < 1e-6
    np.testing.assert_allclose(together, shuffled, atol=1e-6)
    trained_like_scorer.chunk_size = 7  # split into uneven chunks
    try:
        np.testing.assert_allclose(trained_like_scorer.score(frames).score, together, atol=1e-6)
    finally:
        trained_like_scorer.chunk_size = 4096


def test_array_input_and_empty_batch(trained_like_scorer: Scorer) -> None:
    arr = np.stack([render_sign(48, seed=i) for i in range(5)])
    r = trained_like_scorer.score(arr)
    assert r.score.shape == (5,)
    assert trained_like_scorer.score([]).score.shape == (0,)
    assert trained_like_scorer.preprocess(arr).shape == (5, 3, 28, 28)


def test_wrong_input_shape_is_a_clear_error(trained_like_scorer: Scorer) -> None:
    with pytest.raises(ValueError, match=r"expected \(N, 3, 28, 28\)"):
        trained_like_scorer.score_tensor(torch.zeros(2, 3, 32, 32))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_scorer_matches_the_cpu_loop(trained_like_scorer: Scorer) -> None:
    import copy

    frames = belgium_frames(48)
    slow = trained_like_scorer.reference_scores(frames)
    gpu = Scorer(
        copy.deepcopy(trained_like_scorer.module), trained_like_scorer.reference_gradients, 0.12, device="cuda"
    )
    fast = gpu.score(frames)
    np.testing.assert_allclose(fast.score, slow.score, atol=1e-5)
    np.testing.assert_allclose(fast.layer_cos, slow.layer_cos, atol=1e-5)
