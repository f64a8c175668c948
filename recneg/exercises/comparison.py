"""Self-checks for the exercises of "Comparing the families: which sampler when"."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._feedback import (as_array, as_number, call_answer, check_close, check_flaws, check_prediction_recorded, expect,
                        fail, passed, same)

__all__ = ["CRITIQUE_STATEMENTS", "check_critique", "check_best_within_budget", "check_pareto_front",
           "check_prediction", "check_weighted_fnr"]

#: A small comparison table: name -> (NDCG@10, negatives per second).
_TABLE = pd.DataFrame(
    {
        "ndcg@10": [0.050, 0.062, 0.048, 0.062, 0.030, 0.070, np.nan, 0.080],
        "negatives_per_s": [2.0e6, 4.0e5, 2.0e6, 1.0e5, 3.0e6, 5.0e4, 5.0e6, np.nan],
    },
    index=["uniform", "dns", "popularity", "srns", "in-batch", "irgan", "broken", "full softmax"],
)


def _reference_front(frame: pd.DataFrame) -> list[str]:
    data = frame[["ndcg@10", "negatives_per_s"]].dropna()
    x, y = data["negatives_per_s"].to_numpy(), data["ndcg@10"].to_numpy()
    dominated = ((x[None, :] >= x[:, None]) & (y[None, :] >= y[:, None])
                 & ((x[None, :] > x[:, None]) | (y[None, :] > y[:, None]))).any(axis=1)
    return sorted(data.index[~dominated])


def _names(value, what: str) -> list[str]:
    if value is None:
        fail(f"Your {what} is None.", hint="Did the function forget to return its result?")
    if isinstance(value, str):
        fail(f"Your {what} is the single string {value!r}, not a list of names.",
             hint="Return a list such as ['uniform', 'dns'].")
    if isinstance(value, (pd.Index, pd.Series, np.ndarray, set, tuple, list)):
        return [str(v) for v in value]
    fail(f"Your {what} is a {type(value).__name__}, not a list of sampler names.",
         hint="Return a list of the index labels of the rows on the front.")


def check_pareto_front(pareto_front) -> None:
    """Exercise ex-comparison-pareto: the rows no other row beats on both accuracy and speed."""
    ties = pd.DataFrame({"ndcg@10": [0.05, 0.05, 0.04], "negatives_per_s": [2.0e6, 2.0e6, 1.0e6]},
                        index=["uniform", "popularity", "dns"])
    cases = [("the example table", _TABLE), ("a table with two identical rows", ties),
             ("a one-row table", _TABLE.loc[["uniform"]])]
    for label, frame in cases:
        names = _names(call_answer(pareto_front, frame.copy(), name="pareto_front"), "front")
        expected = _reference_front(frame)
        if len(set(names)) != len(names):
            fail(f"On {label} your front lists a name twice: {names}.", hint="Return each sampler once.")
        extra = sorted(set(names) - set(expected))
        missing = sorted(set(expected) - set(names))
        incomplete = [n for n in extra if n in frame.index and frame.loc[n].isna().any()]
        if incomplete:
            fail(f"On {label} your front contains {incomplete}, which lack a value in one of the columns.",
                 hint="Drop rows with a missing NDCG@10 or negatives per second first (frame.dropna(...)).")
        if extra:
            example = extra[0]
            if example not in frame.index:
                fail(f"On {label} your front contains {example!r}, which is not a row of the table.")
            winner = next(n for n in expected
                          if frame.loc[n, "ndcg@10"] >= frame.loc[example, "ndcg@10"]
                          and frame.loc[n, "negatives_per_s"] >= frame.loc[example, "negatives_per_s"])
            fail(f"On {label} your front contains {example!r}, but {winner!r} is at least as accurate and "
                 "at least as fast, and better on one of the two.",
                 hint="A row is dominated when another is >= on both columns and > on at least one.")
        if missing:
            example = missing[0]
            twins = [n for n in frame.index if n != example
                     and (frame.loc[n, ["ndcg@10", "negatives_per_s"]] == frame.loc[example, ["ndcg@10", "negatives_per_s"]]).all()]
            hint = ("Rows that tie on both columns do not dominate each other: one must be strictly better "
                    "on at least one column." if twins else
                    "A row leaves the front only when another is >= on both columns and > on at least one.")
            fail(f"On {label} your front misses {example!r} (NDCG@10 {frame.loc[example, 'ndcg@10']:g}, "
                 f"{frame.loc[example, 'negatives_per_s']:,.0f} negatives/s): no other row beats it on both.",
                 hint=hint)
        if names != expected:
            fail(f"On {label} your front has the right names but in the order {names}.",
                 hint="Return them sorted: sorted(names).")
    passed("ex-comparison-pareto", f"the front of the example table is {_reference_front(_TABLE)}.")


def check_best_within_budget(best_within_budget) -> None:
    """Exercise ex-comparison-budget: most accurate row at least ``min_ratio`` × uniform's speed."""
    for ratio in (1.0, 0.2, 0.05, 0.01):
        data = _TABLE.dropna(subset=["negatives_per_s"])
        threshold = ratio * _TABLE.loc["uniform", "negatives_per_s"]
        eligible = data[data["negatives_per_s"] >= threshold].dropna(subset=["ndcg@10"])
        expected = eligible["ndcg@10"].idxmax()
        answer = call_answer(best_within_budget, _TABLE.copy(), ratio, name="best_within_budget")
        if isinstance(answer, (list, tuple, pd.Index, np.ndarray)) and len(answer) == 1:
            answer = answer[0]
        if not isinstance(answer, str):
            fail(f"best_within_budget(frame, {ratio}) returned a {type(answer).__name__}; expected a sampler "
                 "name such as 'uniform'.", hint="Return the index label of the chosen row (idxmax).")
        if answer == expected:
            continue
        if answer not in _TABLE.index:
            fail(f"best_within_budget(frame, {ratio}) returned {answer!r}, which is not a row of the table.")
        if answer == "full softmax":
            fail(f"With min_ratio = {ratio} you chose 'full softmax', which has no measured speed.",
                 hint="Rows without negatives per second are not eligible: keep only rows whose speed "
                      "passes the threshold (a NaN never does).")
        speed = _TABLE.loc[answer, "negatives_per_s"]
        if speed < threshold:
            absolute = _TABLE[_TABLE["negatives_per_s"] >= ratio].dropna(subset=["ndcg@10"])["ndcg@10"].idxmax()
            hint = ("The threshold is min_ratio times uniform's negatives per second, not min_ratio itself."
                    if answer == absolute else "Keep only rows at least min_ratio × uniform's speed.")
            fail(f"With min_ratio = {ratio} you chose {answer!r}, which draws {speed:,.0f} negatives/s, below the "
                 f"budget of {threshold:,.0f} ({ratio} × uniform's {_TABLE.loc['uniform', 'negatives_per_s']:,.0f}).",
                 hint=hint)
        if answer == eligible["negatives_per_s"].idxmax():
            fail(f"With min_ratio = {ratio} you chose the fastest eligible row, {answer!r}; the question asks for "
                 "the most accurate one.", hint="Among the eligible rows take the highest NDCG@10.")
        fail(f"With min_ratio = {ratio} you chose {answer!r} (NDCG@10 {_TABLE.loc[answer, 'ndcg@10']:g}); "
             f"an eligible row is more accurate.", hint="Among the eligible rows take the highest NDCG@10.")
    passed("ex-comparison-budget", "the choice follows the budget from 1× down to 0.01× uniform's speed.")


def check_weighted_fnr(weighted_fnr) -> None:
    """Exercise ex-comparison-weighted-fnr: sum of weights on false negatives / sum of all weights."""
    rng = np.random.default_rng(0)
    weights = rng.gamma(2.0, 0.5, size=(40, 10))
    is_false = rng.random((40, 10)) < 0.2
    weights[is_false] *= 0.3                        # a debiasing sampler down-weights them
    expected = float(weights[is_false].sum() / weights.sum())
    value = call_answer(weighted_fnr, weights.copy(), is_false.copy(), name="weighted_fnr")
    value = as_array(value, "weighted rate")
    expect(value.size == 1, f"Your weighted rate has {value.size} entries; expected one number.",
           hint="Sum over all negatives of all users, then divide once.")
    value = float(value.reshape(-1)[0])
    if abs(value - float(is_false.mean())) < 1e-9:
        fail(f"Your rate {value:.4f} is the share of draws that are false negatives; the weights are ignored.",
             hint="Each negative counts with its weight, in the numerator and in the denominator.")
    if abs(value - float(weights[is_false].sum() / weights.size)) < 1e-9:
        fail(f"Your rate {value:.4f} divides the false negatives' weight by the number of negatives.",
             hint="Divide by the total weight instead, so that a sampler whose weights average 2 does not "
                  "double its rate.")
    if abs(value - float(weights[~is_false].sum() / weights.sum())) < 1e-9:
        fail(f"Your rate {value:.4f} is the weight share of the true negatives.",
             hint="Sum the weights where is_false is True.")
    check_close(value, expected, name="weighted rate", rtol=1e-6,
                hint="The rate is a share of the total weight of all negatives of all users.")
    ones = call_answer(weighted_fnr, np.ones((4, 5)), np.eye(4, 5, dtype=bool), name="weighted_fnr")
    check_close(float(np.asarray(ones).reshape(-1)[0]), 0.2, name="rate with unit weights", rtol=1e-9,
                hint="With all weights 1 the weighted rate is the plain share of false negatives.")
    passed("ex-comparison-weighted-fnr",
           f"{expected:.3f} of the weight on false negatives, against {is_false.mean():.3f} of the draws.")


#: Statements about an earlier version of the comparison (exercise ex-comparison-critique):
#: letter -> (statement, is it a flaw of that experiment?, the kind of point it makes).
CRITIQUE_STATEMENTS = {
    "A": ("Every model trained for ten epochs with no early stopping, and the last epoch was tested.",
          True, "training budget and convergence"),
    "B": ("Items that neither a positive nor a drawn negative ever touched kept their initial scores, "
          "and they could fill the top-10 of the popularity-family runs.", True, "untouched items"),
    "C": ("Two seeds per sampler, and differences were called without an interval or a test.",
          True, "statistics"),
    "D": ("No run was compared with MostPopular, so runs below that floor were read as findings "
          "about samplers.", True, "the MostPopular floor"),
    "E": ("Accuracy was computed by full ranking over the catalogue rather than against 100 sampled "
          "items.", False, "full ranking is the right protocol (sampled metrics can re-order models)"),
    "F": ("Popularity counts for the popularity sampler and the cohorts came from the training split "
          "only.", False, "counting on training data only is what prevents leakage from the test rows"),
    "G": ("Every sampler was paired with BCE, although popularity and in-batch negatives are used with "
          "a logQ-corrected softmax in practice.", True, "the loss a sampler is paired with"),
}


def check_critique(flaws) -> None:
    """Exercise ex-comparison-critique: pick the statements that are flaws of the experiment."""
    check_flaws(flaws, CRITIQUE_STATEMENTS, exercise="ex-comparison-critique",
                hint="Walk through what the case study checks before it reads a number: how training "
                     "ended, the MostPopular floor, untouched items, seeds and intervals, and the loss "
                     "each sampler is paired with.")


def check_prediction(prediction, measured_gap, live_table) -> None:
    """Exercise ex-comparison-predict: a prediction written down, and the gap measured correctly.

    ``live_table`` is the live miniature's summary (index: sampler, column ``"ndcg@10"``);
    the gap is popularity minus uniform.
    """
    check_prediction_recorded(prediction)
    value = as_number(measured_gap, "measured_gap")
    table = live_table.droplevel([n for n in live_table.index.names if n != "sampler"]) \
        if isinstance(live_table.index, pd.MultiIndex) else live_table
    pop, uni = float(table.loc["popularity", "ndcg@10"]), float(table.loc["uniform", "ndcg@10"])
    if same(value, pop - uni, rtol=1e-6):
        passed("ex-comparison-predict", "now compare the sign with your prediction, and read the "
               "interval of the published grid before you trust either.")
        return
    if same(value, uni - pop, rtol=1e-6):
        fail("Your gap has the wrong sign.", hint="Popularity minus uniform.")
    if "hr@10" in table.columns and same(value, float(table.loc["popularity", "hr@10"] - table.loc["uniform", "hr@10"]), rtol=1e-6):
        fail("Your gap is in HR@10; the exercise compares NDCG@10.")
    if uni and same(value, pop / uni, rtol=1e-6):
        fail("Your gap is a ratio; the exercise asks for a difference.")
    fail("Your gap is not the difference of the live table's NDCG@10 values.",
         hint="Read the two numbers from the live table, the row of each sampler.")
