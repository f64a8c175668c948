"""The checks of the "negative sampling at scale" chapter: reference answers pass, typical
mistakes get a message that names them."""

from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from recneg.exercises import scale as ex
from exercise_checks import fails_with  # pytest puts tests/ on sys.path


# -- ex-scale-es: exponential keys ----------------------------------------------------------
def es_keys(weights, k, rng):
    weights = np.asarray(weights, dtype=float)
    with np.errstate(divide="ignore"):
        keys = rng.exponential(size=len(weights)) / weights
    return np.argsort(keys)[:k]


def test_es_sample_accepts_exponential_keys(capsys):
    ex.check_es_sample(es_keys)
    assert "ex-scale-es passed" in capsys.readouterr().out


def test_es_sample_accepts_gumbel_keys():
    def gumbel_top_k(weights, k, rng):
        with np.errstate(divide="ignore"):
            perturbed = np.log(np.asarray(weights, dtype=float)) + rng.gumbel(size=len(weights))
        return np.argsort(-perturbed)[:k]

    ex.check_es_sample(gumbel_top_k)


def test_es_sample_rejects_largest_keys():
    def largest(weights, k, rng):
        with np.errstate(divide="ignore"):
            keys = rng.exponential(size=len(weights)) / np.asarray(weights, dtype=float)
        finite = np.where(np.isfinite(keys), keys, -np.inf)
        return np.argsort(-finite)[:k]

    fails_with(ex.check_es_sample, largest, "light items win", "SMALLEST")


def test_es_sample_rejects_uniform_over_weight_keys():
    def u_over_w(weights, k, rng):
        with np.errstate(divide="ignore"):
            keys = rng.random(len(weights)) / np.asarray(weights, dtype=float)
        return np.argsort(keys)[:k]

    fails_with(ex.check_es_sample, u_over_w, "first draw", "-log(u) / w")


def test_es_sample_rejects_draws_with_replacement():
    def with_replacement(weights, k, rng):
        w = np.asarray(weights, dtype=float)
        return rng.choice(len(w), size=k, p=w / w.sum())

    fails_with(ex.check_es_sample, with_replacement, "twice in one sample")


def test_es_sample_rejects_wrong_shape():
    fails_with(ex.check_es_sample, lambda w, k, rng: np.sort(rng.exponential(size=len(w)) / np.maximum(w, 1e-9))[:k],
               "float64 values")


# -- ex-scale-budget: the smallest safe stream budget -----------------------------------------
def budget(r, k, delta):
    if r >= 1.0:
        return k
    m = k
    while stats.binom.cdf(k - 1, m, r) > delta:
        m += 1
    return m


def test_budget_accepts_the_exact_search(capsys):
    ex.check_stream_budget(budget)
    assert "ex-scale-budget passed" in capsys.readouterr().out


def test_budget_agrees_with_the_package():
    """The exercise's reference and recneg.scale.budget.draws_table compute the same m."""
    from recneg.scale.budget import FIXED_POINT, draws_table

    thresholds, budgets = draws_table(10, 1e-9)
    for j in (0, 5, 40, 100):
        assert budgets[j] == budget(thresholds[j] / FIXED_POINT, 10, 1e-9)


def test_budget_rejects_the_mean():
    message = fails_with(ex.check_stream_budget, lambda r, k, delta: math.ceil(k / r), "AVERAGE", "shortfall")
    assert "binom.cdf(k - 1, m, r) <= delta" not in message  # the hint names the idea, not the solution line


def test_budget_rejects_an_off_by_one_tail():
    def tail_k(r, k, delta):
        if r >= 1.0:
            return k
        m = k
        while stats.binom.cdf(k, m, r) > delta:  # P(X <= k) instead of P(X < k)
            m += 1
        return m

    fails_with(ex.check_stream_budget, tail_k, "already enough", "SMALLEST")


def test_budget_rejects_fractional_budgets():
    fails_with(ex.check_stream_budget, lambda r, k, delta: k / r + 0.5, "whole number")


# -- ex-scale-logq: undoing the proposal -------------------------------------------------------
def test_logq_accepts_adding_log_q(capsys):
    ex.check_logq_correction(lambda logit, log_q: logit + log_q[None, :])
    ex.check_logq_correction(lambda logit, log_q: 1 / (1 + np.exp(-(logit + log_q))) + 3.0)  # monotone
    assert "ex-scale-logq passed" in capsys.readouterr().out


def test_logq_rejects_subtracting_log_q():
    fails_with(ex.check_logq_correction, lambda logit, log_q: logit - log_q, "subtracts log q", "add log q back")


def test_logq_rejects_no_correction():
    fails_with(ex.check_logq_correction, lambda logit, log_q: logit, "correction is missing")


def test_logq_rejects_wrong_shape():
    fails_with(ex.check_logq_correction, lambda logit, log_q: (logit + log_q).mean(axis=1), "shape")


# -- ex-scale-predict: the time per negative as the log grows ----------------------------------
PREDICTIONS = ("higher", "lower", "indistinguishable")
# Rows out of order (the check sorts by log size) and a fixed cost that dominates, as in the chapter.
TIMINGS = pd.DataFrame({"interactions": [400_000, 100_000], "negatives": [160_000, 40_000],
                        "seconds": [6.4, 5.0]})
US_SMALL, US_LARGE = 1e6 * 5.0 / 40_000, 1e6 * 6.4 / 160_000
CHANGE_US = US_LARGE - US_SMALL


def _shown(value: float) -> list[str]:
    """The ways a failure message could print ``value``."""
    return [f"{value:.1f}", f"{value:.2f}", f"{value:.3g}", f"{value:.4g}", repr(value)]


def test_the_right_change_passes_whatever_was_predicted(capsys):
    for prediction in (*PREDICTIONS, " Lower "):
        ex.check_prediction(prediction, CHANGE_US, TIMINGS)
    ex.check_prediction("higher", np.float32(CHANGE_US), TIMINGS)  # a rounded float32 is fine
    assert capsys.readouterr().out.count("ex-scale-predict passed") == 5


@pytest.mark.parametrize("value, fragment", [
    (-CHANGE_US, "wrong sign"),
    (US_LARGE / US_SMALL, "ratio"),
    (6.4 - 5.0, "total seconds"),
    (CHANGE_US / 1e6, "seconds per negative"),
    (CHANGE_US / 1e3, "milliseconds"),
    (1e6 * (6.4 / 400_000 - 5.0 / 100_000), "interactions"),
    (160_000 / 6.4 - 40_000 / 5.0, "throughput"),
    (1e6 * 6.4 / 160_000, "minus the smaller log's"),       # the larger log's value alone
])
def test_each_timing_mistake_is_named_and_the_change_stays_hidden(value, fragment):
    message = fails_with(lambda v: ex.check_prediction("lower", v, TIMINGS), value, fragment)
    for text in _shown(CHANGE_US) + _shown(US_SMALL) + _shown(US_LARGE):
        assert text not in message, (text, message)


@pytest.mark.parametrize("prediction", [None, "", "maybe", 1.0, ["lower"]])
def test_a_prediction_must_be_one_of_three_words(prediction):
    fails_with(lambda p: ex.check_prediction(p, CHANGE_US, TIMINGS), prediction, "prediction")


@pytest.mark.parametrize("timings, fragment", [
    (TIMINGS.to_dict("list"), "DataFrame"),
    (TIMINGS.drop(columns="negatives"), "columns"),
    (TIMINGS.iloc[:1], "two log sizes"),
    (TIMINGS.assign(interactions=100_000), "two log sizes"),
    (TIMINGS.assign(negatives=[160_000, 0]), "positive number"),
    (TIMINGS.assign(seconds=[6.4, float("nan")]), "positive number"),
])
def test_the_timing_table_must_hold_two_runs_of_different_sizes(timings, fragment):
    fails_with(lambda t: ex.check_prediction("lower", CHANGE_US, t), timings, fragment)


def test_a_change_must_be_one_finite_number():
    fails_with(lambda v: ex.check_prediction("lower", v, TIMINGS), "a lot", "not a number")
    fails_with(lambda v: ex.check_prediction("lower", v, TIMINGS), float("inf"), "not a finite number")


# -- ex-scale-critique: a scale-out recipe -----------------------------------------------------
FLAWS = [c for c, (_, is_flaw, _) in ex.CRITIQUE_STATEMENTS.items() if is_flaw]
SOUND = [c for c, (_, is_flaw, _) in ex.CRITIQUE_STATEMENTS.items() if not is_flaw]


def test_the_recipe_has_four_flaws_and_two_sound_practices():
    assert list(ex.CRITIQUE_STATEMENTS) == list("ABCDEF")
    assert FLAWS == ["A", "B", "C", "E"] and SOUND == ["D", "F"]


@pytest.mark.parametrize("answer", [FLAWS, "abce", "A, B, C, E", ("E", "C", "B", "A")])
def test_the_critique_accepts_the_flaws_in_any_spelling(answer, capsys):
    ex.check_critique(answer)
    assert "ex-scale-critique passed" in capsys.readouterr().out


@pytest.mark.parametrize("sound", SOUND)
def test_blaming_a_sound_practice_names_it_and_no_flaw(sound):
    message = fails_with(ex.check_critique, FLAWS + [sound], f"Statement {sound}", "sound practice")
    assert not any(f"'{c}'" in message or f"Statement {c}" in message for c in FLAWS)


@pytest.mark.parametrize("found", [[], ["A"], ["A", "B", "C"], ["B", "E"]])
def test_missed_flaws_are_counted_not_named(found):
    missed = [c for c in FLAWS if c not in found]
    message = fails_with(ex.check_critique, found, f"missed {len(missed)}")
    assert message.split(" Hint:")[0] == f"You found {len(found)} flaw(s) and missed {len(missed)}."


def test_the_critique_rejects_letters_it_does_not_have():
    fails_with(ex.check_critique, ["A", "G"], "A to F")


# -- the notebook: statements shown, solutions end with their checks ---------------------------
def _chapter_cells() -> list[dict]:
    [path] = (Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_scale.ipynb")
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _solution_ending_with(cells: list[dict], call: str) -> str:
    [source] = [s for c in cells if c["cell_type"] == "code"
                for s in ["".join(c["source"])] if s.rstrip().splitlines()[-1].startswith(call)]
    [cell] = [c for c in cells if "".join(c["source"]) == source]
    assert "solution" in cell["metadata"].get("tags", []), call
    return source


def test_the_notebook_states_both_exercises_and_their_solutions_pass_the_checks():
    cells = _chapter_cells()
    markdown = " ".join(re.sub(r"\s+", " ", "".join(c["source"])) for c in cells if c["cell_type"] == "markdown")
    for label in ("ex-scale-predict", "ex-scale-critique"):
        assert f":label: {label}" in markdown and f"{{solution-start}} {label}" in markdown, label
    for letter, (statement, _, _) in ex.CRITIQUE_STATEMENTS.items():
        assert f"**{letter}.** {statement}" in markdown, letter
    critique = _solution_ending_with(cells, "scale.check_critique(flaws)")
    [flaws] = [ast.literal_eval(node.value) for node in ast.parse(critique).body
               if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "flaws"]
    assert flaws == FLAWS
    predict = _solution_ending_with(cells, "scale.check_prediction(my_prediction, change_us, timings)")
    assert "my_prediction = " in predict.splitlines()[0]
