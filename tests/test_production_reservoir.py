"""Tests for the streaming negative pools (recneg.production.reservoir).

The exactness tests build many independent reservoirs over one small stream and compare
which *set* of items each one kept with the exact distribution of A-Res, computed by
enumerating the ordered draws of successive sampling without replacement (5 items,
m = 2: 20 orderings, 10 sets). The sets are one multinomial observation per reservoir,
so scipy's chi-square applies exactly; it rejects at p < 0.001 at a fixed seed, as in
tests/test_samplers_static.py. Every item's inclusion rate is checked too, within
4.5 binomial standard deviations. A pool that favoured its heavy item by 5% on these
sizes fails with near certainty.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest
import torch
from scipy import stats

import recneg.production.reservoir as reservoir_module
from recneg import RecnegError
from recneg.data import Interactions
from recneg.production import StreamingPoolSampler, UserReservoir, WeightedReservoir

P_THRESHOLD = 1e-3
N_RESERVOIRS = 20_000


@pytest.fixture(autouse=True)
def _single_threaded():
    # Small sorts: on shared cores, thread start-up costs more than the work (5x here).
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def exact_set_probabilities(weights: dict[int, float], m: int) -> dict[frozenset, float]:
    """P(pool = S) for A-Res over items with total weights ``weights``: sum over the
    orderings of S of the successive-sampling probabilities."""
    items = [i for i, w in weights.items() if w > 0]
    if len(items) <= m:
        return {frozenset(items): 1.0}
    total = sum(weights[i] for i in items)
    out: dict[frozenset, float] = {}
    for order in itertools.permutations(items, m):
        p, left = 1.0, total
        for i in order:
            p *= weights[i] / left
            left -= weights[i]
        out[frozenset(order)] = out.get(frozenset(order), 0.0) + p
    return out


def inclusion(sets: dict[frozenset, float]) -> dict[int, float]:
    out: dict[int, float] = {}
    for s, p in sets.items():
        for i in s:
            out[i] = out.get(i, 0.0) + p
    return out


def total_weights(items, weights, times=None, decay=0.0) -> dict[int, float]:
    """Each item's summed weight, decayed to the last arrival time."""
    out: dict[int, float] = {}
    last = max(times) if times is not None else 0.0
    for j, (i, w) in enumerate(zip(items, weights)):
        factor = math.exp(-decay * (last - times[j])) if decay else 1.0
        out[i] = out.get(i, 0.0) + w * factor
    return out


def assert_matches_a_res(pools: list[frozenset], expected: dict[frozenset, float]):
    n = len(pools)
    counts = Counter(pools)
    assert set(counts) <= set(expected), f"impossible pools {set(counts) - set(expected)}"
    if len(expected) > 1:
        keys = sorted(expected, key=sorted)
        observed = np.array([counts[k] for k in keys], dtype=float)
        p = stats.chisquare(observed, np.array([expected[k] for k in keys]) * n).pvalue
        assert p > P_THRESHOLD, f"pool sets differ from A-Res (p = {p:.2e})"
    for item, pi in inclusion(expected).items():
        rate = sum(c for s, c in counts.items() if item in s) / n
        sd = math.sqrt(max(pi * (1 - pi), 1e-12) / n)
        assert abs(rate - pi) <= 4.5 * sd + 1e-12, f"item {item}: inclusion {rate:.4f}, exact {pi:.4f}"


def user_pools(stream_items, stream_weights, m, *, chunks, times=None, decay=0.0, seed=0) -> list[frozenset]:
    """N_RESERVOIRS independent pools over the same stream, fed in ``chunks``: each user
    of a UserReservoir is one reservoir."""
    pools = UserReservoir(m, n_users=N_RESERVOIRS, decay=decay, random_state=seed)
    bounds = np.cumsum([0] + list(chunks))
    assert bounds[-1] == len(stream_items)
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        width = hi - lo
        users = np.repeat(np.arange(N_RESERVOIRS), width)
        take = lambda values: None if values is None else np.tile(np.asarray(values[lo:hi], dtype=float), N_RESERVOIRS)
        pools.update(users, np.tile(stream_items[lo:hi], N_RESERVOIRS), take(stream_weights), take(times))
    return [frozenset(row[row > 0].tolist()) for row in pools.items_]


# Tied, discrete and repeated weights; the last stream repeats items 1 and 2.
STREAMS = {
    "distinct": ([1, 2, 3, 4, 5], [1.0, 2.0, 2.0, 3.0, 0.5]),
    "all-tied": ([1, 2, 3, 4, 5], [1.0] * 5),
    "discrete": ([1, 2, 3, 4, 5], [1.0, 1.0, 2.0, 2.0, 4.0]),
    "repeats": ([1, 2, 3, 1, 4, 5, 2], [1.0, 1.0, 2.0, 1.0, 1.0, 3.0, 2.0]),
    "with-zero": ([1, 2, 3, 4, 5], [0.0, 1.0, 3.0, 0.0, 1.0]),
}


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_user_pools_are_a_res_samples(name):
    items, weights = STREAMS[name]
    chunks = [2, len(items) - 2]  # the second chunk merges into non-empty pools
    pools = user_pools(items, weights, 2, chunks=chunks, seed=1)
    assert_matches_a_res(pools, exact_set_probabilities(total_weights(items, weights), 2))


def test_global_pool_is_an_a_res_sample():
    items, weights = STREAMS["repeats"]
    pools = []
    for seed in range(3000):
        pool = WeightedReservoir(2, random_state=seed).update(items[:3], weights[:3]).update(items[3:], weights[3:])
        pools.append(frozenset(pool.pool().tolist()))
    assert_matches_a_res(pools, exact_set_probabilities(total_weights(items, weights), 2))


def test_larger_pool_of_three_over_six_items():
    items, weights = [1, 2, 3, 4, 5, 6, 3], [5.0, 1.0, 1.0, 2.0, 2.0, 0.5, 1.0]
    pools = user_pools(items, weights, 3, chunks=[1, 4, 2], seed=2)
    assert_matches_a_res(pools, exact_set_probabilities(total_weights(items, weights), 3))


def test_decayed_pool_is_a_res_on_decayed_weights():
    items = [1, 2, 3, 1, 4, 5, 2]
    weights = [1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    times = [0.0, 1.0, 2.0, 2.0, 5.0, 7.0, 9.0]
    decay = 0.3
    pools = user_pools(items, weights, 2, chunks=[3, 2, 2], times=times, decay=decay, seed=3)
    assert_matches_a_res(pools, exact_set_probabilities(total_weights(items, weights, times, decay), 2))


def test_decayed_pool_stays_exact_across_landmark_moves():
    # Unix-like times over 4.5 days with a decay of one per day: lambda * t is far above
    # exp's float64 range, and the landmark moves several times. Weights that grow as
    # exp(lambda * (T - t)) make the decayed weights moderate (1, 2, 1, 3, 1 at T).
    decay, start = 1 / 86_400, 1.7e9
    times = [start + d * 86_400 for d in (0.0, 40.0, 80.0, 120.0, 160.0)]
    decayed = [1.0, 2.0, 1.0, 3.0, 1.0]
    weights = [c * math.exp(decay * (times[-1] - t)) for c, t in zip(decayed, times)]
    items = [1, 2, 3, 4, 5]
    pools = user_pools(items, weights, 2, chunks=[1, 1, 1, 1, 1], times=times, decay=decay, seed=4)
    expected = exact_set_probabilities(dict(zip(items, decayed)), 2)
    assert_matches_a_res(pools, expected)


def test_landmark_moves_do_not_change_the_pool(monkeypatch):
    rng = np.random.default_rng(0)
    items = rng.integers(1, 40, 300)
    weights = rng.choice([0.5, 1.0, 1.0, 3.0], 300)
    times = np.sort(rng.uniform(0, 200, 300))

    def run():
        pool = WeightedReservoir(8, decay=0.5, random_state=7)
        for lo in range(0, 300, 25):
            pool.update(items[lo:lo + 25], weights[lo:lo + 25], times[lo:lo + 25])
        return pool

    monkeypatch.setattr(reservoir_module, "RESCALE_AT", 1e300)
    never = run()
    monkeypatch.setattr(reservoir_module, "RESCALE_AT", 0.5)
    often = run()
    assert never.landmark_ == times[24] and often.landmark_ > 190
    assert torch.equal(never.items_, often.items_)
    # The same keys up to the landmark shift (rounded at float64 resolution).
    shift = 0.5 * (often.landmark_ - never.landmark_)
    assert torch.allclose(never.keys_ + shift, often.keys_, rtol=0, atol=1e-9)


def test_chunking_does_not_change_the_pool():
    rng = np.random.default_rng(1)
    items, weights = rng.integers(1, 30, 200), rng.choice([1.0, 2.0, 5.0], 200)
    at_once = WeightedReservoir(6, random_state=3).update(items, weights)
    one_by_one = WeightedReservoir(6, random_state=3)
    for i, w in zip(items, weights):
        one_by_one.update([i], [w])
    assert torch.equal(at_once.items_, one_by_one.items_)
    assert torch.equal(at_once.keys_, one_by_one.keys_)
    assert at_once.n_seen_ == one_by_one.n_seen_ == 200


def test_zero_weight_items_never_enter_even_an_unfilled_pool():
    pool = WeightedReservoir(5, random_state=0).update([1, 2, 3], [0.0, 1.0, 0.0])
    assert pool.pool().tolist() == [2]
    assert pool.sizes_.tolist() == [1]


def test_pools_hold_distinct_items_sorted_by_key():
    rng = np.random.default_rng(2)
    pools = UserReservoir(4, n_users=3, random_state=0)
    pools.update(rng.integers(0, 3, 500), rng.integers(1, 6, 500))
    for row, keys in zip(pools.items_, pools.keys_):
        members = row[row > 0]
        assert len(set(members.tolist())) == len(members) == 4
        assert bool((keys[:-1] <= keys[1:]).all())


@pytest.mark.parametrize("call, message", [
    (lambda: WeightedReservoir(0), "capacity must be positive"),
    (lambda: WeightedReservoir(2, decay=-1.0), "decay must be >= 0"),
    (lambda: WeightedReservoir(2).update([1, 2], [1.0, -1.0]), "weights[1] is -1.0"),
    (lambda: WeightedReservoir(2).update([1, 2], [1.0, float("nan")]), "weights[1] is nan"),
    (lambda: WeightedReservoir(2).update([1, 2], [1.0]), "must have equal length"),
    (lambda: WeightedReservoir(2).update([0, 2]), "item id 0 is below 1"),
    (lambda: WeightedReservoir(2).update([1.5]), "must hold integer ids"),
    (lambda: WeightedReservoir(2, decay=0.1).update([1, 2]), "needs times"),
    (lambda: WeightedReservoir(2, decay=0.1).update([1], times=[math.inf]), "times[0] is not finite"),
    (lambda: UserReservoir(2, n_users=2).update([0, 2], [1, 1]), "user id 2 is outside 0..1"),
])
def test_bad_stream_input_gets_one_line_error(call, message):
    with pytest.raises(RecnegError) as info:
        call()
    assert message in str(info.value) and "\n" not in str(info.value)


# -- the sampler -------------------------------------------------------------------------

@pytest.fixture
def train() -> Interactions:
    users = np.array([0, 0, 0, 1, 1, 2, 2, 3])
    items = np.array([1, 2, 3, 1, 4, 1, 5, 6])
    return Interactions(users, items, np.arange(8), n_users=4, n_items=10, name="toy")


def test_sampler_draws_uniformly_from_allowed_pool_members(train):
    sampler = StreamingPoolSampler(capacity=6, seed_from_train=False, random_state=0).fit(train)
    sampler.update([1, 2, 4, 7, 8, 9], times=np.arange(6))
    assert sorted(sampler.pool().tolist()) == [1, 2, 4, 7, 8, 9]
    users, targets = torch.tensor([0, 1]), torch.tensor([[3, 7], [4, 0]])  # 7 is an extra target
    neg = sampler.sample(users, targets, 6000, generator=torch.Generator().manual_seed(1))
    allowed = {0: [4, 8, 9], 1: [2, 7, 8, 9]}
    for row, user in enumerate(users.tolist()):
        drawn = neg.items[row]
        assert set(drawn.tolist()) <= set(allowed[user])
        counts = torch.bincount(drawn, minlength=11)[allowed[user]].double().numpy()
        assert stats.chisquare(counts).pvalue > P_THRESHOLD
        assert torch.allclose(neg.log_prob[row], torch.full((6000,), -math.log(len(allowed[user]))))


def test_sampler_per_position_and_per_user_pools(train):
    sampler = StreamingPoolSampler(capacity=3, per_user=True, seed_from_train=False, random_state=0).fit(train)
    sampler.update([7, 8, 9, 8, 10], users=[0, 0, 1, 1, 3])
    assert sorted(sampler.pool(0).tolist()) == [7, 8] and sorted(sampler.pool(1).tolist()) == [8, 9]
    neg = sampler.sample(torch.tensor([0, 1]), torch.tensor([[1, 2], [1, 4]]), 5, per_position=True)
    assert neg.items.shape == (2, 2, 5)
    assert set(neg.items[0].flatten().tolist()) <= {7, 8} and set(neg.items[1].flatten().tolist()) <= {8, 9}
    with pytest.raises(RecnegError, match="pool holds no item user 2 may receive"):
        sampler.sample(torch.tensor([2]), torch.tensor([1]), 2)


def test_sampler_seeded_from_training_split_holds_training_items(train):
    sampler = StreamingPoolSampler(capacity=4, decay=0.1, random_state=0).fit(train)
    assert sampler.reservoir_.n_seen_ == len(train)
    assert set(sampler.pool().tolist()) <= {1, 2, 3, 4, 5, 6} and len(sampler.pool()) == 4
    later = Interactions(np.array([0, 1]), np.array([9, 10]), np.array([20, 21]), n_users=4, n_items=10)
    assert sampler.partial_fit(later).reservoir_.n_seen_ == len(train) + 2
    # Item 1 (three interactions) is in a 4-of-6 popularity pool with high probability;
    # its exclusion for user 0 still holds.
    neg = sampler.sample(torch.tensor([0]), torch.tensor([1]), 50)
    assert not set(neg.items.flatten().tolist()) & {1, 2, 3}


def test_sampler_rejects_stream_items_outside_the_catalogue(train):
    sampler = StreamingPoolSampler(capacity=2, random_state=0).fit(train)
    with pytest.raises(RecnegError, match="item id 11 is outside 1..10"):
        sampler.update([3, 11])
    per_user = StreamingPoolSampler(capacity=2, per_user=True, random_state=0).fit(train)
    with pytest.raises(RecnegError, match="needs users"):
        per_user.update([3])
    with pytest.raises(RecnegError, match="not fitted"):
        StreamingPoolSampler().update([1])
