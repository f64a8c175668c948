"""The predict-then-measure and critique exercises of chapters 06-10 (adversarial,
re-weighting, knowledge, case study, false negatives): reference answers pass, each typical
mistake gets a message that names it, and no failure gives the expected value away."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from recneg.exercises import adversarial, case_study, false_negatives, knowledge, reweighting
from exercise_checks import fails_with  # pytest puts tests/ on sys.path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PREDICTIONS = ("higher", "lower", "indistinguishable")


def _shown(value: float) -> list[str]:
    """The ways a failure message could print ``value``."""
    return [f"{value:.2f}", f"{value:.3f}", f"{value:.4f}", f"{value:.3g}", f"{value:.1%}", repr(value)]


def assert_hidden(message: str, value: float) -> None:
    for text in _shown(value):
        assert text not in message, (text, message)


# -- critique: one set of tests for every chapter ------------------------------------------------
CHAPTERS = {  # module -> (notebook stem suffix, exercise label)
    adversarial: ("adversarial", "ex-adversarial-critique"),
    reweighting: ("reweighting", "ex-reweighting-critique"),
    knowledge: ("knowledge", "ex-knowledge-critique"),
    case_study: ("case_study", "case-critique"),
    false_negatives: ("false_negatives", "fn-critique"),
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


@pytest.mark.parametrize("module", MODULES)
def test_the_notebook_shows_every_statement_and_its_solution_picks_the_flaws(module):
    stem, label = CHAPTERS[module]
    cells = _notebook(stem)
    text = " ".join(re.sub(r"\s+", " ", "".join(c["source"])) for c in cells if c["cell_type"] == "markdown")
    assert f":label: {label}" in text
    for letter, (statement, _, _) in module.CRITIQUE_STATEMENTS.items():
        assert f"**{letter}.** {statement}" in text, (label, letter)
    [solution] = [c for c in cells if c["cell_type"] == "code" and "check_critique(flaws)" in "".join(c["source"])]
    assignment = next(node for node in ast.parse("".join(solution["source"])).body
                      if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "flaws")
    assert ast.literal_eval(assignment.value) == _letters(module, True)


# -- predict, then measure: each chapter's measurement and its typical mistakes ------------------
# adversarial: the change of the generator's entropy over training
GENERATOR = pd.DataFrame({
    "epoch": [1, 2, 3, 4] * 2,
    "seed": [0] * 4 + [1] * 4,
    "entropy": [5.0, 3.0, 2.0, 2.5, 5.2, 3.6, 2.4, 3.1],      # lowest in epoch 3, not the last
    "mean_reward": [0.1, 0.3, -0.2, -0.1, 0.0, 0.2, -0.1, -0.3],
})
UNIFORM_ENTROPY = 5.5
ENTROPY_CHANGE = 2.8 - 5.1                                      # means over the two seeds


def _entropy(change, generator=GENERATOR, uniform_entropy=UNIFORM_ENTROPY):
    return lambda prediction: adversarial.check_prediction(prediction, change, generator, uniform_entropy)


# re-weighting: the share of self-adversarial draws that count
def _weights() -> torch.Tensor:
    scores = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0],        # ties: every weight 1
                           [1.0, 1.0, 3.0, 3.0, -2.0],       # repeated scores
                           [4.0, 0.0, 0.0, 0.0, 0.0],        # one dominant draw
                           [0.5, -0.5, 2.0, 1.0, 0.0]])
    return 5 * torch.softmax(scores, dim=-1)


WEIGHTS = _weights()
W = WEIGHTS.double().numpy()
SHARE = float((W.sum(1) ** 2 / (W ** 2).sum(1)).mean() / 5)


def _share(value, weights=WEIGHTS):
    return lambda prediction: reweighting.check_prediction(prediction, value, weights)


# knowledge: a narrower semantic pool against the audit's semantic row
FNR = pd.DataFrame({
    "sampler": ["uniform", "uniform", "same genre", "same genre", "semantic", "semantic"],
    "seed": [0, 1] * 3,
    "fnr": [0.11, 0.13, 0.24, 0.26, 0.20, 0.24],
    "stderr": [0.01] * 6,
    "uniform_rate": [0.10] * 6,
})
NARROW, SEMANTIC = 0.30, 0.22


def _narrow(gap, narrow=NARROW):
    return lambda prediction: knowledge.check_prediction(prediction, gap, narrow, FNR)


# case study: popularity's tail HR@10 against uniform's in the published table
def _wide() -> pd.DataFrame:
    index = pd.MultiIndex.from_product([["ml-100k/leave-one-out"], ["uniform", "popularity", "in-batch"], range(5)],
                                       names=["setting", "sampler", "seed"])
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.uniform(0.05, 0.4, size=(15, 6)), index=index,
                         columns=["hr@10", "ndcg@10", "hr@10_head", "hr@10_mid", "hr@10_tail", "balance"])
    frame["hr@10_tail"] = [0.03, 0.03, 0.04, 0.02, 0.09,       # uniform: skewed, its median is not its mean
                           0.06, 0.07, 0.06, 0.05, 0.06,       # popularity
                           0.02, 0.03, 0.01, 0.05, 0.04]       # in-batch
    return frame


WIDE = _wide()
TAIL_GAP = 0.06 - 0.042


def _tail(gap):
    return lambda prediction: case_study.check_prediction(prediction, gap, WIDE)


def _column_gap(column):
    means = WIDE.groupby(level="sampler").mean()
    return float(means.loc["popularity", column] - means.loc["uniform", column])


# false negatives: the adaptive sampler with an untrained scorer against the trained one
ADAPTIVE = pd.DataFrame({"oversampling": [1, 1, 4, 4, 16, 16], "seed": [0, 1] * 3,
                         "rate": [0.10, 0.12, 0.15, 0.17, 0.19, 0.21]})
UNTRAINED, TRAINED = 0.12, 0.20


def _untrained(gap, untrained=UNTRAINED):
    return lambda prediction: false_negatives.check_prediction(prediction, gap, untrained, ADAPTIVE)


#: chapter -> (check of a measured value, the right value, the exercise label)
MEASUREMENTS = {
    "adversarial": (_entropy, ENTROPY_CHANGE, "ex-adversarial-predict"),
    "reweighting": (_share, SHARE, "ex-reweighting-predict"),
    "knowledge": (_narrow, NARROW - SEMANTIC, "ex-knowledge-predict"),
    "case_study": (_tail, TAIL_GAP, "case-predict"),
    "false_negatives": (_untrained, UNTRAINED - TRAINED, "fn-predict"),
}
#: (chapter, a wrong measurement, a fragment of the message that names its mistake); the last
#: case of each chapter is a number that matches no known mistake.
MISTAKES = [
    ("adversarial", -ENTROPY_CHANGE, "wrong sign"),
    ("adversarial", 2.8 / 5.1, "ratio"),
    ("adversarial", 2.2 - 5.1, "lowest entropy"),
    ("adversarial", -0.2 - 0.05, "reward"),
    ("adversarial", 2.8 - UNIFORM_ENTROPY, "uniform sampler's entropy"),
    ("adversarial", 2.5 - 5.0, "single seed"),
    ("adversarial", 3.1 - 5.2, "single seed"),
    ("adversarial", -1.0, "last and the first epoch"),
    ("reweighting", 1.0, "weights were ignored"),
    ("reweighting", SHARE * 5, "share of k"),
    ("reweighting", float(W.sum() ** 2 / (W ** 2).sum() / W.size), "pooled"),
    ("reweighting", float((5 * (W ** 2).sum(1) / W.sum(1) ** 2).mean()), "inverted"),
    ("reweighting", float((W.sum(1) / (W ** 2).sum(1)).mean() / 5), "square"),
    ("reweighting", 0.5, "divided by k"),
    ("knowledge", SEMANTIC - NARROW, "wrong sign"),
    ("knowledge", NARROW / SEMANTIC, "ratio"),
    ("knowledge", NARROW, "rate itself"),
    ("knowledge", NARROW - 0.10, "exact uniform rate"),
    ("knowledge", NARROW - 0.25, "'same genre' row"),
    ("knowledge", NARROW - 0.12, "'uniform' row"),
    ("knowledge", 0.5, "semantic rows"),
    ("case_study", -TAIL_GAP, "wrong sign"),
    ("case_study", 0.06 / 0.042, "ratio"),
    ("case_study", 100 * TAIL_GAP, "percentage points"),
    ("case_study", 0.06 - 0.03, "medians"),
    ("case_study", _column_gap("hr@10_head"), "head cohort"),
    ("case_study", _column_gap("hr@10_mid"), "mid cohort"),
    ("case_study", _column_gap("hr@10"), "overall HR@10"),
    ("case_study", _column_gap("ndcg@10"), "NDCG@10"),
    ("case_study", _column_gap("balance"), "Balance"),
    ("case_study", 0.5, "mean tail HR@10"),
    ("false_negatives", TRAINED - UNTRAINED, "wrong sign"),
    ("false_negatives", UNTRAINED / TRAINED, "ratio"),
    ("false_negatives", UNTRAINED, "rate itself"),
    ("false_negatives", UNTRAINED - 0.16, "pool of 4·k"),
    ("false_negatives", UNTRAINED - 0.11, "pool of 1·k"),
    ("false_negatives", 0.5, "largest pool"),
]


@pytest.mark.parametrize("chapter", list(MEASUREMENTS))
def test_the_right_measurement_passes_whatever_was_predicted(chapter, capsys):
    check, right, label = MEASUREMENTS[chapter]
    for prediction in (*PREDICTIONS, " Higher "):
        check(right)(prediction)
    assert capsys.readouterr().out.count(f"{label} passed") == 4


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


def test_the_entropy_check_takes_rounded_values_and_works_without_the_uniform_entropy(capsys):
    _entropy(np.float32(ENTROPY_CHANGE), uniform_entropy=None)("lower")
    single = GENERATOR[GENERATOR.seed == 0].drop(columns="seed")      # one seed, no seed column
    _entropy(2.5 - 5.0, generator=single)("lower")
    assert capsys.readouterr().out.count("passed") == 2


def test_the_share_check_wants_the_samplers_weights(capsys):
    _share(np.float32(SHARE), W)("higher")                            # float32 value, NumPy weights
    assert "passed" in capsys.readouterr().out
    fails_with(_share(SHARE, WEIGHTS / 5), "lower", "do not sum to k")
    fails_with(_share(SHARE, WEIGHTS[0]), "lower", "shape")


def test_the_rate_checks_want_a_new_audit_given_as_a_fraction():
    fails_with(_narrow(0.0, narrow=SEMANTIC), "higher", "audited the chapter's sampler again")
    fails_with(_narrow(30 - 22, narrow=30.0), "higher", "not a rate")
    fails_with(_untrained(0.0, untrained=TRAINED), "lower", "audited the trained models again")
    fails_with(_untrained(-8.0, untrained=12.0), "lower", "not a rate")
