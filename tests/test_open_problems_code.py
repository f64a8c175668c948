"""RankBandSampler, DrawRecorder, cold-start cohorts and preference pairs (the code behind
the open-problems chapter): exact bands, uniform draws within them, faithful records."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from recneg._errors import RecnegError
from recneg.cold_start import cohort_report, eval_rows, thin_item_cohort
from recneg.data import EvalSet, Interactions, SyntheticWorld, leave_one_out
from recneg.diagnostics import DrawRecorder
from recneg.preference_pairs import flagged_share, later_items, preference_pairs
from recneg.samplers import DNSSampler, HardnessCurriculum, RankBandSampler, UniformSampler
from recneg.samplers.base import NegativeSample


def one_user(n_items=30, items=(1,)):
    return Interactions(np.zeros(len(items), dtype=np.int64), np.array(items), np.arange(len(items)),
                        n_users=1, n_items=n_items)


# -- RankBandSampler -------------------------------------------------------------------------------
def test_band_is_the_allowed_items_at_those_ranks_best_first():
    train = one_user(items=(30, 7))                      # 30 would rank first: it is a training item
    band = RankBandSampler(low=2, high=4).fit(train)
    items, width = band.band(torch.tensor([0]), torch.tensor([30]), lambda c: c.float())
    assert items[0].tolist() == [28, 27, 26] and int(width[0]) == 3   # ranks: 29, 28, 27, 26, ...


def test_draws_are_uniform_over_the_band_chi_square():
    train = one_user(n_items=40)
    band = RankBandSampler(low=5, high=12, random_state=0).fit(train)
    neg = band.sample(torch.tensor([0]), torch.tensor([1]), 8000, scorer=lambda c: c.float())
    counts = np.bincount(neg.items.flatten().numpy(), minlength=41)
    observed = counts[29:37]                              # ranks 5..12 of ids 40, 39, ...: ids 36..29
    assert counts.sum() == observed.sum()
    assert stats.chisquare(observed).pvalue > 1e-3
    assert torch.allclose(neg.log_prob, torch.full_like(neg.log_prob, -np.log(8)))


def test_tied_scores_keep_the_band_width_and_never_an_excluded_item():
    train = one_user(n_items=20, items=(1, 2, 3))
    band = RankBandSampler(low=1, high=6, random_state=0).fit(train)
    neg = band.sample(torch.tensor([0]), torch.tensor([1]), 600, scorer=lambda c: torch.zeros(c.shape))
    drawn = set(neg.items.flatten().tolist())
    assert len(drawn) == 6 and not drawn & {0, 1, 2, 3}


def test_short_rows_use_the_band_they_have():
    train = one_user(n_items=6, items=(1, 2))            # 4 allowed items
    band = RankBandSampler(low=3, high=10, random_state=0).fit(train)
    neg = band.sample(torch.tensor([0]), torch.tensor([1]), 300, scorer=lambda c: c.float())
    assert set(neg.items.flatten().tolist()) == {3, 4}   # ranks 3..4 of 6, 5, 4, 3
    far = RankBandSampler(low=9, high=10, random_state=0).fit(train)
    assert set(far.sample(torch.tensor([0]), torch.tensor([1]), 50, scorer=lambda c: c.float()).items
               .flatten().tolist()) == {3}


def test_bad_bands_are_refused():
    with pytest.raises(RecnegError, match="high=3 is below low=5"):
        RankBandSampler(low=5, high=3)
    with pytest.raises(RecnegError, match="low"):
        RankBandSampler(low=0)


# -- DrawRecorder -----------------------------------------------------------------------------------
def test_recorder_counts_training_draws_and_forwards_the_curriculum_epoch():
    world = SyntheticWorld(n_users=60, n_items=50, random_state=0)
    split = leave_one_out(world.generate())
    flags = world.false_negative_mask(split.train)
    recorder = DrawRecorder(HardnessCurriculum(UniformSampler(), DNSSampler(), warmup_epochs=1, ramp_epochs=1),
                            flags=flags).fit(split.train)
    users, pos = torch.as_tensor(split.train.users[:64]), torch.as_tensor(split.train.items[:64])
    for epoch in (1, 2):
        recorder.on_epoch_start(epoch)
        assert recorder.base_.epoch == epoch - 1
        drawn = recorder.sample(users, pos, 3, scorer=lambda c: c.float())
        recorder.learn_from_batch(users, pos, drawn, None)
        expected = flags[users.numpy()[:, None], drawn.items.numpy()].sum()
        assert recorder.history_[-1]["flagged"] == expected
    assert int(recorder.item_draws_.sum()) == 2 * 64 * 3
    assert list(recorder.history().epoch) == [1, 2]


def test_recorder_refuses_flags_of_another_shape():
    with pytest.raises(RecnegError, match="flags has shape"):
        DrawRecorder(UniformSampler(), flags=np.zeros((1, 3), dtype=bool)).fit(one_user())
    with pytest.raises(RecnegError, match="boolean"):
        DrawRecorder(UniformSampler(), flags=np.zeros((1, 31)))


# -- cold-start cohorts ------------------------------------------------------------------------------
def test_thinned_cohort_keeps_the_earliest_interactions_only():
    split = leave_one_out(SyntheticWorld(n_users=80, n_items=60, random_state=1).generate())
    thinned, cohort = thin_item_cohort(split, fraction=0.2, keep=2, random_state=3)
    counts, before = thinned.train.item_counts(), split.train.item_counts()
    assert cohort.sum() == 12 and (counts[cohort] == 2).all() and (counts[~cohort] == before[~cohort]).all()
    train = split.train
    for item in np.flatnonzero(cohort)[:3]:
        times = np.sort(train.timestamps[train.items == item])[:2]
        assert np.array_equal(np.sort(thinned.train.timestamps[thinned.train.items == item]), times)
    assert thinned.info["cold_cohort"]["removed"] == int(before[cohort].sum() - 2 * cohort.sum())
    with pytest.raises(RecnegError, match="fewer than the cohort"):
        thin_item_cohort(split, fraction=0.9, keep=50)


def test_eval_rows_and_cohort_report_on_a_known_ranking():
    train = Interactions(np.array([0, 1, 2]), np.array([1, 2, 3]), np.arange(3), n_users=3, n_items=5)
    test = EvalSet(np.array([0, 1, 2]), np.array([5, 4, 5]), np.array([0, 1, 2, 3]), np.array([1, 2, 3]), n_items=5)

    class ByItemId:
        maxlen = None

        def score_all(self, users, histories):
            return torch.arange(6.0).repeat(len(users), 1)

    cohort = np.array([False, False, False, False, False, True])
    report = cohort_report(ByItemId(), test, train, cohort, k=1, candidates="all")
    assert report["rows"] == 2 and report["hr@1"] == 1.0 and report["top_share@1"] == 1.0
    trained = cohort_report(ByItemId(), test, train, cohort, k=1)      # item 5 has no training row
    assert trained["hr@1"] == 0.0 and trained["top_share@1"] == 0.0
    assert eval_rows(test, [2]).history(0).tolist() == [3]


# -- preference pairs ---------------------------------------------------------------------------------
def test_pairs_exclude_training_items_and_the_chosen_one_and_count_false_preferences():
    world = SyntheticWorld(n_users=50, n_items=40, random_state=0)
    split = leave_one_out(world.generate())
    later = later_items(split)
    pairs = preference_pairs(UniformSampler().fit(split.train), split.test, random_state=0)
    seen = split.train.user_item_set()
    users, rejected = torch.tensor(pairs.user.to_numpy()), torch.tensor(pairs.rejected.to_numpy())
    assert not seen.contains(users, rejected).any() and (pairs.rejected != pairs.chosen).all()
    share = flagged_share(later, users, rejected)
    assert share == pytest.approx(np.mean([(u, r) in set(zip(split.valid.users, split.valid.targets))
                                           for u, r in zip(pairs.user, pairs.rejected)]))
    with pytest.raises(RecnegError, match="needs a scorer"):
        preference_pairs(DNSSampler().fit(split.train), split.test)


def test_recorder_sums_the_weights_the_loss_gives_each_draw():
    # Re-weighting samplers draw uniformly and weight in the loss: the weighted record must
    # follow the weights (repeated items, ties and a zero weight included), the count must not.
    split = leave_one_out(SyntheticWorld(n_users=40, n_items=30, random_state=0).generate())
    recorder = DrawRecorder(UniformSampler(random_state=0)).fit(split.train)
    users, pos = torch.tensor([0, 1]), torch.tensor([1, 2])
    items = torch.tensor([[5, 5, 7], [7, 9, 5]])
    weights = torch.tensor([[2.0, 2.0, 0.0], [0.5, 1.0, 2.0]])
    drawn = NegativeSample(items, torch.zeros_like(weights), weights)
    recorder.on_epoch_start(1)
    recorder.learn_from_batch(users, pos, drawn, None)
    assert recorder.item_draws_[[5, 7, 9]].tolist() == [3.0, 2.0, 1.0]
    assert recorder.item_weights_[[5, 7, 9]].tolist() == [6.0, 0.5, 1.0]
    assert recorder.item_weights_.sum() == weights.sum()
    unweighted = NegativeSample(items, torch.zeros_like(weights))
    recorder.learn_from_batch(users, pos, unweighted, None)
    assert recorder.item_weights_[[5, 7, 9]].tolist() == [9.0, 2.5, 2.0]
