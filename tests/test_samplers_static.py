"""Tests for the static samplers, the shared exclusion mechanism and the registry.

Goodness-of-fit tests draw at fixed seeds and reject at p < 0.001 (scipy's chi-square):
a correct sampler fails one of them with probability 0.001 for a given seed, which the
fixed seed turns into a deterministic pass; a biased one (say, off by 5% on one item
with 40 000 draws) fails with near certainty because the statistic grows linearly in the
number of draws.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from recneg import RecnegError
from recneg.data import Interactions
from recneg.samplers import (
    SAMPLERS,
    InBatchSampler,
    ItemDistributionSampler,
    MixedSampler,
    NegativeSampler,
    PopularitySampler,
    UniformSampler,
    make_sampler,
    register_sampler,
)
import recneg.samplers.base as base
from recneg.samplers.base import ExclusionIndex, draw_excluding, extra_targets, is_excluded
from recneg.samplers.static import alias_table, batched_alias_tables

P_THRESHOLD = 1e-3

#: For tests of unsmoothed popularity, where fit's zero-probability warning is expected.
ZERO_PROBABILITY_EXPECTED = pytest.mark.filterwarnings(
    r"ignore:PopularitySampler\(alpha=[^)]*\) gives probability 0:UserWarning")


pytestmark = pytest.mark.usefixtures("one_thread")


def log_from(pairs, n_users, n_items) -> Interactions:
    users = np.array([u for u, _ in pairs], dtype=np.int64)
    items = np.array([i for _, i in pairs], dtype=np.int64)
    return Interactions(users, items, np.arange(len(pairs)), n_users=n_users, n_items=n_items, name="toy")


@pytest.fixture
def train() -> Interactions:
    # 4 users, 12 items; item popularity 1: 4, 2: 3, 3: 2, 4..6: 1, 7..12: 0.
    pairs = [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 4), (2, 1), (2, 5), (3, 1), (3, 2), (3, 3), (3, 6)]
    return log_from(pairs, 4, 12)


def heavy_log(n_items=20, seen=18) -> Interactions:
    """User 0 has seen ``seen`` of ``n_items`` items: rejection mostly fails for them."""
    pairs = [(0, i) for i in range(1, seen + 1)] + [(1, 1), (1, n_items)]
    return log_from(pairs, 2, n_items)


def chisquare_p(draws: torch.Tensor, probs: torch.Tensor) -> float:
    """p-value of draws (item ids) against ``probs`` over the items with probs > 0;
    draws outside the support fail outright."""
    support = torch.nonzero(probs > 0).flatten()
    counts = torch.bincount(draws.flatten(), minlength=len(probs)).double()
    assert counts[probs == 0].sum() == 0, f"drew items {torch.nonzero(counts * (probs == 0)).flatten().tolist()} of probability 0"
    if len(support) == 1:
        return 1.0  # every draw is the one allowed item, checked above
    observed = counts[support].numpy()
    expected = (probs[support] / probs[support].sum() * counts.sum()).numpy()
    return float(stats.chisquare(observed, expected).pvalue)


# -- exclusion ----------------------------------------------------------------------------

@st.composite
def small_world(draw):
    n_items = draw(st.integers(3, 12))
    n_users = draw(st.integers(1, 4))
    pairs = set()
    for u in range(n_users):
        # Every user keeps at least one unseen item, so exclusion is always satisfiable.
        seen = draw(st.sets(st.integers(1, n_items), min_size=1, max_size=n_items - 1))
        pairs |= {(u, i) for i in seen}
    train = log_from(sorted(pairs), n_users, n_items)
    B = draw(st.integers(1, 5))
    users = draw(st.lists(st.integers(0, n_users - 1), min_size=B, max_size=B))
    L = draw(st.integers(1, 4))
    seqs = []
    for u in users:
        own = sorted(i for v, i in pairs if v == u)
        seqs.append(draw(st.lists(st.sampled_from([0] + own), min_size=L, max_size=L)))
    seqs[0][-1] = draw(st.sampled_from(sorted(i for v, i in pairs if v == users[0])))  # in-batch needs one
    return train, torch.tensor(users), torch.tensor(seqs)


SAMPLER_FACTORIES = {
    "uniform": lambda: UniformSampler(random_state=0),
    "popularity-0": lambda: PopularitySampler(alpha=0.0, random_state=0),
    "popularity-0.75": lambda: PopularitySampler(alpha=0.75, smoothing=0.5, random_state=0),
    "popularity-1": lambda: PopularitySampler(alpha=1.0, smoothing=1.0, random_state=0),
    "in-batch": lambda: InBatchSampler(random_state=0),
    "mixed": lambda: MixedSampler(0.5, random_state=0),
    "mixed-popularity": lambda: MixedSampler(0.25, base=PopularitySampler(alpha=1.0, smoothing=1.0), random_state=0),
}


def assert_allowed(train, users, positives, items):
    seen = train.user_item_set()
    flat = items.reshape(items.shape[0], -1)
    assert (flat >= 1).all() and (flat <= train.n_items).all(), "padding or out-of-range item returned"
    assert not seen.contains(users, flat).any(), "a training positive was returned"
    targets = positives.reshape(positives.shape[0], -1)
    assert not (flat.unsqueeze(-1) == targets.unsqueeze(1)).any(), "a batch target was returned"


@pytest.mark.parametrize("name", sorted(SAMPLER_FACTORIES))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(world=small_world(), k=st.integers(1, 6), per_position=st.booleans(), seed=st.integers(0, 2**16))
def test_excluding_sampler_never_returns_positive_or_padding(name, world, k, per_position, seed):
    train, users, seqs = world
    sampler = SAMPLER_FACTORIES[name]()
    sampler.fit(train)
    neg = sampler.sample(users, seqs, k, per_position=per_position, generator=torch.Generator().manual_seed(seed))
    expected = (len(users), seqs.shape[1], k) if per_position else (len(users), k)
    assert tuple(neg.items.shape) == expected
    assert_allowed(train, users, seqs, neg.items)
    assert torch.isfinite(neg.log_prob).all() and (neg.log_prob <= 1e-6).all()
    # Shared negatives for (B,) targets too.
    flat_targets = seqs[:, -1]
    neg = sampler.sample(users, flat_targets, k, generator=torch.Generator().manual_seed(seed))
    assert_allowed(train, users, flat_targets, neg.items)


def test_targets_outside_training_are_excluded_too(train):
    # Items 7 and 9 are targets of user 0's row but not training items: still excluded,
    # and the conditional log_prob renormalises over what is left.
    sampler = UniformSampler(random_state=0).fit(train)
    positives = torch.tensor([[7, 0, 9, 7]])
    assert extra_targets(sampler, torch.tensor([0]), positives).tolist() == [[9, 7]]
    neg = sampler.sample(torch.tensor([0]), positives, 200, per_position=True)
    assert_allowed(train, torch.tensor([0]), positives, neg.items)
    allowed = 12 - 3 - 2
    assert torch.allclose(neg.log_prob, torch.full_like(neg.log_prob, -math.log(allowed)))


def test_is_excluded_compares_per_row(train):
    sampler = UniformSampler().fit(train)
    users = torch.tensor([0, 1])
    cand = torch.tensor([[[0, 1, 4, 7], [8, 9, 2, 12]], [[1, 3, 7, 8], [9, 5, 4, 0]]])
    positives = torch.tensor([[1, 8], [4, 0]])  # row 0 has the extra target 8
    expected = [[[True, True, False, False], [True, False, True, False]],
                [[True, False, False, False], [False, False, True, True]]]
    assert is_excluded(sampler, users, positives, cand).tolist() == expected
    open_sampler = UniformSampler(exclude_positives=False).fit(train)
    assert is_excluded(open_sampler, users, positives, cand).tolist() == (cand == 0).tolist()


def test_draw_excluding_reports_rows_with_nothing_allowed(train):
    sampler = UniformSampler().fit(train)
    weights = torch.zeros(13, dtype=torch.float64)
    weights[[1, 2, 3]] = 1.0  # exactly user 0's training items
    items, empty = draw_excluding(sampler, torch.tensor([0, 2]), torch.tensor([1, 1]), (2, 5),
                                  lambda n: torch.randint(1, 4, (n,)), weights, torch.Generator().manual_seed(0))
    assert empty.tolist() == [True, False]
    assert set(items[1].tolist()) <= {2, 3}


@pytest.mark.parametrize("mode", ["dense", "bits", "keys"])
def test_exclusion_index_modes_agree_with_the_sorted_keys(mode, monkeypatch):
    if mode != "dense":
        monkeypatch.setattr(base, "DENSE_MASK_BYTES", 0)
    if mode == "keys":
        monkeypatch.setattr(base, "BITSET_BYTES", 0)
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 7, 60), rng.integers(1, 30, 60)  # 30 items: bytes straddle rows
    seen = Interactions(users, items, np.arange(60), n_users=7, n_items=29).user_item_set()
    index = ExclusionIndex(seen)
    assert index.mode == mode
    query_users = torch.arange(7).repeat_interleave(3)
    query = torch.randint(0, 30, (21, 40), generator=torch.Generator().manual_seed(1))
    expected = seen.contains(query_users, query) | (query == 0)
    assert torch.equal(index(query_users, query), expected)
    rows = index.rows(torch.tensor([3, 0, 3]))
    dense = seen.dense_mask(torch.tensor([3, 0, 3]))
    dense[:, 0] = True
    assert torch.equal(rows, dense)


def test_alias_table_reproduces_the_distribution_exactly():
    gen = torch.Generator().manual_seed(0)
    for trial in range(200):
        n = int(torch.randint(1, 50, (1,), generator=gen))
        p = torch.rand(n, generator=gen, dtype=torch.float64) ** 4
        p[torch.rand(n, generator=gen) < 0.3] = 0.0
        if trial % 5 == 0:
            p = torch.ones(n, dtype=torch.float64)  # all buckets full
        if p.sum() == 0:
            p[0] = 1.0
        p = p / p.sum()
        accept, alias = alias_table(p)
        implied = accept.clone().index_add_(0, alias, 1 - accept) / n
        assert torch.allclose(implied, p, atol=1e-12, rtol=0), trial
        assert ((accept >= 0) & (accept <= 1)).all()
        assert (p[alias[accept < 1]] > 0).all(), "an alias points at an item of probability 0"


def test_batched_alias_tables_reproduce_every_row_exactly():
    gen = torch.Generator().manual_seed(7)
    for trial in range(100):
        rows = int(torch.randint(1, 6, (1,), generator=gen))
        width = int(torch.randint(1, 30, (1,), generator=gen))
        counts = torch.randint(1, width + 1, (rows,), generator=gen)
        valid = torch.arange(width) < counts[:, None]
        p = torch.rand(rows, width, generator=gen, dtype=torch.float64) ** 4
        p[torch.rand(rows, width, generator=gen) < 0.3] = 0.0
        p = torch.where(valid, p, 0.0)
        p[p.sum(1) == 0, 0] = 1.0
        p = p / p.sum(1, keepdim=True)
        accept, alias = batched_alias_tables(p * counts[:, None], valid)
        for r in range(rows):
            c = int(counts[r])
            a, to = accept[r, :c], alias[r, :c].long()
            assert (to < c).all() and ((a >= 0) & (a <= 1)).all(), trial
            implied = a.clone().index_add_(0, to, 1 - a) / c
            assert torch.allclose(implied, p[r, :c], atol=1e-12, rtol=0), (trial, r)


def implied_by_tables(accept: torch.Tensor, alias: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """The exact distribution a draw from each row's alias table returns, ``(rows, width)``:
    bucket ``b`` keeps ``accept[b]`` and receives ``1 − accept[a]`` from every other
    bucket ``a`` whose alias is ``b``, all divided by the row's ``c`` valid buckets."""
    valid = torch.arange(accept.shape[1]) < counts[:, None]
    kept = torch.where(valid, accept, 0.0)
    lent = torch.where(valid, 1 - accept, 0.0)
    return kept.scatter_add(1, alias.long(), lent) / counts[:, None].double()


def assert_tables_exact(weights: torch.Tensor, counts: torch.Tensor, atol: float = 1e-12) -> None:
    """Build the tables of every row's first ``c`` weights and compare what they imply
    with the weights normalised, row by row."""
    weights = weights.to(torch.float64)
    valid = torch.arange(weights.shape[1]) < counts[:, None]
    weights = torch.where(valid, weights, 0.0)
    target = weights / weights.sum(1, keepdim=True)
    accept, alias = batched_alias_tables(target * counts[:, None], valid)
    assert ((accept >= 0) & (accept <= 1)).all()
    assert (torch.where(valid, alias.long(), 0) < counts[:, None]).all(), \
        "an alias points outside the row's valid buckets"
    lending = valid & (accept < 1)
    assert (target[lending.nonzero(as_tuple=True)[0], alias.long()[lending]] > 0).all(), \
        "an alias points at a bucket of probability 0"
    error = (implied_by_tables(accept, alias, counts) - target).abs().amax(1)
    wrong = torch.nonzero(error > atol).flatten().tolist()
    assert not wrong, f"rows {wrong} imply the wrong distribution (max abs error {error.max().item():.3g})"


def test_batched_alias_tables_are_exact_with_tied_and_discrete_weights():
    # Ties make a light's demand end exactly where a heavy's surplus ends; every row,
    # not only row 0, must resolve them the same way in each comparison (issue #9).
    width = 12
    rows = [
        [2 ** 0.75] * 4 + [1] * 4,       # the reported case: counts 2 and 1 at alpha = 0.75
        [2 ** 0.75] * 4 + [1] * 4,
        [2 ** 0.75] * 4 + [1] * 4,
        [1] * 12,                        # all equal: every bucket full
        [1] * 7,
        [3, 3, 1, 1, 1],                 # integer counts with many ties
        [3, 3, 1, 1, 1, 0, 0, 0, 3],
        [2, 2, 2, 1, 1, 1, 1, 1, 1, 0, 2],
        [5, 0, 0, 5],
        [4],                             # a single valid bucket
        [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6],
        [2 ** 0.75, 1, 2 ** 0.75, 1, 2 ** 0.75, 1, 2 ** 0.75, 1],
        [3 ** 0.5, 3 ** 0.5, 1, 1, 1, 2 ** 0.5, 2 ** 0.5],
    ]
    for shift in range(len(rows)):  # every case at several row positions
        order = rows[shift:] + rows[:shift]
        counts = torch.tensor([len(r) for r in order])
        weights = torch.tensor([r + [0] * (width - len(r)) for r in order], dtype=torch.float64)
        assert_tables_exact(weights, counts)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), n_rows=st.integers(1, 8), width=st.integers(1, 12),
       alpha=st.sampled_from([1.0, 0.75, 0.5]))
def test_batched_alias_tables_are_exact_for_small_integer_weights(data, n_rows, width, alpha):
    # Small integer counts (raised to alpha, as PopularitySampler does) tie constantly.
    counts = torch.tensor(data.draw(st.lists(st.integers(1, width), min_size=n_rows, max_size=n_rows)))
    weights = torch.tensor(data.draw(st.lists(st.lists(st.integers(0, 4), min_size=width, max_size=width),
                                              min_size=n_rows, max_size=n_rows)), dtype=torch.float64)
    weights = weights.pow(alpha)
    valid = torch.arange(width) < counts[:, None]
    weights[(torch.where(valid, weights, 0.0).sum(1) == 0).nonzero().flatten(), 0] = 1.0
    assert_tables_exact(weights, counts)


def popularity_tables_exact(sampler: PopularitySampler) -> torch.Tensor:
    """Max abs error, per user, between what the sampler's per-user tables imply and
    ``p`` restricted to the user's allowed items."""
    users, width = sampler.n_users_, sampler.n_items_
    counts = sampler.allowed_count_
    allowed = sampler.allowed_.reshape(users, width).long()
    valid = torch.arange(width) < counts[:, None]
    weights = torch.where(valid, sampler.probs_[allowed], 0.0)
    target = weights / weights.sum(1, keepdim=True)
    implied = implied_by_tables(sampler.user_accept_.reshape(users, width),
                                sampler.user_alias_.reshape(users, width), counts)
    return (implied - target).abs().amax(1)


def test_popularity_user_tables_are_exact_on_a_synthetic_world():
    # Integer counts with ties, alpha = 1: every user's table, whatever its row.
    from recneg.data import SyntheticWorld, leave_one_out

    world = SyntheticWorld(n_users=300, n_items=120, interactions_per_user=12, random_state=3)
    split = leave_one_out(world.generate())
    sampler = PopularitySampler(alpha=1.0, smoothing=1.0, random_state=0).fit(split.train)
    assert sampler.user_alias_ is not None
    error = popularity_tables_exact(sampler)
    assert error.max() < 1e-12, f"users {torch.nonzero(error >= 1e-12).flatten().tolist()} have inexact tables"


@pytest.mark.parametrize("alpha", [1.0, 0.75])
def test_popularity_user_tables_are_exact_on_ml100k(data_dir, alpha):
    # The report of issue #9: with alpha = 1 on the temporal split, 16 of 943 users got
    # a wrong table.
    from recneg.data import global_temporal_split, load_dataset

    split = global_temporal_split(load_dataset("ml-100k", data_dir=data_dir, progress=False))
    if alpha == 1.0:
        # 45 items appear only after the split's cut: probability 0 without smoothing.
        with pytest.warns(UserWarning, match="probability 0 to 45 of the 1682 items"):
            sampler = PopularitySampler(alpha=alpha).fit(split.train)
    else:
        sampler = PopularitySampler(alpha=alpha, smoothing=1.0).fit(split.train)
    assert sampler.user_alias_ is not None
    error = popularity_tables_exact(sampler)
    assert error.max() < 1e-12, f"users {torch.nonzero(error >= 1e-12).flatten().tolist()} have inexact tables"


def test_popularity_draws_with_tied_weights_pass_chi_square():
    # Users 1..3 (rows >= 1 of the per-user tables) may draw items 1..8 only, whose
    # counts 2,2,2,2,1,1,1,1 at alpha = 0.75 are the tied weights of issue #9.
    pairs = [(0, i) for i in range(1, 9)] + [(4, i) for i in range(1, 5)]
    pairs += [(u, i) for u in (1, 2, 3) for i in range(9, 13)]
    train = log_from(pairs, 5, 12)
    sampler = PopularitySampler(alpha=0.75, random_state=11).fit(train)
    assert sampler.user_alias_ is not None
    users = torch.tensor([1, 2, 3]).repeat_interleave(5_000)
    neg = sampler.sample(users, torch.full_like(users, 9), 8)  # 40 000 draws per user
    target = torch.zeros(13, dtype=torch.float64)
    target[1:5], target[5:9] = 2 ** 0.75, 1.0
    for user in (1, 2, 3):
        assert chisquare_p(neg.items[users == user], target) > P_THRESHOLD, f"user {user}"
    # log_prob is the target's, so it matches the draws only if the draws are right.
    assert torch.allclose(neg.log_prob.double().exp(), (target / target.sum())[neg.items], rtol=1e-6)


@pytest.mark.parametrize("tables", [True, False])
def test_popularity_user_tables_and_rejection_agree(train, tables, monkeypatch):
    # Per-user alias tables (exact, no rejection) and rejection from the global alias
    # table must give the same conditional distribution and log-probabilities.
    import recneg.samplers.static as static

    if not tables:
        monkeypatch.setattr(static, "ALLOWED_TABLE_BYTES", 0)
    sampler = PopularitySampler(alpha=1.0, smoothing=0.5, random_state=6).fit(train)
    assert (sampler.user_alias_ is not None) is tables
    neg = sampler.sample(torch.arange(4), torch.tensor([1, 1, 1, 1]), 8_000)
    weights = sampler.probs_
    for user in range(4):
        probs = weights.clone()
        probs[torch.as_tensor(train.items[train.users == user])] = 0.0
        probs = probs / probs.sum()
        assert chisquare_p(neg.items[user], probs) > P_THRESHOLD
        assert torch.allclose(neg.log_prob[user].double(), probs[neg.items[user]].log(), atol=1e-5)


@pytest.mark.parametrize("max_rounds", [8, 1])
def test_rejection_rounds_and_the_exact_tail_together_are_unbiased(max_rounds):
    # User 0 saw 10 of 20 items: acceptance 0.5 with one draw per row, so entries go
    # through the rejection rounds (several candidates per entry in later rounds) and,
    # with a single round allowed, the rest through the exact route.
    train = heavy_log(n_items=20, seen=10)
    sampler = UniformSampler().fit(train)
    users, positives = torch.zeros(20_000, dtype=torch.long), torch.full((20_000,), 3)
    gen = torch.Generator().manual_seed(11)
    items, empty = draw_excluding(sampler, users, positives, (20_000, 1), lambda n: sampler._draw(n, gen),
                                  sampler.probs_, gen, max_rounds=max_rounds, min_acceptance=0.0)
    assert not empty.any()
    probs = torch.zeros(21, dtype=torch.float64)
    probs[11:] = 1.0
    assert chisquare_p(items, probs) > P_THRESHOLD


# -- distributions ------------------------------------------------------------------------

def test_uniform_without_exclusion_is_uniform(train):
    sampler = UniformSampler(exclude_positives=False, random_state=1).fit(train)
    neg = sampler.sample(torch.tensor([0, 1]), torch.tensor([1, 4]), 10_000)
    probs = torch.ones(13, dtype=torch.float64)
    probs[0] = 0
    assert chisquare_p(neg.items, probs) > P_THRESHOLD
    assert torch.allclose(neg.log_prob, torch.full_like(neg.log_prob, -math.log(12)))


@pytest.mark.parametrize("per_position", [False, True])
def test_uniform_with_exclusion_is_the_conditional_distribution(train, per_position):
    sampler = UniformSampler(random_state=2).fit(train)
    users = torch.tensor([0, 3])
    positives = torch.tensor([[1, 2], [6, 0]])
    neg = sampler.sample(users, positives, 5_000, per_position=per_position)
    for row, seen in [(0, {1, 2, 3}), (1, {1, 2, 3, 6})]:
        probs = torch.tensor([0.0] + [0.0 if i in seen else 1.0 for i in range(1, 13)], dtype=torch.float64)
        assert chisquare_p(neg.items[row], probs) > P_THRESHOLD
        assert torch.allclose(neg.log_prob[row], torch.full_like(neg.log_prob[row], -math.log(12 - len(seen))))


@pytest.mark.parametrize("table", [True, False])
def test_uniform_table_and_rejection_routes_agree(train, table, monkeypatch):
    # The per-user table of allowed items (multiply-shift draws) and the rejection route
    # used when the table would be too large must sample the same distribution.
    import recneg.samplers.static as static

    if not table:
        monkeypatch.setattr(static, "ALLOWED_TABLE_BYTES", 0)
    sampler = UniformSampler(random_state=5).fit(train)
    assert (sampler.allowed_ is not None) is table
    users = torch.arange(4)
    neg = sampler.sample(users, torch.tensor([1, 1, 1, 1]), 6_000)
    for user in range(4):
        seen = set(train.items[train.users == user].tolist())
        probs = torch.tensor([0.0] + [0.0 if i in seen else 1.0 for i in range(1, 13)], dtype=torch.float64)
        assert chisquare_p(neg.items[user], probs) > P_THRESHOLD
        assert torch.allclose(neg.log_prob[user], torch.full((6_000,), -math.log(12 - len(seen))))


def test_heavy_user_goes_through_the_exact_fallback_unbiased():
    # 2 allowed of 20 items: after 8 rounds ~39% of entries are still rejected and are
    # drawn from the dense complement; the result must still be uniform on {19, 20}.
    train = heavy_log()
    uniform = UniformSampler(random_state=3).fit(train)
    neg = uniform.sample(torch.tensor([0]), torch.tensor([5]), 20_000)
    probs = torch.zeros(21, dtype=torch.float64)
    probs[[19, 20]] = 1.0
    assert chisquare_p(neg.items, probs) > P_THRESHOLD
    # Popularity: item 20 was seen once by user 1, item 19 never (smoothing 1 -> weights 2 : 1).
    popularity = PopularitySampler(alpha=1.0, smoothing=1.0, random_state=4).fit(train)
    neg = popularity.sample(torch.tensor([0]), torch.tensor([5]), 20_000)
    probs[[19, 20]] = torch.tensor([1.0, 2.0], dtype=torch.float64)
    assert chisquare_p(neg.items, probs) > P_THRESHOLD
    assert torch.allclose(neg.log_prob[neg.items == 20].exp(), torch.tensor(2 / 3))


@ZERO_PROBABILITY_EXPECTED
@pytest.mark.parametrize("alpha", [0.0, 0.75, 1.0])
@pytest.mark.parametrize("exclude", [False, True])
def test_popularity_matches_count_power_alpha(train, alpha, exclude):
    sampler = PopularitySampler(alpha=alpha, exclude_positives=exclude, random_state=5).fit(train)
    counts = torch.as_tensor(train.item_counts(), dtype=torch.float64)
    weights = counts.pow(alpha) if alpha > 0 else torch.ones(13, dtype=torch.float64)
    weights[0] = 0
    assert torch.allclose(sampler.probs_, weights / weights.sum())
    user = torch.tensor([2])  # training items 1 and 5
    neg = sampler.sample(user, torch.tensor([5]), 40_000)
    expected = weights.clone()
    if exclude:
        expected[[1, 5]] = 0
    assert chisquare_p(neg.items, expected) > P_THRESHOLD
    # log_prob is the conditional probability, which sums to one over the allowed items.
    q = sampler.conditional_log_prob(user, torch.arange(1, 13).unsqueeze(0), torch.zeros(1, 0, dtype=torch.long)).exp()
    assert q[0, expected[1:] > 0].sum().item() == pytest.approx(1.0)
    expected_q = expected / expected.sum()
    assert torch.allclose(neg.log_prob.double().exp(), expected_q[neg.items], rtol=1e-5)


def test_popularity_unseen_items_have_probability_zero_unless_smoothed(train):
    with pytest.warns(UserWarning, match="probability 0 to 6 of the 12 items"):
        plain = PopularitySampler(alpha=0.75, exclude_positives=False, random_state=0).fit(train)
    assert (plain.probs_[7:] == 0).all()
    assert not torch.isin(plain.sample(torch.tensor([0]), torch.tensor([1]), 5_000).items, torch.arange(7, 13)).any()
    smoothed = PopularitySampler(alpha=0.75, smoothing=1.0, exclude_positives=False).fit(train)
    assert (smoothed.probs_[7:] > 0).all()
    assert torch.allclose(smoothed.probs_[7], smoothed.probs_[8])


def test_popularity_counts_and_warns_once_about_zero_probability_items(train):
    # Items 7..12 are never seen in training: without smoothing they are never drawn
    # as negatives, and fit says so in one line that names the count and the fix.
    with pytest.warns(UserWarning) as caught:
        plain = PopularitySampler(alpha=0.75).fit(train)
    assert plain.zero_probability_items_ == 6
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "\n" not in message
    assert "PopularitySampler(alpha=0.75) gives probability 0 to 6 of the 12 items" in message
    assert "smoothing=1.0" in message
    assert caught[0].filename == __file__, "the warning should point at the caller's fit"
    # Every item drawable: no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert PopularitySampler(alpha=0.75, smoothing=1.0).fit(train).zero_probability_items_ == 0
        assert PopularitySampler(alpha=0.0).fit(train).zero_probability_items_ == 0
        assert UniformSampler().fit(train).zero_probability_items_ == 0


def test_item_distribution_zero_weights_are_counted_and_reported(train):
    weights = [0.0, 1, 1, 0, 2, 0, 1, 1, 1, 1, 1, 1, 1]  # items 3 and 5 have weight 0
    with pytest.warns(UserWarning, match="ItemDistributionSampler gives probability 0 to 2 of the 12 items"):
        sampler = ItemDistributionSampler(weights=weights, exclude_positives=False, random_state=0).fit(train)
    assert sampler.zero_probability_items_ == 2
    assert (sampler.probs_[[3, 5]] == 0).all()


@ZERO_PROBABILITY_EXPECTED
def test_popularity_counts_only_the_log_it_is_fitted_on(train):
    # Fitting on a subset (the training split) ignores the rest.
    subset = train.subset(train.users != 0)
    sampler = PopularitySampler(alpha=1.0, exclude_positives=False).fit(subset)
    assert sampler.probs_[3] * 9 == pytest.approx(1.0)  # item 3: one of 9 remaining interactions


def test_in_batch_draws_only_batch_items_in_proportion_to_batch_counts(train):
    sampler = InBatchSampler(exclude_positives=False, random_state=6).fit(train)
    positives = torch.tensor([[7, 7, 8], [9, 7, 0]])  # counts 7: 3, 8: 1, 9: 1; 0 is padding
    neg = sampler.sample(torch.tensor([0, 1]), positives, 10_000)
    probs = torch.zeros(13, dtype=torch.float64)
    probs[[7, 8, 9]] = torch.tensor([3.0, 1.0, 1.0], dtype=torch.float64)
    assert chisquare_p(neg.items, probs) > P_THRESHOLD
    assert torch.allclose(neg.log_prob.double().exp(), (probs / 5)[neg.items])


def test_in_batch_with_exclusion_renormalises_per_row(train):
    sampler = InBatchSampler(random_state=7).fit(train)
    # User 1 saw items 1, 2, 4; the batch pools 1 (x2), 2, 4, 5, 6.
    users = torch.tensor([1, 2, 3])
    positives = torch.tensor([[1, 2], [1, 5], [4, 6]])
    neg = sampler.sample(users, positives, 8_000)
    # Row 0 may get 5 and 6; row 1 (saw 1, 5) may get 2, 4, 6 (not its own targets 1, 5);
    # row 2 (saw 1, 2, 3, 6; extra target 4) may get 5 only.
    for row, allowed in [(0, {5: 1, 6: 1}), (1, {2: 1, 4: 1, 6: 1}), (2, {5: 1})]:
        probs = torch.zeros(13, dtype=torch.float64)
        for item, count in allowed.items():
            probs[item] = count
        assert chisquare_p(neg.items[row], probs) > P_THRESHOLD
        expected = (probs / probs.sum())[neg.items[row]]
        assert torch.allclose(neg.log_prob[row].double().exp(), expected, rtol=1e-6)
    assert sampler.sample(users, positives, 2, per_position=True).items.shape == (3, 2, 2)


def test_in_batch_falls_back_to_uniform_when_the_pool_is_all_excluded(train):
    sampler = InBatchSampler(random_state=8).fit(train)
    neg = sampler.sample(torch.tensor([0]), torch.tensor([[1, 2, 3]]), 3_000)
    probs = torch.ones(13, dtype=torch.float64)
    probs[[0, 1, 2, 3]] = 0
    assert chisquare_p(neg.items, probs) > P_THRESHOLD
    assert torch.allclose(neg.log_prob, torch.full_like(neg.log_prob, -math.log(9)))


def test_mixed_log_prob_is_the_mixture_density(train):
    sampler = MixedSampler(n_in_batch=1, random_state=9).fit(train)
    users = torch.tensor([0, 2])
    positives = torch.tensor([1, 5])
    k = 4
    items = torch.arange(1, 13).expand(2, -1)
    q = sampler.mixture_log_prob(users, positives, items, k).exp()
    # Row 0 (user 0: 1, 2, 3; the batch's 1 is its own): in-batch part all on item 5.
    q_base = torch.tensor([0.0] * 3 + [1 / 9] * 9, dtype=torch.float64)
    q_batch = torch.zeros(12, dtype=torch.float64)
    q_batch[4] = 1.0
    assert torch.allclose(q[0], 0.25 * q_batch + 0.75 * q_base, equal_nan=True)
    assert torch.allclose(q.sum(1), torch.ones(2, dtype=torch.float64))
    neg = sampler.sample(users, positives, k)
    assert neg.items[0, 0] == 5  # row 0's in-batch slot can only be item 5
    assert torch.allclose(neg.log_prob.double().exp(), q.gather(1, neg.items - 1))
    # Draws pooled over the slots follow the mixture.
    frac = MixedSampler(in_batch_fraction=0.25, random_state=10).fit(train)
    neg = frac.sample(users, positives, 12_000)
    expected = frac.mixture_log_prob(users, positives, items, 12_000).exp()
    for row in range(2):
        assert chisquare_p(neg.items[row], torch.cat([torch.zeros(1, dtype=torch.float64), expected[row]])) > P_THRESHOLD
        assert torch.allclose(neg.log_prob[row].double().exp(), expected[row][neg.items[row] - 1], rtol=1e-5)


@ZERO_PROBABILITY_EXPECTED
def test_mixed_counts_and_base(train):
    sampler = MixedSampler(n_in_batch=2, base=PopularitySampler(alpha=1.0), random_state=0).fit(train)
    assert sampler.split(5) == (2, 3)
    batch_items = {1, 4, 5, 6}
    neg = sampler.sample(torch.tensor([0, 1, 2, 3]), torch.tensor([1, 4, 5, 6]), 5)
    assert set(neg.items[:, :2].flatten().tolist()) <= batch_items
    assert sampler.base_ is not sampler.base and sampler.base.exclude_positives
    assert MixedSampler(in_batch_fraction=0.0).fit(train).split(3) == (0, 3)
    with pytest.raises(RecnegError, match="n_in_batch=6 exceeds num_negatives=5"):
        MixedSampler(n_in_batch=6).fit(train).sample(torch.tensor([0]), torch.tensor([1]), 5)


# -- determinism --------------------------------------------------------------------------

@ZERO_PROBABILITY_EXPECTED
@pytest.mark.parametrize("name", ["uniform", "popularity", "in-batch", "mixed"])
def test_same_seed_same_negatives(train, name):
    users, positives = torch.tensor([0, 1, 3]), torch.tensor([[1, 2], [4, 0], [6, 3]])
    a = make_sampler(name, random_state=42).fit(train).sample(users, positives, 7, per_position=True)
    b = make_sampler(name, random_state=42).fit(train).sample(users, positives, 7, per_position=True)
    c = make_sampler(name, random_state=43).fit(train).sample(users, positives, 7, per_position=True)
    assert torch.equal(a.items, b.items) and torch.equal(a.log_prob, b.log_prob)
    assert not torch.equal(a.items, c.items)
    s = make_sampler(name, random_state=0).fit(train)
    g1 = s.sample(users, positives, 7, generator=torch.Generator().manual_seed(5))
    g2 = s.sample(users, positives, 7, generator=torch.Generator().manual_seed(5))
    assert torch.equal(g1.items, g2.items)


# -- errors ---------------------------------------------------------------------------------

def test_user_with_every_item_is_rejected_at_fit():
    full = log_from([(0, 1), (0, 2), (0, 3), (1, 1)], 2, 3)
    for cls in (UniformSampler, PopularitySampler, InBatchSampler, MixedSampler):
        with pytest.raises(RecnegError, match="user 0 has interacted with every"):
            cls().fit(full)
        cls(exclude_positives=False).fit(full)  # allowed without exclusion


@ZERO_PROBABILITY_EXPECTED
def test_user_with_every_drawable_item_is_rejected_at_fit(train):
    # Popularity without smoothing can only draw items 1..6; a user who saw all six has none.
    log = log_from([(0, i) for i in range(1, 7)] + [(1, 1)], 2, 12)
    with pytest.raises(RecnegError, match="every item this sampler can draw"):
        PopularitySampler(alpha=1.0).fit(log)
    PopularitySampler(alpha=1.0, smoothing=0.1).fit(log)


@pytest.mark.parametrize(
    "weights, message",
    [
        ([0, 1, float("nan")] + [1] * 10, "item 2 is NaN"),
        ([0, 1, -1] + [1] * 10, "item 2 is negative"),
        ([0] * 13, "all zero"),
        ([0, 1, float("inf")] + [1] * 10, "item 2 is infinite"),
        ([1, 1, 1], "n_items \\+ 1 = 13 entries"),
    ],
)
def test_bad_weights(train, weights, message):
    with pytest.raises(RecnegError, match=message):
        ItemDistributionSampler(weights=weights).fit(train)


def test_bad_arguments(train):
    with pytest.raises(RecnegError, match="alpha must be a finite number >= 0, got -1"):
        PopularitySampler(alpha=-1)
    with pytest.raises(RecnegError, match="smoothing"):
        PopularitySampler(smoothing=float("nan"))
    with pytest.raises(RecnegError, match="in_batch_fraction"):
        MixedSampler(in_batch_fraction=1.5)
    with pytest.raises(RecnegError, match="base must be an ItemDistributionSampler"):
        MixedSampler(base=InBatchSampler())
    with pytest.raises(RecnegError, match="not fitted"):
        UniformSampler().sample(torch.tensor([0]), torch.tensor([1]), 1)
    s = UniformSampler().fit(train)
    with pytest.raises(RecnegError, match="num_negatives must be positive, got 0"):
        s.sample(torch.tensor([0]), torch.tensor([1]), 0)
    with pytest.raises(RecnegError, match="user id 4 is outside 0..3"):
        s.sample(torch.tensor([4]), torch.tensor([1]), 1)
    with pytest.raises(RecnegError, match="positive item id 13 is outside 0..12"):
        s.sample(torch.tensor([0]), torch.tensor([13]), 1)
    with pytest.raises(RecnegError, match="per_position=True needs positives of shape"):
        s.sample(torch.tensor([0]), torch.tensor([1]), 1, per_position=True)
    with pytest.raises(RecnegError, match="B = len\\(users\\) = 2"):
        s.sample(torch.tensor([0, 1]), torch.tensor([1]), 1)
    with pytest.raises(RecnegError, match="no positive items"):
        InBatchSampler().fit(train).sample(torch.tensor([0]), torch.tensor([[0, 0]]), 1)
    with pytest.raises(RecnegError, match="empty training split"):
        UniformSampler().fit(train.subset(np.zeros(len(train), dtype=bool)))


# -- registry -------------------------------------------------------------------------------

def test_registry_builds_every_sampler_by_name(train):
    assert {"uniform", "popularity", "in-batch", "mixed", "adaptive", "adaptive-mixed"} <= set(SAMPLERS)
    for name, cls in SAMPLERS.items():
        sampler = make_sampler(name, random_state=0)
        assert isinstance(sampler, cls) and sampler.family and sampler.subfamily
    assert make_sampler("popularity", alpha=0.5).alpha == 0.5
    with pytest.raises(RecnegError, match="unknown sampler 'unifrom'; choose one of: .*uniform"):
        make_sampler("unifrom")
    with pytest.raises(RecnegError, match="bad parameters for sampler 'uniform'"):
        make_sampler("uniform", alpha=1)


def test_register_sampler(train):
    class Custom(UniformSampler):
        subfamily = "custom"

    register_sampler("custom-test", Custom)
    try:
        assert isinstance(make_sampler("custom-test"), Custom)
        register_sampler("custom-test", Custom)  # idempotent
        with pytest.raises(RecnegError, match="already taken by Custom"):
            register_sampler("custom-test", UniformSampler)
        with pytest.raises(RecnegError, match="not a NegativeSampler subclass"):
            register_sampler("nope", int)
    finally:
        SAMPLERS.pop("custom-test")
    assert issubclass(Custom, NegativeSampler)


def test_a_mix_that_rounds_to_no_mix_is_reported_once(train):
    sampler = MixedSampler(0.25, random_state=0).fit(train)
    users, targets = torch.tensor([0, 1]), torch.tensor([1, 2])
    with pytest.warns(UserWarning, match=r"in_batch_fraction=0.25 of num_negatives=1 rounds to 0 .* at least 4"):
        sampler.sample(users, targets, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sampler.sample(users, targets, 1)          # once per sampler, not per batch
        MixedSampler(0.25, random_state=0).fit(train).sample(users, targets, 4)   # 1 of 4: a mix
