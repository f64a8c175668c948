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
    # full ranking takes the rows shortest history first (r2, r0, then r1 and r3 in order)
    assert torch.cat(seq.histories).tolist() == [[0, 0, 0], [0, 0, 1], [0, 6, 2], [0, 3, 1]]


def test_sampled_protocol_takes_rows_in_order():
    # its draws follow the row order, so a reordering would change published sampled metrics
    seq = TableModel(TABLE, maxlen=3)
    evaluate(seq, TEST, TRAIN, ks=(3,), protocol="sampled", n_sampled=2)
    assert torch.cat(seq.histories).tolist() == [[0, 0, 1], [0, 6, 2], [0, 0, 0], [0, 3, 1]]


def test_sequential_results_do_not_depend_on_batch_size_or_row_order():
    a = evaluate(TableModel(TABLE, maxlen=3), TEST, TRAIN, ks=(1, 3), batch_size=1)
    b = evaluate(TableModel(TABLE, maxlen=3), TEST, TRAIN, ks=(1, 3), batch_size=3)
    flat = evaluate(TableModel(TABLE), TEST, TRAIN, ks=(1, 3))
    for key in a:
        if key != "protocol":
            assert a[key] == pytest.approx(b[key]) and a[key] == pytest.approx(flat[key]), key


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
    # The whole catalogue: the expected hit rates below count every item.
    full = evaluate(RandomModel(300, 0), test, train, ks=(10,), candidates="all")
    sampled = evaluate(RandomModel(300, 0), test, train, ks=(10,), protocol="sampled",
                       n_sampled=50, random_state=1, candidates="all")
    assert sampled["protocol"] == "sampled-uniform-50"
    pop = evaluate(RandomModel(300, 0), test, train, protocol="sampled", sampled_by="popularity",
                   candidates="all")
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
    assert list(frame.columns) == ["metric", "value", "protocol", "candidates"]
    assert set(frame["protocol"]) == {"full"} and set(frame["candidates"]) == {"trained"}
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


# -- candidate items (issue #9) ---------------------------------------------------------
# Items 1..5 have training interactions, items 6, 7, 8 none. The model scores by item
# id, so the three untrained items score highest: under candidates="all" they fill
# every top-3 list, as untouched items did in the degenerate published runs.
SPARSE_TRAIN = Interactions(
    users=np.array([0, 0, 1, 1, 2, 2]), items=np.array([1, 2, 3, 4, 5, 1]),
    timestamps=np.arange(6), n_users=3, n_items=8,
)
# Rows: user 0 target 5 (history [1]), user 1 target 7 (untrained, history []),
#       user 2 target 3 (history [5]).
SPARSE_TEST = EvalSet(
    users=np.array([0, 1, 2]), targets=np.array([5, 7, 3]),
    history_indptr=np.array([0, 1, 1, 2]), history_items=np.array([1, 5]), n_items=8,
)


class ByItemId:
    maxlen = None

    def score_all(self, users, histories):
        return torch.arange(9.0).repeat(len(users), 1)


def test_untrained_items_fill_the_lists_under_all_and_never_under_trained():
    every = evaluate(ByItemId(), SPARSE_TEST, SPARSE_TRAIN, ks=(1, 3), candidates="all")
    trained = evaluate(ByItemId(), SPARSE_TEST, SPARSE_TRAIN, ks=(1, 3))
    # Whole catalogue: every list is [8, 7, 6] (user 1 has seen nothing; 7 is its target
    # but still listed), all slots untrained items.
    assert every["untouched_share@3"] == 1.0 and every["coverage@3"] == pytest.approx(3 / 8)
    assert every["mean_pop@3"] == 0.0
    assert (every["n_candidates"], every["candidates"]) == (8, "all")
    # Trained only: lists are [5, 4, 3] for users 0 ([1] seen) and 1, and [4, 3, 2] for
    # user 2 ([5] seen): no untrained item, coverage {2, 3, 4, 5}, each with count 1.
    assert trained["untouched_share@3"] == 0.0
    assert trained["coverage@3"] == pytest.approx(4 / 8)
    assert trained["mean_pop@3"] == pytest.approx(1.0)
    assert (trained["n_candidates"], trained["candidates"]) == (5, "trained")


def test_top_k_lists_never_hold_untrained_items_whatever_their_scores():
    seen = []

    class Recorder(ByItemId):
        def score_all(self, users, histories):
            scores = torch.rand(len(users), 9, generator=gen) * 10
            scores[:, 6:] = 1e9  # untrained items always highest
            seen.append(scores)
            return scores

    gen = torch.Generator().manual_seed(0)
    r = evaluate(Recorder(), SPARSE_TEST, SPARSE_TRAIN, ks=(1, 3, 5))
    assert r["untouched_share@5"] == 0.0 and r["untouched_share@1"] == 0.0
    r_all = evaluate(Recorder(), SPARSE_TEST, SPARSE_TRAIN, ks=(1, 3, 5), candidates="all")
    assert r_all["untouched_share@3"] == 1.0


def test_a_target_never_seen_in_training_is_a_miss_in_every_metric():
    # Ranks under "trained": user 0 target 5 -> rank 0 (5 is the best trained item, 1
    # seen); user 1 target 7 -> miss; user 2 target 3 -> rank 1 (4 above, 5 seen).
    r = evaluate(ByItemId(), SPARSE_TEST, SPARSE_TRAIN, ks=(1, 3, 8))
    assert r["hr@1"] == pytest.approx(1 / 3)
    # Even at K = n_items the untrained target does not count: it stays a miss.
    assert r["hr@8"] == pytest.approx(2 / 3) and r["hr@3"] == pytest.approx(2 / 3)
    assert r["ndcg@3"] == pytest.approx((1 + 1 / math.log2(3)) / 3)
    assert r["mrr"] == pytest.approx((1 + 1 / 2 + 0) / 3)  # reciprocal rank 0, not 1/(n+1)
    assert r["n_rows"] == 3  # the row stays in the denominator
    assert r["n_rows_untrained_target"] == 1
    assert r["untrained_target_share"] == pytest.approx(1 / 3)
    # The whole catalogue ranks it as usual: item 8 above 7 -> rank 1, a hit at 3.
    every = evaluate(ByItemId(), SPARSE_TEST, SPARSE_TRAIN, ks=(3,), candidates="all")
    assert every["n_rows_untrained_target"] == 1
    # user 0: 8, 7, 6 above 5 -> rank 3 (miss@3); user 1: rank 1; user 2: 4..8 above, 5 seen -> 4.
    assert every["hr@3"] == pytest.approx(1 / 3)
    assert every["mrr"] == pytest.approx((1 / 4 + 1 / 2 + 1 / 5) / 3)


def test_untrained_target_is_a_miss_under_the_sampled_protocol_too():
    r = evaluate(ByItemId(), SPARSE_TEST, SPARSE_TRAIN, ks=(1,), protocol="sampled", n_sampled=50)
    # 50 negatives > candidates: every trained unseen item is drawn, so sampled = full.
    full = evaluate(ByItemId(), SPARSE_TEST, SPARSE_TRAIN, ks=(1,))
    assert r["mrr"] == pytest.approx(full["mrr"]) and r["hr@1"] == pytest.approx(1 / 3)
    every = evaluate(ByItemId(), SPARSE_TEST, SPARSE_TRAIN, ks=(1,), protocol="sampled",
                     n_sampled=50, candidates="all")
    assert every["mrr"] == pytest.approx((1 / 4 + 1 / 2 + 1 / 5) / 3)


def test_ties_with_untrained_items_never_count_against_the_target():
    class TiedWithUntrained:
        maxlen = None

        def score_all(self, users, histories):
            # Target scores tie with every untrained item; trained competitors are lower.
            scores = torch.zeros(len(users), 9)
            scores[:, 6:] = float("-inf")
            scores[:, [5, 3]] = float("-inf")  # user 0's and user 2's targets, also -inf
            return scores

    r = evaluate(TiedWithUntrained(), SPARSE_TEST, SPARSE_TRAIN, ks=(1, 5))
    # Only trained unseen competitors (all at 0 > -inf) count: user 0 has 2, 3, 4 -> rank 3;
    # user 2 has 1, 2, 4 -> rank 3. The -inf untrained items are never level with them.
    assert r["hr@5"] == pytest.approx(2 / 3) and r["hr@1"] == 0.0
    assert r["mrr"] == pytest.approx((1 / 4 + 0 + 1 / 4) / 3)
    # Under "all" the pessimistic rule counts the three tied untrained items as well.
    every = evaluate(TiedWithUntrained(), SPARSE_TEST, SPARSE_TRAIN, ks=(5,), candidates="all")
    assert every["hr@5"] == pytest.approx(0.0)


def test_touched_marks_untouched_items_in_the_lists():
    touched = np.ones(9, dtype=bool)
    touched[[4, 5]] = False  # trained, but never a target or negative of this fit
    r = evaluate(ByItemId(), SPARSE_TEST, SPARSE_TRAIN, ks=(1, 3), touched=touched)
    # Lists [5, 4, 3], [5, 4, 3], [4, 3, 2] (a target may be listed; seen items not):
    # slots with 4 or 5: 2 + 2 + 1 of 9.
    assert r["untouched_share@3"] == pytest.approx(5 / 9)
    assert r["untouched_share@1"] == pytest.approx(1.0)
    as_tensor = evaluate(ByItemId(), SPARSE_TEST, SPARSE_TRAIN, ks=(3,), touched=torch.as_tensor(touched))
    assert as_tensor["untouched_share@3"] == r["untouched_share@3"]


def test_default_equals_all_when_every_item_is_trained():
    a = evaluate(TableModel(TABLE), TEST, TRAIN, ks=(1, 3))
    b = evaluate(TableModel(TABLE), TEST, TRAIN, ks=(1, 3), candidates="all")
    for key in a:
        if key != "candidates":
            assert a[key] == pytest.approx(b[key]), key
    assert a["n_rows_untrained_target"] == 0 and a["untouched_share@3"] == 0.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"candidates": "popular"}, "candidates must be"),
        ({"candidates": None}, "candidates must be"),
        ({"touched": np.ones(5, dtype=bool)}, r"touched has shape \(5,\), expected \(7,\)"),
        ({"touched": np.ones(7)}, "touched must be a boolean array"),
    ],
)
def test_bad_candidates_or_touched_raise_one_line_errors(kwargs, message):
    with pytest.raises(RecnegError, match=message) as info:
        evaluate(TableModel(TABLE), TEST, TRAIN, ks=(3,), **kwargs)
    assert "\n" not in str(info.value)
