"""Train/validation/test splits for next-item evaluation.

Two protocols:

* :func:`leave_one_out` — each user's last interaction is the test target and the one
  before it the validation target (Kang & McAuley, SASRec, ICDM 2018). Simple, but the
  test interactions of different users happen at different times, so a model trains on
  events that come *after* other users' test events.
* :func:`global_temporal_split` — one global time cut (Prakash, Bermperidis & Chennu,
  arXiv 2410.17276): the last 5% of all interactions are test, the 5% before validation.
  Nothing a model trains on is later than anything it is evaluated on.

Both build the :class:`~recneg.data.EvalSet` CSR arrays directly with numpy: a row's
history is a contiguous slice of its user's time-ordered sequence, so the whole history
array is one gather.
"""

from __future__ import annotations

import numpy as np

from .._errors import RecnegError, check_probability
from .interactions import EvalSet, Interactions, Split

__all__ = ["leave_one_out", "global_temporal_split"]


def _prefix_histories(sequence_items: np.ndarray, starts: np.ndarray,
                      lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR of ``sequence_items[starts[r] : starts[r] + lengths[r]]`` for every row ``r``."""
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    offsets = np.arange(indptr[-1], dtype=np.int64) - np.repeat(indptr[:-1], lengths)
    return indptr, sequence_items[np.repeat(starts, lengths) + offsets]


def _eval_set(users, targets, sequence_items, starts, lengths, n_items) -> EvalSet:
    indptr, history = _prefix_histories(sequence_items, starts, lengths)
    return EvalSet(
        users=users.astype(np.int64),
        targets=targets.astype(np.int64),
        history_indptr=indptr,
        history_items=history.astype(np.int64),
        n_items=n_items,
    )


def _cold_targets(train: Interactions, eval_set: EvalSet) -> int:
    """Evaluation targets that never occur in training (no model can have learnt them)."""
    return int((train.item_counts()[eval_set.targets] == 0).sum())


def leave_one_out(log: Interactions) -> Split:
    """Hold out each user's last interaction for test and the one before for validation.

    Users are ordered by time (ties keep the log's row order). A user with fewer than
    three interactions keeps all of them in training and is not evaluated.

    Parameters
    ----------
    log : Interactions

    Returns
    -------
    Split
        ``protocol="leave-one-out"``. A validation row's history is the user's training
        sequence; a test row's history is the training sequence plus the validation
        item. ``info`` has ``users_not_evaluated`` and ``cold_item_targets``.

    Examples
    --------
    >>> import numpy as np
    >>> log = Interactions(np.array([0, 0, 0, 0, 1]), np.array([3, 1, 2, 4, 2]),
    ...                    np.array([1, 2, 3, 4, 1]), n_users=2, n_items=4)
    >>> split = leave_one_out(log)
    >>> split.valid.targets.tolist(), split.valid.history(0).tolist()
    ([2], [3, 1])
    >>> split.test.targets.tolist(), split.test.history(0).tolist()
    ([4], [3, 1, 2])
    >>> len(split.train), split.info["users_not_evaluated"]
    (3, 1)
    """
    if not isinstance(log, Interactions):
        raise RecnegError(f"leave_one_out expects Interactions, got {type(log).__name__}")
    order = log.time_order()
    users, items = log.users[order], log.items[order]
    counts = np.bincount(users, minlength=log.n_users)
    starts = np.cumsum(counts) - counts
    position = np.arange(len(users)) - starts[users]
    length = counts[users]
    evaluated = length >= 3
    is_test = evaluated & (position == length - 1)
    is_valid = evaluated & (position == length - 2)

    train_mask = np.empty(len(log), dtype=bool)
    train_mask[order] = ~(is_test | is_valid)
    train = log.subset(train_mask)

    eval_users = np.flatnonzero(counts >= 3)
    valid = _eval_set(eval_users, items[is_valid], items, starts[eval_users],
                      counts[eval_users] - 2, log.n_items)
    test = _eval_set(eval_users, items[is_test], items, starts[eval_users],
                     counts[eval_users] - 1, log.n_items)
    info = {
        "users_not_evaluated": int(((counts > 0) & (counts < 3)).sum()),
        "cold_item_targets": {"valid": _cold_targets(train, valid),
                              "test": _cold_targets(train, test)},
    }
    return Split(train=train, valid=valid, test=test, protocol="leave-one-out", info=info)


def _temporal_cuts(log: Interactions, valid_frac, test_frac) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Time order of the log and the positions of the validation and test cuts (ties go later)."""
    if not isinstance(log, Interactions):
        raise RecnegError(
            f"global_temporal_split expects Interactions, got {type(log).__name__}"
        )
    if not log.has_time:
        raise RecnegError(f"{log.name} has no timestamps; use leave_one_out")
    valid_frac = check_probability("valid_frac", valid_frac, closed=False)
    test_frac = check_probability("test_frac", test_frac, closed=False)
    if valid_frac + test_frac >= 1:
        raise RecnegError(
            f"valid_frac + test_frac must be below 1, got {valid_frac} + {test_frac}; "
            "leave some interactions for training"
        )
    n = len(log)
    n_test, n_valid = int(round(test_frac * n)), int(round(valid_frac * n))
    if n_test < 1 or n_valid < 1 or n - n_test - n_valid < 1:
        raise RecnegError(
            f"{log.name} has {n} interactions, too few for valid_frac={valid_frac} and "
            f"test_frac={test_frac}; use a larger log or larger fractions"
        )
    order = np.argsort(log.timestamps, kind="stable")
    times = log.timestamps[order]
    test_start = int(np.searchsorted(times, times[n - n_test], side="left"))
    # Counted back from the (tie-adjusted) test cut, so validation never shrinks below
    # its share when a tie group moves into test.
    valid_start = int(np.searchsorted(times, times[max(test_start - n_valid, 0)], side="left"))
    if valid_start == 0:
        raise RecnegError(
            f"{log.name}'s timestamps are tied from the first event to the validation cut "
            f"(at {times[0]}), leaving no training data; lower valid_frac/test_frac"
        )
    return order, times, valid_start, test_start


def global_temporal_split(log: Interactions, valid_frac: float = 0.05,
                          test_frac: float = 0.05) -> Split:
    """Split at global time cuts: the latest ``test_frac`` is test, the ``valid_frac``
    before it validation, everything earlier training (Prakash et al., 2024).

    All interactions are sorted by timestamp (ties keep the log's row order). The test
    part is the last ``round(test_frac * N)`` events and the validation part the
    ``round(valid_frac * N)`` before it, except that events sharing the timestamp at a
    cut all go to the later part: every training event is strictly earlier than every
    validation event, and those strictly earlier than every test event. Each part is
    therefore its share plus less than one tie group.

    Every validation and test interaction is one evaluation row whose history is all of
    that user's interactions earlier in the global order — training ones and earlier
    validation/test ones alike, as a deployed model would have seen them. Rows whose
    user has no earlier interaction are dropped.

    Parameters
    ----------
    log : Interactions
        Must have real timestamps (``log.has_time``).
    valid_frac, test_frac : float
        Fractions of all interactions, each in (0, 1) with a sum below 1.

    Returns
    -------
    Split
        ``protocol="global-temporal"``; rows in time order. ``info`` has
        ``dropped_cold_start`` (rows dropped per part), ``valid_start`` and
        ``test_start`` (the cut timestamps) and ``cold_item_targets``.

    Examples
    --------
    >>> import numpy as np
    >>> log = Interactions(np.array([0, 1, 0, 1, 0, 2]), np.array([1, 2, 3, 1, 2, 3]),
    ...                    np.arange(6), n_users=3, n_items=3)
    >>> split = global_temporal_split(log, valid_frac=1 / 6, test_frac=2 / 6)
    >>> len(split.train), split.valid.targets.tolist(), split.test.targets.tolist()
    (3, [1], [2])
    >>> split.test.history(0).tolist(), split.info["dropped_cold_start"]
    ([1, 3], {'valid': 0, 'test': 1})
    """
    order, times, valid_start, test_start = _temporal_cuts(log, valid_frac, test_frac)
    n = len(log)

    train_mask = np.zeros(n, dtype=bool)
    train_mask[order[:valid_start]] = True
    train = log.subset(train_mask)

    # Each user's interactions in global order, concatenated; rank = index in that list.
    users, items = log.users[order], log.items[order]
    by_user = np.lexsort((np.arange(n), users))
    counts = np.bincount(users, minlength=log.n_users)
    user_starts = np.cumsum(counts) - counts
    rank = np.empty(n, dtype=np.int64)
    rank[by_user] = np.arange(n) - user_starts[users[by_user]]
    sequence_items = items[by_user]

    parts, dropped = {}, {}
    for part, (lo, hi) in {"valid": (valid_start, test_start), "test": (test_start, n)}.items():
        rows = np.arange(lo, hi)
        rows = rows[rank[rows] > 0]
        dropped[part] = (hi - lo) - len(rows)
        parts[part] = _eval_set(users[rows], items[rows], sequence_items,
                                user_starts[users[rows]], rank[rows], log.n_items)
    info = {
        "dropped_cold_start": dropped,
        "valid_start": times[valid_start].item(),
        "test_start": times[test_start].item(),
        "cold_item_targets": {p: _cold_targets(train, e) for p, e in parts.items()},
    }
    return Split(train=train, valid=parts["valid"], test=parts["test"],
                 protocol="global-temporal", info=info)
