"""Tests of the sampler diagnostics against hand-computed values and known distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from recneg import RecnegError
from recneg.data import SyntheticWorld
from recneg.diagnostics import (
    _padded_histories,
    false_negative_rate,
    negative_popularity_profile,
    sampling_throughput,
)
from recneg.metrics import popularity_cohorts
from recneg.samplers import NegativeSample, NegativeSampler
from recneg.samplers.base import is_excluded


# -- test-local samplers: small, exact, and independent of recneg.samplers.static ----------
class FixedSampler(NegativeSampler):
    """Always the items 1..k: a deterministic sampler for hand-computed expectations."""

    def _sample(self, users, positives, k, *, per_position, scorer, generator):
        items = torch.arange(1, k + 1).expand(len(users), k).clone()
        return NegativeSample(items, torch.zeros(items.shape))


class UniformRejection(NegativeSampler):
    """Uniform over the catalogue; with exclusion, rejection rounds until all are valid."""

    def _sample(self, users, positives, k, *, per_position, scorer, generator):
        items = torch.randint(1, self.n_items_ + 1, (len(users), k), generator=generator)
        bad = is_excluded(self, users, positives, items)
        while bad.any():
            items[bad] = torch.randint(1, self.n_items_ + 1, (int(bad.sum()),), generator=generator)
            bad = is_excluded(self, users, positives, items)
        return NegativeSample(items, torch.full(items.shape, -math.log(self.n_items_)))


class ProportionalToCount(NegativeSampler):
    """Probability proportional to training count; with exclusion, rejection rounds."""

    def _fit(self, train):
        self.probs_ = self.item_counts_ / self.item_counts_.sum()

    def _draw(self, n, generator):
        return torch.multinomial(self.probs_, n, replacement=True, generator=generator)

    def _sample(self, users, positives, k, *, per_position, scorer, generator):
        items = self._draw(len(users) * k, generator).reshape(len(users), k)
        bad = is_excluded(self, users, positives, items)
        while bad.any():
            items[bad] = self._draw(int(bad.sum()), generator)
            bad = is_excluded(self, users, positives, items)
        return NegativeSample(items, torch.log(self.probs_[items]))


class HighestScore(NegativeSampler):
    """Scores all items through the scorer and returns the k best: needs a scorer."""

    family = "dynamic"
    needs_scorer = True

    def _sample(self, users, positives, k, *, per_position, scorer, generator):
        candidates = torch.arange(1, self.n_items_ + 1).expand(len(users), self.n_items_)
        items = candidates.gather(1, scorer(candidates).topk(k, dim=1).indices)
        return NegativeSample(items, torch.zeros(items.shape))


@pytest.fixture(scope="module")
def world_and_log():
    world = SyntheticWorld(n_users=200, n_items=150, random_state=5)
    return world, world.generate()


@pytest.fixture(scope="module")
def tiny():
    world = SyntheticWorld(n_users=40, n_items=60, random_state=1)
    return world, world.generate()


# -- false_negative_rate -----------------------------------------------------------------
def test_false_negative_rate_matches_hand_computation(tiny):
    world, log = tiny
    # Train = all but the last interaction of each user, so those items are liked-unobserved.
    order = log.time_order()
    last = np.r_[log.users[order][1:] != log.users[order][:-1], True]
    train = log.subset(np.isin(np.arange(len(log)), order[~last]))
    k, rounds = 4, 3
    result = false_negative_rate(
        FixedSampler(exclude_positives=False), world, train, num_negatives=k, n_rounds=rounds
    )
    liked = world.liked_mask(np.arange(world.n_users))
    seen = np.zeros_like(liked)
    seen[train.users, train.items] = True
    per_user = (liked[:, 1 : k + 1] & ~seen[:, 1 : k + 1]).sum(axis=1)  # same items each round
    expected_fn = int(per_user.sum()) * rounds
    n = world.n_users * k * rounds
    assert result["negatives"] == n
    assert result["false_negatives"] == expected_fn
    assert result["rate"] == pytest.approx(expected_fn / n)
    p = expected_fn / n
    assert result["stderr"] == pytest.approx(math.sqrt(p * (1 - p) / n))
    # The cluster standard error of a ratio estimator, written out.
    m = world.n_users
    resid = per_user * rounds - p * k * rounds
    assert result["stderr_by_user"] == pytest.approx(math.sqrt(m / (m - 1) * (resid**2).sum()) / n)
    unobserved = (~seen[:, 1:]).sum(axis=1)
    assert result["uniform_rate"] == pytest.approx(((liked & ~seen)[:, 1:].sum(axis=1) / unobserved).mean())
    assert result["sampler"] == "fixed"


class WeightedFixed(NegativeSampler):
    """Items 1..k for every user, the first weighing 3 and the rest 1 (repeated, discrete weights)."""

    family = "static"

    def _sample(self, users, positives, k, *, per_position, scorer, generator):
        items = torch.arange(1, k + 1).expand(len(users), k)
        weights = torch.ones(items.shape)
        weights[:, 0] = 3.0
        return NegativeSample(items, torch.zeros(items.shape), weights=weights)


def test_weighted_false_negative_rate_weighs_each_draw(tiny):
    world, log = tiny
    k = 3
    plain = false_negative_rate(FixedSampler(exclude_positives=False), world, log, num_negatives=k, n_rounds=2)
    weighted = false_negative_rate(WeightedFixed(exclude_positives=False), world, log, num_negatives=k, n_rounds=2)
    assert plain["weighted_rate"] == pytest.approx(plain["rate"])
    fn = world.false_negative_mask(log)[:, 1:k + 1]
    users = np.unique(log.users)
    w = np.array([3.0, 1.0, 1.0])
    expected = (fn[users] * w).sum() / (len(users) * w.sum())
    assert weighted["weighted_rate"] == pytest.approx(expected)
    assert weighted["rate"] == pytest.approx(plain["rate"])


def test_false_negative_rate_of_uniform_matches_expectation(world_and_log):
    world, log = world_and_log
    result = false_negative_rate(
        UniformRejection(random_state=0), world, log, num_negatives=20, n_rounds=5, random_state=1
    )
    # 20,000 draws; the binomial SE bounds the SE of these conditionally independent draws.
    assert abs(result["rate"] - result["uniform_rate"]) < 4 * result["stderr"]
    assert 0.05 < result["rate"] < 0.30


def test_popularity_sampling_draws_more_false_negatives(world_and_log):
    world, log = world_and_log
    uni = false_negative_rate(UniformRejection(), world, log, num_negatives=20, n_rounds=5)
    pop = false_negative_rate(ProportionalToCount(), world, log, num_negatives=20, n_rounds=5)
    # Popular items are liked by more users (popularity_bias), so among each user's
    # unobserved items the popular ones are more often liked.
    margin = 4 * math.hypot(uni["stderr_by_user"], pop["stderr_by_user"])
    assert pop["rate"] > uni["rate"] + margin


def test_false_negative_rate_is_reproducible(tiny):
    world, log = tiny
    a = false_negative_rate(UniformRejection(), world, log, n_rounds=2, random_state=3)
    b = false_negative_rate(UniformRejection(), world, log, n_rounds=2, random_state=3)
    assert a == b


def test_false_negative_rate_with_users_and_batches(tiny):
    world, log = tiny
    users = np.array([3, 7, 7, 11])
    small = false_negative_rate(FixedSampler(exclude_positives=False), world, log, users=users,
                                num_negatives=5, n_rounds=2, batch_size=3)
    liked = world.false_negative_mask(log)
    assert small["false_negatives"] == 2 * int(liked[users][:, 1:6].sum())
    assert small["negatives"] == 2 * 4 * 5


# -- negative_popularity_profile ---------------------------------------------------------
def test_profile_of_uniform_matches_catalogue_cohort_shares(world_and_log):
    _, log = world_and_log
    profile = negative_popularity_profile(
        UniformRejection(exclude_positives=False), log, num_negatives=10, n_batches=8, batch_size=100
    )
    row = profile.iloc[0]
    n = int(row["negatives"])
    assert n == 8000
    catalogue = profile.attrs["catalogue_shares"]
    assert sum(catalogue.values()) == pytest.approx(1.0)
    observed = np.array([row["head_share"], row["mid_share"], row["tail_share"]]) * n
    expected = np.array([catalogue["head"], catalogue["mid"], catalogue["tail"]]) * n
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    # Midrank percentiles of a uniform item have mean 50 and SD 100/sqrt(12).
    assert abs(row["mean_percentile"] - 50.0) < 4 * (100 / math.sqrt(12)) / math.sqrt(n)
    assert row["q10"] <= row["q25"] <= row["median_count"] <= row["q75"] <= row["q90"]


def test_profile_of_whole_catalogue_is_exact(tiny):
    # Drawing every item exactly once per user gives the catalogue's own statistics.
    _, log = tiny
    counts = log.item_counts()[1:].astype(float)
    row = negative_popularity_profile(FixedSampler(exclude_positives=False), log,
                                      num_negatives=log.n_items, n_batches=2, batch_size=3).iloc[0]
    assert row["negatives"] == 2 * 3 * log.n_items
    assert row["mean_percentile"] == pytest.approx(50.0)
    assert row["mean_count"] == pytest.approx(counts.mean())
    assert row["median_count"] == pytest.approx(np.median(counts))
    assert row["q90"] == pytest.approx(np.quantile(counts, 0.9))
    catalogue = negative_popularity_profile(FixedSampler(exclude_positives=False), log,
                                            n_batches=1).attrs["catalogue_shares"]
    assert [row["head_share"], row["mid_share"], row["tail_share"]] == pytest.approx(
        [catalogue["head"], catalogue["mid"], catalogue["tail"]])


def test_profile_of_popularity_sampler_matches_interaction_shares(world_and_log):
    _, log = world_and_log
    counts = log.item_counts()
    cohorts = popularity_cohorts(counts)
    # Index 0 is padding (cohort -1); shares are over real items only.
    interaction_shares = np.bincount(cohorts[1:], weights=counts[1:], minlength=3) / counts.sum()
    profile = negative_popularity_profile(
        {"uniform": UniformRejection(exclude_positives=False),
         "popularity": ProportionalToCount(exclude_positives=False)},
        log, num_negatives=10, n_batches=8, batch_size=100, random_state=2,
    )
    assert list(profile.index) == ["uniform", "popularity"]
    pop = profile.loc["popularity"]
    n = int(pop["negatives"])
    observed = np.array([pop["head_share"], pop["mid_share"], pop["tail_share"]]) * n
    assert stats.chisquare(observed, interaction_shares * n).pvalue > 1e-3
    assert pop["head_share"] > profile.loc["uniform", "head_share"]
    assert pop["mean_count"] > profile.loc["uniform", "mean_count"]
    # Popularity-proportional draws weight an item's count by the count itself:
    # E[count] = sum c^2 / sum c.
    expected_mean = (counts.astype(float) ** 2).sum() / counts.sum()
    sd = math.sqrt((counts.astype(float) ** 3).sum() / counts.sum() - expected_mean**2)
    assert abs(pop["mean_count"] - expected_mean) < 4 * sd / math.sqrt(n)


def test_profile_accepts_split_and_is_reproducible(world_and_log):
    from recneg.data import EvalSet, Split

    _, log = world_and_log
    empty = EvalSet(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(1, np.int64),
                    np.zeros(0, np.int64), log.n_items)
    split = Split(log, empty, empty, "leave-one-out")
    a = negative_popularity_profile(UniformRejection(), split, n_batches=2, random_state=4)
    b = negative_popularity_profile(UniformRejection(), log, n_batches=2, random_state=4)
    assert a.equals(b)
    assert a.index[0] == "uniformrejection"


def test_cohorts_used_by_the_diagnostics_on_a_hand_example():
    counts = np.array([0, 5, 3, 1, 1, 0])
    # Sorted by count: item 1 covers interactions 0-4 (first third -> head), item 2 starts
    # at 5 of 10 (second third -> mid), items 3 and 4 start at 8 and 9 (tail), item 5 unseen.
    assert popularity_cohorts(counts)[1:].tolist() == [0, 1, 2, 2, 2]


# -- scorers -------------------------------------------------------------------------------
def test_scorer_as_function_of_users(tiny):
    world, log = tiny
    calls = []

    def scorer_for(users):
        calls.append(users.clone())
        # Score = -item id, so the "hardest" negatives are always items 1..k.
        return lambda candidates: -candidates.double()

    hard = HighestScore(exclude_positives=False)
    profile = negative_popularity_profile(hard, log, num_negatives=3, n_batches=2, batch_size=5,
                                          scorer=scorer_for)
    assert len(calls) == 2 and all(len(c) == 5 for c in calls)
    fixed = false_negative_rate(FixedSampler(exclude_positives=False), world, log, num_negatives=3,
                                n_rounds=1)
    scored = false_negative_rate(HighestScore(exclude_positives=False), world, log, num_negatives=3,
                                 n_rounds=1, scorer=scorer_for)
    assert scored["false_negatives"] == fixed["false_negatives"]
    counts = log.item_counts()
    assert profile.iloc[0]["mean_count"] == pytest.approx(counts[1:4].mean())


class _FakeModel(torch.nn.Module):
    maxlen = 4

    def __init__(self):
        super().__init__()
        self.seen = []

    def score_all(self, users, histories):
        raise AssertionError("diagnostics should go through scorer()")

    def scorer(self, users, histories):
        self.seen.append(histories)
        return lambda candidates: -candidates.double()


def test_model_scorer_gets_last_training_items(tiny):
    _, log = tiny
    model = _FakeModel()
    negative_popularity_profile(HighestScore(exclude_positives=False), log, users=[0, 1],
                                num_negatives=2, n_batches=1, batch_size=4, scorer=model)
    (histories,) = model.seen
    assert histories.shape == (4, 4)
    sequences = log.sequences()
    for row in histories:
        nonzero = row[row > 0].numpy()
        assert any(np.array_equal(nonzero, s[-4:]) for s in sequences[:2])


def test_padded_histories_left_pad_short_users(tiny):
    _, log = tiny
    sequences = log.sequences()
    users = torch.tensor([0, 5])
    out = _padded_histories(log, users, maxlen=100)
    for row, u in zip(out, users.tolist()):
        seq = sequences[u]
        assert (row[: 100 - len(seq)] == 0).all()
        assert np.array_equal(row[100 - len(seq):].numpy(), seq)


# -- throughput ----------------------------------------------------------------------------
def test_sampling_throughput_counts_negatives(tiny):
    _, log = tiny
    sampler = UniformRejection(exclude_positives=False).fit(log)
    rate = sampling_throughput(sampler, torch.arange(10), torch.ones(10, 3, dtype=torch.long), 7,
                               repeats=3, per_position=True)
    assert isinstance(rate, float) and rate > 0


# -- validation ----------------------------------------------------------------------------
def test_errors(tiny, world_and_log):
    world, log = tiny
    big_world, big_log = world_and_log
    with pytest.raises(RecnegError, match="Split or the training Interactions"):
        negative_popularity_profile(UniformRejection(), log.to_frame())
    with pytest.raises(RecnegError, match="fitted on 200 users x 150 items"):
        negative_popularity_profile(UniformRejection().fit(big_log), log)
    with pytest.raises(RecnegError, match="user id 40"):
        negative_popularity_profile(UniformRejection(), log, users=[40])
    with pytest.raises(RecnegError, match="world has 40 x 60"):
        false_negative_rate(UniformRejection(), world, big_log)
    with pytest.raises(RecnegError, match="SyntheticWorld"):
        false_negative_rate(UniformRejection(), "world", log)
    with pytest.raises(RecnegError, match="n_rounds"):
        false_negative_rate(UniformRejection(), world, log, n_rounds=0)
    with pytest.raises(RecnegError, match="num_negatives"):
        negative_popularity_profile(UniformRejection(), log, num_negatives=0)
    with pytest.raises(RecnegError, match="NegativeSampler"):
        negative_popularity_profile(object(), log)
    with pytest.raises(RecnegError, match="needs a scorer"):
        negative_popularity_profile(HighestScore(), log)
    with pytest.raises(RecnegError, match="not fitted"):
        sampling_throughput(UniformRejection(), torch.arange(3), torch.ones(3, dtype=torch.long), 2)
    with pytest.raises(RecnegError, match="empty"):
        negative_popularity_profile({}, log)
    # A user without training interactions cannot get a positive.
    train = log.subset(log.users != 0)
    with pytest.raises(RecnegError, match="user 0 has no training interactions"):
        false_negative_rate(UniformRejection(), world, train, users=[0, 1])


# -- the real samplers, when the static family is present ----------------------------------
def test_real_static_samplers_if_available(world_and_log):
    static = pytest.importorskip("recneg.samplers.static")
    world, log = world_and_log
    uni = false_negative_rate(static.UniformSampler(exclude_positives=True, random_state=0),
                              world, log, num_negatives=20, n_rounds=5)
    assert abs(uni["rate"] - uni["uniform_rate"]) < 4 * uni["stderr"]
    pop = false_negative_rate(static.PopularitySampler(alpha=1.0, random_state=0),
                              world, log, num_negatives=20, n_rounds=5)
    assert pop["rate"] > uni["rate"]


def test_sequential_model_scorer_scores_the_next_item_per_user(tiny):
    # One positive per user: a SASRec scorer must give (B, P) scores from the state after
    # the whole history, so samplers that need 1-D-positive scores (DNS, debiased
    # weighting) work with a sequential model.
    from recneg.models import SASRec
    from recneg.samplers import DebiasedWeightingSampler, DNSSampler

    world, log = tiny
    model = SASRec(n_items=log.n_items, hidden=8, n_blocks=1, n_heads=1, maxlen=6).eval()
    for sampler in (DNSSampler(n_candidates=4, random_state=0),
                    DebiasedWeightingSampler(random_state=0)):
        result = false_negative_rate(sampler, world, log, num_negatives=3, n_rounds=1,
                                     batch_size=8, scorer=model)
        assert 0.0 <= result["rate"] <= 1.0
    users = torch.arange(4)
    histories = _padded_histories(log, users, 6)
    from recneg.diagnostics import _batch_scorer
    candidates = torch.randint(1, log.n_items + 1, (4, 5))
    scores = _batch_scorer(model, log, users)(candidates)
    assert scores.shape == (4, 5)
    with torch.no_grad():
        last = model(histories)[:, -1]
        expected = (model.item_embedding(candidates) * last[:, None, :]).sum(-1)
    assert torch.allclose(scores, expected, atol=1e-5)
