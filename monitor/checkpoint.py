"""GradCon checkpoints: everything needed to score, loaded without executing code.

The file is a `torch.save` of plain containers and tensors, read back with
`torch.load(weights_only=True)`, so a hostile file cannot run code.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .model import GradConAE
from .scorer import Scorer

FORMAT = "signwatch-gradcon"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable or not ours; the message is one line naming it."""


def file_model_id(path: str | Path) -> str:
    """Content hash of a checkpoint: calibration files and score records name the model by it."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def save_checkpoint(
    path: str | Path,
    module: GradConAE,
    reference_gradients: Sequence[torch.Tensor],
    alpha: float,
    beta: float,
    data_summary: dict | None = None,
    training: dict | None = None,
) -> str:
    """Write a checkpoint atomically; returns its model id."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model_config": module.config(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in module.state_dict().items()},
        "reference_gradients": [r.detach().cpu().clone() for r in reference_gradients],
        "alpha": float(alpha),
        "beta": float(beta),
        "data": dict(data_summary or {}),
        "training": dict(training or {}),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return file_model_id(path)


def _require(ckpt: dict, key: str, kind: type | tuple, path: Path) -> Any:
    if key not in ckpt:
        raise CheckpointError(f"checkpoint {path}: missing '{key}' (not a complete signwatch GradCon checkpoint)")
    if not isinstance(ckpt[key], kind):
        raise CheckpointError(f"checkpoint {path}: '{key}' has the wrong type ({type(ckpt[key]).__name__})")
    return ckpt[key]


def read_checkpoint(path: str | Path) -> dict:
    """Load and validate the raw checkpoint dict."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path}: not found")
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path}: is a directory, expected a .pt file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure to parse a foreign or damaged file is the same user error
        reason = str(e).strip().splitlines()[0].split(". ")[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"checkpoint {path}: not a readable PyTorch checkpoint ({reason[:120]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path}: not a signwatch GradCon checkpoint (no '{FORMAT}' format marker)")
    if ckpt.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint {path}: format version {ckpt.get('version')!r}, this signwatch reads version {VERSION}"
        )
    _require(ckpt, "model_config", dict, path)
    _require(ckpt, "state_dict", dict, path)
    refs = _require(ckpt, "reference_gradients", list, path)
    if len(refs) != 4 or not all(isinstance(r, torch.Tensor) for r in refs):
        raise CheckpointError(f"checkpoint {path}: expected 4 reference gradient tensors, found {len(refs)}")
    _require(ckpt, "beta", float, path)
    return ckpt


def load_model(path: str | Path, device: str | torch.device | None = "auto", expect_size: int | None = None) -> Scorer:
    """Rebuild the model from a checkpoint and return a ready Scorer."""
    path = Path(path)
    ckpt = read_checkpoint(path)
    cfg = ckpt["model_config"]
    if expect_size is not None and cfg.get("size") != expect_size:
        raise CheckpointError(
            f"checkpoint {path}: model was trained for {cfg.get('size')}x{cfg.get('size')} input, expected {expect_size}x{expect_size}"
        )
    try:
        module = GradConAE(**cfg)
        module.load_state_dict(ckpt["state_dict"])
        return Scorer(
            module,
            ckpt["reference_gradients"],
            ckpt["beta"],
            device=device,
            model_id=file_model_id(path),
            info={k: ckpt.get(k) for k in ("data", "training", "created", "alpha")},
        )
    except (TypeError, ValueError, RuntimeError) as e:
        reason = str(e).strip().splitlines()[0]
        raise CheckpointError(f"checkpoint {path}: does not fit the GradCon model ({reason[:160]})") from None


def make_untrained_checkpoint(path: str | Path, seed: int = 0, channels: int = 3, beta: float = 0.12) -> str:
    """A valid checkpoint of a freshly initialised model, its references one gradient on random frames (tests, demos)."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    module = GradConAE(channels)
    x = torch.rand(64, channels, 28, 28, generator=g)
    recon = torch.nn.functional.mse_loss(module(x), x)
    refs = torch.autograd.grad(recon, [m.weight for m in module.gradient_layers])
    return save_checkpoint(
        path,
        module,
        refs,
        alpha=beta / 4,
        beta=beta,
        data_summary={"images": 0, "note": "untrained: random initialisation"},
    )
