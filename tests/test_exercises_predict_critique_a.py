"""The predict-then-measure and critique exercises of chapters 01-05 (tour, models and
losses, evaluation, static, dynamic): reference answers pass, each typical mistake gets a
message that names it, and no failure gives the expected value away."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recneg.data import Interactions, leave_one_out
from recneg.evaluation import evaluate
from recneg.exercises import dynamic, evaluation, static, tour
from recneg.exercises import models_and_losses as models
from recneg.metrics import popularity_cohorts
from recneg.models import MostPopular
from exercise_checks import fails_with  # pytest puts tests/ on sys.path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PREDICTIONS = ("higher", "lower", "indistinguishable")


def assert_hidden(message: str, value: float) -> None:
    """No rendering of ``value`` a failure message could print appears in it."""
    for text in (f"{value:.2f}", f"{value:.3f}", f"{value:.4f}", f"{value:.3g}", f"{value:.1%}", repr(value)):
        assert text not in message, (text, message)


# -- critique: one set of tests for every chapter ------------------------------------------------
CHAPTERS = {  # module -> (notebook stem suffix, critique label, predict label)
    tour: ("tour", "tour-critique", "tour-predict"),
    models: ("models_and_losses", "models-critique", "models-predict"),
    evaluation: ("evaluation", "eval-critique", "eval-predict"),
    static: ("static", "static-critique", "static-predict"),
    dynamic: ("dynamic", "ex-dynamic-critique", "ex-dynamic-predict"),
}
MODULES = [pytest.param(module, id=module.__name__.rsplit(".", 1)[1]) for module in CHAPTERS]


def _letters(module, flaw: bool) -> list[str]:
    return [c for c, (_, is_flaw, _) in module.CRITIQUE_STATEMENTS.items() if is_flaw == flaw]


@pytest.mark.parametrize("module", MODULES)
def test_critique_has_three_to_five_flaws_and_two_sound_practices(module):
    letters = list(module.CRITIQUE_STATEMENTS)
    assert letters == [chr(ord("A") + i) for i in range(len(letters))]
    assert 3 <= len(_letters(module, True)) <= 5 and len(_letters(module, False)) == 2
    for statement, is_flaw, kind in module.CRITIQUE_STATEMENTS.values():
        assert statement.endswith(".") and isinstance(is_flaw, bool) and kind


@pytest.mark.parametrize("module", MODULES)
def test_critique_accepts_every_flaw_in_any_spelling(module, capsys):
    flaws = _letters(module, True)
    module.check_critique(flaws)
    module.check_critique("".join(flaws).lower())
    module.check_critique(", ".join(flaws))
    assert capsys.readouterr().out.count("passed") == 3


@pytest.mark.parametrize("module", MODULES)
def test_critique_names_a_blamed_sound_practice_without_listing_the_flaws(module):
    flaws, sound = _letters(module, True), _letters(module, False)
    for practice in sound:
        message = fails_with(module.check_critique, flaws + [practice], "sound practice", f"Statement {practice}")
        assert not any(f"'{c}'" in message for c in flaws)


@pytest.mark.parametrize("module", MODULES)
def test_critique_counts_missed_flaws_without_naming_them(module):
    flaws = _letters(module, True)
    message = fails_with(module.check_critique, flaws[:1], f"missed {len(flaws) - 1}")
    for letter in flaws[1:]:
        assert f" {letter}" not in message and f"'{letter}'" not in message
    fails_with(module.check_critique, [], f"missed {len(flaws)}")


@pytest.mark.parametrize("module", MODULES)
def test_critique_rejects_unknown_letters(module):
    last = list(module.CRITIQUE_STATEMENTS)[-1]
    fails_with(module.check_critique, ["A", "Z"], f"A to {last}")


def _notebook(stem_suffix: str) -> list[dict]:
    # Found by name, not number: the chapters' numbers follow the reading order, which moves.
    [path] = NOTEBOOKS.glob(f"[0-9][0-9]_{stem_suffix}.ipynb")
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _solution_cell(cells: list[dict], call: str) -> dict:
    [cell] = [c for c in cells if c["cell_type"] == "code" and call in "".join(c["source"])]
    assert "solution" in c_tags(cell), call
    return cell


def c_tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("module", MODULES)
def test_the_notebook_shows_every_statement_and_its_solution_picks_the_flaws(module):
    stem, label, _ = CHAPTERS[module]
    cells = _notebook(stem)
    text = " ".join(re.sub(r"\s+", " ", "".join(c["source"])) for c in cells if c["cell_type"] == "markdown")
    assert f":label: {label}" in text and f"{{solution-start}} {label}" in text
    for letter, (statement, _, _) in module.CRITIQUE_STATEMENTS.items():
        assert f"**{letter}.** {statement}" in text, (label, letter)
    solution = _solution_cell(cells, "check_critique(flaws)")
    assignment = next(node for node in ast.parse("".join(solution["source"])).body
                      if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "flaws")
    assert ast.literal_eval(assignment.value) == _letters(module, True)


@pytest.mark.parametrize("module", MODULES)
def test_the_notebook_has_the_predict_exercise_and_its_solution_runs_the_check(module):
    stem, _, label = CHAPTERS[module]
    cells = _notebook(stem)
    text = " ".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert f":label: {label}" in text and f"{{solution-start}} {label}" in text
    solution = _solution_cell(cells, ".check_prediction(")
    assert "".join(solution["source"]).rstrip().splitlines()[-1].lstrip().startswith(
        f"recneg.exercises.{module.__name__.rsplit('.', 1)[1]}.check_prediction(")


# -- a small log whose leak moves HR@10 ----------------------------------------------------------
def _leaky_log() -> Interactions:
    """Twenty users, twenty items. Items 1..10 are popular in training, item 11 is met once
    in training (by user 0) and is the test target of users 1..12, so counting the test rows
    lifts it from the bottom of the popularity list to its top."""
    rng = np.random.default_rng(0)
    users, items = [], []
    for user in range(20):
        history = list(rng.permutation(np.arange(1, 11))[:6]) + list(rng.choice(np.arange(12, 21), 2, replace=False))
        if user == 0:
            history.insert(0, 11)
        target = 11 if 1 <= user <= 12 else int(rng.integers(12, 21))
        while target in history:
            target = int(rng.integers(12, 21))
        history.append(target)
        users += [user] * len(history)
        items += history
    return Interactions(np.array(users), np.array(items), np.arange(len(users)), n_users=20, n_items=20,
                        name="leaky")


LOG = _leaky_log()
SPLIT = leave_one_out(LOG)


def _mostpop(counted_on, rows=SPLIT.test):
    return evaluate(MostPopular(counted_on), rows, SPLIT.train, ks=(10,))


LEAKY, HONEST = _mostpop(LOG), _mostpop(SPLIT.train)
LEAK_GAP = LEAKY["hr@10"] - HONEST["hr@10"]


def _leak(gap):
    return lambda prediction: tour.check_prediction(prediction, gap, LOG, SPLIT)


def test_the_small_log_leaks():
    assert LEAK_GAP > 0 and LEAKY["ndcg@10"] - HONEST["ndcg@10"] != LEAK_GAP


# models: the tail HR@10 with and without logQ, two seeds
def _runs() -> pd.DataFrame:
    index = pd.MultiIndex.from_product([[models.NO_LOGQ_RUN, models.LOGQ_RUN, "full cross-entropy"], [0, 1]],
                                       names=["run", "seed"])
    return pd.DataFrame({"hr@10": [0.10, 0.12, 0.15, 0.17, 0.20, 0.22],
                         "ndcg@10": [0.05, 0.07, 0.09, 0.08, 0.11, 0.12],
                         "hr@10_head": [0.20, 0.20, 0.35, 0.31, 0.40, 0.42],
                         "hr@10_tail": [0.040, 0.050, 0.020, 0.036, 0.010, 0.012]}, index=index)


RUNS = _runs()
TAIL_CHANGE = 0.028 - 0.045


def _tail(change, wide=RUNS):
    return lambda prediction: models.check_prediction(prediction, change, wide)


# evaluation: 1,000 sampled items against 100
PROTOCOLS = pd.DataFrame({"hr@10": [0.05, 0.45, 0.20], "ndcg@10": [0.02, 0.25, 0.10]},
                         index=pd.Index(["full", "sampled-uniform-100", "sampled-popularity-100"], name="protocol"))
SAMPLED_1000 = {"protocol": "sampled-uniform-1000", "hr@10": 0.31, "ndcg@10": 0.16}
SAMPLED_CHANGE = 0.31 - 0.45


def _sampled(change, result=None):
    result = SAMPLED_1000 if result is None else result
    return lambda prediction: evaluation.check_prediction(prediction, change, result, PROTOCOLS)


# static: the head's share of popularity weights, counted on the small log's training split
TRAIN = SPLIT.train
COUNTS = TRAIN.item_counts().astype(float)
COHORTS = popularity_cohorts(TRAIN.item_counts())


def _share(counts, cohorts, alpha=0.75, cohort=0):
    weights = counts[1:] ** alpha
    return float(weights[cohorts[1:] == cohort].sum() / weights.sum())


HEAD_SHARE = _share(COUNTS, COHORTS)
LOG_COUNTS = LOG.item_counts().astype(float)


def _head(share, prediction=0.3):
    return lambda _: static.check_prediction(prediction, share, TRAIN, alpha=0.75, log=LOG)


# dynamic: DNS's false-negative rate against uniform's, two seeds
FNR = pd.DataFrame({
    "sampler": ["uniform", "DNS", "random injection"] * 2,
    "seed": [0, 0, 0, 1, 1, 1],
    "fnr": [0.10, 0.30, 0.24, 0.12, 0.26, 0.21],
    "uniform_rate": [0.105] * 6,
})
FNR_CHANGE = 0.28 - 0.11


def _pool(change):
    return lambda prediction: dynamic.check_prediction(prediction, change, FNR)


#: chapter -> (check of a measured value, the right value, the exercise label)
MEASUREMENTS = {
    "tour": (_leak, LEAK_GAP, "tour-predict"),
    "models": (_tail, TAIL_CHANGE, "models-predict"),
    "evaluation": (_sampled, SAMPLED_CHANGE, "eval-predict"),
    "dynamic": (_pool, FNR_CHANGE, "ex-dynamic-predict"),
}
#: (chapter, a wrong measurement, a fragment of the message that names its mistake); the last
#: case of each chapter is a number that matches no known mistake.
MISTAKES = [
    ("tour", -LEAK_GAP, "wrong sign"),
    ("tour", LEAKY["hr@10"] / HONEST["hr@10"], "ratio"),
    ("tour", LEAKY["ndcg@10"] - HONEST["ndcg@10"], "NDCG@10"),
    ("tour", 100 * LEAK_GAP, "percentage points"),
    ("tour", _mostpop(LOG, SPLIT.valid)["hr@10"] - _mostpop(SPLIT.train, SPLIT.valid)["hr@10"], "validation"),
    ("tour", 0.9, "MostPopular models' test HR@10"),
    ("models", -TAIL_CHANGE, "wrong sign"),
    ("models", 0.028 / 0.045, "ratio"),
    ("models", 0.16 - 0.11, "overall HR@10"),
    ("models", 0.085 - 0.06, "NDCG@10"),
    ("models", 0.33 - 0.20, "head cohort"),
    ("models", 0.020 - 0.040, "single seed"),
    ("models", 100 * TAIL_CHANGE, "percentage points"),
    ("models", 0.5, "mean tail HR@10"),
    ("evaluation", -SAMPLED_CHANGE, "wrong sign"),
    ("evaluation", 0.31 / 0.45, "ratio"),
    ("evaluation", 0.31 - 0.05, "full-ranking row"),
    ("evaluation", 0.31 - 0.20, "popularity-sampled row"),
    ("evaluation", 0.16 - 0.25, "NDCG@10"),
    ("evaluation", 100 * SAMPLED_CHANGE, "percentage points"),
    ("evaluation", 0.5, "1,000 sampled items minus"),
    ("dynamic", -FNR_CHANGE, "wrong sign"),
    ("dynamic", 0.28 / 0.11, "ratio"),
    ("dynamic", 0.28 - 0.105, "exact uniform rate"),
    ("dynamic", 0.28, "rate itself"),
    ("dynamic", 0.30 - 0.10, "first seed"),
    ("dynamic", 100 * FNR_CHANGE, "percentage points"),
    ("dynamic", 0.5, "mean false-negative rate of DNS"),
]


@pytest.mark.parametrize("chapter", list(MEASUREMENTS))
def test_the_right_measurement_passes_whatever_was_predicted(chapter, capsys):
    check, right, label = MEASUREMENTS[chapter]
    for prediction in (*PREDICTIONS, " Higher "):
        check(right)(prediction)
    check(np.float32(right))("lower")          # a value read from a float32 tensor is fine
    assert capsys.readouterr().out.count(f"{label} passed") == 5


@pytest.mark.parametrize("chapter, value, fragment", MISTAKES)
def test_each_mistake_is_named_and_the_right_value_stays_hidden(chapter, value, fragment):
    check, right, _ = MEASUREMENTS[chapter]
    assert_hidden(fails_with(check(value), "lower", fragment), right)


@pytest.mark.parametrize("chapter", list(MEASUREMENTS))
@pytest.mark.parametrize("prediction", [None, "", "maybe", 1.0, ["lower"]])
def test_a_prediction_must_be_written_as_one_of_three_words(chapter, prediction):
    check, right, _ = MEASUREMENTS[chapter]
    fails_with(check(right), prediction, "prediction")


@pytest.mark.parametrize("chapter", list(MEASUREMENTS))
def test_a_measurement_must_be_one_finite_number(chapter):
    check, _, _ = MEASUREMENTS[chapter]
    fails_with(check("a lot"), "lower", "not a number")
    fails_with(check(float("nan")), "lower", "not a finite number")


def test_a_leak_that_moves_nothing_passes_as_zero(capsys):
    # Every user has seen all items but the target, so the target is ranked first whatever
    # the counts: the right gap is zero, and a zero gap cannot have the wrong sign.
    first, second = list(range(1, 13)), [11, 12, *range(3, 11), 1, 2]
    users = np.repeat(np.arange(6), 12)
    items = np.array(first * 3 + second * 3)
    log = Interactions(users, items, np.arange(72), n_users=6, n_items=12, name="flat")
    split = leave_one_out(log)
    tour.check_prediction("indistinguishable", 0.0, log, split)
    assert "tour-predict passed" in capsys.readouterr().out


def test_the_tail_check_works_with_one_seed(capsys):
    one = RUNS.xs(0, level="seed", drop_level=False)
    _tail(0.020 - 0.040, wide=one)("lower")
    assert "passed" in capsys.readouterr().out


def test_the_tail_check_names_arms_of_the_published_loss_grid():
    # The chapter's `wide` is indexed by the grid's arm labels: a renamed arm would break the check.
    from recneg.grid import load_grid

    arms = [arm.label for arm in load_grid(NOTEBOOKS.parent / "experiments" / "models_losses_ml100k.toml").arms]
    assert models.LOGQ_RUN in arms and models.NO_LOGQ_RUN in arms


@pytest.mark.parametrize("result, fragment", [
    ({**SAMPLED_1000, "protocol": "full"}, "full ranking"),
    ({**SAMPLED_1000, "protocol": "sampled-popularity-1000"}, "by popularity"),
    ({**SAMPLED_1000, "protocol": "sampled-uniform-100"}, "n_sampled=1000"),
    (0.31, "not the dictionary"),
])
def test_the_sampled_check_wants_a_uniform_evaluation_against_1000_items(result, fragment):
    fails_with(_sampled(SAMPLED_CHANGE, result), "lower", fragment)


# -- static: a predicted share, then the head's share of the popularity weights -----------------
def test_the_head_share_passes_whatever_share_was_predicted(capsys):
    for prediction in (0.0, 0.25, 1.0, np.float64(0.6)):
        static.check_prediction(prediction, HEAD_SHARE, TRAIN, alpha=0.75)
    static.check_prediction(0.3, np.float32(HEAD_SHARE), TRAIN, alpha=0.75, log=LOG)
    assert capsys.readouterr().out.count("static-predict passed") == 5


@pytest.mark.parametrize("prediction, fragment", [
    ("higher", "asks for a number"), (None, "not a number"), (30, "between 0 and 1"),
    (float("nan"), "not a finite number"),
])
def test_the_head_share_prediction_must_be_a_share(prediction, fragment):
    fails_with(_head(HEAD_SHARE, prediction), None, fragment)


@pytest.mark.parametrize("value, fragment", [
    (float((COHORTS[1:] == 0).mean()), "uniform sampler's share"),
    (_share(COUNTS, COHORTS, alpha=1.0), "raw counts"),
    (_share(COUNTS, COHORTS, cohort=2), "tail cohort"),
    (1 - HEAD_SHARE, "outside the head"),
    (100 * HEAD_SHARE, "percentage"),
    (_share(LOG_COUNTS, popularity_cohorts(LOG.item_counts())), "validation and test"),
    (_share(LOG_COUNTS, COHORTS), "validation and test"),
    (1.5, "between 0 and 1"),
    (0.999, "head's share of the popularity weights"),
])
def test_each_head_share_mistake_is_named_and_the_share_stays_hidden(value, fragment):
    assert_hidden(fails_with(_head(value), None, fragment), HEAD_SHARE)


def test_the_head_share_recognises_cohorts_shifted_by_one():
    weights = COUNTS[1:] ** 0.75
    shifted = float(weights[COHORTS[:-1] == 0].sum() / weights.sum())
    assert shifted != HEAD_SHARE
    assert_hidden(fails_with(_head(shifted), None, "shifted by one"), HEAD_SHARE)
