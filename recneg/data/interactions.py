"""Containers for implicit-feedback data.

Id conventions used everywhere in recneg:

* items are numbered ``1 .. n_items``; id ``0`` is padding and is never a real item, so
  score tensors have ``n_items + 1`` columns and column 0 is always masked;
* users are numbered ``0 .. n_users - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from .._errors import RecnegError

__all__ = ["Interactions", "UserItemSet", "EvalSet", "Split"]


@dataclass(frozen=True, eq=False)
class Interactions:
    """A log of (user, item, time) events with remapped ids.

    Parameters
    ----------
    users, items, timestamps : np.ndarray of int64, shape (N,)
        One entry per interaction. ``items`` are in ``1..n_items``. ``timestamps`` orders
        events; where a dataset has no clock (Amazon Beauty's sequence file) it is the
        position in the user's sequence.
    n_users, n_items : int
        Sizes of the id spaces (``n_items`` excludes the padding id 0).
    name : str
        Dataset name, recorded in every result.
    ratings : np.ndarray of float32, optional
        Explicit ratings where the source has them (used by predefined negatives).
    item_attributes : np.ndarray of bool, shape (n_items + 1, n_attributes), optional
        Item-attribute matrix (e.g. MovieLens genres); row 0 (padding) is all False.
    attribute_names : list of str, optional
    item_titles : list of str, optional
        ``n_items + 1`` titles; entry 0 is ``""``.
    has_time : bool
        Whether ``timestamps`` are real clock times.

    Examples
    --------
    >>> import numpy as np
    >>> log = Interactions(np.array([0, 0, 1]), np.array([1, 2, 2]), np.array([5, 6, 7]),
    ...                    n_users=2, n_items=2, name="toy")
    >>> log.sequences()
    [array([1, 2]), array([2])]
    """

    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray
    n_users: int
    n_items: int
    name: str = "interactions"
    ratings: np.ndarray | None = None
    item_attributes: np.ndarray | None = None
    attribute_names: list[str] | None = None
    item_titles: list[str] | None = None
    has_time: bool = True
    original_item_ids: np.ndarray | None = field(default=None, repr=False)
    original_user_ids: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        n = len(self.users)
        if len(self.items) != n or len(self.timestamps) != n:
            raise RecnegError(
                f"users, items and timestamps must have equal length, got "
                f"{len(self.users)}, {len(self.items)}, {len(self.timestamps)}"
            )
        if n and (self.items.min() < 1 or self.items.max() > self.n_items):
            at = int(np.flatnonzero((self.items < 1) | (self.items > self.n_items))[0])
            raise RecnegError(
                f"item id {self.items[at]} (interaction {at}) is outside 1..{self.n_items} "
                "(0 is padding); remap ids with recneg.data.remap_ids first"
            )
        if n and (self.users.min() < 0 or self.users.max() >= self.n_users):
            at = int(np.flatnonzero((self.users < 0) | (self.users >= self.n_users))[0])
            raise RecnegError(f"user id {self.users[at]} (interaction {at}) is outside "
                              f"0..{self.n_users - 1}; remap ids with recneg.data.remap_ids first")

    def __len__(self) -> int:
        return len(self.users)

    @property
    def n_interactions(self) -> int:
        return len(self.users)

    @property
    def density(self) -> float:
        return len(self) / max(1, self.n_users * self.n_items)

    def subset(self, mask: np.ndarray) -> "Interactions":
        """The interactions where ``mask`` is True, with the same id spaces."""
        return replace(
            self,
            users=self.users[mask],
            items=self.items[mask],
            timestamps=self.timestamps[mask],
            ratings=None if self.ratings is None else self.ratings[mask],
        )

    def to_frame(self) -> pd.DataFrame:
        """A tidy DataFrame with columns ``user, item, timestamp`` (and ``rating``)."""
        frame = pd.DataFrame(
            {"user": self.users, "item": self.items, "timestamp": self.timestamps}
        )
        if self.ratings is not None:
            frame["rating"] = self.ratings
        return frame

    def time_order(self) -> np.ndarray:
        """Indices that sort the log by (user, time), stable."""
        return np.lexsort((self.timestamps, self.users))

    def sequences(self) -> list[np.ndarray]:
        """Each user's items in time order (a list of length ``n_users``)."""
        order = self.time_order()
        counts = np.bincount(self.users, minlength=self.n_users)
        return np.split(self.items[order], np.cumsum(counts)[:-1])

    def item_counts(self) -> np.ndarray:
        """Interactions per item, shape ``(n_items + 1,)``; entry 0 (padding) is 0."""
        return np.bincount(self.items, minlength=self.n_items + 1).astype(np.int64)

    def user_item_set(self) -> "UserItemSet":
        """The set of (user, item) pairs in this log, for fast membership tests."""
        return UserItemSet(self.users, self.items, self.n_users, self.n_items)

    def summary(self) -> dict:
        """Basic statistics as a dict (users, items, interactions, density, ...)."""
        lengths = np.bincount(self.users, minlength=self.n_users)
        return {
            "dataset": self.name,
            "users": self.n_users,
            "items": self.n_items,
            "interactions": len(self),
            "density": round(self.density, 6),
            "mean_sequence_length": round(float(lengths.mean()), 2) if len(lengths) else 0.0,
            "has_timestamps": self.has_time,
            "n_attributes": 0 if self.item_attributes is None else self.item_attributes.shape[1],
        }


class UserItemSet:
    """A static set of (user, item) pairs with vectorised membership tests.

    Pairs are stored as sorted int64 keys ``user * (n_items + 1) + item`` so that a
    membership test for any tensor of candidates is one :func:`torch.searchsorted`.

    Parameters
    ----------
    users, items : array-like of int
    n_users, n_items : int

    Examples
    --------
    >>> import torch
    >>> s = UserItemSet([0, 0, 1], [1, 3, 2], n_users=2, n_items=3)
    >>> s.contains(torch.tensor([0, 1]), torch.tensor([[1, 2], [1, 2]])).tolist()
    [[True, False], [False, True]]
    """

    def __init__(self, users, items, n_users: int, n_items: int) -> None:
        users = torch.as_tensor(np.asarray(users), dtype=torch.long)
        items = torch.as_tensor(np.asarray(items), dtype=torch.long)
        self.n_users = int(n_users)
        self.n_items = int(n_items)
        keys = torch.unique(users * (self.n_items + 1) + items)  # sorted, deduplicated
        self.keys = keys
        key_users = keys // (self.n_items + 1)
        self.items = keys % (self.n_items + 1)
        self.counts = torch.bincount(key_users, minlength=self.n_users)
        self.indptr = torch.zeros(self.n_users + 1, dtype=torch.long)
        self.indptr[1:] = torch.cumsum(self.counts, 0)

    def __len__(self) -> int:
        return len(self.keys)

    def contains(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Boolean tensor shaped like ``items``: is ``(user, item)`` in the set?

        ``users`` has shape ``(B,)`` and broadcasts over the trailing dims of ``items``
        (shape ``(B, ...)``).
        """
        if len(self.keys) == 0:
            return torch.zeros_like(items, dtype=torch.bool)
        u = users.reshape(users.shape + (1,) * (items.dim() - users.dim()))
        query = u * (self.n_items + 1) + items
        pos = torch.searchsorted(self.keys, query).clamp_(max=len(self.keys) - 1)
        return self.keys[pos] == query

    def items_of(self, user: int) -> np.ndarray:
        """The sorted items of one user."""
        return self.items[self.indptr[user] : self.indptr[user + 1]].numpy()

    def dense_mask(self, users: torch.Tensor) -> torch.Tensor:
        """``(len(users), n_items + 1)`` boolean mask of each user's items."""
        mask = torch.zeros(len(users), self.n_items + 1, dtype=torch.bool)
        starts, ends = self.indptr[users], self.indptr[users + 1]
        lengths = ends - starts
        rows = torch.repeat_interleave(torch.arange(len(users)), lengths)
        offsets = torch.arange(int(lengths.sum())) - torch.repeat_interleave(
            torch.cumsum(lengths, 0) - lengths, lengths
        )
        mask[rows, self.items[torch.repeat_interleave(starts, lengths) + offsets]] = True
        return mask


def left_padded(indptr: np.ndarray, items: np.ndarray, rows: np.ndarray, maxlen: int) -> torch.Tensor:
    """The last ``maxlen`` items of each of ``rows`` in a CSR layout (``indptr``, ``items``),
    right-aligned in a zero-padded ``(len(rows), maxlen)`` LongTensor.

    Examples
    --------
    >>> left_padded(np.array([0, 3, 4]), np.array([5, 6, 7, 8]), np.array([0, 1]), 2).tolist()
    [[6, 7], [0, 8]]
    """
    ends = indptr[rows + 1]
    starts = np.maximum(indptr[rows], ends - maxlen)
    lengths = ends - starts
    out = np.zeros((len(rows), maxlen), dtype=np.int64)
    # Right-aligned: column maxlen - length + j holds item starts + j.
    r, j = np.nonzero(np.arange(maxlen)[None, :] < lengths[:, None])
    out[r, maxlen - lengths[r] + j] = items[starts[r] + j]
    return torch.from_numpy(out)


@dataclass(frozen=True, eq=False)
class EvalSet:
    """Evaluation interactions: one row per (user, target) with the history before it.

    ``histories`` is stored in CSR form: the history of row ``r`` is
    ``history_items[history_indptr[r]:history_indptr[r+1]]`` in time order. The history
    is the model's input and the set of already-seen items filtered from the ranking.
    """

    users: np.ndarray
    targets: np.ndarray
    history_indptr: np.ndarray
    history_items: np.ndarray
    n_items: int

    def __len__(self) -> int:
        return len(self.users)

    def history(self, row: int) -> np.ndarray:
        return self.history_items[self.history_indptr[row] : self.history_indptr[row + 1]]

    def padded_histories(self, maxlen: int, rows: Sequence[int] | np.ndarray | None = None) -> torch.Tensor:
        """Left-padded ``(len(rows), maxlen)`` LongTensor of the last ``maxlen`` items."""
        rows = np.arange(len(self)) if rows is None else np.asarray(rows)
        return left_padded(self.history_indptr, self.history_items, rows, maxlen)

    def seen_pairs(self, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(row, item) pairs of each row's history, for filtering seen items."""
        rows = np.arange(len(self)) if rows is None else np.asarray(rows)
        starts, ends = self.history_indptr[rows], self.history_indptr[rows + 1]
        lengths = ends - starts
        local = np.repeat(np.arange(len(rows)), lengths)
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return local, self.history_items[np.repeat(starts, lengths) + offsets]


@dataclass(frozen=True, eq=False)
class Split:
    """A train/validation/test split.

    ``train`` holds every interaction a model may learn from (and the only one from which
    popularity may be counted); ``valid`` and ``test`` are :class:`EvalSet`.
    ``protocol`` is ``"leave-one-out"`` or ``"global-temporal"``. ``info`` holds what the
    split did beyond the three parts (e.g. ``dropped_cold_start``: evaluation rows dropped
    because their user had no earlier interaction).
    """

    train: Interactions
    valid: EvalSet
    test: EvalSet
    protocol: str
    info: dict = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        return self.train.n_items

    @property
    def n_users(self) -> int:
        return self.train.n_users
