"""Leave-one-out and global temporal splits."""

from __future__ import annotations

import numpy as np
import pytest

from recneg import RecnegError
from recneg.data import Interactions, global_temporal_split, leave_one_out, load_dataset


def _histories(eval_set) -> list[list[int]]:
    return [eval_set.history(r).tolist() for r in range(len(eval_set))]


def _toy(users, items, timestamps, n_users, n_items) -> Interactions:
    return Interactions(np.array(users), np.array(items), np.array(timestamps),
                        n_users=n_users, n_items=n_items, name="toy")


# -- leave one out -----------------------------------------------------------------------
def test_leave_one_out_on_a_hand_built_log():
    # Rows deliberately out of time order; user 1 has two interactions, user 3 none.
    log = _toy(users=[0, 2, 0, 1, 0, 2, 0, 1, 2, 2],
               items=[4, 1, 2, 5, 3, 2, 1, 1, 5, 3],
               timestamps=[30, 5, 10, 1, 20, 6, 40, 2, 8, 7],
               n_users=4, n_items=5)
    split = leave_one_out(log)
    assert split.protocol == "leave-one-out"
    # User 0 in time order: 2, 3, 4, 1.  User 2: 1, 2, 3, 5.
    assert split.valid.users.tolist() == [0, 2] and split.test.users.tolist() == [0, 2]
    assert split.valid.targets.tolist() == [4, 3]
    assert split.test.targets.tolist() == [1, 5]
    assert _histories(split.valid) == [[2, 3], [1, 2]]
    assert _histories(split.test) == [[2, 3, 4], [1, 2, 3]]
    assert sorted(zip(split.train.users.tolist(), split.train.items.tolist())) == [
        (0, 2), (0, 3), (1, 1), (1, 5), (2, 1), (2, 2)]
    assert split.train.n_items == 5 and split.train.n_users == 4
    assert split.info["users_not_evaluated"] == 1
    # Item 1 (user 0's test target) and item 5 are in training through user 1.
    assert split.info["cold_item_targets"] == {"valid": 1, "test": 0}


def test_leave_one_out_on_ml100k(data_dir):
    log = load_dataset("ml-100k", download=False)
    split = leave_one_out(log)
    n_users = 943  # every ML-100K user has at least 20 ratings
    assert len(split.valid) == len(split.test) == n_users
    assert len(split.train) == len(log) - 2 * n_users
    sequences = log.sequences()
    rng = np.random.default_rng(0)
    for row in rng.choice(n_users, size=50, replace=False):
        user = split.test.users[row]
        seq = sequences[user]
        assert split.test.targets[row] == seq[-1]
        assert split.valid.targets[row] == seq[-2]
        np.testing.assert_array_equal(split.test.history(row), seq[:-1])
        np.testing.assert_array_equal(split.valid.history(row), seq[:-2])
    # ML-100K has no repeated (user, item) pairs, so no held-out pair may be in training.
    train_pairs = set(zip(split.train.users.tolist(), split.train.items.tolist()))
    for part in (split.valid, split.test):
        assert not train_pairs & set(zip(part.users.tolist(), part.targets.tolist()))


def test_leave_one_out_works_without_timestamps(data_dir):
    log = load_dataset("amazon-beauty", download=False)
    split = leave_one_out(log)
    assert len(split.test) == log.n_users  # Beauty is 5-core
    assert len(split.train) == len(log) - 2 * log.n_users


# -- global temporal ---------------------------------------------------------------------------
def test_global_temporal_split_on_a_hand_built_log():
    # 20 interactions at times 0..19 (rows shuffled); valid = times 16, 17; test = 18, 19.
    rng = np.random.default_rng(3)
    times = np.arange(20)
    users = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 3, 0, 1, 4])
    items = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    perm = rng.permutation(20)
    log = _toy(users[perm], items[perm], times[perm], n_users=5, n_items=10)
    split = global_temporal_split(log, valid_frac=0.1, test_frac=0.1)
    assert split.protocol == "global-temporal"
    assert len(split.train) == 16 and split.train.timestamps.max() == 15
    # Time 16 is user 3's first interaction: no history, dropped.
    assert split.info["dropped_cold_start"] == {"valid": 1, "test": 1}
    assert split.valid.users.tolist() == [0] and split.valid.targets.tolist() == [8]
    assert _histories(split.valid) == [[1, 4, 7, 10, 3, 6]]
    # Time 19 is user 4's first interaction: dropped too.
    assert split.test.users.tolist() == [1] and split.test.targets.tolist() == [9]
    assert _histories(split.test) == [[2, 5, 8, 1, 4]]
    assert split.info["valid_start"] == 16 and split.info["test_start"] == 18


def test_global_temporal_histories_include_earlier_evaluation_events():
    # User 0: train at t=0, 1; valid at t=2 (item 3); test at t=3 (item 4).
    log = _toy([0, 0, 0, 0, 1, 1], [1, 2, 3, 4, 1, 2], [0, 1, 2, 3, 0, 1], 2, 4)
    split = global_temporal_split(log, valid_frac=1 / 6, test_frac=1 / 6)
    assert _histories(split.valid) == [[1, 2]]
    assert _histories(split.test) == [[1, 2, 3]]


def test_global_temporal_ties_stay_on_one_side_and_keep_row_order():
    # Times 0..7 then four events at time 8: the tie crosses the 10% test cut, so all of
    # them become test rows; user 0's two tied events keep their row order.
    log = _toy([0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0], [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 7],
               [0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 8, 8], 2, 7)
    split = global_temporal_split(log, valid_frac=0.1, test_frac=0.1)
    assert split.train.timestamps.max() == 6
    assert split.valid.targets.tolist() == [4]
    assert split.test.users.tolist() == [0, 1, 0, 0]
    assert split.test.targets.tolist() == [5, 5, 6, 7]
    assert _histories(split.test) == [[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4, 5],
                                      [1, 2, 3, 4, 5, 6]]


def test_global_temporal_split_on_ml100k(data_dir):
    log = load_dataset("ml-100k", download=False)
    split = global_temporal_split(log)
    n = len(log)
    dropped = split.info["dropped_cold_start"]
    n_valid = len(split.valid) + dropped["valid"]
    n_test = len(split.test) + dropped["test"]
    assert len(split.train) + n_valid + n_test == n
    # Each part is 5% plus at most one tie group at its cut.
    largest_tie = int(np.unique(log.timestamps, return_counts=True)[1].max())
    assert 0 <= n_test - round(0.05 * n) < largest_tie
    assert 0 <= n_valid - round(0.05 * n) < largest_tie
    # Strict time order: train < valid < test.
    t_valid, t_test = split.info["valid_start"], split.info["test_start"]
    assert split.train.timestamps.max() < t_valid < t_test
    # Rows come in global time order and each history is the user's earlier events.
    order = np.lexsort((np.arange(n), log.timestamps))
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    rng = np.random.default_rng(1)
    for part in (split.valid, split.test):
        assert len(part) > 0 and part.history_indptr[0] == 0
        assert np.all(np.diff(part.history_indptr) > 0)
        for row in rng.choice(len(part), size=40, replace=False):
            user, target = part.users[row], part.targets[row]
            (event,) = np.nonzero((log.users == user) & (log.items == target))
            mine = np.nonzero((log.users == user) & (position < position[event[0]]))[0]
            expected = log.items[mine[np.argsort(position[mine])]]
            np.testing.assert_array_equal(part.history(row), expected)


def test_global_temporal_split_errors(data_dir):
    beauty = load_dataset("amazon-beauty", download=False)
    with pytest.raises(RecnegError) as error:
        global_temporal_split(beauty)
    assert str(error.value) == "amazon-beauty has no timestamps; use leave_one_out"
    log = _toy([0, 0, 0], [1, 2, 3], [0, 1, 2], 1, 3)
    with pytest.raises(RecnegError, match="must be below 1"):
        global_temporal_split(log, valid_frac=0.5, test_frac=0.5)
    with pytest.raises(RecnegError, match="too few"):
        global_temporal_split(log, valid_frac=0.05, test_frac=0.05)
    with pytest.raises(RecnegError, match="valid_frac must lie in"):
        global_temporal_split(log, valid_frac=0.0)
    tied = _toy([0, 0, 1, 1], [1, 2, 1, 2], [0, 5, 5, 5], 2, 2)
    with pytest.raises(RecnegError, match="leaving no training data"):
        global_temporal_split(tied, valid_frac=0.25, test_frac=0.25)
