"""Self-checks for the exercises of "Open problems, as runnable labs".

A failing check says which mistake the answer looks like, and gives a hint; it never
prints the expected value.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..losses import sampled_softmax_loss
from ._feedback import (as_array, as_number, call_answer, check_flaws, check_prediction_recorded, fail, passed,
                        same)
from ._measured import check_difference

__all__ = ["CRITIQUE_STATEMENTS", "EXPOSURE_METHOD", "check_critique", "check_prediction",
           "check_bpr_negative_gradient", "check_info_nce"]

#: The row label of the exposure sampler in the chapter's audit table.
EXPOSURE_METHOD = "exposed, not clicked"


# -- ex-open-predict ------------------------------------------------------------------------
def check_prediction(prediction, measured_gap, wide_rate, audit) -> None:
    """Exercise ex-open-predict: the exposure sampler's false-negative rate when users are shown
    twice as much, minus its rate in the chapter's world.

    ``audit`` is the chapter's table with columns ``method`` and ``fnr`` (one row per seed);
    ``wide_rate`` the mean rate the reader measured in the wider-exposure world.
    """
    check_prediction_recorded(prediction)
    rate = as_number(wide_rate, "wide_rate")
    if not 0 <= rate <= 1:
        fail("A false-negative rate is a share of the drawn negatives, between 0 and 1; yours is not.",
             hint="Store the mean of false_negative_rate(...)['rate'] over the seeds.")
    rows = audit[audit["method"] == EXPOSURE_METHOD]
    if rows.empty:
        fail(f"The audit table has no rows for {EXPOSURE_METHOD!r}; pass the chapter's table, not a copy of part of it.")
    default_rate = float(rows["fnr"].mean())
    uniform = audit.loc[audit["method"] == "uniform", "fnr"]
    mistakes = []
    if not uniform.empty:
        mistakes.append((rate - float(uniform.mean()),
                         "You subtracted the uniform sampler's rate; the exercise compares the exposure "
                         "sampler in two worlds.", f"Subtract the mean 'fnr' of the {EXPOSURE_METHOD!r} rows."))
    check_difference(
        as_number(measured_gap, "measured_gap"), rate, default_rate, name="gap", exercise="ex-open-predict",
        detail="compare its sign with your prediction, then read the explanation below.",
        order="The wider-exposure world's rate minus the chapter's rate.",
        what="the wider-exposure rate minus the chapter's exposure-sampler rate",
        how=f"Subtract the mean 'fnr' of the {EXPOSURE_METHOD!r} rows of the audit table from wide_rate.",
        mistakes=mistakes)


# -- ex-open-critique -----------------------------------------------------------------------
#: letter -> (statement, is it a flaw?, the kind of point it makes)
CRITIQUE_STATEMENTS = {
    "A": ("Exposure propensities were estimated from item popularity counted over the whole log, "
          "test interactions included.", True, "propensities estimated with test data"),
    "B": ("The IPW model beat the baseline on NDCG@10 of held-out clicks, and the paper concluded that it "
          "recovers users' true preferences better.", True,
          "a click metric read as a preference metric"),
    "C": ("Propensities were clipped from below at 0.05, and the clipping value was reported with the "
          "results.", False, "clipping bounds the variance of inverse-propensity weights, and reporting it "
                             "makes the run repeatable"),
    "D": ("Items shown but not clicked were called true negatives, and their share of items the users "
          "actually like was never measured.", True, "impressions without clicks assumed to be disliked"),
    "E": ("Every method was trained for the same number of epochs, with the same learning rate, "
          "embedding size and number of negatives per positive.", False,
          "an equal budget is what a comparison of negatives needs"),
    "F": ("The temperature of the proposed contrastive loss was tuned over a grid, while the baseline's "
          "sampled softmax kept τ = 1.", True, "one method tuned and the other not"),
    "G": ("The gradient norm per negative was measured with autograd on a trained model and compared with "
          "σ(s⁻ − s⁺)·‖p_u‖.", False, "checking a derivation against autograd on a trained model is sound"),
}


def check_critique(flaws) -> None:
    """Exercise ex-open-critique: pick the statements that are flaws of the experiment."""
    check_flaws(flaws, CRITIQUE_STATEMENTS, exercise="ex-open-critique",
                hint="Ask of each statement what data it used, what its metric measures, and whether both "
                     "methods got the same care.")


# -- ex-open-gradient -----------------------------------------------------------------------
_POS = torch.tensor([0.0, 2.0, -1.0, 3.0, 3.0, 0.5, 1000.0, -1000.0], dtype=torch.float64)
_NEG = torch.tensor([0.0, 1.0, 1.0, 3.0, -2.0, 0.5, -1000.0, 1000.0], dtype=torch.float64)


def check_bpr_negative_gradient(function) -> None:
    """Exercise ex-open-gradient: ``function(s_pos, s_neg)`` returns ∂ℓ/∂s_neg of the BPR
    loss ``ℓ = −log σ(s_pos − s_neg)``, elementwise, for float tensors of one shape.

    The fixed inputs include ties (``s_pos == s_neg``) and scores 2000 apart, where a
    gradient written with ``exp`` overflows.
    """
    result = call_answer(function, _POS.clone(), _NEG.clone(), name="bpr_negative_gradient")
    values = as_array(result.detach() if torch.is_tensor(result) else result, "gradient")
    if values.shape != _POS.shape:
        fail(f"Your function returned shape {values.shape} for inputs of shape {tuple(_POS.shape)}.",
             hint="Return one derivative per (positive, negative) pair, elementwise.")
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        fail("Your gradient is not finite where the scores are 2000 apart.",
             hint="exp(1000) overflows in a ratio of exponentials; torch.sigmoid is stable.")
    expected = torch.sigmoid(_NEG - _POS).numpy()
    if np.allclose(values, expected, rtol=1e-6, atol=1e-9):
        passed("ex-open-gradient", "σ(s⁻ − s⁺): 1/2 at a tie, near 0 for an easy negative, near 1 for one "
                                   "scored above the positive.")
        return
    mistakes = [
        (-expected, "Your gradient has the wrong sign: raising a negative's score raises the BPR loss.",
         "Differentiate −log σ(s⁺ − s⁻) with respect to s⁻ (not s⁺)."),
        (torch.sigmoid(_POS - _NEG).numpy(), "You returned σ(s⁺ − s⁻), which is 1 − the answer.",
         "The derivative of −log σ(x) is −σ(−x); here x = s⁺ − s⁻ and dx/ds⁻ = −1."),
        (torch.sigmoid(_NEG).numpy(), "That is the BCE gradient σ(s⁻), which ignores the positive.",
         "BPR compares the negative with the positive: the argument is s⁻ − s⁺."),
        ((_NEG - _POS).numpy(), "You returned the score difference, not its sigmoid.", None),
    ]
    for reference, message, hint in mistakes:
        if np.allclose(values, reference, rtol=1e-6, atol=1e-9):
            fail(message, hint=hint)
    fail("Your gradient is not ∂ℓ/∂s⁻ of the BPR loss on the checker's scores.",
         hint="ℓ = −log σ(s⁺ − s⁻); its derivative with respect to s⁻ is a sigmoid of a score difference.")


# -- ex-open-infonce ------------------------------------------------------------------------
def _infonce_inputs() -> tuple[torch.Tensor, torch.Tensor, float]:
    gen = torch.Generator().manual_seed(7)
    pos = torch.randn(6, generator=gen, dtype=torch.float64)
    neg = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    neg[0, :2] = pos[0]          # ties with the positive
    neg[1] = neg[1, 0]           # repeated negatives
    return pos, neg, 0.2


def check_info_nce(function) -> None:
    """Exercise ex-open-infonce: ``function(pos, neg, temperature)`` returns the mean InfoNCE
    loss of positives ``(B,)`` against their negatives ``(B, k)``, and it must equal
    ``sampled_softmax_loss(pos / τ, neg / τ)``."""
    pos, neg, tau = _infonce_inputs()
    result = call_answer(function, pos.clone(), neg.clone(), tau, name="info_nce")
    if torch.is_tensor(result) and result.numel() == len(pos):
        fail("Your function returned one loss per row; InfoNCE here is their mean.", hint="Finish with .mean().")
    value = as_number(result.detach() if torch.is_tensor(result) else result, "loss")
    expected = float(sampled_softmax_loss(pos / tau, neg / tau))
    if same(value, expected, rtol=1e-6):
        passed("ex-open-infonce", "sampled softmax on logits divided by τ is InfoNCE.")
        return
    logits = torch.cat([pos[:, None], neg], 1) / tau
    no_positive = float((torch.logsumexp(neg / tau, 1) - pos / tau).mean())
    one_sided = float((torch.logsumexp(torch.cat([pos[:, None], neg / tau], 1), 1) - pos).mean())
    summed = float((torch.logsumexp(logits, 1) - pos / tau).sum())
    plain = float(sampled_softmax_loss(pos, neg))
    for number, message, hint in [
        (no_positive, "Your denominator leaves the positive out.",
         "InfoNCE normalises over the positive and the negatives together: logsumexp over k + 1 logits."),
        (one_sided, "You divided only the negatives by τ.", "Divide every logit, the positive's too, by τ."),
        (summed, "You summed over the rows; the exercise asks for the mean.", None),
        (plain, "Your loss ignores the temperature.", "Divide the logits by τ before the softmax."),
    ]:
        if same(value, number, rtol=1e-6):
            fail(message, hint=hint)
    if not math.isfinite(value):
        fail("Your loss is not finite.", hint="Use torch.logsumexp rather than log(sum(exp(...))).")
    fail("Your loss is not InfoNCE on the checker's scores.",
         hint="−log( exp(s⁺/τ) / (exp(s⁺/τ) + Σ_j exp(s⁻_j/τ)) ), averaged over the rows.")
