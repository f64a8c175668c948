"""The checks of the comparison chapter: reference answers pass, typical mistakes get a
message that names them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recneg.exercises import comparison as ex
from exercise_checks import fails_with  # pytest puts tests/ on sys.path


# -- the Pareto front ------------------------------------------------------------------------
def dominated_by_any(frame, strict=True):
    data = frame[["ndcg@10", "negatives_per_s"]].dropna()
    keep = []
    for name, row in data.iterrows():
        others = data.drop(index=name)
        at_least = (others["ndcg@10"] >= row["ndcg@10"]) & (others["negatives_per_s"] >= row["negatives_per_s"])
        better = (others["ndcg@10"] > row["ndcg@10"]) | (others["negatives_per_s"] > row["negatives_per_s"])
        if not (at_least & better if strict else at_least).any():
            keep.append(name)
    return keep


def test_pareto_front_accepts_the_reference():
    ex.check_pareto_front(lambda frame: sorted(dominated_by_any(frame)))


def test_pareto_front_rejects_ties_dropped():
    # ">=" on both columns without a strict part: identical rows knock each other out.
    fails_with(ex.check_pareto_front, lambda frame: sorted(dominated_by_any(frame, strict=False)),
               "misses", "tie")


def test_pareto_front_rejects_rows_with_missing_values():
    def keeps_nan(frame):
        front = dominated_by_any(frame)
        return sorted(front + [n for n in frame.index if frame.loc[n].isna().any()])
    fails_with(ex.check_pareto_front, keeps_nan, "lack a value", "dropna")


def test_pareto_front_rejects_the_most_accurate_row_only():
    fails_with(ex.check_pareto_front, lambda frame: [frame.dropna()["ndcg@10"].idxmax()], "misses")


def test_pareto_front_rejects_a_dominated_row():
    fails_with(ex.check_pareto_front, lambda frame: sorted(dominated_by_any(frame) + ["popularity"])
               if "popularity" in frame.index else sorted(dominated_by_any(frame)),
               "'popularity'", "at least as accurate")


def test_pareto_front_rejects_unsorted_and_non_lists():
    fails_with(ex.check_pareto_front, lambda frame: sorted(dominated_by_any(frame), reverse=True), "sorted")
    fails_with(ex.check_pareto_front, lambda frame: "uniform", "single string")
    fails_with(ex.check_pareto_front, lambda frame: None, "None")


# -- best within a budget ------------------------------------------------------------------------
def best(frame, min_ratio):
    threshold = min_ratio * frame.loc["uniform", "negatives_per_s"]
    eligible = frame[frame["negatives_per_s"] >= threshold].dropna(subset=["ndcg@10"])
    return eligible["ndcg@10"].idxmax()


def test_best_within_budget_accepts_the_reference():
    ex.check_best_within_budget(best)


def test_best_within_budget_rejects_an_absolute_threshold():
    def absolute(frame, min_ratio):
        eligible = frame[frame["negatives_per_s"] >= min_ratio].dropna(subset=["ndcg@10"])
        return eligible["ndcg@10"].idxmax()
    fails_with(ex.check_best_within_budget, absolute, "below the budget", "times uniform")


def test_best_within_budget_rejects_rows_without_speed():
    def ignores_nan(frame, min_ratio):
        threshold = min_ratio * frame.loc["uniform", "negatives_per_s"]
        eligible = frame[~(frame["negatives_per_s"] < threshold)].dropna(subset=["ndcg@10"])
        return eligible["ndcg@10"].idxmax()
    fails_with(ex.check_best_within_budget, ignores_nan, "full softmax", "NaN")


def test_best_within_budget_rejects_the_fastest_row():
    def fastest(frame, min_ratio):
        threshold = min_ratio * frame.loc["uniform", "negatives_per_s"]
        eligible = frame[frame["negatives_per_s"] >= threshold].dropna(subset=["ndcg@10"])
        return eligible["negatives_per_s"].idxmax()
    fails_with(ex.check_best_within_budget, fastest, "fastest", "most accurate")


def test_best_within_budget_rejects_non_names():
    fails_with(ex.check_best_within_budget, lambda frame, r: 0.05, "expected a sampler name")


# -- weighted false-negative rate ---------------------------------------------------------------
def test_weighted_fnr_accepts_the_reference():
    ex.check_weighted_fnr(lambda w, f: float(np.asarray(w)[np.asarray(f)].sum() / np.asarray(w).sum()))


def test_weighted_fnr_rejects_the_unweighted_share():
    fails_with(ex.check_weighted_fnr, lambda w, f: float(np.mean(f)), "weights are ignored")


def test_weighted_fnr_rejects_division_by_count():
    fails_with(ex.check_weighted_fnr, lambda w, f: float(np.asarray(w)[np.asarray(f)].sum() / np.asarray(w).size),
               "number of negatives", "total weight")


def test_weighted_fnr_rejects_the_true_negative_share():
    fails_with(ex.check_weighted_fnr, lambda w, f: float(np.asarray(w)[~np.asarray(f)].sum() / np.asarray(w).sum()),
               "true negatives")


def test_weighted_fnr_rejects_a_missing_return():
    fails_with(ex.check_weighted_fnr, lambda w, f: None, "None", "return")


# -- critique ------------------------------------------------------------------------------------
FLAWS = [c for c, (_, is_flaw, _) in ex.CRITIQUE_STATEMENTS.items() if is_flaw]
SOUND = [c for c, (_, is_flaw, _) in ex.CRITIQUE_STATEMENTS.items() if not is_flaw]


def test_critique_accepts_every_flaw_in_any_spelling():
    ex.check_critique(FLAWS)
    ex.check_critique("".join(FLAWS).lower())
    ex.check_critique(", ".join(FLAWS))


def test_critique_names_a_sound_practice_blamed_without_listing_the_answer():
    message = fails_with(ex.check_critique, FLAWS + SOUND[:1], "sound practice")
    assert not any(f"'{c}'" in message for c in FLAWS)


def test_critique_counts_missed_flaws_without_naming_them():
    message = fails_with(ex.check_critique, FLAWS[:2], "missed 3")
    for letter in FLAWS[2:]:
        assert f" {letter}" not in message and f"'{letter}'" not in message


def test_critique_rejects_unknown_letters():
    fails_with(ex.check_critique, ["A", "Z"], "A to G")


# -- predict, then measure -----------------------------------------------------------------------
LIVE = pd.DataFrame({"ndcg@10": [0.051, 0.047], "hr@10": [0.11, 0.10]},
                    index=pd.MultiIndex.from_tuples([("s", "uniform"), ("s", "popularity")],
                                                    names=["setting", "sampler"]))


def test_prediction_accepts_any_written_prediction_with_the_measured_gap():
    for prediction in ("higher", "lower", "indistinguishable"):
        ex.check_prediction(prediction, 0.047 - 0.051, LIVE)


def _predicted(gap):
    return lambda prediction: ex.check_prediction(prediction, gap, LIVE)


def test_prediction_must_be_written_first():
    fails_with(_predicted(-0.004), None, "prediction")


def test_prediction_names_each_kind_of_measurement_mistake():
    fails_with(_predicted(0.004), "lower", "wrong sign")
    fails_with(_predicted(-0.01), "lower", "HR@10")
    fails_with(_predicted(0.047 / 0.051), "lower", "ratio")
    message = fails_with(_predicted(0.5), "lower", "not the difference")
    assert "-0.004" not in message
