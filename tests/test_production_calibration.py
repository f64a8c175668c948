"""Tests for calibration and separability probes (recneg.production.calibration)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from recneg import RecnegError
from recneg.metrics import popularity_cohorts
from recneg.production import auc, expected_calibration_error, margin_histogram, reliability_table, score_separation

N = 40_000


def noise_bound(table, n: int, sds: float = 4.0) -> float:
    """ECE a calibrated model stays below with high probability: per bin, ``sds`` standard
    deviations of the observed rate given the predictions, sqrt(mean p(1 - p) / n_b)."""
    used = table[table["count"] > 0]
    # mean p(1 - p) <= p̄(1 - p̄) by Jensen, so the bin's mean prediction gives a valid bound.
    p = used["mean_predicted"].to_numpy()
    sd = np.sqrt(p * (1 - p) / used["count"].to_numpy())
    return float(np.sum(used["count"].to_numpy() / n * sds * sd))


@pytest.mark.parametrize("strategy", ["width", "mass"])
def test_calibrated_sample_has_ece_within_noise(strategy):
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, N)
    y = (rng.uniform(0, 1, N) < p).astype(int)
    table = reliability_table(p, y, strategy=strategy)
    ece = expected_calibration_error(p, y, strategy=strategy)
    assert ece <= noise_bound(table, N)
    # The same predictions shifted by 0.1 are far outside that bound.
    shifted = np.clip(p + 0.1, 0, 1)
    assert expected_calibration_error(shifted, y, strategy=strategy) > 3 * noise_bound(table, N)


@pytest.mark.parametrize("strategy", ["width", "mass"])
def test_known_miscalibration_gives_known_ece(strategy):
    # Half the predictions say 0.9 and come true 6 times in 10 (gap 0.3); the other half
    # say 0.2 and come true 2 times in 10 (gap 0): ECE = 0.5 · 0.3 exactly.
    p = [0.9] * 10 + [0.2] * 10
    y = [1] * 6 + [0] * 4 + [1] * 2 + [0] * 8
    assert expected_calibration_error(p, y, strategy=strategy) == pytest.approx(0.15, abs=1e-12)
    # A statistical version: true rate r, predictions r + 0.1, so every bin is 0.1 too high.
    rng = np.random.default_rng(1)
    r = rng.uniform(0.1, 0.8, N)
    y = (rng.uniform(0, 1, N) < r).astype(int)
    table = reliability_table(r + 0.1, y, strategy=strategy)
    assert expected_calibration_error(r + 0.1, y, strategy=strategy) == pytest.approx(0.1, abs=noise_bound(table, N))
    assert (table["gap"].dropna() < 0).all()


def test_reliability_table_bins():
    rng = np.random.default_rng(2)
    p = rng.uniform(0, 1, 1000)
    y = rng.integers(0, 2, 1000)
    width = reliability_table(p, y, n_bins=10)
    assert width["count"].sum() == 1000
    assert np.allclose(width["lower"], np.arange(10) / 10) and width["upper"].iloc[-1] == 1.0
    assert ((width["mean_predicted"] >= width["lower"]) & (width["mean_predicted"] < width["upper"])).all()
    ece = expected_calibration_error(p, y, n_bins=10)
    assert ece == pytest.approx(float((width["count"] / 1000 * width["gap"].abs()).sum()), rel=1e-12)
    mass = reliability_table(p, y, n_bins=10, strategy="mass")
    assert mass["count"].tolist() == [100] * 10  # distinct predictions: equal counts
    assert (mass["upper"].to_numpy()[:-1] < mass["lower"].to_numpy()[1:]).all()
    # Ties are never split between bins: 0.5 appears 600 times of 1000.
    tied = reliability_table([0.5] * 600 + [0.1] * 400, [1] * 1000, n_bins=4, strategy="mass")
    assert tied["count"].tolist() == [400, 600, 0, 0]  # bin of 0.5: floor(4 · 400 / 1000) = 1
    assert reliability_table([1.0, 0.0], [1, 0], n_bins=3)["count"].tolist() == [1, 0, 1]  # p = 1 in the last bin


def brute_force_auc(pos, neg) -> float:
    diff = np.asarray(pos, dtype=float)[:, None] - np.asarray(neg, dtype=float)[None, :]
    return float(np.mean((diff > 0) + 0.5 * (diff == 0)))


def test_auc_is_the_mann_whitney_statistic_with_ties():
    rng = np.random.default_rng(3)
    for _ in range(30):
        pos = rng.integers(0, 6, rng.integers(1, 40))  # discrete scores: many ties
        neg = rng.integers(0, 5, rng.integers(1, 40))
        value = auc(pos, neg)
        assert value == pytest.approx(brute_force_auc(pos, neg), abs=1e-12)
        u = stats.mannwhitneyu(pos, neg, alternative="two-sided").statistic
        assert value == pytest.approx(u / (len(pos) * len(neg)), abs=1e-12)
    assert auc([1.0, 1.0], [1.0]) == 0.5
    assert auc(torch.tensor([2.0, 3.0]), torch.tensor([[1.0], [4.0]])) == 0.5


def test_score_separation_per_cohort():
    rng = np.random.default_rng(4)
    B, k, n_items = 200, 8, 30
    pos = rng.integers(0, 4, B).astype(float)
    neg = rng.integers(0, 4, (B, k)).astype(float)
    items = rng.integers(1, n_items + 1, (B, k))
    cohorts = popularity_cohorts(np.r_[0, np.sort(rng.integers(1, 50, n_items))[::-1]])
    frame = score_separation(pos, neg, negative_items=items, cohorts=cohorts)
    margins = pos[:, None] - neg
    assert frame.loc["all", "auc"] == pytest.approx(float(np.mean((margins > 0) + 0.5 * (margins == 0))))
    assert frame.loc[["head", "mid", "tail"], "pairs"].sum() == frame.loc["all", "pairs"] == B * k
    tail = cohorts[items] == 2
    assert frame.loc["tail", "mean_margin"] == pytest.approx(margins[tail].mean())
    # Paired AUC of one positive per row against its negatives is the brute force per row, pooled.
    assert frame.loc["all", "auc"] == pytest.approx(np.mean([brute_force_auc(pos[[b]], neg[b]) for b in range(B)]))
    assert list(score_separation(pos, neg).index) == ["all"]
    histogram = margin_histogram(pos, neg, n_bins=7, value_range=(-3.5, 3.5))
    assert histogram["count"].tolist() == np.bincount((margins.reshape(-1) + 3).astype(int), minlength=7).tolist()
    assert histogram["share"].sum() == pytest.approx(1.0)
    # `where` keeps one cohort's pairs: the same counts as a histogram of those margins alone.
    tail_histogram = margin_histogram(pos, neg, n_bins=7, value_range=(-3.5, 3.5), where=tail)
    assert tail_histogram["count"].tolist() == np.bincount((margins[tail] + 3).astype(int), minlength=7).tolist()
    assert tail_histogram["share"].sum() == pytest.approx(1.0)


@pytest.mark.parametrize("call, message", [
    (lambda: expected_calibration_error([0.2, math.nan], [0, 1]), "probs[1] is nan"),
    (lambda: expected_calibration_error([0.2, 0.3], [0, 1, 1]), "probs has 2 entries but labels has 3"),
    (lambda: expected_calibration_error([0.2, 0.3], [0, 2]), "labels[1] is 2; labels must be 0 or 1"),
    (lambda: expected_calibration_error([0.2, 0.3], [0, 0.5]), "labels[1] is 0.5"),
    (lambda: expected_calibration_error([0.2, 1.3], [0, 1]), "probs[1] is 1.3, outside [0, 1]"),
    (lambda: expected_calibration_error([0.2], [0], strategy="quantile"), "strategy must be one of width, mass"),
    (lambda: expected_calibration_error([0.2], [0], n_bins=0), "n_bins must be positive"),
    (lambda: expected_calibration_error([], []), "probs is empty"),
    (lambda: auc([1.0, math.inf], [0.0]), "positive_scores[1] is inf"),
    (lambda: auc([1.0], ["a"]), "negative_scores must be numbers"),
    (lambda: score_separation([1.0, 2.0], [[0.0]]), "negative_scores has 1 rows but there are 2 positives"),
    (lambda: score_separation([1.0], [0.0]), "negative_scores must have 2 dimension(s)"),
    (lambda: score_separation([1.0], [[0.0]], cohorts=[-1, 0]), "cohorts need negative_items"),
    (lambda: score_separation([1.0], [[0.0]], negative_items=[[5]], cohorts=[-1, 0]), "negative item id 5 has no"),
    (lambda: margin_histogram([1.0], [[0.0, 1.0]], where=[True, False]), "where must be a boolean array of shape (1, 2)"),
    (lambda: margin_histogram([1.0], [[0.0, 1.0]], where=[[1, 0]]), "where must be a boolean array"),
    (lambda: margin_histogram([1.0], [[0.0, 1.0]], where=[[False, False]]), "where keeps no pair"),
])
def test_bad_calibration_input_gets_one_line_error(call, message):
    with pytest.raises(RecnegError) as info:
        call()
    assert message in str(info.value) and "\n" not in str(info.value)
