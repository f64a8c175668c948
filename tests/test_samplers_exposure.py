"""Exposure-aware negatives: the impressions sampler, Rel-MF's inverse-propensity loss, the
popularity estimate of the propensity, the cosine MF of the contrastive lab, and the audit of
a model against the synthetic world's true preferences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from torch.nn import functional as F

from recneg import RecnegError
from recneg.data import Interactions, SyntheticWorld, leave_one_out
from recneg.diagnostics import true_preference_metrics
from recneg.losses import sampled_softmax_loss
from recneg.models import BPRMF, CosineMF, MostPopular
from recneg.samplers.exposure import ExposureSampler, InversePropensityLoss, popularity_propensity
from recneg.training import Batch, TrainConfig, Trainer

N_ITEMS = 8


def toy_train() -> Interactions:
    # user 0 clicked 1, 2; user 1 clicked 2 twice (a repeat) and 5; user 2 clicked 3
    users, items = np.array([0, 0, 1, 1, 1, 2]), np.array([1, 2, 2, 2, 5, 3])
    return Interactions(users, items, np.arange(len(users)), n_users=3, n_items=N_ITEMS)


def toy_exposure() -> np.ndarray:
    exposed = np.zeros((3, N_ITEMS + 1), dtype=bool)
    exposed[0, [1, 2, 4, 6, 7]] = True     # shown 4, 6, 7 without a click
    exposed[1, [2, 5, 8]] = True           # shown 8 without a click
    exposed[2, [3]] = True                 # shown only what was clicked: no exposed negative
    return exposed


# -- ExposureSampler ----------------------------------------------------------------------------
def test_exposure_sampler_is_uniform_over_shown_unclicked_items():
    sampler = ExposureSampler(toy_exposure(), random_state=0).fit(toy_train())
    drawn = sampler.sample(torch.tensor([0] * 3000), torch.tensor([1] * 3000), 2)
    counts = np.bincount(drawn.items.flatten().numpy(), minlength=N_ITEMS + 1)
    assert set(np.flatnonzero(counts)) == {4, 6, 7}
    assert stats.chisquare(counts[[4, 6, 7]]).pvalue > 1e-3
    assert torch.allclose(drawn.log_prob, torch.full_like(drawn.log_prob, -np.log(3)))


def test_exposure_sampler_excludes_targets_and_falls_back_to_uniform():
    sampler = ExposureSampler(toy_exposure(), random_state=1).fit(toy_train())
    # user 1's only shown, unclicked item is 8; a target of 8 (not a training item) leaves none
    drawn = sampler.sample(torch.tensor([1, 1, 2]), torch.tensor([2, 8, 3]), 200)
    assert set(drawn.items[0].tolist()) == {8}
    for row, user in ((1, 1), (2, 2)):   # fallback: uniform over the items outside the history
        items = set(drawn.items[row].tolist())
        assert 0 not in items and not items & set(toy_train().items[toy_train().users == user])
        assert torch.allclose(drawn.log_prob[row], drawn.log_prob[row, :1].expand(200))
    assert 8 not in drawn.items[1].tolist()
    assert drawn.log_prob[2, 0] == pytest.approx(-np.log(N_ITEMS - 1))


def test_exposure_sampler_per_position_shapes_and_seed():
    a = ExposureSampler(toy_exposure(), random_state=3).fit(toy_train())
    b = ExposureSampler(toy_exposure(), random_state=3).fit(toy_train())
    positives = torch.tensor([[1, 2], [0, 5]])
    first = a.sample(torch.tensor([0, 1]), positives, 4, per_position=True)
    assert first.items.shape == (2, 2, 4)
    assert torch.equal(first.items, b.sample(torch.tensor([0, 1]), positives, 4, per_position=True).items)
    assert set(first.items[1].flatten().tolist()) == {8}


def test_exposure_sampler_validates():
    with pytest.raises(RecnegError, match="boolean"):
        ExposureSampler(np.ones((3, N_ITEMS + 1)))
    with pytest.raises(RecnegError, match="shape"):
        ExposureSampler(np.ones((2, N_ITEMS + 1), dtype=bool)).fit(toy_train())


def test_exposure_sampler_on_the_world_draws_only_exposed_unobserved_items():
    world = SyntheticWorld(n_users=60, n_items=50, random_state=0)
    split = leave_one_out(world.generate())
    exposed = world.exposed_mask(np.arange(60))
    sampler = ExposureSampler(exposed, random_state=0).fit(split.train)
    users = torch.arange(60)
    positives = torch.as_tensor(np.array([split.train.items[split.train.users == u][0] for u in range(60)]))
    items = sampler.sample(users, positives, 30).items.numpy()
    has_exposed_negative = (exposed & ~split.train.user_item_set().dense_mask(users).numpy()).any(1)
    rows = np.flatnonzero(has_exposed_negative)
    assert exposed[rows[:, None], items[rows]].all()
    assert not split.train.user_item_set().contains(users[:, None].expand(-1, 30), torch.as_tensor(items)).any()


# -- propensities ---------------------------------------------------------------------------------
def test_popularity_propensity_with_ties_repeats_and_clipping():
    theta = popularity_propensity(toy_train(), power=0.5, clip=0.2)
    counts = np.array([0, 1, 3, 1, 0, 1, 0, 0, 0], dtype=float)   # item 2 clicked 3 times (one repeat)
    expected = np.maximum(np.sqrt(counts / 3), 0.2)
    expected[0] = 0.0
    assert np.allclose(theta, expected)
    assert theta[1] == theta[3] == theta[5]                      # tied counts, tied propensities
    with pytest.raises(RecnegError, match="clip"):
        popularity_propensity(toy_train(), clip=1.0)
    with pytest.raises(RecnegError, match="power"):
        popularity_propensity(toy_train(), power=0)


# -- InversePropensityLoss ---------------------------------------------------------------------------
def test_ipw_loss_matches_the_rel_mf_formula():
    train = toy_train()
    propensity = np.linspace(0.0, 1.0, N_ITEMS + 1)
    method = InversePropensityLoss(propensity, clip=0.3, random_state=0).fit(train)
    model = BPRMF(3, N_ITEMS, dim=4, random_state=0)
    batch = Batch(torch.tensor([0, 1, 2]), torch.tensor([1, 5, 3]), 3, torch.Generator().manual_seed(5),
                  torch.device("cpu"))
    loss = method.batch_loss(model, batch)
    negatives = batch.touched[0].reshape(3, 3)
    assert not toy_train().user_item_set().contains(torch.tensor([[0], [1], [2]]).expand(-1, 3), negatives).any()
    theta = torch.tensor(np.maximum(propensity[[1, 5, 3]], 0.3), dtype=torch.float32)   # item 1 clipped
    hidden = model(batch.users)
    pos = (hidden * model.item_embedding(batch.positives)).sum(-1)
    neg = (hidden[:, None] * model.item_embedding(negatives)).sum(-1)
    expected = (-F.logsigmoid(pos) / theta - (1 - 1 / theta) * F.logsigmoid(-pos)
                - F.logsigmoid(-neg).sum(-1)).mean()
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
    loss.backward()
    assert model.user_embedding.weight.grad is not None


def test_ipw_loss_with_propensity_one_is_plain_bce_and_trains():
    world = SyntheticWorld(n_users=40, n_items=30, random_state=0)
    split = leave_one_out(world.generate())
    method = InversePropensityLoss(np.ones(31), random_state=0)
    result = Trainer(BPRMF(40, 30, dim=8, random_state=0), method,
                     TrainConfig(epochs=2, loss="bce", num_negatives=2, progress=False)).fit(split)
    assert np.isfinite(result.history.train_loss).all()
    with pytest.raises(RecnegError, match="bce"):
        Trainer(BPRMF(40, 30, dim=8), method, TrainConfig(epochs=1, loss="bpr", progress=False))


def test_ipw_loss_validates():
    with pytest.raises(RecnegError, match="probabilities"):
        InversePropensityLoss(np.array([0.0, 1.5, 0.5]))
    with pytest.raises(RecnegError, match="clip"):
        InversePropensityLoss(np.array([0.0, 1.0, 0.5]), clip=0.0)
    with pytest.raises(RecnegError, match="does not match"):
        InversePropensityLoss(np.ones(4)).fit(toy_train())
    per_user = InversePropensityLoss(np.full((3, N_ITEMS + 1), 0.5)).fit(toy_train())
    assert per_user.propensity_.shape == (3, N_ITEMS + 1)
    with pytest.raises(RecnegError, match="array or \"popularity\", got 'exposure'"):
        InversePropensityLoss("exposure")
    with pytest.raises(RecnegError, match="power"):
        InversePropensityLoss("popularity", power=0.0)


def test_ipw_popularity_estimate_is_fitted_from_the_training_counts():
    # the toy log has a tie (items 1, 3, 5: one click each), a repeat (item 2: three) and
    # never-clicked items, which the clip lifts from zero
    estimated = InversePropensityLoss("popularity", power=0.5, clip=0.1).fit(toy_train())
    given = InversePropensityLoss(popularity_propensity(toy_train(), power=0.5), clip=0.1).fit(toy_train())
    assert torch.equal(estimated.propensity_, given.propensity_)
    counts = np.bincount(toy_train().items, minlength=N_ITEMS + 1)[1:]
    assert np.allclose(estimated.propensity_[1:].numpy(), np.maximum(np.sqrt(counts / counts.max()), 0.1))
    assert repr(estimated) == "InversePropensityLoss(propensity='popularity', clip=0.1)"


# -- CosineMF ---------------------------------------------------------------------------------------
def test_cosine_mf_scores_are_cosines_over_the_temperature_everywhere():
    model = CosineMF(3, N_ITEMS, dim=5, temperature=0.25, random_state=0)
    users = torch.tensor([0, 2])
    p = F.normalize(model.user_embedding(users), dim=-1)
    q = F.normalize(model.item_embedding.weight[1:], dim=-1)
    expected = p @ q.T / 0.25
    assert torch.allclose(model.score_all(users)[:, 1:], expected, atol=1e-6)
    items = torch.tensor([[1, 4], [8, 2]])
    assert torch.allclose(model.score_items(model(users), items), expected.gather(1, items - 1), atol=1e-6)
    assert torch.allclose(model.scorer(users)(items), expected.gather(1, items - 1), atol=1e-6)
    assert model.score_all(users)[:, 0].eq(float("-inf")).all()
    with pytest.raises(RecnegError, match="temperature"):
        CosineMF(3, N_ITEMS, temperature=0.0)


def test_sampled_softmax_of_a_cosine_model_is_infonce():
    model = CosineMF(3, N_ITEMS, dim=5, temperature=0.1, random_state=1)
    users, pos, neg = torch.tensor([0, 1, 2]), torch.tensor([[1], [2], [3]]), torch.tensor([[4, 5], [6, 6], [7, 8]])
    hidden = model(users)
    loss = sampled_softmax_loss(model.score_items(hidden, pos)[:, 0], model.score_items(hidden, neg))
    sims = F.cosine_similarity(model.user_embedding(users)[:, None], model.item_embedding(torch.cat([pos, neg], 1)), -1)
    infonce = -F.log_softmax(sims / 0.1, dim=1)[:, 0].mean()
    assert float(loss.detach()) == pytest.approx(float(infonce.detach()), rel=1e-5)


# -- true_preference_metrics -----------------------------------------------------------------------------
def test_true_preference_metrics_of_an_oracle_and_of_its_reverse():
    world = SyntheticWorld(n_users=50, n_items=40, random_state=2)
    train = leave_one_out(world.generate()).train

    class Oracle(torch.nn.Module):
        maxlen = None

        def __init__(self, sign):
            super().__init__()
            self.sign = sign

        def score_all(self, users, histories=None):
            return self.sign * torch.as_tensor(world.relevance(users.numpy(), np.arange(41)[None].repeat(len(users), 0)))

    best = true_preference_metrics(Oracle(1.0), world, train, k=5)
    worst = true_preference_metrics(Oracle(-1.0), world, train, k=5)
    left = world.false_negative_mask(train).sum(axis=1)             # liked items left to rank
    assert (left < 5).any()                                         # some users cannot fill a top-5
    assert best["precision@5"] == pytest.approx(np.minimum(left[left > 0], 5).mean() / 5)
    assert best["ndcg@5"] == pytest.approx(1.0)
    assert worst["precision@5"] == pytest.approx(0.0) and worst["ndcg@5"] == pytest.approx(0.0)
    popular = true_preference_metrics(MostPopular().fit(train), world, train, k=5)
    assert 0 < popular["precision@5"] < 1 and popular["popularity@5"] > 1   # above the uniform 1
    with pytest.raises(RecnegError, match="k="):
        true_preference_metrics(Oracle(1.0), world, train, k=40)
