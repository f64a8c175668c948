"""Tests for the adaptive (dynamic) samplers: the top-k of a scored pool."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from recneg import RecnegError
from recneg.data import Interactions
from recneg.samplers import AdaptiveMixedSampler, AdaptiveSampler, InBatchSampler, PopularitySampler, UniformSampler
from recneg.samplers.adaptive import select_hardest
from recneg.samplers.base import NegativeSample

P_THRESHOLD = 1e-3  # see tests/test_samplers_static.py


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def train() -> Interactions:
    pairs = [(0, 1), (0, 2), (0, 3), (1, 1), (1, 4), (2, 5), (2, 6), (3, 1), (3, 7)]
    users = np.array([u for u, _ in pairs])
    items = np.array([i for _, i in pairs])
    return Interactions(users, items, np.arange(len(pairs)), n_users=4, n_items=30, name="toy")


class RecordingScorer:
    """Scores candidates by a fixed item-score table and remembers the pools it saw."""

    def __init__(self, item_scores: torch.Tensor, per_position: int | None = None):
        self.item_scores = item_scores
        self.per_position = per_position
        self.pools = []
        self.grad_enabled = []

    def __call__(self, cand: torch.Tensor) -> torch.Tensor:
        self.pools.append(cand.clone())
        self.grad_enabled.append(torch.is_grad_enabled())
        if self.per_position is None:
            return self.item_scores[cand]
        # Position l prefers items close to 3·l: a different ranking at every position.
        centres = 3.0 * torch.arange(self.per_position, dtype=torch.float64).reshape(1, -1, 1)
        return -(cand.unsqueeze(1).double() - centres).abs()


def test_keeps_the_top_k_of_the_pool(train):
    scores = torch.randn(31, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    scorer = RecordingScorer(scores)
    sampler = AdaptiveSampler(oversampling=5, random_state=0).fit(train)
    users, positives = torch.tensor([0, 1, 2]), torch.tensor([1, 4, 5])
    neg = sampler.sample(users, positives, 3, scorer=scorer)
    pool = scorer.pools[0]
    assert pool.shape == (3, 15) and neg.items.shape == (3, 3)
    expected = pool.gather(1, scores[pool].topk(3, dim=1).indices)
    assert torch.equal(neg.items, expected)
    assert scorer.grad_enabled == [False]
    # log_prob is the uniform pool proposal's: 1 / (30 - |I_u|).
    sizes = torch.tensor([3, 2, 2])
    assert torch.allclose(neg.log_prob, -torch.log(30.0 - sizes).float().unsqueeze(1).expand(-1, 3))


def test_per_position_scores_select_per_position(train):
    L = 4
    scorer = RecordingScorer(None, per_position=L)
    sampler = AdaptiveSampler(oversampling=6, random_state=1).fit(train)
    users = torch.tensor([0, 3])
    positives = torch.tensor([[1, 2, 3, 0], [1, 7, 0, 0]])
    neg = sampler.sample(users, positives, 2, per_position=True, scorer=scorer)
    assert neg.items.shape == (2, L, 2)
    pool = scorer.pools[0]
    assert pool.shape == (2, 12)
    for b in range(2):
        for pos in range(L):
            distance = (pool[b].double() - 3.0 * pos).abs()
            best = sorted(distance.tolist())[:2]
            got = sorted((neg.items[b, pos].double() - 3.0 * pos).abs().tolist())
            assert got == best
            assert set(neg.items[b, pos].tolist()) <= set(pool[b].tolist())


def test_shared_negatives_rank_by_mean_score_over_real_positions(train):
    # Positions 0..1 are real, 2..3 padding; padding positions love item 30 and must not count.
    pools = []

    def scorer(cand):
        pools.append(cand)
        real = -cand.double()  # prefer low ids
        padding = torch.where(cand == 30, 1e6, 0.0).double()
        return torch.stack([real, real, padding, padding], dim=1)

    sampler = AdaptiveSampler(oversampling=30, random_state=2).fit(train)
    neg = sampler.sample(torch.tensor([0, 0]), torch.tensor([[2, 3, 0, 0], [2, 3, 0, 0]]), 1, scorer=scorer)
    assert neg.items.shape == (2, 1)
    assert neg.items.flatten().tolist() == pools[0].min(dim=1).values.tolist()
    assert (pools[0] == 30).any(), "the pool should contain the padding positions' favourite"


def test_non_sequential_scorer_with_per_position_shares_the_choice(train):
    sampler = AdaptiveSampler(oversampling=3, random_state=3).fit(train)
    neg = sampler.sample(torch.tensor([0, 1]), torch.tensor([[1, 2], [4, 0]]), 2, per_position=True,
                         scorer=lambda cand: cand.double())
    assert neg.items.shape == (2, 2, 2)
    assert torch.equal(neg.items[:, 0], neg.items[:, 1])


def test_dns_selection_follows_the_max_of_m_uniform_draws():
    # One negative, pool of M uniform draws, scorer = item id: the result is the maximum
    # of M uniforms on 1..N, P(X <= j) = (j / N)^M.
    N, M = 10, 3
    train = Interactions(np.array([0]), np.array([1]), np.arange(1), n_users=1, n_items=N)
    sampler = AdaptiveSampler(oversampling=M, exclude_positives=False, random_state=4).fit(train)
    users = torch.zeros(20_000, dtype=torch.long)
    neg = sampler.sample(users, torch.ones(20_000, dtype=torch.long), 1, scorer=lambda c: c.double())
    counts = torch.bincount(neg.items.flatten(), minlength=N + 1)[1:].numpy()
    j = np.arange(1, N + 1)
    expected = ((j / N) ** M - ((j - 1) / N) ** M) * len(users)
    assert stats.chisquare(counts, expected).pvalue > P_THRESHOLD


def test_never_returns_positives_with_any_base(train):
    users = torch.tensor([0, 1, 2, 3, 0])
    positives = torch.tensor([[1, 2], [1, 4], [5, 6], [7, 0], [3, 9]])  # 9: an extra target
    seen = train.user_item_set()
    for base in (None, PopularitySampler(alpha=0.5, smoothing=1.0), InBatchSampler()):
        sampler = AdaptiveSampler(oversampling=4, base=base, random_state=5).fit(train)
        for per_position in (False, True):
            neg = sampler.sample(users, positives, 5, per_position=per_position,
                                 scorer=lambda cand: torch.rand(cand.shape, dtype=torch.float64))
            flat = neg.items.reshape(5, -1)
            assert not seen.contains(users, flat).any()
            assert not (flat.unsqueeze(-1) == positives.unsqueeze(1)).any()
            assert (flat > 0).all() and torch.isfinite(neg.log_prob).all()


def test_oversampling_one_keeps_the_whole_pool(train):
    sampler = AdaptiveSampler(oversampling=1, random_state=6).fit(train)
    scorer = RecordingScorer(torch.arange(31, dtype=torch.float64))
    neg = sampler.sample(torch.tensor([0]), torch.tensor([1]), 4, scorer=scorer)
    assert sorted(neg.items[0].tolist()) == sorted(scorer.pools[0][0].tolist())


def test_adaptive_mixed_pool_comes_from_the_mixed_sampler(train):
    sampler = AdaptiveMixedSampler(oversampling=4, in_batch_fraction=0.5, random_state=7).fit(train)
    users, positives = torch.tensor([0, 1, 2, 3]), torch.tensor([1, 4, 5, 7])
    scorer = RecordingScorer(-torch.arange(31, dtype=torch.float64))  # prefers low ids
    neg = sampler.sample(users, positives, 2, scorer=scorer)
    pool = scorer.pools[0]
    assert pool.shape == (4, 8)
    # The first half of each pool is in-batch: items of the batch only.
    assert set(pool[:, :4].flatten().tolist()) <= {1, 4, 5, 7}
    expected_log_prob = sampler.base_.mixture_log_prob(users, positives, neg.items, 8).float()
    assert torch.allclose(neg.log_prob, expected_log_prob)
    assert torch.equal(neg.items, pool.gather(1, (-pool.double()).topk(2, dim=1).indices))


def test_same_seed_same_negatives(train):
    scorer = lambda cand: (cand * 7 % 11).double()  # noqa: E731
    a = AdaptiveMixedSampler(random_state=8).fit(train).sample(torch.tensor([0, 1]), torch.tensor([1, 4]), 3, scorer=scorer)
    b = AdaptiveMixedSampler(random_state=8).fit(train).sample(torch.tensor([0, 1]), torch.tensor([1, 4]), 3, scorer=scorer)
    assert torch.equal(a.items, b.items)


def test_select_hardest_validates():
    pool = NegativeSample(torch.tensor([[3, 4, 5]]), torch.full((1, 3), -math.log(3)))
    with pytest.raises(RecnegError, match="returned 2 scores per row for a pool of 3"):
        select_hardest(pool, torch.zeros(1, 2), 1)
    with pytest.raises(RecnegError, match="cannot keep k=4 of a pool of 3"):
        select_hardest(pool, torch.zeros(1, 3), 4)


def test_errors(train):
    with pytest.raises(RecnegError, match="oversampling must be positive, got 0"):
        AdaptiveSampler(oversampling=0)
    with pytest.raises(RecnegError, match="base must be a sampler that needs no scorer"):
        AdaptiveSampler(base=AdaptiveSampler())
    with pytest.raises(RecnegError, match="in_batch_fraction"):
        AdaptiveMixedSampler(in_batch_fraction=2)
    sampler = AdaptiveSampler(random_state=0).fit(train)
    with pytest.raises(RecnegError, match="needs a scorer"):
        sampler.sample(torch.tensor([0]), torch.tensor([1]), 2)
    with pytest.raises(RecnegError, match="scores of shape \\(1, 3\\) for candidates of shape \\(1, 8\\)"):
        sampler.sample(torch.tensor([0]), torch.tensor([1]), 2, scorer=lambda cand: torch.zeros(1, 3))
    assert AdaptiveSampler.family == "dynamic" and AdaptiveSampler.needs_scorer
    assert UniformSampler.family == "static"


# -- pinned draws -------------------------------------------------------------------------
# The case study's published results (results/case_ml100k_loo.*) were produced with the
# "adaptive" and "adaptive-mixed" samplers; these are their draws for fixed seeds as they
# were when the results were made. A refactoring that changes any of them changes what
# those results mean.
def _pin_world():
    rng = np.random.default_rng(0)
    train = Interactions(rng.integers(0, 4, 30), rng.integers(1, 31, 30), np.arange(30), n_users=4, n_items=30,
                         name="pin")
    users = torch.tensor([0, 1, 2, 3])
    targets = torch.tensor([[0, 3, 5], [1, 2, 3], [0, 0, 9], [11, 12, 13]])
    return train, users, targets


def _position_scorer(candidates):
    item_score = torch.randn(31, generator=torch.Generator().manual_seed(5))
    position = torch.arange(3, dtype=torch.float32).reshape(1, -1, 1)
    cand = candidates.unsqueeze(1) if candidates.dim() == 2 else candidates
    return item_score[cand] * (1 + position) - 0.1 * position * cand.float()


PINNED_TABLE = {
    (AdaptiveSampler, False): [[18, 1], [18, 12], [18, 5], [20, 9]],
    (AdaptiveSampler, True): [[[18, 22], [18, 1], [18, 1]], [[18, 12], [18, 12], [18, 12]],
                              [[18, 25], [18, 25], [18, 5]], [[20, 9], [20, 9], [20, 5]]],
    (AdaptiveSampler, "mf"): [[18, 22], [18, 12], [18, 25], [20, 9]],
    (AdaptiveMixedSampler, False): [[18, 11], [9, 5], [11, 11], [9, 9]],
    (AdaptiveMixedSampler, True): [[[18, 24], [18, 11], [18, 11]], [[21, 9], [9, 5], [5, 9]],
                                   [[24, 11], [11, 11], [11, 11]], [[9, 9], [9, 9], [5, 9]]],
    (AdaptiveMixedSampler, "mf"): [[18, 24], [21, 9], [24, 11], [9, 9]],
}


@pytest.mark.parametrize("cls, mode", list(PINNED_TABLE))
def test_adaptive_draws_are_pinned_for_a_fixed_seed(cls, mode):
    train, users, targets = _pin_world()
    item_score = torch.randn(31, generator=torch.Generator().manual_seed(5))
    scorer = (lambda c: item_score[c]) if mode == "mf" else _position_scorer
    sampler = cls(oversampling=3, random_state=11).fit(train)
    drawn = sampler.sample(users, targets, 2, per_position=mode is True, scorer=scorer)
    assert drawn.items.tolist() == PINNED_TABLE[cls, mode]


PINNED_SASREC = {
    (AdaptiveSampler, False): [[2, 8, 23], [7, 7, 16], [2, 25, 25], [16, 5, 3]],
    (AdaptiveSampler, True): [[[20, 6, 2], [2, 8, 23], [23, 8, 2]], [[16, 7, 7], [7, 7, 16], [7, 7, 16]],
                              [[29, 2, 5], [29, 2, 5], [2, 25, 25]], [[16, 5, 3], [27, 16, 25], [5, 16, 3]]],
    (AdaptiveMixedSampler, False): [[2, 2, 2], [5, 5, 5], [2, 2, 2], [5, 5, 5]],
    (AdaptiveMixedSampler, True): [[[16, 29, 22], [2, 2, 2], [2, 2, 2]], [[5, 5, 5], [30, 5, 5], [5, 5, 5]],
                                   [[11, 5, 18], [11, 5, 18], [2, 2, 2]], [[5, 5, 5], [7, 28, 27], [5, 5, 5]]],
}


@pytest.mark.parametrize("cls, per_position", list(PINNED_SASREC))
def test_adaptive_draws_with_a_sasrec_scorer_are_pinned(cls, per_position):
    # float32 scores of a real model: the position mean must keep today's arithmetic,
    # or near-ties among candidates could flip.
    from recneg.models import SASRec

    train, users, targets = _pin_world()
    model = SASRec(30, hidden=8, maxlen=3, random_state=0).eval()
    with torch.no_grad():
        hidden = model(torch.tensor([[0, 2, 4], [6, 7, 8], [0, 0, 10], [20, 21, 22]]))
    sampler = cls(oversampling=4, random_state=3).fit(train)
    drawn = sampler.sample(users, targets, 3, per_position=per_position, scorer=model.scorer_from_hidden(hidden))
    assert drawn.items.tolist() == PINNED_SASREC[cls, per_position]
