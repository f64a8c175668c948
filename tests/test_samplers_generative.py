"""Generative ANG: a GAN generator that synthesises negative embeddings for BPR-MF."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from recneg import RecnegError
from recneg.data import Interactions, SyntheticWorld, leave_one_out
from recneg.evaluation import evaluate
from recneg.models import BPRMF
from recneg.samplers import GenerativeAdversarialNegatives

N_USERS, N_ITEMS = 6, 30


def toy_train() -> Interactions:
    history = {0: [1, 2, 3, 5], 1: [1, 2, 3, 4, 6], 2: [2, 3, 4, 7],
               3: [20, 21, 22, 24], 4: [20, 21, 23, 25], 5: [21, 22, 23]}
    users = np.concatenate([[u] * len(items) for u, items in history.items()])
    items = np.concatenate(list(history.values()))
    return Interactions(users, items, np.arange(len(users)), n_users=N_USERS, n_items=N_ITEMS)


def fitted(**params) -> GenerativeAdversarialNegatives:
    params.setdefault("random_state", 0)
    return GenerativeAdversarialNegatives(**params).fit(toy_train())


def test_synthetic_vectors_have_the_right_shape_and_stay_in_the_ball():
    gan = fitted(noise_dim=3, hidden=8)
    users = torch.randn(5, 4, generator=torch.Generator().manual_seed(1)) * 10
    for radius in (0.01, 1.0, 50.0):
        fake = gan.generate(users, 7, radius=radius).detach()
        assert fake.shape == (5, 7, 4)
        assert float(fake.norm(dim=-1).max()) <= radius * (1 + 1e-5)


def test_radius_is_the_quantile_of_real_item_norms_without_padding():
    table = torch.zeros(5, 2)
    table[1:, 0] = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert math.isclose(fitted(norm_quantile=0.5).radius(table), 2.5)
    assert math.isclose(fitted(norm_quantile=1.0).radius(table), 4.0)   # the zero padding row is not counted


def test_a_seed_fixes_the_synthetic_negatives():
    users = torch.randn(4, 6, generator=torch.Generator().manual_seed(2))
    a = fitted(random_state=3).generate(users, 2, radius=1.0)
    b = fitted(random_state=3).generate(users, 2, radius=1.0)
    c = fitted(random_state=4).generate(users, 2, radius=1.0)
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_the_generator_learns_its_best_response_against_a_frozen_recommender():
    # Against fixed user vectors the best point of the ball is r · e_u/‖e_u‖: after
    # training, the synthetic vectors point along the users, ignoring the noise. Small
    # vectors keep the scores where −log σ has not saturated.
    gan = fitted(noise_dim=4, hidden=32, lr=0.01)
    users = 0.3 * torch.randn(N_USERS, 8, generator=torch.Generator().manual_seed(5))
    table = 0.3 * torch.randn(N_ITEMS + 1, 8, generator=torch.Generator().manual_seed(6))
    first = gan.generator_step(users, table, num_negatives=4)
    for _ in range(300):
        last = gan.generator_step(users, table, num_negatives=4)
    r = gan.radius(table)
    best_score = float((r * users.norm(dim=-1)).mean())
    assert abs(first["alignment"]) < 0.6
    assert last["alignment"] > 0.99 and last["noise_similarity"] > 0.99
    assert 0.98 * best_score < last["synthetic_score"] <= best_score * (1 + 1e-5)
    assert last["generator_loss"] < first["generator_loss"]
    frame = gan.dynamics()
    assert list(frame.step) == list(range(1, 302)) and np.allclose(frame.radius, r)


def test_steps_train_only_their_own_player():
    train = toy_train()
    model = BPRMF(N_USERS, N_ITEMS, dim=8, random_state=0)
    gan = GenerativeAdversarialNegatives(noise_dim=4, hidden=8, random_state=0).fit(train)
    users, items = torch.as_tensor(train.users), torch.as_tensor(train.items)
    before = [p.detach().clone() for p in model.parameters()]
    gan.generator_step(model.user_embedding(users), model.item_embedding.weight)
    assert all(p.grad is None for p in model.parameters())            # the recommender is frozen
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    generator_before = [p.detach().clone() for p in gan.network_.parameters()]
    for p in gan.network_.parameters():
        p.grad = None
    gan.discriminator_loss(model, users, items).backward()
    assert all(p.grad is None for p in gan.network_.parameters())     # the generator is frozen
    assert all(torch.equal(a, b) for a, b in zip(generator_before, gan.network_.parameters()))


@pytest.mark.parametrize("n_real", [0, 2])
def test_synthetic_negatives_move_no_item_but_the_positive(n_real):
    # The defining property of generative ANG: the negative is not an item, so without
    # real negatives only the users and the positives receive a gradient.
    train = toy_train()
    model = BPRMF(N_USERS, N_ITEMS, dim=8, random_state=0)
    gan = GenerativeAdversarialNegatives(n_real=n_real, random_state=0).fit(train)
    users, items = torch.tensor([0, 3]), torch.tensor([1, 20])
    gan.discriminator_loss(model, users, items, num_negatives=3).backward()
    moved = set(torch.nonzero(model.item_embedding.weight.grad.abs().sum(1)).flatten().tolist())
    if n_real == 0:
        assert moved == {1, 20}
    else:
        assert {1, 20} <= moved and len(moved) > 2


def test_discriminator_loss_is_bpr_against_synthetic_and_real_negatives():
    train = toy_train()
    model = BPRMF(N_USERS, N_ITEMS, dim=8, random_state=0)
    users, items = torch.tensor([0, 1, 4]), torch.tensor([2, 6, 25])
    loss = GenerativeAdversarialNegatives(n_real=2, random_state=7).fit(train).discriminator_loss(
        model, users, items, num_negatives=3)
    twin = GenerativeAdversarialNegatives(n_real=2, random_state=7).fit(train)   # same draws
    e_u = model.user_embedding(users)
    drawn = twin.negatives(e_u, model.item_embedding.weight, users, items, 3)
    assert drawn.vectors.shape == (3, 3, 8) and drawn.real_items.shape == (3, 2)
    pos = (e_u * model.item_embedding(items)).sum(-1, keepdim=True)
    neg = torch.cat([(e_u.unsqueeze(1) * drawn.vectors).sum(-1),
                     (e_u.unsqueeze(1) * model.item_embedding(drawn.real_items)).sum(-1)], dim=1)
    expected = -F.logsigmoid(pos - neg).mean()
    assert torch.allclose(loss, expected)


def test_real_negatives_are_never_a_training_positive():
    train = toy_train()
    gan = fitted(n_real=5)
    users = torch.as_tensor(train.users).repeat(20)
    items = torch.as_tensor(train.items).repeat(20)
    drawn = gan.negatives(torch.zeros(len(users), 4), torch.ones(N_ITEMS + 1, 4), users, items)
    assert not bool(train.user_item_set().contains(users, drawn.real_items).any())
    assert int(drawn.real_items.min()) >= 1


def test_nearest_items_are_the_closest_allowed_items_in_cosine():
    train = toy_train()
    model = BPRMF(N_USERS, N_ITEMS, dim=8, random_state=0)
    gan = fitted(random_state=11)
    twin = fitted(random_state=11)
    users = torch.arange(N_USERS)
    near = gan.nearest_items(model, users, 5)
    with torch.no_grad():
        table = model.item_embedding.weight
        fake = twin.generate(model.user_embedding(users), 5, radius=twin.radius(table))
        cosine = F.normalize(fake, dim=-1) @ F.normalize(table, dim=-1).T
    seen = train.user_item_set().dense_mask(users)
    seen[:, 0] = True
    expected = cosine.masked_fill(seen.unsqueeze(1), -2.0).argmax(-1)
    assert torch.equal(near, expected)
    assert not bool(train.user_item_set().contains(users, near).any()) and int(near.min()) >= 1


def test_bpr_mf_trained_against_the_generator_ranks_far_above_chance():
    world = SyntheticWorld(n_users=200, n_items=120, random_state=0)
    split = leave_one_out(world.generate())
    model = BPRMF(split.n_users, split.n_items, dim=16, random_state=0)
    gan = GenerativeAdversarialNegatives(random_state=0).fit(split.train)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    users, items = torch.as_tensor(split.train.users), torch.as_tensor(split.train.items)
    order = torch.Generator().manual_seed(0)
    for _ in range(10):
        for rows in torch.randperm(len(users), generator=order).split(512):
            loss = gan.bpr_loss(model, users[rows], items[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    hr = evaluate(model.eval(), split.test, split.train)["hr@10"]
    # A random ranking hits with probability about 10 / (unseen items) ≤ 10 / 60; the
    # binomial sd over 200 users is ≤ 0.03, so 0.3 is far outside chance.
    assert hr > 0.3
    steps = gan.dynamics()
    assert len(steps) == 10 * math.ceil(len(users) / 512)


@pytest.mark.parametrize(("params", "message"), [
    ({"noise_dim": 0}, "noise_dim"), ({"hidden": -1}, "hidden"), ({"lr": 0}, "lr"), ({"lr": "fast"}, "lr"),
    ({"n_real": -1}, "n_real"), ({"n_real": 1.5}, "n_real"), ({"norm_quantile": 0}, "norm_quantile"),
    ({"norm_quantile": 1.2}, "norm_quantile"), ({"generator_steps": 0}, "generator_steps"),
])
def test_bad_parameters_are_named(params, message):
    with pytest.raises(RecnegError, match=message):
        GenerativeAdversarialNegatives(**params)


def test_misuse_gets_a_clear_error():
    with pytest.raises(RecnegError, match="not fitted"):
        GenerativeAdversarialNegatives().generate(torch.zeros(2, 4), radius=1.0)
    gan = fitted()
    gan.generate(torch.zeros(2, 4), radius=1.0)
    with pytest.raises(RecnegError, match="size 4, got 6"):
        gan.generate(torch.zeros(2, 6), radius=1.0)
    with pytest.raises(RecnegError, match=r"shape \(B, d\)"):
        gan.generate(torch.zeros(2, 3, 4), radius=1.0)
    full = Interactions(np.array([0, 0, 1]), np.array([1, 2, 1]), np.arange(3), n_users=2, n_items=2)
    with pytest.raises(RecnegError, match="user 0 has interacted with every one"):
        GenerativeAdversarialNegatives(n_real=0).fit(full)      # no item could stand for a negative
