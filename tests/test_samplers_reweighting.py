"""Importance re-weighting samplers and the weight cap, on fixed score tables."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from recneg import RecnegError
from recneg.data import Interactions
from recneg.samplers import PopularitySampler, make_sampler
from recneg.samplers.reweighting import cap_weights
from recneg.samplers.reweighting import DebiasedWeightingSampler, ScoreWeightedSampler
from helpers import mf_scorer  # pytest puts tests/ on sys.path

N_USERS, N_ITEMS = 4, 40


def toy_train() -> Interactions:
    users = np.array([0, 0, 0, 1, 1, 2, 2, 3])
    items = np.array([1, 2, 3, 1, 4, 5, 6, 7])
    return Interactions(users, items, np.arange(len(users)), n_users=N_USERS, n_items=N_ITEMS, name="toy")



def seq_scorer(per_position: torch.Tensor):
    """``per_position``: (B, L, n_items + 1) scores of every item at every position."""

    def scorer(candidates):
        if candidates.dim() == 2:
            candidates = candidates.unsqueeze(1).expand(-1, per_position.shape[1], -1)
        return per_position.gather(2, candidates)

    return scorer


def table(seed: int = 0) -> torch.Tensor:
    return torch.randn(N_USERS, N_ITEMS + 1, generator=torch.Generator().manual_seed(seed))


USERS = torch.tensor([0, 1, 2, 3])


# -- self-adversarial weights ----------------------------------------------------------------
@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_score_weights_are_k_times_the_softmax_of_the_scores(temperature):
    scores = table(1)
    sampler = ScoreWeightedSampler(temperature=temperature, random_state=0).fit(toy_train())
    neg = sampler.sample(USERS, torch.tensor([1, 4, 5, 7]), 6, scorer=mf_scorer(scores, USERS))
    drawn_scores = scores[USERS].gather(1, neg.items)
    expected = 6 * torch.softmax(drawn_scores / temperature, dim=1)
    assert torch.allclose(neg.weights, expected, atol=1e-5)
    assert torch.allclose(neg.weights.sum(1), torch.full((4,), 6.0), atol=1e-4)
    assert not bool(toy_train().user_item_set().contains(USERS, neg.items).any())


def test_infinite_temperature_gives_unit_weights_and_keeps_the_base_distribution():
    base = PopularitySampler(alpha=1.0, smoothing=1.0)
    sampler = ScoreWeightedSampler(base, temperature=float("inf"), random_state=0).fit(toy_train())
    neg = sampler.sample(USERS, torch.tensor([1, 4, 5, 7]), 5, scorer=mf_scorer(table(), USERS))
    assert torch.equal(neg.weights, torch.ones(4, 5))
    reference = PopularitySampler(alpha=1.0, smoothing=1.0, random_state=0).fit(toy_train())
    ref = reference.sample(USERS, torch.tensor([1, 4, 5, 7]), 5)
    assert torch.equal(neg.items, ref.items) and torch.allclose(neg.log_prob, ref.log_prob)


def test_shared_negatives_weigh_by_the_mean_score_over_valid_positions():
    positives = torch.tensor([[0, 1, 2], [1, 4, 4], [5, 6, 0], [0, 0, 7]])
    per_position = torch.randn(4, 3, N_ITEMS + 1, generator=torch.Generator().manual_seed(3))
    sampler = ScoreWeightedSampler(temperature=1.0, random_state=0).fit(toy_train())
    neg = sampler.sample(USERS, positives, 4, scorer=seq_scorer(per_position))
    assert neg.weights.shape == (4, 4)
    valid = (positives > 0).float()
    scores = per_position.gather(2, neg.items.unsqueeze(1).expand(-1, 3, -1))
    mean = (scores * valid[..., None]).sum(1) / valid.sum(1, keepdim=True)
    assert torch.allclose(neg.weights, 4 * torch.softmax(mean, 1), atol=1e-5)
    per = sampler.sample(USERS, positives, 4, per_position=True, scorer=seq_scorer(per_position))
    assert per.weights.shape == (4, 3, 4)
    assert torch.allclose(per.weights, 4 * torch.softmax(per_position.gather(2, per.items), -1), atol=1e-5)


def test_score_weights_respect_the_cap_and_keep_their_sum():
    scores = torch.zeros(N_USERS, N_ITEMS + 1)
    scores[:, 30:] = 6.0                       # a few very hard items
    sampler = ScoreWeightedSampler(temperature=1.0, max_weight=2.0, random_state=0).fit(toy_train())
    neg = sampler.sample(USERS, torch.tensor([1, 4, 5, 7]), 8, scorer=mf_scorer(scores, USERS))
    assert float(neg.weights.max()) <= 2.0 + 1e-5
    assert torch.allclose(neg.weights.sum(1), torch.full((4,), 8.0), atol=1e-4)


def test_score_weighting_is_deterministic_and_registered():
    def draw():
        sampler = make_sampler("score-weighted", temperature=0.7, random_state=11).fit(toy_train())
        return sampler.sample(USERS, torch.tensor([1, 4, 5, 7]), 3, scorer=mf_scorer(table(), USERS))

    a, b = draw(), draw()
    assert torch.equal(a.items, b.items) and torch.equal(a.weights, b.weights)
    assert make_sampler("debiased").family == "re-weighting"
    with pytest.raises(RecnegError, match="temperature must be > 0"):
        ScoreWeightedSampler(temperature=0.0)


# -- debiased weights ----------------------------------------------------------------------
def planted_scores() -> torch.Tensor:
    """Positives score about 3; items 35-40 are planted false negatives scored like them."""
    gen = torch.Generator().manual_seed(5)
    scores = 0.5 * torch.randn(N_USERS, N_ITEMS + 1, generator=gen)
    scores[:, 35:] = 3.0 + 0.2 * torch.randn(N_USERS, 6, generator=gen)
    for user, item in zip(toy_train().users, toy_train().items):
        scores[user, item] = 3.0 + 0.3 * torch.randn(1, generator=gen)
    return scores


@pytest.mark.parametrize("density", ["gaussian", "kde"])
def test_debiased_weights_discount_planted_false_negatives(density):
    scores = planted_scores()
    sampler = DebiasedWeightingSampler(class_prior=0.15, density=density, random_state=0).fit(toy_train())
    users = USERS.repeat(8)
    positives = torch.tensor([1, 4, 5, 7]).repeat(8)
    neg = sampler.sample(users, positives, 20, scorer=mf_scorer(scores, users))
    planted = neg.items >= 35
    assert bool(planted.any()) and bool((~planted).any())
    assert float(neg.weights[planted].mean()) < 0.3
    assert float(neg.weights[~planted].mean()) > 0.9
    assert bool(((neg.weights >= 0) & (neg.weights <= 1)).all())


def test_false_negative_probability_matches_bayes_rule_with_gaussian_fits():
    sampler = DebiasedWeightingSampler(class_prior=0.2, density="gaussian")
    positives = torch.tensor([2.0, 3.0, 4.0])
    negatives = torch.tensor([-1.0, 0.0, 1.0, 2.5])
    got = sampler.false_negative_probability(negatives, positives)
    f_pos = stats.norm.pdf(negatives.numpy(), 3.0, np.std([2.0, 3.0, 4.0], ddof=1))
    f_unl = stats.norm.pdf(negatives.numpy(), negatives.mean().item(), negatives.std().item())
    expected = np.minimum(0.2 * f_pos / f_unl, 1.0)
    assert np.allclose(got.numpy(), expected, rtol=1e-6)


def test_debiased_weights_fall_back_to_one_without_enough_positives_and_honour_min_weight():
    scores = planted_scores()
    sampler = DebiasedWeightingSampler(class_prior=0.3, random_state=0).fit(toy_train())
    one_user = torch.tensor([0])
    neg = sampler.sample(one_user, torch.tensor([1]), 10, scorer=mf_scorer(scores, one_user))
    assert torch.equal(neg.weights, torch.ones(1, 10))
    floor = DebiasedWeightingSampler(class_prior=0.3, min_weight=0.4, random_state=0).fit(toy_train())
    users = USERS.repeat(4)
    neg = floor.sample(users, torch.tensor([1, 4, 5, 7]).repeat(4), 20, scorer=mf_scorer(scores, users))
    assert float(neg.weights.min()) >= 0.4 - 1e-6


def test_debiased_per_position_ignores_padding_and_has_the_right_shape():
    positives = torch.tensor([[1, 2, 3], [0, 1, 4], [0, 0, 5], [7, 7, 7]])
    per_position = planted_scores()[USERS].unsqueeze(1).expand(-1, 3, -1).contiguous()
    sampler = DebiasedWeightingSampler(class_prior=0.15, random_state=0).fit(toy_train())
    neg = sampler.sample(USERS, positives, 12, per_position=True, scorer=seq_scorer(per_position))
    assert neg.weights.shape == (4, 3, 12)
    planted = neg.items >= 35
    assert float(neg.weights[planted].mean()) < float(neg.weights[~planted].mean())


def test_debiased_parameters_are_validated():
    with pytest.raises(RecnegError, match="class_prior"):
        DebiasedWeightingSampler(class_prior=1.0)
    with pytest.raises(RecnegError, match="density"):
        DebiasedWeightingSampler(density="histogram")


# -- weight cap ------------------------------------------------------------------------------
def test_cap_weights_by_hand():
    w = torch.tensor([[5.0, 1.0, 1.0, 1.0], [0.5, 0.5, 0.5, 0.5]])
    assert cap_weights(w, 2.0).tolist() == [[2.0, 1.0, 1.0, 1.0], [0.5, 0.5, 0.5, 0.5]]
    capped = cap_weights(w, 3.0, preserve_sum=True)
    assert torch.allclose(capped, torch.tensor([[3.0, 5 / 3, 5 / 3, 5 / 3], [0.5, 0.5, 0.5, 0.5]]))
    with pytest.raises(RecnegError, match="max_weight must be > 0"):
        cap_weights(w, 0.0)
    with pytest.raises(RecnegError, match="non-negative"):
        cap_weights(torch.tensor([[-1.0, 1.0]]), 2.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 50.0), min_size=1, max_size=12), st.floats(0.1, 10.0))
def test_cap_weights_properties(values, cap):
    w = torch.tensor([values], dtype=torch.float64)
    capped = cap_weights(w, cap, preserve_sum=True)
    assert bool((capped <= cap + 1e-9).all()) and bool((capped >= 0).all())
    total, k = float(w.sum()), len(values)
    if total <= cap * k:
        assert math.isclose(float(capped.sum()), total, rel_tol=1e-6, abs_tol=1e-9)
    else:
        assert torch.allclose(capped, torch.full_like(capped, cap))
    # the cap never reorders weights
    order = torch.argsort(w[0], stable=True)
    assert bool((capped[0][order].diff() >= -1e-9).all())


# -- knowledge-aware weights ---------------------------------------------------------------
def genre_log() -> Interactions:
    # items 1..6; genres: 1 {a}, 2 {a}, 3 {b}, 4 {a, b}, 5 {} (none), 6 {b}
    genres = np.array([[0, 0], [1, 0], [1, 0], [0, 1], [1, 1], [0, 0], [0, 1]], dtype=bool)
    return Interactions(np.array([0, 1, 2]), np.array([1, 3, 6]), np.arange(3), n_users=3, n_items=6,
                        item_attributes=genres, attribute_names=["a", "b"])


def test_knowledge_similarity_is_the_jaccard_overlap_by_hand():
    from recneg.samplers.reweighting import KnowledgeWeightedSampler

    s = KnowledgeWeightedSampler(random_state=0).fit(genre_log())
    sim = s.similarity(torch.tensor([1, 4, 5]), torch.tensor([[2, 3, 4, 5], [1, 3, 6, 5], [1, 2, 3, 4]]))
    expected = [[1.0, 0.0, 0.5, 0.0], [0.5, 0.5, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0]]
    assert torch.allclose(sim, torch.tensor(expected))


@pytest.mark.parametrize("strength", [-3.0, 0.0, 2.0])
def test_knowledge_weights_follow_the_overlap_and_sum_to_k(strength):
    from recneg.samplers.reweighting import KnowledgeWeightedSampler

    s = KnowledgeWeightedSampler(strength=strength, random_state=1).fit(genre_log())
    users, positives = torch.tensor([0, 1, 2]), torch.tensor([1, 3, 6])
    neg = s.sample(users, positives, 50)
    assert torch.allclose(neg.weights.sum(1), torch.full((3,), 50.0), atol=1e-4)
    sim = s.similarity(positives, neg.items)
    expected = 50 * torch.softmax(strength * sim.double(), dim=1)
    assert torch.allclose(neg.weights.double(), expected, atol=1e-5)
    # weights are monotone in the overlap, in the direction of the strength's sign
    for row in range(3):
        order = torch.argsort(sim[row])
        w = neg.weights[row][order]
        diffs = w[1:] - w[:-1]
        if strength > 0:
            assert (diffs >= -1e-6).all()
        elif strength < 0:
            assert (diffs <= 1e-6).all()
        else:
            assert torch.allclose(w, torch.ones_like(w))


def test_knowledge_weighting_keeps_the_base_draws_and_shapes():
    from recneg.samplers.reweighting import KnowledgeWeightedSampler

    log = genre_log()
    weighted = KnowledgeWeightedSampler(base=PopularitySampler(alpha=1.0, smoothing=1.0), random_state=3).fit(log)
    plain = PopularitySampler(alpha=1.0, smoothing=1.0, random_state=3).fit(log)
    users, positives = torch.tensor([0, 2]), torch.tensor([[1, 0, 1], [6, 6, 0]])
    a = weighted.sample(users, positives, 7, per_position=True)
    b = plain.sample(users, positives, 7, per_position=True)
    assert torch.equal(a.items, b.items) and torch.allclose(a.log_prob, b.log_prob)
    assert a.weights.shape == (2, 3, 7)
    assert torch.allclose(a.weights[0, 1], torch.ones(7))       # padding position: weight 1
    shared = weighted.sample(users, positives, 4)                  # anchor = last target of the row
    assert shared.weights.shape == (2, 4)
    assert make_sampler("knowledge-weighted", strength=1.0).subfamily == "knowledge-aware IRW"


def test_knowledge_weighting_errors():
    from recneg.samplers.reweighting import KnowledgeWeightedSampler

    plain_log = Interactions(np.array([0]), np.array([1]), np.arange(1), n_users=1, n_items=3)
    with pytest.raises(RecnegError, match="needs item attributes"):
        KnowledgeWeightedSampler().fit(plain_log)
    with pytest.raises(RecnegError, match="strength"):
        KnowledgeWeightedSampler(strength=float("nan"))
    with pytest.raises(RecnegError, match="unknown attribute"):
        KnowledgeWeightedSampler(attributes=["c"]).fit(genre_log())
