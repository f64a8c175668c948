"""Cold-start item cohorts: make some items new, then see how training and ranking treat them.

A catalogue keeps receiving items that have few or no interactions yet. Whether a
model can rank them depends on the negatives as much as on the positives: a sampler
that never draws an item as a negative (popularity without smoothing, in-batch) leaves
its score where its few positives pushed it, one that draws it at the catalogue rate
(uniform) pushes it down like any other. This module builds such a cohort on any split
and measures it:

* :func:`thin_item_cohort` — choose a random cohort of items and keep only the first
  ``keep`` training interactions of each (validation and test rows are untouched);
* :func:`cohort_report` — HR@K on the evaluation rows whose target is in the cohort
  (with :func:`recneg.evaluation.evaluate`) and the cohort's share of all top-K slots.
"""

from __future__ import annotations

import numpy as np
import torch

from ._errors import RecnegError, check_positive_int, check_probability
from .data.interactions import EvalSet, Interactions, Split
from .evaluation import CANDIDATES, evaluate
from .metrics import top_k_items

__all__ = ["thin_item_cohort", "eval_rows", "cohort_report"]


def thin_item_cohort(split: Split, fraction: float = 0.1, keep: int = 2, *,
                     random_state: int = 0) -> tuple[Split, np.ndarray]:
    """A copy of ``split`` in which a random cohort of items has at most ``keep``
    training interactions (each item's earliest, in time order).

    The cohort is drawn uniformly among the items with more than ``keep`` training
    interactions, ``round(fraction · n_items)`` of them (at least one). Validation and
    test rows stay as they were, histories included, so a removed interaction is still
    "seen" by its user at evaluation (never recommended back) but never trained on.

    Returns
    -------
    split : Split
        The thinned split; ``info["cold_cohort"]`` records ``fraction``, ``keep``,
        ``items`` (cohort size) and ``removed`` (training interactions dropped).
    cohort : numpy.ndarray of bool, shape (n_items + 1,)

    Examples
    --------
    >>> from recneg.data import SyntheticWorld, leave_one_out
    >>> split = leave_one_out(SyntheticWorld(n_users=80, n_items=60, random_state=0).generate())
    >>> thinned, cohort = thin_item_cohort(split, fraction=0.1, keep=1)
    >>> int(cohort.sum()), int(thinned.train.item_counts()[cohort].max())
    (6, 1)
    """
    if not isinstance(split, Split):
        raise RecnegError(f"split must be a Split (e.g. leave_one_out(log)), got {type(split).__name__}")
    fraction = check_probability("fraction", fraction, closed=False)
    keep = check_positive_int("keep", keep, allow_zero=True)
    train = split.train
    counts = train.item_counts()
    eligible = np.flatnonzero(counts > keep)
    size = max(1, int(round(fraction * train.n_items)))
    if size > len(eligible):
        raise RecnegError(f"only {len(eligible)} items have more than keep={keep} training interactions, "
                          f"fewer than the cohort of {size}; lower fraction or keep")
    chosen = np.random.default_rng(random_state).choice(eligible, size=size, replace=False)
    cohort = np.zeros(train.n_items + 1, dtype=bool)
    cohort[chosen] = True
    # Rank of each interaction within its item, in time order (stable: ties keep log order).
    order = np.lexsort((train.timestamps, train.items))
    first = np.searchsorted(train.items[order], train.items[order], side="left")
    rank = np.empty(len(train), dtype=np.int64)
    rank[order] = np.arange(len(train)) - first
    kept = ~cohort[train.items] | (rank < keep)
    info = dict(split.info, cold_cohort={"fraction": fraction, "keep": keep, "items": size,
                                         "removed": int((~kept).sum())})
    return Split(train.subset(kept), split.valid, split.test, split.protocol, info), cohort


def eval_rows(eval_set: EvalSet, rows) -> EvalSet:
    """The evaluation rows ``rows`` (indices or a boolean mask) as an :class:`EvalSet`.

    Examples
    --------
    >>> import numpy as np
    >>> full = EvalSet(np.array([0, 1]), np.array([3, 4]), np.array([0, 2, 3]), np.array([1, 2, 1]), n_items=4)
    >>> part = eval_rows(full, np.array([False, True]))
    >>> part.users.tolist(), part.targets.tolist(), part.history(0).tolist()
    ([1], [4], [1])
    """
    rows = np.asarray(rows)
    rows = np.flatnonzero(rows) if rows.dtype == np.bool_ else rows.astype(np.int64)
    starts, ends = eval_set.history_indptr[rows], eval_set.history_indptr[rows + 1]
    lengths = ends - starts
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    offsets = np.arange(indptr[-1], dtype=np.int64) - np.repeat(indptr[:-1], lengths)
    history = eval_set.history_items[np.repeat(starts, lengths) + offsets]
    return EvalSet(eval_set.users[rows], eval_set.targets[rows], indptr, history, eval_set.n_items)


def _cohort_share(model, eval_set: EvalSet, cohort: np.ndarray, item_mask, k: int, batch_size: int) -> float:
    """Share of the top-``k`` slots of ``eval_set`` held by cohort items."""
    maxlen = getattr(model, "maxlen", None) or 1
    held = listed = 0
    with torch.no_grad():
        for start in range(0, len(eval_set), batch_size):
            rows = np.arange(start, min(start + batch_size, len(eval_set)))
            users = torch.as_tensor(eval_set.users[rows], dtype=torch.long)
            scores = torch.as_tensor(model.score_all(users, eval_set.padded_histories(maxlen, rows))).detach().cpu()
            seen_rows, seen_items = eval_set.seen_pairs(rows)
            top = top_k_items(scores, k, seen_rows, seen_items, item_mask=item_mask).numpy()
            top = top[top > 0]
            held += int(cohort[top].sum())
            listed += len(top)
    return held / listed if listed else float("nan")


def cohort_report(model, eval_set: EvalSet, train: Interactions, cohort, *, k: int = 10,
                  candidates: str = "trained", touched=None, batch_size: int = 256) -> dict:
    """How a trained model ranks a cohort of items on ``eval_set``.

    Returns
    -------
    dict
        ``rows`` (evaluation rows whose target is in the cohort), ``hr@K`` and
        ``ndcg@K`` and ``mrr`` on those rows (:func:`~recneg.evaluation.evaluate` with
        ``candidates`` and ``touched``; NaN without rows), ``untouched_share@K`` on them,
        ``top_share@K`` (share of all rows' top-K slots held by cohort items) and
        ``catalogue_share`` (the cohort's share of the ranked items), its reference.

    Examples
    --------
    >>> import numpy as np, torch
    >>> train = Interactions(np.array([0, 1]), np.array([1, 2]), np.arange(2), n_users=2, n_items=4)
    >>> test = EvalSet(np.array([0, 1]), np.array([4, 3]), np.array([0, 1, 2]), np.array([1, 2]), n_items=4)
    >>> class ByItemId:
    ...     maxlen = None
    ...     def score_all(self, users, histories):
    ...         return torch.arange(5.0).repeat(len(users), 1)
    >>> cohort = np.array([False, False, False, False, True])
    >>> report = cohort_report(ByItemId(), test, train, cohort, k=1, candidates="all")
    >>> report["rows"], report["hr@1"], report["top_share@1"]
    (1, 1.0, 1.0)
    """
    cohort = np.asarray(cohort)
    if cohort.dtype != np.bool_ or cohort.shape != (train.n_items + 1,):
        raise RecnegError(f"cohort must be a boolean array of shape ({train.n_items + 1},) = (n_items + 1,), "
                          f"got dtype {cohort.dtype} and shape {cohort.shape}")
    if candidates not in CANDIDATES:
        raise RecnegError(f'candidates must be "trained" or "all", got {candidates!r}')
    k = check_positive_int("k", k)
    rows = cohort[eval_set.targets]
    report = {"rows": int(rows.sum())}
    if rows.any():
        found = evaluate(model, eval_rows(eval_set, rows), train, ks=(k,), candidates=candidates, touched=touched,
                         batch_size=batch_size)
        report.update({key: found[key] for key in (f"hr@{k}", f"ndcg@{k}", "mrr", f"untouched_share@{k}")})
    else:
        report.update(dict.fromkeys((f"hr@{k}", f"ndcg@{k}", "mrr", f"untouched_share@{k}"), float("nan")))
    ranked = train.item_counts() > 0 if candidates == "trained" else np.ones(train.n_items + 1, dtype=bool)
    ranked[0] = False
    report[f"top_share@{k}"] = _cohort_share(model, eval_set, cohort, torch.as_tensor(ranked), k, batch_size)
    report["catalogue_share"] = float(cohort[ranked].mean())
    return report
