"""Ranking metrics for next-item recommendation with one relevant item per row.

Everything here is a pure, vectorised function of score tensors and ranks:

* :func:`full_ranks` — the 0-based rank of each target among *all* items, with the
  padding column and the already-seen items filtered out;
* :func:`sampled_ranks` — the rank among ``n_negatives`` sampled items only (the
  protocol Krichene & Rendle, KDD'20, showed to be inconsistent with full ranking;
  results computed from it must be labelled as sampled);
* :func:`hit_rate_at_k`, :func:`ndcg_at_k`, :func:`mrr` and their per-row variants;
* :func:`popularity_cohorts`, :func:`gini`, :func:`balance` — the head / mid / tail
  analysis of Prakash et al. (arXiv 2410.17276);
* :func:`top_k_items`, :func:`catalogue_coverage`, :func:`mean_popularity`,
  :func:`tail_share` — beyond-accuracy properties of the recommended lists.

Ranks are 0-based: rank 0 means the target scored above every competing item.

**Candidate items.** :func:`full_ranks`, :func:`sampled_ranks` and :func:`top_k_items`
take an optional ``item_mask``, a boolean vector over ``0..n_items`` that is True for the
items allowed to compete (e.g. the items with a training interaction). Items outside it
are dropped from the comparison by mask, not by score, so no tie at any score (``-inf``
included) can count one of them above or level with the target or put it in a top-K
list. A target outside the mask is ranked last: its rank is the number of its
competitors.

**Ties.** A model that gives many items the same score must not be rewarded for it.
With ``ties="pessimistic"`` (the default) every competitor whose score *equals* the
target's counts as ranked above it, so a constant model ranks every target last. With
``ties="random"`` the target is placed uniformly at random among its ties, which is
the rank a random tie-breaking sort would give; its expected hit rate is that of a
random ranking. Both rules are exact for tie-free scores.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._errors import RecnegError, check_positive_int

__all__ = [
    "full_ranks",
    "full_ranks_and_top_k",
    "sampled_ranks",
    "hits_at_k",
    "hit_rate_at_k",
    "ndcg_gains_at_k",
    "ndcg_at_k",
    "reciprocal_ranks",
    "mrr",
    "popularity_cohorts",
    "COHORT_NAMES",
    "gini",
    "balance",
    "top_k_items",
    "catalogue_coverage",
    "mean_popularity",
    "tail_share",
]

#: Names of the cohorts returned by :func:`popularity_cohorts`, by code.
COHORT_NAMES = ("head", "mid", "tail")

_TIES = ("pessimistic", "random")


# -- validation helpers -----------------------------------------------------------------
def _check_scores(scores) -> torch.Tensor:
    scores = torch.as_tensor(scores)
    if scores.dim() != 2 or scores.shape[1] < 2:
        raise RecnegError(
            f"scores must have shape (rows, n_items + 1) with column 0 for padding, "
            f"got {tuple(scores.shape)}"
        )
    if not torch.is_floating_point(scores):
        scores = scores.double()
    # A max propagates NaN: one reduction, where isnan(scores).any() first writes a mask as
    # large as the scores (evaluation checks every batch of users x catalogue).
    if scores.numel() and torch.isnan(scores.amax()):
        row = int(torch.isnan(scores).any(1).nonzero()[0])
        raise RecnegError(f"scores contain NaN (first in row {row}); check the model for divergence")
    return scores


def _check_targets(targets, scores: torch.Tensor) -> torch.Tensor:
    targets = torch.as_tensor(np.asarray(targets) if not torch.is_tensor(targets) else targets)
    targets = targets.to(device=scores.device, dtype=torch.long).reshape(-1)
    if len(targets) != scores.shape[0]:
        raise RecnegError(
            f"targets has {len(targets)} entries but scores has {scores.shape[0]} rows; "
            "pass one target per row"
        )
    n_items = scores.shape[1] - 1
    if len(targets) and (targets.min() < 1 or targets.max() > n_items):
        bad = targets[(targets < 1) | (targets > n_items)][0]
        raise RecnegError(
            f"target item {int(bad)} is outside 1..{n_items} (0 is padding); targets must be real items"
        )
    return targets


def _check_ties(ties: str) -> str:
    if ties not in _TIES:
        raise RecnegError(f"ties must be one of {', '.join(_TIES)}, got {ties!r}")
    return ties


def _check_item_mask(item_mask, scores: torch.Tensor) -> torch.Tensor | None:
    if item_mask is None:
        return None
    mask = torch.as_tensor(np.asarray(item_mask) if not torch.is_tensor(item_mask) else item_mask)
    if mask.dtype != torch.bool:
        raise RecnegError(
            f"item_mask must be a boolean vector, got dtype {mask.dtype}; pass e.g. train.item_counts() > 0"
        )
    if mask.shape != (scores.shape[1],):
        raise RecnegError(
            f"item_mask has shape {tuple(mask.shape)} but scores has {scores.shape[1]} columns; "
            "pass one flag per item id 0..n_items"
        )
    return mask.to(scores.device)


def _candidate_mask(
    scores: torch.Tensor, targets: torch.Tensor, seen_rows, seen_items, item_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Items that compete with the target: real, allowed by ``item_mask``, not seen, not the target."""
    m = torch.ones(scores.shape, dtype=torch.bool, device=scores.device)
    if item_mask is not None:
        m &= item_mask[None, :]
    m[:, 0] = False
    if (seen_rows is None) != (seen_items is None):
        raise RecnegError("pass both seen_rows and seen_items (EvalSet.seen_pairs) or neither")
    if seen_rows is not None:
        rows = torch.as_tensor(np.asarray(seen_rows) if not torch.is_tensor(seen_rows) else seen_rows)
        items = torch.as_tensor(np.asarray(seen_items) if not torch.is_tensor(seen_items) else seen_items)
        rows = rows.to(device=scores.device, dtype=torch.long).reshape(-1)
        items = items.to(device=scores.device, dtype=torch.long).reshape(-1)
        if rows.shape != items.shape:
            raise RecnegError(
                f"seen_rows ({len(rows)}) and seen_items ({len(items)}) must have equal length"
            )
        if len(rows):
            if rows.min() < 0 or rows.max() >= scores.shape[0]:
                raise RecnegError(
                    f"seen_rows must index rows 0..{scores.shape[0] - 1}, got {int(rows.max())}; "
                    "pass EvalSet.seen_pairs(rows) for the same rows as scores"
                )
            if items.min() < 0 or items.max() >= scores.shape[1]:
                raise RecnegError(
                    f"seen item {int(items.max())} is outside 0..{scores.shape[1] - 1}"
                )
            m[rows, items] = False
    m[torch.arange(len(targets), device=scores.device), targets] = False
    return m


def _rank_from_counts(greater: torch.Tensor, tied: torch.Tensor, ties: str, generator) -> torch.Tensor:
    if ties == "pessimistic":
        return greater + tied
    # The target's position among its t ties is uniform on 0..t.
    u = torch.rand(len(greater), generator=generator, dtype=torch.float64).to(greater.device)
    return greater + torch.minimum((u * (tied + 1)).long(), tied)


def _last_if_not_candidate(ranks, targets, item_mask, n_competing) -> torch.Tensor:
    # A target the mask rules out (e.g. never seen in training) cannot have been
    # learned: it goes below every competitor, whatever its score.
    if item_mask is None:
        return ranks
    return torch.where(item_mask[targets], ranks, n_competing)


# -- ranks ------------------------------------------------------------------------------
def full_ranks(
    scores,
    targets,
    seen_rows=None,
    seen_items=None,
    *,
    ties: str = "pessimistic",
    generator: torch.Generator | None = None,
    item_mask=None,
) -> torch.Tensor:
    """0-based rank of each target among all items, seen items and padding filtered.

    Parameters
    ----------
    scores : Tensor, shape (M, n_items + 1)
        Model scores; column 0 (padding) is never ranked.
    targets : LongTensor, shape (M,)
        The held-out item of each row, in ``1..n_items``.
    seen_rows, seen_items : array-like of int, optional
        ``(row, item)`` pairs of items already seen by each row's user (the history,
        :meth:`recneg.data.EvalSet.seen_pairs`); they are removed from the ranking. The
        target itself is never removed, even when it also occurs in the history.
    ties : {"pessimistic", "random"}
        How competitors with exactly the target's score count (see the module notes).
    generator : torch.Generator, optional
        Randomness for ``ties="random"``.
    item_mask : bool array-like, shape (n_items + 1,), optional
        Items allowed to compete (True); the others are never counted, whatever their
        score. A target outside the mask gets the number of its competitors (last place).

    Returns
    -------
    LongTensor, shape (M,)
        Number of competing items ranked above the target.

    Examples
    --------
    >>> import torch
    >>> scores = torch.tensor([[0.0, 0.9, 0.1, 0.5, 0.3]])
    >>> full_ranks(scores, torch.tensor([3])).tolist()
    [1]
    >>> full_ranks(scores, torch.tensor([3]), seen_rows=[0], seen_items=[1]).tolist()
    [0]
    >>> full_ranks(scores, torch.tensor([3]), item_mask=[False, False, True, True, True]).tolist()
    [0]
    """
    scores = _check_scores(scores)
    targets = _check_targets(targets, scores)
    ties = _check_ties(ties)
    item_mask = _check_item_mask(item_mask, scores)
    # The rank is the number of competing items scored above the target.
    competing = _candidate_mask(scores, targets, seen_rows, seen_items, item_mask)
    target_scores = scores.gather(1, targets[:, None])
    greater = ((scores > target_scores) & competing).sum(1)
    tied = ((scores == target_scores) & competing).sum(1)
    ranks = _rank_from_counts(greater, tied, ties, generator)
    return _last_if_not_candidate(ranks, targets, item_mask, competing.sum(1))


def _log_sampling_weights(by: str, item_counts, n_cols: int, device) -> torch.Tensor:
    """``log w`` of every column for the sampled protocol: 0 (uniform) or log count."""
    if by == "uniform":
        return torch.zeros(n_cols, dtype=torch.float64, device=device)
    if by != "popularity":
        raise RecnegError(f'by must be "uniform" or "popularity", got {by!r}')
    if item_counts is None:
        raise RecnegError('by="popularity" needs item_counts; pass train.item_counts()')
    counts = torch.as_tensor(np.asarray(item_counts), dtype=torch.float64).reshape(-1)
    if len(counts) != n_cols:
        raise RecnegError(
            f"item_counts has {len(counts)} entries but scores has {n_cols} columns; "
            "pass train.item_counts() of the same dataset"
        )
    if (counts < 0).any():
        raise RecnegError("item_counts must be non-negative")
    return counts.log().to(device)


def sampled_ranks(scores, targets, n_negatives: int = 100, by: str = "uniform", item_counts=None, seen_rows=None,
                  seen_items=None, *, ties: str = "pessimistic", generator: torch.Generator | None = None,
                  item_mask=None) -> torch.Tensor:
    """0-based rank of each target among ``n_negatives`` sampled, unseen items.

    This is the *sampled* protocol (e.g. Kang & McAuley's 100 negatives). Krichene &
    Rendle (KDD'20, "On Sampled Metrics for Item Recommendation") show that it can
    order models differently from full ranking, so every number computed from these
    ranks must say it is sampled.

    Negatives are drawn per row *without replacement* from the items that are neither
    padding, the target, nor seen by the row's user, either uniformly or with
    probability proportional to the training count (``by="popularity"``; items never
    seen in training then have weight 0 and are never drawn). Draws use
    Efraimidis–Spirakis keys ``log(u) / w`` with the top ``n_negatives`` kept. A row
    with fewer eligible items than ``n_negatives`` is ranked against all of them.

    Parameters
    ----------
    scores : Tensor, shape (M, n_items + 1)
    targets : LongTensor, shape (M,)
    n_negatives : int, default 100
    by : {"uniform", "popularity"}
    item_counts : array-like, shape (n_items + 1,), optional
        Training interaction counts; required for ``by="popularity"``.
    seen_rows, seen_items : array-like of int, optional
        History pairs as in :func:`full_ranks`.
    ties : {"pessimistic", "random"}
    generator : torch.Generator, optional
        Randomness of the draws (and of random tie-breaking).
    item_mask : bool array-like, shape (n_items + 1,), optional
        Items that may be drawn as negatives (True). A target outside the mask gets
        the number of negatives drawn for its row (last place).

    Returns
    -------
    LongTensor, shape (M,)
        Number of sampled negatives ranked above the target, in ``0..n_negatives``.
        Because the sampled negatives are a subset of the competitors of
        :func:`full_ranks`, the sampled rank never exceeds the full rank.

    Examples
    --------
    >>> import torch
    >>> scores = torch.arange(21, dtype=torch.float32)[None, :]   # item 20 scores highest
    >>> r = sampled_ranks(scores, torch.tensor([10]), n_negatives=5,
    ...                   generator=torch.Generator().manual_seed(0))
    >>> 0 <= int(r) <= 5
    True
    """
    scores = _check_scores(scores)
    targets = _check_targets(targets, scores)
    ties = _check_ties(ties)
    n_negatives = check_positive_int("n_negatives", n_negatives)
    item_mask = _check_item_mask(item_mask, scores)
    eligible = _candidate_mask(scores, targets, seen_rows, seen_items, item_mask)
    log_w = _log_sampling_weights(by, item_counts, scores.shape[1], scores.device)
    eligible &= torch.isfinite(log_w)[None, :]
    n_cols = scores.shape[1]
    u = torch.rand(scores.shape, generator=generator, dtype=torch.float64).to(scores.device)
    # log(u)/w == log(u) * exp(-log w); the largest keys form a weighted sample without
    # replacement (Efraimidis & Spirakis, 2006).
    keys = torch.log(u.clamp_min(1e-300)) * torch.exp(-log_w)[None, :]
    keys = keys.masked_fill(~eligible, -math.inf)
    k = min(n_negatives, n_cols - 1)
    top_keys, chosen = keys.topk(k, dim=1)
    drawn = torch.isfinite(top_keys)
    target_scores = scores.gather(1, targets[:, None])
    neg_scores = scores.gather(1, chosen)
    greater = ((neg_scores > target_scores) & drawn).sum(1)
    tied = ((neg_scores == target_scores) & drawn).sum(1)
    ranks = _rank_from_counts(greater, tied, ties, generator)
    return _last_if_not_candidate(ranks, targets, item_mask, drawn.sum(1))


# -- accuracy metrics -------------------------------------------------------------------
def _ranks(ranks) -> torch.Tensor:
    ranks = torch.as_tensor(np.asarray(ranks) if not torch.is_tensor(ranks) else ranks).reshape(-1)
    if len(ranks) and ranks.min() < 0:
        raise RecnegError(f"ranks must be non-negative (0 = first), got {int(ranks.min())}")
    return ranks


def _mean(values: torch.Tensor) -> float:
    # The mean over no rows is undefined; NaN keeps it from passing for a real 0.
    return float(values.double().mean()) if len(values) else math.nan


def hits_at_k(ranks, k: int) -> torch.Tensor:
    """Per-row hit indicator: 1.0 where ``rank < k``.

    Examples
    --------
    >>> hits_at_k([0, 3, 12], 10).tolist()
    [1.0, 1.0, 0.0]
    """
    k = check_positive_int("k", k)
    return (_ranks(ranks) < k).double()


def hit_rate_at_k(ranks, k: int) -> float:
    """HR@K: the share of rows whose target ranks in the top ``k`` (NaN for no rows).

    Examples
    --------
    >>> hit_rate_at_k([0, 3, 12, 9], 10)
    0.75
    """
    return _mean(hits_at_k(ranks, k))


def ndcg_gains_at_k(ranks, k: int) -> torch.Tensor:
    """Per-row NDCG@K with one relevant item: ``1 / log2(rank + 2)`` if ``rank < k`` else 0.

    The ideal DCG of a single relevant item is 1, so the DCG is already normalised.

    Examples
    --------
    >>> ndcg_gains_at_k([0, 1, 10], 10).tolist()
    [1.0, 0.6309297535714575, 0.0]
    """
    k = check_positive_int("k", k)
    ranks = _ranks(ranks).double()
    return torch.where(ranks < k, 1.0 / torch.log2(ranks + 2.0), torch.zeros_like(ranks))


def ndcg_at_k(ranks, k: int) -> float:
    """Mean NDCG@K over rows (NaN for no rows).

    Examples
    --------
    >>> round(ndcg_at_k([0, 2], 10), 4)
    0.75
    """
    return _mean(ndcg_gains_at_k(ranks, k))


def reciprocal_ranks(ranks) -> torch.Tensor:
    """Per-row reciprocal rank ``1 / (rank + 1)`` (no cut-off).

    Examples
    --------
    >>> reciprocal_ranks([0, 1, 3]).tolist()
    [1.0, 0.5, 0.25]
    """
    return 1.0 / (_ranks(ranks).double() + 1.0)


def mrr(ranks) -> float:
    """Mean reciprocal rank over rows, without a cut-off (NaN for no rows).

    Examples
    --------
    >>> mrr([0, 1])
    0.75
    """
    return _mean(reciprocal_ranks(ranks))


# -- popularity cohorts and balance -----------------------------------------------------
def popularity_cohorts(item_counts) -> np.ndarray:
    """Head / mid / tail cohort of every item from its *training* frequency.

    Items are sorted by count, most frequent first; ties are broken by item id
    (smaller id first) so the result is deterministic. Walking down that order, an item
    belongs to the third of the interactions in which its *first* interaction falls:
    head if fewer than 1/3 of all interactions come before it, mid if fewer than 2/3,
    tail otherwise. So the head is the smallest set of most-popular items covering at
    least a third of the interactions (Prakash et al., arXiv 2410.17276). Items never
    seen in training are tail.

    Parameters
    ----------
    item_counts : array-like, shape (n_items + 1,)
        Training interactions per item (``Interactions.item_counts()``); entry 0 is
        padding.

    Returns
    -------
    np.ndarray of int64, shape (n_items + 1,)
        ``0`` head, ``1`` mid, ``2`` tail, and ``-1`` for the padding entry 0.

    Examples
    --------
    >>> popularity_cohorts([0, 6, 3, 3, 1, 1, 1, 1, 1, 1]).tolist()
    [-1, 0, 1, 1, 2, 2, 2, 2, 2, 2]
    """
    counts = np.asarray(item_counts, dtype=np.float64).reshape(-1).copy()
    if len(counts) < 2:
        raise RecnegError(
            f"item_counts must have n_items + 1 >= 2 entries (entry 0 is padding), got {len(counts)}"
        )
    if (counts < 0).any() or not np.isfinite(counts).all():
        raise RecnegError("item_counts must be finite and non-negative; pass train.item_counts()")
    counts[0] = 0.0
    total = counts.sum()
    cohorts = np.full(len(counts), 2, dtype=np.int64)
    cohorts[0] = -1
    if total == 0:
        return cohorts
    # Walk down the items by training count; an item's cohort is the third in which its first interaction falls.
    order = np.argsort(-counts[1:], kind="stable") + 1
    before = np.cumsum(counts[order]) - counts[order]
    # Integer comparison 3 * before < total avoids float drift at exact thirds.
    cohort_of = np.where(3 * before < total, 0, np.where(3 * before < 2 * total, 1, 2))
    cohort_of[counts[order] == 0] = 2
    cohorts[order] = cohort_of
    return cohorts


def gini(values) -> float:
    """Gini coefficient ``Σᵢ (2i − n − 1) x₍ᵢ₎ / (n Σx)`` over ascending values.

    0 when all values are equal, ``(n − 1) / n`` when one value holds everything.
    NaN when the values sum to zero (no spread can be measured) or any is NaN.

    Examples
    --------
    >>> gini([0.2, 0.2, 0.2])
    0.0
    >>> round(gini([0.0, 0.0, 0.5]), 6)
    0.666667
    """
    x = np.sort(np.asarray(values, dtype=np.float64).reshape(-1))
    if len(x) == 0:
        raise RecnegError("gini needs at least one value")
    if np.isnan(x).any():
        return math.nan
    if x[0] < 0:
        raise RecnegError(f"gini needs non-negative values, got {x[0]}")
    n, total = len(x), x.sum()
    if total == 0:
        return math.nan
    i = np.arange(1, n + 1)
    return float(((2 * i - n - 1) * x).sum() / (n * total))


def balance(hr_head: float, hr_mid: float, hr_tail: float) -> float:
    """Balance = 1 − Gini of the three cohort hit rates, in [1/3, 1].

    1 means the model serves head, mid and tail targets equally well; 1/3 means only one
    cohort is ever hit. NaN if no cohort is hit (or a cohort has no rows).

    Examples
    --------
    >>> balance(0.3, 0.3, 0.3)
    1.0
    >>> round(balance(0.0, 0.0, 0.4), 6)
    0.333333
    """
    return 1.0 - gini([hr_head, hr_mid, hr_tail])


# -- beyond accuracy --------------------------------------------------------------------
def top_k_items(scores, k: int, seen_rows=None, seen_items=None, *, item_mask=None) -> torch.LongTensor:
    """The ``k`` highest-scoring unseen real items of each row, best first.

    Parameters
    ----------
    scores : Tensor, shape (M, n_items + 1)
    k : int
    seen_rows, seen_items : array-like of int, optional
        History pairs as in :func:`full_ranks`; those items are never listed.
    item_mask : bool array-like, shape (n_items + 1,), optional
        Items that may be listed (True); the others never are, whatever their score.

    Returns
    -------
    LongTensor, shape (M, k)
        Item ids, best first; a row with fewer than ``k`` listable items (or items the
        model scores ``-inf``) is padded with 0.

    Examples
    --------
    >>> import torch
    >>> top_k_items(torch.tensor([[9.0, 0.1, 0.7, 0.4]]), 2, [0], [2]).tolist()
    [[3, 1]]
    >>> top_k_items(torch.tensor([[9.0, 0.1, 0.7, 0.4]]), 2, item_mask=[False, True, False, True]).tolist()
    [[3, 1]]
    """
    scores = _check_scores(scores)
    k = check_positive_int("k", k)
    if k > scores.shape[1] - 1:
        raise RecnegError(f"k={k} exceeds the {scores.shape[1] - 1} items; pass a smaller k")
    item_mask = _check_item_mask(item_mask, scores)
    # Padding as a stand-in target: it is excluded anyway, so every real item is allowed.
    padding = torch.zeros(scores.shape[0], dtype=torch.long, device=scores.device)
    allowed = _candidate_mask(scores, padding, seen_rows, seen_items, item_mask)
    masked = scores.masked_fill(~allowed, -math.inf)
    values, items = masked.topk(k, dim=1)
    # A row with fewer than k candidates is padded with 0. Checking the mask, not just
    # the value, keeps a disallowed item out even where topk picks it among -inf ties.
    return items.masked_fill((values == -math.inf) | ~allowed.gather(1, items), 0)


def full_ranks_and_top_k(scores, targets, k: int, seen_rows=None, seen_items=None, *,
                         item_mask=None) -> tuple[torch.LongTensor, torch.LongTensor]:
    """:func:`full_ranks` (pessimistic ties) and :func:`top_k_items` of the same rows at once.

    Full-ranking evaluation needs both for every batch. Together they share the checks,
    the mask of listable items and the masked scores, and the rank takes one comparison
    instead of two; the results equal the two separate calls, element for element.

    Parameters
    ----------
    scores, targets, seen_rows, seen_items, item_mask
        As in :func:`full_ranks`.
    k : int
        As in :func:`top_k_items`.

    Returns
    -------
    ranks : LongTensor, shape (M,)
    top : LongTensor, shape (M, k)

    Examples
    --------
    >>> import torch
    >>> scores = torch.tensor([[0.0, 0.9, 0.1, 0.5, 0.7]])
    >>> ranks, top = full_ranks_and_top_k(scores, torch.tensor([3]), 2, seen_rows=[0], seen_items=[1])
    >>> ranks.tolist(), top.tolist()
    ([1], [[4, 3]])
    """
    scores = _check_scores(scores)
    targets = _check_targets(targets, scores)
    k = check_positive_int("k", k)
    if k > scores.shape[1] - 1:
        raise RecnegError(f"k={k} exceeds the {scores.shape[1] - 1} items; pass a smaller k")
    item_mask = _check_item_mask(item_mask, scores)
    padding = torch.zeros(scores.shape[0], dtype=torch.long, device=scores.device)
    allowed = _candidate_mask(scores, padding, seen_rows, seen_items, item_mask)  # real, unseen, in the mask
    masked = scores.masked_fill(~allowed, -math.inf)
    values, items = masked.topk(k, dim=1)
    top = items.masked_fill((values == -math.inf) | ~allowed.gather(1, items), 0)
    # Pessimistic rank = competitors scored >= the target. The competitors are the allowed
    # items but the target itself, which always ties with itself: count and take it back.
    target_scores = scores.gather(1, targets[:, None])
    rows = torch.arange(len(targets), device=scores.device)
    target_allowed = allowed[rows, targets].long()
    ranks = torch.count_nonzero(masked >= target_scores, dim=1) - target_allowed
    # A target scored -inf ties with every masked-out item (-inf in `masked`) too; it ranks
    # below all its competitors. So does a target that item_mask rules out (full_ranks).
    last = target_scores[:, 0] == -math.inf
    if item_mask is not None:
        last |= ~item_mask[targets]
    if last.any():
        ranks[last] = torch.count_nonzero(allowed[last], dim=1) - target_allowed[last]
    return ranks, top


def _topk(topk_items) -> np.ndarray:
    items = np.asarray(topk_items.cpu() if torch.is_tensor(topk_items) else topk_items)
    if items.ndim != 2:
        raise RecnegError(f"topk_items must have shape (rows, k), got {items.shape}")
    return items.astype(np.int64)


def catalogue_coverage(topk_items, n_items: int) -> float:
    """Share of the catalogue that appears in at least one recommended list.

    Examples
    --------
    >>> catalogue_coverage([[1, 2], [2, 3]], n_items=6)
    0.5
    """
    n_items = check_positive_int("n_items", n_items)
    items = _topk(topk_items)
    real = np.unique(items[items > 0])
    if len(real) and real.max() > n_items:
        raise RecnegError(f"item {real.max()} exceeds n_items={n_items}")
    return len(real) / n_items


def mean_popularity(topk_items, item_counts) -> float:
    """Mean training count of the recommended items (padding slots ignored).

    Examples
    --------
    >>> mean_popularity([[1, 2], [2, 0]], [0, 10, 4, 1])
    6.0
    """
    items = _topk(topk_items)
    counts = np.asarray(item_counts, dtype=np.float64)
    real = items[items > 0]
    return float(counts[real].mean()) if len(real) else math.nan


def tail_share(topk_items, cohorts) -> float:
    """Share of recommended slots filled with tail items (padding slots ignored).

    Examples
    --------
    >>> tail_share([[1, 2], [3, 3]], [-1, 0, 1, 2])
    0.5
    """
    items = _topk(topk_items)
    cohorts = np.asarray(cohorts, dtype=np.int64)
    real = items[items > 0]
    return float((cohorts[real] == 2).mean()) if len(real) else math.nan
