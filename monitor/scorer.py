"""GradCon scoring: per-sample decoder-weight gradients for a whole batch at once.

Per frame: recon = mean squared error of its reconstruction; g_l = d recon / d W_l for the four
decoder ConvTranspose2d weights; layer_cos_l = cos(g_l, ref_l); score = recon + beta * (-mean_l cos).

The batched scorer never forms a per-sample autograd graph. For a ConvTranspose2d with input a
(B, in, H, W) and output gradient d (B, out, H', W'), the weight gradient of sample b is
a_b (in, HW) @ U_b^T (HW, out*k*k), where U_b = unfold(d_b, k, stride, padding) (docs/DESIGN.md §2).
`reference_loop_scores` is the authors' batch-size-1 procedure, kept as the ground truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .model import GradConAE
from .preprocess import to_model_input


class ScoreResult(NamedTuple):
    score: np.ndarray  # (N,) anomaly score: recon + beta * (-mean layer cosine); higher = more anomalous
    recon: np.ndarray  # (N,) per-frame reconstruction MSE
    layer_cos: np.ndarray  # (N, 4) cosine of each decoder layer's gradient with its reference, forward order


def _empty_result() -> ScoreResult:
    return ScoreResult(np.zeros(0), np.zeros(0), np.zeros((0, 4)))


def _patches(d: torch.Tensor, layer: nn.ConvTranspose2d, hw: tuple[int, int]) -> torch.Tensor:
    """unfold(d)^T: (B, H*W, out*k*k), the output-gradient patch that each input pixel touched.

    Built from a strided view and one copy: F.unfold on CUDA launches one im2col kernel per sample
    (measured 25x slower than this at batch 4096 on an H100).
    """
    (k, _), (s, _), (p, _) = layer.kernel_size, layer.stride, layer.padding
    H, W = hw
    B, cout = d.shape[:2]
    v = F.pad(d, (p, p, p, p)).unfold(2, k, s).unfold(3, k, s)  # (B, cout, H'', W'', k, k) view
    assert v.shape[2] >= H and v.shape[3] >= W, "ConvTranspose2d with output_padding is not supported"
    return v[:, :, :H, :W].permute(0, 2, 3, 1, 4, 5).reshape(B, H * W, cout * k * k)


LAYER_COS_METHODS = ("gram", "direct", "offset", "grouped")


def _auto_method(a: torch.Tensor, d: torch.Tensor, ref: torch.Tensor) -> str:
    """The cheapest exact formula for this layer and device (see _layer_cosines)."""
    _, cin, H, W = a.shape
    hw, P = H * W, ref[0].numel()
    if hw * (cin + P) < cin * P:
        return "gram"
    if a.is_cuda:
        return "direct"
    return "offset" if d.shape[1] >= 8 else "grouped"


def _layer_cosines(
    a: torch.Tensor, d: torch.Tensor, layer: nn.ConvTranspose2d, ref: torch.Tensor, method: str = "auto"
) -> torch.Tensor:
    """Cosine between each sample's weight gradient of `layer` and the reference `ref` (in, out, k, k): (B,).

    g_b = a_b (in, HW) @ U_b (HW, P) with U_b the unfolded output gradient (docs/DESIGN.md §2). Two exact
    ways to get g_b . r and |g_b| without a Python loop, chosen by cost:
    - direct: form g_b with one bmm, then (G @ r) / (|G| |r|);
    - gram, when H*W is small next to `in` (layers near the latent): g_b . r is the directional
      derivative sum(d_b * conv_transpose(a_b, R)), one batched convolution; and
      |g_b|^2 = sum((a_b^T a_b) * (U_b U_b^T)), two (HW x HW) Gram matrices instead of (in x P).
    On the CPU "direct" is replaced by "offset" or "grouped" (below). method: "auto" (the choice just
    described), or one of LAYER_COS_METHODS on any device, so tests can check every formula on the CPU.
    """
    H, W = a.shape[2:]
    r = ref.reshape(-1)
    rnorm = torch.linalg.vector_norm(r)
    af = a.flatten(2)  # (B, in, HW)
    if method == "auto":
        method = _auto_method(a, d, ref)
    elif method not in LAYER_COS_METHODS:
        raise ValueError(f"layer cosine method {method!r} is not one of auto, {', '.join(LAYER_COS_METHODS)}")
    if method == "gram":
        dot = (F.conv_transpose2d(a, ref, None, layer.stride, layer.padding) * d).flatten(1).sum(1)  # (B,)
        u = _patches(d, layer, (H, W))  # (B, HW, P)
        gram_a = torch.bmm(af.transpose(1, 2), af)  # (B, HW, HW)
        gram_u = torch.bmm(u, u.transpose(1, 2))  # (B, HW, HW)
        norm = (gram_a * gram_u).flatten(1).sum(1).clamp_min(0).sqrt()
        return dot / (norm * rnorm).clamp_min(1e-30)
    if method == "direct":
        g = torch.bmm(af, _patches(d, layer, (H, W))).flatten(1)  # (B, in*P): per-sample weight gradients, W's layout
        # (G @ r) / (|G| |r|): a matrix-vector product, not a broadcast cosine_similarity (docs/DESIGN.md §2).
        return (g @ r) / (torch.linalg.vector_norm(g, dim=1) * rnorm).clamp_min(1e-30)
    # On the CPU, materialising (B, HW, P) patches is memory-bound; measured at batch 256 on 2 cores:
    # with many output channels, k*k polyphase bmms beat it (9.8 vs 14.1 ms); with few (the last
    # layer), oneDNN's grouped weight-gradient convolution does (2.0 vs 3.3 ms).
    if method == "offset":
        dot, sq = _offset_dot_and_sq(af, d, layer, ref, (H, W))
    else:
        g = _grouped_weight_grad(a, d, layer).flatten(1)
        dot, sq = g @ r, (g * g).sum(1)
    return dot / (sq.clamp_min(0).sqrt() * rnorm).clamp_min(1e-30)


def _offset_dot_and_sq(
    af: torch.Tensor, d: torch.Tensor, layer: nn.ConvTranspose2d, ref: torch.Tensor, hw: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """g_b . r and |g_b|^2, one kernel offset at a time: g[:, :, kh, kw] = a_b @ d_pad[b, :, kh::s, kw::s]^T."""
    (k, _), (s, _), (p, _) = layer.kernel_size, layer.stride, layer.padding
    H, W = hw
    B, cout = d.shape[:2]
    dp = F.pad(d, (p, p, p, p))
    dot = af.new_zeros(B)
    sq = af.new_zeros(B)
    for kh in range(k):
        for kw in range(k):
            sl = dp[:, :, kh : kh + s * H : s, kw : kw + s * W : s].reshape(B, cout, H * W)
            g = torch.bmm(af, sl.transpose(1, 2))  # (B, in, out): this offset's gradient slice
            dot += (g * ref[:, :, kh, kw]).sum((1, 2))
            sq += (g * g).sum((1, 2))
    return dot, sq


def _grouped_weight_grad(a: torch.Tensor, d: torch.Tensor, layer: nn.ConvTranspose2d) -> torch.Tensor:
    """Per-sample weight gradients (B, in, out, k, k) as ONE grouped convolution weight gradient.

    The ConvTranspose2d's weight gradient is that of the conv2d mapping d back to a; folding the batch
    into the channels with groups=B gives every sample its own weight.
    """
    B, cin, H, W = a.shape
    cout = d.shape[1]
    k = layer.kernel_size
    weight = a.new_empty(B * cin, cout, *k)  # only its shape is used
    g = torch.ops.aten.convolution_backward(
        a.reshape(1, B * cin, H, W),
        d.reshape(1, B * cout, *d.shape[2:]),
        weight,
        None,
        layer.stride,
        layer.padding,
        (1, 1),
        False,
        (0, 0),
        B,
        (False, True, False),
    )[1]
    return g.reshape(B, cin, cout, *k)


def batched_scores(
    module: GradConAE, refs: Sequence[torch.Tensor], x: torch.Tensor, beta: float, method: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Score a preprocessed batch x (B, C, 28, 28): returns (score (B,), recon (B,), layer_cos (B, 4)) on x's device.

    method: the layer-cosine formula for every layer ("auto": chosen per layer and device, see _layer_cosines)."""
    with torch.no_grad():
        h = module.encoder(x)  # (B, 64, 3, 3); the encoder is not constrained
    layer_inputs: list[torch.Tensor] = []
    layer_outputs: list[torch.Tensor] = []
    layers: list[nn.ConvTranspose2d] = []
    with torch.enable_grad():
        h = h.detach().requires_grad_(False)
        for m in module.decoder:
            if isinstance(m, nn.ConvTranspose2d):
                layer_inputs.append(h.detach())
                h = m(h)
                layer_outputs.append(h)
                layers.append(m)
            else:
                h = m(h)
        # Per-sample MSE; summing over the batch keeps each sample's gradient exactly its own.
        recon = (h - x).pow(2).flatten(1).mean(dim=1)  # (B,)
        grads = torch.autograd.grad(recon.sum(), layer_outputs)
    cos = torch.stack(
        [_layer_cosines(a, d, m, r, method) for a, d, m, r in zip(layer_inputs, grads, layers, refs, strict=False)],
        dim=1,
    )  # (B, 4)
    recon = recon.detach()
    score = recon - beta * cos.mean(dim=1)
    return score, recon, cos


def reference_loop_scores(module: GradConAE, refs: Sequence[torch.Tensor], x: torch.Tensor, beta: float) -> ScoreResult:
    """The authors' procedure: one sample at a time, autograd on the weights, cosine per layer."""
    weights = [m.weight for m in module.gradient_layers]
    out_s, out_r, out_c = [], [], []
    for i in range(x.shape[0]):
        xi = x[i : i + 1]
        with torch.enable_grad():
            recon = F.mse_loss(module(xi), xi)
            grads = torch.autograd.grad(recon, weights)
        cos = torch.stack(
            [F.cosine_similarity(g.flatten(), r.flatten(), dim=0) for g, r in zip(grads, refs, strict=False)]
        )
        out_r.append(recon.item())
        out_c.append(cos.detach().cpu().numpy())
        out_s.append(recon.item() + beta * (-cos.mean().item()))
    return ScoreResult(np.array(out_s), np.array(out_r), np.array(out_c).reshape(-1, 4))


def floor_forward_backward(module: GradConAE, x: torch.Tensor) -> None:
    """Batched forward plus backward to the decoder weights: the least any per-sample method pays (bench only)."""
    with torch.no_grad():
        h = module.encoder(x)
    with torch.enable_grad():
        recon = F.mse_loss(module.decoder(h), x)
        torch.autograd.grad(recon, [m.weight for m in module.gradient_layers])


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """'auto' picks CUDA when there is one, else the CPU."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but CUDA is not available on this machine")
    return dev


class Scorer:
    """A trained GradCon model ready to score frames; see `monitor.load_model`."""

    def __init__(
        self,
        module: GradConAE,
        reference_gradients: Sequence[torch.Tensor],
        beta: float,
        device: str | torch.device | None = "auto",
        model_id: str = "",
        info: dict | None = None,
        chunk_size: int = 4096,
    ) -> None:
        self.device = resolve_device(device)
        if self.device.type == "cuda":
            # TF32 convolutions and matmuls move cosines by ~2e-4; scores must match the loop to 1e-5.
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
        self.module = module.to(self.device).eval()
        for p in self.module.parameters():
            p.requires_grad_(True)
        self.reference_gradients = [r.to(self.device, torch.float32) for r in reference_gradients]
        if len(self.reference_gradients) != 4:
            raise ValueError(f"expected 4 reference gradients, got {len(self.reference_gradients)}")
        for r, m in zip(self.reference_gradients, self.module.gradient_layers, strict=False):
            if r.shape != m.weight.shape:
                raise ValueError(
                    f"reference gradient shape {tuple(r.shape)} does not match layer weight {tuple(m.weight.shape)}"
                )
        self.beta = float(beta)
        self.model_id = model_id
        self.info = info or {}
        # Frames sent to the device at once within one score call: bounds peak memory, results do not
        # depend on it. Not the consumer's batch (consumer.max_batch), which is how many frames a call gets.
        self.chunk_size = chunk_size
        self.channels = module.channels
        self.size = module.size

    def preprocess(self, frames: Sequence[np.ndarray] | np.ndarray) -> torch.Tensor:
        """uint8 BGR/grey frames of any size -> (N, C, 28, 28) float in [0, 1] on the CPU."""
        return to_model_input(frames, self.channels, self.size)

    def score_tensor(self, x: torch.Tensor) -> ScoreResult:
        """Score a preprocessed batch (N, C, 28, 28)."""
        if x.ndim != 4 or x.shape[1:] != (self.channels, self.size, self.size):
            raise ValueError(
                f"input has shape {tuple(x.shape)}, expected (N, {self.channels}, {self.size}, {self.size})"
            )
        if x.shape[0] == 0:
            return _empty_result()
        parts = []
        for start in range(0, x.shape[0], self.chunk_size):
            xb = x[start : start + self.chunk_size].to(self.device, torch.float32, non_blocking=True)
            score, recon, cos = batched_scores(self.module, self.reference_gradients, xb, self.beta)
            parts.append(torch.cat([score[:, None], recon[:, None], cos], dim=1))
        out = torch.cat(parts).double().cpu().numpy()  # the one CPU-GPU sync point
        return ScoreResult(out[:, 0].copy(), out[:, 1].copy(), out[:, 2:].copy())

    def score(self, frames: Sequence[np.ndarray] | np.ndarray) -> ScoreResult:
        """Score uint8 BGR/grey frames of any size (a list, or an N x H x W (x C) array)."""
        return self.score_tensor(self.preprocess(frames))

    def reference_scores(self, frames: Sequence[np.ndarray] | np.ndarray) -> ScoreResult:
        """The slow batch-size-1 loop on the same frames (for tests and benchmarks)."""
        x = self.preprocess(frames).to(self.device)
        return reference_loop_scores(self.module, self.reference_gradients, x, self.beta)
