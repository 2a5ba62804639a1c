"""`bench scorer`: the fast scorer against its floor and against the authors' batch-size-1 loop,
measured side by side on the same batch, in interleaved rounds (shared machines are noisy)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from monitor.scorer import Scorer, batched_scores, floor_forward_backward, reference_loop_scores


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], object], device: torch.device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def bench_batch(frames: list[np.ndarray], batch: int) -> list[np.ndarray]:
    """Repeat real frames to fill a batch."""
    return [frames[i % len(frames)] for i in range(batch)]


def bench_scorer(
    scorer: Scorer, frames: list[np.ndarray], batch: int = 256, rounds: int = 7, loop_frames: int = 256, warmup: int = 2
) -> dict[str, float | int | str]:
    """Images/s of (a) forward + decoder backward, (b) the fast scorer, (c) the batch-size-1 loop."""
    dev = scorer.device
    x = scorer.preprocess(bench_batch(frames, batch)).to(dev)
    x_loop = x[: min(loop_frames, batch)]
    m, refs, beta = scorer.module, scorer.reference_gradients, scorer.beta

    def run_a():
        return floor_forward_backward(m, x)

    def run_b():
        return batched_scores(m, refs, x, beta)

    def run_c():
        return reference_loop_scores(m, refs, x_loop, beta)

    for _ in range(warmup):
        run_a(), run_b()
    run_c()
    ta, tb, tc = [], [], []
    for _ in range(rounds):
        ta.append(_timed(run_a, dev))
        tb.append(_timed(run_b, dev))
        tc.append(_timed(run_c, dev))
    a = batch / statistics.median(ta)
    b = batch / statistics.median(tb)
    c = x_loop.shape[0] / statistics.median(tc)
    ratio_ba = statistics.median(ta_i / tb_i for ta_i, tb_i in zip(ta, tb, strict=True))
    ratio_bc = statistics.median((tc_i / x_loop.shape[0]) / (tb_i / batch) for tb_i, tc_i in zip(tb, tc, strict=True))
    # The fast scorer must agree with the loop on the frames both scored.
    fast = batched_scores(m, refs, x_loop, beta)[0].detach().cpu().double().numpy()
    slow = reference_loop_scores(m, refs, x_loop, beta).score
    return {
        "device": str(dev) if dev.type == "cpu" else f"{dev} ({torch.cuda.get_device_name(dev)})",
        "threads": torch.get_num_threads(),
        "batch": batch,
        "rounds": rounds,
        "floor_images_per_s": round(a, 1),
        "fast_images_per_s": round(b, 1),
        "loop_images_per_s": round(c, 1),
        "fast_over_floor": round(ratio_ba, 3),
        "fast_over_loop": round(ratio_bc, 2),
        "max_abs_diff_fast_vs_loop": float(np.abs(fast - slow).max()),
    }


def load_bench_frames(data: str | Path | None, limit: int = 512) -> list[np.ndarray]:
    """Real sign crops for the benchmark: a folder of images, else the shared BelgiumTSC crops."""
    import cv2

    from monitor.cure_tsr import list_images

    root = Path(data) if data else Path(__file__).resolve().parents[1].parent / "shared" / "data" / "belgiumtsc"
    if not root.exists():
        raise FileNotFoundError(f"{root}: no images to benchmark on (pass --data DIR)")
    paths = list_images(root)[:limit]
    frames = [f for f in (cv2.imread(str(p)) for p in paths) if f is not None]
    if not frames:
        raise FileNotFoundError(f"{root}: no readable images")
    return frames
