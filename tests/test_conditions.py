"""Condition classifier pieces: class names, logistic regression, temperature scaling."""

from __future__ import annotations

import numpy as np

from calibration.conditions import (
    CLEAN,
    CONDITION_OF_CODE,
    condition_classes,
    expand,
    fit_logistic,
    fit_temperature,
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
