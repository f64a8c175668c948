"""Self-checks for the exercises of the case study.

Besides the computations (:func:`check_balance`, :func:`check_target_share`,
:func:`check_welch_t`), :func:`check_prediction` (``case-predict``) takes a prediction
written down and then the measured gap in tail HR@10 between popularity and uniform
negatives in the published table, and :func:`check_critique` (``case-critique``) the flaws
among the statements of :data:`CRITIQUE_STATEMENTS`.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import ttest_ind

from ..data.interactions import Split
from ..metrics import balance, popularity_cohorts
from ._feedback import ExerciseCheckFailed, as_number, check_flaws, check_prediction_recorded, passed
from ._measured import check_difference

__all__ = ["CRITIQUE_STATEMENTS", "check_balance", "check_target_share", "check_welch_t", "check_prediction",
           "check_critique"]


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


#: Columns of the published table whose popularity-minus-uniform gap is a typical misreading
#: of the tail gap: column -> what the reader measured instead.
_OTHER_COLUMNS = {"hr@10_head": "the head cohort", "hr@10_mid": "the mid cohort", "hr@10": "overall HR@10",
                  "ndcg@10": "NDCG@10", "balance": "Balance"}


def check_prediction(prediction, measured_gap, wide) -> None:
    """Exercise ``case-predict``: a prediction written down, and popularity's mean tail HR@10
    minus uniform's measured from the published per-seed table.

    ``wide`` is the chapter's per-seed table of one setting (index levels include
    ``"sampler"``, columns the metrics, ``"hr@10_tail"`` among them).
    """
    check_prediction_recorded(prediction)
    value = as_number(measured_gap, "measured_gap")
    means = wide.groupby(level="sampler").mean()
    medians = wide.groupby(level="sampler").median()

    def gap(table, column):
        return float(table.loc["popularity", column] - table.loc["uniform", column])

    pop, uni = float(means.loc["popularity", "hr@10_tail"]), float(means.loc["uniform", "hr@10_tail"])
    mistakes = [
        (100 * (pop - uni), "Your gap is in percentage points; the table holds fractions.", "Do not multiply by 100."),
        (gap(medians, "hr@10_tail"), "Your gap compares medians over the seeds; the table reports means.", None),
    ]
    mistakes += [(gap(means, column), f"Your gap is in {what}; the exercise asks about the tail cohort "
                  "(hr@10_tail).", None) for column, what in _OTHER_COLUMNS.items() if column in means]
    check_difference(value, pop, uni, name="gap", exercise="case-predict",
                     detail="now compare the sign with your prediction, and Welch's test over the five seeds with "
                            "the sign before you call it a difference.",
                     order="Popularity minus uniform.", mistakes=mistakes,
                     what="the difference of the two samplers' mean tail HR@10 in the published table",
                     how="Average each sampler's hr@10_tail over its seeds, then subtract uniform's from "
                         "popularity's.")


#: Statements about a reading of the study (exercise case-critique):
#: letter -> (statement, is it a flaw of that reading?, the kind of point it makes).
CRITIQUE_STATEMENTS = {
    "A": ("The live miniature's table (a few hundred users, one seed, an epoch cap) was quoted as the "
          "reproduction of the study.", True, "a smoke-scale run read as a finding"),
    "B": ("A run flagged for scoring below MostPopular was kept in its sampler's mean.", True,
          "a flagged run read as a finding"),
    "C": ("The head, mid and tail cohorts were cut from the training interactions only.", False,
          "cohorts from training counts keep the test rows out"),
    "D": ("Each sampler's key parameter was chosen on the validation split (seed 0) before the five seeds "
          "were run.", False, "tuning on validation keeps the test split for the end"),
    "E": ("Uniform was called best on head items because its mean head HR@10 was the highest, without a "
          "test against the runner-up.", True, "a higher mean is not a significant difference"),
    "F": ("Runs that the 200-epoch cap ended while validation was still improving were averaged with the "
          "runs that early stopping ended.", True, "convergence"),
    "G": ("Test targets never seen in training were dropped from the test set, because no model can rank "
          "them.", True, "dropping the rows a model cannot hit inflates accuracy"),
}


def check_critique(flaws) -> None:
    """Exercise ``case-critique``: the letters of :data:`CRITIQUE_STATEMENTS` that are flaws."""
    check_flaws(flaws, CRITIQUE_STATEMENTS, exercise="case-critique",
                hint="Walk through the chapter's health-first reading: where the numbers come from (the "
                     "published grid or the live run), the health flags, how each run ended, how test rows "
                     "are counted, and how a direction is tested.")
