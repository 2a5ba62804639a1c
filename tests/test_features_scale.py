"""Scale-aware image statistics (issue 11): the crop's native size as a covariate, its effect removed
by a correction fitted on clean frames and stored in the calibration file. Real BelgiumTSC crops."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import yaml

from calibration.baseline import BaselineBank
from calibration.calibrate import fit_calibration
from calibration.calibration_file import CalibrationError, load_calibration, save_calibration
from calibration.detector import (
    FEATURE_COLUMNS,
    SIDE_COLUMN,
    Calibration,
    SizeCorrection,
    fit_size_correction,
)
from calibration.features import FEATURE_NAMES, SCALE_DEPENDENT, SIDE_FEATURE, image_features
from monitor.codec import WireEncoding
from monitor.cure_tsr import load_image, track_of
from tests.helpers import belgium_paths

JPEG90 = WireEncoding("jpeg", 90)
SIDE = FEATURE_NAMES.index(SIDE_FEATURE)
FINE = [FEATURE_NAMES.index(k) for k in SCALE_DEPENDENT]


@pytest.fixture(scope="module")
def clean_crops() -> tuple[list[str], np.ndarray]:
    """(track per crop, image statistics (N, 27)) of every BelgiumTSC crop through JPEG q90."""
    paths = belgium_paths()
    return [track_of(p) for p in paths], image_features(JPEG90.roundtrip([load_image(p) for p in paths]))


def _pairs(tracks: list[str], side: np.ndarray, keep: set[str]) -> tuple[np.ndarray, np.ndarray]:
    """(smallest, largest crop) of each kept track whose largest short side is >= 1.5 x its smallest."""
    by: dict[str, list[int]] = {}
    for i, t in enumerate(tracks):
        if t in keep:
            by.setdefault(t, []).append(i)
    pairs = [(min(ix, key=lambda i: side[i]), max(ix, key=lambda i: side[i])) for ix in by.values()]
    pairs = [(a, b) for a, b in pairs if side[b] >= 1.5 * side[a]]
    return np.array([a for a, _ in pairs]), np.array([b for _, b in pairs])


def test_one_sign_at_two_distances_is_closer_after_the_size_correction(clean_crops):
    """A track is one physical sign seen from several distances. Fitted on half of the tracks, the
    correction brings the statistics of the other half's smallest and largest crop of each sign
    closer together (measured on all tracks: 0.89 -> 0.42 clean std, scripts/scale_check.py)."""
    tracks, x = clean_crops
    names = sorted(set(tracks))
    fit_on = set(names[::2])
    corr = fit_size_correction(x[[t in fit_on for t in tracks]], SIDE, FINE)
    small, large = _pairs(tracks, np.exp(x[:, SIDE]), set(names) - fit_on)
    assert len(small) >= 50
    sd = x[:, FINE].std(0)
    raw = np.median(np.abs(x[small][:, FINE] - x[large][:, FINE]), 0) / sd
    xc = corr.apply(x)
    cor = np.median(np.abs(xc[small][:, FINE] - xc[large][:, FINE]), 0) / sd
    assert cor.mean() < 0.75 * raw.mean()
    for k in ("lap_logvar", "fine_coarse", "noise_sigma"):  # the three issue 11 measured
        assert cor[SCALE_DEPENDENT.index(k)] < 0.75 * raw[SCALE_DEPENDENT.index(k)]


def test_corrected_statistics_do_not_follow_the_size_on_unseen_tracks(clean_crops):
    tracks, x = clean_crops
    names = sorted(set(tracks))
    fit_on = np.array([t in set(names[::2]) for t in tracks])
    u = x[~fit_on, SIDE]
    corr = lambda v: abs(np.corrcoef(v, u)[0, 1])  # noqa: E731
    xc = fit_size_correction(x[fit_on], SIDE, FINE).apply(x[~fit_on])
    for j in FINE:
        assert corr(xc[:, j]) < 0.15 and corr(xc[:, j]) <= corr(x[~fit_on, j]) + 0.02
    assert corr(x[~fit_on, FEATURE_NAMES.index("noise_sigma")]) > 0.6  # what there was to remove


def test_native_size_is_an_explicit_input_for_a_reduced_decode():
    """A frame decoded at half scale (what a reduced-scale JPEG decode gives) with its native size
    passed has the full decode's covariate, and its statistics stay close to the full decode's."""
    path = max(belgium_paths(), key=lambda p: min(cv2.imread(str(p)).shape[:2]))
    data = cv2.imencode(".jpg", load_image(path), [cv2.IMWRITE_JPEG_QUALITY, 90])[1]
    full = cv2.imdecode(data, cv2.IMREAD_COLOR)
    half = cv2.imdecode(data, cv2.IMREAD_REDUCED_COLOR_2)
    a, b, c = image_features([full, half, half], [full.shape[:2], full.shape[:2], half.shape[:2]])
    assert a[SIDE] == b[SIDE] == pytest.approx(np.log(min(full.shape[:2])))
    assert c[SIDE] == pytest.approx(np.log(min(half.shape[:2])))  # default-like: its own shape
    assert np.allclose(image_features([half])[0], c)
    assert abs(a[FEATURE_NAMES.index("bright_mean")] - b[FEATURE_NAMES.index("bright_mean")]) < 0.01
    with pytest.raises(ValueError, match="native_sizes has 1 entries for 2 frames"):
        image_features([full, half], [full.shape[:2]])
    with pytest.raises(ValueError, match="native_sizes must be"):
        image_features([full], [(0, 10)])


def _calibration(x: np.ndarray, tracks: list[str]) -> Calibration:
    return fit_calibration(x, tracks, model_id="m1", fpr=0.1, confidence=0.5)


def test_size_correction_round_trips_through_the_calibration_file(clean_crops, tmp_path):
    tracks, stats = clean_crops
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(size=(len(stats), len(FEATURE_COLUMNS) - len(FEATURE_NAMES))), stats])
    cal = _calibration(x, tracks)
    size = cal.gaussian.size
    assert isinstance(size, SizeCorrection) and size.column == SIDE_COLUMN
    assert size.slope[SIDE_COLUMN] == 0 and np.count_nonzero(size.slope) == len(SCALE_DEPENDENT)
    assert size.slope[FEATURE_COLUMNS.index("noise_sigma")] > 0  # bigger clean crops look noisier at 64 px
    assert (cal.gaussian.standardise(x)[:, SIDE_COLUMN] == 0).all()  # a size is not a condition
    path = tmp_path / "cal.yaml"
    save_calibration(path, cal)
    back = load_calibration(path, model_id="m1").gaussian
    assert back.size.column == size.column and (back.size.ref, back.size.lo, back.size.hi) == (
        size.ref,
        size.lo,
        size.hi,
    )
    assert np.array_equal(back.size.slope, size.slope)
    assert np.allclose(back.distance(x), cal.gaussian.distance(x))
    # a clean crop far outside the calibrated sizes is corrected as the nearest calibrated size
    far = x[:1].copy()
    far[0, SIDE_COLUMN] = size.hi + 5
    edge = x[:1].copy()
    edge[0, SIDE_COLUMN] = size.hi
    assert np.allclose(back.distance(far), back.distance(edge))


def test_files_made_with_other_features_or_a_broken_correction_are_refused_in_one_line(clean_crops, tmp_path):
    tracks, stats = clean_crops
    rng = np.random.default_rng(1)
    x = np.column_stack([rng.normal(size=(len(stats), len(FEATURE_COLUMNS) - len(FEATURE_NAMES))), stats])
    path = tmp_path / "cal.yaml"
    save_calibration(path, _calibration(x, tracks))
    d = yaml.safe_load(path.read_text())
    for change, message in (
        (lambda d: d["detector"]["features"].remove(SIDE_FEATURE), "made with other features"),
        (lambda d: d["detector"]["gaussian"]["size_correction"].update(column=99), "size_correction.column"),
        (lambda d: d["detector"]["gaussian"]["size_correction"]["slope"].pop(), "size_correction.slope has shape"),
    ):
        bad = yaml.safe_load(path.read_text())
        change(bad)
        p = tmp_path / "bad.yaml"
        p.write_text(yaml.safe_dump(bad))
        with pytest.raises(CalibrationError, match=message) as e:
            load_calibration(p)
        assert "\n" not in str(e.value) and str(p) in str(e.value)
    assert d["detector"]["gaussian"]["size_correction"]["column"] == SIDE_COLUMN


def test_per_stream_baseline_sees_a_nearing_sign_as_no_change(clean_crops):
    """The baseline's fleet units use the size correction: two frames that differ only by the size
    and the size-dependent part the clean frames showed get the same units, and the export keeps it."""
    tracks, stats = clean_crops
    x = np.column_stack([np.zeros((len(stats), len(FEATURE_COLUMNS) - len(FEATURE_NAMES))), stats])
    cal = _calibration(x, tracks)
    size = cal.gaussian.size
    bank = BaselineBank.from_calibration(cal)
    near = x[:1].copy()
    near[0, SIDE_COLUMN] = size.ref + 0.5
    far = x[:1].copy()
    far[0, SIDE_COLUMN] = size.ref - 0.5
    far[0] -= size.slope  # what 1.0 less log size does to a clean crop, on average
    u_near, u_far = bank.fleet_units(near), bank.fleet_units(far)
    assert np.allclose(u_near, u_far) and u_near[0, SIDE_COLUMN] == 0
    plain = BaselineBank(cal.gaussian.center, cal.gaussian.scale)
    assert not np.allclose(plain.fleet_units(near), plain.fleet_units(far))  # without it: a change
    again = BaselineBank.restore(bank.export())
    assert np.allclose(again.fleet_units(far), u_far)
