"""Train GradCon on challenge-free frames (docs/DESIGN.md §1).

loss = recon + alpha * grad_loss, where grad_loss = -(1/4) sum_l cos(d recon / d W_l, ref_l) over the
four decoder weights, differentiated through (second order). ref_l is the running mean, over every
iteration, of W_l.grad of the total loss. Validation is split by track so near-identical frames of one
sign never sit on both sides; the best epoch by validation loss is kept, with its references.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .checkpoint import save_checkpoint
from .model import GradConAE
from .preprocess import to_model_input


@dataclass
class EpochStats:
    epoch: int
    loss: float
    recon: float
    grad_loss: float
    val_loss: float
    val_recon: float
    val_grad_loss: float
    seconds: float


@dataclass
class TrainResult:
    module: GradConAE
    reference_gradients: list[torch.Tensor]
    best_epoch: int
    best_val_loss: float
    history: list[EpochStats] = field(default_factory=list)


def split_groups(groups: Sequence[str], val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val), whole groups (tracks) on one side only; deterministic for a seed."""
    uniq = sorted(set(groups))
    rng = random.Random(seed)
    rng.shuffle(uniq)
    n_val = int(round(len(uniq) * val_fraction))
    if val_fraction > 0 and len(uniq) >= 2:
        n_val = min(max(n_val, 1), len(uniq) - 1)
    val_groups = set(uniq[:n_val])
    is_val = np.array([g in val_groups for g in groups], dtype=bool)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def _grad_cosines(grads: Sequence[torch.Tensor], refs: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.stack(
        [F.cosine_similarity(g.flatten(), r.flatten(), dim=0) for g, r in zip(grads, refs, strict=False)]
    )


def _evaluate(
    module: GradConAE, refs: list[torch.Tensor] | None, x: torch.Tensor, alpha: float, batch_size: int
) -> tuple[float, float, float]:
    """Validation loss, recon and gradient loss, batch by batch as in training (first-order only)."""
    weights = [m.weight for m in module.gradient_layers]
    tot = rec = gl = 0.0
    n = 0
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size]
        recon = F.mse_loss(module(xb), xb)
        g_loss = 0.0
        if refs is not None:
            grads = torch.autograd.grad(recon, weights)
            g_loss = -_grad_cosines(grads, refs).mean().item()
        b = xb.shape[0]
        rec += recon.item() * b
        gl += g_loss * b
        tot += (recon.item() + alpha * g_loss) * b
        n += b
    return tot / max(n, 1), rec / max(n, 1), gl / max(n, 1)


class _ReferenceGradients:
    """ref_l: the running mean, over every iteration, of the TOTAL loss's W_l.grad, never reset."""

    def __init__(self, weights: list[torch.Tensor]) -> None:
        self.weights = weights
        self.refs: list[torch.Tensor] | None = None
        self.iteration = 0

    def grad_loss(self, recon: torch.Tensor) -> torch.Tensor:
        """-(mean cosine) between d recon / d W_l and ref_l, differentiable (second order)."""
        if self.refs is None:
            return torch.zeros(())  # no reference yet on the very first iteration
        grads = torch.autograd.grad(recon, self.weights, create_graph=True)
        return -_grad_cosines(grads, self.refs).mean()

    def update(self) -> None:
        """Fold this iteration's weight gradients (after backward) into the running mean."""
        self.iteration += 1
        if self.refs is None:
            self.refs = [w.grad.detach().clone() for w in self.weights]
        else:
            for r, w in zip(self.refs, self.weights, strict=False):
                r.add_((w.grad.detach() - r) / self.iteration)


def _train_epoch(
    module: GradConAE,
    opt: torch.optim.Optimizer,
    reference: _ReferenceGradients,
    x_train: torch.Tensor,
    perm: torch.Tensor,
    batch_size: int,
    alpha: float,
) -> np.ndarray:
    """One pass over x_train in perm's order; the frame-weighted means of (loss, recon, grad_loss)."""
    module.train()
    sums = np.zeros(3)
    seen = 0
    for i in range(0, len(perm), batch_size):
        xb = x_train[perm[i : i + batch_size]]
        opt.zero_grad(set_to_none=True)
        recon = F.mse_loss(module(xb), xb)
        grad_loss = reference.grad_loss(recon)
        loss = recon + alpha * grad_loss
        loss.backward()
        reference.update()
        opt.step()
        b = xb.shape[0]
        sums += np.array([loss.item(), recon.item(), grad_loss.detach().item()]) * b
        seen += b
    return sums / max(seen, 1)


@dataclass
class _Best:
    """The epoch with the lowest validation loss so far: its weights and references, copied."""

    val_loss: float
    epoch: int
    state: dict[str, torch.Tensor]
    refs: list[torch.Tensor]

    @classmethod
    def of(cls, module: GradConAE, refs: list[torch.Tensor], epoch: int, val_loss: float) -> _Best:
        state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        return cls(val_loss, epoch, state, [r.clone() for r in refs])


def _split_frames(
    x: torch.Tensor, groups: Sequence[str], val_fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(training frames, validation frames), split by track (split_groups)."""
    train_idx, val_idx = split_groups(list(groups), val_fraction, seed)
    if len(train_idx) == 0:
        raise ValueError("no training frames left after the validation split")
    return x[train_idx], x[val_idx]


def train_gradcon(
    x: torch.Tensor,
    groups: Sequence[str],
    *,
    channels: int = 3,
    epochs: int = 60,
    batch_size: int = 64,
    lr: float = 1e-3,
    alpha: float = 0.03,
    val_fraction: float = 0.2,
    seed: int = 0,
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> TrainResult:
    """Train on x (N, C, 28, 28) in [0, 1]; `groups` gives each frame's track for the validation split."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    module = GradConAE(channels)
    reference = _ReferenceGradients([m.weight for m in module.gradient_layers])
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    x_train, x_val = _split_frames(x, groups, val_fraction, seed)
    best: _Best | None = None
    history: list[EpochStats] = []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        perm = torch.randperm(x_train.shape[0], generator=gen)
        means = _train_epoch(module, opt, reference, x_train, perm, batch_size, alpha)
        module.eval()
        assert reference.refs is not None  # at least one training frame, so at least one iteration
        v_loss, v_rec, v_gl = _evaluate(module, reference.refs, x_val if x_val.shape[0] else x_train, alpha, 256)
        stats = EpochStats(epoch, *(float(v) for v in means), v_loss, v_rec, v_gl, time.perf_counter() - t0)
        history.append(stats)
        if best is None or v_loss < best.val_loss:
            best = _Best.of(module, reference.refs, epoch, v_loss)
        if on_epoch:
            on_epoch(stats)
    assert best is not None
    module.load_state_dict(best.state)
    module.eval()
    return TrainResult(module, best.refs, best.epoch, best.val_loss, history)


def load_training_frames(paths: Sequence[Path], channels: int = 3) -> torch.Tensor:
    """Read and preprocess image files; an unreadable file is a one-line error naming it."""
    frames = []
    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"{p}: cannot be read as an image")
        frames.append(img)
    return to_model_input(frames, channels, 28)


def train_model(
    paths: Sequence[Path],
    groups: Sequence[str],
    out: str | Path,
    *,
    channels: int = 3,
    epochs: int = 60,
    batch_size: int = 64,
    lr: float = 1e-3,
    alpha: float = 0.03,
    val_fraction: float = 0.2,
    seed: int = 0,
    data_root: str = "",
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> tuple[str, TrainResult]:
    """Train from image files and write the checkpoint; returns (model id, result)."""
    x = load_training_frames(paths, channels)
    result = train_gradcon(
        x,
        groups,
        channels=channels,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        alpha=alpha,
        val_fraction=val_fraction,
        seed=seed,
        on_epoch=on_epoch,
    )
    train_idx, val_idx = split_groups(list(groups), val_fraction, seed)
    summary = {
        "root": str(data_root),
        "images": len(paths),
        "tracks": len(set(groups)),
        "train_images": int(len(train_idx)),
        "val_images": int(len(val_idx)),
        "val_tracks": sorted({groups[i] for i in val_idx}),
    }
    training = {
        "epochs": epochs,
        "best_epoch": result.best_epoch,
        "best_val_loss": result.best_val_loss,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "history": [[s.epoch, s.loss, s.recon, s.grad_loss, s.val_loss] for s in result.history],
    }
    model_id = save_checkpoint(
        out,
        result.module,
        result.reference_gradients,
        alpha=alpha,
        beta=4 * alpha,
        data_summary=summary,
        training=training,
    )
    return model_id, result
