"""The cross-batch memory bank: FIFO order and size, refresh and staleness, the sampled
softmax over in-batch + bank negatives, and training through the Trainer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from recneg import RecnegError
from recneg.data import Interactions, SyntheticWorld, leave_one_out
from recneg.models import BPRMF, SASRec
from recneg.production import CrossBatchNegatives, EmbeddingMemoryBank
from recneg.samplers import catalogue
from recneg.training import Batch, TrainConfig, Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


def rows(*values) -> torch.Tensor:
    """One 2-d vector per value, (value, -value)."""
    return torch.tensor([[float(v), -float(v)] for v in values])


# -- the FIFO bank ------------------------------------------------------------------------------
def test_the_bank_is_fifo_with_its_capacity():
    bank = EmbeddingMemoryBank(capacity=5, dim=2)
    assert len(bank) == 0 and bank.items().tolist() == []
    bank.enqueue(torch.tensor([1, 2]), rows(1, 2), step=0)
    bank.enqueue(torch.tensor([3, 3]), rows(3, 3), step=1)          # a repeated item is kept twice
    assert bank.items().tolist() == [1, 2, 3, 3] and len(bank) == 4
    bank.enqueue(torch.tensor([4, 5, 6]), rows(4, 5, 6), step=2)    # wraps around: 1 and 2 leave
    assert bank.items().tolist() == [3, 3, 4, 5, 6] and len(bank) == 5
    assert torch.equal(bank.vectors(), rows(3, 3, 4, 5, 6))
    assert bank.ages(step=4).tolist() == [3, 3, 2, 2, 2]
    bank.enqueue(torch.tensor([7, 8, 9, 10, 11, 12, 13]), rows(7, 8, 9, 10, 11, 12, 13), step=3)
    assert bank.items().tolist() == [9, 10, 11, 12, 13]                # only the newest five survive
    assert torch.equal(bank.vectors(), rows(9, 10, 11, 12, 13))
    bank.enqueue(torch.tensor([14]), rows(14), step=4)
    assert bank.items().tolist() == [10, 11, 12, 13, 14] and len(bank) == 5


def test_refresh_re_encodes_every_entry_and_staleness_measures_the_gap():
    bank = EmbeddingMemoryBank(capacity=4, dim=2)
    bank.enqueue(torch.tensor([2, 3, 2]), torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]]), step=0)
    table = torch.tensor([[0.0, 0.0], [9.0, 9.0], [1.0, 1.0], [0.0, 4.0]])
    encode = lambda ids: table[ids]                              # noqa: E731  (a fixed "model")
    stale = bank.staleness(encode)
    # ‖stored − current‖ / ‖current‖ per entry: item 2 twice, item 3 once.
    expected_l2 = np.mean([1 / math.sqrt(2), 2 / 4, math.sqrt(13) / math.sqrt(2)])
    expected_cos = np.mean([1 - 1 / math.sqrt(2), 0.0, 1 - 7 / (5 * math.sqrt(2))])
    assert stale["n"] == 3
    assert math.isclose(stale["relative_l2"], expected_l2, rel_tol=1e-6)
    assert math.isclose(stale["cosine_distance"], expected_cos, rel_tol=1e-6, abs_tol=1e-7)
    bank.refresh(encode, step=5)
    assert torch.equal(bank.vectors(), table[torch.tensor([2, 3, 2])])
    assert bank.ages(step=7).tolist() == [2, 2, 2]
    assert bank.staleness(encode)["relative_l2"] == 0.0
    assert math.isnan(EmbeddingMemoryBank(3, 2).staleness(encode)["relative_l2"])


# -- the method's loss ----------------------------------------------------------------------------
def tiny_train() -> Interactions:
    users = np.array([0, 0, 1, 1, 2, 2, 3])
    items = np.array([1, 2, 2, 3, 4, 5, 6])
    return Interactions(users, items, np.arange(len(users)), n_users=4, n_items=8, name="tiny")


def test_the_loss_is_the_corrected_sampled_softmax_without_accidental_hits():
    train = tiny_train()
    model = BPRMF(4, 8, dim=3, random_state=0)
    method = CrossBatchNegatives(bank_size=4).fit(train)
    gen = torch.Generator().manual_seed(0)
    first = Batch(torch.tensor([2, 3]), torch.tensor([4, 6]), 1, gen, torch.device("cpu"))
    method.batch_loss(model, first)                             # fills the bank with items 4 and 6
    stored = {4: model.item_embedding.weight[4].detach().clone(), 6: model.item_embedding.weight[6].detach().clone()}
    with torch.no_grad():                                       # the model moves: the bank is now stale
        model.item_embedding.weight[1:] += 0.5
    users, positives = torch.tensor([0, 1, 2]), torch.tensor([1, 3, 5])
    items, hits = method.candidates(users, positives, method.bank_)
    assert items.tolist() == [1, 3, 5, 4, 6]
    # Never the row's positive, never one of the user's training items.
    history = {0: {1, 2}, 1: {2, 3}, 2: {4, 5}}
    for row, user in enumerate(users.tolist()):
        for col, item in enumerate(items.tolist()):
            assert bool(hits[row, col]) == (item == int(positives[row]) or item in history[user])
    loss = method.batch_loss(model, Batch(users, positives, 1, gen, torch.device("cpu")))
    with torch.no_grad():
        log_q = torch.log(torch.tensor(np.bincount(train.items, minlength=9) / len(train)))
        vectors = model.item_embedding.weight
        expected = []
        for row, user in enumerate(users.tolist()):
            u = model.user_embedding.weight[user]
            pos = float(u @ vectors[positives[row]]) - float(log_q[positives[row]])
            terms = [pos] + [float(u @ (stored.get(j, vectors[j]))) - float(log_q[j])
                             for col, j in enumerate(items.tolist()) if not hits[row, col]]
            expected.append(float(torch.logsumexp(torch.tensor(terms), 0)) - pos)
    assert math.isclose(float(loss.detach()), float(np.mean(expected)), rel_tol=1e-5)
    assert method.bank_.items().tolist() == [6, 1, 3, 5]        # [4, 6] + [1, 3, 5], the oldest out
    _, size_used, staleness_used = method.history_[-1][:3]
    assert size_used == 2 and staleness_used > 0                # the loss saw the stale [4, 6]


def test_bank_vectors_get_no_gradient():
    model = BPRMF(4, 8, dim=3, random_state=0)
    method = CrossBatchNegatives(bank_size=8, exclude_positives=False).fit(tiny_train())
    gen = torch.Generator().manual_seed(0)
    method.batch_loss(model, Batch(torch.tensor([2, 3]), torch.tensor([4, 6]), 1, gen, torch.device("cpu")))
    model.zero_grad()
    method.batch_loss(model, Batch(torch.tensor([0, 1]), torch.tensor([1, 3]), 1, gen,
                                   torch.device("cpu"))).backward()
    grad = model.item_embedding.weight.grad
    assert float(grad[[4, 6]].abs().sum()) == 0.0               # only in the bank: constants
    assert float(grad[1].abs().sum()) > 0 and float(grad[3].abs().sum()) > 0


# -- training -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world_split():
    return leave_one_out(SyntheticWorld(n_users=200, n_items=150, random_state=0).generate())


def fit(split, method, epochs=3):
    config = TrainConfig(epochs=epochs, batch_size=64, lr=0.02, loss="sampled-softmax", patience=None,
                         progress=False, seed=0)
    return Trainer(BPRMF(split.n_users, split.n_items, dim=16, random_state=0), method, config).fit(split)


def test_a_short_fit_reduces_the_loss_and_fills_the_bank(world_split):
    method = CrossBatchNegatives(bank_size=256, refresh_every=4)
    result = fit(world_split, method)
    loss = result.history.train_loss.to_numpy()
    assert np.isfinite(loss).all() and loss[-1] < 0.8 * loss[0]
    assert len(method.bank_) == 256
    assert len(method.history_) == method.step_ == 3 * math.ceil(len(world_split.train) / 64)
    assert result.history.negatives_per_s.gt(0).all()


def test_staleness_is_zero_when_always_fresh_and_grows_with_the_refresh_period(world_split):
    # The bank lives 512 / 64 = 8 batches, so refresh periods up to 8 still matter.
    staleness = {}
    for period in (1, 2, 6, None):
        method = CrossBatchNegatives(bank_size=512, refresh_every=period)
        history = fit(world_split, method, epochs=2).history
        staleness[period] = history.bank_staleness.to_numpy()
        ages = history.bank_age.to_numpy()
        if period == 1:
            assert (staleness[1] == 0).all() and (history.bank_cosine_distance == 0).all() and (ages == 0).all()
    for epoch in range(2):
        values = [staleness[p][epoch] for p in (1, 2, 6, None)]
        assert values[0] == 0 and all(a < b for a, b in zip(values, values[1:])), values


def test_the_method_is_catalogued_with_in_batch_negatives():
    table = catalogue().set_index("name")
    assert tuple(table.loc["cross-batch", ["family", "subfamily", "class"]]) == \
        ("static", "popularity-based", "CrossBatchNegatives")


# -- bad inputs -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    ({"bank_size": 0}, "bank_size"),
    ({"bank_size": "big"}, "bank_size"),
    ({"refresh_every": 0}, "refresh_every"),
    ({"refresh_every": -3}, "refresh_every"),
    ({"refresh_every": 2.5}, "refresh_every"),
])
def test_bad_parameters_raise_one_line_errors(kwargs, match):
    with pytest.raises(RecnegError, match=match) as error:
        CrossBatchNegatives(**kwargs)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("items, vectors, match", [
    (torch.tensor([[1, 2]]), torch.zeros(2, 2), "1-D integer"),
    (torch.tensor([1.0, 2.0]), torch.zeros(2, 2), "1-D integer"),
    (torch.tensor([1, 2]), torch.zeros(2, 3), "shape"),
    (torch.tensor([0, 2]), torch.zeros(2, 2), "padding"),
    (torch.tensor([1, 2]), torch.tensor([[0.0, float("nan")], [1.0, 1.0]]), "NaN"),
])
def test_bad_bank_entries_raise_one_line_errors(items, vectors, match):
    bank = EmbeddingMemoryBank(capacity=4, dim=2)
    with pytest.raises(RecnegError, match=match) as error:
        bank.enqueue(items, vectors, step=0)
    assert "\n" not in str(error.value) and len(bank) == 0


def test_the_trainer_refuses_a_wrong_loss_or_model(world_split):
    method = CrossBatchNegatives()
    with pytest.raises(RecnegError, match="sampled-softmax"):
        Trainer(BPRMF(world_split.n_users, world_split.n_items, dim=8), method, TrainConfig(loss="bce"))
    with pytest.raises(RecnegError, match="BPRMF"):
        Trainer(SASRec(world_split.n_items, hidden=8, maxlen=5), method, TrainConfig(loss="sampled-softmax"))
    with pytest.raises(RecnegError, match="not fitted"):
        method.batch_loss(BPRMF(4, 8, dim=3), Batch(torch.tensor([0]), torch.tensor([1]), 1,
                                                    torch.Generator(), torch.device("cpu")))
