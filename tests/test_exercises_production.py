"""The checks of the production chapter: reference answers pass, typical mistakes get a
message that names them and never the expected value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recneg.exercises import production as ex
from exercise_checks import fails_with  # pytest puts tests/ on sys.path


def shares(counts, eps):
    c = np.asarray(counts, dtype=float)
    return (c / c.sum() + eps) / (1 + len(c) * eps)


def reference_psi(e, a, eps):
    pe, pa = shares(e, eps), shares(a, eps)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


def test_psi_accepts_the_reference(capsys):
    ex.check_psi(reference_psi)
    assert "passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, words", [
    (lambda e, a, eps: float(np.sum(shares(a, eps) * np.log(shares(a, eps) / shares(e, eps)))), ("KL", "one direction")),
    (lambda e, a, eps: float(np.sum((shares(a, eps) - shares(e, eps)) * np.log10(shares(a, eps) / shares(e, eps)))), ("base 10",)),
    (lambda e, a, eps: float(np.sum((np.add(a, eps) - np.add(e, eps)) * np.log(np.add(a, eps) / np.add(e, eps)))), ("counts, not shares",)),
    (lambda e, a, eps: float(np.sum(np.abs(shares(a, eps) - shares(e, eps)))), ("L1",)),
    (lambda e, a, eps: reference_psi(e, a, 0.0), ("smoothed nothing",)),
    (lambda e, a, eps: -reference_psi(e, a, eps), ("negative",)),
    (lambda e, a, eps: 2 * reference_psi(e, a, eps), ("differs from the index",)),
])
def test_psi_names_the_mistake(wrong, words):
    fails_with(ex.check_psi, wrong, *words)


def test_psi_failure_never_prints_the_index():
    from recneg.production import psi

    with pytest.raises(AssertionError) as info:
        ex.check_psi(lambda e, a, eps: 2 * reference_psi(e, a, eps))
    assert f"{psi([50, 30, 20], [30, 30, 40]):.4f}" not in str(info.value)


SUMMARY = pd.DataFrame({"ece": [0.30, 0.12, 0.05, 0.01], "expected_positives": [400.0, 150.0, 60.0, 1.0]},
                       index=["bce, k=1", "bce, k=16", "bce, k=64", "gbce, k=16, t=1"])


def test_prediction_accepts_a_recorded_prediction_and_the_right_change(capsys):
    ex.check_prediction("lower", 0.05 - 0.30, SUMMARY)
    assert "passed" in capsys.readouterr().out


@pytest.mark.parametrize("prediction, change, words", [
    ("maybe", -0.25, ("prediction",)),
    ("lower", 0.25, ("wrong sign",)),
    ("lower", 0.05 / 0.30, ("ratio",)),
    ("lower", 0.12 - 0.30, ("k = 16",)),
    ("lower", 60.0 - 400.0, ("expected positives",)),
    ("lower", -0.2, ("not the change in mean ECE",)),
])
def test_prediction_names_the_mistake(prediction, change, words):
    fails_with(lambda answer: ex.check_prediction(*answer, SUMMARY), (prediction, change), *words)


def test_critique_accepts_exactly_the_flaws(capsys):
    flaws = [k for k, (_, is_flaw, _) in ex.CRITIQUE_STATEMENTS.items() if is_flaw]
    ex.check_critique(flaws)
    assert "passed" in capsys.readouterr().out


def test_critique_refuses_a_sound_practice_and_a_missed_flaw():
    flaws = [k for k, (_, is_flaw, _) in ex.CRITIQUE_STATEMENTS.items() if is_flaw]
    fails_with(ex.check_critique, flaws + ["E"], "sound practice")
    fails_with(ex.check_critique, flaws[1:], "flaw")
