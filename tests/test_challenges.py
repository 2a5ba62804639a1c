"""The 12 challenge effects on real sign crops, and the challenge-set builder."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from monitor.challenges import CHALLENGES, apply_challenge, build_challenge_set, sign_type_for_class, variant_seed
from monitor.cure_tsr import load_image, parse_name, read_cure_tsr, training_images

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "belgiumtsc"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"real sign crops not found at {DATA}")

# Real crops of different kinds and sizes: 27 px (the smallest), 38, 57, 94, 196 and 500 px (the largest).
CROPS = [
    "00061/02258_00002.png",
    "00038/02483_00001.png",
    "00017/02157_00001.png",
    "00000/00017_00001.png",
    "00028/02651_00001.png",
    "00022/02396_00002.png",
]


@pytest.fixture(scope="module")
def crops() -> dict[str, np.ndarray]:
    if not DATA.is_dir():
        pytest.skip(f"real sign crops not found at {DATA}")
    return {name: load_image(DATA / name) for name in CROPS}


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_every_challenge_is_strictly_monotone_over_levels(crops):
    for name, img in crops.items():
        for ch in CHALLENGES:
            d = [mad(apply_challenge(img, ch, level, seed=7), img) for level in range(1, 6)]
            assert all(b > a for a, b in zip(d, d[1:], strict=False)), f"{ch} on {name}: {np.round(d, 2)}"
            assert d[0] > 0.5, f"{ch} level 1 leaves {name} unchanged ({d[0]:.2f})"
            assert d[4] > 2 * d[0] or ch in ("Darkening", "Exposure"), f"{ch} on {name}: {np.round(d, 2)}"


def test_exposure_clips_instead_of_wrapping(crops):
    img = crops["00000/00017_00001.png"]
    out = [apply_challenge(img, "exposure", level) for level in range(1, 6)]
    for a, b in zip([img] + out, out, strict=False):
        assert (b >= a).all()  # brighter everywhere, never wrapped around past 255
    dark = apply_challenge(img, "darkening", 5)
    assert dark.max() < 24 and (dark <= img).all()


def test_effects_survive_the_models_28px_downsample(crops):
    # GradCon sees 28x28: from level 3 on every effect must still show there, on small and big crops.
    def small(x):
        return cv2.resize(x, (28, 28), interpolation=cv2.INTER_AREA)

    for name in ("00038/02483_00001.png", "00022/02396_00002.png"):
        img = crops[name]
        for ch in CHALLENGES:
            d = mad(small(apply_challenge(img, ch, 3, seed=1)), small(img))
            floor = 1.5 if ch == "Decolorization" else 4.0  # these signs are mostly red/white: little colour to lose
            assert d > floor, f"{ch} level 3 on {name}: {d:.2f} grey levels at 28x28"


def test_deterministic_for_a_seed(crops):
    img = crops["00000/00017_00001.png"]
    for ch in CHALLENGES:
        a = apply_challenge(img, ch, 4, seed=11)
        assert np.array_equal(a, apply_challenge(img, ch, 4, seed=11)), ch
    for ch in ("CodecError", "DirtyLens", "Noise", "Rain", "Shadow", "Snow", "Haze"):
        assert not np.array_equal(apply_challenge(img, ch, 4, seed=11), apply_challenge(img, ch, 4, seed=12)), ch
    assert apply_challenge(img, "noise", 2, seed=None).shape == img.shape


def test_shape_and_dtype_preserved_grey_works(crops):
    img = crops["00017/02157_00001.png"]
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    odd = np.ascontiguousarray(img[:, :-3])  # non-square
    for ch in CHALLENGES:
        for src in (img, odd):
            out = apply_challenge(src, ch, 3, seed=0)
            assert out.shape == src.shape and out.dtype == np.uint8, ch
        g = apply_challenge(grey, ch, 3, seed=0)
        assert g.shape == grey.shape and g.dtype == np.uint8, ch
        assert apply_challenge(grey[:, :, None], ch, 3, seed=0).shape == grey.shape + (1,)
        if ch != "Decolorization":  # a grey image has no colour to remove
            assert mad(g, grey) > 1.0, ch
    tiny = np.full((3, 2, 3), 128, np.uint8)
    for ch in CHALLENGES:
        assert apply_challenge(tiny, ch, 5).shape == tiny.shape


def test_codec_error_uses_the_previous_frame(crops):
    prev = load_image(DATA / "00000/00017_00000.png")  # another size: resized to the frame
    img = crops["00000/00017_00001.png"]
    with_prev = apply_challenge(img, "codec_error", 4, seed=2, previous=prev)
    assert with_prev.shape == img.shape
    assert not np.array_equal(with_prev, apply_challenge(img, "codec_error", 4, seed=2))
    assert np.array_equal(with_prev, apply_challenge(img, "codec_error", 4, seed=2, previous=prev))
    # other effects ignore it
    assert np.array_equal(apply_challenge(img, "rain", 2, previous=prev), apply_challenge(img, "rain", 2))


def test_bad_arguments():
    img = np.zeros((32, 32, 3), np.uint8)
    for bad in ("fog", 13, -1):
        with pytest.raises(ValueError, match="challenge"):
            apply_challenge(img, bad, 1)
    with pytest.raises(ValueError, match="ChallengeFree is not an effect"):
        apply_challenge(img, 0, 1)
    for level in (0, 6, 2.5, True, "3"):
        with pytest.raises(ValueError, match="level .* is not an integer 1-5"):
            apply_challenge(img, "rain", level)
    with pytest.raises(ValueError, match="uint8"):
        apply_challenge(img.astype(np.float32), "rain", 1)
    with pytest.raises(ValueError, match="shape"):
        apply_challenge(np.zeros((8, 8, 4), np.uint8), "rain", 1)


def test_sign_type_mapping_is_stable():
    assert sign_type_for_class("00017") == 4
    assert sign_type_for_class("00000") == 1
    assert all(1 <= sign_type_for_class(c) <= 14 for c in ("00061", "stop", "Ünïcode"))
    assert sign_type_for_class("stop") == sign_type_for_class("stop")
    assert variant_seed(0, "00000/00017_00000.png", "rain") == variant_seed(0, "00000/00017_00000.png", 9)
    assert variant_seed(0, "00000/00017_00000.png", "rain") != variant_seed(1, "00000/00017_00000.png", "rain")


@needs_data
def test_build_challenge_set_layout_manifest_and_reproducibility(tmp_path):
    sources = [DATA / f"00000/{t}_{f:05d}.png" for t in ("00017", "00021") for f in range(3)]
    sources.append(DATA / "00017/00039_00000.png")  # another class, so another sign type
    a = build_challenge_set(
        sources, tmp_path / "a", challenges=["codec_error", "Snow"], levels=(2, 5), seed=5, workers=1
    )
    assert a["sources"] == 7 and a["tracks"] == 3 and a["images_written"] == 7 * 5
    assert a["folders"] == {
        f"Real_Test/{d}": 7 for d in ("ChallengeFree", "CodecError-2", "CodecError-5", "Snow-2", "Snow-5")
    }
    files = sorted(p.relative_to(tmp_path / "a").as_posix() for p in (tmp_path / "a").rglob("*.bmp"))
    assert "Real_Test/ChallengeFree/01_01_00_00_0001.bmp" in files
    assert "Real_Test/Snow-5/01_04_11_05_0001.bmp" in files  # class 00017 -> sign type 04
    assert "Real_Test/CodecError-2/01_01_03_02_0007.bmp" in files  # track 2 after a one-index gap
    assert all(parse_name(f).folder == f.split("/")[1] for f in files)
    with open(tmp_path / "a" / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["file"] for r in rows) == files
    row = next(r for r in rows if r["file"] == "Real_Test/Snow-5/01_04_11_05_0001.bmp")
    assert (row["class"], row["track"], row["challenge"], row["level"]) == ("00017", "00039", "Snow", "5")
    assert Path(row["source"]) == sources[-1]
    clean = load_image(tmp_path / "a" / "Real_Test/ChallengeFree/01_04_00_00_0001.bmp")
    assert np.array_equal(clean, load_image(sources[-1]))  # BMP is lossless

    # another order of the sources, two worker processes: the same bytes
    b = build_challenge_set(
        list(reversed(sources)), tmp_path / "b", challenges=["snow", "codec error"], levels=(5, 2), seed=5, workers=2
    )
    assert b["folders"] == a["folders"]
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    # a different seed changes the random effects
    c = build_challenge_set(sources[:1], tmp_path / "c", challenges=["snow"], levels=(5,), seed=6, workers=1)
    assert c["images_written"] == 2
    assert (tmp_path / "c/Real_Test/Snow-5/01_01_11_05_0001.bmp").read_bytes() != (
        tmp_path / "a/Real_Test/Snow-5/01_01_11_05_0001.bmp"
    ).read_bytes()
    assert len(read_cure_tsr(tmp_path / "a", challenge_types=["snow"])) == 14

    # a CURE-TSR layout as the clean source: its ChallengeFree frames, tracks and sign types kept
    for src in (tmp_path / "a", training_images(tmp_path / "a")):
        d = build_challenge_set(src, tmp_path / "d", challenges=["noise"], levels=(1,), workers=1)
        assert (d["sources"], d["tracks"]) == (7, 3)
        assert sorted(f.name for f in (tmp_path / "d/Real_Test/ChallengeFree").iterdir()) == sorted(
            f.name for f in (tmp_path / "a/Real_Test/ChallengeFree").iterdir()
        )


def test_builder_rejects_bad_arguments(tmp_path):
    img = tmp_path / "x.png"
    cv2.imwrite(str(img), np.zeros((30, 30, 3), np.uint8))
    with pytest.raises(ValueError, match="level 6"):
        build_challenge_set([img], tmp_path / "o", levels=(6,))
    with pytest.raises(ValueError, match="unknown challenge"):
        build_challenge_set([img], tmp_path / "o", challenges=["fog"])
    with pytest.raises(ValueError, match="ChallengeFree is always written"):
        build_challenge_set([img], tmp_path / "o", challenges=[0])
    with pytest.raises(ValueError, match="sequence type 03"):
        build_challenge_set([img], tmp_path / "o", sequence_type=3)
    with pytest.raises(ValueError, match="no images"):
        build_challenge_set([], tmp_path / "o")
    with pytest.raises(FileNotFoundError, match="missing_folder"):
        build_challenge_set(tmp_path / "missing_folder", tmp_path / "o")


# -- every level strictly stronger than the one below, on images where each effect is measurable ----
# On a flat image blurs, contrast loss and the scattering blur of dirty lens do nothing, so what is
# left of an effect is its level-dependent strength (opacity, tint, glow, share...). Each measure
# below grows with one such parameter by construction; a level whose parameter equals the level
# below gives equal measures and fails.

FLAT_DARK = np.full((64, 64, 3), (40, 50, 60), np.uint8)
FLAT_COLOUR = np.full((64, 64, 3), (40, 90, 160), np.uint8)
FLAT_LIGHT = np.full((64, 64, 3), (225, 230, 235), np.uint8)
RAMP = np.repeat(np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 64, 0), 3, 2)  # every grey level


def _f(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float64)


def _row_background(img: np.ndarray) -> np.ndarray:
    """Per row and channel, the 5th percentile: drops and flakes only brighten, so this is the layer under them."""
    return np.percentile(_f(img), 5, axis=1)


def _above_background(out: np.ndarray) -> float:
    """Bright marks (drops, flakes) over a background that is constant along each row."""
    return float(np.clip(_f(out) - _row_background(out)[:, None, :], 0, None).sum())


def _background_change(out: np.ndarray, img: np.ndarray) -> float:
    """How far the background of each row moved: the tint or glow under the marks."""
    return float(np.abs(_row_background(out) - _row_background(img)).sum())


def _darkening(out: np.ndarray) -> np.ndarray:
    """Per pixel, how much darker than the lightest (least covered) pixels: grime and specks only darken."""
    g = _f(out).mean(axis=2)
    return np.clip(np.percentile(g, 99.5) - g, 0, None)


def _darker_than_background(out: np.ndarray) -> float:
    return float(_darkening(out).sum())


def _codec_blocks(level: int) -> np.ndarray:
    """Codec error on a white frame whose previous frame is black: displaced blocks come out dark."""
    white, black = np.full((64, 64, 3), 255, np.uint8), np.zeros((64, 64, 3), np.uint8)
    return apply_challenge(white, "codec_error", level, seed=3, previous=black)


LEVEL_MEASURES = {
    # challenge: [(what grows, image, measure(out, img)), ...]
    "Decolorization": [("colour lost", FLAT_COLOUR, lambda o, i: mad(o, i))],
    "LensBlur": [("blur", None, lambda o, i: mad(o, i))],
    "CodecError": [("blocks displaced", None, lambda o, i: float((_f(o).mean(axis=2) < 128).sum()))],
    "Darkening": [("light lost", RAMP, lambda o, i: float((_f(i) - _f(o)).sum()))],
    "DirtyLens": [
        ("grime", FLAT_LIGHT, lambda o, i: _darker_than_background(o)),
        # blob cores are fully covered: their darkening is the grime's opacity ...
        ("grime opacity", FLAT_LIGHT, lambda o, i: float(np.percentile(_darkening(o), 98))),
        # ... and the area darkened by more than half of that (specks, a few px, median-filtered
        # away), the number of blobs
        (
            "grime area",
            FLAT_LIGHT,
            lambda o, i: float(
                (cv2.medianBlur(_darkening(o).astype(np.float32), 5) > 0.5 * np.percentile(_darkening(o), 98)).sum()
            ),
        ),
        ("veil", FLAT_LIGHT, lambda o, i: float(np.percentile(np.abs(_f(o) - _f(i)).mean(axis=2), 10))),
    ],
    "Exposure": [("light gained", RAMP, lambda o, i: float((_f(o) - _f(i)).sum()))],
    "GaussianBlur": [("blur", None, lambda o, i: mad(o, i))],
    "Noise": [("noise", np.full((64, 64, 3), 128, np.uint8), lambda o, i: float(_f(o).std()))],
    "Rain": [("tint", FLAT_DARK, _background_change), ("drops", FLAT_DARK, lambda o, i: _above_background(o))],
    "Shadow": [("shade", FLAT_LIGHT, lambda o, i: float((_f(i) - _f(o)).sum()))],
    "Snow": [("glow", FLAT_DARK, _background_change), ("flakes", FLAT_DARK, lambda o, i: _above_background(o))],
    "Haze": [("haze layer", FLAT_DARK, lambda o, i: mad(o, i))],
}


def test_every_level_is_strictly_stronger_than_the_level_below_on_flat_and_simple_images():
    from tests.helpers import render_sign

    sign = render_sign(64, seed=4)
    assert set(LEVEL_MEASURES) == set(CHALLENGES)
    for ch, measures in LEVEL_MEASURES.items():
        for what, img, measure in measures:
            if ch == "CodecError":
                values = [measure(_codec_blocks(level), None) for level in range(1, 6)]
            else:
                img = sign if img is None else img
                values = [measure(apply_challenge(img, ch, level, seed=3), img) for level in range(1, 6)]
            assert values[0] > 0, f"{ch}: level 1 shows no {what}"
            # strictly, beyond float rounding: a duplicated parameter can leave differences of 1e-4
            margin = 1e-3 * max(abs(v) for v in values)
            assert all(b - a > margin for a, b in zip(values, values[1:], strict=False)), (
                f"{ch} ({what}): {np.round(values, 4)}"
            )


@needs_data
def test_synth_writes_both_renderings_by_whole_tracks_and_the_manifest_says_which(tmp_path):
    """`synth` (default --renderings A,B,C): tracks take A, B and C in turn; each variant file is exactly
    the recorded rendering's output, and the manifest names it (clean frames: none)."""
    import run_monitor
    from monitor.challenges import apply_rendering

    picked = [f"{c}/{t}_00000.png" for c, t in (("00000", "00017"), ("00000", "00021"), ("00001", "00252"))]
    for name in (n for n in picked for n in (n, n.replace("_00000", "_00001"))):
        (tmp_path / "clean" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "clean" / name).write_bytes((DATA / name).read_bytes())
    out = tmp_path / "set"
    argv = ["synth", "--data", str(tmp_path / "clean"), "--out", str(out), "--challenges", "rain,shadow"]
    assert (
        run_monitor.main(argv + ["--levels", "4", "--seed", "3", "--wire-encoding", "none"]) == 0
    )  # files as rendered
    with open(out / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    by_track: dict[str, set[str]] = {}
    for r in rows:
        if r["challenge"] == "ChallengeFree":
            assert r["rendering"] == ""
            continue
        by_track.setdefault(r["track"], set()).add(r["rendering"])
        img = load_image(r["source"])
        vseed = variant_seed(3, f"{r['class']}/{Path(r['source']).name}", r["challenge"])
        if r["rendering"] == "A":
            want = apply_challenge(img, r["challenge"], 4, seed=vseed)
        else:
            want = apply_rendering(img, r["challenge"], 4, np.random.default_rng(vseed), r["rendering"])
        assert np.array_equal(load_image(out / r["file"]), want), r["file"]
    assert by_track == {"00017": {"A"}, "00021": {"B"}, "00252": {"C"}}
    assert len(rows) == 6 * 3
    with pytest.raises(ValueError, match="rendering"):
        build_challenge_set(tmp_path / "clean", tmp_path / "o", renderings=["Z"])
