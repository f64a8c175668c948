"""Tests of recneg.evaluation on a hand-worked toy and with small statistical checks."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from recneg import RecnegError
from recneg.data import EvalSet, Interactions
from recneg.evaluation import evaluate, evaluate_frame

# Training counts: item 1: 6, items 2, 3: 3 each, items 4, 5, 6: 1 each (total 15).
# Cohorts: head {1} (starts at 0), mid {2, 3} (start at 6 and 9 < 10), tail {4, 5, 6}.
TRAIN_ITEMS = np.array([1] * 6 + [2] * 3 + [3] * 3 + [4, 5, 6])
TRAIN = Interactions(
    users=np.arange(len(TRAIN_ITEMS)) % 3, items=TRAIN_ITEMS,
    timestamps=np.arange(len(TRAIN_ITEMS)), n_users=3, n_items=6, name="toy",
)
# Rows: (user, target, history)
#   r0: user 0, target 3, history [1]     -> only item 2 above -> rank 1
#   r1: user 1, target 5, history [6, 2]  -> item 6 above but seen -> rank 0
#   r2: user 2, target 2, history []      -> every other item above -> rank 5
#   r3: user 0, target 1, history [3, 1]  -> target in its own history, top -> rank 0
TEST = EvalSet(
    users=np.array([0, 1, 2, 0]), targets=np.array([3, 5, 2, 1]),
    history_indptr=np.array([0, 1, 3, 3, 5]), history_items=np.array([1, 6, 2, 3, 1]),
    n_items=6,
)
TABLE = torch.tensor([
    [0.0, 6, 5, 4, 3, 2, 1],     # user 0 prefers small ids
    [0.0, 1, 2, 3, 4, 5, 6],     # user 1 prefers large ids
    [0.0, 3, 1, 4, 1.5, 9, 2.6],
])


class TableModel:
    """Scores from a fixed per-user table; records the histories it receives."""

    def __init__(self, table, maxlen=None):
        self.table = table
        self.maxlen = maxlen
        self.histories = []

    def score_all(self, users, histories):
        self.histories.append(histories.clone())
        return self.table[users]


def test_hand_worked_toy_accuracy_cohorts_and_lists():
    r = evaluate(TableModel(TABLE), TEST, TRAIN, ks=(1, 3))
    # Ranks are [1, 0, 5, 0].
    assert r["hr@1"] == pytest.approx(0.5)
    assert r["hr@3"] == pytest.approx(0.75)
    assert r["ndcg@1"] == pytest.approx(0.5)
    assert r["ndcg@3"] == pytest.approx((1 / math.log2(3) + 1 + 0 + 1) / 4)
    assert r["mrr"] == pytest.approx((1 / 2 + 1 + 1 / 6 + 1) / 4)
    # Target cohorts: 3 mid, 5 tail, 2 mid, 1 head.
    assert (r["n_rows"], r["n_rows_head"], r["n_rows_mid"], r["n_rows_tail"]) == (4, 1, 2, 1)
    assert (r["hr@3_head"], r["hr@3_mid"], r["hr@3_tail"]) == pytest.approx((1.0, 0.5, 1.0))
    assert (r["hr@1_head"], r["hr@1_mid"], r["hr@1_tail"]) == pytest.approx((1.0, 0.0, 1.0))
    assert r["ndcg@3_mid"] == pytest.approx((1 / math.log2(3) + 0) / 2)
    # Balance = 1 - Gini: Gini(0.5, 1, 1) = 1 / 7.5; Gini(0, 1, 1) = 1/3.
    assert r["balance@3"] == pytest.approx(1 - 1 / 7.5)
    assert r["balance@1"] == pytest.approx(2 / 3)
    assert r["balance"] == r["balance@1"]  # 10 is not among ks: the smallest K is used
    # Top-3 lists: [2,3,4], [5,4,3], [5,3,1], [2,4,5].
    assert r["coverage@3"] == pytest.approx(5 / 6)
    assert r["mean_pop@3"] == pytest.approx(27 / 12)
    assert r["tail_share@3"] == pytest.approx(6 / 12)
    assert r["coverage@1"] == pytest.approx(2 / 6)
    assert r["mean_pop@1"] == pytest.approx(2.0)
    assert r["protocol"] == "full"


def test_results_do_not_depend_on_batch_size():
    a = evaluate(TableModel(TABLE), TEST, TRAIN, ks=(1, 3), batch_size=1)
    b = evaluate(TableModel(TABLE), TEST, TRAIN, ks=(1, 3), batch_size=256)
    assert a.keys() == b.keys()
    for key in a:
        if key != "protocol":
            assert a[key] == pytest.approx(b[key]), key


def test_histories_passed_to_the_model():
    flat = TableModel(TABLE, maxlen=None)
    evaluate(flat, TEST, TRAIN, batch_size=2, ks=(3,))
    assert torch.cat(flat.histories).tolist() == [[1], [2], [0], [1]]
    seq = TableModel(TABLE, maxlen=3)
    evaluate(seq, TEST, TRAIN, ks=(3,))
    assert torch.cat(seq.histories).tolist() == [[0, 0, 1], [0, 6, 2], [0, 0, 0], [0, 3, 1]]


class DropoutModel(torch.nn.Module):
    """Scores pass through dropout: only in eval mode are they deterministic."""

    maxlen = None

    def __init__(self):
        super().__init__()
        self.table = torch.nn.Parameter(TABLE.clone())
        self.dropout = torch.nn.Dropout(0.5)
        self.saw_grad = False
        self.saw_training = False

    def score_all(self, users, histories):
        self.saw_grad |= torch.is_grad_enabled()
        self.saw_training |= self.training
        return self.dropout(self.table[users])


def test_model_scored_in_eval_mode_without_grad_and_mode_restored():
    model = DropoutModel().train()
    r = evaluate(model, TEST, TRAIN, ks=(1, 3))
    assert not model.saw_grad and not model.saw_training
    assert model.training  # restored
    assert r["hr@1"] == pytest.approx(0.5)
    model.eval()
    evaluate(model, TEST, TRAIN, ks=(1,))
    assert not model.training


def _random_world(n_users=400, n_items=300, seed=0):
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), 4)
    items = rng.integers(1, n_items + 1, len(users))
    train = Interactions(users, items, np.arange(len(users)), n_users=n_users, n_items=n_items)
    targets = rng.integers(1, n_items + 1, n_users)
    indptr = np.arange(0, 4 * n_users + 1, 4)
    test = EvalSet(np.arange(n_users), targets, indptr, items, n_items=n_items)
    return train, test


class RandomModel:
    maxlen = None

    def __init__(self, n_items, seed):
        self.n_items, self.gen = n_items, torch.Generator().manual_seed(seed)

    def score_all(self, users, histories):
        return torch.rand(len(users), self.n_items + 1, generator=self.gen)


def test_sampled_protocol_is_labelled_and_optimistic():
    train, test = _random_world()
    full = evaluate(RandomModel(300, 0), test, train, ks=(10,))
    sampled = evaluate(RandomModel(300, 0), test, train, ks=(10,), protocol="sampled",
                       n_sampled=50, random_state=1)
    assert sampled["protocol"] == "sampled-uniform-50"
    pop = evaluate(RandomModel(300, 0), test, train, protocol="sampled", sampled_by="popularity")
    assert pop["protocol"] == "sampled-popularity-100"
    # Same scores: every sampled rank is <= the full one, so sampled HR@10 >= full HR@10.
    assert sampled["hr@10"] >= full["hr@10"]
    # Random scores: full HR@10 ~ 10/297, sampled ~ 10/51; 3-sigma binomial bands.
    n = test.users.size
    for value, p in ((full["hr@10"], 10 / 297), (sampled["hr@10"], 10 / 51)):
        assert abs(value - p) < 3 * math.sqrt(p * (1 - p) / n)
    # Lists (and so coverage) come from full scores under either protocol.
    assert sampled["coverage@10"] == pytest.approx(full["coverage@10"])


def test_sampled_protocol_is_reproducible_from_random_state():
    train, test = _random_world(n_users=100, n_items=80)
    a = evaluate(RandomModel(80, 0), test, train, protocol="sampled", n_sampled=20, random_state=5)
    b = evaluate(RandomModel(80, 0), test, train, protocol="sampled", n_sampled=20, random_state=5)
    assert a["mrr"] == b["mrr"]


def test_cohorts_come_from_training_counts_only():
    # Every target is item 6, tail in training; a leak from the test targets would
    # make it the most popular item and put it in the head.
    test = EvalSet(np.array([0, 1, 2]), np.array([6, 6, 6]), np.array([0, 0, 0, 0]),
                   np.array([], dtype=np.int64), n_items=6)
    r = evaluate(TableModel(TABLE), test, TRAIN, ks=(3,))
    assert r["n_rows_tail"] == 3 and r["n_rows_head"] == 0
    assert math.isnan(r["hr@3_head"]) and math.isnan(r["balance"])


def test_evaluate_frame_is_tidy():
    frame = evaluate_frame(TableModel(TABLE), TEST, TRAIN, ks=(1, 3))
    assert list(frame.columns) == ["metric", "value", "protocol"]
    assert set(frame["protocol"]) == {"full"}
    assert frame.set_index("metric").loc["hr@3", "value"] == pytest.approx(0.75)
    assert pd.api.types.is_float_dtype(frame["value"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"protocol": "exhaustive"}, "protocol"),
        ({"protocol": "sampled", "sampled_by": "zipf"}, "sampled_by"),
        ({"ks": (0,)}, "ks"),
        ({"ks": (7,)}, "exceeds the 6 items"),
        ({"batch_size": 0}, "batch_size"),
        ({"protocol": "sampled", "n_sampled": -1}, "n_sampled"),
    ],
)
def test_bad_arguments_raise_one_line_errors(kwargs, message):
    kwargs = {"ks": (3,), **kwargs}
    with pytest.raises(RecnegError, match=message) as info:
        evaluate(TableModel(TABLE), TEST, TRAIN, **kwargs)
    assert "\n" not in str(info.value)


def test_bad_model_or_data_raise():
    with pytest.raises(RecnegError, match="score_all"):
        evaluate(object(), TEST, TRAIN, ks=(3,))
    with pytest.raises(RecnegError, match=r"shape \(4, 6\)"):
        evaluate(TableModel(TABLE[:, :6]), TEST, TRAIN, ks=(3,))
    other = EvalSet(np.array([0]), np.array([1]), np.array([0, 0]), np.array([], dtype=np.int64), n_items=9)
    with pytest.raises(RecnegError, match="same split"):
        evaluate(TableModel(TABLE), other, TRAIN, ks=(3,))
    with pytest.raises(RecnegError, match="maxlen"):
        evaluate(TableModel(TABLE, maxlen=0), TEST, TRAIN, ks=(3,))
