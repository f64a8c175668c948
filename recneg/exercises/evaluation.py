"""Self-checks for the exercises of "Evaluation: protocols, splits and cohorts"."""

from __future__ import annotations

import numpy as np

from ..metrics import popularity_cohorts
from ._feedback import ExerciseCheckFailed, passed

__all__ = ["check_ndcg", "check_seen_filtering", "check_cohorts"]


def check_ndcg(answer: float, ranks, *, k: int = 10) -> None:
    """Check NDCG@k for one relevant item per row, 0-based ``ranks``."""
    r = np.asarray(ranks)
    expected = float(np.where(r < k, 1 / np.log2(r + 2), 0).mean())
    if abs(answer - expected) < 1e-9:
        passed("eval-ndcg", f"NDCG@{k} = {expected:.4f}.")
        return
    one_based = float(np.where(r + 1 < k, 1 / np.log2(r + 3), 0).mean())
    if abs(answer - one_based) < 1e-9:
        raise ExerciseCheckFailed("Ranks are 0-based here: a target at rank 0 has gain 1/log2(0 + 2) = 1.")
    if abs(answer - float(np.where(r <= k, 1 / np.log2(r + 2), 0).mean())) < 1e-9:
        raise ExerciseCheckFailed(f"A hit needs rank < {k} (0-based), not rank <= {k}.")
    raise ExerciseCheckFailed(f"Expected {expected:.6f}, got {answer:.6f}. Gain is 1/log2(rank + 2) for rank < {k}, else 0.")


def check_seen_filtering(rank_filtered: int, rank_raw: int) -> None:
    """Check the two ranks of the worked example (scores 5,4,3,2,1; seen 1 and 2; target 4)."""
    if (rank_filtered, rank_raw) == (1, 3):
        passed("eval-seen", "the two seen items no longer push the target down from rank 3 to rank 1.")
        return
    if rank_filtered == 0:
        raise ExerciseCheckFailed("Item 3 (score 3) is unseen and scores above the target, so the filtered rank is 1.")
    if rank_raw == 4:
        raise ExerciseCheckFailed("Item 0 is padding and never ranked: only items 1..5 compete.")
    raise ExerciseCheckFailed(f"Expected (rank_filtered, rank_raw) = (1, 3), got ({rank_filtered}, {rank_raw}).")


def check_cohorts(answer, counts) -> None:
    """Check a head/mid/tail assignment against :func:`recneg.metrics.popularity_cohorts`."""
    expected = popularity_cohorts(np.asarray(counts))[1:]
    answer = np.asarray(answer)
    if answer.shape != expected.shape:
        raise ExerciseCheckFailed(f"Give one cohort per real item (items 1..{len(expected)}), got shape {answer.shape}.")
    if not np.array_equal(answer, expected):
        wrong = np.flatnonzero(answer != expected) + 1
        raise ExerciseCheckFailed(
            f"Items {wrong.tolist()} are in the wrong cohort: expected {expected.tolist()}, got "
            f"{answer.tolist()}. Sort by training count, most popular first, and cut where the "
            "cumulative share of interactions passes 1/3 and 2/3."
        )
    passed("eval-cohort-bounds", f"{expected.tolist()}.")
