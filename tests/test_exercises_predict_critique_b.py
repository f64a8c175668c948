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


# -- adversarial: the generator's entropy ----------------------------------------------------------
GENERATOR = pd.DataFrame({
    "epoch": [1, 2, 3, 4] * 2,
    "seed": [0] * 4 + [1] * 4,
    "entropy": [5.0, 3.0, 2.0, 2.5, 5.2, 3.6, 2.4, 3.1],      # lowest in epoch 3, not the last
    "mean_reward": [0.1, 0.3, -0.2, -0.1, 0.0, 0.2, -0.1, -0.3],
})
UNIFORM_ENTROPY = 5.5
ENTROPY_CHANGE = 2.8 - 5.1                                      # means over the two seeds


def _entropy(change):
    return lambda prediction: adversarial.check_prediction(prediction, change, GENERATOR, UNIFORM_ENTROPY)


def test_entropy_change_accepts_any_written_prediction(capsys):
    for prediction in (*PREDICTIONS, " Lower "):
        _entropy(ENTROPY_CHANGE)(prediction)
    assert capsys.readouterr().out.count("ex-adversarial-predict passed") == 4
    adversarial.check_prediction("lower", np.float32(ENTROPY_CHANGE), GENERATOR)   # rounding, no uniform


@pytest.mark.parametrize("change, fragment", [
    (-ENTROPY_CHANGE, "wrong sign"),
    (2.8 / 5.1, "ratio"),
    (2.2 - 5.1, "lowest entropy"),
    (-0.2 - 0.05, "reward"),
    (2.8 - UNIFORM_ENTROPY, "uniform sampler's entropy"),
    (2.5 - 5.0, "single seed"),
    (3.1 - 5.2, "single seed"),
])
def test_entropy_change_names_each_mistake(change, fragment):
    assert_hidden(fails_with(_entropy(change), "lower", fragment), ENTROPY_CHANGE)


def test_entropy_change_rejects_other_numbers_without_the_answer():
    message = fails_with(_entropy(-1.0), "lower", "last and the first epoch")
    assert_hidden(message, ENTROPY_CHANGE)
    fails_with(_entropy("a lot"), "lower", "not a number")
    fails_with(_entropy(float("nan")), "lower", "not a finite number")


# -- re-weighting: the share of draws that count ---------------------------------------------------
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


def test_effective_share_accepts_any_written_prediction(capsys):
    for prediction in PREDICTIONS:
        _share(SHARE)(prediction)
    _share(np.float32(SHARE), W)("higher")                       # float32 and NumPy weights
    assert capsys.readouterr().out.count("ex-reweighting-predict passed") == 4


@pytest.mark.parametrize("value, fragment", [
    (1.0, "weights were ignored"),
    (SHARE * 5, "share of k"),
    (float(W.sum() ** 2 / (W ** 2).sum() / W.size), "pooled"),
    (float((5 * (W ** 2).sum(1) / W.sum(1) ** 2).mean()), "inverted"),
    (float((W.sum(1) / (W ** 2).sum(1)).mean() / 5), "square"),
])
def test_effective_share_names_each_mistake(value, fragment):
    assert_hidden(fails_with(_share(value), "lower", fragment), SHARE)


def test_effective_share_wants_the_samplers_weights():
    fails_with(_share(SHARE, WEIGHTS / 5), "lower", "do not sum to k")
    fails_with(_share(SHARE, WEIGHTS[0]), "lower", "shape")
    assert_hidden(fails_with(_share(0.5), "lower", "divided by k"), SHARE)


# -- knowledge: a narrower semantic pool -----------------------------------------------------------
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


def test_narrow_pool_gap_accepts_any_written_prediction(capsys):
    for prediction in PREDICTIONS:
        _narrow(NARROW - SEMANTIC)(prediction)
    assert capsys.readouterr().out.count("ex-knowledge-predict passed") == 3


@pytest.mark.parametrize("gap, fragment", [
    (SEMANTIC - NARROW, "wrong sign"),
    (NARROW / SEMANTIC, "ratio"),
    (NARROW, "rate itself"),
    (NARROW - 0.10, "exact uniform rate"),
    (NARROW - 0.25, "'same genre' row"),
    (NARROW - 0.12, "'uniform' row"),
])
def test_narrow_pool_gap_names_each_mistake(gap, fragment):
    assert_hidden(fails_with(_narrow(gap), "higher", fragment), NARROW - SEMANTIC)


def test_narrow_pool_gap_wants_a_new_audit_as_a_fraction():
    fails_with(_narrow(0.0, narrow=SEMANTIC), "higher", "audited the chapter's sampler again")
    fails_with(_narrow(30 - 22, narrow=30.0), "higher", "not a rate")
    assert_hidden(fails_with(_narrow(0.5), "higher", "semantic rows"), NARROW - SEMANTIC)


# -- case study: popularity's tail hit rate --------------------------------------------------------
def _wide() -> pd.DataFrame:
    seeds = range(5)
    index = pd.MultiIndex.from_product([["ml-100k/leave-one-out"], ["uniform", "popularity", "in-batch"], seeds],
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


def test_tail_gap_accepts_any_written_prediction(capsys):
    for prediction in PREDICTIONS:
        _tail(TAIL_GAP)(prediction)
    assert capsys.readouterr().out.count("case-predict passed") == 3


def _column_gap(column):
    means = WIDE.groupby(level="sampler").mean()
    return float(means.loc["popularity", column] - means.loc["uniform", column])


@pytest.mark.parametrize("gap, fragment", [
    (-TAIL_GAP, "wrong sign"),
    (0.06 / 0.042, "ratio"),
    (100 * TAIL_GAP, "percentage points"),
    (0.06 - 0.03, "medians"),
    (_column_gap("hr@10_head"), "head cohort"),
    (_column_gap("hr@10_mid"), "mid cohort"),
    (_column_gap("hr@10"), "overall HR@10"),
    (_column_gap("ndcg@10"), "NDCG@10"),
    (_column_gap("balance"), "Balance"),
])
def test_tail_gap_names_each_mistake(gap, fragment):
    assert_hidden(fails_with(_tail(gap), "higher", fragment), TAIL_GAP)


def test_tail_gap_rejects_other_numbers_without_the_answer():
    assert_hidden(fails_with(_tail(0.5), "higher", "mean tail HR@10"), TAIL_GAP)


# -- false negatives: an untrained scorer ----------------------------------------------------------
ADAPTIVE = pd.DataFrame({"oversampling": [1, 1, 4, 4, 16, 16], "seed": [0, 1] * 3,
                         "rate": [0.10, 0.12, 0.15, 0.17, 0.19, 0.21]})
UNTRAINED, TRAINED = 0.12, 0.20


def _untrained(gap, untrained=UNTRAINED):
    return lambda prediction: false_negatives.check_prediction(prediction, gap, untrained, ADAPTIVE)


def test_untrained_gap_accepts_any_written_prediction(capsys):
    for prediction in PREDICTIONS:
        _untrained(UNTRAINED - TRAINED)(prediction)
    assert capsys.readouterr().out.count("fn-predict passed") == 3


@pytest.mark.parametrize("gap, fragment", [
    (TRAINED - UNTRAINED, "wrong sign"),
    (UNTRAINED / TRAINED, "ratio"),
    (UNTRAINED, "rate itself"),
    (UNTRAINED - 0.16, "pool of 4·k"),
    (UNTRAINED - 0.11, "pool of 1·k"),
])
def test_untrained_gap_names_each_mistake(gap, fragment):
    assert_hidden(fails_with(_untrained(gap), "lower", fragment), UNTRAINED - TRAINED)


def test_untrained_gap_wants_a_new_audit_as_a_fraction():
    fails_with(_untrained(0.0, untrained=TRAINED), "lower", "audited the trained models again")
    fails_with(_untrained(-8.0, untrained=12.0), "lower", "not a rate")
    assert_hidden(fails_with(_untrained(0.5), "lower", "largest pool"), UNTRAINED - TRAINED)


# -- every chapter: the prediction comes first -----------------------------------------------------
RIGHT_MEASUREMENTS = {
    "adversarial": _entropy(ENTROPY_CHANGE),
    "reweighting": _share(SHARE),
    "knowledge": _narrow(NARROW - SEMANTIC),
    "case_study": _tail(TAIL_GAP),
    "false_negatives": _untrained(UNTRAINED - TRAINED),
}


@pytest.mark.parametrize("chapter", list(RIGHT_MEASUREMENTS))
@pytest.mark.parametrize("prediction", [None, "", "maybe", 1.0, ["lower"]])
def test_a_prediction_must_be_written_as_one_of_three_words(chapter, prediction):
    fails_with(RIGHT_MEASUREMENTS[chapter], prediction, "prediction")
