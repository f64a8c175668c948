"""Tests of the synthetic world: determinism, invariants, drift, Zipf, documented figures."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from recneg import RecnegError
from recneg.data import Interactions, SyntheticWorld


@pytest.fixture(scope="module")
def tiny():
    world = SyntheticWorld(n_users=50, n_items=80, random_state=3)
    return world, world.generate()


@pytest.fixture(scope="module")
def default_world():
    world = SyntheticWorld()
    return world, world.generate()


def _same_log(a: Interactions, b: Interactions) -> bool:
    return all(
        np.array_equal(getattr(a, f), getattr(b, f)) for f in ("users", "items", "timestamps")
    )


def _leave_last_out(log: Interactions):
    """Train = all but each user's last interaction; returns (train, targets, previous)."""
    order = log.time_order()
    users, items = log.users[order], log.items[order]
    last = np.r_[users[1:] != users[:-1], True]
    before_last = np.r_[last[1:], False]
    target = np.zeros(log.n_users, dtype=np.int64)
    target[users[last]] = items[last]
    previous = np.zeros(log.n_users, dtype=np.int64)
    previous[users[before_last]] = items[before_last]
    train = log.subset(np.isin(np.arange(len(log)), order[~last]))
    return train, target, previous


def _hit_rate(scores: np.ndarray, train: Interactions, target: np.ndarray, k: int = 10) -> float:
    scores = scores.astype(np.float64).copy()
    scores[train.users, train.items] = -np.inf
    scores[:, 0] = -np.inf
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    return float((top == target[:, None]).any(axis=1).mean())


# -- determinism and shapes ----------------------------------------------------------------
def test_same_seed_same_world_and_log():
    a, b = SyntheticWorld(n_users=60, n_items=90, random_state=7), SyntheticWorld(
        n_users=60, n_items=90, random_state=7
    )
    # Relevance must not depend on whether the log was generated first.
    rel_before = b.relevance(np.arange(60), np.tile(np.arange(91), (60, 1)))
    assert _same_log(a.generate(), b.generate())
    assert np.array_equal(rel_before, a.relevance(np.arange(60), np.tile(np.arange(91), (60, 1))))
    assert a.generate() is a.generate()  # drawn once, cached
    c = SyntheticWorld(n_users=60, n_items=90, random_state=8).generate()
    assert not _same_log(a.generate(), c)


def test_sizes_and_lengths(tiny):
    world, log = tiny
    assert (log.n_users, log.n_items, log.name, log.has_time) == (50, 80, "synthetic", True)
    lengths = np.bincount(log.users, minlength=50)
    assert lengths.min() >= world.min_interactions
    assert log.items.min() >= 1 and log.items.max() <= 80
    assert len(np.unique(log.users * 81 + log.items)) == len(log)  # each item once per user


def test_minimum_length_guaranteed_under_scarce_exposure():
    # 5 exposed items of 100 with 25 liked: most users see too few liked items, and the
    # world must expose extra liked ones rather than emit short sequences.
    world = SyntheticWorld(n_users=100, n_items=100, exposure_rate=0.05, random_state=0)
    log = world.generate()
    assert np.bincount(log.users, minlength=100).min() == world.min_interactions
    exposed = world.exposed_mask(np.arange(100))
    liked = world.liked_mask(np.arange(100))
    assert ((exposed & liked).sum(axis=1) >= world.min_interactions).all()
    assert (exposed.sum(axis=1) >= world.n_exposed).all()


def test_default_world_size(default_world):
    # load_dataset("synthetic") calls SyntheticWorld().generate(): it must stay MovieLens-
    # sized, with a mean length near the requested 40 (lower only through the cap).
    world, log = default_world
    assert (log.n_users, log.n_items) == (1000, 500)
    mean = len(log) / log.n_users
    assert 30 <= mean <= 40
    assert np.bincount(log.users).min() >= 5


def test_ids_attributes_titles_aligned(tiny):
    world, log = tiny
    attrs = log.item_attributes
    assert attrs.shape == (81, world.n_genres) and attrs.dtype == bool
    assert not attrs[0].any()
    assert (attrs[1:].sum(axis=1) == 1).all()
    assert np.array_equal(attrs[1:].argmax(axis=1), world.item_genres[1:])
    assert world.item_genres[0] == -1
    assert log.attribute_names == world.genre_names
    assert len(log.item_titles) == 81 and log.item_titles[0] == ""
    assert log.item_titles[17] == f"Item 17 ({world.genre_names[world.item_genres[17]]})"
    assert attrs.sum(axis=0).min() >= 1  # every genre has an item


def test_timestamps_increase_within_user(tiny):
    _, log = tiny
    order = log.time_order()
    u, t = log.users[order], log.timestamps[order]
    same = u[1:] == u[:-1]
    assert (np.diff(t)[same] > 0).all()


# -- ground truth invariants -------------------------------------------------------------
def test_observed_interactions_are_liked_and_exposed(tiny):
    world, log = tiny
    assert world.liked_mask(log.users)[np.arange(len(log)), log.items].all()
    assert world.exposed_mask(log.users)[np.arange(len(log)), log.items].all()
    assert (world.relevance(log.users, log.items) > 0.5).all()


def test_liked_is_relevance_above_half_and_fixed_size(tiny):
    world, _ = tiny
    users = np.arange(world.n_users)
    liked = world.liked_mask(users)
    rel = world.relevance(users, np.tile(np.arange(world.n_items + 1), (len(users), 1)))
    assert rel.shape == liked.shape
    assert not liked[:, 0].any() and (rel[:, 0] == 0).all()
    assert np.array_equal(liked[:, 1:], rel[:, 1:] > 0.5)
    assert (liked.sum(axis=1) == world.n_liked).all()
    assert ((rel[:, 1:] > 0) & (rel[:, 1:] < 1)).all()


def test_exposure_size_and_popularity_bias(default_world):
    world, _ = default_world
    exposed = world.exposed_mask(np.arange(world.n_users))
    assert not exposed[:, 0].any()
    assert (exposed.sum(axis=1) >= world.n_exposed).all()
    # Exposure follows popularity: the exposure rate per item rises with p(i).
    rho = stats.spearmanr(world.item_popularity[1:], exposed[:, 1:].mean(axis=0)).statistic
    assert rho > 0.9


def test_is_false_negative_and_mask(tiny):
    world, log = tiny
    users = np.arange(world.n_users)
    liked = world.liked_mask(users)
    # Against the full log: observed pairs are never false negatives.
    assert not world.is_false_negative(log.users, log.items).any()
    # Against a training split without each user's last item, that item is one.
    train, target, _ = _leave_last_out(log)
    assert world.is_false_negative(users, target, train).all()
    mask = world.false_negative_mask(train)
    expected = liked.copy()
    expected[train.users, train.items] = False
    assert np.array_equal(mask, expected)
    items = np.tile(np.arange(world.n_items + 1), (len(users), 1))
    assert np.array_equal(world.is_false_negative(users, items, train), expected)


def test_ground_truth_frame(tiny):
    world, log = tiny
    gt = world.ground_truth
    assert list(gt.columns) == ["user", "item", "genre", "relevance", "exposed", "observed"]
    assert len(gt) == world.n_users * world.n_liked
    assert gt["observed"].sum() == len(log)
    assert (gt.loc[gt["observed"], "exposed"]).all()
    assert (gt["relevance"] > 0.5).all()


# -- statistical properties --------------------------------------------------------------
def _same_genre_z(log: Interactions, genres: np.ndarray, seed: int = 0, n_perm: int = 200):
    """Adjacent same-genre pairs vs. their distribution under within-user shuffles."""
    order = log.time_order()
    users, g = log.users[order], genres[log.items[order]]
    same_user = users[1:] == users[:-1]
    observed = int(((g[1:] == g[:-1]) & same_user).sum())
    rng = np.random.default_rng(seed)
    null = np.empty(n_perm)
    for b in range(n_perm):
        perm = np.lexsort((rng.random(len(users)), users))  # shuffle inside each user
        gp = g[perm]
        null[b] = ((gp[1:] == gp[:-1]) & same_user).sum()
    return observed, null.mean(), (observed - null.mean()) / null.std(ddof=1)


def test_drift_makes_genres_persist():
    world = SyntheticWorld(n_users=300, n_items=200, drift=0.7, random_state=0)
    log = world.generate()
    observed, expected, z = _same_genre_z(log, world.item_genres)
    # ~6,000 adjacent pairs: a real effect is dozens of null standard deviations away.
    assert z > 10
    assert observed > 1.4 * expected


def test_no_drift_is_exchangeable_in_genre():
    world = SyntheticWorld(n_users=300, n_items=200, drift=0.0, random_state=0)
    log = world.generate()
    _, _, z = _same_genre_z(log, world.item_genres)
    assert abs(z) < 4  # within the permutation distribution (two-sided, ~1e-4 level)


def test_chain_successor_transitions():
    # The chain moves to a fixed successor genre with probability 0.30 * drift; under
    # drift = 1 that transition must be far more frequent than its share in the null.
    world = SyntheticWorld(n_users=300, n_items=200, drift=1.0, random_state=1)
    log = world.generate()
    chain = world.genre_transitions
    np.testing.assert_allclose(chain.sum(axis=1), 1.0)
    off_diag = chain - np.diag(np.diag(chain))
    successor = off_diag.argmax(axis=1)
    order = log.time_order()
    u, g = log.users[order], world.item_genres[log.items[order]]
    pairs = (u[1:] == u[:-1]) & (g[1:] != g[:-1])
    hits = int((g[1:][pairs] == successor[g[:-1][pairs]]).sum())
    n = int(pairs.sum())
    # Under "any other genre equally likely" a change hits the successor w.p. 1/(G-1).
    p0 = 1 / (world.n_genres - 1)
    assert stats.binomtest(hits, n, p0, alternative="greater").pvalue < 1e-6


def test_latent_popularity_is_zipf():
    for a in (0.5, 1.0, 1.5):
        world = SyntheticWorld(n_users=20, n_items=300, zipf_exponent=a, random_state=2)
        p = np.sort(world.item_popularity[1:])[::-1]
        slope = np.polyfit(np.log(np.arange(1, 301)), np.log(p), 1)[0]
        assert slope == pytest.approx(-a, abs=1e-9)
        assert world.item_popularity.sum() == pytest.approx(1.0)


def test_observed_popularity_is_zipf_like():
    slopes = []
    for a in (0.5, 1.0, 1.5):
        world = SyntheticWorld(n_users=600, n_items=300, zipf_exponent=a, random_state=4)
        counts = world.generate().item_counts()[1:]
        top = np.sort(counts)[::-1][:150]
        slopes.append(np.polyfit(np.log(np.arange(1, 151)), np.log(np.maximum(top, 1)), 1)[0])
        rho = stats.spearmanr(world.item_popularity[1:], counts).statistic
        assert rho > 0.85
    # Exposure saturates at the head, so the observed law is flatter than the latent one
    # but still clearly Zipf-like and steeper for a larger exponent.
    assert -1.3 < slopes[1] < -0.5
    assert slopes[0] > slopes[1] > slopes[2]


def test_documented_properties(default_world):
    """The figures quoted in the SyntheticWorld docstring (defaults, seed 0)."""
    world, log = default_world
    assert len(log) == pytest.approx(37041, rel=0.02)
    fn = world.false_negative_mask(log)
    unobserved = np.ones_like(fn)
    unobserved[log.users, log.items] = False
    unobserved[:, 0] = False
    uniform_fn = (fn.sum(axis=1) / unobserved.sum(axis=1)).mean()
    counts = log.item_counts().astype(np.float64)
    q = counts[None, :] * unobserved
    popularity_fn = ((q * fn).sum(axis=1) / q.sum(axis=1)).mean()
    assert 0.05 < uniform_fn < 0.30
    assert popularity_fn > uniform_fn + 0.03
    assert world.summary()["liked_share_of_unobserved"] == pytest.approx(uniform_fn)

    train, target, previous = _leave_last_out(log)
    most_popular = np.tile(train.item_counts().astype(np.float64), (log.n_users, 1))
    # First-order item-to-item transition counts: the simplest sequential model.
    order = train.time_order()
    tu, ti = train.users[order], train.items[order]
    step = tu[1:] == tu[:-1]
    transitions = np.zeros((log.n_items + 1, log.n_items + 1))
    np.add.at(transitions, (ti[:-1][step], ti[1:][step]), 1.0)
    markov = transitions[previous] + 1e-3 * most_popular / most_popular.max()
    hr_pop = _hit_rate(most_popular, train, target)
    hr_markov = _hit_rate(markov, train, target)
    # Two proportions over 1000 users: 4 standard errors of the difference as margin.
    se = math.sqrt((hr_pop * (1 - hr_pop) + hr_markov * (1 - hr_markov)) / log.n_users)
    assert hr_markov > hr_pop + 4 * se
    assert hr_pop > 0.05  # popularity is informative too, as on real data


# -- validation --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n_users": 0}, "n_users"),
        ({"n_items": 1}, "n_items"),
        ({"n_genres": 0}, "n_genres"),
        ({"n_genres": 100, "n_items": 50}, "n_genres"),
        ({"dim": 2.5}, "dim"),
        ({"min_interactions": 0}, "min_interactions"),
        ({"interactions_per_user": 3, "min_interactions": 5}, "interactions_per_user"),
        ({"interactions_per_user": float("nan")}, "interactions_per_user"),
        ({"zipf_exponent": -0.5}, "zipf_exponent"),
        ({"zipf_exponent": 9}, "zipf_exponent"),
        ({"exposure_rate": 0}, "exposure_rate"),
        ({"exposure_rate": 1.5}, "exposure_rate"),
        ({"drift": -0.1}, "drift"),
        ({"like_fraction": 1.0}, "like_fraction"),
        ({"like_fraction": 0.001}, "like_fraction"),
        ({"sharpness": 0}, "sharpness"),
        ({"popularity_bias": "high"}, "popularity_bias"),
        ({"genre_concentration": 0}, "genre_concentration"),
        ({"min_interactions": 30, "n_items": 100}, "min_interactions"),
        ({"random_state": "seed"}, "random_state"),
    ],
)
def test_bad_parameters_raise(kwargs, name):
    with pytest.raises(RecnegError, match=name) as info:
        SyntheticWorld(**kwargs)
    assert "\n" not in str(info.value)


def test_bad_queries_raise(tiny):
    world, log = tiny
    with pytest.raises(RecnegError, match="user id 50"):
        world.relevance([50], [1])
    with pytest.raises(RecnegError, match="item id 81"):
        world.relevance([0], [81])
    with pytest.raises(RecnegError, match="shape"):
        world.relevance([0, 1], [1, 2, 3])
    other = SyntheticWorld(n_users=50, n_items=90, random_state=3).generate()
    with pytest.raises(RecnegError, match="90 items"):
        world.is_false_negative([0], [1], other)


def test_scales_to_a_hundred_thousand_interactions():
    world = SyntheticWorld(n_users=2500, n_items=1000, random_state=0)
    log = world.generate()
    assert 80_000 <= len(log) <= 120_000
