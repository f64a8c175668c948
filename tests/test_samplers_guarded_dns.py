"""DNSSampler's two guards against false negatives: random injection (uniform_fraction)
and capped loss weights (loss_cap), and a guarded miner trained through the Trainer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from recneg import RecnegError
from recneg.data import Interactions, SyntheticWorld, leave_one_out
from recneg.models import BPRMF
from recneg.samplers import DNSSampler, make_sampler
from recneg.training import TrainConfig, Trainer
from helpers import mf_scorer  # pytest puts tests/ on sys.path

pytestmark = pytest.mark.usefixtures("one_thread")

N_ITEMS = 12


def one_user_train(history=(1, 2, 3)) -> Interactions:
    items = np.array(history)
    return Interactions(np.zeros(len(items), dtype=np.int64), items, np.arange(len(items)),
                        n_users=2, n_items=N_ITEMS, name="one user")


# Discrete scores with ties: items 4-6 tie at 1, items 7-9 at 3, 10-11 at 8, item 12 on top.
SCORES = torch.tensor([0.0, 5, 5, 5, 1, 1, 1, 3, 3, 3, 8, 8, 9]).expand(2, -1).contiguous()


def batch(n: int):
    return torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.long)


def test_uniform_fraction_one_draws_uniformly_over_the_allowed_items():
    dns = DNSSampler(n_candidates=5, uniform_fraction=1.0, random_state=0).fit(one_user_train())
    users, positives = batch(3000)
    neg = dns.sample(users, positives, 2, scorer=mf_scorer(SCORES, users))
    allowed = np.arange(4, N_ITEMS + 1)          # items 1-3 are the user's
    counts = np.bincount(neg.items.flatten().numpy(), minlength=N_ITEMS + 1)
    assert counts[:4].sum() == 0
    assert stats.chisquare(counts[allowed]).pvalue > 1e-3
    assert torch.allclose(neg.log_prob, torch.full(neg.log_prob.shape, -math.log(len(allowed))))


def test_uniform_fraction_zero_is_plain_dns_draw_for_draw():
    train = one_user_train()
    users, positives = batch(64)
    scorer = mf_scorer(SCORES, users)
    plain = DNSSampler(n_candidates=3, random_state=7).fit(train).sample(users, positives, 3, scorer=scorer)
    guarded = DNSSampler(n_candidates=3, uniform_fraction=0.0, loss_cap=2.0, random_state=7).fit(train)
    drawn = guarded.sample(users, positives, 3, scorer=scorer)
    assert torch.equal(drawn.items, plain.items) and torch.equal(drawn.log_prob, plain.log_prob)
    assert plain.weights is None and drawn.weights is not None
    # And plain DNS is what it says: the top 3 distinct of a 9-candidate pool drawn with the same seed.
    pool = guarded.base_._sample(users, positives, 9, per_position=False, scorer=None,
                                 generator=torch.Generator().manual_seed(7)).items
    for row in range(len(users)):
        distinct = sorted(set(pool[row].tolist()), key=lambda item: -float(SCORES[0, item]))
        top = sorted(float(SCORES[0, i]) for i in distinct[:3])
        assert sorted(float(SCORES[0, i]) for i in plain.items[row]) == top


def test_the_hard_slots_come_first_and_the_injected_share_is_f():
    # A pool of 400 candidates over 9 allowed items holds item 12 (the top score) for sure,
    # so every hard slot is item 12; an injected slot is uniform over the 9 allowed items.
    dns = DNSSampler(n_candidates=200, uniform_fraction=0.5, random_state=1).fit(one_user_train())
    users, positives = batch(2000)
    neg = dns.sample(users, positives, 2, scorer=mf_scorer(SCORES, users))
    assert bool((neg.items[:, 0] == 12).all())
    counts = np.bincount(neg.items[:, 1].numpy(), minlength=N_ITEMS + 1)[4:]
    assert stats.chisquare(counts).pvalue > 1e-3
    # k = 1 and f = 0.3: one row in three (in expectation) is injected, never a fixed share of zero.
    single = DNSSampler(n_candidates=200, uniform_fraction=0.3, random_state=2).fit(one_user_train())
    items = single.sample(users, positives, 1, scorer=mf_scorer(SCORES, users)).items[:, 0]
    not_top = int((items != 12).sum())          # an injected slot misses item 12 with probability 8/9
    assert stats.binomtest(not_top, len(items), 0.3 * 8 / 9).pvalue > 1e-3


@pytest.mark.parametrize("k, fraction", [(4, 0.3), (3, 0.5), (5, 0.0), (5, 1.0), (1, 0.75)])
def test_injected_slots_per_row_are_floor_or_ceil_with_mean_f_k(k, fraction):
    dns = DNSSampler(uniform_fraction=fraction)
    inject = dns._injected((5000, k), torch.Generator().manual_seed(0))
    per_row = inject.sum(1)
    low = math.floor(fraction * k)
    assert set(per_row.unique().tolist()) <= {low, low + 1}
    assert bool((inject[:, :-1].long() <= inject[:, 1:].long()).all())     # injected slots are the last
    if fraction * k != low:
        assert stats.binomtest(int((per_row > low).sum()), len(per_row), fraction * k - low).pvalue > 1e-3
    else:
        assert bool((per_row == low).all())


@pytest.mark.parametrize("per_position", [False, True])
def test_the_cap_bounds_every_weighted_loss_term(per_position):
    cap = 2.0
    dns = DNSSampler(n_candidates=4, uniform_fraction=0.25, loss_cap=cap, random_state=3).fit(one_user_train())
    users = torch.zeros(300, dtype=torch.long)
    positives = torch.ones(300, 2, dtype=torch.long)
    neg = dns.sample(users, positives, 4, per_position=per_position, scorer=mf_scorer(SCORES, users))
    scores = SCORES[0][neg.items].double()
    terms = neg.weights.double() * torch.nn.functional.softplus(scores)
    assert neg.weights.shape == neg.items.shape
    assert bool((neg.weights <= 1.0).all()) and bool((neg.weights > 0).all())
    assert float(terms.max()) <= cap * (1 + 1e-6)
    # Below the cap nothing changes; above it the term sits exactly at the cap.
    small = torch.nn.functional.softplus(scores) <= cap
    assert bool((neg.weights[small] == 1.0).all())
    assert torch.allclose(terms[~small], torch.full_like(terms[~small], cap), rtol=1e-6)
    # Tied scores get tied weights.
    assert neg.weights[neg.items == 10].unique().numel() == 1
    assert torch.equal(neg.weights[neg.items == 10].unique(), neg.weights[neg.items == 11].unique())


def test_capped_weights_by_hand():
    dns = DNSSampler(loss_cap=1.0)
    weights = dns.capped_weights(torch.tensor([-1000.0, 0.0, 0.0, 4.0, 1e6]))
    expected = [1.0, 1.0, 1.0, 1.0 / math.log1p(math.exp(4.0)), 1e-6]
    assert np.allclose(weights.numpy(), expected, rtol=1e-5)


def test_guarded_dns_trains_through_the_trainer_with_its_weights():
    split = leave_one_out(SyntheticWorld(n_users=80, n_items=60, random_state=0).generate())
    config = TrainConfig(epochs=3, batch_size=128, lr=0.02, loss="bce", num_negatives=4, patience=None,
                         progress=False, seed=0)
    sampler = make_sampler("dns", n_candidates=4, uniform_fraction=0.25, loss_cap=1.5, random_state=0)
    model = BPRMF(split.n_users, split.n_items, dim=16, random_state=0)
    result = Trainer(model, sampler, config).fit(split)
    losses = result.history.train_loss.to_numpy()
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    # Every weighted BCE term of a fresh draw with the trained model stays under the cap.
    users = torch.as_tensor(split.train.users[:64])
    positives = torch.as_tensor(split.train.items[:64])
    scorer = result.model.scorer(users)
    neg = sampler.sample(users, positives, 4, scorer=scorer)
    terms = neg.weights.double() * torch.nn.functional.softplus(scorer(neg.items).double())
    assert float(terms.max()) <= 1.5 * (1 + 1e-6)


@pytest.mark.parametrize("kwargs, match", [
    ({"uniform_fraction": 1.5}, "uniform_fraction"),
    ({"uniform_fraction": -0.1}, "uniform_fraction"),
    ({"uniform_fraction": float("nan")}, "uniform_fraction"),
    ({"loss_cap": 0.0}, "loss_cap"),
    ({"loss_cap": -1.0}, "loss_cap"),
    ({"loss_cap": float("inf")}, "loss_cap"),
    ({"loss_cap": "big"}, "loss_cap"),
])
def test_bad_guards_raise_one_line_errors(kwargs, match):
    with pytest.raises(RecnegError, match=match) as error:
        DNSSampler(**kwargs)
    assert "\n" not in str(error.value)


def test_capped_weights_without_a_cap_says_how_to_set_one():
    with pytest.raises(RecnegError, match="loss_cap=") as error:
        DNSSampler().capped_weights(torch.zeros(3))
    assert "\n" not in str(error.value)
