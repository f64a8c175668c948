"""Self-checks for the exercises of "Evaluation: protocols, splits and cohorts".

A failing check says which mistake the answer looks like, and gives a hint; it never
prints the expected value.
"""

from __future__ import annotations

import math

import numpy as np

from ..metrics import popularity_cohorts
from ._feedback import as_array, fail, passed, same

__all__ = ["check_ndcg", "check_seen_filtering", "check_cohorts"]


def check_ndcg(answer: float, ranks, *, k: int = 10) -> None:
    """Check NDCG@k for one relevant item per row, 0-based ``ranks``."""
    try:
        value = float(answer)
    except (TypeError, ValueError):
        fail(f"Your NDCG is a {type(answer).__name__}, not a number.",
             hint="Store the mean over the targets as one float.")
    r = np.asarray(ranks)
    hit = r < k
    gains = np.where(hit, 1 / np.log2(r + 2), 0.0)
    expected = float(gains.mean())
    if same(value, expected):
        passed("eval-ndcg", f"NDCG@{k} = {expected:.4f}.")
        return
    if not math.isfinite(value):
        fail("Your NDCG is not finite.",
             hint="With 0-based ranks the discount is log2(rank + 2): log2(rank + 1) is zero at "
                  "rank 0.")
    if same(value, float(np.where(r + 1 < k, 1 / np.log2(r + 3), 0).mean())):
        fail("Off by one: you treated the ranks as 1-based and shifted them.",
             hint="Ranks are 0-based here: the gain is 1/log2(rank + 2), and a target at rank 0 "
                  "has gain 1.")
    if same(value, float(np.where(r <= k, 1 / np.log2(r + 2), 0).mean())):
        fail(f"Off by one at the cut-off: a hit needs rank < {k} (0-based), not rank <= {k}.")
    if same(value, float(np.where(hit, 1 / np.log(r + 2), 0).mean())):
        fail("You used the natural logarithm.", hint="The DCG discount is log base 2: np.log2.")
    if same(value, float(hit.mean())):
        fail(f"That is HR@{k}, the share of hits, not NDCG@{k}.",
             hint="Weigh each hit by its discount 1/log2(rank + 2).")
    if same(value, float(gains.sum())):
        fail("You summed the gains over the targets.", hint="NDCG@k is their mean.")
    if hit.any() and same(value, float(gains[hit].mean())):
        fail("You averaged over the hits only.",
             hint="A target ranked at or beyond the cut-off contributes a gain of 0 to the mean.")
    fail(f"Your NDCG@{k} does not match the ranks.",
         hint=f"With one relevant item per target the ideal DCG is 1, so NDCG@{k} is the mean "
              f"over all targets of 1/log2(rank + 2) for rank < {k}, and 0 otherwise.")


def check_seen_filtering(rank_filtered: int, rank_raw: int) -> None:
    """Check the two ranks of the worked example (scores 5,4,3,2,1; seen 1 and 2; target 4)."""
    # Messages name no rank: a number here would give the answer away.
    if (rank_filtered, rank_raw) == (1, 3):
        passed("eval-seen", "the two seen items no longer push the target down from rank 3 to rank 1.")
        return
    if (rank_filtered, rank_raw) == (3, 1):
        fail("You swapped the two ranks.",
             hint="Filtering removes competitors, so the filtered rank can only be smaller "
                  "(better) than the raw one.")
    if (rank_filtered, rank_raw) == (2, 4):
        fail("Both ranks are one too large: they look one-based, or you counted the target "
             "itself.", hint="A 0-based rank is the number of items scoring strictly above the target.")
    if rank_filtered == rank_raw:
        fail("Your filtered rank equals the raw rank: the seen items were not removed.",
             hint="Drop the items the user has seen (but never the target) before counting the "
                  "items that score above the target.")
    if rank_raw == 4:
        fail("Your raw rank counts item 0, the padding id.",
             hint="Padding is never ranked: only the real items compete, seen or not.")
    if rank_filtered == 0:
        fail("Your filtered rank is too optimistic.",
             hint="Filtering removes only the seen items; an unseen item that scores above the "
                  "target still counts.")
    if rank_raw != 3:
        fail("Your raw (unfiltered) rank is off.",
             hint="Without filtering, every real item that scores above the target counts, "
                  "whether the user has seen it or not.")
    fail("Your filtered rank is off.",
         hint="Remove the seen items from the candidates, keep the target, and count the "
              "remaining items that score strictly above it.")


def _walk(counts: np.ndarray, order: np.ndarray, *, before: bool = True) -> np.ndarray:
    """Cohorts from walking ``counts`` in ``order``, cutting on the share of interactions
    before (or, with ``before=False``, up to and including) each item."""
    walked = counts[order]
    share = np.cumsum(walked) / walked.sum()
    if before:
        share = share - walked / walked.sum()
    labels = np.empty(len(counts), dtype=np.int64)
    labels[order] = np.minimum((share * 3 + 1e-12).astype(int), 2)
    return labels


def check_cohorts(answer, counts) -> None:
    """Check a head/mid/tail assignment against :func:`recneg.metrics.popularity_cohorts`."""
    counts = np.asarray(counts)
    expected = popularity_cohorts(counts)[1:]
    n_real = len(expected)
    got = as_array(answer, "cohorts")
    if got.shape == (n_real + 1,):
        fail("You gave a cohort to the padding entry 0 as well.",
             hint="Give one cohort per real item: drop entry 0 of the counts.")
    if got.shape != expected.shape:
        fail(f"Give one cohort per real item ({n_real} of them), in item order; yours has "
             f"shape {tuple(got.shape)}.")
    if np.array_equal(got, expected):
        passed("eval-cohort-bounds", f"{expected.tolist()}.")
        return
    if not np.isin(got, [0, 1, 2]).all():
        fail("Cohorts are labelled 0 (head), 1 (mid) and 2 (tail); yours use other labels.")
    if np.array_equal(got, 2 - expected):
        fail("Head and tail are swapped.", hint="Label the most popular items 0 (head) and the "
                                                "least popular 2 (tail).")
    real = counts[1:].astype(float)
    descending = np.argsort(-real, kind="stable")
    if np.array_equal(got, _walk(real, np.argsort(real, kind="stable"))):
        fail("You walked the items from least to most popular.",
             hint="Sort by training count, most popular first.")
    by_items = np.empty(n_real, dtype=np.int64)
    by_items[descending] = np.minimum(np.arange(n_real) * 3 // n_real, 2)
    if np.array_equal(got, by_items):
        fail("You split the *items* into thirds.",
             hint="Each cohort covers a third of the *interactions*: cut the sorted items where "
                  "the cumulative share of interactions passes 1/3 and 2/3.")
    if np.array_equal(got, _walk(real, descending, before=False)):
        fail("Your cut points are shifted by one item.",
             hint="An item belongs to the third in which its *first* interaction falls: compare "
                  "the share of interactions *before* it with 1/3 and 2/3.")
    wrong = np.flatnonzero(got != expected) + 1
    fail(f"{len(wrong)} of {n_real} items are in the wrong cohort (items {wrong.tolist()}).",
         hint="Sort by training count, most popular first, and put an item in the head if less "
              "than a third of all interactions come before it, in the mid if less than two "
              "thirds, and in the tail otherwise.")
