"""Image statistics, the detector, the condition classifier and the calibration file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from calibration.calibrate import calibrate_folders, fit_calibration
from calibration.calibration_file import CalibrationError, load_calibration, load_detector, save_calibration
from calibration.conditions import CLEAN, CONDITION_OF_CODE, UNKNOWN, ConditionClassifier, condition_classes
from calibration.detector import (
    FEATURE_COLUMNS,
    SIDE_COLUMN,
    Detector,
    fit_gaussian,
    fit_tail_map,
    out_of_fold_distances,
)
from calibration.features import FEATURE_NAMES, image_features
from calibration.folds import group_folds
from monitor.challenges import apply_rendering
from monitor.codec import WireEncoding

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "belgiumtsc"


def real_images(n: int) -> list[np.ndarray]:
    paths = sorted(DATA.glob("*/*.png"))
    if not paths:
        pytest.skip(f"no images under {DATA}")
    step = max(1, len(paths) // n)
    return [cv2.imread(str(p)) for p in paths[::step][:n]]


# -- image statistics ----------------------------------------------------------------------------


def test_features_shape_finite_and_size_independent():
    imgs = real_images(16)
    f = image_features(imgs)
    assert f.shape == (16, len(FEATURE_NAMES)) and np.isfinite(f).all()
    img = imgs[0]
    big = cv2.resize(img, (img.shape[1] * 3, img.shape[0] * 3), interpolation=cv2.INTER_CUBIC)
    a, b = image_features([img, big])
    col = FEATURE_NAMES.index("bright_mean")
    assert abs(a[col] - b[col]) < 0.02
    # grey and BGRA frames are accepted
    assert image_features([cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)]).shape[0] == 2
    assert image_features([]).shape == (0, len(FEATURE_NAMES))


def test_features_respond_to_the_effect_they_measure():
    imgs = real_images(12)
    f0 = image_features(imgs)
    col = {n: i for i, n in enumerate(FEATURE_NAMES)}
    blurred = image_features([cv2.GaussianBlur(i, (0, 0), 3) for i in imgs])
    assert (blurred[:, col["lap_logvar"]] < f0[:, col["lap_logvar"]]).all()
    dark = image_features([(i // 4).astype(np.uint8) for i in imgs])
    assert (dark[:, col["bright_mean"]] < f0[:, col["bright_mean"]]).all()
    grey = image_features([cv2.cvtColor(cv2.cvtColor(i, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR) for i in imgs])
    assert (grey[:, col["sat_mean"]] < 0.01).all()
    rng = np.random.default_rng(0)
    noisy = image_features([np.clip(i + rng.normal(0, 25, i.shape), 0, 255).astype(np.uint8) for i in imgs])
    assert (noisy[:, col["noise_sigma"]] > f0[:, col["noise_sigma"]]).all()


@pytest.mark.parametrize("rendering", ["A", "B"])
@pytest.mark.parametrize(
    ("stat", "code"),
    [("flat_windows", 3), ("light_split", 10), ("grey_edge_share", 5), ("block_seams", 3), ("thin_dark", 9)],
)
def test_hidden_condition_statistics_rise_in_both_renderings_through_jpeg(stat, code, rendering):
    """Codec error, shadow, dirty lens and rain (CURE-TSR codes 3, 10, 5, 9) at level 4 in each rendering,
    sent as the producers send them (JPEG q90): the statistic written for the condition rises on
    most crops, while JPEG alone barely moves it on clean crops."""
    imgs = real_images(24)
    wire = WireEncoding("jpeg", 90)
    j = FEATURE_NAMES.index(stat)
    raw = image_features(imgs)[:, j]
    clean = image_features(wire.roundtrip(imgs))[:, j]
    rng = np.random.default_rng(code)
    hit = image_features(wire.roundtrip([apply_rendering(i, code, 4, rng, rendering) for i in imgs]))[:, j]
    assert np.mean(hit > clean) >= 0.7, (stat, rendering, hit - clean)
    rise = np.median(hit) - np.median(clean)
    assert rise > 0 and np.median(np.abs(clean - raw)) < 0.25 * rise, (stat, rendering, rise)


# -- detector maths --------------------------------------------------------------------------------


def test_gaussian_is_two_sided_and_oof_is_larger_than_in_sample():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5)) @ rng.normal(size=(5, 5))
    g = fit_gaussian(x)
    centre = np.median(x, axis=0)
    up, down = g.distance(centre + 4 * x.std(0)), g.distance(centre - 4 * x.std(0))
    assert up[0] > 5 and down[0] > 5  # both directions are anomalous
    groups = np.repeat(np.arange(100), 4).astype(str)
    assert out_of_fold_distances(x, groups).mean() > g.distance(x).mean()
    folds = group_folds(groups, 5)
    assert all(len(set(folds[groups == k])) == 1 for k in np.unique(groups))


def test_tail_map_monotone_and_extrapolates():
    t = fit_tail_map(np.random.default_rng(1).normal(size=500))
    v = np.linspace(-5, 20, 200)
    s = t(v)
    assert (np.diff(s) >= -1e-12).all() and s[-1] > s[100] + 5
    assert t(np.array([100.0]))[0] > t(np.array([10.0]))[0]


def with_side(x: np.ndarray) -> np.ndarray:
    """Synthetic rows of every column but the crop's size, plus that column: crops of one size
    (64 px), so the size correction is 0 and the draws of the other columns are what they were."""
    assert SIDE_COLUMN == len(FEATURE_COLUMNS) - 1
    return np.column_stack([x, np.full(len(x), np.log(64))])


def separable(n_per=60, seed=0):
    """Synthetic feature rows: clean around 0, each condition shifts its own features."""
    rng = np.random.default_rng(seed)
    d = len(FEATURE_COLUMNS) - 1
    rows, codes, groups = [], [], []
    for code in (0, 4, 7, 9):
        x = with_side(rng.normal(size=(n_per, d)))
        if code:
            x[:, code] += 6.0
            x[:, code + 10] -= 6.0
        rows.append(x)
        codes += [code] * n_per
        groups += [f"t{i // 3}" for i in range(n_per)]
    return np.concatenate(rows), np.array(codes), np.array(groups)


def test_classifier_separable_and_unknown():
    x, codes, groups = separable()
    labels = [CONDITION_OF_CODE[c] for c in codes]
    clf, oof = ConditionClassifier.fit(x, labels, groups, folds=5)
    assert clf.classes == [CLEAN, "blur", "darkening", "rain"]  # CURE-TSR code order
    xt, ct, _ = separable(seed=1)
    pred = clf.predict(xt)
    ch = ct > 0
    truth = np.array([CONDITION_OF_CODE[c] for c in ct[ch]])
    assert np.mean(pred.best[ch] == truth) > 0.98
    assert np.mean(pred.condition[ch] == truth) >= 0.9  # a few are "unknown": outside 99.5 % of training frames
    assert (pred.confidence[ch] > 0.5).mean() > 0.95
    assert (pred.p_clean[~ch] > 0.5).mean() > 0.9
    # far from every condition seen in training -> unknown
    weird = np.zeros((3, x.shape[1]))
    weird[:, 20] = 40.0
    assert (clf.predict(weird).condition == UNKNOWN).all()
    assert "blur" in condition_classes() and "LensBlur" not in condition_classes()
    again = ConditionClassifier.from_dict(yaml.safe_load(yaml.safe_dump(clf.to_dict())))
    assert np.allclose(again.predict(xt).confidence, pred.confidence)


# -- calibration and the file -----------------------------------------------------------------------


def fitted(tmp_path, n_clean=400):
    rng = np.random.default_rng(2)
    d = len(FEATURE_COLUMNS) - 1
    clean = with_side(rng.normal(size=(n_clean, d)))
    groups = np.array([f"t{i}" for i in range(n_clean)])  # independent rows: one track each
    x, codes, g = separable(seed=3)
    ch = codes > 0
    cal = fit_calibration(clean, groups, x[ch], codes[ch], np.full(ch.sum(), 4), g[ch], model_id="m1", fpr=0.01)
    return cal


def test_fit_calibration_threshold_and_round_trip(tmp_path):
    cal = fitted(tmp_path)
    assert cal.threshold.supported and cal.threshold.n_clean == 400
    assert cal.summary["naming_accuracy_levels_3_5_out_of_fold"] > 0.9
    path = tmp_path / "cal.yaml"
    save_calibration(path, cal)
    text = path.read_text()
    assert "!!python" not in text and text.startswith("# signwatch calibration")
    again = load_calibration(path, model_id="m1")
    det, det2 = Detector(None, cal), Detector(None, again)
    rng = np.random.default_rng(5)
    x = with_side(rng.normal(size=(2000, len(FEATURE_COLUMNS) - 1)))
    r = det.detect_features(x)
    assert np.allclose(r.anomaly, det2.detect_features(x).anomaly)
    # unseen clean frames: the false-alarm rate stays under the 1 % target
    assert r.is_anomalous.mean() <= 0.01
    assert set(r.condition[~r.is_anomalous]) <= {CLEAN}
    far = np.zeros((1, len(FEATURE_COLUMNS)))
    far[0, 4] = 8.0
    far[0, 14] = -8.0
    out = det.detect_features(far)
    assert out.is_anomalous[0] and out.condition[0] == "darkening"


def tracked(seed: int = 7, tracks: int = 40, per: int = 4):
    """Clean tracks of `per` frames (each sign its own offset) and their challenged frames (the
    separable shifts), sharing the clean frames' track ids: what calibrate gathers from a synth'd set."""
    rng = np.random.default_rng(seed)
    d = len(FEATURE_COLUMNS) - 1
    offsets = rng.normal(0, 1.0, (tracks, d))
    clean = with_side(np.repeat(offsets, per, axis=0) + rng.normal(0, 0.2, (tracks * per, d)))
    groups = np.repeat([f"t{i}" for i in range(tracks)], per)
    rows, codes = [], []
    for code in (4, 7, 9):
        x = clean.copy()
        x[:, code] += 3.0
        x[:, code + 10] -= 3.0
        rows.append(x)
        codes += [code] * len(x)
    return clean, groups, np.concatenate(rows), np.array(codes), np.tile(groups, 3)


def test_change_classifier_is_fit_on_paired_differences_and_round_trips(tmp_path):
    clean, groups, ch, codes, ch_groups = tracked()
    cal = fit_calibration(clean, groups, ch, codes, np.full(len(ch), 3), ch_groups, model_id="m1", fpr=0.05)
    clf = cal.change_classifier
    assert clf is not None and clf.classes == [CLEAN, "blur", "darkening", "rain"]
    # a change seen from the stream's normal (its clean frames' mean), in fleet units
    g = cal.gaussian
    ref = g.fleet_units(clean[:4]).mean(axis=0)
    moved = clean[:4].copy()
    moved[:, 9] += 3.0
    moved[:, 19] -= 3.0
    assert (clf.predict(g.fleet_units(moved) - ref).best == "rain").all()
    path = tmp_path / "cal.yaml"
    save_calibration(path, cal)
    again = load_calibration(path).change_classifier
    assert np.allclose(
        again.predict(g.fleet_units(moved) - ref).confidence, clf.predict(g.fleet_units(moved) - ref).confidence
    )
    # a file made before the classifier of changes loads without one (naming falls back)
    d = yaml.safe_load(path.read_text())
    del d["change_classifier"]
    path.write_text(yaml.safe_dump(d))
    assert load_calibration(path).change_classifier is None
    d["change_classifier"] = dict(clf.to_dict(), weights=[[1.0]])
    path.write_text(yaml.safe_dump(d))
    with pytest.raises(CalibrationError, match=r"change_classifier.weights has shape \(1, 1\)"):
        load_calibration(path)


def test_evidence_ref_names_suspect_frames_and_leaves_decisions_alone(tmp_path):
    """The alert path's evidence needs names for frames under the threshold; detect's meaning is unchanged."""
    det = Detector(None, fitted(tmp_path))
    x = with_side(np.random.default_rng(6).normal(size=(2000, len(FEATURE_COLUMNS) - 1)))
    plain, named = det.detect_features(x), det.detect_features(x, evidence_ref=3.0)
    assert np.array_equal(plain.is_anomalous, named.is_anomalous) and np.allclose(plain.anomaly, named.anomaly)
    suspect = (named.anomaly > 3.0) & ~named.is_anomalous
    assert suspect.sum() > 20  # the test means something: clean frames between 3 nats and the threshold
    assert CLEAN not in set(named.condition[suspect]) and set(plain.condition[suspect]) == {CLEAN}
    quiet = named.anomaly <= 3.0
    assert set(named.condition[quiet]) == {CLEAN} and np.allclose(named.confidence[quiet], plain.confidence[quiet])
    flagged = named.is_anomalous
    assert np.array_equal(named.condition[flagged], plain.condition[flagged])


def test_load_calibration_errors(tmp_path):
    cal = fitted(tmp_path)
    path = tmp_path / "cal.yaml"
    save_calibration(path, cal)
    with pytest.raises(CalibrationError, match=r"cal.yaml: made for model m1, but the loaded model is other"):
        load_calibration(path, model_id="other")
    with pytest.raises(CalibrationError, match="not found"):
        load_calibration(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("threshold: [1, 2\n")
    with pytest.raises(CalibrationError, match="bad.yaml: not valid YAML"):
        load_calibration(bad)
    bad.write_text("!!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(CalibrationError, match="bad.yaml"):
        load_calibration(bad)
    d = yaml.safe_load(path.read_text())
    d["detector"]["gaussian"]["precision"] = [[1.0]]
    bad.write_text(yaml.safe_dump(d))
    with pytest.raises(CalibrationError, match=r"precision has shape"):
        load_calibration(bad)
    d = yaml.safe_load(path.read_text())
    del d["threshold"]
    bad.write_text(yaml.safe_dump(d))
    with pytest.raises(CalibrationError, match="'threshold' is missing"):
        load_calibration(bad)
    d = yaml.safe_load(path.read_text())
    n = len(FEATURE_COLUMNS)
    d["classifier"]["pair_experts"] = [
        {"pair": ["blur", "rain"], "columns": [6, 7], "weights": [1.0, -1.0], "bias": 0.5}
    ]
    bad.write_text(yaml.safe_dump(d))
    (e,) = load_calibration(bad).classifier.pair_experts  # a well-formed expert loads
    assert e.pair == ("blur", "rain") and e.columns.tolist() == [6, 7]
    d["classifier"]["pair_experts"][0]["columns"] = [6, n]
    bad.write_text(yaml.safe_dump(d))
    with pytest.raises(CalibrationError, match=rf"pair_experts blur/rain: columns must be 2 indices in 0..{n - 1}"):
        load_calibration(bad)


def test_calibrate_folders_and_load_detector_on_real_images(tmp_path):
    """End to end on real crops with an untrained model: folders -> YAML -> load_detector -> detect."""
    from monitor.challenges import build_challenge_set
    from monitor.checkpoint import make_untrained_checkpoint
    from monitor.cure_tsr import list_images, track_of

    paths = list_images(DATA)
    if not paths:
        pytest.skip("no data")
    # ~20 tracks of clean frames, as <class>/<track>_<frame>.png
    tracks = sorted({track_of(p) for p in paths})[:40]
    chosen = [p for p in paths if track_of(p) in set(tracks)]
    clean = tmp_path / "clean"
    for p in chosen:
        (clean / p.parent.name).mkdir(parents=True, exist_ok=True)
        (clean / p.parent.name / p.name).write_bytes(p.read_bytes())
    build_challenge_set(
        chosen, tmp_path / "ch", challenges=["Darkening", "GaussianBlur"], levels=[4], seed=1, workers=1
    )
    model = tmp_path / "model.pt"
    make_untrained_checkpoint(model, seed=0)
    import monitor

    scorer = monitor.load_model(model, device="cpu")
    cal = calibrate_folders(scorer, clean, tmp_path / "ch", fpr=0.05)
    assert cal.classifier is not None and cal.classifier.classes == [CLEAN, "blur", "darkening"]
    out = tmp_path / "cal.yaml"
    save_calibration(out, cal)
    det = load_detector(model, out, device="cpu")
    frames = [cv2.imread(str(p)) for p in chosen[:8]]
    r = det.detect(frames)
    assert r.anomaly.shape == (8,) and r.is_anomalous.dtype == bool and len(r.condition) == 8
    again = det.detect_scored(frames, r.scores)
    assert np.allclose(again.anomaly, r.anomaly)
    stats = image_features(frames)
    assert np.allclose(det.detect_scored(stats, r.scores).anomaly, r.anomaly)
    assert det.threshold == cal.threshold.threshold
    other = tmp_path / "other.pt"
    make_untrained_checkpoint(other, seed=1)
    with pytest.raises(CalibrationError, match="made for model"):
        load_detector(other, out, device="cpu")


def test_calibrate_command(tmp_path, capsys):
    """run_monitor.py calibrate: writes a loadable file, refuses an unsupported target in one line."""
    import run_monitor
    from monitor.checkpoint import make_untrained_checkpoint
    from monitor.cure_tsr import list_images, track_of

    paths = list_images(DATA)
    if not paths:
        pytest.skip("no data")
    tracks = sorted({track_of(p) for p in paths})[:30]
    clean = tmp_path / "clean"
    for p in paths:
        if track_of(p) in set(tracks):
            (clean / p.parent.name).mkdir(parents=True, exist_ok=True)
            (clean / p.parent.name / p.name).write_bytes(p.read_bytes())
    model = tmp_path / "m.pt"
    make_untrained_checkpoint(model, seed=0)
    out = tmp_path / "cal.yaml"
    rc = run_monitor.main(
        ["calibrate", "--model", str(model), "--data", str(clean), "--out", str(out), "--device", "cpu"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and not out.exists()
    assert err.count("\n") == 1 and "allow-unsupported" in err
    rc = run_monitor.main(
        [
            "calibrate",
            "--model",
            str(model),
            "--data",
            str(clean),
            "--out",
            str(out),
            "--device",
            "cpu",
            "--fpr",
            "0.05",
            "--confidence",
            "0.5",
            "--allow-unsupported",
        ]
    )
    assert rc == 0 and load_calibration(out).classifier is None
    rc = run_monitor.main(["calibrate", "--model", str(model), "--data", str(tmp_path / "nope"), "--out", str(out)])
    assert rc == 2 and "nope" in capsys.readouterr().err
