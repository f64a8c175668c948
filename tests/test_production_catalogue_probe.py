"""Tests for the whole-catalogue calibration probe (recneg.production.catalogue_probe)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from recneg import RecnegError
from recneg.data import EvalSet, Interactions
from recneg.production import catalogue_calibration, probability_for_loss, sampled_pairs

pytestmark = pytest.mark.usefixtures("one_thread")


class TableModel:
    """A non-sequential fake model: row u of ``table`` is user u's scores."""

    maxlen = None

    def __init__(self, table):
        self.table = torch.as_tensor(table, dtype=torch.float64)

    def score_all(self, users, histories):
        return self.table[users]


def world(n_users: int, n_items: int, targets, histories=None):
    """Every item trained (user 0 holds them all in training); test rows as given."""
    train = Interactions(np.zeros(n_items, dtype=int), np.arange(1, n_items + 1), np.arange(n_items),
                         n_users=n_users, n_items=n_items)
    histories = histories or [[] for _ in range(n_users)]
    indptr = np.concatenate([[0], np.cumsum([len(h) for h in histories])])
    test = EvalSet(users=np.arange(n_users), targets=np.asarray(targets), history_indptr=indptr,
                   history_items=np.asarray([i for h in histories for i in h], dtype=int), n_items=n_items)
    return train, test


def test_softmax_of_the_true_distribution_is_calibrated_and_a_sharpened_one_is_not():
    # Targets are drawn from softmax(scores): those probabilities are calibrated by construction.
    rng = np.random.default_rng(0)
    n_users, n_items = 3000, 12
    logits = rng.normal(0, 1.5, (n_users, n_items))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    targets = 1 + np.array([rng.choice(n_items, p=p) for p in probs])
    table = np.concatenate([np.full((n_users, 1), -1e9), logits], axis=1)
    train, test = world(n_users, n_items, targets)
    calibrated = catalogue_calibration(TableModel(table), test, train, probability="softmax", n_bins=10)
    sharpened = catalogue_calibration(TableModel(3 * table), test, train, probability="softmax", n_bins=10)
    assert calibrated["ece"] < 0.01
    assert sharpened["ece"] > 3 * calibrated["ece"] and sharpened["ece"] > 0.02
    assert calibrated["expected_positives"] == pytest.approx(1.0)
    assert calibrated["base_rate"] == pytest.approx(1 / n_items)
    # As independent sigmoids the same logits claim far more than one positive per row.
    assert catalogue_calibration(TableModel(table), test, train)["expected_positives"] > 3


def test_auc_counts_ties_as_half_and_ignores_seen_items():
    # Scores [3, 1, 1, 1, 0]: the target (item 3) ties with items 2 and 4, beats item 5;
    # item 1 is seen, so its high score must not count as a negative.
    table = np.array([[0.0, 3, 1, 1, 1, 0]])
    train, test = world(1, 5, [3], histories=[[1]])
    probe = catalogue_calibration(TableModel(table), test, train)
    assert probe["auc"] == pytest.approx((1 + 0.5 * 2) / 3)
    assert probe["expected_positives"] == pytest.approx(1 / (1 + np.exp(-1)) * 3 + 1 / (1 + np.exp(0)))


def test_a_perfect_separator_has_auc_one_in_every_cohort():
    rng = np.random.default_rng(1)
    n_users, n_items = 300, 30
    targets = rng.integers(1, n_items + 1, n_users)
    table = np.full((n_users, n_items + 1), -30.0)
    table[np.arange(n_users), targets] = 30.0
    train, test = world(n_users, n_items, targets)
    probe = catalogue_calibration(TableModel(table), test, train)
    assert probe["auc"] == 1.0
    assert probe["ece"] < 1e-9
    assert probe["expected_positives"] == pytest.approx(1.0)


def test_untrained_targets_are_skipped_and_counted():
    train = Interactions(np.array([0, 0]), np.array([1, 2]), np.arange(2), n_users=2, n_items=3)
    test = EvalSet(users=np.array([0, 1]), targets=np.array([2, 3]), history_indptr=np.array([0, 0, 0]),
                   history_items=np.array([], dtype=int), n_items=3)
    probe = catalogue_calibration(TableModel(np.zeros((2, 4))), test, train)
    assert (probe["n_rows"], probe["n_rows_skipped"]) == (1, 1)


def test_batches_do_not_change_the_result():
    rng = np.random.default_rng(2)
    table = rng.normal(size=(50, 21)).round(1)  # rounding creates ties
    targets = rng.integers(1, 21, 50)
    histories = [list(rng.choice(np.arange(1, 21), 3, replace=False)) for _ in range(50)]
    train, test = world(50, 20, targets, histories=histories)
    one = catalogue_calibration(TableModel(table), test, train, batch_size=1)
    many = catalogue_calibration(TableModel(table), test, train, batch_size=64)
    for key in ("ece", "auc", "expected_positives", "mean_probability"):
        assert one[key] == pytest.approx(many[key], rel=1e-12)
    np.testing.assert_array_equal(one["reliability"]["count"], many["reliability"]["count"])


def test_probability_follows_the_loss():
    assert [probability_for_loss(x) for x in ("bce", "gbce", "bpr", "sampled-softmax", "ce")] == \
        ["sigmoid", "sigmoid", "softmax", "softmax", "softmax"]


@pytest.mark.parametrize("kwargs, message", [
    ({"probability": "logit"}, "probability must be one of sigmoid, softmax; got 'logit'"),
    ({"n_bins": 0}, "n_bins"),
])
def test_bad_input_is_refused_in_one_line(kwargs, message):
    train, test = world(1, 3, [1])
    with pytest.raises(RecnegError, match=message) as info:
        catalogue_calibration(TableModel(np.zeros((1, 4))), test, train, **kwargs)
    assert "\n" not in str(info.value)


def test_sampled_pairs_draw_only_candidates_and_uniformly():
    # 6 items; user 0 saw items 1 and 2 (its history), user 1 saw nothing; both targets are item 3.
    # Item 6 has no training interaction, so it is never a candidate.
    train = Interactions(np.zeros(5, dtype=int), np.arange(1, 6), np.arange(5), n_users=2, n_items=6)
    test = EvalSet(users=np.array([0, 1]), targets=np.array([3, 3]), history_indptr=np.array([0, 2, 2]),
                   history_items=np.array([1, 2]), n_items=6)
    table = np.tile(np.arange(7.0), (2, 1))
    pairs = sampled_pairs(TableModel(table), test, train, num_negatives=6000, random_state=0)
    assert pairs["rows"].tolist() == [0, 1] and pairs["targets"].tolist() == [3, 3]
    assert set(pairs["negative_items"][0].tolist()) == {4, 5}
    assert set(pairs["negative_items"][1].tolist()) == {1, 2, 4, 5}
    np.testing.assert_array_equal(pairs["negative_scores"], table[0][pairs["negative_items"]])
    np.testing.assert_array_equal(pairs["positive_scores"], [3.0, 3.0])
    # Uniform over each row's candidates (chi-square at a fixed seed; 6000 draws per row).
    for row, candidates in ((0, [4, 5]), (1, [1, 2, 4, 5])):
        counts = np.array([(pairs["negative_items"][row] == c).sum() for c in candidates])
        assert stats.chisquare(counts).pvalue > 1e-3


def test_sampled_pairs_estimate_the_catalogue_auc():
    rng = np.random.default_rng(1)
    n_users, n_items = 300, 40
    table = np.concatenate([np.zeros((n_users, 1)), rng.normal(size=(n_users, n_items))], axis=1)
    targets = rng.integers(1, n_items + 1, n_users)
    train, test = world(n_users, n_items, targets)
    pairs = sampled_pairs(TableModel(table), test, train, num_negatives=400, random_state=0)
    margins = pairs["positive_scores"][:, None] - pairs["negative_scores"]
    sampled_auc = float(np.mean(margins > 0))
    exact = catalogue_calibration(TableModel(table), test, train)["auc"]
    # 120,000 pairs, correlated within rows: well inside 0.02 of the exact mean row AUC.
    assert abs(sampled_auc - exact) < 0.02


def test_sampled_pairs_skip_untrained_targets_and_refuse_bad_input():
    train = Interactions(np.zeros(2, dtype=int), np.array([1, 2]), np.arange(2), n_users=2, n_items=3)
    test = EvalSet(users=np.array([0, 1]), targets=np.array([3, 2]), history_indptr=np.array([0, 0, 0]),
                   history_items=np.array([], dtype=int), n_items=3)
    pairs = sampled_pairs(TableModel(np.zeros((2, 4))), test, train, num_negatives=2, random_state=0)
    assert pairs["rows"].tolist() == [1] and set(pairs["negative_items"].ravel().tolist()) == {1}
    with pytest.raises(RecnegError, match="num_negatives must be positive"):
        sampled_pairs(TableModel(np.zeros((2, 4))), test, train, num_negatives=0)
