"""Self-checks for the exercises of "Importance re-weighting".

* :func:`check_convergence` (``ex-reweighting-convergence``), :func:`check_self_adversarial`
  (``ex-reweighting-selfadv``) and :func:`check_fn_probability` (``ex-reweighting-posterior``):
  the corrected estimate, the weights and the false-negative posterior by hand;
* :func:`check_prediction` (``ex-reweighting-predict``): a prediction written down, then
  the share of self-adversarial draws that effectively count measured;
* :func:`check_critique` (``ex-reweighting-critique``): the flaws of a re-weighting
  experiment, among the statements of :data:`CRITIQUE_STATEMENTS`.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import norm

from ._feedback import (ExerciseCheckFailed, as_array, as_number, call_answer, check_close, check_flaws,
                        check_prediction_recorded, check_shape, expect, fail, passed, same)

__all__ = ["CRITIQUE_STATEMENTS", "check_convergence", "check_self_adversarial", "check_fn_probability",
           "check_prediction", "check_critique"]


def check_convergence(corrected_estimate, true_p: float, *, ks=(2, 64), n: int = 400) -> None:
    """Exercise ex-reweighting-convergence: the logQ + 1/k estimate approaches ``true_p`` as k grows."""
    errors = []
    for k in ks:
        value = float(call_answer(corrected_estimate, k, n, 0, name="corrected_estimate"))
        expect(0.0 < value <= 1.0, f"corrected_estimate({k}, {n}, 0) returned {value:.4g}; an estimated "
               "probability lies in (0, 1].", hint="Return exp(-loss), the estimated probability, not the loss.")
        errors.append(abs(value / true_p - 1.0))
    if errors[-1] > 0.15:
        raise ExerciseCheckFailed(
            f"With k = {ks[-1]} your estimate is still {errors[-1]:.0%} away from the exact p = {true_p:.4f}.",
            hint="Pass neg_log_prob=log q of each drawn negative and weights=1/k; without them the popular "
                 "negatives are over-counted in the denominator.")
    expect(errors[-1] <= errors[0] + 0.02,
           f"The relative error grew from {errors[0]:.1%} (k = {ks[0]}) to {errors[-1]:.1%} (k = {ks[-1]}).",
           hint="Use k negatives per trial, and weights 1/k (not a fixed number).")
    passed("ex-reweighting-convergence",
           f"relative error {errors[0]:.1%} with k = {ks[0]}, {errors[-1]:.1%} with k = {ks[-1]}.")


def check_self_adversarial(self_adversarial) -> None:
    """Exercise ex-reweighting-selfadv: ``w = k · softmax(s / τ)`` row by row."""
    scores = torch.tensor([[0.0, 1.0, 2.0, 3.0], [1.0, 1.0, 1.0, 1.0], [-5.0, 0.0, 5.0, 10.0]])
    for tau in (0.5, 1.0, 4.0):
        expected = scores.shape[1] * torch.softmax(scores / tau, dim=-1)
        value = call_answer(self_adversarial, scores.clone(), tau, name="self_adversarial")
        value = as_array(value.detach() if torch.is_tensor(value) else value, name="weights")
        check_shape(value, tuple(scores.shape), name="weights")
        sums = value.sum(axis=1)
        if np.allclose(sums, 1.0, atol=1e-4):
            raise ExerciseCheckFailed(f"Each row of your weights sums to 1 (τ = {tau}); they should sum to k = 4.",
                                      hint="Multiply the softmax by the number of negatives per row.")
        if not np.allclose(value[1], 1.0, atol=1e-4):
            raise ExerciseCheckFailed(f"Row 1 has four equal scores, so its weights should be equal and sum "
                                      f"to k = 4; yours are {np.round(value[1], 4)}.",
                                      hint="Take the softmax over the last axis (dim=-1), not over the batch.")
        check_close(value, expected.numpy(), name=f"weights at τ = {tau}", rtol=1e-4, atol=1e-5,
                    hint="Divide the scores by τ before the softmax (a higher τ flattens the weights).")
    passed("ex-reweighting-selfadv", "weights sum to k and flatten as τ grows.")


def check_fn_probability(fn_probability) -> None:
    """Exercise ex-reweighting-posterior: ``min(1, ω f₊(s) / f_U(s))`` with N(2,1), N(0,1), ω = 0.1."""
    s = np.linspace(-3.0, 5.0, 17)
    expected = np.minimum(1.0, 0.1 * norm.pdf(s, loc=2.0) / norm.pdf(s, loc=0.0))
    value = as_array(call_answer(fn_probability, s.copy(), name="fn_probability"), name="P(FN | s)")
    check_shape(value, s.shape, name="P(FN | s)")
    if np.any(value > 1.0 + 1e-9) or np.any(value < 0):
        raise ExerciseCheckFailed(f"A probability lies in [0, 1]; yours reaches {value.max():.3g}.",
                                  hint="Clip the ratio at 1 (np.minimum(1, ...)).")
    unclipped = 0.1 * norm.pdf(s, loc=0.0) / norm.pdf(s, loc=2.0)
    if np.allclose(value, np.minimum(1.0, unclipped)):
        raise ExerciseCheckFailed("Your posterior decreases with the score: you swapped f₊ and f_U.",
                                  hint="A negative scored like the positives (high s) is the likely false negative.")
    check_close(value, expected, name="P(FN | s)", rtol=1e-6, atol=1e-9,
                hint="Multiply the density ratio by the class prior ω = 0.1.")
    passed("ex-reweighting-posterior", "the posterior rises with the score and saturates at 1.")


def check_prediction(prediction, measured_share, weights) -> None:
    """Exercise ex-reweighting-predict: a prediction written down, and the share of the draws
    that effectively count measured correctly.

    ``weights`` are the ``(users, k)`` self-adversarial weights of the draws; the share is
    the mean over users of the effective sample size ``(Σ w)² / Σ w²`` divided by ``k``.
    """
    check_prediction_recorded(prediction)
    value = as_number(measured_share, "measured_share")
    w = as_array(weights.detach() if torch.is_tensor(weights) else weights, "weights").astype(np.float64)
    expect(w.ndim == 2 and w.shape[1] > 1, f"Your weights have shape {w.shape}; pass the (users, k) weights of "
           "the draws.", hint="The sampler returns them as .weights of its NegativeSample.")
    k = w.shape[1]
    expect(bool(np.allclose(w.sum(1), k, rtol=1e-3)), "Your weights do not sum to k in every row, so they are "
           "not the sampler's self-adversarial weights.",
           hint="Pass the .weights of ScoreWeightedSampler's draw: k · softmax(s / τ) per row.")
    squares = (w ** 2).sum(1)
    share = float((w.sum(1) ** 2 / squares).mean() / k)
    if same(value, share, rtol=1e-4):
        passed("ex-reweighting-predict", "now compare it with the table's share at the same τ before you "
               "explain the gap.")
        return
    mistakes = [
        (1.0, "Your share is 1, the value of equal weights: the weights were ignored.",
         "Compute the effective sample size from the weights of the draws."),
        (share * k, "Your value is an effective sample size, a number of negatives; the exercise asks for its "
         "share of k.", "Divide by k, the negatives per user."),
        (float(w.sum() ** 2 / (w ** 2).sum() / w.size), "You pooled every user's draws into one effective "
         "sample size.", "Compute (Σw)² / Σw² per user (row), then average over users."),
        (float((k * squares / w.sum(1) ** 2).mean()), "Your share is inverted: k Σw² / (Σw)² instead of "
         "(Σw)² / (k Σw²).", None),
        (float((w.sum(1) / squares).mean() / k), "You did not square the sum of the weights.", "(Σw)², not Σw."),
    ]
    for candidate, message, hint in mistakes:
        if same(value, candidate, rtol=1e-4):
            fail(message, hint=hint)
    fail("Your share is not the mean effective sample size of the rows divided by k.",
         hint="Per user: (Σ_j w_j)² / Σ_j w_j²; average over users; divide by k.")


#: Statements about a re-weighting experiment (exercise ex-reweighting-critique):
#: letter -> (statement, is it a flaw of that experiment?, the kind of point it makes).
CRITIQUE_STATEMENTS = {
    "A": ("Popularity negatives entered the sampled softmax without the logQ correction, and its estimate "
          "of the positive's probability was compared with the full softmax as if it were unbiased.", True,
          "the proposal's bias (logQ)"),
    "B": ("The self-adversarial weights were softmax(s/τ), summing to 1 over a user's k negatives, and the "
          "run was compared with unweighted uniform negatives (weight 1 each) at the same learning rate.", True,
          "weights that are not normalised"),
    "C": ("The false-negative audit of the weighting samplers reported only the share of false negatives "
          "among the draws.", True, "weights ignored in the audit"),
    "D": ("The self-adversarial weights were computed with gradients enabled, so the loss also "
          "back-propagated through them into the scores.", True, "weights are constants of the loss"),
    "E": ("The bias of the sampled softmax was measured on a catalogue small enough to compute the exact "
          "full softmax.", False, "an exact reference is what makes a bias measurable"),
    "F": ("A weighting was declared better than uniform on a difference in NDCG@10 smaller than the "
          "standard deviation across seeds.", True, "statistics"),
    "G": ("Every weighting was audited on the same users, the same positives and the same draw seed.", False,
          "the same draws isolate the effect of the weights"),
}


def check_critique(flaws) -> None:
    """Exercise ex-reweighting-critique: the letters of :data:`CRITIQUE_STATEMENTS` that are
    flaws of the experiment."""
    check_flaws(flaws, CRITIQUE_STATEMENTS, exercise="ex-reweighting-critique",
                hint="Walk through what the chapter measures: the proposal a softmax must be corrected for, "
                     "what the weights sum to and whether they carry a gradient, what an audit of weights "
                     "must count, and the spread across seeds.")
