"""Self-checks for the exercises of "Importance re-weighting"."""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import norm

from ._feedback import ExerciseCheckFailed, as_array, call_answer, check_close, check_shape, expect, passed

__all__ = ["check_convergence", "check_self_adversarial", "check_fn_probability"]


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
            raise ExerciseCheckFailed(f"Equal scores should give weight 1 each; your row 1 is {np.round(value[1], 4)}.",
                                      hint="Take the softmax over the last axis (dim=-1), not over the batch.")
        check_close(value, expected.numpy(), name=f"weights at τ = {tau}", rtol=1e-4, atol=1e-5,
                    hint="Divide the scores by τ before the softmax (a higher τ flattens the weights).")
    passed("ex-reweighting-selfadv", "weights sum to k and flatten as τ grows.")


def check_fn_probability(fn_probability) -> None:
    """Exercise ex-reweighting-posterior: ``min(1, π f₊(s) / f_U(s))`` with N(2,1), N(0,1), π = 0.1."""
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
                hint="Multiply the density ratio by the class prior π = 0.1.")
    passed("ex-reweighting-posterior", "the posterior rises with the score and saturates at 1.")
