"""Consumer metrics: latency percentiles, lag sanity, interval lines."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.metrics import LatencyHistogram, PipelineMetrics, plausible_lag


def test_histogram_percentiles_are_within_its_resolution():
    rng = np.random.default_rng(0)
    values = rng.lognormal(mean=3.0, sigma=0.8, size=20_000)  # ms
    h = LatencyHistogram()
    h.add(values[:7000])
    h.add(values[7000:])
    assert h.count == 20_000
    for q in (50, 95, 99):
        assert h.percentile(q) == pytest.approx(np.percentile(values, q), rel=0.03)
    assert h.mean_ms == pytest.approx(values.mean())
    assert LatencyHistogram().percentile(50) is None


def test_histogram_clamps_negative_and_huge_latencies():
    h = LatencyHistogram()
    h.add([-5.0, 0.0, 1e9])  # clock skew, and a frame from long ago
    assert h.percentile(1) <= LatencyHistogram.LO_MS and h.percentile(100) == 1e9


def test_lag_is_reported_only_when_the_broker_figures_can_be_true():
    assert plausible_lag({"a": 10, "b": 5}, {"a": 7, "b": 5}) == 3
    # Tansu's end_offsets can lie below our own position (docs/DESIGN.md §4): say nothing rather than a wrong figure.
    assert plausible_lag({"a": 877, "b": 5}, {"a": 1000, "b": 5}) is None
    assert plausible_lag({"a": -1}, {"a": 0}) is None
    assert plausible_lag({}, {"a": 0}) is None
    assert plausible_lag({}, {}) is None


def test_interval_and_total_lines():
    now = [0.0]
    m = PipelineMetrics("score [x]", 5.0, clock=lambda: now[0])
    m.record_batch(4, [10.0, 20.0, 30.0, 40.0])
    m.record_dead_letters(2)
    now[0] = 5.0
    assert m.due()
    snap = m.roll()
    assert (snap.frames, snap.batches, snap.dead_letters, snap.fps, snap.mean_batch) == (4, 1, 2, 0.8, 4.0)
    line = snap.line()
    assert line.startswith("score [x]: 4 frames in 5.0 s (0.8 frames/s), mean batch 4.0") and "lag n/a" in line
    m.record_batch(2, [5.0, 5.0])
    now[0] = 6.0
    assert not m.due()
    total = m.summary()
    assert (total.frames, total.batches, total.dead_letters) == (6, 2, 2)
