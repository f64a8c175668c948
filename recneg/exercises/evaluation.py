"""Self-checks for the exercises of "Evaluation: protocols, splits and cohorts".

A failing check says which mistake the answer looks like, and gives a hint; it never
prints the expected value.
"""

from __future__ import annotations

import math

import numpy as np

from ..metrics import popularity_cohorts
from ._feedback import as_array, as_number, check_flaws, check_prediction_recorded, fail, passed, same
from ._measured import check_difference

__all__ = ["CRITIQUE_STATEMENTS", "check_critique", "check_prediction", "check_ndcg",
           "check_seen_filtering", "check_cohorts"]


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
    wrong = int((got != expected).sum())
    fail(f"{wrong} of {n_real} items are in the wrong cohort.",
         hint="Sort by training count, most popular first, and put an item in the head if less "
              "than a third of all interactions come before it, in the mid if less than two "
              "thirds, and in the tail otherwise.")


def _sampled_1000(result) -> float:
    """HR@10 of an evaluation that must rank against 1,000 uniformly sampled items."""
    if not isinstance(result, dict) or "protocol" not in result or "hr@10" not in result:
        fail(f"Your sampled_1000 is a {type(result).__name__}, not the dictionary evaluate(...) returns.",
             hint="Store the whole result of evaluate(..., protocol='sampled', n_sampled=1000).")
    label = str(result["protocol"])
    if label == "full":
        fail("Your second evaluation is a full ranking; the exercise ranks against 1,000 sampled items.",
             hint="Pass protocol='sampled' and n_sampled=1000 to evaluate.")
    if label.startswith("sampled-popularity"):
        fail("Your second evaluation draws its items by popularity, but the row you compare it with "
             "draws them uniformly.", hint="Leave sampled_by at its default, 'uniform'.")
    if label != "sampled-uniform-1000":
        fail(f"Your second evaluation is {label!r}; the exercise asks for 1,000 sampled items.",
             hint="Pass n_sampled=1000.")
    return float(result["hr@10"])


def check_prediction(prediction, change, sampled_1000, protocols) -> None:
    """Exercise eval-predict: a prediction written down, then the change measured.

    ``sampled_1000`` is the result of evaluating the chapter's SASRec against 1,000
    uniformly sampled items; ``protocols`` the chapter's table (index: protocol label);
    ``change`` is the first HR@10 minus the ``"sampled-uniform-100"`` row's.
    """
    check_prediction_recorded(prediction)
    value = as_number(change, "change")
    hr_1000 = _sampled_1000(sampled_1000)
    rows = protocols["hr@10"]
    hr_100 = float(rows.loc["sampled-uniform-100"])
    ndcg = (float(sampled_1000["ndcg@10"] - protocols.loc["sampled-uniform-100", "ndcg@10"])
            if "ndcg@10" in sampled_1000 and "ndcg@10" in protocols else None)
    check_difference(
        value, hr_1000, hr_100, name="change", exercise="eval-predict",
        detail="now place both sampled numbers against the full-ranking one and compare with your "
               "prediction.",
        order="1,000 sampled items minus 100.",
        what="the HR@10 against 1,000 sampled items minus the HR@10 against 100",
        how="Subtract protocols.loc['sampled-uniform-100', 'hr@10'] from the new evaluation's 'hr@10'.",
        mistakes=[
            (hr_1000 - float(rows.loc["full"]) if "full" in rows.index else None,
             "You subtracted the full-ranking row; the exercise compares two sampled protocols.",
             "Use the row 'sampled-uniform-100'."),
            (hr_1000 - float(rows.loc["sampled-popularity-100"]) if "sampled-popularity-100" in rows.index
             else None, "You subtracted the popularity-sampled row; both evaluations must draw uniformly.",
             "Use the row 'sampled-uniform-100'."),
            (ndcg, "Your change is in NDCG@10; the exercise compares HR@10.", None),
            (100 * (hr_1000 - hr_100), "Your change is in percentage points.",
             "Give the difference of the two hit rates as they are, fractions between 0 and 1."),
        ])


#: Statements about a paper's evaluation section (exercise eval-critique):
#: letter -> (statement, is it a flaw?, the kind of point it makes).
CRITIQUE_STATEMENTS = {
    "A": ("HR@10 against 100 sampled items was printed in the same table as other papers' "
          "full-ranking HR@10.", True, "sampled metrics reported as full ranking"),
    "B": ("The items a user had interacted with in training were left among the candidates, so "
          "they competed with the target.", True, "seen items not filtered"),
    "C": ("Test rows whose target had no training interaction stayed in the denominator as "
          "misses, and their share was reported.", False,
          "keeping those rows as misses is recneg's rule, so the number is not flattered"),
    "D": ("Head, mid and tail cohorts were cut from item counts over the whole log, test "
          "interactions included.", True, "cohorts counted on test data"),
    "E": ("Items no training batch ever contained kept their initial scores and were ranked "
          "with the trained ones.", True, "untouched items ranked as if learned"),
    "F": ("Ranks were 0-based, the number of candidates scored above the target, and a tie "
          "counted against the target.", False,
          "a tie counted against the target cannot flatter a model that scores everything the same"),
    "G": ("No most-popular baseline was evaluated, so no run could be found below that floor.",
          True, "the MostPopular floor"),
}


def check_critique(flaws) -> None:
    """Exercise eval-critique: pick the statements that are flaws of the evaluation."""
    check_flaws(flaws, CRITIQUE_STATEMENTS, exercise="eval-critique",
                hint="Walk through the chapter's protocol: which items are ranked against the target, "
                     "which data the cohorts and baselines come from, and what the numbers can be "
                     "compared with.")
