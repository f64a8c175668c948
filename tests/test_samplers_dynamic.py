"""Dynamic samplers (DNS, softmax, AHNS, SRNS, user similarity, MixGCF) and the
curriculum / guardrail wrappers, tested against fixed score tables."""

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
from recneg.models import BPRMF
from recneg.samplers import AdaptiveSampler, UniformSampler, make_sampler
from recneg.samplers.curriculum import HardnessCurriculum, RandomInjection
from recneg.samplers.dynamic import (
    AHNSSampler,
    DNSSampler,
    MixGCFInterpolation,
    SoftmaxHardSampler,
    SRNSSampler,
    UserSimilaritySampler,
    bpr_loss_with_mixed_negatives,
)
from recneg.samplers.dynamic import duplicate_mask, mean_over_positions
from helpers import mf_scorer  # pytest puts tests/ on sys.path

N_USERS, N_ITEMS = 6, 30


def toy_train() -> Interactions:
    """Six users with overlapping histories (users 0-2 share items 1-4, users 3-5 items 20-23)."""
    history = {
        0: [1, 2, 3, 5], 1: [1, 2, 3, 4, 6], 2: [2, 3, 4, 7],
        3: [20, 21, 22, 24], 4: [20, 21, 23, 25], 5: [21, 22, 23],
    }
    users = np.concatenate([[u] * len(items) for u, items in history.items()])
    items = np.concatenate(list(history.values()))
    return Interactions(users, items, np.arange(len(users)), n_users=N_USERS, n_items=N_ITEMS, name="toy")


def score_table(seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(N_USERS, N_ITEMS + 1, generator=gen)



def seq_scorer(table: torch.Tensor, users: torch.Tensor, length: int):
    """A sequential fake model: every position scores with its own table row."""
    rows = torch.stack([torch.roll(table[users], shifts=shift, dims=1) for shift in range(length)], dim=1)

    def scorer(candidates):
        if candidates.dim() == 2:
            candidates = candidates.unsqueeze(1).expand(-1, length, -1)
        return rows.gather(2, candidates)

    return scorer


def factories():
    return {
        "dns": lambda: DNSSampler(n_candidates=6, random_state=3),
        "softmax-pool": lambda: SoftmaxHardSampler(n_candidates=6, temperature=0.5, random_state=3),
        "softmax-full": lambda: SoftmaxHardSampler(n_candidates=None, temperature=0.5, random_state=3),
        "ahns": lambda: AHNSSampler(n_candidates=6, random_state=3),
        "srns": lambda: SRNSSampler(n_candidates=4, memory_size=6, random_state=3),
        "user-similarity": lambda: UserSimilaritySampler(n_neighbours=2, uniform_fraction=0.25, random_state=3),
        "user-similarity-default": lambda: UserSimilaritySampler(n_neighbours=2, random_state=3),
        "user-similarity-dns": lambda: UserSimilaritySampler(n_neighbours=2, uniform_fraction=0.0, n_candidates=3,
                                                             random_state=3),
        "curriculum": lambda: HardnessCurriculum(warmup_epochs=0, ramp_epochs=2, random_state=3).set_epoch(1),
        "random-injection": lambda: RandomInjection(DNSSampler(n_candidates=6), 0.5, random_state=3),
    }


USERS = torch.tensor([0, 1, 3, 5])
SEQ = torch.tensor([[0, 1, 2], [3, 4, 6], [20, 21, 24], [21, 22, 23]])  # padded (B, L) targets


def check_allowed(train: Interactions, users, positives, items):
    known = train.user_item_set()
    flat = items.reshape(len(users), -1)
    assert bool((flat > 0).all()) and bool((flat <= N_ITEMS).all())
    assert not bool(known.contains(users, flat).any()), "a negative is a training item of its user"
    for row in range(len(users)):
        targets = set(positives[row].reshape(-1).tolist()) - {0}
        assert not targets & set(flat[row].tolist())


@pytest.mark.parametrize("name", list(factories()))
@pytest.mark.parametrize("layout", ["mf", "shared-seq", "per-position"])
def test_shapes_and_exclusion(name, layout):
    train = toy_train()
    sampler = factories()[name]().fit(train)
    table = score_table()
    if layout == "mf":
        positives = SEQ[:, -1]
        scorer, expected = mf_scorer(table, USERS), (4, 3)
    else:
        positives = SEQ
        scorer = seq_scorer(table, USERS, SEQ.shape[1])
        expected = (4, 3) if layout == "shared-seq" else (4, 3, 3)
    neg = sampler.sample(USERS, positives, 3, per_position=layout == "per-position", scorer=scorer)
    assert tuple(neg.items.shape) == expected and neg.log_prob.shape == neg.items.shape
    assert bool(torch.isfinite(neg.log_prob).all()) and bool((neg.log_prob <= 1e-6).all())
    check_allowed(train, USERS, positives, neg.items)


@pytest.mark.parametrize("name", list(factories()))
def test_same_seed_same_draws(name):
    train, table = toy_train(), score_table()
    draws = []
    for _ in range(2):
        sampler = factories()[name]().fit(train)
        draws.append(torch.cat([sampler.sample(USERS, SEQ, 4, per_position=True,
                                               scorer=seq_scorer(table, USERS, 3)).items.flatten()
                                for _ in range(3)]))
    assert torch.equal(draws[0], draws[1])


def test_registered_names_build_dynamic_samplers():
    for name in ("dns", "softmax-hard", "ahns", "srns", "user-similarity", "curriculum", "random-injection"):
        assert make_sampler(name).family == "dynamic"


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 5), rows=st.lists(st.integers(0, N_USERS - 1), min_size=1, max_size=8))
def test_dns_never_returns_positives(seed, k, rows):
    train = toy_train()
    users = torch.tensor(rows)
    positives = torch.tensor([train.user_item_set().items_of(u)[0] for u in rows])
    neg = DNSSampler(n_candidates=5, random_state=seed).fit(train).sample(
        users, positives, k, scorer=mf_scorer(score_table(seed % 7), users))
    check_allowed(train, users, positives[:, None], neg.items)


def test_dns_returns_the_top_scored_allowed_items_when_the_pool_covers_the_catalogue():
    train, table = toy_train(), score_table(1)
    users = torch.tensor([0, 3])
    neg = DNSSampler(n_candidates=400, random_state=0).fit(train).sample(
        users, torch.tensor([1, 20]), 3, scorer=mf_scorer(table, users))
    for row, user in enumerate(users.tolist()):
        allowed = [i for i in range(1, N_ITEMS + 1) if i not in set(train.user_item_set().items_of(user))]
        best = sorted(allowed, key=lambda i: -float(table[user, i]))[:3]
        assert sorted(neg.items[row].tolist()) == sorted(best)


def test_dns_with_one_candidate_is_uniform():
    train = toy_train()
    n = 6000
    users = torch.zeros(n, dtype=torch.long)
    neg = DNSSampler(n_candidates=1, random_state=0).fit(train).sample(
        users, torch.ones(n, dtype=torch.long), 1, scorer=mf_scorer(score_table(), users))
    allowed = [i for i in range(1, N_ITEMS + 1) if i not in {1, 2, 3, 5}]
    counts = torch.bincount(neg.items.flatten(), minlength=N_ITEMS + 1)[allowed].numpy()
    assert counts.sum() == n
    assert stats.chisquare(counts).pvalue > 1e-3


def test_pools_hold_n_candidates_per_negative():
    seen = []

    def recording(candidates):
        seen.append(tuple(candidates.shape))
        return candidates.float()

    train = toy_train()
    for sampler in (DNSSampler(n_candidates=2), SoftmaxHardSampler(n_candidates=3), AHNSSampler(n_candidates=2)):
        sampler.fit(train).sample(USERS, SEQ, 5, per_position=True, scorer=recording)
    assert seen[0] == (4, 3, 10) and seen[1] == (4, 3, 15) and seen[2] == (4, 3, 10)
    with pytest.raises(RecnegError, match="needs a scorer"):
        DNSSampler().fit(train).sample(USERS, SEQ[:, -1], 1)
    with pytest.raises(RecnegError, match="memory_size=3"):
        SRNSSampler(memory_size=3).fit(train).sample(USERS, SEQ[:, -1], 4, scorer=recording)


@pytest.mark.parametrize("temperature", [0.7, float("inf")])
def test_softmax_over_the_catalogue_matches_the_softmax(temperature):
    train, table = toy_train(), score_table(2)
    n = 8000
    users = torch.full((n,), 3, dtype=torch.long)
    sampler = SoftmaxHardSampler(n_candidates=None, temperature=temperature, random_state=0).fit(train)
    neg = sampler.sample(users, torch.full((n,), 20), 1, scorer=mf_scorer(table, users))
    allowed = torch.tensor([i for i in range(1, N_ITEMS + 1) if i not in {20, 21, 22, 24}])
    logits = table[3, allowed] / temperature if math.isfinite(temperature) else torch.zeros(len(allowed))
    expected = torch.softmax(logits.double(), 0).numpy() * n
    observed = torch.bincount(neg.items.flatten(), minlength=N_ITEMS + 1)[allowed].numpy()
    assert observed.sum() == n
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    # log_prob is that same softmax probability of the drawn item
    first = int(neg.items[0, 0])
    position = int((allowed == first).nonzero())
    assert math.isclose(float(neg.log_prob[0, 0].exp()), expected[position] / n, rel_tol=1e-4)


def test_softmax_at_zero_temperature_is_dns():
    train, table = toy_train(), score_table(4)
    hard = SoftmaxHardSampler(n_candidates=8, temperature=1e-6, random_state=5).fit(train)
    dns = DNSSampler(n_candidates=8, random_state=5).fit(train)
    scorer = mf_scorer(table, USERS)
    a = hard.sample(USERS, SEQ[:, -1], 3, scorer=scorer).items
    b = dns.sample(USERS, SEQ[:, -1], 3, scorer=scorer).items
    assert torch.equal(a.sort(1).values, b.sort(1).values)


def test_ahns_picks_the_argmin_of_its_formula_on_a_hand_example():
    # one user, positive item 1 scored 1.0; alpha=1, beta=0.5, p=1: target = 0.5 * (1 + 1)^2 = 2.0
    train = Interactions(np.array([0]), np.array([1]), np.arange(1), n_users=1, n_items=5)
    scores = torch.tensor([[0.0, 1.0, 0.4, 2.3, 1.6, 5.0]])     # items 2..5: |s - 2| = 1.6, 0.3, 0.4, 3.0
    sampler = AHNSSampler(n_candidates=64, alpha=1.0, beta=0.5, p=1.0, random_state=0).fit(train)
    users = torch.tensor([0])
    assert math.isclose(float(sampler.target_scores(torch.tensor([1.0]))), 2.0)
    one = sampler.sample(users, torch.tensor([1]), 1, scorer=mf_scorer(scores, users))
    assert one.items.tolist() == [[3]]
    two = sampler.sample(users, torch.tensor([1]), 2, scorer=mf_scorer(scores, users))
    assert two.items.tolist() == [[3, 4]]
    # DNS would take item 5 instead
    dns = DNSSampler(n_candidates=64, random_state=0).fit(train)
    assert dns.sample(users, torch.tensor([1]), 1, scorer=mf_scorer(scores, users)).items.tolist() == [[5]]


def test_ahns_target_follows_the_positive_per_position():
    train = Interactions(np.array([0, 0]), np.array([1, 2]), np.arange(2), n_users=1, n_items=6)
    scores = torch.tensor([[0.0, 1.0, 3.0, 1.0, 2.0, 3.0, 4.0]])
    sampler = AHNSSampler(n_candidates=64, alpha=0.0, beta=1.0, p=0.0, random_state=0).fit(train)
    users = torch.tensor([0])
    # position 0 targets item 1 (score 1 -> item 3), position 1 targets item 2 (score 3 -> item 5)
    neg = sampler.sample(users, torch.tensor([[1, 2]]), 1, per_position=True, scorer=mf_scorer(scores, users))
    assert neg.items.tolist() == [[[3], [5]]]


def test_ahns_undefined_target_falls_back_to_the_pool_order():
    train = toy_train()
    sampler = AHNSSampler(n_candidates=6, alpha=-10.0, beta=1.0, p=-0.5, random_state=0).fit(train)
    table = score_table()
    neg = sampler.sample(USERS, SEQ[:, -1], 2, scorer=mf_scorer(table, USERS))   # (s - 10)^0.5 is NaN
    check_allowed(train, USERS, SEQ[:, -1:], neg.items)


def test_srns_prefers_high_variance_candidates_on_a_synthetic_history():
    train = Interactions(np.array([0]), np.array([1]), np.arange(1), n_users=1, n_items=10)
    sampler = SRNSSampler(n_candidates=2, memory_size=3, history_length=4, random_state=0).fit(train)
    sampler.memory_items_[0] = torch.tensor([4, 7, 9])
    # item 4: stable high score (a likely false negative); item 7: unstable; item 9: low
    sampler.score_history_[0] = torch.tensor([[1.1, 1.1, 1.1, 1.1], [3.0, -1.0, 3.0, -1.0], [0.0, 0.0, 0.0, 0.0]])
    scores = torch.zeros(1, 11)
    scores[0, 4], scores[0, 7] = 1.1, 1.0
    users = torch.tensor([0])
    with_variance = SRNSSampler.history_std(torch.tensor([[-1.0, 3.0, -1.0, 1.0]]))
    assert math.isclose(float(with_variance), float(np.std([-1.0, 3.0, -1.0, 1.0])), rel_tol=1e-6)
    snapshot = (sampler.memory_items_.clone(), sampler.score_history_.clone())
    neg = sampler.sample(users, torch.tensor([1]), 1, scorer=mf_scorer(scores, users))
    assert neg.items.tolist() == [[7]]
    sampler.memory_items_, sampler.score_history_ = snapshot
    sampler.variance_weight = 0.0
    assert sampler.sample(users, torch.tensor([1]), 1, scorer=mf_scorer(scores, users)).items.tolist() == [[4]]


def test_srns_history_std_ignores_unrecorded_entries():
    history = torch.tensor([[float("nan"), float("nan"), 2.0], [float("nan"), 1.0, 3.0]])
    assert SRNSSampler.history_std(history).tolist() == [0.0, 1.0]


def test_srns_memory_drifts_towards_high_scores_and_keeps_histories():
    train = toy_train()
    sampler = SRNSSampler(n_candidates=6, memory_size=6, temperature=0.5, random_state=0).fit(train)
    table = torch.arange(N_ITEMS + 1, dtype=torch.float32).expand(N_USERS, -1) / 3.0  # prefers high ids
    start = sampler.memory_items_.float().mean()
    users = torch.arange(N_USERS)
    for _ in range(25):
        sampler.sample(users, torch.tensor([1, 1, 2, 20, 20, 21]), 2, scorer=mf_scorer(table, users))
    assert float(sampler.memory_items_.float().mean()) > float(start) + 5
    recorded = (~torch.isnan(sampler.score_history_)).sum(-1)
    assert bool((recorded >= 1).all()) and int(recorded.max()) == sampler.history_length
    check_allowed(train, users, torch.tensor([[1], [1], [2], [20], [20], [21]]), sampler.memory_items_)


def test_user_similarity_matches_dense_cosine_and_draws_neighbour_items():
    train = toy_train()
    sampler = UserSimilaritySampler(n_neighbours=2, uniform_fraction=0.0, random_state=0).fit(train)
    dense = np.zeros((N_USERS, N_ITEMS + 1))
    dense[train.users, train.items] = 1.0
    unit = dense / np.linalg.norm(dense, axis=1, keepdims=True)
    cosine = unit @ unit.T
    np.fill_diagonal(cosine, 0.0)
    sim = sampler.similarity_.toarray()
    for user in range(N_USERS):
        kept = np.nonzero(sim[user])[0]
        assert len(kept) <= 2
        assert np.allclose(sim[user, kept], cosine[user, kept])
        assert cosine[user, kept].min() >= np.sort(cosine[user])[-2] - 1e-12
    # user 0's neighbours (1 and 2) add items 4, 6, 7; weights: sim(0,1)*[4,6] + sim(0,2)*[4,7]
    n = 6000
    users = torch.zeros(n, dtype=torch.long)
    neg = sampler.sample(users, torch.ones(n, dtype=torch.long), 1)
    observed = torch.bincount(neg.items.flatten(), minlength=N_ITEMS + 1)
    assert set(torch.nonzero(observed).flatten().tolist()) == {4, 6, 7}
    w = {4: cosine[0, 1] + cosine[0, 2], 6: cosine[0, 1], 7: cosine[0, 2]}
    expected = np.array([w[i] for i in (4, 6, 7)]) / sum(w.values()) * n
    assert stats.chisquare(observed[[4, 6, 7]].numpy(), expected).pvalue > 1e-3
    assert math.isclose(float(neg.log_prob[0, 0].exp()), w[int(neg.items[0, 0])] / sum(w.values()), rel_tol=1e-5)


def dense_neighbour_weights(sampler: UserSimilaritySampler, train: Interactions) -> np.ndarray:
    """``w_u(j)`` for every user and item, from the kept similarities, densely."""
    dense = np.zeros((train.n_users, train.n_items + 1))
    dense[train.users, train.items] = 1.0
    return np.where(dense > 0, 0.0, sampler.similarity_.toarray() @ dense)


def test_user_similarity_counts_the_items_no_user_is_ever_proposed():
    train = toy_train()
    for n_neighbours in (1, 2, 5):
        sampler = UserSimilaritySampler(n_neighbours=n_neighbours, uniform_fraction=0.0).fit(train)
        weights = dense_neighbour_weights(sampler, train)
        never = int((weights[:, 1:] == 0).all(0).sum())
        assert sampler.never_proposed_items_ == never
        # items 8..19 and 26..30 are nobody's: never proposed whatever the neighbourhood
        assert never >= 17
    isolated = Interactions(np.array([0, 1]), np.array([1, 2]), np.arange(2), n_users=2, n_items=4)
    assert UserSimilaritySampler().fit(isolated).never_proposed_items_ == 4  # no overlap, no neighbour


def test_user_similarity_default_mixes_half_uniform_negatives():
    # The default (uniform_fraction=0.5) draws half of each row's negatives uniformly, so
    # items no neighbour proposes are drawn too; the marginal of a slot is the mixture
    # 1/2 q_sim + 1/2 q_uniform, and log_prob is its log.
    assert UserSimilaritySampler().uniform_fraction == 0.5
    train = toy_train()
    sampler = UserSimilaritySampler(n_neighbours=2, random_state=1).fit(train)
    n = 20_000
    users = torch.zeros(n, dtype=torch.long)
    neg = sampler.sample(users, torch.ones(n, dtype=torch.long), 2)
    weights = dense_neighbour_weights(sampler, train)[0]
    allowed = np.ones(N_ITEMS + 1, dtype=bool)
    allowed[[0, 1, 2, 3, 5]] = False                   # padding and user 0's training items
    q_sim = weights / weights.sum()
    q_uniform = allowed / allowed.sum()
    assert (neg.items[:, 0].numpy()[:, None] == np.nonzero(weights)[0]).any(1).all(), \
        "slot 0 (the neighbour share) drew an item no neighbour proposes"
    for slot, expected in ((0, q_sim), (1, q_uniform)):
        observed = np.bincount(neg.items[:, slot].numpy(), minlength=N_ITEMS + 1)
        support = expected > 0
        assert observed[~support].sum() == 0
        assert stats.chisquare(observed[support], expected[support] * n).pvalue > 1e-3, slot
    never = (weights == 0) & allowed
    assert np.isin(neg.items[:, 1].numpy(), np.nonzero(never)[0]).any(), "the uniform half covers the catalogue"
    mixture = 0.5 * q_sim + 0.5 * q_uniform
    assert np.allclose(neg.log_prob.double().exp().numpy(), mixture[neg.items.numpy()], rtol=1e-5)


def test_user_similarity_uniform_share_and_isolated_users():
    history_users = np.array([0, 0, 1, 1, 2])
    history_items = np.array([1, 2, 1, 3, 9])      # user 2 overlaps with nobody
    train = Interactions(history_users, history_items, np.arange(5), n_users=3, n_items=12)
    sampler = UserSimilaritySampler(n_neighbours=3, uniform_fraction=0.5, random_state=0).fit(train)
    neg = sampler.sample(torch.tensor([0, 2]), torch.tensor([1, 9]), 4)
    assert neg.items[0, :2].tolist() == [3, 3]                 # the similarity half: user 1's item 3
    assert 9 not in neg.items[1].tolist()
    uniform = UniformSampler().fit(train)
    expected = uniform.conditional_log_prob(torch.tensor([2]), neg.items[1:], torch.zeros(1, 0, dtype=torch.long))
    assert torch.allclose(neg.log_prob[1:].double(), expected, atol=1e-6)


def test_mixgcf_mixes_towards_the_positive_and_picks_the_hardest():
    gen = torch.Generator().manual_seed(0)
    users, positives = torch.randn(5, 4, generator=gen), torch.randn(5, 4, generator=gen)
    candidates = torch.randn(5, 2, 7, 4, generator=gen)
    mixer = MixGCFInterpolation(n_candidates=7, random_state=1)
    out = mixer.mix(users, positives, candidates, candidate_items=torch.arange(70).reshape(5, 2, 7))
    assert out.vectors.shape == (5, 2, 4) and bool(((out.mixing >= 0) & (out.mixing <= 1)).all())
    lam = out.mixing[..., None, None]
    mixed = lam * positives[:, None, None, :] + (1 - lam) * candidates
    scores = (mixed * users[:, None, None, :]).sum(-1)
    best = scores.argmax(-1)
    assert torch.allclose(out.vectors, mixed.gather(2, best[..., None, None].expand(-1, -1, 1, 4)).squeeze(2))
    assert torch.equal(out.items, torch.arange(70).reshape(5, 2, 7).gather(2, best[..., None]).squeeze(2))


def test_mixgcf_trains_bpr_mf():
    train = toy_train()
    model = BPRMF(n_users=N_USERS, n_items=N_ITEMS, dim=8, random_state=0)
    mixer = MixGCFInterpolation(n_candidates=4, random_state=0).fit(train)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    users, items = torch.as_tensor(train.users), torch.as_tensor(train.items)
    losses = []
    for _ in range(60):
        loss = mixer.bpr_loss(model, users, items, num_negatives=2)
        optimiser.zero_grad()
        loss.backward()
        assert model.item_embedding.weight.grad is not None
        optimiser.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
    cand = mixer.candidates(users, items, 2)
    assert cand.shape == (len(users), 2, 4)
    assert not bool(train.user_item_set().contains(users, cand.reshape(len(users), -1)).any())


def test_bpr_loss_with_mixed_negatives_by_hand():
    u = torch.tensor([[1.0, 2.0]])
    pos, neg = torch.tensor([[1.0, 1.0]]), torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])
    # score differences 3 - 2 = 1 and 3 - 1 = 2
    expected = -(math.log(1 / (1 + math.exp(-1))) + math.log(1 / (1 + math.exp(-2)))) / 2
    assert math.isclose(float(bpr_loss_with_mixed_negatives(u, pos, neg)), expected, rel_tol=1e-6)


def test_helpers():
    items = torch.tensor([[3, 1, 3, 2, 1]])
    assert duplicate_mask(items).tolist() == [[False, False, True, False, True]]
    values = torch.tensor([[[1.0], [3.0], [100.0]]])
    assert mean_over_positions(values, torch.tensor([[5, 6, 0]])).tolist() == [[2.0]]


# -- curriculum and guardrails ----------------------------------------------------------------
def test_curriculum_schedules():
    linear = HardnessCurriculum(warmup_epochs=2, ramp_epochs=4)
    assert [linear.hard_fraction(e) for e in (0, 2, 3, 4, 6, 9)] == [0.0, 0.0, 0.25, 0.5, 1.0, 1.0]
    cosine = HardnessCurriculum(schedule="cosine", ramp_epochs=2, max_hard_fraction=0.5)
    assert [round(cosine.hard_fraction(e), 6) for e in (0, 1, 2)] == [0.0, 0.25, 0.5]
    step = HardnessCurriculum(schedule="step", warmup_epochs=1, ramp_epochs=3)
    assert [step.hard_fraction(e) for e in (0, 1, 3, 4)] == [0.0, 0.0, 0.0, 1.0]
    with pytest.raises(RecnegError, match="unknown schedule 'fast'"):
        HardnessCurriculum(schedule="fast")


def test_curriculum_moves_from_easy_to_hard_negatives():
    train = toy_train()
    table = torch.arange(N_ITEMS + 1, dtype=torch.float32).expand(N_USERS, -1)   # prefers high ids
    curriculum = HardnessCurriculum(UniformSampler(), DNSSampler(n_candidates=400), ramp_epochs=2,
                                    random_state=0).fit(train)
    users = torch.tensor([0, 1, 2])
    top = set(range(N_ITEMS - 3, N_ITEMS + 1))
    hard_counts = []
    for call in range(6):   # trainer epochs 1, 1, 2, 2, 3, 3 are the schedule's 0, 0, 1, 1, 2, 2
        if call % 2 == 0:
            curriculum.on_epoch_start(call // 2 + 1)
        neg = curriculum.sample(users, torch.tensor([1, 1, 2]), 4, scorer=mf_scorer(table, users))
        hard_counts.append(int(sum(i in top for i in neg.items.flatten().tolist())))
    assert curriculum.epoch == 2    # drawing does not advance the schedule; the hook does
    assert hard_counts[4] == hard_counts[5] == 12           # all hard at the end of the ramp
    assert max(hard_counts[:2]) < 12
    assert curriculum.set_epoch(1).split(4) == (2, 2)


def test_random_injection_replaces_the_requested_fraction():
    train = Interactions(np.array([0]), np.array([1]), np.arange(1), n_users=1, n_items=20)
    n, fraction = 4000, 0.3
    users = torch.zeros(n, dtype=torch.long)
    table = torch.arange(21, dtype=torch.float32)[None]
    guard = RandomInjection(DNSSampler(n_candidates=300), fraction, random_state=0).fit(train)
    neg = guard.sample(users, torch.ones(n, dtype=torch.long), 1, scorer=mf_scorer(table, users))
    replaced = int((neg.items != 20).sum())
    # an injected uniform negative equals item 20 with probability 1/19
    assert stats.binomtest(replaced, n, fraction * 18 / 19).pvalue > 1e-3
    uniform_lp = -math.log(19)
    assert torch.allclose(neg.log_prob[neg.items != 20], torch.full((replaced,), uniform_lp))
    assert RandomInjection(UniformSampler(), 0.5).needs_scorer is False


@pytest.mark.parametrize("name", list(factories()))
def test_without_exclusion_only_padding_is_avoided(name):
    sampler = factories()[name]()
    sampler.exclude_positives = False
    sampler.fit(toy_train())
    neg = sampler.sample(USERS, SEQ, 3, per_position=True, scorer=seq_scorer(score_table(), USERS, 3))
    assert bool((neg.items > 0).all()) and bool((neg.items <= N_ITEMS).all())
    assert bool(torch.isfinite(neg.log_prob).all())


# -- composites clone what they are given ------------------------------------------------------
def _state(sampler):
    fitted = sorted(k for k in vars(sampler) if k.endswith("_"))
    return fitted, sampler.exclude_positives, sampler._generator.get_state().clone()


@pytest.mark.parametrize("make", [
    lambda parts: HardnessCurriculum(parts[0], parts[1], ramp_epochs=1, exclude_positives=False, random_state=0),
    lambda parts: RandomInjection(parts[1], 0.5, exclude_positives=False, random_state=0),
    lambda parts: DNSSampler(n_candidates=3, base=parts[0], exclude_positives=False, random_state=0),
    lambda parts: AdaptiveSampler(oversampling=3, base=parts[0], exclude_positives=False, random_state=0),
])
def test_fitting_a_composite_leaves_the_callers_samplers_unchanged(make):
    parts = (UniformSampler(random_state=1), DNSSampler(n_candidates=4, random_state=2))
    before = [_state(part) for part in parts]
    composite = make(parts).fit(toy_train())
    composite.on_epoch_start(3)
    users = torch.tensor([0, 1, 2])
    composite.sample(users, torch.tensor([1, 3, 6]), 4, scorer=mf_scorer(torch.randn(N_USERS, N_ITEMS + 1), users))
    for part, (fitted, exclude, generator_state) in zip(parts, before):
        assert _state(part)[0] == fitted == []         # never fitted
        assert part.exclude_positives is exclude is True
        assert torch.equal(part._generator.get_state(), generator_state)


def test_scorer_needs_are_properties_of_the_configuration():
    assert HardnessCurriculum(UniformSampler(), UniformSampler()).needs_scorer is False
    assert HardnessCurriculum(UniformSampler(), DNSSampler()).needs_scorer is True
    assert RandomInjection(DNSSampler()).needs_scorer is True
    assert UserSimilaritySampler(n_candidates=1).needs_scorer is False
    assert UserSimilaritySampler(n_candidates=3).needs_scorer is True
    for sampler in (HardnessCurriculum(), RandomInjection(), UserSimilaritySampler()):
        assert "needs_scorer" not in vars(sampler)


# -- DNS and the adaptive presets are one implementation -----------------------------------------
@pytest.mark.parametrize("per_position", [False, True])
@pytest.mark.parametrize("sequential", [False, True])
def test_adaptive_is_dns_with_a_shared_pool_and_repeats(per_position, sequential):
    train = toy_train()
    users = torch.tensor([0, 1, 2, 0])
    positives = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 1], [0, 0, 2]])
    table = torch.randn(N_USERS, N_ITEMS + 1, generator=torch.Generator().manual_seed(4))
    position_weight = torch.tensor([1.0, -0.5, 2.0]).reshape(1, 3, 1)

    def scorer(cand):
        base = table[users.reshape(-1, *([1] * (cand.dim() - 1))), cand]
        if not sequential:
            return base
        return (base.unsqueeze(1) if cand.dim() == 2 else base) * position_weight

    adaptive = AdaptiveSampler(oversampling=5, random_state=9).fit(train)
    twin = DNSSampler(n_candidates=5, shared_pool=True, distinct=False, random_state=9).fit(train)
    a = adaptive.sample(users, positives, 3, per_position=per_position, scorer=scorer)
    b = twin.sample(users, positives, 3, per_position=per_position, scorer=scorer)
    assert torch.equal(a.items, b.items) and torch.equal(a.log_prob, b.log_prob)
    assert adaptive.oversampling == 5 and "oversampling=5" in repr(adaptive)
    if not per_position:
        # one negative per row: the hardest of the pool, whichever pool layout or repeat rule
        plain = DNSSampler(n_candidates=5, random_state=9).fit(train)
        one = AdaptiveSampler(oversampling=5, random_state=9).fit(train)
        assert torch.equal(one.sample(users, positives, 1, scorer=scorer).items,
                           plain.sample(users, positives, 1, scorer=scorer).items)


@pytest.mark.parametrize("k", [1, 3])
def test_user_similarity_fractional_uniform_share_keeps_the_mixture(k):
    # f·k = 0.5 or 1.5: rounding would give no uniform slot for k = 1; the extra slot is
    # uniform with probability f·k − ⌊f·k⌋, so every row's slots together follow the mixture.
    train = toy_train()
    sampler = UserSimilaritySampler(n_neighbours=2, random_state=2).fit(train)
    n = 20_000
    neg = sampler.sample(torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.long), k)
    weights = dense_neighbour_weights(sampler, train)[0]
    allowed = np.ones(N_ITEMS + 1, dtype=bool)
    allowed[[0, 1, 2, 3, 5]] = False
    mixture = 0.5 * weights / weights.sum() + 0.5 * allowed / allowed.sum()
    observed = np.bincount(neg.items.numpy().ravel(), minlength=N_ITEMS + 1)
    support = mixture > 0
    assert observed[~support].sum() == 0
    assert stats.chisquare(observed[support], mixture[support] * n * k).pvalue > 1e-3
    never = (weights == 0) & allowed
    assert np.isin(neg.items.numpy(), np.nonzero(never)[0]).mean() == pytest.approx(
        0.5 * never.sum() / allowed.sum(), abs=0.02)
    assert np.allclose(neg.log_prob.double().exp().numpy(), mixture[neg.items.numpy()], rtol=1e-5)
