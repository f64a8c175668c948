"""Self-checks for the exercises of the case study."""

from __future__ import annotations

import numpy as np
from scipy.stats import ttest_ind

from ..data.interactions import Split
from ..metrics import balance, popularity_cohorts
from ._feedback import ExerciseCheckFailed, passed

__all__ = ["check_balance", "check_target_share", "check_welch_t"]


def check_balance(answer: float, hit_rates) -> None:
    """Check Balance = 1 - Gini over (head, mid, tail) hit rates."""
    expected = float(balance(*hit_rates))
    if abs(answer - expected) < 1e-9:
        passed("case-balance", f"Balance = {expected:.4f}.")
        return
    if abs(answer - (1 - expected)) < 1e-9:
        raise ExerciseCheckFailed("That is the Gini coefficient itself; Balance is 1 - Gini.")
    x = np.asarray(hit_rates, float)
    n = len(x)
    unsorted = 1 - float(((2 * np.arange(1, n + 1) - n - 1) * x).sum() / (n * x.sum()))
    if abs(answer - unsorted) < 1e-9:
        raise ExerciseCheckFailed("You weighted the values in the order given: sort them ascending first.")
    zero_based = 1 - float(((2 * np.arange(n) - n - 1) * np.sort(x)).sum() / (n * x.sum()))
    if abs(answer - zero_based) < 1e-9:
        raise ExerciseCheckFailed("Off by one in the weights: count i from 1, not 0, in (2i - n - 1).")
    if not 1 / 3 - 1e-9 <= answer <= 1 + 1e-9:
        raise ExerciseCheckFailed("Balance lies between 1/3 and 1 for three non-negative hit rates; check the formula.")
    raise ExerciseCheckFailed(
        "Not Balance yet. Sort the values ascending, weight them by (2i - n - 1) with i from 1, "
        "divide by n times their sum, and subtract the result from 1."
    )


def check_target_share(answer: dict, split: Split) -> None:
    """Check the share of test targets per training-popularity cohort."""
    cohorts = popularity_cohorts(split.train.item_counts())[split.test.targets]
    expected = {c: float((cohorts == i).mean()) for i, c in enumerate(["head", "mid", "tail"])}
    if set(answer) != set(expected):
        raise ExerciseCheckFailed(f"Use the keys 'head', 'mid' and 'tail', got {sorted(answer)}.")
    if abs(sum(answer.values()) - 1) > 1e-9:
        raise ExerciseCheckFailed("The three shares should sum to 1: every test target is in exactly one cohort.")
    bad = [c for c in expected if abs(answer[c] - expected[c]) > 1e-9]
    if bad:
        every = popularity_cohorts(np.bincount(np.concatenate([split.train.items, split.test.targets]),
                                               minlength=split.n_items + 1))[split.test.targets]
        leaked = {c: float((every == i).mean()) for i, c in enumerate(["head", "mid", "tail"])}
        if all(abs(answer[c] - leaked[c]) < 1e-9 for c in leaked):
            raise ExerciseCheckFailed("Your cohorts count the test targets too: count popularity on the "
                                      "*training* split only.")
        raise ExerciseCheckFailed(
            f"The share is wrong for {', '.join(bad)}. Assign each test *target* (not each item) to "
            "the cohort of its training popularity, then take the mean per cohort."
        )
    passed("case-cohorts", f"{', '.join(f'{c} {v:.1%}' for c, v in expected.items())}.")


def check_welch_t(answer: float, a, b) -> None:
    """Check Welch's t statistic of ``a`` vs ``b``."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        print("Fewer than two seeds per sampler: Welch's t is undefined, so there is nothing to check.")
        return
    expected = float(ttest_ind(a, b, equal_var=False).statistic)
    if np.isclose(answer, -expected):
        raise ExerciseCheckFailed("The sign is reversed: take uniform minus popularity.")
    if not np.isclose(answer, expected, rtol=1e-6, atol=1e-9):
        student = float(ttest_ind(a, b, equal_var=True).statistic)
        if np.isclose(abs(answer), abs(student), rtol=1e-6, atol=1e-9):
            raise ExerciseCheckFailed("That is Student's t with pooled variance: pass equal_var=False (Welch).")
        raise ExerciseCheckFailed("Not Welch's t for these seeds: compare the per-seed NDCG@10 values of the "
                                  "two samplers with ttest_ind(..., equal_var=False).")
    passed("case-significance", f"t = {expected:.2f}.")
