"""Name the condition of a frame: a multinomial logistic regression over the standardised features.

Classes: "clean" plus the CURE-TSR challenge types, with LensBlur and GaussianBlur merged into
"blur" (the two are nearly indistinguishable on a sign crop, and an operator needs "the image is
blurred", not the optics that did it; accuracy is counted with the merged name). The "clean"
class makes the same model a supervised anomaly score (how sure it is that a frame is NOT clean)
next to the detector's unsupervised distance.

Inputs are the detector's standardised features z and z^2 / 4 (squares let a linear model see
two-sided departures: noise and blur move the same statistic in opposite directions).
Confidence: the softmax over the condition classes (clean excluded: the detector already decided
the frame is anomalous), temperature-scaled on predictions for tracks the model did not see, so
"96 % sure" holds on new tracks. "unknown" when the best condition's confidence is below
`min_confidence`, or when the frame is far from every condition's training frames (its diagonal
Mahalanobis distance to the predicted class exceeds that class's `ood_quantile` training distance).

Pair experts (PAIR_EXPERTS): a pair of conditions that the full model tells apart by a statistic
one rendering moves and the other does not is settled with a second opinion, a two-class logistic
regression on only the statistics of the physics that separates the pair; its log-odds are added
to the full model's (a product of the two experts). Haze is a veil of scattered light: it lifts
the dark channel and the brightness and washes out the colour, whatever it does to the detail;
blur mixes neighbouring pixels and leaves the colour distribution nearly as it was. Measured on
scripts/loro_wire_experiment.py's cache (fit on one rendering's calibration tracks, tested on the
other's test tracks): fit on rendering B, rendering A's haze (which blurs as well) was named blur
on 614 suspect frames (levels 3-5, anomaly over 3 nats) and haze on 445, and 30/72 haze episodes
were met; with the veil expert 47/72, every other condition's episodes unchanged in both
independent directions (docs/DESIGN.md §5.6).

Two more experts read only the light a condition adds or takes away (the frame's mean brightness
and its dark channel): darkening takes light away, haze adds airlight; snow is white and adds
light, rain does not. New renderings' darkening under a glare veil was named haze, and their rain
with bright highlights snow, because the full model leans on statistics one way of drawing them
moves (crushed blacks for darkening, bright specks for snow). Measured on the offline replay of
the pipeline check (scripts/stream_replay_experiment.py --refit, episodes met of 864, A+B+C fit):
I 573 -> 618, H 585 -> 597, G 725 -> 733, F 440 -> 441, E 509 -> 510, D 524 -> 524, A+B -> C 643
-> 643, A+C -> B 753 -> 756, B+C -> A 767 -> 767, no false alert; I's misses had suggested them,
so I and H are development figures there, and J, written blind, is the independent one
(docs/DESIGN.md §5.8).

A third light expert, darkening against noise on the brightness and the contrast (the 5-95 %
range): noise spreads the values and leaves the light, darkening takes light away, and a camera
that wins part of it back with gain adds noise of its own. And "unknown" is judged after the
experts, against the class of the final name: a frame whose best name (noise) lay outside that
class's cloud was left unknown even where the expert named it darkening and it lay inside
darkening's. Renderings D, K and L's dusk, storm and eclipse with gain noise were named noise or
left unknown. Offline replay of the pipeline check on D-M (one model and calibration fit by this
code, episodes met of 8,640): 6,049 -> 6,121 in name order, 5,987 -> 6,073 shuffled; darkening
423 -> 468, rain 360 -> 384, no false alert. D-M suggested it, so those are development figures;
N, written blind and measured after, is the independent one: 747 of 864 with it, 745 with the code
before (the same frames replayed; docs/DESIGN.md §5.8).

Evidence (`evidence`, `name_evidence`): the naming split into a part that adds up over frames (the
temperature-scaled log-probabilities over the conditions and each pair expert's log-odds) and the
naming of a sum, so the hook names a change by its recent frames together (naive Bayes over the
alert's naming window) and one frame exactly as predict_each does. Offline replay of the pipeline
check, D-P: 8,268 -> 8,448 of 11,232 episodes met (development figures); Q, written blind, 703 ->
710 of 864 (docs/DESIGN.md §5.6, §5.8).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from calibration.folds import group_folds
from monitor.challenge_types import CONDITION_NAMES

# CURE-TSR challenge code -> condition name (calibration files and alert records use these): the
# condition column of monitor.challenge_types.CHALLENGE_TABLE.
CONDITION_OF_CODE: dict[int, str] = CONDITION_NAMES
UNKNOWN = "unknown"
CLEAN = "clean"

# (first, second) condition pair -> the statistics (columns of the standardised features z) of the
# physics that separates them; see the module docstring. A frame named one of a pair is named by the
# full model's and the expert's summed log-odds; the experts are asked in this order.
PAIR_EXPERTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("blur", "haze"): (
        "bright_mean",
        "bright_std",
        "contrast",
        "dark_channel",
        "sat_mean",
        "sat_std",
        "blue_ratio",
        "red_ratio",
        "clip_high",
        "clip_low",
    ),
    ("darkening", "haze"): ("bright_mean", "dark_channel"),
    ("rain", "snow"): ("bright_mean", "dark_channel"),
    ("darkening", "noise"): ("bright_mean", "contrast"),
}


def track_changes(
    u: np.ndarray, labels: Sequence[str], groups: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paired differences for the classifier of CHANGES: each frame's features minus the mean of its
    track's clean frames, in the units of `u` (rows (N, D); CLEAN-labelled rows are the clean frames).

    A challenge frame's change is its u minus the mean of its track's clean frames; a clean frame's
    (the "no change" class) is its u minus the mean of its track's OTHER clean frames (leave one
    out, so it is not its own reference). The mean, not the clean twin, because at run time a frame
    is compared with its stream's learned mean of clean frames (calibration.baseline), which does
    not hold that frame's own jitter. Frames of a track with no clean reference are left out.
    Returns (differences (M, D), their labels (M,), their groups (M,))."""
    u = np.asarray(u, dtype=np.float64)
    labels = np.asarray(labels).astype(str)
    groups = np.asarray(groups).astype(str)
    is_clean = labels == CLEAN
    tracks, inv = np.unique(groups, return_inverse=True)
    n = np.bincount(inv[is_clean], minlength=len(tracks)).astype(np.float64)
    sums = np.zeros((len(tracks), u.shape[1]))
    np.add.at(sums, inv[is_clean], u[is_clean])
    count = n[inv] - is_clean  # clean rows: the others of their track
    keep = count > 0
    ref = (sums[inv] - np.where(is_clean[:, None], u, 0.0))[keep] / count[keep, None]
    return u[keep] - ref, labels[keep], groups[keep]


class PairExpert(NamedTuple):
    """Log-odds of `pair[1]` against `pair[0]` from the z columns `columns`: z_cols . weights + bias."""

    pair: tuple[str, str]
    columns: np.ndarray  # (M,) column indices into z
    weights: np.ndarray  # (M,)
    bias: float

    def log_odds(self, z: np.ndarray) -> np.ndarray:
        # A row's own sum (not a matrix product, whose rounding depends on the batch): a frame gets
        # the same log-odds alone as in any batch (ConditionClassifier.predict_each).
        return (np.clip(np.asarray(z, dtype=np.float64)[:, self.columns], -8.0, 8.0) * self.weights).sum(
            axis=1
        ) + self.bias

    def to_dict(self) -> dict:
        return {
            "pair": list(self.pair),
            "columns": self.columns.tolist(),
            "weights": self.weights.tolist(),
            "bias": self.bias,
        }

    @classmethod
    def from_dict(cls, d: dict) -> PairExpert:
        return cls(
            tuple(d["pair"]),
            np.asarray(d["columns"], dtype=np.int64),
            np.asarray(d["weights"], float),
            float(d["bias"]),
        )


def fit_pair_experts(z: np.ndarray, labels: np.ndarray, columns: Sequence[str], l2: float = 1e-4) -> list[PairExpert]:
    """One PairExpert per PAIR_EXPERTS entry whose two conditions both have frames and whose
    statistics are all among `columns` (the names of z's columns)."""
    out = []
    for pair, stats in PAIR_EXPERTS.items():
        rows = np.isin(labels, pair)
        if not all((labels == c).any() for c in pair) or not set(stats) <= set(columns):
            continue
        cols = np.array([list(columns).index(k) for k in stats])
        w, b = fit_logistic(np.clip(z[rows][:, cols], -8.0, 8.0), (labels[rows] == pair[1]).astype(np.int64), 2, l2)
        out.append(PairExpert(pair, cols, w[:, 1] - w[:, 0], float(b[1] - b[0])))
    return out


def condition_classes() -> list[str]:
    """Class order: clean first, then each condition once, in CURE-TSR code order."""
    out: list[str] = []
    for code in sorted(CONDITION_OF_CODE):
        name = CONDITION_OF_CODE[code]
        if name not in out:
            out.append(name)
    return out


class Conditions(NamedTuple):
    condition: np.ndarray  # (N,) str: a condition name or "unknown"
    confidence: np.ndarray  # (N,) calibrated probability of that condition given the frame is not clean
    p_clean: np.ndarray  # (N,) probability the frame is clean
    best: np.ndarray  # (N,) str: the best condition even where "unknown" was reported


def expand(z: np.ndarray) -> np.ndarray:
    """Standardised features (N, D) -> classifier inputs (N, 2D): z clipped, and z^2 / 4."""
    z = np.clip(np.asarray(z, dtype=np.float64), -8.0, 8.0)
    return np.concatenate([z, z * z / 4.0], axis=1)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def fit_logistic(
    x: np.ndarray, y: np.ndarray, n_classes: int, l2: float = 1e-4, max_iter: int = 200, balanced: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression (L-BFGS, class-balanced cross-entropy + L2) -> (W (F, K), b (K,))."""
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64))
    counts = np.bincount(np.asarray(y), minlength=n_classes).astype(np.float64)
    # Balanced weights: the clean class has ~60x fewer frames than the challenge classes together.
    w = len(y) / (n_classes * np.maximum(counts, 1.0)) if balanced else np.ones(n_classes)
    w = np.where(counts > 0, w, 0.0)
    wt = torch.as_tensor(w, dtype=torch.float32)
    W = torch.zeros(xt.shape[1], n_classes, requires_grad=True)
    b = torch.zeros(n_classes, requires_grad=True)
    opt = torch.optim.LBFGS([W, b], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ W + b, yt, weight=wt) + l2 * (W * W).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return W.detach().double().numpy(), b.detach().double().numpy()


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature T minimising held-out negative log-likelihood of softmax(logits / T) (1-D search)."""
    logits = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y)
    best_t, best_nll = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.2), np.log(10.0), 121)):
        p = _softmax(logits / t)
        nll = -np.mean(np.log(p[np.arange(len(y)), y] + 1e-12))
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


class ConditionClassifier:
    """Fitted parameters are plain arrays, so `to_dict` stores them as YAML numbers."""

    def __init__(
        self,
        classes: Sequence[str],
        weights: np.ndarray,
        bias: np.ndarray,
        temperature: float,
        class_mean: np.ndarray,
        class_scale: np.ndarray,
        ood_radius: np.ndarray,
        min_confidence: float = 0.5,
        pair_experts: Sequence[PairExpert] = (),
    ) -> None:
        self.classes = list(classes)
        self.weights = np.asarray(weights, dtype=np.float64)  # (2D, K)
        self.bias = np.asarray(bias, dtype=np.float64)  # (K,)
        self.temperature = float(temperature)
        self.class_mean = np.asarray(class_mean, dtype=np.float64)  # (K, D) in z space
        self.class_scale = np.asarray(class_scale, dtype=np.float64)  # (K, D)
        self.ood_radius = np.asarray(ood_radius, dtype=np.float64)  # (K,)
        self.min_confidence = float(min_confidence)
        self.pair_experts = [e for e in pair_experts if set(e.pair) <= set(self.classes[1:])]
        self._index = {c: i for i, c in enumerate(self.classes)}
        if self.classes[0] != CLEAN:
            raise ValueError(f"the first class must be {CLEAN!r}, got {self.classes[0]!r}")

    # -- fitting ---------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        z: np.ndarray,
        labels: Sequence[str],
        groups: Sequence[str],
        *,
        folds: int = 5,
        l2: float = 1e-4,
        min_confidence: float = 0.5,
        ood_quantile: float = 0.995,
        seed: int = 0,
        columns: Sequence[str] | None = None,
    ) -> tuple[ConditionClassifier, np.ndarray]:
        """Fit on standardised features z (N, D) with condition names (CLEAN for clean frames) and
        track ids (folds never split a track). columns: the names of z's columns, for the pair
        experts (None: none). Returns the classifier and out-of-fold logits (N, K) before
        temperature scaling (the full model's, without the pair experts): what the model says
        about tracks it did not see."""
        z = np.asarray(z, dtype=np.float64)
        labels = np.asarray(labels).astype(str)
        present = set(labels)
        classes = [c for c in condition_classes() if c in present]
        if CLEAN not in present:
            raise ValueError("the condition classifier needs clean frames as well as challenge frames")
        if len(classes) < 2:
            raise ValueError("the condition classifier needs at least one challenge type besides clean frames")
        y = np.array([classes.index(v) for v in labels])
        x = expand(z)
        k = len(classes)
        fold = group_folds(groups, folds, seed)
        oof = np.zeros((len(y), k))
        for f in range(folds):
            test = fold == f
            if not test.any() or len(set(y[~test])) < k:
                continue
            w, b = fit_logistic(x[~test], y[~test], k, l2)
            oof[test] = x[test] @ w + b
        w, b = fit_logistic(x, y, k, l2)
        # Temperature for the CONDITION softmax (clean column dropped), on challenge frames only.
        ch = y > 0
        temperature = fit_temperature(oof[ch][:, 1:], y[ch] - 1) if ch.sum() > 10 else 1.0
        means, scales, radius = [], [], []
        for c in range(k):
            zc = np.clip(z[y == c], -8, 8)
            mu = zc.mean(axis=0)
            sd = np.maximum(zc.std(axis=0), 0.05)
            d = np.sqrt((((zc - mu) / sd) ** 2).mean(axis=1))
            means.append(mu)
            scales.append(sd)
            radius.append(float(np.quantile(d, ood_quantile)) if len(d) else np.inf)
        experts = [] if columns is None else fit_pair_experts(z, labels, columns, l2)
        clf = cls(
            classes, w, b, temperature, np.array(means), np.array(scales), np.array(radius), min_confidence, experts
        )
        return clf, oof

    # -- use ----------------------------------------------------------------------------------

    def logits(self, z: np.ndarray) -> np.ndarray:
        return expand(z) @ self.weights + self.bias

    def p_clean(self, z: np.ndarray) -> np.ndarray:
        return _softmax(self.logits(z))[:, 0]

    def predict(self, z: np.ndarray) -> Conditions:
        z = np.asarray(z, dtype=np.float64)
        logits = self.logits(z)
        p_clean = _softmax(logits)[:, 0]
        if len(self.classes) == 1:
            n = len(z)
            return Conditions(
                np.full(n, UNKNOWN, dtype=object), np.zeros(n), p_clean, np.full(n, UNKNOWN, dtype=object)
            )
        p, conf, names = self._named(logits)
        best = names.copy()
        self._ask_experts(z, logits, p, names, conf)
        return Conditions(self._or_unknown(z, names, conf), conf, p_clean, best)

    def predict_each(self, z: np.ndarray) -> list[str]:
        """[predict(row[None, :]).condition[0] for row in z (N, D)], the same values: each row's matrix
        product alone as predict makes it for that row (one product of all rows rounds differently; a
        stack of N (1, F) products is N one-row products, tests/test_conditions.py), the steps that are
        elementwise or per row done for all rows at once (the hook's change names of a stream's
        frames in a batch)."""
        z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
        if len(self.classes) == 1:
            return [UNKNOWN] * len(z)
        logits = (expand(z)[:, None, :] @ self.weights)[:, 0, :] + self.bias
        p, conf, names = self._named(logits)
        self._ask_experts(z, logits, p, names, conf)  # elementwise and per-row steps: the same for a row alone
        return self._or_unknown(z, names, conf).tolist()

    def evidence(self, z: np.ndarray) -> np.ndarray:
        """Each row's naming evidence, additive over frames (N, C + E): the temperature-scaled
        log-probabilities over the C conditions, then each pair expert's log-odds. The sum of a run of
        frames' rows is their joint evidence (naive Bayes: the frames are independent looks at one
        condition); `name_evidence` of one row names that frame as predict_each does."""
        z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
        logits = ((expand(z)[:, None, :] @ self.weights)[:, 0, :] + self.bias)[:, 1:] / self.temperature
        logp = logits - logits.max(axis=1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
        return np.column_stack([logp] + [e.log_odds(z) for e in self.pair_experts])

    def name_evidence(self, evidence: np.ndarray, z: np.ndarray) -> list[str]:
        """Names from evidence rows (N, C + E), summed over frames or not, and the z (N, D) the
        "unknown" rule judges (for a run of frames, their mean): the best condition by the summed
        log-probabilities, then each pair expert on the frames named one of its pair, by the pair's
        summed log-odds (the full model's and the expert's), as _ask_experts does for one frame."""
        ev = np.asarray(evidence, dtype=np.float64).reshape(len(evidence), -1)
        z = np.asarray(z, dtype=np.float64).reshape(len(ev), -1)
        if len(self.classes) == 1:
            return [UNKNOWN] * len(ev)
        c = len(self.classes) - 1
        logp = ev[:, :c]
        p = _softmax(logp)
        best = p.argmax(axis=1)
        conf = p[np.arange(len(p)), best]
        names = np.array(self.classes[1:], dtype=object)[best]
        for k, e in enumerate(self.pair_experts):
            sel = np.flatnonzero((names == e.pair[0]) | (names == e.pair[1]))
            if not len(sel):
                continue
            i, j = (self._index[n] - 1 for n in e.pair)
            lo = logp[sel, j] - logp[sel, i] + ev[sel, c + k]
            names[sel] = np.where(lo > 0, e.pair[1], e.pair[0])
            conf[sel] = (p[sel, i] + p[sel, j]) / (1.0 + np.exp(-np.abs(lo)))
        return self._or_unknown(z, names, conf).tolist()

    def _named(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(p over the conditions, the best one's confidence, its name)."""
        p = _softmax(logits[:, 1:] / self.temperature)
        best = p.argmax(axis=1)
        conf = p[np.arange(len(p)), best]
        return p, conf, np.array(self.classes[1:], dtype=object)[best]

    def _or_unknown(self, z: np.ndarray, names: np.ndarray, conf: np.ndarray) -> np.ndarray:
        """The names, "unknown" where the confidence is under min_confidence or the frame lies
        outside its named class's cloud (the final name's, after the pair experts)."""
        cidx = np.fromiter((self._index[n] for n in names), dtype=np.int64, count=len(names))
        zc = np.clip(z, -8, 8)
        dist = np.sqrt((((zc - self.class_mean[cidx]) / self.class_scale[cidx]) ** 2).mean(axis=1))
        out = names.copy()
        out[(conf < self.min_confidence) | (dist > self.ood_radius[cidx])] = UNKNOWN
        return out

    def _ask_experts(
        self, z: np.ndarray, logits: np.ndarray, p: np.ndarray, names: np.ndarray, conf: np.ndarray
    ) -> None:
        """Each pair expert, in order, on the frames named one of its pair (names and conf in place)."""
        present = set(names.tolist())
        for e in self.pair_experts:
            if not present.isdisjoint(e.pair):
                self._second_opinion(e, z, logits, p, names, conf)
                present = set(names.tolist())

    def _second_opinion(
        self, e: PairExpert, z: np.ndarray, logits: np.ndarray, p: np.ndarray, names: np.ndarray, conf: np.ndarray
    ) -> None:
        """Frames named one of the expert's pair are named by the summed log-odds of the full model
        (temperature-scaled) and the expert; confidence: the pair's probability times the
        decision's. `names` and `conf` are updated in place; "unknown" is judged after."""
        sel = np.flatnonzero((names == e.pair[0]) | (names == e.pair[1]))
        if not len(sel):
            return
        i, j = (self._index[c] for c in e.pair)
        lo = (logits[sel, j] - logits[sel, i]) / self.temperature + e.log_odds(z[sel])
        names[sel] = np.where(lo > 0, e.pair[1], e.pair[0])
        conf[sel] = (p[sel, i - 1] + p[sel, j - 1]) / (1.0 + np.exp(-np.abs(lo)))

    # -- storage --------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "method": "multinomial logistic regression on [z, z^2/4], temperature-scaled; pair experts",
            "classes": list(self.classes),
            "temperature": self.temperature,
            "min_confidence": self.min_confidence,
            "weights": self.weights.tolist(),
            "bias": self.bias.tolist(),
            "class_mean": self.class_mean.tolist(),
            "class_scale": self.class_scale.tolist(),
            "ood_radius": self.ood_radius.tolist(),
            "pair_experts": [e.to_dict() for e in self.pair_experts],
        }

    @classmethod
    def from_dict(cls, d: dict) -> ConditionClassifier:
        return cls(
            d["classes"],
            np.array(d["weights"]),
            np.array(d["bias"]),
            d["temperature"],
            np.array(d["class_mean"]),
            np.array(d["class_scale"]),
            np.array(d["ood_radius"]),
            d.get("min_confidence", 0.5),
            [PairExpert.from_dict(e) for e in d.get("pair_experts") or []],
        )
