"""Id remapping, k-core and rating filters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recneg import RecnegError
from recneg.data import Interactions, compact, filter_by_rating, k_core, remap_ids


def _reference_k_core(users, items, k, item_k):
    """Slow, obviously correct k-core: remove one violating row at a time."""
    rows = list(range(len(users)))
    changed = True
    while changed:
        changed = False
        user_count = pd.Series([users[r] for r in rows]).value_counts()
        item_count = pd.Series([items[r] for r in rows]).value_counts()
        for r in rows:
            if user_count[users[r]] < k or item_count[items[r]] < item_k:
                rows.remove(r)
                changed = True
                break
    return sorted(rows)


def _log_with_metadata(users, items, n_users, n_items, ratings=None) -> Interactions:
    """A log whose titles and attributes encode each item's original id."""
    ids = np.arange(n_items + 1)
    attributes = np.stack([ids % 2 == 1, ids % 3 == 0, ids >= 5], axis=1)
    attributes[0] = False
    return Interactions(
        users=np.asarray(users, dtype=np.int64), items=np.asarray(items, dtype=np.int64),
        timestamps=np.arange(len(users), dtype=np.int64), n_users=n_users,
        n_items=n_items, name="toy",
        ratings=None if ratings is None else np.asarray(ratings, dtype=np.float32),
        item_attributes=attributes, attribute_names=["odd", "three", "big"],
        item_titles=[""] + [f"t{i}" for i in range(1, n_items + 1)],
        original_item_ids=np.r_[-1, 100 + np.arange(1, n_items + 1)],
        original_user_ids=np.arange(n_users) * 10,
    )


def _assert_metadata_aligned(log: Interactions, source: Interactions) -> None:
    old = log.original_item_ids[1:] - 100  # the source's item id of each new item
    assert log.item_titles == [""] + [f"t{i}" for i in old]
    np.testing.assert_array_equal(log.item_attributes[1:], source.item_attributes[old])
    assert not log.item_attributes[0].any()


# -- remap_ids ----------------------------------------------------------------------------
def test_remap_ids_round_trip_and_padding():
    rng = np.random.default_rng(0)
    users = rng.choice([5, 17, 3, 99], size=200)
    items = rng.choice([1000, 7, 42, 8, 9], size=200)
    ids = remap_ids(users, items)
    assert ids.n_users == 4 and ids.n_items == 5
    assert set(ids.users.tolist()) == set(range(4))
    assert set(ids.items.tolist()) == set(range(1, 6))  # 0 is padding
    np.testing.assert_array_equal(ids.user_ids[ids.users], users)
    np.testing.assert_array_equal(ids.item_ids[ids.items], items)
    assert ids.item_ids[0] == -1
    # Increasing order of the original ids, independent of row order.
    assert ids.item_ids[1:].tolist() == [7, 8, 9, 42, 1000]
    again = remap_ids(users[::-1], items[::-1])
    np.testing.assert_array_equal(again.items, ids.items[::-1])


def test_remap_ids_accepts_strings():
    ids = remap_ids(np.array(["b", "a"]), np.array(["x", "x"]))
    assert ids.users.tolist() == [1, 0] and ids.items.tolist() == [1, 1]
    assert ids.item_ids.tolist() == [None, "x"]


def test_remap_ids_rejects_mismatched_lengths():
    with pytest.raises(RecnegError, match="equal length"):
        remap_ids([1, 2], [1])


# -- k_core -------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.integers(0, 7), st.integers(0, 9)), max_size=60),
    k=st.integers(1, 4),
    item_k=st.integers(1, 4),
)
def test_k_core_matches_the_reference(pairs, k, item_k):
    users = [u for u, _ in pairs]
    items = [i for _, i in pairs]
    frame = pd.DataFrame({"user": users, "item": items})
    result = k_core(frame, k, item_k=item_k)
    assert list(result.index) == _reference_k_core(users, items, k, item_k)
    if len(result):
        assert result["user"].value_counts().min() >= k
        assert result["item"].value_counts().min() >= item_k


def test_k_core_needs_several_rounds():
    # Dropping item 3 (one interaction) drops user 2 to one interaction, which then drops
    # item 2 to one, and so on: only the dense block of users 0, 1 x items 0, 1 survives.
    frame = pd.DataFrame({"user": [0, 0, 1, 1, 2, 2, 3, 3],
                          "item": [0, 1, 0, 1, 2, 3, 2, 4]})
    assert k_core(frame, 2)["user"].tolist() == [0, 0, 1, 1]


def test_k_core_on_real_data_has_the_property(data_dir):
    from recneg.data import load_dataset

    log = load_dataset("ml-latest-small", download=False)
    core = k_core(log, 10)
    assert np.bincount(core.users, minlength=core.n_users).min() >= 10
    assert core.item_counts()[1:].min() >= 10
    assert 0 < len(core) < len(log) and core.n_items < log.n_items
    # Titles follow their items through the re-numbering.
    old = {int(o): t for o, t in zip(log.original_item_ids[1:], log.item_titles[1:])}
    assert core.item_titles[1:] == [old[int(o)] for o in core.original_item_ids[1:]]


def test_k_core_on_interactions_keeps_metadata_aligned():
    users = [0, 0, 0, 1, 1, 1, 2, 3, 3, 3]
    items = [2, 4, 6, 2, 4, 6, 1, 2, 4, 5]
    log = _log_with_metadata(users, items, n_users=4, n_items=6)
    core = k_core(log, 2)
    # Items 1 and 5 (one interaction each) go; user 2 then has none left.
    assert core.n_users == 3 and core.n_items == 3
    assert core.original_user_ids.tolist() == [0, 10, 30]
    assert core.original_item_ids.tolist() == [-1, 102, 104, 106]
    _assert_metadata_aligned(core, log)
    assert np.bincount(core.users).min() >= 2 and core.item_counts()[1:].min() >= 2


def test_k_core_rejects_bad_input():
    with pytest.raises(RecnegError, match="k must be positive, got 0"):
        k_core(pd.DataFrame({"user": [1], "item": [1]}), 0)
    with pytest.raises(RecnegError, match="lacks column"):
        k_core(pd.DataFrame({"u": [1], "i": [1]}), 1)
    with pytest.raises(RecnegError, match="got list"):
        k_core([1, 2], 1)


# -- filter_by_rating and compact -------------------------------------------------------------
def test_filter_by_rating_keeps_metadata_aligned():
    log = _log_with_metadata([0, 0, 1, 1, 2], [1, 3, 3, 5, 6], n_users=3, n_items=6,
                             ratings=[5, 1, 4, 2, 4.5])
    kept = filter_by_rating(log, 4)
    assert np.all(kept.ratings >= 4) and len(kept) == 3
    assert kept.original_item_ids.tolist() == [-1, 101, 103, 106]
    _assert_metadata_aligned(kept, log)
    frame = log.to_frame()
    assert filter_by_rating(frame, 4).index.tolist() == [0, 2, 4]


def test_filter_by_rating_errors():
    log = _log_with_metadata([0], [1], n_users=1, n_items=1)
    with pytest.raises(RecnegError, match="toy has no ratings"):
        filter_by_rating(log, 4)
    with pytest.raises(RecnegError, match="min_rating must be a number"):
        filter_by_rating(log, "high")


def test_compact_renumbers_in_order():
    log = _log_with_metadata([3, 1, 3], [5, 2, 2], n_users=4, n_items=6)
    small = compact(log)
    assert (small.n_users, small.n_items) == (2, 2)
    assert small.users.tolist() == [1, 0, 1] and small.items.tolist() == [2, 1, 1]
    assert small.original_user_ids.tolist() == [10, 30]
    _assert_metadata_aligned(small, log)
