"""Naming a change by what it did to the stream's own picture (issue 11, naming): an experiment.

The classifier of changes names a change from the difference of 32 statistics between a frame and
its stream's clean mean (docs/DESIGN.md §5.7); on renderings nobody tuned on it falls into sinks
(haze for veils, codec error for smears, noise for anything at high gain; §5.8), and a larger
classifier on the same statistics did no better (§5.8's MLP table). This asks whether a view of
the PICTURE's change does: the frame's 64x64 copy against the mean 64x64 copy of its track's clean
frames (a stream's reference image), decomposed by cause: a per-channel gain and offset (light,
veil, colour), what blur would leave (the residual along the reference's Laplacian), and where the
rest lies (spread or concentrated, bright or dark, in low or high frequencies, a smooth gain map
with an edge).

Step 1 (`extract`): every frame of a synth'd set (the pipeline check's calib_ABC, test_D..test_M),
through the JPEG q90 wire as the consumer decodes it, -> its feature row (the product's
FEATURE_COLUMNS, scored by the check's model) and its 64x64 copy, kept in OUT/<set>.npz.
Step 2 (`naming`): the product's classifier of changes (the calibration's) against ones fit on
the same training pairs with the picture's decomposition added, scored by frame naming accuracy
on each test rendering's changes (levels 3-5, the stream reference the clean mean of the chunk).

    python scripts/reference_naming_experiment.py extract --wlc /work/m-check --out /work/refnaming
    python scripts/reference_naming_experiment.py naming --wlc /work/m-check --out /work/refnaming
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calibration.calibration_file import load_calibration  # noqa: E402
from calibration.conditions import CLEAN, CONDITION_OF_CODE, ConditionClassifier, track_changes  # noqa: E402
from calibration.detector import compute_features  # noqa: E402
from monitor.challenge_types import challenge_code  # noqa: E402
from monitor.checkpoint import load_model  # noqa: E402
from monitor.codec import WireEncoding  # noqa: E402
from monitor.cure_tsr import load_image, read_manifest  # noqa: E402
from monitor.preprocess import prepare_frames  # noqa: E402

TESTS = "DEFGHIJKLMNO"


def extract_set(scorer, folder: Path, out: Path, batch: int = 512) -> None:
    """One synth'd set -> OUT/<name>.npz: x (features), img (N, 64, 64, 3) uint8, code, level, track, rendering."""
    rows = sorted(read_manifest(folder / "manifest.csv").values(), key=lambda r: r["file"])
    wire = WireEncoding.parse(rows[0]["wire"])
    apply = WireEncoding("jpeg", 90) if wire.encoding == "none" else WireEncoding("none", 0)
    xs, imgs = [], []
    t0 = time.time()
    for i in range(0, len(rows), batch):
        part = rows[i : i + batch]
        raw = [load_image(folder / r["file"]) for r in part]
        sizes = [im.shape[:2] for im in raw]
        seen = apply.roundtrip(raw)
        xs.append(compute_features(scorer, seen, native_sizes=sizes)[0])
        imgs.append(prepare_frames(seen))
    np.savez(
        out,
        x=np.concatenate(xs),
        img=np.concatenate(imgs),
        code=np.array([challenge_code(r["challenge"]) for r in rows]),
        level=np.array([int(r["level"]) for r in rows]),
        track=np.array([r["track"] for r in rows]),
        rendering=np.array([r.get("rendering", "") or "" for r in rows]),
    )
    print(f"{folder.name}: {len(rows)} frames, {time.time() - t0:.0f} s", flush=True)


# ---------------------------------------------------------------------------------------------
# The picture's change, by cause


def _lap(img: np.ndarray) -> np.ndarray:
    """4-neighbour Laplacian of (N, H, W) float, edges replicated."""
    p = np.pad(img, ((0, 0), (1, 1), (1, 1)), mode="edge")
    return p[:, :-2, 1:-1] + p[:, 2:, 1:-1] + p[:, 1:-1, :-2] + p[:, 1:-1, 2:] - 4 * img


def _box(img: np.ndarray, k: int) -> np.ndarray:
    """(N, H, W) -> mean over k x k cells (N, H/k, W/k)."""
    n, h, w = img.shape
    return img.reshape(n, h // k, k, w // k, k).mean(axis=(2, 4))


PICTURE_COLUMNS = (
    "gain",  # mean over channels of the least-squares gain of frame on reference
    "offset",  # mean offset (at the reference's mean level): light added / taken
    "gain_spread",  # channels' gains apart: a colour cast
    "chroma_ratio",  # the frame's chroma spread over the reference's, after the gain
    "fit_r2",  # how much of the frame the affine fit explains
    "blur_coef",  # residual's projection on the reference's Laplacian (blur > 0, sharpening < 0)
    "blur_share",  # share of the residual energy the Laplacian term explains
    "resid_energy",  # log residual energy (after gain and blur) over the reference's detail energy
    "resid_low",  # share of the residual energy in 8x8-cell means (low frequencies)
    "resid_top",  # share of the residual energy in its top 5 % pixels (concentrated)
    "resid_sign",  # mean signed residual in those pixels / their rms (bright +, dark -)
    "resid_sat",  # their saturation change (colourful +, grey -)
    "gainmap_spread",  # spread of the 8x8 cells' luma ratio (shadows, vignettes, blotches)
    "gainmap_edge",  # the largest step between neighbouring cells' ratios (a shadow's edge)
    "clip_high",  # change in the share of clipped bright pixels
    "clip_low",  # change in the share of crushed dark pixels
    "noise_ratio",  # log high-pass energy of frame over reference's, in flat areas
)


def _gain_fit(f: np.ndarray, r: np.ndarray) -> dict:
    """Per-channel gain/offset fit of frame on reference, and the residual it leaves."""
    fm, rm = f.mean(axis=(1, 2)), r.mean(axis=(1, 2))  # (N, 3)
    fc, rc = f - fm[:, None, None], r - rm[:, None, None]
    rvar = (rc**2).mean(axis=(1, 2)) + 1e-6
    g = (fc * rc).mean(axis=(1, 2)) / rvar  # (N, 3)
    resid = f - (rc * g[:, None, None] + fm[:, None, None])

    # chroma: opponent channels after the gain
    def chroma(x):
        return np.sqrt(((x - x.mean(axis=3, keepdims=True)) ** 2).mean(axis=(1, 2, 3)) + 1e-8)

    tot = (fc**2).mean(axis=(1, 2, 3)) + 1e-8
    return {
        "gain": g.mean(axis=1),
        "offset": (fm - rm).mean(axis=1),
        "gain_spread": g.std(axis=1),
        "chroma_ratio": np.log(chroma(f) / chroma(r)),
        "fit_r2": 1 - (resid**2).mean(axis=(1, 2, 3)) / tot,
        "res_l": resid.mean(axis=3),
    }


def _residual_shape(f: np.ndarray, r: np.ndarray, res_l: np.ndarray) -> dict:
    """The luma residual's blur part (along the reference's Laplacian) and what is left: energy, place, sign."""
    n = len(f)
    rl = r.mean(axis=3)
    lap = _lap(rl)
    lap_c = lap - lap.mean(axis=(1, 2), keepdims=True)
    lap_e = (lap_c**2).sum(axis=(1, 2)) + 1e-8
    bc = (res_l * lap_c).sum(axis=(1, 2)) / lap_e
    after = res_l - bc[:, None, None] * lap_c
    res_e = (res_l**2).sum(axis=(1, 2)) + 1e-10
    detail = (rl - rl.mean(axis=(1, 2), keepdims=True)) ** 2
    a2 = (after**2).reshape(n, -1)
    k = a2.shape[1] // 20
    top_idx = np.argpartition(-a2, k, axis=1)[:, :k]
    sig = np.take_along_axis(after.reshape(n, -1), top_idx, 1)
    sat_change = (f.max(axis=3) - f.min(axis=3)) - (r.max(axis=3) - r.min(axis=3))
    return {
        "blur_coef": bc,
        "blur_share": 1 - (after**2).sum(axis=(1, 2)) / res_e,
        "resid_energy": np.log(((after**2).mean(axis=(1, 2)) + 1e-8) / (detail.mean(axis=(1, 2)) + 1e-6)),
        "resid_low": (_box(after, 8) ** 2).mean(axis=(1, 2)) / ((after**2).mean(axis=(1, 2)) + 1e-10),
        "resid_top": np.take_along_axis(a2, top_idx, 1).sum(axis=1) / (a2.sum(axis=1) + 1e-10),
        "resid_sign": sig.mean(axis=1) / np.sqrt((sig**2).mean(axis=1) + 1e-10),
        "resid_sat": np.take_along_axis(sat_change.reshape(n, -1), top_idx, 1).mean(axis=1),
    }


def _light_and_noise(f: np.ndarray, r: np.ndarray) -> dict:
    """The 8x8 gain map's spread and largest step, clipping changes, and high-pass energy in flat areas."""
    fl, rl = f.mean(axis=3), r.mean(axis=3)
    ratio = np.log((_box(fl, 8) + 0.02) / (_box(rl, 8) + 0.02))
    ratio_c = ratio - ratio.mean(axis=(1, 2), keepdims=True)
    steps = np.maximum(np.abs(np.diff(ratio, axis=1)).max(axis=(1, 2)), np.abs(np.diff(ratio, axis=2)).max(axis=(1, 2)))
    lap = _lap(rl)
    flat = np.abs(lap) < np.quantile(np.abs(lap), 0.5, axis=(1, 2), keepdims=True)
    hf_f = (_lap(fl) ** 2 * flat).sum(axis=(1, 2)) / flat.sum(axis=(1, 2))
    hf_r = (lap**2 * flat).sum(axis=(1, 2)) / flat.sum(axis=(1, 2))
    return {
        "gm_spread": ratio_c.std(axis=(1, 2)),
        "gm_edge": steps,
        "clip_high": (f.max(axis=3) > 0.98).mean(axis=(1, 2)) - (r.max(axis=3) > 0.98).mean(axis=(1, 2)),
        "clip_low": (f.max(axis=3) < 0.03).mean(axis=(1, 2)) - (r.max(axis=3) < 0.03).mean(axis=(1, 2)),
        "noise_ratio": np.log((hf_f + 1e-7) / (hf_r + 1e-7)),
    }


def picture_change(frames: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """(N, 64, 64, 3) uint8 frames against (N, 64, 64, 3) float reference images -> (N, len(PICTURE_COLUMNS))."""
    f = frames.astype(np.float64) / 255.0
    r = ref / 255.0
    fit = _gain_fit(f, r)
    shape = _residual_shape(f, r, fit.pop("res_l"))
    light = _light_and_noise(f, r)
    cols = [*fit.values(), *shape.values(), *light.values()]  # in PICTURE_COLUMNS' order
    assert len(cols) == len(PICTURE_COLUMNS)
    return np.column_stack(cols)


def track_reference_pictures(d: dict) -> tuple[np.ndarray, np.ndarray]:
    """Each frame's reference: the mean copy of its track's clean frames (a clean frame's: the others').
    Returns (reference (N, 64, 64, 3) float, keep mask: the frame's track has a reference)."""
    tracks, inv = np.unique(d["track"], return_inverse=True)
    clean = d["code"] == 0
    n = np.bincount(inv[clean], minlength=len(tracks)).astype(np.float64)
    sums = np.zeros((len(tracks), 64, 64, 3))
    np.add.at(sums, inv[clean], d["img"][clean].astype(np.float64))
    count = n[inv] - clean
    keep = count > 0
    ref = np.zeros(d["img"].shape, dtype=np.float64)
    idx = np.flatnonzero(keep)
    for s in range(0, len(idx), 4096):
        j = idx[s : s + 4096]
        own = np.where(clean[j, None, None, None], d["img"][j].astype(np.float64), 0.0)
        ref[j] = (sums[inv[j]] - own) / count[j, None, None, None]
    return ref, keep


def picture_rows(d: dict) -> tuple[np.ndarray, np.ndarray]:
    ref, keep = track_reference_pictures(d)
    out = np.full((len(d["img"]), len(PICTURE_COLUMNS)), np.nan)
    idx = np.flatnonzero(keep)
    for s in range(0, len(idx), 2048):
        j = idx[s : s + 2048]
        out[j] = picture_change(d["img"][j], ref[j])
    return out, keep


# ---------------------------------------------------------------------------------------------


def load(out: Path, name: str) -> dict:
    return dict(np.load(out / f"{name}.npz"))


def labels_of(codes: np.ndarray) -> np.ndarray:
    return np.array([CONDITION_OF_CODE[int(c)] for c in codes])


def accuracy(clf: ConditionClassifier, z: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Per condition: share of frames whose best condition (clean left out) is the right one."""
    logits = clf.logits(z)[:, 1:]
    best = np.array(clf.classes[1:])[logits.argmax(axis=1)]
    return {c: float((best[labels == c] == c).mean()) for c in sorted(set(labels)) if c != CLEAN}


def naming(args) -> None:
    cal = load_calibration(args.wlc / "cal_ABC.yaml")
    g = cal.gaussian
    tr = load(args.out, "calib_ABC")
    lab = labels_of(tr["code"])
    sel = (tr["code"] == 0) | (tr["level"] >= 2)
    u = g.fleet_units(tr["x"])
    d, d_lab, d_grp = track_changes(u[sel], lab[sel], tr["track"][sel])
    pic, keep = picture_rows({k: v[sel] for k, v in tr.items()})
    pic = pic[keep]  # track_changes keeps the same rows (a track with a clean reference)
    assert len(pic) == len(d)
    mu, sd = pic[d_lab == CLEAN].mean(axis=0), pic[d_lab == CLEAN].std(axis=0) + 1e-9
    zp = (pic - mu) / sd
    product = cal.change_classifier
    variants = {
        "product (the calibration's)": (product, lambda dd, pp: dd),
    }
    print("fitting variants", flush=True)
    clf_pic, _ = ConditionClassifier.fit(np.clip(zp, -30, 30), d_lab, d_grp)
    variants["picture only"] = (clf_pic, lambda dd, pp: pp)
    both = np.column_stack([d, np.clip(zp, -30, 30)])
    clf_both, _ = ConditionClassifier.fit(both, d_lab, d_grp)
    variants["statistics + picture"] = (clf_both, lambda dd, pp: np.column_stack([dd, pp]))
    refit, _ = ConditionClassifier.fit(d, d_lab, d_grp)
    variants["statistics, refit here"] = (refit, lambda dd, pp: dd)
    table = {}
    for r in args.tests:
        te = load(args.out, f"test_{r}")
        tl = labels_of(te["code"])
        s = (te["code"] == 0) | (te["level"] >= 3)
        ut = g.fleet_units(te["x"])
        dt, dt_lab, _ = track_changes(ut[s], tl[s], te["track"][s])
        pt, kt = picture_rows({k: v[s] for k, v in te.items()})
        zt = np.clip((pt[kt] - mu) / sd, -30, 30)
        ch = dt_lab != CLEAN
        for name, (clf, inp) in variants.items():
            acc = accuracy(clf, inp(dt[ch], zt[ch]), dt_lab[ch])
            table.setdefault(name, {})[r] = acc
        print(r, {n: round(float(np.mean(list(v[r].values()))), 3) for n, v in table.items()}, flush=True)
    conds = sorted(next(iter(table["picture only"].values())))
    for name, per in table.items():
        print(f"\n{name}: mean {np.mean([np.mean(list(a.values())) for a in per.values()]):.3f}")
        for c in conds:
            print(f"  {c:15s}", " ".join(f"{per[r][c]:.2f}" for r in args.tests))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=("extract", "naming"))
    ap.add_argument("--wlc", type=Path, required=True, help="scripts/wire_loro_check.sh's OUT_DIR")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--tests", default=TESTS)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.step == "extract":
        scorer = load_model(args.wlc / "model.pt", device="cpu")
        for name in ["calib_ABC"] + [f"test_{r}" for r in args.tests]:
            if not (args.out / f"{name}.npz").exists():
                extract_set(scorer, args.wlc / name, args.out / f"{name}.npz")
    else:
        naming(args)


if __name__ == "__main__":
    main()
