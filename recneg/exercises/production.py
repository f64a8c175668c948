"""Self-checks for the exercises of "Negatives in production"."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..production.drift import kl_divergence, psi
from ._feedback import as_number, call_answer, check_flaws, check_prediction_recorded, fail, passed, same
from ._measured import check_difference

__all__ = ["CRITIQUE_STATEMENTS", "check_critique", "check_prediction", "check_psi"]

#: Pairs of bin counts (expected, actual) the PSI check runs on: equal shares at different
#: sample sizes, repeated counts, a bin empty on one side, and one empty on the other.
_PSI_CASES = (
    ([50, 30, 20], [30, 30, 40]),
    ([10, 10, 10, 10], [1, 1, 1, 1]),
    ([4, 4, 1, 1, 0], [1, 1, 4, 4, 0]),
    ([10, 0, 5], [3, 4, 0]),
    ([7, 2, 1], [0, 0, 10]),
)


def _shares(counts, epsilon: float) -> np.ndarray:
    c = np.asarray(counts, dtype=float)
    return (c / c.sum() + epsilon) / (1 + len(c) * epsilon)


def _psi_mistakes(e, a, epsilon: float) -> list[tuple[float, str, str]]:
    """Numbers a PSI with a usual mistake gives on counts ``e``, ``a``, with their diagnosis."""
    pe, pa = _shares(e, epsilon), _shares(a, epsilon)
    raw_e, raw_a = np.asarray(e, float) + epsilon, np.asarray(a, float) + epsilon
    with np.errstate(divide="ignore", invalid="ignore"):
        bare_e, bare_a = _shares(e, 0.0), _shares(a, 0.0)
        unsmoothed = float(np.sum((bare_a - bare_e) * np.log(bare_a / bare_e)))
    return [
        (kl_divergence(e, a, epsilon=epsilon), "Your value is KL(actual ‖ expected), one direction only.",
         "PSI adds both directions: Σ (a − e) · ln(a / e)."),
        (kl_divergence(a, e, epsilon=epsilon), "Your value is KL(expected ‖ actual), one direction only.",
         "PSI adds both directions: Σ (a − e) · ln(a / e)."),
        (float(np.sum((pa - pe) * np.log10(pa / pe))), "Your logarithm has base 10.",
         "PSI uses the natural logarithm (np.log)."),
        (float(np.sum((raw_a - raw_e) * np.log(raw_a / raw_e))), "You compared counts, not shares.",
         "Divide each histogram by its total first: PSI compares distributions, not sample sizes."),
        (float(np.sum(np.abs(pa - pe))), "Your value is the L1 distance between the shares.",
         "Weigh each difference a − e by ln(a / e)."),
        (unsmoothed, "You smoothed nothing, so an empty bin makes a term infinite or undefined.",
         "Smooth both share vectors: p ← (p + ε) / (1 + H·ε) for H bins."),
    ]


def check_psi(my_psi) -> None:
    """Exercise ex-production-psi: ``my_psi(expected_counts, actual_counts, epsilon)``."""
    epsilon = 1e-4
    for e, a in _PSI_CASES:
        value = as_number(call_answer(my_psi, list(e), list(a), epsilon, name="my_psi"), "my_psi(...)")
        reference = psi(e, a, epsilon=epsilon)
        if same(value, reference, rtol=1e-6, atol=1e-12):
            continue
        where = f"For expected counts {list(e)} and actual counts {list(a)}: "
        for number, message, hint in _psi_mistakes(e, a, epsilon):
            if np.isfinite(number) and same(value, number, rtol=1e-6, atol=1e-12):
                fail(where + message, hint=hint)
        if not np.isfinite(value):
            fail(where + "your PSI is not finite.", hint="Smooth both share vectors: p ← (p + ε) / (1 + H·ε) for H bins.")
        if value < 0:
            fail(where + "your PSI is negative; every term (a − e) · ln(a / e) is ≥ 0.",
                 hint="Check that the difference and the logarithm take the two shares in the same order.")
        fail(where + "your PSI differs from the index.",
             hint="Shares first, then smoothing by ε, then Σ (a − e) · ln(a / e) over the bins.")
    symmetric = call_answer(my_psi, [1, 2, 3], [3, 2, 1], epsilon, name="my_psi")
    passed("ex-production-psi", "symmetric in its two arguments, finite on empty bins, 0 on equal shares "
           f"(swapping the two histograms gives {float(symmetric):.4f} too).")


def _summary_value(summary: pd.DataFrame, loss: str, metric: str) -> float:
    return float(summary.loc[loss, metric])


def check_prediction(prediction, measured_change, summary: pd.DataFrame) -> None:
    """Exercise ex-production-predict: ECE of BCE with 64 negatives minus ECE with 1.

    ``summary`` is the chapter's table of means: index the loss labels, columns metrics
    (``"ece"``, ``"expected_positives"``, ...).
    """
    check_prediction_recorded(prediction)
    value = as_number(measured_change, "measured_change")
    many, one = _summary_value(summary, "bce, k=64", "ece"), _summary_value(summary, "bce, k=1", "ece")
    mistakes = [
        (_summary_value(summary, "bce, k=16", "ece") - one, "You took k = 16, not k = 64.",
         "Use the row 'bce, k=64'."),
        (_summary_value(summary, "bce, k=64", "expected_positives")
         - _summary_value(summary, "bce, k=1", "expected_positives"),
         "Your change is in expected positives per row, not in ECE.", "Read the 'ece' column."),
    ]
    check_difference(value, many, one, name="change", exercise="ex-production-predict",
                     detail="now set its sign beside your prediction, and read the interval of each row "
                            "before you call the change real.",
                     order="k = 64 minus k = 1.", what="the change in mean ECE from k = 1 to k = 64",
                     how="Subtract the 'ece' of the row 'bce, k=1' from that of 'bce, k=64'.", mistakes=mistakes)


#: Statements about a production set-up (exercise ex-production-critique):
#: letter -> (statement, is it a flaw?, the kind of point it makes).
CRITIQUE_STATEMENTS = {
    "A": ("The popularity table behind the negatives is rebuilt every night from the previous day's "
          "interactions, so items launched that day can be drawn the next morning.", False,
          "a negative distribution that follows the stream"),
    "B": ("Drift is declared whenever the PSI between the training negatives and one hour's 40 live "
          "negatives, over 10 popularity bins, exceeds 0.1.", True,
          "a threshold below the index's own sampling noise"),
    "C": ("Calibration was checked on training batches, each positive against its 4 sampled negatives, "
          "and the ECE of 0.01 was taken as the calibration of served scores.", True,
          "a base rate of one in five, not one in the catalogue"),
    "D": ("The hard-negative miner takes each user's top-scored unseen item as the negative, with no "
          "weight cap and no random share.", True, "a miner that feeds on false negatives"),
    "E": ("The reservoir's inclusion frequencies over repeated runs were compared with the exact A-Res "
          "inclusion probabilities by a chi-square test.", False, "an exactness test of the pool"),
    "F": ("Items launched after training keep their initial scores and are ranked among learned items.",
          True, "untouched items ranked as if learned"),
    "G": ("PSI is computed over popularity bins of the training window, with items unseen in training "
          "placed in the lowest bin.", False, "bins that also hold new items"),
}


def check_critique(flaws) -> None:
    """Exercise ex-production-critique: pick the statements that are flaws of the set-up."""
    check_flaws(flaws, CRITIQUE_STATEMENTS, exercise="ex-production-critique",
                hint="For each statement ask: against what base rate or noise level is the number "
                     "read, and which items can the model or the negatives never have seen?")
