"""Condition classifier pieces: class names, logistic regression, temperature scaling."""

from __future__ import annotations

import numpy as np

from calibration.conditions import (
    CLEAN,
    CONDITION_OF_CODE,
    PAIR_EXPERTS,
    UNKNOWN,
    ConditionClassifier,
    PairExpert,
    condition_classes,
    expand,
    fit_logistic,
    fit_pair_experts,
    fit_temperature,
    track_changes,
)


def test_names_merge_the_two_blurs():
    assert CONDITION_OF_CODE[2] == CONDITION_OF_CODE[7] == "blur"
    classes = condition_classes()
    assert classes[0] == CLEAN and len(classes) == 12 and len(set(classes)) == 12


def test_expand_sees_both_directions():
    x = expand(np.array([[-3.0, 3.0]]))
    assert x.shape == (1, 4) and x[0, 2] == x[0, 3] == 9.0 / 4.0


def test_logistic_regression_separates_two_sided_classes():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(600, 3))
    # class 1 departs in EITHER direction on feature 0: only the squared term can see it
    z[200:400, 0] = rng.choice([-4.0, 4.0], 200) + rng.normal(0, 0.3, 200)
    z[400:, 1] += 4.0
    y = np.repeat([0, 1, 2], 200)
    w, b = fit_logistic(expand(z), y, 3)
    acc = ((expand(z) @ w + b).argmax(1) == y).mean()
    assert acc > 0.97


def test_temperature_undoes_overconfidence():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 3000)
    true_logits = rng.normal(size=(3000, 3))
    true_logits[np.arange(3000), y] += 1.0
    # labels drawn from softmax(true_logits); the model reports 4x sharper logits
    p = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(3, p=pi) for pi in p])
    t = fit_temperature(4.0 * true_logits, labels)
    assert 3.0 < t < 5.5


def _blur_and_haze(rng: np.random.Generator, n: int, haze_sharpness: float) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """z of clean, blur and haze frames over lap_logvar and the veil statistics: blur lowers the
    sharpness (by 1.5 to 4, as levels do); haze lifts the dark channel and brightness and lowers
    the saturation, and lowers the sharpness by `haze_sharpness`."""
    columns = ["lap_logvar", *PAIR_EXPERTS[("blur", "haze")]]
    j = {k: i for i, k in enumerate(columns)}
    z = rng.normal(0, 1.0, size=(3 * n, len(columns)))
    z[n : 2 * n, j["lap_logvar"]] -= rng.uniform(1.5, 4.0, n)
    z[2 * n :, j["lap_logvar"]] += haze_sharpness
    for k, move in (("dark_channel", 2.0), ("bright_mean", 1.5), ("sat_mean", -2.0), ("sat_std", -2.0)):
        z[2 * n :, j[k]] += move
    return z, np.repeat([CLEAN, "blur", "haze"], n), columns


def test_pair_expert_reads_only_the_veil():
    z, y, columns = _blur_and_haze(np.random.default_rng(2), 300, -1.0)
    (e,) = fit_pair_experts(z, y, columns)
    assert e.pair == ("blur", "haze") and 0 not in e.columns.tolist()  # lap_logvar is not its business
    lo = e.log_odds(z)
    assert (lo[y == "haze"] > 0).mean() > 0.97 and (lo[y == "blur"] < 0).mean() > 0.97
    assert fit_pair_experts(z[y != "haze"], y[y != "haze"], columns) == []  # one side missing: no expert


def test_second_opinion_names_haze_that_blurs_more_than_any_seen():
    rng = np.random.default_rng(3)
    z, y, columns = _blur_and_haze(rng, 300, -0.5)
    groups = [f"t{i % 40}" for i in range(len(y))]
    clf, _ = ConditionClassifier.fit(z, y, groups, columns=columns, seed=0)
    # haze of another rendering: the same veil, and more blur than most blur frames had
    zt, _, _ = _blur_and_haze(rng, 200, -5.0)
    haze = zt[400:]
    # these haze frames are far from the training haze: the far-from-every-class gate is opened so
    # the names themselves are compared
    d = {**clf.to_dict(), "ood_radius": [np.inf] * len(clf.classes)}
    alone = ConditionClassifier.from_dict({**d, "pair_experts": []}).predict(haze)
    assert (alone.condition == "blur").mean() > 0.5  # the full model alone is misled by the sharpness
    clf = ConditionClassifier.from_dict(d)
    both = clf.predict(haze)
    assert (both.condition == "haze").mean() > 0.7
    assert ((both.confidence > 0) & (both.confidence <= 1)).all()
    again = ConditionClassifier.from_dict(clf.to_dict()).predict(haze)
    assert (again.condition == both.condition).all() and np.allclose(again.confidence, both.confidence)


def _rain_and_snow(
    rng: np.random.Generator, n: int, rain_specks: float, rain_light: float
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """z of clean, rain and snow frames over speck_bright and the light statistics: snow adds light
    (brightness and dark channel up by 2) and bright specks (+3); rain adds `rain_specks` of bright
    specks and moves the light by `rain_light`."""
    columns = ["speck_bright", *PAIR_EXPERTS[("rain", "snow")]]
    j = {k: i for i, k in enumerate(columns)}
    z = rng.normal(0, 0.7, size=(3 * n, len(columns)))
    z[n : 2 * n, j["speck_bright"]] += rain_specks
    for k in ("bright_mean", "dark_channel"):
        z[n : 2 * n, j[k]] += rain_light
        z[2 * n :, j[k]] += 2.0
    z[2 * n :, j["speck_bright"]] += 3.0
    return z, np.repeat([CLEAN, "rain", "snow"], n), columns


def test_light_expert_names_rain_with_bright_highlights_rain():
    """Rain of another rendering, with more bright specks than the snow the model saw and less light:
    the full model alone calls it snow by its specks; the light expert (snow adds light, rain does not)
    names it rain."""
    rng = np.random.default_rng(5)
    z, y, columns = _rain_and_snow(rng, 300, 1.0, 0.0)
    groups = [f"t{i % 40}" for i in range(len(y))]
    clf, _ = ConditionClassifier.fit(z, y, groups, columns=columns, seed=0)
    assert [e.pair for e in clf.pair_experts] == [("rain", "snow")]  # the others' statistics are not in z
    zt, _, _ = _rain_and_snow(rng, 200, 5.0, -1.5)
    rain = zt[200:400]
    d = {**clf.to_dict(), "ood_radius": [np.inf] * len(clf.classes)}  # compare the names themselves
    alone = ConditionClassifier.from_dict({**d, "pair_experts": []}).predict(rain)
    assert (alone.condition == "snow").mean() > 0.6
    both = ConditionClassifier.from_dict(d).predict(rain)
    assert (both.condition == "rain").mean() > 0.9
    snow = ConditionClassifier.from_dict(d).predict(zt[400:])  # the snow the model knows stays snow
    assert (snow.condition == "snow").mean() > 0.95


def test_track_changes_subtracts_the_tracks_clean_mean_leaving_a_clean_frame_out():
    u = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0], [10.0, 10.0], [7.0, 7.0], [0.0, 0.0]])
    labels = [CLEAN, CLEAN, CLEAN, "rain", "rain", "rain"]
    groups = ["a", "a", "a", "a", "b", "c"]  # "b" has no clean frame; "c" none either
    d, lab, g = track_changes(u, labels, groups)
    # clean frames: minus the mean of the other two; the rain frame of "a": minus the mean of all three
    assert np.allclose(d, [[-3.0, -3.0], [0.0, 0.0], [3.0, 3.0], [7.0, 8.0]])
    assert lab.tolist() == [CLEAN, CLEAN, CLEAN, "rain"] and g.tolist() == ["a"] * 4


def _offset_tracks(rng: np.random.Generator, tracks: int, per: int = 4, offset: float = 3.0):
    """Frames of signs that each sit `offset` (sd) from the fleet's centre on every feature, with
    little jitter; conditions shift one feature each by a subtle 0.8 to 2 against the track."""
    shift = {"rain": 0, "shadow": 1, "dirty_lens": 2}
    x, labels, groups = [], [], []
    for t in range(tracks):
        base = rng.normal(0, offset, 6)
        for name in (CLEAN, *shift):
            for _ in range(per):
                row = base + rng.normal(0, 0.1, 6)
                if name != CLEAN:
                    row[shift[name]] += rng.uniform(0.8, 2.0)
                x.append(row)
                labels.append(name)
                groups.append(f"t{t}")
    return np.array(x), np.array(labels), np.array(groups)


def test_a_change_is_named_by_what_changed_not_by_where_the_sign_sits():
    """The absolute classifier sees mostly each sign's own offset; the classifier of changes, fit on
    paired differences, names the change from the stream's clean mean."""
    rng = np.random.default_rng(3)
    x, labels, groups = _offset_tracks(rng, 60)
    absolute, _ = ConditionClassifier.fit(x, labels, groups)
    d, d_labels, d_groups = track_changes(x, labels, groups)
    changes, _ = ConditionClassifier.fit(d, d_labels, d_groups)
    xt, lt, gt = _offset_tracks(np.random.default_rng(4), 30)
    ch = lt != CLEAN
    ref = np.array([xt[(gt == g) & ~ch].mean(axis=0) for g in gt[ch]])  # the stream's learned normal
    by_change = changes.predict(xt[ch] - ref).best
    by_frame = absolute.predict(xt[ch]).best
    assert np.mean(by_change == lt[ch]) > 0.95
    assert np.mean(by_frame == lt[ch]) < 0.8


def test_unknown_is_judged_against_the_name_the_pair_expert_gives():
    """A frame the full model calls noise but that lies outside the noise class's cloud, which the
    light expert (noise leaves the light, darkening takes it away) names darkening, is named
    darkening when it lies inside darkening's cloud: "unknown" is judged against the final name
    (measured on renderings D-M: dusk with gain noise was left unknown, docs/DESIGN.md §5.8)."""
    # columns: fine detail, brightness; classes clean, darkening, noise; inputs [z, z^2/4]
    weights = np.zeros((4, 3))
    weights[1, 1], weights[0, 2] = -2.0, 2.0  # darkening: light taken away; noise: fine detail
    expert = PairExpert(("darkening", "noise"), np.array([1]), np.array([3.0]), 0.0)
    clf = ConditionClassifier(
        [CLEAN, "darkening", "noise"],
        weights,
        np.zeros(3),
        1.0,
        np.array([[0.0, 0.0], [1.0, -2.0], [3.0, 0.0]]),
        np.ones((3, 2)),
        np.ones(3),
        0.5,
        [expert],
    )
    z = np.array([[2.0, -1.5], [3.2, 0.1]])  # dusk with gain noise; plain noise
    got = clf.predict(z)
    assert got.best.tolist() == ["noise", "noise"]
    assert got.condition.tolist() == ["darkening", "noise"]
    assert clf.predict_each(z) == ["darkening", "noise"]
    alone = ConditionClassifier.from_dict({**clf.to_dict(), "pair_experts": []}).predict(z)
    assert alone.condition.tolist() == [UNKNOWN, "noise"]  # outside noise's cloud


def test_predict_each_names_each_frame_as_predict_does_alone():
    """The hook names changes a stream's frames of a batch at once (ConditionClassifier.predict_each),
    each with the name predict gives the frame alone, the pair expert's second opinion and
    "unknown" included."""
    rng = np.random.default_rng(4)
    z, y, columns = _blur_and_haze(rng, 300, -0.5)
    clf, _ = ConditionClassifier.fit(z, y, groups=[f"t{i % 40}" for i in range(len(y))], columns=columns, seed=0)
    zt, _, _ = _blur_and_haze(rng, 100, -5.0)
    zt = np.vstack([zt, rng.normal(0, 6.0, size=(50, zt.shape[1]))])  # far from every class: unknown
    for c in (clf, ConditionClassifier.from_dict({**clf.to_dict(), "ood_radius": [np.inf] * len(clf.classes)})):
        names = [c.predict(row[None, :]).condition[0] for row in zt]
        assert c.predict_each(zt) == names and c.predict_each(zt[5:8]) == names[5:8]
        # predict_each's stack of one-row products is bitwise each row's own (one product of all rows is not)
        stacked = (expand(zt)[:, None, :] @ c.weights)[:, 0, :] + c.bias
        assert (stacked == np.vstack([c.logits(row[None, :]) for row in zt])).all()
        assert {"haze", "blur"} <= set(names)


def _logit_classifier(conditions: list[str]) -> ConditionClassifier:
    """A classifier whose condition logits are z itself (one column per condition, clean's logit 0,
    temperature 1, no "unknown" from the cloud rule): z rows are log-probabilities up to a constant."""
    k = len(conditions)
    weights = np.zeros((2 * k, k + 1))
    weights[np.arange(k), np.arange(1, k + 1)] = 1.0
    return ConditionClassifier(
        [CLEAN, *conditions], weights, np.zeros(k + 1), 1.0, np.zeros((k + 1, k)), np.ones((k + 1, k)),
        np.full(k + 1, np.inf), 0.5,
    )  # fmt: skip


def test_summed_evidence_names_what_every_frame_finds_plausible():
    """Five frames of one change: three lean rain over snow by a little and rule noise out, two lean
    noise and rule rain out. A vote of the frames' names says rain (3 of 5); their summed
    log-probabilities (naive Bayes) say snow, the one name no frame rules out."""
    clf = _logit_classifier(["rain", "snow", "noise"])
    z = np.log(np.array([[0.50, 0.45, 0.05]] * 3 + [[0.01, 0.39, 0.60]] * 2))
    assert clf.predict_each(z) == ["rain"] * 3 + ["noise"] * 2
    ev = clf.evidence(z)
    assert clf.name_evidence(ev.sum(axis=0, keepdims=True), z.mean(axis=0, keepdims=True)) == ["snow"]
    assert clf.name_evidence(ev[:3].sum(axis=0, keepdims=True), z[:3].mean(axis=0, keepdims=True)) == ["rain"]


def test_evidence_of_one_frame_names_it_as_predict_each_does():
    """name_evidence of a frame's own evidence row is predict_each's name of it: the pair expert's
    second opinion and "unknown" (low confidence, outside the named class's cloud) included."""
    rng = np.random.default_rng(6)
    z, y, columns = _blur_and_haze(rng, 300, -0.5)
    clf, _ = ConditionClassifier.fit(z, y, groups=[f"t{i % 40}" for i in range(len(y))], columns=columns, seed=0)
    assert clf.pair_experts
    zt, _, _ = _blur_and_haze(rng, 100, -5.0)
    zt = np.vstack([zt, rng.normal(0, 6.0, size=(50, zt.shape[1]))])
    names = clf.name_evidence(clf.evidence(zt), zt)
    assert names == clf.predict_each(zt)
    assert {"haze", "blur", UNKNOWN} <= set(names)
    assert clf.evidence(zt).shape == (len(zt), len(clf.classes) - 1 + len(clf.pair_experts))
