"""Tests for drift monitoring of negatives (recneg.production.drift)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recneg import RecnegError
from recneg.data import Interactions
from recneg.metrics import popularity_cohorts
from recneg.production import DriftMonitor, cohort_shares, kl_divergence, popularity_bins, psi


def test_psi_and_kl_match_hand_computed_values():
    # Proportions e = (0.5, 0.3, 0.2), a = (0.3, 0.3, 0.4); the middle bin ties.
    assert psi([50, 30, 20], [30, 30, 40], epsilon=0) == pytest.approx(
        (0.3 - 0.5) * math.log(0.3 / 0.5) + 0.0 + (0.4 - 0.2) * math.log(0.4 / 0.2), rel=1e-12)
    assert kl_divergence([50, 30, 20], [30, 30, 40], epsilon=0) == pytest.approx(
        0.3 * math.log(0.3 / 0.5) + 0.3 * math.log(1.0) + 0.4 * math.log(0.4 / 0.2), rel=1e-12)
    assert kl_divergence([1, 3], [1, 1], epsilon=0) == pytest.approx(
        0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75), rel=1e-12)


def test_empty_bins_are_smoothed_as_documented():
    eps = 0.01
    # e = (1, 0, 0) and a = (0.5, 0.5, 0) before smoothing: p -> (p + eps) / (1 + 3 eps).
    e = np.array([1 + eps, eps, eps]) / (1 + 3 * eps)
    a = np.array([0.5 + eps, 0.5 + eps, eps]) / (1 + 3 * eps)
    assert psi([4, 0, 0], [2, 2, 0], epsilon=eps) == pytest.approx(float(np.sum((a - e) * np.log(a / e))), rel=1e-12)
    assert kl_divergence([4, 0, 0], [2, 2, 0], epsilon=eps) == pytest.approx(float(np.sum(a * np.log(a / e))),
                                                                            rel=1e-12)
    # Unsmoothed: a bin empty on one side only is infinite; empty on both sides is 0.
    assert psi([4, 0, 0], [2, 2, 0], epsilon=0) == math.inf
    assert kl_divergence([2, 2, 0], [4, 0, 0], epsilon=0) == pytest.approx(math.log(2), rel=1e-12)
    assert kl_divergence([4, 0, 0], [2, 2, 0], epsilon=0) == math.inf


@pytest.mark.parametrize("epsilon", [0.0, 1e-4, 0.1])
def test_identical_distributions_give_zero(epsilon):
    counts = np.array([7, 0, 3, 3, 1])  # an empty bin and a tie
    assert psi(counts, counts, epsilon=epsilon) == 0.0
    assert psi(counts, 10 * counts, epsilon=epsilon) == pytest.approx(0.0, abs=1e-15)
    assert kl_divergence(counts, 3 * counts, epsilon=epsilon) == pytest.approx(0.0, abs=1e-15)


def test_psi_is_the_symmetrised_kl_divergence():
    rng = np.random.default_rng(0)
    for _ in range(20):
        e, a = rng.integers(0, 5, 6), rng.integers(0, 5, 6)
        e[0] += 1
        a[1] += 1
        both = kl_divergence(e, a) + kl_divergence(a, e)
        assert psi(e, a) == pytest.approx(both, rel=1e-12)
        assert psi(e, a) == pytest.approx(psi(a, e), rel=1e-12)


def test_popularity_bins_with_three_bins_are_the_metrics_cohorts():
    rng = np.random.default_rng(1)
    for _ in range(50):
        counts = rng.choice([0, 1, 1, 2, 3, 3, 10], size=rng.integers(2, 30))  # ties and discrete counts
        counts[0] = 0
        assert popularity_bins(counts, 3).tolist() == popularity_cohorts(counts).tolist()


def test_popularity_bins_break_ties_by_item_id_and_cover_equal_shares():
    # Four tied items of 25 interactions each: one per quarter, in id order.
    assert popularity_bins([0, 25, 25, 25, 25, 0], 4).tolist() == [-1, 0, 1, 2, 3, 3]
    bins = popularity_bins(np.r_[0, np.full(100, 1)], 10)
    assert np.bincount(bins[1:]).tolist() == [10] * 10


def test_cohort_shares_use_the_reference_thirds():
    counts = Interactions(np.zeros(6, dtype=np.int64), np.array([1, 1, 1, 2, 3, 4]), np.arange(6), n_users=1,
                          n_items=4)
    assert cohort_shares([1, 2, 3, 4], counts) == {"head": 0.25, "mid": 0.25, "tail": 0.5}


def make_monitor(n_items=50, seed=0):
    rng = np.random.default_rng(seed)
    counts = np.r_[0, np.sort(rng.integers(1, 200, n_items))[::-1]]
    reference = rng.integers(1, n_items + 1, 20_000)  # uniform training negatives
    return DriftMonitor(reference, counts, n_bins=5), rng


def test_monitor_raises_the_alert_only_after_a_planted_shift():
    monitor, rng = make_monitor()
    n_items = monitor.n_items
    before = rng.integers(1, n_items + 1, 4 * 2000)
    # After the shift, negatives come from the 10 most popular items only.
    after = rng.integers(1, 11, 3 * 2000)
    items = np.r_[before, after]
    times = np.arange(len(items)) / 2000.0  # 2000 negatives per unit of time
    frame = monitor.replay(times, items, window=1.0)
    assert frame["window"].tolist() == list(range(7))
    assert frame["n_negatives"].tolist() == [2000] * 7
    assert frame["alert"].tolist() == [False] * 4 + [True] * 3
    assert frame["band"].tolist() == ["stable"] * 4 + ["major"] * 3
    assert (frame["psi"][:4] < 3 * frame["psi_no_drift"][:4]).all()
    assert frame["head_share"][4:].min() > 2 * frame["head_share"][:4].max()


def test_monitor_psi_without_drift_is_about_the_chi_square_level():
    monitor, rng = make_monitor(seed=2)
    values = [monitor.compare(rng.integers(1, monitor.n_items + 1, 1000))["psi"] for _ in range(300)]
    # Mean of 300 draws of roughly (chi-square_4 / effective n): within 15% of (B-1)(1/n + 1/N).
    assert np.mean(values) == pytest.approx(monitor.no_drift_psi(1000), rel=0.15)


def test_monitor_reports_empty_windows_and_warn_band():
    monitor = DriftMonitor([1, 2, 3, 4] * 25, [0, 40, 30, 20, 10], n_bins=4)
    frame = monitor.replay([0.0, 0.5, 25.0], [1, 2, 3], window=10.0)
    assert frame["band"].tolist() == ["major", "empty", "major"]
    assert math.isnan(frame["psi"][1]) and not frame["alert"][1]
    # A mild shift lands in the moderate band: 30/25/25/20 against 25 each.
    mild = DriftMonitor([1, 2, 3, 4] * 25, [0, 40, 30, 20, 10], n_bins=4).compare([1] * 36 + [2] * 25 + [3] * 25 + [4] * 14)
    assert mild["band"] == "moderate" and mild["warn"] and not mild["alert"]


@pytest.mark.parametrize("call, message", [
    (lambda: psi([1, 2], [1, 2, 3]), "expected has 2 bins but actual has 3"),
    (lambda: psi([1, float("nan")], [1, 2]), "expected[1] is nan"),
    (lambda: psi([1, 2], [-1, 2]), "actual[0] is -1.0"),
    (lambda: psi([0, 0], [1, 2]), "expected is all zero"),
    (lambda: psi([1, 2], [1, 2], epsilon=-1), "epsilon must be >= 0"),
    (lambda: popularity_bins([0, 1, 2], 1), "n_bins must be at least 2"),
    (lambda: DriftMonitor([1, 9], [0, 1, 2]), "item id 9, outside 1..2"),
    (lambda: DriftMonitor([1], [0, 1, 2]).replay([1, 0], [1, 2], window=1), "sort the log by time first"),
    (lambda: DriftMonitor([1], [0, 1, 2]).replay([0, 1], [1], window=1), "times has 2 entries but items has 1"),
    (lambda: DriftMonitor([1], [0, 1, 2]).replay([0], [1], window=0), "window must be > 0"),
    (lambda: DriftMonitor([1], [0, 1, 2], warn_at=0.3, alert_at=0.2), "alert_at 0.2 is below warn_at 0.3"),
])
def test_bad_drift_input_gets_one_line_error(call, message):
    with pytest.raises(RecnegError) as info:
        call()
    assert message in str(info.value) and "\n" not in str(info.value)
