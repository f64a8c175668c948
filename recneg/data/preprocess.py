"""Preprocessing of interaction logs: id remapping, rating filters and k-core filtering.

Every function here is vectorised (``numpy.unique``, ``numpy.bincount``,
``numpy.searchsorted``); the only Python loop is over the *rounds* of the k-core
filter, which stops when a round removes nothing.

Functions that take an :class:`~recneg.data.Interactions` return a new one whose ids
are compacted again (users ``0..n-1``, items ``1..n``) and whose item attributes,
titles and original ids are re-indexed with the items, so that row ``i`` of
``item_attributes`` always describes item ``i``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import numpy as np
import pandas as pd

from .._errors import RecnegError, check_positive_int
from .interactions import Interactions

__all__ = ["RemappedIds", "remap_ids", "compact", "k_core", "filter_by_rating"]


class RemappedIds(NamedTuple):
    """Result of :func:`remap_ids`.

    Attributes
    ----------
    users : np.ndarray of int64
        New user ids in ``0..n_users - 1``.
    items : np.ndarray of int64
        New item ids in ``1..n_items``; ``0`` stays free for padding.
    user_ids : np.ndarray
        ``user_ids[u]`` is the original id of new user ``u``, shape ``(n_users,)``.
    item_ids : np.ndarray
        ``item_ids[i]`` is the original id of new item ``i``, shape ``(n_items + 1,)``;
        entry 0 (padding) is ``-1`` for integer ids and ``None`` otherwise.
    """

    users: np.ndarray
    items: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids) - 1


def remap_ids(users, items) -> RemappedIds:
    """Map arbitrary user and item ids to recneg's contiguous id spaces.

    Users become ``0..n_users - 1`` and items ``1..n_items`` (``0`` is reserved for
    padding), both in increasing order of the original ids, so the mapping is
    deterministic and independent of row order.

    Parameters
    ----------
    users, items : array-like, shape (N,)
        Original ids (integers or strings).

    Returns
    -------
    RemappedIds
        New ids plus the arrays mapping them back to the originals.

    Examples
    --------
    >>> r = remap_ids([10, 10, 7], ["b", "a", "b"])
    >>> r.users.tolist(), r.items.tolist()
    ([1, 1, 0], [2, 1, 2])
    >>> r.user_ids.tolist(), r.item_ids.tolist()
    ([7, 10], [None, 'a', 'b'])
    """
    users = np.asarray(users)
    items = np.asarray(items)
    if users.ndim != 1 or items.ndim != 1 or len(users) != len(items):
        raise RecnegError(
            f"users and items must be 1-d arrays of equal length, got shapes "
            f"{users.shape} and {items.shape}"
        )
    user_ids, new_users = np.unique(users, return_inverse=True)
    item_uniques, new_items = np.unique(items, return_inverse=True)
    if np.issubdtype(item_uniques.dtype, np.integer):
        item_ids = np.concatenate([[-1], item_uniques.astype(np.int64)])
    else:
        item_ids = np.concatenate([[None], item_uniques.astype(object)])
    return RemappedIds(
        users=new_users.reshape(-1).astype(np.int64),
        items=new_items.reshape(-1).astype(np.int64) + 1,
        user_ids=user_ids,
        item_ids=item_ids,
    )


def compact(log: Interactions) -> Interactions:
    """Drop users and items without interactions and renumber the rest.

    The relative order of ids is kept; item attributes, titles and original ids are
    re-indexed so that they stay aligned with the new item ids.

    Parameters
    ----------
    log : Interactions

    Returns
    -------
    Interactions
        With ``n_users`` and ``n_items`` equal to the numbers of distinct users and
        items in ``log``.

    Examples
    --------
    >>> import numpy as np
    >>> log = Interactions(np.array([0, 2]), np.array([1, 3]), np.array([0, 1]),
    ...                    n_users=3, n_items=3, item_titles=["", "a", "b", "c"])
    >>> small = compact(log)
    >>> small.n_users, small.n_items, small.items.tolist(), small.item_titles
    (2, 2, [1, 2], ['', 'a', 'c'])
    """
    kept_users = np.unique(log.users)
    kept_items = np.unique(log.items)
    rows = np.concatenate([[0], kept_items])  # row 0 keeps the padding entry
    attributes = None if log.item_attributes is None else log.item_attributes[rows]
    titles = (
        None if log.item_titles is None
        else np.asarray(log.item_titles, dtype=object)[rows].tolist()
    )
    return replace(
        log,
        users=np.searchsorted(kept_users, log.users).astype(np.int64),
        items=np.searchsorted(kept_items, log.items).astype(np.int64) + 1,
        n_users=len(kept_users),
        n_items=len(kept_items),
        item_attributes=attributes,
        item_titles=titles,
        original_item_ids=None if log.original_item_ids is None else log.original_item_ids[rows],
        original_user_ids=(
            None if log.original_user_ids is None else log.original_user_ids[kept_users]
        ),
    )


def _columns(frame: pd.DataFrame, *names: str) -> None:
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise RecnegError(
            f"the DataFrame lacks column(s) {missing}; it has {list(frame.columns)}, "
            "rename them to 'user', 'item' (and 'rating')"
        )


def k_core(data, k: int, *, item_k: int | None = None):
    """Keep the k-core: every remaining user and item has at least ``k`` interactions.

    Removing a sparse item can push a user below ``k`` and vice versa, so the filter
    repeats until a round removes nothing. Interactions are counted as rows (a repeated
    user-item pair counts every time).

    Parameters
    ----------
    data : Interactions or pandas.DataFrame
        A DataFrame needs ``user`` and ``item`` columns (any id type).
    k : int
        Minimum interactions per user (and per item unless ``item_k`` is given).
    item_k : int, optional
        Minimum interactions per item, when it differs from the users' ``k``.

    Returns
    -------
    Interactions or pandas.DataFrame
        Same type as ``data``. An ``Interactions`` is compacted (see :func:`compact`);
        a DataFrame keeps its ids and index.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": [5, 6, 5, 6, 5]})
    >>> k_core(frame, 2)["user"].tolist()
    [1, 1, 2, 2]
    """
    k = check_positive_int("k", k)
    item_k = k if item_k is None else check_positive_int("item_k", item_k)
    if isinstance(data, Interactions):
        users, items = data.users, data.items
    elif isinstance(data, pd.DataFrame):
        _columns(data, "user", "item")
        users = pd.factorize(data["user"])[0]
        items = pd.factorize(data["item"])[0]
    else:
        raise RecnegError(
            f"k_core expects Interactions or a pandas DataFrame, got {type(data).__name__}"
        )
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    n_u = int(users.max()) + 1 if len(users) else 0
    n_i = int(items.max()) + 1 if len(items) else 0
    keep = np.ones(len(users), dtype=bool)
    while True:
        u, i = users[keep], items[keep]
        user_ok = np.bincount(u, minlength=n_u) >= k
        item_ok = np.bincount(i, minlength=n_i) >= item_k
        still = user_ok[u] & item_ok[i]
        if still.all():
            break
        keep[np.flatnonzero(keep)[~still]] = False
    if isinstance(data, Interactions):
        return compact(data.subset(keep))
    return data.loc[keep]


def filter_by_rating(data, min_rating: float):
    """Keep interactions whose rating is at least ``min_rating``.

    Treating only well-rated interactions as positives is the usual way of turning
    explicit ratings into implicit feedback (e.g. ``min_rating=4`` on MovieLens).

    Parameters
    ----------
    data : Interactions or pandas.DataFrame
        Must carry ratings (a ``rating`` column for a DataFrame).
    min_rating : float

    Returns
    -------
    Interactions or pandas.DataFrame
        Same type as ``data``; an ``Interactions`` is compacted (see :func:`compact`).

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"user": [0, 0, 1], "item": [1, 2, 1], "rating": [5, 2, 4]})
    >>> filter_by_rating(frame, 4)["item"].tolist()
    [1, 1]
    """
    try:
        threshold = float(min_rating)
    except (TypeError, ValueError):
        raise RecnegError(f"min_rating must be a number, got {min_rating!r}") from None
    if not np.isfinite(threshold):
        raise RecnegError(f"min_rating must be finite, got {min_rating!r}")
    if isinstance(data, Interactions):
        if data.ratings is None:
            raise RecnegError(
                f"{data.name} has no ratings, so min_rating={min_rating} cannot be applied; "
                "pass min_rating=None"
            )
        return compact(data.subset(data.ratings >= threshold))
    if isinstance(data, pd.DataFrame):
        _columns(data, "rating")
        return data.loc[data["rating"].to_numpy() >= threshold]
    raise RecnegError(
        f"filter_by_rating expects Interactions or a pandas DataFrame, got {type(data).__name__}"
    )
