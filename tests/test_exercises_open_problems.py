"""The checks of the open-problems chapter: reference answers pass, typical mistakes get a
message that names them."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch.nn import functional as F

from recneg.exercises import open_problems as ex
from recneg.losses import sampled_softmax_loss
from exercise_checks import fails_with  # pytest puts tests/ on sys.path

AUDIT = pd.DataFrame({"method": ["uniform", "uniform", ex.EXPOSURE_METHOD, ex.EXPOSURE_METHOD],
                      "seed": [0, 1, 0, 1], "fnr": [0.17, 0.17, 0.12, 0.13]})


# -- predict, then measure -------------------------------------------------------------------
def test_prediction_accepts_the_difference_whatever_was_predicted(capsys):
    for guess in ("higher", "Lower ", "indistinguishable"):
        ex.check_prediction(guess, 0.16 - 0.125, 0.16, AUDIT)
    assert "ex-open-predict passed" in capsys.readouterr().out


def test_prediction_must_be_written_down_first():
    fails_with(ex.check_prediction, "", "prediction", measured_gap=0.035, wide_rate=0.16, audit=AUDIT)
    fails_with(ex.check_prediction, 0.2, "prediction", measured_gap=0.035, wide_rate=0.16, audit=AUDIT)


def test_prediction_names_the_usual_mistakes():
    kwargs = dict(wide_rate=0.16, audit=AUDIT)
    fails_with(ex.check_prediction, "higher", "wrong sign", measured_gap=0.125 - 0.16, **kwargs)
    fails_with(ex.check_prediction, "higher", "ratio", measured_gap=0.16 / 0.125, **kwargs)
    fails_with(ex.check_prediction, "higher", "uniform", measured_gap=0.16 - 0.17, **kwargs)
    fails_with(ex.check_prediction, "higher", "not the wider", measured_gap=0.5, **kwargs)
    fails_with(ex.check_prediction, "higher", "between 0 and 1", measured_gap=0.0, wide_rate=16.0, audit=AUDIT)
    fails_with(ex.check_prediction, "higher", "no rows", measured_gap=0.0, wide_rate=0.1,
               audit=AUDIT[AUDIT.method == "uniform"])


# -- critique ------------------------------------------------------------------------------------
def test_critique_accepts_exactly_the_flaws(capsys):
    flaws = [letter for letter, (_, is_flaw, _) in ex.CRITIQUE_STATEMENTS.items() if is_flaw]
    assert flaws == ["A", "B", "D", "F"]
    ex.check_critique(flaws)
    ex.check_critique("a, b d f")
    assert "ex-open-critique passed" in capsys.readouterr().out


def test_critique_rejects_a_sound_practice_and_counts_missed_flaws():
    fails_with(ex.check_critique, ["A", "B", "C", "D", "F"], "Statement C", "sound practice")
    message = fails_with(ex.check_critique, ["A", "B"], "missed 2")
    assert "D" not in message.split("Hint")[0] and "F" not in message.split("Hint")[0]
    fails_with(ex.check_critique, ["Z"], "not statements")


# -- the BPR gradient ---------------------------------------------------------------------------------
def test_gradient_accepts_sigmoid_and_autograd(capsys):
    ex.check_bpr_negative_gradient(lambda s_pos, s_neg: torch.sigmoid(s_neg - s_pos))

    def by_autograd(s_pos, s_neg):
        s_neg = s_neg.clone().requires_grad_(True)
        F.softplus(s_neg - s_pos).sum().backward()   # -log σ(s⁺ - s⁻)
        return s_neg.grad

    ex.check_bpr_negative_gradient(by_autograd)
    assert "ex-open-gradient passed" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    (lambda p, n: -torch.sigmoid(n - p), "wrong sign"),
    (lambda p, n: torch.sigmoid(p - n), "1 − the answer"),
    (lambda p, n: torch.sigmoid(n), "BCE gradient"),
    (lambda p, n: n - p, "score difference"),
    (lambda p, n: torch.exp(n) / (torch.exp(n) + torch.exp(p)) * torch.exp(p - p), "not finite"),
    (lambda p, n: torch.sigmoid(n - p)[:3], "shape"),
    (lambda p, n: torch.tanh(n - p), "not ∂ℓ/∂s⁻"),
])
def test_gradient_names_the_mistake(answer, fragment):
    fails_with(ex.check_bpr_negative_gradient, answer, fragment)


# -- InfoNCE ---------------------------------------------------------------------------------------
def reference_info_nce(pos, neg, temperature):
    logits = torch.cat([pos[:, None], neg], 1) / temperature
    return (torch.logsumexp(logits, 1) - pos / temperature).mean()


def test_info_nce_accepts_the_reference_and_the_library_call(capsys):
    ex.check_info_nce(reference_info_nce)
    ex.check_info_nce(lambda pos, neg, t: sampled_softmax_loss(pos / t, neg / t))
    ex.check_info_nce(lambda pos, neg, t: float(-F.log_softmax(torch.cat([pos[:, None], neg], 1) / t, 1)[:, 0].mean()))
    assert "ex-open-infonce passed" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    (lambda pos, neg, t: (torch.logsumexp(neg / t, 1) - pos / t).mean(), "leaves the positive out"),
    (lambda pos, neg, t: (torch.logsumexp(torch.cat([pos[:, None], neg / t], 1), 1) - pos).mean(), "only the negatives"),
    (lambda pos, neg, t: reference_info_nce(pos, neg, t) * len(pos), "summed"),
    (lambda pos, neg, t: reference_info_nce(pos, neg, 1.0), "ignores the temperature"),
    (lambda pos, neg, t: torch.logsumexp(torch.cat([pos[:, None], neg], 1) / t, 1) - pos / t, "one loss per row"),
    (lambda pos, neg, t: reference_info_nce(pos, neg, t) + 0.1, "not InfoNCE"),
])
def test_info_nce_names_the_mistake(answer, fragment):
    fails_with(ex.check_info_nce, answer, fragment)
