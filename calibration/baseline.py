"""Per-stream baselines: each camera's own recent normal, a change detector against it, and the
"atypical view" state (docs/DESIGN.md §5: a monitor for cameras has what a single crop lacks,
each stream's own recent normal appearance).

Pure maths: no I/O, no clock, no Kafka. One `BaselineBank` holds a `StreamBaseline` per stream;
the consumer calls `bank.update(stream, features, fleet_anomaly, fleet_is_anomalous)` once per
frame, in each stream's seq order, and gets a `BaselineVerdict`.

Units. A frame's feature row x (calibration.detector.FEATURE_COLUMNS: scorer outputs + image
statistics) is first put in fleet units, u = (x - fleet centre) / fleet scale (the clean model's
robust centre and spread, GaussianModel.center/.scale, linear: no asinh), so 1.0 is the variety
of ALL clean signs along that feature. A smudge of 0.3 is small there, and large next to a fixed
camera whose frames jitter by a few hundredths.

The stream's own normal (learned only from frames the baseline judges clean, never from a frame
the stream's alert was open for (`in_alert`, from the hook's tracker); during a warm-up, frames
the fleet model calls anomalous are not learned unless the stream looks atypical so far, and then
only those within `warmup_skip_above` of its median; merely suspect frames are learned):
- location m: running mean of u, equal weights during the warm-up (alpha_t = 1/t), then an
  exponentially weighted mean with alpha = 1/memory;
- covariance S: the matching exponentially weighted covariance (West's recursion
  S <- (1 - a)(S + a d d'), exact for the equal-weight warm-up as well);
- the covariance used to judge a frame: C = (1 - shrink) S + shrink diag(S) (shrink 0 by
  default), its variances raised to at least floor^2 (in fleet units): the "scale floor", so a
  frozen or very steady camera does not get an absurdly tight normal, and a change has to be at
  least of the order of `floor` of the fleet's spread to count (when that leaves C singular, as
  for a camera cycling through fewer views than features, floor^2 is added to every direction);
- n_eff, the effective number of frames S was learned from (1 / the sum of squared weights).

Change verdicts start after `judge_after` learned frames (40) once the stream has settled (the
median surprise its last `settle_n` learned frames would have had is at most `settle_median`
nats; at the latest at the warm-up's end), while the warm-up goes on learning with equal weights
until `warmup` (300) frames.

The change surprise of a frame: w = L^-1 (u - m) with C = L L' (whitening), optionally each
component softly compressed w <- soft * asinh(w / soft) (off by default), q = |w|^2, and
    change = -ln P(Q >= q),  Q * (n - p) / (p (n + 1)) ~ F(p, n - p)  (Hotelling's predictive law),
n = n_eff, p = the number of features rounded up to even: nats of surprise as
calibration.detector.TailMap gives the fleet anomaly. If the stream's frames were Gaussian, a new
frame judged against the m and S learned from n of them would have `change` exactly Exp(1) (mean 1,
P(change > t) = e^-t), however small n (> p + 1); chi2's tail, the limit for large n, over-surprises
a normal of few frames (Monte Carlo, 32 features: mean 11 nats at n = 60, 1.58 at n = 300; this
law: 0.99 and 0.99, P(> 3) 5.0 %). Rounding p up, the floor, shrinkage and the compression only
make it smaller. Measured with the defaults on synthetic stationary streams (tests/test_baseline.py:
32 correlated Gaussian features, spread 0.1, 20,000 frames after the warm-up, two seeds): mean
1.00-1.01 nats, P(> 3) = 5.1 % (e^-3 = 5.0 %), P(> 6) = 0.24 % (e^-6 = 0.25 %), no onset, largest
CUSUM 9.0 (h = 20, from frame 60 on); with a wandering AR(1) component added (rho 0.9 and 0.99):
no onset, largest CUSUM 9.6.

The change detector: a one-sided CUSUM on the surprise,
    g_t = max(0, g_{t-1} + min(change, cap) - ref),   onset when g_t >= h.
False onsets on stationary frames: with change ~ Exp(1), independent frames and theta the root
of e^(-theta ref) / (1 - theta) = 1 (Wald's martingale e^(theta g)), the expected number of
onsets per frame is at most exp(-(1 - theta) ref - theta h). For the defaults (ref 3, h 20,
theta = 0.9405) that is 5.7e-9 per frame, one per ~1,600 hours of one 30 frames/s stream;
`false_onset_bound` computes it. The cap makes any onset need at least ceil(h / (cap - ref)) = 3
frames, so one odd frame (a passing car) never raises on its own. Frames of a real camera are not
independent, so the bound is a model figure, not a field measurement.
A change ends ("cleared") when the mean capped surprise of the last `clear_n` frames is at or
below `clear_mean` (Exp(1) frames: mean 1; that mean of 10 exceeds 2 with probability ~0.005), or
("adopted") after `adopt_after` frames: the view it changed to is then learned as the new normal
(a new warm-up), so a lasting change (the sun came out, the lens stays dirty) is reported for
that long and then does not hold the stream, nor mask its later onsets, forever.

The atypical view: at the end of a stream's first warm-up (or the one after `reset`), a stream
whose fleet anomaly was high throughout (its `atypical_quantile` quantile, 0.25, >= `atypical_anomaly` nats, or at least
`atypical_frac` of frames anomalous at the fleet's threshold) while it was steady (its own spread,
median over features, <= `steady_spread` fleet units) is "atypical": its baseline is learned from
those frames anyway, fleet-level condition alerts for it are to be held back (`hold_fleet`) in
favour of one explained state, ATYPICAL_MESSAGE, and its onsets are found by the change detector
against its own baseline. During that first warm-up, `hold_fleet` is also set while the frames
so far look off the fleet's normal (so a stream that is merely atypical does not raise a
condition alert that cannot clear on its first frame, issue 11); a stream that turns out not to
be atypical is released at the warm-up's end. The state ends when the median fleet anomaly of the
last `warmup` frames falls below `atypical_clear` nats.

Without change detection (`changes=False`: `baseline.enabled` false with `baseline.atypical` true,
the default) a stream keeps only what the atypical view needs: its first warm-up is learned (for
its spread) and judged as above, `hold_fleet` and the atypical state are the same, and after the
warm-up nothing is learned or judged against the stream's own normal. So a view off the fleet's
normal is reported, never held as a condition alert that cannot clear, also with baselines off;
its later onsets are then found only with baselines on.

Operator reset: `bank.reset(stream)` (or `StreamBaseline.reset()`) forgets the stream's normal,
change and atypical state; the next `warmup` frames learn it again and atypicality is judged
again. Do it after fixing a camera's ROI, aim or lens, or to accept its present view as normal.
State survives a restart through `bank.export()` / `BaselineBank.restore(...)` (plain lists and
numbers: JSON/YAML-safe).
"""

from __future__ import annotations

import functools
import math
from collections import deque
from dataclasses import asdict, fields
from typing import Any, NamedTuple

import numpy as np

from calibration.detector import SizeCorrection, fleet_units, size_correction_from_dict, size_correction_to_dict
from calibration.settings import BaselineConfig

ATYPICAL_MESSAGE = "atypical view: check ROI or camera"
# The corner of StreamBaseline._whitened_new's bordered covariance: above any squared distance a
# frame can have short of overflow.
_BORDER = 1e300


class BaselineVerdict(NamedTuple):
    change: float  # nats of surprise against the stream's own normal (0.0 while warming)
    cusum: float  # the change detector's statistic (onset at cfg.h)
    onset: bool  # this frame starts a change
    onset_lag: int  # with onset: how many frames before this one the change began (0 = this frame)
    changed: bool  # the stream is away from its own normal (onset frame included)
    cleared: bool  # this frame ends a change: the stream is back to its own normal
    adopted: bool  # this frame ends a change by adopting the current view (a new warm-up starts)
    atypical: bool  # the stream is off the fleet's normal, steadily, since its (re)start
    hold_fleet: bool  # hold fleet-level condition alerts for this stream back (see module docstring)
    warm: bool  # the baseline is warm: change verdicts are meaningful
    learned: bool  # this frame was learned into the baseline
    message: str  # ATYPICAL_MESSAGE while atypical, else ""


def _cholesky_or_none(a: np.ndarray) -> np.ndarray | None:
    """The lower Cholesky factor of a, None where a is not positive definite."""
    try:
        return np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        return None


def chi2_surprise(q: np.ndarray | float, dof: int) -> np.ndarray:
    """-ln P(chi2_dof >= q), for even dof exactly (odd dof is rounded up: conservative).
    For k = dof / 2: P(chi2_2k >= q) = e^(-q/2) sum_{j<k} (q/2)^j / j! (Poisson cdf), in log space."""
    k = max(1, (int(dof) + 1) // 2)
    x = np.maximum(np.asarray(q, dtype=np.float64), 0.0) / 2.0
    j = np.arange(k, dtype=np.float64)
    lg = np.array([math.lgamma(v + 1.0) for v in j])
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = j * np.log(x)[..., None] - lg  # x = 0: only j = 0 survives (0 * -inf -> nan, fixed below)
    terms = np.where(np.isnan(terms), 0.0, terms)
    top = terms.max(axis=-1, keepdims=True)
    lse = top[..., 0] + np.log(np.exp(terms - top).sum(axis=-1))
    return np.maximum(x - lse, 0.0)


@functools.lru_cache(maxsize=1024)
def _predictive_terms(k: int, half: float) -> tuple[float, ...]:
    """ln(Gamma(half + j) / (Gamma(half) j!)) for j = 0..k-1, by the recurrence Gamma(z + 1) = z Gamma(z)
    (cumulative sums of logs; equal to lgamma's to 1e-12). Cached: a stream's n_eff is its learned
    frame count during the warm-up and settles after it, so the hook's per-frame calls repeat these."""
    out, acc = [0.0], 0.0
    for j in range(1, k):
        acc += math.log((half + j - 1) / j)
        out.append(acc)
    return tuple(out)


def predictive_surprise(q: np.ndarray | float, dof: int, n_eff: float) -> np.ndarray:
    """-ln P(Q >= q) for the squared distance Q of a NEW frame from a normal (mean and covariance,
    the latter divided by n as StreamBaseline learns it) estimated from n_eff Gaussian frames:
    Hotelling's predictive law,
        f = Q (n - p) / (p (n + 1)) ~ F(p, n - p),
    whose tail is, for even p = 2k (odd dof rounded up, as chi2_surprise), with x = nu / (nu + p f),
        P(F >= f) = x^(nu/2) sum_{j<k} Gamma(nu/2 + j) / (Gamma(nu/2) j!) (1 - x)^j.
    A covariance of few frames makes new frames look further than chi2 says (at n = 60, p = 32,
    q about twice as large): this keeps the surprise Exp(1) for a normal learned from few frames,
    and tends to chi2_surprise as n_eff grows (n_eff = inf: exactly it)."""
    if not math.isfinite(n_eff):
        return chi2_surprise(q, dof)
    p, n, lc = _predictive_law(dof, n_eff)
    qa = np.asarray(q, dtype=np.float64)
    if qa.ndim == 0:  # one frame: scalar maths is ~5x cheaper than numpy's
        return np.float64(_predictive_one(float(qa), p, n, lc))
    return np.array([_predictive_one(v, p, n, lc) for v in qa.ravel().tolist()]).reshape(qa.shape)


def predictive_surprise_one(q: float, dof: int, n_eff: float) -> float:
    """float(predictive_surprise(q, dof, n_eff)) of one squared distance, without its array
    wrappers: the hook's case, one frame at a time."""
    if not math.isfinite(n_eff):
        return float(chi2_surprise(q, dof))
    return _predictive_one(q, *_predictive_law(dof, n_eff))


def _predictive_law(dof: int, n_eff: float) -> tuple[int, float, tuple[float, ...]]:
    """(p: dof rounded up to even, n: n_eff, _predictive_terms) for a finite n_eff > p + 1."""
    k = max(1, (int(dof) + 1) // 2)
    p = 2 * k
    n = float(n_eff)
    if n <= p + 1:
        raise ValueError(f"baseline: a normal of {n:.0f} frames cannot judge {p} features (needs > {p + 1})")
    return p, n, _predictive_terms(k, (n - p) / 2.0)


def _predictive_one(q: float, p: int, n: float, lc: tuple[float, ...]) -> float:
    """predictive_surprise of one squared distance (lc: _predictive_terms), the sum in log space."""
    nu = n - p
    pf = max(q, 0.0) * nu / (n + 1)  # p f
    log_x = math.log(nu) - math.log(nu + pf)
    if pf > 0:
        log_1mx = math.log(pf) - math.log(nu + pf)
        terms = [c + j * log_1mx for j, c in enumerate(lc)]
        top = max(terms)
        lse = top + math.log(math.fsum([math.exp(t - top) for t in terms]))
    else:  # 1 - x = 0: only j = 0 survives
        lse = lc[0]
    return max(-(nu / 2.0 * log_x + lse), 0.0)


def _squared_weights(n: int, cfg: BaselineConfig) -> float:
    """Sum of squared weights after n frames learned as StreamBaseline._learn learns them."""
    w2 = 0.0
    for i in range(1, n + 1):
        a = 1.0 / min(i, cfg.memory) if i <= cfg.warmup else 1.0 / cfg.memory
        w2 = (1.0 - a) ** 2 * w2 + a * a
    return w2


def cusum_theta(ref: float) -> float:
    """Root theta in (0, 1) of e^(-theta ref) / (1 - theta) = 1 (Exp(1) increments minus ref)."""
    if ref <= 1.0:
        return 0.0  # the increments' mean is >= 0: no bound
    lo, hi = 1e-12, 1.0 - 1e-15
    for _ in range(200):
        t = (lo + hi) / 2
        if -t * ref - math.log1p(-t) < 0:
            lo = t
        else:
            hi = t
    return lo


def false_onset_bound(cfg: BaselineConfig) -> float:
    """Upper bound on expected onsets per frame for independent frames with change ~ Exp(1)."""
    t = cusum_theta(cfg.ref)
    return 1.0 if t == 0 else math.exp(-(1 - t) * cfg.ref - t * cfg.h)


class StreamBaseline:
    """One stream's own normal, change detector and atypical state (see the module docstring)."""

    def __init__(self, dim: int, cfg: BaselineConfig | None = None, changes: bool = True) -> None:
        self.dim = int(dim)
        self.cfg = cfg or BaselineConfig()
        # False: the atypical view only (baseline.enabled false, baseline.atypical true): the first
        # warm-up is learned to judge atypicality, then no change detection and no learning.
        self.changes = bool(changes)
        self.reset()

    # -- public ------------------------------------------------------------------------------

    def reset(self) -> None:
        """The operator's reset: forget the normal, the change and the atypical state."""
        self._relearn()
        self.first = True  # this warm-up judges atypicality
        self.atypical = False
        self.recent_fleet: deque = deque(maxlen=self.cfg.warmup)  # fleet anomalies, newest last
        self.fleet_below = 0  # how many of recent_fleet are under atypical_anomaly (_pending)
        self.warm_fleet_anomalous = 0  # frames anomalous at the fleet threshold in this warm-up
        self.warm_frames = 0  # frames of this warm-up, the skipped ones included

    def update(
        self,
        u: np.ndarray,
        fleet_anomaly: float,
        fleet_is_anomalous: bool | None = None,
        in_alert: bool = False,
        finite: bool | None = None,
    ) -> BaselineVerdict:
        """One frame in fleet units (D,) -> its verdict; learns the frame when it is judged clean.
        in_alert: the stream's alert was open before this frame (the hook's tracker): not learned.
        finite: whether u is all finite, when the caller knows (the hook checks a batch at once)."""
        c = self.cfg
        u = np.asarray(u, dtype=np.float64).reshape(-1)
        if u.shape[0] != self.dim:
            raise ValueError(f"baseline: frame has {u.shape[0]} features, expected {self.dim}")
        fa = float(fleet_anomaly)
        if fa == fa:
            self._remember_fleet(fa)
        if fleet_is_anomalous is None:
            fleet_is_anomalous = fa > c.atypical_anomaly
        if not (np.isfinite(u).all() if finite is None else finite):  # nothing to learn or judge
            return self._verdict(float("nan"), False, 0, False, False, False)

        if self.n < c.warmup:  # the warm-up: learn the stream's clean frames (equal weights)
            self.warm_fleet_anomalous += bool(fleet_is_anomalous)
            self.warm_frames += 1
            if self.changes and self.first and self.warm_frames >= c.warmup and self.n >= 2:
                # Judged on the warm-up's frames seen, learned or not: with change verdicts on, a
                # stream's learning slows after each change (not learned while changed or alerted),
                # and an atypical stream of many episodes never learned `warmup` frames, so it
                # was never reported (scripts/baseline_experiment.py: 0 of 2 atypical streams).
                self._end_warmup()
        elif not self.changes:
            self._update_atypical()
            return self._verdict(0.0, False, 0, False, False, False)
        if not self.judging:  # too few frames yet for change verdicts
            return self._warmup_step(u, fa, bool(fleet_is_anomalous) or in_alert)
        return self._judge(u, in_alert)

    def _judge(self, u: np.ndarray, in_alert: bool) -> BaselineVerdict:
        """A frame judged against the stream's own normal (change verdicts on, finite u): the CUSUM,
        onsets and ends of changes, and the frame learned when it is judged clean."""
        c = self.cfg
        change = self._surprise_one(u)
        capped = min(change, c.cap)
        self.g = max(0.0, self.g + capped - c.ref)
        self.run = self.run + 1 if self.g > 0 else 0
        self.recent.append(capped)
        self._update_atypical()
        onset = cleared = adopted = False
        lag = 0
        if not self.changed and self.g >= c.h:
            self.changed, onset, lag = True, True, self.run - 1
            self.changed_for = 0
        elif self.changed:
            self.changed_for += 1
            last = list(self.recent)[-c.clear_n :]
            if len(last) >= c.clear_n and self.changed_for >= c.clear_n and sum(last) / c.clear_n <= c.clear_mean:
                self.changed, cleared, self.g, self.run = False, True, 0.0, 0
            elif c.adopt_after > 0 and self.changed_for >= c.adopt_after:
                adopted = True
                self._relearn()  # a new warm-up from the next frame; atypicality is not judged again
        learned = False
        if not (adopted or self.changed or in_alert) and change <= c.learn_below and self.g <= c.learn_cusum:
            self._learn(u)
            learned = True
            if self.n == c.warmup:
                self._end_warmup()
        return self._verdict(change, onset, lag, cleared, adopted, learned)

    def _warmup_step(self, u: np.ndarray, fa: float, flagged: bool) -> BaselineVerdict:
        """A warm-up frame before change verdicts start: learned unless skipped (_warmup_skips)."""
        if self._warmup_skips(fa, flagged):
            self.warm_skipped += 1
            return self._verdict(0.0, False, 0, False, False, False)
        self._settle(u)
        self._learn(u)
        if self.n == self.cfg.warmup:
            self._end_warmup()
        return self._verdict(0.0, False, 0, False, False, True)

    def _settle(self, u: np.ndarray) -> None:
        """Before verdicts start: the surprise each learned frame would have had, silently; the stream
        has settled once the median of the last `settle_n` is at most `settle_median` nats (a
        stream of views seen before: Exp(1), median 0.69). A stream that moves on to views it has
        not shown (the demo's, which plays one sign after another) keeps waiting, at most until
        the warm-up's end."""
        if self.settled or not (self.changes and self.cfg.settle_n > 0 and self._could_judge()):
            return
        self.settle.append(min(self._surprise_one(u), self.cfg.cap))
        if len(self.settle) == self.cfg.settle_n and float(np.median(self.settle)) <= self.cfg.settle_median:
            self.settled = True

    def surprise(self, u: np.ndarray) -> np.ndarray:
        """Change surprise (nats) of frames (D,) or (N, D) against the current normal, without learning."""
        w = (np.asarray(u, dtype=np.float64) - self.m) @ self._whiten().T
        if self.cfg.soft > 0:
            w = self.cfg.soft * np.arcsinh(w / self.cfg.soft)
        return predictive_surprise(np.einsum("...d,...d->...", w, w), self.dim, self.n_eff())

    def _surprise_one(self, u: np.ndarray) -> float:
        """float(surprise(u)) of one frame (D,) as float64, to rounding (_whitened_one), fewer wrappers."""
        w = self._whitened_one(u - self.m)
        if self.cfg.soft > 0:
            w = self.cfg.soft * np.arcsinh(w / self.cfg.soft)
        return predictive_surprise_one(float(np.einsum("...d,...d->...", w, w)), self.dim, self.n_eff())

    @property
    def warm(self) -> bool:
        """The warm-up is over (the normal is learned with forgetting from here on)."""
        return self.n >= self.cfg.warmup

    @property
    def judging(self) -> bool:
        """Change verdicts are given: after `judge_after` learned frames (with change detection on)."""
        # ...and never from fewer frames than the predictive law needs (> p + 1 for p features):
        # with a warm-up shorter than that, verdicts start once forgetting has gathered enough.
        # Before the warm-up's end, only once the stream has settled (_settle): a stream that is
        # still showing views it has not shown before is not judged against the few it has.
        return self.changes and self._could_judge() and (self.settled or self.n >= self.cfg.warmup)

    def _could_judge(self) -> bool:
        p = 2 * ((self.dim + 1) // 2)
        return self.n >= min(self.cfg.judge_after, self.cfg.warmup) and self.n_eff() > p + 1

    def n_eff(self) -> float:
        """The learned normal's effective number of frames (Kish: 1 / sum of squared weights): n
        during the warm-up, then towards (2 - a) / a with a = 1 / memory."""
        return 1.0 / self.w2 if self.w2 > 0 else 0.0

    def spread(self) -> float:
        """The stream's own spread: median over features of its learned standard deviation (fleet units)."""
        return float(np.median(np.sqrt(np.maximum(np.diag(self.S), 0.0))))

    def to_dict(self) -> dict[str, Any]:
        return {
            "dim": self.dim,
            "changes": self.changes,
            "n": self.n,
            "w2": self.w2,
            "settled": self.settled,
            "settle": list(self.settle),
            "m": self.m.tolist(),
            "S": self.S.tolist(),
            "g": self.g,
            "run": self.run,
            "changed": self.changed,
            "changed_for": self.changed_for,
            "recent": list(self.recent),
            "first": self.first,
            "atypical": self.atypical,
            "recent_fleet": list(self.recent_fleet),
            "warm_fleet_anomalous": self.warm_fleet_anomalous,
            "warm_frames": self.warm_frames,
            "warm_skipped": self.warm_skipped,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], cfg: BaselineConfig | None = None) -> StreamBaseline:
        b = cls(int(d["dim"]), cfg, bool(d.get("changes", True)))  # older exports: change detection was always on
        b.n = int(d["n"])
        # Older exports lack it: the weights of n frames learned as _learn learns them.
        b.w2 = float(d["w2"]) if "w2" in d else _squared_weights(b.n, b.cfg)
        b.settled = bool(d.get("settled", b.n >= b.cfg.warmup))  # older exports: verdicts from the warm-up's end
        b.settle.extend(float(v) for v in d.get("settle", []))
        b.m = np.array(d["m"], dtype=np.float64)
        b.S = np.array(d["S"], dtype=np.float64).reshape(b.dim, b.dim)
        b.g, b.run = float(d["g"]), int(d["run"])
        b.changed, b.changed_for = bool(d["changed"]), int(d["changed_for"])
        b.recent.extend(float(v) for v in d["recent"])
        b.first, b.atypical = bool(d["first"]), bool(d["atypical"])
        for v in d["recent_fleet"]:
            b._remember_fleet(float(v))
        b.warm_fleet_anomalous = int(d["warm_fleet_anomalous"])
        b.warm_frames = int(d.get("warm_frames", b.n + b.warm_skipped))  # older exports: learned + skipped
        b.warm_skipped = int(d.get("warm_skipped", 0))  # exports from before warm-up skipping have none
        return b

    # -- internals -----------------------------------------------------------------------------

    def _relearn(self) -> None:
        """Forget the normal and the change state (a new warm-up); keeps the atypical state."""
        self.n = 0
        self.w2 = 0.0  # sum of the learned frames' squared weights (n_eff)
        self.warm_skipped = 0  # suspect frames this warm-up did not learn
        self.m = np.zeros(self.dim)
        self.S = np.zeros((self.dim, self.dim))
        self._chol: np.ndarray | None = None  # the judging covariance's Cholesky factor L (_whiten)
        self._L_inv: np.ndarray | None = None
        self.g, self.run = 0.0, 0
        self.changed, self.changed_for = False, 0
        self.recent: deque = deque(maxlen=self.cfg.clear_n)
        self.settled = self.cfg.settle_n == 0  # verdicts may start before the warm-up's end (_settle)
        self.settle: deque = deque(maxlen=max(1, self.cfg.settle_n))

    def _learn(self, u: np.ndarray) -> None:
        self.n += 1
        a = 1.0 / min(self.n, self.cfg.memory) if self.n <= self.cfg.warmup else 1.0 / self.cfg.memory
        self.w2 = (1.0 - a) ** 2 * self.w2 + a * a
        d = u - self.m
        self.m = self.m + a * d
        self.S = (1.0 - a) * (self.S + a * np.outer(d, d))
        self._chol = self._L_inv = None

    def _whiten(self) -> np.ndarray:
        """L^-1 for the judging covariance C = L L' (kept until the next frame learned)."""
        if self._L_inv is None:
            if self._chol is None:
                self._chol = self._cholesky()
            self._L_inv = np.linalg.inv(self._chol)
        return self._L_inv

    def _whitened_one(self, d: np.ndarray) -> np.ndarray:
        """L^-1 d for one frame's difference d (D,) from the mean. The first frame judged against a new
        normal gets it from one factorisation (_whitened_new), the second makes and keeps L^-1: a
        stream that learns each frame (a clean one) judges one frame per normal, a changed stream
        (it learns nothing) many."""
        if self._L_inv is None and self._chol is None:
            return self._whitened_new(d)
        return d @ self._whiten().T

    def _whitened_new(self, d: np.ndarray) -> np.ndarray:
        """L^-1 d, and L kept, in one Cholesky factorisation instead of a factorisation and a solve
        (or an inverse, three times a solve's cost): C bordered by d, [[C, d], [d', B]], has the
        factor [[L, 0], [w', r]] with L w = d, found by forward substitution (L^-1 d to rounding,
        1e-15 relative; the block L is C's own factor to rounding). As in _cholesky, a C that is
        not positive definite gets the floor added to every direction. B is far above any |w|^2
        (a frame as far as B takes _cholesky's way)."""
        dim = self.dim
        bordered = np.empty((dim + 1, dim + 1))
        cov = self._covariance(out=bordered[:dim, :dim])
        bordered[dim, :dim] = bordered[:dim, dim] = d
        bordered[dim, dim] = _BORDER
        f = _cholesky_or_none(bordered)
        if f is None:
            cov[np.diag_indices(dim)] += self.cfg.floor**2  # the values of _cholesky's cov + floor^2 I
            f = _cholesky_or_none(bordered)
        if f is None:
            self._chol = self._cholesky()
            return np.linalg.solve(self._chol, d)
        self._chol = f[:dim, :dim].copy()
        return f[dim, :dim].copy()

    def _covariance(self, out: np.ndarray | None = None) -> np.ndarray:
        """The covariance frames are judged with: (1 - shrink) S off the diagonal, the diagonal of S
        (at least floor^2) on it; written into `out` when given."""
        c = self.cfg
        cov = np.empty_like(self.S) if out is None else out
        if c.shrink:
            np.multiply(self.S, 1.0 - c.shrink, out=cov)
        else:
            cov[...] = self.S
        np.fill_diagonal(cov, np.maximum(np.diagonal(self.S), c.floor**2))
        return cov

    def _cholesky(self) -> np.ndarray:
        cov = self._covariance()
        try:
            return np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            # Raising the diagonal alone can leave a covariance of fewer distinct frames than
            # features (a camera cycling through a few views) not positive definite without
            # shrinkage: the floor is then added to every direction instead.
            return np.linalg.cholesky(cov + self.cfg.floor**2 * np.eye(self.dim))

    def _end_warmup(self) -> None:
        c = self.cfg
        if not self.first:
            return
        self.first = False
        fleet = np.array(self.recent_fleet)
        # The anomalous fraction is of the warm-up's frames, skipped ones included: episodes in a
        # stream's first frames lengthen its warm-up (their suspect frames are not learned), and
        # counted against `warmup` alone they made a typical stream with many early episodes atypical.
        off = (
            len(fleet) > 0 and float(np.quantile(fleet, c.atypical_quantile)) >= c.atypical_anomaly
        ) or self.warm_fleet_anomalous >= c.atypical_frac * max(self.warm_frames, c.warmup)
        self.atypical = bool(off and self.spread() <= c.steady_spread)

    def _update_atypical(self) -> None:
        if (
            self.atypical
            and len(self.recent_fleet) >= self.cfg.warmup
            and float(np.median(np.array(self.recent_fleet))) < self.cfg.atypical_clear
        ):
            self.atypical = False

    def _warmup_skips(self, fleet_anomaly: float, flagged: bool) -> bool:
        """A warm-up frame the fleet flags (anomalous, or inside the stream's open alert: `flagged`)
        is not learned, unless the stream looks atypical (then its suspect frames are its normal):
        an episode in a stream's first frames must not become its normal, nor hide the same
        condition's later onsets. A frame that is merely suspect (anomaly above warmup_skip_above,
        under the threshold) is learned: skipping those (issue 11) left a typical stream's own
        suspect clean frames (10 % of the pipeline check's clean test frames) out of its normal,
        and after the warm-up each of them was a change of hundreds of nats: onsets on clear
        frames that kept the alert open for the rest of the run (scripts/stream_replay_experiment.py)."""
        skip = self.cfg.warmup_skip_above
        # At most `warmup` frames are skipped: a warm-up ends within 2 x warmup frames.
        if skip <= 0 or self.warm_skipped >= self.cfg.warmup:
            return False
        if not (self.atypical or self._pending()):
            return flagged
        if fleet_anomaly <= skip:
            return False
        # An atypical view: its frames are suspect to the fleet, but a frame that far above its
        # own median is an episode on top of that view, not the view.
        return fleet_anomaly > float(np.median(np.array(self.recent_fleet))) + skip

    def _remember_fleet(self, fa: float) -> None:
        q, t = self.recent_fleet, self.cfg.atypical_anomaly
        if len(q) == q.maxlen:
            self.fleet_below -= q[0] < t
        q.append(fa)
        self.fleet_below += fa < t

    def _pending(self) -> bool:
        """In the first warm-up, the frames so far look off the fleet's normal: their
        atypical_quantile (numpy's linear interpolation) is at least atypical_anomaly."""
        if not (self.first and self.recent_fleet):
            return False
        # Decided from the count under the bound (kept as frames come) unless the quantile falls
        # between the two order statistics that straddle the bound: sorting 300 values a frame was
        # half of the hook's baseline cost in the first warm-up.
        h = self.cfg.atypical_quantile * (len(self.recent_fleet) - 1)
        if self.fleet_below <= math.floor(h):
            return True  # the lower order statistic is at or above the bound
        if self.fleet_below > math.ceil(h):
            return False  # the upper one is under it
        return float(np.quantile(np.array(self.recent_fleet), self.cfg.atypical_quantile)) >= self.cfg.atypical_anomaly

    def _verdict(
        self, change: float, onset: bool, lag: int, cleared: bool, adopted: bool, learned: bool
    ) -> BaselineVerdict:
        return BaselineVerdict(
            change,
            float(self.g),
            onset,
            int(lag),
            self.changed,
            cleared,
            adopted,
            self.atypical,
            self.atypical or self._pending(),
            self.judging,
            learned,
            ATYPICAL_MESSAGE if self.atypical else "",
        )


class BaselineBank:
    """The baselines of all streams, in fleet units of one clean model."""

    def __init__(
        self,
        fleet_center: np.ndarray,
        fleet_scale: np.ndarray,
        cfg: BaselineConfig | None = None,
        size: SizeCorrection | None = None,
        changes: bool = True,
    ) -> None:
        """size: the fleet model's size correction (calibration.detector), applied before the units;
        its covariate (the crop's size) gets unit 0, so a sign that grows as it nears is no change.
        changes: False keeps each stream's atypical view only (StreamBaseline), no change detection."""
        self.center = np.asarray(fleet_center, dtype=np.float64).reshape(-1)
        self.scale = np.asarray(fleet_scale, dtype=np.float64).reshape(-1)
        if self.center.shape != self.scale.shape or not (self.scale > 0).all():
            raise ValueError("baseline: fleet centre and scale must be same-length vectors with scale > 0")
        self.size = size
        self.cfg = cfg or BaselineConfig()
        self.changes = bool(changes)  # False: each stream's atypical view only (StreamBaseline)
        self.streams: dict[str, StreamBaseline] = {}

    @classmethod
    def from_calibration(cls, calibration, cfg: BaselineConfig | None = None, changes: bool = True) -> BaselineBank:
        """From a calibration.calibrate.Calibration (its GaussianModel's robust centre and scale)."""
        g = calibration.gaussian
        return cls(g.center, g.scale, cfg, g.size, changes)

    def fleet_units(self, features: np.ndarray) -> np.ndarray:
        return fleet_units(features, self.center, self.scale, self.size)

    def update(
        self,
        stream: str,
        features: np.ndarray,
        fleet_anomaly: float,
        fleet_is_anomalous: bool | None = None,
        in_alert: bool = False,
    ) -> BaselineVerdict:
        """One frame's feature row (FEATURE_COLUMNS order, raw) and its fleet verdict -> BaselineVerdict.
        fleet_is_anomalous None: counted as fleet_anomaly > cfg.atypical_anomaly. in_alert: the
        stream's alert was open before this frame (such frames are never learned)."""
        return self.update_units(stream, self.fleet_units(features), fleet_anomaly, fleet_is_anomalous, in_alert)

    def update_units(
        self,
        stream: str,
        u: np.ndarray,
        fleet_anomaly: float,
        fleet_is_anomalous: bool | None = None,
        in_alert: bool = False,
        finite: bool | None = None,
    ) -> BaselineVerdict:
        """update() for a row already in fleet units (the hook converts a whole batch at once)."""
        b = self.streams.get(stream)
        if b is None:
            b = self.streams[stream] = StreamBaseline(len(self.center), self.cfg, self.changes)
        return b.update(u, fleet_anomaly, fleet_is_anomalous, in_alert, finite)

    def reset(self, stream: str) -> bool:
        """The operator's reset of one stream's baseline; False if the stream is unknown."""
        b = self.streams.get(stream)
        if b is None:
            return False
        b.reset()
        return True

    def export(self) -> dict[str, Any]:
        return {
            "center": self.center.tolist(),
            "scale": self.scale.tolist(),
            "size": size_correction_to_dict(self.size),
            "config": asdict(self.cfg),
            "changes": self.changes,
            "streams": {s: b.to_dict() for s, b in self.streams.items()},
        }

    @classmethod
    def restore(cls, d: dict[str, Any], cfg: BaselineConfig | None = None) -> BaselineBank:
        """From `export()`; cfg None: the exported settings (unknown keys are ignored)."""
        if cfg is None:
            known = {f.name for f in fields(BaselineConfig)}
            cfg = BaselineConfig(**{k: v for k, v in d.get("config", {}).items() if k in known})
        bank = cls(
            np.array(d["center"]),
            np.array(d["scale"]),
            cfg,
            size_correction_from_dict(d.get("size")),
            bool(d.get("changes", True)),
        )
        for s, sd in d.get("streams", {}).items():
            bank.streams[s] = StreamBaseline.from_dict(sd, cfg)
        return bank
