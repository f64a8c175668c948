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
    raise ExerciseCheckFailed(
        f"Expected {expected:.6f}, got {answer:.6f}. Sort the values ascending before weighting "
        "them by (2i - n - 1), with i counted from 1."
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
        raise ExerciseCheckFailed(
            f"Wrong share for {bad}: expected {expected}. Count cohorts on the *training* split only."
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
        raise ExerciseCheckFailed(f"Expected t = {expected:.4f}, got {answer:.4f}. Use equal_var=False (Welch).")
    passed("case-significance", f"t = {expected:.2f}.")
