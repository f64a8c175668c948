"""IRGAN sampler: exact sampling from the generator, REINFORCE updates, bookkeeping."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from recneg import RecnegError
from recneg.data import Interactions
from recneg.samplers import make_sampler
from recneg.samplers.adversarial import IRGANSampler
from helpers import mf_scorer  # pytest puts tests/ on sys.path

N_USERS, N_ITEMS = 3, 12


def toy_train() -> Interactions:
    users = np.array([0, 0, 1, 1, 1, 2])
    items = np.array([1, 2, 3, 4, 5, 6])
    return Interactions(users, items, np.arange(len(users)), n_users=N_USERS, n_items=N_ITEMS, name="toy")



USERS = torch.tensor([0, 1, 2])
SEQ = torch.tensor([[1, 2, 0], [3, 4, 5], [0, 0, 6]])


@pytest.mark.parametrize("n_candidates", [None, 5])
def test_shapes_exclusion_and_full_softmax_log_prob(n_candidates):
    train = toy_train()
    sampler = IRGANSampler(generator_dim=4, n_candidates=n_candidates, auto_update=False, random_state=0).fit(train)
    for positives, per_position, shape in ((SEQ[:, -1], False, (3, 4)), (SEQ, False, (3, 4)), (SEQ, True, (3, 3, 4))):
        neg = sampler.sample(USERS, positives, 4, per_position=per_position)
        assert tuple(neg.items.shape) == shape
        flat = neg.items.reshape(3, -1)
        assert bool((flat > 0).all())
        assert not bool(train.user_item_set().contains(USERS, flat).any())
        probs = sampler.probabilities(USERS, positives)
        assert torch.allclose(neg.log_prob.reshape(3, -1).exp(), probs.gather(1, flat), atol=1e-6)


def test_draws_follow_the_generator_distribution():
    sampler = IRGANSampler(generator_dim=4, temperature=0.3, auto_update=False, random_state=1).fit(toy_train())
    n = 6000
    users = torch.ones(n, dtype=torch.long)
    neg = sampler.sample(users, torch.full((n,), 3), 1)
    probs = sampler.probabilities(torch.tensor([1]))[0]
    allowed = torch.nonzero(probs > 0).flatten()
    assert set(allowed.tolist()) == set(range(1, N_ITEMS + 1)) - {3, 4, 5}
    observed = torch.bincount(neg.items.flatten(), minlength=N_ITEMS + 1)[allowed].numpy()
    expected = probs[allowed].double().numpy()
    assert stats.chisquare(observed, expected / expected.sum() * n).pvalue > 1e-3


def test_same_seed_same_draws_and_generator():
    def run():
        sampler = IRGANSampler(generator_dim=4, random_state=7).fit(toy_train())
        table = torch.arange(N_ITEMS + 1, dtype=torch.float32).expand(N_USERS, -1) / 4
        draws = [sampler.sample(USERS, SEQ, 2, per_position=True, scorer=mf_scorer(table, USERS)).items
                 for _ in range(3)]
        return torch.cat([d.flatten() for d in draws]), sampler.generator_.item.detach().clone()

    (a, ga), (b, gb) = run(), run()
    assert torch.equal(a, b) and torch.equal(ga, gb)


def test_reinforce_raises_the_probability_of_high_reward_items():
    train = toy_train()
    sampler = IRGANSampler(generator_dim=4, lr=0.05, auto_update=False, random_state=0).fit(train)
    reward_of = torch.zeros(N_ITEMS + 1)
    reward_of[[9, 11]] = 1.0                                  # the discriminator finds items 9 and 11 hard
    users = torch.tensor([0, 0, 0, 0])
    before = sampler.probabilities(torch.tensor([0]))[0, [9, 11]].sum()
    entropy_before = sampler.entropy(torch.tensor([0]))
    for _ in range(80):
        neg = sampler.sample(users, torch.ones(4, dtype=torch.long), 8)
        sampler.update(reward_of[neg.items])
    after = sampler.probabilities(torch.tensor([0]))[0, [9, 11]].sum()
    assert float(after) > 0.8 > float(before) + 0.4
    history = sampler.dynamics()
    assert len(history) == 80 and list(history["step"]) == list(range(1, 81))
    assert history["entropy"].iloc[-1] < entropy_before
    assert history["mean_reward"].iloc[-10:].mean() > history["mean_reward"].iloc[:10].mean()


def test_auto_update_learns_from_the_recommender_scores():
    train = toy_train()
    table = torch.full((N_USERS, N_ITEMS + 1), -2.0)
    table[:, 12] = 4.0                                        # the recommender scores item 12 highest
    sampler = IRGANSampler(generator_dim=4, lr=0.05, random_state=0).fit(train)
    users = torch.tensor([0, 1, 2, 0, 1, 2])
    positives = torch.tensor([1, 3, 6, 2, 4, 6])
    start = sampler.probabilities(USERS)[:, 12]
    for _ in range(60):
        drawn = sampler.sample(users, positives, 4)
        sampler.learn_from_batch(users, positives, drawn, mf_scorer(table, users))
    assert bool((sampler.probabilities(USERS)[:, 12] > start + 0.3).all())


def test_moving_average_baseline_bookkeeping():
    sampler = IRGANSampler(generator_dim=2, baseline_decay=0.5, auto_update=False, random_state=0).fit(toy_train())
    users = torch.tensor([0, 0])
    negatives = torch.tensor([[3, 4], [5, 6]])
    first = sampler.generator_step(users, negatives, torch.tensor([[1.0, 1.0], [1.0, 1.0]]))
    assert first["baseline"] == 1.0 and first["mean_reward"] == 1.0   # first batch: its own mean
    second = sampler.generator_step(users, negatives, torch.tensor([[3.0, 3.0], [3.0, 3.0]]))
    assert second["baseline"] == 1.0
    third = sampler.generator_step(users, negatives, torch.zeros(2, 2))
    assert math.isclose(third["baseline"], 0.5 * 1.0 + 0.5 * 3.0)
    none = IRGANSampler(generator_dim=2, baseline="none", auto_update=False, random_state=0).fit(toy_train())
    assert none.generator_step(users, negatives, torch.ones(2, 2))["baseline"] == 0.0


def test_a_baseline_reduces_the_variance_of_the_policy_gradient():
    sampler = IRGANSampler(generator_dim=4, auto_update=False, random_state=0).fit(toy_train())
    users = torch.zeros(16, dtype=torch.long)
    reward_of = 5.0 + 0.5 * torch.arange(N_ITEMS + 1, dtype=torch.float32) / N_ITEMS   # large common offset
    keep = torch.ones(16, 1, dtype=torch.bool)

    def gradients(baseline: float) -> np.ndarray:
        grads = []
        gen = torch.Generator().manual_seed(0)
        for _ in range(100):
            neg = sampler.sample(users, torch.ones(16, dtype=torch.long), 1, generator=gen)
            loss = sampler._reinforce_loss(users, None, neg.items, keep, reward_of[neg.items] - baseline,
                                           torch.tensor(16), None)
            sampler.generator_.zero_grad()
            loss.backward()
            grads.append(sampler.generator_.bias.grad.clone().numpy())
        return np.stack(grads)

    plain, with_baseline = gradients(0.0), gradients(float(reward_of[1:].mean()))
    assert with_baseline.var(0).sum() < 0.05 * plain.var(0).sum()
    # both estimate the same expected gradient (unbiased), up to sampling noise
    se = np.sqrt(plain.var(0) / len(plain) + with_baseline.var(0) / len(with_baseline))
    assert bool((np.abs(plain.mean(0) - with_baseline.mean(0)) <= 5 * se + 1e-6).all())


def test_errors_and_registration():
    sampler = IRGANSampler(generator_dim=2, auto_update=False, random_state=0).fit(toy_train())
    with pytest.raises(RecnegError, match="previous sample"):
        sampler.update(torch.ones(1, 1))
    neg = sampler.sample(USERS, SEQ[:, -1], 2)
    with pytest.raises(RecnegError, match="reward has shape"):
        sampler.update(torch.ones(3, 3))
    with pytest.raises(RecnegError, match="cannot be drawn for user 0"):
        sampler.generator_step(torch.tensor([0]), torch.tensor([[1]]), torch.ones(1, 1))
    with pytest.raises(RecnegError, match="baseline must be"):
        IRGANSampler(baseline="running")
    assert neg.items.shape == (3, 2)
    assert make_sampler("irgan").family == "adversarial"
    assert IRGANSampler(auto_update=False).needs_scorer is False


def test_sample_is_a_draw_and_learning_happens_in_the_hook():
    train = toy_train()
    table = torch.randn(N_USERS, N_ITEMS + 1, generator=torch.Generator().manual_seed(0))
    sampler = IRGANSampler(generator_dim=4, lr=0.1, random_state=0).fit(train)
    users, positives = torch.tensor([0, 1, 2]), torch.tensor([1, 3, 6])
    before = {name: p.detach().clone() for name, p in sampler.generator_.named_parameters()}
    for _ in range(5):
        drawn = sampler.sample(users, positives, 4, scorer=mf_scorer(table, users))
    assert all(torch.equal(p, before[name]) for name, p in sampler.generator_.named_parameters())
    assert sampler.history_ == []
    sampler.learn_from_batch(users, positives, drawn, mf_scorer(table, users))
    assert len(sampler.history_) == 1
    assert not torch.equal(sampler.generator_.item, before["item"])
    sampler.learn_from_batch(users, positives, drawn, mf_scorer(table, users))   # no new draw: no step
    assert len(sampler.history_) == 1
    frozen = IRGANSampler(generator_dim=4, auto_update=False, random_state=0).fit(train)
    frozen.learn_from_batch(users, positives, frozen.sample(users, positives, 4), mf_scorer(table, users))
    assert frozen.history_ == []
